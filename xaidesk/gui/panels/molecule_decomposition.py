"""The Molecules tab's decomposition view: one molecule's predicted energy as the ranked parts of its pairs (or atoms)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QSplitter
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ..molecule_jobs import decomposition_rows, sum_text
from ..views.molecule_views import MoleculeView
from ..views.view_common import Placeholder
from ..widgets import error_dialog


def _item(text: str, value: float | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if value is not None:
        item.setData(Qt.ItemDataRole.UserRole, float(value))
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class MoleculeDecompositionPage(QWidget):
    """Pick a test molecule (or one opened); see its parts in a table and drawn on the molecule.

    Signals
    -------
    shown()
        Another molecule's decomposition is shown (:attr:`decomposition`).
    """

    shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = None
        self.mols = None
        self.extra: list = []
        self.decomposition = None
        layout = QVBoxLayout(self)
        pick_row = QHBoxLayout()
        pick_row.addWidget(QLabel("Molecule"))
        self.molecule_combo = QComboBox()
        self.molecule_combo.setToolTip("Test molecules (not used in training) and molecules you opened.")
        self.molecule_combo.currentIndexChanged.connect(self._show_molecule)
        pick_row.addWidget(self.molecule_combo, 1)
        layout.addLayout(pick_row)
        self.sum_label = QLabel("")
        self.sum_label.setWordWrap(True)
        layout.addWidget(self.sum_label)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.parts_table = QTableWidget(0, 3)
        self.parts_table.setHorizontalHeaderLabels(["Pair", "Distance", "Contribution"])
        self.parts_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.parts_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.parts_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.parts_table.horizontalHeader().setStretchLastSection(True)
        self.parts_table.verticalHeader().setVisible(False)
        splitter.addWidget(self.parts_table)
        self.molecule_view = MoleculeView()
        splitter.addWidget(self.molecule_view)
        splitter.setSizes([360, 600])
        self.molecule_parts_view = Placeholder(splitter, "")
        layout.addWidget(self.molecule_parts_view, 1)

    def clear(self) -> None:
        self.decomposition = None
        self.molecule_combo.blockSignals(True)
        self.molecule_combo.clear()
        self.molecule_combo.blockSignals(False)
        self.parts_table.setRowCount(0)
        self.sum_label.setText("")
        self.molecule_view.reset()

    def fill(self, model, mols, extra, select_last: bool = False) -> None:
        """Offer the test molecules of ``mols`` and the molecules ``extra`` opened to predict; show one."""
        self.model, self.mols, self.extra = model, mols, extra
        self.molecule_combo.blockSignals(True)
        self.molecule_combo.clear()
        if model is not None and mols is not None:
            for index in model.split["test"]:
                self.molecule_combo.addItem(f"{mols.names[index]} (test)", (None, int(index)))
        for k, opened in enumerate(extra):
            self.molecule_combo.addItem(f"{opened.names[0]} (opened)", (k, 0))
        if select_last and self.molecule_combo.count():
            self.molecule_combo.setCurrentIndex(self.molecule_combo.count() - 1)
        self.molecule_combo.blockSignals(False)
        self._show_molecule()

    def select_molecule(self, position: int) -> None:
        self.molecule_combo.setCurrentIndex(position)

    def _show_molecule(self, *_args) -> None:
        data = self.molecule_combo.currentData()
        if self.model is None or data is None:
            return
        which, index = data
        mols = self.mols if which is None else self.extra[which]
        try:
            decomposition = self.model.decompose(mols, index)
        except Exception as error:  # noqa: BLE001
            error_dialog.show_error(self, "Could not explain the molecule", error)
            return
        self.decomposition = decomposition
        from xaidesk.data.molecules import symbol

        unit = self.model.energy_unit
        pairs = decomposition.kind == "pairs"
        rows = decomposition_rows(decomposition)
        self.parts_table.setHorizontalHeaderLabels(["Pair" if pairs else "Atom", "Distance (Å)",
                                                   f"Contribution ({unit})"])
        self.parts_table.setRowCount(len(rows))
        for row, part in enumerate(rows):
            self.parts_table.setItem(row, 0, _item(part.label))
            self.parts_table.setItem(row, 1, _item("–") if part.distance is None
                                     else _item(f"{part.distance:.3f}", part.distance))
            self.parts_table.setItem(row, 2, _item(f"{part.contribution:+.4g}", part.contribution))
        true_energy = mols.energies[index] if which is None and mols.energies is not None else None
        self.sum_label.setText(sum_text(decomposition, unit, true_energy))
        self.molecule_view.show_decomposition(decomposition, [symbol(int(z)) for z in decomposition.numbers])
        self.shown.emit()


__all__ = ["MoleculeDecompositionPage"]
