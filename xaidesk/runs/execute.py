"""Dataset mode: explain every image or sound clip of a folder with one or more methods.

A run writes into one run folder (the format is shared with SpRAy):

- ``run.json``: what was run (``format``, ``source``, ``modality``, ``model``, ``methods``
  with their resolved parameters, ``device``, ``shard``, ``created``, ``finished``; ``labels``,
  the label file whose class names were used, and ``preprocessing``, set by hand, when given:
  :meth:`RunInfo.load_model` loads the model the same way);
- ``index.csv``: one row per (input file, method) that is done, columns :data:`INDEX_COLUMNS`;
- ``items/<method>/<file without suffix>.npy`` (float32 relevance in the input's own
  coordinates; for audio the spectrogram's (bands, frames)) and ``.png`` (a thumbnail, longest
  side :data:`THUMBNAIL_SIZE` px, of the heatmap blended over the input);
- ``skipped.csv`` (``file,reason``): inputs that could not be read.

Crash safety: each item's two files are written atomically first; only then is its index row
appended with a single write and flushed to disk. An item therefore appears in the index only
when it is complete, and a run resumes where it stopped: rows whose files are present are kept
and their (file, method) pairs are not done again; everything else is (re)computed. When a run
finishes, the index is rewritten sorted (atomically).

Throughput: LRP and the plain gradient methods have a batched path (``BATCHED_METHODS`` of
:mod:`xaidesk.explain.lrp` and :mod:`xaidesk.explain.gradients`): ``batch_size`` images go
through the model in one forward and one backward pass, each with its own target. The result
equals the per-image result up to float rounding. Other methods, and all audio, run per file
through :func:`~xaidesk.explain.explain_image` / :func:`~xaidesk.explain.explain_audio`. Files
are decoded on a background thread, one chunk ahead of the computation, and results are written
on another while the next chunk is computed.

Devices: on ``"cuda"`` the model and the batched inputs move to the GPU; per-file methods keep
their tensors on the CPU and the model's root gets two hooks for their calls that move its
input to the GPU and its scores back (TorchScript models are wrapped instead).

Sharding: ``shard=(i, n)`` takes every n-th file of the sorted list starting at i (0-based),
so n machines can share a folder; :func:`merge_runs` joins their run folders.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .core import (
    CancelToken,
    InputError,
    MethodError,
    ModelError,
    XaideskError,
    get_method,
    no_progress,
    render,
)
from .core.io import csv_field, csv_number, save_npy_atomic, save_png_atomic, staged_folder, write_bytes_atomic, write_json_atomic
from .data.audio import AUDIO_SUFFIXES
from .data.images import IMAGE_SUFFIXES

RUN_FORMAT = "xaidesk-batch/1"
INDEX_COLUMNS = (
    "file", "true_class", "predicted", "predicted_label", "score", "target", "target_label",
    "method", "relevance", "thumbnail", "seconds",
)
SKIPPED_COLUMNS = ("file", "reason")
THUMBNAIL_SIZE = 128
DEFAULT_BATCH_SIZE = 16
SORT_KEYS = ("file", "class", "score", "score_desc", "method")
MODALITY_SUFFIXES = {"image": IMAGE_SUFFIXES, "audio": AUDIO_SUFFIXES}
_NOUNS = {"image": "images", "audio": "sound clips"}


# --- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodRequest:
    """One method of a run and its parameter values (resolved: every parameter present)."""

    name: str
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "params": _plain(self.params)}


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


@dataclass
class FolderScan:
    """The inputs found in a folder.

    Attributes
    ----------
    root
        The folder (absolute).
    modality
        ``"image"`` or ``"audio"``.
    files
        Paths relative to ``root`` with forward slashes, sorted.
    classes
        The class subfolder names that hold inputs (empty when all inputs sit in ``root``).
    other_files
        How many files were not of this modality (ignored).
    """

    root: Path
    modality: str
    files: list[str]
    classes: list[str]
    other_files: int = 0

    def true_class(self, file: str) -> str:
        return true_class_of(file)

    def describe(self) -> str:
        """``"240 images in 3 classes (cat, dog, horse)"``."""
        noun = _NOUNS[self.modality] if len(self.files) != 1 else _NOUNS[self.modality][:-1]
        text = f"{len(self.files)} {noun}"
        if self.classes:
            shown = ", ".join(self.classes[:6]) + (", …" if len(self.classes) > 6 else "")
            text += f" in {len(self.classes)} class folder{'s' if len(self.classes) != 1 else ''} ({shown})"
        return text


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
        from .models.demo import preprocessing_from_dict

        data = self.meta.get("preprocessing")
        return None if not data else preprocessing_from_dict(data, name=str(data.get("name", "set by hand")))

    def load_model(self, trust: bool = False):
        """The run's model as it was used: its spec with the run's label file and hand-set preprocessing."""
        from .models import load_model

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


@dataclass
class MergeResult:
    """The outcome of :func:`merge_runs`."""

    run_dir: Path
    rows: int
    duplicates: int
    missing_shards: list[int]
    unfinished: list[Path]


# --- helpers ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON round trip: the form values have when read back from ``run.json``."""
    return json.loads(json.dumps(value, default=str))


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def true_class_of(file: str) -> str:
    """The class subfolder of a relative path (its first component), or ``""``."""
    parts = file.split("/")
    return parts[0] if len(parts) > 1 else ""


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


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/8"`` -> ``(2, 8)``: shard 2 of 8, numbered from 0. ``None`` or ``""`` -> ``None``."""
    if text is None or str(text).strip() == "":
        return None
    index, sep, count = str(text).strip().partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise InputError(f"A shard is written i/n, e.g. 0/4 for the first of four; got '{text}'.") from None
    return check_shard((i, n)) if sep else check_shard((i, 0))


