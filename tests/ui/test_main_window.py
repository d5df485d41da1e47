"""The main window: sidebar pages, status bar, remembered geometry, one error dialog."""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from studio.errors import StudioError
from ui.main_window import PAGES, MainWindow, PlaceholderPage

from tests.ui.shots import SHOTS  # a temp folder unless `make screenshots`


def test_every_sidebar_page_opens(window):
    for key, title, _target, _about in PAGES:
        page = window.show_page(key)
        assert window.stack.currentWidget() is page
        assert page.objectName() == f"page_{key}"
    assert window.nav.count() == len(PAGES) == 6


def test_unbuilt_page_says_what_will_come(window, monkeypatch):
    import ui.main_window as mw

    monkeypatch.setattr(mw, "PAGES", [("datasets", "Datasets", "ui.no_such_page:Nope", "Import and curate data.")] + PAGES[1:])
    window._pages.pop("datasets", None)
    page = window.page("datasets")
    assert isinstance(page, PlaceholderPage)


def test_status_bar_shows_the_running_job(window, qtbot):
    st = window.studio
    assert st.jobs.try_become_runner()
    job_id = st.jobs.submit("dummy", {"steps": 400, "step_seconds": 0.05}, name="demo run")
    qtbot.waitUntil(lambda: st.jobs.get(job_id).step >= 3, timeout=30000)
    window.refresh_job_status()
    assert f"Job {job_id}" in window.job_label.text() and "demo run" in window.job_label.text()
    assert window.job_bar.isVisible() and window.job_bar.value() >= 3
    st.jobs.cancel(job_id)
    st.jobs.wait(job_id, timeout=30)
    window.refresh_job_status()
    assert window.job_label.text() == "No job running"


def test_a_closed_window_stops_polling_the_home(window):
    # its folder may be deleted next (tests delete passing tests' homes); a live timer would then
    # raise "unable to open database file" in the event loop, once a second
    assert window._job_timer.isActive()
    window.close()
    assert not window._job_timer.isActive()


def test_window_geometry_and_page_are_remembered(qtbot, studio_with_model):
    path = str(studio_with_model.home.root / "settings.ini")
    w = MainWindow(studio_with_model, QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.show()
    w.resize(790, 580)  # inside the offscreen screen (800x600), which restore clamps to
    w.show_page("models")
    w.close()
    w2 = MainWindow(studio_with_model, QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(w2)
    assert (w2.width(), w2.height()) == (790, 580)
    assert w2.stack.currentWidget() is w2.page("models")
    # close it as the app does: its pages wait for their worker threads. Dropped open, the window
    # was garbage-collected while its Models page's loader thread still read the registry (a
    # segfault in a CI run, round 8)
    w2.close()


def test_uncaught_exceptions_in_any_thread_end_in_one_error_dialog(qtbot, monkeypatch):
    from ui import errors

    bridge = errors.install_excepthooks()
    try:
        t = threading.Thread(target=lambda: (_ for _ in ()).throw(RuntimeError("worker broke")))
        t.start()
        t.join()
        qtbot.waitUntil(lambda: len(bridge.shown) == 1, timeout=5000)
        title, text = bridge.shown[0]
        assert title == "Unexpected error" and "worker broke" in text
        assert "Traceback" in bridge.last_box.detailedText()
        sys.excepthook(StudioError, StudioError("The file x.jsonl is broken", hint="fix line 3"), None)
        qtbot.waitUntil(lambda: len(bridge.shown) == 2, timeout=5000)
        assert bridge.shown[1] == ("Model Studio", "The file x.jsonl is broken\n\nFix line 3.")
        assert bridge.last_box.detailedText() == ""
        assert bridge.last_box.icon() == QMessageBox.Icon.Critical
    finally:
        sys.excepthook = sys.__excepthook__
        threading.excepthook = threading.__excepthook__
        errors._bridge = None


def test_screenshot_of_the_main_window(window, qtbot):
    window.show_page("models")
    from studio.hardware import detect_device

    window.set_device(detect_device().describe())  # this machine's real line, as the app shows it
    qtbot.wait(50)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SHOTS / "main_window.png"))
