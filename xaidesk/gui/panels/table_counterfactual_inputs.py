"""The inputs of the Counterfactuals page: what may change and how far, the wanted outcome, and how clearly.

Qt widgets only; the page (:mod:`.table_counterfactual`) composes them and runs the search.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QHeaderView, QLabel, QTableWidget,
    QTableWidgetItem, QWidget,
)

from ...data.tables.columns import looks_like_code

LIMIT = 1e12
#: Most significant digits a value is written with when its column's decimals do not fit.
DIGITS = 6
CODE_TIP = ("Left unticked because its name says it is a code (a postcode, a branch code), not an amount: the model "
            "reads it as a number, so an answer such as \u201cpostcode: 5230 \u2192 9510\u201d means moving house. "
            "Tick it if changing it makes sense.")
FREE_TIP = "Untick to keep this feature as it is (age, for example)."


def column_decimals(values: np.ndarray, most: int = 4) -> int:
    """The fewest decimals (up to ``most``) that write every value of a column exactly."""
    for d in range(most + 1):
        scaled = np.asarray(values, dtype=float) * 10.0 ** d
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return d
    return most


def value_text(value: float, decimals: int = 4) -> str:
    """A value as exactly as the table holds it: whole numbers in full, others to the column's ``decimals``.

    A value that those decimals do not write exactly (a computed one) gets :data:`DIGITS`
    significant digits. Trailing zeros are dropped.
    """
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    if value == round(value) and abs(value) < 1e15:
        return str(int(round(value)))
    fixed = f"{value:.{decimals}f}"
    if abs(float(fixed) - value) > 1e-9 * max(1.0, abs(value)):
        return f"{value:.{DIGITS}g}"
    return fixed.rstrip("0").rstrip(".")


class _NarrowSpin(QDoubleSpinBox):
    """A spin box whose width follows the values it holds, not the ±10¹² it accepts."""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        hint = super().sizeHint()
        text = f"-{self.value():.{self.decimals()}f}000"
        width = self.fontMetrics().horizontalAdvance(text) + 30
        return QSize(min(hint.width(), max(width, 70)), hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(60, super().minimumSizeHint().height())


def _spin(decimals: int, value: float) -> QDoubleSpinBox:
    spin = _NarrowSpin()
    spin.setRange(-LIMIT, LIMIT)
    spin.setDecimals(decimals)
    spin.setValue(value)
    return spin


class ConstraintGrid(QTableWidget):
    """One line per feature: its name, the row's value, whether it may change, and its lowest and highest value."""

    HEADERS = ("Feature", "This row", "May change", "Lowest", "Highest")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.HEADERS), parent)
        self.setHorizontalHeaderLabels(self.HEADERS)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self._names: list[str] = []
        self._observed: list[tuple[float, float]] = []
        self._decimals: list[int] = []

    def set_model(self, names: list[str], X: np.ndarray) -> None:
        """Fill the grid with every feature free and its observed range."""
        self._names = list(names)
        self._decimals = [column_decimals(X[:, j]) for j in range(X.shape[1])]
        self._observed = [(float(X[:, j].min()), float(X[:, j].max())) for j in range(X.shape[1])]
        self.setRowCount(len(names))
        for j, name in enumerate(names):
            label = QTableWidgetItem(name)
            label.setToolTip(name)
            self.setItem(j, 0, label)
            self.setItem(j, 1, QTableWidgetItem(""))
            code = looks_like_code(name)
            free = QCheckBox()
            free.setChecked(not code)
            free.setToolTip(CODE_TIP if code else FREE_TIP)
            if code:
                label.setToolTip(f"{name}: {CODE_TIP}")
            self.setCellWidget(j, 2, free)
            for column, value in ((3, self._observed[j][0]), (4, self._observed[j][1])):
                spin = _spin(self._decimals[j], value)
                spin.setEnabled(free.isChecked())
                free.toggled.connect(spin.setEnabled)
                self.setCellWidget(j, column, spin)
        self.setColumnWidth(0, min(self.columnWidth(0), 220))
        if names:
            self.verticalHeader().setDefaultSectionSize(self.cellWidget(0, 3).sizeHint().height() + 2)

    def set_row_values(self, values: np.ndarray) -> None:
        for j, value in enumerate(values):
            self.item(j, 1).setText(value_text(value, self._decimals[j]))

    def free(self, j: int) -> QCheckBox:
        return self.cellWidget(j, 2)

    def bounds(self, j: int) -> tuple[QDoubleSpinBox, QDoubleSpinBox]:
        return self.cellWidget(j, 3), self.cellWidget(j, 4)

    def frozen(self) -> list[str]:
        return [n for j, n in enumerate(self._names) if not self.free(j).isChecked()]

    def ranges(self) -> dict[str, tuple[float | None, float | None]]:
        """The ranges of free features the person changed from the observed ones (an end left as observed stays open)."""
        out = {}
        for j, name in enumerate(self._names):
            if not self.free(j).isChecked():
                continue
            low, high = (spin.value() for spin in self.bounds(j))
            observed = tuple(round(v, self._decimals[j]) for v in self._observed[j])
            given = (None if low == observed[0] else low, None if high == observed[1] else high)
            if given != (None, None):
                out[name] = given
        return out