def check_shard(shard) -> tuple[int, int] | None:
    if shard is None:
        return None
    i, n = int(shard[0]), int(shard[1])
    if n < 1:
        raise InputError(f"The number of shards must be at least 1; got {n} (write a shard as i/n, e.g. 0/4).")
    if not 0 <= i < n:
        raise InputError(f"Shards are numbered from 0 to {n - 1}; got shard {i} of {n}.")
    return i, n


def shard_text(shard) -> str | None:
    return None if shard is None else f"{int(shard[0])}/{int(shard[1])}"


def shard_files(files: Sequence[str], shard) -> list[str]:
    """The files of shard ``(i, n)``: every n-th of the sorted list, starting at i."""
    ordered = sorted(files)
    shard = check_shard(shard)
    if shard is None:
        return ordered
    i, n = shard
    return ordered[i::n]


# --- scanning -------------------------------------------------------------------------------------


def _is_run_folder(path: Path) -> bool:
    try:
        return json.loads((path / "run.json").read_text("utf-8")).get("format") == RUN_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _walk(root: Path, exclude: Iterable[Path]) -> list[str]:
    """Every regular file under ``root`` (relative, forward slashes), skipping hidden entries,
    excluded folders and run folders inside the source."""
    excluded = {Path(p).resolve() for p in exclude}
    found: list[str] = []
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and (here / d).resolve() not in excluded and not _is_run_folder(here / d)
        )
        for name in names:
            if not name.startswith(".") and (here / name).is_file():
                found.append((here / name).relative_to(root).as_posix())
    return sorted(found)


def _check_source(folder) -> Path:
    root = Path(folder).expanduser()
    if not root.exists():
        raise InputError(f"The folder '{root}' does not exist. Check the name and location.")
    if not root.is_dir():
        raise InputError(f"'{root}' is a file, not a folder. Choose the folder that holds the images or sound clips.")
    return root.resolve()


def detect_modality(folder, exclude: Iterable[Path] = ()) -> str:
    """``"image"`` or ``"audio"``: the kind of input most files of the folder are.

    Raises :class:`InputError` for an empty folder or one without image or sound files.
    """
    root = _check_source(folder)
    files = _walk(root, exclude)
    counts = {m: sum(Path(f).suffix.lower() in s for f in files) for m, s in MODALITY_SUFFIXES.items()}
    if not any(counts.values()):
        raise _no_inputs(root, files, None)
    return "audio" if counts["audio"] > counts["image"] else "image"


