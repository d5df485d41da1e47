"""The status bar says which llama.cpp extra-buffer-types choice this machine runs with, and
follows a fallback that a model host makes while the window is open."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from engines.inference.llama_params import EXTRA_BUFTS_ENV
from studio import llama_choice
from ui.main_window import MainWindow


def test_status_bar_follows_the_extra_buffer_types_choice(qtbot, studio, monkeypatch):
    monkeypatch.delenv(EXTRA_BUFTS_ENV, raising=False)
    w = MainWindow(studio, QSettings(str(studio.home.root / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    assert w.llama_label.text() == "llama.cpp extra buffers on (default, falls back if it crashes)"
    # a chat's model host fell back (on its worker thread): the next tick shows it, with the reason
    llama_choice.remember_fallback(studio.db, {"reason": "the model host died from SIGSEGV on its first decode",
                                               "signal": "SIGSEGV"})
    qtbot.waitUntil(lambda: "off (after a crash on this machine)" in w.llama_label.text(), timeout=3000)
    assert "SIGSEGV" in w.llama_label.toolTip() and "studio settings extra-bufts" in w.llama_label.toolTip()
    monkeypatch.setenv(EXTRA_BUFTS_ENV, "1")
    qtbot.waitUntil(lambda: w.llama_label.text() == f"llama.cpp extra buffers on (forced by {EXTRA_BUFTS_ENV})",
                    timeout=3000)
