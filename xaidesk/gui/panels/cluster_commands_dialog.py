"""The command lines that run the Dataset tab's settings elsewhere: on a Dask cluster, or as a SLURM job array."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton,
                               QVBoxLayout, QWidget)

DASK_TEXT = ("<b>On a Dask cluster.</b> Start a scheduler and workers on machines that see the same folders "
             "(<code>dask scheduler</code>, then <code>dask worker tcp://SCHEDULER:8786 --nthreads 1</code>, one "
             "process per core or GPU), then run:")
SLURM_TEXT = ("<b>As a SLURM job array.</b> Each array task runs the first line (its own shard of the folder); "
              "once every task has ended, the second line merges the shards into one run folder:")
HAND_SET_TEXT = ("<b>The preprocessing set by hand is not in these commands</b>: the command line cannot carry "
                 "it, so they run the model with its own preprocessing. Run here to use yours.")
INSTALL_TEXT = ("Every machine needs xaidesk installed with <code>pip install \"xaidesk[cluster]\"</code> "
                "(the Dask part is only needed for the first way), and the same paths to the folders and model.")


def _command_box(text: str) -> tuple[QWidget, QPlainTextEdit]:
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    edit = QPlainTextEdit(text)
    edit.setReadOnly(True)
    edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    edit.setFixedHeight(edit.fontMetrics().lineSpacing() * 6 + 14)
    copy = QPushButton("Copy")
    copy.setToolTip("Copy the command lines to the clipboard.")
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(text))
    row.addWidget(edit, 1)
    row.addWidget(copy)
    return box, edit


class ClusterCommandsDialog(QDialog):
    """Both command lines, each with a Copy button."""

    def __init__(self, dask: str, slurm: str, parent: QWidget | None = None, hand_set: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("Run on a cluster")
        self.resize(780, 480)
        layout = QVBoxLayout(self)
        edits = []
        for text, command in ((DASK_TEXT, dask), (SLURM_TEXT, slurm)):
            label = QLabel(text)
            label.setWordWrap(True)
            box, edit = _command_box(command)
            layout.addWidget(label)
            layout.addWidget(box)
            edits.append(edit)
        self.dask_edit, self.slurm_edit = edits
        note = QLabel((HAND_SET_TEXT + " " if hand_set else "") + INSTALL_TEXT)
        note.setWordWrap(True)
        note.setObjectName("notes")
        layout.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
