"""Plots of the "What if" page: ICE curves with their average, a rug and the observed range, and a 2-D heat map.

Each plot is a widget holding a pyqtgraph plot and a caption that says what the marks mean, so
that a saved picture explains itself. The plots keep the numbers they draw (``grid``, ``curves``,
``average``, ``row_outputs``, ``rug_values``, ``values``) for tests.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from .table_items import table_number
from .table_views import _plain_axes
from .view_common import WrappingLabel, colormap_from_lut

CURVE = (60, 100, 170)
BEYOND = (150, 150, 150)
AVERAGE = (20, 35, 110)
SELECTED = (230, 110, 10)
RANGE_BRUSH = (90, 170, 90, 35)
#: Data values drawn in the rug at most (sampled evenly beyond that).
RUG_VALUES = 5000
HEATMAP_COLORMAP = "viridis"


def plot_with_caption(plot: QWidget) -> tuple[QVBoxLayout, WrappingLabel]:
    caption = WrappingLabel("")
    caption.setStyleSheet("color: #444; background: white; padding: 2px 6px;")
    caption.setTextFormat(Qt.TextFormat.RichText)
    layout = QVBoxLayout()
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(0)
    layout.addWidget(plot, 1)
    layout.addWidget(caption)
    return layout, caption


def plain_colorbar(colorbar: pg.ColorBarItem) -> None:
    """Dark numbers written out in full (no "×0.001" scale factor) on a colour bar's axis."""
    axis = colorbar.getAxis("right")
    axis.setWidth(64)
    axis.enableAutoSIPrefix(False)
    axis.setTextPen(pg.mkPen("#333333"))
    axis.setPen(pg.mkPen("#666666"))
    axis.label.setDefaultTextColor(pg.mkColor("#333333"))


def split_at_range(x: np.ndarray, inside: np.ndarray) -> tuple[slice, list[slice]]:
    """The slice of grid points inside the observed range, and the slices beyond it (each sharing its end point)."""
    hits = np.flatnonzero(inside)
    if not hits.size:
        return slice(0, 0), [slice(0, len(x))]
    first, last = int(hits[0]), int(hits[-1])
    beyond = [s for s in (slice(0, first + 1), slice(last, len(x))) if s.stop - s.start > 1]
    return slice(first, last + 1), beyond


