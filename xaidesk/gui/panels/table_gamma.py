"""The Tables tab's γ choice view: how the outlier methods' stiffness γ was chosen, when it was automatic."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..views.table_items import table_item, table_number
from ..views.table_views import CurvePlot, bold_font
from ..views.view_common import Placeholder

GAMMA_PLACEHOLDER = ("Nothing to show yet. Run an outlier analysis with Stiffness γ set to 'Automatic': this view "
                     "then shows how γ was chosen.")
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


def _rating(value) -> str:
    """A separation rating for the γ table; '–' where it could not be rated (the tooltip says why)."""
    return "–" if value is None or not np.isfinite(value) else table_number(value)


class TableGammaView(QWidget):
    """The bootstrap curve of the outlier scores over γ, the chosen γ, and one table line per γ tried."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setStyleSheet("color: #555;")
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("Show the exact rule used to choose γ.")
        self.details_button.toggled.connect(self.details.setVisible)
        self.details.setVisible(False)
        self.details_button.setVisible(False)
        layout.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.details)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.plot = CurvePlot("Outlier scores across bootstrap resamples")
        splitter.addWidget(self.plot)
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
        self.placeholder = Placeholder(splitter, GAMMA_PLACEHOLDER)
        layout.addWidget(self.placeholder, 1)

    def plot_widget(self) -> QWidget:
        """The plot a 'Save plot' saves while this view is shown."""
        return self.plot

    def clear(self) -> None:
        """Forget the result and show the placeholder (a new table has no γ choice yet)."""
        self.note.setText("")
        self.details_button.setVisible(False)
        self.details_button.setChecked(False)
        self.plot.reset()
        self.separation_table.setRowCount(0)
        self.placeholder.show_message(GAMMA_PLACEHOLDER)

    def show_result(self, result) -> None:
        selection = result.extras.get("gamma_selection")
        if not selection:
            message = (f"γ was set by hand ({table_number(result.gamma)}). Set Stiffness γ to 'Automatic' and run again to let "
                       "the app choose it." if result.gamma else "γ applies to the outlier methods only.")
            self.note.setText("")
            self.placeholder.show_message(message)
            self.details_button.setVisible(False)
            self.details_button.setChecked(False)
            self.plot.reset()
            self.separation_table.setRowCount(0)
            return
        self.placeholder.show_content()
        gammas = np.asarray(selection["gammas"], dtype=float)
        self.plot.reset("Outlier scores across bootstrap resamples (mean ± spread)", x_label="γ (log scale)",
                        y_label="score", log_x=True)
        self.plot.add_curve("mean score", gammas, selection["mean"], band=selection["spread"])
        self.plot.mark(selection["chosen"], f"chosen γ = {table_number(selection['chosen'])}")
        self.note.setText(
            f"Chosen γ = {table_number(selection['chosen'])}: the most local setting whose scores stay steady when the rows "
            f"are resampled (tried on {selection.get('rows_used', '')} rows).")
        self.details.setText(f"Rule: {selection['rule']}. The table tries each γ on the grid; its last two "
                             "columns split the 50 highest- and 50 lowest-scoring rows in two (k-means, "
                             "k = 2) and rate how far apart the two groups are.")
        self.details_button.setVisible(True)
        separation = selection.get("separation") or []
        self.separation_table.setRowCount(len(gammas))
        for i, g in enumerate(gammas):
            sep = separation[i] if i < len(separation) else {}
            cells = [table_number(g), table_number(selection["relative_spread"][i]), f"{selection['rank_stability'][i]:.3f}",
                     _rating(sep.get("calinski_harabasz")), _rating(sep.get("dunn"))]
            for j, text in enumerate(cells):
                item = table_item(text)
                if j >= 3 and sep.get("note"):
                    item.setToolTip(sep["note"])
                if np.isclose(g, selection["chosen"]):
                    item.setFont(bold_font())
                    item.setBackground(QBrush(QColor(200, 235, 200)))
                self.separation_table.setItem(i, j, item)
