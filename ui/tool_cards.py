"""ToolCallCard: one tool call in the chat, collapsed to a line, expandable to the details.

    card = ToolCallCard({"tool": "calculator", "args": {...}, "result": {...}, "error": None,
                         "duration_s": 0.002, "confidence": 0.93})

The call is the plain dict `studio.tools.orchestrator.run_tools_for_turn` returns (and the
chat stores in Message.meta["tool_calls"]); the card only reads it.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QToolButton, QVBoxLayout, QWidget

OK_COLOUR, FAIL_COLOUR = "#2e7d32", "#c62828"


def one_line_args(args: dict, limit: int = 70) -> str:
    text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in (args or {}).items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_outcome(call: dict) -> str:
    """What the collapsed line shows after the arguments: "→ 409.5", "→ 2 passages"."""
    res = call.get("result")
    if call.get("error") or not isinstance(res, dict):
        return ""
    if call.get("tool") == "calculator":
        return f"  → {res.get('result')}"
    if call.get("tool") == "python":
        out = (res.get("stdout") or "").strip().splitlines()
        return f"  → {out[-1][:40]}" if out else ""
    if call.get("tool") == "search":
        return f"  → {len(res.get('hits', []))} passage(s)"
    if isinstance(res.get("text"), str) and res["text"].strip():  # an MCP tool's text content
        first = res["text"].strip().splitlines()[0]
        return f"  → {first[:40]}"
    return ""


def reduced_sandbox(call: dict) -> bool:
    """A python call that ran in reduced mode (only the audit hook and rlimits held): the
    user opted in to that, and the card says so in red every time."""
    res = call.get("result")
    return call.get("tool") == "python" and isinstance(res, dict) and (res.get("layers") or {}).get("mode") == "reduced"


REDUCED_TEXT = ("⚠ reduced sandbox: only the audit hook and rlimits held (Landlock or seccomp missing); "
                "allowed by your setting")


def result_text(call: dict) -> str:
    """The result as a person reads it: the number, the printed output, the passages, the fields."""
    tool, res = call.get("tool"), call.get("result")
    if res is None:
        return ""
    if tool == "calculator":
        return f"{res.get('expression')} = {res.get('result')}"
    if tool == "python":
        parts = []
        if res.get("stdout"):
            parts.append("stdout:\n" + res["stdout"].rstrip())
        if res.get("stderr"):
            parts.append("stderr:\n" + res["stderr"].rstrip())
        layers = res.get("layers") or {}
        if layers:
            parts.append("sandbox: " + ", ".join(f"{k} {v}" for k, v in layers.items()))
        return "\n\n".join(parts) or "(no output)"
    if tool == "search":
        return "\n\n".join(f"[{i}] {h['source']} (passage {h['position'] + 1}, score {h['score']:.2f})\n{h['snippet']}"
                           for i, h in enumerate(res.get("hits", []), 1))
    if isinstance(res, dict) and "text" in res and "data" not in res:  # an MCP tool: its text, then any structure
        extra = res.get("structured")
        return res["text"] + (f"\n\n{json.dumps(extra, indent=2, ensure_ascii=False)}" if extra else "")
    return json.dumps(res.get("data", res) if isinstance(res, dict) else res, indent=2, ensure_ascii=False)


class ToolCallCard(QFrame):
    toggled = Signal(bool)

    def __init__(self, call: dict, parent: QWidget | None = None, expanded: bool = False):
        super().__init__(parent)
        self.call = call
        self.setObjectName("toolCallCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        ok = not call.get("error")
        colour = OK_COLOUR if ok else FAIL_COLOUR
        self.setStyleSheet(f"#toolCallCard {{ border: 1px solid {colour}; border-left: 4px solid {colour};"
                           " border-radius: 6px; }")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(4)

        head = QHBoxLayout()
        self.toggle = QToolButton()
        self.toggle.setAutoRaise(True)
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("Show the arguments and the result")
        self.toggle.toggled.connect(self.set_expanded)
        head.addWidget(self.toggle)
        self.title = QLabel(f"<b>{call.get('tool', '?')}</b> <span style='color:{colour}'>"
                            f"{'✓' if ok else '✗ failed'}</span>")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        head.addWidget(self.title)
        self.summary = QLabel(one_line_args(call.get("args", {})) + short_outcome(call))
        self.summary.setStyleSheet("color: palette(placeholder-text);")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        head.addWidget(self.summary, 1)
        meta = [f"{call.get('duration_s', 0):.2f} s"]
        if call.get("confidence") is not None:
            meta.append(f"confidence {call['confidence']:.0%}")
        self.meta = QLabel(" · ".join(meta))
        head.addWidget(self.meta)
        lay.addLayout(head)
        if reduced_sandbox(call):
            self.sandbox_warning = QLabel(REDUCED_TEXT)
            self.sandbox_warning.setStyleSheet(f"color: {FAIL_COLOUR}; font-weight: bold;")
            self.sandbox_warning.setWordWrap(True)
            self.sandbox_warning.setToolTip("Turn it off with `studio tools sandbox-status --allow-reduced off`; "
                                            "then the python tool refuses to run on this machine.")
            lay.addWidget(self.sandbox_warning)

        self.details = QWidget()
        dl = QVBoxLayout(self.details)
        dl.setContentsMargins(24, 0, 0, 0)
        dl.setSpacing(2)
        dl.addWidget(QLabel("<b>Arguments</b>"))
        args = call.get("args", {})
        code = args.get("code") if isinstance(args.get("code"), str) and len(args) == 1 else None
        self.args_view = self._text(code if code is not None else json.dumps(args, indent=2, ensure_ascii=False))
        dl.addWidget(self.args_view)
        if call.get("error"):
            self.error_label = QLabel(f"<b>Error:</b> {_escape(call['error'])}")
            self.error_label.setStyleSheet(f"color: {FAIL_COLOUR};")
            self.error_label.setWordWrap(True)
            dl.addWidget(self.error_label)
        text = result_text(call)
        if text:
            dl.addWidget(QLabel("<b>Result</b>"))
            self.result_view = self._text(text)
            dl.addWidget(self.result_view)
        lay.addWidget(self.details)
        self.set_expanded(expanded)

    @staticmethod
    def _text(text: str) -> QPlainTextEdit:
        view = QPlainTextEdit(text)
        view.setReadOnly(True)
        view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        lines = text.count("\n") + 1
        if lines <= 12:  # short texts show whole, without a scroll bar; long ones scroll
            view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        margins = int(view.document().documentMargin() * 2) + view.frameWidth() * 2
        view.setFixedHeight(view.fontMetrics().lineSpacing() * (min(lines, 12) + 1) + margins)
        return view

    def set_expanded(self, expanded: bool) -> None:
        self.details.setVisible(expanded)
        self.toggle.blockSignals(True)
        self.toggle.setChecked(expanded)
        self.toggle.blockSignals(False)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.toggled.emit(expanded)

    def is_expanded(self) -> bool:
        return not self.details.isHidden()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
