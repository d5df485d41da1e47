"""The ladder report (the Evals page's "Ladder" tab): one suite, several models (the training
stages of an assistant: base, SFT, preference...) in fast / reasoning / auto modes.

Pick a suite file and models, Run: `studio.evals.ladder.run_ladder` runs on a worker thread (it loads
models and generates; never on the GUI thread) and reports progress through a queued signal;
Stop asks it to end at its next safe point. Stored runs are listed newest first; the selected
run shows a table per family x mode x stage and a grouped bar chart of accuracy by stage
(x axis) and mode (bars), accuracy pooled over families by row count.

The model list follows the registry (ui.model_watch). `show_run(run)` draws any run dict of
the `get_ladder_run` shape, so a test can render one without waiting on a model.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.evals.suites import known_suites
from ui.dataset_table import run_in_thread, wait_workers
from ui.model_watch import watcher_for
from ui.widgets import empty_or, side_by_side

MODES = ("fast", "reasoning", "auto")
MODE_COLOURS = {"fast": "#1e88e5", "reasoning": "#8e24aa", "auto": "#43a047"}
RUN_COLUMNS = ["#", "When", "Suite", "Models", "Modes", "Rows"]
# the measures first, next to the stage that names the rung; the long model name goes last
SUMMARY_COLUMNS = [("family", "Family"), ("mode", "Mode"), ("stage", "Stage"), ("n", "n"),
                   ("accuracy", "Accuracy"), ("end_of_turn", "Ends turn"), ("think_closed", "Think closed"),
                   ("tool_correct", "Tool right"), ("declined", "Declined"), ("hidden_tokens", "Hidden tokens"),
                   ("latency_s", "Latency"), ("cost", "Cost"), ("model", "Model")]
RATES = {"accuracy", "end_of_turn", "think_closed", "tool_correct", "declined"}


def cell_text(key: str, value) -> str:
    if value is None:
        return "—"  # not applicable (e.g. think closed in fast mode)
    if key in RATES:
        return f"{value:.0%}"
    if key == "latency_s":
        return f"{value:.2f} s"
    if key == "hidden_tokens":
        return f"{value:,.0f}"
    if key == "cost":
        return f"{value:.4f}"
    return str(value)


def accuracy_by_stage_and_mode(summary: list[dict]) -> tuple[list[str], list[str], dict[tuple[str, str], float]]:
    """Stages in ladder order (first appearance), the modes present, and accuracy per (stage, mode)
    pooled over families, weighted by each row's n."""
    stages: list[str] = []
    modes: list[str] = []
    hits: dict[tuple[str, str], float] = {}
    counts: dict[tuple[str, str], int] = {}
    for r in summary:
        if r.get("accuracy") is None:
            continue
        stage, mode, n = str(r["stage"]), str(r["mode"]), int(r.get("n") or 0)
        if stage not in stages:
            stages.append(stage)
        if mode not in modes:
            modes.append(mode)
        hits[stage, mode] = hits.get((stage, mode), 0.0) + r["accuracy"] * n
        counts[stage, mode] = counts.get((stage, mode), 0) + n
    modes.sort(key=lambda m: MODES.index(m) if m in MODES else len(MODES))
    return stages, modes, {k: hits[k] / counts[k] for k in hits if counts[k]}


def staggered_ticks(labels: list[str], width_px: int, font_metrics) -> list[tuple[float, str]]:
    """Tick labels that never run together: every other label drops a line when they would touch."""
    slot = width_px / max(1, len(labels))
    crowded = any(font_metrics.horizontalAdvance(lab) + 12 > slot for lab in labels)
    return [(i, ("\n" + lab) if crowded and i % 2 else lab) for i, lab in enumerate(labels)]


class _Progress(QObject):
    """Carries the worker's progress reports onto the GUI thread (a queued signal)."""

    report = Signal(object)


