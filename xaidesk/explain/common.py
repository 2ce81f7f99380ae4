"""Machinery shared by the explanation methods."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from ..core import MethodError, get_method


#: Method families that only call the model (no gradients, no layer hooks): they run on any module that
#: scores inputs, such as an onnxruntime session (:attr:`LoadedModel.scoring_module`).
MODEL_CALL_FAMILIES = ("occlusion", "lime", "relax")


def scoring_module(model):
    """The module that scores inputs for predictions and the methods that only call the model.

    For ONNX models the onnxruntime session (``model.perturbation_module``); otherwise ``model.module``.
    """
    module = getattr(model, "scoring_module", None)
    return model.module if module is None else module


def check_gradients_available(info, model) -> None:
    """Refuse a method that needs gradients or layers on a model that has none in PyTorch.

    ``info`` is the method's :class:`~xaidesk.core.registry.MethodInfo`; every family outside
    :data:`MODEL_CALL_FAMILIES` needs them. The message is the model's ``gradient_refusal``.
    """
    refusal = getattr(model, "gradient_refusal", None)
    if refusal and (info.needs_module or info.family not in MODEL_CALL_FAMILIES):
        raise MethodError(refusal)


def check_finite_result(explanation, method_title: str) -> None:
    """Refuse a result whose maps hold infinity or nothing finite at all.

    NaN marks a place the model never saw, so a partly NaN map is allowed; a map that is NaN
    everywhere, or holds an infinity, comes from invalid arithmetic and explains nothing.
    """
    import numpy as np

    for name, values in (("relevance", explanation.relevance), ("uncertainty", explanation.uncertainty)):
        if values is None:
            continue
        values = np.asarray(values)
        if values.size and (np.isinf(values).any() or np.isnan(values).all()):
            raise MethodError(
                f"{method_title} produced an invalid {name} map (NaN or infinity), so there is nothing to "
                "show. Try other settings or another method; if it persists the model may be broken."
            )


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
#: The plain titles of :data:`REFERENCE_KINDS` in settings forms.
REFERENCE_TITLES = {"zero": "The data set's average colour", "black": "Black", "blur": "A blurred copy",
                    "mean": "The image's average colour"}


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


def method_for(method: str, modality: str, model):
    """The registered method, checked against the input's modality and the kind of model."""
    info = get_method(method)
    if modality not in info.modality:
        noun = {"image": "images", "audio": "sound"}.get(modality, modality)
        raise MethodError(f"The method {method} does not work on {noun}.")
    reason = unavailable_reason(info, model)
    if reason:
        raise MethodError(reason)
    return info


def unavailable_reason(info, model) -> str | None:
    """Why the method ``info`` cannot explain ``model`` (None when it can), in one plain sentence."""
    try:
        check_gradients_available(info, model)
    except MethodError as error:
        return error.message
    if info.needs_module and model.is_torchscript:
        return (
            f"{info.title} needs the model as a PyTorch nn.Module so it can attach its rules to "
            "each layer; this model is a TorchScript file. Use a gradient method or occlusion, "
            "or load the model's weights with its architecture instead."
        )
    return info.refusal(model) if info.refusal is not None else None
