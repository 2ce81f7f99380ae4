"""Plots of the Tables tab (pyqtgraph), and its eliding method list.

The plots keep the numbers they draw (``values``, ``matrix``, ``boxes`` ...) so
that tests can check what is on screen. Statistics come ready-made from the
core (or :mod:`xaidesk.gui.table_jobs`); these classes only draw. The tables'
item models and number formatting are in :mod:`xaidesk.gui.views.table_items`.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter

from ...core import render
from .image_views import colormap_from_lut
from .table_items import table_number

POSITIVE = (200, 60, 50)
NEGATIVE = (50, 100, 200)
NEUTRAL = (120, 120, 120)
#: Curves with at most this many points are labelled at their points.
MAX_POINT_TICKS = 12


def _plain_axes(item: pg.PlotItem) -> None:
    """Grey axes whose numbers are written out (no "×0.001" scale factor beside the label)."""
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen("#666666"))
        axis.setTextPen(pg.mkPen("#333333"))
        axis.enableAutoSIPrefix(False)
        axis.autoSIPrefixScale = 1.0  # pyqtgraph may have picked a scale already; ticks still use it


class FeatureBars(pg.PlotWidget):
    """Horizontal bars, one per feature (names on the left axis); red positive, blue negative."""

    def __init__(self, title: str = "", parent=None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMenuEnabled(False)
        self.plot_item = self.getPlotItem()
        self.plot_item.showGrid(x=True, alpha=0.2)
        self.plot_item.invertY(True)
        self._title = title
        self.names: list[str] = []
        self.values = np.zeros(0)
        self.bars: pg.BarGraphItem | None = None
        self.set_title(title)
        _plain_axes(self.plot_item)

    @property
    def title(self) -> str:
        return self._title

    def set_title(self, title: str) -> None:
        self._title = title
        self.plot_item.setTitle(title, color="#333333", size="10pt")

    def set_values(self, names, values, title: str | None = None, x_label: str = "relevance") -> None:
        self.clear_bars()
        self.names = [str(n) for n in names]
        self.values = np.asarray(values, dtype=np.float64)
        if title is not None:
            self.set_title(title)
        shown = np.nan_to_num(self.values)
        brushes = [pg.mkBrush(*(POSITIVE if v > 0 else NEGATIVE if v < 0 else NEUTRAL)) for v in shown]
        y = np.arange(len(shown))
        self.bars = pg.BarGraphItem(x0=np.zeros(len(shown)), width=shown, y=y, height=0.7, brushes=brushes,
                                    pen=pg.mkPen(None))
        self.plot_item.addItem(self.bars)
        self.plot_item.getAxis("left").setTicks([[(i, n) for i, n in enumerate(self.names)]])
        self.plot_item.setLabel("bottom", x_label)
        zero = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#444444", width=1))
        self.plot_item.addItem(zero)
        lo, hi = float(min(0.0, shown.min(initial=0.0))), float(max(0.0, shown.max(initial=0.0)))
        pad = 0.05 * (hi - lo or 1.0)
        self.plot_item.setXRange(lo - pad, hi + pad, padding=0)
        self.plot_item.setYRange(-0.6, len(shown) - 0.4, padding=0)

    def clear_bars(self) -> None:
        self.plot_item.clear()
        self.bars = None
        self.values = np.zeros(0)

    def reset(self, title: str = "") -> None:
        """No bars, no feature names on the axis, and ``title``: the plot of no result."""
        self.clear_bars()
        self.names = []
        self.plot_item.getAxis("left").setTicks(None)
        self.set_title(title)


class HistogramPlot(pg.PlotWidget):
    """A histogram drawn as bars from ``(counts, edges)``."""

    def __init__(self, title: str = "", color=(90, 130, 190), parent=None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMenuEnabled(False)
        self.plot_item = self.getPlotItem()
        self.plot_item.setTitle(title, color="#333333", size="10pt")
        _plain_axes(self.plot_item)
        self.color = color
        self.counts = np.zeros(0)
        self.edges = np.zeros(0)

    def set_histogram(self, counts, edges, title: str | None = None, x_label: str = "") -> None:
        self.plot_item.clear()
        self.counts = np.asarray(counts)
        self.edges = np.asarray(edges, dtype=np.float64)
        if title is not None:
            self.plot_item.setTitle(title, color="#333333", size="10pt")
        if len(self.counts):
            bars = pg.BarGraphItem(x0=self.edges[:-1], x1=self.edges[1:], height=self.counts,
                                   brush=pg.mkBrush(*self.color), pen=pg.mkPen("w", width=0.5))
            self.plot_item.addItem(bars)
            self.plot_item.autoRange()
        self.plot_item.setLabel("bottom", x_label)
        self.plot_item.setLabel("left", "rows")


class RelevanceHeatmap(pg.GraphicsLayoutWidget):
    """Normalised relevance of the top-N rows: one line per feature (names on the left, so long
    names never overlap), one column per row (highest score first), diverging colours.

    ``matrix`` is kept as given, (rows, features). The colour range follows the data's sign: when
    every value is positive only the upper half of the colour map is used (0 … max), and the colour
    bar says what its colours mean (``meaning``).
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent=parent)
        self.setBackground("w")
        self.plot_item = self.addPlot(row=0, col=0)
        self.plot_item.setMenuEnabled(False)
        self.plot_item.invertY(True)
        _plain_axes(self.plot_item)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.plot_item.addItem(self.image_item)
        self.colormap = render.DEFAULT_COLORMAP
        self.colorbar = pg.ColorBarItem(values=(-1, 1), width=14, interactive=False,
                                        colorMap=colormap_from_lut(self.colormap), label="share of |relevance|")
        self.addItem(self.colorbar, row=0, col=1)
        self.matrix = np.zeros((0, 0))
        self.row_ids: list[int] = []
        self.names: list[str] = []
        self.levels = (-1.0, 1.0)
        self.meaning = ""

    def set_matrix(self, matrix, names, row_ids, title: str = "", score: str = "score") -> None:
        """Draw ``matrix`` (rows x features); ``score`` names what red raises (e.g. "outlier score")."""
        self.matrix = np.asarray(matrix, dtype=np.float64)
        self.names = [str(n) for n in names]
        self.row_ids = [int(r) for r in row_ids]
        if not self.matrix.size:
            self.image_item.clear()
            self.plot_item.getAxis("bottom").setTicks([[]])
            self.plot_item.getAxis("left").setTicks([[]])
            self.plot_item.setTitle(title or "Run an analysis to see the heat map.", color="#333333", size="10pt")
            return
        lut = render.COLORMAPS[self.colormap]
        self.levels, lut = _signed_levels(self.matrix, lut)
        self.meaning = _heatmap_meaning(self.colormap, self.levels, score)
        self.image_item.setLookupTable(lut)
        self.colorbar.setColorMap(pg.ColorMap(pos=np.linspace(0.0, 1.0, len(lut)), color=lut))
        features, rows = self.matrix.shape[1], self.matrix.shape[0]
        self.image_item.setImage(np.nan_to_num(self.matrix.T).astype(np.float32), levels=self.levels,
                                 autoLevels=False)
        self.image_item.setRect(0, 0, max(1, rows), max(1, features))
        self.colorbar.setLevels(self.levels)
        self.colorbar.getAxis("left").setLabel(f"share of |relevance| · {self.meaning}")
        feature_step = max(1, math.ceil(features / 40))
        self.plot_item.getAxis("left").setTicks(
            [[(j + 0.5, n) for j, n in enumerate(self.names) if j % feature_step == 0], []])
        row_step = max(1, math.ceil(rows / 25))
        self.plot_item.getAxis("bottom").setTicks(
            [[(i + 0.5, str(r)) for i, r in enumerate(self.row_ids) if i % row_step == 0], []])
        self.plot_item.setLabel("bottom", "row (highest score on the left)")
        self.plot_item.setLabel("left", "")
        self.plot_item.setTitle(title, color="#333333", size="10pt")
        self.plot_item.setRange(xRange=(0, max(1, rows)), yRange=(0, max(1, features)), padding=0)

    def describe(self, x: float, y: float) -> str:
        i, j = int(x), int(y)
        if 0 <= i < self.matrix.shape[0] and 0 <= j < self.matrix.shape[1]:
            return f"row {self.row_ids[i]}, {self.names[j]}: {self.matrix[i, j]:+.3f} of the row's |relevance|"
        return ""


