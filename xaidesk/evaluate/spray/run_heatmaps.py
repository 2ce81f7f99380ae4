"""Reading the heatmaps of one method and class from a batch run folder.

The run's ``run.json`` and ``index.csv`` are read through the run format's own reader
(:mod:`xaidesk.runs.format`), the one module of a higher layer that SpRAy reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core import CancelToken, InputError, no_progress
from ...runs.format import INDEX_FILE, read_index_records, read_meta

@dataclass
class RunHeatmaps:
    """The heatmaps of one method and class of a batch run.

    Attributes
    ----------
    run_dir
        The run folder.
    run
        Its ``run.json`` (source folder, modality, model spec, methods, ...).
    method, target, target_label
        The method and the explained class of every selected item.
    rows
        The selected ``index.csv`` rows (dicts of the columns, in file order).
    maps
        The relevance maps of the rows (empty when read with ``load_maps=False``).
    notices
        Rows that were left out and why.
    """

    run_dir: Path
    run: dict
    method: str
    target: int
    target_label: str
    rows: list[dict]
    maps: list[np.ndarray]
    notices: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return [row["file"] for row in self.rows]

    def thumbnail_path(self, i: int) -> Path | None:
        name = self.rows[i].get("thumbnail") or ""
        return _inside(self.run_dir, name) if name else None

    def source_path(self, i: int) -> Path:
        """The input file of row ``i`` (the run's source folder joined with ``file``)."""
        return Path(self.run.get("source") or self.run_dir) / self.rows[i]["file"]


def read_run_index(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """A batch run's ``run.json`` and the complete rows of its ``index.csv`` (dicts of the index columns).

    Both are read by :mod:`xaidesk.runs.format`, so a row still being appended is left out.
    """
    run_dir = Path(run_dir)
    run = read_meta(run_dir)
    if not (run_dir / INDEX_FILE).is_file():
        raise InputError(f"'{run_dir}' is not a batch run folder (it has no {INDEX_FILE}); "
                         "choose the folder a batch run wrote.")
    return run, [row for row in read_index_records(run_dir) if row["relevance"]]


def run_classes(rows: list[dict], method: str | None = None) -> list[tuple[int, str, int]]:
    """The explained classes of a run (of one method): (index, label, count), most frequent first."""
    counts: dict[tuple[int, str], int] = {}
    for row in rows:
        if method is None or row["method"] == method:
            key = (_as_int(row["target"]), row.get("target_label") or row["target"])
            counts[key] = counts.get(key, 0) + 1
    return sorted(((i, label, c) for (i, label), c in counts.items()), key=lambda t: (-t[2], t[0]))


def run_methods(rows: list[dict]) -> list[str]:
    return sorted({row["method"] for row in rows})


def load_run_heatmaps(
    run_dir: str | Path,
    *,
    method: str | None = None,
    target_class: str | int | None = None,
    true_class: str | None = None,
    load_maps: bool = True,
    token: CancelToken | None = None,
    progress=None,
) -> RunHeatmaps:
    """The relevance maps of one method and one explained class of a batch run.

    Parameters
    ----------
    run_dir
        The run folder (``run.json``, ``index.csv``, ``items/``).
    method
        Method name; may be left out when the run used one method.
    target_class
        The explained class, by label or index; may be left out when the selection explains one class.
    true_class
        Keep only inputs from this class subfolder (``true_class`` column).
    load_maps
        Read the ``.npy`` files (else only the rows are selected).
    """
    token = token or CancelToken()
    progress = progress or no_progress
    run_dir = Path(run_dir)
    run, rows = read_run_index(run_dir)
    methods = run_methods(rows)
    if not rows:
        raise InputError(f"The run '{run_dir}' has no finished items yet.")
    if method is None:
        if len(methods) > 1:
            raise InputError(f"The run used several methods ({', '.join(methods)}); choose one.")
        method = methods[0]
    if method not in methods:
        raise InputError(f"The run has no results of method '{method}'; it has: {', '.join(methods)}.")
    rows = [row for row in rows if row["method"] == method]
    if true_class is not None:
        classes = sorted({row.get("true_class", "") for row in rows})
        rows = [row for row in rows if row.get("true_class", "") == str(true_class)]
        if not rows:
            raise InputError(f"No input of class '{true_class}' in the run; its classes are: "
                             f"{', '.join(c for c in classes if c) or 'none (no class subfolders)'}.")
    targets = run_classes(rows)
    if target_class is None:
        if len(targets) > 1:
            names = ", ".join(f"{label} ({count})" for _, label, count in targets)
            raise InputError(f"The selected items explain several classes ({names}); choose one class: "
                             "SpRAy compares heatmaps of one class.")
        target, label = targets[0][0], targets[0][1]
    else:
        wanted = str(target_class)
        match = [t for t in targets if t[1] == wanted] or [t for t in targets if str(t[0]) == wanted]
        if not match:
            names = ", ".join(label for _, label, _ in targets)
            raise InputError(f"No heatmap explains class '{target_class}' with {method}; explained classes: {names}.")
        target, label = match[0][0], match[0][1]
    rows = [row for row in rows if _as_int(row["target"]) == target]
    selected, maps, notices = [], [], []
    for i, row in enumerate(rows):
        path = _inside(run_dir, row["relevance"])
        if path is None or not path.is_file():
            notices.append(f"{row['file']}: its relevance file '{row['relevance']}' is missing; left out.")
            continue
        if load_maps:
            if i % 32 == 0:
                token.check()
                progress(i / len(rows), f"Reading heatmap {i + 1} of {len(rows)}")
            try:
                data = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as error:
                notices.append(f"{row['file']}: its relevance file could not be read ({error}); left out.")
                continue
            data = np.squeeze(data)
            if data.ndim == 3 and data.shape[-1] in (1, 3):  # per-channel maps: sum the channels
                data = data.sum(axis=-1)
            if data.ndim != 2:
                notices.append(f"{row['file']}: its relevance map has shape {data.shape}, not 2D; left out.")
                continue
            # NaN marks pixels the model never saw (cut off by a centre crop): no relevance there.
            maps.append(np.where(np.isnan(data), 0.0, data).astype(np.float32))
        selected.append(row)
    if not selected:
        raise InputError(f"None of the {len(rows)} heatmaps of class '{label}' could be read from '{run_dir}'.")
    progress(1.0, f"Read {len(selected)} heatmaps")
    return RunHeatmaps(run_dir=run_dir, run=run, method=method, target=target, target_label=label,
                       rows=selected, maps=maps, notices=notices)


def _as_int(text) -> int:
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return -1


def _inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` if it stays inside ``root`` (index paths never point elsewhere)."""
    root = root.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) else None
