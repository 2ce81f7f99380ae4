"""Widgets of the Tables tab's Trust page: grouped bars with error bars, a small results table, and
the choice of explanation methods with their sample counts.

The plots keep what they draw (``names``, ``series``, ``lines``) so that tests can check the
numbers on screen; the numbers come ready-made from :mod:`xaidesk.tabular.trust`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGridLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...tabular import trust
from ..trust_jobs import AGREEMENT_COLUMNS, read_comparison
from .table_items import table_item, table_number
from .table_views import _plain_axes

#: Colours of the series, in order (one per method or model).
SERIES_COLOURS = ((40, 90, 170), (220, 120, 30), (60, 150, 80), (150, 70, 160))
#: Colours of the verdict words in the tables.
VERDICT_COLOURS = {"stable": (200, 235, 200), "somewhat stable": (250, 235, 190), "unstable": (245, 200, 195)}


class GroupedBars(pg.PlotWidget):
    """Horizontal bars, one group per name (names on the left), one bar per series, with optional error
    bars (± the given spread) and dashed vertical reference lines.

    ``series`` keeps ``(label, values, errors or None)`` as drawn; ``lines`` the reference lines.
    """

    def __init__(self, title: str = "", parent=None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMenuEnabled(False)
        self.plot_item = self.getPlotItem()
        self.plot_item.showGrid(x=True, alpha=0.2)
        self.plot_item.invertY(True)
        _plain_axes(self.plot_item)
        self.names: list[str] = []
        self.series: list[tuple[str, np.ndarray, np.ndarray | None]] = []
        self.lines: list[tuple[float, str]] = []
        self.error_items: list[pg.ErrorBarItem] = []
        self.whiskers: list[tuple[np.ndarray, np.ndarray]] = []
        self.plot_item.setTitle(title, color="#333333", size="10pt")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        # small, so that a scroll area around the page sizes it to the window and the plot takes what is left
        return QSize(480, 260)

    def reset(self, title: str = "") -> None:
        self.plot_item.clear()
        self.names, self.series, self.lines, self.error_items, self.whiskers = [], [], [], [], []
        self.plot_item.getAxis("left").setTicks(None)
        self.plot_item.setTitle(title, color="#333333", size="10pt")

    def set_bars(self, names: Sequence[str], series: Sequence[tuple[str, Sequence[float], Sequence[float] | None]],
                 *, title: str = "", x_label: str = "", lines: Sequence[tuple[float, str]] = (),
                 x_range: tuple[float, float] | None = None, clip: tuple[float, float] | None = None) -> None:
        """Draw one group of bars per name; each series is ``(label, values, errors or None)``.

        With ``clip`` the whiskers stop at its bounds (a rank correlation lies in [-1, 1]); ``whiskers``
        keeps the ``(left, right)`` lengths drawn, ``series`` the spreads as given.
        """
        self.reset(title)
        self.names = [str(n) for n in names]
        count = max(1, len(series))
        height = 0.8 / count
        low, high = 0.0, 0.0
        for s, (label, values, errors) in enumerate(series):
            values = np.asarray(values, dtype=float)
            errors = None if errors is None else np.asarray(errors, dtype=float)
            self.series.append((str(label), values, errors))
            y = np.arange(len(values)) - 0.4 + (s + 0.5) * height
            colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
            self.plot_item.addItem(pg.BarGraphItem(x0=np.zeros(len(values)), width=values, y=y, height=height * 0.9,
                                                   brush=pg.mkBrush(*colour), pen=pg.mkPen(None)))
            left = right = np.zeros(len(values)) if errors is None else errors
            if errors is not None:
                if clip is not None:
                    left = np.clip(np.minimum(errors, values - clip[0]), 0, None)
                    right = np.clip(np.minimum(errors, clip[1] - values), 0, None)
                item = pg.ErrorBarItem(x=values, y=y, left=left, right=right, beam=height * 0.5,
                                       pen=pg.mkPen("#222222", width=1.5))
                self.plot_item.addItem(item)
                self.error_items.append(item)
                self.whiskers.append((left, right))
            if len(values):
                low, high = min(low, float((values - left).min())), max(high, float((values + right).max()))
        for position, text in lines:  # their meaning goes in the axis label, where it covers no bar
            self.lines.append((float(position), str(text)))
            line = pg.InfiniteLine(pos=position, angle=90,
                                   pen=pg.mkPen((120, 120, 120), width=1, style=Qt.PenStyle.DashLine))
            self.plot_item.addItem(line)
        self.plot_item.addItem(pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#444444", width=1)))
        axis = self.plot_item.getAxis("left")
        axis.setTicks([[(i, n) for i, n in enumerate(self.names)]])
        metrics = QFontMetrics(axis.style.get("tickFont") or self.font())
        axis.setWidth(max((metrics.horizontalAdvance(n) for n in self.names), default=20) + 16)
        self.plot_item.setLabel("bottom", x_label)
        if len(self.series) > 1:  # the key goes in the title, where it covers no bar
            key = " ".join(f"<span style='color:rgb{SERIES_COLOURS[s % len(SERIES_COLOURS)]}'>■</span> {label}"
                           for s, (label, _, _) in enumerate(self.series))
            self.plot_item.setTitle(f"{title}<br>{key}", color="#333333", size="10pt")
        if x_range is None:
            pad = 0.05 * (high - low or 1.0)
            x_range = (low - pad, high + pad)
        self.plot_item.setXRange(*x_range, padding=0)
        self.plot_item.setYRange(-0.6, len(self.names) - 0.4, padding=0)


def results_table(header: Sequence[tuple[str, str]]) -> QTableWidget:
    """A read-only table with the given ``(header, tooltip)`` columns, sized to its rows."""
    table = QTableWidget(0, len(header))
    for column, (text, tooltip) in enumerate(header):
        item = QTableWidgetItem(text)
        item.setToolTip(tooltip)
        table.setHorizontalHeaderItem(column, item)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return table


def fill_table(table: QTableWidget, rows: Sequence[Sequence], verdict_column: int | None = None,
               band_columns: Sequence[int] = ()) -> None:
    """Write ``rows`` into ``table`` (numbers as people write them); colour the verdict column, and each
    agreement in ``band_columns`` by the verdict of its own value."""
    table.setRowCount(len(rows))
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            text = value if isinstance(value, str) else table_number(float(value))
            item = table_item(text)
            if j == verdict_column and text in VERDICT_COLOURS:
                item.setBackground(QBrush(QColor(*VERDICT_COLOURS[text])))
            if j in band_columns and not isinstance(value, str) and np.isfinite(value):
                band = trust.verdict(float(value))
                item.setBackground(QBrush(QColor(*VERDICT_COLOURS[band])))
                item.setToolTip(f"{text}: {band} by this measure")
            table.setItem(i, j, item)
    table.resizeColumnsToContents()
    frame = 2 * table.frameWidth() + 2
    rows_height = sum(table.rowHeight(i) for i in range(len(rows)))
    table.setFixedHeight(table.horizontalHeader().sizeHint().height() + rows_height + frame)
    table.setMaximumWidth(sum(table.columnWidth(j) for j in range(table.columnCount())) + frame)


class MethodChooser(QWidget):
    """One line per explanation method: a tick box and, for sampled methods, the samples per row."""

    def __init__(self, methods: dict[str, str], samples: dict[str, int], checked: Sequence[str] = (),
                 notes: dict[str, str] | None = None, parent=None) -> None:
        super().__init__(parent)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(8)
        layout.setVerticalSpacing(2)
        self.boxes: dict[str, QCheckBox] = {}
        self.spins: dict[str, QSpinBox] = {}
        self.notes: dict[str, QLabel] = {}
        for i, (key, title) in enumerate(methods.items()):
            box = QCheckBox(title)
            box.setChecked(key in checked)
            layout.addWidget(box, i, 0)
            self.boxes[key] = box
            if key in samples:
                spin = QSpinBox()
                spin.setRange(10, 100_000)
                spin.setSingleStep(100)
                spin.setValue(int(samples[key]))
                spin.setSuffix(" samples per row")
                spin.setToolTip("How many perturbed copies of the row the method draws. More samples: steadier "
                                "explanations, longer runs.")
                layout.addWidget(spin, i, 1)
                self.spins[key] = spin
            note = QLabel((notes or {}).get(key, ""))
            note.setStyleSheet("color: #666;")
            layout.addWidget(note, i, 2)
            self.notes[key] = note
        layout.setColumnStretch(2, 1)

    def set_unavailable(self, key: str, reason: str) -> None:
        """Untick and disable ``key``, saying why."""
        self.boxes[key].setChecked(False)
        self.boxes[key].setEnabled(False)
        if key in self.spins:
            self.spins[key].setEnabled(False)
        self.notes[key].setText(reason)

    def set_note(self, key: str, text: str) -> None:
        self.notes[key].setText(text)

    def choices(self) -> list[tuple[str, int]]:
        """``(key, samples)`` of the ticked methods (samples 0 for methods that do not sample)."""
        return [(key, self.spins[key].value() if key in self.spins else 0)
                for key, box in self.boxes.items() if box.isChecked() and box.isEnabled()]


def spin(low: int, high: int, value: int, suffix: str) -> QSpinBox:
    """A whole-number box from ``low`` to ``high`` showing ``value`` and its unit (``suffix``)."""
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setSuffix(suffix)
    return box


def sentence_label(text: str = "", grey: bool = False) -> QLabel:
    """A wrapping label for the page's sentences."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if grey:
        label.setStyleSheet("color: #555;")
    return label


