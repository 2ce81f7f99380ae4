"""A form generated from a method's parameter schema (``MethodInfo.params``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
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
#: The first entry of a layer list: the empty value, which lets the method choose.
AUTOMATIC_LAYER = ("", "Automatic (before the classifier)")
#: A combo box whose longest entry is longer than this many characters gets a row of its own, below its label.
LONG_CHOICE = 20


class WheelOnlyWhenFocused:
    """Mixin: the mouse wheel changes the value only after a click; otherwise it scrolls the panel."""

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # passed on to the scroll area around the form


class SpinBox(WheelOnlyWhenFocused, QSpinBox):
    """An integer spin box that ignores the wheel until clicked."""


class ComboBox(WheelOnlyWhenFocused, QComboBox):
    """A combo box that ignores the wheel until clicked."""


class CompactDoubleSpinBox(WheelOnlyWhenFocused, QDoubleSpinBox):
    """A double spin box that writes numbers compactly (``1e-06``, ``0.25``) and accepts that form."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt override
        if self.specialValueText() and text.strip() == self.specialValueText():
            return self.minimum()
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, position: int):
        stripped = text.strip()
        if self.specialValueText() and stripped == self.specialValueText():
            return QValidator.State.Acceptable, text, position
        try:
            value = float(stripped)
        except ValueError:
            state = QValidator.State.Intermediate if stripped in ("", "-", "+", ".", "e", "-.") or stripped[-1:] in "eE+-." else QValidator.State.Invalid
            return state, text, position
        inside = self.minimum() <= value <= self.maximum()
        return (QValidator.State.Acceptable if inside else QValidator.State.Intermediate), text, position


