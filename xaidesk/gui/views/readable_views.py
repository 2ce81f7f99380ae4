"""Views of the Readable model page: the model comparison, rules, shape curves, pair surfaces, neighbours.

Each view keeps the numbers it shows (``rows``, ``leaves``, ``edges``/``scores``, ``cells``) so that
tests can check what is on screen; the numbers come ready-made from :mod:`xaidesk.tabular.readable`.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView, QHeaderView, QListWidget, QListWidgetItem, QTableWidget, QTableWidgetItem,
)

from ...core import render
from .image_views import colormap_from_lut
from .table_items import table_item, table_number
from .table_views import _plain_axes

#: Distinct line colours (one per feature of a lasso path), repeated when there are more features.
LINE_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
                (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
HIGHLIGHT = QColor(255, 226, 180)
MARK = (230, 130, 0)


def line_colour(index: int) -> tuple[int, int, int]:
    return LINE_COLOURS[index % len(LINE_COLOURS)]


class NumberItem(QTableWidgetItem):
    """A table cell that sorts by its number (cells without a number last), not by its text."""

    def __init__(self, text: str, value: float | None) -> None:
        super().__init__(text)
        self.value = value if value is not None and math.isfinite(value) else None
        self.setFlags(self.flags() & ~Qt.ItemFlag.ItemIsEditable)
        self.setTextAlignment(int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter))

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.value, getattr(other, "value", None)
        if mine is None or theirs is None:
            return theirs is None and mine is not None  # numbers before blanks in ascending order
        return mine < theirs


def _plain_table(table: QTableWidget) -> None:
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)


class CompareTable(QTableWidget):
    """Every model for the task on the same split: its held-out metrics and how a person reads it.

    ``rows`` keeps what was given; click a header to sort by that metric.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        _plain_table(self)
        self.rows: list = []
        self.metric_keys: list[str] = []

    def set_rows(self, rows: list, columns: tuple) -> None:
        """``rows``: objects with ``title``, ``how_read``, ``metrics``, ``error``, ``current``;
        ``columns``: (metric key, column title, higher is better) per metric."""
        self.setSortingEnabled(False)
        self.clear()
        self.rows = list(rows)
        self.metric_keys = [key for key, _, _ in columns]
        headers = ["model", *(title for _, title, _ in columns), "how it is read"]
        self.setColumnCount(len(headers))
        self.setHorizontalHeaderLabels(headers)
        for c, (_, title, higher) in enumerate(columns, start=1):
            self.horizontalHeaderItem(c).setToolTip(f"{title}: {'higher' if higher else 'lower'} is better "
                                                    "(measured on the held-out rows)")
        self.setRowCount(len(self.rows))
        bold = QFont()
        bold.setBold(True)
        for r, row in enumerate(self.rows):
            name = table_item(row.title + ("  (this model)" if row.current else ""), row.error)
            self.setItem(r, 0, name)
            for c, key in enumerate(self.metric_keys, start=1):
                value = row.metrics.get(key)
                self.setItem(r, c, NumberItem(_metric_cell(key, value), value))
            self.setItem(r, len(headers) - 1, table_item(row.error or row.how_read, row.error))
            if row.current:
                for c in range(len(headers)):
                    self.item(r, c).setFont(bold)
        self.setSortingEnabled(True)
        self.sortItems(1, Qt.SortOrder.DescendingOrder if columns[0][2] else Qt.SortOrder.AscendingOrder)

    def shown_titles(self) -> list[str]:
        """The models' titles in the order shown."""
        return [self.item(r, 0).text().replace("  (this model)", "") for r in range(self.rowCount())]


