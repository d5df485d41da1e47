"""The main window: a navigation sidebar, the pages, and a status bar.

Pages are built the first time they are shown, so startup costs only the sidebar and the
page the user lands on. A page module exposes a QWidget class taking the Studio facade.
"""

from __future__ import annotations

import importlib
import time

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QProgressBar,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.errors import StudioError

# key, title, "module:Class", what the page is for (shown while a page is not built yet)
PAGES: list[tuple[str, str, str, str]] = [
    ("datasets", "Datasets", "ui.datasets_page:DatasetsPage",
     "Import, validate, browse, author, rate and version training data."),
    ("train", "Train", "ui.train_page:TrainPage",
     "The fine-tune wizard: a base model and a curated dataset become a LoRA adapter."),
    ("jobs", "Jobs", "ui.jobs_page:JobsPage",
     "Training, export and eval jobs with live curves, cancel and resume."),
    ("chat", "Chat", "ui.chat_page:ChatPage",
     "Chat with fast (System 1) and reasoning (System 2) modes, compare and route."),
    ("models", "Models", "ui.models_page:ModelsPage",
     "Base models, adapters and exports, with lineage; export to GGUF."),
    ("evals", "Evals", "ui.evals_page:EvalsPage",
     "Tool-call accuracy suites and router evaluations, run by run."),
]


# Palette-relative colours, so light and dark system themes both read well.
STYLE = """
#sidebar { background: palette(base); border-right: 1px solid palette(mid); }
#brand { font-size: 16px; font-weight: 600; padding: 4px 16px 10px 16px; }
#nav { background: transparent; font-size: 14px; outline: 0; }
#nav::item { padding-left: 16px; border-radius: 6px; margin: 1px 8px; }
#nav::item:selected { background: palette(highlight); color: palette(highlighted-text); }
#pageTitle { font-size: 20px; font-weight: 600; }
"""


class PlaceholderPage(QWidget):
    """A page that is not built yet says what will come, instead of failing."""

    def __init__(self, title: str, about: str, detail: str = ""):
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(32, 32, 32, 32)
        head = QLabel(title)
        head.setObjectName("pageTitle")
        lay.addWidget(head)
        body = QLabel(about + ("\n\n" + detail if detail else "\n\nThis page is coming in a later release."))
        body.setWordWrap(True)
        lay.addWidget(body)
        lay.addStretch(1)


class MainWindow(QMainWindow):
    first_paint = Signal(float)

    def __init__(self, studio, settings: QSettings):
        super().__init__()
        self.studio = studio
        self.settings = settings
        self.setWindowTitle("Model Studio")
        self.setMinimumSize(QSize(760, 520))
        self._pages: dict[str, QWidget] = {}
        self._painted = False

        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        side = QWidget()
        side.setObjectName("sidebar")
        side.setFixedWidth(180)
        side_lay = QVBoxLayout(side)
        side_lay.setContentsMargins(0, 12, 0, 8)
        side_lay.setSpacing(6)
        brand = QLabel("Model Studio")
        brand.setObjectName("brand")
        side_lay.addWidget(brand)
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setFrameShape(QFrame.Shape.NoFrame)
        side_lay.addWidget(self.nav, 1)
        for key, title, _target, _about in PAGES:
            item = QListWidgetItem(title)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setSizeHint(QSize(170, 38))
            self.nav.addItem(item)
        self.stack = QStackedWidget()
        row.addWidget(side)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.setStyleSheet(STYLE)
        self.nav.currentRowChanged.connect(self._show_row)

        # status bar: the running job, llama.cpp's extra-buffer-types choice, and the hardware in use
        self.job_label = QLabel("No job running")
        self.job_bar = QProgressBar()
        self.job_bar.setFixedWidth(160)
        self.job_bar.setVisible(False)
        self.device_label = QLabel("Detecting hardware…")
        self.llama_label = QLabel("")
        self.llama_label.setObjectName("llamaChoice")
        sb = self.statusBar()
        sb.addWidget(self.job_label)
        sb.addWidget(self.job_bar)
        sb.addPermanentWidget(self.llama_label)
        sb.addPermanentWidget(self.device_label)
        self.refresh_llama_status()
        self._job_timer = QTimer(self)
        self._job_timer.setInterval(1000)
        self._job_timer.timeout.connect(self.refresh_job_status)
        self._job_timer.timeout.connect(self.refresh_llama_status)  # a model host may fall back mid-session
        self._job_timer.start()

        geo = settings.value("window/geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 800)
        last = settings.value("window/page", "chat")
        keys = [p[0] for p in PAGES]
        self.nav.setCurrentRow(keys.index(last) if last in keys else keys.index("chat"))

    # ---- pages ----------------------------------------------------------------------------
    def page(self, key: str) -> QWidget:
        if key not in self._pages:
            _k, title, target, about = next(p for p in PAGES if p[0] == key)
            module, cls = target.split(":")
            try:
                widget = getattr(importlib.import_module(module), cls)(self.studio)
            except ModuleNotFoundError as e:
                if e.name != module:
                    raise
                widget = PlaceholderPage(title, about)
            widget.setObjectName(f"page_{key}")
            self._pages[key] = widget
            self.stack.addWidget(widget)
        return self._pages[key]

    def show_page(self, key: str) -> QWidget:
        keys = [p[0] for p in PAGES]
        self.nav.setCurrentRow(keys.index(key))
        return self._pages[key]

    def _show_row(self, row: int) -> None:
        key = PAGES[row][0]
        self.stack.setCurrentWidget(self.page(key))
        self.settings.setValue("window/page", key)

    # ---- status bar -------------------------------------------------------------------------
    def set_device(self, text: str) -> None:
        self.device_label.setText(text)

    def refresh_llama_status(self) -> None:
        from studio import llama_choice

        try:
            choice = llama_choice.current(self.studio.db)
        except StudioError as e:  # a bad STUDIO_LLAMA_EXTRA_BUFTS value
            text, tip = "llama.cpp: bad extra-buffers choice", str(e)
        else:
            text = choice.describe()
            tip = (choice.reason + "\n" if choice.reason else "") + (
                "Change it with `studio settings extra-bufts on|off|auto` or STUDIO_LLAMA_EXTRA_BUFTS=1|0.")
        if self.llama_label.text() != text:
            self.llama_label.setText(text)
            self.llama_label.setToolTip(tip)

    def refresh_job_status(self) -> None:
        from sqlalchemy import select

        from studio.db import Job

        with self.studio.db.session() as s:
            job = s.scalar(select(Job).where(Job.state == "running").order_by(Job.id).limit(1))
            queued = s.query(Job).filter(Job.state == "queued").count()
        if job is None:
            self.job_label.setText("No job running" + (f" · {queued} queued" if queued else ""))
            self.job_bar.setVisible(False)
            return
        self.job_label.setText(f"Job {job.id} · {job.name or job.kind} · {job.message}" + (f" · {queued} queued" if queued else ""))
        self.job_bar.setVisible(True)
        self.job_bar.setRange(0, max(job.total, 1))
        self.job_bar.setValue(min(job.step, max(job.total, 1)))

    # ---- lifecycle --------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.first_paint.emit(time.perf_counter())

    def closeEvent(self, event) -> None:  # noqa: N802
        self._job_timer.stop()  # a closed window stops reading the home (its folder may be gone next)
        self.settings.setValue("window/geometry", self.saveGeometry())
        for page in self._pages.values():
            closer = getattr(page, "shutdown", None)
            if callable(closer):
                closer()
        super().closeEvent(event)
