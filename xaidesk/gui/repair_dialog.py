""""Correct, prune or fine-tune…": remove an artefact from a model, prune it, or fine-tune it, then compare.

The dialog is a composition of four sections (:mod:`xaidesk.gui.panels.repair_artefact`,
``repair_method``, ``repair_data``, ``repair_compare``) around one Run button. The repairs, their
titles, help and settings all come from the registry (:func:`xaidesk.repair.methods.list_repairs`);
the work runs on the dialog's own :class:`~xaidesk.gui.runner.Runner` (progress, time left, Cancel)
through :func:`xaidesk.gui.repair_jobs.repair_job`, which writes the corrected model as a new
``model.safetensors``. "Open the corrected model" emits :attr:`RepairDialog.open_model_requested`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .formatting import progress_text
from .panels.repair_artefact import RepairArtefactPanel
from .panels.repair_compare import RepairComparePanel
from .panels.repair_data import RepairDataPanel
from .panels.repair_method import RepairMethodPanel
from .repair_jobs import (
    RepairPlan,
    TickedImages,
    default_output_folder,
    measures_artefact,
    method_title,
    needs_data,
    plan_problems,
    repair_job,
)
from .repair_wording import artefact_note, cancelled_text, data_note, finished_text, output_note, run_tooltip
from .runner import JobFailure, Runner
from .widgets import error_dialog

#: The runner channels of the dialog's jobs (``"<owner>.<job>"``).
MODEL, RUN = "repair.model", "repair.run"


def _model_job(spec: str | None, model):
    """A job: load ``spec`` (unless ``model`` is given) and list the layers a repair can work in."""
    def job(token, progress):
        from xaidesk.models import load_model
        from xaidesk.models.probe import list_probe_layers

        from .catalog import configure_torch_threads

        configure_torch_threads()
        loaded = model if model is not None else load_model(spec)
        return loaded, list_probe_layers(loaded)

    return job


class RepairDialog(QDialog):
    """Choose what to remove, a method and the data; run; compare before and after.

    Parameters
    ----------
    model
        The loaded model of the tab the dialog was opened from (or ``None``).
    spec
        A model spec to load when no ``model`` is given (the SpRAy run's model).
    preset
        ``(TickedImages, target)`` from the SpRAy view's cluster, or ``None``.

    Signals
    -------
    open_model_requested(str)
        ``file:PATH`` of the corrected model.
    """

    open_model_requested = Signal(str)

    def __init__(self, model=None, spec: str | None = None, preset: tuple[TickedImages, int] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Correct, prune or fine-tune the model")
        self.model = None
        self.outcome = None
        self._out_chosen = False
        self._default_out = None
        self._jobs: dict[str, int] = {}
        self._running_plan: RepairPlan | None = None
        self.runner = Runner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self._build()
        if preset is not None:
            self.artefact.preset_files(*preset)
        self._on_method_changed(self.method.name())
        self.resize(1220, 840)
        if model is not None or spec:
            self.load_model(spec or model.spec, model)
        else:
            self.status_label.setText("No model: open an image model in the Images tab first.")
        self._update_enabled()

    # ------------------------------------------------------------ layout
    def _build(self) -> None:
        self.model_label = QLabel("Model: loading…")
        self.model_label.setObjectName("viewTitle")
        self.model_label.setWordWrap(True)
        self.artefact = RepairArtefactPanel()
        self.method = RepairMethodPanel()
        self.data = RepairDataPanel()
        self.compare = RepairComparePanel()
        self.compare.open_model_requested.connect(self.open_model_requested)
        self.method.method_changed.connect(self._on_method_changed)
        for panel in (self.artefact, self.data):
            panel.changed.connect(self._update_enabled)
        self.method.form.changed.connect(self._update_enabled)

        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the run; a training run resumes from its checkpoint when run again.")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(10)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.missing_label = QLabel("")
        self.missing_label.setWordWrap(True)
        self.missing_label.setObjectName("missingNote")
        self.missing_label.setStyleSheet("color: #a15c00;")
        run_row = QHBoxLayout()
        run_row.addWidget(QLabel("4."))
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress_bar, 1)

        inputs = QWidget()
        column = QVBoxLayout(inputs)
        column.setContentsMargins(0, 0, 4, 0)
        column.addWidget(self.method)
        column.addWidget(self.artefact)
        column.addStretch(1)
        left = QScrollArea()
        left.setWidgetResizable(True)
        left.setWidget(inputs)
        left.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 0, 0, 0)
        right_layout.addWidget(self.data)
        right_layout.addWidget(self.missing_label)
        right_layout.addLayout(run_row)
        right_layout.addWidget(self.status_label)
        right_layout.addWidget(self.compare, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([600, 580])
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.model_label)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)

    # ------------------------------------------------------------ model
    def load_model(self, spec: str, model=None) -> int:
        """Load ``spec`` (or take the loaded ``model``) and list its layers in the background."""
        self.model = None
        self.model_label.setText(f"Model: loading {spec} …")
        self._jobs[MODEL] = self.runner.submit(_model_job(spec, model), MODEL)
        self._update_enabled()
        return self._jobs[MODEL]

    def _model_ready(self, result) -> None:
        from ..core import XaideskError
        from ..repair.result import check_editable

        model, layers = result
        try:
            check_editable(model)
        except XaideskError as error:
            self.model_label.setText(f"Model: {model.name}. {error.message}")
            self._update_enabled()
            return
        self.model = model
        self.model_label.setText(f"Model: {model.name} ({model.spec}) · {len(model.class_names)} classes. "
                                 "The original is never changed: the corrected model is saved as a new file.")
        self.artefact.set_model(model)
        self.data.set_model(model)
        self.method.set_layers(layers)
        if not self._out_chosen:
            self._set_default_output()
        self._on_method_changed(self.method.name())

    def _set_default_output(self) -> None:
        if self.model is not None and self.method.name():
            self._default_out = default_output_folder(self.model, self.method.name())
            self.data.out_edit.blockSignals(True)
            self.data.set_output(self._default_out)
            self.data.out_edit.blockSignals(False)

    # ------------------------------------------------------------ choices
    def _on_method_changed(self, name: str) -> None:
        if not name:
            return
        self.artefact.set_needed(measures_artefact(name), artefact_note(name))
        self.data.set_needed(needs_data(name), data_note(name))
        if not self._out_chosen:
            self._set_default_output()
        self._update_enabled()

    def plan(self) -> RepairPlan:
        """The person's choices as one plan."""
        out = self.data.output()
        return RepairPlan(method=self.method.name(), params=self.method.params(), model=self.model,
                          out=out if out is not None else "", artefact=self.artefact.choice(),
                          target=self.artefact.target(), data=self.data.choice())

    def problems(self) -> list[str]:
        return plan_problems(self.plan())

    def _update_enabled(self) -> None:
        running = self.runner.is_busy(RUN)
        if self.model is not None and self.method.name():
            self.data.out_note.setText(output_note(self.method.name(), self.data.output() or ""))
            self._out_chosen = self.data.output() not in (None, self._default_out)
        loading = self.runner.is_busy(MODEL)
        problems = [] if running else ["Wait until the model is loaded."] if loading else self.problems()
        self.missing_label.setText(" ".join(problems))
        self.missing_label.setVisible(bool(problems))
        self.run_button.setEnabled(not running and not problems)
        self.run_button.setToolTip("The repair is running; Cancel stops it." if running else
                                   run_tooltip(problems, method_title(self.method.name() or "")))
        self.cancel_button.setEnabled(running)
        for panel in (self.artefact, self.method, self.data):
            panel.setEnabled(not running)
        for button in (self.compare.open_button, self.compare.files_button):  # the last result's, not this run's
            button.setEnabled(not running and self.compare.outcome is not None)

    # ------------------------------------------------------------ running
    def run(self) -> int | None:
        """Run the chosen repair in the background; returns the job id (``None`` when something is missing)."""
        plan = self.plan()
        if plan_problems(plan) or self.runner.is_busy(RUN):
            return None
        self._running_plan = plan
        self.progress_bar.setValue(0)
        self.status_label.setText("Starting …")
        self._jobs[RUN] = self.runner.submit(repair_job(plan), RUN)
        self._update_enabled()
        return self._jobs[RUN]

    def cancel(self) -> None:
        self.runner.cancel(channel=RUN)

    def corrected_model_name(self) -> str | None:
        """The name of the last corrected model (shown where it is opened), or ``None``."""
        return self.outcome.result.model.name if self.outcome is not None else None

    def is_running(self) -> bool:
        return self.runner.is_busy(RUN)

    # ------------------------------------------------------------ runner relays
    def _channel(self, job_id: int) -> str | None:
        return next((channel for channel, current in self._jobs.items() if current == job_id), None)

    def _on_progress(self, job_id: int, fraction: float, message: str, partial) -> None:
        if self._channel(job_id) == RUN:
            self.progress_bar.setValue(int(1000 * max(0.0, min(1.0, fraction))))
            self.status_label.setText(progress_text(fraction, self.runner.elapsed(job_id), message))

    def _on_finished(self, job_id: int, result) -> None:
        channel = self._channel(job_id)
        if channel == MODEL:
            self._model_ready(result)
        elif channel == RUN:
            self.outcome = result
            self.progress_bar.setValue(1000)
            self.status_label.setText(finished_text(result))
            self.compare.show_outcome(result)
            if not self._out_chosen:  # the next run goes to a new folder; this one is kept
                self._set_default_output()
        self._update_enabled()

    def _on_failed(self, job_id: int, failure: JobFailure) -> None:
        channel = self._channel(job_id)
        if channel == MODEL:
            self.model_label.setText("Model: could not be loaded.")
            error_dialog.show_error(self, "Could not load the model", failure)
        elif channel == RUN:
            self.progress_bar.setValue(0)
            self.status_label.setText("The run stopped with an error; your choices are kept.")
            error_dialog.show_error(self, "Could not correct the model", failure)
        self._update_enabled()

    def _on_cancelled(self, job_id: int) -> None:
        if self._channel(job_id) == RUN and self._running_plan is not None:
            self.progress_bar.setValue(0)
            self.status_label.setText(cancelled_text(self._running_plan.method, self._running_plan.out))
        self._update_enabled()

    # ------------------------------------------------------------ closing
    def done(self, result: int) -> None:
        self.runner.shutdown()
        super().done(result)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.runner.shutdown()
        super().closeEvent(event)
