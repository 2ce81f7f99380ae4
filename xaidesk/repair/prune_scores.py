"""How important each prunable unit is: LRP relevance (Yeom et al. 2021), Taylor, weight magnitude, random.

Relevance (Yeom et al., "Pruning by explaining", 2021): each reference sample is explained for its
true class with LRP epsilon-plus-flat (the engine of :mod:`xaidesk.explain.lrp.cnn`, canonizers
included); the relevance of a unit is the relevance at its output summed over positions. zennit's
modified backward pass carries relevance itself as the gradient, so the relevance at a layer's
output is the gradient arriving there; forward hooks on the units' outputs (the batch norm behind
a convolution, where there is one -- merged or not, relevance passes it unchanged) catch it while
one batched pass explains a whole batch. Each sample's unit relevances are divided by their
absolute sum in that layer (every sample counts alike), then averaged over the samples.

Taylor (Molchanov et al. 2017): ``|mean over positions of activation × gradient of the loss|`` at
the same outputs, averaged over the same samples. Magnitude: the L1 norm of each filter's weights.
Random: uniform numbers from the seed.

Global ranking: every criterion's scores are divided by the layer's mean absolute score, so an
average unit scores 1 in every layer whatever the layer's width; the least important units across
all layers go first.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core import CancelToken, InputError, MethodError, ModelError, no_progress
from ..core.cancel import Step
from ..models.base import LoadedModel
from ..models.edited import get_submodule
from .data import ImageSet
from .prune_surgery import PrunableLayer, prunable_layers

CRITERIA = ("relevance", "taylor", "magnitude", "random")
#: Samples per batched pass.
BATCH_SIZE = 32
LRP_METHOD = "epsilon_plus_flat"


def input_shape(model: LoadedModel) -> tuple:
    pre = model.preprocessing
    return (1, pre.num_channels, *pre.size)


def reference_samples(data: ImageSet, per_class: int = 10, seed: int = 0) -> ImageSet:
    """Up to ``per_class`` images of each labelled class of ``data``, drawn with ``seed`` (Yeom et al. use 10)."""
    if int(per_class) < 1:
        raise InputError(f"Use at least 1 reference image per class (not {per_class}).")
    labels = data.labels.numpy()
    rng = np.random.default_rng(int(seed))
    chosen = []
    for label in sorted(set(labels[labels >= 0].tolist())):
        members = np.flatnonzero(labels == label)
        chosen.extend(rng.choice(members, size=min(int(per_class), len(members)), replace=False).tolist())
    if not chosen:
        raise InputError("The images have no class labels, so no reference images can be chosen.")
    return data.subset(sorted(chosen))


def prunable_layers_of(model: LoadedModel) -> list[PrunableLayer]:
    """The prunable layers of ``model``; a plain :class:`ModelError` when there are none."""
    layers = prunable_layers(model.module, input_shape(model))
    if not layers:
        raise ModelError(f"{model.name} has no convolution or hidden dense layer whose units could be pruned "
                         "(only the output layer, or no Conv2d/Linear layer at all).")
    return layers


def normalise_per_layer(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each layer's scores divided by their mean absolute value (all zeros stay zeros)."""
    normalised = {}
    for name, values in scores.items():
        scale = float(np.abs(values).mean()) if values.size else 0.0
        normalised[name] = values / scale if scale > 0 else values.copy()
    return normalised


def unit_scores(model: LoadedModel, samples: ImageSet, criterion: str, *, batched: bool = True,
                token: CancelToken | None = None, progress=no_progress, seed: int = 0,
                layers: list[PrunableLayer] | None = None) -> dict[str, np.ndarray]:
    """The importance of every prunable unit: ``{layer name: (units,) scores}``, normalised per layer.

    Parameters
    ----------
    model
        The network (not changed).
    samples
        Labelled reference images (relevance and Taylor use their true classes).
    criterion
        One of :data:`CRITERIA`.
    batched
        One pass per batch of samples (``False``: one pass per sample, the naive reference).
    layers
        The prunable layers (default: :func:`~xaidesk.repair.prune_surgery.prunable_layers`).

    Raises
    ------
    MethodError
        When a score is not finite.
    """
    if criterion not in CRITERIA:
        raise InputError(f"Unknown pruning criterion '{criterion}'; choose one of: {', '.join(CRITERIA)}.")
    token = token or CancelToken()
    module = model.module
    layers = layers if layers is not None else prunable_layers_of(model)
    if criterion == "magnitude":
        raw = {layer.name: get_submodule(module, layer.name).weight.detach().abs().flatten(1).sum(1).double().numpy()
               for layer in layers}
    elif criterion == "random":
        rng = np.random.default_rng(int(seed))
        raw = {layer.name: rng.random(layer.units) for layer in layers}
    else:
        if len(samples) == 0 or bool((samples.labels < 0).any()):
            raise InputError("Relevance and Taylor scores need reference images with known classes.")
        collect = _relevance_batch if criterion == "relevance" else _taylor_batch
        raw = _averaged(model, layers, samples, collect, BATCH_SIZE if batched else 1, token, progress)
    check_scores(raw, criterion)
    return normalise_per_layer(raw)


