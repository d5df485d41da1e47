"""The Jobs page: every job with its state, progress, ETA and throughput; the selected job's live
charts, warnings, samples, log, config and lineage; Cancel / Resume / Clone / Open output.

Threads: a QTimer (every 500 ms) starts one poll at a time on a worker thread. The poll reads
the database only (`studio.jobs.events(job_id, after_seq)`), so the page follows jobs run by
this window, by `studio jobs work` or by another machine's CLI alike, and returns plain data.
The GUI thread only appends points to the charts: a poll never blocks the event loop.

Charts are made on the fly, one per numeric metric the job reports (loss, eval_loss,
learning_rate, grad_norm for SFT; rewards, margins, KL and monitors for the preference
methods), so a new method's metrics appear without touching this page.
"""

from __future__ import annotations

import json
import time
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui.errors import report
from ui.widgets import PollingPage, ERROR_STYLE, WARNING_STYLE, notice_label, wrapped_label

POLL_MS = 500
# keys of progress/metrics events that are bookkeeping, not curves
NOT_CHARTED = {"step", "total", "seq", "ts", "eta_s", "elapsed_s", "cpu_s", "epoch"}
FIRST = ["loss", "eval_loss", "learning_rate", "grad_norm"]
COLUMNS = ["#", "Name", "Kind", "State", "Progress", "ETA", "Throughput"]
SAMPLING_KINDS = ("dpo", "grpo")  # the methods whose monitors log sample completions


def samples_placeholder(detail: dict | None, *, selected: bool = False) -> str:
    """What the empty Samples tab says: what appears there, for which runs, and when."""
    if detail is None:
        return ("Loading the job…" if selected else
                "Select a job. DPO and GRPO runs show sample completions of held-out prompts here, with their rewards.")
    if detail.get("kind") not in SAMPLING_KINDS:
        return (f"{detail.get('kind', 'This').upper()} runs log no samples. DPO and GRPO runs show completions of "
                "held-out prompts here, with their rewards, every few steps; start one from the Train page.")
    from engines.training.monitors import MonitorConfig

    try:
        monitors = MonitorConfig.from_dict((detail.get("config") or {}).get("monitors") or {})
    except (TypeError, ValueError):
        monitors = MonitorConfig()
    if not monitors.enabled:
        return "This run's monitors are off (monitors.enabled in its Config tab), so it logs no samples."
    if detail.get("state") in ("queued", "running"):
        return (f"No samples yet: every {monitors.sample_every} steps this run writes {monitors.samples_per_log} "
                "completions of held-out prompts here, with their rewards.")
    return "This run ended before it logged any samples."


STATE_COLOURS = {"running": "#1e88e5", "succeeded": "#43a047", "failed": "#e53935", "cancelled": "#757575",
                 "interrupted": "#fb8c00", "queued": "#8e24aa"}


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def fmt_rate(progress: dict[str, Any] | None) -> str:
    if not progress:
        return "—"
    parts = []
    if progress.get("tokens_per_s"):
        parts.append(f"{progress['tokens_per_s']:,.0f} tok/s")
    if progress.get("samples_per_s"):
        parts.append(f"{progress['samples_per_s']:.2f} samples/s")
    return " · ".join(parts) or "—"


