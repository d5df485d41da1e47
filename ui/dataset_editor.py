"""The example editor: the conversation as turns, a live token count, the exact training text.

Typing restarts a short timer; when it fires, a worker thread renders the chosen chat template
(the text SFT trains on, BOS included) and counts its tokens with the selected base model's
own tokenizer (llama.cpp, vocab only). Rows that are not conversations (preference, prompt)
are edited as JSON. Validation is the importer's: a row that would not import cannot be saved.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.datasets import shapes
from studio.errors import StudioError
from ui.dataset_table import run_in_thread

ROLES = list(shapes.ROLES)


class TurnEditor(QWidget):
    changed = Signal()
    remove_requested = Signal(object)

    def __init__(self, role: str, content: str):
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.role = QComboBox()
        self.role.addItems(ROLES)
        self.role.setCurrentText(role if role in ROLES else "user")
        self.content = QPlainTextEdit(content)
        self.content.setMinimumHeight(60)
        self.content.setMaximumHeight(140)
        remove = QPushButton("✕")
        remove.setToolTip("Remove this turn")
        remove.setFixedWidth(28)
        col = QVBoxLayout()
        col.addWidget(self.role)
        col.addWidget(remove)
        col.addStretch(1)
        lay.addLayout(col)
        lay.addWidget(self.content, 1)
        self.role.currentTextChanged.connect(lambda _t: self.changed.emit())
        self.content.textChanged.connect(self.changed.emit)
        remove.clicked.connect(lambda: self.remove_requested.emit(self))

    def value(self) -> dict:
        return {"role": self.role.currentText(), "content": self.content.toPlainText()}


class EditorDialog(QDialog):
    saved = Signal(dict)  # the row, valid for the dataset's kind

    def __init__(self, studio, kind: str, row: dict | None = None, title: str = "Edit example", parent=None):
        super().__init__(parent)
        self.studio = studio
        self.kind = kind
        self._workers: set = set()
        self.setWindowTitle(title)
        self.resize(1100, 680)
        self._timer = QTimer(self)  # debounce: render and count once typing pauses
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._update_preview)
        row = row or ({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]}
                      if kind == "sft" else {"prompt": "", "chosen": "", "rejected": ""} if kind == "preference"
                      else {"prompt": "", "answer": ""})
        self.as_turns = "messages" in row
        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.addWidget(QLabel("<b>Conversation</b>" if self.as_turns else f"<b>{kind} row (JSON)</b>"))
        self.turns: list[TurnEditor] = []
        if self.as_turns:
            self.turn_box = QVBoxLayout()
            holder = QWidget()
            holder.setLayout(self.turn_box)
            self.turn_box.addStretch(1)
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setWidget(holder)
            ll.addWidget(scroll, 1)
            for m in row["messages"]:
                self.add_turn(m["role"], m["content"])
            add = QPushButton("Add turn")
            add.clicked.connect(lambda: self.add_turn("assistant" if self.turns and self.turns[-1].value()["role"] == "user" else "user", ""))
            ll.addWidget(add)
        else:
            self.json_edit = QPlainTextEdit(json.dumps(row, ensure_ascii=False, indent=2))
            self.json_edit.textChanged.connect(self._schedule)
            ll.addWidget(self.json_edit, 1)
        split.addWidget(left)
        right = QWidget()
        rl = QVBoxLayout(right)
        top = QHBoxLayout()
        top.addWidget(QLabel("Template"))
        self.template = QComboBox()
        from engines.templates import TEMPLATES, default_template_for

        for name, tpl in TEMPLATES.items():
            self.template.addItem(tpl.label, name)
        self.template.currentIndexChanged.connect(lambda _i: self._schedule())
        top.addWidget(self.template)
        top.addWidget(QLabel("Tokenizer"))
        self.tokenizer = QComboBox()
        self.tokenizer.setObjectName("tokenizerModel")
        self._base_templates: dict[str, str] = {}  # base name -> its default template (the table's count)
        for m in studio.registry.list(kind="base"):
            if m.format == "gguf":
                self.tokenizer.addItem(m.name, m.path)
                self._base_templates[m.name] = default_template_for(m.architecture)
        if not self.tokenizer.count():
            self.tokenizer.addItem("no base model (estimate)", None)
        self.tokenizer.currentIndexChanged.connect(self._tokenizer_changed)
        self._tokenizer_changed()
        top.addWidget(self.tokenizer)
        top.addStretch(1)
        self.token_label = QLabel("Tokens: …")
        self.token_label.setObjectName("tokenCount")
        top.addWidget(self.token_label)
        rl.addLayout(top)
        rl.addWidget(QLabel("Exact training text (what the chat template produces):"))
        self.preview = QPlainTextEdit()
        self.preview.setObjectName("templatePreview")
        self.preview.setReadOnly(True)
        rl.addWidget(self.preview, 1)
        self.problem = QLabel("")
        self.problem.setObjectName("editorProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c62828;")
        rl.addWidget(self.problem)
        split.addWidget(right)
        split.setSizes([550, 550])
        lay = QVBoxLayout(self)
        lay.addWidget(split, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        lay.addWidget(buttons)
        self._schedule()

    # ---- turns ----------------------------------------------------------------------------
    def add_turn(self, role: str, content: str) -> TurnEditor:
        t = TurnEditor(role, content)
        t.changed.connect(self._schedule)
        t.remove_requested.connect(self._remove_turn)
        self.turn_box.insertWidget(len(self.turns), t)
        self.turns.append(t)
        self._schedule()
        return t

    def _remove_turn(self, t: TurnEditor) -> None:
        self.turns.remove(t)
        t.setParent(None)
        t.deleteLater()
        self._schedule()

    def current_row(self) -> dict:
        if self.as_turns:
            return {"messages": [t.value() for t in self.turns]}
        return json.loads(self.json_edit.toPlainText())

    def _parsed_row(self) -> dict | None:
        """The row being edited, or None after saying in the problem line why its JSON does not parse."""
        try:
            return self.current_row()
        except json.JSONDecodeError as e:
            self.problem.setText(f"Not valid JSON: {e.msg} (line {e.lineno})")
            return None

    def _row_problems(self, row: dict) -> list[str]:
        shape = shapes.shape_for_kind(row, self.kind)
        return ["the row has none of the expected fields"] if shape is None else shapes.map_record(row, shape)[1]

    # ---- live preview ----------------------------------------------------------------------
    def _schedule(self) -> None:
        self._timer.start()

    def _update_preview(self) -> None:
        row = self._parsed_row()
        if row is None:
            return
        run_in_thread(self._render_and_count, self.template.currentData(), row,
                      self.tokenizer.currentText(), self.tokenizer.currentData(),
                      on_done=self._show_preview, on_error=self._preview_failed, owner=self)

    def _tokenizer_changed(self, _index: int = 0) -> None:
        """Each base counts with its own default template, as the table and the quality report do."""
        template = self._base_templates.get(self.tokenizer.currentText())
        if template is not None:
            self.template.setCurrentIndex(max(0, self.template.findData(template)))
        self._schedule()

    @staticmethod
    def _render_and_count(template: str, row: dict, model: str, gguf: str | None):
        """Worker thread: the rendered training text and its token count by the one row counter
        (studio.datasets.tokens: the base's tokenizer, BOS included), or the shared estimate."""
        from studio.datasets.tokens import RowCounter, counter_for, estimate_tokens, rendered_text

        text = rendered_text(row, template, bos_token="<bos>")
        if not gguf:
            return text, f"~{estimate_tokens(row)}", "no base model registered"
        return text, RowCounter(counter_for(gguf, model), template).count(row), model

    def _show_preview(self, result) -> None:
        text, n, source = result
        self.preview.setPlainText(text)
        default = self._base_templates.get(self.tokenizer.currentText())
        if default is not None and self.template.currentData() != default:
            source += f", {self.template.currentText()} template; the table counts with {default}"
        self.token_label.setText(f"Tokens: {n}  ({source})")
        try:
            problems = self._row_problems(self.current_row())
        except json.JSONDecodeError:
            problems = ["not valid JSON"]
        self.problem.setText("; ".join(problems))
        self.save_button.setEnabled(not problems)

    def _preview_failed(self, exc: Exception) -> None:
        self.preview.setPlainText("")
        self.problem.setText(exc.message if isinstance(exc, StudioError) else f"Cannot render: {exc}")

    def save(self) -> None:
        row = self._parsed_row()
        if row is None:
            return
        problems = self._row_problems(row)
        if problems:
            self.problem.setText("; ".join(problems))
            return
        self.saved.emit(row)
        self.accept()
