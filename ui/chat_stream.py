"""Run a blocking chat turn on a worker thread and deliver its events to the GUI in batches.

The chat service calls `on_event` for every token on the worker thread. Emitting one Qt signal
per token would flood the event loop, so events go into a queue that a 40 ms timer on the GUI
thread drains: widgets are updated at most 25 times a second, whatever the decode speed.
Never touch widgets from the worker; only plain data crosses (STYLE.md, Anki's rule).

    runner = TurnRunner(self)
    runner.events.connect(self.on_events)          # list[dict], on the GUI thread
    runner.finished.connect(self.on_done)          # the turn's result dict
    runner.failed.connect(self.on_error)           # the exception
    runner.start(lambda on_event, should_stop: chat.send(cid, text, on_event=on_event, should_stop=should_stop))
    runner.stop()                                  # Stop: the model host ends within one token
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal


class TurnRunner(QObject):
    events = Signal(list)
    finished = Signal(object)
    failed = Signal(object)

    def __init__(self, parent: QObject | None = None, interval_ms: int = 40):
        super().__init__(parent)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._worker = None
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._drain)

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(self, fn: Callable[[Callable[[dict], None], Callable[[], bool]], object]) -> None:
        if self._worker is not None:
            raise RuntimeError("a turn is already running")
        from superqt.utils import create_worker

        self._stop = threading.Event()
        self._queue = queue.SimpleQueue()
        q, stop = self._queue, self._stop
        worker = create_worker(lambda: fn(q.put, stop.is_set), _start_thread=False, _ignore_errors=True)
        worker.returned.connect(self._returned)
        worker.errored.connect(self._errored)
        self._worker = worker
        self._timer.start()
        worker.start()

    def stop(self) -> None:
        self._stop.set()

    def _drain(self) -> None:
        batch = []
        try:
            while True:
                batch.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        if batch:
            self.events.emit(batch)

    def _end(self) -> None:
        self._drain()
        self._timer.stop()
        self._worker = None

    def _returned(self, result) -> None:
        self._end()
        self.finished.emit(result)

    def _errored(self, exc) -> None:
        self._end()
        self.failed.emit(exc)
