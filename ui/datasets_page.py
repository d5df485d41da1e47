"""The Datasets page: import, browse (lazy keyset-paged table), author, check quality, rate.

Layout: the datasets and their versions on the left; filters, the table and the bulk
actions in the middle; the selected example as a transcript, or the quality report, on the
right. A second tab holds the Rate view. Every change (edit, tag, move split, delete, undo)
makes a new version through DatasetService on a worker thread, then the page shows it.
Older versions are read-only: they are what past training jobs used.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.datasets import shapes
from studio.datasets.service import DatasetService, Op
from ui.dataset_quality import QualityPanel
from ui.dataset_table import DatasetTableModel, run_in_thread, wait_workers
from ui.labels import plural

ROLE_COLOURS = {"system": "#8e24aa", "user": "#1e88e5", "assistant": "#43a047", "tool": "#f4511e"}


def transcript_html(row: dict) -> str:
    """The example as a chat transcript (a preference row shows both answers)."""
    def turn(role: str, content: str, label: str | None = None) -> str:
        colour = ROLE_COLOURS.get(role, "#555")
        body = html.escape(content).replace("\n", "<br>")
        return (f"<p style='margin:6px 0 2px 0;color:{colour};font-weight:600'>{html.escape(label or role)}</p>"
                f"<div style='margin:0 0 8px 8px'>{body}</div>")

    parts = []
    if "chosen" in row:
        for m in shapes.as_messages({"prompt": row.get("prompt") or []}):
            parts.append(turn(m["role"], m["content"]))
        for key in ("chosen", "rejected"):
            v = row[key]
            for m in (v if isinstance(v, list) else [{"role": "assistant", "content": v}]):
                parts.append(turn(m["role"], m["content"], f"{m['role']} ({key})"))
    else:
        for m in shapes.as_messages(row):
            parts.append(turn(m["role"], m["content"]))
        if row.get("tests"):
            parts.append(turn("tool", "\n".join(row["tests"]), "tests"))
    return "".join(parts)


class DatasetsPage(QWidget):
    def __init__(self, studio, parent=None):
        super().__init__(parent)
        self.studio = studio
        self.service = DatasetService(studio)
        self._workers: set = set()
        self.info: dict | None = None  # `show` of the version on screen
        self.undo_stack: list[tuple[str, int, str]] = []  # (dataset, version to restore, what)
        self.model = DatasetTableModel(self.service, self)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        title = QLabel("Datasets")
        title.setObjectName("pageTitle")
        outer.addWidget(title)
        self.tabs = QTabWidget()
        outer.addWidget(self.tabs, 1)
        browse = QWidget()
        self.tabs.addTab(browse, "Browse and edit")
        from ui.rate_view import RateView

        self.rate_view = RateView(studio, self.service)
        self.rate_view.rated.connect(lambda _r: self.refresh_list())
        self.tabs.addTab(self.rate_view, "Rate")
        self.tabs.currentChanged.connect(lambda i: self.rate_view.refresh_sources() if i == 1 else None)

        split = QSplitter(Qt.Orientation.Horizontal)
        QHBoxLayout(browse).addWidget(split)
        split.addWidget(self._build_left())
        split.addWidget(self._build_center())
        split.addWidget(self._build_right())
        split.setSizes([230, 700, 380])
        split.setStretchFactor(1, 1)

        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(300)
        self._filter_timer.timeout.connect(self.apply_filters)
        self.model.page_loaded.connect(self._update_count)
        self._update_actions()
        self.refresh_list()

    # ---- building --------------------------------------------------------------------------
    def _build_left(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        self.import_button = QPushButton("Import…")
        self.import_button.clicked.connect(lambda: self.open_import())
        lay.addWidget(self.import_button)
        self.dataset_list = QListWidget()
        self.dataset_list.setObjectName("datasetList")
        self.dataset_list.setWordWrap(True)  # the empty-list hint wraps to the column, no sideways scroll
        self.dataset_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.dataset_list.currentItemChanged.connect(lambda cur, _prev: self._dataset_chosen(cur))
        lay.addWidget(self.dataset_list, 1)
        lay.addWidget(QLabel("Version"))
        self.version_combo = QComboBox()
        self.version_combo.currentIndexChanged.connect(self._version_chosen)
        lay.addWidget(self.version_combo)
        self.version_label = QLabel("")
        self.version_label.setObjectName("versionLabel")
        self.version_label.setWordWrap(True)
        self.version_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.version_label)
        self.split_button = QPushButton("Train/eval split…")
        self.split_button.clicked.connect(self.make_split)
        lay.addWidget(self.split_button)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self.export)
        lay.addWidget(self.export_button)
        return w

    def _build_center(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setObjectName("datasetSearch")
        self.search.setPlaceholderText("Search text (full-text)…")
        self.search.setClearButtonEnabled(True)
        bar.addWidget(self.search, 2)
        self.split_filter = QComboBox()
        self.split_filter.addItems(["all splits", "train", "eval"])
        bar.addWidget(self.split_filter)
        self.tag_filter = QLineEdit()
        self.tag_filter.setPlaceholderText("tag")
        self.tag_filter.setMaximumWidth(90)
        bar.addWidget(self.tag_filter)
        bar.addWidget(QLabel("length"))
        self.min_len, self.max_len = QSpinBox(), QSpinBox()
        for sb, tip in ((self.min_len, "at least (0: any)"), (self.max_len, "at most (0: any)")):
            sb.setRange(0, 1_000_000)
            sb.setSpecialValueText("any")
            sb.setToolTip(f"Length in tokens, {tip}")
            sb.setMaximumWidth(80)
            bar.addWidget(sb)
        self.sort_combo = QComboBox()
        self.sort_combo.addItems(["position", "length", "split"])
        self.sort_combo.setToolTip("Sort by")
        bar.addWidget(self.sort_combo)
        self.desc = QCheckBox("desc")
        bar.addWidget(self.desc)
        lay.addLayout(bar)
        for sig in (self.search.textChanged, self.tag_filter.textChanged):
            sig.connect(lambda _t: self._filter_timer.start())
        for sig in (self.split_filter.currentIndexChanged, self.sort_combo.currentIndexChanged,
                    self.min_len.valueChanged, self.max_len.valueChanged):
            sig.connect(lambda _v: self._filter_timer.start())
        self.desc.toggled.connect(lambda _v: self._filter_timer.start())
        self.positions_filter: list[int] | None = None
        self.filter_note = QLabel("")
        self.filter_note.setObjectName("filterNote")
        lay.addWidget(self.filter_note)

        self.table = QTableView()
        self.table.setObjectName("datasetTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setWordWrap(False)
        hh = self.table.horizontalHeader()
        for col, width in enumerate([60, 50, 80, 60, 45]):
            self.table.setColumnWidth(col, width)
        hh.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        hh.sectionClicked.connect(self._header_clicked)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.table.doubleClicked.connect(lambda _i: self.edit_selected())
        lay.addWidget(self.table, 1)
        QShortcut(QKeySequence.StandardKey.Delete, self.table, activated=self.delete_selected)
        QShortcut(QKeySequence.StandardKey.Undo, self, activated=self.undo)

        actions = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.edit_button = QPushButton("Edit")
        self.dup_button = QPushButton("Duplicate")
        self.delete_button = QPushButton("Delete")
        self.undo_button = QPushButton("Undo")
        self.tag_button = QPushButton("Tag…")
        self.move_combo = QComboBox()
        self.move_combo.addItems(["train", "eval"])
        self.move_button = QPushButton("Move to split")
        for b, fn in ((self.add_button, self.add_example), (self.edit_button, self.edit_selected),
                      (self.dup_button, self.duplicate_selected), (self.delete_button, self.delete_selected),
                      (self.undo_button, self.undo), (self.tag_button, self.tag_selected), (self.move_button, self.move_selected)):
            b.clicked.connect(lambda _c=False, f=fn: f())
            b.setMinimumWidth(b.sizeHint().width())  # a narrow window scrolls the row, never cuts a label
            actions.addWidget(b)
        actions.addWidget(self.move_combo)
        actions.addStretch(1)
        self.count_label = QLabel("")  # a line of its own: the action buttons never squeeze it
        self.count_label.setObjectName("rowCount")
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        lay.addLayout(actions)
        lay.addWidget(self.count_label)
        return w

    def _build_right(self) -> QWidget:
        self.side_tabs = QTabWidget()
        self.transcript = QTextBrowser()
        self.transcript.setObjectName("transcript")
        self.transcript.setPlaceholderText("Select a row to read it as a conversation.")
        self.side_tabs.addTab(self.transcript, "Transcript")
        self.quality = QualityPanel()
        self.quality.run_button.clicked.connect(self.run_quality)
        self.quality.show_rows.connect(self.show_positions)
        self.side_tabs.addTab(self.quality, "Quality")
        return self.side_tabs

    # ---- datasets and versions -------------------------------------------------------------
    def refresh_list(self, select: str | None = None) -> None:
        current = select or (self.info["name"] if self.info else None)
        self.dataset_list.blockSignals(True)
        self.dataset_list.clear()
        chosen = None
        for d in self.service.list():
            item = QListWidgetItem(f"{d['name']}\n{d['kind']} · {plural(d['rows'], 'row')} · v{d['version']}")
            item.setData(Qt.ItemDataRole.UserRole, d["name"])
            self.dataset_list.addItem(item)
            if d["name"] == current:
                chosen = item
        if not self.dataset_list.count():
            empty = QListWidgetItem("No dataset yet. Import… a JSONL, JSON, CSV or Parquet file, or vote in the Chat's Compare.")
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.dataset_list.addItem(empty)
        if chosen is not None:
            self.dataset_list.setCurrentItem(chosen)  # signals blocked: load once, below
        self.dataset_list.blockSignals(False)
        if chosen is not None:
            self._dataset_chosen(chosen)
        elif self.dataset_list.count() and self.info is None and self.dataset_list.item(0).data(Qt.ItemDataRole.UserRole):
            self.dataset_list.setCurrentRow(0)

    def _dataset_chosen(self, item) -> None:
        if item is None:
            return
        self.load_dataset(item.data(Qt.ItemDataRole.UserRole))

    def load_dataset(self, name: str, version: int | None = None) -> None:
        """Show a version: its summary and first page load on worker threads."""
        self._loading_name = name
        run_in_thread(self.service.show, name, version, on_done=self._show_info, owner=self)

    def _show_info(self, info: dict) -> None:
        if info["name"] != getattr(self, "_loading_name", info["name"]):
            return  # the user picked another dataset meanwhile
        self.info = info
        self.version_combo.blockSignals(True)
        self.version_combo.clear()
        for v in reversed(info["versions"]):
            self.version_combo.addItem(f"v{v['version']} · {plural(v['rows'], 'row')} · {v['note'][:40]}", v["version"])
        self.version_combo.setCurrentIndex(self.version_combo.findData(info["version"]))
        self.version_combo.blockSignals(False)
        latest = info["versions"][-1]["version"]
        self.version_label.setText(
            f"{info['kind']} · hash {info['content_hash'][:12]}…" + ("" if info["version"] == latest else "\nread-only (an older version)"))
        self.transcript.clear()
        self.apply_filters()

    def _version_chosen(self, _i: int) -> None:
        v = self.version_combo.currentData()
        if self.info and v is not None and v != self.info["version"]:
            self.load_dataset(self.info["name"], v)

    def is_latest(self) -> bool:
        return bool(self.info) and self.info["version"] == self.info["versions"][-1]["version"]

    # ---- table -----------------------------------------------------------------------------
    def apply_filters(self) -> None:
        if not self.info:
            self.model.set_query(None)
            return
        split = self.split_filter.currentText()
        self.model.set_query(
            self.info["version_id"], sort=self.sort_combo.currentText(), descending=self.desc.isChecked(),
            split=None if split == "all splits" else split, tag=self.tag_filter.text().strip() or None,
            min_len=self.min_len.value() or None, max_len=self.max_len.value() or None,
            search=self.search.text().strip() or None, positions=self.positions_filter)
        self._update_actions()

    def _header_clicked(self, column: int) -> None:
        """Click a sortable header (#, Split, Length) to sort by it; click again to reverse."""
        from ui.dataset_table import COLUMNS

        key = COLUMNS[column][0]
        if self.sort_combo.findText(key) < 0:
            return
        if self.sort_combo.currentText() == key:
            self.desc.setChecked(not self.desc.isChecked())
        else:
            self.sort_combo.setCurrentText(key)
            self.desc.setChecked(False)

    def show_positions(self, title: str, positions: list[int]) -> None:
        """Show only the rows a quality finding is about."""
        self.positions_filter = positions
        self.filter_note.setText(f"Showing the rows of: {title}  <a href='#'>show all</a>")
        self.filter_note.linkActivated.connect(self.clear_positions)
        self.apply_filters()

    def clear_positions(self, *_a) -> None:
        self.positions_filter = None
        self.filter_note.setText("")
        try:
            self.filter_note.linkActivated.disconnect()
        except (RuntimeError, TypeError):
            pass
        self.apply_filters()

    def _update_count(self, loaded: int) -> None:
        if self.info:
            more = "+" if self.model.canFetchMore() else ""
            self.count_label.setText(f"{loaded:,}{more} shown · {plural(self.info['rows'], 'row')} in v{self.info['version']}")

    def selected_rows(self) -> list[dict]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.row_at(r) for r in rows]

    def _selection_changed(self) -> None:
        rows = self.selected_rows()
        self._update_actions()
        if len(rows) == 1 and self.info:
            run_in_thread(self.service.get_row, self.info["version_id"], rows[0]["position"],
                          on_done=lambda r: self.transcript.setHtml(transcript_html(r["row"])), owner=self)

    def _update_actions(self) -> None:
        editable = self.is_latest()
        n = len(self.selected_rows()) if self.info else 0
        self.add_button.setEnabled(editable)
        for b in (self.edit_button, self.dup_button):
            b.setEnabled(editable and n == 1)
        for b in (self.delete_button, self.tag_button, self.move_button):
            b.setEnabled(editable and n > 0)
        self.undo_button.setEnabled(bool(self.undo_stack))
        for b in (self.split_button, self.export_button):
            b.setEnabled(bool(self.info))

    # ---- editing: each action is a new version ---------------------------------------------
    def _apply(self, ops: list[Op], undo_label: str) -> None:
        """Every change is undoable: undo writes a version equal to the one before it."""
        name, before = self.info["name"], self.info["version"]

        def done(result: dict) -> None:
            self.undo_stack.append((name, before, undo_label))
            self.undo_button.setToolTip(f"Undo: {undo_label}")
            self.refresh_list(select=name)

        run_in_thread(self.service.edit, name, ops, on_done=done, owner=self)

    def _open_editor(self, row: dict | None, title: str, on_saved) -> None:
        from ui.dataset_editor import EditorDialog

        dlg = EditorDialog(self.studio, self.info["kind"], row, title, self)
        dlg.saved.connect(on_saved)
        self.editor = dlg
        dlg.open()

    def add_example(self) -> None:
        if self.is_latest():
            self._open_editor(None, "Add an example", lambda row: self._apply([Op.append(row)], "add a row"))

    def edit_selected(self) -> None:
        rows = self.selected_rows()
        if len(rows) != 1 or not self.is_latest():
            return
        pos = rows[0]["position"]
        full = self.service.get_row(self.info["version_id"], pos)["row"]
        self._open_editor(full, f"Edit row {pos}", lambda row: self._apply([Op.replace(pos, row)], f"edit row {pos}"))

    def duplicate_selected(self) -> None:
        rows = self.selected_rows()
        if len(rows) == 1 and self.is_latest():
            pos = rows[0]["position"]
            full = self.service.get_row(self.info["version_id"], pos)["row"]
            self._open_editor(full, f"Duplicate row {pos}", lambda row: self._apply([Op.insert_after(pos, row)], f"duplicate row {pos}"))

    def delete_selected(self) -> None:
        rows = self.selected_rows()
        if rows and self.is_latest():
            self._apply([Op.delete([r["position"] for r in rows])], f"delete {plural(len(rows), 'row')}")

    def tag_selected(self, tag: str | None = None) -> None:
        rows = self.selected_rows()
        if not rows or not self.is_latest():
            return
        if tag is None:
            tag, ok = QInputDialog.getText(self, "Tag rows", f"Tag for {plural(len(rows), 'row')}:")
            if not ok or not tag.strip():
                return
        self._apply([Op.tag([r["position"] for r in rows], tag.strip())], f"tag {plural(len(rows), 'row')}")

    def move_selected(self) -> None:
        rows = self.selected_rows()
        if rows and self.is_latest():
            split = self.move_combo.currentText()
            self._apply([Op.set_split([r["position"] for r in rows], split)], f"move {plural(len(rows), 'row')} to {split}")

    def undo(self) -> None:
        if not self.undo_stack:
            return
        name, version, _what = self.undo_stack.pop()
        run_in_thread(self.service.revert, name, version, on_done=lambda _r: self.refresh_list(select=name), owner=self)

    # ---- dataset actions -------------------------------------------------------------------
    def open_import(self, path: str = ""):
        from ui.dataset_import_dialog import ImportDialog

        dlg = ImportDialog(self.service, self, path)
        dlg.imported.connect(self._imported)
        self.import_dialog = dlg
        dlg.open()
        return dlg

    def _imported(self, result: dict) -> None:
        self.refresh_list(select=result["name"])
        # build the full-text index now, in the background, so the first search is quick
        run_in_thread(self.service.ensure_search_index, owner=self)

    def make_split(self) -> None:
        frac, ok = QInputDialog.getDouble(self, "Train/eval split", "Share of rows for eval:", 0.1, 0.0, 0.9, 2)
        if not ok:
            return
        seed, ok = QInputDialog.getInt(self, "Train/eval split", "Seed (the same seed gives the same split):", 0)
        if ok:
            name = self.info["name"]
            run_in_thread(self.service.split, name, frac, seed, on_done=lambda _r: self.refresh_list(select=name), owner=self)

    def export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export dataset", f"{self.info['name']}.jsonl", "JSON Lines (*.jsonl);;Parquet (*.parquet)")
        if path:
            run_in_thread(self.service.export, self.info["name"], path, None, self.info["version"], owner=self)

    def run_quality(self) -> None:
        if not self.info:
            return
        self.quality.run_button.setEnabled(False)
        self.quality.summary.setText("Computing… (token counts are cached after the first run)")

        def done(report: dict) -> None:
            self.quality.run_button.setEnabled(True)
            self.quality.set_report(report)

        def failed(exc) -> None:
            self.quality.run_button.setEnabled(True)
            from ui.errors import report as show

            show(exc)

        run_in_thread(self.service.stats, self.info["name"], self.info["version"], on_done=done, on_error=failed, owner=self)

    def shutdown(self) -> None:
        dialogs = [d for d in (getattr(self, "import_dialog", None), getattr(self, "editor", None)) if d is not None]
        wait_workers(self, self.model, self.rate_view, *dialogs)
        self.rate_view.shutdown()
