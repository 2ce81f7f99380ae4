"""Opening a finished (or stopped) run folder, and the Dataset tab's sorting and filtering of its rows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..core import InputError
from .format import IndexRow, MethodRequest, read_index, read_meta, read_skipped

SORT_KEYS = ("file", "class", "score", "score_desc", "method")


@dataclass
class RunInfo:
    """An opened run folder: its ``run.json``, its index rows and its skipped files."""

    folder: Path
    meta: dict
    rows: list[IndexRow]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return bool(self.meta.get("finished"))

    @property
    def modality(self) -> str:
        return str(self.meta.get("modality", "image"))

    @property
    def model(self) -> str:
        return str(self.meta.get("model", ""))

    @property
    def source(self) -> Path:
        return Path(self.meta.get("source", ""))

    @property
    def labels(self) -> str | None:
        """The label file whose class names the run used, if one was given."""
        return self.meta.get("labels") or None

    @property
    def preprocessing(self):
        """The preprocessing set by hand for the run (a ``Preprocessing``), or ``None``."""
        from ..models.preprocessing import preprocessing_from_dict

        data = self.meta.get("preprocessing")
        return None if not data else preprocessing_from_dict(data, name=str(data.get("name", "set by hand")))

    def load_model(self, trust: bool = False):
        """The run's model as it was used: its spec with the run's label file and hand-set preprocessing."""
        from ..models import load_model

        return load_model(self.model, trust=trust, labels=self.labels, preprocessing=self.preprocessing)

    @property
    def target(self) -> int | None:
        """The class every input was explained for, or None (each input's predicted class)."""
        target = self.meta.get("target")
        return None if target is None else int(target)

    @property
    def methods(self) -> list[MethodRequest]:
        return [MethodRequest(m["name"], dict(m.get("params", {}))) for m in self.meta.get("methods", [])]

    def input_path(self, row: IndexRow) -> Path:
        """The absolute path of a row's input file."""
        return self.source / row.file

    def path(self, relative: str) -> Path:
        """A path of the index (relevance, thumbnail) made absolute."""
        return self.folder / relative



def read_run(run_dir) -> RunInfo:
    """Open a run folder (the CLI's or the GUI's output).

    Raises :class:`InputError` when the folder is not a batch run.
    """
    folder = Path(run_dir).expanduser()
    if not folder.is_dir():
        raise InputError(f"The run folder '{folder}' does not exist.")
    folder = folder.resolve()
    meta = read_meta(folder)
    return RunInfo(folder, meta, read_index(folder), read_skipped(folder))


def row_classes(rows: Iterable[IndexRow]) -> tuple[list[str], list[str]]:
    """``(true classes, predicted labels)`` present in the rows, each sorted."""
    rows = list(rows)
    return sorted({r.true_class for r in rows} - {""}), sorted({r.predicted_label for r in rows} - {""})


def filter_rows(rows: Iterable[IndexRow], *, true_class: str | None = None, predicted: str | None = None,
                method: str | None = None) -> list[IndexRow]:
    """The rows of one true class, one predicted label and one method (``None``: any)."""
    return [
        r for r in rows
        if (true_class is None or r.true_class == true_class)
        and (predicted is None or r.predicted_label == predicted)
        and (method is None or r.method == method)
    ]


def sort_rows(rows: Iterable[IndexRow], key: str = "file") -> list[IndexRow]:
    """Rows sorted by ``file``, ``class`` (true class, then predicted), ``score`` (lowest first),
    ``score_desc`` (highest first) or ``method``; ties keep file order. Missing scores go last."""
    rows = sorted(rows, key=lambda r: (r.file, r.method))
    if key == "file":
        return rows
    if key == "class":
        return sorted(rows, key=lambda r: (r.true_class, r.predicted_label))
    if key in ("score", "score_desc"):
        sign = -1.0 if key == "score_desc" else 1.0
        return sorted(rows, key=lambda r: (not math.isfinite(r.score), sign * r.score if math.isfinite(r.score) else 0.0))
    if key == "method":
        return sorted(rows, key=lambda r: r.method)
    raise ValueError(f"unknown sort key {key!r}; use one of {', '.join(SORT_KEYS)}")




__all__ = ["RunInfo", "SORT_KEYS", "filter_rows", "read_run", "row_classes", "sort_rows"]
