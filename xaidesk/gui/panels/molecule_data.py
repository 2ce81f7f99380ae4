"""The Molecules tab's Data box: the unit of the coordinates, Open folder… and Open molecule…, what is open."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QWidget

from ..molecule_jobs import UNITS


class MoleculeDataBox(QGroupBox):
    """Where the molecules come from: a folder with its energies to train on, single molecules to predict.

    Signals
    -------
    open_folder_requested()
        Open folder… was pressed.
    open_molecule_requested()
        Open molecule… was pressed.
    """

    open_folder_requested = Signal()
    open_molecule_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Data", parent)
        form = QFormLayout(self)
        self.unit_combo = QComboBox()
        for text, unit in UNITS:
            self.unit_combo.addItem(text, unit)
        self.unit_combo.setToolTip("The length unit of the coordinates in the .xyz files.")
        form.addRow("Coordinates in", self.unit_combo)
        self.open_folder_button = QPushButton("Open folder…")
        self.open_folder_button.setToolTip("A folder of .xyz files and a file of energies (lines of 'name value').")
        self.open_folder_button.clicked.connect(self.open_folder_requested)
        self.open_molecule_button = QPushButton("Open molecule…")
        self.open_molecule_button.setToolTip("One .xyz file whose energy the trained model predicts and explains.")
        self.open_molecule_button.clicked.connect(self.open_molecule_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_folder_button)
        buttons.addWidget(self.open_molecule_button)
        form.addRow(buttons)
        self.data_label = QLabel("No molecules open.")
        self.data_label.setWordWrap(True)
        form.addRow(self.data_label)

    def unit(self) -> str:
        """The length unit the coordinates are read in."""
        return self.unit_combo.currentData()

    def set_unit(self, unit: str) -> None:
        self.unit_combo.setCurrentIndex(self.unit_combo.findData(unit))


__all__ = ["MoleculeDataBox"]