def lines(x: np.ndarray, curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Many curves over the same x as one poly-line broken by NaN gaps (drawn with ``connect="finite"``)."""
    if curves.size == 0:
        return np.zeros(0), np.zeros(0)
    count = curves.shape[0]
    xs = np.tile(np.append(x, np.nan), count)
    ys = np.hstack([curves, np.full((count, 1), np.nan)]).reshape(-1)
    return xs, ys


class IcePlot(QWidget):
    """ICE curves of one feature (thin), their average (thick) and the selected row's curve (orange)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.plot_item = self.plot.getPlotItem()
        self.plot_item.showGrid(x=True, y=True, alpha=0.15)
        _plain_axes(self.plot_item)
        layout, self.caption = plot_with_caption(self.plot)
        self.setLayout(layout)
        self._row_items: list = []
        self.grid = np.zeros(0)
        self.curves = np.zeros((0, 0))
        self.average = np.zeros(0)
        self.extrapolated = np.zeros(0, dtype=bool)
        self.rug_values = np.zeros(0)
        self.observed_range = (0.0, 0.0)
        self.row_outputs: np.ndarray | None = None
        self.row_point: tuple[float, float] | None = None
        self._words = ("", "", 0)
        self._rug: pg.PlotDataItem | None = None
        self.title = ""
        self._row_name = ""
        self.plot.scene().sigMouseMoved.connect(self._hover)

    def clear_plot(self) -> None:
        self.plot_item.clear()
        self._row_items, self._rug = [], None
        self.grid, self.curves, self.average = np.zeros(0), np.zeros((0, 0)), np.zeros(0)
        self.rug_values, self.row_outputs, self.row_point = np.zeros(0), None, None
        self.caption.setText("")
        self.title = ""
        self.plot_item.setTitle(None)

    def set_curves(self, ice, feature_name: str, output_name: str, rows_total: int, row=None,
                   row_name: str = "") -> None:
        """Draw an :class:`~xaidesk.tabular.dependence.IceResult`; ``row`` is a selected row's ``RowCurve``
        (``row_name`` names it: "row 17")."""
        self.clear_plot()
        self.grid = np.asarray(ice.grid, dtype=float)
        self.curves = np.asarray(ice.curves, dtype=float)
        self.average = np.asarray(ice.average, dtype=float)
        self.extrapolated = np.asarray(ice.extrapolated, dtype=bool)
        self.observed_range = tuple(float(v) for v in ice.data_range)
        self._words = (feature_name, output_name, rows_total)
        low, high = self.observed_range
        region = pg.LinearRegionItem(values=(low, high), movable=False, brush=pg.mkBrush(*RANGE_BRUSH),
                                     pen=pg.mkPen((90, 150, 90), width=1))
        region.setZValue(-20)
        self.plot_item.addItem(region)
        inside, beyond = split_at_range(self.grid, ~self.extrapolated)
        for part, colour, style in [(inside, CURVE, Qt.PenStyle.SolidLine)] + [(b, BEYOND, Qt.PenStyle.DashLine)
                                                                            for b in beyond]:
            xs, ys = lines(self.grid[part], self.curves[:, part])
            self.plot_item.plot(xs, ys, connect="finite", pen=pg.mkPen(*colour, 45, width=1, style=style))
        self._draw_curve(self.average, AVERAGE, 3.5)
        self._draw_rug(np.asarray(ice.data_values, dtype=float))
        self.plot_item.setLabel("bottom", feature_name)
        self.plot_item.setLabel("left", output_name)
        self.title = f"If {feature_name} changed: the {output_name}"
        self.plot_item.setTitle(self.title, color="#333333", size="10pt")
        self.set_row(row, row_name)

    def _draw_curve(self, y: np.ndarray, colour, width: float) -> list:
        inside, beyond = split_at_range(self.grid, ~self.extrapolated)
        items = [self.plot_item.plot(self.grid[inside], y[inside], pen=pg.mkPen(*colour, width=width))]
        for part in beyond:
            items.append(self.plot_item.plot(self.grid[part], y[part],
                                             pen=pg.mkPen(*colour, width=width, style=Qt.PenStyle.DashLine)))
        return items

    def _y_span(self) -> tuple[float, float]:
        parts = [self.curves.reshape(-1), self.average]
        if self.row_outputs is not None:
            parts += [self.row_outputs, [self.row_point[1]]]
        values = np.concatenate([np.asarray(p, dtype=float) for p in parts])
        low, high = float(values.min()), float(values.max())
        return (low, high) if high > low else (low - 0.5, high + 0.5)

    def _draw_rug(self, data_values: np.ndarray) -> None:
        if len(data_values) > RUG_VALUES:
            data_values = np.sort(data_values)[np.linspace(0, len(data_values) - 1, RUG_VALUES).astype(int)]
        self.rug_values = data_values
        self._rug = self.plot_item.plot([], [], connect="pairs", pen=pg.mkPen(40, 40, 40, 70, width=1))

    def _fit_ranges(self) -> None:
        """Place the rug under the lowest curve and show every curve, the rug and the whole grid."""
        low, high = self._y_span()
        span = high - low
        bottom, top = low - 0.12 * span, low - 0.05 * span
        self._rug.setData(np.repeat(self.rug_values, 2), np.tile([bottom, top], len(self.rug_values)),
                          connect="pairs")
        self.plot_item.setYRange(bottom - 0.02 * span, high + 0.05 * span, padding=0)
        self.plot_item.setXRange(float(self.grid.min()), float(self.grid.max()), padding=0.02)

    def set_row(self, row, row_name: str = "") -> None:
        """Highlight one row's ``RowCurve`` (``None``: none) and mark its actual value and output."""
        for item in self._row_items:
            self.plot_item.removeItem(item)
        self._row_items = []
        self.row_outputs, self.row_point = None, None
        self._row_name = row_name or "selected row"
        if row is not None and len(self.grid) and np.array_equal(np.asarray(row.grid), self.grid):
            self.row_outputs = np.asarray(row.outputs, dtype=float)
            self.row_point = (float(row.value), float(row.output))
            self._row_items = self._draw_curve(self.row_outputs, SELECTED, 2.5)
            dot = pg.ScatterPlotItem([row.value], [row.output], size=12, brush=pg.mkBrush(*SELECTED),
                                     pen=pg.mkPen("k", width=1.5))
            dot.setZValue(10)
            self.plot_item.addItem(dot)
            self._row_items.append(dot)
        if len(self.grid):
            self._fit_ranges()
        self._write_caption(row, f"the selected row ({row_name})" if row_name else "the selected row")

    def readout(self, x: float) -> str:
        """The values at the grid point nearest to ``x``: "at 20: average 0.47, row 17 0.10" ("" off the grid)."""
        if not len(self.grid) or not self.grid.min() <= x <= self.grid.max():
            return ""
        i = int(np.abs(self.grid - x).argmin())
        words = f"at {table_number(self.grid[i])}: average {table_number(self.average[i])}"
        if self.row_outputs is not None:
            words += f", {self._row_name} {table_number(self.row_outputs[i])}"
        return words + (" (extrapolated)" if self.extrapolated[i] else "")

    def _hover(self, position) -> None:
        if not self.title:
            return
        words = self.readout(self.plot_item.vb.mapSceneToView(position).x())
        self.plot_item.setTitle(f"{self.title} · <span style='color:#555'>{words}</span>" if words else self.title,
                                color="#333333", size="10pt")

    def _write_caption(self, row, row_words: str) -> None:
        feature, _output, total = self._words
        if not len(self.grid):
            self.caption.setText("")
            return
        drawn = self.curves.shape[0]
        who = f"all {drawn} rows" if drawn >= total else f"{drawn} of {total} rows (a seeded sample)"
        parts = [f"<span style='color:rgb{CURVE}'>thin lines</span>: {who}, each with only {feature} changed",
                 f"<b style='color:rgb{AVERAGE}'>thick line</b>: their average (partial dependence)"]
        if row is not None and self.row_point is not None:
            parts.append(f"<b style='color:rgb{SELECTED}'>orange</b>: {row_words} (dot: its actual "
                         f"{feature} = {table_number(self.row_point[0])}, output {table_number(self.row_point[1])})")
        low, high = self.observed_range
        parts.append(f"<span style='color:#3a8a3a'>green band</span>: {feature} seen in the data "
                     f"({table_number(low)} to {table_number(high)}); ticks at the bottom: the data's values")
        if self.extrapolated.any():
            parts.append("grey and dashed beyond the band: extrapolation, values the model never saw")
        self.caption.setText(" · ".join(parts) + ".")


class ColourBarPlot(QWidget):
    """A plot with a colour bar of ``colormap`` on its right (hidden until :meth:`show_colorbar`) and a caption
    below."""

    def __init__(self, colormap: str, parent: QWidget | None = None, grid: bool = True, bar_width: int = 12) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.plot_item = self.graphics.addPlot(row=0, col=0)
        self.plot_item.setMenuEnabled(False)
        if grid:
            self.plot_item.showGrid(x=True, alpha=0.15)
        _plain_axes(self.plot_item)
        self.colorbar = pg.ColorBarItem(values=(0, 1), width=bar_width, interactive=False,
                                        colorMap=colormap_from_lut(colormap))
        plain_colorbar(self.colorbar)
        self.graphics.addItem(self.colorbar, row=0, col=1)
        self.colorbar.setVisible(False)
        layout, self.caption = plot_with_caption(self.graphics)
        self.setLayout(layout)

    def show_colorbar(self, levels: tuple[float, float], label: str, ticks: list | None = None) -> None:
        self.colorbar.setLevels(levels)
        axis = self.colorbar.getAxis("right")
        axis.setLabel(label, color="#333333")
        axis.setTicks(ticks)
        self.colorbar.setVisible(True)

    def clear_plot(self) -> None:
        self.plot_item.clear()
        self.plot_item.getAxis("left").setTicks(None)
        self.colorbar.setVisible(False)
        self.caption.setText("")


class PairHeatmap(ColourBarPlot):
    """Partial dependence on two features as a heat map (x: the first, y: the second) with a colour bar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(HEATMAP_COLORMAP, parent, grid=False, bar_width=14)
        self.grid1, self.grid2, self.values = np.zeros(0), np.zeros(0), np.zeros((0, 0))
        self.names = ("", "")
        self.mesh: pg.PColorMeshItem | None = None
        self.graphics.scene().sigMouseMoved.connect(self._hover)
        self._base_caption = self._pair_words = ""
        self.marked: tuple[float, float] | None = None
        self._mark_item: pg.ScatterPlotItem | None = None

    def clear_plot(self) -> None:
        super().clear_plot()
        self.mesh, self.marked, self._mark_item = None, None, None
        self.grid1, self.grid2, self.values = np.zeros(0), np.zeros(0), np.zeros((0, 0))

    def set_pair(self, pair, names: tuple[str, str], output_name: str) -> None:
        """Draw a ``PairView`` (its ``pd.values[i, j]`` at ``(grid1[i], grid2[j])``)."""
        self.clear_plot()
        self.grid1, self.grid2 = np.asarray(pair.pd.grid1, float), np.asarray(pair.pd.grid2, float)
        self.values = np.asarray(pair.pd.values, dtype=float)
        self.names = names
        low, high = float(self.values.min()), float(self.values.max())
        levels = (low, high) if high > low else (low - 0.5, high + 0.5)
        x, y = np.meshgrid(cell_edges(self.grid1), cell_edges(self.grid2), indexing="ij")
        self.mesh = pg.PColorMeshItem(x, y, self.values, colorMap=colormap_from_lut(HEATMAP_COLORMAP),
                                      levels=levels, enableAutoLevels=False)
        self.plot_item.addItem(self.mesh)
        (x0, x1), (y0, y1) = pair.ranges
        box = pg.PlotDataItem([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0],
                              pen=pg.mkPen("w", width=2, style=Qt.PenStyle.DashLine))
        self.plot_item.addItem(box)
        self.show_colorbar(levels, output_name)
        self.plot_item.setLabel("bottom", names[0])
        self.plot_item.setLabel("left", names[1])
        self.plot_item.autoRange(padding=0)
        extended = bool(self.grid1.min() < x0 or self.grid1.max() > x1 or self.grid2.min() < y0
                        or self.grid2.max() > y1)
        self._base_caption = (
            f"Each cell: the average {output_name} over the rows when {names[0]} and {names[1]} are set to the "
            f"cell's values (bright: higher, dark: lower)."
            + (" Dashed white box: the values seen in the data; outside it the model extrapolates."
               if extended else " The grid covers the values seen in the data.")
            )
        self._pair_words = self._base_caption
        self.caption.setText(self._base_caption)

    def mark_row(self, point: tuple[float, float] | None) -> None:
        """Mark the selected row's two feature values with an orange dot (``None``: no mark)."""
        if self._mark_item is not None:
            self.plot_item.removeItem(self._mark_item)
            self._mark_item = None
        self.marked = None if point is None or not self.values.size else (float(point[0]), float(point[1]))
        if self.marked is not None:
            self._mark_item = pg.ScatterPlotItem([self.marked[0]], [self.marked[1]], size=12,
                                                 brush=pg.mkBrush(*SELECTED), pen=pg.mkPen("k", width=1.5))
            self._mark_item.setZValue(10)
            self.plot_item.addItem(self._mark_item)
        if self.values.size:
            self._base_caption = self._pair_words + (f" <span style='color:rgb{SELECTED}'>Orange dot</span>: the "
                                                     "selected row." if self.marked is not None else "")
            self.caption.setText(self._base_caption)

    def value_at(self, x: float, y: float) -> float | None:
        if not self.values.size:
            return None
        e1, e2 = cell_edges(self.grid1), cell_edges(self.grid2)
        if not (e1[0] <= x <= e1[-1] and e2[0] <= y <= e2[-1]):
            return None
        i = min(int(np.searchsorted(e1, x, side="right")) - 1, len(self.grid1) - 1)
        j = min(int(np.searchsorted(e2, y, side="right")) - 1, len(self.grid2) - 1)
        return float(self.values[max(i, 0), max(j, 0)])

    def _hover(self, position) -> None:
        if not self.values.size:
            return
        point = self.plot_item.vb.mapSceneToView(position)
        value = self.value_at(point.x(), point.y())
        if value is None:
            self.caption.setText(self._base_caption)
            return
        self.caption.setText(f"{self.names[0]} {table_number(point.x())}, {self.names[1]} {table_number(point.y())}: "
                             f"average output {table_number(value)} · " + self._base_caption)


def cell_edges(grid: np.ndarray) -> np.ndarray:
    """Cell boundaries around each grid value: midway between neighbours, half a step beyond the ends."""
    grid = np.asarray(grid, dtype=float)
    if len(grid) == 1:
        return np.array([grid[0] - 0.5, grid[0] + 0.5])
    middle = (grid[1:] + grid[:-1]) / 2
    return np.concatenate([[grid[0] - (middle[0] - grid[0])], middle, [grid[-1] + (grid[-1] - middle[-1])]])


__all__ = ["IcePlot", "PairHeatmap", "cell_edges"]
