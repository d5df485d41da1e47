"""The thinking parser: hidden thinking and the visible answer, whatever the token boundaries."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engines.inference.thinking import ThinkingParser, split_thinking

TEXT = "Intro <think>step 1: 2+2=4\nstep 2: check</think>The answer is 4."


def _run(pieces, start_inside=False):
    p = ThinkingParser(start_inside=start_inside)
    parts = [x for piece in pieces for x in p.feed(piece)] + p.finish()
    thinking = "".join(t for k, t in parts if k == "thinking")
    answer = "".join(t for k, t in parts if k == "answer")
    return thinking, answer, parts


def test_tags_split_one_character_per_token_are_still_recognised():
    thinking, answer, _ = _run(list(TEXT))
    assert thinking == "step 1: 2+2=4\nstep 2: check"
    assert answer == "Intro The answer is 4."


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(TEXT) - 1), unique=True, max_size=20))
def test_any_split_of_the_stream_gives_the_same_thinking_and_answer(cuts):
    cuts = sorted(cuts)
    pieces = [TEXT[a:b] for a, b in zip([0] + cuts, cuts + [len(TEXT)])]
    thinking, answer, parts = _run(pieces)
    assert (thinking, answer) == ("step 1: 2+2=4\nstep 2: check", "Intro The answer is 4.")
    assert not any("<" in t and "think>" in t for _k, t in parts)  # no tag text ever leaks


def test_no_partial_tag_is_shown_while_it_may_still_complete():
    p = ThinkingParser()
    assert p.feed("Hello <th") == [("answer", "Hello ")]
    assert p.feed("ink>secret") == [("thinking", "secret")]
    assert p.feed("</thi") == []
    assert p.feed("nk> done") == [("answer", " done")]


def test_a_lookalike_that_never_becomes_a_tag_is_answer_text():
    thinking, answer, _ = _run(["a <thin", "g> b <", "3"])
    assert thinking == ""
    assert answer == "a <thing> b <3"


def test_other_common_thinking_tags_are_parsed():
    for o, c in [("<thinking>", "</thinking>"), ("<reasoning>", "</reasoning>"), ("<|START_THINKING|>", "<|END_THINKING|>"), ("◁think▷", "◁/think▷")]:
        text = f"{o}hmm{c}ok"
        assert _run(list(text))[:2] == ("hmm", "ok"), o


def test_prefilled_block_needs_only_the_closing_tag():
    thinking, answer = split_thinking("let me see</think>42", start_inside=True)
    assert (thinking, answer) == ("let me see", "42")
    # without start_inside nothing opened a block: the text is answer, the stray tag is dropped
    assert split_thinking("let me see</think>42") == ("", "let me see42")


def test_unclosed_thinking_at_the_end_stays_hidden():
    thinking, answer, _ = _run(["<think>still going", " and going"])
    assert thinking == "still going and going" and answer == ""


def test_calculator_result_completes_only_arithmetic_before_the_equals_sign():
    from engines.inference.turn import calculator_result

    assert calculator_result("eggs laid: 7 * 4 ") == "= 28"  # a labelled line, as the starter writes it
    assert calculator_result("first line\nleft: 36 - 5 ") == "= 31"  # only the last line counts
    assert calculator_result("12*3") == " = 36"
    assert calculator_result("total: 12.5 + 3 ") == "= 15.5"
    assert calculator_result("3 x 4 ") == "= 12"
    assert calculator_result("x ") is None  # code, not arithmetic: the "=" is given back
    assert calculator_result("the 3 cats ") is None  # a lone number is not a calculation
    assert calculator_result("7 / 0 ") is None  # the calculator's error: the model goes on by itself
    # a result that does not end is rounded: 50 digits filled a GRPO rollout's 72 tokens (bench/RESULTS.md, round 9)
    assert calculator_result("each friend: 82 / 3 ") == "= 27.3333"
    assert calculator_result("share: 1 / 70000 ") == "= 0.00001429"  # small results keep 4 significant digits
    assert calculator_result("back: 10 / 3 * 3 ") == "= 10"
    assert calculator_result("each: 10 / 4 ") == "= 2.5"  # short results stay exact
