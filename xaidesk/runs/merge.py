"""Joining the run folders of a sharded run into one run folder with the joint index."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..core import CancelToken, InputError, no_progress
from ..core.io import staged_folder, write_json_atomic
from .browse import RunInfo, read_run
from .format import (
    COMPARED_WORDS,
    IndexRow,
    describe_value,
    now_text,
    plain_json,
    row_complete,
    sidecar_files,
    sorted_rows,
    write_index,
    write_skipped,
)
from .scan import parse_shard


@dataclass
class MergeResult:
    """The outcome of :func:`merge_runs`."""

    run_dir: Path
    rows: int
    duplicates: int
    missing_shards: list[int]
    unfinished: list[Path]



def merge_runs(run_dirs: Sequence, out_dir, token: CancelToken | None = None, progress=None) -> MergeResult:
    """Join run folders (the shards of one run) into one run folder with the joint index.

    The runs must have the same model, methods (with their settings) and kind of input. Item
    files are hard-linked where the file system allows it, copied otherwise. ``out_dir`` must be
    new or empty; it is written as a whole (nothing appears there if the merge fails).
    """
    token = token or CancelToken()
    progress = progress or no_progress
    if not run_dirs:
        raise InputError("Name the run folders to merge.")
    runs = [read_run(d) for d in run_dirs]
    out = Path(out_dir).expanduser().resolve()
    if any(out == run.folder for run in runs):
        raise InputError("The merged run needs its own folder; it cannot be one of the runs being merged.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"The folder '{out}' is not empty; give a new or empty folder for the merged run.")
    first = runs[0]
    for run in runs[1:]:
        for key in ("model", "modality", "methods", "target", "concepts", "labels", "preprocessing"):
            if plain_json(run.meta.get(key)) != plain_json(first.meta.get(key)):
                raise InputError(
                    f"The runs cannot be merged: '{run.folder}' used {COMPARED_WORDS[key]} "
                    f"({describe_value(run.meta.get(key))}) than '{first.folder}' ({describe_value(first.meta.get(key))})."
                )
    shards = [parse_shard(run.meta.get("shard")) for run in runs]
    missing: list[int] = []
    if all(s is not None for s in shards):
        counts = {n for _, n in shards}
        if len(counts) > 1:
            raise InputError("The runs were split into different numbers of shards ("
                             + ", ".join(sorted(run.meta["shard"] for run in runs)) + "); merge shards of one split.")
        n = counts.pop()
        missing = sorted(set(range(n)) - {i for i, _ in shards})
    kept: dict[tuple[str, str], tuple[RunInfo, IndexRow]] = {}
    duplicates = 0
    for run in runs:
        for row in run.rows:
            if not row_complete(run.folder, row):
                continue
            if row.key in kept:
                duplicates += 1
                continue
            kept[row.key] = (run, row)
    targets: dict[str, str] = {}
    for run, row in kept.values():
        for relative in (row.relevance, row.thumbnail):
            owner = targets.setdefault(relative, row.file)
            if owner != row.file:
                raise InputError(f"The runs cannot be merged: '{owner}' and '{row.file}' both wrote {relative}.")
    skipped: dict[str, str] = {}
    for run in runs:
        skipped.update({f: r for f, r in run.skipped if not any((f, m.name) in kept for m in run.methods)})
    method_order = [m["name"] for m in first.meta.get("methods", [])]
    with staged_folder(out) as staging:
        total = max(1, len(kept))
        for k, (run, row) in enumerate(kept.values()):
            if k % 64 == 0:
                token.check()
                progress(k / total, f"Merging: {k} of {len(kept)} items")
            for relative in (row.relevance, row.thumbnail, *sidecar_files(run.folder, row)):
                _link_or_copy(run.folder / relative, staging / relative)
        write_index(staging, sorted_rows((row for _, row in kept.values()), method_order))
        if skipped:
            write_skipped(staging, skipped)
        unfinished = [run.folder for run in runs if not run.finished]
        sources = sorted({str(run.meta.get("source", "")) for run in runs})
        meta = {key: first.meta.get(key)
                for key in ("format", "source", "modality", "model", "methods", "target", "device")}
        meta.update({key: first.meta[key] for key in ("labels", "preprocessing", "concepts") if key in first.meta})
        meta.update(shard=None, created=now_text(), finished=now_text() if not (missing or unfinished) else None,
                    merged_from=[str(run.folder) for run in runs])
        if len(sources) > 1:
            meta["sources"] = sources
        write_json_atomic(staging / "run.json", meta)
    progress(1.0, "Merged")
    return MergeResult(out, len(kept), duplicates, missing, unfinished)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)



__all__ = ["MergeResult", "merge_runs"]
