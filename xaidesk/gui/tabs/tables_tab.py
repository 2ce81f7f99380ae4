"""The Tables tab: open a table, check how it was read, preprocess, analyse, explain, export.

The tab holds the table, the method form and the runner jobs; its views are panels
(:mod:`xaidesk.gui.panels`): Data and Preprocessing prepare the features, the result
views (Ranking, Heat map, By group, Global, γ choice, Clusters, Model) each show one
side of a result. Loading, the preprocessing preview and every analysis run in the
:class:`~xaidesk.gui.runner.Runner` (see :mod:`xaidesk.gui.table_jobs`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...core.registry import TAG_SUPERVISED, default_method
from .. import table_jobs
from ..formatting import format_duration
from ..panels.table_clusters import TableClustersView
from ..panels.table_gamma import TableGammaView
from ..panels.table_model_pages import ModelPages
from ..panels.table_fit import TableModelView
from ..panels.table_overview import TableGlobalView, TableGroupsView, TableHeatmapView
from ..panels.table_prepare import TableDataView, TablePreprocessView
from ..panels.table_ranking import TableRankingView
from ..panels.table_side import EXAMPLE_METHOD_TAGS, EXAMPLES, analysis_box, export_box, table_box
from ..runner import JobFailure, Runner
from ..widgets import error_dialog
from .analysis_base import AnalysisTabMixin
from ..panels.tab_pieces import faithfulness_box, show_faithfulness_dialog, side_column

TABLE_FILTER = "Tables (*.csv *.tsv *.txt *.tab *.xlsx);;All files (*)"


def _is_example(path: Path) -> bool:
    """Whether ``path`` is one of the tables that ship with xaidesk."""
    from xaidesk.resources import resources_root

    return Path(path).resolve().is_relative_to(resources_root().resolve())


class TablesTab(AnalysisTabMixin, QWidget):
    """Find the strange rows of a table and why (NEON), or what drives a target column.

    Signals
    -------
    status_message(str)
        Text for the window's status bar.
    table_opened(Path)
        A table was opened (for the recent-files list).
    state_changed()
        Something that enables or disables actions changed.
    """

    status_message = Signal(str)
    table_opened = Signal(object)
    state_changed = Signal()

    FOLDER_SETTING = "last_table_folder"
    RESULTS_EXPORT_TEXT = "Export results (CSV, JSON)…"
    SETTINGS_EXPORT_NOTE = ("The Tables tab writes its settings (how the file was read, θ, the method's parameters) "
                            "into summary.json with Export results.")

    def __init__(self, runner: Runner, settings=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.settings = settings
        self.table = None
        self.result = None
        self.methods: list = []
        self._jobs: dict[str, int | None] = {"methods": None, "load": None, "preview": None, "run": None}
        self._pending_path: Path | None = None
        self._method_after_load: str | None = None  # a registry tag
        self._params_by_method: dict[str, dict] = {}
        self._form_method: str | None = None
        self._faithfulness_dialog = None
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(250)
        self._preview_timer.timeout.connect(self.update_preview)
        self._build()
        self._connect_runner()
        self._update_enabled()

    def start_background_loading(self) -> None:
        """List the table methods in the runner (imports torch; called once the window shows)."""
        self._jobs["methods"] = self.runner.submit(table_jobs.list_table_methods, "table.methods")

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        side = side_column(self._build_side_panel(), self._build_run_area("Run", self.run_analysis), min_width=320)

        self.data_view = TableDataView()
        self.data_view.roles_changed.connect(self._on_roles_changed)
        self.data_view.choices_changed.connect(self.schedule_preview)
        self.preprocess_view = TablePreprocessView()
        self.preprocess_view.changed.connect(self.schedule_preview)
        self.ranking_view = TableRankingView()
        self.heatmap_view = TableHeatmapView()
        self.groups_view = TableGroupsView()
        self.global_view = TableGlobalView()
        self.gamma_view = TableGammaView()
        self.clusters_view = TableClustersView()
        self.model_view = TableModelView()
        self.views = QTabWidget()
        self.views.addTab(self.data_view, "Data")
        self.views.addTab(self.preprocess_view, "Preprocessing")
        self.views.addTab(self.ranking_view, "Ranking")
        self.views.addTab(self.heatmap_view, "Heat map")
        self.views.addTab(self.groups_view, "By group")
        self.views.addTab(self.global_view, "Global")
        self.views.addTab(self.gamma_view, "γ choice")
        self.views.addTab(self.clusters_view, "Clusters")
        self.views.addTab(self.model_view, "Model")
        self.model_pages = ModelPages(self.runner, self.views)
        self.ranking_view.row_shown.connect(self.model_pages.set_row)
        self.model_pages.faithfulness_requested.connect(self.open_faithfulness)

        splitter = QSplitter()
        splitter.addWidget(side)
        splitter.addWidget(self.views)
        splitter.setStretchFactor(1, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

    def _build_side_panel(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.addWidget(table_box(self))
        layout.addWidget(analysis_box(self))
        layout.addWidget(faithfulness_box(
            self, "Compare analyses on this table: remove each row's most (and least) relevant features first, "
                  "each replaced by its column mean, and see how fast the explained score falls, against random "
                  "removal."))
        layout.addWidget(export_box(self))
        layout.addStretch(1)
        return panel

    # ------------------------------------------------------------------ methods
    def _methods_ready(self, methods) -> None:
        self.methods = list(methods)
        self.method_combo.blockSignals(True)
        self.method_combo.clear()
        for info in self.methods:
            self.method_combo.addItem(info.title or info.name, info.name)
            self.method_combo.setItemData(self.method_combo.count() - 1, info.help, Qt.ItemDataRole.ToolTipRole)
        self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(default_method("table"))))
        self.method_combo.blockSignals(False)
        self._on_method_changed()

    def method_name(self) -> str | None:
        return self.method_combo.currentData()

    def method_info(self):
        name = self.method_name()
        return next((m for m in self.methods if m.name == name), None)

    def select_method(self, name: str) -> bool:
        index = self.method_combo.findData(name)
        if index < 0:
            return False
        self.method_combo.setCurrentIndex(index)
        return True

    def _on_method_changed(self, *_args) -> None:
        if self._form_method is not None:
            self._params_by_method[self._form_method] = self.param_form.values()
        info = self.method_info()
        if info is None:
            return
        self._form_method = info.name
        params = [p for p in info.params if p.name not in table_jobs.PREPROCESSING_PARAMS]
        self.param_form.set_params(params, self._params_by_method.get(info.name))
        self.method_help.setText(info.help.split("\n")[0] if info.help else "")
        defaults = info.defaults()
        self.preprocess_view.set_method_defaults(defaults.get("theta", "none"), defaults.get("standardize", False))
        self._update_target_label()
        self.schedule_preview()
        self._update_enabled()

    def _is_supervised(self) -> bool:
        info = self.method_info()
        return info is not None and info.has(TAG_SUPERVISED)

    def _update_target_label(self) -> None:
        if not self._is_supervised():
            self.target_label.setText("")
            return
        target = self.target_column()
        if target is None:
            self.target_label.setText("<b>No target column.</b> Set one column's role to 'target' in the Data view.")
        else:
            self.target_label.setText(f"Predicts the target column <b>{target}</b>.")

    # ------------------------------------------------------------------ loading
    def open_example(self, name: str = "wine") -> int:
        """Open a built-in example table (``resources/samples/<name>.csv``, one of :data:`EXAMPLES`).

        The loan example also chooses the readable-model analysis, which answers its question.
        """
        from xaidesk.resources import resource_path

        if name not in EXAMPLES:
            raise ValueError(f"no example table {name!r}")
        self._method_after_load = EXAMPLE_METHOD_TAGS.get(name)
        return self.open_table(resource_path("samples", f"{name}.csv"))

    def choose_table(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open table", self._last_folder(), TABLE_FILTER)
        if path:
            self.open_table(path)

    def open_table(self, path, encoding: str | None = None) -> int:
        """Read ``path`` in the worker; the current table stays until the new one is read."""
        path = Path(path)
        self._pending_path = path
        self.status_message.emit(f"Opening {path.name} …")

        def job(token, progress):
            return table_jobs.open_table(path, encoding=encoding)

        self._jobs["load"] = self.runner.submit(job, "table.load")
        return self._jobs["load"]

    def _table_ready(self, table) -> None:
        self.table = table
        self.result = None
        self._clear_results()
        self.data_view.show_table(table)
        self._update_target_label()
        self.file_label.setText(f"{table.path.name}\n{table.n_rows} rows × {len(table.columns)} columns\n"
                                f"Read as {table.settings.describe()}.")
        self.file_label.setToolTip(str(table.path))
        self.views.setCurrentIndex(0)
        if not _is_example(table.path):  # save dialogs should not start inside the program's own files
            self._remember_folder(table.path)
        self.table_opened.emit(table.path)
        self.status_message.emit(f"Opened {table.path.name}.")
        if self._method_after_load:
            chosen = next((m.name for m in self.methods if m.has(self._method_after_load)), None)
            if chosen is not None:
                self.select_method(chosen)
            self._method_after_load = None
        self.update_preview()
        self._update_enabled()

    def _load_failed(self, failure: JobFailure) -> None:
        from xaidesk.data.tables import TableEncodingError

        path = self._pending_path
        if isinstance(failure.error, TableEncodingError) and path is not None:
            encoding = failure.error.suggested_encoding
            if error_dialog.confirm(
                self, "The file is not UTF-8", f"{failure.message}",
                f"Read '{path.name}' as {encoding} (Western European) text? Check afterwards that accented names "
                "look right.", yes_text=f"Read as {encoding}",
            ):
                self.open_table(path, encoding=encoding)
                return
        self._method_after_load = None
        self.status_message.emit("The table could not be opened; the previous one is still shown.")
        error_dialog.show_error(self, "Could not open the table", failure)

    # ------------------------------------------------------------------ roles and preprocessing
    def set_role(self, column: str, role: str) -> None:
        """Change a column's role (one target at most: a previous target becomes 'ignore')."""
        self.data_view.set_role(column, role)

    def _on_roles_changed(self) -> None:
        self._update_target_label()
        self.schedule_preview()
        self._update_enabled()

    def target_column(self) -> str | None:
        return self.data_view.target_column()

    def schedule_preview(self, *_args) -> None:
        if self.table is not None:
            self._preview_timer.start()

    def _current_settings(self):
        roles = dict(self.table.roles)
        theta, overrides, standardize = self.preprocess_view.settings()
        return roles, dict(self.data_view.choices), theta, overrides, standardize

    def update_preview(self) -> int | None:
        """Recompute θ, the Jarque-Bera table and the histograms in the worker."""
        self._preview_timer.stop()
        if self.table is None or self.runner.closed:  # e.g. the window is closing
            return None
        table = self.table
        roles, choices, theta, overrides, standardize = self._current_settings()

        def job(token, progress):
            return table_jobs.preview_preprocessing(table, roles, choices, theta, overrides, standardize)

        self.preprocess_view.show_updating()
        self._jobs["preview"] = self.runner.submit(job, "table.preview")
        return self._jobs["preview"]

    def _preview_ready(self, preview) -> None:
        self.preprocess_view.show_preview(preview)
        self.data_view.show_notices(preview.notices)

    def _preview_failed(self, failure: JobFailure) -> None:
        self.preprocess_view.show_failure(failure.message)

    # ------------------------------------------------------------------ running
    def can_run(self) -> bool:
        if self.table is None or self.method_info() is None or self.is_running():
            return False
        return not self._is_supervised() or self.target_column() is not None

    def run_analysis(self) -> int | None:
        if not self.can_run():
            if self.table is not None and self._is_supervised() and self.target_column() is None:
                error_dialog.show_error(self, "Choose a target column first",
                                        "This method predicts a target: set one column's role to 'target' in the Data view.")
            return None
        info = self.method_info()
        table = self.table
        roles, choices, theta, overrides, standardize = self._current_settings()
        params = self.param_form.values()
        method = info.name

        def job(token, progress):
            return table_jobs.run_analysis(table, roles, choices, method, params, theta, overrides, standardize,
                                           token=token, progress=progress)

        self._run_title = info.title or info.name
        return self._submit_run(job, "table.run", f"Running {self._run_title} …")

    # ------------------------------------------------------------ faithfulness
    def open_faithfulness(self):
        """Show the faithfulness window for the open table (created on first use); returns it."""
        from xaidesk.evaluate import TABLE_METHODS

        methods = [(m.name, m.title or m.name) for m in self.methods if m.name in TABLE_METHODS]
        current = self.method_name()
        return show_faithfulness_dialog(self, methods, self._faithfulness_job, "Faithfulness of explanations (table)",
                                        current if current in TABLE_METHODS else None, patches=False)

    def _faithfulness_job(self, methods: list[str], settings):
        """A runner job comparing ``methods`` on the open table with the current roles and preprocessing
        (the current method with the parameters in the form, the others with their defaults)."""
        from xaidesk.core import InputError

        if self.table is None:
            raise InputError("Open a table first.")
        supervised = [m for m in methods if table_jobs.method_has(m, TAG_SUPERVISED)]
        if supervised and self.target_column() is None:
            raise InputError("A model of the target needs a target column: set one column's role to 'target' "
                             "in the Data view.")
        table = self.table
        roles, choices, theta, overrides, standardize = self._current_settings()
        params = {}
        current = self.method_name()
        if current in methods:
            params[current] = self.param_form.values()

        def job(token, progress):
            return table_jobs.compare_faithfulness(table, roles, choices, methods, params, theta, overrides,
                                                   standardize, settings, token=token, progress=progress)

        return job

    def _run_failed(self, failure: JobFailure) -> None:
        self._end_run("The analysis stopped with an error" + ("; the previous results are still shown."
                                                               if self.has_result() else "."))
        error_dialog.show_error(self, "The analysis could not be run", failure)

    # ------------------------------------------------------------------ results
    def result_views(self) -> list:
        """The views that show a result, in tab order."""
        return [self.ranking_view, self.heatmap_view, self.groups_view, self.global_view, self.gamma_view,
                self.clusters_view, self.model_view, self.model_pages]

    def _clear_results(self) -> None:
        for view in self.result_views():
            view.clear()
        self._show_views_that_apply(None)

    def _show_views_that_apply(self, result) -> None:
        """Hide the γ and cluster views for a result they say nothing about (all show before a result)."""
        applies = {self.gamma_view: result is None or result.gamma is not None,
                   self.clusters_view: result is None or "cluster_relevance" in result.extras}
        for view, shown in applies.items():
            self.views.setTabVisible(self.views.indexOf(view), shown)

    def show_result(self, result) -> None:
        self.result = result
        self._end_run(f"{self._run_title if hasattr(self, '_run_title') else result.method}: "
                      f"{len(result.row_ids)} rows × {len(result.feature_names)} features in "
                      f"{format_duration(result.seconds)}.")
        for view in self.result_views():
            view.show_result(result)
        self._show_views_that_apply(result)
        self.views.setCurrentWidget(self.ranking_view)
        if self.ranking_view.ranked_model.rowCount():
            self.ranking_view.select_row(0)
        self.state_changed.emit()

    # ------------------------------------------------------------------ runner relays
    def _finish_handlers(self) -> dict:
        return {"methods": self._methods_ready, "load": self._table_ready, "preview": self._preview_ready,
                "run": self.show_result}

    def _failure_handlers(self) -> dict:
        return {"methods": lambda failure: error_dialog.show_error(self, "Could not list the table methods", failure),
                "load": self._load_failed, "preview": self._preview_failed, "run": self._run_failed}

    # ------------------------------------------------------------------ export
    def has_result(self) -> bool:
        return self.result is not None

    def export_results(self, folder) -> Path:
        """Write the result's files into ``folder``: the same writer as ``xaidesk explain table``."""
        from xaidesk.export.tables import write_table_results

        return write_table_results(folder, self.result, self.table, self.target_column())

    def current_plot_widget(self) -> QWidget:
        """The widget a 'Save plot' would save: the current view's main plot."""
        return self.views.currentWidget().plot_widget()

    def choose_export_folder(self) -> None:
        if self.result is None:
            return
        suggested = str(Path(self._last_folder()) / f"{self.table.path.stem}_{self.result.method}")
        folder, _ = QFileDialog.getSaveFileName(self, "Export results into a new folder", suggested, "Folder (*)")
        if not folder:
            return
        try:
            self.export_results(folder)
        except OSError as error:
            error_dialog.show_error(self, "Could not save the results", f"{folder} could not be written: {error}.")
            return
        self.status_message.emit(f"Saved scores.csv, relevance.csv and summary.json in {folder}.")

    def choose_results_export(self) -> None:
        self.choose_export_folder()

    # ------------------------------------------------------------------ state
    def _update_enabled(self) -> None:
        running = self.is_running()
        self.run_button.setEnabled(self.can_run())
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(self.result is not None)
        self.faithfulness_button.setEnabled(self.table is not None)
        self.save_plot_button.setEnabled(True)
        self.state_changed.emit()


__all__ = ["TablesTab"]
