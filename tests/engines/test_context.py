"""Context fitting: the oldest turns go first and are named; the system prompt and the newest
message never go; the server's mode refuses instead of dropping."""

from __future__ import annotations

import pytest

from engines.inference.context import ContextOverflow, fit_context, reserve_for
from engines.inference.turn import ThinkingBudget, TurnRequest, render_prompt
from engines.templates import get_template

TPL = get_template("gemma")


def words(text: str) -> int:  # a stand-in tokenizer: one token per whitespace-separated piece
    return len(text.split())


def req(messages, mode="fast", max_tokens=10, budget=20) -> TurnRequest:
    return TurnRequest(messages=[dict(m) for m in messages], template=TPL.inference, stop=TPL.stop, mode=mode,
                       max_tokens=max_tokens, budget=ThinkingBudget(budget))


CONV = [{"role": "system", "content": "be kind"},
        {"role": "user", "content": "first question " * 10}, {"role": "assistant", "content": "first answer " * 10},
        {"role": "user", "content": "second question " * 10}, {"role": "assistant", "content": "second answer " * 10},
        {"role": "user", "content": "newest question"}]


def test_a_conversation_that_fits_keeps_everything():
    r = req(CONV)
    fit = fit_context(r, words, limit=1000)
    assert fit.dropped == [] and len(r.messages) == 6 and fit.note() == ""
    assert fit.prompt_tokens == words(render_prompt(r)) + 1


def test_the_oldest_turn_pairs_go_first_and_the_note_names_them():
    r = req(CONV)
    full = fit_context(req(CONV), words, limit=None).prompt_tokens
    fit = fit_context(r, words, limit=full + r.max_tokens - 5)  # just too long: one pair must go
    assert [m["content"].split()[0] for m in fit.dropped] == ["first", "first"]
    assert [m["role"] for m in r.messages] == ["system", "user", "assistant", "user"]
    assert r.messages[0]["content"] == "be kind" and r.messages[-1]["content"] == "newest question"
    assert "Left out the oldest 2 messages" in fit.note() and "first question" in fit.note()
    assert fit.to_dict()["dropped"] == 2 and fit.prompt_tokens + fit.reserve <= fit.limit


def test_reasoning_reserves_the_thinking_budget():
    assert reserve_for(req(CONV, "reasoning", 10, 300)) > 310 > reserve_for(req(CONV, "fast", 10, 300))


def test_the_server_mode_refuses_and_a_lone_message_too_long_is_an_error():
    with pytest.raises(ContextOverflow, match="more than the model's context of 50"):
        fit_context(req(CONV), words, limit=50, on_overflow="error")
    with pytest.raises(ContextOverflow, match="Your message alone"):
        fit_context(req([{"role": "user", "content": "x " * 100}]), words, limit=50)
