"""The quick classifier's left column: the "Data and model" box (the labelled folder, the backbone and its
layer, the head, the held-out share and the seed), then Fit, Cancel, the progress bar and the status line.

:class:`ProbeInputs` only lays the fields out; :class:`~xaidesk.gui.probe_dialog.ProbeDialog` fills the
backbones and layers and reacts to the choices and buttons.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .probe_jobs import HEAD_ORDER, HEAD_TITLES


class ProbeInputs(QWidget):
    """The fields of a fit (folder with its classes, backbone, layer, head, held-out share, seed) and its run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder_edit = QLineEdit()
        self.folder_edit.setReadOnly(True)
        self.folder_edit.setFrame(False)  # shown, not typed: it reads as a label; Choose… sets it
        self.folder_edit.setStyleSheet("QLineEdit { background: transparent; }")
        self.folder_edit.setPlaceholderText("two subfolders of images")
        self.folder_edit.setToolTip("A folder with exactly two subfolders, one per class, holding its images.")
        self.choose_button = QPushButton("Choose…")
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.choose_button)
        self.classes_label = QLabel("No folder chosen.")
        self.classes_label.setWordWrap(True)

        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The network whose layer provides the features (the backbone).")
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The backbone layer whose output (averaged over space) is the feature vector.")
        self.layer_combo.addItem("Loading the model…")
        self.layer_combo.setEnabled(False)
        self.head_combo = QComboBox()
        for name in HEAD_ORDER:
            self.head_combo.addItem(HEAD_TITLES[name], name)
        self.head_combo.setToolTip(
            "Both heads are fitted and shown; this one becomes the classifier that is saved and explained.\n"
            "Difference of means: w = (μ₂ − μ₁)/||μ₂ − μ₁||.\n"
            "Logistic regression: scikit-learn, on standardised features.")
        self.held_out_spin = QDoubleSpinBox()
        self.held_out_spin.setRange(0.1, 0.9)
        self.held_out_spin.setSingleStep(0.05)
        self.held_out_spin.setDecimals(2)
        self.held_out_spin.setValue(0.3)
        self.held_out_spin.setToolTip("Share of each class kept aside to draw the ROC curve and set the threshold.")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.seed_spin.setToolTip("Seed of the random held-out split.")

        form = QFormLayout()
        form.addRow("Folder", folder_row)
        form.addRow("", self.classes_label)
        form.addRow("Backbone", self.model_combo)
        form.addRow("Layer", self.layer_combo)
        form.addRow("Classifier head", self.head_combo)
        form.addRow("Held-out share", self.held_out_spin)
        form.addRow("Seed", self.seed_spin)
        box = QGroupBox("Data and model")
        box.setLayout(form)

        self.fit_button = QPushButton("Fit")
        self.fit_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        run_row = QHBoxLayout()
        run_row.addWidget(self.fit_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress_bar, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)
        layout.addLayout(run_row)
        layout.addWidget(self.status_label)
        layout.addStretch(1)
