"""The Concepts panel's controls: the layer whose channels are read as concepts, and how many are listed."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from ..concept_jobs import DEFAULT_TOP


class ConceptControls(QWidget):
    """The layer picker (``layer_combo``, each item's data the layer's name) and the number of concepts
    (``top_spin``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        controls = QHBoxLayout(self)
        controls.setContentsMargins(0, 0, 0, 0)
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The layer whose channels are read as concepts; later layers hold more "
                                    "composite concepts.")
        self.layer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(12)
        self.top_spin = QSpinBox()
        self.top_spin.setRange(1, 64)
        self.top_spin.setValue(DEFAULT_TOP)
        self.top_spin.setToolTip("How many concepts to list (their heatmaps are computed together).")
        controls.addWidget(QLabel("Layer"))
        controls.addWidget(self.layer_combo, 1)
        controls.addWidget(QLabel("Top"))
        controls.addWidget(self.top_spin)

    def fill(self, setup) -> None:
        """List the layers of a :class:`~xaidesk.gui.concept_jobs.ConceptSetup` and choose its default, quietly."""
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for layer in setup.layers:
            self.layer_combo.addItem(layer.title, layer.name)
        self.layer_combo.setCurrentIndex(max(0, self.layer_combo.findData(setup.default)))
        self.layer_combo.blockSignals(False)

    def select_layer(self, name: str) -> bool:
        """Choose the layer ``name`` quietly (no change signal); False when it is not listed."""
        index = self.layer_combo.findData(name)
        if index < 0:
            return False
        self.layer_combo.blockSignals(True)
        self.layer_combo.setCurrentIndex(index)
        self.layer_combo.blockSignals(False)
        return True


__all__ = ["ConceptControls"]
