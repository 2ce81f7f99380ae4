"""The Molecules tab's Model box (atom counts or pair potentials, the distance bins) and the report of a fit."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSpinBox
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ..molecule_jobs import BOHR_PER_ANGSTROM, DEFAULT_RANGE, DEFAULT_SIGMA, MODEL_KINDS, basis_bohr, metrics_html


class MoleculeModelBox(QGroupBox):
    """The kind of ridge model to train and, for pair potentials, its Gaussian distance bins (in Å).

    Signals
    -------
    kind_changed()
        Another kind of model was chosen.
    """

    kind_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        form = QFormLayout(self)
        self.kind_combo = QComboBox()
        for text, kind in MODEL_KINDS:
            self.kind_combo.addItem(text, kind)
        self.kind_combo.setCurrentIndex(1)
        self.kind_combo.setToolTip("Atom counts: one energy per element. Pair potentials: an energy curve "
                                   "against distance for each pair of elements.")
        self.kind_combo.currentIndexChanged.connect(self._on_kind_changed)
        form.addRow("Model", self.kind_combo)
        self.bins_spin = QSpinBox()
        self.bins_spin.setRange(1, 200)
        self.bins_spin.setValue(20)
        self.bins_spin.setToolTip("Number of Gaussian distance bins per pair type.")
        form.addRow("Distance bins", self.bins_spin)
        self.sigma_spin = QDoubleSpinBox()
        self.sigma_spin.setRange(0.005, 5.0)
        self.sigma_spin.setDecimals(3)
        self.sigma_spin.setSingleStep(0.025)
        self.sigma_spin.setValue(round(DEFAULT_SIGMA / BOHR_PER_ANGSTROM, 3))
        self.sigma_spin.setSuffix(" Å")
        self.sigma_spin.setToolTip("Width σ of each Gaussian distance bin, in Å like the plots.")
        form.addRow("Bin width σ", self.sigma_spin)
        range_row = QHBoxLayout()
        self.rmin_spin = QDoubleSpinBox()
        self.rmax_spin = QDoubleSpinBox()
        for spin, value, prefix in ((self.rmin_spin, DEFAULT_RANGE[0], "from "),
                                    (self.rmax_spin, DEFAULT_RANGE[1], "to ")):
            spin.setPrefix(prefix)
            spin.setRange(0.0, 26.0)
            spin.setDecimals(3)
            spin.setSingleStep(0.1)
            spin.setValue(round(value / BOHR_PER_ANGSTROM, 3))
            spin.setSuffix(" Å")
            range_row.addWidget(spin)
        range_help = ("The distances (Å) at which the first and the last distance bins are centred; the bins "
                      "between are evenly spaced. Atoms are never that close, so the first bins (near 0 Å) "
                      "see no pairs and the curve there is an extrapolation, drawn dotted.")
        self.rmin_spin.setToolTip("Centre of the first distance bin. " + range_help)
        self.rmax_spin.setToolTip("Centre of the last distance bin. " + range_help)
        form.addRow("Bin centres", range_row)
        form.labelForField(range_row).setToolTip(range_help)
        self._on_kind_changed()

    @property
    def kind(self) -> str:
        return self.kind_combo.currentData()

    def set_kind(self, kind: str) -> None:
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))

    def basis_bohr(self) -> dict:
        """σ and the range as the model takes them (Bohr), from the spin boxes (Å)."""
        return basis_bohr(self.sigma_spin.value(), self.rmin_spin.value(), self.rmax_spin.value())

    def training_params(self) -> dict:
        """What :func:`~xaidesk.gui.molecule_jobs.train` fits the model with: the bins and the basis in Bohr."""
        return dict(n_bins=self.bins_spin.value(), **self.basis_bohr())

    def _on_kind_changed(self, *_args) -> None:
        pairs = self.kind == "pairs"
        for spin in (self.bins_spin, self.sigma_spin, self.rmin_spin, self.rmax_spin):
            spin.setEnabled(pairs)
        self.kind_changed.emit()


class MoleculeFitReport(QWidget):
    """The trained model's test error, λ and split, and its warnings (a training set too small, overfitting)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.metrics_label = QLabel("")
        self.metrics_label.setWordWrap(True)
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.metrics_label)
        self.fit_notes = QLabel("")
        self.fit_notes.setWordWrap(True)
        self.fit_notes.setStyleSheet("color: #9a4b00;")
        self.fit_notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fit_notes.setVisible(False)
        layout.addWidget(self.fit_notes)

    def clear(self) -> None:
        self.metrics_label.setText("")
        self.fit_notes.setText("")
        self.fit_notes.setVisible(False)

    def show_model(self, model) -> None:
        self.metrics_label.setText(metrics_html(model))
        self.metrics_label.setToolTip("MAE: mean absolute error between the predicted and the true energies. "
                                      "Test molecules were not used in training.")
        self.fit_notes.setText("<br>".join(f"⚠ {note}" for note in model.notes))
        self.fit_notes.setVisible(bool(model.notes))


__all__ = ["MoleculeFitReport", "MoleculeModelBox"]
