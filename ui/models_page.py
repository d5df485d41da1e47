"""The Models page: every base model, adapter and export, with its facts and lineage; Import,
Pull from the Hub, Delete, and Export of an adapter to GGUF (LoRA or merged).

Threads: everything that reads files, the network or more than a row (import, pull, lineage,
the list itself) runs on a worker thread (`run_in_thread`) and hands back plain dicts. An
export is a job (a child process, run by the window's job runner): the page submits it and a
QTimer polls the job's row on a worker thread until it ends, then refreshes the table. Never
touch widgets in the worker.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.dataset_table import run_in_thread, wait_workers
from ui.errors import report
from ui.model_watch import watcher_for
from ui.widgets import PollingPage, notice_label, wrapped_label

COLUMNS = [("name", "Name"), ("kind", "Kind"), ("format", "Format"), ("architecture", "Architecture"),
           ("parameters", "Parameters"), ("quantization", "Quantisation"), ("context_length", "Context"),
           ("file_size", "Size"), ("chat_template", "Chat template"), ("parent", "Made from")]
KIND_COLOURS = {"base": "#6d4c41", "adapter": "#1e88e5", "export": "#43a047"}
POLL_MS = 500


def fmt_params(n: int | None) -> str:
    if not n:
        return "—"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f} {unit}".replace(".0 ", " ")
    return str(n)


def fmt_size(n: int | None) -> str:
    if not n:
        return "—"
    for div, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def load_rows(studio) -> list[dict[str, Any]]:
    """The registry as plain dicts, with what the table shows (worker thread)."""
    from studio.models.registry import model_to_dict

    return [model_to_dict(m) for m in studio.registry.list()]


def load_details(studio, model_id: int) -> dict[str, Any]:
    """One model's lineage chain and dependents (worker thread)."""
    from studio.models.exports import describe_lineage, lineage

    chain = lineage(studio, model_id)
    return {"id": model_id, "chain": chain, "text": describe_lineage(chain),
            "dependents": [m.name for m in studio.registry.dependents(model_id)]}


