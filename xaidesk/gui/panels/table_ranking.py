"""The Tables tab's Ranking view: every row by its score, and one row's feature relevance beside its values."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QTableWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...core.registry import TAG_BASE_VALUE, TAG_INTERCEPT_APART, TAG_OUTLIER_SCORE
from ..table_jobs import method_has
from ..views.table_items import RankedModel, table_item, table_number
from ..views.table_views import FeatureBars, bold_font

ROW_PROMPT = "Select a row to see which features make its score."
RANKING_PROMPT = "Run an analysis to rank the rows."


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


class TableRankingView(QSplitter):
    """The rows ranked by score (sortable); the selected row's relevance bars, values and column averages.

    Signals
    -------
    row_shown(int)
        The position (into the result's rows) of the row now shown.
    """

    row_shown = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.result = None
        left = QWidget()
        left_layout = QVBoxLayout(left)
        title_row = QHBoxLayout()
        self.title = QLabel(RANKING_PROMPT)
        self.title.setWordWrap(True)
        title_row.addWidget(self.title, 1)
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("Show the settings behind the scores (γ, θ per column).")
        self.details_button.setVisible(False)
        title_row.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        left_layout.addLayout(title_row)
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setStyleSheet("color: #555;")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setVisible(False)
        self.details_button.toggled.connect(self.details.setVisible)
        left_layout.addWidget(self.details)
        self.notes = QLabel("")
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #8a5a00;")
        self.notes.setVisible(False)
        left_layout.addWidget(self.notes)
        self.ranked_model = RankedModel()
        self.ranked_view = QTableView()
        self.ranked_view.setModel(self.ranked_model)
        self.ranked_view.setSortingEnabled(True)
        self.ranked_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.ranked_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.ranked_view.verticalHeader().setVisible(False)
        self.ranked_view.selectionModel().currentRowChanged.connect(lambda current, _prev: self._on_ranked_row(current.row()))
        left_layout.addWidget(self.ranked_view, 1)
        self.addWidget(left)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        self.row_title = QLabel(ROW_PROMPT)
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
        self.addWidget(right)
        self.setSizes([420, 560])

    def plot_widget(self) -> QWidget:
        """The plot a 'Save plot' saves while this view is shown."""
        return self.row_bars

    def clear(self) -> None:
        self.result = None
        self.ranked_model.set_columns([], [], np.zeros(0, dtype=int))
        self.row_bars.reset()
        self.row_values.setRowCount(0)
        self.row_title.setText(ROW_PROMPT)
        self.row_note.setText("")
        self.title.setText(RANKING_PROMPT)
        self.title.setToolTip("")
        self.details.setText("")
        self.details_button.setChecked(False)
        self.details_button.setVisible(False)
        self.notes.setText("")
        self.notes.setVisible(False)

    def show_result(self, result) -> None:
        self.result = result
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
        self.title.setText(
            f"{len(result.row_ids)} rows, highest <b>{result.score_label.split(' (')[0]}</b> first. "
            "Click a row to see why; click a column header to sort.")
        self.details.setText(ranking_details(result))
        self.title.setToolTip(self.details.text())
        self.details_button.setVisible(True)
        self.notes.setText("\n".join(result.notices))
        self.notes.setVisible(bool(result.notices))

    def ranked_row_ids(self) -> list[int]:
        """File row ids in the order the ranking table shows them."""
        return [int(v) for v in self.ranked_model.column_values(1)]

    def select_row(self, view_row: int) -> None:
        """Select the ``view_row``-th line of the ranking as shown (0 = top)."""
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
        explained = bool(np.all(np.isfinite(relevance)))
        if not np.isfinite(score):
            self.row_title.setText(f"Row {row_id} was not explained: this method explains a chosen set of rows "
                                   "(see its settings).")
        elif not explained:
            self.row_title.setText(f"Row {row_id} · {result.score_label} = {table_number(score)} · not among the "
                                   "rows explained in this run")
        else:
            self.row_title.setText(f"Row {row_id} · {result.score_label} = {table_number(score)}")
        notes = []
        if method_has(result.method, TAG_INTERCEPT_APART):
            notes.append(f"Prediction {table_number(score)} = sum of the bars {table_number(np.nansum(relevance))} "
                         f"+ intercept {table_number(float(result.extras.get('intercept', absorbed)))} (shown apart).")
        elif method_has(result.method, TAG_BASE_VALUE) and not explained and np.isfinite(score):
            notes.append("Its Shapley values were not computed in this run, which explains a sample of the rows "
                         "(see 'rows explained'); the Shapley values page computes them for any row you choose.")
        elif method_has(result.method, TAG_BASE_VALUE) and np.isfinite(score):
            notes.append(f"Prediction {table_number(score)} = base value {table_number(absorbed)} (the average "
                         f"prediction over the background rows) + the sum of the bars {table_number(np.nansum(relevance))}.")
        elif np.isfinite(absorbed) and abs(absorbed) > 1e-9 * max(1.0, abs(score)):
            notes.append(f"The bars sum to {table_number(np.nansum(relevance))}; {table_number(absorbed)} is not "
                         "assigned to any feature (stabiliser, bias or intercept).")
        elif np.isfinite(score):
            notes.append(f"The bars sum to the score ({table_number(np.nansum(relevance))}).")
        if "labels" in result.extras:
            notes.append(f"Cluster {int(result.extras['labels'][position])}.")
        if method_has(result.method, TAG_OUTLIER_SCORE) and np.isfinite(score):
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
            self.row_values.setItem(i, 0, table_item(name))
            self.row_values.setItem(i, 1, table_item(table_number(float(raw[i]))))
            self.row_values.setItem(i, 2, table_item(table_number(float(means[i]))))
            rel = table_item(table_number(float(relevance[i])))
            if np.isfinite(relevance[i]) and relevance[i] != 0:
                rel.setForeground(QBrush(QColor(180, 40, 30) if relevance[i] > 0 else QColor(40, 80, 180)))
            self.row_values.setItem(i, 3, rel)
        self.row_shown.emit(position)
