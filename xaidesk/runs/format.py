"""The run folder format of dataset mode, shared by the batch run, the Dataset tab and SpRAy.

A run folder holds:

- ``run.json``: what was run (``format``, ``source``, ``modality``, ``model``, ``methods``
  with their resolved parameters, ``target``, ``device``, ``shard``, ``created``, ``finished``;
  ``labels``, the label file whose class names were used, and ``preprocessing``, set by hand,
  when given), see :func:`run_meta`;
- ``index.csv``: one row per (input file, method) that is done, columns :data:`INDEX_COLUMNS`;
- ``items/<method>/<file without suffix>.npy`` (float32 relevance in the input's own
  coordinates; for audio the spectrogram's (bands, frames)) and ``.png`` (a thumbnail, longest
  side :data:`THUMBNAIL_SIZE` px, of the heatmap blended over the input);
- ``items/<method>/<file without suffix>.<name>.npz``: arrays a method records beside the relevance
  (a concept run's per-channel relevance and activation, see :mod:`xaidesk.concepts.references`),
  written before the relevance, so an indexed item has them;
- ``skipped.csv`` (``file,reason``): inputs that could not be read.

Rows are appended to the index one complete line at a time (:class:`IndexAppender`), so a
reader drops at most a torn last line. This module imports nothing above :mod:`xaidesk.core`:
:mod:`xaidesk.evaluate` reads runs through it.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..core import InputError
from ..core.io import csv_field, csv_number, write_bytes_atomic

RUN_FORMAT = "xaidesk-batch/1"
RUN_FILE = "run.json"
INDEX_FILE = "index.csv"
SKIPPED_FILE = "skipped.csv"
ITEMS_FOLDER = "items"
INDEX_COLUMNS = (
    "file", "true_class", "predicted", "predicted_label", "score", "target", "target_label",
    "method", "relevance", "thumbnail", "seconds",
)
SKIPPED_COLUMNS = ("file", "reason")
THUMBNAIL_SIZE = 128
#: The ``run.json`` fields a resumed run must share with the run in its folder, and their words.
COMPARED_WORDS = {"source": "a different input folder", "modality": "a different kind of input",
                  "model": "a different model", "methods": "different methods or method settings",
                  "target": "a different explained class (none: each input's predicted class)",
                  "shard": "a different shard", "labels": "a different label file",
                  "preprocessing": "a different preprocessing set by hand",
                  "concepts": "a different concept layer"}


# --- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodRequest:
    """One method of a run and its parameter values (resolved: every parameter present)."""

    name: str
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "params": plain_json(self.params)}


@dataclass
class IndexRow:
    """One row of ``index.csv``: a (file, method) pair that is done."""

    file: str
    true_class: str
    predicted: int
    predicted_label: str
    score: float
    target: int
    target_label: str
    method: str
    relevance: str
    thumbnail: str
    seconds: float

    def csv_line(self) -> str:
        values = [
            csv_field(self.file), csv_field(self.true_class), str(int(self.predicted)), csv_field(self.predicted_label),
            csv_number(self.score), str(int(self.target)), csv_field(self.target_label), csv_field(self.method),
            csv_field(self.relevance), csv_field(self.thumbnail), csv_number(round(float(self.seconds), 6)),
        ]
        return ",".join(values) + "\n"

    @classmethod
    def from_record(cls, record: dict) -> "IndexRow":
        """Parse a ``csv.DictReader`` record; raises ValueError when a field does not fit."""
        return cls(
            file=record["file"], true_class=record["true_class"] or "",
            predicted=int(record["predicted"]), predicted_label=record["predicted_label"] or "",
            score=float(record["score"]) if record["score"] else float("nan"),
            target=int(record["target"]), target_label=record["target_label"] or "",
            method=record["method"], relevance=record["relevance"], thumbnail=record["thumbnail"],
            seconds=float(record["seconds"]) if record["seconds"] else float("nan"),
        )

    @property
    def key(self) -> tuple[str, str]:
        return self.file, self.method


def plain_json(value: Any) -> Any:
    """A JSON round trip: the form values have when read back from ``run.json``."""
    return json.loads(json.dumps(value, default=str))


def now_text() -> str:
    """The local time with its offset, as ``run.json`` records it."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def shard_text(shard) -> str | None:
    """``(2, 8)`` -> ``"2/8"``, the form ``run.json`` records; ``None`` stays ``None``."""
    return None if shard is None else f"{int(shard[0])}/{int(shard[1])}"


