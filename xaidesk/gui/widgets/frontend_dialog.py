"""Ask for a model's spectrogram front-end when its file does not say (no sidecar)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

#: (key, label, kind, minimum, maximum, help) of the editable front-end settings.
FIELDS = (
    ("sample_rate", "Sample rate (Hz)", "int", 1000, 192000, "The rate the model was trained at; clips are resampled to it."),
    ("n_fft", "FFT size (samples)", "int", 16, 16384, "Length of each analysis window."),
    ("hop_length", "Hop (samples)", "int", 1, 16384, "Step between neighbouring spectrogram frames."),
    ("n_mels", "Mel bands", "int", 4, 512, "Number of mel frequency bands (the spectrogram's height)."),
    ("fmin", "Lowest frequency (Hz)", "float", 0.0, 96000.0, "Lower edge of the lowest mel band."),
    ("fmax", "Highest frequency (Hz)", "float", 0.0, 96000.0, "Upper edge of the highest band (0: half the sample rate)."),
    ("log_offset", "Log scaling offset", "float", 0.0, 10.0,
     "The spectrogram is log(mel power + offset); the small offset avoids log(0)."),
    ("window_frames", "Frames per model window", "int", 1, 100000, "How many frames the model sees at once."),
    ("window_hop_frames", "Window step (frames)", "int", 1, 100000, "Step between neighbouring model windows."),
)


class FrontEndDialog(QDialog):
    """A small form for the spectrogram front-end of an audio model file.

    ``values`` are the starting values (an ``AudioFrontEnd.to_dict()``); only the keys present
    in it are offered. :meth:`values` returns the edited dict (saved with the results).
    """

    def __init__(self, values: dict, model_name: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Spectrogram settings of the model")
        layout = QVBoxLayout(self)
        note = QLabel(
            (f"{model_name} " if model_name else "This model ")
            + "does not say how it turns sound into a spectrogram. Enter the settings it was "
            "trained with; they are saved with every result."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        form = QFormLayout()
        self._editors: dict[str, QSpinBox | QDoubleSpinBox] = {}
        self._extra = {k: v for k, v in values.items() if k not in {f[0] for f in FIELDS}}
        for key, label, kind, low, high, help_text in FIELDS:
            if key not in values:
                continue
            value = values[key]
            if kind == "int":
                editor = QSpinBox()
                editor.setRange(int(low), int(high))
                editor.setValue(int(value or 0))
            else:
                editor = QDoubleSpinBox()
                editor.setDecimals(6 if key == "log_offset" else 1)
                editor.setRange(float(low), float(high))
                editor.setValue(float(value or 0.0))
            editor.setToolTip(help_text)
            editor.setObjectName(f"frontend_{key}")
            self._editors[key] = editor
            form.addRow(label, editor)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def editor(self, key: str):
        return self._editors[key]

    def values(self) -> dict:
        result = dict(self._extra)
        for key, editor in self._editors.items():
            result[key] = editor.value()
        if not result.get("fmax") and result.get("sample_rate"):
            result["fmax"] = result["sample_rate"] / 2
        return result


def ask_frontend(parent, values: dict, model_name: str = "") -> dict | None:
    """Show the dialog; the edited values, or ``None`` when the person cancels (tests replace this)."""
    dialog = FrontEndDialog(values, model_name, parent)
    return dialog.values() if dialog.exec() else None