#: Reference lines of the agreement plots: where "somewhat stable" and "stable" begin.
VERDICT_LINES = ((trust.SOMEWHAT_STABLE_FROM, "somewhat stable"), (trust.STABLE_FROM, "stable"))
AGREEMENT_AXIS = (f"rank correlation (dashed lines: somewhat stable from {trust.SOMEWHAT_STABLE_FROM:g}, stable from "
                  f"{trust.STABLE_FROM:g})")
#: Short column titles of the comparison table (the core's full header is each column's tooltip).
COMPARISON_TITLES = ("Method", "Samples", "Across seeds", "Relative spread", "Under small noise", "Over nearest rows",
                     "Verdict (across seeds)")
AGREEMENT_WORDS = ("Agreement: the rank correlation of the features' importances (1: ranked alike, 0: unrelated); "
                   f"stable from {trust.STABLE_FROM:g}, somewhat stable from {trust.SOMEWHAT_STABLE_FROM:g}.")


def _agreement_range(values: np.ndarray, spreads: np.ndarray | None = None) -> tuple[float, float]:
    low = float(np.min(values - (0 if spreads is None else spreads), initial=0.0))
    return max(-1.05, min(-0.05, low - 0.05)), 1.05


def samples_text(measured, context) -> str:
    """The samples per row of a sampled method; for Shapley values the method that ran; else '–'."""
    if measured.samples:
        return str(measured.samples)
    if measured.key == "shapley" and context is not None:
        return context.shapley_method
    return "–"


