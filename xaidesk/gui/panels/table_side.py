"""The Tables tab's side column: the table box (open, examples), the analysis box (method and form) and
the export box.

Like :func:`~xaidesk.gui.panels.tab_pieces.faithfulness_box`, each builder puts its widgets on the
tab (``owner.open_button``, ``owner.method_combo``, ...) and connects them to the tab's slots
(``choose_table``, ``open_example``, ``_on_method_changed``, ``choose_export_folder``,
``choose_plot_file``).
"""

from __future__ import annotations

from PySide6.QtWidgets import QGroupBox, QLabel, QMenu, QPushButton, QVBoxLayout

from ...core.registry import TAG_BASE_VALUE
from ..views.table_views import ElidingComboBox
from ..widgets.param_form import ParamForm

#: The example tables (``resources/samples/<name>.csv``): menu title and what they hold.
EXAMPLES = {
    "wine": ("Wines: 178 wines, 13 measurements", "178 wines from three cultivars with 13 chemical measurements "
             "(the wine data that ships with scikit-learn). Good for outliers and clusters."),
    "loans": ("Loans: why was a loan declined?", "2,000 generated loan applications, approved or declined by "
              "known rules (income against the amount, credit history, past defaults, and a biased postcode "
              "district). Good for readable models, Shapley values, what-if curves and counterfactuals."),
}
#: The analysis chosen when an example opens, by a tag it carries (the others keep the current choice): the
#: loan table is a decision to explain with a readable model and its base value plus Shapley values.
EXAMPLE_METHOD_TAGS = {"loans": TAG_BASE_VALUE}


def table_box(owner) -> QGroupBox:
    """"Table": Open table…, the examples menu and what was read (``owner.file_label``)."""
    box = QGroupBox("Table")
    layout = QVBoxLayout(box)
    owner.open_button = QPushButton("Open table…")
    owner.open_button.setToolTip("Open a CSV, TSV or Excel (.xlsx) file. You can also drop a file on the window.")
    owner.open_button.clicked.connect(owner.choose_table)
    layout.addWidget(owner.open_button)
    owner.example_button = QPushButton("Open an example…")
    owner.example_button.setToolTip("Tables that ship with xaidesk, to try every analysis on.")
    examples = QMenu(owner.example_button)
    for name, (title, tip) in EXAMPLES.items():
        action = examples.addAction(title)
        action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False, n=name: owner.open_example(n))
    examples.setToolTipsVisible(True)
    owner.example_button.setMenu(examples)
    layout.addWidget(owner.example_button)
    owner.file_label = QLabel("No table open.\nOpen a CSV, TSV or .xlsx file, or drop one here.")
    owner.file_label.setWordWrap(True)
    layout.addWidget(owner.file_label)
    return box


def analysis_box(owner) -> QGroupBox:
    """"Analysis": the method (``owner.method_combo``), its help, the target line and its settings form."""
    box = QGroupBox("Analysis")
    layout = QVBoxLayout(box)
    owner.method_combo = ElidingComboBox()
    owner.method_combo.setToolTip("What to compute: outlier scores, clusters, or a model of the target column.")
    owner.method_combo.currentIndexChanged.connect(owner._on_method_changed)
    layout.addWidget(owner.method_combo)
    owner.method_help = QLabel("")
    owner.method_help.setWordWrap(True)
    owner.method_help.setStyleSheet("color: #555;")
    layout.addWidget(owner.method_help)
    owner.target_label = QLabel("")
    owner.target_label.setWordWrap(True)
    layout.addWidget(owner.target_label)
    owner.param_form = ParamForm()
    layout.addWidget(owner.param_form)
    note = QLabel("The log offset θ and standardisation are set in the Preprocessing view.")
    note.setWordWrap(True)
    note.setStyleSheet("color: #777;")
    layout.addWidget(note)
    return box


def export_box(owner) -> QGroupBox:
    """"Export": the results folder and the current plot as PNG."""
    box = QGroupBox("Export")
    layout = QVBoxLayout(box)
    owner.export_button = QPushButton("Export results…")
    owner.export_button.setToolTip("Write scores.csv, relevance.csv and summary.json into a folder.")
    owner.export_button.clicked.connect(owner.choose_export_folder)
    owner.save_plot_button = QPushButton("Save current plot as PNG…")
    owner.save_plot_button.clicked.connect(owner.choose_plot_file)
    layout.addWidget(owner.export_button)
    layout.addWidget(owner.save_plot_button)
    return box


__all__ = ["EXAMPLES", "EXAMPLE_METHOD_TAGS", "analysis_box", "export_box", "table_box"]
