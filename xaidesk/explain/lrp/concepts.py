"""Concept-conditional relevance (CRP, Achtibat et al. 2023): an LRP explanation split by the channels of one layer.

The relevance that reaches a layer's output is one number per channel and position; a channel
(a *concept*) gets the sum. The conditional heatmap of a concept is the input relevance when only
that channel's relevance is passed on below the layer. All chosen concepts go through **one**
batched backward pass: the input is repeated once per concept and each copy's relevance at the
layer is masked to its own channel.

The rules pass relevance on linearly, so the conditional heatmaps of all channels of a layer add
up to the unconditional heatmap, and a channel's heatmap adds up to that channel's relevance except
for what biases and stabilisers below the layer absorb (``absorbed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from zennit.core import Composite

from ...core import InputError, MethodError
from ...models.base import LoadedModel
from ..common import check_target, one_hot_like
from .cnn import _propagate


@dataclass(frozen=True)
class ConditionalRelevance:
    """Conditional heatmaps of chosen concepts of one layer, and the relevance of every channel there.

    Attributes
    ----------
    layer
        The layer's name in the model.
    channels
        The chosen channels, in the order of ``heatmaps``.
    heatmaps
        ``(K, C, H, W)`` input relevance of each chosen channel.
    channel_relevance
        ``(channels of the layer,)`` each channel's relevance at the layer (all channels, for ranking).
    absorbed
        ``(K,)`` each chosen channel's relevance minus its heatmap's sum: what the rules below absorbed.
    logit
        The explained output.
    """

    layer: str
    channels: tuple[int, ...]
    heatmaps: torch.Tensor
    channel_relevance: torch.Tensor
    absorbed: torch.Tensor
    logit: float

    def top(self, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` channels of largest relevance with their share of the layer's total |relevance|."""
        total = float(self.channel_relevance.abs().sum()) or 1.0
        order = torch.argsort(self.channel_relevance, descending=True)[:k]
        return [(int(c), float(self.channel_relevance[c]) / total) for c in order]


def _layer(module: torch.nn.Module, name: str) -> torch.nn.Module:
    try:
        return module.get_submodule(name)
    except AttributeError:
        names = [n for n, m in module.named_modules() if n and isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        raise InputError(f"The model has no layer '{name}'; its layers with channels are: "
                         f"{', '.join(names[:30])}{' …' if len(names) > 30 else ''}.") from None


def conditional_relevance(model: LoadedModel, x: torch.Tensor, target: int, composite: Composite, layer: str,
                          channels: Sequence[int], *, token=None, fast: bool = True) -> ConditionalRelevance:
    """Conditional heatmaps of ``channels`` of ``layer`` for ``target``, in one batched backward pass.

    ``x`` is one input ``(1, C, H, W)``; ``composite`` a fresh LRP composite
    (:func:`xaidesk.explain.lrp.cnn.build_composite`). The relevance of every channel of the layer is
    returned as well, so that the concepts can be ranked.
    """
    channels = tuple(int(c) for c in channels)
    if x.shape[0] != 1:
        raise InputError("Conditional relevance explains one input at a time.")
    if not channels:
        raise InputError("Choose at least one concept (channel) to explain.")
    captured: dict = {}

    def attach(module: torch.nn.Module) -> list:
        target_layer = _layer(module, layer)

        def on_output(_module, _inputs, output):
            if not isinstance(output, torch.Tensor) or output.dim() < 2:
                raise MethodError(f"The layer '{layer}' does not give one tensor with channels; choose another layer.")
            width = output.shape[1]
            if max(channels) >= width or min(channels) < 0:
                raise InputError(f"The layer '{layer}' has {width} channels (0 to {width - 1}); "
                                 f"got {', '.join(map(str, channels))}.")
            mask = torch.zeros((len(channels), width) + (1,) * (output.dim() - 2), dtype=output.dtype,
                               device=output.device)
            mask[torch.arange(len(channels)), torch.as_tensor(channels)] = 1.0

            def masked(grad: torch.Tensor) -> torch.Tensor:
                captured["layer_relevance"] = grad[0].detach().flatten(1).sum(1) if grad.dim() > 2 else grad[0].detach()
                return grad * mask

            output.register_hook(masked)

        return [target_layer.register_forward_hook(on_output)]

    def start(output: torch.Tensor) -> torch.Tensor:
        check_target(target, output.shape[1])
        return one_hot_like(output, target) * output.detach()

    batch = x.detach().repeat(len(channels), *([1] * (x.dim() - 1)))
    logits, relevance, _ = _propagate(model, batch, start, composite, token, None, fast, attach=attach)
    if "layer_relevance" not in captured:
        raise MethodError(f"No relevance reached the layer '{layer}'; choose a layer the explained output depends on.")
    if not bool(torch.isfinite(relevance).all()):
        raise MethodError("The conditional relevance is not finite (NaN or infinite) for this model and layer.")
    channel_relevance = captured["layer_relevance"].double().cpu()
    sums = relevance.flatten(1).sum(1).double().cpu()
    chosen = channel_relevance[list(channels)]
    return ConditionalRelevance(layer, channels, relevance.detach().cpu(), channel_relevance, chosen - sums,
                                float(logits[0, target]))


__all__ = ["ConditionalRelevance", "conditional_relevance"]
