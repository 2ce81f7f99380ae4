"""What a concept looks like: the samples of a folder where it was most relevant (RelMax) and most active (ActMax).

:func:`compute_references` is a dataset-mode run (:func:`xaidesk.runs.execute.run_batch`) with one LRP
method and a concept layer: every image is explained once, its heatmap and thumbnail are saved as in
any run, and beside them each channel's relevance and largest activation at the layer, with the box
where each is at least half its peak (``items/<method>/<file>.concepts.npz``). So the pass is
batched, resumable, shardable and cancellable like every run, and the Dataset tab opens it.

:func:`open_references` reads a run back as :class:`ConceptReferences`; ``relmax`` and ``actmax`` rank
its samples per concept. Runs are cached per model, layer, method and folder
(:func:`reference_folder`), so that a folder is run through a model once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import InputError
from ..core.io import write_json_atomic
from ..runs.format import read_index, read_meta, sidecar_path
from ..userdirs import cache_dir

SIDECAR = "concepts"
#: Reference runs made outside the cache (with an output folder of one's own) are remembered here.
KNOWN_FILE = "known.json"


@dataclass(frozen=True)
class ReferenceSample:
    """One reference sample of a concept.

    ``box`` is ``(top, left, bottom, right)`` in the image's own pixels (bottom, right exclusive):
    where the concept's relevance (or activation) is at least half its peak in this sample.
    """

    file: str
    path: Path
    value: float
    box: tuple[int, int, int, int]
    target: int
    row: int


@dataclass
class ConceptReferences:
    """The concept records of one reference run, as arrays over its ``files``."""

    run_dir: Path
    source: Path
    model_spec: str
    method: str
    layer: str
    files: list[str]
    relevance: np.ndarray
    activation: np.ndarray
    relevance_box: np.ndarray
    activation_box: np.ndarray
    targets: np.ndarray
    predicted: np.ndarray
    true_class: list[str]
    finished: bool

    @property
    def channels(self) -> int:
        return int(self.relevance.shape[1])

    def _ranked(self, values: np.ndarray, boxes: np.ndarray, channel: int, n: int, rows) -> list[ReferenceSample]:
        if not 0 <= int(channel) < self.channels:
            raise InputError(f"The layer '{self.layer}' has {self.channels} channels (0 to {self.channels - 1}); "
                             f"got {channel}.")
        rows = np.arange(len(self.files)) if rows is None else np.asarray(rows, dtype=int)
        column = values[rows, int(channel)]
        order = rows[np.argsort(-column, kind="stable")][: int(n)]
        return [ReferenceSample(self.files[i], self.source / self.files[i], float(values[i, int(channel)]),
                                tuple(int(v) for v in boxes[i, int(channel)]), int(self.targets[i]), int(i))
                for i in order]

    def relmax(self, channel: int, n: int = 8, rows=None) -> list[ReferenceSample]:
        """The ``n`` samples (of ``rows``, default all) where ``channel`` had the most relevance."""
        return self._ranked(self.relevance, self.relevance_box, channel, n, rows)

    def actmax(self, channel: int, n: int = 8, rows=None) -> list[ReferenceSample]:
        """The ``n`` samples (of ``rows``, default all) where ``channel`` was most active."""
        return self._ranked(self.activation, self.activation_box, channel, n, rows)

    def rows_of_class(self, class_index: int, predicted: bool = True) -> np.ndarray:
        """The rows explained for ``class_index`` and (``predicted``, the default) predicted as it: the rows
        whose relevance is about the class's own predictions, as prototypes use them."""
        rows = self.targets == int(class_index)
        if predicted:
            rows &= self.predicted == int(class_index)
        return np.flatnonzero(rows)


