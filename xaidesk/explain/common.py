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


def forward_logits(module: torch.nn.Module, x: torch.Tensor, model_name: str = "the model") -> torch.Tensor:
    """Forward ``x`` and return (B, K) scores, with a plain error if shapes do not fit."""
    try:
        output = module(x)
    except RuntimeError as error:
        raise MethodError(
            f"{model_name} could not process an input of shape {tuple(x.shape)}. "
            "The model probably expects a different input size or number of channels.",
            details=str(error),
        ) from error
    return as_logits(output, model_name)


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
