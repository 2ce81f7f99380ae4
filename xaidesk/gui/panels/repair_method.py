"""The Model workflow's "Method" section: the repairs of the registry, the chosen one's help and settings."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QLabel, QVBoxLayout, QWidget

from ..widgets.param_form import ParamForm

#: The layer choice that lets the repair choose.
AUTOMATIC = ("", "Automatic")


class RepairMethodPanel(QGroupBox):
    """A combo of every registered repair (titles from the registry), its help text and its settings form.

    Signals
    -------
    method_changed(str)
        The name of the chosen repair.
    """

    method_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("1. Method", parent)
        from ...repair.methods import list_repairs

        self.methods = {method.name: method for method in list_repairs()}
        self.combo = QComboBox()
        for method in self.methods.values():
            self.combo.addItem(method.title, method.name)
            self.combo.setItemData(self.combo.count() - 1, method.help, Qt.ItemDataRole.ToolTipRole)
        self.combo.currentIndexChanged.connect(self._on_changed)
        self.help_label = QLabel("")
        self.help_label.setWordWrap(True)
        self.help_label.setObjectName("methodHelp")
        self.form = ParamForm()
        layout = QVBoxLayout(self)
        layout.addWidget(self.combo)
        layout.addWidget(self.help_label)
        layout.addWidget(self.form)
        self._on_changed()

    def name(self) -> str | None:
        return self.combo.currentData()

    def method(self):
        name = self.name()
        return None if name is None else self.methods[name]

    def select(self, name: str) -> bool:
        index = self.combo.findData(name)
        if index >= 0:
            self.combo.setCurrentIndex(index)
        return index >= 0

    def params(self) -> dict:
        return self.form.values()

    def set_layers(self, layers) -> None:
        """Offer the model's layers (``(name, description)`` pairs) to settings that choose a layer."""
        self.form.set_dynamic_choices("model_layers", [AUTOMATIC, *layers])

    def _on_changed(self, *_args) -> None:
        method = self.method()
        if method is None:
            return
        self.help_label.setText(method.help)
        self.form.blockSignals(True)  # no "changed" while the form is half built
        self.form.set_params(method.params)
        self.form.blockSignals(False)
        self.method_changed.emit(method.name)