def _signed_levels(matrix: np.ndarray, lut: np.ndarray) -> tuple[tuple[float, float], np.ndarray]:
    """Colour levels and lookup table for the data's sign: symmetric around 0 when values of both
    signs occur, else 0 … max (upper half of the map) or min … 0 (lower half)."""
    finite = matrix[np.isfinite(matrix)]
    low = float(finite.min()) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 0.0
    half = len(lut) // 2
    if low >= 0 and high > 0:
        return (0.0, high), lut[half:]
    if high <= 0 and low < 0:
        return (low, 0.0), lut[:half]
    limit = max(abs(low), abs(high)) or 1.0
    return (-limit, limit), lut


def _heatmap_meaning(colormap: str, levels: tuple[float, float], score: str) -> str:
    low, middle, high = render.COLOUR_WORDS.get(colormap, ("blue", "white", "red"))
    if levels[0] >= 0:
        return f"{high}: raises the {score} · {middle}: no effect"
    if levels[1] <= 0:
        return f"{low}: lowers the {score} · {middle}: no effect"
    return f"{high}: raises the {score} · {low}: lowers it"


class BoxPlot(pg.PlotWidget):
    """Box plots from ready-made :class:`~xaidesk.gui.table_jobs.BoxStats` (box = quartiles, whiskers 1.5 IQR)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMenuEnabled(False)
        self.plot_item = self.getPlotItem()
        self.plot_item.showGrid(y=True, alpha=0.2)
        _plain_axes(self.plot_item)
        self.boxes: list = []

    def set_boxes(self, boxes, title: str = "", y_label: str = "score", x_label: str = "") -> None:
        self.plot_item.clear()
        self.boxes = list(boxes)
        self.plot_item.setTitle(title, color="#333333", size="10pt")
        if not self.boxes:
            return
        x = np.arange(len(self.boxes), dtype=float)
        q1 = np.array([b.q1 for b in self.boxes])
        q3 = np.array([b.q3 for b in self.boxes])
        self.plot_item.addItem(pg.BarGraphItem(x=x, y0=q1, height=q3 - q1, width=0.5,
                                               brush=pg.mkBrush(150, 180, 220), pen=pg.mkPen("#335", width=1)))
        segments_x, segments_y = [], []
        for i, b in enumerate(self.boxes):
            # whiskers with caps, and the median
            segments_x += [i, i, i, i, i - 0.12, i + 0.12, i - 0.12, i + 0.12]
            segments_y += [b.q3, b.high, b.q1, b.low, b.high, b.high, b.low, b.low]
        self.plot_item.plot(segments_x, segments_y, connect="pairs", pen=pg.mkPen("#335", width=1))
        mx, my = [], []
        for i, b in enumerate(self.boxes):
            mx += [i - 0.25, i + 0.25]
            my += [b.median, b.median]
        self.plot_item.plot(mx, my, connect="pairs", pen=pg.mkPen((200, 60, 50), width=2.5))
        ox = np.concatenate([np.full(len(b.outliers), i, dtype=float) for i, b in enumerate(self.boxes)])
        oy = np.concatenate([b.outliers for b in self.boxes])
        if ox.size:
            self.plot_item.plot(ox, oy, pen=None, symbol="o", symbolSize=5, symbolBrush=pg.mkBrush(None),
                                symbolPen=pg.mkPen("#555"))
        self.plot_item.getAxis("bottom").setTicks([[(i, f"{b.label}\n(n = {b.count})") for i, b in enumerate(self.boxes)]])
        self.plot_item.setLabel("left", y_label)
        self.plot_item.setLabel("bottom", x_label)
        self.plot_item.setXRange(-0.6, len(self.boxes) - 0.4, padding=0)


class CurvePlot(pg.PlotWidget):
    """Lines and shaded bands against a numeric x (γ curve, elbow, silhouette, training loss)."""

    def __init__(self, title: str = "", parent=None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMenuEnabled(False)
        self.plot_item = self.getPlotItem()
        self.title = title
        self.mark_text = ""
        self.mark_line: pg.InfiniteLine | None = None
        self.plot_item.setTitle(title, color="#333333", size="10pt")
        self.plot_item.showGrid(x=True, y=True, alpha=0.2)
        _plain_axes(self.plot_item)
        self.legend = self.plot_item.addLegend(offset=(-10, 10), labelTextColor="#333333")
        self.curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.marker: float | None = None
        self.tick_labels: list[str] = []

    def reset(self, title: str | None = None, x_label: str = "", y_label: str = "", log_x: bool = False) -> None:
        self.plot_item.clear()
        self.legend.clear()
        self.curves = {}
        self.marker = None
        self.mark_text = ""
        self.mark_line = None
        self.tick_labels = []
        if title is not None:
            self.title = title
        self.plot_item.setTitle(self.title, color="#333333", size="10pt")
        self.plot_item.setLogMode(x=log_x, y=False)
        self.plot_item.getAxis("bottom").setTicks(None)
        self.plot_item.setLabel("bottom", x_label)
        self.plot_item.setLabel("left", y_label)

    def add_curve(self, name: str, x, y, color=(40, 90, 170), band=None, symbol="o") -> None:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self.curves[name] = (x, y)
        if band is not None:
            band = np.asarray(band, dtype=np.float64)
            upper = self.plot_item.plot(x, y + band, pen=pg.mkPen(None))
            lower = self.plot_item.plot(x, y - band, pen=pg.mkPen(None))
            fill = pg.FillBetweenItem(upper, lower, brush=pg.mkBrush(*color, 50))
            self.plot_item.addItem(fill)
        self.plot_item.plot(x, y, pen=pg.mkPen(color, width=2), symbol=symbol, symbolSize=6,
                            symbolBrush=pg.mkBrush(*color), symbolPen=pg.mkPen(None), name=name)
        self._tick_at_points()

    def _tick_at_points(self) -> None:
        """Label the x axis at the curves' points when there are few (a γ grid, k = 2..10), so that
        the log axis's minor ticks do not pile up; longer curves keep the automatic ticks."""
        xs = np.unique(np.concatenate([x[np.isfinite(x)] for x, _ in self.curves.values()]))
        log_x = self.plot_item.ctrl.logXCheck.isChecked()
        if log_x:
            xs = xs[xs > 0]
        if not xs.size or xs.size > MAX_POINT_TICKS:
            self.plot_item.getAxis("bottom").setTicks(None)
            return
        self.tick_labels = [table_number(float(v)) for v in xs]
        positions = np.log10(xs) if log_x else xs
        self.plot_item.getAxis("bottom").setTicks([list(zip(positions.tolist(), self.tick_labels)), []])

    def mark(self, x: float, text: str = "") -> None:
        """A dashed red line at ``x``; ``text`` goes in the title, in red, where it covers no curve."""
        self.marker = float(x)
        self.mark_text = text
        position = math.log10(x) if self.plot_item.ctrl.logXCheck.isChecked() and x > 0 else x
        self.mark_line = pg.InfiniteLine(pos=position, angle=90,
                                         pen=pg.mkPen((200, 60, 50), width=2, style=Qt.PenStyle.DashLine))
        self.plot_item.addItem(self.mark_line)
        if text:
            self.plot_item.setTitle(f"{self.title} · <span style='color:#c83c32'>{text}</span>",
                                    color="#333333", size="10pt")


