"""Concept-conditional relevance (CRP, Achtibat et al. 2023): an LRP explanation split by the channels of one layer.

The relevance that reaches a layer's output is one number per channel and position; a channel
(a *concept*) gets the sum. The conditional heatmap of a concept is the input relevance when only
that channel's relevance is passed on below the layer.

One forward pass and one backward pass down to the layer are shared by every concept; only the
part below the layer is run once per concept, and all concepts go through it together as one
batch of gradients (``torch.autograd.grad(..., is_grads_batched=True)``). The rules' own forward
passes below the layer depend on the input alone, so they are computed once as well.

The rules pass relevance on linearly, so the conditional heatmaps of all channels of a layer add
up to the unconditional heatmap, and a channel's heatmap adds up to that channel's relevance except
for what biases and stabilisers below the layer absorb (``absorbed``).

CNNs use zennit's rules (a composite), where the gradient is the relevance. Vision transformers use
the rules of LRP for transformers on a rule-carrying copy of the model, where relevance is tensor ×
gradient and a token layer's channels (hidden dimensions) are its last axis. The per-channel records
of a batch for reference samples are in :mod:`xaidesk.explain.lrp.concept_records`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from zennit.core import Composite

from ...core import InputError, MethodError
from ...models.base import LoadedModel
from ...models.inference import forward_logits
from ..common import check_target, detached_copy, gradients_enabled
from .cnn import attached, build_composite, choose_canonizers
from .coverage import guard_module

#: Concepts per batch of gradients below the layer (bounds the memory of one batch).
CHUNK = 16


@dataclass(frozen=True)
class ConceptLayer:
    """A layer whose channels can be read as concepts.

    ``kind`` is ``"convolution"``, ``"dense"`` or ``"block"`` (a block of a sequence, such as a residual
    block: all relevance passes its output, so its concepts add up to the whole heatmap).
    """

    name: str
    kind: str
    channels: int

    @property
    def title(self) -> str:
        return f"{self.name} ({self.kind}, {self.channels} channels)"


_WIDTH_ATTRIBUTES = ("out_channels", "out_features", "num_features")


def _width(module: torch.nn.Module) -> int | None:
    """The channels a block gives: those of its last layer that has a width."""
    width = None
    for child in module.modules():
        for attribute in _WIDTH_ATTRIBUTES:
            if isinstance(getattr(child, attribute, None), int):
                width = int(getattr(child, attribute))
                break
    return width


def concept_layers(model: LoadedModel) -> list[ConceptLayer]:
    """The layers whose outputs all relevance passes, in forward order, without the output layer.

    These are the members of sequences (``nn.Sequential``, ``nn.ModuleList``) that hold a convolution
    or a dense layer (a VGG's convolutions, a ResNet's residual blocks), and the convolution and dense
    layers outside them. A convolution inside a residual block is left out: the skip connection
    carries relevance around it, so its concepts would not add up to the heatmap.
    """
    module = model.module
    if not isinstance(module, torch.nn.Module) or model.is_torchscript:
        return []
    found: list[ConceptLayer] = []
    inside: list[str] = []
    containers = (torch.nn.Sequential, torch.nn.ModuleList)
    for name, child in module.named_modules():
        if not name or any(name.startswith(prefix + ".") for prefix in inside):
            continue
        parent = module.get_submodule(name.rpartition(".")[0]) if "." in name else module
        if isinstance(child, torch.nn.Conv2d):
            found.append(ConceptLayer(name, "convolution", int(child.out_channels)))
        elif isinstance(child, torch.nn.Linear):
            found.append(ConceptLayer(name, "dense", int(child.out_features)))
        elif isinstance(parent, containers) and not isinstance(child, containers) and any(
                isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in child.modules()):
            width = _width(child)
            if width is not None:
                found.append(ConceptLayer(name, "block", width))
                inside.append(name)
    if found and found[-1].kind == "dense":
        found.pop()  # the output layer: its channels are the classes themselves
    return found


def default_layer(layers: Sequence[ConceptLayer]) -> str | None:
    """The last convolution or block (its concepts are the most composite), else the last hidden dense layer."""
    convolutions = [layer for layer in layers if layer.kind != "dense"]
    chosen = convolutions[-1] if convolutions else (layers[-1] if layers else None)
    return None if chosen is None else chosen.name


def layer_below(layers: Sequence[ConceptLayer], name: str) -> str | None:
    """The concept layer before ``name`` in forward order, or ``None`` for the first."""
    names = [layer.name for layer in layers]
    index = names.index(name) if name in names else -1
    return names[index - 1] if index > 0 else None


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
        return top_concepts(self.channel_relevance, k)


def top_concepts(channel_relevance: torch.Tensor, k: int) -> list[tuple[int, float]]:
    """The ``k`` channels of largest (signed) relevance, each with its share of the total |relevance|."""
    relevance = torch.as_tensor(channel_relevance).double()
    total = float(relevance.abs().sum()) or 1.0
    order = torch.argsort(relevance, descending=True)[: int(k)]
    return [(int(c), float(relevance[c]) / total) for c in order]


@dataclass(frozen=True)
class AttributionGraph:
    """Which concepts of the layer below feed one concept, and how much.

    ``relevance`` is ``(channels of the layer below,)``: the part of the concept's relevance that
    passes through each of them. ``share`` divides by its total |relevance|.
    """

    layer: str
    channel: int
    lower_layer: str
    relevance: torch.Tensor

    def top(self, k: int = 5) -> list[tuple[int, float]]:
        return top_concepts(self.relevance, k)


def _layer(module: torch.nn.Module, name: str) -> torch.nn.Module:
    try:
        return module.get_submodule(name)
    except AttributeError:
        names = [n for n, m in module.named_modules() if n and isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        raise InputError(f"The model has no layer '{name}'; its layers with channels are: "
                         f"{', '.join(names[:30])}{' …' if len(names) > 30 else ''}.") from None


def _check_channels(layer: str, width: int, channels: Sequence[int]) -> None:
    if channels and (max(channels) >= width or min(channels) < 0):
        raise InputError(f"The layer '{layer}' has {width} channels (0 to {width - 1}); "
                         f"got {', '.join(map(str, channels))}.")


def _start(output: torch.Tensor, targets: Sequence[int], scaled: bool = True) -> torch.Tensor:
    """One-hot of each sample's target, times its logit when ``scaled``: where the backward pass starts."""
    for t in targets:
        check_target(t, output.shape[1])
    mask = torch.zeros_like(output)
    mask[torch.arange(output.shape[0], device=output.device), torch.as_tensor(list(targets), device=output.device)] = 1
    return mask * output.detach() if scaled else mask