def crop(pixels: np.ndarray, box, margin: float = 0.1, smallest: int = 16) -> np.ndarray:
    """The part of ``pixels`` (H, W, ...) inside ``box`` widened by ``margin`` of its size, at least ``smallest`` px."""
    height, width = pixels.shape[:2]
    top, left, bottom, right = (int(v) for v in box)
    grow_rows = max(int(round((bottom - top) * margin)), (smallest - (bottom - top) + 1) // 2, 0)
    grow_cols = max(int(round((right - left) * margin)), (smallest - (right - left) + 1) // 2, 0)
    top, bottom = max(0, top - grow_rows), min(height, bottom + grow_rows)
    left, right = max(0, left - grow_cols), min(width, right + grow_cols)
    return pixels[top:bottom, left:right]


def _method_of(meta: dict) -> str:
    methods = meta.get("methods") or []
    return methods[0]["name"] if methods else ""


#: The last reference runs read, by folder and the state of their files (one file per image: slow to read again).
_READ: dict = {}
_READ_KEPT = 4


def _state(run_dir: Path) -> tuple:
    stamps = []
    for name in ("run.json", "index.csv"):
        try:
            stat = (run_dir / name).stat()
            stamps.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def open_references(run_dir) -> ConceptReferences:
    """Read a reference run (a run folder with a concept layer) back; its complete items only.

    The last few runs read are kept, so reading one again while its ``run.json`` and ``index.csv`` are
    unchanged costs nothing (the Concepts panel reads the run on every click).
    """
    run_dir = Path(run_dir).expanduser()
    key, state = str(run_dir.resolve()), _state(run_dir)
    kept = _READ.get(key)
    if kept is not None and kept[0] == state:
        return kept[1]
    references = _read_references(run_dir)
    _READ.pop(key, None)
    _READ[key] = (state, references)
    while len(_READ) > _READ_KEPT:
        _READ.pop(next(iter(_READ)))
    return references


def _read_references(run_dir: Path) -> ConceptReferences:
    meta = read_meta(run_dir)
    layer = (meta.get("concepts") or {}).get("layer")
    if not layer:
        raise InputError(f"'{run_dir}' is a batch run without concepts. Choose a folder made by "
                         "“Reference samples…” or `xaidesk concepts references`.")
    rows = [row for row in read_index(run_dir) if (run_dir / sidecar_path(row.relevance, SIDECAR)).is_file()]
    if not rows:
        raise InputError(f"The reference run '{run_dir}' holds no finished images yet; run it (again) to fill it.")
    fields = ("relevance", "activation", "relevance_box", "activation_box")
    stacks: dict[str, list] = {name: [] for name in fields}
    for row in rows:
        with np.load(run_dir / sidecar_path(row.relevance, SIDECAR), allow_pickle=False) as arrays:
            for name in fields:
                stacks[name].append(arrays[name])
    values = {name: np.stack(stacks[name]) for name in fields}
    for name in ("relevance", "activation"):
        if not np.isfinite(values[name]).all():
            raise InputError(f"The reference run '{run_dir}' holds values that are not finite numbers; "
                             "compute it again in a new folder.")
    return ConceptReferences(
        run_dir=run_dir, source=Path(meta.get("source", "")), model_spec=str(meta.get("model", "")),
        method=_method_of(meta), layer=str(layer), files=[row.file for row in rows],
        relevance=values["relevance"].astype(np.float32), activation=values["activation"].astype(np.float32),
        relevance_box=values["relevance_box"].astype(np.int32), activation_box=values["activation_box"].astype(np.int32),
        targets=np.array([row.target for row in rows], dtype=int),
        predicted=np.array([row.predicted for row in rows], dtype=int),
        true_class=[row.true_class for row in rows], finished=bool(meta.get("finished")),
    )


# --- the cache ----------------------------------------------------------------------------------------


def references_root() -> Path:
    """Where reference runs are cached."""
    return cache_dir() / "concepts"


def reference_folder(model_spec: str, layer: str, source, method: str, params: dict | None = None, *,
                     target: int | None = None, labels=None, preprocessing: dict | None = None) -> Path:
    """The cache folder of the reference run of (model, layer, folder, method and settings, explained class,
    label file and hand-set preprocessing)."""
    key = json.dumps({"model": str(model_spec), "layer": layer, "source": str(Path(source).expanduser().resolve()),
                      "method": method, "params": params or {}, "target": target,
                      "labels": str(labels) if labels else None, "preprocessing": preprocessing or None},
                     sort_keys=True, default=str)
    return references_root() / hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def remember(run_dir) -> None:
    """Add a reference run outside the cache to the runs :func:`find_references` knows."""
    path = references_root() / KNOWN_FILE
    known = _known()
    text = str(Path(run_dir).expanduser().resolve())
    if text not in known:
        write_json_atomic(path, known + [text])


def _known() -> list[str]:
    try:
        value = json.loads((references_root() / KNOWN_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def find_references(model_spec: str, layer: str | None = None) -> list[Path]:
    """Reference runs (cached or remembered, at least partly done) of ``model_spec``, for ``layer`` when given;
    finished ones first, newest first."""
    root = references_root()
    candidates = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    candidates += [Path(p) for p in _known()]
    found = []
    for folder in dict.fromkeys(candidates):
        try:
            meta = read_meta(folder)
        except InputError:
            continue
        run_layer = (meta.get("concepts") or {}).get("layer")
        if run_layer and meta.get("model") == model_spec and (layer is None or run_layer == layer):
            found.append((bool(meta.get("finished")), str(meta.get("created", "")), folder))
    found.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [folder for _, _, folder in found]


def compute_references(source, model, layer: str, *, out=None, method: str | None = None, params: dict | None = None,
                       batch_size: int = 16, device: str = "cpu", target: int | None = None, shard=None,
                       trust: bool = False, token=None, progress=None) -> ConceptReferences:
    """Run ``source`` through ``model`` once, recording ``layer``'s concepts; resumes a run in ``out``.

    Parameters
    ----------
    source
        A folder of images (class subfolders optional).
    model
        A loaded image model or a model spec.
    layer
        A concept layer (:func:`xaidesk.explain.lrp.concepts.concept_layers`).
    out
        The run folder; by default the cache folder of (model, layer, folder, method, class, label file and
        hand-set preprocessing), so that a finished run is reused and an unfinished one resumed.
    method, params
        The LRP method (default: the registry's default for dataset mode) and its settings.
    target
        The class explained for every image; ``None`` explains each image's predicted class.
    shard
        ``(i, n)``: only every n-th image starting at i, for a cluster array; merge the shards with
        :func:`xaidesk.runs.merge.merge_runs`.
    """
    from ..core import default_method, get_method
    from ..core.registry import DATASET
    from ..models import load_model
    from ..models.base import LoadedModel
    from ..runs.execute import run_batch

    if not layer:
        raise InputError("Choose the layer whose concepts the reference samples show.")
    loaded = model if isinstance(model, LoadedModel) else load_model(str(model), trust=trust)
    method = method or default_method(DATASET)
    resolved = get_method(method).resolve_params(params or {})
    if out is None:
        hand_set = loaded.preprocessing.to_dict() if getattr(loaded, "preprocessing_set_by_hand", False) else None
        label_file = getattr(loaded, "label_file", None)
        out = reference_folder(loaded.spec, layer, source, method, resolved, target=target, preprocessing=hand_set,
                               labels=Path(label_file).expanduser().resolve() if label_file else None)
        if shard is None and (out / "run.json").is_file() and read_meta(out).get("finished"):
            return open_references(out)
    else:
        remember(out)
    run_batch(source, out, loaded, [(method, resolved)], device=device, batch_size=batch_size, target=target,
              shard=shard, concept_layer=layer, token=token, progress=progress)
    return open_references(out)


__all__ = ["ConceptReferences", "ReferenceSample", "compute_references", "crop", "find_references", "open_references",
           "reference_folder", "references_root", "remember"]
