"""Qt-free work behind the Concepts panel's saved concepts and prototypes: reading the concepts saved by
``xaidesk concepts image`` (shown without computing them again), and how typical the reasoning behind the
concepts shown is for a class's prototypes (PCX).

The functions run in the :class:`~xaidesk.gui.runner.Runner` (or, for the comparison, at once) and return plain
data. The concepts package is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .concept_jobs import Concept, ConceptRanking, FeedingConcepts

# ------------------------------------------------------------------ saved concepts


@dataclass(frozen=True)
class SavedConcepts:
    """Concepts written by ``xaidesk concepts image``: the ``ranking`` (heatmaps in the image's pixels), the
    folder's ``meta`` (concepts.json), the saved input image when it still exists, and the saved concepts
    below that feed each one (``{channel: FeedingConcepts}``)."""

    folder: Path
    ranking: ConceptRanking
    meta: dict
    input_path: Path | None
    feeding: dict

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.ranking.concepts[0].stored_heatmap.shape) if self.ranking.concepts else (0, 0)


def _saved_input(folder: Path, name: str) -> Path | None:
    """The saved input image: its path as written, else beside or inside the folder; None when gone."""
    if not name:
        return None
    path = Path(name).expanduser()
    for candidate in ([path] if path.is_absolute() else [path, folder.parent / path, folder / path]):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _method_title(method: str) -> str:
    from xaidesk.core.registry import get_method

    try:
        return get_method(method).title
    except Exception:  # noqa: BLE001 - a method this version does not know keeps its name
        return method


def open_saved_concepts(folder, token=None, progress=None) -> SavedConcepts:
    """Read a folder of ``xaidesk concepts image`` (:func:`xaidesk.concepts.files.read_image_concepts`)."""
    import csv

    from xaidesk.concepts.files import read_image_concepts
    from xaidesk.core import InputError

    folder = Path(folder)
    found = read_image_concepts(folder)
    meta, heatmaps = found["meta"], found["heatmaps"]
    try:
        layer, channels = str(meta["layer"]), int(meta["channels"])
        concepts = [Concept(int(row["channel"]), float(row["share"]), float(row["relevance"]),
                            float(row["absorbed"]), heatmaps[k]) for k, row in enumerate(found["rows"])]
        ranking_of = dict(layer=layer, layer_title=layer, target=int(meta["target"]),
                          target_label=str(meta.get("target_label", "")), method_title=_method_title(meta["method"]),
                          logit=float(meta.get("logit", float("nan"))))
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"'{folder}' does not hold the files of `xaidesk concepts image` as this version writes "
                         "them; write it again.", details=f"{type(error).__name__}: {error}") from None
    if heatmaps.ndim != 3 or not concepts:
        raise InputError(f"'{folder}' holds no concept heatmaps; write it again with `xaidesk concepts image`.")
    relevance = None
    if (folder / "channel_relevance.npy").is_file():
        relevance = np.load(folder / "channel_relevance.npy", allow_pickle=False).astype(np.float64).reshape(-1)
        relevance = relevance if relevance.size == channels and np.isfinite(relevance).all() else None
    feeding: dict[int, FeedingConcepts] = {}
    if (folder / "feeding.csv").is_file():
        with open(folder / "feeding.csv", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                channel = int(row["channel"])
                entry = feeding.setdefault(channel, FeedingConcepts(layer, channel, row["lower_layer"] or None, []))
                entry.items.append((int(row["lower_channel"]), float(row["share"])))
    ranking = ConceptRanking(**ranking_of, concepts=concepts, channels=channels, seconds=0.0,
                             channel_relevance=relevance, model_spec=str(meta.get("model", "")))
    return SavedConcepts(folder, ranking, meta, _saved_input(folder, str(meta.get("input") or "")), feeding)


# ------------------------------------------------------------------ prototypes


@dataclass(frozen=True)
class TypicalReasoning:
    """How typical the reasoning behind the shown concepts is for the class of some prototypes (PCX).

    ``mismatch`` is a sentence when the prototypes are for another layer or class (the rest is then empty);
    ``differences`` are ``(channel, share − the prototype's mean share)``, largest first.
    """

    mismatch: str = ""
    prototype: int = -1
    weight: float = 0.0
    percentile: float = float("nan")
    differences: list = field(default_factory=list)
    note: str = ""


#: Below this percentile of the class's images the reasoning is called unusual.
UNUSUAL_PERCENTILE = 5.0
#: Concepts listed as differing most from the nearest prototype.
DIFFERENCES_SHOWN = 5


def open_prototypes(folder, token=None, progress=None):
    """Read a prototypes folder (:func:`xaidesk.concepts.prototype_files.read_prototypes`); one that cannot judge
    new predictions (no mixture) is refused."""
    from xaidesk.concepts.prototype_files import read_prototypes
    from xaidesk.core import InputError

    prototypes = read_prototypes(folder)
    if prototypes.model is None:
        raise InputError(f"The prototypes in '{folder}' were written without their mixture, so they cannot judge "
                         "a new prediction; fit them again (Dataset tab ▸ Prototypes…).")
    return prototypes


def compare_with_prototypes(prototypes, ranking: ConceptRanking) -> TypicalReasoning:
    """Nearest prototype, typicality and the concepts that differ most, for the ranking's full relevance vector;
    a :attr:`TypicalReasoning.mismatch` sentence when layer, class or channels differ."""
    from xaidesk.concepts.prototypes import typicality

    settings = prototypes.settings
    layer, class_index = settings.get("layer"), settings.get("class_index")
    if layer is not None and str(layer) != ranking.layer:
        return TypicalReasoning(f"These prototypes are for layer {layer}, the concepts shown for layer "
                                f"{ranking.layer}: choose layer {layer} above, or prototypes of this layer.")
    if class_index is not None and int(class_index) != ranking.target:
        return TypicalReasoning(f"These prototypes are for class {class_index}, the concepts shown for class "
                                f"{ranking.target}: choose class {class_index} in the tab, or prototypes of "
                                f"class {ranking.target}.")
    if int(settings.get("channels", prototypes.means.shape[1])) != ranking.channels:
        return TypicalReasoning(f"These prototypes have {prototypes.means.shape[1]} concepts, layer "
                                f"{ranking.layer} has {ranking.channels}: choose prototypes of this layer.")
    if ranking.channel_relevance is None:
        return TypicalReasoning("These saved concepts lack the relevance of every channel "
                                "(channel_relevance.npy); press Find concepts to compute it.")
    found = typicality(prototypes, ranking.channel_relevance, k=DIFFERENCES_SHOWN)
    notes = []
    if layer is None:
        notes.append("The prototypes do not say their layer; they have as many concepts as this one.")
    model = settings.get("model")
    if model and ranking.model_spec and str(model) != ranking.model_spec:
        notes.append(f"They were fitted with the model {model}, not {ranking.model_spec}.")
    return TypicalReasoning("", found.prototype, float(prototypes.weights[found.prototype]), found.percentile,
                            list(found.differences), " ".join(notes))


__all__ = [
    "DIFFERENCES_SHOWN", "SavedConcepts", "TypicalReasoning", "UNUSUAL_PERCENTILE", "compare_with_prototypes",
    "open_prototypes", "open_saved_concepts",
]