class ResultView(QWidget):
    """A sentence, an optional results table and a plot, stacked; subclasses fill them."""

    header: tuple[tuple[str, str], ...] = ()
    verdict_column: int | None = None

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.sentence = sentence_label()
        layout.addWidget(self.sentence)
        self.table = results_table(self.header) if self.header else None
        if self.table is not None:
            layout.addWidget(self.table)
        self.plot = GroupedBars()
        self.plot.setMinimumHeight(240)
        layout.addWidget(self.plot, 1)

    def clear(self) -> None:
        self.sentence.setText("")
        if self.table is not None:
            self.table.setRowCount(0)
        self.plot.reset()

    def plot_widget(self) -> QWidget:
        return self.plot


class StabilityResultView(ResultView):
    """Per method: the mean agreement of the row's explanation with its neighbours' and its spread."""

    header = (("Method", "The explanation method measured."),
              ("Samples", "Samples per row of a sampled method; for Shapley values the method that ran."),
              ("Agreement", "Mean rank correlation of the importances with the row's own explanation."),
              ("Spread", "Standard deviation of the agreement over the compared rows."),
              ("Verdict", "Stable from 0.95, somewhat stable from 0.8, else unstable."))
    verdict_column = 4

    def show_outcome(self, measured, row_name: str, context, settings: dict) -> None:
        self.measured = list(measured)
        first = self.measured[0].result
        count = len(first.correlations)
        if first.mode == "noise":
            compared = f"{count} copies of it with noise of {100 * settings['noise']:g} % of each column's spread"
            caveat = ""
        else:
            compared = f"its {count} nearest rows"
            caveat = (" Nearby rows really differ, so even an exact method scores below 1: compare the methods "
                      "with each other, or use copies with small noise.")
        self.sentence.setText(f"{row_name.capitalize()} against {compared}. {AGREEMENT_WORDS}{caveat}")
        fill_table(self.table, [(m.name, samples_text(m, context), m.result.mean, m.result.spread,
                                 m.result.verdict) for m in self.measured], self.verdict_column)
        means = np.array([m.result.mean for m in self.measured])
        spreads = np.array([m.result.spread for m in self.measured])
        self.plot.set_bars([m.name for m in self.measured], [("mean agreement", means, spreads)],
                           title="Agreement with the row's own explanation (bar: the mean; whiskers: ± the spread, "
                                 "the standard deviation over the compared rows, cut at 1)",
                           x_label=AGREEMENT_AXIS, lines=VERDICT_LINES, x_range=_agreement_range(means, spreads),
                           clip=(-1.0, 1.0))


