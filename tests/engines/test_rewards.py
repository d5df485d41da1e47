"""The GRPO reward functions: what each pays for, and the errors a bad setting gets."""

import pytest

from engines.training.rewards import (
    answers_match,
    build_rewards,
    exact_match,
    extract_answer,
    format_reward,
    make_code_tests,
    make_length_penalty,
    CodeLimits,
)


@pytest.mark.parametrize(
    "completion, answer",
    [
        ("The total is 1,000.", "1000"),
        ("ANSWER: 12.0", "12"),
        ("so it is \\boxed{3/4}", "0.75"),
        ("<think>2+2 is 5? no, 4</think><answer>4</answer>", "4"),
        ("answer: Paris.", "paris"),
    ],
)
def test_exact_match_normalises_numbers_and_markers(completion, answer):
    assert exact_match(["p"], [completion], answer=[answer]) == [1.0]


def test_exact_match_rejects_wrong_answers_and_skips_rows_without_one():
    assert exact_match(["p", "p"], ["ANSWER: 13", "ANSWER: 12"], answer=["12", None]) == [0.0, None]
    # the thinking is not the answer: a number inside <think> does not count
    assert extract_answer("<think>maybe 7</think> it is 8") == "8"
    assert not answers_match("1/0", "1")


def test_exact_match_reads_conversational_completions():
    assert exact_match(["p"], [[{"role": "assistant", "content": "ANSWER: 5"}]], answer=["5"]) == [1.0]


def test_code_tests_pass_fail_and_timeout_in_the_sandbox():
    fn = make_code_tests(CodeLimits(timeout_s=2.0))
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    bad = "```python\ndef add(a, b):\n    return a - b\n```"
    loop = "```python\ndef add(a, b):\n    while True: pass\n```"
    tests = "assert add(2, 3) == 5"
    assert fn(["p"] * 4, [good, bad, loop, good], tests=[tests, tests, tests + "\nadd(1, 1)", None]) == [1.0, 0.0, 0.0, None]


def test_format_reward_wants_thinking_then_an_answer():
    assert format_reward(["p"] * 3, ["<think>add them</think> 5", "5", "<think>add them</think>"]) == [1.0, 0.0, 0.0]


def test_length_penalty_is_zero_up_to_target_then_falls_to_minus_one():
    fn = make_length_penalty(10)
    assert fn(["p"] * 3, ["x" * 10, "x" * 15, "x" * 100]) == [0.0, -0.5, -1.0]


def test_build_rewards_names_weights_and_bad_specs():
    funcs, weights, names = build_rewards([{"name": "exact_match"}, {"name": "length_penalty", "weight": 0.2, "target_chars": 5}])
    assert names == ["exact_match", "length_penalty"] and weights == [1.0, 0.2]
    assert [f.__name__ for f in funcs] == names  # trl labels the charts by __name__
    with pytest.raises(ValueError, match="unknown reward 'bleu'"):
        build_rewards(["bleu"])
    with pytest.raises(ValueError, match="adapter_dir"):
        build_rewards([{"name": "reward_model"}])
