"""Fixtures for the UI tests (they need a display: offscreen Qt)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from ui.main_window import MainWindow


@pytest.fixture
def window(qtbot, studio_with_model):
    """The main window at 1280x800, shown, over a data home with the default model."""
    settings = QSettings(str(studio_with_model.home.root / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(studio_with_model, settings)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()
