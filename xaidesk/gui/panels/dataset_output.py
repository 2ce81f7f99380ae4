"""The Dataset tab's Run box: the class explained, the device, the batch size, the output folder and the cluster."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QDir, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ...runs import DEFAULT_BATCH_SIZE
from ..widgets.device_picker import DevicePicker

ACCEPT_TEXT = "Use this folder"


class DatasetRunBox(QGroupBox):
    """How a run goes: which class, where the model runs, how many inputs at once, and the run folder.

    Signals
    -------
    output_typed()
        The output folder was typed or chosen by hand (it then stays until the input folder changes).
    output_changed()
        Typing the output folder ended (the tab checks whether it can run).
    choose_output_requested()
        Choose… beside the output folder was pressed.
    """

    output_typed = Signal()
    output_changed = Signal()
    choose_output_requested = Signal()
    cluster_changed = Signal()
    commands_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Run", parent)
        layout = QFormLayout(self)
        self.device_combo = DevicePicker()
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 512)
        self.batch_spin.setValue(DEFAULT_BATCH_SIZE)
        self.batch_spin.setToolTip("How many inputs LRP and the gradient methods explain at once; "
                                   "lower it if memory runs out.")
        out_row = QHBoxLayout()
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("Folder for the results")
        self.output_edit.setToolTip("The run folder: index.csv, run.json and the heatmaps. Type a new folder's "
                                    "path or press Choose…; it follows the input folder until you set it. "
                                    "An unfinished run of the same settings there is resumed.")
        self.output_edit.textEdited.connect(lambda *_: self.output_typed.emit())
        self.output_edit.editingFinished.connect(self.output_changed)
        choose_out = QPushButton("Choose…")
        choose_out.clicked.connect(self.choose_output_requested)
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(choose_out)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip(
            "Which class every input is explained for: each input's predicted class, or one class for all "
            "(as SpRAy wants, to compare how the model sees that class across the data set).")
        layout.addRow("Explain", self.class_combo)
        layout.addRow("Device", self.device_combo)
        layout.addRow("Batch size", self.batch_spin)
        layout.addRow("Output", out_row)
        cluster_row = QHBoxLayout()
        self.cluster_edit = QLineEdit()
        self.cluster_edit.setPlaceholderText("This computer")
        self.cluster_edit.setToolTip(
            "Leave empty to run here. Give a Dask scheduler's address (tcp://HOST:8786) to hand the run to a "
            "cluster: each shard becomes a task on its workers and the shards are merged into the output folder. "
            "The input and output folders and the model file must be at the same paths on every worker, and "
            "xaidesk must be installed there with its cluster extra.")
        self.cluster_edit.textChanged.connect(lambda *_: self.cluster_changed.emit())
        commands = QPushButton("Commands…")
        commands.setToolTip("The command lines that run these settings on a Dask cluster or as a SLURM job array.")
        commands.clicked.connect(self.commands_requested)
        cluster_row.addWidget(self.cluster_edit, 1)
        cluster_row.addWidget(commands)
        layout.addRow("Cluster", cluster_row)
        self.run_problem = QLabel("")
        self.run_problem.setWordWrap(True)
        self.run_problem.setObjectName("notes")
        self.run_problem.setStyleSheet("color: #b00020;")
        self.run_problem.setVisible(False)
        layout.addRow(self.run_problem)

    def set_devices(self, devices) -> None:
        self.device_combo.set_devices(devices)

    def device(self) -> str:
        return self.device_combo.device()

    def fill_classes(self, names: list[str], select: int | None) -> None:
        """The class picker: the predicted class, or one of ``names`` (the model's classes when they are known)."""
        self.class_combo.clear()
        self.class_combo.addItem("Each input's predicted class", None)
        for index, name in enumerate(names):
            self.class_combo.addItem(f"Class {index}: {name}", index)
        if select is not None and self.class_combo.findData(select) < 0:
            self.class_combo.addItem(f"Class {select}", select)
        self.class_combo.setCurrentIndex(max(0, self.class_combo.findData(select)) if select is not None else 0)

    def explained_class(self) -> int | None:
        """The class every input is explained for, or None for each input's predicted class."""
        data = self.class_combo.currentData()
        return None if data is None else int(data)

    def set_explained_class(self, target: int | None) -> bool:
        index = self.class_combo.findData(target) if target is not None else 0
        if index < 0:
            return False
        self.class_combo.setCurrentIndex(index)
        return True

    def cluster_address(self) -> str | None:
        """The Dask scheduler to hand the run to, or None to run on this computer."""
        return self.cluster_edit.text().strip() or None

    def output_folder(self) -> Path | None:
        text = self.output_edit.text().strip()
        return Path(text).expanduser() if text else None

    def show_problem(self, problem: str | None) -> None:
        """Say under the settings why the output folder cannot take the run (or nothing)."""
        self.run_problem.setText(problem or "")
        self.run_problem.setVisible(problem is not None)

    def set_running(self, running: bool) -> None:
        for widget in (self.class_combo, self.batch_spin, self.output_edit, self.cluster_edit):
            widget.setEnabled(not running)
        self.device_combo.setEnabled(not running and self.device_combo.count() > 1)


class OutputFolderDialog(QFileDialog):
    """Pick an existing folder or type the name of a new one (made when the run starts)."""

    def __init__(self, parent: QWidget | None, start: Path | None) -> None:
        super().__init__(parent, "Folder for the results (choose one or type a new name)")
        self.setOption(QFileDialog.Option.DontUseNativeDialog)
        self.setOption(QFileDialog.Option.DontConfirmOverwrite)
        self.setFileMode(QFileDialog.FileMode.AnyFile)
        self.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        self.setFilter(QDir.Filter.AllDirs | QDir.Filter.Drives | QDir.Filter.NoDotAndDotDot)
        self.setNameFilter("Folders (*)")
        self.resize(760, 460)
        self.setLabelText(QFileDialog.DialogLabel.FileName, "Folder")
        self.setLabelText(QFileDialog.DialogLabel.Accept, ACCEPT_TEXT)
        self.chosen: str | None = None
        name_edit = self.findChild(QLineEdit, "fileNameEdit")
        if name_edit is not None:  # Qt names the button "Open" for an existing folder; here it is used, not entered
            name_edit.textChanged.connect(lambda *_: QTimer.singleShot(0, self._name_accept_button))
        if start is not None:
            self.setDirectory(str(start.parent))
            self.selectFile(start.name)

    def accept_button(self) -> QPushButton | None:
        box = self.findChild(QDialogButtonBox)
        return next((b for b in box.buttons() if box.buttonRole(b) == QDialogButtonBox.ButtonRole.AcceptRole),
                    None) if box is not None else None

    def _name_accept_button(self) -> None:
        button = self.accept_button()
        if button is not None:
            button.setText(ACCEPT_TEXT)

    def accept(self) -> None:  # noqa: D102 - an existing folder is taken as it is, not entered
        files = self.selectedFiles()
        if files and files[0]:
            self.chosen = files[0]
            QDialog.accept(self)

    @classmethod
    def ask(cls, parent: QWidget | None, start: Path | None) -> str | None:
        dialog = cls(parent, start)
        return dialog.chosen if dialog.exec() else None


__all__ = ["ACCEPT_TEXT", "DatasetRunBox", "OutputFolderDialog"]