# --- run.json -----------------------------------------------------------------------------------


def run_meta(source: Path, modality: str, model_spec: str, methods: Sequence[MethodRequest], device: str,
             shard, target: int | None = None, labels: str | None = None, preprocessing: dict | None = None,
             concepts: dict | None = None) -> dict:
    """The ``run.json`` record of a new run (``target`` None: each input's predicted class).

    ``labels`` (a label file), ``preprocessing`` (set by hand, as ``Preprocessing.to_dict``) and
    ``concepts`` (a concept run's layer) are recorded only when given, so runs without them keep
    their old form.
    """
    extra = {}
    if labels:
        extra["labels"] = str(labels)
    if preprocessing:
        extra["preprocessing"] = plain_json(preprocessing)
    if concepts:
        extra["concepts"] = plain_json(concepts)
    return {
        "format": RUN_FORMAT,
        "source": str(source),
        "modality": modality,
        "model": model_spec,
        "methods": [m.to_dict() for m in methods],
        "target": None if target is None else int(target),
        "device": device,
        "shard": shard_text(shard),
        "created": now_text(),
        "finished": None,
        **extra,
    }


def describe_value(value) -> str:
    """A ``run.json`` value in words, for the messages that compare two runs."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if k != "name")
    if isinstance(value, list):
        return ", ".join(m.get("name", "?") + (f" {m.get('params')}" if m.get("params") else "") for m in value) or "none"
    return "none" if value is None else str(value)


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` holds a ``run.json`` of this format."""
    try:
        return json.loads((path / RUN_FILE).read_text("utf-8")).get("format") == RUN_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_meta(run_dir: Path) -> dict:
    """The ``run.json`` of a run folder; :class:`InputError` when it is missing or of another format."""
    path = Path(run_dir) / RUN_FILE
    try:
        meta = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"'{run_dir}' is not a batch run folder (it has no {RUN_FILE}). "
                         "Choose the folder a batch run wrote.") from None
    except (OSError, ValueError) as error:
        raise InputError(f"The run description '{path}' could not be read.", details=str(error)) from None
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        raise InputError(f"'{path}' does not describe an xaidesk batch run ({RUN_FORMAT}).")
    return meta


# --- index.csv and skipped.csv --------------------------------------------------------------------


def _parse_index(path: Path) -> tuple[list[tuple[dict, IndexRow]], bool]:
    """(record, row) pairs of an index file and whether it needs rewriting (a torn last line, a bad row)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], False
    clean = True
    if data and not data.endswith(b"\n"):
        # An append cut short (power loss): the last line is incomplete.
        data = data[: data.rfind(b"\n") + 1]
        clean = False
    reader = csv.DictReader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    if data and tuple(reader.fieldnames or ()) != INDEX_COLUMNS:
        raise InputError(f"'{path}' is not the index of an xaidesk batch run (its columns differ).")
    pairs = []
    for record in reader:
        try:
            if None in record or any(record.get(c) is None for c in INDEX_COLUMNS):
                raise ValueError
            pairs.append((record, IndexRow.from_record(record)))
        except (ValueError, KeyError):
            clean = False
    return pairs, not clean


def read_index_file(path: Path) -> tuple[list[IndexRow], bool]:
    """Rows of an index file and whether it needs rewriting (a torn last line, a bad row)."""
    pairs, dirty = _parse_index(Path(path))
    return [row for _, row in pairs], dirty


def read_index(run_dir) -> list[IndexRow]:
    """The rows of ``RUN/index.csv`` (an incomplete last line is left out)."""
    return read_index_file(Path(run_dir) / INDEX_FILE)[0]


def read_index_records(run_dir) -> list[dict]:
    """The rows of ``RUN/index.csv`` as they stand in the file (dicts of :data:`INDEX_COLUMNS`)."""
    return [record for record, _ in _parse_index(Path(run_dir) / INDEX_FILE)[0]]


def read_skipped(run_dir: Path) -> list[tuple[str, str]]:
    """The ``(file, reason)`` pairs of ``RUN/skipped.csv`` (none when it is missing)."""
    try:
        text = (Path(run_dir) / SKIPPED_FILE).read_text("utf-8")
    except FileNotFoundError:
        return []
    return [(r["file"], r["reason"]) for r in csv.DictReader(io.StringIO(text, newline="")) if r.get("file")]


def sidecar_path(relevance: str, name: str) -> str:
    """``items/m/a.npy`` -> ``items/m/a.<name>.npz``: the arrays a method recorded beside an item's relevance."""
    base = relevance[: -len(".npy")] if relevance.endswith(".npy") else relevance
    return f"{base}.{name}.npz"


