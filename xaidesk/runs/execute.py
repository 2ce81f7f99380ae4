"""Dataset mode: explain every image or sound clip of a folder with one or more methods.

:func:`run_batch` writes one run folder (:mod:`xaidesk.runs.format`). A run resumes where it
stopped: rows whose files are present are kept and their (file, method) pairs are not done again;
everything else is (re)computed. When a run finishes, the index is rewritten sorted (atomically).
It can be cancelled between items; every item finished by then is saved and indexed. The methods
and devices are :mod:`xaidesk.runs.compute`'s, the reading and writing threads
:mod:`xaidesk.runs.workers`'s.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..core import CancelToken, InputError, MethodError, ModelError, no_progress
from ..core.io import write_json_atomic
from .compute import (batched_function, concept_recorder, exact_kernels, explain_batched, explain_one,
                      per_file_on_device, resolve_device, resolve_methods)
from .format import (
    COMPARED_WORDS,
    INDEX_FILE,
    ITEMS_FOLDER,
    RUN_FILE,
    SKIPPED_FILE,
    IndexAppender,
    IndexRow,
    describe_value,
    now_text,
    plain_json,
    read_index_file,
    read_meta,
    row_complete,
    run_meta,
    sorted_rows,
    write_index,
    write_skipped,
)
from .lock import is_lock_file, run_lock
from .scan import check_shard, check_source, item_stems, scan_folder, shard_files
from .workers import Prefetcher, Saver

DEFAULT_BATCH_SIZE = 16


@dataclass
class BatchStatus:
    """What a running batch reports with its progress (the ``partial`` of the progress callback).

    ``rows`` is the run's list of rows written in this session; it only grows, and its first
    ``count`` entries are complete. ``eta`` is the estimated seconds left (None while unknown).
    """

    rows: list[IndexRow]
    count: int
    files_done: int
    files_total: int
    skipped: int
    eta: float | None



@dataclass
class BatchResult:
    """The outcome of :func:`run_batch`.

    ``computed`` counts (file, method) items explained in this call, ``already_done`` those
    found done in the run folder, ``skipped`` the unreadable files (path, reason).
    ``compute_seconds`` is the time inside the explanation methods (model compute); the rest of
    ``seconds`` is reading, preprocessing, mapping, thumbnails and writing.
    """

    run_dir: Path
    files: int
    computed: int
    already_done: int
    skipped: list[tuple[str, str]]
    seconds: float
    compute_seconds: float
    finished: bool = True

    @property
    def overhead_seconds(self) -> float:
        return max(0.0, self.seconds - self.compute_seconds)



def format_seconds(seconds: float | None) -> str:
    """``"8 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def open_run_folder(out: Path, meta: dict) -> tuple[dict, list[IndexRow]]:
    """Create the run folder or check that it holds the same run; return its meta and valid rows."""
    if out.exists() and not out.is_dir():
        raise InputError(f"The output '{out}' exists and is a file; give a folder for the run.")
    if out.is_dir() and (out / RUN_FILE).exists():
        existing = read_meta(out)
        for key in COMPARED_WORDS:
            if plain_json(existing.get(key)) != plain_json(meta.get(key)):
                raise InputError(
                    f"The folder '{out}' already holds a batch run with {COMPARED_WORDS[key]} "
                    f"({describe_value(existing.get(key))} instead of {describe_value(meta.get(key))}). "
                    "Choose a new output folder, or run with that run's settings to resume it."
                )
        rows, dirty = read_index_file(out / INDEX_FILE)
        valid: dict[tuple[str, str], IndexRow] = {}
        for row in rows:
            if row_complete(out, row):
                valid[row.key] = row
        kept = list(valid.values())
        if dirty or len(kept) != len(rows) or not (out / INDEX_FILE).exists():
            write_index(out, kept)
        for leftover in (out / ITEMS_FOLDER).rglob(".*.tmp") if (out / ITEMS_FOLDER).is_dir() else ():
            leftover.unlink(missing_ok=True)
        existing.update(device=meta["device"], finished=None)
        write_json_atomic(out / RUN_FILE, existing)
        return existing, kept
    if out.is_dir() and any(not is_lock_file(p.name) for p in out.iterdir()):
        raise InputError(f"The folder '{out}' is not empty and holds no batch run. "
                         "Choose an empty or new folder for the run.")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / RUN_FILE, meta)
    write_index(out, [])
    return meta, []


