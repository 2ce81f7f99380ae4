"""``python -m xaidesk batch``: explain a whole folder, resumably, optionally in shards; merge shards.

    python -m xaidesk batch FOLDER --model SPEC --methods A,B [--param k=v ...] [--batch-size N]
                                   [--device cpu|cuda] [--shard i/n] [--target K] --out RUN
    python -m xaidesk batch FOLDER --model SPEC --methods A,B --executor dask [--address tcp://HOST:8786]
                                   [--workers N] [--shards N] --out RUN
    python -m xaidesk batch --merge RUN1 RUN2 ... --out MERGED

The first form writes the run folder RUN (``run.json``, ``index.csv``, ``items/``, see
:mod:`xaidesk.runs.format`). Run it again with the same settings after a cancel or a crash and it
resumes where it stopped; a folder holding a different run is refused. ``--param name=value``
applies to every chosen method that has that parameter; ``--param METHOD:name=value`` to one
method. Shards are numbered from 0 (``--shard 0/4`` … ``--shard 3/4``, e.g. a SLURM array's
task id); the third form joins their run folders into MERGED with the joint index. The second form
hands the shards to a Dask cluster (a scheduler's address, or a local cluster of N worker processes),
writes them into ``RUN.shards`` and merges them into RUN (see :mod:`xaidesk.runs.cluster` and
``docs/cluster.md``); it needs ``pip install "xaidesk[cluster]"``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "explain every image or sound clip of a folder (resumable, shardable) or merge shard runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import output_folder
    parser.add_argument("folder", nargs="?", type=Path, help="the folder of inputs (class subfolders optional)")
    from .common import LABELS_HELP, MODEL_HELP
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--labels", type=Path, default=None, metavar="FILE", help=LABELS_HELP)
    parser.add_argument("--methods", help="method names separated by commas, see 'xaidesk methods'")
    parser.add_argument("--param", action="append", default=[], metavar="[METHOD:]NAME=VALUE",
                        help="a method parameter, for every method that has it or for METHOD only")
    parser.add_argument("--batch-size", type=int, default=16, help="inputs per batch for LRP and gradients (default 16)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the model runs (default cpu)")
    parser.add_argument("--shard", default=None, metavar="I/N", help="do only shard I of N (numbered from 0)")
    parser.add_argument("--target", type=int, default=None, help="class index to explain for every input "
                                                                  "(default: each input's top class)")
    parser.add_argument("--trust", action="store_true", help="allow loading a pickled model file (runs its code)")
    parser.add_argument("--executor", default="local", choices=("local", "dask"),
                        help="where the run is computed: here (default) or on a Dask cluster, one task per shard, "
                             "merged into --out (needs pip install \"xaidesk[cluster]\")")
    parser.add_argument("--address", default=None, metavar="tcp://HOST:8786",
                        help="with --executor dask: the Dask scheduler (default: a local cluster on this computer)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="with --executor dask and no --address: worker processes of the local cluster "
                             "(default: one per CPU core, one on cuda)")
    parser.add_argument("--shards", type=int, default=None, metavar="N",
                        help="with --executor dask: tasks to split the run into (default: the split being resumed, "
                             "else three per worker thread)")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="RUN", help="merge these run folders instead")
    parser.add_argument("--out", required=True, type=output_folder, help="the run folder (or the merged run folder)")


def method_params(methods: list[str], pairs: list[str]) -> dict[str, dict[str, str]]:
    """Split ``--param`` values among the methods: ``name=value`` goes to every method that has
    ``name``, ``METHOD:name=value`` to that method only."""
    from ..core import MethodError, get_method, parse_param_values

    known = {m: {p.name for p in get_method(m).params} for m in methods}
    values: dict[str, dict[str, str]] = {m: {} for m in methods}
    for pair in pairs:
        head, eq, _ = pair.partition("=")
        method, colon, _ = head.partition(":")
        if eq and colon:
            if method.strip() not in values:
                raise MethodError(f"'{pair}' names the method {method.strip()}, which is not among --methods.")
            values[method.strip()].update(parse_param_values([pair.split(":", 1)[1]]))
            continue
        ((name, value),) = parse_param_values([pair]).items()
        takers = [m for m in methods if name in known[m]]
        if not takers:
            raise MethodError(f"None of the chosen methods has a parameter {name}.")
        for m in takers:
            values[m][name] = value
    return values


def run(args: argparse.Namespace) -> int:
    from .common import EXIT_CANCELLED
    from ..core import InputError
    from ..core.io import check_output_folder

    check_output_folder(args.out)
    _check_executor(args)
    if args.merge:
        if args.folder is not None or args.model or args.methods:
            raise InputError("--merge joins finished run folders; give no input folder, --model or --methods with it.")
        return _merge(args)
    if args.folder is None or not args.model or not args.methods:
        raise InputError("A batch run needs an input folder, --model and --methods (or --merge RUN ... to merge runs).")
    try:
        return _run(args)
    except KeyboardInterrupt:
        where = args.out
        if args.executor == "dask":
            from ..runs.cluster import shards_folder

            where = shards_folder(args.out)
        print(f"\nxaidesk: interrupted; the files finished so far are saved in {where}. "
              "Run the same command again to resume.", file=sys.stderr)
        return EXIT_CANCELLED


def _check_executor(args: argparse.Namespace) -> None:
    from ..core import InputError

    cluster_options = [f"--{name}" for name in ("address", "workers", "shards") if getattr(args, name) is not None]
    if args.merge and (args.executor != "local" or cluster_options):
        raise InputError("--merge joins finished run folders here; give no --executor dask or cluster options with it.")
    if args.executor == "local" and cluster_options:
        named = " and ".join(cluster_options)
        raise InputError(f"{named} {'are options' if len(cluster_options) > 1 else 'is an option'} of the Dask "
                         "executor; add --executor dask, or leave them out to run here.")
    if args.executor == "dask":
        if args.shard is not None:
            raise InputError("--shard I/N runs one shard here (e.g. a task of a SLURM array), while --executor dask "
                             "splits the run into shards itself (--shards N). Give one or the other.")
        if args.address is not None and args.workers is not None:
            raise InputError("--workers starts a local cluster, --address uses a running one; give one of them.")


def _run(args: argparse.Namespace) -> int:
    from ..runs import parse_shard, run_batch
    from .common import cli_progress

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    params = method_params(methods, args.param)
    progress = cli_progress()
    requests = [(m, params[m]) for m in methods]
    if args.executor == "dask":
        from ..runs.cluster import run_on_cluster

        workers = args.workers if args.address or args.workers is not None else _local_workers(args.device)
        result = run_on_cluster(args.folder, args.out, args.model, requests, address=args.address, workers=workers,
                                shards=args.shards, device=args.device, batch_size=args.batch_size,
                                target=args.target, trust=args.trust, labels=args.labels, progress=progress)
    else:
        result = run_batch(args.folder, args.out, args.model, requests, device=args.device,
                           shard=parse_shard(args.shard), batch_size=args.batch_size, target=args.target,
                           trust=args.trust, labels=args.labels, progress=progress)
    progress.done()
    for file, reason in result.skipped:
        print(f"xaidesk: skipped {file}: {reason}", file=sys.stderr)
    per_item = result.seconds / result.computed if result.computed else 0.0
    print(
        f"{result.computed} explanation(s) of {result.files} file(s) with {len(methods)} method(s) in "
        f"{result.seconds:.1f} s ({per_item:.3f} s each)"
        + (f", {result.already_done} already done" if result.already_done else "")
        + (f", {len(result.skipped)} file(s) skipped (see skipped.csv)" if result.skipped else "")
        + f"; index in {result.run_dir / 'index.csv'}"
    )
    return 0


def _local_workers(device: str) -> int:
    import os

    return 1 if device == "cuda" else max(1, os.cpu_count() or 1)


def _merge(args: argparse.Namespace) -> int:
    from ..runs import merge_runs
    from .common import cli_progress

    progress = cli_progress()
    result = merge_runs(args.merge, args.out, progress=progress)
    progress.done()
    if result.missing_shards:
        print("xaidesk: note: shard(s) " + ", ".join(map(str, result.missing_shards))
              + " are not among the merged runs; the index lacks their files.", file=sys.stderr)
    for folder in result.unfinished:
        print(f"xaidesk: note: the run in {folder} had not finished; merge again once it has.", file=sys.stderr)
    if result.duplicates:
        print(f"xaidesk: note: {result.duplicates} item(s) appeared in more than one run; the first was kept.",
              file=sys.stderr)
    print(f"Merged {len(args.merge)} run(s): {result.rows} item(s); index in {result.run_dir / 'index.csv'}")
    return 0
