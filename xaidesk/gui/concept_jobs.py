"""Qt-free work behind the Images tab's Concepts panel: which layers have concepts, the top concepts of one
layer with their conditional heatmaps, the concepts of the layer below that feed one concept, and the
reference samples that show what a concept looks like. Concepts saved by ``xaidesk concepts image`` and the
comparison with a class's prototypes are read in :mod:`xaidesk.gui.concept_saved_jobs`.

The functions run in the :class:`~xaidesk.gui.runner.Runner` and return plain data (numpy arrays,
dataclasses). Heatmaps stay in model-input pixels until one is shown (:meth:`ConceptRanking.heatmap`). Torch
and the explain package are imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Concepts shown by default.
DEFAULT_TOP = 8
#: Reference samples shown per concept.
REFERENCES_SHOWN = 8
#: The two kinds of reference samples: most relevant (RelMax) and most activating (ActMax).
RELMAX, ACTMAX = "relmax", "actmax"

NOT_EXPLAINABLE = "Concepts need LRP, which cannot explain this model."


@dataclass(frozen=True)
class ConceptContext:
    """What the panel explains: the model, the image (H, W, 3) uint8, the class (None: the top class), and the
    tab's chosen method with its settings (used when it is an LRP method)."""

    model: object
    pixels: np.ndarray
    target: int | None
    method: str | None = None
    params: dict = field(default_factory=dict)
    image_path: str | None = None


@dataclass(frozen=True)
class LayerChoice:
    """A layer whose channels are concepts: its name in the model, a title for the picker, its channels."""

    name: str
    title: str
    channels: int


@dataclass(frozen=True)
class ConceptSetup:
    """The concept layers of a model and the one chosen first; ``refusal`` (a sentence) when there are none."""

    layers: list[LayerChoice]
    default: str | None
    refusal: str | None = None
    details: str = ""


@dataclass(frozen=True)
class LrpChoice:
    """The LRP method concepts are computed with: registry name, title, composite name and resolved settings."""

    method: str
    title: str
    composite: str
    params: dict
    resample: str


@dataclass(frozen=True)
class Concept:
    """One concept (a channel of the layer) for the explained class.

    ``share`` is its relevance over the layer's total |relevance|; ``absorbed`` the part of its relevance
    that biases and stabilisers below the layer kept from the input; ``stored_heatmap`` its conditional
    relevance as it was computed: in model-input pixels, or in the image's pixels for concepts read from
    files. :meth:`ConceptRanking.heatmap` gives it on the image (K photo-sized maps would not fit in memory).
    """

    channel: int
    share: float
    relevance: float
    absorbed: float
    stored_heatmap: np.ndarray

    @property
    def absorbed_share(self) -> float:
        """The absorbed part as a fraction of the concept's |relevance| (0 when it has none)."""
        return abs(self.absorbed) / abs(self.relevance) if self.relevance else 0.0


@dataclass(frozen=True)
class ConceptRanking:
    """The top concepts of one layer for one class, each with its conditional heatmap.

    ``channel_relevance`` holds every channel's relevance (None when unknown); ``preprocessing``,
    ``image_shape`` and ``resample`` map a stored heatmap onto the image (``preprocessing`` None: the
    heatmaps are already in the image's pixels); ``model_spec`` names the model they were made with.
    """

    layer: str
    layer_title: str
    target: int
    target_label: str
    method_title: str
    logit: float
    concepts: list[Concept]
    channels: int
    seconds: float
    channel_relevance: np.ndarray | None = None
    model_spec: str = ""
    preprocessing: object = None
    image_shape: tuple[int, int] | None = None
    resample: str = "sum"

    def concept(self, channel: int) -> Concept | None:
        return next((c for c in self.concepts if c.channel == int(channel)), None)

    def heatmap(self, channel: int) -> np.ndarray:
        """``channel``'s conditional heatmap on the image, (H0, W0), NaN where the model saw nothing."""
        stored = self.concept(channel).stored_heatmap
        if self.preprocessing is None:
            return stored
        return self.preprocessing.to_original(stored, self.image_shape, preserve=self.resample)


@dataclass(frozen=True)
class FeedingConcepts:
    """The concepts of ``lower_layer`` that feed ``channel`` of ``layer``, as ``(channel, share)``, largest first;
    ``lower_layer`` is None for the first concept layer (``note`` says so)."""

    layer: str
    channel: int
    lower_layer: str | None
    items: list[tuple[int, float]]
    note: str = ""