def _no_inputs(root: Path, files: list[str], modality: str | None) -> InputError:
    if not files:
        return InputError(f"The folder '{root}' is empty. Choose a folder of images or sound clips "
                          "(class subfolders are fine).")
    if modality is None:
        kinds = "image files (" + ", ".join(IMAGE_SUFFIXES) + ") or sound files (" + ", ".join(AUDIO_SUFFIXES) + ")"
    else:
        kinds = f"{modality} files (" + ", ".join(MODALITY_SUFFIXES[modality]) + ")"
    return InputError(f"The folder '{root}' holds {len(files)} file(s) but no {kinds}. "
                      "Choose a folder of such files, directly or in class subfolders.")


def scan_folder(folder, modality: str | None = None, exclude: Iterable[Path] = ()) -> FolderScan:
    """Find the inputs of ``modality`` (detected when ``None``) in ``folder`` and its subfolders.

    Hidden files and folders, ``exclude`` and run folders inside ``folder`` are left out.
    Raises :class:`InputError` when there is nothing to explain.
    """
    root = _check_source(folder)
    files = _walk(root, exclude)
    if modality is None:
        modality = detect_modality(root, exclude)
    if modality not in MODALITY_SUFFIXES:
        raise InputError(f"Dataset mode explains images or sound clips, not {modality} inputs.")
    suffixes = MODALITY_SUFFIXES[modality]
    chosen = [f for f in files if Path(f).suffix.lower() in suffixes]
    if not chosen:
        raise _no_inputs(root, files, modality)
    classes = sorted({true_class_of(f) for f in chosen} - {""})
    return FolderScan(root, modality, chosen, classes, other_files=len(files) - len(chosen))


def item_stems(files: Sequence[str]) -> dict[str, str]:
    """File -> its item path without suffix: the file without its suffix, or with it where two
    files differ only in their suffix (``a.png`` and ``a.jpg``)."""
    stems: dict[str, list[str]] = {}
    for f in files:
        stems.setdefault(f.rsplit(".", 1)[0] if "." in Path(f).name else f, []).append(f)
    out = {}
    for stem, members in stems.items():
        for f in members:
            out[f] = stem if len(members) == 1 else f
    while True:  # a kept full name can equal another file's stem (x.png beside x.jpg and x.png.png)
        owners: dict[str, list[str]] = {}
        for f, stem in out.items():
            owners.setdefault(stem, []).append(f)
        clashing = [f for members in owners.values() if len(members) > 1 for f in members if out[f] != f]
        if not clashing:
            return out
        for f in clashing:
            out[f] = f


# --- run folders ---------------------------------------------------------------------------------


def _read_index_text(path: Path) -> tuple[list[IndexRow], bool]:
    """Rows of an index file and whether it needs rewriting (a torn last line, a bad row)."""
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
    rows = []
    for record in reader:
        try:
            if None in record or any(record.get(c) is None for c in INDEX_COLUMNS):
                raise ValueError
            rows.append(IndexRow.from_record(record))
        except (ValueError, KeyError):
            clean = False
    return rows, not clean


def read_index(run_dir) -> list[IndexRow]:
    """The rows of ``RUN/index.csv`` (an incomplete last line is left out)."""
    return _read_index_text(Path(run_dir) / "index.csv")[0]


def _read_skipped(run_dir: Path) -> list[tuple[str, str]]:
    try:
        text = (run_dir / "skipped.csv").read_text("utf-8")
    except FileNotFoundError:
        return []
    return [(r["file"], r["reason"]) for r in csv.DictReader(io.StringIO(text, newline="")) if r.get("file")]


def _read_meta(run_dir: Path) -> dict:
    path = run_dir / "run.json"
    try:
        meta = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"'{run_dir}' is not a batch run folder (it has no run.json). "
                         "Choose the folder a batch run wrote.") from None
    except (OSError, ValueError) as error:
        raise InputError(f"The run description '{path}' could not be read.", details=str(error)) from None
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        raise InputError(f"'{path}' does not describe an xaidesk batch run ({RUN_FORMAT}).")
    return meta


def read_run(run_dir) -> RunInfo:
    """Open a run folder (the CLI's or the GUI's output).

    Raises :class:`InputError` when the folder is not a batch run.
    """
    folder = Path(run_dir).expanduser()
    if not folder.is_dir():
        raise InputError(f"The run folder '{folder}' does not exist.")
    folder = folder.resolve()
    meta = _read_meta(folder)
    return RunInfo(folder, meta, read_index(folder), _read_skipped(folder))