def chartable(event: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v) for k, v in event.items()
        if k not in NOT_CHARTED and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def poll(studio, selected: int | None, after_seq: int) -> dict[str, Any]:
    """Runs on a worker thread: the job list, and the selected job's new events (plain data)."""
    from sqlalchemy import select

    from studio.db import Job, JobEvent, Model
    from studio.jobs import job_to_dict

    out: dict[str, Any] = {"jobs": [], "selected": selected, "events": [], "detail": None}
    with studio.db.session() as s:
        jobs = list(s.scalars(select(Job).order_by(Job.id.desc()).limit(200)))
        running = [j.id for j in jobs if j.state == "running"]
        last_progress: dict[int, dict] = {}
        for job_id in running:  # the newest training-step report (eval reports carry no rates)
            recent = s.scalars(select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.type == "progress")
                               .order_by(JobEvent.seq.desc()).limit(5))
            ev = next((e for e in recent if "samples_per_s" in (e.data or {})), None)
            if ev is not None:
                last_progress[job_id] = dict(ev.data)
        for j in jobs:
            d = {k: v for k, v in job_to_dict(j).items() if k not in ("config",)}
            d["last_progress"] = last_progress.get(j.id) or (j.result if j.state == "succeeded" else None)
            out["jobs"].append(d)
        if selected is not None:
            job = s.get(Job, selected)
            if job is not None:
                detail = job_to_dict(job)
                base = s.get(Model, job.base_model_id) if job.base_model_id else None
                detail["base_model"] = base.name if base else None
                if job.dataset_version_id:
                    from studio.db import DatasetVersion

                    v = s.get(DatasetVersion, job.dataset_version_id)
                    detail["dataset"] = f"{v.dataset.name} v{v.version} · {v.row_count} rows · {v.content_hash[:10]}" if v else None
                adapter = s.scalar(select(Model).where(Model.job_id == job.id))
                detail["adapter"] = adapter.name if adapter else None
                out["detail"] = detail
    if selected is not None and out["detail"] is not None:
        out["events"] = studio.jobs.events(selected, after_seq)
        log = studio.home.job_dir(selected) / "log.txt"
        try:
            with open(log, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - 6000))
                out["stderr_tail"] = f.read().decode("utf-8", errors="replace")
        except OSError:
            out["stderr_tail"] = ""
    return out


class _Poller(QObject):
    """Delivers a poll's result to the GUI thread (a queued signal from the worker thread)."""

    done = Signal(object)


class MetricChart(QWidget):
    """One pyqtgraph plot for one metric (x: step)."""

    def __init__(self, name: str, colour: str):
        super().__init__()
        import pyqtgraph as pg

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plot = pg.PlotWidget(background=None)
        self.plot.setMinimumHeight(170)
        self.plot.setTitle(name, size="10pt")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "step")
        self.plot.getPlotItem().setMenuEnabled(False)
        # thousands of steps: draw what is in view, at most a few points per pixel
        self.plot.setClipToView(True)
        self.plot.setDownsampling(auto=True, mode="peak")
        self.curve = self.plot.plot([], [], pen=pg.mkPen(colour, width=2), symbol="o" if name.startswith("eval_") else None,
                                    symbolSize=5, symbolBrush=colour)
        lay.addWidget(self.plot)
        self.xs: list[float] = []
        self.ys: list[float] = []

    def redraw(self) -> None:
        self.curve.setData(self.xs, self.ys)
        if self.ys and max(self.ys) == min(self.ys):
            # a flat series (a constant learning rate of 1e-4): pyqtgraph would span 0 +/- 0.5 and
            # label it 0; centre the axis on the value so it reads
            v = self.ys[0]
            pad = abs(v) * 0.5 or 0.5
            self.plot.setYRange(v - pad, v + pad, padding=0)
        else:
            self.plot.enableAutoRange(axis="y")


PALETTE = ["#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41", "#3949ab", "#c0ca33", "#d81b60"]