@dataclass(frozen=True)
class ReferenceCrop:
    """One reference sample of a concept: the crop (h, w, 3) uint8, its value and the file it comes from."""

    pixels: np.ndarray
    value: float
    file: str


# ------------------------------------------------------------------ layers and method


def concept_setup(model) -> ConceptSetup:
    """The concept layers of ``model`` (forward order) and the default one, or why there are none."""
    from xaidesk.explain.common import unavailable_reason
    from xaidesk.explain.lrp.concepts import concept_layers, default_layer

    from xaidesk.core.registry import get_method

    reason = unavailable_reason(get_method(lrp_choice(None, {}, model).method), model)
    if getattr(model, "is_torchscript", False):
        return ConceptSetup([], None, "Concepts need LRP, which cannot explain a TorchScript model; "
                                      "open its weights with its architecture instead.", reason or "")
    if reason:
        return ConceptSetup([], None, NOT_EXPLAINABLE, reason)
    layers = concept_layers(model)
    if not layers:
        return ConceptSetup([], None, "This model has no convolution or dense layer whose channels could be "
                                      "read as concepts.")
    choices = [LayerChoice(layer.name, layer.title, layer.channels) for layer in layers]
    return ConceptSetup(choices, default_layer(layers))


def lrp_choice(method: str | None, params: dict, model=None) -> LrpChoice:
    """The LRP method for concepts: ``method`` with ``params`` when concepts can be computed with it (an LRP
    method for CNNs or for transformers), otherwise the image default, or for a transformer ``model`` the LRP
    method for transformers, with its default settings (also when ``method`` cannot explain ``model``)."""
    from xaidesk.concepts.image import lrp_method
    from xaidesk.core.registry import get_method
    from xaidesk.explain.common import unavailable_reason

    if not uses_lrp(method) or (model is not None and unavailable_reason(get_method(method), model)):
        method, params = lrp_method(None, model), {}
    info = get_method(method)
    resolved = info.resolve_params({**info.defaults("image"), **dict(params or {})})
    return LrpChoice(method, info.title, method.partition(".")[2], resolved, info.resample)


def uses_lrp(method: str | None) -> bool:
    """Whether ``method`` is an LRP method concepts can be computed with (its results can be split into concepts)."""
    from xaidesk.explain.lrp.concepts import concept_methods

    return method in concept_methods()


# ------------------------------------------------------------------ computing


def _prepared(context: ConceptContext, choice: LrpChoice):
    """``(x, target, composite factory)`` for the context's image and model."""
    from xaidesk.explain.image import check_image_model, predict_tensor
    from xaidesk.explain.lrp.concepts import concept_rules

    model = context.model
    check_image_model(model)
    x = model.preprocessing.to_tensor(context.pixels)
    target = context.target if context.target is not None else predict_tensor(model, x).top_class

    def composite():
        return concept_rules(choice.method, choice.params, model, tuple(x.shape))

    return x, int(target), composite


def _layer_title(model, layer: str) -> str:
    from xaidesk.explain.lrp.concepts import concept_layers

    return next((c.title for c in concept_layers(model) if c.name == layer), layer)


def rank_concepts(context: ConceptContext, layer: str, top: int = DEFAULT_TOP, include: int | None = None,
                  token=None, progress=None) -> ConceptRanking:
    """The ``top`` concepts of ``layer`` for the context's class, their shares and conditional heatmaps.

    One pass ranks the layer's channels and gives the heatmaps of the top ones together
    (:func:`xaidesk.concepts.image.explain_concepts`). ``include`` adds one more channel (one picked
    elsewhere, e.g. in the attribution graph of a layer above); when it is not among the top ones, a second
    pass explains them all.
    """
    from xaidesk.concepts.image import explain_concepts

    start = time.perf_counter()
    choice = lrp_choice(context.method, context.params, context.model)
    model = context.model

    def explain(channels=None):
        return explain_concepts(model, context.pixels, layer, method=choice.method, params=choice.params,
                                target=context.target, top=int(top), channels=channels, graph=False,
                                token=token, progress=progress)

    found = explain()
    if include is not None and int(include) not in found.channels:
        found = explain(list(found.channels) + [int(include)])
    total = float(np.abs(found.channel_relevance).sum()) or 1.0
    concepts = [
        Concept(channel, float(found.channel_relevance[channel]) / total, float(found.channel_relevance[channel]),
                float(found.absorbed[k]), found.heatmaps[k])
        for k, channel in enumerate(found.channels)
    ]
    return ConceptRanking(layer, _layer_title(model, layer), found.target, found.target_label, choice.title,
                          found.logit, concepts, int(found.channel_relevance.size), time.perf_counter() - start,
                          channel_relevance=np.asarray(found.channel_relevance, dtype=np.float64),
                          model_spec=str(model.spec), preprocessing=found.preprocessing,
                          image_shape=tuple(found.image_shape), resample=found.resample)


