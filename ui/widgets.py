"""Small widget builders that several pages share, so a status line, a warning box or an
"empty until a run is chosen" panel looks and behaves the same everywhere."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QStackedWidget, QWidget

WARNING_STYLE = "background:#fff3cd;color:#7a5300;border:1px solid #f0c36d;border-radius:4px;padding:6px;"
ERROR_STYLE = "background:#fdecea;color:#8a1c1c;border:1px solid #f5c2c0;border-radius:4px;padding:6px;"


class PollingPage(QWidget):
    """A page that polls the home: `shutdown()` stops it, and closing the page on its own (a test, a
    detached page) calls it too, as the main window does for every page when it closes."""

    def shutdown(self) -> None:
        raise NotImplementedError

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.shutdown()
        super().closeEvent(event)


def wrapped_label(text: str = "", name: str = "") -> QLabel:
    """A QLabel that wraps its text, named `name` for tests and style sheets when given."""
    label = QLabel(text)
    if name:
        label.setObjectName(name)
    label.setWordWrap(True)
    return label


def notice_label(style: str) -> QLabel:
    """A hidden, wrapped box (WARNING_STYLE or ERROR_STYLE) that the page shows when it has something to say."""
    label = wrapped_label()
    label.setStyleSheet(style)
    label.setVisible(False)
    return label


def empty_or(content: QWidget, empty_text: str, empty_name: str) -> tuple[QStackedWidget, QLabel]:
    """A stack that shows a centred explanation (index 0) until the page switches to `content` (index 1),
    so a page says what will appear rather than drawing empty axes."""
    empty = wrapped_label(empty_text, empty_name)
    empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
    stack = QStackedWidget()
    stack.addWidget(empty)
    stack.addWidget(content)
    return stack, empty


def side_by_side(left: QWidget, right: QWidget, sizes: list[int]) -> QSplitter:
    """A horizontal splitter that gives `right` the larger share (2:5) when the window grows."""
    split = QSplitter(Qt.Orientation.Horizontal)
    split.addWidget(left)
    split.addWidget(right)
    split.setStretchFactor(0, 2)
    split.setStretchFactor(1, 5)
    split.setSizes(sizes)
    return split
