"""Qt-free work behind the Dataset tab's "Reference samples…" (and the reference runs "Prototypes…" reads).

:func:`reference_setup` loads the chosen model and finds its concept layers, :func:`run_references`
runs the folder through it once (:func:`xaidesk.concepts.references.compute_references`: a resumable
dataset-mode run), :func:`concept_rows` and :func:`reference_tiles` say what the browser shows, and
:func:`earlier_runs` lists the reference runs already made for a model and layer. The prototypes fitted on
such a run are :mod:`xaidesk.gui.prototype_jobs`'s. Everything returns plain data; torch is imported only
inside the functions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path

import numpy as np

from ..core import InputError, ModelError
from .concept_jobs import LayerChoice

#: Reference samples shown per concept and kind (RelMax, ActMax).
TILES_SHOWN = 8
#: The two orders of the concept list.
BY_RELEVANCE, BY_INDEX = "relevance", "index"


@dataclass(frozen=True)
class ConceptInputs:
    """What the Dataset tab hands the concept dialogs: its folder (None: none chosen) and the kind of files in it,
    its model spec with the label file and preprocessing it runs with, the device and the batch size."""

    source: Path | None
    modality: str
    spec: str | None
    labels: object = None
    preprocessing: object = None
    device: str = "cpu"
    batch_size: int = 16

    def model_key(self) -> tuple:
        """What a window is made for: the folder and the model as it is run (label file and preprocessing)."""
        preprocessing = asdict(self.preprocessing) if is_dataclass(self.preprocessing) else self.preprocessing
        labels = str(Path(self.labels).expanduser()) if self.labels else None
        return self.source, self.modality, (self.spec or "").strip(), labels, repr(preprocessing)

    def same_as(self, other: "ConceptInputs | None") -> bool:
        """Whether ``other`` has the same folder, model, label file and preprocessing (device and batch size may
        differ: the window takes them over for its next run)."""
        return other is not None and self.model_key() == other.model_key()


@dataclass(frozen=True)
class ReferenceSetup:
    """The loaded model (its ``spec`` as runs record it), its concept layers and the one chosen first, its class
    names, and the LRP method (with its settings) reference runs use."""

    model: object
    spec: str
    layers: list[LayerChoice]
    default: str | None
    class_names: list[str]
    method: str
    method_title: str
    params: dict


@dataclass(frozen=True)
class ConceptRow:
    """One concept of a reference run: its channel, its relevance summed over the folder and its share of the
    summed |relevance| of all channels."""

    channel: int
    total: float
    share: float


@dataclass(frozen=True)
class ReferenceTile:
    """One sample shown: the crop (h, w, 3) uint8 around ``box`` (top, left, bottom, right) of the image at
    ``path`` (``box`` None: the whole image, shrunk), the file as the run names it, and its value."""

    crop: np.ndarray
    file: str
    path: Path
    value: float
    box: tuple[int, int, int, int] | None


@dataclass(frozen=True)
class EarlierRun:
    """A reference run found on disk: its folder, the input folder it read, whether it finished, its images."""

    folder: Path
    source: Path
    finished: bool
    images: int
    layer: str = ""

    def describe(self, with_layer: bool = False) -> str:
        state = "finished" if self.finished else "unfinished"
        text = f"{self.source.name or self.source} – {self.images} image{'s' if self.images != 1 else ''}, {state}"
        return f"layer {self.layer} · {text}" if with_layer else text


def check_inputs(inputs: ConceptInputs) -> None:
    """Refuse, in plain words, a missing folder or model and a folder that holds no images."""
    if inputs.source is None:
        raise InputError("Choose a folder of images first (Input folder, Choose…).")
    if inputs.modality != "image":
        raise InputError("Concepts are found in image models; the chosen folder holds sound clips. "
                         "Choose a folder of images.")
    if not inputs.spec:
        raise InputError("Choose an image model first.")


def reference_setup(spec: str, labels=None, preprocessing=None, token=None, progress=None) -> ReferenceSetup:
    """Load ``spec`` and find its concept layers; refuse a model LRP cannot explain or one without such layers."""
    from xaidesk.concepts.image import lrp_method
    from xaidesk.core.registry import DATASET, default_method, get_method
    from xaidesk.explain.common import unavailable_reason
    from xaidesk.explain.lrp.concepts import concept_layers, concept_methods, default_layer
    from xaidesk.models import load_model

    if progress is not None:
        progress(0.0, "Loading the model")
    model = load_model(str(spec), labels=labels, preprocessing=preprocessing)
    if model.modality != "image":
        raise ModelError(f"{model.name} is not an image model; reference samples need one.")
    method = default_method(DATASET)
    if method not in concept_methods() or unavailable_reason(get_method(method), model):
        method = lrp_method(None, model)  # the image default, or LRP for transformers for a transformer
    info = get_method(method)
    reason = unavailable_reason(info, model)
    if reason:
        raise ModelError(f"Reference samples need LRP, which cannot explain {model.name}: {reason}")
    layers = concept_layers(model)
    if not layers:
        raise ModelError(f"{model.name} has no convolution or dense layer whose channels could be read as concepts.")
    names = [model.label(i) for i in range(model.num_classes)]
    return ReferenceSetup(model, model.spec, [LayerChoice(layer.name, layer.title, layer.channels) for layer in layers],
                          default_layer(layers), names, method, info.title,
                          info.resolve_params(info.defaults("image")))


def cache_folder(setup: ReferenceSetup, layer: str, source) -> Path:
    """The cache folder a reference run of ``source`` at ``layer`` goes to when no output folder is chosen."""
    from xaidesk.concepts.references import reference_folder

    return reference_folder(setup.spec, layer, source, setup.method, setup.params)


def run_references(setup: ReferenceSetup, source, layer: str, out=None, *, batch_size: int = 16, device: str = "cpu",
                   token=None, progress=None):
    """Run ``source`` through the model once, recording ``layer``'s concepts (resuming a run there); returns the
    :class:`~xaidesk.concepts.references.ConceptReferences`."""
    from xaidesk.concepts.references import compute_references

    from .catalog import configure_torch_threads

    configure_torch_threads()
    return compute_references(source, setup.model, layer, out=out, method=setup.method, params=setup.params,
                              batch_size=batch_size, device=device, token=token, progress=progress)


def load_references(run_dir, token=None, progress=None):
    """Read a reference run back (its finished images)."""
    from xaidesk.concepts.references import open_references

    return open_references(run_dir)


def earlier_runs(spec: str, layer: str | None) -> list[EarlierRun]:
    """The reference runs of ``spec`` at ``layer`` (None: any layer) on disk, finished first, newest first."""
    from xaidesk.concepts.references import find_references
    from xaidesk.runs.format import read_index, read_meta

    found = []
    for folder in find_references(spec, layer):
        try:
            meta = read_meta(folder)
            images = len({row.file for row in read_index(folder)})
        except (InputError, OSError):
            continue
        found.append(EarlierRun(Path(folder), Path(meta.get("source", "")), bool(meta.get("finished")), images,
                                str((meta.get("concepts") or {}).get("layer", ""))))
    return found


def matching_run(runs: list[EarlierRun], source) -> EarlierRun | None:
    """The first run of ``runs`` that read the folder ``source``."""
    if source is None:
        return None
    wanted = Path(source).expanduser().resolve()
    return next((run for run in runs if run.source.expanduser().resolve() == wanted), None)


def concept_rows(references, order: str = BY_RELEVANCE) -> list[ConceptRow]:
    """Every concept of a reference run with its relevance summed over the folder, most relevant first (or by index)."""
    totals = references.relevance.astype(np.float64).sum(0)
    scale = float(np.abs(references.relevance).astype(np.float64).sum()) or 1.0
    channels = np.argsort(-totals, kind="stable") if order == BY_RELEVANCE else np.arange(len(totals))
    return [ConceptRow(int(c), float(totals[c]), float(totals[c]) / scale) for c in channels]


def _tiles(samples, token, progress, start: float, part: float) -> list[ReferenceTile]:
    """The crops of reference ``samples`` (with the path and box kept, so a click can show the whole image)."""
    from xaidesk.concepts.references import crop
    from xaidesk.data.images import load_image

    tiles = []
    for index, sample in enumerate(samples):
        if token is not None:
            token.check()
        if progress is not None:
            progress(start + part * index / max(1, len(samples)), f"Reading {sample.file}")
        pixels = load_image(sample.path).pixels
        tiles.append(ReferenceTile(np.ascontiguousarray(crop(pixels, sample.box)), sample.file, Path(sample.path),
                                   sample.value, tuple(sample.box)))
    return tiles


def reference_tiles(references, channel: int, n: int = TILES_SHOWN, token=None,
                    progress=None) -> tuple[list[ReferenceTile], list[ReferenceTile]]:
    """The RelMax and ActMax samples of ``channel`` (``n`` each) with their crops."""
    relmax = _tiles(references.relmax(int(channel), n), token, progress, 0.0, 0.5)
    actmax = _tiles(references.actmax(int(channel), n), token, progress, 0.5, 0.5)
    return relmax, actmax


def full_image(path) -> np.ndarray:
    """The whole image at ``path`` as (H, W, 3) uint8."""
    from xaidesk.data.images import load_image

    return load_image(path).pixels


__all__ = ["BY_INDEX", "BY_RELEVANCE", "ConceptInputs", "ConceptRow", "EarlierRun", "ReferenceSetup", "ReferenceTile",
           "TILES_SHOWN", "cache_folder", "check_inputs", "concept_rows", "earlier_runs", "full_image",
           "load_references", "matching_run", "reference_setup", "reference_tiles", "run_references"]