def _row_complete(run_dir: Path, row: IndexRow) -> bool:
    return (run_dir / row.relevance).is_file() and (run_dir / row.thumbnail).is_file()


def _write_index(run_dir: Path, rows: Iterable[IndexRow]) -> None:
    text = ",".join(INDEX_COLUMNS) + "\n" + "".join(r.csv_line() for r in rows)
    write_bytes_atomic(run_dir / "index.csv", text.encode("utf-8"))


def _write_skipped(run_dir: Path, skipped: dict[str, str]) -> None:
    lines = [",".join(SKIPPED_COLUMNS)] + [f"{csv_field(f)},{csv_field(r)}" for f, r in sorted(skipped.items())]
    write_bytes_atomic(run_dir / "skipped.csv", ("\n".join(lines) + "\n").encode("utf-8"))


def _sorted_rows(rows: Iterable[IndexRow], method_order: Sequence[str] = ()) -> list[IndexRow]:
    order = {name: i for i, name in enumerate(method_order)}
    return sorted(rows, key=lambda r: (r.file, order.get(r.method, len(order)), r.method))


class _IndexAppender:
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


_COMPARED = ("source", "modality", "model", "methods", "target", "shard", "labels", "preprocessing")
_COMPARED_WORDS = {"source": "a different input folder", "modality": "a different kind of input",
                   "model": "a different model", "methods": "different methods or method settings",
                   "target": "a different explained class (none: each input's predicted class)",
                   "shard": "a different shard", "labels": "a different label file",
                   "preprocessing": "a different preprocessing set by hand"}


def _open_run_folder(out: Path, meta: dict) -> tuple[dict, list[IndexRow]]:
    """Create the run folder or check that it holds the same run; return its meta and valid rows."""
    if out.exists() and not out.is_dir():
        raise InputError(f"The output '{out}' exists and is a file; give a folder for the run.")
    if out.is_dir() and (out / "run.json").exists():
        existing = _read_meta(out)
        for key in _COMPARED:
            if _plain(existing.get(key)) != _plain(meta.get(key)):
                raise InputError(
                    f"The folder '{out}' already holds a batch run with {_COMPARED_WORDS[key]} "
                    f"({_describe_value(existing.get(key))} instead of {_describe_value(meta.get(key))}). "
                    "Choose a new output folder, or run with that run's settings to resume it."
                )
        rows, dirty = _read_index_text(out / "index.csv")
        valid: dict[tuple[str, str], IndexRow] = {}
        for row in rows:
            if _row_complete(out, row):
                valid[row.key] = row
        kept = list(valid.values())
        if dirty or len(kept) != len(rows) or not (out / "index.csv").exists():
            _write_index(out, kept)
        for leftover in (out / "items").rglob(".*.tmp") if (out / "items").is_dir() else ():
            leftover.unlink(missing_ok=True)
        existing.update(device=meta["device"], finished=None)
        write_json_atomic(out / "run.json", existing)
        return existing, kept
    if out.is_dir() and any(out.iterdir()):
        raise InputError(f"The folder '{out}' is not empty and holds no batch run. "
                         "Choose an empty or new folder for the run.")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "run.json", meta)
    _write_index(out, [])
    return meta, []


def _describe_value(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if k != "name")
    if isinstance(value, list):
        return ", ".join(m.get("name", "?") + (f" {m.get('params')}" if m.get("params") else "") for m in value) or "none"
    return "none" if value is None else str(value)


# --- methods, devices, models --------------------------------------------------------------------


def resolve_methods(methods: Sequence, modality: str, model=None) -> list[MethodRequest]:
    """Check the methods against the modality (and the model) and fill in their defaults.

    ``methods`` holds names or :class:`MethodRequest` / ``(name, params)`` items.
    """
    from .explain.pipeline import method_for

    if not methods:
        raise MethodError("Choose at least one explanation method for the run.")
    requests: list[MethodRequest] = []
    for item in methods:
        if isinstance(item, MethodRequest):
            name, values = item.name, item.params
        elif isinstance(item, str):
            name, values = item, {}
        else:
            name, values = item[0], dict(item[1] or {})
        info = method_for(name, modality, model) if model is not None else get_method(name)
        if modality not in info.modality:
            raise MethodError(f"The method {name} does not work on {_NOUNS.get(modality, modality)}.")
        if any(r.name == name for r in requests):
            raise MethodError(f"The method {name} was chosen twice; a run explains each file once per method.")
        requests.append(MethodRequest(name, _plain(info.resolve_params(values))))
    return requests