def check_scores(scores: dict[str, np.ndarray], criterion: str) -> None:
    """Refuse scores that are not finite numbers, naming the layer."""
    for name, values in scores.items():
        if not np.all(np.isfinite(values)):
            raise MethodError(f"The {criterion} scores of layer '{name}' are not finite numbers (NaN or infinite), "
                              "so its units cannot be ranked. Check the model's weights, or use another criterion.")


def _averaged(model, layers, samples, collect, batch_size, token, progress) -> dict[str, np.ndarray]:
    sums = {layer.name: np.zeros(layer.units) for layer in layers}
    n = len(samples)
    context = _lrp_context(model) if collect is _relevance_batch else None
    for start in range(0, n, batch_size):
        token.check()
        x = samples.inputs[start:start + batch_size]
        y = samples.labels[start:start + batch_size]
        for name, values in collect(model, layers, x, y, context, token).items():
            sums[name] += values.sum(0)
        done = min(n, start + batch_size)
        progress(done / n, Step.count("Scoring units", done, n, "images"))
    return {name: total / n for name, total in sums.items()}


def _lrp_context(model: LoadedModel):
    from ..explain.lrp.cnn import build_composite, choose_canonizers
    from ..explain.lrp.coverage import guard_module

    def composite():
        canonizers = choose_canonizers(model.architecture, guard_module(model))
        return build_composite(LRP_METHOD, {"epsilon": 1e-6}, model, canonizers, input_shape=input_shape(model))

    return composite


def _capture(module, layers, keep_output: bool):
    """Forward hooks on the units' outputs that store ``(output, gradient)`` per layer."""
    captured: dict[str, dict] = {layer.name: {} for layer in layers}
    handles = []
    for layer in layers:
        def hook(_module, _inputs, output, store=captured[layer.name]):
            if isinstance(output, torch.Tensor) and output.requires_grad:
                if keep_output:
                    store["output"] = output.detach().clone()  # in-place steps behind must not change it
                output.register_hook(lambda grad: store.__setitem__("grad", grad.detach()))
        handles.append(get_submodule(module, layer.output).register_forward_hook(hook))
    return captured, handles


def _per_unit(tensor: torch.Tensor) -> torch.Tensor:
    """(B, units, ...) summed over positions: (B, units)."""
    return tensor.flatten(2).sum(2) if tensor.dim() > 2 else tensor


def _relevance_batch(model, layers, x, y, composite, token) -> dict[str, np.ndarray]:
    from ..explain.lrp.cnn import lrp_attribution_batch

    captured, handles = _capture(model.module, layers, keep_output=False)
    try:
        lrp_attribution_batch(model, x, y.tolist(), composite(), token=token)
    finally:
        for handle in handles:
            handle.remove()
    result = {}
    for layer in layers:
        if "grad" not in captured[layer.name]:
            raise MethodError(f"No relevance reached layer '{layer.name}' during LRP, so its units cannot be scored.")
        relevance = _per_unit(captured[layer.name]["grad"].double())
        total = relevance.abs().sum(1, keepdim=True)
        result[layer.name] = torch.where(total > 0, relevance / total.clamp_min(1e-300), relevance).numpy()
    return result


def _taylor_batch(model, layers, x, y, _context, token) -> dict[str, np.ndarray]:
    module = model.module
    captured, handles = _capture(module, layers, keep_output=True)
    try:
        with torch.enable_grad():
            inputs = x.detach().clone().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(module(inputs), y, reduction="sum")
            torch.autograd.grad(loss, inputs)  # the gradient at the units' outputs is caught by the hooks
    finally:
        for handle in handles:
            handle.remove()
    result = {}
    for layer in layers:
        store = captured[layer.name]
        product = store["output"].double() * store["grad"].double()
        positions = product[0, 0].numel() if product.dim() > 2 else 1
        result[layer.name] = (_per_unit(product) / positions).abs().numpy()
    return result


__all__ = ["CRITERIA", "check_scores", "normalise_per_layer", "prunable_layers_of", "reference_samples",
           "unit_scores"]
