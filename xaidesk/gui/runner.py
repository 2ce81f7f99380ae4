"""Run long computations on one worker thread and report back to the GUI.

A job is a plain function ``job(token, progress) -> result``. The :class:`Runner`
sends it to its worker (a QObject living in one QThread), and relays progress,
results, failures and cancellations back to the GUI thread as signals.

Jobs run one after the other. Each job belongs to a *channel*; submitting a job
cancels the previous job of the same channel, and signals of a job that is no
longer the current one of its channel are dropped, so a slow old result can never
overwrite a newer one. Channel names follow one convention, ``"<owner>.<job>"``:
the owner is the tab's kind of data or the window part (``"image.explain"``,
``"audio.listen"``, ``"table.preview"``, ``"app.catalog"``), the job says what runs.

Progress messages cross the thread as objects, so a :class:`~xaidesk.core.Step`
keeps its count (``done``, ``total``, ``unit``, ``window``) for the views.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..core import CancelToken, Cancelled, ThrottledProgress, XaideskError

#: Seconds between progress reports that reach the GUI thread (at most 10 per second).
PROGRESS_INTERVAL = 0.1

Job = Callable[[CancelToken, Callable[..., None]], Any]


@dataclass
class JobFailure:
    """What went wrong in a job, ready for an error dialog.

    Attributes
    ----------
    error
        The exception object (an :class:`~xaidesk.core.XaideskError` for errors
        written for people).
    message
        One plain sentence for the person.
    details
        Technical details (the traceback for unexpected errors), or ``None``.
    """

    error: BaseException
    message: str
    details: str | None = None

    @classmethod
    def from_exception(cls, error: BaseException) -> "JobFailure":
        if isinstance(error, XaideskError):
            return cls(error, error.message, error.details)
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        message = f"Something unexpected went wrong ({type(error).__name__}: {error})."
        return cls(error, message, trace)


@dataclass
class _JobRecord:
    job_id: int
    channel: str
    token: CancelToken
    started: float | None = None
    #: Cancelled by :meth:`Runner.cancel` (not superseded or shut down): its partial is kept.
    user_cancelled: bool = False


class _Worker(QObject):
    """Lives in the worker thread and runs one job at a time."""

    progress = Signal(int, float, object, object)
    started = Signal(int)
    finished = Signal(int, object)
    failed = Signal(int, object)
    cancelled = Signal(int, object)

    @Slot(int, object, object)
    def run_job(self, job_id: int, job: Job, token: CancelToken) -> None:
        if token.cancelled:
            self.cancelled.emit(job_id, None)
            return
        self.started.emit(job_id)

        def report(fraction: float, message: str = "", partial: Any = None) -> None:
            # A Step is a str that carries its count; it crosses threads whole (as an object).
            text = message if isinstance(message, str) else str(message)
            self.progress.emit(job_id, float(fraction), text, partial)

        throttled = ThrottledProgress(report, interval=PROGRESS_INTERVAL)
        try:
            result = job(token, throttled)
            token.check()
        except Cancelled as error:
            # Iterative methods attach what they computed so far (``error.partial``).
            self.cancelled.emit(job_id, getattr(error, "partial", None))
        except BaseException as error:  # noqa: BLE001 - every failure must reach the GUI
            self.failed.emit(job_id, JobFailure.from_exception(error))
        else:
            self.finished.emit(job_id, result)


class Runner(QObject):
    """One worker thread that runs jobs and relays their outcome.

    Signals carry the job id first; a signal is emitted only for the current
    job of its channel.

    Signals
    -------
    progress(job_id, fraction, message, partial)
        Throttled to at most 10 per second.
    finished(job_id, result)
    failed(job_id, JobFailure)
    cancelled(job_id)
    stopped(job_id, result)
        A job cancelled with :meth:`cancel` has really stopped, once the worker is done with
        it (``cancelled`` came earlier, at once). ``result`` is the partial result its method
        attached to ``Cancelled`` (``error.partial``), its full result when it finished
        before it saw the cancel, or ``None``. Not emitted for jobs that were superseded by a
        newer job of their channel or stopped by :meth:`shutdown`.
    """

    progress = Signal(int, float, object, object)
    finished = Signal(int, object)
    failed = Signal(int, object)
    cancelled = Signal(int)
    stopped = Signal(int, object)
    _submit = Signal(int, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._jobs: dict[int, _JobRecord] = {}
        self._current: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread = QThread()
        self._thread.setObjectName("xaidesk-worker")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._submit.connect(self._worker.run_job)
        self._worker.started.connect(self._on_started)
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self._thread.start()
        self._closed = False

    # -- public API ---------------------------------------------------------
    @property
    def thread(self) -> QThread:
        """The worker thread (exposed for tests and diagnostics)."""
        return self._thread

    @property
    def closed(self) -> bool:
        """True once :meth:`shutdown` ran; no job can be submitted any more."""
        return self._closed

    def submit(self, job: Job, channel: str = "default") -> int:
        """Queue ``job(token, progress)`` and return its id.

        The previous job of the same channel is cancelled and its outcome dropped.
        """
        if self._closed:
            raise RuntimeError("the runner was shut down")
        job_id = next(self._ids)
        token = CancelToken()
        with self._lock:
            previous = self._current.get(channel)
            if previous is not None and previous in self._jobs:
                self._jobs[previous].token.cancel()
            self._jobs[job_id] = _JobRecord(job_id, channel, token)
            self._current[channel] = job_id
        self._submit.emit(job_id, job, token)
        return job_id

    def cancel(self, job_id: int | None = None, channel: str | None = None) -> None:
        """Cancel one job by id, or the current job of ``channel``.

        The job's token is set (the worker stops at its next check) and, if it
        was the current job of its channel, ``cancelled`` is emitted right away
        so the interface is idle at once; whatever the worker still reports
        for that job is dropped.
        """
        if job_id is None and channel is not None:
            job_id = self._current.get(channel)
        record = self._jobs.get(job_id) if job_id is not None else None
        if record is None:
            return
        record.token.cancel()
        record.user_cancelled = True
        if self._current.get(record.channel) == job_id:
            del self._current[record.channel]
            if not self._closed:
                self.cancelled.emit(job_id)

    def cancel_all(self) -> None:
        """Cancel every job that has not finished."""
        for record in list(self._jobs.values()):
            record.token.cancel()

    def is_current(self, job_id: int) -> bool:
        """Whether ``job_id`` is the newest job of its channel."""
        record = self._jobs.get(job_id)
        return record is not None and self._current.get(record.channel) == job_id

    def is_busy(self, channel: str) -> bool:
        """Whether the channel has a job that is queued or running."""
        job_id = self._current.get(channel)
        return job_id is not None and job_id in self._jobs

    def elapsed(self, job_id: int) -> float:
        """Seconds since the job started running (0 while queued)."""
        record = self._jobs.get(job_id)
        if record is None or record.started is None:
            return 0.0
        return time.monotonic() - record.started

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel all jobs, stop the worker thread and wait for it.

        Returns True if the thread stopped within ``timeout_ms``.
        """
        if self._closed:
            return not self._thread.isRunning()
        self._closed = True
        self.cancel_all()
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if stopped:
            self._worker.deleteLater()
        return stopped

    # -- relays (GUI thread) ------------------------------------------------
    def _on_started(self, job_id: int) -> None:
        record = self._jobs.get(job_id)
        if record is not None:
            record.started = time.monotonic()

    def _done(self, job_id: int) -> bool:
        """Forget a finished job; return whether its outcome should be reported."""
        current = self.is_current(job_id)
        record = self._jobs.pop(job_id, None)
        if current and record is not None:
            self._current.pop(record.channel, None)
        return current and not self._closed

    def _on_progress(self, job_id: int, fraction: float, message: object, partial: object) -> None:
        record = self._jobs.get(job_id)
        if record is None or not self.is_current(job_id) or record.token.cancelled or self._closed:
            return
        self.progress.emit(job_id, fraction, message, partial)

    def _keep(self, record: _JobRecord | None, job_id: int, result: object) -> None:
        if record is not None and record.user_cancelled and not self._closed:
            self.stopped.emit(job_id, result)

    def _on_finished(self, job_id: int, result: object) -> None:
        record = self._jobs.get(job_id)
        cancelled = record is not None and record.token.cancelled
        if cancelled:
            self._keep(record, job_id, result)
        if self._done(job_id):
            if cancelled:
                self.cancelled.emit(job_id)
            else:
                self.finished.emit(job_id, result)

    def _on_failed(self, job_id: int, failure: object) -> None:
        if self._done(job_id):
            self.failed.emit(job_id, failure)

    def _on_cancelled(self, job_id: int, partial: object = None) -> None:
        self._keep(self._jobs.get(job_id), job_id, partial)
        if self._done(job_id):
            self.cancelled.emit(job_id)