def resolve_device(name: str | None):
    """``"cpu"`` or ``"cuda"`` as a torch device, with a plain error when CUDA is not there."""
    import torch

    name = (name or "cpu").strip().lower()
    if name == "cpu":
        return torch.device("cpu")
    if name in ("cuda", "gpu") or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError("CUDA was chosen, but this computer has no CUDA GPU that PyTorch can use. "
                             "Run on the CPU instead.")
        return torch.device("cuda" if name == "gpu" else name)
    raise InputError(f"Unknown device '{name}'; choose cpu or cuda.")


def available_devices() -> list[str]:
    """``["cpu"]``, plus ``"cuda"`` when a CUDA GPU is usable."""
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@contextlib.contextmanager
def _per_file_on_device(model, device):
    """``model`` for the per-file methods while ``module`` sits on ``device``: inputs move there and
    scores come back to the CPU, where those methods keep their tensors.

    An ``nn.Module`` gets two hooks on its root (removed on the way out), so its layer names stay
    as they are (RELAX's layer parameter names them); a TorchScript module is wrapped.
    """
    import torch

    module = model.module
    if device.type == "cpu":
        yield model
        return
    if model.is_torchscript or isinstance(module, torch.jit.ScriptModule):
        class OnDevice(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return self.inner(x.to(device)).cpu()

        yield dataclasses.replace(model, module=OnDevice(module).eval())
        return
    handles = [
        module.register_forward_pre_hook(lambda _m, args: tuple(a.to(device) if hasattr(a, "to") else a for a in args)),
        module.register_forward_hook(lambda _m, _args, output: output.cpu() if hasattr(output, "cpu") else output),
    ]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


# --- reading inputs --------------------------------------------------------------------------------


@dataclass
class _Input:
    file: str
    pixels: np.ndarray | None = None
    tensor: Any = None
    audio: Any = None
    error: str | None = None
    seconds: float = 0.0


def _read_input(root: Path, file: str, modality: str, model) -> _Input:
    start = time.perf_counter()
    item = _Input(file)
    try:
        if modality == "image":
            from .data.images import load_image

            item.pixels = load_image(root / file).pixels
            item.tensor = model.preprocessing.to_tensor(item.pixels)
        else:
            from .data.audio import load_audio

            item.audio = load_audio(root / file)
    except XaideskError as error:
        item.error = error.message
    except (OSError, ValueError, MemoryError) as error:
        item.error = f"could not be read ({type(error).__name__}: {error})"
    item.seconds = time.perf_counter() - start
    return item


class _Prefetcher:
    """Reads the next chunks of inputs on a background thread while the current one is explained."""

    def __init__(self, root: Path, chunks: list[list[str]], modality: str, model, ahead: int = 1) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="xaidesk-read")
        self._read = lambda files: [_read_input(root, f, modality, model) for f in files]
        self._chunks = chunks
        self._futures: dict[int, concurrent.futures.Future] = {}
        self._ahead = ahead

    def get(self, k: int) -> list[_Input]:
        for j in range(k, min(len(self._chunks), k + self._ahead + 1)):
            if j not in self._futures:
                self._futures[j] = self._executor.submit(self._read, self._chunks[j])
        return self._futures.pop(k).result()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class _Saver:
    """Writes finished items (thumbnail, relevance, thumbnail PNG) on a background thread while the
    next batch is computed. Their index rows are appended by the calling thread, in order, and
    only for items whose files are both written."""

    def __init__(self, out: Path, model, stems: dict, appender: "_IndexAppender", on_row, report,
                 limit: int = 2) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="xaidesk-save")
        self._pending: collections.deque = collections.deque()
        self._out, self._model, self._stems = out, model, stems
        self._appender, self._on_row, self._report = appender, on_row, report
        self._limit = limit

    def submit(self, items: list, results: list, method: str) -> None:
        while len(self._pending) >= self._limit:
            self._collect_one()
        self._pending.append((method, self._executor.submit(self._save_all, items, results, method)))
        while self._pending and self._pending[0][1].done():
            self._collect_one()

    def _save_all(self, items, results, method):
        rows: list[IndexRow] = []
        try:
            for item, (explanation, predicted, seconds) in zip(items, results):
                rows.append(_save_item(self._out, self._model, item, explanation, predicted, method,
                                       self._stems[item.file], seconds))
        except BaseException as error:  # noqa: BLE001 - handed to the calling thread with the rows done
            return rows, error
        return rows, None

    def _collect_one(self) -> None:
        method, future = self._pending.popleft()
        rows, error = future.result()
        for row in rows:
            self._appender.append(row)
            self._on_row(row)
        self._appender.sync()
        if error is not None:
            raise error
        self._report(method)

    def finish(self) -> None:
        """Wait for every item handed over and index it."""
        while self._pending:
            self._collect_one()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)