class WantedPicker(QWidget):
    """The wanted outcome: a class, or for a predicted value the interval it should reach."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.classes = QComboBox()
        self.at_least, self.at_most = QCheckBox("at least"), QCheckBox("at most")
        self.low, self.high = _spin(4, 0.0), _spin(4, 0.0)
        for widget in (self.classes, self.at_least, self.low, self.at_most, self.high):
            layout.addWidget(widget)
        layout.addStretch(1)
        self._task = "classification"

    def set_model(self, fitted) -> None:
        self._task = fitted.task
        regression = fitted.task == "regression"
        self.classes.setVisible(not regression)
        for widget in (self.at_least, self.low, self.at_most, self.high):
            widget.setVisible(regression)
        self.classes.clear()
        if not regression:
            self.classes.addItems([f"{fitted.target_name} = {name}" for name in fitted.class_names])
        else:
            self.at_least.setChecked(True)
            self.at_most.setChecked(False)

    def set_row(self, fitted, output: float, class_index: int | None) -> None:
        """Default to what the row does not get: the other of two classes, or a prediction a spread higher."""
        if self._task == "classification":
            if class_index is not None and len(fitted.class_names) == 2:
                self.classes.setCurrentIndex(1 - class_index)
            return
        spread = float(np.std(fitted.y)) or 1.0
        self.low.setValue(output + spread / 2)
        self.high.setValue(output + 2 * spread)

    def wanted(self, fitted):
        if self._task == "classification":
            return fitted.class_names[self.classes.currentIndex()]
        return (self.low.value() if self.at_least.isChecked() else None,
                self.high.value() if self.at_most.isChecked() else None)


class MarginPicker(QWidget):
    """How clearly the wanted outcome must be reached, in the words of the model's task.

    Two classes: the wanted class's probability in percent (55 % is a margin of 0.05); more classes:
    how many percentage points it must lead every other class by; a predicted value: how far inside
    the wanted interval, in the target's units.
    """

    TIP = ("An answer right at the boundary (50 %) flips back with the slightest change to the model. Asking for "
           "a clear answer costs slightly larger changes.")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.before, self.spin, self.after = QLabel(), QDoubleSpinBox(), QLabel()
        self.spin.setMaximumWidth(120)
        self.after.setWordWrap(True)
        self.after.setMinimumWidth(120)
        for widget in (self.before, self.spin, self.after):
            widget.setToolTip(self.TIP)
            layout.addWidget(widget)
        layout.setStretch(2, 1)
        self._kind = "two"

    def set_model(self, fitted) -> None:
        if fitted.task == "regression":
            self._kind = "value"
            self._show("the prediction at least", 0.0, 1e12, 4, 0.0, "",
                       f"inside the wanted interval (in units of {fitted.target_name})")
        elif len(fitted.class_names) == 2:
            self._kind = "two"
            self._show("a probability of at least", 50.0, 99.0, 0, 55.0, " %",
                       "for the wanted outcome (50 % is right on the boundary)")
        else:
            self._kind = "more"
            self._show("the wanted class ahead of every other by at least", 0.0, 98.0, 0, 10.0, " points",
                       "of probability")

    def _show(self, before: str, low: float, high: float, decimals: int, value: float, suffix: str,
              after: str) -> None:
        self.before.setText(before)
        self.spin.setDecimals(decimals)
        self.spin.setRange(low, high)
        self.spin.setSuffix(suffix)
        self.spin.setValue(value)
        self.after.setText(after)

    def margin(self) -> float:
        """The margin of :func:`xaidesk.tabular.counterfactual.counterfactuals`."""
        value = self.spin.value()
        return {"two": value / 100 - 0.5, "more": value / 200, "value": value}[self._kind]