class ConsistencyResultView(ResultView):
    """Two models' Shapley values on the same rows: their agreement, and each feature's mean |value| side by side."""

    def show_outcome(self, outcome, row_name: str, context, settings: dict) -> None:
        self.outcome = outcome
        result = outcome.result
        lowest = int(np.argmin(result.correlations))
        title_b = outcome.title_b + (" (refitted)" if outcome.title_b == outcome.title_a else "")
        split = "" if outcome.same_split else " The second model was fitted on other rows than the first."
        self.sentence.setText(
            f"{outcome.title_a} and {title_b} explain {len(result.correlations)} rows ({row_name} and other "
            f"explained rows) alike at {result.mean:.3f} on average: {trust.verdict(result.mean)} across the two "
            f"models. The least alike row: {result.correlations[lowest]:.3f}. {AGREEMENT_WORDS}{split}")
        a, b = outcome.mean_abs()
        self.plot.set_bars(context.feature_names, [(outcome.title_a, a, None), (title_b, b, None)],
                           title="How much each feature counts under each model (mean |Shapley value| over the rows)",
                           x_label=f"mean |Shapley value| ({context.fitted.output_name})")


class CertaintyResultView(ResultView):
    """Per sampled method: its agreement across seeds, and each feature's mean ± spread as error bars."""

    header = (("Method", "The sampled explanation method."), ("Samples", "Samples per run."),
              ("Agreement across runs", "Mean rank correlation of the importances between every two runs."),
              ("Relative spread", "Mean standard deviation across runs divided by the mean |importance|: "
                                  "0 for a method that does not sample."),
              ("Verdict", "Stable from 0.95, somewhat stable from 0.8, else unstable."))
    verdict_column = 4

    def show_outcome(self, measured, row_name: str, context, settings: dict) -> None:
        self.measured = list(measured)
        runs = len(self.measured[0].result.seeds)
        self.sentence.setText(f"{row_name.capitalize()} explained {runs} times by each method, each time with "
                              "another seed. Bars: the mean importance; whiskers: ± one standard deviation across "
                              "the runs. Long whiskers: read that feature's importance with care.")
        fill_table(self.table, [(m.name, str(m.samples), m.result.seed_agreement, m.result.relative_spread,
                                 m.result.verdict) for m in self.measured], self.verdict_column)
        self.plot.set_bars(context.feature_names,
                           [(f"{m.name}, {m.samples} samples", m.result.mean, m.result.std) for m in self.measured],
                           title="Importance per feature across runs (mean ± standard deviation)",
                           x_label="importance")


