"""The Tables tab's "What if" page: how the model's output moves when one feature (or two) changes.

It works on the fitted model of a "Target: readable model" result (``result.extras["fitted"]``):
ICE curves of a sample of rows as one feature sweeps a grid (:func:`xaidesk.tabular.dependence.ice_curves`),
their average (partial dependence), the selected row's own curve, the data's observed range
and a rug of its values; and a heat map of the partial dependence on a pair of features
(:func:`xaidesk.tabular.dependence.partial_dependence_2d`). The grid can reach beyond the data,
so that extrapolation shows.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget,
)

from ...core import XaideskError
from ...export.tabular_files import file_stem, write_ice_csv, write_pd2d_csv
from ..tabular_page_jobs import ICE_ROWS, compute_ice, compute_pair, fitted_model, result_seed, row_curve
from ..views.dependence_plots import IcePlot, PairHeatmap
from ..views.table_items import table_number
from ..views.view_common import Placeholder, WrappingLabel
from ..widgets import error_dialog
from ..widgets.panel_jobs import PanelJobs, job_controls

PLACEHOLDER = ("What-if curves need a fitted model. Choose the method \u201cTarget: readable model and Shapley "
               "values\u201d, mark the target column and run it.")
QUESTION = "What would the model say if one feature of a row changed, everything else staying the same?"
EXTENSIONS = ((0.0, "0 % (values seen only)"), (0.10, "10 %"), (0.25, "25 %"), (0.5, "50 %"))
SOURCE_WORDS = {"scikit-learn": "Curves computed with scikit-learn's partial_dependence (checked against the model).",
                "model calls": "Curves computed by calling the model on the modified rows."}


def labelled(text: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(QLabel(text))
    layout.addWidget(widget)
    return box


class TableWhatIfPage(QWidget):
    """ICE curves and partial dependence of the fitted model, for one feature and for a pair."""

    TITLE = "What if"

    def __init__(self, runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = PanelJobs(runner, "table.whatif", self)
        self.result = None
        self.fitted = None
        self.position: int | None = None
        self.ice_view = None
        self.pair_view = None
        self._generation = 0
        self._ice_stale = self._pair_stale = True
        self._row_requested: int | None = None
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        question = QLabel(QUESTION)
        question.setStyleSheet("font-weight: bold;")
        layout.addWidget(question)
        controls = QHBoxLayout()
        self.feature_box = QComboBox()
        self.feature_box.setToolTip("The feature that changes; the row's other features stay as they are.")
        self.extend_box = QComboBox()
        for share, words in EXTENSIONS:
            self.extend_box.addItem(words, share)
        self.extend_box.setToolTip("Let the feature go beyond the values seen in the data, on both sides, by this "
                                   "share of its range: what the model says there is extrapolation.")
        controls.addWidget(labelled("Feature that changes:", self.feature_box))
        controls.addWidget(labelled("Go beyond the data's range by:", self.extend_box))
        controls.addStretch(1)
        self.save_button = QPushButton("Save values (CSV)…")
        self.save_button.setToolTip("Write the numbers of the plot shown (the curves and their average, or the heat "
                                    "map's cells) to a CSV file.")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._ask_save_values)
        controls.addWidget(self.save_button)
        layout.addLayout(controls)
        layout.addWidget(job_controls(self.jobs)[0])
        self.saved_label = WrappingLabel("")
        self.saved_label.setStyleSheet("color: #555;")
        self.saved_label.setVisible(False)
        layout.addWidget(self.saved_label)
        self.tabs = QTabWidget()
        self.ice_plot = IcePlot()
        self.ice_holder = Placeholder(self.ice_plot, "The curves appear here once computed.")
        ice_page = QWidget()
        ice_layout = QVBoxLayout(ice_page)
        ice_layout.setContentsMargins(0, 0, 0, 0)
        ice_layout.addWidget(self.ice_holder, 1)
        self.source_label = WrappingLabel("")
        self.source_label.setStyleSheet("color: #777; font-size: 8pt;")
        ice_layout.addWidget(self.source_label)
        self.tabs.addTab(ice_page, "One feature: each row's curve")
        pair_page = QWidget()
        pair_layout = QVBoxLayout(pair_page)
        pair_layout.setContentsMargins(0, 4, 0, 0)
        self.second_box = QComboBox()
        self.second_box.setToolTip("The second feature of the pair (the first is the feature that changes above).")
        pair_row = QHBoxLayout()
        pair_row.addWidget(labelled("Together with:", self.second_box))
        pair_row.addStretch(1)
        pair_layout.addLayout(pair_row)
        self.pair_plot = PairHeatmap()
        self.pair_holder = Placeholder(self.pair_plot, "The heat map appears here once computed.")
        pair_layout.addWidget(self.pair_holder, 1)
        self.tabs.addTab(pair_page, "Two features together: heat map")
        layout.addWidget(self.tabs, 1)
        self.placeholder = Placeholder(content, PLACEHOLDER)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.placeholder)
        self.feature_box.currentIndexChanged.connect(self._feature_changed)
        self.extend_box.currentIndexChanged.connect(self._feature_changed)
        self.second_box.currentIndexChanged.connect(self._pair_changed)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.tabs.currentChanged.connect(self._update_save)

    # -- the page interface ----------------------------------------------------------------------------------
    def show_result(self, result) -> None:
        fitted = fitted_model(result)
        if fitted is None:
            self.clear()
            return
        self.jobs.cancel()
        self._generation += 1
        self.result, self.fitted = result, fitted
        if self.position is not None and not 0 <= self.position < len(fitted.X):
            self.position = None
        names = list(fitted.feature_names)
        order = self._importance_order(result, len(names))
        for box, choice in ((self.feature_box, order[0]), (self.second_box, order[1] if len(order) > 1 else 0)):
            box.blockSignals(True)
            box.clear()
            for j, name in enumerate(names):
                box.addItem(name, j)
            box.setCurrentIndex(int(choice))
            box.blockSignals(False)
        self.ice_view = self.pair_view = None
        self.placeholder.show_content()
        self.ice_plot.clear_plot()
        self.pair_plot.clear_plot()
        self.ice_holder.show_message("The curves are computed when this page is shown.")
        self._ice_stale = self._pair_stale = True
        if len(names) < 2:
            self.pair_holder.show_message("A heat map of two features needs at least two features; this model "
                                          "has one.")
        else:
            self.pair_holder.show_message("The heat map is computed when its tab is shown.")
        self._update_save()
        self._refresh()

    def clear(self) -> None:
        self.jobs.cancel()
        self._generation += 1
        self.result = self.fitted = self.ice_view = self.pair_view = None
        self.ice_plot.clear_plot()
        self.pair_plot.clear_plot()
        self.source_label.setText("")
        self.saved_label.setVisible(False)
        self.save_button.setEnabled(False)
        self.placeholder.show_message(PLACEHOLDER)

    def set_row(self, position: int) -> None:
        self.position = int(position)
        self._mark_pair_row()
        self._refresh()

    def _mark_pair_row(self) -> None:
        view, position = self.pair_view, self.position
        if view is None or position is None or self.fitted is None or not 0 <= position < len(self.fitted.X):
            self.pair_plot.mark_row(None)
            return
        self.pair_plot.mark_row((self.fitted.X[position, view.features[0]], self.fitted.X[position, view.features[1]]))

    def plot_widget(self) -> QWidget:
        return self.ice_plot if self.tabs.currentIndex() == 0 else self.pair_plot

    # -- saving ----------------------------------------------------------------------------------------------
    def _shown_values(self):
        """The view whose values the shown tab draws (``IceView`` or ``PairView``), or ``None``."""
        if self.tabs.currentIndex() == 0:
            return self.ice_view if not self.ice_holder.showing_message() else None
        return self.pair_view if not self.pair_holder.showing_message() else None

    def _update_save(self, *_args) -> None:
        self.save_button.setEnabled(self._shown_values() is not None)

    def default_file_name(self) -> str:
        names = self.fitted.feature_names
        view = self._shown_values()
        if self.tabs.currentIndex() == 0:
            return f"ice_{file_stem(names[view.ice.feature])}.csv"
        return f"pd2d_{file_stem(names[view.features[0]])}_{file_stem(names[view.features[1]])}.csv"

    def _ask_save_values(self) -> None:
        if self._shown_values() is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the values as CSV", self.default_file_name(),
                                              "CSV files (*.csv)")
        if path:
            self.save_values_to(path)

    def save_values_to(self, path) -> bool:
        """Write the shown plot's values to ``path`` (errors are shown in a dialog); whether it was written."""
        view, names = self._shown_values(), self.fitted.feature_names if self.fitted is not None else []
        if view is None:
            return False
        try:
            if self.tabs.currentIndex() == 0:
                write_ice_csv(path, view.ice, self.result.row_ids, names[view.ice.feature])
            else:
                write_pd2d_csv(path, view.pd, [names[j] for j in view.features])
        except (XaideskError, OSError) as error:
            error_dialog.show_error(self, "Could not save the values", error)
            return False
        self.saved_label.setText(f"Saved to {path}.")
        self.saved_label.setVisible(True)
        return True

    # -- computing (only while the page is shown, so that hidden pages leave the shared runner alone) ---------
    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self._refresh()

    def _refresh(self) -> None:
        """Start what the shown plots still lack: the curves, the selected row's curve, the heat map."""
        if self.fitted is None or not self.isVisible():
            return
        if self._ice_stale:
            self._compute_ice()
        elif self.ice_view is not None and self.position is not None and self.position != self._row_requested \
                and 0 <= self.position < len(self.fitted.X):
            fitted, grid, feature = self.fitted, self.ice_view.ice.grid, self.ice_view.ice.feature
            position, generation = self.position, self._generation
            self._row_requested = position
            self.jobs.run("row", lambda token, progress: row_curve(fitted, position, feature, grid),
                          lambda row: self._row_done(row, generation), self._failed)
        if self.tabs.currentIndex() == 1 and self._pair_stale and len(self.fitted.feature_names) > 1:
            self._compute_pair()

    @staticmethod
    def _importance_order(result, width: int) -> list[int]:
        shapley = result.extras.get("shapley")
        if shapley is None or shapley.values.shape[1] != width:
            return list(range(width))
        return [int(j) for j in np.argsort(-np.mean(np.abs(shapley.values), axis=0), kind="stable")]

    def feature(self) -> int:
        return int(self.feature_box.currentData())

    def extension(self) -> float:
        return float(self.extend_box.currentData())

    def _compute_ice(self) -> None:
        fitted, feature, extend, seed = self.fitted, self.feature(), self.extension(), result_seed(self.result)
        position, generation = self.position, self._generation
        self._ice_stale, self._row_requested = False, position
        self.ice_holder.show_message(f"Computing the curves of {fitted.feature_names[feature]}…")
        self.jobs.run("ice", lambda token, progress: compute_ice(fitted, feature, extend, position, seed,
                                                                 token=token, progress=progress),
                      lambda view: self._ice_done(view, generation), self._failed,
                      lambda: self._cancelled(self.ice_holder, "curves", generation, ice=True))
        self._update_save()

    def _compute_pair(self) -> None:
        first, second = self.feature(), int(self.second_box.currentData())
        if first == second:
            self.pair_holder.show_message("Choose a second feature different from the feature that changes.")
            self.pair_view = None
            self._update_save()
            return
        fitted, extend, seed, generation = self.fitted, self.extension(), result_seed(self.result), self._generation
        self._pair_stale = False
        self.pair_holder.show_message(f"Computing the heat map of {fitted.feature_names[first]} and "
                                      f"{fitted.feature_names[second]}…")
        self.jobs.run("pair", lambda token, progress: compute_pair(fitted, first, second, extend, seed, token=token,
                                                                   progress=progress),
                      lambda view: self._pair_done(view, generation), self._failed,
                      lambda: self._cancelled(self.pair_holder, "heat map", generation, ice=False))
        self._update_save()

    def _feature_changed(self, *_args) -> None:
        self._ice_stale = self._pair_stale = True
        self._refresh()

    def _pair_changed(self, *_args) -> None:
        self._pair_stale = True
        self._refresh()

    def _tab_changed(self, _index: int) -> None:
        self._refresh()

    def _cancelled(self, holder, what: str, generation: int, ice: bool) -> None:
        """A cancelled computation is asked for again the next time the page is shown or changed."""
        if generation != self._generation:
            return
        if ice:
            self._ice_stale, self._row_requested = True, None
        else:
            self._pair_stale = True
        holder.show_message(f"Cancelled: the {what} were not computed. Change a setting, or show this page "
                            "again, to compute them.")

    # -- results ---------------------------------------------------------------------------------------------
    def _ice_done(self, view, generation: int) -> None:
        if generation != self._generation:
            return
        self.ice_view = view
        names = self.fitted.feature_names
        if len(view.ice.grid) < 2:
            self.ice_view = None
            self.ice_holder.show_message(
                f"{names[view.ice.feature]} has the same value ({table_number(view.ice.grid[0])}) in every row, so "
                "there is no curve to draw. Choose another feature.")
            self.source_label.setText("")
            self._update_save()
            return
        self.ice_plot.set_curves(view.ice, names[view.ice.feature], self.fitted.output_name, len(self.fitted.X),
                                 view.row, self._row_words(view.row))
        self.ice_holder.show_content()
        self.source_label.setText(
            f"{SOURCE_WORDS.get(view.ice.source, view.ice.source)} {len(view.ice.grid)} values of "
            f"{names[view.ice.feature]}; up to {ICE_ROWS} rows drawn, sampled with the run's seed "
            f"{result_seed(self.result)}.")
        self._update_save()
        self._refresh()

    def _row_words(self, row) -> str:
        if row is None or self.result is None or row.position >= len(self.result.row_ids):
            return ""
        return f"row {int(self.result.row_ids[row.position])}"

    def _row_done(self, row, generation: int) -> None:
        if generation == self._generation and self.ice_view is not None \
                and np.array_equal(row.grid, self.ice_view.ice.grid) and row.position == self.position:
            self.ice_plot.set_row(row, self._row_words(row))

    def _pair_done(self, view, generation: int) -> None:
        if generation != self._generation:
            return
        self.pair_view = view
        names = self.fitted.feature_names
        self.pair_plot.set_pair(view, (names[view.features[0]], names[view.features[1]]), self.fitted.output_name)
        self._mark_pair_row()
        self.pair_holder.show_content()
        self._update_save()

    def _failed(self, failure) -> None:
        for holder in (self.ice_holder, self.pair_holder):
            if holder.showing_message():
                holder.show_message("Could not compute this plot; see the message. Try another feature or a "
                                    "smaller range.")
        error_dialog.show_error(self, "Could not compute the what-if curves", failure)


__all__ = ["TableWhatIfPage"]
