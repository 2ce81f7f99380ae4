"""Gradient-based explanations: sensitivity, input x gradient, SmoothGrad, integrated gradients
and the seed study's robust ("biased") gradient.

All gradients are of the target logit ``f_target`` with respect to the preprocessed input and
are reduced to an (H, W) map by summing over channels. Everything except the robust gradient
only calls the model, so TorchScript models work too. SmoothGrad and integrated gradients,
which take many gradients, differentiate the faster copy of :mod:`.fast_module` (batch norms
merged, channels-last layout) in batches of ``batch_size`` inputs; the maps equal Captum's at
matched settings (``tests/test_captum_agreement.py``).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..core import Explanation, MethodError, Param, Step, Target, register_method
from ..models.base import LoadedModel
from ..models.inference import forward_logits
from .common import (
    REFERENCE_KINDS,
    REFERENCE_TITLES,
    channel_sum,
    check_target,
    detached_copy,
    gradients_enabled,
    reference_input,
)
from .fast_module import fast_gradient_module

MODALITY = ("image", "audio")

_BATCH = Param(
    "batch_size", "int", 8,
    "How many copies of the input the model looks at in one go; lower it if the computer runs out of memory.",
    minimum=1, maximum=512, label="copies at once",
)


# --- shared machinery -------------------------------------------------------------------------


def batch_gradients(
    module: torch.nn.Module, xb: torch.Tensor, target: int, model_name: str = "the model",
    channels_last: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(logits (B, K), d f_target / d xb (B, C, H, W))`` for a batch of inputs.

    The samples of the batch are independent (eval mode), so the gradient of the summed target
    logits is the per-sample gradient. ``channels_last`` hands a 4-D batch to the model in
    that layout (the gradient then has it too).
    """
    with gradients_enabled():
        xb = fresh_leaf(xb, channels_last)
        logits = forward_logits(module, xb, model_name)
        check_target(target, logits.shape[1])
        (grad,) = torch.autograd.grad(logits[:, target].sum(), xb)
    return logits.detach(), grad.detach()


