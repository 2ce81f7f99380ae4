"""The Open model dialog's right column: the loaded model's classes, notes and preprocessing.

Empty until a model is loaded; then it lists the classes (:func:`xaidesk.gui.open_model_logic.classes_text`)
and the model's notes, and offers its preprocessing for editing (:class:`PreprocessingEditor`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..open_model_logic import classes_text
from .preprocessing_editor import PreprocessingEditor

#: What the classes box says before a model is loaded.
NOT_LOADED = "Shown once the model is loaded."


class ModelPreview(QWidget):
    """Classes and preprocessing of the loaded model (its width follows the dialog, not its texts)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        classes_box = QGroupBox("Classes")
        self.classes_label = QLabel(NOT_LOADED)
        self.classes_label.setWordWrap(True)
        self.classes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notes_label = QLabel("")
        self.notes_label.setWordWrap(True)
        self.notes_label.setObjectName("notes")
        classes_layout = QVBoxLayout(classes_box)
        classes_layout.addWidget(self.classes_label)
        classes_layout.addWidget(self.notes_label)
        pre_box = QGroupBox("Preprocessing")
        self.preprocessing_editor = PreprocessingEditor()
        pre_layout = QVBoxLayout(pre_box)
        pre_layout.addWidget(self.preprocessing_editor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(classes_box)
        layout.addWidget(pre_box)
        layout.addStretch(1)

    def show_model(self, model) -> None:
        """Show ``model``'s classes, notes and preprocessing."""
        text, tooltip = classes_text(model.class_names)
        self.classes_label.setText(text)
        self.classes_label.setToolTip(tooltip)
        self.notes_label.setText("\n".join(model.notes))
        self.preprocessing_editor.set_preprocessing(model.preprocessing)

    def clear(self) -> None:
        """Nothing loaded."""
        self.preprocessing_editor.set_preprocessing(None)
        self.classes_label.setText(NOT_LOADED)
        self.notes_label.setText("")
