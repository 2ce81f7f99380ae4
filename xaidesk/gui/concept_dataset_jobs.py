"""Qt-free work behind the Dataset tab's "Reference samples…" and "Prototypes…".

:func:`reference_setup` loads the chosen model and finds its concept layers, :func:`run_references`
runs the folder through it once (:func:`xaidesk.concepts.references.compute_references`: a resumable
dataset-mode run), :func:`concept_rows` and :func:`reference_tiles` say what the browser shows, and
:func:`earlier_runs` lists the reference runs already made for a model and layer. For prototypes,
:func:`class_choices` and :func:`suggested_count` prepare the choice of class and count, and
:func:`fit_class_prototypes` fits a class's prototypes (:mod:`xaidesk.concepts.prototypes`) and ranks its
samples by how typical their reasoning is. Everything returns plain data; torch is imported only inside the
functions.
"""

from __future__ import annotations

from dataclasses import dataclass
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

    def same_as(self, other: "ConceptInputs | None") -> bool:
        return other is not None and (self.source, self.spec) == (other.source, other.spec)


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
class PrototypeCard:
    """One prototype: its mixture weight, its members, its top concepts ``(channel, share)`` and its closest
    samples (whole images, valued by their typicality percentile)."""

    index: int
    weight: float
    members: int
    concepts: list[tuple[int, float]]
    closest: list[ReferenceTile]


@dataclass(frozen=True)
class SampleTypicality:
    """One sample of the class: its nearest prototype, its typicality (the percentage of the class's samples
    whose reasoning is less likely under the mixture) and the concepts where it differs most from its
    prototype ``(channel, share − prototype's share)``."""

    file: str
    path: Path
    prototype: int
    percentile: float
    differences: list[tuple[int, float]]


@dataclass(frozen=True)
class PrototypeFit:
    """The prototypes of one class on a reference run, ready to show; ``samples`` least typical first;
    ``prototypes`` the fitted :class:`~xaidesk.concepts.prototypes.Prototypes` (what is saved)."""

    run_dir: Path
    layer: str
    class_index: int
    class_name: str
    cards: list[PrototypeCard]
    samples: list[SampleTypicality]
    prototypes: object


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
    from xaidesk.core.registry import DATASET, default_method, get_method
    from xaidesk.explain.common import unavailable_reason
    from xaidesk.explain.lrp.cnn import BATCHED_METHODS
    from xaidesk.explain.lrp.concepts import concept_layers, default_layer
    from xaidesk.models import load_model

    if progress is not None:
        progress(0.0, "Loading the model")
    model = load_model(str(spec), labels=labels, preprocessing=preprocessing)
    if model.modality != "image":
        raise ModelError(f"{model.name} is not an image model; reference samples need one.")
    method = default_method(DATASET)
    if method not in BATCHED_METHODS:
        method = next(iter(BATCHED_METHODS))
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


def class_choices(references) -> list[tuple[int, int]]:
    """``(class, images predicted as it)`` for each class of a reference run, most images first."""
    classes, counts = np.unique(np.asarray(references.predicted), return_counts=True)
    return sorted(((int(c), int(n)) for c, n in zip(classes, counts)), key=lambda item: (-item[1], item[0]))


def suggested_count(references, class_index: int, token=None, progress=None) -> tuple[int, str]:
    """The number of prototypes to offer for a class and a sentence saying why."""
    from xaidesk.concepts.prototypes import SAMPLES_PER_PROTOTYPE, choose_prototype_count

    rows = references.rows_of_class(int(class_index))
    if len(rows) < max(4, SAMPLES_PER_PROTOTYPE):
        return 1, (f"Only {len(rows)} image{'s are' if len(rows) != 1 else ' is'} predicted as this class; "
                   f"even one prototype needs {max(4, SAMPLES_PER_PROTOTYPE)}.")
    if progress is not None:
        progress(0.0, "Choosing the number of prototypes")
    count = choose_prototype_count(references.relevance[rows], max_count=8)
    return count, (f"Suggested: {count}, the number the Bayesian information criterion prefers for these "
                   f"{len(rows)} images (each prototype needs {SAMPLES_PER_PROTOTYPE}).")


def _thumbnail(path: Path, side: int = 128) -> np.ndarray:
    from PIL import Image

    from xaidesk.data.images import load_image

    picture = Image.fromarray(load_image(path).pixels)
    picture.thumbnail((side, side))
    return np.asarray(picture.convert("RGB"))


def fit_class_prototypes(references, class_index: int, n_prototypes: int, class_name: str = "", seed: int = 0,
                         token=None, progress=None) -> PrototypeFit:
    """Fit ``n_prototypes`` prototypes on the images of a reference run predicted as ``class_index``."""
    from xaidesk.concepts.prototypes import prototypes_for_class, typicality

    if progress is not None:
        progress(0.0, "Fitting the mixture")
    fitted = prototypes_for_class(references, int(class_index), int(n_prototypes), seed=int(seed))
    rows = references.rows_of_class(int(class_index))
    paths = [references.source / f for f in fitted.files]
    cards = []
    for k in range(fitted.count):
        tiles = []
        for i in fitted.closest[k]:
            if token is not None:
                token.check()
            tiles.append(ReferenceTile(_thumbnail(paths[i]), fitted.files[i], paths[i], float(fitted.percentiles[i]),
                                       None))
        if progress is not None:
            progress(0.5 + 0.4 * (k + 1) / fitted.count, f"Prototype {k + 1} of {fitted.count}")
        cards.append(PrototypeCard(k, float(fitted.weights[k]), int(len(fitted.members[k])),
                                   fitted.top_concepts(k, 5), tiles))
    samples = []
    for i in np.argsort(fitted.percentiles, kind="stable"):
        judged = typicality(fitted, references.relevance[rows[i]], k=3)
        samples.append(SampleTypicality(fitted.files[i], paths[i], int(fitted.assignments[i]),
                                        float(fitted.percentiles[i]), judged.differences))
    return PrototypeFit(references.run_dir, references.layer, int(class_index), class_name or str(class_index),
                        cards, samples, fitted)


def save_prototypes(fit: PrototypeFit, out) -> Path:
    """Write the fitted prototypes into the folder ``out``
    (:func:`xaidesk.concepts.prototype_files.write_prototypes`); returns it."""
    from xaidesk.concepts.prototype_files import write_prototypes

    return Path(write_prototypes(fit.prototypes, out))


def full_image(path) -> np.ndarray:
    """The whole image at ``path`` as (H, W, 3) uint8."""
    from xaidesk.data.images import load_image

    return load_image(path).pixels


__all__ = ["BY_INDEX", "BY_RELEVANCE", "ConceptInputs", "ConceptRow", "EarlierRun", "PrototypeCard",
           "PrototypeFit", "ReferenceSetup", "ReferenceTile", "SampleTypicality", "TILES_SHOWN", "cache_folder",
           "check_inputs", "class_choices", "concept_rows", "earlier_runs", "fit_class_prototypes", "full_image",
           "load_references", "matching_run", "reference_setup", "reference_tiles", "run_references", "save_prototypes",
           "suggested_count"]
