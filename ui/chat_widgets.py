"""The pieces of a chat transcript: message bubbles, the collapsible thinking block, the
accounting line. Plain widgets; the page feeds them text on the GUI thread."""

from __future__ import annotations

import re

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


def format_stats(s: dict | None) -> str:
    """The accounting line under an answer."""
    if not s:
        return ""
    # thinking time and the wait for the answer are two numbers: a reasoning turn's first answer
    # token comes after all its thinking, which is not the model's latency to start
    timing = [f"first answer token at {s.get('ttft_s', 0):.2f} s"]
    if s.get("hidden_tokens") or s.get("thinking_s"):
        timing.insert(0, f"thinking {s.get('thinking_s', 0):.2f} s")
    parts = [
        f"{s.get('prompt_tokens', 0):,} prompt",
        f"{s.get('visible_tokens', 0):,} visible",
        f"{s.get('hidden_tokens', 0):,} hidden tokens",
        *timing,
        f"{s.get('tokens_per_s', 0):.1f} tok/s",
        f"total {s.get('latency_s', 0):.2f} s",
        f"cost {s.get('cost', 0):.4f}",
    ]
    return " · ".join(parts)


def format_totals(t: dict) -> str:
    if not t or not t.get("turns"):
        return "No turns yet"
    return (
        f"{t['turns']} turn{'s' if t['turns'] != 1 else ''} · {t['visible_tokens']:,} visible · "
        f"{t['hidden_tokens']:,} hidden tokens · {t['latency_s']:.1f} s · cost {t['cost']:.4f}"
    )


_FENCE = re.compile(r"(```.*?(?:```|$))", re.S)
_INLINE = re.compile(r"(`[^`\n]*`)")


def markdown_safe(text: str) -> str:
    """Markdown with raw HTML disabled: a model's `<answer>` must show, not vanish as a tag.

    Outside code (fenced blocks and inline spans) `<` is escaped; code is left as written."""
    out = []
    for i, block in enumerate(_FENCE.split(text)):
        if i % 2:
            out.append(block)
            continue
        for j, span in enumerate(_INLINE.split(block)):
            out.append(span if j % 2 else span.replace("<", "\\<"))
    return "".join(out)


class AutoHeightBrowser(QTextBrowser):
    """A text browser as tall as its content (the transcript scrolls, not each message)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setOpenExternalLinks(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().setDocumentMargin(2)
        self.document().contentsChanged.connect(self._fit)
        self.setStyleSheet("QTextBrowser { background: transparent; }")

    def _fit(self) -> None:
        self.document().setTextWidth(max(50, self.viewport().width()))
        h = int(self.document().size().height()) + 4
        if h != self.height():
            self.setFixedHeight(h)

    def resizeEvent(self, e) -> None:  # noqa: N802
        super().resizeEvent(e)
        self._fit()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(400, self.height())


class ThinkingBlock(QWidget):
    """Collapsed "Thought for N s · K tokens"; click to read the hidden thinking."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.toggle = QToolButton()
        self.toggle.setObjectName("thinkingToggle")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self.set_expanded)
        self.body = QPlainTextEdit()
        self.body.setReadOnly(True)
        self.body.setObjectName("thinkingBody")
        self.body.setMaximumHeight(220)
        self.body.setVisible(False)
        self.body.setStyleSheet("QPlainTextEdit { color: palette(mid); font-style: italic; }")
        lay.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.body)
        self.tokens = 0
        self.set_running()

    def set_expanded(self, on: bool) -> None:
        self.toggle.setChecked(on)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)

    def set_running(self, tokens: int = 0) -> None:
        self.toggle.setText(f"Thinking… {tokens:,} tokens" if tokens else "Thinking…")

    def append(self, text: str) -> None:
        self.body.moveCursor(self.body.textCursor().MoveOperation.End)
        self.body.insertPlainText(text)

    def set_text(self, text: str) -> None:
        self.body.setPlainText(text)

    def set_done(self, seconds: float, tokens: int, forced: bool = False) -> None:
        self.toggle.setText(f"Thought for {seconds:.1f} s · {tokens:,} tokens" + (" · budget reached" if forced else ""))


