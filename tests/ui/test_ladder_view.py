"""The Evals page's Ladder tab: a run dict of `studio.evals.ladder.get_ladder_run`'s shape, built by
hand (the UI test must not wait on a model), rendered as a table per family x mode x stage and a
grouped bar chart whose stage labels never run together; the run itself goes to a worker
thread with progress, and the model list follows the registry."""

from __future__ import annotations

import threading

import pyqtgraph as pg
import pytest

from tests.helpers.widgets import shown
from tests.ui.shots import save_shot

STAGES = ["base", "sft · think-then-answer", "grpo · calculator rewards"]


def _summary() -> list[dict]:
    rows = []
    for family in ("arithmetic", "tool use"):
        for mode in ("fast", "reasoning", "auto"):
            for k, stage in enumerate(STAGES):
                rows.append({"model": f"gemma-3-270m · {stage}", "stage": stage, "mode": mode, "family": family,
                             "n": 20 if family == "arithmetic" else 10,
                             "accuracy": round(0.05 + 0.2 * k + (0.15 if mode != "fast" else 0), 2),
                             "end_of_turn": 1.0 if k else 0.35,
                             "think_closed": None if mode == "fast" else (0.9 if k else 0.0),
                             "tool_correct": 0.8 if family == "tool use" else None,
                             "hidden_tokens": 0 if mode == "fast" else 180 + 20 * k, "latency_s": 0.6 + k,
                             "cost": 0.0012 * (k + 1)})
    return rows


RUN = {"id": 3, "created_at": "2025-01-01T10:00:00", "suite": "starter-ladder.jsonl",
       "models": [f"gemma-3-270m · {s}" for s in STAGES], "modes": ["fast", "reasoning", "auto"], "n_rows": 540,
       "summary": _summary(), "rows": []}


@pytest.fixture
def page(qtbot, studio):
    from ui.evals_page import EvalsPage

    p = shown(qtbot, EvalsPage(studio))
    p.tabs.setCurrentWidget(p.ladder)
    yield p
    p.shutdown()


def test_a_ladder_run_renders_as_a_table_and_a_grouped_chart(qtbot, page):
    view = page.ladder
    assert view.right.currentWidget() is view.empty and "No ladder run yet" in view.empty.text()
    view.show_runs([{k: RUN[k] for k in ("id", "created_at", "suite", "models", "modes", "n_rows")}])
    view.show_run(RUN)
    assert view.right.currentIndex() == 1
    assert view.summary.rowCount() == 18
    first = [view.summary.item(0, j).text() for j in range(view.summary.columnCount())]
    headers = [view.summary.horizontalHeaderItem(j).text() for j in range(view.summary.columnCount())]
    cell = dict(zip(headers, first))
    assert first[:3] == ["arithmetic", "fast", "base"] and cell["Model"] == "gemma-3-270m · base"
    assert cell["Think closed"] == "—"  # thinking does not apply in fast mode
    assert cell["Declined"] == "—"  # no decline flag in this run's rows
    # the measures come before the long model name, so the first screen shows them
    assert headers.index("Declined") < headers.index("Model") == len(headers) - 1
    bars = [i for i in view.chart.getPlotItem().items if isinstance(i, pg.BarGraphItem)]
    assert len(bars) == 3  # one series per mode, one bar per stage
    # pooled over families by n: base fast = (0.05*20 + 0.05*10) / 30
    assert bars[0].opts["height"][0] == pytest.approx(0.05)
    ticks = view.chart.getPlotItem().getAxis("bottom")._tickLevels[0]
    fm = view.chart.fontMetrics()
    slot = (view.chart.width() - 60) / len(STAGES)
    same_line = [t for _x, t in ticks if not t.startswith("\n")]
    assert all(fm.horizontalAdvance(a) / 2 + fm.horizontalAdvance(b) / 2 < slot * 2 for a, b in zip(same_line, same_line[1:]))
    qtbot.wait(50)
    save_shot(page, "evals_ladder")


def test_run_goes_to_a_worker_thread_with_progress_and_the_models_follow_the_registry(qtbot, page, monkeypatch, tmp_path):
    import types

    from studio.db import Model

    view = page.ladder
    page.studio.registry.add(Model(name="gemma-3-270m · sft", kind="adapter", format="gguf-lora", path="/x.gguf", meta={}))
    qtbot.waitUntil(lambda: any(view.models.item(i).text() == "gemma-3-270m · sft" for i in range(view.models.count())),
                    timeout=5000)
    assert not view.run_button.isEnabled() and "model" in view.run_button.toolTip()  # the suite has a default
    view.models.item(0).setCheckState(pg.QtCore.Qt.CheckState.Checked)
    view.suite_edit.setText(str(tmp_path / "suite.jsonl"))
    assert view.run_button.isEnabled()

    seen = {}
    release = threading.Event()

    def run_ladder(studio, suite_path, models=None, modes=("fast", "reasoning", "auto"), on_progress=None, should_stop=None):
        seen["thread"] = threading.current_thread() is not threading.main_thread()
        seen["args"] = (suite_path, models, modes)
        on_progress({"done": 1, "total": 4, "message": "gemma-3-270m · sft · fast: 1 of 4"})
        release.wait(10)
        return dict(RUN, id=9)

    fake = types.SimpleNamespace(run_ladder=run_ladder, list_ladder_runs=lambda st: [dict(RUN, id=9)],
                                 get_ladder_run=lambda st, run_id: dict(RUN, id=run_id))
    monkeypatch.setattr("ui.ladder_view._ladder", lambda: fake)
    monkeypatch.setattr(view, "available", True)
    view.run()
    qtbot.waitUntil(lambda: view.bar.maximum() == 4 and "1 of 4" in view.status.text(), timeout=5000)
    assert view.run_button.text() == "Stop"
    release.set()
    qtbot.waitUntil(lambda: view.current is not None and view.current["id"] == 9, timeout=5000)
    assert seen == {"thread": True, "args": (str(tmp_path / "suite.jsonl"), ["gemma-3-270m · sft"],
                                             ("fast", "reasoning", "auto"))}
    assert view.table.rowCount() == 1 and view.run_button.text() == "Run ladder"


def test_the_built_in_suites_are_offered_by_name_and_the_held_out_split_is_the_default(qtbot, page):
    """The suites that come with the studio are one click away: the curriculum's held-out split (also
    the command line's default) and the hand-written suites in bench/suites/ of a source checkout."""
    from pathlib import Path

    from studio.evals.ladder import load_suite
    from studio.starter.curriculum import data_dir

    view = page.ladder
    assert Path(view.suite_edit.text()) == data_dir() / "heldout_suite.jsonl"
    actions = view.suites_button.menu().actions()
    by_name = {Path(a.toolTip()).name: a for a in actions}
    assert {"heldout_suite.jsonl", "starter_other_words.jsonl", "starter_third_words.jsonl"} <= set(by_name)
    for a in actions:  # every suite offered is one the ladder can run
        assert load_suite(a.toolTip())
    by_name["starter_third_words.jsonl"].trigger()
    assert Path(view.suite_edit.text()).name == "starter_third_words.jsonl"
    view.suite_edit.setText("")
    assert not view.run_button.isEnabled() and "suite" in view.run_button.toolTip()
