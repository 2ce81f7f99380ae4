"""Runners let go while a job that cannot be interrupted still runs (a model load).

A dialog that closes mid-load must not wait for it, and must not take the worker thread
down with it: :func:`retire` stops the runner if it can, else keeps it here until its
thread ends, and waits for any left when the application quits, so no thread outlives it.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QTimer

from ..runner import Runner

#: Runners whose thread was still busy when their dialog closed; dropped once the thread ends.
RETIRED: list[Runner] = []


def retire(runner: Runner) -> None:
    """Stop ``runner`` without waiting for a load that cannot be interrupted (it ends on its own).

    Its thread is waited for when the application quits, so no thread outlives it.
    """
    if runner.shutdown(timeout_ms=50):
        return
    if not RETIRED:
        app = QCoreApplication.instance()
        if app is not None and not getattr(app, "_xaidesk_waits_for_retired", False):
            app.aboutToQuit.connect(_wait_for_retired)
            app._xaidesk_waits_for_retired = True
    RETIRED.append(runner)

    def sweep() -> None:
        for old in list(RETIRED):
            if old.thread.isFinished():
                RETIRED.remove(old)
        if RETIRED:
            QTimer.singleShot(250, sweep)

    QTimer.singleShot(250, sweep)


def _wait_for_retired() -> None:
    for runner in list(RETIRED):
        runner.thread.wait()
    RETIRED.clear()
