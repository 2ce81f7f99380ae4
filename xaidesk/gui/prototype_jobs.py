"""Qt-free work behind the Dataset tab's "Prototypes…": a class's prototypes (PCX) on a reference run.

:func:`class_choices` and :func:`suggested_count` prepare the choice of class and count,
:func:`fit_class_prototypes` fits a class's prototypes (:mod:`xaidesk.concepts.prototypes`) and ranks its samples
by how typical their reasoning is, :func:`open_saved_prototypes` shows a saved prototypes folder the same way and
:func:`save_prototypes` writes one. The reference runs themselves are :mod:`xaidesk.gui.concept_dataset_jobs`'s.
Everything returns plain data; torch is imported only inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import InputError
from .concept_dataset_jobs import ReferenceTile
from .wording import plural


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


__all__ = ["PrototypeCard", "PrototypeFit", "SampleTypicality", "class_choices", "class_name", "class_rows",
           "fit_class_prototypes", "open_saved_prototypes", "run_class_names", "save_prototypes", "suggested_count"]
