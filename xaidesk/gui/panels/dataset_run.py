"""The Dataset tab's run controls and the folder it explains: Run, Resume, Cancel, progress; the input folder box."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from .tab_pieces import make_progress_bar

RUN_TIP = "Explain every file of the folder with the ticked methods."


class DatasetFolderBox(QGroupBox):
    """The input folder (shown, not typed) with Choose… and what was found in it.

    Signals
    -------
    choose_requested()
        Choose… was pressed.
    """

    choose_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Input folder", parent)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setReadOnly(True)
        self.folder_edit.setFrame(False)  # shown, not typed: it reads as a label; Choose… sets it
        self.folder_edit.setStyleSheet("QLineEdit { background: transparent; }")
        self.folder_edit.setPlaceholderText("No folder chosen yet")
        self.folder_edit.setToolTip("The folder being explained; press Choose… to pick another.")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self.choose_requested)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(choose)
        self.folder_info = QLabel("Class subfolders are used as the true classes.")
        self.folder_info.setWordWrap(True)
        self.folder_info.setObjectName("notes")
        layout.addLayout(row)
        layout.addWidget(self.folder_info)

    def show_folder(self, folder, info: str) -> None:
        self.folder_edit.setText(str(folder))
        self.folder_info.setText(info)


class DatasetRunControl(QWidget):
    """Run, Resume and Cancel over the progress bar and the line that says how the run goes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 8, 4)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setMinimumHeight(32)
        font = self.run_button.font()
        font.setBold(True)
        self.run_button.setFont(font)
        self.run_button.setToolTip(RUN_TIP)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setMinimumHeight(32)
        self.resume_button.setToolTip("Continue the unfinished run in the output folder with its own settings.")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setMinimumHeight(32)
        self.cancel_button.setToolTip("Stop the run; the files finished so far are kept.")
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.resume_button, 1)
        buttons.addWidget(self.cancel_button, 1)
        self.progress_bar = make_progress_bar()
        self.progress_bar.setValue(0)
        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)
        self.progress_label.setObjectName("notes")
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)

    def set_state(self, can_run: bool, problem: str | None, can_resume: bool, running: bool) -> None:
        """Enable the buttons; Run's tooltip says why it cannot run when the output folder is the reason."""
        self.run_button.setEnabled(can_run)
        self.run_button.setToolTip(problem or RUN_TIP)
        self.resume_button.setEnabled(can_resume)
        self.cancel_button.setEnabled(running)

    def show_progress(self, fraction: float, message: str) -> None:
        self.progress_bar.setValue(int(round(1000 * fraction)))
        self.progress_label.setText(message)

    def say(self, text: str) -> None:
        self.progress_label.setText(text)


__all__ = ["DatasetFolderBox", "DatasetRunControl"]


def concepts_box(open_references, open_prototypes) -> QGroupBox:
    """The Dataset tab's "Concepts" box: Reference samples… and Prototypes…, calling the two functions given."""
    box = QGroupBox("Concepts")
    row = QHBoxLayout(box)
    references = QPushButton("Reference samples…")
    references.setToolTip("What the model's concepts (the channels of a layer) look like: the parts of the folder's "
                          "images where each was most relevant and most active.")
    references.clicked.connect(lambda: open_references())
    prototypes = QPushButton("Prototypes…")
    prototypes.setToolTip("A class's typical reasoning (prototypes of its concept relevances) and the images whose "
                          "reasoning is atypical, from a reference run.")
    prototypes.clicked.connect(lambda: open_prototypes())
    row.addWidget(references)
    row.addWidget(prototypes)
    return box
