"""The run row of the Dataset tab's "Reference samples…": Run, Cancel, the progress and what the run is doing.

A reference run goes through the whole folder, so it runs on a worker thread of its own (a :class:`Runner`
without a parent: a run still stopping when the window goes must not take it along), and the other tabs stay
usable. Cancel keeps the images done; the stopped run's folder is handed on once its worker has let go of it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ...runs import BatchStatus
from ..runner import Runner
from ..widgets import error_dialog
from ..widgets.retired_runners import retire
from ..wording import plural
from .tab_pieces import make_progress_bar

RUN_NOTE = "Cancel (or closing this window) keeps the images done; Run again continues where the run stopped."


class ReferenceRunRow(QWidget):
    """Run, Cancel, a progress bar and a status line over a note, for one reference run at a time.

    Signals
    -------
    finished(object)
        The run finished; its :class:`~xaidesk.concepts.references.ConceptReferences`.
    stopped(object)
        A cancelled run has stopped; the folder it was writing (a :class:`~pathlib.Path`, or None).
    state_changed()
        A run started or ended (the window updates its buttons).
    """

    finished = Signal(object)
    stopped = Signal(object)
    state_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._run_runner: Runner | None = None
        self._job: int | None = None
        self._into: Path | None = None  # the folder of the run in progress (or stopping)
        self._stopping: int | None = None
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run the folder through the model once, recording this layer's concepts.")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the run; the images done are kept and Run continues it.")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = make_progress_bar()
        self.progress_bar.setMaximumWidth(200)
        self.status = QLabel("Loading the model …")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress_bar)
        row.addWidget(self.status, 1)
        note = QLabel(RUN_NOTE)
        note.setObjectName("notes")
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(note)

    def is_running(self) -> bool:
        return self._job is not None

    def is_stopping(self) -> bool:
        return self._stopping is not None

    def _runner(self) -> Runner:
        if self._run_runner is None or self._run_runner.closed:
            self._run_runner = Runner()  # no parent: a run still stopping when the window goes must not take it along
            self._run_runner.progress.connect(self._on_progress)
            self._run_runner.finished.connect(self._on_finished)
            self._run_runner.failed.connect(self._on_failed)
            self._run_runner.cancelled.connect(self._on_cancelled)
            self._run_runner.stopped.connect(self._on_stopped)
        return self._run_runner

    def start(self, job, into: Path | None) -> int:
        """Submit ``job(token, progress)``, which writes the run into the folder ``into``; returns its id."""
        self._into = into
        self._job = self._runner().submit(job, "dataset.references.run")
        self.progress_bar.setValue(0)
        self.status.setText("Starting …")
        return self._job

    def cancel(self) -> None:
        if self._job is None:
            return
        self._stopping = self._job
        self._runner().cancel(self._job)

    def stop(self) -> None:
        """Cancel the run and let its worker thread go (what is done stays on disk)."""
        self.cancel()
        if self._run_runner is not None and not self._run_runner.closed:
            retire(self._run_runner)

    def _on_progress(self, job_id: int, fraction: float, message, partial) -> None:
        if job_id != self._job:
            return
        self.progress_bar.setValue(int(round(1000 * fraction)))
        text = str(message or "")
        if isinstance(partial, BatchStatus) and partial.skipped:
            text += f" · {plural(partial.skipped, 'file')} could not be read"
        self.status.setText(text)

    def _on_finished(self, job_id: int, references) -> None:
        if job_id != self._job:
            return
        self._job = None
        self.progress_bar.setValue(1000)
        self.status.setText(f"Done: {plural(len(references.files), 'image')} recorded at layer {references.layer}.")
        self.finished.emit(references)

    def _on_failed(self, job_id: int, failure) -> None:
        if job_id != self._job:
            return
        self._job = None
        self.status.setText(f"The run stopped: {failure.message}")
        self.state_changed.emit()
        error_dialog.show_error(self.window(), "The reference run could not go on", failure)

    def _on_cancelled(self, job_id: int) -> None:
        if job_id != self._job:
            return
        self._job = None
        self.status.setText("Cancelling – the images done so far are kept …")
        self.state_changed.emit()

    def _on_stopped(self, job_id: int, _result) -> None:
        if job_id != self._stopping:
            return
        self._stopping = None
        self.status.setText("Cancelled – the images done so far are kept; press Run to continue where it stopped.")
        self.stopped.emit(self._into)


__all__ = ["RUN_NOTE", "ReferenceRunRow"]
