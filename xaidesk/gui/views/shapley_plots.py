"""Plots of the "Shapley values" page: a waterfall for one row, a beeswarm summary and a dependence plot.

Each is a widget holding a pyqtgraph plot and a caption saying what its marks mean, so that a
saved picture explains itself. The plots keep the numbers they draw (``steps``, ``points``,
``colours``) for tests. Red bars raise the output, blue ones lower it; dot colours run from low
(dark purple) to high (yellow) feature values.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ...core import render
from ..tabular_page_jobs import colour_fraction, swarm_offsets
from ..formatting import format_value
from .dependence_plots import ColourBarPlot
from .table_items import table_number
from .table_views import NEGATIVE, POSITIVE
from .view_common import WrappingLabel

VALUE_COLORMAP = "viridis"
#: Features drawn in the beeswarm at most (those with the largest mean |value|).
SWARM_FEATURES = 20
HIGHLIGHT = pg.mkPen("#e0620a", width=2.5)


def value_brushes(fractions: np.ndarray) -> list:
    """Brushes for values scaled 0 … 1 through :data:`VALUE_COLORMAP`."""
    lut = render.COLORMAPS[VALUE_COLORMAP]
    index = np.clip(np.round(np.asarray(fractions) * (len(lut) - 1)).astype(int), 0, len(lut) - 1)
    return [pg.mkBrush(*lut[i][:3], 210) for i in index]


class ColourPlot(ColourBarPlot):
    """A plot coloured by feature values (low … high), its colour bar hidden until used."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(VALUE_COLORMAP, parent)


