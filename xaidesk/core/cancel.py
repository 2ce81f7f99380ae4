"""Cancellation and progress reporting shared by every long computation.

Compute functions take a :class:`CancelToken` and a progress callable
(Orange3-style state objects); they never know whether a GUI is watching.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Protocol


class Cancelled(Exception):
    """Raised inside a computation when its token was cancelled."""


class CancelToken:
    """A thread-safe flag a worker checks between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled()


class Step(str):
    """A progress message that also carries its count, so that no one parses text back.

    It is the message text itself (a ``str``), with ``done`` of ``total`` ``unit`` and, for
    sounds explained window by window, ``window`` = ``(index, count)`` (1-based). It is immutable,
    since it crosses from the worker thread to the GUI. String operations (``+``, f-strings) give
    plain text without the count: wrap a step with :meth:`in_window` or :meth:`prefixed`.
    """

    done: int | None
    total: int | None
    unit: str
    window: tuple[int, int] | None

    def __new__(cls, text: str, done: int | None = None, total: int | None = None, unit: str = "",
                window: tuple[int, int] | None = None) -> "Step":
        step = super().__new__(cls, text)
        for name, value in (("done", done), ("total", total), ("unit", unit),
                            ("window", None if window is None else (int(window[0]), int(window[1])))):
            object.__setattr__(step, name, value)
        return step

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a progress Step cannot be changed")

    @classmethod
    def count(cls, label: str, done: int, total: int, unit: str = "",
              window: tuple[int, int] | None = None) -> "Step":
        """``"label: done of total"`` (the unit follows when the label does not end with it)."""
        tail = f" {unit}" if unit and not label.rstrip().endswith(unit) else ""
        text = f"{label}: {done} of {total}{tail}" if label else f"{done} of {total}{tail}"
        return cls(text, int(done), int(total), unit, window)

    def in_window(self, index: int, count: int) -> "Step":
        """This step inside window ``index`` of ``count``: ``"window 2 of 5: <text>"``."""
        return Step(f"window {index} of {count}: {self}", self.done, self.total, self.unit, (index, count))

    def prefixed(self, prefix: str) -> "Step":
        """``"prefix: <text>"`` with the same count."""
        return Step(f"{prefix}: {self}", self.done, self.total, self.unit, self.window)

    def __reduce__(self):
        return Step, (str(self), self.done, self.total, self.unit, self.window)


def step_of(message: Any) -> Step | None:
    """The :class:`Step` a progress message carries, or ``None`` for plain text."""
    return message if isinstance(message, Step) else None


class ProgressCallback(Protocol):
    def __call__(self, fraction: float, message: str = "", partial: Any = None) -> None: ...


def no_progress(fraction: float, message: str = "", partial: Any = None) -> None:
    """A progress callback that ignores everything."""


def sub_progress(progress: Callable[..., None], start: float, end: float) -> Callable[..., None]:
    """``progress`` for one stage of the work, mapped onto the share ``start``..``end`` of the whole.

    The fraction is clipped to [0, 1]; the message (a :class:`Step` keeps its count) and any partial
    result pass unchanged.
    """

    def report(fraction: float, message: str = "", partial: Any = None) -> None:
        progress(start + (end - start) * min(max(float(fraction), 0.0), 1.0), message, partial)

    return report


class ThrottledProgress:
    """Forward progress reports at most every ``interval`` seconds.

    The first and the final report (``fraction >= 1``) always pass. A partial
    result that arrives between forwarded reports is kept and sent with the
    next one, so the newest partial is never lost for long.

    Parameters
    ----------
    callback
        The receiving callable ``callback(fraction, message, partial)``.
    interval
        Minimum seconds between forwarded reports.
    clock
        Time source, replaceable in tests.
    """

    def __init__(
        self,
        callback: Callable[..., None],
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self._pending_partial: Any = None

    def __call__(self, fraction: float, message: str = "", partial: Any = None) -> None:
        if partial is not None:
            self._pending_partial = partial
        now = self._clock()
        due = self._last is None or now - self._last >= self._interval or fraction >= 1.0
        if not due:
            return
        self._last = now
        partial, self._pending_partial = self._pending_partial, None
        self._callback(min(max(fraction, 0.0), 1.0), message, partial)
