"""The Evals page: run tool-call accuracy suites, browse stored runs, compare two; and the
ladder report (ui.ladder_view: models x modes x training stages) in its own tab.

Left: the suite to run (the built-in example suite by default) and every stored run with its
router version and headline numbers. Right: the selected run's summary, per-tool precision
and recall bars, the confusion matrix and the misrouted queries; choosing a second run in
"Compare with" overlays its recall bars and lists what changed.

Threads: a suite run (classifier training on first use included) and every database read go
through `run_in_thread`; the GUI thread only draws the plain dicts that come back.
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTabWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.dataset_table import run_in_thread, wait_workers
from ui.ladder_view import LadderView, staggered_ticks
from ui.widgets import empty_or, side_by_side

RUN_COLUMNS = ["#", "When", "Suite", "Router", "Accuracy", "None", "Args"]
PRECISION, RECALL, OTHER = "#1e88e5", "#43a047", "#fb8c00"


def pct(v) -> str:
    return "—" if v is None else f"{v:.1%}"


class EvalsPage(QWidget):
    def __init__(self, studio, parent=None):
        super().__init__(parent)
        self.studio = studio
        self._workers: set = set()
        self.runs: list[dict] = []
        self.current: dict | None = None
        self.other: dict | None = None

        title = QLabel("Evals")
        title.setObjectName("pageTitle")
        about = QLabel("Tool-call accuracy: does each query reach the right tool (or none), with the right "
                       "arguments? Suites are JSONL rows {\"query\", \"expect\": {\"tool\", \"args\"}}.")
        about.setWordWrap(True)

        # ---- left: the suite and the stored runs ----
        from engines.tools.intent import EXAMPLE_SUITE

        self.suite_edit = QLineEdit(str(EXAMPLE_SUITE))
        browse = QPushButton("Browse…")
        browse.setAutoDefault(False)  # Enter in the path field runs nothing and opens no chooser
        browse.clicked.connect(self._browse)
        self.run_button = QPushButton("Run suite")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run_suite)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        suite_row = QHBoxLayout()
        suite_row.addWidget(QLabel("Suite"))
        suite_row.addWidget(self.suite_edit, 1)
        suite_row.addWidget(browse)
        suite_row.addWidget(self.run_button)

        self.table = QTableWidget(0, len(RUN_COLUMNS))
        self.table.setHorizontalHeaderLabels(RUN_COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        hdr = self.table.horizontalHeader()
        hdr.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hdr.setStretchLastSection(False)
        self.table.itemSelectionChanged.connect(self._selected)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("<b>Stored runs</b>"))
        ll.addWidget(self.table, 3)
        ll.addWidget(QLabel("<b>Router of the selected run</b>"))
        self.router_info = QPlainTextEdit()
        self.router_info.setReadOnly(True)
        ll.addWidget(self.router_info, 2)

        # ---- right: the selected run ----
        self.headline = QLabel("Run a suite, or pick a stored run.")
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setWordWrap(True)
        self.headline.setMinimumHeight(self.headline.fontMetrics().lineSpacing() * 3 + 6)
        self.compare = QComboBox()
        self.compare.addItem("(no comparison)", None)
        self.compare.currentIndexChanged.connect(self._compare_changed)
        cmp_row = QHBoxLayout()
        cmp_row.addWidget(QLabel("Compare with"))
        cmp_row.addWidget(self.compare, 1)

        pg.setConfigOptions(antialias=True)
        self.bars = pg.PlotWidget()
        self.bars.setBackground(None)
        self.bars.setTitle("Per-tool precision and recall")
        self.bars.setYRange(0, 1.05)
        self.bars.setMouseEnabled(False, False)
        self.bars.hideButtons()
        legend = self.bars.getPlotItem().addLegend(offset=(10, 2), colCount=3)
        legend.setLabelTextColor(self.palette().windowText().color())
        self.bars.getAxis("left").setWidth(48)
        self.matrix = pg.PlotWidget()
        self.matrix.setBackground(None)
        self.matrix.setTitle("Confusion matrix")
        self.matrix.setLabel("left", "expected")
        self.matrix.setLabel("bottom", "chosen")
        self.matrix.setMouseEnabled(False, False)
        self.matrix.hideButtons()
        self.matrix.getPlotItem().invertY(True)
        self.misses = QPlainTextEdit()
        self.misses.setReadOnly(True)
        self.misses.setPlaceholderText("Misrouted queries and argument mismatches appear here.")

        right = QWidget()
        rl = QGridLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.headline, 0, 0, 1, 2)
        rl.addLayout(cmp_row, 1, 0, 1, 2)
        rl.addWidget(self.bars, 2, 0)
        rl.addWidget(self.matrix, 2, 1)
        rl.addWidget(self.misses, 3, 0, 1, 2)
        rl.setRowStretch(2, 3)
        rl.setRowStretch(3, 1)

        # before a run is chosen, say what will appear instead of drawing empty axes
        self.right, self.empty = empty_or(
            right, "No tool-routing run yet.\n\nPress Run suite to route every query of the suite "
                   "and store the run; its precision and recall per tool, the confusion matrix and "
                   "the misrouted queries appear here.", "evalsEmpty")
        split = side_by_side(left, self.right, [520, 760])

        routing = QWidget()
        rl2 = QVBoxLayout(routing)
        rl2.setContentsMargins(0, 8, 0, 0)
        rl2.addWidget(about)
        rl2.addLayout(suite_row)
        rl2.addWidget(self.status)
        rl2.addWidget(split, 1)
        self.ladder = LadderView(studio)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("evalsTabs")
        self.tabs.addTab(routing, "Tool routing")
        self.tabs.addTab(self.ladder, "Ladder")

        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 16, 16, 16)
        lay.addWidget(title)
        lay.addWidget(self.tabs, 1)
        self.refresh()

    # ---- actions ------------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a suite", str(Path(self.suite_edit.text()).parent),
                                              "JSONL suites (*.jsonl);;All files (*)")
        if path:
            self.suite_edit.setText(path)

    def run_suite(self):
        from studio.tools.suite import run_suite

        path = self.suite_edit.text().strip()
        self.run_button.setEnabled(False)
        self.status.setText(f"Running {Path(path).name}…")
        return run_in_thread(lambda: run_suite(self.studio, path), on_done=self._run_done,
                             on_error=self._run_failed, owner=self)

    def _run_done(self, out: dict) -> None:
        self.run_button.setEnabled(True)
        m = out["metrics"]
        self.status.setText(f"Run {out['run_id']}: {pct(m['accuracy'])} tool-selection accuracy on {m['n']} queries "
                            f"in {m['duration_s']:.2f} s.")
        self.refresh(select=out["run_id"])

    def _run_failed(self, exc: Exception) -> None:
        self.run_button.setEnabled(True)
        self.status.setText(f"<span style='color:#c62828'>Could not run the suite: {exc}</span>")

    def refresh(self, select: int | None = None):
        from studio.tools.suite import list_runs

        return run_in_thread(lambda: list_runs(self.studio), on_done=lambda runs: self._show_runs(runs, select),
                             owner=self)

    def _show_runs(self, runs: list[dict], select: int | None) -> None:
        self.runs = runs
        self.table.setRowCount(len(runs))
        for i, r in enumerate(runs):
            m = r["metrics"]
            cells = [str(r["id"]), r["created_at"].replace("T", " ")[5:16], Path(r["suite"]).stem,
                     r["model_ref"].split(" ")[0], pct(m.get("accuracy")), pct(m.get("none_accuracy")),
                     pct(m.get("arg_match_rate"))]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 3:
                    item.setToolTip(r["model_ref"])
                if j == 2:
                    item.setToolTip(r["suite"])
                self.table.setItem(i, j, item)
        self.compare.blockSignals(True)
        self.compare.clear()
        self.compare.addItem("(no comparison)", None)
        for r in runs:
            self.compare.addItem(f"run {r['id']} · {Path(r['suite']).name} · {pct(r['metrics'].get('accuracy'))}", r["id"])
        self.compare.blockSignals(False)
        if runs:
            ids = [r["id"] for r in runs]
            row = ids.index(select) if select in ids else 0
            self.table.blockSignals(True)  # re-selecting the same row would emit nothing: load explicitly
            self.table.selectRow(row)
            self.table.blockSignals(False)
            self.load_run(ids[row])

    def _selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        run_id = self.runs[rows[0].row()]["id"]
        self.load_run(run_id)

    def load_run(self, run_id: int):
        from studio.tools.suite import get_run

        return run_in_thread(lambda: get_run(self.studio, run_id), on_done=self.show_run, owner=self)

    def _compare_changed(self, _index: int) -> None:
        other_id = self.compare.currentData()
        if other_id is None:
            self.other = None
            if self.current:
                self.show_run(self.current)
            return
        from studio.tools.suite import get_run

        run_in_thread(lambda: get_run(self.studio, other_id), on_done=self._other_loaded, owner=self)

    def _other_loaded(self, run: dict) -> None:
        self.other = run
        if self.current:
            self.show_run(self.current)

    # ---- drawing ------------------------------------------------------------------------
    def show_run(self, run: dict) -> None:
        self.current = run
        self.right.setCurrentIndex(1)
        m = run["metrics"]
        other = self.other if self.other and self.other["id"] != run["id"] else None
        text = (f"<b>Run {run['id']}</b> · {Path(run['suite']).name} · {m['n']} queries · router "
                f"<i>{run['model_ref']}</i><br>"
                f"tool-selection accuracy <b>{pct(m['accuracy'])}</b> · 'none' accuracy "
                f"<b>{pct(m['none_accuracy'])}</b> · argument match <b>{pct(m['arg_match_rate'])}</b>")
        if other:
            om = other["metrics"]
            delta = (m["accuracy"] - om["accuracy"]) * 100
            text += (f"<br>vs run {other['id']} ({other['model_ref'].split(' ')[0]}): accuracy "
                     f"{pct(om['accuracy'])} → {pct(m['accuracy'])} ({delta:+.1f} points)")
        self.headline.setText(text)
        self._draw_bars(m, other["metrics"] if other else None, other["id"] if other else None, run["id"])
        self._draw_matrix(m)
        self._list_misses(run, other)
        meta = run["details"].get("classifier", {})
        lines = [run["model_ref"], ""] + [f"{k}: {v}" for k, v in meta.items() if k != "label_counts"]
        lines += ["", "training examples per label:"] + [f"  {k}: {v}" for k, v in meta.get("label_counts", {}).items()]
        self.router_info.setPlainText("\n".join(lines))

    def _draw_bars(self, m: dict, om: dict | None, other_id, run_id) -> None:
        plot = self.bars.getPlotItem()
        plot.clear()
        if plot.legend is not None:
            plot.legend.clear()
        labels = m["labels"]
        x = list(range(len(labels)))
        series = [("precision", [m["per_tool"][lab]["precision"] or 0 for lab in labels], PRECISION),
                  ("recall", [m["per_tool"][lab]["recall"] or 0 for lab in labels], RECALL)]
        if om:
            series.append((f"recall, run {other_id}",
                           [(om["per_tool"].get(lab) or {}).get("recall") or 0 for lab in labels], OTHER))
        width = 0.8 / len(series)
        for k, (name, values, colour) in enumerate(series):
            xs = [i - 0.4 + width * (k + 0.5) for i in x]
            item = pg.BarGraphItem(x=xs, height=values, width=width * 0.92, brush=colour, name=name)
            plot.addItem(item)  # named items join the legend by themselves
        plot.getAxis("bottom").setTicks([staggered_ticks(labels, max(1, self.bars.width() - 60), self.bars.fontMetrics())])
        plot.setXRange(-0.6, len(labels) - 0.4, padding=0)
        plot.setYRange(0, 1.32, padding=0)  # headroom for the legend above the 100% bars
        plot.getAxis("left").setTicks([[(v / 4, f"{v * 25}%") for v in range(5)]])

    def _draw_matrix(self, m: dict) -> None:
        import numpy as np

        plot = self.matrix.getPlotItem()
        plot.clear()
        labels, conf = m["labels"], np.array(m["confusion"], dtype=float)
        n = len(labels)
        rows = conf.sum(axis=1, keepdims=True)
        share = np.divide(conf, rows, out=np.zeros_like(conf), where=rows > 0)
        img = pg.ImageItem(share.T)  # ImageItem is column-major: x = chosen, y = expected
        img.setLookupTable(pg.colormap.get("CET-L12").getLookupTable(0.0, 1.0, 256) if _has_cmap("CET-L12")
                           else pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256))
        img.setLevels((0, 1))
        plot.addItem(img)
        for i in range(n):
            for j in range(n):
                colour = "w" if share[i, j] > 0.55 else "k"
                t = pg.TextItem(str(int(conf[i, j])), color=colour, anchor=(0.5, 0.5))
                t.setPos(j + 0.5, i + 0.5)
                plot.addItem(t)
        fm = self.matrix.fontMetrics()
        plot.getAxis("bottom").setTicks([[(x + 0.5, lab) for x, lab in staggered_ticks(labels, max(1, self.matrix.width() - 100), fm)]])
        plot.getAxis("left").setTicks([[(k + 0.5, lab) for k, lab in enumerate(labels)]])
        # the widest label ("calculator") fits beside the matrix, plus room for the axis title
        plot.getAxis("left").setWidth(max((fm.horizontalAdvance(lab) for lab in labels), default=40) + 34)
        plot.setXRange(0, n, padding=0.02)
        plot.setYRange(0, n, padding=0.02)

    def _list_misses(self, run: dict, other: dict | None) -> None:
        rows = run["details"].get("rows", [])
        lines = [f"line {r['line']}: {r['query']!r} — expected {r['tool']}, chose {r['chosen']} "
                 f"({r['confidence']:.0%}; {r.get('reason', '')})" for r in rows if r["chosen"] != r["tool"]]
        bad_args = [f"line {r['line']}: {r['query']!r} — args {r.get('got_args')} ≠ expected {r['args']}"
                    + (f" ({r['arg_error']})" if r.get("arg_error") else "")
                    for r in rows if r["args"] and r["chosen"] == r["tool"] and not r["args_ok"]]
        text = (["Misrouted:"] + lines if lines else ["Every query reached the expected tool."])
        if bad_args:
            text += ["", "Argument mismatches:"] + bad_args
        if other:
            before = {r["query"]: r["chosen"] for r in other["details"].get("rows", [])}
            changed = [f"{r['query']!r}: {before[r['query']]} → {r['chosen']} (expected {r['tool']})"
                       for r in rows if r["query"] in before and before[r["query"]] != r["chosen"]]
            text += ["", f"Changed since run {other['id']}:"] + (changed or ["(no routing changes)"])
        self.misses.setPlainText("\n".join(text))

    # ---- lifecycle ----------------------------------------------------------------------
    def shutdown(self) -> None:
        self.ladder.shutdown()
        wait_workers(self)


def _has_cmap(name: str) -> bool:
    try:
        pg.colormap.get(name)
        return True
    except Exception:  # noqa: BLE001 - pyqtgraph raises several kinds for an unknown map
        return False