class WaterfallPlot(ColourPlot):
    """One row's Shapley values as bars from the base value (bottom) to the model's output (top)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_item.invertY(True)
        self.steps: list = []
        self.base = self.output = 0.0

    def set_steps(self, steps, base: float, output: float, output_name: str, row_words: str) -> None:
        """Draw ``WaterfallStep``s (top first) of one row; ``row_words`` names the row ("row 17 of the file")."""
        self.clear_plot()
        self.steps, self.base, self.output = list(steps), float(base), float(output)
        starts = np.array([s.start for s in self.steps])
        ends = np.array([s.end for s in self.steps])
        y = np.arange(len(self.steps), dtype=float)
        brushes = [pg.mkBrush(*(POSITIVE if e >= s else NEGATIVE)) for s, e in zip(starts, ends)]
        self.plot_item.addItem(pg.BarGraphItem(x0=np.minimum(starts, ends), x1=np.maximum(starts, ends), y=y,
                                               height=0.6, brushes=brushes, pen=pg.mkPen(None)))
        if len(self.steps) > 1:  # thin links from each bar's end to the next bar up
            links_x = np.repeat(starts[:-1], 2)
            links_y = np.column_stack([y[:-1] + 0.3, y[1:] - 0.3]).reshape(-1)
            self.plot_item.plot(links_x, links_y, connect="pairs", pen=pg.mkPen("#888", width=1))
        span = max(float(np.ptp(np.concatenate([starts, ends]))), abs(self.output) * 1e-3, 1e-12)
        for i, (s, e) in enumerate(zip(starts, ends)):
            words = f"{e - s:+.3g}" if abs(e - s) > 1e-12 else "0"
            text = pg.TextItem(words, color="#222", anchor=(0, 0.5) if e >= s else (1, 0.5))
            text.setPos(max(s, e) + 0.01 * span if e >= s else min(s, e) - 0.01 * span, i)
            self.plot_item.addItem(text)
        for value, words, position in ((self.base, f"base value {format_value(self.base)}", 0.97),
                                       (self.output, f"this row: {format_value(self.output)}", 0.03)):
            self.plot_item.addItem(pg.InfiniteLine(
                pos=value, angle=90, pen=pg.mkPen("#555", width=1, style=Qt.PenStyle.DashLine), label=words,
                labelOpts={"position": position, "color": "#333", "fill": (255, 255, 255, 200)}))
        self.plot_item.getAxis("left").setTicks([[(i, s.label) for i, s in enumerate(self.steps)], []])
        self.plot_item.setLabel("bottom", output_name)
        low, high = float(min(starts.min(), ends.min())), float(max(starts.max(), ends.max()))
        self.plot_item.setXRange(low - 0.15 * span, high + 0.15 * span, padding=0)
        self.plot_item.setYRange(-0.8, len(self.steps) - 0.2, padding=0)
        self.caption.setText(
            f"{row_words}: starting from the base value (the average output over the background) at the bottom, "
            f"each bar adds one feature's Shapley value — <span style='color:rgb{POSITIVE}'>red raises</span>, "
            f"<span style='color:rgb{NEGATIVE}'>blue lowers</span> the output — ending at the model's output at "
            "the top. Largest effects on top.")


class BeeswarmPlot(ColourPlot):
    """One row of dots per feature (x: Shapley value, colour: the feature's value), largest mean |value| on top."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_item.invertY(True)
        self.order = np.zeros(0, dtype=int)
        self.points = np.zeros((0, 2))
        self.point_features = np.zeros(0, dtype=int)
        self.point_rows = np.zeros(0, dtype=int)
        self._ring: pg.ScatterPlotItem | None = None

    def set_swarm(self, values: np.ndarray, rows: np.ndarray, names, order: np.ndarray, output_name: str) -> None:
        """Draw Shapley ``values`` (explained rows × features) coloured by the rows' feature values."""
        self.clear_plot()
        values, rows = np.asarray(values, dtype=float), np.asarray(rows, dtype=float)
        self.order = np.asarray(order, dtype=int)[:SWARM_FEATURES]
        xs, ys, brushes, features, row_index = [], [], [], [], []
        for rank, j in enumerate(self.order):
            xs.append(values[:, j])
            ys.append(rank + swarm_offsets(values[:, j], half_height=0.38))
            brushes += value_brushes(colour_fraction(rows[:, j]))
            features.append(np.full(len(values), j))
            row_index.append(np.arange(len(values)))
        self.points = np.column_stack([np.concatenate(xs), np.concatenate(ys)]) if xs else np.zeros((0, 2))
        self.point_features = np.concatenate(features) if features else np.zeros(0, dtype=int)
        self.point_rows = np.concatenate(row_index) if row_index else np.zeros(0, dtype=int)
        self.plot_item.addItem(pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#666", width=1)))
        self.plot_item.addItem(pg.ScatterPlotItem(self.points[:, 0], self.points[:, 1], size=5, brush=brushes,
                                                  pen=pg.mkPen(None)))
        self.plot_item.getAxis("left").setTicks([[(i, str(names[j])) for i, j in enumerate(self.order)], []])
        self.plot_item.setLabel("bottom", f"Shapley value (effect on the {output_name})")
        self.plot_item.setYRange(-0.7, len(self.order) - 0.3, padding=0)
        self.show_colorbar((0, 1), "feature value", [[(0, "low"), (1, "high")], []])
        hidden = values.shape[1] - len(self.order)
        self.caption.setText(
            f"One dot per explained row ({len(values)}) and feature: right of the line the feature raised the output, "
            "left of it lowered it; the colour is the feature's value in that row (dark: low, yellow: high). "
            "Features with the largest average effect on top"
            + (f"; {hidden} features with smaller effects are not drawn." if hidden > 0 else "."))

    def highlight_row(self, index: int | None) -> None:
        """Ring the dots of explained row ``index`` (``None``: no ring)."""
        if self._ring is not None:
            self.plot_item.removeItem(self._ring)
            self._ring = None
        if index is None or not len(self.points):
            return
        mine = self.point_rows == index
        self._ring = pg.ScatterPlotItem(self.points[mine, 0], self.points[mine, 1], size=11, brush=pg.mkBrush(None),
                                        pen=HIGHLIGHT)
        self.plot_item.addItem(self._ring)


class ShapDependencePlot(ColourPlot):
    """A feature's value (x) against its Shapley value (y), dots coloured by a second feature's value."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_item.showGrid(x=True, y=True, alpha=0.15)
        self.points = np.zeros((0, 2))
        self.colour_values: np.ndarray | None = None
        self._ring: pg.ScatterPlotItem | None = None

    def set_points(self, feature_values, shapley_values, feature_name: str, output_name: str,
                   colour_values=None, colour_name: str = "", colour_reason: str = "") -> None:
        self.clear_plot()
        self.points = np.column_stack([np.asarray(feature_values, float), np.asarray(shapley_values, float)])
        self.colour_values = None if colour_values is None else np.asarray(colour_values, dtype=float)
        if self.colour_values is None:
            brushes = [pg.mkBrush(60, 100, 170, 200)] * len(self.points)
        else:
            low, high = np.percentile(self.colour_values, [5, 95])
            if high <= low:
                low, high = float(self.colour_values.min()), float(self.colour_values.max()) + 1e-12
            brushes = value_brushes(colour_fraction(self.colour_values))
            self.show_colorbar((float(low), float(high)), colour_name)
        self.plot_item.addItem(pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen("#666", width=1)))
        self.plot_item.addItem(pg.ScatterPlotItem(self.points[:, 0], self.points[:, 1], size=7, brush=brushes,
                                                  pen=pg.mkPen(None)))
        self.plot_item.setLabel("bottom", feature_name)
        self.plot_item.setLabel("left", f"Shapley value of {feature_name}")
        self.plot_item.autoRange()
        colour = (f" Colour: {colour_name} ({colour_reason}), dark low, yellow high." if self.colour_values is not None
                  else "")
        self.caption.setText(
            f"One dot per explained row: how {feature_name}'s value (across) moved the {output_name} (up: raised, "
            f"down: lowered). A spread at the same value means {feature_name} acts together with other features."
            + colour)

    def highlight(self, index: int | None) -> None:
        """Ring the dot of explained row ``index`` (``None``: no ring)."""
        if self._ring is not None:
            self.plot_item.removeItem(self._ring)
            self._ring = None
        if index is None or not len(self.points):
            return
        self._ring = pg.ScatterPlotItem([self.points[index, 0]], [self.points[index, 1]], size=14,
                                        brush=pg.mkBrush(None), pen=HIGHLIGHT)
        self.plot_item.addItem(self._ring)


class BackgroundTable(QWidget):
    """The background rows Shapley values integrate over, with their weights, under a sentence saying what they are."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.words = WrappingLabel("")
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.words)
        layout.addWidget(self.table, 1)

    def clear_plot(self) -> None:
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.words.setText("")

    def set_rows(self, rows: np.ndarray, weights: np.ndarray, names, description: str) -> None:
        rows, weights = np.asarray(rows, dtype=float), np.asarray(weights, dtype=float)
        self.table.clear()
        self.table.setRowCount(len(rows))
        self.table.setColumnCount(1 + rows.shape[1])
        self.table.setHorizontalHeaderLabels(["weight (share)", *[str(n) for n in names]])
        for i, (row, weight) in enumerate(zip(rows, weights)):
            share = QTableWidgetItem(f"{100 * weight:.3g} %")
            share.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(i, 0, share)
            for j, value in enumerate(row):
                item = QTableWidgetItem(table_number(float(value)))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, 1 + j, item)
        self.table.resizeColumnsToContents()
        self.words.setText(f"The background: {description}. A feature left out of a coalition takes these rows' "
                           "values, weighted as shown; the base value is the model's average output over them.")


__all__ = ["BackgroundTable", "BeeswarmPlot", "ShapDependencePlot", "WaterfallPlot", "value_brushes"]