class ElidingComboBox(QComboBox):
    """A combo box that fits its column: a long current text ends in "…".

    The tooltip is the full current text, then the item's own tooltip (if any); the
    popup list shows every item in full.
    """

    def __init__(self, minimum_characters: int = 16, parent=None) -> None:
        super().__init__(parent)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(minimum_characters)
        self.currentIndexChanged.connect(self._update_tooltip)

    def _update_tooltip(self, *_args) -> None:
        detail = self.itemData(self.currentIndex(), Qt.ItemDataRole.ToolTipRole) if self.currentIndex() >= 0 else None
        self.setToolTip("\n".join(t for t in (self.currentText(), detail) if t))

    def addItem(self, text: str, *args) -> None:  # noqa: N802 - Qt override
        super().addItem(text, *args)
        self.view().setMinimumWidth(max(self.view().minimumWidth(), self.view().sizeHintForColumn(0) + 24))

    def setItemData(self, index: int, value, role=Qt.ItemDataRole.UserRole) -> None:  # noqa: N802 - Qt override
        super().setItemData(index, value, role)
        if index == self.currentIndex():
            self._update_tooltip()

    def shown_text(self) -> str:
        """The current text as drawn: elided to the width the combo box has."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        field = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                            QStyle.SubControl.SC_ComboBoxEditField, self)
        return self.fontMetrics().elidedText(self.currentText(), Qt.TextElideMode.ElideRight, max(field.width(), 0))

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        option.currentText = self.shown_text()
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)


def bold_font() -> QFont:
    font = QFont()
    font.setBold(True)
    return font



__all__ = ["FeatureBars", "HistogramPlot", "RelevanceHeatmap", "BoxPlot", "CurvePlot", "ElidingComboBox",
           "bold_font"]