# --- thumbnails --------------------------------------------------------------------------------------


def _resize(array: np.ndarray, size: tuple[int, int], shrink: bool):
    from PIL import Image

    resample = Image.Resampling.BOX if shrink else Image.Resampling.NEAREST
    if array.dtype == np.uint8:
        return np.asarray(Image.fromarray(np.ascontiguousarray(array)).resize(size, resample))
    return np.asarray(Image.fromarray(np.ascontiguousarray(array, dtype=np.float32), mode="F").resize(size, resample))


def _thumbnail_size(height: int, width: int, longest: int) -> tuple[int, int]:
    scale = longest / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def image_thumbnail(pixels: np.ndarray, relevance: np.ndarray, longest: int = THUMBNAIL_SIZE,
                    cmap: str | None = None, opacity: float = 0.6, signed: bool | None = None) -> np.ndarray:
    """The heatmap blended over the image, longest side ``longest`` px (RGB uint8).

    Both are resized first (box filter when shrinking, nearest neighbours when enlarging) and the
    colour levels are those of the small map, the one that is seen. ``signed`` False (a map that only
    says how much) is drawn over its range on a sequential colour map unless ``cmap`` is given.
    """
    height, width = pixels.shape[:2]
    size = _thumbnail_size(height, width, longest)
    shrink = max(height, width) > longest
    small = _resize(pixels, size, shrink)
    small_relevance = _resize(relevance, size, shrink)
    return render.blend_overlay(small, small_relevance, cmap=cmap or render.automatic_colormap(signed),
                                opacity=opacity, levels=render.automatic_levels(small_relevance, signed))


def audio_thumbnail(spectrogram: np.ndarray, relevance: np.ndarray, longest: int = THUMBNAIL_SIZE,
                    cmap: str | None = None, opacity: float = 0.6, signed: bool | None = None) -> np.ndarray:
    """The relevance blended over the spectrogram picture, longest side ``longest`` px."""
    from .explain.audio import render_spectrogram_overlay

    picture = render_spectrogram_overlay(spectrogram, relevance, cmap=cmap, opacity=opacity, scale=(1, 1),
                                         signed=signed)
    height, width = picture.shape[:2]
    return _resize(picture, _thumbnail_size(height, width, longest), max(height, width) > longest)


# --- the run ------------------------------------------------------------------------------------------


def run_meta(source: Path, modality: str, model_spec: str, methods: Sequence[MethodRequest], device: str,
             shard, target: int | None = None, labels: str | None = None, preprocessing: dict | None = None) -> dict:
    """The ``run.json`` record of a new run (``target`` None: each input's predicted class).

    ``labels`` (a label file) and ``preprocessing`` (set by hand, as ``Preprocessing.to_dict``) are
    recorded only when given, so runs without them keep their old form.
    """
    extra = {}
    if labels:
        extra["labels"] = str(labels)
    if preprocessing:
        extra["preprocessing"] = _plain(preprocessing)
    return {
        "format": RUN_FORMAT,
        "source": str(source),
        "modality": modality,
        "model": model_spec,
        "methods": [m.to_dict() for m in methods],
        "target": None if target is None else int(target),
        "device": device,
        "shard": shard_text(shard),
        "created": _now(),
        "finished": None,
        **extra,
    }