class LadderView(QWidget):
    def __init__(self, studio, parent=None):
        super().__init__(parent)
        self.studio = studio
        self._workers: set = set()
        self._stop = threading.Event()
        self.runs: list[dict] = []
        self.current: dict | None = None
        self.running = False
        self._progress = _Progress(self)
        self._progress.report.connect(self._on_progress)

        # ---- the run: suite, models, modes ----
        self.suite_edit = QLineEdit()
        self.suite_edit.setObjectName("ladderSuite")
        self.suite_edit.setPlaceholderText("A ladder suite (JSONL): each row a prompt and what a right answer holds")
        self.suite_edit.textChanged.connect(lambda _t: self._update_run_button())
        browse = QPushButton("Browse…")
        browse.setAutoDefault(False)  # Enter in the path field must not open the chooser
        browse.clicked.connect(self._browse)
        # the suites that come with the studio, by name; the curriculum's held-out split is the default,
        # as on the command line (`studio eval ladder` without a suite)
        self.suites_button = QToolButton()
        self.suites_button.setObjectName("ladderSuites")
        self.suites_button.setText("Built-in ▾")
        self.suites_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")  # the ▾ says it
        self.suites_button.setToolTip("The suites that come with the studio: the starter's held-out split and, in a "
                                      "source checkout, the hand-written suites in bench/suites/")
        self.suites_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.suites_button)
        for label, path in known_suites():
            act = menu.addAction(label)
            act.setToolTip(str(path))
            act.triggered.connect(lambda _c=False, p=str(path): self.suite_edit.setText(p))
        self.suites_button.setMenu(menu)
        if menu.actions():
            self.suite_edit.blockSignals(True)  # the run button is set up further down
            self.suite_edit.setText(menu.actions()[0].toolTip())
            self.suite_edit.blockSignals(False)
        suite_row = QHBoxLayout()
        suite_row.addWidget(QLabel("Suite"))
        suite_row.addWidget(self.suite_edit, 1)
        suite_row.addWidget(self.suites_button)
        suite_row.addWidget(browse)

        self.models = QListWidget()
        self.models.setObjectName("ladderModels")
        self.models.setMaximumHeight(120)
        self.models.setWordWrap(True)
        self.models.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.models.itemChanged.connect(lambda _i: self._update_run_button())
        self.mode_boxes: dict[str, QCheckBox] = {}
        modes_row = QHBoxLayout()
        modes_row.addWidget(QLabel("Modes"))
        for mode in MODES:
            box = QCheckBox(mode.capitalize())
            box.setChecked(True)
            box.toggled.connect(lambda _on: self._update_run_button())
            self.mode_boxes[mode] = box
            modes_row.addWidget(box)
        modes_row.addStretch(1)
        self.run_button = QPushButton("Run ladder")
        self.run_button.setObjectName("ladderRun")
        self.run_button.clicked.connect(self._run_or_stop)
        modes_row.addWidget(self.run_button)
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("ladderStatus")
        self.status.setWordWrap(True)

        self.table = QTableWidget(0, len(RUN_COLUMNS))
        self.table.setObjectName("ladderRuns")
        self.table.setHorizontalHeaderLabels(RUN_COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selected)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(suite_row)
        ll.addWidget(QLabel("Models (each is a stage of the ladder)"))
        ll.addWidget(self.models)
        ll.addLayout(modes_row)
        ll.addWidget(self.bar)
        ll.addWidget(self.status)
        ll.addWidget(QLabel("<b>Stored ladder runs</b>"))
        ll.addWidget(self.table, 1)

        # ---- the selected run: summary table and chart (or a word on what will appear) ----
        self.headline = QLabel("")
        self.headline.setWordWrap(True)
        self.summary = QTableWidget(0, len(SUMMARY_COLUMNS))
        self.summary.setObjectName("ladderSummary")
        self.summary.setHorizontalHeaderLabels([label for _k, label in SUMMARY_COLUMNS])
        self.summary.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary.verticalHeader().setVisible(False)
        self.summary.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.chart = pg.PlotWidget()
        self.chart.setObjectName("ladderChart")
        self.chart.setBackground(None)
        self.chart.setTitle("Accuracy by stage and mode")
        self.chart.setMouseEnabled(False, False)
        self.chart.hideButtons()
        self.chart.getAxis("left").setWidth(48)
        self.legend = self.chart.getPlotItem().addLegend(offset=(10, 2), colCount=3)
        self.legend.setLabelTextColor(self.palette().windowText().color())
        shown = QWidget()
        sl = QVBoxLayout(shown)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.headline)
        sl.addWidget(self.summary, 2)
        sl.addWidget(self.chart, 3)
        self.right, self.empty = empty_or(
            shown,
            "No ladder run yet.\n\nA ladder run asks every chosen model (base, SFT, preference-trained...) the "
            "suite's questions in fast, reasoning and auto mode, and shows accuracy, whether the turn ended and "
            "the thinking closed, tool choice, hidden tokens, latency and cost per stage.\n\n"
            "Choose a suite and models on the left and press Run ladder, or pick a stored run.", "ladderEmpty")
        split = side_by_side(left, self.right, [420, 860])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 8, 0, 0)
        lay.addWidget(split)

        self.available = _ladder_available()
        self.refresh_models()
        watcher_for(studio).changed.connect(lambda _changes: self.refresh_models())
        if not self.available:
            self.status.setText("The ladder report is not installed in this build (studio.evals.ladder is missing).")
        else:
            self.refresh()
        self._update_run_button()

    # ---- choices ----------------------------------------------------------------------------
    def refresh_models(self) -> None:
        checked = set(self.chosen_models())
        self.models.blockSignals(True)
        self.models.clear()
        for m in self.studio.registry.list():
            if m.format not in ("gguf", "gguf-lora"):
                continue
            it = QListWidgetItem(m.name)
            it.setToolTip(f"{m.name} · {m.kind} · {m.format}")
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Checked if m.name in checked else Qt.CheckState.Unchecked)
            self.models.addItem(it)
        if not self.models.count():
            it = QListWidgetItem("No chat model yet: import a GGUF or export an adapter on the Models page")
            it.setFlags(Qt.ItemFlag.NoItemFlags)
            self.models.addItem(it)
        self.models.blockSignals(False)
        self._update_run_button()

    def chosen_models(self) -> list[str]:
        return [self.models.item(i).text() for i in range(self.models.count())
                if self.models.item(i).checkState() == Qt.CheckState.Checked]

    def chosen_modes(self) -> tuple[str, ...]:
        return tuple(m for m, box in self.mode_boxes.items() if box.isChecked())

    def _update_run_button(self) -> None:
        if self.running:
            self.run_button.setEnabled(True)
            self.run_button.setToolTip("Stop after the current question")
            return
        why = ("The ladder report is not installed in this build" if not self.available
               else "Choose a suite file" if not self.suite_edit.text().strip()
               else "Tick at least one model" if not self.chosen_models()
               else "Tick at least one mode" if not self.chosen_modes() else "")
        self.run_button.setEnabled(not why)
        self.run_button.setToolTip(why or "Run the suite on every ticked model in every ticked mode")

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a ladder suite", str(Path(self.suite_edit.text() or ".").parent),
                                              "JSONL suites (*.jsonl);;All files (*)")
        if path:
            self.suite_edit.setText(path)

    # ---- running ------------------------------------------------------------------------------
    def _run_or_stop(self) -> None:
        if self.running:
            self._stop.set()
            self.status.setText("Stopping after the current question…")
            return
        self.run()

    def run(self):
        """Start `run_ladder` on a worker thread; progress comes back through a queued signal."""
        suite, models, modes = self.suite_edit.text().strip(), self.chosen_models(), self.chosen_modes()
        self._stop.clear()
        self.running = True
        self.run_button.setText("Stop")
        self.bar.setRange(0, 0)
        self.bar.setVisible(True)
        self.status.setText(f"Running {Path(suite).name} on {len(models)} model(s)…")
        studio, emit, stop = self.studio, self._progress.report.emit, self._stop.is_set
        return run_in_thread(lambda: _ladder().run_ladder(studio, suite, models=models, modes=modes,
                                                          on_progress=emit, should_stop=stop),
                             on_done=self._run_done, on_error=self._run_failed, owner=self)

    def _on_progress(self, p) -> None:
        if isinstance(p, dict):
            done, total = p.get("done") or p.get("step"), p.get("total")
            if done is not None and total:
                self.bar.setRange(0, int(total))
                self.bar.setValue(int(done))
            text = p.get("message") or " · ".join(f"{k} {v}" for k, v in p.items() if k in ("model", "mode", "stage"))
            if text:
                self.status.setText(str(text))

    def _finish(self) -> None:
        self.running = False
        self.run_button.setText("Run ladder")
        self.bar.setVisible(False)
        self._update_run_button()

    def _run_done(self, run: dict) -> None:
        self._finish()
        self.status.setText(f"Ladder run {run.get('id', '')} finished" + (" (stopped early)" if self._stop.is_set() else "") + ".")
        self.refresh(select=run.get("id"))

    def _run_failed(self, exc: Exception) -> None:
        self._finish()
        self.status.setText(f"The ladder run failed: {getattr(exc, 'message', None) or exc}")
        from ui.errors import report

        report(exc)

    # ---- stored runs -------------------------------------------------------------------------
    def refresh(self, select=None):
        studio = self.studio
        return run_in_thread(lambda: _ladder().list_ladder_runs(studio), on_done=lambda runs: self.show_runs(runs, select),
                             owner=self)

    def show_runs(self, runs: list[dict], select=None) -> None:
        self.runs = runs
        self.table.setRowCount(len(runs))
        for i, r in enumerate(runs):
            models = r.get("models") or []
            cells = [str(r["id"]), str(r.get("created_at") or "").replace("T", " ")[:16], Path(str(r.get("suite", ""))).name,
                     f"{len(models)}: " + ", ".join(models), ", ".join(r.get("modes") or []), str(r.get("n_rows", ""))]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text if j != 2 else str(r.get("suite", "")))
                self.table.setItem(i, j, item)
        ids = [r["id"] for r in runs]
        if select in ids and self.available:
            self.table.blockSignals(True)
            self.table.selectRow(ids.index(select))
            self.table.blockSignals(False)
            self.load_run(select)

    def _selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows and self.available:
            self.load_run(self.runs[rows[0].row()]["id"])

    def load_run(self, run_id):
        studio = self.studio
        return run_in_thread(lambda: _ladder().get_ladder_run(studio, run_id), on_done=self.show_run, owner=self)

    # ---- drawing -----------------------------------------------------------------------------
    def show_run(self, run: dict) -> None:
        self.current = run
        summary = sorted(run.get("summary") or [], key=lambda r: (str(r.get("family")), _mode_rank(r.get("mode")),
                                                                  _stage_rank(run, r.get("stage"))))
        n_rows = run.get("n_rows") or len(run.get("rows") or [])
        self.headline.setText(f"<b>Ladder run {run.get('id', '')}</b> · {Path(str(run.get('suite', ''))).name} · "
                              f"{len(summary)} family × mode × stage cells" + (f" · {n_rows} answers" if n_rows else ""))
        self.summary.setRowCount(len(summary))
        for i, r in enumerate(summary):
            for j, (key, _label) in enumerate(SUMMARY_COLUMNS):
                item = QTableWidgetItem(cell_text(key, r.get(key)))
                if key not in ("family", "mode", "stage", "model"):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if key == "model":
                    item.setToolTip(str(r.get(key)))
                self.summary.setItem(i, j, item)
        self._draw_chart(summary)
        self.right.setCurrentIndex(1)

    def _draw_chart(self, summary: list[dict]) -> None:
        plot = self.chart.getPlotItem()
        plot.clear()
        self.legend.clear()
        stages, modes, acc = accuracy_by_stage_and_mode(summary)
        width = 0.8 / max(1, len(modes))
        for k, mode in enumerate(modes):
            xs = [i - 0.4 + width * (k + 0.5) for i, s in enumerate(stages) if (s, mode) in acc]
            hs = [acc[s, mode] for s in stages if (s, mode) in acc]
            plot.addItem(pg.BarGraphItem(x=xs, height=hs, width=width * 0.92,
                                         brush=MODE_COLOURS.get(mode, "#757575"), name=mode.capitalize()))
        plot.getAxis("bottom").setTicks([staggered_ticks(stages, max(1, self.chart.width() - 60), self.chart.fontMetrics())])
        plot.setXRange(-0.6, max(1, len(stages)) - 0.4, padding=0)
        plot.setYRange(0, 1.25, padding=0)  # headroom for the legend above 100% bars
        plot.getAxis("left").setTicks([[(v / 4, f"{v * 25}%") for v in range(5)]])

    def shutdown(self) -> None:
        self._stop.set()
        wait_workers(self)


def _mode_rank(mode) -> int:
    return MODES.index(mode) if mode in MODES else len(MODES)


def _stage_rank(run: dict, stage) -> int:
    order = [s["stage"] for s in run.get("summary") or []]
    return order.index(stage) if stage in order else len(order)


def _ladder_available() -> bool:
    from importlib.util import find_spec

    return find_spec("studio.evals.ladder") is not None


def _ladder():
    """studio.evals.ladder, imported on a worker thread (it may pull in inference code)."""
    import studio.evals.ladder

    return studio.evals.ladder