class FidelityResultView(QWidget):
    """LIME's local R² and the Shapley efficiency gap for the row, in words."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.lime = sentence_label()
        self.shapley = sentence_label()
        layout.addWidget(self.lime)
        layout.addWidget(self.shapley)
        layout.addStretch(1)

    def clear(self) -> None:
        self.lime.setText("")
        self.shapley.setText("")

    def show_outcome(self, fidelity, row_name: str, context, settings: dict) -> None:
        self.fidelity = fidelity
        r2 = float(fidelity.local_r2[0])
        how = "closely" if r2 >= 0.9 else "roughly" if r2 >= 0.5 else "poorly"
        self.lime.setText(f"LIME, {row_name}: its local straight line explains R² = {r2:.3f} of how the model's "
                          f"output varies over {settings['samples']} copies of the row ({how}; 1 is perfect, below "
                          "about 0.5 LIME's explanation describes the model poorly here).")
        overall = "" if not np.isfinite(context.efficiency_gap) else (
            f" Over all {len(context.explained)} rows the result explained: {table_number(context.efficiency_gap)}.")
        self.shapley.setText(f"Shapley values ({fidelity.shapley_method}), {row_name}: they add up to the model's "
                             f"output up to {table_number(fidelity.efficiency_gap)} (the efficiency gap, in units "
                             f"of the {context.fitted.output_name}; 0 is exact).{overall}")

    def plot_widget(self) -> QWidget:
        return self


class ComparisonResultView(ResultView):
    """The lime package's and xaidesk's LIME's stability on the same rows, with Shapley values as reference."""

    verdict_column = 6

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.table = results_table(())
        self.layout().insertWidget(1, self.table)
        self.reading = sentence_label()  # under the table: what its numbers say
        self.layout().insertWidget(2, self.reading)

    def clear(self) -> None:
        super().clear()
        self.reading.setText("")

    def show_outcome(self, table, row_name: str, context, settings: dict) -> None:
        self.comparison = table
        self.table.setColumnCount(len(table.header))
        for column, full in enumerate(table.header):
            title = COMPARISON_TITLES[column] if len(table.header) == len(COMPARISON_TITLES) else full.capitalize()
            item = QTableWidgetItem(title)
            item.setToolTip(full[:1].upper() + full[1:] + ".")
            self.table.setHorizontalHeaderItem(column, item)
        fill_table(self.table, table.rows, self.verdict_column, band_columns=[i for i, _ in AGREEMENT_COLUMNS])
        self.sentence.setText(f"On {settings['rows']} rows from {row_name}, {settings['seeds']} seeds each. "
                              f"{AGREEMENT_WORDS}")
        self.reading.setText(read_comparison(table))
        names = [r[0] for r in table.rows]
        values = [np.array([r[i] for r in table.rows], dtype=float) for i, _ in AGREEMENT_COLUMNS]
        self.plot.set_bars(names, [(label, v, None) for (_, label), v in zip(AGREEMENT_COLUMNS, values)],
                           title="Agreement of each method with itself", x_label=AGREEMENT_AXIS,
                           lines=VERDICT_LINES, x_range=_agreement_range(np.concatenate(values)))


__all__ = ["GroupedBars", "MethodChooser", "results_table", "fill_table", "sentence_label", "spin", "SERIES_COLOURS",
           "VERDICT_COLOURS", "StabilityResultView", "ConsistencyResultView",
           "CertaintyResultView", "FidelityResultView", "ComparisonResultView"]
