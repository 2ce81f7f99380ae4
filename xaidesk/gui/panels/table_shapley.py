"""The Tables tab's "Shapley values" page: each feature's share of a row's output, and the summary over rows.

It shows the Shapley values a "Target: readable model and Shapley values" result carries
(``extras["shapley"]`` for ``extras["explained_positions"]``): the method that ran, the background,
the efficiency check in words, and three views: a waterfall for the selected row, a beeswarm over
the explained rows and a dependence plot. A selected row that was not explained is explained on
demand with the same model, background, method and seed; the rows can be explained again against
another background.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QHBoxLayout, QPushButton, QSpinBox, QTabWidget, QVBoxLayout, QWidget,
)

from ...core import XaideskError
from ...export.tabular_files import write_shapley_csv
from ..tabular_page_jobs import (
    METHOD_WORDS, efficiency_words, explain_rows, explain_with_background, explained_from_result, fitted_model,
    importance_order, result_seed, strongest_interaction, waterfall_steps,
)
from ..views.shapley_plots import BackgroundTable, BeeswarmPlot, ShapDependencePlot, WaterfallPlot
from ..views.view_common import Placeholder, WrappingLabel
from ..widgets import error_dialog
from ..widgets.panel_jobs import PanelJobs, job_controls
from .table_whatif import labelled

PLACEHOLDER = ("Shapley values need a fitted model. Choose the method \u201cTarget: readable model and Shapley "
               "values\u201d, mark the target column and run it.")
QUESTION = ("Why did the model give this row its output? Each feature's Shapley value is its share of the gap "
            "between the row's output and the average output (the base value).")
AUTOMATIC = -1
NO_COLOUR = -2


class TableShapleyPage(QWidget):
    """Waterfall, beeswarm and dependence views of the Shapley values of a fitted table model."""

    TITLE = "Shapley values"

    def __init__(self, runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = PanelJobs(runner, "table.shapley", self)
        self.result = self.fitted = self.explained = None
        self.position: int | None = None
        self.on_demand: dict[int, object] = {}
        self._generation = 0
        self._pending: tuple[int, int] | None = None
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        question = WrappingLabel(QUESTION)
        question.setStyleSheet("font-weight: bold;")
        layout.addWidget(question)
        self.method_label = WrappingLabel("")
        layout.addWidget(self.method_label)
        self.check_label = WrappingLabel("")
        layout.addWidget(self.check_label)
        layout.addLayout(self._background_row())
        layout.addWidget(job_controls(self.jobs)[0])
        self.tabs = QTabWidget()
        self.waterfall = WaterfallPlot()
        self.waterfall_holder = Placeholder(self.waterfall, "Pick a row in the Ranking view.")
        self.tabs.addTab(self.waterfall_holder, "This row: waterfall")
        self.beeswarm = BeeswarmPlot()
        self.tabs.addTab(self.beeswarm, "All explained rows: beeswarm")
        self.tabs.addTab(self._dependence_page(), "One feature: dependence")
        self.background_table = BackgroundTable()
        self.tabs.addTab(self.background_table, "Background rows")
        layout.addWidget(self.tabs, 1)
        self.saved_label = WrappingLabel("")
        self.saved_label.setStyleSheet("color: #555;")
        self.saved_label.setVisible(False)
        layout.addWidget(self.saved_label)
        self.placeholder = Placeholder(content, PLACEHOLDER)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.placeholder)

    def _background_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.background_box = QComboBox()
        self.background_box.addItem("random sample", "sample")
        self.background_box.addItem("k-means summaries", "kmeans")
        self.background_box.setToolTip("What a feature left out is replaced by: a random sample of the training "
                                       "rows, or k-means summaries of them weighted by cluster size.")
        self.background_size = QSpinBox()
        self.background_size.setRange(1, 2000)
        self.background_size.setValue(100)
        self.background_size.setToolTip("Rows in the sample, or number of k-means summaries. More is steadier "
                                        "but slower.")
        self.recompute_button = QPushButton("Explain again")
        self.recompute_button.setToolTip("Explain the same rows again, with the same model and method, against "
                                         "this background.")
        self.recompute_button.clicked.connect(self._recompute)
        row.addWidget(labelled("Background of the training rows:", self.background_box))
        row.addWidget(labelled("rows:", self.background_size))
        row.addWidget(self.recompute_button)
        row.addStretch(1)
        self.save_button = QPushButton("Save values (CSV)…")
        self.save_button.setToolTip("Write the Shapley values of the explained rows (with the base value, the "
                                    "model's output and the efficiency gap of each row) to a CSV file.")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._ask_save_values)
        row.addWidget(self.save_button)
        return row

    def _dependence_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 4, 0, 0)
        row = QHBoxLayout()
        self.feature_box = QComboBox()
        self.colour_box = QComboBox()
        self.colour_box.setToolTip("Colour the dots by a second feature's value, to see whether it changes the "
                                   "effect (an interaction).")
        row.addWidget(labelled("Feature:", self.feature_box))
        row.addWidget(labelled("Colour by:", self.colour_box))
        row.addStretch(1)
        layout.addLayout(row)
        self.dependence = ShapDependencePlot()
        layout.addWidget(self.dependence, 1)
        self.feature_box.currentIndexChanged.connect(self._draw_dependence)
        self.colour_box.currentIndexChanged.connect(self._draw_dependence)
        return page

    # -- the page interface ----------------------------------------------------------------------------------
    def show_result(self, result) -> None:
        explained = explained_from_result(result)
        if explained is None:
            self.clear()
            return
        self.jobs.cancel()
        self.result, self.fitted = result, fitted_model(result)
        if self.position is not None and not 0 <= self.position < len(self.fitted.X):
            self.position = None
        self.background_box.setCurrentIndex(max(0, self.background_box.findData(
            result.params.get("background", "sample"))))
        self.background_size.setValue(int(result.params.get("background_size", 100) or 100))
        names = list(self.fitted.feature_names)
        for box, extra in ((self.feature_box, []), (self.colour_box, [("strongest interaction (automatic)",
                                                                       AUTOMATIC), ("no colour", NO_COLOUR)])):
            box.blockSignals(True)
            box.clear()
            for text, data in extra + [(name, j) for j, name in enumerate(names)]:
                box.addItem(text, data)
            box.blockSignals(False)
        self.placeholder.show_content()
        self._set_explained(explained)

    def clear(self) -> None:
        self.jobs.cancel()
        self._generation += 1
        self.result = self.fitted = self.explained = None
        self.on_demand = {}
        for plot in (self.waterfall, self.beeswarm, self.dependence, self.background_table):
            plot.clear_plot()
        self.save_button.setEnabled(False)
        self.saved_label.setVisible(False)
        self.placeholder.show_message(PLACEHOLDER)

    def set_row(self, position: int) -> None:
        if self.fitted is not None and not 0 <= int(position) < len(self.fitted.X):
            return
        self.position = int(position)
        if self.explained is not None:
            self._show_row()

    def plot_widget(self) -> QWidget:
        return (self.waterfall, self.beeswarm, self.dependence, self.background_table)[self.tabs.currentIndex()]

    # -- saving ----------------------------------------------------------------------------------------------
    def _ask_save_values(self) -> None:
        if self.explained is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the Shapley values as CSV", "shapley_values.csv",
                                              "CSV files (*.csv)")
        if path:
            self.save_values_to(path)

    def save_values_to(self, path) -> bool:
        """Write the explained rows' Shapley values to ``path`` (errors in a dialog); whether it was written."""
        if self.explained is None:
            return False
        shapley = self.explained.shapley
        try:
            write_shapley_csv(path, shapley.values, shapley.base_value, shapley.output, self.fitted.feature_names,
                              self.result.row_ids[self.explained.positions])
        except (XaideskError, OSError) as error:
            error_dialog.show_error(self, "Could not save the Shapley values", error)
            return False
        self.saved_label.setText(f"Saved the Shapley values of {len(self.explained.positions)} rows to {path}.")
        self.saved_label.setVisible(True)
        return True

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self.explained is not None:
            self._show_row()

    # -- drawing ---------------------------------------------------------------------------------------------
    def _set_explained(self, explained) -> None:
        self._generation += 1
        self.explained, self.on_demand = explained, {}
        shapley = explained.shapley
        self.method_label.setText(
            f"Method: {METHOD_WORDS.get(shapley.method, shapley.method)}. Background: {explained.background_words} "
            f"({len(explained.background_rows)} rows). Explained: {len(explained.positions)} of "
            f"{len(self.fitted.X)} rows. Output explained: {self.fitted.output_name}.")
        order = importance_order(shapley.values)
        self.feature_box.blockSignals(True)
        self.feature_box.setCurrentIndex(int(order[0]))
        self.feature_box.blockSignals(False)
        rows = self.fitted.X[explained.positions]
        self.background_table.set_rows(explained.background_rows, explained.background_weights,
                                       self.fitted.feature_names, explained.background_words)
        self.beeswarm.set_swarm(shapley.values, rows, self.fitted.feature_names, order, self.fitted.output_name)
        self._draw_dependence()
        self.save_button.setEnabled(True)
        self._show_row()

    def _row_values(self, position: int):
        """``(values, base, output, gap, scope)`` of the row, or ``None`` when they are still to be computed."""
        explained = self.explained
        index = explained.index_of(position)
        if index is not None:
            s = explained.shapley
            return s.values[index], s.base_value, s.output[index], s.efficiency_gap, \
                f"largest gap over the {len(explained.positions)} explained rows"
        extra = self.on_demand.get(position)
        if extra is None:
            return None
        return extra.values[0], extra.base_value, extra.output[0], extra.efficiency_gap, "gap for this row"

    def _show_row(self) -> None:
        position = self.position if self.position is not None else int(self.explained.positions[0])
        row_id = int(self.result.row_ids[position])
        index = self.explained.index_of(position)
        self.beeswarm.highlight_row(index)
        self.dependence.highlight(index)
        found = self._row_values(position)
        if found is None:
            self.check_label.setText(f"Row {row_id} is not among the explained rows: its Shapley values are "
                                     "computed now with the same model, background, method and seed…")
            self.waterfall_holder.show_message(f"Computing the Shapley values of row {row_id}…")
            if self.isVisible() and self._pending != (position, self._generation):
                self._explain_on_demand(position)
            return
        values, base, output, gap, scope = found
        note = "" if index is not None else (f" Row {row_id} was not among the explained rows; its values were "
                                             "computed on demand with the same model, background, method and seed.")
        self.check_label.setText(f"Row {row_id}: {efficiency_words(base, values, output, gap, scope)}{note}")
        steps = waterfall_steps(values, base, self.fitted.feature_names, self.fitted.X[position])
        self.waterfall.set_steps(steps, base, output, self.fitted.output_name, f"Row {row_id}")
        self.waterfall_holder.show_content()

    def _draw_dependence(self, *_args) -> None:
        if self.explained is None or self.feature_box.currentIndex() < 0:
            return
        feature, choice = int(self.feature_box.currentData()), self.colour_box.currentData()
        values = self.explained.shapley.values
        rows = self.fitted.X[self.explained.positions]
        names = self.fitted.feature_names
        reason = "chosen"
        if choice == AUTOMATIC:
            choice, reason = strongest_interaction(feature, values, rows), "its strongest interaction"
        colour = None if choice in (None, NO_COLOUR) else int(choice)
        self.dependence.set_points(rows[:, feature], values[:, feature], names[feature], self.fitted.output_name,
                                   None if colour is None else rows[:, colour],
                                   "" if colour is None else names[colour], reason)
        self.dependence.highlight(self.explained.index_of(self.position) if self.position is not None else None)

    # -- jobs ------------------------------------------------------------------------------------------------
    def _explain_on_demand(self, position: int) -> None:
        fitted, explained, seed, generation = self.fitted, self.explained, result_seed(self.result), self._generation
        self._pending = (position, generation)

        def done(shapley) -> None:
            if generation == self._generation:
                self.on_demand[position] = shapley
                if self.position == position:
                    self._show_row()

        def cancelled() -> None:
            if self._pending == (position, generation):
                self._pending = None
                self.waterfall_holder.show_message("Cancelled: choose the row again, or show this page again, to "
                                                   "compute its Shapley values.")

        self.jobs.run("row", lambda token, progress: explain_rows(fitted, explained, [position], seed, token=token,
                                                                  progress=progress), done, self._failed, cancelled)

    def _recompute(self) -> None:
        if self.explained is None:
            return
        fitted, explained, seed = self.fitted, self.explained, result_seed(self.result)
        kind, size, generation = self.background_box.currentData(), self.background_size.value(), self._generation
        self.jobs.run("background", lambda token, progress: explain_with_background(
            fitted, explained, kind, size, seed, token=token, progress=progress),
            lambda new: self._set_explained(new) if generation == self._generation else None, self._failed)

    def _failed(self, failure) -> None:
        if self.waterfall_holder.showing_message():
            self.waterfall_holder.show_message("The Shapley values of this row could not be computed; see the "
                                               "message.")
        error_dialog.show_error(self, "Could not compute the Shapley values", failure)


__all__ = ["TableShapleyPage"]