def _metric_cell(key: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if key in ("accuracy", "balanced_accuracy"):
        return f"{100 * value:.1f}%"
    return f"{value:.3f}" if key in ("roc_auc", "r2") else table_number(value)


class RulesList(QListWidget):
    """One if-then rule per leaf; the selected row's rule is highlighted and scrolled to."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setSpacing(2)
        self.leaves: list[int] = []
        self.highlighted_leaf: int | None = None

    def set_rules(self, rules: list) -> None:
        """Show ``rules`` (:class:`~xaidesk.tabular.readable.Rule`), numbered, none highlighted."""
        self.clear()
        self.leaves = [rule.leaf for rule in rules]
        self.highlighted_leaf = None
        for i, rule in enumerate(rules, start=1):
            item = QListWidgetItem(f"{i}. {rule.text}")
            item.setToolTip(rule.text)
            self.addItem(item)

    def highlight(self, leaf: int | None) -> None:
        """Highlight the rule of ``leaf`` (``None``: none)."""
        self.highlighted_leaf = leaf if leaf in self.leaves else None
        for i, item_leaf in enumerate(self.leaves):
            item = self.item(i)
            lit = item_leaf == self.highlighted_leaf
            item.setBackground(QBrush(HIGHLIGHT) if lit else QBrush())
            font = item.font()
            font.setBold(lit)
            item.setFont(font)
        if self.highlighted_leaf is not None:
            self.scrollToItem(self.item(self.leaves.index(self.highlighted_leaf)),
                              QAbstractItemView.ScrollHint.EnsureVisible)

    def highlighted_text(self) -> str:
        if self.highlighted_leaf is None:
            return ""
        return self.item(self.leaves.index(self.highlighted_leaf)).text()


class ShapePlot(pg.PlotWidget):
    """One column's shape function as steps over its bins, a rug of the data, and the row's value marked."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMenuEnabled(False)
        self.plot_item = self.getPlotItem()
        self.plot_item.showGrid(x=True, y=True, alpha=0.2)
        _plain_axes(self.plot_item)
        self.edges = np.zeros(0)
        self.scores = np.zeros(0)
        self.rug = np.zeros(0)
        self.marker: float | None = None
        self.title = ""

    def set_shape(self, edges, scores, rug, title: str, x_label: str, y_label: str) -> None:
        """Steps of ``scores`` between ``edges`` (one more edge than scores) over a rug of ``rug`` values."""
        self.plot_item.clear()
        self.edges, self.scores = np.asarray(edges, dtype=float), np.asarray(scores, dtype=float)
        self.rug, self.marker, self.title = np.asarray(rug, dtype=float), None, title
        self.plot_item.setTitle(title, color="#333333", size="10pt")
        self.plot_item.setLabel("bottom", x_label)
        self.plot_item.setLabel("left", y_label)
        self.plot_item.addItem(pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen("#999999", width=1)))
        self.plot_item.addItem(pg.PlotDataItem(self.edges, self.scores, stepMode="center",
                                               pen=pg.mkPen((40, 90, 170), width=2)))
        low, high = float(min(self.scores.min(initial=0.0), 0.0)), float(max(self.scores.max(initial=0.0), 0.0))
        span = (high - low) or 1.0
        self._rug_y = low - 0.08 * span
        if self.rug.size:
            self.plot_item.addItem(pg.ScatterPlotItem(self.rug, np.full(self.rug.size, self._rug_y), symbol="|",
                                                      size=12, pen=pg.mkPen(80, 80, 80, 60), brush=None))
        self.plot_item.setYRange(self._rug_y - 0.05 * span, high + 0.08 * span, padding=0)
        self.plot_item.setXRange(float(self.edges[0]), float(self.edges[-1]), padding=0.02)

    def mark(self, x: float, y: float, text: str) -> None:
        """A dashed orange line at the row's value ``x`` and a dot at its score ``y``; ``text`` in the title."""
        self.marker = float(x)
        self.plot_item.addItem(pg.InfiniteLine(pos=x, angle=90, pen=pg.mkPen(MARK, width=2,
                                                                              style=Qt.PenStyle.DashLine)))
        self.plot_item.addItem(pg.ScatterPlotItem([x], [y], size=10, brush=pg.mkBrush(*MARK), pen=pg.mkPen("w")))
        self.plot_item.setTitle(f"{self.title} · <span style='color:#e68200'>{text}</span>", color="#333333",
                                size="10pt")