def sidecar_files(run_dir: Path, row: IndexRow) -> list[str]:
    """The sidecar files (see :func:`sidecar_path`) present for a row, relative to the run folder."""
    relevance = Path(run_dir) / row.relevance
    stem = relevance.name[: -len(".npy")] if relevance.name.endswith(".npy") else relevance.name
    if not relevance.parent.is_dir():
        return []
    return sorted((Path(row.relevance).parent / p.name).as_posix()
                  for p in relevance.parent.glob(f"{glob.escape(stem)}.*.npz")
                  if p.name.count(".") == stem.count(".") + 2)


def row_complete(run_dir: Path, row: IndexRow) -> bool:
    """Whether both item files of a row are in the run folder."""
    return (run_dir / row.relevance).is_file() and (run_dir / row.thumbnail).is_file()


def write_index(run_dir: Path, rows: Iterable[IndexRow]) -> None:
    """Write ``RUN/index.csv`` with these rows, atomically."""
    text = ",".join(INDEX_COLUMNS) + "\n" + "".join(r.csv_line() for r in rows)
    write_bytes_atomic(run_dir / INDEX_FILE, text.encode("utf-8"))


def write_skipped(run_dir: Path, skipped: dict[str, str]) -> None:
    """Write ``RUN/skipped.csv`` (file -> reason), atomically."""
    lines = [",".join(SKIPPED_COLUMNS)] + [f"{csv_field(f)},{csv_field(r)}" for f, r in sorted(skipped.items())]
    write_bytes_atomic(run_dir / SKIPPED_FILE, ("\n".join(lines) + "\n").encode("utf-8"))


def sorted_rows(rows: Iterable[IndexRow], method_order: Sequence[str] = ()) -> list[IndexRow]:
    """Rows in index order: by file, then by the run's method order."""
    order = {name: i for i, name in enumerate(method_order)}
    return sorted(rows, key=lambda r: (r.file, order.get(r.method, len(order)), r.method))


class IndexAppender:
    """Appends complete rows to ``index.csv``: one write per row, flushed to disk per batch."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, row: IndexRow) -> None:
        os.write(self._fd, row.csv_line().encode("utf-8"))

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1


__all__ = [
    "COMPARED_WORDS", "INDEX_COLUMNS", "INDEX_FILE", "ITEMS_FOLDER", "IndexAppender", "IndexRow", "MethodRequest",
    "RUN_FILE", "RUN_FORMAT", "SKIPPED_COLUMNS", "SKIPPED_FILE", "THUMBNAIL_SIZE", "describe_value",
    "is_run_folder", "now_text", "plain_json", "read_index", "read_index_file", "read_index_records", "read_meta",
    "read_skipped", "row_complete", "run_meta", "shard_text", "sorted_rows", "write_index", "write_skipped",
]