class ModelsPage(PollingPage):
    pull_progress = Signal(object, object)  # bytes done, total (may pass 2 GiB)

    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self.rows: list[dict[str, Any]] = []
        self.details: dict[str, Any] | None = None
        self.export_job: int | None = None
        self._workers: set = set()
        self._polling = False

        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 16, 16, 12)
        head = QLabel("Models")
        head.setObjectName("pageTitle")
        head.setStyleSheet("font-size: 20px; font-weight: 600;")
        lay.addWidget(head)
        sub = QLabel("Base models are semi-finished: fine-tune one in Train, then export the adapter "
                     "here as GGUF for the Chat page, llama.cpp and Ollama.")
        sub.setWordWrap(True)
        lay.addWidget(sub)

        bar = QHBoxLayout()
        self.import_button = QToolButton()
        self.import_button.setText("Import…")
        self.import_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.import_button)
        menu.addAction("GGUF file…", self.import_gguf_dialog)
        menu.addAction("Hugging Face / PEFT folder…", self.import_dir_dialog)
        menu.addAction("Pull from the Hub…", self.pull_dialog)
        self.import_button.setMenu(menu)
        self.import_button.setMinimumWidth(self.import_button.sizeHint().width() + 12)  # the menu arrow sits beside "…"
        self.export_button = QPushButton("Export GGUF adapter")
        self.export_button.setToolTip("Write the adapter as a GGUF LoRA that llama.cpp applies on the quantised base (seconds)")
        self.export_button.clicked.connect(lambda: self.export_selected(merge=False))
        self.merge_button = QToolButton()
        self.merge_button.setText("Export merged GGUF")
        self.merge_button.setToolTip("Merge the adapter into the base and write the whole model with its chat template")
        self.merge_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        mmenu = QMenu(self.merge_button)
        mmenu.addAction("f16 (exact)", lambda: self.export_selected(merge=True, out_type="f16"))
        mmenu.addAction("q8_0 (half the size)", lambda: self.export_selected(merge=True, out_type="q8_0"))
        self.merge_button.setMenu(mmenu)
        self.merge_button.clicked.connect(lambda: self.export_selected(merge=True, out_type="f16"))
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(lambda: self.delete_selected())
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setObjectName("renameModel")
        self.rename_button.clicked.connect(lambda: self.rename_selected())
        self.serve_button = QPushButton("Serve…")
        self.serve_button.setObjectName("serveModel")
        self.serve_button.setToolTip("Serve this model over an OpenAI-compatible API (studio serve)")
        self.serve_button.clicked.connect(self.serve_selected)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        for w in (self.import_button, self.export_button, self.merge_button, self.rename_button, self.delete_button,
                  self.serve_button):
            bar.addWidget(w)
        bar.addStretch(1)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setVisible(False)
        self.status = QLabel("")
        bar.addWidget(self.status)
        bar.addWidget(self.progress)
        bar.addWidget(self.refresh_button)
        lay.addLayout(bar)

        split = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c[1] for c in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        split.addWidget(self.table)

        detail = QFrame()
        dl = QHBoxLayout(detail)
        dl.setContentsMargins(0, 8, 0, 0)
        left = QVBoxLayout()
        self.title = wrapped_label("Select a model")
        self.title.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.badge = notice_label("padding: 6px; border-radius: 4px; background: #fff3e0; color: #5d4037;")
        self.facts = QFormLayout()
        self.facts.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.fact_labels: dict[str, QLabel] = {}
        for key, label in (("path", "File"), ("base", "Made from"), ("job", "Made by job"), ("dataset", "Dataset version"),
                           ("template", "Chat template"), ("modelfile", "Ollama Modelfile"), ("dependents", "Used by")):
            v = wrapped_label("—")
            v.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fact_labels[key] = v
            self.facts.addRow(label + ":", v)
        left.addWidget(self.title)
        left.addWidget(self.badge)
        left.addLayout(self.facts)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(QLabel("Lineage: this model, then what it was made from"))
        self.lineage_text = QPlainTextEdit()
        self.lineage_text.setReadOnly(True)
        self.lineage_text.setMaximumHeight(90)
        right.addWidget(self.lineage_text)
        right.addWidget(QLabel("Config of the job that made it"))
        self.config_text = QPlainTextEdit()
        self.config_text.setReadOnly(True)
        right.addWidget(self.config_text, 1)
        lw, rw = QWidget(), QWidget()
        lw.setLayout(left)
        rw.setLayout(right)
        dl.addWidget(lw, 1)
        dl.addWidget(rw, 1)
        split.addWidget(detail)
        split.setSizes([360, 300])
        lay.addWidget(split, 1)

        self.pull_progress.connect(self._pull_progress)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll_export)
        self._update_buttons()
        self.refresh()
        watcher_for(studio).changed.connect(lambda _changes: self.refresh())

    # ---- the table ----------------------------------------------------------------------------
    def refresh(self) -> None:
        run_in_thread(load_rows, self.studio, on_done=self._show_rows, owner=self)

    def _show_rows(self, rows: list[dict[str, Any]]) -> None:
        keep = self.selected()
        self.rows = rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, (key, _label) in enumerate(COLUMNS):
                value = row.get(key)
                if key == "parameters":
                    text = fmt_params(value)
                elif key == "file_size":
                    text = fmt_size(value)
                elif key == "name" and (row["meta"] or {}).get("default"):
                    text = f"{value}  · default base"
                else:
                    text = "—" if value in (None, "") else str(value)
                item = QTableWidgetItem(text)
                if key == "kind":
                    item.setForeground(QColor(KIND_COLOURS.get(row["kind"], "#000")))
                if key == "chat_template" and value == "missing":
                    item.setForeground(QColor("#e65100"))
                    item.setToolTip("No chat template: a base model. Pick a template when you fine-tune it.")
                if key in ("parameters", "file_size", "context_length"):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        if keep is not None:
            self.select(keep["id"])
        elif rows and not self.table.selectedItems():
            self.table.selectRow(0)
        self._update_buttons()

    def selected(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.rows):
            return None
        return self.rows[rows[0].row()]

    def select(self, name_or_id: str | int) -> None:
        for r, row in enumerate(self.rows):
            if row["id"] == name_or_id or row["name"] == name_or_id:
                self.table.selectRow(r)
                return

    def _selection_changed(self) -> None:
        self._update_buttons()
        row = self.selected()
        if row is None:
            return
        self._show_facts(row)
        run_in_thread(load_details, self.studio, row["id"], on_done=self._show_details, owner=self)

    def _update_buttons(self) -> None:
        row = self.selected()
        can_export = bool(row and row["kind"] == "adapter" and row["format"] == "peft") and self.export_job is None
        self.export_button.setEnabled(can_export)
        self.merge_button.setEnabled(can_export)
        why = ("An export is running: wait for it to finish" if self.export_job is not None
               else "Select a trained adapter (kind: adapter) to export it" if not can_export else "")
        self.export_button.setToolTip(why or "Write the adapter as a GGUF LoRA that llama.cpp applies on the quantised base (seconds)")
        self.merge_button.setToolTip(why or "Merge the adapter into the base and write the whole model with its chat template")
        self.delete_button.setEnabled(row is not None)
        self.rename_button.setEnabled(row is not None)
        self.serve_button.setEnabled(bool(row and row["format"] in ("gguf", "gguf-lora")))

    def _show_facts(self, row: dict[str, Any]) -> None:
        meta = row.get("meta") or {}
        self.title.setText(f"{row['name']}  ({row['kind']}, {row['format']})")
        if row["kind"] == "base" and not row.get("is_instruct"):
            note = meta.get("note") or ("A base model: semi-finished, with no chat template and no instruction tuning. "
                                        "Fine-tune it in the Train page to make it an assistant.")
            self.badge.setText("Base model · " + note)
            self.badge.setVisible(True)
        else:
            self.badge.setVisible(False)
        f = self.fact_labels
        f["path"].setText(home_relative(self.studio, row["path"]))
        f["path"].setToolTip(row["path"])
        f["base"].setText(row.get("parent") or ("— (this is a base model)" if row["kind"] == "base" else "—"))
        f["job"].setText(f"job {row['job_id']}" if row.get("job_id") else "—")
        f["dataset"].setText(f"version id {row['dataset_version_id']}" if row.get("dataset_version_id") else "—")
        tpl = meta.get("template_name")
        f["template"].setText(row["chat_template"] + (f" ({tpl})" if tpl else ""))
        f["modelfile"].setText(meta.get("modelfile") or "—")
        f["dependents"].setText("…")
        self.lineage_text.setPlainText("…")
        self.config_text.setPlainText("")

    def _show_details(self, d: dict[str, Any]) -> None:
        row = self.selected()
        if row is None or row["id"] != d["id"]:
            return  # the user moved on while this loaded
        self.details = d
        self.lineage_text.setPlainText(d["text"])
        self.fact_labels["dependents"].setText(", ".join(d["dependents"]) or "nothing")
        me = d["chain"][0]
        if "job" in me:
            j = me["job"]
            self.fact_labels["job"].setText(f"job {j['id']} · {j['kind']} · {j['state']}")
        dv = next((s["dataset_version"] for s in d["chain"] if "dataset_version" in s), None)
        if dv:
            self.fact_labels["dataset"].setText(f"{dv['dataset']} v{dv['version']} · {dv['rows']} rows · {dv['hash']}")
        configs = [f"# {s['name']} ← job {s['job']['id']} ({s['job']['kind']})\n" + json.dumps(_short(s["job"]["config"]), indent=2, default=str)
                   for s in d["chain"] if "job" in s]
        self.config_text.setPlainText("\n\n".join(configs) or "No job made this model: it was imported.")

    # ---- import -------------------------------------------------------------------------------
    def import_gguf_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a GGUF model", "", "GGUF models (*.gguf);;All files (*)")
        if path:
            self.import_path(path)

    def import_dir_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import a Hugging Face model or PEFT adapter folder")
        if path:
            self.import_path(path)

    def import_path(self, path: str):
        self.status.setText(f"Importing {path}…")

        def done(m: dict) -> None:
            self.status.setText(f"Imported {m['name']}")
            self.refresh()
            QTimer.singleShot(0, lambda: self.select(m["id"]))

        return run_in_thread(_import, self.studio, path, on_done=done, on_error=self._failed, owner=self)

    def pull_dialog(self) -> None:
        repo, ok = QInputDialog.getText(self, "Pull from the Hugging Face Hub", "Repo id (owner/name):")
        if ok and repo.strip():
            self.pull(repo.strip())

    def pull(self, repo: str):
        """Download on a worker thread; the progress bar follows the bytes (needs the network)."""
        from studio.models.hub_pull import pull_model

        def job():
            from studio.models.registry import model_to_dict

            # emitted on the worker thread, delivered queued on the GUI thread
            return model_to_dict(pull_model(self.studio, repo, progress=self.pull_progress.emit))

        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status.setText(f"Pulling {repo}…")
        return run_in_thread(job, on_done=self._pulled, on_error=self._failed, owner=self)

    def _pull_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _pulled(self, m: dict) -> None:
        self.progress.setVisible(False)
        self.status.setText(f"Pulled {m['name']}")
        self.refresh()

    def _failed(self, exc: BaseException) -> None:
        self.progress.setVisible(False)
        self.status.setText("Failed: " + (getattr(exc, "message", None) or str(exc))[:80])
        report(exc)

    # ---- delete -------------------------------------------------------------------------------
    def confirm(self, title: str, text: str) -> bool:
        """Ask the user (tests replace this method)."""
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes

    def tell(self, title: str, text: str) -> None:
        QMessageBox.information(self, title, text)

    def ask_name(self, current: str) -> str | None:
        from PySide6.QtWidgets import QInputDialog

        name, ok = QInputDialog.getText(self, "Rename model", "New name (every model list shows it at once):", text=current)
        return name.strip() if ok and name.strip() else None

    def serve_selected(self) -> None:
        from ui.serve_dialog import ServeDialog

        row = self.selected()
        self._serve_dialog = ServeDialog(self.studio, model=row["name"] if row else None, parent=self)
        self._serve_dialog.show()

    def rename_selected(self, new_name: str | None = None) -> bool:
        row = self.selected()
        if row is None:
            return False
        new_name = new_name or self.ask_name(row["name"])
        if not new_name or new_name == row["name"]:
            return False
        try:
            self.studio.registry.rename(row["id"], new_name)  # publishes "renamed": the pickers follow
        except Exception as e:  # noqa: BLE001 - a StudioError names the fix
            report(e)
            return False
        return True

    def delete_selected(self) -> bool:
        row = self.selected()
        if row is None:
            return False
        deps = [m.name for m in self.studio.registry.dependents(row["id"])]
        if deps:
            self.tell("Cannot delete",
                      f"{row['name']} cannot be deleted: {', '.join(deps)} depend{'s' if len(deps) == 1 else ''} on it.\n\n"
                      "Delete those first.")
            self.status.setText(f"{row['name']} is used by {', '.join(deps)}")
            return False
        managed = (row.get("meta") or {}).get("managed")
        files = "Its files are deleted too." if managed else "The file stays where it is; only the entry goes."
        if not self.confirm("Delete model", f"Delete {row['name']}?\n\n{row['path']}\n\n{files}"):
            return False
        try:
            self.studio.registry.delete(row["id"])
        except Exception as e:  # noqa: BLE001 - shown in the error dialog; the page stays usable
            self._failed(e)
            return False
        self.status.setText(f"Deleted {row['name']}")
        self.refresh()
        return True

    # ---- export -------------------------------------------------------------------------------
    def export_selected(self, merge: bool, out_type: str | None = None) -> int | None:
        from studio.models.exports import submit_export

        row = self.selected()
        if row is None:
            return None
        base_ref = None
        if row.get("parent_id") is None:  # a PEFT folder imported by path: which base was it trained on?
            bases = [r["name"] for r in self.rows if r["kind"] == "base" and r["format"] == "gguf"]
            base_ref = self.choose_base(row["name"], bases)
            if base_ref is None:
                return None
        try:
            job_id = submit_export(self.studio, row["id"], merge=merge, out_type=out_type, base_ref=base_ref)
        except Exception as e:  # noqa: BLE001
            self._failed(e)
            return None
        self.export_job = job_id
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status.setText(f"Exporting {row['name']} (job {job_id})…")
        self._update_buttons()
        self._timer.start()
        return job_id

    def choose_base(self, adapter: str, bases: list[str]) -> str | None:
        """Ask which GGUF base an adapter without one belongs to (tests replace this method)."""
        if not bases:
            self.tell("No GGUF base", "Import the GGUF base model this adapter was trained on first.")
            return None
        name, ok = QInputDialog.getItem(self, "Base model", f"Which base model was {adapter} trained on?", bases, 0, False)
        return name if ok else None

    def _poll_export(self) -> None:
        if self.export_job is None or self._polling:
            return
        self._polling = True
        run_in_thread(_job_state, self.studio, self.export_job, on_done=self._export_state, owner=self)

    def _export_state(self, j: dict[str, Any]) -> None:
        self._polling = False
        if j["id"] != self.export_job:
            return
        if j["total"]:
            self.progress.setRange(0, j["total"])
            self.progress.setValue(j["step"])
        if j["state"] in ("queued", "running"):
            return
        self._timer.stop()
        self.export_job = None
        self.progress.setVisible(False)
        if j["state"] == "succeeded":
            name = (j.get("result") or {}).get("model")
            self.status.setText(f"Exported {name}")
            self.refresh()
            if name:
                QTimer.singleShot(300, lambda: self.select(name))
        else:
            from studio.errors import StudioError

            self._failed(StudioError(f"Export job {j['id']} {j['state']}: {j.get('error') or ''}", hint=j.get("hint")))
        self._update_buttons()

    def shutdown(self) -> None:
        self._timer.stop()
        if getattr(self, "_serve_dialog", None) is not None:
            self._serve_dialog.stop()  # the window is closing: so does its server
        wait_workers(self)


def home_relative(studio, path: str) -> str:
    """A model file inside the data home as 'data home/models/…' (the full path is the tooltip):
    shorter to read, and the same on every machine and in every screenshot."""
    from pathlib import Path

    try:
        return f"data home/{Path(path).resolve().relative_to(studio.home.root.resolve()).as_posix()}"
    except (ValueError, OSError):
        return path


def _import(studio, path: str) -> dict[str, Any]:
    from studio.models.registry import model_to_dict

    return model_to_dict(studio.registry.import_path(path))


def _job_state(studio, job_id: int) -> dict[str, Any]:
    from studio.jobs import job_to_dict

    return job_to_dict(studio.jobs.get(job_id))


def _short(config: dict[str, Any]) -> dict[str, Any]:
    """A job config for reading: long texts (a chat template) folded to their length."""
    return {k: (f"<{len(v)} characters>" if isinstance(v, str) and len(v) > 120 else v) for k, v in config.items()}