class PairHeatmap(pg.GraphicsLayoutWidget):
    """A pair term's surface over the two columns' bins (real units on both axes), with the row marked."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.plot_item = self.addPlot(row=0, col=0)
        self.plot_item.setMenuEnabled(False)
        _plain_axes(self.plot_item)
        self.colorbar = pg.ColorBarItem(values=(-1, 1), width=14, interactive=False,
                                        colorMap=colormap_from_lut(render.DEFAULT_COLORMAP))
        self.addItem(self.colorbar, row=0, col=1)
        self.colorbar.getAxis("right").enableAutoSIPrefix(False)
        self.scores = np.zeros((0, 0))
        self.marker: tuple[float, float] | None = None
        self.title = ""

    def set_pair(self, x_edges, y_edges, scores, title: str, x_label: str, y_label: str, unit: str) -> None:
        """``scores[i, j]`` over x bin ``i`` and y bin ``j``; colours symmetric around 0 (red raises)."""
        self.plot_item.clear()
        self.scores, self.marker, self.title = np.asarray(scores, dtype=float), None, title
        xs, ys = np.meshgrid(np.asarray(x_edges, float), np.asarray(y_edges, float), indexing="ij")
        limit = float(np.max(np.abs(self.scores), initial=0.0)) or 1.0
        mesh = pg.PColorMeshItem(xs, ys, self.scores, colorMap=colormap_from_lut(render.DEFAULT_COLORMAP),
                                 levels=(-limit, limit), enableAutoLevels=False)
        self.plot_item.addItem(mesh)
        self.colorbar.setLevels((-limit, limit))
        self.colorbar.getAxis("right").setLabel(unit)
        self.plot_item.setTitle(title, color="#333333", size="10pt")
        self.plot_item.setLabel("bottom", x_label)
        self.plot_item.setLabel("left", y_label)
        self.plot_item.setRange(xRange=(xs.min(), xs.max()), yRange=(ys.min(), ys.max()), padding=0.02)

    def mark(self, x: float, y: float, text: str) -> None:
        self.marker = (float(x), float(y))
        self.plot_item.addItem(pg.ScatterPlotItem([x], [y], symbol="+", size=18, pen=pg.mkPen("k", width=3)))
        self.plot_item.setTitle(f"{self.title} · <span style='color:#e68200'>{text}</span>", color="#333333",
                                size="10pt")


class NeighboursTable(QTableWidget):
    """The training rows behind a prediction, closest first; ``cells`` keeps the values shown."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        _plain_table(self)
        self.horizontalHeader().setStretchLastSection(False)
        self.cells: list[list] = []

    def set_rows(self, headers: list[str], cells: list[list]) -> None:
        """One line per neighbour; numbers are written out and right-aligned, text as it is."""
        self.clear()
        self.cells = [list(row) for row in cells]
        self.setColumnCount(len(headers))
        self.setHorizontalHeaderLabels(headers)
        self.setRowCount(len(self.cells))
        for r, row in enumerate(self.cells):
            for c, value in enumerate(row):
                if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                    self.setItem(r, c, NumberItem(table_number(float(value)), float(value)))
                else:
                    self.setItem(r, c, table_item(str(value)))

    def mark_first_row(self) -> None:
        """Set the first line apart (the selected row, above its neighbours)."""
        bold = QFont()
        bold.setBold(True)
        for c in range(self.columnCount()):
            item = self.item(0, c)
            if item is not None:
                item.setFont(bold)
                item.setBackground(QBrush(HIGHLIGHT))


__all__ = ["CompareTable", "LINE_COLOURS", "NeighboursTable", "NumberItem", "PairHeatmap", "RulesList",
           "ShapePlot", "line_colour"]