def _absolute(path) -> str | None:
    """``path`` made absolute (a run may be resumed or opened from another folder), or None."""
    return str(Path(path).expanduser().resolve()) if path else None


def batched_function(name: str):
    """The batched path of a method, or ``None`` when it runs per input."""
    from .explain import attnlrp, gradients, lrp

    return {**lrp.BATCHED_METHODS, **gradients.BATCHED_METHODS, **attnlrp.BATCHED_METHODS}.get(name)


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
    token: CancelToken | None = None,
    progress=None,
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
    token, progress
        Cancel token and progress callback; ``partial`` is a :class:`BatchStatus`.

    Raises
    ------
    Cancelled
        When cancelled; every item finished so far is saved and indexed.
    """
    import torch

    from .models import load_model
    from .models.base import LoadedModel

    token = token or CancelToken()
    progress = progress or no_progress
    started = time.perf_counter()
    if int(batch_size) < 1:
        raise InputError(f"The batch size must be at least 1; got {batch_size}.")
    shard = check_shard(shard)
    out = Path(out).expanduser().resolve()
    root = _check_source(source)
    if out == root:
        raise InputError("The run folder must not be the input folder itself; choose another output folder.")
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
                    labels=_absolute(getattr(loaded, "label_file", None)), preprocessing=hand_set)
    meta, rows = _open_run_folder(out, meta)
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
    if moved:
        module.to(torch_device)
    appender = _IndexAppender(out / "index.csv")

    def indexed(row: IndexRow) -> None:
        session_rows.append(row)
        unit_done(row.file)

    saver = _Saver(out, loaded, stems, appender, indexed, report)
    chunks = [[f for f, _ in todo[i:i + int(batch_size)]] for i in range(0, len(todo), int(batch_size))]
    methods_of = dict(todo)
    prefetcher = _Prefetcher(root, chunks, modality, loaded)
    finished = False
    try:
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
                _write_skipped(out, skipped)
            for request in requests:
                group = [item for item in readable if request in methods_of[item.file]]
                if not group:
                    continue
                function = batched_function(request.name) if (use_batched and modality == "image") else None
                if function is not None:
                    results = _explain_batched(function, loaded, group, request, target, torch_device, token,
                                               counters)
                    saver.submit(group, results, request.name)
                    continue
                for item in group:
                    token.check()
                    report(request.name)
                    with _per_file_on_device(loaded, torch_device) as per_file_model:
                        result = _explain_one(per_file_model, item, request, target, token, counters)
                    saver.submit([item], [result], request.name)
        saver.finish()
        finished = True
    except BaseException:
        # Items computed before the stop are saved and indexed all the same.
        with contextlib.suppress(BaseException):
            saver.finish()
        raise
    finally:
        saver.close()
        prefetcher.close()
        appender.close()
        if moved:
            module.to("cpu")
    if skipped:
        _write_skipped(out, skipped)
    elif (out / "skipped.csv").exists():
        _write_skipped(out, {})
    all_rows = {r.key: r for r in rows}
    all_rows.update({r.key: r for r in session_rows})
    _write_index(out, _sorted_rows(all_rows.values(), [m.name for m in requests]))
    meta["finished"] = _now() if finished else None
    write_json_atomic(out / "run.json", meta)
    report("done")
    return BatchResult(out, len(files), len(session_rows), already, sorted(skipped.items()),
                       time.perf_counter() - started, counters["compute"], finished)


def _explain_batched(function, model, group: list[_Input], request: MethodRequest, target, device, token, counters):
    """Explain a group of images in one pass; ``[(explanation in image coordinates, predicted, seconds)]``."""
    import torch

    from .explain.common import forward_logits, scoring_module

    info = get_method(request.name)
    x = torch.cat([item.tensor for item in group]).to(device)
    start = time.perf_counter()
    targets = None if target is None else [int(target)] * len(group)
    explanations = function(model, x, targets, params=dict(request.params), token=token)
    if target is not None:
        with torch.inference_mode():
            predicted = forward_logits(scoring_module(model), x, model.name).argmax(1).tolist()
    else:
        predicted = [e.target.index for e in explanations]
    seconds = time.perf_counter() - start
    counters["compute"] += seconds
    share = seconds / len(group)
    results = []
    for item, explanation, top in zip(group, explanations, predicted):
        relevance = model.preprocessing.to_original(explanation.relevance, item.pixels.shape[:2], preserve=info.resample)
        explanation = explanation.replace(relevance=relevance, method=request.name, seconds=share)
        results.append((explanation, int(top), share + item.seconds))
    return results


def _explain_one(model, item: _Input, request: MethodRequest, target, token, counters):
    """Explain one input per file; ``(explanation, predicted, seconds)``."""
    start = time.perf_counter()
    if item.pixels is not None:
        from .explain.pipeline import explain_image, predict_tensor

        explanation = explain_image(model, item.pixels, request.name, target=target, params=dict(request.params),
                                    token=token)
        predicted = explanation.target.index if target is None else predict_tensor(model, item.tensor).top_class
    else:
        from .explain.audio import explain_audio, predict_audio

        explanation = explain_audio(model, item.audio, request.name, target=target, params=dict(request.params),
                                    token=token)
        predicted = explanation.target.index if target is None else predict_audio(model, item.audio).top_class
    seconds = time.perf_counter() - start
    counters["compute"] += seconds
    return explanation, int(predicted), seconds + item.seconds


def _save_item(out: Path, model, item: _Input, explanation, predicted: int, method: str, stem: str,
               seconds: float) -> IndexRow:
    """Write an item's relevance and thumbnail atomically and return its index row."""
    start = time.perf_counter()
    relevance = np.asarray(explanation.relevance, dtype=np.float32)
    base = Path("items") / method / stem
    npy, png = base.with_name(base.name + ".npy"), base.with_name(base.name + ".png")
    signed = get_method(method).shows_sign(explanation.params)
    if item.pixels is not None:
        thumbnail = image_thumbnail(item.pixels, relevance, signed=signed)
    else:
        thumbnail = audio_thumbnail(explanation.extras["spectrogram"], relevance, signed=signed)
    save_npy_atomic(out / npy, relevance)
    save_png_atomic(out / png, thumbnail)
    return IndexRow(
        file=item.file, true_class=true_class_of(item.file), predicted=int(predicted),
        predicted_label=model.label(int(predicted)), score=float(explanation.score),
        target=int(explanation.target.index), target_label=explanation.target.label or model.label(explanation.target.index),
        method=method, relevance=npy.as_posix(), thumbnail=png.as_posix(),
        seconds=seconds + time.perf_counter() - start,
    )


