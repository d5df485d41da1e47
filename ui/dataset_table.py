"""The lazy table of a dataset version: keyset paging through Qt's fetchMore.

The model holds the rows fetched so far. When the view scrolls near the end it calls
`fetchMore`, which asks the DatasetService for the next page *after* the last row's
(sort key, position) on a worker thread, never with OFFSET, so the 50th page costs what the
first one does. Only plain dicts cross the thread; a page that arrives for an older query
(the user changed the filter meanwhile) is dropped by its generation number.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal

from ui.errors import report

PAGE = 200
COLUMNS = [("position", "#"), ("split", "Split"), ("tags", "Tags"), ("length", "Length"), ("turns", "Turns"),
           ("user", "First user turn"), ("answer", "Last answer")]


def run_in_thread(fn, *args, on_done=None, on_error=None, owner=None):
    """Run fn(*args) on a worker thread of this area's pool; callbacks run on the GUI thread
    with plain data.

    `owner` (any object with a `_workers` set) keeps the worker alive until it ends and lets
    the owner's shutdown wait for it.
    """
    from superqt.utils import create_worker

    def alive() -> bool:  # a page closed or deleted meanwhile takes no more callbacks
        if owner is None:
            return True
        if getattr(owner, "_closed", False):
            return False
        from shiboken6 import isValid

        return not isinstance(owner, QObject) or isValid(owner)

    def errored(exc) -> None:
        if alive():
            (on_error or report)(exc)

    connect = {"errored": errored}  # given here, superqt adds no re-raising handler
    if on_done is not None:
        connect["returned"] = lambda result: on_done(result) if alive() else None
    worker = create_worker(fn, *args, _start_thread=False, _connect=connect)
    if owner is not None:
        owner._workers.add(worker)
        worker.finished.connect(lambda: owner._workers.discard(worker))
    _pool().start(worker)
    return worker


_POOL = None


def _pool():
    """The datasets area's own thread pool: a page of rows never waits behind another page's
    long work (a chat stream, a model load) in Qt's global pool, which has one thread per core."""
    global _POOL
    if _POOL is None:
        from PySide6.QtCore import QThreadPool

        _POOL = QThreadPool()
        _POOL.setMaxThreadCount(4)  # mostly SQLite waits; a few threads keep the page responsive
    return _POOL


class DatasetTableModel(QAbstractTableModel):
    loading_changed = Signal(bool)
    page_loaded = Signal(int)  # rows now loaded

    def __init__(self, service, parent=None):
        super().__init__(parent)
        self.service = service
        self.rows: list[dict[str, Any]] = []
        self.version_id: int | None = None
        self.query: dict[str, Any] = {}
        self.total = 0
        self._more = False
        self._loading = False
        self._generation = 0
        self._workers: set = set()

    # ---- Qt model API ----------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][1]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        key = COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            value = row.get(key)
            if key == "length":
                return f"{value}" if row.get("exact") else f"~{value}"
            return "" if value is None else str(value)
        if role == Qt.ItemDataRole.ToolTipRole and key in ("user", "answer"):
            return row.get(key)
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    def canFetchMore(self, parent=QModelIndex()) -> bool:  # noqa: N802
        return not parent.isValid() and self._more and not self._loading

    def fetchMore(self, parent=QModelIndex()) -> None:  # noqa: N802
        if not self.canFetchMore(parent):
            return
        self._set_loading(True)
        gen = self._generation
        run_in_thread(self._fetch, self._after(), on_done=lambda page: self._append(gen, page),
                      on_error=self._failed, owner=self)

    # ---- loading ---------------------------------------------------------------------------
    def set_query(self, version_id: int | None, **query) -> None:
        """Show a version with a sort/filter; rows load on a worker thread."""
        self._reset(version_id, query)
        if version_id is not None:
            self.fetchMore()

    def load_sync(self, version_id: int, **query) -> None:
        """The first page on the calling thread (benchmarks and tests)."""
        self._reset(version_id, query)
        self._append(self._generation, self._fetch(None))

    def fetch_page_sync(self) -> None:
        self._append(self._generation, self._fetch(self._after()))

    def _reset(self, version_id, query) -> None:
        self._generation += 1
        self.beginResetModel()
        self.rows = []
        self.version_id = version_id
        self.query = {k: v for k, v in query.items() if v not in (None, "")}
        self._more = version_id is not None
        self._loading = False
        self.endResetModel()

    def _after(self):
        return (self.rows[-1]["key"], self.rows[-1]["position"]) if self.rows else None

    def _fetch(self, after):
        return self.service.page(self.version_id, after=after, limit=PAGE, **self.query)

    def _append(self, gen: int, page: list[dict[str, Any]]) -> None:
        if gen != self._generation:
            return  # an answer to a query the user has replaced
        self._set_loading(False)
        self._more = len(page) == PAGE
        if page:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
            self.rows.extend(page)
            self.endInsertRows()
        self.page_loaded.emit(len(self.rows))

    def _failed(self, exc: Exception) -> None:
        self._set_loading(False)
        self._more = False
        report(exc)

    def _set_loading(self, value: bool) -> None:
        self._loading = value
        self.loading_changed.emit(value)

    def row_at(self, i: int) -> dict[str, Any]:
        return self.rows[i]



def wait_workers(*owners, timeout_s: float = 10.0) -> None:
    """Close owners to new callbacks, then let their running workers end (a page's shutdown)."""
    import time

    from PySide6.QtCore import QCoreApplication

    for owner in owners:
        owner._closed = True
    deadline = time.monotonic() + timeout_s
    while any(o._workers for o in owners) and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.01)
