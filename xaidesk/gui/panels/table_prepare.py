"""The Tables tab's preparation views: how the file was read, column roles and problem choices (Data),
and the log offset θ, standardisation and their preview (Preprocessing).

The views hold the person's choices and say when they change (``roles_changed``,
``choices_changed``, ``changed``); the tab computes the preview in the worker and hands
it back with :meth:`TablePreprocessView.show_preview`.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..views.table_items import FrameModel, table_item, table_number
from ..views.table_views import HistogramPlot, bold_font
from ..widgets import error_dialog
from ..widgets.word_or_number import WordOrNumberEdit

ROLE_LABELS = {"feature": "feature", "target": "target", "metadata": "metadata", "ignore": "ignore"}
#: The heading of the normality table, and what its statistic means.
JB_HEADING = "Bell-curve misfit (JB) of each column, as read and after each log offset θ"
JB_TOOLTIP = ("Jarque–Bera statistic: how far the column is from a bell curve; smaller is closer. p is the chance "
              "of a misfit at least this large if the column were a bell curve. The θ used is marked in bold on a "
              "green background.")
#: The log offset θ's words, with the titles the Preprocessing view shows.
THETA_WORDS = {"auto": "Automatic", "none": "No log transform"}


class TableDataView(QWidget):
    """The file as read, each column's role (editable) and the problems found with a choice for each.

    Signals
    -------
    roles_changed()
        A column's role changed (the table already has it).
    choices_changed()
        The choice for a problem changed (``choices`` has it).
    """

    roles_changed = Signal()
    choices_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = None
        self.issues: list = []
        self.choices: dict[str, str] = {}
        self._filling = False
        layout = QVBoxLayout(self)
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

    def plot_widget(self) -> QWidget:
        """What a 'Save plot' saves while this view is shown: the view itself (it has no plot)."""
        return self

    def show_table(self, table) -> None:
        """Show a newly read table: its first rows, the guessed roles and the problems (no choices made yet)."""
        self.table = table
        self.choices = {}
        self.preview_model.set_frame(table.frame)
        self.preview_view.resizeColumnsToContents()
        self.read_label.setText(
            f"<b>{table.path.name}</b>: {table.n_rows} rows × {len(table.columns)} columns, read as "
            f"{table.settings.describe()}. The preview shows the first {min(table.n_rows, 200)} rows."
        )
        self._fill_roles()
        self._fill_issues()
        self.show_notices([])

    def show_notices(self, notices) -> None:
        """How the file was read (e.g. renamed repeated names), then ``notices`` from preparing the features."""
        self.notices_label.setText("\n".join((self.table.notices if self.table else []) + list(notices)))

    def _fill_roles(self) -> None:
        table = self.table
        self._filling = True
        summary = table.column_summary()
        self.roles_table.setRowCount(len(summary))
        for row, entry in enumerate(summary):
            name = entry["name"]
            self.roles_table.setItem(row, 0, table_item(name, entry["reason"]))
            combo = QComboBox()
            for role in ROLE_LABELS:
                combo.addItem(ROLE_LABELS[role], role)
            combo.setCurrentIndex(combo.findData(table.roles.get(name, "ignore")))
            combo.setToolTip(f"Guessed: {entry['reason']}")
            combo.setObjectName(f"role_{name}")
            combo.currentIndexChanged.connect(lambda _i, c=name, w=combo: self.set_role(c, w.currentData()))
            self.roles_table.setCellWidget(row, 1, combo)
            kind = "numbers" if entry["numeric"] else "text"
            self.roles_table.setItem(row, 2, table_item(f"{entry['reason']}", f"{kind}; guessed role: {entry['role']}"))
            self.roles_table.setItem(row, 3, table_item(str(entry["distinct"])))
            missing = table_item(str(entry["missing"]))
            if entry["missing"]:
                missing.setBackground(QBrush(QColor(255, 230, 200)))
            self.roles_table.setItem(row, 4, missing)
        self.roles_table.resizeColumnsToContents()
        self.roles_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self._filling = False

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
        self.roles_changed.emit()

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
            self.issues_table.setItem(0, 0, table_item("No problems: no text in the feature columns, no missing "
                                                       "values, no constant columns, no duplicate rows."))
            self.issues_table.setCellWidget(0, 1, None)
            self.issues_table.setItem(0, 1, table_item(""))
        for row, issue in enumerate(issues):
            self.issues_table.setItem(row, 0, table_item(issue.message, issue.message))
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
        self.choices_changed.emit()

    def issue_combo(self, key: str) -> QComboBox | None:
        for row in range(self.issues_table.rowCount()):
            widget = self.issues_table.cellWidget(row, 1)
            if widget is not None and widget.objectName() == f"issue_{key}":
                return widget
        return None


class TablePreprocessView(QWidget):
    """The log offset θ (for all columns and per column), standardisation, the Jarque–Bera table and
    histograms of a column before and after.

    Signals
    -------
    changed()
        θ or standardisation changed: the preview is out of date.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preview = None
        self._filling = False
        layout = QVBoxLayout(self)
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
        self.theta_edit.editingFinished.connect(self.changed)
        controls.addWidget(self.theta_edit)
        self.standardize_check = QCheckBox("Standardise (mean 0, standard deviation 1, after the log)")
        self.standardize_check.toggled.connect(self.changed)
        controls.addWidget(self.standardize_check)
        controls.addStretch(1)
        layout.addLayout(controls)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QSplitter(Qt.Orientation.Vertical)
        self.theta_table = QTableWidget(0, 3)
        self.theta_table.setHorizontalHeaderLabels(["Column", "θ (empty: as above)", "θ used"])
        self.theta_table.verticalHeader().setVisible(False)
        self.theta_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.theta_table.setToolTip("Type a number, 'auto' or 'none' in the middle column to override θ for one column.")
        self.theta_table.itemChanged.connect(self._on_theta_item_changed)
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

    def plot_widget(self) -> QWidget:
        """What a 'Save plot' saves while this view is shown: both histograms."""
        return self.before_plot.parentWidget()

    def settings(self) -> tuple[str, dict[str, str], bool]:
        """``(θ for all columns, {column: θ text}, standardise)`` as a run uses them."""
        return self.theta_edit.text().strip() or "none", self.theta_overrides(), self.standardize_check.isChecked()

    def set_method_defaults(self, theta, standardize: bool) -> None:
        """Show a method's defaults for θ and standardisation (without saying ``changed``)."""
        self.theta_edit.setText(str(theta))
        self.standardize_check.blockSignals(True)
        self.standardize_check.setChecked(bool(standardize))
        self.standardize_check.blockSignals(False)

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
        self.changed.emit()

    def _on_theta_item_changed(self, item: QTableWidgetItem) -> None:
        if not self._filling and item.column() == 1:
            self.changed.emit()

    def show_updating(self) -> None:
        self.status.setText("Updating …")

    def show_failure(self, message: str) -> None:
        self.preview = None
        self.status.setText(f"<span style='color:#b00'>{message}</span>")

    def show_preview(self, preview) -> None:
        """Show a :class:`~xaidesk.gui.table_jobs.PreprocessPreview`: θ used, the JB table, the histograms."""
        self.preview = preview
        overrides = self.theta_overrides()
        self._filling = True
        self.theta_table.setRowCount(len(preview.names))
        for row, name in enumerate(preview.names):
            self.theta_table.setItem(row, 0, table_item(name))
            self.theta_table.setItem(row, 1, table_item(overrides.get(name, ""), editable=True))
            used = preview.theta.get(name)
            self.theta_table.setItem(row, 2, table_item("none (no log)" if used is None else table_number(used)))
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
        self.status.setText(" ".join(lines))

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
            item = table_item(text, f"{r['column']}, {theta}: bell-curve misfit (Jarque–Bera) {table_number(r['jb'])}, "
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