class PercentSpinBox(WheelOnlyWhenFocused, QDoubleSpinBox):
    """A spin box that shows a share of a whole as a percentage ("30 %"); :meth:`fraction` gives 0.3.

    Percentages have up to two decimals, so a fraction keeps four.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(2)
        self.setSuffix(" %")
        self.setSingleStep(1.0)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return f"{value:.6g}"  # "30", "12.5": no trailing zeros

    def set_fraction(self, fraction: float) -> None:
        self.setValue(float(fraction) * 100.0)

    def fraction(self) -> float:
        return round(self.value() / 100.0, self.decimals() + 2)


def sentence_case(text: str) -> str:
    """``"random seed"`` -> ``"Random seed"``; unlike ``str.capitalize`` it keeps ``"SLIC"`` as it is,
    and a leading symbol such as ``"γ of convolutions"`` stays lower case (Γ is another symbol)."""
    if not text[:1].isascii():
        return text
    return text[:1].upper() + text[1:]


class ParamForm(QWidget):
    """Editors for the parameters of one method.

    Integers get spin boxes with the schema's range, floats double spin boxes,
    booleans check boxes, choices combo boxes, strings line edits. Strings
    whose values come from the model (``choices_from``, e.g. ``"model_layers"``)
    get an editable combo box filled with :meth:`set_dynamic_choices`. Each
    row is labelled with the parameter's plain label and its tooltip is the
    parameter's help text; a number whose minimum has a meaning
    (``Param.minimum_text``, e.g. "Automatic") shows that word instead.
    A share of a whole (``Param.percent``) shows as a percentage and
    still returns the fraction. Choices show their plain titles (``Param.choice_titles``) and return their
    values; a text parameter with titled words (``{"auto": "Automatic"}``) gets
    an editable combo box offering them. Rows whose ``Param.shown_when``
    condition is false are hidden, and shown again when it comes true.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._params: tuple = ()
        self._editors: dict[str, QWidget] = {}
        self._rows: dict[str, tuple[QWidget, ...]] = {}
        self._controlling: set[str] = set()
        # choices_from -> [(value, text)], kept across rebuilds of the form
        self._dynamic_choices: dict[str, list[tuple[str, str]]] = {}

    def set_params(self, params, values: dict | None = None) -> None:
        """Rebuild the form for ``params``; ``values`` override the defaults."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self._editors.clear()
        self._rows = {}
        self._controlling = set()
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
            label = QLabel(sentence_case(param.display_label))
            label.setWordWrap(True)  # a long label wraps; it never widens the settings panel
            label.setToolTip(param.help)
            editor.setToolTip(param.help)
            if isinstance(editor, QComboBox):
                self._follow_current_text(editor, param.help)
            if isinstance(editor, QComboBox) and self._longest_text(editor) > LONG_CHOICE:
                self._layout.addRow(label)
                self._layout.addRow(editor)  # the whole width of the form, so long titles stay readable
                self._rows[param.name] = (label, editor)
            else:
                self._layout.addRow(label, editor)
                self._rows[param.name] = (editor,)
        self._controlling = {name for param in self._params for name in param.shown_when}
        self._update_visibility()

    @staticmethod
    def _longest_text(editor: QComboBox) -> int:
        return max((len(editor.itemText(row)) for row in range(editor.count())), default=0)

    @staticmethod
    def _follow_current_text(editor: QComboBox, help_text: str) -> None:
        """Let the tooltip name the whole current entry (which may be cut short) before the help text."""

        def update(*_args) -> None:
            text = editor.currentText()
            editor.setToolTip(f"{text}\n\n{help_text}" if text else help_text)

        editor.currentTextChanged.connect(update)
        update()

    def _update_visibility(self) -> None:
        current = self.values()
        for param in self._params:
            shown = param.applies(current)
            for widget in self._rows[param.name]:
                self._layout.setRowVisible(widget, shown)

    def is_shown(self, name: str) -> bool:
        """Whether the row of parameter ``name`` is shown (its ``shown_when`` condition holds)."""
        return self._layout.isRowVisible(self._rows[name][-1])

    def _on_changed(self, name: str) -> None:
        if name in self._controlling:
            self._update_visibility()
        self.changed.emit()

    def _make_editor(self, param) -> QWidget:
        editor = self._new_editor(param)
        if param.kind in ("int", "float") and param.minimum_text and param.minimum is not None:
            editor.setSpecialValueText(param.minimum_text)
        if isinstance(editor, QComboBox):
            # never as wide as the longest entry: the side panel keeps its width, long entries are cut
            # short with "…" and named in full by the tooltip and the open list
            editor.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            editor.setMinimumContentsLength(8)
            for row in range(editor.count()):
                editor.setItemData(row, editor.itemText(row), Qt.ItemDataRole.ToolTipRole)
        if isinstance(editor, WheelOnlyWhenFocused):
            editor.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel alone never focuses it
        editor.setObjectName(f"param_{param.name}")
        return editor

    def _new_editor(self, param) -> QWidget:
        changed = lambda *_args, name=param.name: self._on_changed(name)  # noqa: E731
        if param.kind == "int":
            editor = SpinBox()
            editor.setRange(
                int(param.minimum) if param.minimum is not None else -_INT_LIMIT,
                int(param.maximum) if param.maximum is not None else _INT_LIMIT,
            )
            editor.valueChanged.connect(changed)
        elif param.kind == "float" and param.percent:
            editor = PercentSpinBox()
            editor.setRange(float(param.minimum) * 100.0, float(param.maximum) * 100.0)
            editor.valueChanged.connect(changed)
        elif param.kind == "float":
            editor = CompactDoubleSpinBox()
            editor.setRange(
                float(param.minimum) if param.minimum is not None else -1e12,
                float(param.maximum) if param.maximum is not None else 1e12,
            )
            step = abs(float(param.default)) / 10 if param.default else 0.1
            editor.setSingleStep(step or 0.1)
            editor.valueChanged.connect(changed)
        elif param.kind == "bool":
            editor = QCheckBox()
            editor.toggled.connect(changed)
        elif param.kind == "choice":
            editor = ComboBox()
            for choice in param.choices:
                editor.addItem(param.choice_title(choice), choice)
            editor.currentIndexChanged.connect(changed)
        elif param.kind == "str" and (param.choices_from or param.choice_titles):
            editor = ComboBox()
            editor.setEditable(True)  # offers the known values; any other text may be typed
            editor.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            if param.choices_from:
                self._fill_dynamic(editor, self._dynamic_choices.get(param.choices_from, [AUTOMATIC_LAYER]))
            else:
                self._fill_dynamic(editor, param.choice_titles.items())
            editor.currentTextChanged.connect(changed)
            line = editor.lineEdit()
            editor.currentIndexChanged.connect(lambda _index, line=line: line.setCursorPosition(0))
        else:
            editor = QLineEdit()
            editor.textChanged.connect(changed)
        return editor

    @staticmethod
    def _fill_dynamic(editor: QComboBox, choices) -> None:
        editor.clear()
        for value, text in choices:
            editor.addItem(text, value)
            editor.setItemData(editor.count() - 1, text, Qt.ItemDataRole.ToolTipRole)

    def set_dynamic_choices(self, source: str, choices) -> None:
        """Offer ``choices`` ([(value, text)]) in the editors of parameters with ``choices_from == source``.

        The current value is kept when it is still offered (or was typed in).
        """
        self._dynamic_choices[source] = list(choices)
        for param in self._params:
            if param.choices_from == source:
                editor = self._editors[param.name]
                value = self._combo_value(editor)
                editor.blockSignals(True)
                self._fill_dynamic(editor, choices)
                editor.blockSignals(False)
                self.set_value(param.name, value)

    def dynamic_choices(self, source: str) -> list[tuple[str, str]]:
        return list(self._dynamic_choices.get(source, []))

    @staticmethod
    def _combo_value(editor: QComboBox):
        if not editor.isEditable():
            return editor.currentData()
        text = editor.currentText()
        for row in range(editor.count()):
            if editor.itemText(row) == text:
                return editor.itemData(row)
        return text.strip()

    def editor(self, name: str) -> QWidget:
        """The editor widget of one parameter."""
        return self._editors[name]

    def set_value(self, name: str, value: Any) -> None:
        editor = self._editors[name]
        if isinstance(editor, PercentSpinBox):
            editor.set_fraction(value)
        elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.setValue(value)
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            index = editor.findData(value)
            if index < 0 and editor.isEditable() and value:
                editor.setEditText(str(value))
            else:
                editor.setCurrentIndex(max(index, 0))
            if editor.isEditable():  # show the start of long entries, not their end
                editor.lineEdit().setCursorPosition(0)
        else:
            editor.setText("" if value is None else str(value))

    def values(self) -> dict:
        """The current values, keyed by parameter name."""
        result = {}
        for param in self._params:
            editor = self._editors[param.name]
            if isinstance(editor, PercentSpinBox):
                result[param.name] = editor.fraction()
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                result[param.name] = editor.value()
            elif isinstance(editor, QCheckBox):
                result[param.name] = editor.isChecked()
            elif isinstance(editor, QComboBox):
                result[param.name] = self._combo_value(editor)
            else:
                result[param.name] = editor.text()
        return result

    def reset(self) -> None:
        """Put every parameter back to its default."""
        for param in self._params:
            self.set_value(param.name, param.default)
