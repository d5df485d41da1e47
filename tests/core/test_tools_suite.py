"""The tool-call accuracy suite runner and `studio eval tools` / `studio tools` / `studio kb`."""

from __future__ import annotations

import json

import pytest

from studio.errors import UserError
from studio.tools.suite import args_match, get_run, list_runs, load_suite, run_suite, score


def test_metrics_from_a_known_confusion():
    rows = [{"tool": "calculator", "chosen": "calculator", "args": {"expression": "2"}, "args_ok": True},
            {"tool": "calculator", "chosen": "python", "args": {"expression": "3"}, "args_ok": False},
            {"tool": "python", "chosen": "python", "args": {}, "args_ok": False},
            {"tool": "none", "chosen": "none", "args": {}, "args_ok": False},
            {"tool": "none", "chosen": "calculator", "args": {}, "args_ok": False}]
    m = score(rows, ["calculator", "python", "none"])
    assert m["accuracy"] == 0.6
    assert m["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert m["per_tool"]["calculator"] == {"precision": 0.5, "recall": 0.5, "support": 2, "predicted": 2}
    assert m["per_tool"]["python"]["precision"] == 0.5 and m["per_tool"]["python"]["recall"] == 1.0
    assert m["none_accuracy"] == 0.5
    assert m["arg_match_rate"] == 0.5 and m["arg_rows"] == 2


def test_calculator_arguments_match_by_value_and_strings_by_text():
    assert args_match("calculator", {"expression": "0.175*2340"}, {"expression": "17.5% of 2,340"})
    assert not args_match("calculator", {"expression": "410"}, {"expression": "17.5% of 2,340"})
    assert args_match("weather", {"city": "los angeles"}, {"city": "Los  Angeles"})
    assert not args_match("weather", {"city": "Paris"}, {})


def test_the_built_in_suite_meets_the_target_and_is_stored_with_the_router_version(studio):
    from engines.tools.intent import EXAMPLE_SUITE

    out = run_suite(studio, EXAMPLE_SUITE)
    m = out["metrics"]
    assert m["accuracy"] >= 0.95 and m["none_accuracy"] >= 0.9 and m["arg_match_rate"] >= 0.9
    assert m["labels"] == ["calculator", "python", "search", "weather", "none"]
    assert sum(map(sum, m["confusion"])) == m["n"] == 57
    stored = get_run(studio, out["run_id"])
    assert stored["kind"] == "tools" and stored["model_ref"].startswith("intent-v1")
    assert stored["metrics"]["accuracy"] == m["accuracy"]
    assert len(stored["details"]["rows"]) == 57
    assert [r["id"] for r in list_runs(studio)] == [out["run_id"]]


def test_a_worse_router_scores_worse_on_the_same_suite(studio, tmp_path):
    """The suite measures the router: a classifier that never saw 'weather' misses those rows."""
    from engines.tools.intent import DEFAULT_DATASET, EXAMPLE_SUITE
    from studio.tools.service import tools_service

    base = run_suite(studio, EXAMPLE_SUITE)["metrics"]
    reduced = tmp_path / "no_weather.jsonl"
    reduced.write_text("".join(line + "\n" for line in DEFAULT_DATASET.read_text().splitlines()
                               if json.loads(line)["tool"] != "weather"))
    tools_service(studio).train_intent(reduced)
    worse = run_suite(studio, EXAMPLE_SUITE)
    assert worse["metrics"]["per_tool"]["weather"]["recall"] == 0.0
    assert worse["metrics"]["accuracy"] < base["accuracy"]
    assert worse["model_ref"].startswith("intent-v2")


@pytest.mark.parametrize("content, why", [
    ('{"query": "hi", "expect": {"tool": null}}\n{"query": "x"}\n', ":2: needs \"expect\""),
    ("[1, 2]\n", ":1: each row needs a non-empty"),
    ('{"query": "a", "expect": {"tool": 3}}\n', ":1: expect.tool must be"),
    ("\n", "has no rows"),
])
def test_bad_suites_name_file_and_line(tmp_path, content, why):
    f = tmp_path / "s.jsonl"
    f.write_text(content)
    with pytest.raises(UserError, match=why):
        load_suite(f)


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """`studio ...` in this process, on a fresh home; returns (exit code, parsed JSON or text)."""
    from studio import core
    from studio.cli import main

    home = tmp_path / "cli-home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    monkeypatch.setattr(core.open_studio, "__kwdefaults__", {"ensure_default_model": False})  # no model needed

    def run(*argv):
        code = main([*argv, "--home", str(home)])
        out = capsys.readouterr()
        try:
            return code, json.loads(out.out), out.err
        except json.JSONDecodeError:
            return code, out.out, out.err

    return run


def test_cli_eval_tools_prints_accuracy_and_the_confusion_matrix(cli):
    from engines.tools.intent import EXAMPLE_SUITE

    code, text, _ = cli("eval", "tools", str(EXAMPLE_SUITE))
    assert code == 0
    assert "tool-selection accuracy:" in text and "confusion (rows: expected, columns: chosen)" in text
    code, out, _ = cli("eval", "tools", str(EXAMPLE_SUITE), "--json", "--no-store")
    assert out["metrics"]["accuracy"] >= 0.95 and "run_id" not in out
    code, runs, _ = cli("evals", "list", "--json")
    assert len(runs["runs"]) == 1


def test_cli_tools_run_python_returns_the_sandbox_shape(cli):
    code, out, _ = cli("tools", "run", "python", "--args", '{"code": "print(6 * 7)"}', "--json")
    assert code == 0
    assert {k: out[k] for k in ("ok", "stdout", "stderr", "error")} == {"ok": True, "stdout": "42\n", "stderr": "", "error": None}
    assert out["duration_s"] > 0
    code, out, _ = cli("tools", "run", "python", "--args", '{"code": "import socket"}', "--json")
    assert code == 1 and out["ok"] is False and "socket" in out["error"]


def test_cli_bad_arguments_exit_2_with_the_cause(cli):
    code, _, err = cli("tools", "run", "calculator", "--args", "{bad", "--json")
    assert code == 2 and "--args is not valid JSON" in err
    code, _, err = cli("tools", "run", "teleport", "--json")
    assert code == 2 and "No tool named 'teleport'" in err
    code, _, err = cli("tools", "add-http", "--name", "w", "--description", "d", "--url", "ftp://x/{a}")
    assert code == 2 and "http://" in err


def test_cli_add_http_then_list_then_remove(cli):
    code, out, _ = cli("tools", "add-http", "--name", "weather", "--description", "Current weather",
                       "--url", "http://127.0.0.1:8000/weather?city={city}", "--field", "temp_c", "--json")
    assert code == 0 and out["added"]["schema"]["required"] == ["city"]
    code, out, _ = cli("tools", "list", "--json")
    assert [t["name"] for t in out["tools"]] == ["calculator", "python", "search", "weather"]
    assert cli("tools", "remove", "weather", "--json")[0] == 0
    assert [t["name"] for t in cli("tools", "list", "--json")[1]["tools"]] == ["calculator", "python", "search"]


def test_cli_kb_add_and_search(cli, tmp_path):
    doc = tmp_path / "handbook.txt"
    doc.write_text("The office closes at 18:00 on Fridays.")
    code, out, _ = cli("kb", "add", str(doc), "--json")
    assert code == 0 and out["added"][0]["passages"] == 1
    code, out, _ = cli("kb", "search", "when does the office close on friday", "--json")
    assert out["hits"][0]["source"] == "handbook.txt" and "[office]" in out["hits"][0]["snippet"]


def test_cli_route_explains_and_logs_and_train_intent_makes_a_version(cli, tmp_path):
    code, out, _ = cli("tools", "route", "what's 17.5% of 2,340?", "--json")
    assert code == 0 and out["tool"] == "calculator" and out["classifier"].startswith("intent-v1")
    assert out["explain"]["features"] and out["explain"]["label"] == "calculator"
    code, out, _ = cli("tools", "decisions", "--json")
    assert out["decisions"][0]["query"] == "what's 17.5% of 2,340?" and out["decisions"][0]["origin"] == "cli"
    data = tmp_path / "intent.jsonl"
    data.write_text("".join(f'{{"query": "compute {i} + {i}", "tool": "calculator"}}\n'
                            f'{{"query": "good day number {i}", "tool": null}}\n' for i in range(6)))
    code, out, _ = cli("tools", "train-intent", str(data), "--json")
    assert code == 0 and out["version"] == 2 and out["labels"] == ["calculator", "none"]
    code, out, _ = cli("tools", "classifiers", "--activate", "1", "--json")
    assert [(c["version"], c["active"]) for c in out["classifiers"]] == [(1, True), (2, False)]
