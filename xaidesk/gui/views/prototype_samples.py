"""The samples of a class's prototypes as a table: file, nearest prototype, typicality, where it differs most.

:class:`PrototypeSampleTable` shows the :class:`~xaidesk.gui.prototype_jobs.SampleTypicality` rows of a fit in
the order given (the Prototypes window gives them least typical first).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from .reference_grid import percent_text


def _cell(text: str, tip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    if tip:
        item.setToolTip(tip)
    return item


class PrototypeSampleTable(QTableWidget):
    """One row per sample: its file, its nearest prototype, its typicality and the concepts where it differs most
    from that prototype."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 4, parent)
        self.setHorizontalHeaderLabels(["File", "Prototype", "Typicality", "Differs most in"])
        self.horizontalHeaderItem(1).setToolTip("The nearest prototype.")
        self.horizontalHeaderItem(3).setToolTip(
            "The concepts whose share of the relevance differs most from the nearest prototype's, as "
            "concept: change in percentage points.")
        self.horizontalHeaderItem(2).setToolTip(
            "How likely the image's concept relevances are under the mixture, as a percentile of the class's images "
            "(low: its reasoning is unusual).")
        self.verticalHeader().hide()
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # file names differ at their ends
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def show_samples(self, samples) -> None:
        """Show ``samples`` (:class:`~xaidesk.gui.prototype_jobs.SampleTypicality`), top to bottom."""
        self.setRowCount(len(samples))
        for row, sample in enumerate(samples):
            self.setItem(row, 0, _cell(Path(sample.file).name, sample.file))
            self.setItem(row, 1, _cell(f"{sample.prototype + 1}"))
            self.setItem(row, 2, _cell(percent_text(sample.percentile),
                                       "The share of the class's images whose reasoning is less typical."))
            differences = ", ".join(f"{channel}: {100 * change:+.0f}" for channel, change in sample.differences)
            self.setItem(row, 3, _cell(differences, "concept (change of its share, in points)"))

    def rows_shown(self) -> list[tuple[str, int, str]]:
        """(file, nearest prototype as shown, typicality as shown), top to bottom."""
        return [(self.item(r, 0).toolTip(), int(self.item(r, 1).text()), self.item(r, 2).text())
                for r in range(self.rowCount())]


__all__ = ["PrototypeSampleTable"]
