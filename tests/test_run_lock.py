"""One writer per run folder: a second run into a folder being written is refused; a stale lock is taken over."""

import contextlib
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
from xaidesk.runs import lock
from xaidesk.runs.lock import LOCK_FILE, lock_holder, run_lock

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
    with run_lock(out, owner="run-a:0/4") as handle:
        holder = json.loads(handle.path.read_text())
        assert (holder["host"], holder["pid"], holder["owner"]) == (socket.gethostname(), os.getpid(), "run-a:0/4")
    assert not (out / LOCK_FILE).exists()


def test_a_lock_taken_over_by_a_retry_is_not_removed_by_the_earlier_try(tmp_path):
    out = tmp_path / "shard"
    with run_lock(out, owner="run-a:2/4") as handle:
        assert handle.still_mine()
        later = {"host": "node-3", "pid": 77, "started": "later", "owner": "run-a:2/4"}
        handle.path.write_text(json.dumps(later))  # the retry on node-3 took the lock over meanwhile
        assert not handle.still_mine()
    assert json.loads((out / LOCK_FILE).read_text()) == later
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing left beside it


def test_a_running_try_of_the_same_task_on_this_computer_keeps_its_lock(tmp_path):
    out = tmp_path / "shard"
    out.mkdir()
    running = {"host": socket.gethostname(), "pid": os.getpid(), "started": "now", "owner": "run-a:0/4"}
    (out / LOCK_FILE).write_text(json.dumps(running))
    with pytest.raises(InputError, match="Another run is writing"):
        with run_lock(out, owner="run-a:0/4"):
            pass
    assert json.loads((out / LOCK_FILE).read_text()) == running


@pytest.mark.parametrize("left, owner", [
    ({"host": socket.gethostname(), "pid": None, "started": "then"}, None),  # a dead process of this computer
    ({"host": "node-17", "pid": 1, "started": "then", "owner": "run-a:0/4"}, "run-a:0/4"),  # an earlier try
], ids=["dead-process", "same-task-elsewhere"])
def test_of_two_writers_that_find_the_same_stale_lock_only_one_gets_the_folder(tmp_path, monkeypatch, left, owner):
    out = tmp_path / "shard"
    out.mkdir()
    left = dict(left, pid=left["pid"] or _dead_pid())
    (out / LOCK_FILE).write_text(json.dumps(left))
    judge, first, held = lock._stale, contextlib.ExitStack(), []

    def judge_while_another_takes_over(holder):
        # the second writer has read the stale lock; the first takes it over before the second acts on it
        verdict = judge(holder)
        if not held and holder == left:
            held.append(None)
            held[0] = first.enter_context(run_lock(out, owner=owner))
        return verdict

    monkeypatch.setattr(lock, "_stale", judge_while_another_takes_over)
    with first:
        with pytest.raises(InputError, match="Another run is writing") as refused:
            with run_lock(out, owner=owner):
                pass
        assert f"process {os.getpid()} on {socket.gethostname()}" in refused.value.message
        assert (out / LOCK_FILE).read_text() == held[0].text and held[0].still_mine()
    assert list(out.iterdir()) == []


def test_a_reader_never_finds_the_lock_empty_or_half_written(tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "started": "then"}))
    seen = []

    def look():
        with contextlib.suppress(FileNotFoundError):
            seen.append((out / LOCK_FILE).read_text())

    class Watched:  # the os module of the lock, looking at the lock file before and after every call
        def __getattr__(self, name):
            value = getattr(os, name)
            if not callable(value):
                return value

            def call(*args, **kwargs):
                look()
                try:
                    return value(*args, **kwargs)
                finally:
                    look()
            return call

    monkeypatch.setattr(lock, "os", Watched())
    with run_lock(out, owner="run-a:0/1"):
        look()
    assert len(seen) >= 3
    assert all(isinstance(json.loads(text).get("pid"), int) for text in seen)
    assert seen[-1] != seen[0] and json.loads(seen[-1])["owner"] == "run-a:0/1"


@pytest.mark.parametrize("text", ["", '{"host": "node-3", "pi', "[]"])
def test_a_lock_that_cannot_be_read_yet_is_held_by_someone_unknown(tmp_path, text):
    (tmp_path / LOCK_FILE).write_text(text)
    assert lock_holder(tmp_path) == {lock.UNREADABLE: True}
    assert not lock.holder_gone(lock_holder(tmp_path))
    with pytest.raises(InputError, match=r"\(another run\)"):
        with run_lock(tmp_path, owner="run-a:0/4"):
            pass
    assert (tmp_path / LOCK_FILE).read_text() == text
    assert lock_holder(tmp_path / "nothing") == {}


def test_a_lock_missing_for_a_moment_is_still_the_writers(tmp_path, monkeypatch):
    with run_lock(tmp_path / "run") as handle:
        read, looks = lock._read, []

        def moved_aside_at_first(path):  # another writer's takeover check moved the lock aside and back
            looks.append(path)
            return None if len(looks) == 1 else read(path)

        monkeypatch.setattr(lock, "_read", moved_aside_at_first)
        assert handle.still_mine() and len(looks) == 2
        monkeypatch.setattr(lock, "_read", read)
        handle.path.unlink()
        assert not handle.still_mine()


def test_files_a_crash_left_beside_the_lock_on_this_computer_are_removed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    dead = f"{LOCK_FILE}-new-{_dead_pid()}-0a1b2c3d@{socket.gethostname()}"
    elsewhere = f"{LOCK_FILE}-old-1-0a1b2c3d@node-3"
    for name in (dead, elsewhere):
        (out / name).write_text("{}")
    with run_lock(out):
        assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_FILE, elsewhere])
    assert [p.name for p in out.iterdir()] == [elsewhere]  # another computer's process may still run


def test_a_folder_holding_only_lock_files_counts_as_empty_for_a_new_run(digits, folder, tmp_path):
    from xaidesk.gui import dataset_jobs

    out = tmp_path / "run"
    out.mkdir()
    (out / f"{LOCK_FILE}-old-1-0a1b2c3d@node-3").write_text("{}")  # another computer's side file
    assert dataset_jobs.output_problem(out, folder, [LRP], None) is None
    run_batch(folder, out, digits, [LRP])
    assert len(read_index(out)) == 3
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        run_batch(folder, tmp_path / "other", digits, [LRP])
