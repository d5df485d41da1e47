"""The difficulty router: rules with readable reasons, and the optional learned classifier."""

from __future__ import annotations

import json

import pytest

from engines.inference.router import RouterClassifier, evaluate_router, route_query, train_classifier

CASES = [
    ("hi!", "fast", "small talk"),
    ("What is the capital of France?", "fast", "short factual question"),
    ("Translate 'good morning' into Spanish", "fast", None),
    ("A shop sells pens at 3 dollars each. How many pens can I buy with 45 dollars, and how much change is left after that?", "reasoning", "multi-step math"),
    ("Compute 17 * 23 + 45", "reasoning", "math"),
    # a short computation too: the thinking's calculator makes its digits exact, a fast answer guesses
    ("What is 23 + 19?", "reasoning", "math"),
    ("A box holds 6 pencils. How many pencils are in 7 boxes?", "reasoning", "math"),
    ("How many people live in Tromso?", "fast", None),
    # operations written in words are computations too
    ("What is 17 plus 78?", "reasoning", "math"),
    ("What do you get if you add 67 to 21?", "reasoning", "math"),
    ("Raj has 17 balloons. Ines has twice as many. How many balloons do they have together?", "reasoning", "math"),
    # numbers in a text to rewrite are not a computation
    ("Summarise: the meeting is at 3 pm and each team brings 2 slides.", "fast", None),
    ("Write a python function that reverses a linked list and explain its complexity", "reasoning", "code"),
    ("All bloops are razzies and all razzies are lazzies. Are all bloops lazzies? Explain why.", "reasoning", "logic"),
]


@pytest.mark.parametrize("query,mode,reason_has", CASES)
def test_router_sends_obvious_queries_to_the_right_mode_with_a_reason(query, mode, reason_has):
    d = route_query(query)
    assert d.mode == mode, (query, d)
    assert d.reason
    if reason_has:
        assert reason_has in d.reason


def test_classifier_learns_what_the_rules_miss_and_survives_json():
    # the rules route poems to fast; these labels say a sonnet needs planning
    train = [{"query": f"write a sonnet about {t}", "expect": "reasoning"} for t in ("rain", "cats", "love", "war", "the sea")]
    train += [{"query": f"tell me a fun fact about {t}", "expect": "fast"} for t in ("rain", "cats", "love", "war", "the sea")]
    probe = "write a sonnet about autumn"
    assert route_query(probe).mode == "fast"
    clf = RouterClassifier.from_dict(json.loads(json.dumps(train_classifier(train).to_dict())))
    d = route_query(probe, clf)
    assert d.mode == "reasoning" and d.source == "classifier"
    assert route_query("tell me a fun fact about autumn", clf).mode == "fast"


def test_classifier_refuses_one_sided_or_bad_labels():
    with pytest.raises(ValueError, match="both"):
        train_classifier([{"query": "a", "expect": "fast"}])
    with pytest.raises(ValueError, match="example 1"):
        train_classifier([{"query": "a", "expect": "slow"}])


def test_router_eval_counts_a_confusion_matrix():
    suite = [{"query": q, "expect": m} for q, m, _r in CASES] + [{"query": "hello there", "expect": "reasoning"}]
    ev = evaluate_router(suite)
    assert ev["n"] == len(CASES) + 1
    assert ev["confusion"]["reasoning"]["fast"] == 1  # the mislabelled greeting
    assert ev["accuracy"] == pytest.approx(len(CASES) / (len(CASES) + 1), abs=1e-3)


# with the calculator on, a bare computation needs no plan: fast mode sends it to the tool
@pytest.mark.parametrize("query", ["What's 412 * 38?", "Compute 90 divided by 7", "Work out 15 percent of 240.",
                                   "Please add 1200, 55 and 8.", "square root of 729"])
def test_with_the_calculator_on_a_bare_computation_goes_fast(query):
    d = route_query(query, tools=["calculator", "search"])
    assert d.mode == "fast" and "calculator" in d.reason, d
    assert route_query(query, tools=["search"]).mode == route_query(query).mode  # no calculator: the rules decide


@pytest.mark.parametrize("query", [
    "A box holds 6 pencils. How many pencils are in 7 boxes?",
    "Mia reads 12 pages a day for 5 days, then 9 more. How many pages in all?",
    "What is 23 + 19, and why is the sum odd?",
])
def test_with_the_calculator_on_a_word_problem_still_thinks(query):
    assert route_query(query, tools=["calculator"]).mode == "reasoning"