class JobsPage(PollingPage):
    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self._workers: set = set()
        self._busy = False
        self._selected: int | None = None
        self._after_seq = 0
        self._charts: dict[str, MetricChart] = {}
        self._dirty: set[str] = set()  # charts with new points, redrawn a few per event-loop turn
        self._series: dict[str, tuple[list[float], list[float]]] = {}  # metric -> (steps, values)
        self._log_lines: list[str] = []
        self._jobs: list[dict] = []
        self._detail: dict | None = None
        self._closing = False
        self.last_poll_at = 0.0
        self._build()
        self._poller = _Poller()
        self._poller.done.connect(self._apply)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        QTimer.singleShot(0, self.refresh)

    # ---- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(16, 16, 16, 8)
        title = QLabel("Jobs")
        title.setObjectName("pageTitle")
        title.setStyleSheet("font-size: 18px; font-weight: 600;")
        root.addWidget(title)
        split = QSplitter(Qt.Orientation.Vertical)
        root.addWidget(split, 1)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        hdr = self.table.horizontalHeader()
        hdr.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in (0, 2, 3, 5):
            hdr.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        hdr.setSectionResizeMode(4, QHeaderView.ResizeMode.Fixed)
        hdr.resizeSection(4, 160)
        hdr.setSectionResizeMode(6, QHeaderView.ResizeMode.Fixed)
        hdr.resizeSection(6, 230)
        self.table.itemSelectionChanged.connect(self._on_select)
        split.addWidget(self.table)

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 8, 0, 0)
        head = QHBoxLayout()
        self.header = wrapped_label("Select a job to see its curves, log and config.")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        head.addWidget(self.header, 1)
        self.cancel_btn = QPushButton("Cancel")
        self.resume_btn = QPushButton("Resume")
        self.clone_btn = QPushButton("Clone as new run…")
        self.open_btn = QPushButton("Open output")
        for b, fn, tip in (
            (self.cancel_btn, self.cancel_job, "Stop the job; it saves a checkpoint first"),
            (self.resume_btn, self.resume_job, "Continue from the last checkpoint (optimizer and scheduler state included)"),
            (self.clone_btn, self.clone_job, "Open the fine-tune wizard with this job's settings"),
            (self.open_btn, self.open_output, "Open the adapter or output folder"),
        ):
            b.setToolTip(tip)
            b.setEnabled(False)
            b.clicked.connect(fn)
            head.addWidget(b)
        dl.addLayout(head)
        self.banner = notice_label(WARNING_STYLE)
        dl.addWidget(self.banner)
        self.error_label = notice_label(ERROR_STYLE)
        dl.addWidget(self.error_label)

        self.tabs = QTabWidget()
        charts_host = QWidget()
        self.charts_grid = QGridLayout(charts_host)
        self.charts_grid.setContentsMargins(4, 4, 4, 4)
        self.charts_empty = QLabel("No metrics yet: the curves appear with the first training step.")
        self.charts_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.charts_grid.addWidget(self.charts_empty, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(charts_host)
        self.tabs.addTab(scroll, "Charts")
        self.samples = QTableWidget(0, 3)
        self.samples.setHorizontalHeaderLabels(["Prompt", "Completion", "Reward"])
        self.samples.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.samples.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.samples.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.samples.setWordWrap(True)
        self.samples_empty = QLabel(samples_placeholder(None))  # what will appear, and for which runs
        self.samples_empty.setObjectName("samplesEmpty")
        self.samples_empty.setWordWrap(True)
        self.samples_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.samples_stack = QStackedWidget()
        self.samples_stack.addWidget(self.samples_empty)
        self.samples_stack.addWidget(self.samples)
        self.tabs.addTab(self.samples_stack, "Samples")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.tabs.addTab(self.log, "Log")
        self.stderr = QPlainTextEdit()
        self.stderr.setReadOnly(True)
        self.stderr.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.tabs.addTab(self.stderr, "Process output")
        self.config = QPlainTextEdit()
        self.config.setReadOnly(True)
        self.tabs.addTab(self.config, "Config")
        dl.addWidget(self.tabs, 1)
        split.addWidget(detail)
        split.setSizes([170, 600])

    # ---- polling -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Start one poll on a worker thread unless one is still running."""
        if self._busy or self._closing:
            return
        self._busy = True
        selected, after = self._selected, self._after_seq
        from ui.dataset_table import run_in_thread

        def failed(exc):
            self._busy = False
            report(exc)

        run_in_thread(poll, self.studio, selected, after, on_done=self._poller.done.emit, on_error=failed, owner=self)

    def _apply(self, data: dict[str, Any]) -> None:
        self._busy = False
        self.last_poll_at = time.monotonic()
        if self._closing:
            return
        self._fill_table(data["jobs"])
        if data["selected"] != self._selected:
            return  # the user picked another job meanwhile; the next poll brings its events
        if data["detail"] is not None:
            self._detail = data["detail"]
            self._fill_detail(data["detail"], data.get("stderr_tail", ""))
        if data["events"]:
            self._add_events(data["events"])

    def _fill_table(self, jobs: list[dict]) -> None:
        signature = [(j["id"], j["state"], j["step"], j["total"], j.get("message"), json.dumps(j.get("last_progress"), default=str))
                     for j in jobs]
        if signature == getattr(self, "_table_signature", None):
            return  # nothing changed: no relayout on the GUI thread
        self._table_signature = signature
        self._jobs = jobs
        self.table.blockSignals(True)
        self.table.setRowCount(len(jobs))
        for row, j in enumerate(jobs):
            prog = j.get("last_progress") or {}
            eta = prog.get("eta_s") if j["state"] == "running" else None
            cells = [str(j["id"]), j["name"] or j["kind"], j["kind"], j["state"], None,
                     fmt_duration(eta) if j["state"] == "running" else "—", fmt_rate(prog)]
            for col, text in enumerate(cells):
                if col == 4:
                    bar = self.table.cellWidget(row, 4)
                    if not isinstance(bar, QProgressBar):
                        bar = QProgressBar()
                        bar.setTextVisible(True)
                        self.table.setCellWidget(row, 4, bar)
                    bar.setRange(0, max(j["total"] or 1, 1))
                    bar.setValue(j["total"] if j["state"] == "succeeded" and j["total"] else min(j["step"], max(j["total"], 1)))
                    bar.setFormat(f"{j['step']}/{j['total']}" if j["total"] else "—")
                    continue
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, col, item)
                if item.text() != text:
                    item.setText(text)
                item.setData(Qt.ItemDataRole.UserRole, j["id"])
                if col == 3:
                    item.setForeground(QColor(STATE_COLOURS.get(j["state"], "#333")))
                if col == 1:
                    item.setToolTip(j.get("message") or "")
            if j["id"] == self._selected and not self.table.selectionModel().isRowSelected(row):
                self.table.selectRow(row)
        self.table.blockSignals(False)

    def _on_select(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        job_id = int(self.table.item(rows[0].row(), 0).text())
        self.select_job(job_id)

    def select_job(self, job_id: int) -> None:
        if job_id == self._selected:
            return
        self._selected = job_id
        self._after_seq = 0
        self._detail = None
        self._log_lines = []
        self.log.clear()
        self.samples.setRowCount(0)
        self.samples_stack.setCurrentWidget(self.samples_empty)
        self.samples_empty.setText(samples_placeholder(None, selected=True))
        self.tabs.setTabText(1, "Samples")
        self.banner.setVisible(False)
        self.banner.setText("")
        for chart in self._charts.values():
            chart.setParent(None)
            chart.deleteLater()
        self._charts.clear()
        self._dirty.clear()
        self._series = {}
        self.charts_empty.setVisible(True)
        self.config.clear()
        self.stderr.clear()
        self._table_signature = None
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.text() == str(job_id):
                self.table.blockSignals(True)
                self.table.selectRow(row)
                self.table.blockSignals(False)
        self.refresh()

    # ---- the selected job ----------------------------------------------------------------------
    def _fill_detail(self, d: dict[str, Any], stderr_tail: str) -> None:
        colour = STATE_COLOURS.get(d["state"], "#333")
        parts = [f"<b>Job {d['id']} · {d['name'] or d['kind']}</b> &nbsp; <span style='color:{colour}'>{d['state']}</span>"]
        lineage = []
        if d.get("base_model"):
            lineage.append(f"base <b>{d['base_model']}</b>")
        if d.get("dataset"):
            lineage.append(f"dataset <b>{d['dataset']}</b>")
        if d.get("adapter"):
            lineage.append(f"adapter <b>{d['adapter']}</b>")
        if lineage:
            parts.append(" · ".join(lineage))
        if d.get("message"):
            parts.append(f"<span style='color:#666'>{d['message']}</span>")
        header = "<br>".join(parts)
        if header != self.header.text():
            self.header.setText(header)
        state = d["state"]
        self.cancel_btn.setEnabled(state in ("queued", "running"))
        self.resume_btn.setEnabled(state in ("interrupted", "failed", "cancelled"))
        from studio.training import METHODS

        self.clone_btn.setEnabled(d["kind"] in METHODS)
        self.open_btn.setEnabled(bool((d.get("result") or {}).get("adapter_dir") or d.get("output_dir")))
        if d.get("error"):
            text = f"<b>{d['error']}</b>" + (f"<br>{d['hint'][0].upper() + d['hint'][1:]}." if d.get("hint") else "")
            if text != self.error_label.text():
                self.error_label.setText(text)
            self.error_label.setVisible(True)
        elif self.error_label.isVisible():
            self.error_label.setVisible(False)
        if not self.samples.rowCount():
            hint = samples_placeholder(d)
            if hint != self.samples_empty.text():
                self.samples_empty.setText(hint)
        if not self.config.toPlainText():
            cfg = {k: v for k, v in (d.get("config") or {}).items() if k != "chat_template_text"}
            self.config.setPlainText(json.dumps(cfg, indent=2, default=str))
        if self.tabs.currentWidget() is self.stderr and stderr_tail != self.stderr.toPlainText():
            self.stderr.setPlainText(stderr_tail)
            self.stderr.verticalScrollBar().setValue(self.stderr.verticalScrollBar().maximum())

    def _add_events(self, events: list[dict[str, Any]]) -> None:
        touched: set[str] = set()
        new_lines: list[str] = []
        for e in events:
            self._after_seq = max(self._after_seq, e["seq"])
            t = e["type"]
            if t in ("progress", "metrics"):
                step = float(e.get("step", 0))
                for k, v in chartable(e).items():
                    self._series.setdefault(k, ([], []))
                    self._series[k][0].append(step)
                    self._series[k][1].append(v)
                    touched.add(k)
            elif t == "warning":
                text = e.get("message", "warning")
                self.banner.setText(("⚠ " + text) if not self.banner.text() else self.banner.text() + "<br>⚠ " + text)
                self.banner.setVisible(True)
                new_lines.append(f"warning: {text}")
            elif t == "samples":
                self._add_samples(e.get("samples") or [], e.get("step"))
            elif t in ("log", "error", "checkpoint", "artifact", "started", "stopped", "done"):
                new_lines.append(_event_line(e))
        self._dirty.update(k for k in touched if k in self._charts)
        self._flush_redraws()
        self._create_pending_charts()
        if new_lines:
            self.log.appendPlainText("\n".join(new_lines))

    def _flush_redraws(self) -> None:
        """Redraw at most two charts per event-loop turn. Qt paints every dirty widget of a
        window in one pass, so ten charts updated at once (a fast job, thousands of points)
        would stall the window for one long paint; spread out, each turn stays short."""
        for k in list(self._dirty)[:2]:
            self._dirty.discard(k)
            if k in self._charts:
                self._charts[k].redraw()
        if self._dirty and not self._closing:
            QTimer.singleShot(0, self._flush_redraws)

    def _create_pending_charts(self) -> None:
        """Make at most two new plots per event-loop turn: a plot costs ~10 ms to build, and a
        job with a dozen metrics must not freeze the window when it is selected."""
        pending = [k for k in self._series if k not in self._charts]
        for k in pending[:2]:
            self._new_chart(k).redraw()
        if len(pending) > 2 and not self._closing:
            QTimer.singleShot(0, self._create_pending_charts)

    def _new_chart(self, name: str) -> MetricChart:
        chart = MetricChart(name, PALETTE[len(self._charts) % len(PALETTE)])
        chart.xs, chart.ys = self._series[name]  # the chart draws the page's series, shared
        self._charts[name] = chart
        self.charts_empty.setVisible(False)
        for i, key in enumerate(self._chart_order()):
            self.charts_grid.addWidget(self._charts[key], i // 2 + 1, i % 2)
        return chart

    def _chart_order(self) -> list[str]:
        """Loss curves first, then the rest as the job logged them. A job that reports a reward
        (GRPO) logs its metrics in reading order already, reward and monitors first
        (engines/training/grpo.py), so that order is kept whole."""
        logged = list(self._series)
        engine_ordered = "reward" in self._series
        return sorted(self._charts, key=lambda k: (len(FIRST) if engine_ordered or k not in FIRST else FIRST.index(k),
                                                   logged.index(k)))

    def _add_samples(self, samples: list[dict], step) -> None:
        for s in samples:
            row = self.samples.rowCount()
            self.samples.insertRow(row)
            reward = s.get("reward")
            for col, text in enumerate([str(s.get("prompt", "")), str(s.get("completion", "")),
                                        f"{reward:.3f}" if isinstance(reward, (int, float)) else str(reward or "")]):
                item = QTableWidgetItem(text)
                item.setToolTip(text[:2000])
                self.samples.setItem(row, col, item)
        if samples:
            self.samples_stack.setCurrentWidget(self.samples)
            self.tabs.setTabText(1, f"Samples ({self.samples.rowCount()})")

    def chart_names(self) -> list[str]:
        return list(self._charts)

    def chart_points(self, name: str) -> list[tuple[float, float]]:
        xs, ys = self._series[name]
        return list(zip(xs, ys))

    # ---- actions -------------------------------------------------------------------------------
    def cancel_job(self) -> None:
        if self._selected is not None:
            try:
                self.studio.jobs.cancel(self._selected)
            except Exception as e:  # noqa: BLE001 - shown in the error dialog
                report(e)
            self.refresh()

    def resume_job(self) -> None:
        if self._selected is None:
            return
        try:
            self.studio.jobs.resume(self._selected)
        except Exception as e:  # noqa: BLE001
            report(e)
            return
        self.studio.jobs.try_become_runner()
        self.error_label.setVisible(False)
        self.refresh()

    def clone_job(self) -> None:
        if self._selected is None:
            return
        from studio.training import TrainingService
        from ui.wizard import FineTuneWizard

        try:
            prefill = TrainingService(self.studio).clone_plan(self._selected)
        except Exception as e:  # noqa: BLE001
            report(e)
            return
        self.wizard = FineTuneWizard(self.studio, self, prefill=prefill)
        self.wizard.launched.connect(self.select_job)
        self.wizard.open()

    def output_path(self) -> str | None:
        d = self._detail or {}
        return (d.get("result") or {}).get("adapter_dir") or d.get("output_dir")

    def open_output(self) -> None:
        path = self.output_path()
        if path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def shutdown(self) -> None:
        self._closing = True
        self._timer.stop()
        from ui.dataset_table import wait_workers

        wait_workers(self)


def _event_line(e: dict[str, Any]) -> str:
    t = e["type"]
    stamp = time.strftime("%H:%M:%S", time.localtime(e.get("ts", time.time())))
    if t == "log":
        return f"{stamp}  {e.get('message', '')}"
    if t == "error":
        return f"{stamp}  ERROR {e.get('message', '')}" + (f" ({e['hint']})" if e.get("hint") else "")
    if t == "checkpoint":
        return f"{stamp}  checkpoint at step {e.get('step')}: {e.get('path')}"
    if t == "artifact":
        return f"{stamp}  {e.get('name', 'output')}: {e.get('path')}"
    if t == "done":
        return f"{stamp}  finished"
    if t == "stopped":
        return f"{stamp}  stopped ({e.get('reason')})"
    return f"{stamp}  {t}"
