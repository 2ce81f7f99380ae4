"""The files of a counterfactual search: ``counterfactuals.csv``, ``changes.csv`` and ``counterfactuals.json``.

One writer, called by ``xaidesk counterfactual`` and by the Tables tab's counterfactual page:

- ``counterfactuals.csv``: one line per counterfactual: its number, every feature's value, the
  model's output and outcome, whether predicting it again gave the wanted outcome (``verified``),
  and the changed features separated by ``;``;
- ``changes.csv``: the same changes in long form: ``counterfactual,feature,from,to``;
- ``counterfactuals.json``: everything: the model, the row (its position, values, output and
  outcome), the wanted outcome, the constraints (with the margin: how clearly the outcome must be
  reached, and its wording), the counterfactuals and the source file.

The three files are written as a set: the folder appears only when all of them are written.
"""

from __future__ import annotations

from pathlib import Path

from ..core import InputError
from ..core.io import check_output_folder, csv_field, csv_number, staged_folder, write_bytes_atomic, write_json_atomic

FILES = ("counterfactuals.csv", "changes.csv", "counterfactuals.json")


def check_counterfactual_output(folder) -> Path:
    """Refuse, before any search, an output folder that cannot be written or whose file names are taken by folders."""
    folder = check_output_folder(folder)
    for name in FILES:
        path = folder / name
        if path.exists() and not path.is_file():
            raise InputError(f"'{path}' exists and is not a file, so the results cannot be written there; "
                             "remove it or give another folder.")
    return folder


def counterfactuals_csv(result) -> bytes:
    """``counterfactuals.csv``: number, each feature's value, output, outcome, verified, changed features."""
    header = ["counterfactual", *result.feature_names, "output", "outcome", "verified", "changed"]
    lines = [",".join(csv_field(h) for h in header)]
    for row in result.table_rows():
        lines.append(",".join([str(row["counterfactual"]), *(csv_number(row[n]) for n in result.feature_names),
                               csv_number(row["output"]), csv_field(row["outcome"]),
                               "yes" if row["verified"] else "no", csv_field(row["changed"])]))
    return ("\n".join(lines) + "\n").encode("utf-8")


def changes_csv(result) -> bytes:
    """``changes.csv``: ``counterfactual,feature,from,to``, one line per changed feature."""
    lines = ["counterfactual,feature,from,to"]
    for number, cf in enumerate(result.counterfactuals, start=1):
        lines += [f"{number},{csv_field(f)},{csv_number(before)},{csv_number(after)}" for f, before, after in cf.changes]
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_counterfactuals(folder, result, *, source=None) -> Path:
    """Write ``counterfactuals.csv``, ``changes.csv`` and ``counterfactuals.json`` into ``folder`` as a set.

    Parameters
    ----------
    folder
        The output folder (created; files of the same names in an existing folder are replaced).
    result
        A :class:`~xaidesk.tabular.counterfactual.CounterfactualResult`.
    source
        What the row came from (e.g. the table file and its row number), recorded in the JSON.

    Returns
    -------
    Path
        ``folder``.
    """
    folder = check_counterfactual_output(folder)
    summary = {"source": source, **result.to_dict()}
    with staged_folder(folder) as staging:
        write_bytes_atomic(staging / "counterfactuals.csv", counterfactuals_csv(result))
        write_bytes_atomic(staging / "changes.csv", changes_csv(result))
        write_json_atomic(staging / "counterfactuals.json", summary)
    return folder
