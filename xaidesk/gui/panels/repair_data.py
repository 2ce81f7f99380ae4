"""The Model workflow's "Data and output" section: labelled images, the held-out share, the output folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from ..repair_jobs import DEFAULT_GENERATED, DataChoice, offers_generated


class RepairDataPanel(QGroupBox):
    """A labelled folder (one subfolder per class) or the demo's generated pictures, and the output folder.

    Signals
    -------
    changed()
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("3. Data and output", parent)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.none_radio = QRadioButton("No labelled images")
        self.folder_radio = QRadioButton("Labelled folder")
        self.generated_radio = QRadioButton("Generated demo pictures")
        self.generated_radio.setToolTip("Pictures made by the demo's own scene generator (horses and other scenes, "
                                        "some with the copyright tag, as in its training).")
        self.group = QButtonGroup(self)
        for radio in (self.none_radio, self.folder_radio, self.generated_radio):
            self.group.addButton(radio)
            radio.toggled.connect(self._on_changed)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("A folder with one subfolder per class, named after the classes")
        self.folder_edit.textChanged.connect(self._folder_typed)
        self.folder_button = QPushButton("Choose…")
        self.folder_button.clicked.connect(self.choose_folder)
        self.generated_spin = QSpinBox()
        self.generated_spin.setRange(8, 5000)
        self.generated_spin.setValue(DEFAULT_GENERATED)
        self.generated_spin.setSuffix(" pictures")
        self.generated_spin.valueChanged.connect(self._on_changed)
        self.held_out_spin = QSpinBox()
        self.held_out_spin.setRange(5, 90)
        self.held_out_spin.setSingleStep(5)
        self.held_out_spin.setValue(20)
        self.held_out_spin.setSuffix(" %")
        self.held_out_spin.setToolTip("The share of the images kept apart: the model is compared before and after "
                                      "on them, never trained on them.")
        self.held_out_spin.valueChanged.connect(self._on_changed)
        self.out_edit = QLineEdit()
        self.out_edit.setToolTip("The folder the corrected model and its report are written to (a new folder, "
                                 "or one of an earlier run of the same repair, whose files are replaced).")
        self.out_edit.textChanged.connect(self._on_changed)
        self.out_button = QPushButton("Choose…")
        self.out_button.clicked.connect(self.choose_output)
        self.out_note = QLabel("")
        self.out_note.setWordWrap(True)
        self.out_note.setObjectName("outputNote")
        self.generated_offered = False
        self.none_radio.setChecked(True)

        grid = QGridLayout(self)
        grid.addWidget(self.note, 0, 0, 1, 3)
        grid.addWidget(self.none_radio, 1, 0, 1, 3)
        grid.addWidget(self.folder_radio, 2, 0)
        grid.addWidget(self.folder_edit, 2, 1)
        grid.addWidget(self.folder_button, 2, 2)
        grid.addWidget(self.generated_radio, 3, 0)
        grid.addWidget(self.generated_spin, 3, 1)
        grid.addWidget(QLabel("Held-out share"), 4, 0)
        held = QHBoxLayout()
        held.addWidget(self.held_out_spin)
        held.addStretch(1)
        grid.addLayout(held, 4, 1)
        grid.addWidget(QLabel("Output folder"), 5, 0)
        grid.addWidget(self.out_edit, 5, 1)
        grid.addWidget(self.out_button, 5, 2)
        grid.addWidget(self.out_note, 6, 0, 1, 3)
        grid.setColumnStretch(1, 1)
        self.set_model(None)

    def set_model(self, model) -> None:
        """Offer the generated pictures only for the demo model (and choose them, when nothing else was)."""
        offered = self.generated_offered = offers_generated(model)
        self.generated_radio.setVisible(offered)
        self.generated_spin.setVisible(offered)
        if offered and self.none_radio.isChecked():
            self.generated_radio.setChecked(True)
        elif not offered and self.generated_radio.isChecked():
            self.none_radio.setChecked(True)

    def set_needed(self, needed: bool, note: str) -> None:
        """Say ``note``; without labelled images a repair that needs them cannot run (the option is hidden)."""
        self.note.setText(note)
        self.none_radio.setVisible(not needed)
        if needed and self.none_radio.isChecked():
            (self.generated_radio if self.generated_offered else self.folder_radio).setChecked(True)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with one subfolder per class", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder for the corrected model",
                                                  str(Path(self.out_edit.text()).parent))
        if folder:
            self.out_edit.setText(folder)

    def _folder_typed(self, text: str) -> None:
        if text.strip():
            self.folder_radio.setChecked(True)
        self._on_changed()

    def _on_changed(self, *_args) -> None:
        self.generated_spin.setEnabled(self.generated_radio.isChecked())
        self.changed.emit()

    def choice(self) -> DataChoice:
        held_out = self.held_out_spin.value() / 100.0
        if self.folder_radio.isChecked() and self.folder_edit.text().strip():
            return DataChoice(folder=Path(self.folder_edit.text().strip()), held_out=held_out)
        if self.generated_radio.isChecked() and self.generated_offered:
            return DataChoice(generated=int(self.generated_spin.value()), held_out=held_out)
        return DataChoice(held_out=held_out)

    def output(self) -> Path | None:
        text = self.out_edit.text().strip()
        return Path(text) if text else None

    def set_output(self, path) -> None:
        self.out_edit.setText(str(path))
        self.out_edit.setCursorPosition(0)
