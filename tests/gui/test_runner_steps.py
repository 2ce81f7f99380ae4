"""A progress Step crosses from the worker thread to the GUI with its count."""

from __future__ import annotations

from xaidesk.core import Step, step_of
from xaidesk.gui.runner import Runner


def test_a_step_reaches_the_gui_thread_with_its_count(qtbot):
    runner = Runner()
    received = []
    runner.progress.connect(lambda job_id, fraction, message, partial: received.append(message))

    def job(token, progress):
        progress(0.5, Step.count("RELAX: masks", 840, 3000, unit="masks", window=(2, 5)))
        return "done"

    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.submit(job, "test.steps")
    try:
        step = step_of(received[0])
        assert step is not None and (step.done, step.total, step.unit, step.window) == (840, 3000, "masks", (2, 5))
        assert received[0] == "RELAX: masks: 840 of 3000"
    finally:
        runner.shutdown()
