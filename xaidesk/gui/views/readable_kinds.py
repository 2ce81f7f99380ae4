"""One view per kind of readable model: weights, rules and tree, shape curves, votes, neighbours.

Each view has ``show_model(fitted, row_ids)``, ``set_row(position)``, ``clear()`` and ``plot_widget()``;
its numbers come from :mod:`xaidesk.tabular.readable` (quick enough for the GUI thread, except the
lasso path, which the page computes in a job and hands over with ``set_path``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QSplitter, QStackedWidget, QToolButton, QVBoxLayout, QWidget,
)

if TYPE_CHECKING:
    from ...tabular import readable
from .readable_views import NeighboursTable, PairHeatmap, RulesList, ShapePlot, line_colour
from .table_items import table_number
from .table_views import CurvePlot, FeatureBars
from .tree_drawing import DrawnNode, TreeDrawing
from .view_common import Placeholder, WrappingLabel

#: Most data values drawn in a shape curve's rug.
RUG_VALUES = 400


def _sentence_label() -> WrappingLabel:
    label = WrappingLabel("")
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def _column(widget: QWidget, *children: QWidget, stretch_last: bool = True) -> QVBoxLayout:
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    for i, child in enumerate(children):
        layout.addWidget(child, 1 if stretch_last and i == len(children) - 1 else 0)
    return layout


def _readable():
    """:mod:`xaidesk.tabular.readable`, imported on first use (it loads scikit-learn, which the window must
    not wait for while it opens)."""
    from ...tabular import readable

    return readable


class LinearKindView(QWidget):
    """A linear, logistic or lasso model: one bar per column (standardised weight); for the lasso, its path."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.sentence = _sentence_label()
        self.bars = FeatureBars()
        self.path_plot = CurvePlot()
        self.path_area = Placeholder(self.path_plot, "")
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.bars)
        self.splitter.addWidget(self.path_area)
        _column(self, self.sentence, self.splitter)
        self.coefficients: readable.Coefficients | None = None
        self.order: list[int] = []
        self.path: readable.LassoPath | None = None

    def clear(self) -> None:
        self.bars.reset()
        self.path_plot.reset("")
        self.coefficients, self.order, self.path = None, [], None

    def show_model(self, fitted, row_ids) -> None:
        self.clear()
        c = self.coefficients = _readable().coefficients(fitted)
        self.order = [int(j) for j in np.argsort(-np.abs(c.standardised), kind="stable")]
        names = [f"{c.feature_names[j]}  ({table_number(c.weights[j] + 0.0)} per unit)" for j in self.order]
        self.bars.set_values(names, c.standardised[self.order], title=f"Weights on the {c.output}",
                             x_label="change per standard deviation of the column")
        zero = [c.feature_names[j] for j in range(len(c.weights)) if c.standardised[j] == 0]
        text = (f"Each bar is how much the {c.output} rises (red) or falls (blue) when the column grows by one "
                f"standard deviation; the label gives the change per unit of the column. With every column at 0 "
                f"the {c.output} is {table_number(c.intercept)}.")
        if fitted.kind == "lasso":
            text += (f" The lasso chose the penalty λ = {table_number(_readable().lasso_lambda(fitted))}"
                     + (f" and set {len(zero)} column(s) to zero: {', '.join(zero)}." if zero else "."))
        self.sentence.setText(text)
        self.path_area.setVisible(fitted.kind == "lasso")
        self.path_area.show_message("Computing the lasso path (the weights at every penalty λ)…")

    def set_path(self, path: readable.LassoPath) -> None:
        """Draw the lasso path: one line per column against λ (log axis), the chosen λ dashed."""
        self.path = path
        self.path_plot.reset("Lasso path: standardised weights as the penalty weakens",
                             x_label="penalty λ (log scale; weaker to the right)",
                             y_label=f"weight on the {path.output}", log_x=True)
        self.path_plot.plot_item.invertX(True)
        self.path_plot.legend.setBrush(pg.mkBrush(255, 255, 255, 210))
        self.path_plot.legend.anchor((0, 0), (0, 0), offset=(10, 10))  # top left: where every weight is still 0
        for j, name in enumerate(path.feature_names):
            self.path_plot.add_curve(name, path.lambdas, path.coefs[:, j], color=line_colour(j), symbol=None)
        if path.chosen is not None:
            self.path_plot.mark(path.chosen, f"chosen λ = {table_number(path.chosen)}")
        self.path_area.show_content()

    def path_failed(self, message: str) -> None:
        """Say in the path's place why it could not be drawn."""
        self.path_area.show_message(f"The lasso path could not be drawn. {message}")

    def set_row(self, position: int) -> None:
        """The weights do not depend on the row."""

    def plot_widget(self) -> QWidget:
        return self.path_plot if self.path is not None and self.path_area.isVisibleTo(self) else self.bars


