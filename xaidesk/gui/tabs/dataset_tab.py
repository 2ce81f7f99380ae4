"""The Dataset tab: explain a whole folder with one or more methods, then browse the heatmaps.

The run itself is :func:`xaidesk.runs.run_batch`; it goes to a runner of its own (its own
worker thread), so the other tabs stay usable during a long run. Every finished file is on
disk at once, so Cancel loses nothing and Resume continues where the run stopped, also after
the application was closed. The browser (:class:`~xaidesk.gui.views.dataset_views.BrowsePanel`)
fills while the run goes on and opens earlier runs (the GUI's or ``xaidesk batch``'s).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QDir, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
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
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...runs import DEFAULT_BATCH_SIZE, BatchStatus, FolderScan, MethodRequest, RunInfo, read_run, scan_folder
from ...core import XaideskError
from ..catalog import Catalog, family_title
from ..formatting import format_duration
from ..runner import JobFailure, Runner
from ..views.dataset_views import BrowsePanel, ItemViewer
from ..widgets import error_dialog
from ..widgets.param_form import ParamForm
from ..wording import plural
from .explain_base import make_progress_bar, side_column

OPEN_MODEL_ENTRY = "__open_model__"
MODEL_FILE_ENTRY = "__file__"
DEFAULT_METHODS = {"image": ("lrp.epsilon_plus_flat",), "audio": ("lrp.epsilon_plus_flat",)}
RUN_CHANNEL = "batch"


class DatasetTab(QWidget):
    """Run explanations over a folder and browse the results.

    Signals
    -------
    status_message(str)
        Text for the window's status bar.
    open_item_requested(path, modality, model_spec, method, target)
        "Open in its tab" was pressed in the viewer of a double-clicked result: open the input file
        ``path`` (``"image"`` or ``"audio"``) with the model ``model_spec`` in its tab, and explain
        class ``target`` with ``method``.
    run_opened(str)
        A run folder is shown (after a run or "Open run…"); its path.
    """

    status_message = Signal(str)
    open_item_requested = Signal(str, str, str, str, int)
    run_opened = Signal(str)

    def __init__(self, runner: Runner, settings=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.settings = settings
        self.catalog: Catalog | None = None
        self.scan: FolderScan | None = None
        self.modality = "image"
        self.run: RunInfo | None = None
        self.last_result = None
        self._batch_runner: Runner | None = None
        self._job: int | None = None
        self._stopping: int | None = None
        self._seen = 0
        self._params: dict[str, dict] = {}
        self._form_method: str | None = None
        self._extra_models: list[tuple[str, str]] = []
        #: Per opened model spec: its label file, hand-set preprocessing and class names (Open model dialog).
        self._model_options: dict[str, dict] = {}
        self.viewer: ItemViewer | None = None  # the item shown large after a double-click
        self._output_for: Path | None = None  # the input folder for which the output was chosen by hand
        self._build()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._update_enabled()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        panel = QWidget()
        column = QVBoxLayout(panel)
        column.setContentsMargins(0, 0, 0, 0)

        folder_box = QGroupBox("Input folder")
        folder_layout = QVBoxLayout(folder_box)
        row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setReadOnly(True)
        self.folder_edit.setFrame(False)  # shown, not typed: it reads as a label; Choose… sets it
        self.folder_edit.setStyleSheet("QLineEdit { background: transparent; }")
        self.folder_edit.setPlaceholderText("No folder chosen yet")
        self.folder_edit.setToolTip("The folder being explained; press Choose… to pick another.")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self.choose_folder)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(choose)
        self.folder_info = QLabel("Class subfolders are used as the true classes.")
        self.folder_info.setWordWrap(True)
        self.folder_info.setObjectName("notes")
        folder_layout.addLayout(row)
        folder_layout.addWidget(self.folder_info)

        model_box = QGroupBox("Model")
        model_layout = QVBoxLayout(model_box)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The network whose decisions are explained.")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(16)
        self.model_combo.activated.connect(self._on_model_activated)
        model_layout.addWidget(self.model_combo)

        method_box = QGroupBox("Methods")
        method_layout = QVBoxLayout(method_box)
        hint = QLabel("Tick the methods to run; click one to change its settings below.")
        hint.setWordWrap(True)
        hint.setObjectName("notes")
        self.method_list = QListWidget()
        self.method_list.setMinimumHeight(150)
        self.method_list.currentItemChanged.connect(self._on_method_selected)
        self.method_list.itemChanged.connect(self._on_method_ticked)
        self.settings_box = QGroupBox("Settings")
        settings_layout = QVBoxLayout(self.settings_box)
        self.param_title = QLabel("")
        self.param_title.setWordWrap(True)
        self.param_title.setObjectName("notes")
        self.param_form = ParamForm()
        settings_layout.addWidget(self.param_title)
        settings_layout.addWidget(self.param_form)
        method_layout.addWidget(hint)
        method_layout.addWidget(self.method_list, 1)
        method_layout.addWidget(self.settings_box)

        output_box = QGroupBox("Run")
        output_layout = QFormLayout(output_box)
        self.device_combo = QComboBox()
        self.device_combo.addItem("CPU", "cpu")
        self.device_combo.setToolTip("Where the model runs. CUDA is offered when PyTorch finds a CUDA GPU.")
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
        self.output_edit.textEdited.connect(self._on_output_typed)
        self.output_edit.editingFinished.connect(self._update_enabled)
        choose_out = QPushButton("Choose…")
        choose_out.clicked.connect(self.choose_output)
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(choose_out)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip(
            "Which class every input is explained for: each input's predicted class, or one class for all "
            "(as SpRAy wants, to compare how the model sees that class across the data set).")
        output_layout.addRow("Explain", self.class_combo)
        output_layout.addRow("Device", self.device_combo)
        output_layout.addRow("Batch size", self.batch_spin)
        output_layout.addRow("Output", out_row)
        self.run_problem = QLabel("")
        self.run_problem.setWordWrap(True)
        self.run_problem.setObjectName("notes")
        self.run_problem.setStyleSheet("color: #b00020;")
        self.run_problem.setVisible(False)
        output_layout.addRow(self.run_problem)

        column.addWidget(folder_box)
        column.addWidget(model_box)
        column.addWidget(method_box, 1)
        column.addWidget(output_box)

        run_area = QWidget()
        run_layout = QVBoxLayout(run_area)
        run_layout.setContentsMargins(4, 4, 8, 4)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setMinimumHeight(32)
        font = self.run_button.font()
        font.setBold(True)
        self.run_button.setFont(font)
        self.run_button.setToolTip("Explain every file of the folder with the ticked methods.")
        self.run_button.clicked.connect(self.start_run)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setMinimumHeight(32)
        self.resume_button.setToolTip("Continue the unfinished run in the output folder with its own settings.")
        self.resume_button.clicked.connect(self.resume_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setMinimumHeight(32)
        self.cancel_button.setToolTip("Stop the run; the files finished so far are kept.")
        self.cancel_button.clicked.connect(self.cancel_run)
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.resume_button, 1)
        buttons.addWidget(self.cancel_button, 1)
        self.progress_bar = make_progress_bar()
        self.progress_bar.setValue(0)
        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)
        self.progress_label.setObjectName("notes")
        run_layout.addLayout(buttons)
        run_layout.addWidget(self.progress_bar)
        run_layout.addWidget(self.progress_label)

        self.browse = BrowsePanel()
        self.browse.item_activated.connect(self._on_item_activated)
        self.browse.open_run_requested.connect(self.choose_run)
        self.views = QTabWidget()
        self.views.addTab(self.browse, "Browse")
        self.spray_panel = self._make_spray_panel()
        if self.spray_panel is not None:
            self.views.addTab(self.spray_panel, "SpRAy")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(side_column(panel, run_area))
        layout.addWidget(self.views, 1)

    def _make_spray_panel(self):
        """The SpRAy panel when :mod:`xaidesk.gui.views.spray_views` is there (shown beside Browse)."""
        try:
            from ..views.spray_views import SprayPanel
        except ImportError:
            return None
        panel = SprayPanel(self.runner, self.settings)
        for name in ("open_item_requested", "status_message"):
            if hasattr(panel, name):
                getattr(panel, name).connect(getattr(self, name))
        return panel

    # ------------------------------------------------------------------ catalog
    def set_catalog(self, catalog: Catalog) -> None:
        """Fill the model and method pickers and the devices."""
        from xaidesk.runs import available_devices

        self.catalog = catalog
        self.device_combo.clear()
        for device in available_devices():
            self.device_combo.addItem("CUDA GPU" if device == "cuda" else "CPU", device)
        self._fill_models()
        self._fill_methods()
        self._update_enabled()

    def _fill_models(self, select: str | None = None) -> None:
        previous = select or self.model_spec()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for model in (self.catalog.models(self.modality) if self.catalog else []):
            self.model_combo.addItem(model.get("title", model["spec"]), model["spec"])
            self.model_combo.setItemData(self.model_combo.count() - 1, model.get("description", ""),
                                         Qt.ItemDataRole.ToolTipRole)
        for title, spec in self._extra_models:
            if self.model_combo.findData(spec) < 0:
                self.model_combo.addItem(title, spec)
        self.model_combo.insertSeparator(self.model_combo.count())
        if self.modality == "image":
            self.model_combo.addItem("Open model (file or folder)…", OPEN_MODEL_ENTRY)
        else:
            self.model_combo.addItem("Model file…", MODEL_FILE_ENTRY)
        index = self.model_combo.findData(previous) if previous else -1
        self.model_combo.setCurrentIndex(index if index >= 0 else (0 if self.model_combo.count() > 2 else -1))
        self.model_combo.blockSignals(False)
        self._fill_classes()

    def _fill_classes(self, select: int | None = None) -> None:
        """The class picker: the predicted class, or one of the model's classes when they are known."""
        spec = self.model_spec()
        entry = next((m for m in (self.catalog.models(self.modality) if self.catalog else []) if m["spec"] == spec),
                     None)
        names = list(entry.get("class_names", [])) if entry else []
        if not names and spec in self._model_options:
            names = list(self._model_options[spec].get("class_names") or [])
        if select is None:
            select = self.explained_class()
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

    def _fill_methods(self, checked: list[str] | None = None) -> None:
        if checked is None:
            checked = self.checked_methods() or list(DEFAULT_METHODS.get(self.modality, ()))
        infos = (self.catalog.audio_methods if self.modality == "audio" else self.catalog.methods) if self.catalog else []
        self._store_form()
        self._form_method = None
        self.method_list.blockSignals(True)
        self.method_list.clear()
        for info in infos:
            item = QListWidgetItem(info.title)
            item.setData(Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(f"{family_title(info.family)}: {info.help}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if info.name in checked else Qt.CheckState.Unchecked)
            self.method_list.addItem(item)
        self.method_list.blockSignals(False)
        self.param_form.set_params(())
        self._show_settings_state(None)
        if self.method_list.count():
            ticked = [i for i in range(self.method_list.count())
                      if self.method_list.item(i).checkState() == Qt.CheckState.Checked]
            self.method_list.setCurrentRow(ticked[0] if ticked else 0)

    def _method_info(self, name: str):
        if self.catalog is None:
            return None
        return self.catalog.audio_method(name) if self.modality == "audio" else self.catalog.method(name)

    # ------------------------------------------------------------------ pickers
    def model_spec(self) -> str | None:
        data = self.model_combo.currentData()
        return None if data in (None, OPEN_MODEL_ENTRY, MODEL_FILE_ENTRY) else str(data)

    def set_model_spec(self, spec: str, title: str | None = None) -> None:
        """Choose a model by spec, adding it to the picker when it is not a built-in one."""
        if self.model_combo.findData(spec) < 0:
            self._extra_models.append((title or spec, spec))
            self._fill_models(select=spec)
        self.model_combo.setCurrentIndex(self.model_combo.findData(spec))
        self._fill_classes()
        self._update_enabled()

    def _on_model_activated(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if data == OPEN_MODEL_ENTRY:
            if self.open_model_dialog() is None:
                self._fill_models()
        elif data == MODEL_FILE_ENTRY:
            path, _ = QFileDialog.getOpenFileName(self, "Open a model file", self._last_folder(),
                                                  "PyTorch models (*.pt *.pth *.ts *.pth.tar *.json);;All files (*)")
            if path:
                self.set_model_spec(f"file:{path}", Path(path).name)
            else:
                self._fill_models()
        else:
            self._fill_classes()
        self._update_enabled()

    def open_model_dialog(self):
        """Choose and check an image model (:class:`OpenModelDialog`) and use it for the run; returns the choice.

        A model that runs code when loaded is refused there: a batch run never asks for trust.
        """
        from ..widgets.open_model_dialog import OpenModelDialog

        dialog = OpenModelDialog(self._last_folder(), modality="image", allow_untrusted=False, parent=self)
        try:
            choice = dialog.choice() if dialog.exec() else None
        finally:
            dialog.deleteLater()
        if choice is not None:
            self.use_opened_model(choice)
        return choice

    def use_opened_model(self, choice) -> None:
        """Run with what the Open model dialog opened: its spec, label file and hand-set preprocessing."""
        self._model_options[choice.spec] = {
            "labels": choice.labels, "preprocessing": choice.preprocessing,
            "class_names": list(choice.model.class_names) if choice.model is not None else None,
        }
        self.set_model_spec(choice.spec, choice.title or None)

    def model_options(self, spec: str | None = None) -> dict:
        """The label file and hand-set preprocessing the chosen model (or ``spec``) is run with."""
        options = self._model_options.get(spec or self.model_spec() or "", {})
        return {"labels": options.get("labels"), "preprocessing": options.get("preprocessing")}

    def checked_methods(self) -> list[str]:
        return [
            self.method_list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.method_list.count())
            if self.method_list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_checked_methods(self, names) -> None:
        names = set(names)
        self.method_list.blockSignals(True)
        for i in range(self.method_list.count()):
            item = self.method_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in names
                               else Qt.CheckState.Unchecked)
        self.method_list.blockSignals(False)
        current = self.method_list.currentItem()
        ticked = [self.method_list.item(i) for i in range(self.method_list.count())
                  if self.method_list.item(i).checkState() == Qt.CheckState.Checked]
        if ticked and (current is None or current.checkState() != Qt.CheckState.Checked):
            self.method_list.setCurrentItem(ticked[0])
        else:
            self._show_settings_state(self._method_info(self._form_method) if self._form_method else None)
        self._update_enabled()

    def _store_form(self) -> None:
        if self._form_method is not None:
            self._params[self._form_method] = self.param_form.values()

    def _on_method_selected(self, current, _previous=None) -> None:
        self._store_form()
        name = current.data(Qt.ItemDataRole.UserRole) if current is not None else None
        info = self._method_info(name) if name else None
        self._form_method = info.name if info else None
        if info is None:
            self.param_form.set_params(())
            self._show_settings_state(None)
            return
        self.param_form.set_params(info.params, self._params.get(info.name))
        self._show_settings_state(info)

    def _on_method_ticked(self, item: QListWidgetItem) -> None:
        """A method just ticked becomes the one whose settings are shown."""
        if item.checkState() == Qt.CheckState.Checked and item is not self.method_list.currentItem():
            self.method_list.setCurrentItem(item)
        else:
            self._show_settings_state(self._method_info(self._form_method) if self._form_method else None)
        self._update_enabled()

    def _show_settings_state(self, info) -> None:
        """Name the method being configured in the settings box title, and say if it will not run."""
        if info is None:
            self.settings_box.setTitle("Settings")
            self.param_title.setText("Click a method in the list to see its settings.")
            self.param_title.setVisible(True)
            return
        self.settings_box.setTitle(f"Settings of {info.title}")
        notes = [] if info.params else [f"{info.title} has no settings."]
        if info.name not in self.checked_methods():
            notes.append(f"{info.title} is not ticked, so it will not run.")
        self.param_title.setText(" ".join(notes))
        self.param_title.setVisible(bool(notes))

    def method_requests(self) -> list[MethodRequest]:
        """The ticked methods with the settings of their forms."""
        self._store_form()
        return [MethodRequest(name, dict(self._params.get(name, {}))) for name in self.checked_methods()]

    # ------------------------------------------------------------------ folders
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of images or sound clips", self._last_folder())
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder) -> bool:
        """Look at a folder: detect images or sound, count files and classes. False on an error."""
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            scan = scan_folder(folder)
        except XaideskError as error:
            self.scan = None
            self.folder_edit.setText(str(folder))
            self.folder_info.setText(error.message)
            self._update_enabled()
            return False
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.scan = scan
        self.folder_edit.setText(str(scan.root))
        text = scan.describe() + "."
        if scan.other_files:
            text += f" {plural(scan.other_files, 'other file')} {'is' if scan.other_files == 1 else 'are'} left out."
        self.folder_info.setText(text)
        if self.settings is not None:
            self.settings.setValue("last_folder", str(scan.root))
        if scan.modality != self.modality:
            self.modality = scan.modality
            self._fill_models()
            self._fill_methods(checked=list(DEFAULT_METHODS.get(self.modality, ())))
        if self._output_for != scan.root or not self.output_edit.text().strip():
            self.output_edit.setText(str(default_output(scan.root)))
            self._output_for = None
        self._update_enabled()
        return True

    def choose_output(self) -> None:
        """Ask for the run folder; a new folder's name can be typed (it is made when the run starts)."""
        start = self.output_folder() or (default_output(self.scan.root) if self.scan else None)
        folder = OutputFolderDialog.ask(self, start)
        if folder:
            self.set_output(folder)

    def set_output(self, folder) -> None:
        """Use ``folder`` for the results of the current input folder (a choice kept until the input changes)."""
        self.output_edit.setText(str(folder))
        self._on_output_typed()
        self._update_enabled()

    def _on_output_typed(self, *_args) -> None:
        self._output_for = self.scan.root if self.scan is not None else None

    def output_folder(self) -> Path | None:
        text = self.output_edit.text().strip()
        return Path(text).expanduser() if text else None

    def _unfinished_run(self) -> dict | None:
        """``run.json`` of an unfinished run in the output folder, or None."""
        out = self.output_folder()
        if out is None or not (out / "run.json").is_file():
            return None
        try:
            info = read_run(out)
        except XaideskError:
            return None
        return None if info.finished else info.meta

    def _last_folder(self) -> str:
        return str(self.settings.value("last_folder", "") or "") if self.settings is not None else ""

    # ------------------------------------------------------------------ running
    def is_running(self) -> bool:
        return self._job is not None

    def can_run(self) -> bool:
        return (self.scan is not None and self.model_spec() is not None and bool(self.checked_methods())
                and self.output_folder() is not None and not self.is_running() and self.run_problem_text() is None)

    def run_problem_text(self) -> str | None:
        """Why the output folder cannot take this run (one sentence), or None when it can."""
        out = self.output_folder()
        if self.scan is None or out is None:
            return None
        return output_problem(out.resolve(), self.scan.root, self.checked_methods(), self.explained_class())

    def start_run(self) -> int | None:
        """Run (or resume, when the output folder holds the same run) with the chosen settings."""
        problem = self.run_problem_text()
        if problem is not None:
            self.progress_label.setText(problem)
            return None
        if not self.can_run():
            return None
        return self._submit(self.scan.root, self.model_spec(), self.method_requests(), None, self.output_folder(),
                            self.explained_class())

    def resume_run(self) -> int | None:
        """Continue the unfinished run in the output folder with the settings it was started with."""
        meta = self._unfinished_run()
        if meta is None or self.is_running():
            return None
        out = self.output_folder()
        try:
            info = read_run(out)
        except XaideskError as error:
            error_dialog.show_error(self, "Could not resume the run", error.message)
            return None
        self._show_run_settings(info)
        return self._submit(info.source, info.model, info.methods, meta.get("shard"), out, info.target)

    def _submit(self, source, spec: str, methods: list[MethodRequest], shard, out: Path,
                target: int | None = None) -> int:
        from xaidesk.runs import parse_shard

        device = self.device_combo.currentData() or "cpu"
        batch_size = self.batch_spin.value()
        shard = parse_shard(shard) if isinstance(shard, str) else shard
        options = self.model_options(spec)

        def job(token, progress):
            from xaidesk.runs import run_batch

            from ..catalog import configure_torch_threads

            configure_torch_threads()
            return run_batch(source, out, spec, methods, device=device, batch_size=batch_size, shard=shard,
                             target=target, token=token, progress=progress, **options)

        self._show_existing(out)
        self._seen = 0
        self.progress_bar.setValue(0)
        self.progress_label.setText("Starting …")
        self._job = self._runner().submit(job, RUN_CHANNEL)
        self.status_message.emit(f"Explaining {Path(source).name} …")
        self._update_enabled()
        return self._job

    def _show_existing(self, out: Path) -> None:
        """Show what the output folder already holds (a run being resumed), or an empty grid."""
        try:
            self.run = read_run(out) if (out / "run.json").is_file() else None
        except XaideskError:
            self.run = None
        self.browse.set_rows(out, self.run.rows if self.run is not None else [])

    def cancel_run(self) -> None:
        """Stop the run; everything finished so far stays on disk and Resume continues it."""
        if self._job is None:
            return
        self._stopping = self._job
        self._runner().cancel(self._job)

    def _runner(self) -> Runner:
        if self._batch_runner is None:
            self._batch_runner = Runner(self)
            self._batch_runner.progress.connect(self._on_progress)
            self._batch_runner.finished.connect(self._on_finished)
            self._batch_runner.failed.connect(self._on_failed)
            self._batch_runner.cancelled.connect(self._on_cancelled)
            self._batch_runner.stopped.connect(self._on_stopped)
        return self._batch_runner

    def _on_progress(self, job_id: int, fraction: float, message: str, partial: object) -> None:
        if job_id != self._job:
            return
        self.progress_bar.setValue(int(round(1000 * fraction)))
        self.progress_label.setText(message)
        if isinstance(partial, BatchStatus) and partial.count > self._seen:
            self.browse.add_rows(partial.rows[self._seen:partial.count])
            self._seen = partial.count

    def _on_finished(self, job_id: int, result: object) -> None:
        if job_id != self._job:
            return
        self._job = None
        self.last_result = result
        self.progress_bar.setValue(1000)
        text = (f"Done: {plural(result.computed, 'explanation')} of {plural(result.files, 'file')} in "
                f"{format_duration(result.seconds)}"
                + (f", {result.already_done} {'was' if result.already_done == 1 else 'were'} already done"
                   if result.already_done else "")
                + (f", {plural(len(result.skipped), 'file')} could not be read (see skipped.csv)"
                   if result.skipped else "")
                + ".")
        self.progress_label.setText("")  # said once, in the status bar, as the Images tab does
        self.status_message.emit(text)
        self.open_run(result.run_dir)
        self._update_enabled()

    def _on_failed(self, job_id: int, failure: JobFailure) -> None:
        if job_id != self._job:
            return
        self._job = None
        done = bool(self._seen) or (self.run is not None and bool(self.run.rows))
        self.progress_label.setText(f"The run stopped: {failure.message}"
                                    + (" The files finished so far are kept." if done else ""))
        self._reload_output()
        self._update_enabled()
        error_dialog.show_error(self, "The batch run could not go on", failure)

    def _on_cancelled(self, job_id: int) -> None:
        if job_id != self._job:
            return
        self._job = None
        self.progress_label.setText("Cancelling – the files finished so far are kept …")
        self.status_message.emit("Batch run cancelled.")
        self._update_enabled()

    def _on_stopped(self, job_id: int, _result: object) -> None:
        if job_id != self._stopping:
            return
        self._stopping = None
        self._reload_output()
        done = len(self.run.rows) if self.run is not None else 0
        self.progress_label.setText(f"Cancelled – {plural(done, 'result')} {'is' if done == 1 else 'are'} saved; press Resume to continue.")
        self._update_enabled()

    def is_stopping(self) -> bool:
        """A cancelled run has not yet stopped in the worker."""
        return self._stopping is not None

    def _reload_output(self) -> None:
        out = self.output_folder()
        if out is not None and (out / "run.json").is_file():
            self.open_run(out, fill_settings=False)

    # ------------------------------------------------------------------ runs
    def choose_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a batch run folder", self._last_folder())
        if folder:
            self.open_run(folder)

    def open_run(self, folder, fill_settings: bool = True) -> bool:
        """Show a run folder in the browser (and SpRAy); ``fill_settings`` also shows its settings."""
        try:
            info = read_run(folder)
        except XaideskError as error:
            error_dialog.show_error(self, "Could not open the run", error.message)
            return False
        self.run = info
        self.browse.set_rows(info.folder, info.rows)
        if fill_settings:
            self._show_run_settings(info)
            self.set_output(info.folder)
        if self.spray_panel is not None and hasattr(self.spray_panel, "set_run"):
            self.spray_panel.set_run(str(info.folder))
        self.run_opened.emit(str(info.folder))
        state = "finished" if info.finished else "unfinished – Resume continues it"
        self.status_message.emit(f"Run {info.folder.name}: {plural(len(info.rows), 'result')}, {state}.")
        self._update_enabled()
        return True

    def _show_run_settings(self, info: RunInfo) -> None:
        """Put a run's folder, model and methods into the pickers."""
        if info.source.is_dir():
            chosen = self.output_edit.text()
            self.set_folder(info.source)
            self.set_output(chosen)
        if info.modality != self.modality:
            self.modality = info.modality
            self._fill_models()
        if info.model:
            known = self._model_options.get(info.model, {})
            self._model_options[info.model] = {"labels": info.labels, "preprocessing": info.preprocessing,
                                               "class_names": known.get("class_names")}
            self.set_model_spec(info.model)
        self._fill_classes(select=info.target)
        self._store_form()
        self._form_method = None  # the run's settings replace what the form shows now
        for request in info.methods:
            self._params[request.name] = dict(request.params)
        self._fill_methods(checked=[m.name for m in info.methods])

    def _on_item_activated(self, row) -> None:
        run = self.run
        folder = self.browse.model.run_dir
        if (run is None or run.folder != folder) and folder is not None:
            try:  # a run that started in this session: its run.json is there by now
                run = self.run = read_run(folder)
            except XaideskError:
                return
        if run is None:
            return
        if self.viewer is not None:
            self.viewer.close()
            self.viewer.deleteLater()
        self.viewer = ItemViewer(run, row, self)
        self.viewer.open_in_tab_requested.connect(lambda item: self.open_item(run, item))
        self.viewer.show()

    def open_item(self, run: RunInfo, row) -> None:
        """Ask the window to open a run item in its tab with the run's model, method and class."""
        self.open_item_requested.emit(str(run.input_path(row)), run.modality, run.model, row.method, int(row.target))

    # ------------------------------------------------------------------ state
    def _update_enabled(self) -> None:
        running = self.is_running()
        problem = self.run_problem_text()
        self.run_problem.setText(problem or "")
        self.run_problem.setVisible(problem is not None)
        self.run_button.setEnabled(self.can_run())
        self.run_button.setToolTip(problem or "Explain every file of the folder with the ticked methods.")
        self.resume_button.setEnabled(not running and self._unfinished_run() is not None)
        self.cancel_button.setEnabled(running)
        for widget in (self.model_combo, self.method_list, self.param_form, self.class_combo, self.device_combo,
                       self.batch_spin, self.output_edit):
            widget.setEnabled(not running)

    def shutdown(self) -> None:
        """Stop a running batch and its worker thread (the window calls this when it closes)."""
        if self._batch_runner is not None:
            self._batch_runner.shutdown()


def default_output(root: Path) -> Path:
    """The run folder offered for an input folder: ``<name>-explained`` beside it."""
    return root.parent / f"{root.name}-explained"


def output_problem(out: Path, source: Path, methods: list[str], target: int | None) -> str | None:
    """Why ``out`` cannot take a run of ``source`` (one plain sentence), or None when it can.

    An existing run there must be the same run (it is then resumed); other folders must be new or empty.
    """
    advice = f"Choose a new output folder, e.g. '{default_output(source)}'."
    if out == source:
        return "The output folder is the input folder itself; choose another folder for the results."
    if out.exists() and not out.is_dir():
        return f"The output '{out}' is a file, not a folder. {advice}"
    if not out.is_dir():
        return None
    if not (out / "run.json").is_file():
        return None if not any(out.iterdir()) else (
            f"The output folder '{out}' is not empty and holds no batch run. {advice}")
    try:
        info = read_run(out)
    except XaideskError as error:
        return f"{error.message} {advice}"
    if info.source.resolve() != source.resolve():
        return f"The output folder '{out}' holds the run of another input folder ('{info.source}'). {advice}"
    if info.target != target:
        return f"The output folder '{out}' holds a run that explained another class. {advice}"
    if sorted(m.name for m in info.methods) != sorted(methods):
        return f"The output folder '{out}' holds a run of other methods. {advice}"
    return None


ACCEPT_TEXT = "Use this folder"


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
