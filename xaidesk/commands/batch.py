"""``python -m xaidesk batch``: explain a whole folder, resumably, optionally in shards; merge shards.

    python -m xaidesk batch FOLDER --model SPEC --methods A,B [--param k=v ...] [--batch-size N]
                                   [--device cpu|cuda] [--shard i/n] [--target K] --out RUN
    python -m xaidesk batch --merge RUN1 RUN2 ... --out MERGED

The first form writes the run folder RUN (``run.json``, ``index.csv``, ``items/``, see
:mod:`xaidesk.runs.format`). Run it again with the same settings after a cancel or a crash and it
resumes where it stopped; a folder holding a different run is refused. ``--param name=value``
applies to every chosen method that has that parameter; ``--param METHOD:name=value`` to one
method. Shards are numbered from 0 (``--shard 0/4`` … ``--shard 3/4``, e.g. a SLURM array's
task id); the second form joins their run folders into MERGED with the joint index.
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
    if args.merge:
        if args.folder is not None or args.model or args.methods:
            raise InputError("--merge joins finished run folders; give no input folder, --model or --methods with it.")
        return _merge(args)
    if args.folder is None or not args.model or not args.methods:
        raise InputError("A batch run needs an input folder, --model and --methods (or --merge RUN ... to merge runs).")
    try:
        return _run(args)
    except KeyboardInterrupt:
        print(f"\nxaidesk: interrupted; the files finished so far are saved in {args.out}. "
              "Run the same command again to resume.", file=sys.stderr)
        return EXIT_CANCELLED


def _run(args: argparse.Namespace) -> int:
    from ..runs import parse_shard, run_batch
    from .common import cli_progress

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    params = method_params(methods, args.param)
    progress = cli_progress()
    result = run_batch(args.folder, args.out, args.model, [(m, params[m]) for m in methods], device=args.device,
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
