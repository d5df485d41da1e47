"""Serve this model: start and stop `studio serve` from the window.

    ServeDialog(studio, model="gemma-3-270m (base)", parent=page).show()

The server (studio.serve.StudioServer) answers on its own daemon thread and runs models in its
own model-host child, so the window stays responsive and a native crash stays in the child.
Starting only binds the socket; closing the dialog stops the server.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.widgets import wrapped_label


class ServeDialog(QDialog):
    def __init__(self, studio, model: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.studio = studio
        self.model = model
        self.server = None
        self.setWindowTitle("Serve this model")
        self.setObjectName("serveDialog")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("An OpenAI-compatible API over the studio's models, for editors, Open WebUI and agents. "
                             "Requests queue through one model host."))
        form = QFormLayout()
        self.host_edit = QLineEdit("127.0.0.1")
        self.host_edit.setObjectName("serveHost")
        form.addRow("Address", self.host_edit)
        self.port_spin = QSpinBox()
        self.port_spin.setObjectName("servePort")
        self.port_spin.setRange(0, 65535)
        self.port_spin.setValue(8000)
        self.port_spin.setToolTip("0 picks a free port")
        form.addRow("Port", self.port_spin)
        self.key_edit = QLineEdit()
        self.key_edit.setObjectName("serveKey")
        self.key_edit.setPlaceholderText("required for any address other than 127.0.0.1")
        form.addRow("API key", self.key_edit)
        self.lookup_box = QCheckBox("Prompt-lookup decoding")
        self.lookup_box.setToolTip("n-gram speculation from the prompt: faster when answers copy the prompt")
        form.addRow(self.lookup_box)
        lay.addLayout(form)
        row = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("serveStart")
        self.start_button.clicked.connect(self.toggle)
        row.addWidget(self.start_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.status = wrapped_label("Stopped.", "serveStatus")
        lay.addWidget(self.status)
        self.example = QPlainTextEdit()
        self.example.setReadOnly(True)
        self.example.setFixedHeight(120)
        self.example.setVisible(False)
        lay.addWidget(self.example)
        self.resize(560, 380)

    def toggle(self) -> None:
        if self.server is None:
            self.start()
        else:
            self.stop()

    def start(self) -> None:
        from studio.errors import StudioError
        from studio.serve import StudioServer

        try:
            self.server = StudioServer(self.studio, host=self.host_edit.text().strip() or "127.0.0.1",
                                       port=self.port_spin.value(), api_key=self.key_edit.text().strip() or None,
                                       prompt_lookup=self.lookup_box.isChecked()).start()
        except StudioError as e:
            self.status.setText(f"Not started: {e.message}" + (f" ({e.hint})" if e.hint else ""))
            return
        url = self.server.url + "/v1"
        name = self.model or (self.server.models() or [{"id": "MODEL"}])[0]["id"]
        self.status.setText(f"Serving at {url}. Closing this window stops the server.")
        self.example.setPlainText(
            "from openai import OpenAI\n"
            f"client = OpenAI(base_url={url!r}, api_key={(self.key_edit.text().strip() or 'none')!r})\n"
            f"client.chat.completions.create(model={name!r},\n"
            "    messages=[{'role': 'user', 'content': 'Hello'}], reasoning_effort='low')")
        self.example.setVisible(True)
        self.start_button.setText("Stop")
        for w in (self.host_edit, self.port_spin, self.key_edit, self.lookup_box):
            w.setEnabled(False)

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        self.status.setText("Stopped.")
        self.example.setVisible(False)
        self.start_button.setText("Start")
        for w in (self.host_edit, self.port_spin, self.key_edit, self.lookup_box):
            w.setEnabled(True)

    def done(self, result: int) -> None:  # closing the dialog stops the server
        self.stop()
        super().done(result)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.stop()
        super().closeEvent(event)
