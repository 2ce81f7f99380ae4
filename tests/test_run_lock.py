"""One writer per run folder: a second run into a folder being written is refused; a stale lock is taken over."""

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from xaidesk.core import CancelToken, Cancelled, InputError
from xaidesk.models import load_model
from xaidesk.resources import resource_path
from xaidesk.runs.execute import run_batch
from xaidesk.runs.format import read_index
from xaidesk.runs.lock import LOCK_FILE, run_lock

LRP = "lrp.epsilon_plus_flat"


@pytest.fixture(scope="module")
def digits():
    return load_model("demo:digits")


@pytest.fixture
def folder(tmp_path):
    import shutil

    root = tmp_path / "data"
    root.mkdir()
    for name in ("digits_0.png", "digits_2.png", "digits_3.png"):
        shutil.copy(resource_path("samples", name), root / name)
    return root


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_run_leaves_no_lock_and_a_second_writer_is_refused_while_one_writes(digits, folder, tmp_path):
    out = tmp_path / "run"
    run_batch(folder, out, digits, [LRP])
    assert not (out / LOCK_FILE).exists() and len(read_index(out)) == 3
    started, release = threading.Event(), threading.Event()

    def hold():
        with run_lock(out):
            started.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    started.wait(10)
    try:
        with pytest.raises(InputError, match="Another run is writing into") as refused:
            run_batch(folder, out, digits, [LRP])
        assert f"process {os.getpid()} on {socket.gethostname()}" in refused.value.message
        assert len(read_index(out)) == 3  # the refused run changed nothing
    finally:
        release.set()
        holder.join()
    assert not (out / LOCK_FILE).exists()


def test_a_lock_left_by_a_process_that_is_gone_is_taken_over(digits, folder, tmp_path):
    out = tmp_path / "fresh"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "started": "then"}))
    result = run_batch(folder, out, digits, [LRP])
    assert result.computed == 3 and not (out / LOCK_FILE).exists()


def test_a_lock_of_another_computer_is_never_taken_over(digits, folder, tmp_path):
    out = tmp_path / "shared"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"host": "node-17", "pid": 1, "started": "2026-12-07T10:00:00"}))
    with pytest.raises(InputError, match="process 1 on node-17, since 2026-12-07T10:00:00.*delete"):
        run_batch(folder, out, digits, [LRP])
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]


def test_a_cancelled_run_releases_its_lock(digits, folder, tmp_path):
    token = CancelToken()
    seen = []

    def cancel_once_started(fraction, message, partial=None):
        # the first report with a status comes once the folder is locked, before the first file
        if partial is not None and not token.cancelled:
            seen.append((tmp_path / "run" / LOCK_FILE).exists())
            token.cancel()

    with pytest.raises(Cancelled):
        run_batch(folder, tmp_path / "run", digits, [LRP], token=token, batch_size=1,
                  progress=cancel_once_started)
    assert seen == [True]
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_a_lock_of_another_computer_is_taken_over_only_by_a_retry_of_the_same_task(tmp_path):
    out = tmp_path / "shard"
    out.mkdir()
    left = {"host": "node-17", "pid": 1, "started": "2026-12-07T10:00:00", "owner": "run-a:0/4"}
    (out / LOCK_FILE).write_text(json.dumps(left))
    for other in (None, "run-b:0/4", "run-a:1/4"):
        with pytest.raises(InputError, match="process 1 on node-17"):
            with run_lock(out, owner=other):
                pass
        assert json.loads((out / LOCK_FILE).read_text()) == left
    with run_lock(out, owner="run-a:0/4") as path:
        holder = json.loads(path.read_text())
        assert (holder["host"], holder["pid"], holder["owner"]) == (socket.gethostname(), os.getpid(), "run-a:0/4")
    assert not (out / LOCK_FILE).exists()


def test_a_lock_taken_over_by_a_retry_is_not_removed_by_the_earlier_try(tmp_path):
    out = tmp_path / "shard"
    with run_lock(out, owner="run-a:2/4") as path:
        later = {"host": "node-3", "pid": 77, "started": "later", "owner": "run-a:2/4"}
        path.write_text(json.dumps(later))  # the retry on node-3 took the lock over meanwhile
    assert json.loads((out / LOCK_FILE).read_text()) == later


def test_a_running_try_of_the_same_task_on_this_computer_keeps_its_lock(tmp_path):
    out = tmp_path / "shard"
    out.mkdir()
    running = {"host": socket.gethostname(), "pid": os.getpid(), "started": "now", "owner": "run-a:0/4"}
    (out / LOCK_FILE).write_text(json.dumps(running))
    with pytest.raises(InputError, match="Another run is writing"):
        with run_lock(out, owner="run-a:0/4"):
            pass
    assert json.loads((out / LOCK_FILE).read_text()) == running
