"""The quality report panel: figures, a token-length histogram, findings that link to rows."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget


class QualityPanel(QWidget):
    show_rows = Signal(str, list)  # finding title, positions

    def __init__(self, parent=None):
        super().__init__(parent)
        import pyqtgraph as pg

        lay = QVBoxLayout(self)
        self.run_button = QPushButton("Compute quality report")
        lay.addWidget(self.run_button)
        self.summary = QLabel("The report counts duplicates, lengths, refusals and diversity of the shown version.")
        self.summary.setObjectName("qualitySummary")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("lengthHistogram")
        self.plot.setMinimumHeight(160)
        self.plot.setBackground(None)
        self.plot.setLabel("bottom", "length (tokens)")
        self.plot.setLabel("left", "rows")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        lay.addWidget(self.plot, 1)
        lay.addWidget(QLabel("Findings (double-click to show the rows):"))
        self.findings = QListWidget()
        self.findings.setObjectName("qualityFindings")
        self.findings.itemActivated.connect(self._activated)
        self.findings.itemDoubleClicked.connect(self._activated)
        lay.addWidget(self.findings, 1)

    def set_report(self, r: dict) -> None:
        import pyqtgraph as pg

        ln = r["length"]
        self.summary.setText(
            f"<b>{r['rows']:,}</b> rows · splits {', '.join(f'{k} {v:,}' for k, v in sorted(r['splits'].items()))}<br>"
            f"length in {ln['unit']}: min {ln['min']}, mean {ln['mean']}, max {ln['max']}<br>"
            f"refusal share {r['refusal_share']:.1%} · distinct-1 {r['diversity']['distinct_1']:.3f} · "
            f"distinct-2 {r['diversity']['distinct_2']:.3f}")
        self.plot.clear()
        h = ln["histogram"]
        if h["counts"]:
            edges = h["edges"]
            width = edges[1] - edges[0]
            bars = pg.BarGraphItem(x0=edges[:-1], width=width * 0.9, height=h["counts"], brush=(66, 133, 244))
            self.plot.addItem(bars)
        self.findings.clear()
        for f in r["findings"]:
            item = QListWidgetItem(f"{'⚠' if f['count'] and f['severity'] != 'info' else '·'} {f['title']}: {f['count']}")
            item.setData(Qt.ItemDataRole.UserRole, f)
            if not f["count"]:
                item.setForeground(Qt.GlobalColor.gray)
            self.findings.addItem(item)

    def _activated(self, item: QListWidgetItem) -> None:
        f = item.data(Qt.ItemDataRole.UserRole)
        if f and f["positions"]:
            self.show_rows.emit(f["title"], list(f["positions"]))
