"""Concept records for reference samples: one batched LRP pass that also records, for every channel of a
layer, its relevance, its largest activation and where each peaks (:mod:`xaidesk.concepts.references`).

The passes themselves are those of :mod:`xaidesk.explain.lrp.concepts`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...core import Explanation, MethodError
from ...models.base import LoadedModel
from .cnn import check_relevance, choose_canonizers, lrp_explanation
from .concepts import _channel_sums, _forward, concept_rules
from .coverage import guard_module


@dataclass(frozen=True)
class ConceptRecords:
    """What a batch of inputs says about the concepts of one layer (for reference samples and prototypes).

    Attributes
    ----------
    logits, targets
        ``(B, classes)`` and the explained class of each input.
    heatmaps
        ``(B, C, H, W)`` the unconditional LRP relevance (the same pass).
    relevance, activation
        ``(B, channels)`` each channel's relevance for the explained class, and its largest activation.
    relevance_peak, activation_peak
        ``(B, channels, 4)`` int16 boxes ``(top, left, bottom, right)``, bottom and right exclusive, in
        the layer's grid of ``grid`` ``(h, w)`` cells: where each channel's relevance (activation) is at
        least half its largest value. A dense layer has a grid of one cell.
    notes
        Per input, a note when the relevance does not add up (see ``check_relevance``), or ``None``.
    info
        The rules and unmerged batch norms of the pass (as :func:`~xaidesk.explain.lrp.cnn.attached` gives).
    """

    logits: torch.Tensor
    targets: list[int]
    heatmaps: torch.Tensor
    relevance: torch.Tensor
    activation: torch.Tensor
    relevance_peak: torch.Tensor
    activation_peak: torch.Tensor
    grid: tuple[int, int]
    notes: list
    info: dict


def peak_boxes(maps: torch.Tensor, fraction: float = 0.5) -> torch.Tensor:
    """``(B, C, 4)`` int16 boxes around the cells of each ``(h, w)`` map that reach ``fraction`` of its maximum."""
    b, c = maps.shape[:2]
    flat = torch.nan_to_num(maps.reshape(b, c, -1), nan=0.0)
    peak = flat.max(2, keepdim=True).values
    keep = (flat >= fraction * peak) & (peak > 0) | (flat == peak)
    keep = keep.reshape(maps.shape)
    rows, cols = keep.any(3), keep.any(2)
    h, w = maps.shape[2:]

    def first_last(mask: torch.Tensor, size: int):
        index = torch.arange(size, device=mask.device)
        first = torch.where(mask, index, size).min(2).values
        last = torch.where(mask, index, -1).max(2).values + 1
        return first, last

    top, bottom = first_last(rows, h)
    left, right = first_last(cols, w)
    return torch.stack([top, left, bottom, right], 2).to(torch.int16)


def record_concepts(model: LoadedModel, x: torch.Tensor, targets, composite, layer: str, *,
                    token=None, fast: bool = True) -> ConceptRecords:
    """One forward and one LRP pass for a batch ``x``; the unconditional heatmaps and every channel's
    relevance and activation at ``layer``. ``targets`` None explains each input's top class."""
    captured: dict = {}
    with _forward(model, x, composite, [layer], fast, token) as p:
        (out,), logits, info = p.outputs, p.logits, p.info
        dim = p.channel_dim(out)
        chosen = logits.detach().argmax(1).tolist() if targets is None else [int(t) for t in targets]
        if len(chosen) != x.shape[0]:
            raise MethodError(f"{len(chosen)} targets were given for a batch of {x.shape[0]} inputs.")
        out.register_hook(lambda grad: captured.__setitem__("at_layer", p.relevance(out, grad.detach())))
        (gradient,) = torch.autograd.grad(logits, p.inp, grad_outputs=p.start(chosen))
        heatmaps = p.relevance(p.inp, gradient).detach()
        activation = out.detach()
    notes = check_relevance(heatmaps, logits.detach(), chosen)
    at_layer = captured.get("at_layer")
    if at_layer is None:
        raise MethodError(f"No relevance reached the layer '{layer}'; choose a layer the explained output depends on.")
    if not bool(torch.isfinite(at_layer).all()) or not bool(torch.isfinite(activation).all()):
        raise MethodError("The relevance or the activation at the layer is not finite (NaN or infinite) for this "
                          "model and layer.")
    if at_layer.dim() == 4:
        relevance_maps, activation_maps = at_layer, activation
    else:  # dense layers and tokens: one cell, the whole input
        relevance_maps = _channel_sums(at_layer, dim)[:, :, None, None]
        activation_maps = activation.movedim(dim, 1).flatten(2).max(2).values[:, :, None, None] \
            if activation.dim() > 2 else activation[:, :, None, None]
    return ConceptRecords(
        logits=logits.detach().cpu(), targets=chosen, heatmaps=heatmaps.cpu(),
        relevance=_channel_sums(at_layer, dim).float().cpu(),
        activation=activation_maps.flatten(2).max(2).values.float().cpu(),
        relevance_peak=peak_boxes(relevance_maps).cpu(), activation_peak=peak_boxes(activation_maps).cpu(),
        grid=tuple(int(s) for s in relevance_maps.shape[2:]), notes=notes, info=info,
    )


def _grid_boxes_to_input(boxes: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Boxes in the layer's grid -> boxes in model-input pixels (each cell covers ``size / grid`` pixels)."""
    scale = np.array([size[0] / grid[0], size[1] / grid[1]] * 2, dtype=np.float64)
    return np.asarray(boxes, dtype=np.float64) * scale


def run_concepts_batch(method: str, layer: str, model: LoadedModel, x: torch.Tensor, targets, *, params: dict,
                       token) -> list[Explanation]:
    """The LRP method ``method`` for a batch, each :class:`Explanation` carrying the layer's concepts.

    ``extras["item_arrays"]["concepts"]`` holds ``relevance`` and ``activation`` ``(channels,)`` and
    ``relevance_box`` and ``activation_box`` ``(channels, 4)`` in model-input pixels (see
    :class:`ConceptRecords`); a dataset run stores them beside the heatmap. For a transformer's token
    layers the box is the whole input.
    """
    from . import attention

    token.check()
    rules = concept_rules(method, params, model, (1, *x.shape[1:]))
    records = record_concepts(model, x, targets, rules, layer, token=token)
    size = tuple(int(s) for s in x.shape[2:])
    relevance_boxes = _grid_boxes_to_input(records.relevance_peak, records.grid, size)
    activation_boxes = _grid_boxes_to_input(records.activation_peak, records.grid, size)
    explanations = []
    for i, t in enumerate(records.targets):
        logit = float(records.logits[i, t])
        if isinstance(rules, dict):
            explanation = attention._explanation(model, t, logit, records.heatmaps[i], params, records.info, i)
        else:
            canonizers = choose_canonizers(model.architecture, guard_module(model))
            explanation = lrp_explanation(method.split(".", 1)[1], model, t, logit, records.heatmaps[i], params,
                                          canonizers, records.info, records.notes[i])
        explanation.extras["concept_layer"] = layer
        explanation.extras["item_arrays"] = {"concepts": {
            "relevance": records.relevance[i].numpy(), "activation": records.activation[i].numpy(),
            "relevance_box": relevance_boxes[i], "activation_box": activation_boxes[i],
        }}
        explanations.append(explanation)
    return explanations


__all__ = ["ConceptRecords", "peak_boxes", "record_concepts", "run_concepts_batch"]
