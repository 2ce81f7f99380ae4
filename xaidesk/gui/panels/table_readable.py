"""The Tables tab's Readable model page: the fitted model in a form a person can read, and how accurate it is.

A header says what the model is and how it did on held-out rows; "Compare models" fits every other
model for the task on the same split so that readability and accuracy can be traded off knowingly.
Below, one view per kind of model: weights (and the lasso path), rules and the tree, shape curves,
per-column votes, or neighbours. A neural network is not readable by itself: the page says so.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel, QSplitter, QStackedWidget, QVBoxLayout, QWidget,
)

from ..readable_jobs import (
    METRIC_COLUMNS, compare_models, form_settings, lasso_path_of, metrics_sentence, model_sentence, weak_fit_warning,
)
from ..views.readable_kinds import EbmKindView, KnnKindView, LinearKindView, NaiveBayesKindView, TreeKindView
from ..views.readable_views import CompareTable
from ..views.table_views import bold_font
from ..views.view_common import Placeholder, WrappingLabel
from ..widgets import error_dialog
from ..widgets.panel_jobs import PanelJobs, job_controls

QUESTION = "How does the model decide, in a form a person can read, and how accurate is it?"
PLACEHOLDER = ("Nothing to show yet. Mark the target column in the Data view, choose the method 'Target: readable "
               "model and Shapley values' and press Run: this page then shows the fitted model in a form a person "
               "can read, with how well it did on rows it never saw.")
NOT_READABLE = ("This model ({title}) is not readable by itself: its weights mean nothing to a person. Its Shapley "
                "values "
                "(the Shapley page) and the What-if page explain it. 'Compare models' shows what accuracy a "
                "readable model reaches on the same rows.")
COMPARE_HINT = ("'Compare models' fits every model for this task on the same fitting and held-out rows, so you can "
                "weigh how readable a model is against how accurate it is.")

#: Which view shows each kind of model (the MLP has none).
KIND_VIEWS = {"linear": "linear", "logistic": "linear", "lasso": "linear", "tree": "tree", "ebm": "ebm",
              "naive_bayes": "naive_bayes", "knn": "knn"}


class TableReadablePage(QWidget):
    """The fitted readable model: header with held-out metrics, the comparison, and the kind's own view."""

    TITLE = "Readable model"

    def __init__(self, runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = PanelJobs(runner, "table.readable", self)
        self.result = None
        self.fitted = None
        self.position = 0
        self.metrics: dict[str, float] = {}
        self.compared: list = []

        question = QLabel(QUESTION)
        question.setStyleSheet("color: #555; font-style: italic;")
        self.title_label = WrappingLabel("")
        self.title_label.setFont(bold_font())
        self.metrics_label = WrappingLabel("")
        self.warning_label = WrappingLabel("")
        self.warning_label.setStyleSheet("color: #c05a00; font-weight: 600;")
        controls, self.compare_button = job_controls(self.jobs, "Compare models", self.compare)
        self.compare_button.setToolTip(COMPARE_HINT)
        self.compare_table = CompareTable()
        self.compare_table.setVisible(False)

        self.views = {"linear": LinearKindView(), "tree": TreeKindView(), "ebm": EbmKindView(),
                      "naive_bayes": NaiveBayesKindView(), "knn": KnnKindView()}
        self.kind_stack = QStackedWidget()
        for view in self.views.values():
            self.kind_stack.addWidget(view)
        self.body = Placeholder(self.kind_stack, PLACEHOLDER)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.compare_table)
        self.splitter.addWidget(self.body)
        self.splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        for widget in (question, self.title_label, self.metrics_label, self.warning_label, controls):
            layout.addWidget(widget)
        layout.addWidget(self.splitter, 1)
        self.clear()

    # ---- the page interface ------------------------------------------------------------------------

    def clear(self) -> None:
        """Back to the placeholder: no model, no comparison, nothing drawn."""
        self.jobs.cancel()
        self.result, self.fitted, self.metrics, self.compared = None, None, {}, []
        for view in self.views.values():
            view.clear()
        self.title_label.setText("")
        self.metrics_label.setText("")
        self.warning_label.setText("")
        self.warning_label.setVisible(False)
        self.compare_table.set_rows([], METRIC_COLUMNS["classification"])
        self.compare_table.setVisible(False)
        self.compare_button.setEnabled(False)
        self.body.show_message(PLACEHOLDER)

    def show_result(self, result) -> None:
        """Show the model that ``result`` carries (``extras["fitted"]``), or the placeholder without one."""
        self.clear()
        fitted = None if result is None else result.extras.get("fitted")
        if fitted is None:
            return
        self.result, self.fitted, self.position = result, fitted, 0
        self.metrics = dict(fitted.metrics)
        self.title_label.setText(model_sentence(fitted))
        self.metrics_label.setText(metrics_sentence(fitted))
        warning = weak_fit_warning(fitted)
        self.warning_label.setText(warning)
        self.warning_label.setVisible(bool(warning))
        self.compare_button.setEnabled(True)
        view_name = KIND_VIEWS.get(fitted.kind)
        if view_name is None:
            self.body.show_message(NOT_READABLE.format(title=fitted.title))
            return
        view = self.views[view_name]
        view.show_model(fitted, result.row_ids)
        view.set_row(self.position)
        self.kind_stack.setCurrentWidget(view)
        self.body.show_content()
        if fitted.kind == "lasso":
            self.jobs.run("lasso_path", lambda token, progress: lasso_path_of(fitted, token, progress),
                          lambda path: self._path_done(fitted, path),
                          lambda failure: self._path_failed(fitted, failure))

    def set_row(self, position: int) -> None:
        """Follow the row selected in the tab (a position into the result's rows)."""
        if self.fitted is None or not 0 <= int(position) < len(self.fitted.X):
            return
        self.position = int(position)
        view = self.current_view()
        if view is not None:
            view.set_row(self.position)

    def plot_widget(self) -> QWidget:
        """The drawing or plot shown now (the tree, a curve, the bars), else the page's message."""
        view = self.current_view()
        return view.plot_widget() if view is not None else self.body

    def current_view(self) -> QWidget | None:
        """The kind's view shown now, or ``None`` (placeholder or a model that is not readable)."""
        return None if self.body.showing_message() else self.kind_stack.currentWidget()

    # ---- jobs --------------------------------------------------------------------------------------

    def compare(self) -> None:
        """Fit every model for the task on the same data, split, seed and settings, and list their held-out metrics."""
        fitted, params = self.fitted, self.result.params if self.result is not None else {}
        if fitted is None:
            return
        held_out = float(params.get("held_out", len(fitted.held_out_rows) / len(fitted.X)))
        seed = int(params.get("seed", 0))
        settings = form_settings(params)
        self.jobs.run("compare", lambda token, progress: compare_models(fitted, held_out, seed, settings, token,
                                                                        progress),
                      lambda rows: self._compare_done(fitted, rows), self._failed("compare the models"))

    def _compare_done(self, fitted, rows: list) -> None:
        if fitted is not self.fitted:
            return
        self.compared = rows
        self.compare_table.set_rows(rows, METRIC_COLUMNS[fitted.task])
        self.compare_table.setVisible(True)
        header = self.compare_table.horizontalHeader().height()
        height = header + sum(self.compare_table.rowHeight(r) for r in range(self.compare_table.rowCount())) + 6
        self.splitter.setSizes([height, max(1, self.splitter.height() - height)])

    def _path_done(self, fitted, path) -> None:
        if fitted is self.fitted:
            self.views["linear"].set_path(path)

    def _path_failed(self, fitted, failure) -> None:
        if fitted is self.fitted:
            self.views["linear"].path_failed(failure.message)

    def _failed(self, what: str):
        return lambda failure: error_dialog.show_error(self, f"Could not {what}", failure)


__all__ = ["TableReadablePage"]
