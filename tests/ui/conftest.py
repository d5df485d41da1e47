"""Fixtures for the UI tests (they need a display: offscreen Qt)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from ui.main_window import MainWindow

from tests.helpers.widgets import shown


@pytest.fixture
def window(qtbot, studio_with_model):
    """The main window at 1280x800, shown, over a data home with the default model."""
    settings = QSettings(str(studio_with_model.home.root / "settings.ini"), QSettings.Format.IniFormat)
    w = shown(qtbot, MainWindow(studio_with_model, settings))
    qtbot.waitExposed(w)
    yield w
    w.close()
