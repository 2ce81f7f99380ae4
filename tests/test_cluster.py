"""The Dask cluster executor: a run split into shard tasks on a local cluster of two worker processes.

The merged run equals the run made here; a worker killed in the middle of a shard still gives the
whole run; a cancelled run resumes without redoing finished items; the CLI form; the message when
Dask is not installed. A shard task run here stops once a retry took its lock over, and goes on
while the submitter's lock cannot be read for a moment.
"""

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

import cloudpickle
import distributed
import numpy as np
import pytest
from PIL import Image

from xaidesk.cli import main as cli_main
from xaidesk.core import CancelToken, Cancelled, InputError
from xaidesk.resources import resource_path
from xaidesk.runs import cluster, execute, read_run, run_batch
from xaidesk.runs.cluster import ShardJob, cluster_command, load_distributed, run_on_cluster, run_shard, shards_folder
from xaidesk.runs.format import INDEX_FILE, read_index_file
from xaidesk.runs.lock import LOCK_FILE, lock_holder, run_lock

MODEL = "demo:digits"
GRAD = "gradient.input_x_gradient"
IG = "gradient.integrated"
METHODS = [GRAD, (IG, {"steps": 8})]
FILES = 12

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the worker hooks below travel by value


def _slow_items(seconds):
    """Worker hook: every batch of a method takes ``seconds`` longer (so a test can act mid-shard)."""
    from xaidesk.runs import execute

    original = getattr(execute, "_unslowed", execute.explain_batched)

    def slowed(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    execute._unslowed = original
    execute.explain_batched = slowed if seconds else original


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Twelve noisy digit images in two class folders (noise: no max-pooling ties between batches)."""
    root = tmp_path_factory.mktemp("cluster") / "data"
    rng = np.random.default_rng(0)
    for k in range(FILES):
        name = f"digits_{(0, 2, 3, 5, 7)[k % 5]}.png"
        pixels = np.asarray(Image.open(resource_path("samples", name)).convert("RGB")).astype(np.int16)
        (root / ("low" if k % 2 else "high")).mkdir(parents=True, exist_ok=True)
        noisy = np.clip(pixels + rng.integers(-6, 7, size=pixels.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / ("low" if k % 2 else "high") / f"{k:02d}_{name}")
    return root


@pytest.fixture(scope="module")
def local(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "run"
    run_batch(folder, out, MODEL, METHODS, batch_size=4)
    return read_run(out)


def assert_same_run(run_dir, local):
    run = read_run(run_dir)
    assert run.finished
    strip = lambda rows: sorted((r.file, r.method, r.predicted, r.target, r.relevance, r.thumbnail) for r in rows)
    assert strip(run.rows) == strip(local.rows) and len(run.rows) == FILES * len(METHODS)
    scores = {r.key: r.score for r in local.rows}
    np.testing.assert_allclose([r.score for r in run.rows], [scores[r.key] for r in run.rows], rtol=1e-5)
    for row in run.rows:
        ours, theirs = np.load(run.folder / row.relevance), np.load(local.folder / row.relevance)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6 * max(1.0, np.abs(theirs).max()))
    assert (run.meta["model"], run.meta["methods"]) == (local.meta["model"], local.meta["methods"])


def item_stamps(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("items/*/*/*.npy")}


def test_the_merged_run_equals_the_run_made_here(client, folder, local, tmp_path):
    seen = []
    result = run_on_cluster(folder, tmp_path / "run", MODEL, METHODS, client=client, shards=4, batch_size=4,
                            progress=lambda f, m, p=None: seen.append((f, m, p)))
    assert (result.files, result.computed, result.already_done, result.finished) == (FILES, FILES * 2, 0, True)
    assert_same_run(tmp_path / "run", local)
    shards = sorted(p.name for p in shards_folder(tmp_path / "run").iterdir())
    assert shards == ["0-of-4", "1-of-4", "2-of-4", "3-of-4"]
    statuses = [p for _, _, p in seen if p is not None]
    assert statuses and statuses[-1].files_total == FILES and statuses[-1].count == FILES * 2
    assert seen[-1][0] == 1.0


def test_a_worker_killed_mid_shard_still_gives_the_whole_run(client, folder, local, tmp_path):
    client.run(_slow_items, 0.3)
    killed = []

    def kill_a_writer(fraction, message, partial=None):
        if killed or partial is None or not partial.rows:
            return
        for shard in sorted(shards_folder(tmp_path / "run").glob("*-of-*")):
            holder, index = lock_holder(shard), shard / "index.csv"
            if holder.get("pid") and index.is_file() and index.stat().st_size > 120:
                os.kill(holder["pid"], signal.SIGKILL)
                killed.append(shard)
                return

    try:
        result = run_on_cluster(folder, tmp_path / "run", MODEL, METHODS, client=client, shards=2, batch_size=1,
                                progress=kill_a_writer)
    finally:
        client.run(_slow_items, 0)
        client.wait_for_workers(2, timeout=60)
    assert len(killed) == 1
    assert result.finished and result.computed + result.already_done == FILES * 2
    assert result.already_done >= 1  # the retry resumed the killed shard after taking its lock over
    assert_same_run(tmp_path / "run", local)
    assert not (killed[0] / LOCK_FILE).exists()


def test_a_cancelled_run_resumes_without_redoing_finished_items(client, folder, local, tmp_path):
    client.run(_slow_items, 0.2)
    token = CancelToken()

    def cancel_after_a_few(fraction, message, partial=None):
        if partial is not None and partial.count >= 4:
            token.cancel()

    out = tmp_path / "run"
    try:
        with pytest.raises(Cancelled):
            run_on_cluster(folder, out, MODEL, METHODS, client=client, shards=3, batch_size=1, token=token,
                           progress=cancel_after_a_few)
    finally:
        client.run(_slow_items, 0)
    root = shards_folder(out)
    assert not out.exists() and not (root / LOCK_FILE).exists()
    assert not any((shard / LOCK_FILE).exists() for shard in root.iterdir())  # the tasks stopped and let go
    before = item_stamps(root)
    assert len(before) >= 4
    with pytest.raises(InputError, match="split into 3 shards"):
        run_on_cluster(folder, out, MODEL, METHODS, client=client, shards=5)
    result = run_on_cluster(folder, out, MODEL, METHODS, client=client, batch_size=1)  # the split is found again
    assert result.already_done == len(before) and result.computed == FILES * 2 - len(before)
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in before.items())
    assert_same_run(out, local)
    again = run_on_cluster(folder, out, MODEL, METHODS, client=client)
    assert (again.computed, again.already_done) == (0, FILES * 2)


def test_the_command_line_runs_on_a_scheduler_address(client, folder, local, tmp_path, capsys):
    out = tmp_path / "run"
    address = client.scheduler.address
    command = cluster_command(folder, out, MODEL, METHODS, address=address, shards=3, batch_size=4)
    words = shlex.split(command)
    assert words[:2] == ["xaidesk", "batch"] and words[words.index("--address") + 1] == address
    assert cli_main(words[1:]) == 0
    assert "24 explanation(s) of 12 file(s)" in capsys.readouterr().out
    assert_same_run(out, local)
    assert cli_main(["batch", str(folder), "--model", MODEL, "--methods", GRAD, "--shard", "0/2", "--executor",
                     "dask", "--out", str(tmp_path / "other")]) == 1
    assert "Give one or the other" in capsys.readouterr().err
    assert cli_main(["batch", str(folder), "--model", MODEL, "--methods", GRAD, "--shards", "4", "--out",
                     str(tmp_path / "other")]) == 1
    assert "--shards is an option of the Dask executor" in capsys.readouterr().err
    assert cli_main(["batch", "--merge", str(out), "--executor", "dask", "--out", str(tmp_path / "merged")]) == 1
    assert "--merge joins finished run folders here" in capsys.readouterr().err


def test_a_folder_holding_something_else_is_refused_before_any_task(client, folder, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        run_on_cluster(folder, tmp_path / "run", MODEL, METHODS, client=client)
    assert not shards_folder(tmp_path / "run").exists() or not any(shards_folder(tmp_path / "run").iterdir())


def test_a_cuda_run_is_refused_when_no_worker_offers_a_gpu(client, folder, tmp_path):
    with pytest.raises(InputError, match="--resources GPU=1"):
        run_on_cluster(folder, tmp_path / "run", MODEL, METHODS, client=client, device="cuda")
    assert not (tmp_path / "run").exists()


def test_without_dask_the_message_says_how_to_install_it(folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(InputError, match=r'pip install "xaidesk\[cluster\]"'):
        run_on_cluster(folder, tmp_path / "run", MODEL, METHODS, workers=1)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with pytest.raises(InputError, match="desktop application does not include"):
        load_distributed()


def test_importing_dataset_mode_does_not_import_dask():
    code = "import sys, xaidesk.runs, xaidesk.runs.cluster, xaidesk.commands.batch; print('dask' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_finished_run_of_other_methods_is_refused_not_reported_complete(client, folder, tmp_path):
    run_on_cluster(folder, tmp_path / "run", MODEL, METHODS, client=client, shards=2, batch_size=4)
    with pytest.raises(InputError, match="another model or other methods"):
        run_on_cluster(folder, tmp_path / "run", MODEL, METHODS[:1], client=client, shards=2, batch_size=4)
    again = run_on_cluster(folder, tmp_path / "run", MODEL, METHODS, client=client, shards=2, batch_size=4)
    assert again.computed == 0 and again.finished


def _shard_job(folder, root, run_id):
    return ShardJob(str(folder), str(root), MODEL, (GRAD,), "cpu", 1, None, False, None, None, run_id)


def test_a_task_whose_lock_a_retry_took_over_stops_without_writing_further_items(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[run_shard.__module__], "FENCE_SECONDS", 0, raising=False)
    root, run_id = tmp_path / "run.shards", "run-a"
    shard, retry = root / "0-of-1", {"host": "node-3", "pid": 77, "started": "later", "owner": f"{run_id}:0/1"}
    computed, taken = [], []  # computed: for each batch, whether the lock was taken over before it
    original = execute.explain_batched

    def counted(*args, **kwargs):
        computed.append(bool(taken))
        return original(*args, **kwargs)

    class TakenOverAfterTheFirstRow(execute.IndexAppender):
        def append(self, row):
            super().append(row)
            if not taken:
                (shard / LOCK_FILE).write_text(json.dumps(retry))  # the retry on node-3 took the lock over
                taken.append(row)

    monkeypatch.setattr(execute, "explain_batched", counted)
    monkeypatch.setattr(execute, "IndexAppender", TakenOverAfterTheFirstRow)
    with run_lock(root, owner=run_id):  # the submitter's lock
        with pytest.raises(Cancelled):
            run_shard(_shard_job(folder, root, run_id), 0, 1)
    assert taken and computed and not any(computed)  # no batch was computed after the lock was lost
    rows = read_index_file(shard / INDEX_FILE)[0]
    assert len(rows) == 1 <= len(computed) < FILES  # only the row indexed before the takeover; nothing after
    assert not read_run(shard).finished
    assert json.loads((shard / LOCK_FILE).read_text()) == retry  # the folder is left to the retry


def test_a_submitter_lock_that_cannot_be_read_for_a_moment_stops_no_task(folder, tmp_path, monkeypatch):
    root, run_id, blanked = tmp_path / "run.shards", "run-b", []
    original = execute.explain_batched

    def blanked_for_a_while(*args, **kwargs):
        if not blanked:
            blanked.append(True)
            time.sleep(0.7)  # the task's watcher has seen the submitter's lock
            text = (root / LOCK_FILE).read_text()
            (root / LOCK_FILE).write_text("")  # as if written again, or not readable on a shared file system
            time.sleep(1.2)  # two looks of the watcher
            (root / LOCK_FILE).write_text(text)
        return original(*args, **kwargs)

    monkeypatch.setattr(execute, "explain_batched", blanked_for_a_while)
    with run_lock(root, owner=run_id):
        result = run_shard(_shard_job(folder, root, run_id), 0, 1)
    assert blanked and result.finished and result.computed == FILES
    assert not (root / "0-of-1" / LOCK_FILE).exists()


def test_a_shard_lock_that_cannot_be_read_yet_counts_as_held(tmp_path):
    (tmp_path / LOCK_FILE).write_text("")  # just created, its text not written yet
    assert cluster._held_by_run(tmp_path, "run-a")
    (tmp_path / LOCK_FILE).write_text(json.dumps({"host": "node-3", "pid": 7, "started": "now", "owner": "run-a:1/2"}))
    assert cluster._held_by_run(tmp_path, "run-a") and not cluster._held_by_run(tmp_path, "run-b")
    (tmp_path / LOCK_FILE).unlink()
    assert not cluster._held_by_run(tmp_path, "run-a")


def _earlier_runs_task_lock(shard, owner):
    """A shard lock held by a live process of this computer (this one) for a task of an earlier run."""
    shard.mkdir(parents=True, exist_ok=True)
    (shard / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": "before",
                                               "owner": owner}))


def test_a_task_waits_for_the_task_of_the_run_it_replaced_to_leave_its_shard(folder, tmp_path):
    root, run_id = tmp_path / "run.shards", "run-new"
    shard = root / "0-of-1"
    _earlier_runs_task_lock(shard, "run-old:0/1")  # its submitter was killed; the run was started again

    def earlier_task_stops():
        time.sleep(1.0)
        (shard / LOCK_FILE).unlink()

    leaving = threading.Thread(target=earlier_task_stops)
    with run_lock(root, owner=run_id):
        leaving.start()
        try:
            result = run_shard(_shard_job(folder, root, run_id), 0, 1)
        finally:
            leaving.join()
    assert result.finished and result.computed == FILES


def test_a_task_does_not_wait_for_a_lock_of_its_own_run_or_of_a_run_still_submitted(folder, tmp_path, monkeypatch):
    from xaidesk.runs import cluster_tasks

    monkeypatch.setattr(cluster_tasks, "SUPERSEDED_WAIT_SECONDS", 0.5)
    root = tmp_path / "run.shards"
    _earlier_runs_task_lock(root / "0-of-1", "run-old:0/1")
    with run_lock(root, owner="run-old"):  # the earlier run is still the submitted one: no waiting, refused
        started = time.monotonic()
        with pytest.raises(InputError, match="Another run is writing"):
            run_shard(_shard_job(folder, root, "run-new"), 0, 1)
        assert time.monotonic() - started < 0.5
    with run_lock(root, owner="run-new"):  # it never leaves: refused after the wait, with the usual sentence
        with pytest.raises(InputError, match="Another run is writing"):
            run_shard(_shard_job(folder, root, "run-new"), 0, 1)


def test_a_task_does_not_wait_for_a_replaced_runs_task_that_is_gone(folder, tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    root, shard = tmp_path / "run.shards", tmp_path / "run.shards" / "0-of-1"
    shard.mkdir(parents=True)
    (shard / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": int(done.stdout),
                                               "started": "before", "owner": "run-old:0/1"}))
    with run_lock(root, owner="run-new"):
        started = time.monotonic()
        result = run_shard(_shard_job(folder, root, "run-new"), 0, 1)
    assert result.finished and time.monotonic() - started < 30  # taken over at once, not after the two minutes
