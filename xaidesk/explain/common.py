"""Machinery shared by the explanation methods."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from ..core import MethodError


def as_logits(output: object, model_name: str = "the model") -> torch.Tensor:
    """Check that a forward pass returned one (B, K) tensor and return it."""
    if isinstance(output, (tuple, list)):
        raise MethodError(
            f"{model_name} returns {len(output)} outputs (a tuple); xaidesk explains models that "
            "return one tensor of class scores. Wrap the model so it returns only the scores."
        )
    if isinstance(output, dict):
        raise MethodError(
            f"{model_name} returns a dictionary; xaidesk explains models that return one tensor "
            "of class scores. Wrap the model so it returns only the scores."
        )
    if not isinstance(output, torch.Tensor):
        raise MethodError(f"{model_name} returned {type(output).__name__}, not a tensor of class scores.")
    if output.ndim == 1:
        output = output.unsqueeze(0)
    if output.ndim != 2:
        raise MethodError(
            f"{model_name} returns scores of shape {tuple(output.shape)}; expected (batch, classes)."
        )
    return output


def call_model(module, x: torch.Tensor, model_name: str = "the model"):
    """``module(x)``, with a plain error when the input does not fit the model."""
    try:
        return module(x)
    except RuntimeError as error:
        raise MethodError(
            f"{model_name} could not process an input of shape {tuple(x.shape)}. "
            "The model probably expects a different input size or number of channels.",
            details=str(error),
        ) from error


def forward_logits(module: torch.nn.Module, x: torch.Tensor, model_name: str = "the model") -> torch.Tensor:
    """Forward ``x`` and return (B, K) scores, with a plain error if shapes do not fit."""
    return as_logits(call_model(module, x, model_name), model_name)


@contextlib.contextmanager
def gradients_enabled() -> Iterator[None]:
    """Enable autograd explicitly: grad mode is thread-local and workers start without it set."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def one_hot_like(logits: torch.Tensor, target: int) -> torch.Tensor:
    """A (B, K) tensor selecting ``target`` in every row."""
    if not 0 <= target < logits.shape[1]:
        raise MethodError(f"Class {target} does not exist; the model has {logits.shape[1]} classes (0-{logits.shape[1] - 1}).")
    out = torch.zeros_like(logits)
    out[:, target] = 1.0
    return out


def check_target(target: int, num_classes: int) -> None:
    if not 0 <= int(target) < num_classes:
        raise MethodError(
            f"Class {target} does not exist; the model has {num_classes} classes (0-{num_classes - 1})."
        )


# --- helpers shared by the gradient, LRP and perturbation methods -------------------------------

REFERENCE_KINDS = ("zero", "black", "blur", "mean")
"""Reference inputs ("what an absent pixel looks like"), used as occlusion fill and IG baseline.

``zero``  zero in normalised space, i.e. the data set's mean colour;
``black`` the normalised value of pixel value 0 (the lower box bound);
``blur``  a strongly blurred copy of the input;
``mean``  the input's own mean colour, per channel.
"""


def detached_copy(x: torch.Tensor) -> torch.Tensor:
    """A fresh, autograd-free copy of ``x`` (also turns an inference tensor into a normal one)."""
    with torch.inference_mode(False):
        return x.detach().clone()


def channel_sum(t: torch.Tensor):
    """Sum a (1, C, H, W) tensor over channels and return the (H, W) float32 numpy map."""
    return t.detach()[0].sum(0).float().cpu().numpy().astype("float32", copy=False)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (B, C, H, W) tensor with replicate padding."""
    sigma = float(sigma)
    if sigma <= 0:
        return x.clone()
    radius = max(1, int(round(3.0 * sigma)))
    coords = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (coords / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    out = x
    for dim in (2, 3):
        shape = [1, 1, 1, 1]
        shape[dim] = kernel.numel()
        weight = kernel.view(shape).repeat(channels, 1, 1, 1)
        pad = [0, 0, 0, 0]  # (left, right, top, bottom)
        if dim == 2:
            pad[2] = pad[3] = radius
        else:
            pad[0] = pad[1] = radius
        out = torch.nn.functional.conv2d(
            torch.nn.functional.pad(out, pad, mode="replicate"), weight, groups=channels
        )
    return out


def reference_input(x: torch.Tensor, kind: str, preprocessing=None) -> torch.Tensor:
    """A reference input of the same shape as ``x`` (see :data:`REFERENCE_KINDS`).

    ``preprocessing`` (a :class:`~xaidesk.models.preprocessing.Preprocessing`) is
    needed for ``black``; the blur's width is 1/16 of the shorter side.
    """
    if kind == "zero":
        return torch.zeros_like(x)
    if kind == "black":
        if preprocessing is None:
            raise MethodError("The 'black' reference needs the model's preprocessing.")
        low, _ = preprocessing.bounds()
        if low.shape[1] != x.shape[1]:
            raise MethodError(
                f"The model's preprocessing describes {low.shape[1]} channels but the input has "
                f"{x.shape[1]}; choose the 'zero' reference instead."
            )
        return low.to(dtype=x.dtype, device=x.device).expand_as(x).clone()
    if kind == "blur":
        return gaussian_blur(x, max(1.0, min(x.shape[-2:]) / 16.0))
    if kind == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    raise MethodError(f"Unknown reference '{kind}'; choose one of: {', '.join(REFERENCE_KINDS)}.")
