"""The Tables tab's views over all rows at once: the heat map of the top rows, scores by group, global importance."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from .. import table_jobs
from ..views.table_views import BoxPlot, FeatureBars, RelevanceHeatmap

DEFAULT_TOP_N = 20


class TableHeatmapView(QWidget):
    """Normalised relevance of the N highest-scoring rows, and which feature leads most often."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = None
        layout = QVBoxLayout(self)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Rows with the highest score:"))
        self.top_n_spin = QSpinBox()
        self.top_n_spin.setRange(1, 500)
        self.top_n_spin.setValue(DEFAULT_TOP_N)
        self.top_n_spin.valueChanged.connect(self._show)
        controls.addWidget(self.top_n_spin)
        self.note = QLabel("Each row's relevance divided by the sum of its |relevance|: rows are comparable.")
        self.note.setWordWrap(True)
        controls.addWidget(self.note, 1)
        layout.addLayout(controls)
        self.heatmap = RelevanceHeatmap()
        layout.addWidget(self.heatmap, 1)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)

    def plot_widget(self) -> QWidget:
        """The plot a 'Save plot' saves while this view is shown."""
        return self.heatmap

    def clear(self) -> None:
        self.result = None
        self.heatmap.set_matrix(np.zeros((0, 0)), [], [])

    def show_result(self, result) -> None:
        self.result = result
        self._show()

    def _show(self, *_args) -> None:
        result = self.result
        if result is None:
            return
        n = self.top_n_spin.value()
        finite = np.isfinite(result.scores) & np.all(np.isfinite(result.relevance), axis=1)
        order = [p for p in result.ranking() if finite[p]][:n]
        normalised = result.normalised_relevance()[order]
        rows = [int(result.row_ids[p]) for p in order]
        self.heatmap.set_matrix(normalised, result.feature_names, rows,
                                title=f"Normalised relevance of the {len(rows)} highest-scoring explained rows",
                                score=result.score_label.split(" (")[0])
        if len(rows):
            top = np.nanargmax(normalised, axis=1)
            counts = np.bincount(top, minlength=len(result.feature_names))
            ranked = np.argsort(-counts)
            parts = [f"{result.feature_names[j]} ({counts[j]})" for j in ranked if counts[j]]
            self.summary.setText(f"Most relevant feature per row, across these {len(rows)} rows: "
                                 + ", ".join(parts) + ".")


class TableGroupsView(QWidget):
    """Box plots of the scores grouped by a metadata column (or by cluster)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = None
        layout = QVBoxLayout(self)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Scores grouped by:"))
        self.group_combo = QComboBox()
        self.group_combo.setToolTip("A metadata column (set roles in the Data view).")
        self.group_combo.currentIndexChanged.connect(self._show_boxes)
        controls.addWidget(self.group_combo, 1)
        layout.addLayout(controls)
        self.box_plot = BoxPlot()
        layout.addWidget(self.box_plot, 1)
        self.note = QLabel("Box: middle half of the rows; red line: median; whiskers: up to 1.5 box lengths; "
                           "circles: rows beyond the whiskers.")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)

    def plot_widget(self) -> QWidget:
        """The plot a 'Save plot' saves while this view is shown."""
        return self.box_plot

    def clear(self) -> None:
        self.result = None
        self.box_plot.set_boxes([])

    def show_result(self, result) -> None:
        self.result = result
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
        boxes = table_jobs.box_stats(table_jobs.score_groups(result, name))
        self.box_plot.set_boxes(boxes, title=f"{result.score_label} by {name}", y_label=result.score_label,
                                x_label=name)


class TableGlobalView(QWidget):
    """Mean |relevance| per feature over the explained rows."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.bars = FeatureBars("Mean |relevance| per feature")
        layout.addWidget(self.bars, 1)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)

    def plot_widget(self) -> QWidget:
        """The plot a 'Save plot' saves while this view is shown."""
        return self.bars

    def clear(self) -> None:
        self.bars.clear_bars()

    def show_result(self, result) -> None:
        importance = result.global_importance()
        self.bars.set_values(result.feature_names, importance, title="Mean |relevance| per feature",
                             x_label="mean |relevance| over the explained rows")
        explained = int(np.all(np.isfinite(result.relevance), axis=1).sum())
        self.note.setText(f"Averaged over {explained} explained rows. A long bar: the feature matters "
                          "often or strongly for the score.")
