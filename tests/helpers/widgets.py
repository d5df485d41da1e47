"""Showing a widget under test the way the UI tests look at it (offscreen Qt)."""

from __future__ import annotations


def shown(qtbot, widget, width: int = 1280, height: int = 800):
    """Hand `widget` to qtbot (closed after the test), size it (1280x800: the window's size) and
    show it; return it."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    return widget
