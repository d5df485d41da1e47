"""The intent classifier: trains from labelled queries, routes, explains, and says none."""

from __future__ import annotations

import json

import pytest

from engines.tools.intent import (DEFAULT_DATASET, EXAMPLE_SUITE, IntentClassifier, IntentDataError,
                                  load_examples, train_intent)


@pytest.fixture(scope="module")
def default_clf():
    return train_intent(load_examples(DEFAULT_DATASET), cross_validate=False)


@pytest.mark.parametrize("query, tool", [
    ("what's 17.5% of 2,340?", "calculator"),
    ("run code to print the first 20 primes", "python"),
    ("what does our handbook say about parental leave?", "search"),
    ("is it going to rain in Berlin tomorrow?", "weather"),
    ("hey, nice to meet you!", None),
])
def test_done_means_queries_route_to_the_right_tool(default_clf, query, tool):
    assert default_clf.predict(query).tool == tool


def test_shipped_classifier_meets_the_target_on_the_held_out_example_suite(default_clf):
    rows = [json.loads(line) for line in EXAMPLE_SUITE.read_text().splitlines() if line.strip()]
    train_queries = {q for q, _ in load_examples(DEFAULT_DATASET)}
    assert not train_queries & {r["query"] for r in rows}, "the suite must be held out from training"
    decisions = default_clf.predict_many([r["query"] for r in rows])
    accuracy = sum(d.tool == r["expect"]["tool"] for d, r in zip(decisions, rows)) / len(rows)
    assert accuracy >= 0.95


def test_a_tool_that_is_not_enabled_is_never_chosen(default_clf):
    d = default_clf.predict("what's 12 * 7?", enabled=["search"])
    assert d.tool is None and d.top == "calculator"
    assert "not enabled" in d.reason


def test_low_confidence_answers_directly(default_clf):
    strict = IntentClassifier(default_clf.pipeline, default_clf.labels, threshold=0.999)
    d = strict.predict("what's 12 * 7?")
    assert d.tool is None and "below threshold" in d.reason


def test_explain_names_the_ngrams_behind_a_decision(default_clf):
    ex = default_clf.explain("what's 17.5% of 2,340?")
    assert ex["label"] == "calculator"
    assert any("%" in f["feature"] for f in ex["features"])
    assert all(f["weight"] > 0 for f in ex["features"][:3])


def test_training_teaches_a_new_tool_and_the_saved_version_decides_the_same(tmp_path):
    rows = [("convert 10 usd to eur", "currency"), ("how many yen is 50 dollars", "currency"),
            ("exchange rate pound to euro", "currency"), ("what is 100 chf in usd", "currency"),
            ("convert 20 euros to dollars", "currency"),
            ("hello there", "none"), ("thanks!", "none"), ("tell me a story", "none"), ("good morning", "none"),
            ("who are you", "none"), ("what's 2 + 2", "calculator"), ("compute 17 * 3", "calculator"),
            ("calculate 5% of 80", "calculator"), ("what is 9 / 3", "calculator"), ("how much is 12 times 4", "calculator")]
    clf = train_intent(rows, cross_validate=True)
    assert clf.labels == ["calculator", "currency", "none"]
    assert clf.predict("convert 75 dollars to yen").tool == "currency"
    assert 0 <= clf.meta["cv_accuracy"] <= 1 and clf.meta["examples"] == 15
    clf.save(tmp_path / "c.pkl")
    again = IntentClassifier.load(tmp_path / "c.pkl")
    assert again.predict("convert 75 dollars to yen").probs == clf.predict("convert 75 dollars to yen").probs


@pytest.mark.parametrize("content, why", [
    ('{"query": "hi", "tool": null}\nnot json\n', ":2: not JSON"),
    ('{"tool": "calculator"}\n', ":1: each row needs a non-empty"),
    ('{"query": "hi"}\n', ":1: each row needs \"tool\""),
    ('{"query": "a", "tool": "calculator"}\n{"query": "b", "tool": "calculator"}\n', "at least two labels"),
])
def test_bad_training_data_is_refused_with_file_and_line(tmp_path, content, why):
    f = tmp_path / "data.jsonl"
    f.write_text(content)
    with pytest.raises(IntentDataError, match=why):
        load_examples(f)


def test_suite_shaped_rows_train_too(tmp_path):
    f = tmp_path / "suite.jsonl"
    f.write_text('{"query": "2+2", "expect": {"tool": "calculator"}}\n{"query": "hi", "expect": {"tool": null}}\n')
    assert load_examples(f) == [("2+2", "calculator"), ("hi", "none")]
