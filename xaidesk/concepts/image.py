"""The concepts of one image's prediction: the top channels of a layer, their conditional heatmaps in the
image's own pixels, and the concepts of the layer below that feed each of them.

This is what ``xaidesk concepts image`` computes and writes (:mod:`xaidesk.concepts.files`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..core import CancelToken, InputError, MethodError, no_progress

DEFAULT_TOP = 8


@dataclass(frozen=True)
class ImageConcepts:
    """The top concepts of one layer for one image and class.

    Attributes
    ----------
    channels
        The explained concepts (channels), most relevant first.
    shares
        Each one's relevance over the layer's total |relevance|.
    channel_relevance
        ``(channels of the layer,)`` every channel's relevance.
    absorbed
        ``(K,)`` what the rules below the layer kept from each concept's relevance.
    heatmaps
        ``(K, H, W)`` float32 conditional heatmaps in model-input pixels; :meth:`heatmap` maps one onto
        the image (kept small: a photo's own size times K would not be).
    feeding
        For each explained concept, ``[(channel of lower_layer, share), ...]``, largest first.
    """

    model_name: str
    model_spec: str
    layer: str
    method: str
    params: dict
    target: int
    target_label: str
    logit: float
    channels: list[int]
    shares: list[float]
    channel_relevance: np.ndarray
    absorbed: np.ndarray
    heatmaps: np.ndarray
    image_shape: tuple[int, int]
    preprocessing: object
    resample: str
    lower_layer: str | None = None
    feeding: dict = field(default_factory=dict)
    seconds: float = 0.0

    def heatmap(self, k: int, image_shape: tuple[int, int] | None = None) -> np.ndarray:
        """Concept ``k``'s heatmap on the image (``image_shape``, default the explained image's); NaN where
        the model saw nothing."""
        shape = tuple(image_shape or self.image_shape)
        return self.preprocessing.to_original(self.heatmaps[int(k)], shape, preserve=self.resample)


def lrp_method(method: str | None, model=None) -> str:
    """``method`` when concepts can be computed with it (an LRP method with a batched path), else the image
    default; for a transformer (``model`` refused by the CNN rules) the LRP method for transformers."""
    from ..core import default_method, get_method, list_methods
    from ..core.registry import TAG_TRANSFORMERS
    from ..explain.common import unavailable_reason
    from ..explain.lrp.concepts import concept_methods

    usable = concept_methods()
    if method is not None:
        if method not in usable:
            raise MethodError(f"Concepts split an LRP explanation; '{method}' is not one. Choose one of: "
                              f"{', '.join(usable)}.")
        return method
    default = default_method("image")
    default = default if default in usable else usable[0]
    if model is not None and unavailable_reason(get_method(default), model):
        for info in list_methods("image"):
            if info.has(TAG_TRANSFORMERS) and info.name in usable and not unavailable_reason(info, model):
                return info.name
    return default


def explain_concepts(model, pixels: np.ndarray, layer: str | None = None, *, method: str | None = None,
                     params: dict | None = None, target: int | None = None, top: int = DEFAULT_TOP,
                     channels=None, graph: bool = True, token: CancelToken | None = None,
                     progress=None) -> ImageConcepts:
    """Split the LRP explanation of ``pixels`` by the channels of ``layer`` (default: the model's default
    concept layer); the ``top`` concepts, or the given ``channels``, with their heatmaps and feeders."""
    from ..core import get_method
    from ..explain.common import unavailable_reason
    from ..explain.image import check_image_model, predict_tensor
    from ..explain.lrp.concepts import (attribution_graph, concept_layers, concept_rules, conditional_relevance,
                                        default_layer, layer_below)

    token, progress = token or CancelToken(), progress or no_progress
    started = time.perf_counter()
    method = lrp_method(method, model)
    info = get_method(method)
    reason = unavailable_reason(info, model)
    if reason:
        raise MethodError(reason)
    check_image_model(model)
    layers = concept_layers(model)
    layer = layer or default_layer(layers)
    names = [c.name for c in layers]
    if layer not in names:
        raise InputError(f"'{layer}' is not a concept layer of {model.name}; choose one of: "
                         f"{', '.join(names) or 'none (it has no convolution or dense layers)'}.")
    if int(top) < 1:
        raise InputError(f"Ask for at least one concept (got {top}).")
    resolved = info.resolve_params({**info.defaults("image"), **dict(params or {})})
    x = model.preprocessing.to_tensor(pixels)
    target = int(target) if target is not None else predict_tensor(model, x).top_class

    def composite():
        return concept_rules(method, resolved, model, tuple(x.shape))

    progress(0.05, "Conditional heatmaps of the concepts")
    result = conditional_relevance(model, x, target, composite(), layer, channels, top=None if channels else top,
                                   token=token)
    chosen = list(result.channels)
    heatmaps = result.heatmaps.sum(1).numpy().astype(np.float32)
    total = float(result.channel_relevance.abs().sum()) or 1.0
    lower = layer_below(layers, layer)
    feeding = {}
    if graph and lower is not None:
        progress(0.6, "The concepts below that feed them")
        graphs = attribution_graph(model, x, target, composite(), layer, chosen, lower, token=token)
        feeding = {graph_.channel: graph_.top(5) for graph_ in graphs}
    progress(1.0, "Done")
    return ImageConcepts(
        model_name=model.name, model_spec=model.spec, layer=layer, method=method, params=dict(resolved),
        target=target, target_label=model.label(target), logit=result.logit, channels=chosen,
        shares=[float(result.channel_relevance[c]) / total for c in chosen],
        channel_relevance=result.channel_relevance.numpy().astype(np.float64), absorbed=result.absorbed.numpy(),
        heatmaps=heatmaps, image_shape=tuple(pixels.shape[:2]), preprocessing=model.preprocessing,
        resample=info.resample, lower_layer=lower if graph else None, feeding=feeding,
        seconds=time.perf_counter() - started,
    )


__all__ = ["DEFAULT_TOP", "ImageConcepts", "explain_concepts", "lrp_method"]
