"""Tools settings for MCP servers, and the confirmation a non-read-only tool asks for.

    McpSettingsDialog(studio, parent).exec()     # list, add (stdio command or URL), refresh, remove
    chat.confirm_tool = ToolConfirmer(page).ask  # the chat worker blocks on a Yes/No dialog

Adding or refreshing a server connects to it (a second or two, longer for a slow server), so
that work runs on a worker thread (ui.dataset_table.run_in_thread) and the dialog only shows
plain results. `ToolConfirmer.ask` is called on the chat's worker thread: it hands the question
to the GUI thread through a queued signal and waits for the answer; widgets are only touched on
the GUI thread.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

CONFIRM_TIMEOUT_S = 600  # an unanswered question (the window went away) counts as No


class ToolConfirmer(QObject):
    """Asks the user, on the GUI thread, whether a tool that may change things may run."""

    _asked = Signal(object)

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self._parent = parent
        self._asked.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def ask(self, name: str, args: dict, description: str) -> bool:
        box = {"name": name, "args": args, "description": description, "done": threading.Event(), "ok": False}
        if QThread.currentThread() is self.thread():
            self._show(box)
        else:
            self._asked.emit(box)
            box["done"].wait(CONFIRM_TIMEOUT_S)
        return bool(box["ok"])

    def _show(self, box: dict) -> None:
        import json

        try:
            args = json.dumps(box["args"], ensure_ascii=False, indent=1)
            answer = QMessageBox.question(
                self._parent, "Allow this tool?",
                f"The chat wants to run {box['name']}: {box['description']}\n\nArguments:\n{args}\n\n"
                "Its server does not mark it read-only, so it may change things. Run it?",
            )
            box["ok"] = answer == QMessageBox.StandardButton.Yes
        finally:
            box["done"].set()


class McpSettingsDialog(QDialog):
    def __init__(self, studio, parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self._workers: set = set()
        self.setWindowTitle("Tools: MCP servers")
        self.setObjectName("mcpSettings")
        self.resize(760, 560)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("MCP servers add their tools to the chat as <b>SERVER.TOOL</b>. "
                             "Tools a server does not mark read-only ask before each call."))
        self.tree = QTreeWidget()
        self.tree.setObjectName("mcpServerTree")
        self.tree.setHeaderLabels(["Server / tool", "Access", "What it does"])
        self.tree.setColumnWidth(0, 220)
        self.tree.setColumnWidth(1, 110)
        lay.addWidget(self.tree, 1)
        row = QHBoxLayout()
        self.refresh_button = QPushButton("Refresh tools")
        self.refresh_button.clicked.connect(self._refresh_selected)
        self.remove_button = QPushButton("Remove server")
        self.remove_button.clicked.connect(self._remove_selected)
        row.addWidget(self.refresh_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        lay.addLayout(row)

        box = QGroupBox("Add a server")
        form = QFormLayout(box)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("mcpName")
        self.name_edit.setPlaceholderText("notes")
        form.addRow("Name", self.name_edit)
        self.transport = QComboBox()
        self.transport.setObjectName("mcpTransport")
        self.transport.addItem("Command (stdio)", "stdio")
        self.transport.addItem("URL (streamable HTTP)", "http")
        self.transport.currentIndexChanged.connect(self._transport_changed)
        form.addRow("Connect by", self.transport)
        self.target_edit = QLineEdit()
        self.target_edit.setObjectName("mcpTarget")
        form.addRow("Command", self.target_edit)
        self.env_edit = QPlainTextEdit()
        self.env_edit.setObjectName("mcpEnv")
        self.env_edit.setPlaceholderText("KEY=VALUE, one per line")
        self.env_edit.setFixedHeight(44)
        form.addRow("Environment", self.env_edit)
        self.examples_edit = QPlainTextEdit()
        self.examples_edit.setObjectName("mcpExamples")
        self.examples_edit.setPlaceholderText("TOOL=a query that should use it, one per line (teaches the router)")
        self.examples_edit.setFixedHeight(60)
        form.addRow("Example queries", self.examples_edit)
        self.add_button = QPushButton("Connect and add")
        self.add_button.setObjectName("mcpAdd")
        self.add_button.clicked.connect(self._add)
        form.addRow(self.add_button)
        lay.addWidget(box)
        self.status = QLabel("")
        self.status.setObjectName("mcpStatus")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self._transport_changed()
        self.reload()

    # ---- the list ---------------------------------------------------------------------------------
    def reload(self) -> None:
        from studio.tools.mcp import servers

        self.tree.clear()
        for row in servers(self.studio):
            target = row["url"] or " ".join(row["command"])
            top = QTreeWidgetItem([row["name"], "HTTP" if row["url"] else "stdio", target])
            top.setData(0, Qt.ItemDataRole.UserRole, row["name"])
            top.setToolTip(2, target)
            for t in row.get("tools", []):
                access = "read-only" if t["read_only"] else "asks first"
                it = QTreeWidgetItem([f"{row['name']}.{t['name']}", access, t["description"]])
                it.setData(0, Qt.ItemDataRole.UserRole, row["name"])
                it.setToolTip(2, t["description"])
                top.addChild(it)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        if not self.tree.topLevelItemCount():
            self.status.setText("No MCP servers yet. Add one below: a command that speaks MCP on stdio, or an HTTP URL.")

    def _selected(self) -> str | None:
        it = self.tree.currentItem()
        return it.data(0, Qt.ItemDataRole.UserRole) if it is not None else None

    def _transport_changed(self, *_a) -> None:
        http = self.transport.currentData() == "http"
        label = self.target_edit.parentWidget().layout().labelForField(self.target_edit)
        if label is not None:
            label.setText("URL" if http else "Command")
        self.target_edit.setPlaceholderText("http://127.0.0.1:9000/mcp" if http else "python notes_server.py")
        self.env_edit.setEnabled(not http)

    # ---- actions (connect on a worker thread) ------------------------------------------------------
    def _busy(self, text: str) -> None:
        self.status.setText(text)
        for b in (self.add_button, self.refresh_button, self.remove_button):
            b.setEnabled(not text.endswith("…"))

    def _done(self, text: str) -> None:
        self._busy(text)
        self.reload()

    def _failed(self, exc) -> None:
        self._busy(f"Failed: {getattr(exc, 'message', None) or exc}" + (f" ({exc.hint})" if getattr(exc, "hint", None) else ""))

    def _add(self) -> None:
        from engines.tools.mcp_client import McpConfigError, McpServerSpec
        from studio.errors import UserError
        from studio.tools.mcp import parse_examples
        from studio.tools.service import tools_service
        from ui.dataset_table import run_in_thread

        try:
            env = dict(line.split("=", 1) for line in self.env_edit.toPlainText().splitlines() if "=" in line)
            http = self.transport.currentData() == "http"
            target = self.target_edit.text().strip()
            spec = McpServerSpec(name=self.name_edit.text().strip(), command=() if http else target,
                                 url=target if http else "", env={} if http else env)
            examples = parse_examples([ln for ln in self.examples_edit.toPlainText().splitlines() if ln.strip()])
        except (McpConfigError, UserError, ValueError) as e:
            self._failed(e)
            return
        self._busy(f"Connecting to {spec.name}…")

        def added(out: dict) -> None:
            self._done(f"Added {len(out['tools'])} tools from {spec.name}." + (f" Note: {out['warning']}" if out.get("warning") else ""))
            self.name_edit.clear()
            self.target_edit.clear()

        run_in_thread(tools_service(self.studio).add_mcp, spec, examples, on_done=added, on_error=self._failed, owner=self)

    def _refresh_selected(self) -> None:
        from studio.tools.mcp import refresh
        from ui.dataset_table import run_in_thread

        name = self._selected()
        if name:
            self._busy(f"Listing the tools of {name}…")
            run_in_thread(refresh, self.studio, name, on_done=lambda out: self._done(f"{name}: {len(out['tools'])} tools."),
                          on_error=self._failed, owner=self)

    def _remove_selected(self) -> None:
        from studio.tools.mcp import remove_server

        name = self._selected()
        if name and QMessageBox.question(self, "Remove server", f"Remove {name} and its tools?") == QMessageBox.StandardButton.Yes:
            remove_server(self.studio, name)
            self._done(f"Removed {name}.")
