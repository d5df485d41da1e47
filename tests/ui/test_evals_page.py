"""The Evals page: a real suite run on a worker thread, its bars and confusion matrix, and a
comparison of two runs with different routers."""

from __future__ import annotations

import json

import pyqtgraph as pg
import pytest

from ui.evals_page import EvalsPage

from tests.helpers.widgets import shown
from tests.ui.shots import SHOTS  # a temp folder unless `make screenshots`


@pytest.fixture
def page(qtbot, studio):
    p = shown(qtbot, EvalsPage(studio))
    yield p
    p.shutdown()


def _run(qtbot, page):
    before = len(page.runs)
    page.run_suite()
    qtbot.waitUntil(lambda: len(page.runs) == before + 1 and page.current is not None
                    and page.current["id"] == page.runs[0]["id"], timeout=60_000)


def test_running_the_built_in_suite_stores_a_run_and_draws_bars_and_matrix(qtbot, page):
    _run(qtbot, page)
    assert page.table.rowCount() == 1
    assert page.table.item(0, 4).text() == "100.0%" or float(page.table.item(0, 4).text()[:-1]) >= 95
    assert "tool-selection accuracy" in page.headline.text()
    labels = page.current["metrics"]["labels"]
    bars = [i for i in page.bars.getPlotItem().items if isinstance(i, pg.BarGraphItem)]
    assert len(bars) == 2  # precision and recall, one bar per label each
    assert all(len(b.opts["height"]) == len(labels) for b in bars)
    cells = [i for i in page.matrix.getPlotItem().items if isinstance(i, pg.TextItem)]
    assert len(cells) == len(labels) ** 2
    assert sum(int(c.toPlainText()) for c in cells) == page.current["metrics"]["n"]
    assert "Run 1" in page.status.text() or "Run 1" in page.headline.text()
    page.grab().save(str(SHOTS / "evals.png"))


def test_comparing_two_runs_shows_the_change_and_what_was_rerouted(qtbot, page, studio, tmp_path):
    from engines.tools.intent import DEFAULT_DATASET
    from studio.tools.service import tools_service

    _run(qtbot, page)
    reduced = tmp_path / "no_weather.jsonl"
    reduced.write_text("".join(line + "\n" for line in DEFAULT_DATASET.read_text().splitlines()
                               if json.loads(line)["tool"] != "weather"))
    tools_service(studio).train_intent(reduced)
    _run(qtbot, page)
    assert page.current["model_ref"].startswith("intent-v2")
    page.compare.setCurrentIndex(page.compare.findData(1))
    qtbot.waitUntil(lambda: page.other is not None and "vs run 1" in page.headline.text(), timeout=10_000)
    bars = [i for i in page.bars.getPlotItem().items if isinstance(i, pg.BarGraphItem)]
    assert len(bars) == 3
    assert "Changed since run 1:" in page.misses.toPlainText()
    assert "weather → none" in page.misses.toPlainText()
    page.grab().save(str(SHOTS / "evals_compare.png"))


def test_a_missing_suite_file_is_reported_and_the_page_stays_usable(qtbot, page, tmp_path):
    page.suite_edit.setText(str(tmp_path / "nope.jsonl"))
    page.run_suite()
    qtbot.waitUntil(lambda: page.run_button.isEnabled() and "Could not run" in page.status.text(), timeout=30_000)
    assert "does not exist" in page.status.text()
