"""A form generated from a method's parameter schema (``MethodInfo.params``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

_INT_LIMIT = 2_147_483_647


class CompactDoubleSpinBox(QDoubleSpinBox):
    """A double spin box that writes numbers compactly (``1e-06``, ``0.25``) and accepts that form."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt override
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, position: int):
        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:
            state = QValidator.State.Intermediate if stripped in ("", "-", "+", ".", "e", "-.") or stripped[-1:] in "eE+-." else QValidator.State.Invalid
            return state, text, position
        inside = self.minimum() <= value <= self.maximum()
        return (QValidator.State.Acceptable if inside else QValidator.State.Intermediate), text, position


class ParamForm(QWidget):
    """Editors for the parameters of one method.

    Integers get spin boxes with the schema's range, floats double spin boxes,
    booleans check boxes, choices combo boxes, strings line edits. Each
    editor's tooltip is the parameter's help text.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._params: tuple = ()
        self._editors: dict[str, QWidget] = {}

    def set_params(self, params, values: dict | None = None) -> None:
        """Rebuild the form for ``params``; ``values`` override the defaults."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self._editors.clear()
        self._params = tuple(params)
        values = values or {}
        if not self._params:
            note = QLabel("This method has no settings.")
            note.setEnabled(False)
            self._layout.addRow(note)
            return
        for param in self._params:
            editor = self._make_editor(param)
            self._editors[param.name] = editor
            self.set_value(param.name, values.get(param.name, param.default))
            label = QLabel(param.display_label.capitalize())
            label.setToolTip(param.help)
            editor.setToolTip(param.help)
            self._layout.addRow(label, editor)

    def _make_editor(self, param) -> QWidget:
        if param.kind == "int":
            editor = QSpinBox()
            editor.setRange(
                int(param.minimum) if param.minimum is not None else -_INT_LIMIT,
                int(param.maximum) if param.maximum is not None else _INT_LIMIT,
            )
            editor.valueChanged.connect(self.changed)
        elif param.kind == "float":
            editor = CompactDoubleSpinBox()
            editor.setRange(
                float(param.minimum) if param.minimum is not None else -1e12,
                float(param.maximum) if param.maximum is not None else 1e12,
            )
            step = abs(float(param.default)) / 10 if param.default else 0.1
            editor.setSingleStep(step or 0.1)
            editor.valueChanged.connect(self.changed)
        elif param.kind == "bool":
            editor = QCheckBox()
            editor.toggled.connect(self.changed)
        elif param.kind == "choice":
            editor = QComboBox()
            for choice in param.choices:
                editor.addItem(str(choice), choice)
            editor.currentIndexChanged.connect(self.changed)
        else:
            editor = QLineEdit()
            editor.textChanged.connect(self.changed)
        editor.setObjectName(f"param_{param.name}")
        return editor

    def editor(self, name: str) -> QWidget:
        """The editor widget of one parameter."""
        return self._editors[name]

    def set_value(self, name: str, value: Any) -> None:
        editor = self._editors[name]
        if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.setValue(value)
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            index = editor.findData(value)
            editor.setCurrentIndex(max(index, 0))
        else:
            editor.setText("" if value is None else str(value))

    def values(self) -> dict:
        """The current values, keyed by parameter name."""
        result = {}
        for param in self._params:
            editor = self._editors[param.name]
            if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                result[param.name] = editor.value()
            elif isinstance(editor, QCheckBox):
                result[param.name] = editor.isChecked()
            elif isinstance(editor, QComboBox):
                result[param.name] = editor.currentData()
            else:
                result[param.name] = editor.text()
        return result

    def reset(self) -> None:
        """Put every parameter back to its default."""
        for param in self._params:
            self.set_value(param.name, param.default)
