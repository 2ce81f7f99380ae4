"""The files of a table analysis: ``scores.csv``, ``relevance.csv`` and ``summary.json``.

One writer, called by ``xaidesk explain table`` and by the Tables tab's "Export results":

- ``scores.csv``: ``row,score``, one line per analysed row; ``row`` is the 0-based row in
  file order.
- ``relevance.csv``: ``row`` and one column per feature (the relevance of that feature for
  that row's score).
- ``summary.json``: the input file and how it was read, the method, θ per column, γ, the
  parameters, seconds, the top rows and global importance
  (:meth:`~xaidesk.explain.table.TableResult.summary`), the target column and the notices.

The three files are written as a set: the folder appears only when all of them are written.
"""

from __future__ import annotations

from pathlib import Path

from ..core.io import csv_field, csv_number, staged_folder, write_bytes_atomic, write_json_atomic

FILES = ("scores.csv", "relevance.csv", "summary.json")


def scores_csv(result) -> bytes:
    """``scores.csv``: ``row,score`` (0-based rows in file order)."""
    lines = ["row,score"] + [f"{int(r)},{csv_number(s)}" for r, s in zip(result.row_ids, result.scores)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def relevance_csv(result) -> bytes:
    """``relevance.csv``: ``row`` and one column per feature."""
    header = ",".join(["row"] + [csv_field(n) for n in result.feature_names])
    lines = [header] + [",".join([str(int(r))] + [csv_number(v) for v in row])
                        for r, row in zip(result.row_ids, result.relevance)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def table_summary(result, table, target_column: str | None = None) -> dict:
    """``summary.json``: how the file was read, the result's summary, the target column, the notices."""
    return {"input": str(table.path), "read_as": table.settings.to_dict(), **result.summary(),
            "target_column": target_column, "notices": list(table.notices) + list(result.notices)}


def write_table_results(folder, result, table, target_column: str | None = None,
                        extra_files: dict[str, bytes] | None = None) -> Path:
    """Write ``scores.csv``, ``relevance.csv``, ``summary.json`` and ``extra_files`` into ``folder`` as a set.

    Parameters
    ----------
    folder
        The output folder (created; an existing folder's files of the same names are replaced).
    result
        The :class:`~xaidesk.explain.table.TableResult`.
    table
        The :class:`~xaidesk.data.tables.LoadedTable` the result was computed from.
    target_column
        The column a supervised method predicted, or ``None``.
    extra_files
        More files of the same set, name to bytes (e.g. :func:`xaidesk.export.tabular_files.readable_files`);
        plain file names other than the three above.

    Returns
    -------
    Path
        ``folder``.
    """
    folder = Path(folder)
    extra_files = dict(extra_files or {})
    for name in extra_files:
        if name in FILES or Path(name).name != name or name.startswith("."):
            raise ValueError(f"{name!r} cannot be an extra file of a table analysis")
    with staged_folder(folder) as staging:
        write_bytes_atomic(staging / "scores.csv", scores_csv(result))
        write_bytes_atomic(staging / "relevance.csv", relevance_csv(result))
        write_json_atomic(staging / "summary.json", table_summary(result, table, target_column))
        for name, data in extra_files.items():
            write_bytes_atomic(staging / name, data)
    return folder
