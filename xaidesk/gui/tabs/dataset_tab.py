"""The Dataset tab: explain a whole folder with one or more methods, then browse the heatmaps.

The tab is a composition of panels (:mod:`xaidesk.gui.panels`): the input folder and the
run controls (``dataset_run``), the model (``dataset_model``), the methods and their settings
(``dataset_methods``), the run settings and output folder (``dataset_output``) and the results
(``dataset_results``: Browse, SpRAy and the viewer of one result). The work it starts is in the
Qt-free :mod:`xaidesk.gui.dataset_jobs`.

The run itself is :func:`xaidesk.runs.run_batch`; it goes to a runner of its own (its own
worker thread), so the other tabs stay usable during a long run. Every finished file is on
disk at once, so Cancel loses nothing and Resume continues where the run stopped, also after
the application was closed. The browser fills while the run goes on and opens earlier runs
(the GUI's or ``xaidesk batch``'s).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QVBoxLayout, QWidget

from ...core import XaideskError
from ...core.registry import DATASET, default_method
from ...runs import BatchStatus, FolderScan, MethodRequest, RunInfo, read_run, scan_folder
from ...runs.format import RUN_FILE
from ..catalog import Catalog
from ..concept_dataset_jobs import ConceptInputs
from ..dataset_jobs import (cluster_address_problem, cluster_commands, default_output, existing_run, finished_text,
                            output_problem, run_folder, run_folder_on_cluster, stopped_text, unfinished_run)
from ..panels.cluster_commands_dialog import ClusterCommandsDialog
from ..panels.dataset_methods import DatasetMethodsBox
from ..panels.dataset_model import DatasetModelBox
from ..panels.dataset_output import DatasetRunBox, OutputFolderDialog
from ..panels.dataset_results import DatasetResults
from ..panels.dataset_run import DatasetFolderBox, DatasetRunControl, concepts_box
from ..panels.prototype_dialog import open_prototypes_dialog
from ..panels.reference_dialog import open_reference_dialog
from ..runner import JobFailure, Runner
from ..widgets import error_dialog
from ..wording import plural
from ..panels.tab_pieces import side_column

RUN_CHANNEL = "dataset.run"  # its own runner; channels are named "<owner>.<job>"


class DatasetTab(QWidget):
    """Run explanations over a folder and browse the results.

    Panels: :attr:`folder_box`, :attr:`model_box`, :attr:`methods`, :attr:`run_box` (settings and
    output), :attr:`run_control` (Run, Resume, Cancel, progress) and :attr:`results`. The widgets
    every tab names (``model_combo``, ``method_list``, ``param_form``, ``class_combo``,
    ``output_edit``, ``run_button``, ``cancel_button``, ``progress_bar``, ``views``) are kept as
    attributes of the tab.

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
        self.last_result = None
        self._batch_runner: Runner | None = None
        self._job: int | None = None
        self._stopping: int | None = None
        self._seen = 0
        self._output_for: Path | None = None  # the input folder for which the output was chosen by hand
        self._build()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._update_enabled()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.folder_box = DatasetFolderBox()
        self.folder_box.choose_requested.connect(self.choose_folder)
        self.model_box = DatasetModelBox(self._last_folder)
        self.model_box.model_changed.connect(self._on_model_changed)
        self.methods = DatasetMethodsBox()
        self.methods.changed.connect(self._update_enabled)
        self.run_box = DatasetRunBox()
        self.run_box.output_typed.connect(self._on_output_typed)
        self.run_box.output_changed.connect(self._update_enabled)
        self.run_box.choose_output_requested.connect(self.choose_output)
        self.run_box.cluster_changed.connect(self._update_enabled)
        self.run_box.commands_requested.connect(self.show_cluster_commands)
        self.run_control = DatasetRunControl()
        self.run_control.run_button.clicked.connect(self.start_run)
        self.run_control.resume_button.clicked.connect(self.resume_run)
        self.run_control.cancel_button.clicked.connect(self.cancel_run)
        self.results = DatasetResults(self.runner, self.settings)
        self.results.open_run_requested.connect(self.choose_run)
        self.results.open_item_requested.connect(self.open_item_requested)
        self.results.status_message.connect(self.status_message)

        # the widgets every tab names
        self.model_combo = self.model_box.model_combo
        self.method_list, self.param_form = self.methods.method_list, self.methods.param_form
        self.class_combo, self.output_edit = self.run_box.class_combo, self.run_box.output_edit
        self.run_button, self.cancel_button = self.run_control.run_button, self.run_control.cancel_button
        self.progress_bar = self.run_control.progress_bar
        self.views = self.results

        panel = QWidget()
        column = QVBoxLayout(panel)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.folder_box)
        column.addWidget(self.model_box)
        column.addWidget(self.methods, 1)
        column.addWidget(self.run_box)
        concepts = concepts_box(self.open_reference_samples, self.open_prototypes)
        column.addWidget(concepts)
        self._reference_dialog = self._prototypes_dialog = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(side_column(panel, self.run_control))
        layout.addWidget(self.results, 1)

    def concept_inputs(self) -> ConceptInputs:
        """The folder, model and run settings the concept windows use."""
        spec = self.model_spec()
        return ConceptInputs(self.scan.root if self.scan else None, self.modality, spec, **self.model_options(spec),
                             device=self.run_box.device(), batch_size=self.run_box.batch_spin.value())

    def open_reference_samples(self):
        """Show the Reference samples window for the tab's folder and model."""
        self._reference_dialog = open_reference_dialog(self, self.runner, self.concept_inputs(), self.open_run,
                                                       self._reference_dialog)
        return self._reference_dialog

    def open_prototypes(self):
        """Show the Prototypes window for the tab's model (on its reference runs)."""
        self._prototypes_dialog = open_prototypes_dialog(self, self.runner, self.concept_inputs(),
                                                         self.open_reference_samples, self._prototypes_dialog)
        return self._prototypes_dialog

    @property
    def run(self) -> RunInfo | None:
        """The run shown in the results."""
        return self.results.run

    # ------------------------------------------------------------------ catalog
    def set_catalog(self, catalog: Catalog) -> None:
        """Fill the model and method pickers and the devices."""
        self.catalog = catalog
        self.run_box.set_devices(catalog.devices)
        self._fill_models()
        self._fill_methods()
        self._update_enabled()

    def _fill_models(self, select: str | None = None) -> None:
        self.model_box.fill(self.catalog.models(self.modality) if self.catalog else [], self.modality, select)
        self._fill_classes()

    def _fill_classes(self, select: int | None = None) -> None:
        """The class picker: the predicted class, or one of the model's classes when they are known."""
        self.run_box.fill_classes(self.model_box.class_names(), self.explained_class() if select is None else select)

    def _fill_methods(self, checked: list[str] | None = None) -> None:
        if checked is None:
            checked = self.checked_methods() or self._default_methods()
        infos = (self.catalog.audio_methods if self.modality == "audio" else self.catalog.methods) if self.catalog else []
        self.methods.fill(infos, checked)

    def _default_methods(self) -> list[str]:
        """The method ticked first in dataset mode (the registry's default), once the methods are loaded."""
        return [default_method(DATASET)] if self.catalog is not None else []

    # ------------------------------------------------------------------ pickers
    def model_spec(self) -> str | None:
        return self.model_box.model_spec()

    def set_model_spec(self, spec: str, title: str | None = None) -> None:
        """Choose a model by spec, adding it to the picker when it is not a built-in one."""
        self.model_box.set_model_spec(spec, title)

    def use_opened_model(self, choice) -> None:
        """Run with what the Open model dialog opened: its spec, label file and hand-set preprocessing."""
        self.model_box.use_opened_model(choice)

    def model_options(self, spec: str | None = None) -> dict:
        """The label file and hand-set preprocessing the chosen model (or ``spec``) is run with."""
        return self.model_box.model_options(spec)

    def _on_model_changed(self) -> None:
        self._fill_classes()
        self._update_enabled()

    def explained_class(self) -> int | None:
        """The class every input is explained for, or None for each input's predicted class."""
        return self.run_box.explained_class()

    def set_explained_class(self, target: int | None) -> bool:
        return self.run_box.set_explained_class(target)

    def checked_methods(self) -> list[str]:
        return self.methods.checked_methods()

    def set_checked_methods(self, names) -> None:
        self.methods.set_checked_methods(names)

    def method_requests(self) -> list[MethodRequest]:
        """The ticked methods with the settings of their forms."""
        return self.methods.method_requests()

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
            self.folder_box.show_folder(folder, error.message)
            self._update_enabled()
            return False
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.scan = scan
        text = scan.describe() + "."
        if scan.other_files:
            text += f" {plural(scan.other_files, 'other file')} {'is' if scan.other_files == 1 else 'are'} left out."
        self.folder_box.show_folder(scan.root, text)
        if self.settings is not None:
            self.settings.setValue("last_folder", str(scan.root))
        if scan.modality != self.modality:
            self.modality = scan.modality
            self._fill_models()
            self._fill_methods(checked=self._default_methods())
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

    def _on_output_typed(self) -> None:
        self._output_for = self.scan.root if self.scan is not None else None

    def output_folder(self) -> Path | None:
        return self.run_box.output_folder()

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
        return (cluster_address_problem(self.run_box.cluster_edit.text())
                or output_problem(out.resolve(), self.scan.root, self.checked_methods(), self.explained_class()))

    def start_run(self) -> int | None:
        """Run (or resume, when the output folder holds the same run) with the chosen settings."""
        problem = self.run_problem_text()
        if problem is not None:
            self.run_control.say(problem)
            return None
        if not self.can_run():
            return None
        return self._submit(self.scan.root, self.model_spec(), self.method_requests(), None, self.output_folder(),
                            self.explained_class())

    def resume_run(self) -> int | None:
        """Continue the unfinished run in the output folder with the settings it was started with."""
        meta = unfinished_run(self.output_folder())
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

        device = self.run_box.device()
        batch_size = self.run_box.batch_spin.value()
        shard = parse_shard(shard) if isinstance(shard, str) else shard
        options = self.model_options(spec)
        address = self.run_box.cluster_address() if shard is None else None

        def job(token, progress):
            if address:  # rows appear when the shards are merged: until then their files are not in ``out``
                return run_folder_on_cluster(source, out, spec, methods, address=address, device=device,
                                             batch_size=batch_size, target=target, token=token,
                                             progress=lambda f, m="", _p=None: progress(f, m), **options)
            return run_folder(source, out, spec, methods, device=device, batch_size=batch_size, shard=shard,
                              target=target, token=token, progress=progress, **options)

        self.results.start_run(out, existing_run(out))
        self._seen = 0
        self.run_control.show_progress(0.0, "Starting …")
        self._job = self._runner().submit(job, RUN_CHANNEL)
        self.status_message.emit(f"Explaining {Path(source).name} …")
        self._update_enabled()
        return self._job

    def show_cluster_commands(self) -> ClusterCommandsDialog | None:
        """Show the command lines that run the current settings on a Dask cluster or a SLURM array."""
        out, spec = self.output_folder(), self.model_spec()
        if self.scan is None or out is None or spec is None or not self.checked_methods():
            self.run_control.say("Choose a folder, a model, methods and an output folder first.")
            return None
        dask, slurm = cluster_commands(self.scan.root, out.resolve(), spec, self.method_requests(),
                                       address=self.run_box.cluster_address(), device=self.run_box.device(),
                                       batch_size=self.run_box.batch_spin.value(), target=self.explained_class(),
                                       labels=self.model_options(spec).get("labels"))
        dialog = ClusterCommandsDialog(dask, slurm, self,
                                       hand_set=self.model_options(spec).get("preprocessing") is not None)
        dialog.show()
        return dialog

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
        self.run_control.show_progress(fraction, message)
        if isinstance(partial, BatchStatus) and partial.count > self._seen:
            self.results.add_rows(partial.rows[self._seen:partial.count])
            self._seen = partial.count

    def _on_finished(self, job_id: int, result: object) -> None:
        if job_id != self._job:
            return
        self._job = None
        self.last_result = result
        self.run_control.show_progress(1.0, "")  # the end is said once, in the status bar, as the Images tab does
        self.status_message.emit(finished_text(result))
        self.open_run(result.run_dir)
        self._update_enabled()

    def _on_failed(self, job_id: int, failure: JobFailure) -> None:
        if job_id != self._job:
            return
        self._job = None
        done = bool(self._seen) or (self.run is not None and bool(self.run.rows))
        self.run_control.say(f"The run stopped: {failure.message}"
                             + (" The files finished so far are kept." if done else ""))
        self._reload_output()
        self._update_enabled()
        error_dialog.show_error(self, "The batch run could not go on", failure)

    def _on_cancelled(self, job_id: int) -> None:
        if job_id != self._job:
            return
        self._job = None
        self.run_control.say("Cancelling – the files finished so far are kept …")
        self.status_message.emit("Batch run cancelled.")
        self._update_enabled()

    def _on_stopped(self, job_id: int, _result: object) -> None:
        if job_id != self._stopping:
            return
        self._stopping = None
        self._reload_output()
        self.run_control.say(stopped_text(len(self.run.rows) if self.run is not None else 0))
        self._update_enabled()

    def is_stopping(self) -> bool:
        """A cancelled run has not yet stopped in the worker."""
        return self._stopping is not None

    def _reload_output(self) -> None:
        out = self.output_folder()
        if out is not None and (out / RUN_FILE).is_file():
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
        self.results.show_run(info)
        if fill_settings:
            self._show_run_settings(info)
            self.set_output(info.folder)
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
            self.model_box.use_run_model(info)
        self._fill_classes(select=info.target)
        self.methods.use_run_settings(info.methods)
        self._fill_methods(checked=[m.name for m in info.methods])

    # ------------------------------------------------------------------ state
    def _update_enabled(self) -> None:
        running = self.is_running()
        problem = self.run_problem_text()
        self.run_box.show_problem(problem)
        self.run_control.set_state(self.can_run(), problem,
                                   not running and unfinished_run(self.output_folder()) is not None, running)
        self.run_box.set_running(running)
        for widget in (self.model_combo, self.method_list, self.param_form):
            widget.setEnabled(not running)

    def shutdown(self) -> None:
        """Stop a running batch and its worker thread (the window calls this when it closes)."""
        if self._batch_runner is not None:
            self._batch_runner.shutdown()