# --- merging shards -----------------------------------------------------------------------------------


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
        for key in ("model", "modality", "methods", "target"):
            if _plain(run.meta.get(key)) != _plain(first.meta.get(key)):
                raise InputError(
                    f"The runs cannot be merged: '{run.folder}' used {_COMPARED_WORDS[key]} "
                    f"({_describe_value(run.meta.get(key))}) than '{first.folder}' ({_describe_value(first.meta.get(key))})."
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
            if not _row_complete(run.folder, row):
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
            for relative in (row.relevance, row.thumbnail):
                _link_or_copy(run.folder / relative, staging / relative)
        _write_index(staging, _sorted_rows((row for _, row in kept.values()), method_order))
        if skipped:
            _write_skipped(staging, skipped)
        unfinished = [run.folder for run in runs if not run.finished]
        sources = sorted({str(run.meta.get("source", "")) for run in runs})
        meta = {key: first.meta.get(key)
                for key in ("format", "source", "modality", "model", "methods", "target", "device")}
        meta.update(shard=None, created=_now(), finished=_now() if not (missing or unfinished) else None,
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


# --- browsing ------------------------------------------------------------------------------------------


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


__all__ = [
    "BatchResult", "BatchStatus", "FolderScan", "INDEX_COLUMNS", "IndexRow", "MergeResult", "MethodRequest",
    "RUN_FORMAT", "RunInfo", "THUMBNAIL_SIZE", "available_devices", "batched_function", "detect_modality",
    "filter_rows", "image_thumbnail", "audio_thumbnail", "item_stems", "merge_runs", "parse_shard", "read_index",
    "read_run", "resolve_device", "resolve_methods", "row_classes", "run_batch", "scan_folder", "shard_files",
    "sort_rows",
]
