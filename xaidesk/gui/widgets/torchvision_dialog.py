"""Choose a torchvision architecture and a local weights file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class TorchvisionDialog(QDialog):
    """Pick ``ARCH`` and a state-dict file; :meth:`spec` gives ``torchvision:ARCH:PATH``."""

    def __init__(self, architectures, start_folder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Torchvision architecture")
        self._start_folder = start_folder
        self.architecture_combo = QComboBox()
        self.architecture_combo.addItems(list(architectures))
        self.weights_edit = QLineEdit()
        self.weights_edit.setPlaceholderText("weights file (.pth) — a state dict for this architecture")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.weights_edit, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Architecture", self.architecture_combo)
        form.addRow("Weights", row)
        note = QLabel(
            "The number of classes is read from the weights. Published ImageNet weights can be "
            "downloaded with Model ▸ Download published weights…"
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self._ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.weights_edit.textChanged.connect(self._update_ok)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self._update_ok()
        self.resize(520, self.sizeHint().height())

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Weights file", self._start_folder, "PyTorch weights (*.pth *.pt *.bin);;All files (*)"
        )
        if path:
            self.weights_edit.setText(path)

    def _update_ok(self) -> None:
        self._ok.setEnabled(bool(self.weights_edit.text().strip()) and self.architecture_combo.count() > 0)

    def architecture(self) -> str:
        return self.architecture_combo.currentText()

    def weights_path(self) -> str:
        return self.weights_edit.text().strip()

    def spec(self) -> str:
        path = self.weights_path()
        return f"torchvision:{self.architecture()}:{Path(path)}" if path else f"torchvision:{self.architecture()}"
