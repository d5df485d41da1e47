"""The Compare view: one prompt, two panes streaming side by side, and a vote.

Each pane is a mode and a model (plus an optional adapter): fast vs reasoning, or base vs
fine-tuned. Both run at once, each in its own model host. A vote (A / B / tie) is saved as a
row of a `preference` dataset the user names, which the reward-model and DPO trainers read.
"Blind" shuffles which configuration lands in which pane and hides it until after the vote.
"""

from __future__ import annotations

import random

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ui.chat_stream import TurnRunner
from ui.chat_widgets import MessageBubble
from ui.model_watch import fill_combo, mark_active, watcher_for
from ui.widgets import wrapped_label

MODE_ITEMS = (("Fast", "fast"), ("Reasoning", "reasoning"), ("Auto", "auto"))


class ComparePane(QFrame):
    done = Signal()

    def __init__(self, name: str, slot: str, chat, parent: QWidget | None = None):
        super().__init__(parent)
        self.name = name
        self.slot = slot
        self.chat = chat
        self.setObjectName(f"comparePane{name}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.title = QLabel(f"<b>{name}</b>")
        lay.addWidget(self.title)
        self.config_row = QWidget()
        row = QHBoxLayout(self.config_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.mode = QComboBox()
        for label, key in MODE_ITEMS:
            self.mode.addItem(label, key)
        # each pane is half the column: the combos shrink (eliding) rather than push the pane wider,
        # and their popups and tooltips show the full names
        self.model = QComboBox()
        self.model.setObjectName(f"compareModel{name}")
        self.adapter = QComboBox()
        self.adapter.setObjectName(f"compareAdapter{name}")
        for combo in (self.model, self.adapter):
            combo.setMinimumContentsLength(6)
            combo.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.adapter.currentIndexChanged.connect(self._mark_adapter)
        row.addWidget(self.mode)
        row.addWidget(self.model, 3)
        row.addWidget(self.adapter, 2)
        lay.addWidget(self.config_row)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        holder = QWidget()
        hl = QVBoxLayout(holder)
        hl.setContentsMargins(0, 0, 0, 0)
        self.bubble = MessageBubble("assistant")
        self.bubble.buttons["Regenerate"].setVisible(False)
        self.bubble.header.setText("Waiting for a prompt")
        hl.addWidget(self.bubble)
        hl.addStretch(1)
        self.scroll.setWidget(holder)
        lay.addWidget(self.scroll, 1)
        self.runner = TurnRunner(self)
        self.runner.events.connect(self._on_events)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.result: dict | None = None
        self.error: str | None = None
        self._hidden = 0

    def set_choices(self, choices: dict) -> None:
        """Fill the pickers (again, after a registry change), keeping what each pane had chosen;
        a fresh pane starts on the chat's default (the starter assistant when installed)."""
        fresh = self.model.count() == 0
        fill_combo(self.model, [(m["name"], m["name"]) for m in choices["models"]])
        fill_combo(self.adapter, [("No adapter", None)] + [(a["name"], a["name"]) for a in choices["adapters"]])
        if fresh:
            pick = self.chat.default_pick()
            for combo, name in ((self.model, pick.get("model")), (self.adapter, pick.get("adapter"))):
                if name is not None and combo.findData(name) >= 0:
                    combo.setCurrentIndex(combo.findData(name))
        for combo in (self.model, self.adapter):  # fill_combo sizes to content; a pane must not grow
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self._mark_adapter()

    def _mark_adapter(self, *_a) -> None:
        mark_active(self.adapter)

    def config(self) -> dict:
        return {"mode": self.mode.currentData(), "model": self.model.currentData(), "adapter": self.adapter.currentData()}

    def describe(self, cfg: dict | None = None) -> str:
        cfg = cfg or self.config()
        label = dict((k, l) for l, k in MODE_ITEMS)[cfg["mode"]]
        return f"{label} · {cfg['model'] or 'default model'}" + (f" + {cfg['adapter']}" if cfg.get("adapter") else "")

    def run(self, prompt: str, cfg: dict, settings: dict) -> None:
        self.result, self.error, self._hidden = None, None, 0
        self.bubble.set_text("")
        self.bubble.thinking.set_text("")
        self.bubble.thinking_text = ""
        self.bubble.thinking.setVisible(False)
        self.bubble.stats.setVisible(False)
        self.bubble.header.setText("Answering…")
        chat, slot = self.chat, self.slot
        self.runner.start(lambda ev, stop: chat.run_pane(prompt, cfg, slot=slot, on_event=ev, should_stop=stop, settings=settings))

    def _on_events(self, batch: list[dict]) -> None:
        answer, thinking = [], []
        for ev in batch:
            if ev.get("type") == "answer":
                answer.append(ev["text"])
            elif ev.get("type") == "thinking":
                thinking.append(ev["text"])
                self._hidden += 1
        if thinking:
            self.bubble.append_thinking("".join(thinking), self._hidden)
        if answer:
            self.bubble.append_text("".join(answer))

    def _on_finished(self, result: dict) -> None:
        self.result = result
        self.bubble.set_text(result["answer"])
        if result["thinking"]:
            self.bubble.thinking.setVisible(True)
            self.bubble.thinking.set_text(result["thinking"])
            st = result["stats"]
            self.bubble.thinking.set_done(st.get("thinking_s", 0.0), st["hidden_tokens"], result["meta"].get("budget_forced", False))
        self.bubble.set_stats(result["stats"], "stopped" if result["meta"].get("stopped") else "")
        self.bubble.header.setText("Answer" + (f" · auto → {result['mode']}: {result['route_reason']}" if result.get("route_reason") else ""))
        self.done.emit()

    def _on_failed(self, exc) -> None:
        self.error = getattr(exc, "message", None) or str(exc)
        hint = getattr(exc, "hint", None)
        self.bubble.set_text(f"**Error:** {self.error}" + (f"\n\n{hint}" if hint else ""))
        self.bubble.header.setText("Failed")
        self.done.emit()


class CompareView(QWidget):
    """`settings` (optional) returns the sampling and thinking settings both panes use, so the
    Compare view follows the Chat page's settings panel."""

    def __init__(self, studio, chat, parent: QWidget | None = None, settings=None):
        super().__init__(parent)
        self._settings = settings
        self.studio = studio
        self.chat = chat
        self.setObjectName("compareView")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.prompt = QPlainTextEdit()
        self.prompt.setObjectName("comparePrompt")
        self.prompt.setPlaceholderText("One prompt, two answers side by side")
        self.prompt.setFixedHeight(60)
        top.addWidget(self.prompt, 1)
        side = QVBoxLayout()
        self.run_button = QPushButton("Run both")
        self.run_button.setObjectName("compareRun")
        self.run_button.clicked.connect(self._run_or_stop)
        side.addWidget(self.run_button)
        self.blind = QCheckBox("Blind")
        self.blind.setObjectName("compareBlind")
        self.blind.setToolTip("Shuffle the panes and hide which is which until you vote")
        self.blind.toggled.connect(self._blind_toggled)
        side.addWidget(self.blind)
        top.addLayout(side)
        lay.addLayout(top)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.pane_a = ComparePane("A", "compare-a", chat)
        self.pane_b = ComparePane("B", "compare-b", chat)
        split.addWidget(self.pane_a)
        split.addWidget(self.pane_b)
        lay.addWidget(split, 1)
        for p in (self.pane_a, self.pane_b):
            p.done.connect(self._pane_done)

        vote = QHBoxLayout()
        self.vote_buttons = {}
        for key, text in (("a", "A is better"), ("tie", "Tie"), ("b", "B is better")):
            b = QPushButton(text)
            b.setObjectName(f"vote_{key}")
            b.setEnabled(False)
            b.clicked.connect(lambda _c=False, k=key: self.vote(k))
            vote.addWidget(b)
            self.vote_buttons[key] = b
        self.score_button = QPushButton("Score with reward model")
        self.score_button.setObjectName("scoreButton")
        self.score_button.setEnabled(False)
        self.score_button.clicked.connect(self._score)
        vote.addWidget(self.score_button)
        vote.addStretch(1)
        lay.addLayout(vote)
        save = QHBoxLayout()
        save.addWidget(QLabel("Votes go to the preference dataset"))
        self.dataset = QComboBox()
        self.dataset.setObjectName("compareDataset")
        self.dataset.setEditable(True)
        self.dataset.setMinimumContentsLength(14)
        self.dataset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        save.addWidget(self.dataset)
        save.addStretch(1)
        lay.addLayout(save)
        self.status = wrapped_label("", "compareStatus")
        lay.addWidget(self.status)

        self._reward_models: list[str] = []
        self.refresh_models()
        self.pane_b.mode.setCurrentIndex(1)  # the common case: fast vs reasoning
        watcher_for(studio).changed.connect(lambda _changes: self.refresh_models())
        self._load_datasets()
        self._scorer = TurnRunner(self)
        self._scorer.finished.connect(self._scored)
        self._scorer.failed.connect(self._score_failed)
        self._assignment: dict[str, dict] = {}
        self._prompt_text = ""
        self._voted = False

    def refresh_models(self) -> None:
        self._choices = self.chat.model_choices()
        for p in (self.pane_a, self.pane_b):
            p.set_choices(self._choices)
        self._reward_models = [m.name for m in self.studio.registry.list() if (m.meta or {}).get("method") == "reward"]
        self._update_score_button()

    def _update_score_button(self) -> None:
        answered = self.pane_a.result is not None and self.pane_b.result is not None and not self.running
        self.score_button.setEnabled(bool(self._reward_models) and answered)
        if not self._reward_models:
            self.score_button.setToolTip("No reward model yet: train one in the Train page (method: reward model) "
                                         "from a preference dataset such as your votes")
        elif not answered:
            self.score_button.setToolTip("Run both panes first: the reward model scores the two answers")
        else:
            self.score_button.setToolTip("Score both answers with " + ", ".join(self._reward_models))

    def _load_datasets(self) -> None:
        from sqlalchemy import select

        from studio.db import Dataset

        with self.studio.db.session() as s:
            names = list(s.scalars(select(Dataset.name).where(Dataset.kind == "preference").order_by(Dataset.name)))
        current = self.dataset.currentText()
        self.dataset.clear()
        self.dataset.addItems(names or ["chat-votes"])
        if current:
            self.dataset.setCurrentText(current)

    @property
    def running(self) -> bool:
        return self.pane_a.runner.running or self.pane_b.runner.running

    def _run_or_stop(self) -> None:
        if self.running:
            self.pane_a.runner.stop()
            self.pane_b.runner.stop()
        else:
            self.run(self.prompt.toPlainText())

    def run(self, prompt: str, settings: dict | None = None) -> None:
        prompt = prompt.strip()
        if not prompt or self.running:
            return
        cfg_a, cfg_b = self.pane_a.config(), self.pane_b.config()
        if self.blind.isChecked() and random.random() < 0.5:
            cfg_a, cfg_b = cfg_b, cfg_a
        self._assignment = {"a": cfg_a, "b": cfg_b}
        self._prompt_text = prompt
        self._voted = False
        self._set_blind_labels()
        for b in self.vote_buttons.values():
            b.setEnabled(False)
        self.status.setText("Both panes are answering…")
        self.run_button.setText("Stop")
        settings = dict(settings if settings is not None else (self._settings() if self._settings else {}))
        self.pane_a.run(prompt, cfg_a, settings)
        self.pane_b.run(prompt, cfg_b, settings)
        self._update_score_button()

    def _set_blind_labels(self) -> None:
        hide = self.blind.isChecked() and not self._voted
        for key, pane in (("a", self.pane_a), ("b", self.pane_b)):
            pane.config_row.setVisible(not self.blind.isChecked())
            cfg = self._assignment.get(key)
            pane.title.setText(f"<b>{key.upper()}</b>" + ("" if hide or not cfg else f" · {pane.describe(cfg)}"))

    def _blind_toggled(self, _on: bool) -> None:
        self._set_blind_labels()

    def _pane_done(self) -> None:
        if self.running:
            return
        self.run_button.setText("Run both")
        ok = self.pane_a.result is not None and self.pane_b.result is not None
        for b in self.vote_buttons.values():
            b.setEnabled(ok)
        self._update_score_button()
        self.status.setText("Which answer is better?" if ok else "A pane failed: see its message.")

    def vote(self, choice: str) -> dict | None:
        if self.pane_a.result is None or self.pane_b.result is None or self._voted:
            return None
        try:
            out = self.chat.vote(
                self._prompt_text, self.pane_a.result["answer"], self.pane_b.result["answer"], choice,
                self.dataset.currentText(),
                meta={"a": self.pane_a.describe(self._assignment["a"]), "b": self.pane_b.describe(self._assignment["b"])},
            )
        except Exception as e:  # noqa: BLE001 - a StudioError names the fix
            from ui.errors import report

            report(e)
            return None
        self._voted = True
        for b in self.vote_buttons.values():
            b.setEnabled(False)
        self._set_blind_labels()
        reveal = f"A was {self.pane_a.describe(self._assignment['a'])}; B was {self.pane_b.describe(self._assignment['b'])}."
        if out["saved"]:
            self.status.setText(f"Saved to {out['dataset']} (version {out['version']}, {out['rows']} rows). {reveal}")
        else:
            self.status.setText(f"Tie: {out['reason']}. {reveal}")
        self._load_datasets()
        return out

    def _score(self) -> None:
        """Score both answers with a trained reward model (the preference area), off the GUI thread."""
        names = self._reward_models
        if not names:  # the button is disabled then; a stale click says why instead of failing
            self.status.setText(self.score_button.toolTip())
            return
        name, ok = QInputDialog.getItem(self, "Reward model", "Score with:", names, 0, False)
        if not ok or self._scorer.running:
            return
        prompt, answers = self._prompt_text, [self.pane_a.result["answer"], self.pane_b.result["answer"]]
        studio = self.studio

        def score(_on_event, _should_stop):
            from studio.training.preference import score_answers

            return score_answers(studio, name, prompt, answers)

        self.status.setText(f"Scoring with {name}… (the first time loads the model)")
        self._scorer_name = name
        self._scorer.start(score)

    def _scored(self, scores) -> None:
        self.status.setText(f"Reward model {self._scorer_name}: A {scores[0]:.3f} · B {scores[1]:.3f}")

    def _score_failed(self, exc) -> None:
        from ui.errors import report

        self.status.setText("Scoring failed.")
        report(exc)

    def shutdown(self) -> None:
        self.pane_a.runner.stop()
        self.pane_b.runner.stop()