class TreeKindView(QWidget):
    """A decision tree as if-then rules (one per leaf) beside its drawing; the row's rule and path highlighted."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.sentence = _sentence_label()
        self.rules_list = RulesList()
        self.drawing = TreeDrawing()
        self.caption = _sentence_label()
        under = QWidget()
        row = QHBoxLayout(under)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.caption, 1)
        for text, tip, action in (("−", "Zoom out (Ctrl + wheel)", lambda: self.drawing.zoom(1 / 1.25)),
                                  ("+", "Zoom in (Ctrl + wheel)", lambda: self.drawing.zoom(1.25)),
                                  ("Whole tree", "Show the whole tree at once", self.drawing.show_whole),
                                  ("Readable size", "Back to a readable size, at the row's path",
                                   self.drawing.zoom_to_fit)):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _checked=False, act=action: act())
            row.addWidget(button)
        drawing_area = QWidget()
        _column(drawing_area, self.drawing, under, stretch_last=False)
        drawing_area.layout().setStretch(0, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(drawing_area)
        self.splitter.addWidget(self.rules_list)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([700, 300])
        _column(self, self.sentence, self.splitter)
        self.fitted = None
        self.row_ids = np.zeros(0, dtype=int)
        self.rules: list[readable.Rule] = []
        self.path_nodes: list[int] = []
        self.written: dict[tuple[str, float], str] = {}

    def clear(self) -> None:
        self.rules_list.set_rules([])
        self.drawing.clear_tree()
        self.sentence.setText("")
        self.fitted, self.rules, self.path_nodes = None, [], []

    def show_model(self, fitted, row_ids) -> None:
        self.clear()
        self.fitted, self.row_ids = fitted, np.asarray(row_ids)
        self.rules = _readable().tree_rules(fitted)
        self.rules_list.set_rules(self.rules)
        self.written = {(c.feature, c.threshold): c.text for rule in self.rules for c in rule.conditions}
        self.drawing.set_tree(_drawn_nodes(fitted, _readable().tree_structure(fitted), self.written))
        if fitted.task == "classification":
            colours = f"the share of {fitted.target_name} = {fitted.positive_name} (blue: few, red: most)"
        else:
            colours = f"the predicted {fitted.target_name} (blue: lowest, red: highest)"
        self.caption.setText(f"Leaves are coloured by {colours}. Left branch: yes, right: no. Rows are the rows "
                             "the tree was fitted on. Drag to move; Ctrl + wheel or the buttons zoom.")

    def set_row(self, position: int) -> None:
        if self.fitted is None:
            return
        x = self.fitted.X[position]
        steps = _readable().decision_path(self.fitted, x)
        leaf = _readable().tree_leaf(self.fitted, x)
        self.path_nodes = [s.node for s in steps] + [leaf]
        self.drawing.highlight(self.path_nodes)
        self.rules_list.highlight(leaf)
        answers = [f"{s.feature} = {table_number(s.value)} {'≤' if s.went_left else '>'} "
                   f"{self.written.get((s.feature, s.threshold), table_number(s.threshold))}" for s in steps]
        number = self.rules_list.leaves.index(leaf) + 1
        self.sentence.setText(f"Row {int(self.row_ids[position])} of the file: {'; '.join(answers) or 'no question'}"
                              f" → rule {number}, highlighted in the list and the drawing.")

    def plot_widget(self) -> QWidget:
        return self.drawing


def _drawn_nodes(fitted, nodes: list, written: dict) -> list[DrawnNode]:
    """Three short lines per node (question or outcome, rows, prediction); leaves shaded by their output."""
    leaf_values = [n.value for n in nodes if n.feature is None]
    low, high = min(leaf_values), max(leaf_values)
    drawn = []
    for n in nodes:
        if fitted.task == "classification":
            best = int(np.argmax(n.distribution))
            predicted = f"{fitted.target_name} = {fitted.class_names[best]} ({n.distribution[best]:.0%})"
            shade = n.value
        else:
            predicted = f"{fitted.target_name} ≈ {table_number(n.value)}"
            shade = 0.5 if high == low else (n.value - low) / (high - low)
        rows = f"{n.samples} rows"
        if n.feature is None:
            drawn.append(DrawnNode(n.id, None, None, [f"→ {predicted}", rows], shade))
        else:
            threshold = written.get((n.feature, n.threshold), table_number(n.threshold))
            drawn.append(DrawnNode(n.id, n.left, n.right, [f"{n.feature} ≤ {threshold} ?", rows, predicted]))
    return drawn


class EbmKindView(QWidget):
    """An EBM's terms, most important first: a column's shape curve, or a pair's surface; the row marked."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.sentence = _sentence_label()
        self.picker = QComboBox()
        self.picker.currentIndexChanged.connect(self._draw_term)
        self.shape_plot = ShapePlot()
        self.pair_plot = PairHeatmap()
        self.plots = QStackedWidget()
        self.plots.addWidget(self.shape_plot)
        self.plots.addWidget(self.pair_plot)
        _column(self, self.sentence, self.picker, self.plots)
        self.fitted = None
        self.shapes: readable.EBMShapes | None = None
        self.order: list[int] = []
        self.position = 0

    def clear(self) -> None:
        self.fitted, self.shapes, self.order = None, None, []
        self.picker.blockSignals(True)
        self.picker.clear()
        self.picker.blockSignals(False)
        self.shape_plot.plot_item.clear()
        self.pair_plot.plot_item.clear()

    def show_model(self, fitted, row_ids) -> None:
        self.clear()
        self.fitted, self.row_ids = fitted, np.asarray(row_ids)
        self.shapes = _readable().ebm_shapes(fitted)
        self.order = [int(t) for t in np.argsort([-t.importance for t in self.shapes.terms], kind="stable")]
        self.picker.blockSignals(True)
        for rank, t in enumerate(self.order, start=1):
            term = self.shapes.terms[t]
            kind = " (interaction of two columns)" if term.is_pair else ""
            self.picker.addItem(f"{rank}. {' × '.join(term.features)}{kind} — importance "
                                f"{table_number(term.importance)}")
        self.picker.blockSignals(False)
        self.picker.setCurrentIndex(0)
        self._draw_term()

    def set_row(self, position: int) -> None:
        self.position = position
        self._draw_term()

    def current_term(self) -> readable.ShapeTerm | None:
        index = self.picker.currentIndex()
        return self.shapes.terms[self.order[index]] if self.shapes is not None and index >= 0 else None

    def _draw_term(self, *_args) -> None:
        term = self.current_term()
        if term is None:
            return
        fitted, shapes = self.fitted, self.shapes
        x = fitted.X[self.position]
        scores, _ = _readable().ebm_term_contributions(fitted, x)
        score = float(scores[0, self.order[self.picker.currentIndex()]])
        row = int(self.row_ids[self.position])
        self.sentence.setText(
            f"The {shapes.output} is {table_number(shapes.intercept)} (the starting point) plus one score per term; "
            f"the terms are listed by importance (mean size of their score). Row {row} of the file gets "
            f"{score:+.3g} from this term; all its terms together give "
            f"{table_number(float(scores.sum()) + shapes.intercept)}.")
        unit = f"added to the {shapes.output}"
        if term.is_pair:
            a, b = term.columns
            self.pair_plot.set_pair(term.edges[0], term.edges[1], term.scores, f"{term.features[0]} × "
                                    f"{term.features[1]}", term.features[0], term.features[1], unit)
            self.pair_plot.mark(x[a], x[b], f"row {row}: {score:+.3g}")
            self.plots.setCurrentWidget(self.pair_plot)
        else:
            j = term.columns[0]
            train = fitted.X[fitted.train_rows, j]
            rug = train[np.linspace(0, len(train) - 1, min(RUG_VALUES, len(train))).astype(int)]
            self.shape_plot.set_shape(term.edges[0], term.scores, rug, f"Shape of {term.features[0]}",
                                      f"{term.features[0]} (ticks at the bottom: the rows' values)", unit)
            self.shape_plot.mark(x[j], score, f"row {row}: {term.features[0]} = {table_number(x[j])} → {score:+.3g}")
            self.plots.setCurrentWidget(self.shape_plot)

    def plot_widget(self) -> QWidget:
        return self.plots.currentWidget()


