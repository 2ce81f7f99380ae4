"""The Open model dialog's two choices of files: the model file or folder, and the class-names file.

:class:`ModelPathRow` is the path field with "File…" and "Folder…"; :class:`LabelFileBox` the
optional class-names file with "Choose…" and "Clear". Both only ask and tell: the dialog
recognises and loads what they name.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QLineEdit, QPushButton, QWidget

from ..open_model_logic import LABEL_FILE_FILTER, MODEL_FILE_FILTER


class ModelPathRow(QWidget):
    """The model file or folder: typed, or chosen with "File…" / "Folder…".

    Signals
    -------
    chosen(path)
        A file or folder was chosen in a file dialog.
    """

    chosen = Signal(str)

    def __init__(self, start_folder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.start_folder = start_folder
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("a model file or folder")
        self.path_edit.setToolTip("The model file or folder; type or paste a path and press Enter, or choose one.")
        self.file_button = QPushButton("File…")
        self.file_button.setToolTip("Choose a model file (.onnx, .safetensors, .pt, .pth, …).")
        self.file_button.clicked.connect(self.choose_file)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("Choose a model folder (Hugging Face or timm, with a config.json).")
        self.folder_button.clicked.connect(self.choose_folder)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.file_button)
        row.addWidget(self.folder_button)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model file", self.start_folder, MODEL_FILE_FILTER)
        if path:
            self.chosen.emit(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a model folder", self.start_folder)
        if path:
            self.chosen.emit(path)


class LabelFileBox(QGroupBox):
    """The optional class-names file (``.txt`` or ``.json``) that replaces the model's own names.

    Signals
    -------
    chosen(path)
        A file was chosen in a file dialog, or Clear was pressed (``""``).
    """

    chosen = Signal(str)

    def __init__(self, path_row: ModelPathRow, parent: QWidget | None = None) -> None:
        super().__init__("Class names (optional)", parent)
        self._path_row = path_row
        self.labels_edit = QLineEdit()
        self.labels_edit.setPlaceholderText("a .txt or .json file")
        self.labels_edit.setToolTip("Names for the model's outputs, in order, replacing the names it came with.")
        self.labels_button = QPushButton("Choose…")
        self.labels_button.clicked.connect(self.choose_labels)
        self.labels_clear = QPushButton("Clear")
        self.labels_clear.setToolTip("Use the class names the model came with.")
        self.labels_clear.clicked.connect(lambda: self.chosen.emit(""))
        row = QHBoxLayout(self)
        row.addWidget(self.labels_edit, 1)
        row.addWidget(self.labels_button)
        row.addWidget(self.labels_clear)

    def labels(self) -> str | None:
        """The class-names file, or ``None`` for the model's own names."""
        return self.labels_edit.text().strip() or None

    def choose_labels(self) -> None:
        """Choose the file, starting beside the model."""
        model_path = self._path_row.path_edit.text()
        start = str(Path(model_path).parent) if model_path.strip() else self._path_row.start_folder
        path, _ = QFileDialog.getOpenFileName(self, "Class names file", start, LABEL_FILE_FILTER)
        if path:
            self.chosen.emit(path)
