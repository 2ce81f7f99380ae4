"""A page's jobs: it hears its own results only, shows progress, and Cancel calls neither handler."""

import threading
import time

import pytest

from xaidesk.gui.runner import Runner
from xaidesk.gui.widgets.panel_jobs import PanelJobs, job_controls


@pytest.fixture
def runner(qtbot):
    r = Runner()
    yield r
    r.shutdown()


def test_a_page_hears_its_own_results_and_failures(qtbot, runner):
    mine, other = PanelJobs(runner, "page.a"), PanelJobs(runner, "page.b")
    got, other_got, failures = [], [], []
    with qtbot.waitSignal(runner.finished, timeout=5000):
        mine.run("x", lambda token, progress: 41 + 1, got.append, failures.append)
    qtbot.waitUntil(lambda: got == [42], timeout=2000)
    assert other_got == [] and not mine.busy and not other.busy

    def broken(token, progress):
        raise ValueError("no")

    with qtbot.waitSignal(runner.failed, timeout=5000):
        mine.run("x", broken, got.append, failures.append)
    assert len(failures) == 1 and got == [42]


def test_cancel_calls_no_handler_and_frees_the_page(qtbot, runner):
    jobs = PanelJobs(runner, "page.c")
    row, button = job_controls(jobs, "Go", lambda: None)
    started = threading.Event()
    got = []

    def slow(token, progress):
        started.set()
        while not token.cancelled:
            time.sleep(0.01)
        token.check()

    cancelled = []
    jobs.run("slow", slow, got.append, got.append, lambda: cancelled.append(True))
    assert jobs.busy
    assert started.wait(5)
    with qtbot.waitSignal(jobs.busy_changed, timeout=5000):
        jobs.cancel()
    assert not jobs.busy and got == [] and cancelled == [True]
    assert "Cancelled" in jobs._status.text()


def test_progress_reaches_the_bar(qtbot, runner):
    jobs = PanelJobs(runner, "page.d")
    row, _ = job_controls(jobs, "Go", lambda: None)
    seen = []
    jobs._progress_bar.valueChanged.connect(seen.append)
    gate = threading.Event()

    def job(token, progress):
        progress(0.5, "half way")
        gate.wait(2)
        return 1

    done = []
    jobs.run("p", job, done.append)
    qtbot.waitUntil(lambda: 50 in seen, timeout=5000)
    assert "half way" in jobs._status.text()
    gate.set()
    qtbot.waitUntil(lambda: done == [1], timeout=5000)
