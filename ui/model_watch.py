"""Live model lists: one watcher per studio turns registry changes into a Qt signal.

Every picker (Chat, Compare, Rate, the wizard, Evals, Models) connects to `watcher_for(studio).changed`
and refills itself, so a model trained, exported, imported, renamed or deleted anywhere shows up
without a restart. Changes made in this process arrive at once through `Registry.subscribe`
(possibly from a worker thread: the signal is queued onto the GUI thread); changes made by
another process (the job runner's finishers) are found by a poll once a second, a single
`SELECT id, name, kind, format FROM models`.

`fill_combo` keeps a combo's choice across refills, shows each name in full (the combo grows
to its content and the popup is never narrower than the longest name) and puts the name in
the tooltip.
"""

from __future__ import annotations

import weakref

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QComboBox

POLL_MS = 1000
# an active adapter is obvious at a glance: bold on a green tint
ACTIVE_STYLE = 'QComboBox[active="true"] { font-weight: 600; background: rgba(67, 160, 71, 60); }'

_watchers: "weakref.WeakKeyDictionary[object, ModelWatcher]" = weakref.WeakKeyDictionary()


class ModelWatcher(QObject):
    changed = Signal(list)  # the registry's change dicts

    def __init__(self, studio, parent: QObject | None = None):
        super().__init__(parent)
        self.studio = studio
        self._unsubscribe = studio.registry.subscribe(self.changed.emit)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def poll(self) -> list:
        try:
            return self.studio.registry.poll()
        except Exception:  # noqa: BLE001 - a closed or busy database: try again next tick
            return []

    def stop(self) -> None:
        self.timer.stop()
        self._unsubscribe()


def watcher_for(studio) -> ModelWatcher:
    """The one watcher of this studio (created on first use, on the GUI thread)."""
    w = _watchers.get(studio)
    if w is None:
        w = _watchers[studio] = ModelWatcher(studio)
    return w


def fill_combo(combo: QComboBox, items: list[tuple[str, object]], *, keep=True, tips: dict | None = None) -> None:
    """Replace a combo's items with (text, data) pairs, keeping the current choice when it still exists."""
    current = combo.currentData() if keep else None
    combo.blockSignals(True)
    try:
        combo.clear()
        for text, data in items:
            combo.addItem(text, data)
            combo.setItemData(combo.count() - 1, (tips or {}).get(data, text), 3)  # 3: Qt.ToolTipRole
        i = combo.findData(current) if current is not None else -1
        combo.setCurrentIndex(i if i >= 0 else (0 if combo.count() else -1))
    finally:
        combo.blockSignals(False)
    show_full_names(combo)


def show_full_names(combo: QComboBox) -> None:
    """The combo sizes to its longest item; the popup is wide enough for every name; tooltip = choice."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    fm = combo.fontMetrics()
    widest = max((fm.horizontalAdvance(combo.itemText(i)) for i in range(combo.count())), default=0)
    combo.view().setMinimumWidth(widest + 40)
    combo.setToolTip(combo.currentText())
    if not combo.property("_tip_wired"):
        combo.currentTextChanged.connect(combo.setToolTip)
        combo.setProperty("_tip_wired", True)


def mark_active(combo: QComboBox) -> None:
    """Style an adapter picker as active when it holds an adapter (not its "No adapter" item)."""
    if not combo.styleSheet():
        combo.setStyleSheet(ACTIVE_STYLE)
    active = combo.currentData() is not None
    if combo.property("active") != active:
        combo.setProperty("active", active)
        combo.style().unpolish(combo)
        combo.style().polish(combo)