@dataclass
class _Pass:
    """One forward pass with the rules attached (graph kept): the input, the logits, the layers' outputs.

    ``tokens``: the rules of LRP for transformers, on a copy of the model that computes relevance as
    tensor × gradient (:func:`xaidesk.explain.lrp.attention.lrp_copy`); a token tensor ``(B, T, D)``
    has its channels last. With the CNN rules (zennit) the gradient is the relevance itself.
    """

    inp: torch.Tensor
    logits: torch.Tensor
    outputs: list
    info: dict
    tokens: bool

    def relevance(self, tensor: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
        return tensor.detach() * gradient if self.tokens else gradient

    def channel_dim(self, tensor: torch.Tensor) -> int:
        return -1 if self.tokens and tensor.dim() == 3 else 1

    def start(self, targets: Sequence[int]) -> torch.Tensor:
        """The gradient the backward pass starts from: the explained logit's relevance is the logit itself,
        which is the gradient with the CNN rules and gradient × logit (a gradient of one) for transformers."""
        return _start(self.logits, targets, scaled=not self.tokens)


def _first_tensor(output):
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return output


@contextlib.contextmanager
def _forward(model: LoadedModel, x: torch.Tensor, composite, layers: Sequence[str], fast: bool,
             token) -> Iterator[_Pass]:
    """Forward ``x`` with the rules attached and the graph kept.

    ``composite`` is a zennit composite (the CNN rules, attached to the model and removed on the way
    out) or, for a transformer, the settings of LRP for transformers (a dict; a rule-carrying copy of
    the model runs instead).
    """
    outputs: dict[str, torch.Tensor] = {}

    def attach(module: torch.nn.Module) -> list:
        def keep(name):
            def on_output(_module, _inputs, output):
                output = _first_tensor(output)
                if not isinstance(output, torch.Tensor) or output.dim() < 2:
                    raise MethodError(f"The layer '{name}' does not give one tensor with channels; "
                                      "choose another layer.")
                outputs[name] = output
            return on_output

        return [_layer(module, name).register_forward_hook(keep(name)) for name in layers]

    def run(module: torch.nn.Module, info: dict, tokens: bool) -> _Pass:
        inp = detached_copy(x).requires_grad_()
        logits = forward_logits(module, inp, model.name)
        if token is not None:
            token.check()
        missing = [name for name in layers if name not in outputs]
        if missing:
            raise MethodError(f"The layer '{missing[0]}' was not used when the model ran; choose another layer.")
        return _Pass(inp, logits, [outputs[name] for name in layers], info, tokens)

    if isinstance(composite, dict):
        from .attention import _copy_for

        duplicate, info = _copy_for(model, composite)
        handles = attach(duplicate)
        try:
            with gradients_enabled():
                yield run(duplicate, info, True)
        finally:
            for handle in handles:
                handle.remove()
        return
    with attached(model, composite, fast, attach) as (module, info):
        yield run(module, info, False)


def _masked(gradient: torch.Tensor, channels: Sequence[int], dim: int) -> torch.Tensor:
    """``(K, 1, ...)``: ``gradient`` (1, ...) with all channels (along ``dim``) but one zeroed, once per channel."""
    width = gradient.shape[dim]
    shape = [1] * gradient.dim()
    shape[dim] = width
    mask = torch.zeros((len(channels), width), dtype=gradient.dtype, device=gradient.device)
    mask[torch.arange(len(channels)), torch.as_tensor(list(channels))] = 1.0
    return (mask.reshape(len(channels), *shape[1:]) * gradient).unsqueeze(1)


def _below(upper: torch.Tensor, lower: torch.Tensor, gradient: torch.Tensor, channels: Sequence[int], chunk: int,
           token, dim: int = 1) -> torch.Tensor:
    """``(K, *lower.shape[1:])``: the gradient at ``lower`` of each channel of ``upper`` on its own."""
    parts = []
    for start in range(0, len(channels), chunk):
        if token is not None:
            token.check()
        grads = _masked(gradient, channels[start:start + chunk], dim)
        try:
            (part,) = torch.autograd.grad(upper, lower, grad_outputs=grads, retain_graph=True, is_grads_batched=True)
        except RuntimeError as error:
            if "vmap" not in str(error).lower() and "batch" not in str(error).lower():
                raise
            # An operation without a batching rule: one gradient per concept, still sharing the rest.
            part = torch.stack([torch.autograd.grad(upper, lower, grad_outputs=g, retain_graph=True)[0]
                                for g in grads])
        parts.append(part[:, 0].detach())
    return torch.cat(parts)


def _channel_sums(relevance: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """``(B, channels)``: ``relevance`` summed over everything but the batch and the channel axis ``dim``."""
    if relevance.dim() <= 2:
        return relevance
    return relevance.movedim(dim, 1).flatten(2).sum(2)


def conditional_relevance(model: LoadedModel, x: torch.Tensor, target: int, composite, layer: str,
                          channels: Sequence[int] | None = None, *, top: int | None = None, token=None,
                          fast: bool = True, chunk: int = CHUNK) -> ConditionalRelevance:
    """Conditional heatmaps of ``channels`` of ``layer`` for ``target``, sharing everything above the layer.

    ``x`` is one input ``(1, C, H, W)``; ``composite`` a fresh LRP composite
    (:func:`xaidesk.explain.lrp.cnn.build_composite`), or for a transformer the settings of LRP for
    transformers (a dict). Give ``channels``, or ``top`` to explain the ``top`` most relevant channels
    (chosen from the same pass). The relevance of every channel of the layer is returned as well, so
    that the concepts can be ranked.
    """
    if x.shape[0] != 1:
        raise InputError("Conditional relevance explains one input at a time.")
    if channels is None and (top is None or int(top) < 1):
        raise InputError("Choose at least one concept (channel) to explain.")
    chosen = tuple(int(c) for c in channels) if channels is not None else ()
    if channels is not None and not chosen:
        raise InputError("Choose at least one concept (channel) to explain.")
    with _forward(model, x, composite, [layer], fast, token) as p:
        (out,), dim = p.outputs, p.channel_dim(p.outputs[0])
        _check_channels(layer, out.shape[dim], chosen)
        (gradient,) = torch.autograd.grad(p.logits, out, grad_outputs=p.start([target]), retain_graph=True)
        at_layer = p.relevance(out, gradient.detach())
        if not bool(torch.isfinite(at_layer).all()):
            raise MethodError("The relevance at the layer is not finite (NaN or infinite) for this model and layer.")
        channel_relevance = _channel_sums(at_layer, dim)[0].double().cpu()
        if channels is None:
            chosen = tuple(c for c, _ in top_concepts(channel_relevance, min(int(top), out.shape[dim])))
        heatmaps = p.relevance(p.inp, _below(out, p.inp, gradient.detach(), chosen, max(1, int(chunk)), token, dim))
        logit = float(p.logits.detach()[0, target])
    if not bool(torch.isfinite(heatmaps).all()):
        raise MethodError("The conditional relevance is not finite (NaN or infinite) for this model and layer.")
    sums = heatmaps.flatten(1).sum(1).double().cpu()
    return ConditionalRelevance(layer, chosen, heatmaps.cpu(), channel_relevance,
                                channel_relevance[list(chosen)] - sums, logit)


def attribution_graph(model: LoadedModel, x: torch.Tensor, target: int, composite: Composite, layer: str,
                      channel, lower_layer: str, *, token=None, fast: bool = True,
                      chunk: int = CHUNK) -> AttributionGraph | list[AttributionGraph]:
    """How the relevance of ``channel`` of ``layer`` divides among the channels of ``lower_layer``.

    ``channel`` may be a list: then one pass gives a list of graphs, one per channel.
    """
    several = not isinstance(channel, (int, np.integer))
    channels = [int(c) for c in (channel if several else [channel])]
    if layer == lower_layer:
        raise InputError("Choose a lower layer other than the concept's own layer.")
    if not channels:
        raise InputError("Choose at least one concept (channel) to explain.")
    with _forward(model, x, composite, [layer, lower_layer], fast, token) as p:
        out, lower = p.outputs
        dim = p.channel_dim(out)
        _check_channels(layer, out.shape[dim], channels)
        (gradient,) = torch.autograd.grad(p.logits, out, grad_outputs=p.start([target]), retain_graph=True)
        if not lower.requires_grad or lower.grad_fn is None:
            raise MethodError(f"No relevance reaches '{lower_layer}' from '{layer}'; choose a layer below it.")
        try:
            below = _below(out, lower, gradient.detach(), channels, max(1, int(chunk)), token, dim)
        except RuntimeError as error:
            if "not have been used" not in str(error) and "One of the differentiated" not in str(error):
                raise
            raise MethodError(f"'{lower_layer}' does not feed '{layer}'; choose a layer below it.") from None
        relevance = _channel_sums(p.relevance(lower, below), p.channel_dim(lower)).double().cpu()
    if not bool(torch.isfinite(relevance).all()):
        raise MethodError("The attribution graph is not finite (NaN or infinite) for this model and layer.")
    graphs = [AttributionGraph(layer, c, lower_layer, relevance[k]) for k, c in enumerate(channels)]
    return graphs if several else graphs[0]


def concept_methods() -> list[str]:
    """The LRP methods concepts can be computed with: the CNN rules and the rules for transformers."""
    from . import attention, cnn

    return [*cnn.BATCHED_METHODS, *attention.BATCHED_METHODS]


def concept_rules(method: str, params: dict, model: LoadedModel, input_shape: tuple):
    """What :func:`conditional_relevance` and its kin take as ``composite`` for the LRP method ``method``."""
    from . import attention

    if method in attention.BATCHED_METHODS:
        return dict(params)
    if method not in concept_methods():
        raise MethodError(f"Concepts split an LRP explanation; '{method}' is not an LRP method.")
    canonizers = choose_canonizers(model.architecture, guard_module(model))
    return build_composite(method.split(".", 1)[1], params, model, canonizers, input_shape=input_shape)


__all__ = [
    "AttributionGraph", "ConceptLayer", "ConditionalRelevance", "attribution_graph", "concept_layers",
    "concept_methods", "concept_rules", "conditional_relevance", "default_layer", "layer_below", "top_concepts",
]