class MessageBubble(QFrame):
    """One message. Assistant bubbles have a thinking block, the answer, and the accounting."""

    copy_requested = Signal(str)
    edit_requested = Signal(int)
    regenerate_requested = Signal()

    def __init__(self, role: str, message_id: int | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.role = role
        self.message_id = message_id
        self.setObjectName("userBubble" if role == "user" else "assistantBubble")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.setSpacing(3)
        self.header = QLabel("You" if role == "user" else "Assistant")
        self.header.setObjectName("bubbleHeader")
        self.header.setStyleSheet("font-weight: 600;")
        self.header.setWordWrap(True)  # a long Auto route reason wraps inside the bubble, never widens it
        lay.addWidget(self.header)
        self.thinking = ThinkingBlock() if role == "assistant" else None
        if self.thinking:
            self.thinking.setVisible(False)
            lay.addWidget(self.thinking)
        self.tools_box = QVBoxLayout()
        lay.addLayout(self.tools_box)
        self.body = AutoHeightBrowser()
        self.body.setObjectName("messageBody")
        lay.addWidget(self.body)
        self.stats = QLabel("")
        self.stats.setObjectName("statsLabel")
        self.stats.setWordWrap(True)
        self.stats.setStyleSheet("color: palette(mid); font-size: 11px;")
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats.setVisible(False)
        lay.addWidget(self.stats)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        self.buttons: dict[str, QToolButton] = {}
        names = ("Edit", "Copy") if role == "user" else ("Copy", "Regenerate")
        for name in names:
            b = QToolButton()
            b.setText(name)
            b.setAutoRaise(True)
            b.setObjectName(f"{name.lower()}Button")
            row.addWidget(b)
            self.buttons[name] = b
        lay.addLayout(row)
        self.buttons["Copy"].clicked.connect(self._copy)
        if "Edit" in self.buttons:
            self.buttons["Edit"].clicked.connect(lambda: self.edit_requested.emit(self.message_id or 0))
        if "Regenerate" in self.buttons:
            self.buttons["Regenerate"].clicked.connect(self.regenerate_requested.emit)
        self.text = ""
        self.thinking_text = ""

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text)
        self.copy_requested.emit(self.text)

    def set_text(self, text: str) -> None:
        self.text = text
        if self.role == "user":
            self.body.setPlainText(text)
        else:
            self.body.setMarkdown(markdown_safe(text))

    def append_text(self, text: str) -> None:
        self.set_text(self.text + text)

    def append_thinking(self, text: str, tokens: int) -> None:
        self.thinking.setVisible(True)
        self.thinking_text += text
        self.thinking.append(text)
        self.thinking.set_running(tokens)

    def set_stats(self, stats: dict, extra: str = "") -> None:
        self.stats.setText(format_stats(stats) + (f"  ·  {extra}" if extra else ""))
        self.stats.setVisible(True)

    def set_busy(self, busy: bool) -> None:
        for b in self.buttons.values():
            b.setEnabled(not busy)

    def add_tool_calls(self, calls: list[dict]) -> None:
        """One expandable card per tool call (tool, arguments, result, time)."""
        from ui.tool_cards import ToolCallCard

        for call in calls:
            self.tools_box.addWidget(ToolCallCard(call))

    def load(self, msg: dict) -> None:
        """Fill from a stored message."""
        self.message_id = msg["id"]
        self.set_text(msg["content"])
        meta = msg.get("meta") or {}
        if self.role != "assistant":
            return
        if msg.get("thinking"):
            self.thinking.setVisible(True)
            self.thinking.set_text(msg["thinking"])
            st = meta.get("stats") or {}
            self.thinking.set_done(st.get("thinking_s", 0.0), st.get("hidden_tokens", 0), meta.get("budget_forced", False))
        if meta.get("tool_calls"):
            self.add_tool_calls(meta["tool_calls"])
        self.set_header(meta)
        if meta.get("stats"):
            self.set_stats(meta["stats"], "stopped" if meta.get("stopped") else "")

    def set_header(self, meta: dict) -> None:
        mode = meta.get("mode") or ""
        label = meta.get("model_label") or meta.get("model") or "Assistant"
        route = meta.get("route")
        routed = f" · auto → {mode}: {route['reason']}" if route else ""
        self.header.setText(f"{label} · {mode.capitalize()}{routed}")
