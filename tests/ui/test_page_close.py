"""A page shown on its own stops polling the home when it closes (its folder may be deleted next:
tests delete passing tests' homes, and a live timer would then fail in the event loop)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module, cls, polls_on_show", [("ui.jobs_page", "JobsPage", True),
                                                        ("ui.train_page", "TrainPage", True),
                                                        ("ui.models_page", "ModelsPage", False)])
def test_a_closed_page_stops_its_timer(qtbot, studio, module, cls, polls_on_show):
    page = getattr(importlib.import_module(module), cls)(studio)
    qtbot.addWidget(page)
    page.show()
    assert page._timer.isActive() == polls_on_show
    page._timer.start()  # the Models page polls while an export runs: one is running
    page.close()
    assert not page._timer.isActive()
