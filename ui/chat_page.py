"""The Chat page: conversations, streaming answers, fast / reasoning / auto modes, compare.

Layout: conversation list (search, new, rename, delete) | header with the model picker and
the conversation's totals, the transcript, the composer (mode switch, Send/Stop) | settings.
A turn runs on a worker thread through `ChatService` (ui.chat_stream.TurnRunner); tokens come
back in batches, so the window stays responsive. The model host is a child process: if it
crashes, the error is shown and the next message starts a new one.
Building the page is cheap (no model is loaded until the first message).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.chat import ChatService
from ui.chat_stream import TurnRunner
from ui.chat_widgets import MessageBubble, format_totals
from ui.context_meter import ContextMeter
from ui.mcp_settings import McpSettingsDialog, ToolConfirmer
from ui.labels import ElidedLabel
from ui.model_watch import fill_combo, mark_active, watcher_for

REMOTE_ITEM = "Remote server (OpenAI-compatible)…"
MODE_LABELS = {"fast": "Fast", "reasoning": "Reasoning", "auto": "Auto"}


class ChatPage(QWidget):
    def __init__(self, studio, parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self.chat = ChatService(studio)
        self.chat.confirm_tool = ToolConfirmer(self).ask  # MCP tools not marked read-only ask first
        self.conv_id: int | None = None
        self.pending_settings: dict = {}  # settings chosen before the first message creates a conversation
        self.editing_message: int | None = None
        self.runner = TurnRunner(self)
        self.runner.events.connect(self._on_events)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self._bubble: MessageBubble | None = None
        self._hidden = 0
        self._last_route: dict | None = None
        self.compare = None
        self._build()
        self.refresh_conversations()
        QTimer.singleShot(0, self._load_models)  # the registry query after the first paint
        watcher_for(studio).changed.connect(lambda _changes: self._load_models())

    # ---- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        root = QHBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        split = QSplitter(Qt.Orientation.Horizontal)
        root.addWidget(split)

        # conversations
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(8, 8, 4, 8)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search conversations")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.textChanged.connect(lambda _t: self._search_timer.start())
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self.refresh_conversations)
        ll.addWidget(self.search_box)
        self.conv_list = QListWidget()
        self.conv_list.setObjectName("conversationList")
        self.conv_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.conv_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conv_list.setWordWrap(False)
        self.conv_list.itemClicked.connect(lambda it: self.open_conversation(it.data(Qt.ItemDataRole.UserRole)))
        ll.addWidget(self.conv_list, 1)
        self.conv_empty = QLabel()  # stands in for an empty list: what will be here, and how
        self.conv_empty.setObjectName("conversationsEmpty")
        self.conv_empty.setWordWrap(True)
        self.conv_empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.conv_empty.setStyleSheet("color: palette(placeholder-text); padding: 6px;")
        self.conv_empty.setVisible(False)
        ll.addWidget(self.conv_empty, 1)
        row = QHBoxLayout()
        for text, slot in (("New", self.new_conversation), ("Rename", self.rename_conversation), ("Delete", self.delete_conversation)):
            b = QPushButton(text)
            b.setObjectName(f"conv{text}")
            b.clicked.connect(slot)
            row.addWidget(b)
        ll.addLayout(row)
        split.addWidget(left)

        # the chat column
        mid = QWidget()
        ml = QVBoxLayout(mid)
        ml.setContentsMargins(8, 8, 8, 8)
        head = QHBoxLayout()
        self.title_label = ElidedLabel("New chat")
        self.title_label.setObjectName("pageTitle")
        self.title_label.setMinimumWidth(60)
        head.addWidget(self.title_label, 1)
        # the pickers get a row of their own, so full model names never squeeze the title
        picks = QHBoxLayout()
        picks.addWidget(QLabel("Model"))
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("modelCombo")
        self.model_combo.activated.connect(self._model_picked)
        picks.addWidget(self.model_combo)
        picks.addWidget(QLabel("Adapter"))
        self.adapter_combo = QComboBox()
        self.adapter_combo.setObjectName("adapterCombo")
        self.adapter_combo.activated.connect(self._model_picked)
        picks.addWidget(self.adapter_combo)
        picks.addStretch(1)
        self.compare_button = QToolButton()
        self.compare_button.setText("Compare")
        self.compare_button.setObjectName("compareToggle")
        self.compare_button.setCheckable(True)
        self.compare_button.toggled.connect(self.show_compare)
        head.addWidget(self.compare_button)
        self.settings_button = QToolButton()
        self.settings_button.setText("Settings")
        self.settings_button.setCheckable(True)
        self.settings_button.setChecked(True)
        head.addWidget(self.settings_button)
        ml.addLayout(head)
        ml.addLayout(picks)
        self.totals_label = QLabel("No turns yet")
        self.totals_label.setObjectName("totalsLabel")
        self.totals_label.setStyleSheet("color: palette(mid);")
        ml.addWidget(self.totals_label)
        self.context_meter = ContextMeter()
        ml.addWidget(self.context_meter)

        self.banner = QFrame()
        self.banner.setObjectName("baseModelBanner")
        self.banner.setStyleSheet("#baseModelBanner { background: rgba(255, 193, 7, 40); border-radius: 4px; }")
        bl = QHBoxLayout(self.banner)
        bl.setContentsMargins(8, 4, 8, 4)
        self.banner_label = QLabel(
            "This is a base model: semi-finished. It continues text rather than following instructions. "
            "Fine-tune it into an assistant with the wizard."
        )
        self.banner_label.setWordWrap(True)
        bl.addWidget(self.banner_label, 1)
        wiz = QPushButton("Open the fine-tune wizard")
        wiz.setObjectName("openWizard")
        wiz.clicked.connect(self._open_wizard)
        bl.addWidget(wiz)
        self.banner.setVisible(False)
        ml.addWidget(self.banner)

        self.center = QStackedWidget()
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.transcript = QWidget()
        self.transcript.setObjectName("transcript")
        self.tl = QVBoxLayout(self.transcript)
        self.tl.setContentsMargins(4, 4, 4, 4)
        self.tl.setSpacing(8)
        self.empty_label = QLabel("Ask anything. Fast answers at once; Reasoning thinks first; Auto decides per question.")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color: palette(mid);")
        self.tl.addWidget(self.empty_label)
        self.tl.addStretch(1)
        self.scroll.setWidget(self.transcript)
        # follow the stream (and the finished answer) unless the user scrolled up to read
        self._follow = True
        bar = self.scroll.verticalScrollBar()
        bar.valueChanged.connect(lambda v: setattr(self, "_follow", v >= bar.maximum() - 40))
        bar.rangeChanged.connect(lambda _lo, hi: bar.setValue(hi) if self._follow else None)
        self.center.addWidget(self.scroll)
        ml.addWidget(self.center, 1)

        # the route decision, with an override
        rrow = QHBoxLayout()
        self.route_label = QLabel("")
        self.route_label.setObjectName("routeLabel")
        rrow.addWidget(self.route_label, 1)
        self.override_button = QPushButton("")
        self.override_button.setObjectName("overrideRoute")
        self.override_button.setVisible(False)
        self.override_button.clicked.connect(self._override_route)
        rrow.addWidget(self.override_button)
        self.route_row = QWidget()
        self.route_row.setLayout(rrow)
        rrow.setContentsMargins(0, 0, 0, 0)
        ml.addWidget(self.route_row)

        # composer
        self.composer = QWidget()
        cl = QVBoxLayout(self.composer)
        cl.setContentsMargins(0, 0, 0, 0)
        self.edit_banner = QLabel("")
        self.edit_banner.setVisible(False)
        cl.addWidget(self.edit_banner)
        crow = QHBoxLayout()
        self.input = QPlainTextEdit()
        self.input.setObjectName("chatInput")
        self.input.setPlaceholderText("Message (Ctrl+Enter to send)")
        self.input.setFixedHeight(70)
        self.input.installEventFilter(self)
        crow.addWidget(self.input, 1)
        side = QVBoxLayout()
        modes = QHBoxLayout()
        modes.setSpacing(0)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QToolButton] = {}
        for key, label in MODE_LABELS.items():
            b = QToolButton()
            b.setText(label)
            b.setCheckable(True)
            b.setObjectName(f"mode_{key}")
            b.setToolTip({
                "fast": "System 1: answer at once, no thinking",
                "reasoning": "System 2: think in hidden tokens first, then answer",
                "auto": "Estimate the difficulty of each question and pick Fast or Reasoning",
            }[key])
            self.mode_group.addButton(b)
            self.mode_buttons[key] = b
            modes.addWidget(b)
        self.mode_buttons["fast"].setChecked(True)
        self.mode_group.buttonClicked.connect(self._mode_changed)
        side.addLayout(modes)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self._send_or_stop)
        side.addWidget(self.send_button)
        crow.addLayout(side)
        cl.addLayout(crow)
        ml.addWidget(self.composer)
        split.addWidget(mid)

        # settings
        self.settings_panel = self._build_settings()
        split.addWidget(self.settings_panel)
        self.settings_button.toggled.connect(self.settings_panel.setVisible)
        split.setSizes([220, 760, 280])
        split.setStretchFactor(1, 1)

    def _build_settings(self) -> QWidget:
        box = QScrollArea()
        box.setWidgetResizable(True)
        box.setMinimumWidth(250)
        inner = QWidget()
        form = QFormLayout(inner)
        form.setContentsMargins(6, 8, 8, 8)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow(QLabel("<b>Conversation settings</b>"))
        self.system_edit = QPlainTextEdit()
        self.system_edit.setObjectName("systemPrompt")
        self.system_edit.setPlaceholderText("System prompt (optional)")
        self.system_edit.setFixedHeight(64)
        form.addRow(QLabel("System prompt"))
        form.addRow(self.system_edit)
        self.temp_spin = _dspin(0, 2, 0.05, 0.7)
        form.addRow("Temperature", self.temp_spin)
        self.top_p_spin = _dspin(0.05, 1, 0.05, 0.95)
        form.addRow("Top-p", self.top_p_spin)
        self.max_fast = _spin(1, 8192, 256)
        form.addRow("Max tokens (fast)", self.max_fast)
        self.max_reason = _spin(1, 8192, 512)
        form.addRow("Max tokens (reasoning)", self.max_reason)
        self.budget_spin = _spin(1, 32768, 512)
        self.budget_spin.setToolTip("Budget forcing: at this many hidden tokens the app ends the thinking and the model answers")
        form.addRow("Thinking budget", self.budget_spin)
        self.min_spin = _spin(0, 32768, 0)
        self.min_spin.setToolTip("Think at least this long: an early end of thinking becomes 'Wait,' (s1)")
        form.addRow("Min thinking", self.min_spin)
        self.calc_box = QCheckBox("Exact arithmetic in thinking")
        self.calc_box.setObjectName("thinkCalculator")
        self.calc_box.setChecked(True)
        self.calc_box.setToolTip("Reasoning turns: when a thinking line ends in arithmetic and \"=\", the calculator "
                                 "writes the result and the model goes on (the digits are exact, a result that does not end is "
                                 "rounded to 4 decimals; the plan is the model's)")
        form.addRow(self.calc_box)
        self.calc_box.toggled.connect(self._settings_changed)
        self.reason_model = QComboBox()
        self.reason_model.setObjectName("reasoningModelCombo")
        self.reason_model.setMinimumContentsLength(14)
        self.reason_model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.reason_model.setToolTip("A larger model for Reasoning turns; Fast turns use the model in the header")
        form.addRow("Reasoning model", self.reason_model)
        self.classifier_box = QCheckBox("Use the trained router classifier")
        self.classifier_box.setChecked(True)
        form.addRow(self.classifier_box)
        self.lookup_box = QCheckBox("Prompt-lookup decoding")
        self.lookup_box.setObjectName("promptLookup")
        self.lookup_box.setToolTip("n-gram speculative decoding drafted from the conversation: the same answers, "
                                   "sooner on rewrites and summaries (bench/speculative.py). Off by default.")
        form.addRow(self.lookup_box)
        self.lookup_box.toggled.connect(self._settings_changed)
        for w in (self.temp_spin, self.top_p_spin, self.max_fast, self.max_reason, self.budget_spin, self.min_spin):
            w.valueChanged.connect(self._settings_changed)
        self.system_edit.textChanged.connect(self._settings_changed)
        self.reason_model.activated.connect(self._settings_changed)
        self.classifier_box.toggled.connect(self._settings_changed)

        form.addRow(QLabel("<b>Prices per 1k tokens</b>"))
        prices = self.chat.prices()
        self.price_visible = _dspin(0, 1000, 0.001, prices.visible_per_1k, decimals=4)
        self.price_hidden = _dspin(0, 1000, 0.001, prices.hidden_per_1k, decimals=4)
        self.price_prompt = _dspin(0, 1000, 0.001, prices.prompt_per_1k, decimals=4)
        form.addRow("Visible", self.price_visible)
        form.addRow("Hidden (thinking)", self.price_hidden)
        form.addRow("Prompt", self.price_prompt)
        for w in (self.price_visible, self.price_hidden, self.price_prompt):
            w.valueChanged.connect(self._prices_changed)

        form.addRow(QLabel("<b>Tools</b>"))
        self.tools_list = QListWidget()
        self.tools_list.setObjectName("toolsList")
        self.tools_list.setMaximumHeight(120)
        self.tools_list.itemChanged.connect(self._settings_changed)
        form.addRow(self.tools_list)
        self.tools_note = QLabel("")
        self.tools_note.setWordWrap(True)
        form.addRow(self.tools_note)
        mcp = QPushButton("MCP servers…")
        mcp.setObjectName("mcpServersButton")
        mcp.clicked.connect(self.open_mcp_settings)
        form.addRow(mcp)
        box.setWidget(inner)
        self._loading_settings = False
        return box

    def _set_title(self, title: str) -> None:
        self.title_label.setText(title)

    # ---- models -----------------------------------------------------------------------------
    def _load_models(self) -> None:
        try:
            choices = self.chat.model_choices()
        except Exception as e:  # noqa: BLE001 - a broken registry must not break the page
            from ui.errors import report

            report(e)
            return
        self._choices = choices
        for combo, first in ((self.model_combo, None), (self.reason_model, "Same as chat")):
            remotes = [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())
                       if str(combo.itemData(i) or "").startswith("http")]
            fill_combo(combo, ([(first, None)] if first else []) + [(m["name"], m["name"]) for m in choices["models"]]
                       + remotes + [(REMOTE_ITEM, "__remote__")])
        tips = {a["name"]: f"{a['name']}\nLoRA on {a['base'] or 'its base model'}" for a in choices["adapters"]}
        fill_combo(self.adapter_combo, [("No adapter", None)] + [(a["name"], a["name"]) for a in choices["adapters"]], tips=tips)
        if not self.tools_list.count():
            self._load_tools()
        self._apply_settings_to_widgets()

    def open_mcp_settings(self) -> None:
        McpSettingsDialog(self.studio, self).exec()
        self._load_tools()
        self._apply_settings_to_widgets()

    def _load_tools(self) -> None:
        self.tools_list.blockSignals(True)
        self.tools_list.clear()
        try:
            from studio.tools import available_tools

            tools = available_tools(self.studio)
        except Exception as e:  # noqa: BLE001
            tools = []
            self.tools_note.setText(f"Tools unavailable: {e}")
        for t in tools:
            it = QListWidgetItem(t["name"])
            it.setToolTip(t.get("description", ""))
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Unchecked)
            self.tools_list.addItem(it)
        if not tools and not self.tools_note.text():
            self.tools_note.setText("No tools are installed.")
        self.tools_list.blockSignals(False)

    def _pick_remote(self, combo: QComboBox) -> str | None:
        url, ok = QInputDialog.getText(
            self, "Remote server", "OpenAI-compatible server URL, optionally #model (e.g. http://gpu-box:8080#qwen3-8b):"
        )
        url = url.strip()
        if not ok or not url:
            return None
        if not url.startswith(("http://", "https://")):
            QMessageBox.warning(self, "Remote server", "The address must start with http:// or https://")
            return None
        combo.insertItem(combo.count() - 1, url, url)
        combo.setCurrentIndex(combo.count() - 2)
        return url

    def _model_picked(self, _i: int = 0) -> None:
        if self.model_combo.currentData() == "__remote__" and not self._pick_remote(self.model_combo):
            self._apply_settings_to_widgets()
            return
        self._settings_changed()

    def _current_pick(self) -> dict:
        return {"model": self.model_combo.currentData(), "adapter": self.adapter_combo.currentData()}

    def _update_banner(self) -> None:
        mark_active(self.adapter_combo)
        try:
            r = self.chat.model_for_mode(self._conv_dict(), "fast")
            self.banner.setVisible(r.is_base)
        except Exception:  # noqa: BLE001 - a missing model shows its error when used
            self.banner.setVisible(False)

    def _open_wizard(self):
        """The fine-tune wizard with the model this chat uses preselected as the base."""
        base = self.model_combo.currentData()
        if not base or base == "__remote__" or str(base).startswith("http"):
            try:
                base = self.chat.model_for_mode(self._conv_dict(), "fast").names.get("model")
            except Exception:  # noqa: BLE001 - no model: the wizard says what to import
                base = None
        win = self.window()
        if hasattr(win, "show_page"):
            page = win.show_page("train")
            if hasattr(page, "open_wizard"):
                return page.open_wizard({"base": base} if base else None)
        return None

    # ---- settings ---------------------------------------------------------------------------
    def _conv_dict(self) -> dict:
        if self.conv_id is None:
            return {"settings": dict(self.pending_settings)}
        return self.chat.get_conversation(self.conv_id)

    def _apply_settings_to_widgets(self) -> None:
        conv = self._conv_dict()
        st = self.chat.effective_settings(conv)
        self._loading_settings = True
        try:
            self.system_edit.setPlainText(st["system_prompt"])
            self.temp_spin.setValue(float(st["temperature"]))
            self.top_p_spin.setValue(float(st["top_p"]))
            self.max_fast.setValue(int(st["max_tokens_fast"]))
            self.max_reason.setValue(int(st["max_tokens_reasoning"]))
            self.budget_spin.setValue(int(st["think_budget"]))
            self.min_spin.setValue(int(st["think_min"]))
            self.classifier_box.setChecked(bool(st["use_router_classifier"]))
            self.lookup_box.setChecked(bool(st.get("prompt_lookup")))
            self.calc_box.setChecked(bool(st.get("think_calculator", True)))
            models = st.get("models") or {}
            fast = models.get("fast") or self.chat.default_pick()  # nothing chosen: show what will run
            _select(self.model_combo, fast.get("model"))
            _select(self.adapter_combo, fast.get("adapter"))
            reason = models.get("reasoning") or {}
            same = reason == fast or not reason
            _select(self.reason_model, None if same else reason.get("model"))
            enabled = set(st.get("tools") or [])
            for i in range(self.tools_list.count()):
                it = self.tools_list.item(i)
                it.setCheckState(Qt.CheckState.Checked if it.text() in enabled else Qt.CheckState.Unchecked)
            mode = conv.get("mode") or self.pending_settings.get("_mode", "fast")
            self.mode_buttons.get(mode, self.mode_buttons["fast"]).setChecked(True)
        finally:
            self._loading_settings = False
        self._update_banner()

    def _collect_settings(self) -> dict:
        pick = self._current_pick()
        reason_model = self.reason_model.currentData()
        if reason_model == "__remote__":
            reason_model = self._pick_remote(self.reason_model)
        reason = {"model": reason_model, "adapter": None} if reason_model else pick
        tools = [self.tools_list.item(i).text() for i in range(self.tools_list.count())
                 if self.tools_list.item(i).checkState() == Qt.CheckState.Checked]
        return {
            "system_prompt": self.system_edit.toPlainText(),
            "temperature": self.temp_spin.value(),
            "top_p": self.top_p_spin.value(),
            "max_tokens_fast": self.max_fast.value(),
            "max_tokens_reasoning": self.max_reason.value(),
            "think_budget": self.budget_spin.value(),
            "think_min": min(self.min_spin.value(), self.budget_spin.value()),
            "models": {"fast": pick, "reasoning": reason},
            "tools": tools,
            "use_router_classifier": self.classifier_box.isChecked(),
            "prompt_lookup": self.lookup_box.isChecked(),
            "think_calculator": self.calc_box.isChecked(),
        }

    def _settings_changed(self, *_a) -> None:
        if self._loading_settings:
            return
        st = self._collect_settings()
        if self.conv_id is None:
            self.pending_settings.update(st)
        else:
            self.chat.update_settings(self.conv_id, **st)
        self._update_banner()

    def _prices_changed(self, *_a) -> None:
        self.chat.set_prices(
            visible_per_1k=self.price_visible.value(), hidden_per_1k=self.price_hidden.value(), prompt_per_1k=self.price_prompt.value()
        )

    def mode(self) -> str:
        return next(k for k, b in self.mode_buttons.items() if b.isChecked())

    def set_mode(self, mode: str) -> None:
        self.mode_buttons[mode].setChecked(True)
        self._mode_changed()

    def _mode_changed(self, *_a) -> None:
        if self.conv_id is not None:
            self.chat.set_mode(self.conv_id, self.mode())
        else:
            self.pending_settings["_mode"] = self.mode()

    # ---- conversations ------------------------------------------------------------------------
    def refresh_conversations(self) -> None:
        q = self.search_box.text().strip()
        rows = self.chat.search(q) if q else self.chat.list_conversations()
        self.conv_list.clear()
        for c in rows:
            label = c["title"] + (f"\n{c['snippet']}" if c.get("snippet") else "")
            it = QListWidgetItem(label)
            it.setData(Qt.ItemDataRole.UserRole, c["id"])
            it.setToolTip(f"{MODE_LABELS.get(c['mode'], c['mode'])} · updated {c['updated_at'][:16].replace('T', ' ')}")
            self.conv_list.addItem(it)
            if c["id"] == self.conv_id:
                it.setSelected(True)
        if q:
            self.conv_empty.setText(f"No conversation mentions “{q}”. Clear the search to see them all.")
        else:
            self.conv_empty.setText("No conversations yet. Type a message on the right and press Send: "
                                    "each chat is saved here under its first words, to reopen, rename or search.")
        self.conv_list.setVisible(bool(rows))
        self.conv_empty.setVisible(not rows)

    def new_conversation(self) -> None:
        if self.runner.running:
            return
        self.conv_id = None
        self.pending_settings = {"_mode": self.mode()}
        self._clear_transcript()
        self._set_title("New chat")
        self.totals_label.setText("No turns yet")
        self.context_meter.show_context(None)
        self.route_label.setText("")
        self.override_button.setVisible(False)
        self._settings_changed()

    def open_conversation(self, conv_id: int) -> None:
        if self.runner.running:
            return
        conv = self.chat.get_conversation(conv_id)
        self.conv_id = conv_id
        self._clear_transcript()
        for m in conv["messages"]:
            if m["role"] in ("user", "assistant"):
                self._add_bubble(m["role"], m)
        self._set_title(conv["title"])
        self._refresh_totals()
        self._apply_settings_to_widgets()
        last = next((m for m in reversed(conv["messages"]) if m["role"] == "assistant"), None)
        self._show_route((last or {}).get("meta", {}).get("route"))
        self.context_meter.show_context((last or {}).get("meta", {}).get("context"))
        QTimer.singleShot(0, self._scroll_to_end)

    def rename_conversation(self) -> None:
        if self.conv_id is None:
            return
        title, ok = QInputDialog.getText(self, "Rename conversation", "Title:", text=self.title_label.text())
        if ok and title.strip():
            self.chat.rename(self.conv_id, title)
            self._set_title(title.strip())
            self.refresh_conversations()

    def delete_conversation(self) -> None:
        if self.conv_id is None or self.runner.running:
            return
        if QMessageBox.question(self, "Delete conversation", f"Delete “{self.title_label.text()}” and its messages?") != QMessageBox.StandardButton.Yes:
            return
        self.chat.delete_conversation(self.conv_id)
        self.new_conversation()
        self.refresh_conversations()

    # ---- transcript ----------------------------------------------------------------------------
    def _clear_transcript(self) -> None:
        while self.tl.count() > 2:
            w = self.tl.takeAt(1).widget()
            if w is not None:
                w.deleteLater()
        self.empty_label.setVisible(True)

    def bubbles(self) -> list[MessageBubble]:
        return [self.tl.itemAt(i).widget() for i in range(1, self.tl.count() - 1)]

    def _add_bubble(self, role: str, msg: dict | None = None) -> MessageBubble:
        self.empty_label.setVisible(False)
        b = MessageBubble(role)
        if msg is not None:
            b.load(msg)
        b.edit_requested.connect(self._start_edit)
        b.regenerate_requested.connect(lambda: self.regenerate())
        self.tl.insertWidget(self.tl.count() - 1, b)
        return b

    def _scroll_to_end(self) -> None:
        self._follow = True
        bar = self.scroll.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _refresh_totals(self) -> None:
        if self.conv_id is not None:
            self.totals_label.setText(format_totals(self.chat.totals(self.conv_id)))

    def _show_route(self, route: dict | None) -> None:
        self._last_route = route
        if not route:
            self.route_label.setText("")
            self.override_button.setVisible(False)
            return
        self.route_label.setText(f"Auto routed to {MODE_LABELS[route['mode']]}: {route['reason']}")
        other = "reasoning" if route["mode"] == "fast" else "fast"
        self.override_button.setText(f"Answer with {MODE_LABELS[other]} instead")
        self.override_button.setVisible(not self.runner.running)

    # ---- turns ------------------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Ctrl+Enter sends
        from PySide6.QtCore import QEvent

        if obj is self.input and event.type() == QEvent.Type.KeyPress:
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self._send_or_stop()
                return True
        return super().eventFilter(obj, event)

    def _send_or_stop(self) -> None:
        if self.runner.running:
            self.stop()
        else:
            self.send(self.input.toPlainText())

    def stop(self) -> None:
        self.runner.stop()
        self.send_button.setText("Stopping…")

    def send(self, text: str) -> None:
        text = text.strip()
        if not text or self.runner.running:
            return
        mode = self.mode()
        if self.editing_message is not None:
            mid, self.editing_message = self.editing_message, None
            self.edit_banner.setVisible(False)
            self._truncate_after(mid, text)
            self._begin_turn(lambda ev, stop: self.chat.edit_and_resend(mid, text, mode=mode, on_event=ev, should_stop=stop))
        else:
            if self.conv_id is None:
                settings = {k: v for k, v in self.pending_settings.items() if not k.startswith("_")}
                conv = self.chat.create_conversation(mode=mode, settings=settings or self._collect_settings())
                self.conv_id = conv["id"]
            self._add_bubble("user", None).set_text(text)
            cid = self.conv_id
            self._begin_turn(lambda ev, stop: self.chat.send(cid, text, mode=mode, on_event=ev, should_stop=stop))
        self.input.clear()

    def regenerate(self, mode: str | None = None) -> None:
        if self.conv_id is None or self.runner.running:
            return
        bubbles = self.bubbles()
        if bubbles and bubbles[-1].role == "assistant":
            w = bubbles[-1]
            self.tl.removeWidget(w)
            w.deleteLater()
        cid, mode = self.conv_id, mode or self.mode()
        self._begin_turn(lambda ev, stop: self.chat.regenerate(cid, mode=mode, on_event=ev, should_stop=stop))

    def _override_route(self) -> None:
        if self._last_route:
            self.regenerate("reasoning" if self._last_route["mode"] == "fast" else "fast")

    def _start_edit(self, message_id: int) -> None:
        if self.runner.running or not message_id:
            return
        b = next((b for b in self.bubbles() if b.message_id == message_id), None)
        if b is None:
            return
        self.editing_message = message_id
        self.input.setPlainText(b.text)
        self.edit_banner.setText("Editing an earlier message: Send replaces it and everything after it.")
        self.edit_banner.setVisible(True)
        self.input.setFocus()

    def _truncate_after(self, message_id: int, text: str) -> None:
        seen = False
        for b in self.bubbles():
            if seen:
                self.tl.removeWidget(b)
                b.deleteLater()
            elif b.message_id == message_id:
                seen = True
                b.set_text(text)

    def _begin_turn(self, fn) -> None:
        self._bubble = self._add_bubble("assistant")
        self._bubble.set_busy(True)
        self._bubble.header.setText("Assistant · " + MODE_LABELS[self.mode()])
        self._hidden = 0
        self._thinking_started = None
        self.send_button.setText("Stop")
        self.override_button.setVisible(False)
        self.route_label.setText("")
        self.runner.start(fn)
        QTimer.singleShot(0, self._scroll_to_end)

    def _on_events(self, batch: list[dict]) -> None:
        b = self._bubble
        if b is None:
            return
        answer, thinking = [], []
        for ev in batch:
            t = ev.get("type")
            if t == "answer":
                answer.append(ev["text"])
            elif t == "thinking":
                thinking.append(ev["text"])
                self._hidden += 1
            elif t == "route":
                self._show_route({"mode": ev["mode"], "reason": ev["reason"]})
                b.header.setText(f"Assistant · auto → {MODE_LABELS[ev['mode']]}: {ev['reason']}")
            elif t == "model":
                b.header.setText(f"{ev['label']} · " + b.header.text().split(" · ", 1)[-1])
                self.banner.setVisible(bool(ev.get("is_base")))
            elif t == "status":
                self.send_button.setToolTip(ev["text"])
            elif t == "context":
                self.context_meter.show_context(ev)
            elif t == "tools":
                b.add_tool_calls(ev["calls"])
        if thinking:
            b.append_thinking("".join(thinking), self._hidden)
        if answer:
            b.append_text("".join(answer))

    def _finish_common(self) -> None:
        self.send_button.setText("Send")
        if self._bubble is not None:
            self._bubble.set_busy(False)
        self._bubble = None

    def _on_finished(self, msg: dict) -> None:
        b = self._bubble
        if b is not None:
            # the stored message is the source of truth (ids, final text, accounting)
            b.load(msg)
            prev = self.bubbles()[-2] if len(self.bubbles()) > 1 else None
            if prev is not None and prev.role == "user" and prev.message_id is None:
                conv = self.chat.get_conversation(self.conv_id)
                users = [m for m in conv["messages"] if m["role"] == "user"]
                if users:
                    prev.message_id = users[-1]["id"]
        self._finish_common()
        self._show_route((msg.get("meta") or {}).get("route"))
        self.context_meter.show_context((msg.get("meta") or {}).get("context"))
        self._refresh_totals()
        conv = self.chat.get_conversation(self.conv_id)
        self._set_title(conv["title"])
        self.refresh_conversations()

    def _on_failed(self, exc) -> None:
        b = self._bubble
        if b is not None:
            hint = getattr(exc, "hint", None)
            b.append_text(f"\n\n**Error:** {getattr(exc, 'message', None) or exc}" + (f"  \n_{hint}_" if hint else ""))
        self._finish_common()
        if self.conv_id is not None:  # the user's message was stored: it can be regenerated
            self._set_title(self.chat.get_conversation(self.conv_id)["title"])
            self.refresh_conversations()
        from ui.errors import report

        report(exc)

    # ---- compare ----------------------------------------------------------------------------------
    def show_compare(self, on: bool) -> None:
        if on and self.compare is None:
            from ui.compare_view import CompareView

            self.compare = CompareView(self.studio, self.chat, settings=self._pane_settings)
            self.center.addWidget(self.compare)
        self.center.setCurrentWidget(self.compare if on else self.scroll)
        self.composer.setVisible(not on)
        self.route_row.setVisible(not on)
        self.compare_button.setChecked(on)

    def _pane_settings(self) -> dict:
        """Sampling, thinking and system prompt from the settings panel; each pane picks its own model."""
        return {k: v for k, v in self._collect_settings().items() if k not in ("models", "tools")}

    # ---- lifecycle --------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop any turn and end the model-host processes (the window calls this on close)."""
        self.runner.stop()
        if self.compare is not None:
            self.compare.shutdown()
        self.chat.close()


def _spin(lo: int, hi: int, value: int) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setKeyboardTracking(False)
    return s


def _dspin(lo: float, hi: float, step: float, value: float, decimals: int = 2) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    s.setKeyboardTracking(False)
    return s


def _select(combo: QComboBox, data) -> None:
    if data is None:
        combo.setCurrentIndex(0)
        return
    i = combo.findData(data)
    if i < 0 and isinstance(data, str) and data.startswith("http"):
        combo.insertItem(max(0, combo.count() - 1), data, data)
        i = combo.findData(data)
    combo.setCurrentIndex(max(0, i))
