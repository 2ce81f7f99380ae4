"""The Tables tab: open a table, check how it was read, preprocess, analyse, explain, export.

Loading, the preprocessing preview and every analysis run in the
:class:`~xaidesk.gui.runner.Runner` (see :mod:`xaidesk.gui.table_jobs`); this
module dispatches jobs and shows their results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import table_jobs
from ..formatting import format_duration
from ..runner import JobFailure, Runner
from ..views.table_views import (
    BoxPlot,
    CurvePlot,
    ElidingComboBox,
    FeatureBars,
    FrameModel,
    HistogramPlot,
    RankedModel,
    RelevanceHeatmap,
    bold_font,
    table_number,
)
from ..views.view_common import Placeholder
from ..widgets import error_dialog
from ..widgets.param_form import ParamForm
from ..widgets.word_or_number import WordOrNumberEdit
from .analysis_base import AnalysisTabMixin
from .explain_base import faithfulness_box, show_faithfulness_dialog, side_column

#: Suffixes the Tables tab opens (drag and drop, File ▸ Open).
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".xlsx")
TABLE_FILTER = "Tables (*.csv *.tsv *.txt *.tab *.xlsx);;All files (*)"
METHOD_ORDER = ("neon.knn", "neon.kde", "neon.kmeans", "supervised.linear", "supervised.mlp_lrp", "supervised.mlp_lime")
ROLE_LABELS = {"feature": "feature", "target": "target", "metadata": "metadata", "ignore": "ignore"}
OUTLIER_METHODS = ("neon.knn", "neon.kde")
DEFAULT_TOP_N = 20
CLUSTERS_PLACEHOLDER = ("Nothing to show yet. Choose the clustering analysis (k-means) under Analysis and press "
                        "Run: this view then shows how many clusters fit the rows and what makes each cluster.")
GAMMA_PLACEHOLDER = ("Nothing to show yet. Run an outlier analysis with Stiffness γ set to 'Automatic': this view "
                     "then shows how γ was chosen.")
MODEL_PLACEHOLDER = ("Nothing to show yet. Mark a column as target in the Data view and run a 'Target: …' method: "
                     "this view then shows the model's fit and its loss per training epoch.")
#: The heading of the normality table, and what its statistic means.
JB_HEADING = "Bell-curve misfit (JB) of each column, as read and after each log offset θ"
JB_TOOLTIP = ("Jarque–Bera statistic: how far the column is from a bell curve; smaller is closer. p is the chance "
              "of a misfit at least this large if the column were a bell curve. The θ used is marked in bold on a "
              "green background.")
#: The γ table's columns: a header in words, and the statistic it is in the tooltip.
GAMMA_COLUMNS = (
    ("γ", "Stiffness γ: how local the outlier score is (larger: only the nearest rows count)."),
    ("Score wobble", "Relative spread: how much a row's score moves when the rows are resampled, compared with "
                     "how much scores differ between rows (median over rows of the bootstrap standard deviation, "
                     "divided by the standard deviation across rows). Smaller is steadier."),
    ("Ranking steadiness", "Rank stability: mean Spearman correlation between the ranking on all rows and on "
                           "each resample (1 = the order does not change)."),
    ("Outliers apart", "Calinski–Harabasz index of the 50 highest- vs the 50 lowest-scoring rows split by k-means "
                       "(k = 2): spread between the groups over spread within them. Larger: the outliers stand "
                       "further apart."),
    ("Gap to the rest", "Dunn index of the same split: the smallest distance between the two groups divided by "
                        "the largest distance within a group. Larger: a clearer gap."),
)


def is_table_file(path) -> bool:
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def list_table_methods(token=None, progress=None) -> list:
    """The registered table methods in a fixed order (run in the worker: it imports torch)."""
    from xaidesk.core import list_methods

    order = {name: i for i, name in enumerate(METHOD_ORDER)}
    return sorted(list_methods("table"), key=lambda m: (order.get(m.name, len(order)), m.name))


def _rating(value) -> str:
    """A separation rating for the γ table; '–' where it could not be rated (the tooltip says why)."""
    return "–" if value is None or not np.isfinite(value) else table_number(value)


def ranking_details(result) -> str:
    """The settings behind a ranking, in words: γ, standardisation and the log offset θ per column."""
    lines = []
    if result.gamma is not None:
        lines.append(f"Stiffness γ = {table_number(result.gamma)} (larger: the score looks only at the nearest rows).")
    lines.append("Columns were standardised (each scaled to mean 0, spread 1)." if result.standardized
                 else "Columns were used on their own scales (not standardised).")
    logged = [f"{k} {table_number(v)}" for k, v in result.theta.items() if v is not None]
    plain = [k for k, v in result.theta.items() if v is None]
    if logged:
        lines.append("Log offset θ per column (each value x became log(x + θ)): " + ", ".join(logged) + ".")
    if plain:
        lines.append("Used as read (no log): " + ", ".join(plain) + ".")
    return "\n".join(lines)


def _item(text: str, tooltip: str = "", editable: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if tooltip:
        item.setToolTip(tooltip)
    flags = item.flags()
    item.setFlags(flags | Qt.ItemFlag.ItemIsEditable if editable else flags & ~Qt.ItemFlag.ItemIsEditable)
    return item


#: The log offset θ's words, with the titles the Preprocessing view shows.
THETA_WORDS = {"auto": "Automatic", "none": "No log transform"}


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
        self.choices: dict[str, str] = {}
        self.preview = None
        self.result = None
        self.methods: list = []
        self._jobs: dict[str, int | None] = {"methods": None, "load": None, "preview": None, "run": None}
        self._pending_path: Path | None = None
        self._params_by_method: dict[str, dict] = {}
        self._form_method: str | None = None
        self._faithfulness_dialog = None
        self._filling = False
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(250)
        self._preview_timer.timeout.connect(self.update_preview)
        self._build()
        self._connect_runner()
        self._update_enabled()

    def start_background_loading(self) -> None:
        """List the table methods in the runner (imports torch; called once the window shows)."""
        self._jobs["methods"] = self.runner.submit(list_table_methods, "table_methods")

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        side = side_column(self._build_side_panel(), self._build_run_area("Run", self.run_analysis), min_width=320)

        self.views = QTabWidget()
        self.views.addTab(self._build_data_view(), "Data")
        self.views.addTab(self._build_preprocessing_view(), "Preprocessing")
        self.views.addTab(self._build_ranking_view(), "Ranking")
        self.views.addTab(self._build_heatmap_view(), "Heat map")
        self.views.addTab(self._build_groups_view(), "By group")
        self.views.addTab(self._build_global_view(), "Global")
        self.views.addTab(self._build_gamma_view(), "γ choice")
        self.views.addTab(self._build_clusters_view(), "Clusters")
        self.views.addTab(self._build_model_view(), "Model")

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

        table_box = QGroupBox("Table")
        table_layout = QVBoxLayout(table_box)
        self.open_button = QPushButton("Open table…")
        self.open_button.setToolTip("Open a CSV, TSV or Excel (.xlsx) file. You can also drop a file on the window.")
        self.open_button.clicked.connect(self.choose_table)
        table_layout.addWidget(self.open_button)
        self.example_button = QPushButton("Open example (wines)")
        self.example_button.setToolTip(
            "178 wines from three cultivars with 13 chemical measurements "
            "(the wine data that ships with scikit-learn).")
        self.example_button.clicked.connect(self.open_example)
        table_layout.addWidget(self.example_button)
        self.file_label = QLabel("No table open.\nOpen a CSV, TSV or .xlsx file, or drop one here.")
        self.file_label.setWordWrap(True)
        table_layout.addWidget(self.file_label)
        layout.addWidget(table_box)

        method_box = QGroupBox("Analysis")
        method_layout = QVBoxLayout(method_box)
        self.method_combo = ElidingComboBox()
        self.method_combo.setToolTip("What to compute: outlier scores, clusters, or a model of the target column.")
        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
        method_layout.addWidget(self.method_combo)
        self.method_help = QLabel("")
        self.method_help.setWordWrap(True)
        self.method_help.setStyleSheet("color: #555;")
        method_layout.addWidget(self.method_help)
        self.target_label = QLabel("")
        self.target_label.setWordWrap(True)
        method_layout.addWidget(self.target_label)
        self.param_form = ParamForm()
        method_layout.addWidget(self.param_form)
        note = QLabel("The log offset θ and standardisation are set in the Preprocessing view.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #777;")
        method_layout.addWidget(note)
        layout.addWidget(method_box)

        layout.addWidget(faithfulness_box(
            self, "Compare analyses on this table: remove each row's most (and least) relevant features first, "
                  "each replaced by its column mean, and see how fast the explained score falls, against random "
                  "removal."))

        export_box = QGroupBox("Export")
        export_layout = QVBoxLayout(export_box)
        self.export_button = QPushButton("Export results…")
        self.export_button.setToolTip("Write scores.csv, relevance.csv and summary.json into a folder.")
        self.export_button.clicked.connect(self.choose_export_folder)
        self.save_plot_button = QPushButton("Save current plot as PNG…")
        self.save_plot_button.clicked.connect(self.choose_plot_file)
        export_layout.addWidget(self.export_button)
        export_layout.addWidget(self.save_plot_button)
        layout.addWidget(export_box)
        layout.addStretch(1)
        return panel

    def _build_data_view(self) -> QWidget:
        widget = QWidget()
        layout = QVBoxLayout(widget)
        self.read_label = QLabel("")
        self.read_label.setWordWrap(True)
        layout.addWidget(self.read_label)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.preview_model = FrameModel()
        self.preview_view = QTableView()
        self.preview_view.setModel(self.preview_model)
        self.preview_view.setToolTip("The first rows of the file as read (row numbers are 0-based, in file order).")
        splitter.addWidget(self.preview_view)

        lower = QSplitter(Qt.Orientation.Horizontal)
        roles_box = QGroupBox("Column roles")
        roles_layout = QVBoxLayout(roles_box)
        self.roles_table = QTableWidget(0, 5)
        self.roles_table.setHorizontalHeaderLabels(["Column", "Role", "Why", "Distinct", "Missing"])
        self.roles_table.verticalHeader().setVisible(False)
        self.roles_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.roles_table.setToolTip(
            "feature: used by the analysis · target: what a supervised model predicts · "
            "metadata: kept for grouping (box plots) and shown in the ranking · ignore: left out"
        )
        roles_layout.addWidget(self.roles_table)
        lower.addWidget(roles_box)
        issues_box = QGroupBox("Problems found, and what to do about them")
        issues_layout = QVBoxLayout(issues_box)
        self.issues_table = QTableWidget(0, 2)
        self.issues_table.setHorizontalHeaderLabels(["Problem", "What to do"])
        self.issues_table.verticalHeader().setVisible(False)
        self.issues_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.issues_table.setWordWrap(True)
        issues_layout.addWidget(self.issues_table)
        self.notices_label = QLabel("")
        self.notices_label.setWordWrap(True)
        self.notices_label.setStyleSheet("color: #555;")
        issues_layout.addWidget(self.notices_label)
        lower.addWidget(issues_box)
        splitter.addWidget(lower)
        splitter.setSizes([300, 300])
        layout.addWidget(splitter, 1)
        return widget

    def _build_preprocessing_view(self) -> QWidget:
        widget = QWidget()
        layout = QVBoxLayout(widget)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Log offset θ for all columns:"))
        self.theta_edit = WordOrNumberEdit(THETA_WORDS)
        self.theta_edit.setText("auto")
        self.theta_edit.setMinimumContentsLength(14)
        self.theta_edit.setToolTip(
            "Each column x becomes log(x + θ), which evens out long tails. Automatic picks, per column, the θ "
            "that makes the column look most like a bell curve (smallest Jarque–Bera statistic); None leaves "
            "the values as they are; or type a number. Override it per column below."
        )
        self.theta_edit.editingFinished.connect(self.schedule_preview)
        controls.addWidget(self.theta_edit)
        self.standardize_check = QCheckBox("Standardise (mean 0, standard deviation 1, after the log)")
        self.standardize_check.toggled.connect(self.schedule_preview)
        controls.addWidget(self.standardize_check)
        controls.addStretch(1)
        layout.addLayout(controls)
        self.preprocess_status = QLabel("")
        self.preprocess_status.setWordWrap(True)
        layout.addWidget(self.preprocess_status)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QSplitter(Qt.Orientation.Vertical)
        self.theta_table = QTableWidget(0, 3)
        self.theta_table.setHorizontalHeaderLabels(["Column", "θ (empty: as above)", "θ used"])
        self.theta_table.verticalHeader().setVisible(False)
        self.theta_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.theta_table.setToolTip("Type a number, 'auto' or 'none' in the middle column to override θ for one column.")
        self.theta_table.itemChanged.connect(self._on_theta_item_changed)
        self.theta_table.currentCellChanged.connect(lambda row, *_: self._on_theta_row(row))
        left.addWidget(self.theta_table)
        jb_box = QWidget()
        jb_layout = QVBoxLayout(jb_box)
        jb_layout.setContentsMargins(0, 0, 0, 0)
        self.jb_heading = QLabel(JB_HEADING)
        self.jb_heading.setWordWrap(True)
        self.jb_heading.setToolTip(JB_TOOLTIP)
        jb_layout.addWidget(self.jb_heading)
        self.jb_table = QTableWidget(0, 0)
        self.jb_table.setToolTip(JB_TOOLTIP)
        self.jb_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        jb_layout.addWidget(self.jb_table, 1)
        left.addWidget(jb_box)
        splitter.addWidget(left)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("Histogram of:"))
        self.histogram_combo = QComboBox()
        self.histogram_combo.currentIndexChanged.connect(self._show_histograms)
        pick.addWidget(self.histogram_combo, 1)
        right_layout.addLayout(pick)
        self.before_plot = HistogramPlot("Before (as read)", color=(150, 150, 150))
        self.after_plot = HistogramPlot("After (as analysed)", color=(70, 120, 190))
        right_layout.addWidget(self.before_plot, 1)
        right_layout.addWidget(self.after_plot, 1)
        splitter.addWidget(right)
        splitter.setSizes([520, 480])
        layout.addWidget(splitter, 1)
        return widget

    def _build_ranking_view(self) -> QWidget:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        title_row = QHBoxLayout()
        self.ranking_title = QLabel("Run an analysis to rank the rows.")
        self.ranking_title.setWordWrap(True)
        title_row.addWidget(self.ranking_title, 1)
        self.ranking_details_button = QToolButton()
        self.ranking_details_button.setText("Details")
        self.ranking_details_button.setCheckable(True)
        self.ranking_details_button.setToolTip("Show the settings behind the scores (γ, θ per column).")
        self.ranking_details_button.setVisible(False)
        title_row.addWidget(self.ranking_details_button, 0, Qt.AlignmentFlag.AlignTop)
        left_layout.addLayout(title_row)
        self.ranking_details = QLabel("")
        self.ranking_details.setWordWrap(True)
        self.ranking_details.setStyleSheet("color: #555;")
        self.ranking_details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.ranking_details.setVisible(False)
        self.ranking_details_button.toggled.connect(self.ranking_details.setVisible)
        left_layout.addWidget(self.ranking_details)
        self.ranked_model = RankedModel()
        self.ranked_view = QTableView()
        self.ranked_view.setModel(self.ranked_model)
        self.ranked_view.setSortingEnabled(True)
        self.ranked_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.ranked_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.ranked_view.verticalHeader().setVisible(False)
        self.ranked_view.selectionModel().currentRowChanged.connect(lambda current, _prev: self._on_ranked_row(current.row()))
        left_layout.addWidget(self.ranked_view, 1)
        splitter.addWidget(left)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        self.row_title = QLabel("Select a row to see which features make its score.")
        self.row_title.setWordWrap(True)
        self.row_title.setFont(bold_font())
        right_layout.addWidget(self.row_title)
        self.row_bars = FeatureBars("Feature relevance")
        right_layout.addWidget(self.row_bars, 3)
        self.row_note = QLabel("")
        self.row_note.setWordWrap(True)
        right_layout.addWidget(self.row_note)
        self.row_values = QTableWidget(0, 4)
        self.row_values.setHorizontalHeaderLabels(["Feature", "This row", "Column average", "Relevance"])
        self.row_values.verticalHeader().setVisible(False)
        self.row_values.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.row_values.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        right_layout.addWidget(self.row_values, 2)
        splitter.addWidget(right)
        splitter.setSizes([420, 560])
        return splitter

    def _build_heatmap_view(self) -> QWidget:
        widget = QWidget()
        layout = QVBoxLayout(widget)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Rows with the highest score:"))
        self.top_n_spin = QSpinBox()
        self.top_n_spin.setRange(1, 500)
        self.top_n_spin.setValue(DEFAULT_TOP_N)
        self.top_n_spin.valueChanged.connect(self._show_heatmap)
        controls.addWidget(self.top_n_spin)
        self.heatmap_note = QLabel("Each row's relevance divided by the sum of its |relevance|: rows are comparable.")
        self.heatmap_note.setWordWrap(True)
        controls.addWidget(self.heatmap_note, 1)
        layout.addLayout(controls)
        self.heatmap = RelevanceHeatmap()
        layout.addWidget(self.heatmap, 1)
        self.heatmap_summary = QLabel("")
        self.heatmap_summary.setWordWrap(True)
        layout.addWidget(self.heatmap_summary)
        return widget

    def _build_groups_view(self) -> QWidget:
        widget = QWidget()
        layout = QVBoxLayout(widget)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Scores grouped by:"))
        self.group_combo = QComboBox()
        self.group_combo.setToolTip("A metadata column (set roles in the Data view).")
        self.group_combo.currentIndexChanged.connect(self._show_boxes)
        controls.addWidget(self.group_combo, 1)
        layout.addLayout(controls)
        self.box_plot = BoxPlot()
        layout.addWidget(self.box_plot, 1)
        self.box_note = QLabel("Box: middle half of the rows; red line: median; whiskers: up to 1.5 box lengths; "
                               "circles: rows beyond the whiskers.")
        self.box_note.setWordWrap(True)
        layout.addWidget(self.box_note)
        return widget

    def _build_global_view(self) -> QWidget:
        widget = QWidget()
        layout = QVBoxLayout(widget)
        self.global_bars = FeatureBars("Mean |relevance| per feature")
        layout.addWidget(self.global_bars, 1)
        self.global_note = QLabel("")
        self.global_note.setWordWrap(True)
        layout.addWidget(self.global_note)
        return widget

    def _build_gamma_view(self) -> QWidget:
        widget = QWidget()
        layout = QVBoxLayout(widget)
        self.gamma_note = QLabel("")
        self.gamma_note.setWordWrap(True)
        layout.addWidget(self.gamma_note)
        self.gamma_details = QLabel("")
        self.gamma_details.setWordWrap(True)
        self.gamma_details.setStyleSheet("color: #555;")
        self.gamma_details_button = QToolButton()
        self.gamma_details_button.setText("Details")
        self.gamma_details_button.setCheckable(True)
        self.gamma_details_button.setToolTip("Show the exact rule used to choose γ.")
        self.gamma_details_button.toggled.connect(self.gamma_details.setVisible)
        self.gamma_details.setVisible(False)
        self.gamma_details_button.setVisible(False)
        layout.addWidget(self.gamma_details_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.gamma_details)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.gamma_plot = CurvePlot("Outlier scores across bootstrap resamples")
        splitter.addWidget(self.gamma_plot)
        self.separation_table = QTableWidget(0, len(GAMMA_COLUMNS))
        for column, (header, tooltip) in enumerate(GAMMA_COLUMNS):
            item = QTableWidgetItem(header)
            item.setToolTip(tooltip)
            self.separation_table.setHorizontalHeaderItem(column, item)
        self.separation_table.verticalHeader().setVisible(False)
        self.separation_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.separation_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.separation_table.setToolTip("One line per γ tried; the chosen one is green. Point at a column "
                                         "header to see what it measures.")
        splitter.addWidget(self.separation_table)
        self.gamma_views = Placeholder(splitter, GAMMA_PLACEHOLDER)
        layout.addWidget(self.gamma_views, 1)
        return widget

    def _build_clusters_view(self) -> QWidget:
        widget = QWidget()
        layout = QVBoxLayout(widget)
        self.k_note = QLabel("")
        self.k_note.setWordWrap(True)
        layout.addWidget(self.k_note)
        top = QSplitter(Qt.Orientation.Horizontal)
        self.elbow_plot = CurvePlot("Elbow: within-cluster sum of squares")
        self.silhouette_plot = CurvePlot("Mean silhouette (higher is better)")
        top.addWidget(self.elbow_plot)
        top.addWidget(self.silhouette_plot)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("Cluster:"))
        self.cluster_combo = QComboBox()
        self.cluster_combo.currentIndexChanged.connect(self._show_cluster)
        pick.addWidget(self.cluster_combo, 1)
        bottom_layout.addLayout(pick)
        self.cluster_bars = FeatureBars("Mean feature relevance of the cluster's members")
        bottom_layout.addWidget(self.cluster_bars, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        self.clusters_views = Placeholder(splitter, CLUSTERS_PLACEHOLDER)
        layout.addWidget(self.clusters_views, 1)
        return widget

    def _build_model_view(self) -> QWidget:
        widget = QWidget()
        layout = QVBoxLayout(widget)
        self.model_note = QLabel("")
        self.model_note.setWordWrap(True)
        layout.addWidget(self.model_note)
        self.intercept_label = QLabel("")
        self.intercept_label.setFont(bold_font())
        self.intercept_label.setWordWrap(True)
        layout.addWidget(self.intercept_label)
        self.metrics_label = QLabel("")
        self.metrics_label.setWordWrap(True)
        layout.addWidget(self.metrics_label)
        self.history_plot = CurvePlot("Training: loss per epoch")
        self.model_views = Placeholder(self.history_plot, MODEL_PLACEHOLDER)
        layout.addWidget(self.model_views, 1)
        return widget

    # ------------------------------------------------------------------ methods
    def _methods_ready(self, methods) -> None:
        self.methods = list(methods)
        self.method_combo.blockSignals(True)
        self.method_combo.clear()
        for info in self.methods:
            self.method_combo.addItem(info.title or info.name, info.name)
            self.method_combo.setItemData(self.method_combo.count() - 1, info.help, Qt.ItemDataRole.ToolTipRole)
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
        self.theta_edit.setText(str(defaults.get("theta", "none")))
        self.standardize_check.blockSignals(True)
        self.standardize_check.setChecked(bool(defaults.get("standardize", False)))
        self.standardize_check.blockSignals(False)
        self._update_target_label()
        self.schedule_preview()
        self._update_enabled()

    def _is_supervised(self) -> bool:
        return (self.method_name() or "").startswith("supervised.")

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
    def open_example(self) -> int:
        """Open the built-in example table (``resources/samples/wine.csv``)."""
        from xaidesk.resources import resource_path

        return self.open_table(resource_path("samples", "wine.csv"))

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
            from xaidesk.data.tables import load_table

            return load_table(path, encoding=encoding)

        self._jobs["load"] = self.runner.submit(job, "table_load")
        return self._jobs["load"]

    def _table_ready(self, table) -> None:
        self.table = table
        self.choices = {}
        self.result = None
        self._clear_results()
        self.preview_model.set_frame(table.frame)
        self.preview_view.resizeColumnsToContents()
        self.read_label.setText(
            f"<b>{table.path.name}</b>: {table.n_rows} rows × {len(table.columns)} columns, read as "
            f"{table.settings.describe()}. The preview shows the first {min(table.n_rows, 200)} rows."
        )
        self.file_label.setText(f"{table.path.name}\n{table.n_rows} rows × {len(table.columns)} columns\n"
                                f"Read as {table.settings.describe()}.")
        self.file_label.setToolTip(str(table.path))
        self._fill_roles()
        self._fill_issues()
        self.notices_label.setText("\n".join(table.notices))  # how the file was read, e.g. renamed repeated names
        self.views.setCurrentIndex(0)
        self._remember_folder(table.path)
        self.table_opened.emit(table.path)
        self.status_message.emit(f"Opened {table.path.name}.")
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
        self.status_message.emit("The table could not be opened; the previous one is still shown.")
        error_dialog.show_error(self, "Could not open the table", failure)

    # ------------------------------------------------------------------ roles and issues
    def _fill_roles(self) -> None:
        table = self.table
        self._filling = True
        summary = table.column_summary()
        self.roles_table.setRowCount(len(summary))
        for row, entry in enumerate(summary):
            name = entry["name"]
            self.roles_table.setItem(row, 0, _item(name, entry["reason"]))
            combo = QComboBox()
            for role in ROLE_LABELS:
                combo.addItem(ROLE_LABELS[role], role)
            combo.setCurrentIndex(combo.findData(table.roles.get(name, "ignore")))
            combo.setToolTip(f"Guessed: {entry['reason']}")
            combo.setObjectName(f"role_{name}")
            combo.currentIndexChanged.connect(lambda _i, c=name, w=combo: self.set_role(c, w.currentData()))
            self.roles_table.setCellWidget(row, 1, combo)
            kind = "numbers" if entry["numeric"] else "text"
            self.roles_table.setItem(row, 2, _item(f"{entry['reason']}", f"{kind}; guessed role: {entry['role']}"))
            self.roles_table.setItem(row, 3, _item(str(entry["distinct"])))
            missing = _item(str(entry["missing"]))
            if entry["missing"]:
                missing.setBackground(QBrush(QColor(255, 230, 200)))
            self.roles_table.setItem(row, 4, missing)
        self.roles_table.resizeColumnsToContents()
        self.roles_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self._filling = False
        self._update_target_label()

    def role_combo(self, column: str) -> QComboBox:
        for row in range(self.roles_table.rowCount()):
            if self.roles_table.item(row, 0).text() == column:
                return self.roles_table.cellWidget(row, 1)
        raise KeyError(column)

    def set_role(self, column: str, role: str) -> None:
        """Change a column's role (one target at most: a previous target becomes 'ignore')."""
        if self.table is None or self._filling:
            return
        try:
            self.table.set_role(column, role)
        except Exception as error:  # noqa: BLE001
            error_dialog.show_error(self, "Could not change the role", error)
            return
        self._filling = True
        for name, r in self.table.roles.items():
            combo = self.role_combo(name)
            if combo.currentData() != r:
                combo.setCurrentIndex(combo.findData(r))
        self._filling = False
        self._fill_issues()
        self._update_target_label()
        self.schedule_preview()
        self._update_enabled()

    def target_column(self) -> str | None:
        if self.table is None:
            return None
        return next((c for c, r in self.table.roles.items() if r == "target"), None)

    def _fill_issues(self) -> None:
        issues = self.table.issues() if self.table is not None else []
        self.issues = issues
        self.choices = {k: v for k, v in self.choices.items() if any(i.key == k for i in issues)}
        self.issues_table.setRowCount(max(1, len(issues)))
        if not issues:
            self.issues_table.setItem(0, 0, _item("No problems: no text in the feature columns, no missing values, "
                                                  "no constant columns, no duplicate rows."))
            self.issues_table.setCellWidget(0, 1, None)
            self.issues_table.setItem(0, 1, _item(""))
        for row, issue in enumerate(issues):
            self.issues_table.setItem(row, 0, _item(issue.message, issue.message))
            combo = QComboBox()
            for choice in issue.choices:
                combo.addItem(choice.label, choice.key)
            combo.setCurrentIndex(max(0, combo.findData(self.choices.get(issue.key, issue.default))))
            combo.setToolTip("The preselected option is what happens if you choose nothing.")
            combo.setObjectName(f"issue_{issue.key}")
            combo.currentIndexChanged.connect(lambda _i, k=issue.key, w=combo: self.set_choice(k, w.currentData()))
            self.issues_table.setCellWidget(row, 1, combo)
        self.issues_table.resizeColumnToContents(1)
        self.issues_table.resizeRowsToContents()

    def set_choice(self, key: str, choice: str) -> None:
        self.choices[key] = choice
        self.schedule_preview()

    def issue_combo(self, key: str) -> QComboBox | None:
        for row in range(self.issues_table.rowCount()):
            widget = self.issues_table.cellWidget(row, 1)
            if widget is not None and widget.objectName() == f"issue_{key}":
                return widget
        return None

    # ------------------------------------------------------------------ preprocessing
    def theta_overrides(self) -> dict[str, str]:
        out = {}
        for row in range(self.theta_table.rowCount()):
            name = self.theta_table.item(row, 0).text()
            text = self.theta_table.item(row, 1).text().strip()
            if text:
                out[name] = text
        return out

    def set_theta(self, column: str | None, text: str) -> None:
        """Set θ for all columns (``column=None``) or override it for one column ('' = as for all)."""
        if column is None:
            self.theta_edit.setText(text)
        else:
            for row in range(self.theta_table.rowCount()):
                if self.theta_table.item(row, 0).text() == column:
                    self.theta_table.item(row, 1).setText(text)
        self.schedule_preview()

    def _on_theta_item_changed(self, item: QTableWidgetItem) -> None:
        if not self._filling and item.column() == 1:
            self.schedule_preview()

    def schedule_preview(self, *_args) -> None:
        if self.table is not None:
            self._preview_timer.start()

    def _current_settings(self):
        roles = dict(self.table.roles)
        return roles, dict(self.choices), self.theta_edit.text().strip() or "none", self.theta_overrides(), \
            self.standardize_check.isChecked()

    def update_preview(self) -> int | None:
        """Recompute θ, the Jarque-Bera table and the histograms in the worker."""
        self._preview_timer.stop()
        if self.table is None or self.runner.closed:  # e.g. the window is closing
            return None
        table = self.table
        roles, choices, theta, overrides, standardize = self._current_settings()

        def job(token, progress):
            return table_jobs.preview_preprocessing(table, roles, choices, theta, overrides, standardize)

        self.preprocess_status.setText("Updating …")
        self._jobs["preview"] = self.runner.submit(job, "table_preview")
        return self._jobs["preview"]

    def _preview_ready(self, preview) -> None:
        self.preview = preview
        overrides = self.theta_overrides()
        self._filling = True
        self.theta_table.setRowCount(len(preview.names))
        for row, name in enumerate(preview.names):
            self.theta_table.setItem(row, 0, _item(name))
            self.theta_table.setItem(row, 1, _item(overrides.get(name, ""), editable=True))
            used = preview.theta.get(name)
            self.theta_table.setItem(row, 2, _item("none (no log)" if used is None else table_number(used)))
        self._filling = False
        self._fill_jb_table(preview)
        current = self.histogram_combo.currentText()
        self.histogram_combo.blockSignals(True)
        self.histogram_combo.clear()
        self.histogram_combo.addItems(preview.names)
        index = self.histogram_combo.findText(current)
        self.histogram_combo.setCurrentIndex(max(0, index))
        self.histogram_combo.blockSignals(False)
        self._show_histograms()
        lines = [f"{preview.rows} rows × {len(preview.names)} feature columns enter the analysis"
                 + (", standardised after the log." if preview.standardized else ".")]
        self.preprocess_status.setText(" ".join(lines))
        self.notices_label.setText("\n".join((self.table.notices if self.table else []) + list(preview.notices)))

    def _preview_failed(self, failure: JobFailure) -> None:
        self.preview = None
        self.preprocess_status.setText(f"<span style='color:#b00'>{failure.message}</span>")

    def _fill_jb_table(self, preview) -> None:
        rows = preview.jb_rows
        names = [n for n in preview.names if any(r["column"] == n for r in rows)]
        thetas = sorted({r["theta"] for r in rows if np.isfinite(r["theta"])})
        self.jb_table.clear()
        self.jb_table.setColumnCount(len(names))
        self.jb_table.setRowCount(1 + len(thetas))
        for column, name in enumerate(names):
            header = QTableWidgetItem(name)
            header.setToolTip(f"{name}: {JB_TOOLTIP}")
            self.jb_table.setHorizontalHeaderItem(column, header)
        self.jb_table.setVerticalHeaderLabels(["no log"] + [f"θ = {table_number(t)}" for t in thetas])
        for r in rows:
            col = names.index(r["column"])
            line = 0 if not np.isfinite(r["theta"]) else 1 + thetas.index(r["theta"])
            text = "–" if not np.isfinite(r["jb"]) else f"misfit {table_number(r['jb'])}\np = {table_number(r['p'])}"
            theta = "no log" if not np.isfinite(r["theta"]) else f"θ = {table_number(r['theta'])}"
            item = _item(text, f"{r['column']}, {theta}: bell-curve misfit (Jarque–Bera) {table_number(r['jb'])}, "
                               f"p = {table_number(r['p'])}. Smaller misfit is closer to a bell curve.")
            if r["chosen"]:
                item.setFont(bold_font())
                item.setBackground(QBrush(QColor(200, 235, 200)))
                item.setText(item.text() + "\n✓ used")
            self.jb_table.setItem(line, col, item)
        self.jb_table.resizeColumnsToContents()
        self.jb_table.resizeRowsToContents()

    def _show_histograms(self, *_args) -> None:
        preview = self.preview
        name = self.histogram_combo.currentText()
        if preview is None or name not in preview.names:
            return
        j = preview.names.index(name)
        theta = preview.theta.get(name)
        after = "as read" if theta is None else f"log(x + {table_number(theta)})"
        if preview.standardized:
            after += ", standardised"
        self.before_plot.set_histogram(*preview.before[j], title=f"{name}: before (as read)", x_label=name)
        self.after_plot.set_histogram(*preview.after[j], title=f"{name}: after ({after})", x_label=after)

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
        return self._submit_run(job, "table_run", f"Running {self._run_title} …")

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
        supervised = [m for m in methods if m.startswith("supervised.")]
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
        self._end_run("The analysis stopped with an error; the previous results are still shown.")
        error_dialog.show_error(self, "The analysis could not be run", failure)

    # ------------------------------------------------------------------ results
    def _clear_results(self) -> None:
        self.ranked_model.set_columns([], [], np.zeros(0, dtype=int))
        self.row_bars.clear_bars()
        self.row_values.setRowCount(0)
        self.row_title.setText("Select a row to see which features make its score.")
        self.row_note.setText("")
        self.ranking_title.setText("Run an analysis to rank the rows.")
        self.ranking_title.setToolTip("")
        self.ranking_details.setText("")
        self.ranking_details_button.setChecked(False)
        self.ranking_details_button.setVisible(False)
        self.heatmap.set_matrix(np.zeros((0, 0)), [], [])
        self.box_plot.set_boxes([])
        self.global_bars.clear_bars()
        self.intercept_label.setText("")
        self.metrics_label.setText("")
        self.model_note.setText("")
        self.model_views.show_message(MODEL_PLACEHOLDER)

    def show_result(self, result) -> None:
        self.result = result
        self._end_run(f"{self._run_title if hasattr(self, '_run_title') else result.method}: "
                      f"{len(result.row_ids)} rows × {len(result.feature_names)} features in "
                      f"{format_duration(result.seconds)}.")
        self._fill_ranking(result)
        self._show_heatmap()
        self._fill_groups(result)
        self._show_global(result)
        self._show_gamma(result)
        self._show_clusters(result)
        self._show_model(result)
        self.views.setCurrentIndex(self.views.indexOf(self.views.widget(2)))
        if self.ranked_model.rowCount():
            self.select_ranked_row(0)
        self.state_changed.emit()

    def _fill_ranking(self, result) -> None:
        order = result.ranking()
        rank = np.empty(len(order), dtype=int)
        rank[order] = np.arange(1, len(order) + 1)
        # A short "Score" header keeps the numbers on screen; the full wording is its tooltip and the title.
        headers = ["Rank", "Row", "Score"]
        tooltips = ["1 = highest score", "the row's number in the file (data rows from 0)", result.score_label]
        columns = [rank, np.asarray(result.row_ids, dtype=int), result.scores]
        if "labels" in result.extras:
            headers.append("Cluster")
            tooltips.append("the cluster k-means put the row in")
            columns.append(np.asarray(result.extras["labels"], dtype=int))
        for name, values in result.metadata.items():
            headers.append(name)
            tooltips.append(f"metadata column '{name}'")
            columns.append(np.asarray(values))
        self.ranked_model.set_columns(headers, columns, order, tooltips)
        self.ranked_view.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.ranked_view.resizeColumnsToContents()
        self.ranking_title.setText(
            f"{len(result.row_ids)} rows, highest <b>{result.score_label.split(' (')[0]}</b> first. "
            "Click a row to see why; click a column header to sort.")
        self.ranking_details.setText(ranking_details(result))
        self.ranking_title.setToolTip(self.ranking_details.text())
        self.ranking_details_button.setVisible(True)

    def ranked_row_ids(self) -> list[int]:
        """File row ids in the order the ranking table shows them."""
        return [int(v) for v in self.ranked_model.column_values(1)]

    def select_ranked_row(self, view_row: int) -> None:
        index = self.ranked_model.index(view_row, 0)
        self.ranked_view.setCurrentIndex(index)
        self.ranked_view.scrollTo(index)

    def _on_ranked_row(self, view_row: int) -> None:
        if self.result is None or view_row < 0 or view_row >= self.ranked_model.rowCount():
            return
        self.show_row(self.ranked_model.position(view_row))

    def show_row(self, position: int) -> None:
        """Show one row's feature relevance beside its raw values and the column averages."""
        result = self.result
        row_id = int(result.row_ids[position])
        relevance = result.relevance[position]
        score = float(result.scores[position])
        absorbed = float(result.absorbed[position])
        self.row_bars.set_values(result.feature_names, relevance, title=f"Row {row_id}: relevance per feature")
        if not np.isfinite(score):
            self.row_title.setText(f"Row {row_id} was not explained (LIME explains the rows chosen in 'Rows').")
        else:
            self.row_title.setText(f"Row {row_id} · {result.score_label} = {table_number(score)}")
        notes = []
        if result.method == "supervised.linear":
            notes.append(f"Prediction {table_number(score)} = sum of the bars {table_number(np.nansum(relevance))} "
                         f"+ intercept {table_number(float(result.extras.get('intercept', absorbed)))} (shown apart).")
        elif np.isfinite(absorbed) and abs(absorbed) > 1e-9 * max(1.0, abs(score)):
            notes.append(f"The bars sum to {table_number(np.nansum(relevance))}; {table_number(absorbed)} is not "
                         "assigned to any feature (stabiliser, bias or intercept).")
        elif np.isfinite(score):
            notes.append(f"The bars sum to the score ({table_number(np.nansum(relevance))}).")
        if "labels" in result.extras:
            notes.append(f"Cluster {int(result.extras['labels'][position])}.")
        if result.method in OUTLIER_METHODS and np.isfinite(score):
            try:
                explanation = result.explain_row(row_id, top=5)
                share = ", ".join(f"{int(r)} ({100 * w:.0f} %)" for r, w in
                                  zip(explanation.neighbours, explanation.neighbour_weights))
                notes.append(f"Nearest rows that make the score: {share}.")
            except Exception:  # noqa: BLE001 - a detail; the bars are the explanation
                pass
        self.row_note.setText(" ".join(notes))
        means = result.column_means()
        raw = result.raw[position]
        self.row_values.setRowCount(len(result.feature_names))
        for i, name in enumerate(result.feature_names):
            self.row_values.setItem(i, 0, _item(name))
            self.row_values.setItem(i, 1, _item(table_number(float(raw[i]))))
            self.row_values.setItem(i, 2, _item(table_number(float(means[i]))))
            rel = _item(table_number(float(relevance[i])))
            if np.isfinite(relevance[i]) and relevance[i] != 0:
                rel.setForeground(QBrush(QColor(180, 40, 30) if relevance[i] > 0 else QColor(40, 80, 180)))
            self.row_values.setItem(i, 3, rel)

    def _show_heatmap(self, *_args) -> None:
        result = self.result
        if result is None:
            return
        n = self.top_n_spin.value()
        finite = np.isfinite(result.scores)
        order = [p for p in result.ranking() if finite[p]][:n]
        normalised = result.normalised_relevance()[order]
        rows = [int(result.row_ids[p]) for p in order]
        self.heatmap.set_matrix(normalised, result.feature_names, rows,
                                title=f"Normalised relevance of the {len(rows)} highest-scoring rows",
                                score=result.score_label.split(" (")[0])
        if len(rows):
            top = np.nanargmax(normalised, axis=1)
            counts = np.bincount(top, minlength=len(result.feature_names))
            ranked = np.argsort(-counts)
            parts = [f"{result.feature_names[j]} ({counts[j]})" for j in ranked if counts[j]]
            self.heatmap_summary.setText(f"Most relevant feature per row, across these {len(rows)} rows: "
                                         + ", ".join(parts) + ".")

    def _fill_groups(self, result) -> None:
        current = self.group_combo.currentText()
        self.group_combo.blockSignals(True)
        self.group_combo.clear()
        self.group_combo.addItems(list(result.metadata))
        if "labels" in result.extras:
            self.group_combo.addItem("cluster")
        index = self.group_combo.findText(current)
        self.group_combo.setCurrentIndex(max(0, index))
        self.group_combo.blockSignals(False)
        self._show_boxes()

    def _show_boxes(self, *_args) -> None:
        result = self.result
        name = self.group_combo.currentText()
        if result is None or not name:
            self.box_plot.set_boxes([], title="No metadata column: set a column's role to 'metadata' in the Data view.")
            return
        if name == "cluster" and name not in result.metadata:
            labels = np.asarray(result.extras["labels"])
            groups = {str(c): result.scores[labels == c] for c in sorted(set(labels.tolist()))}
        else:
            groups = result.scores_by(name)
        boxes = table_jobs.box_stats(groups)
        self.box_plot.set_boxes(boxes, title=f"{result.score_label} by {name}", y_label=result.score_label,
                                x_label=name)

    def _show_global(self, result) -> None:
        importance = result.global_importance()
        self.global_bars.set_values(result.feature_names, importance, title="Mean |relevance| per feature",
                                    x_label="mean |relevance| over the explained rows")
        explained = int(np.all(np.isfinite(result.relevance), axis=1).sum())
        self.global_note.setText(f"Averaged over {explained} explained rows. A long bar: the feature matters "
                                 "often or strongly for the score.")

    def _show_gamma(self, result) -> None:
        selection = result.extras.get("gamma_selection")
        if not selection:
            message = (f"γ was set by hand ({table_number(result.gamma)}). Set Stiffness γ to 'Automatic' and run again to let "
                       "the app choose it." if result.gamma else "γ applies to the outlier methods only.")
            self.gamma_note.setText("")
            self.gamma_views.show_message(message)
            self.gamma_details_button.setVisible(False)
            self.gamma_details_button.setChecked(False)
            self.gamma_plot.reset()
            self.separation_table.setRowCount(0)
            return
        self.gamma_views.show_content()
        gammas = np.asarray(selection["gammas"], dtype=float)
        self.gamma_plot.reset("Outlier scores across bootstrap resamples (mean ± spread)", x_label="γ (log scale)",
                              y_label="score", log_x=True)
        self.gamma_plot.add_curve("mean score", gammas, selection["mean"], band=selection["spread"])
        self.gamma_plot.mark(selection["chosen"], f"chosen γ = {table_number(selection['chosen'])}")
        self.gamma_note.setText(
            f"Chosen γ = {table_number(selection['chosen'])}: the most local setting whose scores stay steady when the rows "
            f"are resampled (tried on {selection.get('rows_used', '')} rows).")
        self.gamma_details.setText(f"Rule: {selection['rule']}. The table tries each γ on the grid; its last two "
                                   "columns split the 50 highest- and 50 lowest-scoring rows in two (k-means, "
                                   "k = 2) and rate how far apart the two groups are.")
        self.gamma_details_button.setVisible(True)
        separation = selection.get("separation") or []
        self.separation_table.setRowCount(len(gammas))
        for i, g in enumerate(gammas):
            sep = separation[i] if i < len(separation) else {}
            cells = [table_number(g), table_number(selection["relative_spread"][i]), f"{selection['rank_stability'][i]:.3f}",
                     _rating(sep.get("calinski_harabasz")), _rating(sep.get("dunn"))]
            for j, text in enumerate(cells):
                item = _item(text)
                if j >= 3 and sep.get("note"):
                    item.setToolTip(sep["note"])
                if np.isclose(g, selection["chosen"]):
                    item.setFont(bold_font())
                    item.setBackground(QBrush(QColor(200, 235, 200)))
                self.separation_table.setItem(i, j, item)

    def _show_clusters(self, result) -> None:
        choice = result.extras.get("k_choice")
        self.elbow_plot.reset("Elbow: within-cluster sum of squares", x_label="k", y_label="inertia")
        self.silhouette_plot.reset("Mean silhouette (higher is better)", x_label="k", y_label="silhouette")
        self.cluster_combo.blockSignals(True)
        self.cluster_combo.clear()
        if "cluster_relevance" not in result.extras:
            self.k_note.setText("")
            self.clusters_views.show_message()
            self.cluster_bars.clear_bars()
            self.cluster_combo.blockSignals(False)
            return
        sizes = result.extras.get("cluster_sizes", [])
        if choice:
            self.elbow_plot.add_curve("inertia", choice["ks"], choice["inertia"])
            self.elbow_plot.mark(choice["suggested"], f"k = {choice['suggested']}")
            self.silhouette_plot.add_curve("silhouette", choice["ks"], choice["silhouette"], color=(60, 150, 80))
            self.silhouette_plot.mark(choice["suggested"], f"suggested k = {choice['suggested']}")
            rule = f"k = {result.extras['clusters']} ({choice['rule']})."
        else:
            rule = f"k = {result.extras['clusters']}, set by hand (set 'Number of clusters' to 0 for the k helper)."
        self.clusters_views.show_content()
        self.k_note.setText(rule + " Cluster sizes: " + ", ".join(f"{i}: {s}" for i, s in enumerate(sizes)) + ".")
        for i, s in enumerate(sizes):
            self.cluster_combo.addItem(f"cluster {i} ({s} rows)", i)
        self.cluster_combo.blockSignals(False)
        self._show_cluster()

    def _show_cluster(self, *_args) -> None:
        result = self.result
        if result is None or "cluster_relevance" not in result.extras or self.cluster_combo.currentIndex() < 0:
            return
        c = int(self.cluster_combo.currentData())
        values = np.asarray(result.extras["cluster_relevance"][c], dtype=float)
        self.cluster_bars.set_values(result.feature_names, values,
                                     title=f"Cluster {c}: mean feature relevance of its membership evidence")

    def _show_model(self, result) -> None:
        self.history_plot.reset("Training: loss per epoch", x_label="epoch", y_label="loss")
        if not result.method.startswith("supervised."):
            self.model_note.setText("")
            self.model_views.show_message(MODEL_PLACEHOLDER)
            self.intercept_label.setText("")
            self.metrics_label.setText("")
            return
        target = result.extras.get("target_column", "the target")
        self.model_note.setText(f"Model of <b>{target}</b>: {result.score_label}.")
        if "intercept" in result.extras:
            self.intercept_label.setText(
                f"Intercept: {table_number(float(result.extras['intercept']))} — the prediction for a row at the "
                "reference point; it is not part of any feature's contribution and is shown apart. "
                "Each prediction = intercept + Σ w_i x_i.")
        elif result.method == "supervised.mlp_lime":
            self.intercept_label.setText("LIME: each explained row has its own surrogate intercept (not in the bars).")
        else:
            self.intercept_label.setText("The network's biases take up part of the output; it is not in the bars.")
        metrics = result.extras.get("metrics") or {}
        self.metrics_label.setText("Metrics: " + ", ".join(f"{k.replace('_', ' ')} {table_number(v)}" for k, v in metrics.items())
                                   if metrics else "")
        history = result.extras.get("history") or []
        if not history:
            self.model_views.show_message("This model is fitted in one step, not over training epochs: there is no "
                                          "loss per epoch to show.")
        else:
            self.model_views.show_content()
            epochs = [h["epoch"] for h in history]
            self.history_plot.add_curve("training loss", epochs, [h["train_loss"] for h in history], symbol=None)
            val = [(h["epoch"], h["validation_loss"]) for h in history if "validation_loss" in h]
            if val:
                self.history_plot.add_curve("validation loss", [v[0] for v in val], [v[1] for v in val],
                                            color=(200, 100, 30))

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
        page = self.views.currentWidget()
        for plot in (self.row_bars, self.heatmap, self.box_plot, self.global_bars, self.gamma_plot,
                     self.cluster_bars, self.history_plot, self.after_plot):
            if page.isAncestorOf(plot):
                if plot is self.after_plot:
                    return self.before_plot.parentWidget()
                return plot
        return page

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


__all__ = ["TablesTab", "TABLE_SUFFIXES", "is_table_file"]
