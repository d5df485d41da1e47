"""One error dialog for every uncaught exception, on any thread.

`sys.excepthook` and `threading.excepthook` forward the exception to the GUI thread through
a queued signal; a StudioError shows its message and hint, anything else shows a summary with
the traceback folded under "Show Details". The app keeps running.
"""

from __future__ import annotations

import sys
import threading
import traceback

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMessageBox

from studio.errors import StudioError


class _Bridge(QObject):
    raised = Signal(str, str, str)  # title, text, details

    @Slot(str, str, str)
    def show(self, title: str, text: str, details: str) -> None:
        # parentless: the dialog must outlive whichever window was active when it failed
        box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok)
        box.setWindowModality(Qt.WindowModality.ApplicationModal)
        if details:
            box.setDetailedText(details)
        box.setObjectName("errorDialog")
        self.last_box = box
        self.shown.append((title, text))
        box.open()


_bridge: _Bridge | None = None


def describe(exc: BaseException) -> tuple[str, str, str]:
    if isinstance(exc, StudioError):
        text = exc.message + (f"\n\n{exc.hint[0].upper() + exc.hint[1:]}." if exc.hint else "")
        return "Model Studio", text, ""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "Unexpected error", f"{type(exc).__name__}: {exc}\n\nThe app keeps running; the details say where it happened.", details


def report(exc: BaseException) -> None:
    """Show exc in the error dialog (safe to call from any thread)."""
    if _bridge is None:
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        return
    title, text, details = describe(exc)
    print(details or text, file=sys.stderr)
    _bridge.raised.emit(title, text, details)


def install_excepthooks() -> _Bridge:
    global _bridge
    _bridge = _Bridge()
    _bridge.shown = []
    _bridge.raised.connect(_bridge.show)

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        report(exc.with_traceback(tb) if exc is not None else exc_type())

    def thread_hook(args):
        if args.exc_value is not None:
            report(args.exc_value)

    sys.excepthook = hook
    threading.excepthook = thread_hook
    return _bridge