def fresh_leaf(x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """One autograd-free copy of ``x`` that requires grad, in the channels-last layout if asked (4-D only)."""
    layout = torch.channels_last if channels_last and x.ndim == 4 else torch.contiguous_format
    with torch.inference_mode(False):
        return x.detach().clone(memory_format=layout).requires_grad_(True)


def batch_gradients_per_target(
    module: torch.nn.Module, xb: torch.Tensor, targets, model_name: str = "the model"
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Like :func:`batch_gradients` for a batch of *different* inputs, each with its own target.

    ``targets`` holds one class per input, or is ``None`` for each input's top class (chosen
    from the same forward pass). Returns ``(logits (B, K), gradients (B, C, H, W), targets)``;
    sample i's gradient is d f_{targets[i]}(x_i) / d x_i, as the samples are independent.
    """
    with gradients_enabled():
        xb = fresh_leaf(xb)
        logits = forward_logits(module, xb, model_name)
        chosen = logits.detach().argmax(1).tolist() if targets is None else [int(t) for t in targets]
        if len(chosen) != logits.shape[0]:
            raise MethodError(f"{len(chosen)} targets were given for a batch of {logits.shape[0]} inputs.")
        for t in chosen:
            check_target(t, logits.shape[1])
        index = torch.as_tensor(chosen, device=logits.device)
        picked = logits.gather(1, index[:, None]).sum()
        (grad,) = torch.autograd.grad(picked, xb)
    return logits.detach(), grad.detach(), chosen


def _batch_results(name: str, model: LoadedModel, maps: torch.Tensor, logits: torch.Tensor, targets, **kwargs):
    """One Explanation per sample from (B, H, W) maps."""
    maps = maps.detach().float().cpu().numpy()
    logits = logits.detach().float().cpu()
    return [_result(name, model, t, maps[i], logits[i, t], **kwargs) for i, t in enumerate(targets)]


def sensitivity_batch(model, x, targets, *, params, token) -> list[Explanation]:
    """:func:`sensitivity` for a batch (B, C, H, W) of inputs, one Explanation each."""
    token.check()
    logits, grad, chosen = batch_gradients_per_target(model.module, x, targets, model.name)
    return _batch_results("gradient.sensitivity", model, (grad**2).sum(1), logits, chosen)


def input_x_gradient_batch(model, x, targets, *, params, token) -> list[Explanation]:
    """:func:`input_x_gradient` for a batch (B, C, H, W) of inputs, one Explanation each."""
    token.check()
    logits, grad, chosen = batch_gradients_per_target(model.module, x, targets, model.name)
    return _batch_results("gradient.input_x_gradient", model, (x.to(grad) * grad).sum(1), logits, chosen)


def _result(name: str, model: LoadedModel, target: int, relevance, score: float, **kwargs) -> Explanation:
    return Explanation(
        relevance=np.asarray(relevance, dtype=np.float32),
        method=name,
        target=Target(int(target), model.label(int(target))),
        score=float(score),
        **kwargs,
    )


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.ndim == 4 else x


def _batches(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(total, start + size)


# --- sensitivity and input x gradient -----------------------------------------------------------


@register_method(
    "gradient.sensitivity",
    unit="squared gradient", order=3,
    modality=MODALITY,
    title="Sensitivity (squared gradient)",
    help="Shows where small changes of the input would change the score most; fast but often noisy.",
    signed=False,
)
def sensitivity(model, x, target, *, params, token, progress) -> Explanation:
    """S_i = sum over channels of (d f_target / d x_i)^2."""
    token.check()
    logits, grad = batch_gradients(model.module, x, target, model.name)
    return _result("gradient.sensitivity", model, target, channel_sum(grad**2), logits[0, target])


@register_method(
    "gradient.input_x_gradient",
    unit="input × gradient", order=0,
    modality=MODALITY,
    title="Input × gradient",
    help="Multiplies each input value by how strongly the score reacts to it; positive means the "
    "pixel speaks for the class.",
)
def input_x_gradient(model, x, target, *, params, token, progress) -> Explanation:
    """R_i = sum over channels of x_i * d f_target / d x_i."""
    token.check()
    logits, grad = batch_gradients(model.module, x, target, model.name)
    return _result("gradient.input_x_gradient", model, target, channel_sum(x * grad), logits[0, target])


# --- SmoothGrad -------------------------------------------------------------------------------

SMOOTHGRAD_AGGREGATIONS = ("gradient", "squared", "input_x_gradient")


def _aggregate(kind: str, xb: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Per-sample (B, H, W) maps: gradient, squared gradient or input x gradient, summed over channels."""
    if kind == "gradient":
        return grad.sum(1)
    if kind == "squared":
        return (grad**2).sum(1)
    if kind == "input_x_gradient":
        return (xb * grad).sum(1)
    raise MethodError(f"Unknown aggregation '{kind}'; choose one of: {', '.join(SMOOTHGRAD_AGGREGATIONS)}.")


@register_method(
    "gradient.smoothgrad",
    unit="gradient", sample_unit="samples", order=2,
    modality=MODALITY,
    params=[
        Param("noise_level", "float", 0.1,
              "How much random noise is added to each copy, as a share of the input's value range.",
              minimum=0.0, maximum=1.0, label="noise strength", minimum_text="No noise"),
        Param("samples", "int", 25, "How many noisy copies are averaged; more gives a smoother map but takes longer.",
              minimum=1, maximum=10000, label="noisy copies"),
        _BATCH,
        Param("aggregation", "choice", "gradient",
              "What is averaged over the copies: the gradient, the squared gradient (sensitivity) or input × gradient.",
              choices=SMOOTHGRAD_AGGREGATIONS, label="what is averaged",
              choice_titles={"gradient": "Gradient", "squared": "Squared gradient (sensitivity)",
                             "input_x_gradient": "Input × gradient"}),
        Param("seed", "int", 0, "Start value of the random noise; the same seed gives the same map.",
              minimum=0, maximum=2**31 - 1, label="random seed (same seed, same result)"),
    ],
    title="SmoothGrad",
    help="Averages gradient maps over many noisy copies of the input, which removes much of the "
    "gradient's noise.",
    iterative=True,
    signed=lambda params: params["aggregation"] != "squared",
)
def smoothgrad(model, x, target, *, params, token, progress) -> Explanation:
    """Mean over noisy copies x + N(0, sigma^2) of a gradient map; sigma = noise_level * (max x - min x).

    The noise of sample n is drawn from a generator seeded with ``seed`` one sample at a time, so
    the result does not depend on the batch size. The per-pixel standard deviation over the
    samples is returned as ``uncertainty``.
    """
    samples, batch_size, kind = int(params["samples"]), int(params["batch_size"]), params["aggregation"]
    if kind not in SMOOTHGRAD_AGGREGATIONS:
        _aggregate(kind, x, x)  # raises the plain message
    x = detached_copy(x)
    module, channels_last = fast_gradient_module(model.module, x, progress)
    with torch.inference_mode():
        logits = forward_logits(module, _layout(x, channels_last), model.name)
    check_target(target, logits.shape[1])
    score = float(logits[0, target])
    span = float(x.max() - x.min())
    sigma = float(params["noise_level"]) * (span if span > 0 else 1.0)
    generator = torch.Generator(device="cpu").manual_seed(int(params["seed"]))
    total = torch.zeros(x.shape[-2:], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    done = 0
    for start, stop in _batches(samples, batch_size):
        token.check()
        noise = torch.stack([torch.randn(x.shape[1:], generator=generator) for _ in range(start, stop)])
        xb = x + (sigma * noise).to(dtype=x.dtype, device=x.device)
        _, grad = batch_gradients(module, xb, target, model.name, channels_last)
        maps = _aggregate(kind, xb, grad).double().cpu()
        total += maps.sum(0)
        total_sq += (maps**2).sum(0)
        done = stop
        mean = (total / done).float().numpy()
        if done < samples:
            progress(done / samples, Step.count("SmoothGrad", done, samples, "samples"),
                     _result("gradient.smoothgrad", model, target, mean, score, complete=False))
    mean = total / samples
    std = (total_sq / samples - mean**2).clamp(min=0).sqrt()
    return _result(
        "gradient.smoothgrad", model, target, mean.float().numpy(), score,
        uncertainty=std.float().numpy(),
        extras={"noise_std": sigma, "samples": samples, "aggregation": kind},
    )


# --- integrated gradients ---------------------------------------------------------------------

IG_RULES = ("trapezoid", "midpoint")


def integration_points(steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Points alpha in [0, 1] and weights of the quadrature rule (weights sum to 1)."""
    if rule == "trapezoid":
        alphas = np.linspace(0.0, 1.0, steps + 1)
        weights = np.full(steps + 1, 1.0 / steps)
        weights[[0, -1]] *= 0.5
    elif rule == "midpoint":
        alphas = (np.arange(steps) + 0.5) / steps
        weights = np.full(steps, 1.0 / steps)
    else:
        raise MethodError(f"Unknown integration rule '{rule}'; choose one of: {', '.join(IG_RULES)}.")
    return alphas, weights


def spread_order(n: int) -> list[int]:
    """0..n-1 in bit-reversed order, so that every prefix covers the range evenly (for previews)."""
    bits = max(1, (n - 1).bit_length())
    return sorted(range(n), key=lambda i: (int(format(i, f"0{bits}b")[::-1], 2), i))


@register_method(
    "gradient.integrated",
    unit="attribution", sample_unit="steps", order=1,
    modality=MODALITY,
    params=[
        Param("steps", "int", 32, "How many steps lead from the 'empty' start picture to the input; more is more exact but slower.",
              minimum=1, maximum=4096, label="steps"),
        Param("baseline", "choice", "zero",
              "The 'empty' input the path starts from: zero (the data set's mean colour), black, a "
              "blurred copy, or the image's mean colour.",
              choices=REFERENCE_KINDS, label="start picture",
              choice_titles=REFERENCE_TITLES),
        Param("rule", "choice", "trapezoid", "How the gradients along the path are added up (both rules give nearly the same map).",
              choices=IG_RULES, label="summing rule",
              choice_titles={"trapezoid": "Trapezoid (both ends included)", "midpoint": "Midpoints of the steps"}),
        _BATCH,
    ],
    title="Integrated gradients",
    help="Adds up gradients along a path from an 'empty' baseline image to the input; the map "
    "sums to the score difference between the input and the baseline.",
    iterative=True,
)
def integrated(model, x, target, *, params, token, progress) -> Explanation:
    """R_i = sum over channels of (x - x')_i * integral_0^1 d f_target(x' + a (x - x')) / d x_i da.

    Completeness: sum R = f(x) - f(x') up to the quadrature error, reported in extras.
    """
    steps, batch_size = int(params["steps"]), int(params["batch_size"])
    alphas, weights = integration_points(steps, params["rule"])
    x = detached_copy(x)
    baseline = reference_input(x, params["baseline"], model.preprocessing)
    diff = x - baseline
    module, channels_last = fast_gradient_module(model.module, x, progress)
    order = spread_order(len(alphas))
    ends_on_path = alphas[0] == 0.0 and alphas[-1] == 1.0 and batch_size >= 2
    if ends_on_path:
        # The first batch holds both ends of the path: their scores come with its gradients.
        order = [0, len(alphas) - 1] + [i for i in order if i not in (0, len(alphas) - 1)]
    else:
        with torch.inference_mode():
            ends = forward_logits(module, _layout(torch.cat([x, baseline]), channels_last), model.name)
        check_target(target, ends.shape[1])
        score, baseline_score = float(ends[0, target]), float(ends[1, target])

    acc = torch.zeros_like(x, dtype=torch.float64)
    weight_done = 0.0
    for start, stop in _batches(len(order), batch_size):
        token.check()
        idx = order[start:stop]
        a = torch.tensor(alphas[idx], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
        logits, grad = batch_gradients(module, baseline + a * diff, target, model.name, channels_last)
        if ends_on_path and start == 0:
            score, baseline_score = float(logits[1, target]), float(logits[0, target])
        w = torch.tensor(weights[idx], dtype=torch.float64, device=x.device).view(-1, 1, 1, 1)
        acc += (grad.double() * w).sum(0, keepdim=True)
        weight_done += float(weights[idx].sum())
        if stop < len(order):
            preview = channel_sum((diff.double() * acc / weight_done).float())
            progress(stop / len(order), Step.count("Integrated gradients", stop, len(order), "steps"),
                     _result("gradient.integrated", model, target, preview, score, complete=False))
    relevance = (diff.double() * acc).float()
    total = float(relevance.sum())
    expected = score - baseline_score
    return _result(
        "gradient.integrated", model, target, channel_sum(relevance), score,
        extras={
            "relevance_sum": total,
            "baseline_score": baseline_score,
            "output_difference": expected,
            "completeness_error": abs(total - expected) / max(abs(expected), 1e-12),
            "evaluations": len(alphas),
        },
    )


# --- robust ("biased") gradient ---------------------------------------------------------------

BIASED_LAYERS = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


def _biased_output(module, inputs, output, *, gamma: float, eps: float):
    """Forward hook: keep the output, route the backward pass through the biased layer.

    z = z_up * [z / z_up]_cst with w_up = w + gamma * max(0, w), b_up = b + gamma * max(0, b).
    Where |z_up| <= eps the ratio is taken as 1 (plain gradient of z_up there).
    """
    if not torch.is_grad_enabled() or not isinstance(output, torch.Tensor):
        return None
    a = inputs[0]
    w = module.weight.detach()
    w_up = w + gamma * w.clamp(min=0)
    b = module.bias
    b_up = None if b is None else b.detach() + gamma * b.detach().clamp(min=0)
    if isinstance(module, torch.nn.Linear):
        z_up = F.linear(a, w_up, b_up)
    else:
        z_up = module._conv_forward(a, w_up, b_up)
    z = output.detach()
    z_up_c = z_up.detach()
    safe = z_up_c.abs() > eps
    ratio = torch.where(safe, z / torch.where(safe, z_up_c, torch.ones_like(z_up_c)), torch.ones_like(z))
    routed = z_up * ratio
    # value: exactly z (q - q == 0); gradient: that of z_up * [z / z_up]
    return z + (routed - routed.detach())


@contextlib.contextmanager
def biased_backward(module: torch.nn.Module, gamma: float, eps: float = 1e-6) -> Iterator[int]:
    """Make every Conv/Linear layer of ``module`` biased for the backward pass only.

    Yields the number of biased layers. The hooks are removed on the way out, also when the
    body raises or is cancelled.
    """
    handles = []
    try:
        for child in module.modules():
            if isinstance(child, BIASED_LAYERS):
                hook = functools.partial(_biased_output, gamma=float(gamma), eps=float(eps))
                handles.append(child.register_forward_hook(hook))
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()


@register_method(
    "gradient.robust",
    unit="gradient", order=4,
    modality=MODALITY,
    params=[
        Param("gamma", "float", 0.25,
              "How much the layers favour supporting evidence when tracing back; 0 gives the plain "
              "sensitivity map, larger values give cleaner maps.",
              minimum=0.0, maximum=100.0, label="favour positive evidence (γ)"),
    ],
    title="Robust gradient (biased layers)",
    help="A sensitivity map computed through 'biased' layers that favour positive evidence, which "
    "makes it much less noisy than the plain gradient.",
    needs_module=True,
    signed=False,
)
def robust(model, x, target, *, params, token, progress) -> Explanation:
    """Sensitivity sum_c (d g / d x_i)^2 of the biased gradient of the seed study (LRP-gamma's gradient).

    Batch norms are merged into their layers first (the same canonizers as LRP), so the biased
    weights are those of the effective linear layers.
    """
    token.check()
    logits, grad, _, extras = _robust_gradients(model, x, [int(target)], float(params["gamma"]))
    return _result("gradient.robust", model, target, channel_sum(grad**2), logits[0, target], extras=extras)


def robust_batch(model, x, targets, *, params, token) -> list[Explanation]:
    """:func:`robust` for a batch (B, C, H, W) of inputs, one Explanation each."""
    token.check()
    logits, grad, chosen, extras = _robust_gradients(model, x, targets, float(params["gamma"]))
    return _batch_results("gradient.robust", model, (grad**2).sum(1), logits, chosen, extras=extras)


def _robust_gradients(model: LoadedModel, x: torch.Tensor, targets, gamma: float):
    """``(logits, biased gradients, targets, extras)`` with canonizers and biased layers attached
    for the duration of the call only."""
    from .lrp.composites import canonizer_names, choose_canonizers
    from .lrp.coverage import guard_module

    module = guard_module(model)
    canonizers = choose_canonizers(model.architecture)
    applied = []
    try:
        for canonizer in canonizers:
            applied += canonizer.apply(module)
        with biased_backward(module, gamma) as count:
            logits, grad, chosen = batch_gradients_per_target(module, x, targets, model.name)
    finally:
        for instance in reversed(applied):
            instance.remove()
    if count == 0:
        raise MethodError("The robust gradient needs convolution or dense layers; this model has none.")
    extras = {"biased_layers": count, "canonizers": canonizer_names(canonizers), "gamma": gamma}
    return logits, grad, chosen, extras


#: Registered gradient methods that explain a whole batch of different inputs in one pass:
#: ``name -> function(model, x (B, C, H, W), targets or None, *, params, token) -> [Explanation]``.
#: SmoothGrad and integrated gradients already batch over their own samples and run per input.
BATCHED_METHODS = {
    "gradient.sensitivity": sensitivity_batch,
    "gradient.input_x_gradient": input_x_gradient_batch,
    "gradient.robust": robust_batch,
}