def feeding_concepts(context: ConceptContext, layer: str, channel, top: int = DEFAULT_TOP,
                     token=None, progress=None):
    """The attribution graph of one concept: the ``top`` concepts of the layer below that feed it, with shares.

    ``channel`` may be a list: then one pass gives a :class:`FeedingConcepts` per channel, in its order.
    """
    from xaidesk.explain.lrp.concepts import attribution_graph, concept_layers, layer_below

    several = not isinstance(channel, (int, np.integer))
    channels = [int(c) for c in (channel if several else [channel])]
    progress = progress or (lambda *_args, **_kw: None)
    lower = layer_below(concept_layers(context.model), layer)
    if lower is None:
        found = [FeedingConcepts(layer, c, None, [], f"{layer} is the first layer with concepts: nothing below "
                                                     "it feeds them.") for c in channels]
        return found if several else found[0]
    progress(0.0, f"Concepts of {lower} that feed " + (f"concept {channels[0]}" if len(channels) == 1 else
                                                       f"{len(channels)} concepts"))
    choice = lrp_choice(context.method, context.params, context.model)
    x, target, composite = _prepared(context, choice)
    graphs = attribution_graph(context.model, x, target, composite(), layer, channels, lower, token=token)
    progress(1.0, "Done")
    found = [FeedingConcepts(layer, graph.channel, lower, graph.top(int(top))) for graph in graphs]
    return found if several else found[0]


# ------------------------------------------------------------------ reference samples


def reference_runs(model_spec: str, layer: str) -> list[Path]:
    """The reference-sample runs known for this model and layer: finished ones first, newest first."""
    from xaidesk.concepts.references import find_references

    return list(find_references(model_spec, layer))


@dataclass(frozen=True)
class ReferenceSet:
    """The reference crops of one concept from one run: the run folder, the name of the image folder it went
    through, how many images it holds, whether it is finished, and the crops best first."""

    run_dir: Path
    source: str
    images: int
    finished: bool
    crops: list[ReferenceCrop]


def reference_crops(run_dir, channel: int, kind: str = RELMAX, n: int = REFERENCES_SHOWN,
                    token=None, progress=None) -> ReferenceSet:
    """Up to ``n`` crops of the samples where ``channel`` was most relevant (``RELMAX``) or most active."""
    from xaidesk.concepts.references import crop, open_references
    from xaidesk.data.images import load_image

    references = open_references(run_dir)
    samples = references.relmax(int(channel), n=n) if kind == RELMAX else references.actmax(int(channel), n=n)
    crops = []
    for index, sample in enumerate(samples):
        if token is not None:
            token.check()
        if progress is not None:
            progress(index / max(1, len(samples)), f"Reference sample {index + 1} of {len(samples)}")
        pixels = load_image(sample.path).pixels
        crops.append(ReferenceCrop(np.ascontiguousarray(crop(pixels, sample.box)), float(sample.value),
                                   Path(str(sample.file)).name))
    return ReferenceSet(Path(run_dir), references.source.name or str(references.source), len(references.files),
                        references.finished, crops)


__all__ = [
    "ACTMAX", "Concept", "ConceptContext", "ConceptRanking", "ConceptSetup", "DEFAULT_TOP", "FeedingConcepts",
    "LayerChoice", "LrpChoice", "NOT_EXPLAINABLE", "RELMAX", "REFERENCES_SHOWN", "ReferenceCrop", "ReferenceSet",
    "concept_setup", "feeding_concepts", "lrp_choice", "rank_concepts", "reference_crops", "reference_runs",
    "uses_lrp",
]
