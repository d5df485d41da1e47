"""Nothing clipped at 1280x800: every page of the window is walked and every visible label and
button must show its whole text, wrap it, or elide it on purpose (ui.labels.ElidedLabel, with
the full text in its tooltip). Screenshots of each page are saved (docs/screenshots/ under
`make screenshots`)."""

from __future__ import annotations

import re

import pytest
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QAbstractButton, QCheckBox, QLabel, QRadioButton, QStyle, QToolButton

from tests.ui.shots import save_shot
from ui.labels import ElidedLabel
from ui.main_window import PAGES


def _plain(label: QLabel) -> str:
    text = label.text()
    if "<" in text and re.search(r"<[a-zA-Z/]", text):
        doc = QTextDocument()
        doc.setHtml(text)
        return doc.toPlainText()
    return text


def clipped_widgets(root) -> list[str]:
    """Visible labels and buttons whose text is wider than the room they have."""
    out = []
    for w in root.findChildren(QLabel) + root.findChildren(QAbstractButton):
        if not w.isVisible() or w.width() <= 1 or isinstance(w, ElidedLabel):
            continue
        fm = w.fontMetrics()
        if isinstance(w, QLabel):
            if w.wordWrap() or w.pixmap() is not None and not w.pixmap().isNull():
                continue
            lines = _plain(w).splitlines() or [""]
            room = w.contentsRect().width() - 2 * w.margin() - 2 * w.indent() if w.indent() > 0 else w.contentsRect().width() - 2 * w.margin()
        else:
            lines = [w.text().replace("&&", "\0").replace("&", "").replace("\0", "&")]
            style = w.style()
            if isinstance(w, (QCheckBox, QRadioButton)):
                chrome = style.pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth) + style.pixelMetric(
                    QStyle.PixelMetric.PM_CheckBoxLabelSpacing)
            else:
                chrome = 2 * style.pixelMetric(QStyle.PixelMetric.PM_ButtonMargin) + 2 * style.pixelMetric(
                    QStyle.PixelMetric.PM_DefaultFrameWidth)
                if isinstance(w, QToolButton) and w.menu() is not None:
                    chrome += style.pixelMetric(QStyle.PixelMetric.PM_MenuButtonIndicator)
            room = w.width() - chrome
            if w.icon() is not None and not w.icon().isNull():
                room -= w.iconSize().width()
        need = max(fm.horizontalAdvance(line) for line in lines)
        if need > room + 1:
            out.append(f"{type(w).__name__} {w.objectName() or ''} {lines[0][:60]!r}: needs {need}px, has {room}px")
    return out


@pytest.mark.parametrize("key", [p[0] for p in PAGES])
def test_every_page_fits_at_1280x800(window, qtbot, key):
    from studio.hardware import detect_device

    window.set_device(detect_device().describe())
    page = window.show_page(key)
    qtbot.wait(300)  # pages load their lists on worker threads after the first paint
    assert window.width() == 1280
    problems = clipped_widgets(window)
    save_shot(window, f"page-{key}")
    assert not problems, f"{key}: " + "; ".join(problems)
    assert page.isVisible()


def test_a_long_auto_header_wraps_inside_the_bubble(qtbot, studio):
    """The Auto route reason can be a sentence: the bubble stays inside the transcript column, so
    no horizontal scrollbar hides Regenerate."""
    from ui.chat_page import ChatPage

    page = ChatPage(studio)
    qtbot.addWidget(page)
    page.resize(1280, 800)
    page.show()
    qtbot.waitExposed(page)
    reason = ("no math, code, logic or multi-step markers found in the question, and it is short enough "
              "to answer directly without deliberate thinking")
    bubble = page._add_bubble("assistant", {
        "id": 1, "content": "Hello! How can I help?",
        "meta": {"mode": "fast", "model_label": "gemma-3-270m starter assistant", "route": {"mode": "fast", "reason": reason}}})
    qtbot.wait(300)
    column = page.scroll.viewport().width()
    assert reason in bubble.header.text()
    assert bubble.width() <= column, f"bubble {bubble.width()}px in a {column}px column"
    assert not page.scroll.horizontalScrollBar().isVisible()
    regen = bubble.buttons["Regenerate"]
    right = regen.mapTo(page.scroll.viewport(), regen.rect().topRight()).x()
    assert regen.isVisible() and right <= column
    assert not clipped_widgets(page)
    save_shot(page, "chat-auto-header")
    page.shutdown()
