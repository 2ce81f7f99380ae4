"""The quick classifier's result: both held-out ROC curves with their Youden-J points, and a summary.

:class:`ProbeResultView` is the right side of :class:`~xaidesk.gui.probe_dialog.ProbeDialog`: the
ROC plot, the summary table (one row per head), what the probe was trained and judged on, the
warning when too few files were held out, and where the classifier is saved. The texts come from
:mod:`xaidesk.gui.probe_jobs`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .probe_jobs import HEAD_ORDER, SUMMARY_COLUMNS, summary_cells

#: Plot colours of the heads.
HEAD_COLOURS = {"mean-difference": (31, 119, 180), "logistic": (214, 39, 40)}


class ProbeResultView(QWidget):
    """ROC plot, summary table and the lines under them.

    Attributes
    ----------
    curves, youden_points
        The plotted ROC curve and Youden-J point of each head, by head name (emptied, not replaced, on reset).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        item = self.plot.getPlotItem()
        item.setTitle("Held-out ROC", color="#333333", size="10pt")
        item.setLabel("bottom", "false positive rate (1 − specificity)")
        item.setLabel("left", "true positive rate (sensitivity)")
        item.showGrid(x=True, y=True, alpha=0.15)
        for name in ("left", "bottom"):
            item.getAxis(name).setPen(pg.mkPen("#666666"))
            item.getAxis(name).setTextPen(pg.mkPen("#333333"))
        item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.02)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        self.legend = item.addLegend(offset=(-10, -10), labelTextColor="#333333")
        self.plot.setMinimumSize(360, 300)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.youden_points: dict[str, pg.ScatterPlotItem] = {}
        self.reset()

        self.summary_table = QTableWidget(0, len(SUMMARY_COLUMNS))
        self.summary_table.setHorizontalHeaderLabels(list(SUMMARY_COLUMNS))
        self.summary_table.verticalHeader().setVisible(False)
        self.summary_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.summary_table.setToolTip(
            "All figures are on the held-out images. The Youden threshold is chosen on those same images, so "
            "the sensitivity, specificity and accuracy at it are optimistic; the AUC does not depend on it.")
        self.summary_table.horizontalHeader().setStretchLastSection(True)
        self.summary_table.setMaximumHeight(96)
        self.counts_label = QLabel("")
        self.counts_label.setWordWrap(True)
        self.warning_label = QLabel("")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b00020;")
        self.warning_label.setVisible(False)
        self.save_label = QLabel("")
        self.save_label.setWordWrap(True)
        self.save_label.setObjectName("notes")
        self.save_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.summary_table)
        layout.addWidget(self.counts_label)
        layout.addWidget(self.warning_label)
        layout.addWidget(self.save_label)

    def reset(self) -> None:
        """An empty plot with the diagonal of a classifier that guesses."""
        item = self.plot.getPlotItem()
        item.clear()
        self.legend.clear()
        self.curves.clear()
        self.youden_points.clear()
        item.plot([0, 1], [0, 1], pen=pg.mkPen("#aaaaaa", width=1, style=Qt.PenStyle.DashLine))

    def show_result(self, result, counts: str, warning: str | None) -> None:
        """Plot ``result``'s heads, fill the summary and say ``counts`` and ``warning`` (``None``: hidden)."""
        self.reset()
        item = self.plot.getPlotItem()
        self.summary_table.setRowCount(0)
        for name in HEAD_ORDER:
            head = result.heads.get(name)
            if head is None:
                continue
            colour = HEAD_COLOURS[name]
            self.curves[name] = item.plot(np.asarray(head.fpr), np.asarray(head.tpr), pen=pg.mkPen(colour, width=2),
                                          name=f"{head.title}: AUC {head.auc:.3f}")
            point = pg.ScatterPlotItem([1.0 - head.specificity], [head.sensitivity], size=12, symbol="o",
                                       brush=pg.mkBrush(255, 255, 255), pen=pg.mkPen(colour, width=2.5))
            point.setToolTip(f"Youden J = {head.youden_j:.3f} at threshold {head.threshold:.4g}")
            item.addItem(point)
            self.youden_points[name] = point
            row = self.summary_table.rowCount()
            self.summary_table.insertRow(row)
            for column, text in enumerate(summary_cells(head)):
                cell = QTableWidgetItem(text)
                if column:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.summary_table.setItem(row, column, cell)
        sample = pg.ScatterPlotItem(size=10, brush=pg.mkBrush(255, 255, 255), pen=pg.mkPen("#555555", width=2))
        self.legend.addItem(sample, "Youden-J point")
        item.setTitle(f"Held-out ROC · positive class: {result.class_names[1]}", color="#333333", size="10pt")
        self.counts_label.setText(counts)
        self.warning_label.setText(warning or "")
        self.warning_label.setVisible(bool(warning))
