"""The worker side of a cluster run (:mod:`xaidesk.runs.cluster`): the task that runs one shard.

A task runs a resumable :func:`~xaidesk.runs.execute.run_batch` into its shard folder, holding that
folder's lock with the run and shard as its owner. Its cancel token stops it between items when:

- the run's stop file appears, or the submitter's lock, once seen naming the run, names another
  run or is gone (the run was cancelled or failed). A lock that exists but cannot be read yet is
  held by someone unknown: it stops nothing;
- its own shard lock is no longer its own: a retry of the task took it over because the scheduler
  lost this worker, which is still running (cut off, not dead). It then writes no further item and
  no index, like a cancelled run, and leaves the folder to the retry.

A task whose shard folder is still locked by a task of an earlier run of the same folder, which the
submitter's lock no longer names (the earlier submitter was killed and the run was started again),
waits up to :data:`SUPERSEDED_WAIT_SECONDS` for that task to notice and stop, instead of failing.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..core import CancelToken, Cancelled
from .execute import BatchResult, run_batch
from .lock import UNREADABLE, held_lock, holder_gone, lock_holder

#: The shortest time between two looks at a task's own shard lock from its cancel checks.
FENCE_SECONDS = 1.0
#: How long a task waits for the task of a superseded run to leave its shard folder (it stops between items).
SUPERSEDED_WAIT_SECONDS = 120.0


@dataclass(frozen=True)
class ShardJob:
    """What one task needs to run its shard (plain data; travels to the worker)."""

    source: str
    shards_root: str
    model: str
    methods: tuple
    device: str
    batch_size: int
    target: int | None
    trust: bool
    labels: str | None
    preprocessing: object
    run_id: str


def shard_folder(root: Path, i: int, n: int) -> Path:
    return Path(root) / f"{i:0{len(str(n - 1))}d}-of-{n}"


def stop_file(root: Path, run_id: str) -> Path:
    """The file whose presence tells the tasks of run ``run_id`` to stop (written when the run is cancelled)."""
    return Path(root) / f".stop-{run_id}"


def submitter_left(root: Path, run_id: str) -> bool | None:
    """Whether the submitter's lock in ``root`` no longer names run ``run_id``: True when it is gone or names
    another run, False while it names the run, None while it cannot be read. A lock missing for a moment (a
    takeover check moved it aside) is looked at again."""
    for wait in (0.1, 0.0):
        holder = lock_holder(root)
        if holder.get(UNREADABLE):
            return None
        if holder:
            return holder.get("owner") != run_id
        time.sleep(wait)
    return True


class _WatchRun(CancelToken):
    """A cancel token that fires when the run's stop file appears in ``root``, once the submitter's lock
    there, seen naming this run, no longer does, or once the lock of ``shard_dir`` this process holds is no
    longer its own (checked by a thread, and by :meth:`check` at most every :data:`FENCE_SECONDS`)."""

    def __init__(self, root: Path, run_id: str, shard_dir: Path, interval: float = 0.5) -> None:
        super().__init__()
        self._shard_dir = Path(shard_dir)
        self._fenced_at = 0.0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(root, run_id, interval), daemon=True)
        self._thread.start()

    def _lost_lock(self) -> bool:
        handle = held_lock(self._shard_dir)
        return handle is not None and not handle.still_mine()

    def _watch(self, root: Path, run_id: str, interval: float) -> None:
        seen = False  # a shared file system may show the lock late: only a lock once seen can go
        while not self._stopped.wait(interval):
            if stop_file(root, run_id).exists() or self._lost_lock():
                return self.cancel()
            left = submitter_left(root, run_id)
            if left is False:
                seen = True
            elif left and seen:
                return self.cancel()

    def check(self) -> None:
        if not self.cancelled and time.monotonic() - self._fenced_at >= FENCE_SECONDS:
            self._fenced_at = time.monotonic()
            if self._lost_lock():
                self.cancel()
        super().check()

    def close(self) -> None:
        self._stopped.set()
        self._thread.join()


def _undo_malloc_trim() -> None:
    """Give this worker process glibc's usual heap thresholds again (once). Dask sets ``MALLOC_TRIM_THRESHOLD_``
    for its workers; that also stops glibc from raising its mmap threshold, so every array over 128 KiB is a
    fresh mapping, and torch on the CPU computed 1.6x slower (``bench/bench_cluster.py``)."""
    if _malloc_done or not sys.platform.startswith("linux") or "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    _malloc_done.append(True)
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD: the top of glibc's own sliding threshold
        libc.mallopt(-1, 64 * 1024 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


_malloc_done: list = []
_loaded = threading.local()  # the model of this worker thread's current run: loaded once, not once per shard


def _model_of(job: ShardJob):
    cached = getattr(_loaded, "entry", None)
    if cached is None or cached[0] != job.run_id:
        from ..models import load_model

        _loaded.entry = None
        _loaded.entry = (job.run_id, load_model(job.model, trust=job.trust, labels=job.labels,
                                                preprocessing=job.preprocessing))
    return _loaded.entry[1]


def _superseded_task(folder: Path, root: Path, run_id: str) -> bool:
    """Whether ``folder`` is locked by a live task of another run while the submitter's lock names ``run_id``."""
    holder = lock_holder(folder)
    run, colon, _ = str(holder.get("owner", "")).partition(":")
    return bool(colon) and run != run_id and not holder_gone(holder) and lock_holder(root).get("owner") == run_id


def _wait_for_superseded_task(folder: Path, root: Path, run_id: str, token: CancelToken) -> None:
    """Wait while a task of a run that this run replaced still holds ``folder`` (it stops by itself between items);
    afterwards the lock is taken as usual, and refused with the usual sentence if it is still held."""
    deadline = time.monotonic() + SUPERSEDED_WAIT_SECONDS
    while _superseded_task(folder, root, run_id) and time.monotonic() < deadline:
        token.check()
        time.sleep(0.2)


def run_shard(job: ShardJob, i: int, n: int) -> BatchResult:
    """The task of shard ``i`` of ``n``: a resumable :func:`run_batch` into its shard folder (the model is
    loaded once per worker thread and run: a worker runs several shards of a run)."""
    _undo_malloc_trim()
    root = Path(job.shards_root)
    if stop_file(root, job.run_id).exists():  # a task that starts after its run was cancelled
        raise Cancelled()
    folder = shard_folder(root, i, n)
    token = _WatchRun(root, job.run_id, folder)
    try:
        _wait_for_superseded_task(folder, root, job.run_id, token)
        return run_batch(job.source, folder, _model_of(job), list(job.methods), device=job.device,
                         shard=(i, n), batch_size=job.batch_size, target=job.target, token=token,
                         lock_owner=f"{job.run_id}:{i}/{n}")
    finally:
        token.close()


__all__ = ["FENCE_SECONDS", "SUPERSEDED_WAIT_SECONDS", "ShardJob", "run_shard", "shard_folder", "stop_file", "submitter_left"]
