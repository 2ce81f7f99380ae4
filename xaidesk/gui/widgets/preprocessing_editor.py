"""Edit how a model's input is prepared: size, resize and centre crop, interpolation, channels, mean, std.

The editor shows a :class:`~xaidesk.models.preprocessing.Preprocessing` as fields and builds a new one
from them. It imports the model package only once it is given a preprocessing (torch is loaded by then).
"""

from __future__ import annotations

import math

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

#: Plain titles of the interpolation values of ``Preprocessing`` (values the library does not
#: list are left out, titles it adds fall back to the value itself).
INTERPOLATION_TITLES = {"bilinear": "Bilinear (smooth)", "bicubic": "Bicubic (sharper)",
                        "nearest": "Nearest pixel (no smoothing)"}
CHANNEL_TITLES = {"rgb": "Colour (RGB)", "gray": "Grey (one channel)"}
LARGEST_SIDE = 4096


def _numbers(text: str) -> list[float] | None:
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    return values if values and all(math.isfinite(v) for v in values) else None


def _number_text(values) -> str:
    return ", ".join(f"{float(v):.8g}" for v in values)


class PreprocessingEditor(QWidget):
    """Fields for a ``Preprocessing``; :meth:`preprocessing` builds it, :meth:`problem` says what is wrong.

    Signals
    -------
    changed()
        A field changed.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._original = None
        self._filling = False
        self.height_spin = self._spin("Height of the model's input in pixels.")
        self.width_spin = self._spin("Width of the model's input in pixels.")
        size_row = QHBoxLayout()
        size_row.addWidget(self.height_spin)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.width_spin)
        size_row.addWidget(QLabel("pixels (height × width)"))
        size_row.addStretch(1)

        self.crop_check = QCheckBox("Resize the shorter side to")
        self.crop_check.setToolTip(
            "On: the image's shorter side is resized to this length and the centre cut out at the input size "
            "(the border is not seen). Off: the whole image is resized to the input size.")
        self.resize_spin = self._spin("Length the shorter side is resized to before the centre is cut out.")
        crop_row = QHBoxLayout()
        crop_row.addWidget(self.crop_check)
        crop_row.addWidget(self.resize_spin)
        crop_row.addWidget(QLabel("pixels, then cut out the centre"))
        crop_row.addStretch(1)

        self.interpolation_combo = QComboBox()
        self.interpolation_combo.setToolTip("How pixels are computed when the image is resized.")
        self.channels_combo = QComboBox()
        for value, title in CHANNEL_TITLES.items():
            self.channels_combo.addItem(title, value)
        self.channels_combo.setToolTip("Whether the model sees colour images or grey ones.")
        self.mean_edit = QLineEdit()
        self.mean_edit.setToolTip("Subtracted from each channel (pixels scaled to 0…1): one number per channel, "
                                  "separated by commas.")
        self.std_edit = QLineEdit()
        self.std_edit.setToolTip("Each channel is divided by this after the mean is subtracted: one positive "
                                 "number per channel, separated by commas.")
        self.reset_button = QPushButton("Use the model's own")
        self.reset_button.setToolTip("Put back the preprocessing the model came with.")
        self.reset_button.clicked.connect(self.reset)
        self.problem_label = QLabel("")
        self.problem_label.setWordWrap(True)
        self.problem_label.setObjectName("problem")
        self.problem_label.setStyleSheet("color: #b00020;")
        self.problem_label.hide()

        self.placeholder = QLabel("Shown once the model is loaded.")
        self.fields = QWidget()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.placeholder)
        outer.addWidget(self.fields)
        form = QFormLayout(self.fields)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Input size", size_row)
        form.addRow("Crop", crop_row)
        form.addRow("Interpolation", self.interpolation_combo)
        form.addRow("Channels", self.channels_combo)
        form.addRow("Mean", self.mean_edit)
        form.addRow("Std", self.std_edit)
        form.addRow("", self.reset_button)
        form.addRow(self.problem_label)

        for spin in (self.height_spin, self.width_spin, self.resize_spin):
            spin.valueChanged.connect(self._on_changed)
        self.crop_check.toggled.connect(self._on_changed)
        self.interpolation_combo.currentIndexChanged.connect(self._on_changed)
        self.channels_combo.currentIndexChanged.connect(self._on_changed)
        self.mean_edit.textChanged.connect(self._on_changed)
        self.std_edit.textChanged.connect(self._on_changed)
        self.fields.hide()

    def _spin(self, tooltip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(1, LARGEST_SIDE)
        spin.setToolTip(tooltip)
        return spin

    # ------------------------------------------------------------------ filling
    def set_preprocessing(self, preprocessing) -> None:
        """Show ``preprocessing`` (the model's own); ``None`` empties and disables the editor."""
        self._original = preprocessing
        self.fields.setVisible(preprocessing is not None)
        self.placeholder.setVisible(preprocessing is None)
        if preprocessing is not None:
            self._fill(preprocessing)
        self._on_changed()

    def reset(self) -> None:
        """Show the model's own preprocessing again."""
        if self._original is not None:
            self._fill(self._original)
            self._on_changed()

    def _fill(self, pre) -> None:
        from xaidesk.models.preprocessing import INTERPOLATIONS

        self._filling = True
        try:
            if self.interpolation_combo.count() != len(INTERPOLATIONS):
                self.interpolation_combo.clear()
                for value in INTERPOLATIONS:
                    self.interpolation_combo.addItem(INTERPOLATION_TITLES.get(value, value), value)
            self.height_spin.setValue(int(pre.size[0]))
            self.width_spin.setValue(int(pre.size[1]))
            self.crop_check.setChecked(pre.resize is not None)
            self.resize_spin.setValue(int(pre.resize) if pre.resize is not None else max(pre.size))
            self.interpolation_combo.setCurrentIndex(
                max(0, self.interpolation_combo.findData(getattr(pre, "interpolation", "bilinear"))))
            self.channels_combo.setCurrentIndex(max(0, self.channels_combo.findData(pre.channels)))
            self.mean_edit.setText(_number_text(pre.mean))
            self.std_edit.setText(_number_text(pre.std))
        finally:
            self._filling = False

    # ------------------------------------------------------------------ reading
    def problem(self) -> str | None:
        """What is wrong with the fields, in a sentence, or ``None``."""
        if self._original is None:
            return "No model has been loaded yet."
        count = 1 if self.channels_combo.currentData() == "gray" else 3
        for name, edit in (("mean", self.mean_edit), ("std", self.std_edit)):
            values = _numbers(edit.text())
            if values is None:
                return f"Give the {name} as numbers separated by commas (e.g. 0.485, 0.456, 0.406)."
            if len(values) not in (1, count):
                return (f"Give {count} {name} value{'s' if count > 1 else ''} (one per channel) or a single one "
                        f"for all channels; there are {len(values)}.")
            if name == "std" and any(v <= 0 for v in values):
                return "Every std value must be larger than 0 (the channel is divided by it)."
        if self.crop_check.isChecked() and self.resize_spin.value() < min(self.height_spin.value(),
                                                                          self.width_spin.value()):
            return ("The shorter side must be resized to at least the input size, or there is nothing to cut "
                    "out; make it larger or switch the crop off.")
        return None

    def values(self) -> dict:
        """The fields in the JSON form of a preprocessing (``Preprocessing.to_dict``)."""
        return {
            "size": [self.height_spin.value(), self.width_spin.value()],
            "resize": self.resize_spin.value() if self.crop_check.isChecked() else None,
            "mean": _numbers(self.mean_edit.text()),
            "std": _numbers(self.std_edit.text()),
            "channels": self.channels_combo.currentData(),
            "interpolation": self.interpolation_combo.currentData(),
        }

    def preprocessing(self):
        """The preprocessing the fields describe, or ``None`` while :meth:`problem` finds something wrong."""
        if self.problem() is not None:
            return None
        from xaidesk.models.preprocessing import preprocessing_from_dict

        values = self.values()
        name = self._original.name if not self.is_edited() else "set by hand"
        return preprocessing_from_dict(values, name=name)

    def is_edited(self) -> bool:
        """Whether the fields differ from the model's own preprocessing."""
        if self._original is None or self.problem() is not None:
            return self._original is not None
        from xaidesk.models.preprocessing import preprocessing_from_dict

        ours = preprocessing_from_dict(self.values()).to_dict()
        theirs = self._original.to_dict()
        for key in ("name", "mean", "std"):
            ours.pop(key, None)
            theirs.pop(key, None)
        if ours != theirs:
            return True
        built = preprocessing_from_dict(self.values())
        pairs = list(zip(built.mean, self._original.mean)) + list(zip(built.std, self._original.std))
        return len(built.mean) != len(self._original.mean) or not all(
            math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in pairs)

    def _on_changed(self, *_args) -> None:
        self.resize_spin.setEnabled(self.crop_check.isChecked())
        if self._filling:
            return
        problem = self.problem() if self._original is not None else None
        self.problem_label.setText(problem or "")
        self.problem_label.setVisible(bool(problem))
        self.reset_button.setEnabled(self._original is not None and self.is_edited())
        self.changed.emit()
