"""The import dialog: pick a file, see the mapping the importer chose and the first rows.

The preview and the import run on worker threads. A file with problems shows them (FILE:LINE)
in the dialog and nothing is stored; the user fixes the file and tries again.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.errors import StudioError
from ui.dataset_table import run_in_thread


class ImportDialog(QDialog):
    imported = Signal(dict)  # the ImportResult as a dict

    def __init__(self, service, parent=None, path: str = ""):
        super().__init__(parent)
        self.service = service
        self._workers: set = set()
        self.setWindowTitle("Import a dataset")
        self.resize(900, 600)
        lay = QVBoxLayout(self)
        form = QFormLayout()
        row = QHBoxLayout()
        self.path_edit = QLineEdit(path)
        self.path_edit.setPlaceholderText("a .jsonl, .json, .csv, .parquet file or a save_to_disk folder")
        browse = QPushButton("Browse…")
        browse.setAutoDefault(False)  # Enter in the File field accepts the typed path, it does not open the chooser
        browse.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        holder = QWidget()
        holder.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        form.addRow("File", holder)
        self.name_edit = QLineEdit()
        form.addRow("Name", self.name_edit)
        self.kind_combo = QComboBox()
        self.kind_combo.addItems(["auto", "sft", "preference", "prompt"])
        form.addRow("Kind", self.kind_combo)
        lay.addLayout(form)
        self.mapping_label = QLabel("Choose a file to see how its rows map onto a dataset kind.")
        self.mapping_label.setObjectName("mappingLabel")
        self.mapping_label.setWordWrap(True)
        self.mapping_label.setMinimumHeight(44)  # two lines: the shape, then the field mapping
        self.mapping_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.mapping_label)
        self.preview_table = QTableWidget(0, 2)
        self.preview_table.setHorizontalHeaderLabels(["#", "Row as it will be stored"])
        self.preview_table.horizontalHeader().setStretchLastSection(True)
        self.preview_table.verticalHeader().setVisible(False)
        lay.addWidget(self.preview_table, 1)
        self.problems = QPlainTextEdit()
        self.problems.setObjectName("importProblems")
        self.problems.setReadOnly(True)
        self.problems.setMaximumHeight(130)
        self.problems.setPlaceholderText("Problems found in the file appear here (FILE:LINE: what is wrong).")
        lay.addWidget(self.problems)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setEnabled(False)
        self.buttons.accepted.connect(self.start_import)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.path_edit.editingFinished.connect(self.refresh_preview)
        self.kind_combo.currentTextChanged.connect(lambda _t: self.refresh_preview())
        self.name_edit.textChanged.connect(lambda _t: self._update_button())
        if path:
            self.refresh_preview()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a dataset", "", "Datasets (*.jsonl *.json *.csv *.tsv *.parquet);;All files (*)")
        if path:
            self.set_path(path)

    def set_path(self, path: str) -> None:
        self.path_edit.setText(path)
        self.refresh_preview()

    def refresh_preview(self) -> None:
        path = self.path_edit.text().strip()
        if not path:
            return
        if not self.name_edit.text():
            self.name_edit.setText(Path(path).stem)
        self.mapping_label.setText("Reading the first rows…")
        run_in_thread(self.service.preview, path, self.kind_combo.currentText(), on_done=self._show_preview,
                      on_error=self._show_error, owner=self)

    def _show_preview(self, p: dict) -> None:
        self._preview = p
        if p.get("mapping"):
            m = p["mapping"]
            text = f"<b>{p['format']}</b> file, rows read as <b>{m['shape']}</b> → kind <b>{m['kind']}</b>"
            if m.get("fields"):
                text += "<br>Mapping: " + escape(", ".join(f"{k} → {v}" for k, v in m["fields"].items()))
            if p.get("ignored_columns"):  # dropping a column is never silent
                text += ("<br><b>Not imported:</b> " + escape(", ".join(p["ignored_columns"]))
                         + " (the mapping uses no such column)")
        else:
            text = "No rows could be mapped."
        self.mapping_label.setText(text)
        rows = p.get("rows", [])
        self.preview_table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            self.preview_table.setItem(i, 0, QTableWidgetItem(str(i + 1)))
            self.preview_table.setItem(i, 1, QTableWidgetItem(json.dumps(r, ensure_ascii=False)[:400]))
        self.preview_table.resizeColumnToContents(0)
        self.problems.setPlainText("\n".join(p.get("problems", [])))
        self._update_button()

    def _update_button(self) -> None:
        ok = bool(getattr(self, "_preview", {}).get("rows")) and bool(self.name_edit.text().strip())
        self.import_button.setEnabled(ok)

    def _show_error(self, exc: Exception) -> None:
        msg = exc.message if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
        self.problems.setPlainText(msg)
        self.mapping_label.setText("The file cannot be imported as it is.")
        self.import_button.setEnabled(False)

    def start_import(self) -> None:
        self.import_button.setEnabled(False)
        self.mapping_label.setText("Importing… (one transaction: all rows or none)")
        run_in_thread(self.service.import_file, self.path_edit.text().strip(), self.name_edit.text().strip(),
                      self.kind_combo.currentText(), on_done=self._done, on_error=self._show_error, owner=self)

    def _done(self, result) -> None:
        d = result.to_dict()
        self.imported.emit(d)
        self.accept()
