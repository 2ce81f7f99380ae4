"""Qt-free work behind the Dataset tab's "Reference samples…" and "Prototypes…".

:func:`reference_setup` loads the chosen model and finds its concept layers, :func:`run_references`
runs the folder through it once (:func:`xaidesk.concepts.references.compute_references`: a resumable
dataset-mode run), :func:`concept_rows` and :func:`reference_tiles` say what the browser shows, and
:func:`earlier_runs` lists the reference runs already made for a model and layer. For prototypes,
:func:`class_choices` and :func:`suggested_count` prepare the choice of class and count, and
:func:`fit_class_prototypes` fits a class's prototypes (:mod:`xaidesk.concepts.prototypes`) and ranks its
samples by how typical their reasoning is; :func:`open_saved_prototypes` shows a saved prototypes folder the same
way. Everything returns plain data; torch is imported only inside the functions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path

import numpy as np

from ..core import InputError, ModelError
from .concept_jobs import LayerChoice
from .wording import plural

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
    saved: Path | None = None
    note: str = ""


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


def class_rows(references, class_index: int) -> np.ndarray:
    """The rows of a reference run whose prediction and explained class are both ``class_index`` (those a class's
    prototypes are fitted on: :func:`xaidesk.concepts.prototypes.prototypes_for_class`)."""
    predicted, targets = np.asarray(references.predicted), np.asarray(references.targets)
    return np.flatnonzero((predicted == int(class_index)) & (targets == int(class_index)))


def class_choices(references) -> list[tuple[int, int]]:
    """``(class, images predicted and explained as it)`` for each class of a reference run, most images first."""
    predicted, targets = np.asarray(references.predicted), np.asarray(references.targets)
    classes, counts = np.unique(predicted[predicted == targets], return_counts=True)
    return sorted(((int(c), int(n)) for c, n in zip(classes, counts)), key=lambda item: (-item[1], item[0]))


def run_class_names(run_dir) -> dict[int, str]:
    """The class names a run's index records (its predicted and explained labels), by class index; read from
    ``index.csv`` alone, without loading the model."""
    from xaidesk.runs.format import read_index

    names: dict[int, str] = {}
    try:
        rows = read_index(run_dir)
    except (InputError, OSError):
        return names
    for row in rows:
        for index, label in ((row.predicted, row.predicted_label), (row.target, row.target_label)):
            if label and int(index) >= 0:
                names.setdefault(int(index), label)
    return names


def class_name(names: dict[int, str], class_index: int) -> str:
    return names.get(int(class_index)) or f"class {int(class_index)}"


def suggested_count(references, class_index: int, token=None, progress=None) -> tuple[int, str]:
    """The number of prototypes to offer for a class and a sentence saying why."""
    from xaidesk.concepts.prototypes import SAMPLES_PER_PROTOTYPE, choose_prototype_count

    rows = class_rows(references, class_index)
    if len(rows) < max(4, SAMPLES_PER_PROTOTYPE):
        return 1, (f"Only {len(rows)} image{'s are' if len(rows) != 1 else ' is'} of this class; "
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
    """Fit ``n_prototypes`` prototypes on the images of a reference run predicted and explained as ``class_index``."""
    from xaidesk.concepts.prototypes import prototypes_for_class

    if progress is not None:
        progress(0.0, "Fitting the mixture")
    fitted = prototypes_for_class(references, int(class_index), int(n_prototypes), seed=int(seed))
    return _prototype_view(fitted, references, references.source, int(class_index),
                           class_name or str(class_index), token, progress)


def _prototype_view(fitted, references, source: Path | None, class_index: int, name: str, token, progress,
                    saved: Path | None = None) -> PrototypeFit:
    """Cards and the sample table of ``fitted``; closest samples as thumbnails of the images under ``source``
    (none where they are missing), differences from the prototype where ``references`` holds the samples."""
    from xaidesk.concepts.prototypes import typicality

    paths = [Path(source) / f if source is not None else None for f in fitted.files]
    missing = 0
    cards = []
    for k in range(fitted.count):
        tiles = []
        for i in fitted.closest[k]:
            if token is not None:
                token.check()
            if paths[i] is None or not paths[i].is_file():
                missing += 1
                continue
            tiles.append(ReferenceTile(_thumbnail(paths[i]), fitted.files[i], paths[i], float(fitted.percentiles[i]),
                                       None))
        if progress is not None:
            progress(0.5 + 0.4 * (k + 1) / fitted.count, f"Prototype {k + 1} of {fitted.count}")
        cards.append(PrototypeCard(k, float(fitted.weights[k]), int(len(fitted.members[k])),
                                   fitted.top_concepts(k, 5), tiles))
    row_of = {str(f): i for i, f in enumerate(references.files)} if references is not None else {}
    judge = fitted.model is not None and all(f in row_of for f in fitted.files)
    samples = []
    for i in np.argsort(fitted.percentiles, kind="stable"):
        differences = (typicality(fitted, references.relevance[row_of[fitted.files[i]]], k=3).differences
                       if judge else [])
        samples.append(SampleTypicality(fitted.files[i], paths[i] if paths[i] is not None else Path(fitted.files[i]),
                                        int(fitted.assignments[i]), float(fitted.percentiles[i]), differences))
    notes = []
    if missing:
        where = f"in {source}" if source is not None else "(the reference run's folder is not known)"
        notes.append(f"The images of {plural(missing, 'closest sample')} could not be found {where}, so they are "
                     "not shown.")
    if not judge:
        notes.append("The concepts where each sample differs most need the reference run the prototypes were "
                     "fitted on, which could not be read.")
    layer = str(fitted.settings.get("layer", references.layer if references is not None else ""))
    run_dir = references.run_dir if references is not None else Path(str(fitted.settings.get("run", "")))
    return PrototypeFit(run_dir, layer, int(class_index), name, cards, samples, fitted, saved, " ".join(notes))


def open_saved_prototypes(folder, token=None, progress=None) -> PrototypeFit:
    """Read a prototypes folder (:func:`xaidesk.concepts.prototype_files.read_prototypes`) and show it like a fitted
    one: the closest samples are looked for in the folder of the reference run it was fitted on."""
    from xaidesk.concepts.prototype_files import read_prototypes
    from xaidesk.concepts.references import open_references
    from xaidesk.runs.format import read_meta

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"'{folder}' is not a folder; choose the folder Save… wrote the prototypes to.")
    if progress is not None:
        progress(0.0, "Reading the prototypes")
    fitted = read_prototypes(folder)
    run = str(fitted.settings.get("run") or "")
    references, source = None, None
    if run:
        try:
            references = open_references(run)
            source = references.source
        except (InputError, OSError):
            try:
                recorded = str(read_meta(run).get("source") or "")
            except (InputError, OSError):
                recorded = ""
            source = Path(recorded) if recorded else None
    class_index = int(fitted.settings.get("class_index", -1))
    name = class_name(run_class_names(run), class_index) if run else f"class {class_index}"
    return _prototype_view(fitted, references, source, class_index, name, token, progress, saved=folder.resolve())


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
           "check_inputs", "class_choices", "class_name", "class_rows", "concept_rows", "earlier_runs",
           "fit_class_prototypes", "full_image", "load_references", "matching_run", "open_saved_prototypes",
           "reference_setup", "reference_tiles", "run_class_names", "run_references",
           "save_prototypes", "suggested_count"]