class NaiveBayesKindView(QWidget):
    """Naive Bayes for one row: each column's log-likelihood vote for the explained class, and the prior."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.sentence = _sentence_label()
        self.bars = FeatureBars()
        _column(self, self.sentence, self.bars)
        self.fitted = None
        self.contributions: readable.NaiveBayesContributions | None = None

    def clear(self) -> None:
        self.fitted, self.contributions = None, None
        self.bars.reset()
        self.sentence.setText("")

    def show_model(self, fitted, row_ids) -> None:
        self.clear()
        self.fitted, self.row_ids = fitted, np.asarray(row_ids)

    def set_row(self, position: int) -> None:
        if self.fitted is None:
            return
        x = self.fitted.X[position]
        c = self.contributions = _readable().naive_bayes_contributions(self.fitted, x)
        against, row = c.against[0], int(self.row_ids[position])
        target = self.fitted.target_name
        self.bars.set_values(c.feature_names, c.contributions[0],
                             title=f"Row {row}: each column's vote for {target} = {c.explained} against {against}",
                             x_label="log-likelihood ratio (red: for, blue: against)")
        total = float(c.contributions[0].sum() + c.prior_log_ratio[0])
        text = (f"Each column votes on its own: log p(value | {c.explained}) − log p(value | {against}). The prior "
                f"(how common {c.explained} is against {against} among the fitting rows) adds "
                f"{float(c.prior_log_ratio[0]):+.3g}; votes and prior together give log-odds {total:+.3g}")
        if len(self.fitted.class_names) == 2:
            probability = float(self.fitted.predict_output(x)[0])
            text += (f", a probability of {1 / (1 + np.exp(-total)):.3f} for {target} = {c.explained} "
                     f"(the model says {probability:.3f}).")
        else:
            text += f" against the most likely other class, {against}."
        self.sentence.setText(text)

    def plot_widget(self) -> QWidget:
        return self.bars


class KnnKindView(QWidget):
    """k-nearest neighbours for one row: the training rows behind its prediction, closest first."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.sentence = _sentence_label()
        self.table = NeighboursTable()
        _column(self, self.sentence, self.table)
        self.fitted = None
        self.neighbours: readable.Neighbours | None = None

    def clear(self) -> None:
        self.fitted, self.neighbours = None, None
        self.table.set_rows([], [])
        self.sentence.setText("")

    def show_model(self, fitted, row_ids) -> None:
        self.clear()
        self.fitted, self.row_ids = fitted, np.asarray(row_ids)

    def _target_text(self, value) -> object:
        fitted = self.fitted
        return fitted.class_names[int(value)] if fitted.task == "classification" else float(value)

    def set_row(self, position: int) -> None:
        if self.fitted is None:
            return
        fitted, x = self.fitted, self.fitted.X[position]
        n = self.neighbours = _readable().neighbours(fitted, x)
        headers = ["file row", "distance", fitted.target_name, *fitted.feature_names]
        row = int(self.row_ids[position])
        cells = [[f"{row} (selected)", "", self._target_text(fitted.y[position]), *x.tolist()]]
        cells += [[int(self.row_ids[r]), float(d), self._target_text(t), *v.tolist()]
                  for r, d, t, v in zip(n.rows, n.distances, n.targets, n.values)]
        self.table.set_rows(headers, cells)
        self.table.mark_first_row()
        weighing = ("closer rows count more" if fitted.final.weights == "distance" else "each counts the same")
        output = float(fitted.predict_output(x)[0])
        if fitted.task == "classification":
            votes = int(np.sum(n.targets == fitted.positive))
            said = (f"{votes} of {len(n.rows)} have {fitted.target_name} = {fitted.positive_name}; the model gives "
                    f"it a probability of {output:.3f}")
        else:
            said = (f"their average {fitted.target_name} is {table_number(float(n.targets.mean()))}; the model "
                    f"predicts {table_number(output)}")
        itself = (" The row was itself used for fitting, so it is its own nearest neighbour."
                  if position in set(fitted.train_rows.tolist()) else "")
        self.sentence.setText(f"Row {row} of the file (first line) is predicted from its {len(n.rows)} nearest "
                              f"fitting rows ({weighing}; distance measured on standardised columns): {said}.{itself}")

    def plot_widget(self) -> QWidget:
        return self.table


__all__ = ["EbmKindView", "KnnKindView", "LinearKindView", "NaiveBayesKindView", "TreeKindView"]
