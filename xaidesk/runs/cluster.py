"""Dataset runs handed to a Dask cluster: one task per shard, merged into one run folder.

:func:`run_on_cluster` splits a folder into shards, runs each shard as one Dask task (a
:func:`~xaidesk.runs.execute.run_batch` into its own run folder, ``OUT.shards/<i>-of-<n>``), reports
progress from the shards' indexes while they run, and merges them into the run folder ``OUT`` when
all are done. Running it again resumes: finished shards are kept, partial ones resume, and a run
whose ``OUT`` was merged already is reported as done.

Safety: the submitting process holds ``OUT.shards/.lock`` for the run (a second submitter is
refused), and each task holds its shard folder's lock, naming the run and shard as its owner. When a
worker dies, Dask runs the task again elsewhere; that retry takes the dead try's lock over (same
owner), on any computer. Tasks stop between items once the submitter's lock no longer names their
run (the run was cancelled or failed), and once their own shard lock is no longer theirs (a retry
took it over from a worker that was cut off but still runs); a lock that cannot be read yet counts
as held, never as gone. The task itself is :mod:`xaidesk.runs.cluster_tasks`. Dask is imported
inside the functions, so importing :mod:`xaidesk.runs` never imports it; see ``docs/cluster.md``.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from pathlib import Path
from typing import Sequence

from ..core import CancelToken, InputError, no_progress
from ..core.io import check_output_folder
from .cluster_tasks import ShardJob, run_shard, shard_folder, stop_file
from .execute import DEFAULT_BATCH_SIZE, BatchResult, BatchStatus, format_seconds
from .format import INDEX_FILE, SKIPPED_FILE, IndexRow, MethodRequest, read_index_file, read_meta, read_skipped
from .lock import UNREADABLE, LockHandle, holder_gone, lock_holder, run_lock
from .merge import merge_runs
from .scan import check_source

#: Shards per worker thread when no split is given (small shards balance the load and lose little to a crash).
SHARDS_PER_SLOT = 3
POLL_SECONDS = 0.25
INSTALL = 'pip install "xaidesk[cluster]"'
_SHARD_NAME = re.compile(r"^(\d+)-of-(\d+)$")
_PATH_KINDS = {"file", "hf", "onnx", "probe", "vggish"}
_ARCH_PATH_KINDS = {"torchvision", "timm"}


def load_distributed():
    """The ``distributed`` module; :class:`InputError` saying how to install it when it is missing."""
    try:
        import distributed
    except ImportError:
        if getattr(sys, "frozen", False):
            raise InputError("The desktop application does not include the Dask cluster executor. Install xaidesk "
                             f"with pip on the computer that submits the run ({INSTALL}) and run "
                             "'xaidesk batch --executor dask' there.") from None
        raise InputError("The Dask cluster executor needs Dask distributed, which is not installed. Install it with "
                         f"{INSTALL}, or run without --executor dask.") from None
    return distributed


def shards_folder(out) -> Path:
    """Where the shard run folders of the run ``out`` are written: ``OUT.shards`` beside it."""
    out = Path(out).expanduser().resolve()
    return out.with_name(out.name + ".shards")


def existing_split(root: Path) -> int | None:
    """The number of shards the shard folders under ``root`` were split into, or None when there are none."""
    counts = {int(m.group(2)) for p in (root.iterdir() if root.is_dir() else ())
              if p.is_dir() and (m := _SHARD_NAME.match(p.name))}
    if len(counts) > 1:
        raise InputError(f"'{root}' holds shards of different splits ({', '.join(map(str, sorted(counts)))} shards). "
                         "Remove the folders of the split you no longer want, or choose another output folder.")
    return counts.pop() if counts else None


def absolute_spec(spec: str) -> str:
    """A model spec whose file part is absolute, so that workers started in other folders find it."""
    kind, sep, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind in _ARCH_PATH_KINDS:
        arch, colon, path = rest.partition(":")
        if colon and path.strip():
            return f"{kind}:{arch}:{Path(path.strip()).expanduser().resolve()}"
    elif kind in _PATH_KINDS and rest.strip():
        return f"{kind}:{Path(rest.strip()).expanduser().resolve()}"
    return spec.strip()


class _ShardProgress:
    """The rows and skipped files of the shard folders, re-read from a shard whenever its files change."""

    def __init__(self, folders: Sequence[Path], methods: int) -> None:
        self.folders = list(folders)
        self.methods = methods
        self.rows: list[IndexRow] = []
        self.complete_files = 0
        self._keys: set[tuple[str, str]] = set()
        self._per_file: dict[str, int] = {}
        self._skipped: dict[Path, set[str]] = {}
        self._stamps: dict[Path, tuple] = {}

    def _changed(self, path: Path) -> bool:
        stat = path.stat() if path.exists() else None
        stamp, self._stamps[path] = self._stamps.get(path), stat and (stat.st_size, stat.st_mtime_ns)
        return stat is not None and stamp != self._stamps[path]

    def refresh(self) -> None:
        for folder in self.folders:
            if self._changed(folder / INDEX_FILE):
                for row in read_index_file(folder / INDEX_FILE)[0]:
                    if row.key not in self._keys:
                        self._keys.add(row.key)
                        self.rows.append(row)
                        self._per_file[row.file] = self._per_file.get(row.file, 0) + 1
                        self.complete_files += self._per_file[row.file] == self.methods
            if self._changed(folder / SKIPPED_FILE):
                self._skipped[folder] = {f for f, _ in read_skipped(folder)}

    @property
    def skipped(self) -> int:
        return len(set().union(*self._skipped.values())) if self._skipped else 0


def _check_out(out: Path, root: Path, shard_dirs: list[Path], spec: str, names: list[str]) -> bool:
    """Whether ``out`` holds the merge of these shards (model ``spec``, methods ``names``); else InputError."""
    if out == root:
        raise InputError("The run folder must not be the input folder itself; choose another output folder.")
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return False
    meta = read_meta(out) if (out / "run.json").is_file() else {}
    if meta.get("merged_from") == [str(d) for d in shard_dirs] and meta.get("finished"):
        if meta.get("model") != spec or [m.get("name") for m in meta.get("methods", [])] != names:
            raise InputError(f"'{out}' holds a finished cluster run of another model or other methods. Choose a new "
                             "folder for this run.")
        return True
    raise InputError(f"The folder '{out}' is not empty and holds no run of this cluster run. Choose a new or empty "
                     "folder for the run (the cluster executor writes it when every shard is done).")


def _connect(distributed, address: str | None, workers: int | None, device: str):
    """A client and the local cluster it started (None for an address)."""
    if address:
        try:
            return distributed.Client(address, timeout="15s"), None
        except (OSError, TimeoutError) as error:
            raise InputError(f"No Dask scheduler answered at {address}. Start one there ('dask scheduler') with "
                             "workers ('dask worker ADDRESS --nthreads 1'), check the address and port, and try "
                             "again.",
                             details=str(error)) from None
    count = int(workers) if workers else 1
    if count < 1:
        raise InputError(f"A local cluster needs at least one worker; got {workers}.")
    resources = {"GPU": 1} if device == "cuda" else None
    cluster = distributed.LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                                       dashboard_address=None, resources=resources)
    return distributed.Client(cluster), cluster


def _close_quietly(cluster) -> None:
    """Close a local cluster this run started, without the nanny's warning when a worker process
    (torch loaded, the machine busy) takes over four seconds to exit and is killed: its work is saved."""
    import logging

    nanny = logging.getLogger("distributed.nanny")
    level = nanny.level
    nanny.setLevel(logging.ERROR)
    try:
        cluster.close()
    finally:
        nanny.setLevel(level)


def _slots(client, device: str, address: str | None) -> int:
    """How many tasks the cluster runs at once (GPU slots on CUDA); waits a while for a first worker."""
    try:
        client.wait_for_workers(1, timeout=60)
    except TimeoutError:
        where = address or "ADDRESS"
        raise InputError(f"No Dask worker joined the scheduler at {where} within a minute. Start workers with "
                         f"'dask worker {where} --nthreads 1' on the computers that should run the shards.") from None
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    if device == "cuda":
        gpus = sum(int(w.get("resources", {}).get("GPU", 0)) for w in workers)
        if not gpus:
            raise InputError("No worker of the cluster offers a GPU. Start one worker per GPU with 'dask worker "
                             "ADDRESS --nthreads 1 --resources GPU=1' (and CUDA_VISIBLE_DEVICES set to its GPU).")
        return gpus
    return sum(int(w.get("nthreads", 1)) for w in workers)


def _stop(futures, client, coordinator: LockHandle, run_id: str, shard_dirs: list[Path],
          wait_s: float = 30.0) -> None:
    """Tell the tasks to stop (the stop file appears, the submitter's lock goes), cancel the futures, and wait
    a while until no task of the run holds a shard lock for a second (Dask cannot interrupt a running task)."""
    stop_file(coordinator.path.parent, run_id).touch()
    coordinator.release()
    client.cancel(futures)
    deadline, free_since = time.monotonic() + wait_s, None
    while time.monotonic() < deadline:
        if any(_held_by_run(d, run_id) for d in shard_dirs):
            free_since = None
        elif free_since is None:
            free_since = time.monotonic()
        elif time.monotonic() - free_since >= 1.0:
            return
        time.sleep(0.1)


def _held_by_run(shard_dir: Path, run_id: str) -> bool:
    """Whether a task of the run may still hold the shard's lock (a lock that cannot be read yet may be one)."""
    holder = lock_holder(shard_dir)
    if holder.get(UNREADABLE):
        return True
    return str(holder.get("owner", "")).startswith(run_id + ":") and not holder_gone(holder)


def _failure(future) -> BaseException:
    error = future.exception()
    if type(error).__name__ == "KilledWorker":
        return InputError("The workers running a shard died several times (out of memory, or killed). Give the "
                          "workers more memory or use a smaller batch size, then run the same command again to "
                          "resume.", details=str(error))
    return error


def _plan(root: Path, out: Path, shards_root: Path, spec: str, methods, trust: bool, labels, preprocessing,
          target) -> tuple[list[MethodRequest], int]:
    """Check the model, methods and class here, before any task is sent; the methods and number of inputs."""
    from ..core import MethodError, ModelError
    from ..models import load_model
    from .compute import resolve_methods
    from .scan import scan_folder

    loaded = load_model(spec, trust=trust, labels=labels, preprocessing=preprocessing)
    if loaded.embedding_only:
        raise ModelError(f"{loaded.name} has no classifier head, so there are no classes to explain in a batch run.")
    requests = resolve_methods(methods, loaded.modality, loaded)
    if target is not None and not 0 <= int(target) < loaded.num_classes:
        raise MethodError(f"Class {target} does not exist; the model has {loaded.num_classes} classes "
                          f"(0-{loaded.num_classes - 1}).")
    return requests, len(scan_folder(root, loaded.modality, exclude=[out, shards_root]).files)


def _follow(futures, watch: _ShardProgress, files: int, methods: int, token: CancelToken, progress,
            distributed) -> list[BatchResult]:
    """Report progress from the shard folders until every task is done; the tasks' results."""
    since, first = time.perf_counter(), None
    total = max(1, files * methods)
    while True:
        token.check()
        with_error = next((f for f in futures if f.status == "error"), None)
        if with_error is not None:
            raise _failure(with_error)
        if any(f.status == "cancelled" for f in futures):
            raise InputError("The Dask scheduler dropped the run's tasks (it was restarted, or this computer lost "
                             "its connection). Run the same command again to resume.")
        watch.refresh()
        first = len(watch.rows) if first is None else first
        shards_done = sum(f.status == "finished" for f in futures)
        session, left = len(watch.rows) - first, total - len(watch.rows) - watch.skipped * methods
        eta = (time.perf_counter() - since) / session * left if session else None
        files_done = min(files, watch.complete_files + watch.skipped)
        text = f"{files_done} of {files} files · {shards_done} of {len(futures)} shards done"
        if eta is not None and left > 0:
            text += f" · about {format_seconds(eta)} left"
        progress(0.97 * min(1.0, (len(watch.rows) + watch.skipped * methods) / total), text,
                 BatchStatus(watch.rows, len(watch.rows), files_done, files, watch.skipped, eta))
        if shards_done == len(futures):
            return [f.result() for f in futures]
        try:
            distributed.wait(futures, timeout=POLL_SECONDS)
        except TimeoutError:
            pass


def run_on_cluster(source, out, model: str, methods: Sequence, *, address: str | None = None,
                   workers: int | None = None, shards: int | None = None, client=None, device: str = "cpu",
                   batch_size: int = DEFAULT_BATCH_SIZE, target: int | None = None, trust: bool = False,
                   labels=None, preprocessing=None, token: CancelToken | None = None, progress=None) -> BatchResult:
    """Run a dataset run on a Dask cluster, one task per shard, and merge the shards into the run folder ``out``.

    Parameters
    ----------
    source, model, methods, device, batch_size, target, trust, labels, preprocessing
        As for :func:`~xaidesk.runs.execute.run_batch`; ``model`` is a spec (every worker loads it).
        The input folder, the model's files and the folder of ``out`` must be on a file system
        that every worker sees at the same path.
    out
        The merged run folder, written when every shard is done. The shards are written beside it,
        in ``OUT.shards/<i>-of-<n>``; running the same call again resumes them.
    address
        A Dask scheduler (``tcp://host:8786``). Without one a local cluster of ``workers``
        processes (default 1) is started on this computer and closed afterwards.
    shards
        Number of shards; default: the split found in ``OUT.shards``, else three per worker thread
        (per GPU on CUDA), at most one per input.
    client
        An open ``distributed.Client`` to use instead of ``address`` (kept open).
    token, progress
        Cancel token and progress callback; ``partial`` is a :class:`BatchStatus` whose rows are
        all rows of the shards, found in their indexes while they run.

    Returns
    -------
    BatchResult
        For the merged run (``seconds`` from the call's start; ``compute_seconds`` summed over shards).
    """
    token = token or CancelToken()
    progress = progress or no_progress
    started = time.perf_counter()
    if not isinstance(model, str):
        raise InputError("The cluster executor needs the model as a spec (e.g. torchvision:resnet18:PATH): every "
                         "worker loads it itself.")
    if device not in ("cpu", "cuda"):
        raise InputError(f"The device is cpu or cuda; got '{device}'.")
    if int(batch_size) < 1:
        raise InputError(f"The batch size must be at least 1; got {batch_size}.")
    if shards is not None and int(shards) < 1:
        raise InputError(f"The number of shards must be at least 1; got {shards}.")
    if sum(x is not None for x in (address, workers, client)) > 1:
        raise InputError("Give a cluster address, a number of local workers, or a client; only one of them.")
    distributed = load_distributed()
    root = check_source(source)
    out = Path(out).expanduser().resolve()
    check_output_folder(out)
    shards_root = shards_folder(out)
    check_output_folder(shards_root)
    split = existing_split(shards_root)
    if shards is not None and split is not None and int(shards) != split:
        raise InputError(f"'{shards_root}' holds a run split into {split} shards. Resume it with {split} shards, or "
                         "choose another output folder.")
    spec = absolute_spec(model)
    names = [m.name if isinstance(m, MethodRequest) else m if isinstance(m, str) else m[0] for m in methods]
    if _check_out(out, root, [shard_folder(shards_root, i, split) for i in range(split)] if split else [], spec, names):
        rows, skipped = read_index_file(out / INDEX_FILE)[0], read_skipped(out)
        progress(1.0, "The merged run is already complete")
        return BatchResult(out, len({r.file for r in rows} | {f for f, _ in skipped}), 0, len(rows), skipped,
                           time.perf_counter() - started, 0.0, True)
    labels = str(Path(labels).expanduser().resolve()) if labels else None
    progress(0.0, "Loading the model")
    requests, files = _plan(root, out, shards_root, spec, methods, trust, labels, preprocessing, target)
    token.check()
    progress(0.0, "Connecting to the cluster" if address else "Starting a local cluster")
    own_client, cluster = client is None, None
    if own_client:
        client, cluster = _connect(distributed, address, workers, device)
    try:
        slots = _slots(client, device, address)
        n = split or int(shards or max(1, min(files, SHARDS_PER_SLOT * slots)))
        shard_dirs = [shard_folder(shards_root, i, n) for i in range(n)]
        run_id = uuid.uuid4().hex[:16]
        with run_lock(shards_root, owner=run_id) as coordinator:
            for old_stop in shards_root.glob(".stop-*"):
                old_stop.unlink(missing_ok=True)
            job = ShardJob(str(root), str(shards_root), spec, tuple(requests), device, int(batch_size),
                           None if target is None else int(target), bool(trust), labels, preprocessing, run_id)
            resources = {"GPU": 1} if device == "cuda" else None
            futures = [client.submit(run_shard, job, i, n, key=f"xaidesk-shard-{i}-of-{n}-{run_id}", pure=False,
                                     resources=resources) for i in range(n)]
            try:
                watch = _ShardProgress(shard_dirs, len(requests))
                results = _follow(futures, watch, files, len(requests), token, progress, distributed)
            except BaseException:
                _stop(futures, client, coordinator, run_id, shard_dirs)
                raise
            progress(0.97, f"Merging {n} shards")
            merge_runs(shard_dirs, out, token=token, progress=lambda f, m="", p=None: progress(0.97 + 0.03 * f, m))
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            _close_quietly(cluster)
    skipped = sorted({item for r in results for item in r.skipped})
    finished = all(r.finished for r in results)
    progress(1.0, "done")
    return BatchResult(out, sum(r.files for r in results), sum(r.computed for r in results),
                       sum(r.already_done for r in results), skipped, time.perf_counter() - started,
                       sum(r.compute_seconds for r in results), finished)


from .cluster_cli import cluster_command  # noqa: E402 - the same run as a command line, in its own module

__all__ = ["SHARDS_PER_SLOT", "ShardJob", "absolute_spec", "cluster_command", "existing_split", "load_distributed",
           "run_on_cluster", "run_shard", "shard_folder", "shards_folder"]
