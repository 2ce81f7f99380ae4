"""The Molecules tab's global views: the energy of each element (atom-count model), the pair potentials (pair model)."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..molecule_jobs import DISPLAY_UNIT
from ..views.molecule_views import PotentialPlot
from ..widgets import error_dialog

ALL_PAIRS = "All pair types"


class PairPotentialsPage(QWidget):
    """The energy curve of one pair type (or of every one) against distance, with reference bond lengths."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = None
        self._bond_table = None
        layout = QVBoxLayout(self)
        pair_row = QHBoxLayout()
        pair_row.addWidget(QLabel("Pair type"))
        self.pair_combo = QComboBox()
        self.pair_combo.currentIndexChanged.connect(self._show_potentials)
        pair_row.addWidget(self.pair_combo, 1)
        layout.addLayout(pair_row)
        self.potential_plot = PotentialPlot()
        layout.addWidget(self.potential_plot, 1)

    def clear(self) -> None:
        self.potential_plot.reset()
        self.pair_combo.blockSignals(True)
        self.pair_combo.clear()
        self.pair_combo.blockSignals(False)

    def show_model(self, model) -> None:
        """Offer the pair types of a pair model, starting on one with reference bond lengths."""
        self.model = model
        labels = model.basis.pair_labels
        self.pair_combo.blockSignals(True)
        self.pair_combo.addItems([ALL_PAIRS] + labels)
        refs = [lab for lab in labels if self._references(lab)]
        self.pair_combo.setCurrentText(refs[0] if refs else ALL_PAIRS)
        self.pair_combo.blockSignals(False)
        self._show_potentials()

    def select_pair(self, pair: str) -> None:
        """Show one pair type (``"C-H"`` or ``"H-C"``), or every one with ``ALL_PAIRS``."""
        if pair != ALL_PAIRS and self.model is not None and self.model.basis is not None:
            pair = self.model.basis.pair_labels[self.model.basis.pair_index(pair)]
        self.pair_combo.setCurrentText(pair)

    def _references(self, pair: str) -> list:
        from xaidesk.explain.molecule import bond_lengths_for, load_bond_lengths

        if self._bond_table is None:
            try:
                self._bond_table = load_bond_lengths()
            except Exception as error:  # noqa: BLE001 - the table is a file the person can edit
                self._bond_table = []
                error_dialog.show_error(self, "Could not read the reference bond lengths", error)
        return bond_lengths_for(pair, self._bond_table)

    def _show_potentials(self, *_args) -> None:
        if self.model is None or self.model.kind != "pairs":
            return
        from xaidesk.data.molecules import convert_length

        distances, curves = self.model.potentials()
        _, support = self.model.pair_support(distances)
        choice = self.pair_combo.currentText()
        if choice and choice != ALL_PAIRS:
            curves = {choice: curves[choice]}
            support = {choice: support[choice]}
            references = {choice: [(b.bond, convert_length(b.length_bohr, "bohr", DISPLAY_UNIT))
                                   for b in self._references(choice)]}
        else:
            references = None
        x = convert_length(distances, "bohr", DISPLAY_UNIT)
        self.potential_plot.show_curves(x, curves, references, "Å", self.model.energy_unit, support)


__all__ = ["ALL_PAIRS", "PairPotentialsPage"]