def _absolute(path) -> str | None:
    """``path`` made absolute (a run may be resumed or opened from another folder), or None."""
    return str(Path(path).expanduser().resolve()) if path else None



def run_batch(
    source,
    out,
    model,
    methods: Sequence,
    *,
    device: str = "cpu",
    shard=None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    target: int | None = None,
    trust: bool = False,
    labels=None,
    preprocessing=None,
    use_batched: bool = True,
    concept_layer: str | None = None,
    token: CancelToken | None = None,
    progress=None,
    lock_owner: str | None = None,
) -> BatchResult:
    """Explain every input of ``source`` with each method and write the run folder ``out``.

    Parameters
    ----------
    source
        A folder of images or sound clips (class subfolders optional).
    out
        The run folder. When it holds a run with the same source, model, methods and shard,
        that run is resumed; a different run there is refused.
    model
        A model spec (``demo:digits``, ``torchvision:resnet18:PATH``, ...) or a loaded model.
    methods
        Method names, ``(name, params)`` pairs or :class:`MethodRequest` items.
    device
        ``"cpu"`` or ``"cuda"``.
    shard
        ``(i, n)``: only every n-th file starting at i (0-based).
    batch_size
        Inputs per batch of the batched methods (and per read-ahead chunk).
    target
        The class to explain for every input; ``None`` explains each input's top class.
    trust
        Allow a model file that holds pickled code (see :func:`~xaidesk.models.load_model`).
    labels, preprocessing
        A label file and a hand-set ``Preprocessing`` for a model given by spec (see
        :func:`~xaidesk.models.load_model`). Both are recorded in ``run.json`` (a loaded model's own
        label file and hand-set preprocessing are too) and a resumed run must use the same.
    use_batched
        ``False`` runs every method per file (for comparisons).
    concept_layer
        A layer of the model: the run also records every channel's relevance and activation there
        (sidecar arrays; see :mod:`xaidesk.concepts.references`). It needs one batched LRP method.
    token, progress
        Cancel token and progress callback; ``partial`` is a :class:`BatchStatus`.
    lock_owner
        The task writing the run, recorded in its lock (see :func:`~xaidesk.runs.lock.run_lock`).

    Raises
    ------
    Cancelled
        When cancelled; every item finished so far is saved and indexed.
    """
    from ..models import load_model
    from ..models.base import LoadedModel

    token = token or CancelToken()
    progress = progress or no_progress
    started = time.perf_counter()
    if int(batch_size) < 1:
        raise InputError(f"The batch size must be at least 1; got {batch_size}.")
    shard = check_shard(shard)
    out = Path(out).expanduser().resolve()
    root = check_source(source)
    if out == root:
        raise InputError("The run folder must not be the input folder itself; choose another output folder.")
    import torch

    torch_device = resolve_device(device)
    progress(0.0, "Loading the model")
    if isinstance(model, LoadedModel):
        if labels is not None or preprocessing is not None:
            raise InputError("Give the label file and the preprocessing when loading the model, or give the model "
                             "as a spec together with them, not both.")
        loaded = model
    else:
        loaded = load_model(str(model), trust=trust, labels=labels, preprocessing=preprocessing)
    if loaded.embedding_only:
        raise ModelError(f"{loaded.name} has no classifier head, so there are no classes to explain in a batch run.")
    modality = loaded.modality
    requests = resolve_methods(methods, modality, loaded)
    concept_function = concept_recorder(loaded, requests, concept_layer) if concept_layer is not None else None
    if target is not None and not 0 <= int(target) < loaded.num_classes:
        raise MethodError(f"Class {target} does not exist; the model has {loaded.num_classes} classes "
                          f"(0-{loaded.num_classes - 1}).")
    token.check()
    progress(0.0, "Looking for inputs")
    scan = scan_folder(root, modality, exclude=[out])
    files = shard_files(scan.files, shard)
    stems = item_stems(scan.files)
    hand_set = loaded.preprocessing.to_dict() if getattr(loaded, "preprocessing_set_by_hand", False) else None
    meta = run_meta(root, modality, loaded.spec, requests, torch_device.type, shard, target,
                    labels=_absolute(getattr(loaded, "label_file", None)), preprocessing=hand_set,
                    concepts={"layer": concept_layer} if concept_layer is not None else None)
    if out.exists() and not out.is_dir():
        raise InputError(f"The output '{out}' exists and is a file; give a folder for the run.")
    with run_lock(out, owner=lock_owner) as lock:  # one writer per run folder
        meta, rows = open_run_folder(out, meta)
        done = {r.key for r in rows}
        todo = [(f, [m for m in requests if (f, m.name) not in done]) for f in files]
        todo = [(f, ms) for f, ms in todo if ms]
        already = sum(len(requests) for f in files) - sum(len(ms) for _, ms in todo)
        total_units = sum(len(ms) for _, ms in todo)
        pending_of = {f: len(ms) for f, ms in todo}
        files_done = len(files) - len(todo)

        session_rows: list[IndexRow] = []
        skipped: dict[str, str] = {}
        counters = {"units": 0, "compute": 0.0, "files_done": files_done}
        explaining_since = time.perf_counter()  # the ETA leaves out loading the model and scanning

        def report(message: str) -> None:
            units = counters["units"]
            elapsed = time.perf_counter() - explaining_since
            eta = elapsed / units * (total_units - units) if units else None
            fraction = (already + units) / max(1, already + total_units)
            text = f"{counters['files_done']} of {len(files)} files"
            if message:
                text += f" · {message}"
            if eta is not None and units < total_units:
                text += f" · about {format_seconds(eta)} left"
            progress(fraction, text, BatchStatus(session_rows, len(session_rows), counters["files_done"], len(files),
                                                 len(skipped), eta))

        def unit_done(file: str, count: int = 1) -> None:
            counters["units"] += count
            pending_of[file] -= count
            if pending_of[file] == 0:
                counters["files_done"] += 1

        module = loaded.module
        moved = torch_device.type != "cpu"
        kernels = contextlib.ExitStack()
        appender = IndexAppender(out / INDEX_FILE)

        def indexed(row: IndexRow) -> None:
            session_rows.append(row)
            unit_done(row.file)

        saver = Saver(out, loaded, stems, appender, indexed, report)
        chunks = [[f for f, _ in todo[i:i + int(batch_size)]] for i in range(0, len(todo), int(batch_size))]
        methods_of = dict(todo)
        prefetcher = Prefetcher(root, chunks, modality, loaded)
        finished = False
        try:
            if moved:
                kernels.enter_context(exact_kernels(torch_device))
                try:
                    module.to(torch_device)
                except torch.cuda.OutOfMemoryError as error:
                    raise InputError(f"{loaded.name} does not fit in the GPU's memory. Run it on the CPU.",
                                     details=str(error)) from error
            report("starting")
            for k in range(len(chunks)):
                token.check()
                inputs = prefetcher.get(k)
                readable = []
                for item in inputs:
                    if item.error is not None:
                        skipped[item.file] = item.error
                        unit_done(item.file, pending_of[item.file])
                    else:
                        readable.append(item)
                if len(readable) < len(inputs):
                    write_skipped(out, skipped)
                for request in requests:
                    group = [item for item in readable if request in methods_of[item.file]]
                    if not group:
                        continue
                    function = batched_function(request.name) if (use_batched and modality == "image") else None
                    function = concept_function or function
                    if function is not None:
                        results = explain_batched(function, loaded, group, request, target, torch_device, token,
                                                   counters)
                        saver.submit(group, results, request.name)
                        continue
                    for item in group:
                        token.check()
                        report(request.name)
                        with per_file_on_device(loaded, torch_device) as per_file_model:
                            result = explain_one(per_file_model, item, request, target, token, counters)
                        saver.submit([item], [result], request.name)
            saver.finish()
            finished = True
        except BaseException:
            # Items computed before the stop are saved and indexed all the same, unless another writer
            # took the folder over (a cluster task's retry): then nothing more is written.
            with contextlib.suppress(BaseException):
                saver.finish() if lock.still_mine() else saver.abandon()
            raise
        finally:
            saver.close()
            prefetcher.close()
            appender.close()
            if moved:
                kernels.close()
                module.to("cpu")
        if skipped:
            write_skipped(out, skipped)
        elif (out / SKIPPED_FILE).exists():
            write_skipped(out, {})
        all_rows = {r.key: r for r in rows}
        all_rows.update({r.key: r for r in session_rows})
        write_index(out, sorted_rows(all_rows.values(), [m.name for m in requests]))
        meta["finished"] = now_text() if finished else None
        write_json_atomic(out / RUN_FILE, meta)
        report("done")
        return BatchResult(out, len(files), len(session_rows), already, sorted(skipped.items()),
                           time.perf_counter() - started, counters["compute"], finished)



__all__ = ["BatchResult", "BatchStatus", "DEFAULT_BATCH_SIZE", "format_seconds", "run_batch"]
