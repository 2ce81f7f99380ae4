"""Background jobs owned by one page: submit, show progress, cancel, and hear only one's own results.

A page of a tab (the Tables tab's model pages, for example) runs its own computations in the
window's shared :class:`~xaidesk.gui.runner.Runner`. :class:`PanelJobs` keeps the ids of the
jobs it submitted, so that the page hears its own results and never another page's, and
drives an optional progress bar and Cancel button.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from ..formatting import progress_text


class PanelJobs(QObject):
    """Jobs of one page in the shared runner, each on its own channel.

    Parameters
    ----------
    runner
        The window's :class:`~xaidesk.gui.runner.Runner`.
    prefix
        Unique channel prefix of the page (``"table.shapley"``); a channel is ``prefix.name``.

    Signals
    -------
    busy_changed(bool)
        Whether any of the page's jobs is queued or running.
    """

    busy_changed = Signal(bool)

    def __init__(self, runner, prefix: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.prefix = prefix
        self._handlers: dict[int, tuple[Callable, Callable | None, Callable | None]] = {}
        self._progress_bar: QProgressBar | None = None
        self._status: QLabel | None = None
        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)

    def attach(self, progress_bar: QProgressBar | None = None, status: QLabel | None = None) -> None:
        """Show the page's job progress in ``progress_bar`` and its messages in ``status``."""
        self._progress_bar, self._status = progress_bar, status

    def run(self, name: str, job: Callable[[Any, Any], Any], on_done: Callable[[Any], None],
            on_failed: Callable[[Any], None] | None = None, on_cancelled: Callable[[], None] | None = None) -> int:
        """Submit ``job(token, progress)`` on the channel ``name``, cancelling that channel's previous job.

        ``on_done(result)`` runs when it finishes, ``on_failed(failure)`` when it raises (a
        :class:`~xaidesk.gui.runner.JobFailure`), ``on_cancelled()`` when it is cancelled (by
        :meth:`cancel`; a job replaced by a newer one on its channel calls nothing).
        """
        job_id = self.runner.submit(job, f"{self.prefix}.{name}")
        self._handlers = {k: v for k, v in self._handlers.items() if self.runner.is_current(k)}
        self._handlers[job_id] = (on_done, on_failed, on_cancelled)
        self._show(0.0, "Waiting for the previous job…" if len(self._handlers) > 1 else "Starting…")
        self.busy_changed.emit(True)
        return job_id

    def cancel(self) -> None:
        """Cancel every job of the page."""
        for job_id in list(self._handlers):
            self.runner.cancel(job_id)

    @property
    def busy(self) -> bool:
        return bool(self._handlers)

    def _show(self, fraction: float | None, message: str = "") -> None:
        if self._progress_bar is not None:
            if fraction is None:
                self._progress_bar.setValue(0)
            else:
                self._progress_bar.setValue(int(round(100 * max(0.0, min(1.0, fraction)))))
        if self._status is not None:
            self._status.setText(message)

    def _end(self, job_id: int, message: str) -> tuple[Callable, Callable | None, Callable | None] | None:
        handlers = self._handlers.pop(job_id, None)
        if handlers is not None and not self._handlers:
            self._show(None, message)
            self.busy_changed.emit(False)
        return handlers

    def _on_progress(self, job_id: int, fraction: float, message: object, _partial: object) -> None:
        if job_id in self._handlers:
            self._show(fraction, progress_text(fraction, self.runner.elapsed(job_id), str(message or "")))

    def _on_finished(self, job_id: int, result: object) -> None:
        handlers = self._end(job_id, "Done.")
        if handlers is not None:
            handlers[0](result)

    def _on_failed(self, job_id: int, failure: object) -> None:
        handlers = self._end(job_id, "Stopped with an error.")
        if handlers is not None and handlers[1] is not None:
            handlers[1](failure)

    def _on_cancelled(self, job_id: int) -> None:
        handlers = self._end(job_id, "Cancelled.")
        if handlers is not None and handlers[2] is not None:
            handlers[2]()


def job_controls(jobs: PanelJobs, run_text: str | None = None,
                 run: Callable[[], None] | None = None) -> tuple[QWidget, QPushButton | None]:
    """A row with a run button (when ``run_text`` is given), a Cancel button, a progress bar and a status line,
    wired to ``jobs``.

    Returns the row and its run button (``None`` without one; the page then starts its jobs itself).
    """
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    run_button = None
    if run_text is not None:
        run_button = QPushButton(run_text)
        run_button.clicked.connect(lambda _checked=False: run())
        layout.addWidget(run_button)
    cancel_button = QPushButton("Cancel")
    cancel_button.setEnabled(False)
    cancel_button.clicked.connect(jobs.cancel)
    bar = QProgressBar()
    bar.setRange(0, 100)
    bar.setTextVisible(False)
    bar.setMaximumWidth(160)
    status = QLabel("")
    status.setWordWrap(True)
    jobs.attach(bar, status)
    jobs.busy_changed.connect(cancel_button.setEnabled)
    layout.addWidget(cancel_button)
    layout.addWidget(bar)
    layout.addWidget(status, 1)
    return row, run_button


__all__ = ["PanelJobs", "job_controls"]
