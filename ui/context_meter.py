"""The chat's context meter: how much of the model's context the conversation uses, a warning
before the oldest turns would be left out, and what was left out when it happened.

    meter = ContextMeter()
    meter.show_context(msg["meta"].get("context"))   # or a {"type": "context", ...} turn event
    meter.show_context(None)                          # a new conversation

It only displays what the chat service measured (engines/inference/context.py); it never
counts tokens itself, so it costs the GUI thread nothing.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from engines.inference.context import WARN_FRACTION

_BAR = "QProgressBar {{ border: 1px solid palette(mid); border-radius: 3px; }} QProgressBar::chunk {{ background: {}; }}"


class ContextMeter(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("contextMeter")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        row = QHBoxLayout()
        self.label = QLabel("Context: nothing used yet")
        self.label.setObjectName("contextLabel")
        row.addWidget(self.label)
        self.bar = QProgressBar()
        self.bar.setObjectName("contextBar")
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        self.bar.setMaximumWidth(220)
        row.addWidget(self.bar, 1)
        row.addStretch(0)
        lay.addLayout(row)
        self.warning = QLabel("")
        self.warning.setObjectName("contextWarning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("background: rgba(255, 193, 7, 40); border-radius: 4px; padding: 3px 6px;")
        self.warning.setVisible(False)
        lay.addWidget(self.warning)
        self.show_context(None)

    def show_context(self, ctx: dict | None) -> None:
        """ctx: {"prompt_tokens", "reserve", "limit", "dropped", "note", "used_after"?}."""
        if not ctx:
            self.label.setText("Context: nothing used yet")
            self.bar.setValue(0)
            self._style(0.0)
            self.warning.setVisible(False)
            return
        used = int(ctx.get("used_after") or ctx.get("prompt_tokens") or 0)
        limit = ctx.get("limit")
        reserve = int(ctx.get("reserve") or 0)
        if not limit:  # a remote server: its window is not known here
            self.label.setText(f"Context: {used:,} tokens (the server's limit is not known)")
            self.bar.setValue(0)
            self.warning.setVisible(bool(ctx.get("note")))
            self.warning.setText(ctx.get("note") or "")
            return
        ahead = min(1.0, (used + reserve) / limit)  # where the next turn would land
        self.label.setText(f"Context: {used:,} of {limit:,} tokens, {reserve:,} kept for the answer ({ahead:.0%})")
        self.label.setToolTip("The conversation so far, plus the room the next answer may take (max tokens, and the "
                              "thinking budget in Reasoning mode).")
        self.bar.setValue(int(ahead * 1000))
        self._style(ahead)
        texts = []
        if ctx.get("note"):
            texts.append(ctx["note"])
        if ahead >= WARN_FRACTION:
            texts.append("Close to the context limit: the next messages will leave out the oldest turns, and the chat "
                         "will say which. Start a new conversation to keep everything in view.")
        self.warning.setText(" ".join(texts))
        self.warning.setVisible(bool(texts))

    def _style(self, ahead: float) -> None:
        color = "#2e7d32" if ahead < 0.6 else "#f9a825" if ahead < WARN_FRACTION else "#c62828"
        self.bar.setStyleSheet(_BAR.format(color))
