"""``xaidesk counterfactual``: what would have to change in one row of a table for a model to decide otherwise.

    python -m xaidesk counterfactual TABLE --row N [--target-column COL] [--target CLASS]
                                     [--at-least X] [--at-most Y] [--model logistic] [--param NAME=VALUE]
                                     [--columns A,B] [--freeze A,B] [--range "income_k=20:80" ...]
                                     [--max-changes K] [--margin M] [--count 3] [--seed 0] [--encoding ENC]
                                     --out DIR

A readable model (:mod:`xaidesk.tabular.models`; default: logistic regression for classes, linear
regression for values) is fitted on the table's feature columns to predict the target column;
then :func:`xaidesk.tabular.counterfactual.counterfactuals` searches changes of row ``N`` (0-based
data row in file order, as elsewhere) that give the wanted outcome: ``--target`` (also
``--wanted``) names the wanted class (default: for two classes, the one the row does not get);
for a numeric target, ``--at-least`` / ``--at-most`` bound the wanted prediction. ``--margin``
says how clearly: for two classes the wanted class's probability must reach 0.5 + M (default 0.05,
so 0.55: an answer right on the boundary flips back with a slightly different model; more classes:
it must lead every other class by 2M); for a numeric target the prediction must lie M inside the
wanted interval (default 0). DIR receives
``counterfactuals.csv``, ``changes.csv`` and ``counterfactuals.json``
(:mod:`xaidesk.export.counterfactuals`). Ctrl-C cancels; nothing is written then.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "find a few diverse changes of one table row that make a model give the wanted outcome"
DEFAULT_MODELS = {"classification": "logistic", "regression": "linear"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import output_folder

    parser.add_argument("input", type=Path, help="the table: CSV, TSV or .xlsx")
    parser.add_argument("--row", required=True, type=int, help="the row to change: 0-based data row in file order")
    parser.add_argument("--target-column", dest="target_column", default=None,
                        help="the column the model predicts (default: the table's guessed target column)")
    parser.add_argument("--target", "--wanted", dest="wanted", default=None, metavar="CLASS",
                        help="the wanted class (default for two classes: the one the row does not get)")
    parser.add_argument("--at-least", dest="at_least", type=float, default=None,
                        help="for a numeric target: the wanted prediction is at least this")
    parser.add_argument("--at-most", dest="at_most", type=float, default=None,
                        help="for a numeric target: the wanted prediction is at most this")
    parser.add_argument("--model", default=None, help="the readable model (default: logistic for classes, linear "
                                                      "for values); see the Tables tab's model list")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a model setting")
    parser.add_argument("--columns", default=None,
                        help="feature columns, separated by commas (default: the guessed ones)")
    parser.add_argument("--freeze", default="", help="features that must not change, separated by commas")
    parser.add_argument("--range", action="append", default=[], dest="ranges", metavar="FEATURE=LOW:HIGH",
                        help="allowed values of a feature; either end may be left out (income_k=:60)")
    parser.add_argument("--max-changes", dest="max_changes", type=int, default=None,
                        help="the most features one counterfactual may change (default: any number)")
    parser.add_argument("--margin", type=float, default=None,
                        help="how clearly the wanted outcome must be reached: for two classes its probability "
                             "must reach 0.5 + MARGIN (default 0.05, i.e. 55 %%; 0: right on the boundary); for "
                             "a numeric target the prediction must lie MARGIN inside the wanted interval (default 0)")
    parser.add_argument("--count", type=int, default=3, help="how many counterfactuals (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the model's split and the search (default 0)")
    parser.add_argument("--encoding", default=None, help="text encoding if the file is not UTF-8 (e.g. latin-1)")
    parser.add_argument("--out", required=True, type=output_folder, help="output folder")


def parse_range(text: str) -> tuple[str, tuple[float | None, float | None]]:
    """``FEATURE=LOW:HIGH`` (either end may be empty) as ``(feature, (low, high))``."""
    from ..core import InputError

    name, equals, bounds = str(text).partition("=")
    low, colon, high = bounds.partition(":")
    if not equals or not colon or not name.strip() or not (low.strip() or high.strip()):
        raise InputError(f"--range is written FEATURE=LOW:HIGH, either end may be left out (income_k=20:80 or "
                         f"income_k=:60); got '{text}'.")
    try:
        values = tuple(float(v) if v.strip() else None for v in (low, high))
    except ValueError:
        raise InputError(f"The ends of --range '{text}' must be numbers.") from None
    return name.strip(), values


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _wanted(args: argparse.Namespace, task: str):
    from ..core import InputError

    bounds = (args.at_least, args.at_most)
    if task == "classification":
        if any(b is not None for b in bounds):
            raise InputError("--at-least and --at-most are for a numeric target; for classes name the wanted one "
                             "with --target.")
        return args.wanted
    if args.wanted is not None:
        raise InputError("The target column holds values, not classes: give the wanted prediction with --at-least "
                         "and/or --at-most instead of --target.")
    if all(b is None for b in bounds):
        raise InputError("For a numeric target, give the wanted prediction with --at-least and/or --at-most.")
    return bounds


def run(args: argparse.Namespace) -> int:
    from ..core import CancelToken, InputError, parse_param_values
    from ..data.tables import load_table
    from ..explain.table import as_feature_matrix
    from ..export.counterfactuals import check_counterfactual_output, write_counterfactuals
    from ..tabular.counterfactual import check_settings, counterfactuals
    from ..tabular.counterfactual_space import checked_margin
    from ..tabular.models import class_names_of, fit_table_model, get_table_model, guess_task
    from . import common

    check_counterfactual_output(args.out)
    ranges = dict(parse_range(r) for r in args.ranges)
    frozen = _names(args.freeze)
    params = parse_param_values(args.param)
    table = load_table(args.input, encoding=args.encoding)
    features = as_feature_matrix(table, _names(args.columns) or None, args.target_column)
    if features.target is None:
        raise InputError("Name the column the model predicts with --target-column (the table has no guessed target).")
    positions = [int(i) for i in (features.row_ids == args.row).nonzero()[0]]
    if not positions:
        raise InputError(f"Row {args.row} is not among the analysed rows (data rows are numbered from 0 in file "
                         f"order; rows with missing values may have been dropped): choose another row.")
    task = guess_task(features.target)
    model_name = args.model or DEFAULT_MODELS[task]
    wanted = _wanted(args, task)
    # Everything that can be checked without the model is checked before it is fitted.
    frozen = check_settings(features.names, frozen, ranges, args.count, args.max_changes)
    get_table_model(model_name).resolve_params(params)
    if task == "classification" and wanted is not None:
        classes = class_names_of(features.target)
        if str(wanted) not in classes:
            raise InputError(f"There is no class '{wanted}' in {features.target_name}; the classes are "
                             f"{', '.join(classes)}.")
    checked_margin(args.margin, task == "classification")
    token, progress = CancelToken(), common.cli_progress()

    def work():
        model = fit_table_model(model_name, features.values, features.target, features.names, task=task,
                                params=params, seed=args.seed, target_name=features.target_name, token=token)
        return model, counterfactuals(model, positions[0], wanted=wanted, count=args.count, frozen=frozen,
                                      ranges=ranges, max_changes=args.max_changes, margin=args.margin,
                                      seed=args.seed, token=token, progress=progress)

    done = common.run_cancellable(work, token, progress, out=args.out, trains=False)
    if done is None:
        return common.EXIT_CANCELLED
    model, result = done
    progress.done()
    for notice in features.notices:
        print(f"xaidesk: note: {notice}", file=sys.stderr)
    write_counterfactuals(args.out, result, source={"table": str(args.input), "row": args.row,
                                                   "target_column": features.target_name, "model": model_name,
                                                   "params": model.params, "metrics": model.metrics})
    _print_summary(args, model, result)
    return 0


def _print_summary(args: argparse.Namespace, model, result) -> None:
    measure = next(iter(model.metrics.items()), None)
    held_out = f" (held-out {measure[0].replace('_', ' ')} {measure[1]:.3g})" if measure else ""
    print(f"{model.title}{held_out} gives row {args.row}: {model.target_name} = {result.outcome} "
          f"({result.output_name}: {result.output:.3g}). Wanted: {result.constraints['requirement']}.")
    for number, cf in enumerate(result.counterfactuals, start=1):
        changes = ", ".join(f"{f} {before:g} -> {after:g}" for f, before, after in cf.changes)
        check = "verified" if cf.verified else "NOT verified"
        print(f"  {number}. {changes}  (gives {cf.outcome}, output {cf.output:.3g}; {check})")
    for note in result.notes:
        print(f"note: {note}")
    print(f"{len(result.counterfactuals)} counterfactuals in {result.seconds:.2f} s; written to {args.out}")
