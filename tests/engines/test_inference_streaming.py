"""Stop strings and accounting: the pure pieces of the inference engine."""

from __future__ import annotations

import pytest

from engines.inference.accounting import Prices, TurnClock, add_totals, turn_stats
from engines.inference.streaming import StopMatcher, held_back


def test_stop_string_split_across_tokens_ends_the_stream_and_is_never_shown():
    m = StopMatcher(["<end_of_turn>"])
    shown = []
    for piece in ["Hi", " there", "<end", "_of", "_turn>", "more"]:
        text, stopped = m.feed(piece)
        shown.append(text)
        if stopped:
            break
    assert "".join(shown) == "Hi there"
    assert m.stopped_on == "<end_of_turn>"


def test_held_back_text_is_released_when_it_cannot_be_a_stop():
    m = StopMatcher(["</s>"])
    assert m.feed("a </") == ("a ", False)
    assert m.feed("b") == ("</b", False)
    assert m.flush() == ""
    assert held_back("xx<", ["<|im_end|>"]) == 1


def test_accounting_separates_hidden_and_visible_and_prices_them():
    clock = TurnClock(t0=10.0)
    clock.token(10.5, 1, visible=False)  # thinking starts
    for i in range(1, 100):
        clock.token(10.5 + i * 0.01, 1, visible=False)
    clock.token(12.0, 1, visible=True)  # first visible token
    for i in range(1, 20):
        clock.token(12.0 + i * 0.01, 1, visible=True)
    prices = Prices(visible_per_1k=2.0, hidden_per_1k=1.0, prompt_per_1k=0.5)
    s = turn_stats(clock, 12.5, prompt_tokens=40, visible_tokens=20, hidden_tokens=100, prices=prices, thinking_s=1.5)
    assert s["ttft_s"] == pytest.approx(2.0)  # to the first *visible* token
    assert s["latency_s"] == pytest.approx(2.5)
    assert s["tokens_per_s"] == pytest.approx(119 / 1.69, rel=1e-3)
    assert s["cost"] == pytest.approx((40 * 0.5 + 20 * 2.0 + 100 * 1.0) / 1000)
    tot = add_totals([s, s, {}])
    assert tot["turns"] == 2 and tot["hidden_tokens"] == 200 and tot["cost"] == pytest.approx(2 * s["cost"])


def test_negative_price_is_refused():
    with pytest.raises(ValueError, match="hidden_per_1k"):
        Prices(hidden_per_1k=-1)
