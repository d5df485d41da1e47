"""The Train page: the way into the fine-tune wizard, with the recent training runs and the
adapters they made. Launching switches to the Jobs page, where the run's curves appear."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout

from ui.errors import report
from ui.widgets import PollingPage


def _recent(studio) -> dict:
    """Worker thread: recent training jobs and adapters, as plain data."""
    from studio.training import METHODS

    jobs = [
        {"id": j.id, "name": j.name, "state": j.state, "step": j.step, "total": j.total}
        for j in studio.jobs.list(50) if j.kind in METHODS
    ][:12]
    adapters = [{"name": m.name, "parent": m.parent.name if m.parent else "", "job_id": m.job_id}
                for m in studio.registry.list("adapter")][-12:]
    return {"jobs": jobs, "adapters": adapters}


class TrainPage(PollingPage):
    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self._workers: set = set()
        self._recipe_owner = type("RecipeOwner", (), {"_workers": set()})()
        self._closing = False
        self.wizard = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 20, 24, 16)
        title = QLabel("Train")
        title.setStyleSheet("font-size: 18px; font-weight: 600;")
        lay.addWidget(title)
        intro = QLabel(
            "Turn a base model into an assistant: pick the base, a curated dataset and a method, and the studio trains "
            "a LoRA adapter on this machine's GPU (or CPU). The chat template you pick is saved with the adapter and "
            "used again in chat, so training and inference always agree."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        row = QHBoxLayout()
        self.new_btn = QPushButton("New fine-tune…")
        self.new_btn.setDefault(True)
        self.new_btn.setMinimumHeight(36)
        self.new_btn.clicked.connect(lambda: self.open_wizard())
        row.addWidget(self.new_btn)
        self.starter_btn = QPushButton("Build the starter assistant")
        self.starter_btn.setMinimumHeight(36)
        self.starter_btn.setToolTip(
            "Run the starter recipe on the packaged gemma-3-270m: SFT -> DPO -> GRPO -> GGUF LoRA -> registered "
            "(about 34 minutes on a 2-core CPU). Running it again resumes where it stopped.")
        self.starter_btn.clicked.connect(self.build_starter)
        row.addWidget(self.starter_btn)
        self.starter_status = QLabel("")
        self.starter_status.setWordWrap(True)
        row.addWidget(self.starter_status, 1)
        row.addStretch(1)
        lay.addLayout(row)
        cols = QHBoxLayout()
        left, right = QVBoxLayout(), QVBoxLayout()
        left.addWidget(QLabel("<b>Recent training runs</b>"))
        self.jobs = QListWidget()
        self.jobs.itemDoubleClicked.connect(self._show_job)
        left.addWidget(self.jobs)
        right.addWidget(QLabel("<b>Adapters</b>"))
        self.adapters = QListWidget()
        right.addWidget(self.adapters)
        cols.addLayout(left, 1)
        cols.addLayout(right, 1)
        lay.addLayout(cols, 1)
        self._timer = QTimer(self)
        self._timer.setInterval(2000)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    def refresh(self) -> None:
        if self._workers:
            return
        from ui.dataset_table import run_in_thread

        run_in_thread(_recent, self.studio, on_done=self._fill, owner=self)

    def _fill(self, data: dict) -> None:
        self.jobs.clear()
        for j in data["jobs"]:
            item = QListWidgetItem(f"#{j['id']} · {j['name']} · {j['state']}" + (f" · {j['step']}/{j['total']}" if j["total"] else ""))
            item.setData(Qt.ItemDataRole.UserRole, j["id"])
            self.jobs.addItem(item)
        if not data["jobs"]:
            self.jobs.addItem("No training runs yet.")
        self.adapters.clear()
        for a in data["adapters"]:
            self.adapters.addItem(f"{a['name']}  ← {a['parent']}")
        if not data["adapters"]:
            self.adapters.addItem("Adapters appear here when a run finishes.")

    def build_starter(self) -> None:
        """The starter recipe on a worker thread (each stage is a job: the Jobs page shows it)."""
        from ui.dataset_table import run_in_thread

        try:
            self.studio.jobs.try_become_runner()
        except Exception as e:  # noqa: BLE001
            report(e)
            return
        self.starter_btn.setEnabled(False)
        self.starter_status.setText("Starter recipe: starting…")

        def work(studio):
            from studio.starter.recipe import run_recipe

            return run_recipe(studio, "starter", should_stop=lambda: self._closing)

        def done(out: dict) -> None:
            self.starter_btn.setEnabled(True)
            self.starter_status.setText(f"Starter recipe finished: {out.get('model')} is ready in the Chat page.")
            self.refresh()

        def failed(exc) -> None:
            self.starter_btn.setEnabled(True)
            self.starter_status.setText("Starter recipe stopped; press the button again to resume.")
            report(exc)

        # its own owner: the page's refresh skips while *its* workers run, and this one runs for long
        run_in_thread(work, self.studio, on_done=done, on_error=failed, owner=self._recipe_owner)

    def open_wizard(self, prefill: dict | None = None):
        from ui.wizard import FineTuneWizard

        self.wizard = FineTuneWizard(self.studio, self, prefill=prefill)
        self.wizard.launched.connect(self._launched)
        self.wizard.open()
        return self.wizard

    def _launched(self, job_id: int) -> None:
        try:
            self.studio.jobs.try_become_runner()
        except Exception as e:  # noqa: BLE001
            report(e)
        self.refresh()
        self._show_job_id(job_id)

    def _show_job(self, item) -> None:
        job_id = item.data(Qt.ItemDataRole.UserRole)
        if job_id:
            self._show_job_id(int(job_id))

    def _show_job_id(self, job_id: int) -> None:
        win = self.window()
        if hasattr(win, "show_page"):
            page = win.page("jobs")
            win.show_page("jobs")
            if hasattr(page, "select_job"):
                page.select_job(job_id)

    def shutdown(self) -> None:
        self._closing = True  # a running recipe stops waiting; its jobs resume on the next start
        self._timer.stop()
        from ui.dataset_table import wait_workers

        wait_workers(self)
