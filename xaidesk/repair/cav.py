"""Concept activation vectors: the direction in one layer's activations that separates an artefact from clean images.

Two kinds (Pahde et al. 2023, "Reveal to Revise"):

- ``"pattern"``: the signal pattern (Haufe et al. 2014) of the artefact label, the covariance of
  the activations with the label. For a binary label it is the difference of the two class means,
  up to scale. It points where the artefact moves the activations, so it suits projecting the
  artefact out (P-ClArC).
- ``"logistic"``: the weight vector of a logistic regression (scikit-learn) on the flattened
  activations: a filter that best tells the two groups apart, which may also lean on directions the
  artefact does not move (noise cancelling).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..core import CancelToken, InputError, MethodError, ModelError
from ..models.base import LoadedModel

CAV_KINDS = ("pattern", "logistic")
#: Fewest images of each group a direction is fitted on.
MIN_IMAGES = 2


def check_layer(model: LoadedModel, layer: str) -> nn.Module:
    """The submodule ``layer`` (a dotted name) of ``model``, refused with the list of its layers when absent."""
    names = [name for name, _ in model.module.named_modules() if name]
    if layer not in names:
        shown = ", ".join(names[:40]) + (f", ... ({len(names)} in all)" if len(names) > 40 else "")
        raise ModelError(f"The model has no layer called '{layer}'; choose one of: {shown}.")
    return model.module.get_submodule(layer)


def layer_activations(model: LoadedModel, layer: str, inputs: torch.Tensor, *, token: CancelToken | None = None,
                      batch_size: int = 64) -> torch.Tensor:
    """The flattened output (N, D) of ``layer`` (a dotted module name) for ``inputs`` (N, C, H, W).

    A layer the network runs more than once per forward pass (a shared activation module) is refused:
    its outputs could not be told apart.
    """
    token = token or CancelToken()
    module = check_layer(model, layer)
    captured: list = []
    handle = module.register_forward_hook(lambda _m, _i, output: captured.append(output))
    try:
        with torch.no_grad():
            for start in range(0, inputs.shape[0], batch_size):
                token.check()
                calls = len(captured)
                model.module(inputs[start:start + batch_size])
                uses = len(captured) - calls
                if uses == 0:
                    raise MethodError(f"The layer '{layer}' is not used when the model runs; choose another layer.")
                if uses > 1:
                    raise MethodError(f"The layer '{layer}' is used {uses} times in one pass; choose a layer used "
                                      "once.")
    finally:
        handle.remove()
    if not captured:
        raise InputError("There are no images to take activations from.")
    if not all(isinstance(output, torch.Tensor) for output in captured):
        raise MethodError(f"The layer '{layer}' gives several outputs, not one; choose a layer that gives one "
                          "(a convolution, pooling or activation layer).")
    activations = torch.cat([output.detach().flatten(1) for output in captured]).float()
    if not torch.isfinite(activations).all():
        raise MethodError(f"The activations of layer '{layer}' are not all finite numbers; choose another layer.")
    return activations


def fit_cav(artefact_acts, clean_acts, kind: str = "pattern", *, seed: int = 0) -> tuple[np.ndarray, dict]:
    """A unit direction (D,) pointing from clean towards artefact activations, and facts about it.

    Parameters
    ----------
    artefact_acts, clean_acts
        (N, D) activations of images with and without the artefact.
    kind
        ``"pattern"`` (difference of the class means) or ``"logistic"`` (logistic-regression weights).

    Returns
    -------
    direction, info
        ``info`` holds the ``kind``, the group sizes, ``separation_accuracy`` (share of the images
        on the right side of the midpoint between the two groups' mean projections) and
        ``mean_gap`` (the difference of those means in units of their pooled standard deviation).
    """
    if kind not in CAV_KINDS:
        raise InputError(f"Unknown kind of concept direction '{kind}'; choose one of: {', '.join(CAV_KINDS)}.")
    a = np.asarray(torch.as_tensor(artefact_acts).detach().cpu().reshape(len(artefact_acts), -1), dtype=np.float64)
    c = np.asarray(torch.as_tensor(clean_acts).detach().cpu().reshape(len(clean_acts), -1), dtype=np.float64)
    if len(a) < MIN_IMAGES or len(c) < MIN_IMAGES:
        raise InputError(f"A concept direction needs at least {MIN_IMAGES} images with the artefact and "
                         f"{MIN_IMAGES} without; {len(a)} and {len(c)} were given.")
    if a.shape[1] != c.shape[1]:
        raise InputError("The activations with and without the artefact have different sizes.")
    if not (np.isfinite(a).all() and np.isfinite(c).all()):
        raise InputError("The activations are not all finite numbers.")
    if kind == "pattern":
        direction = a.mean(0) - c.mean(0)
    else:
        direction = _logistic_direction(a, c, seed)
    norm = float(np.linalg.norm(direction))
    if not np.isfinite(norm) or norm <= 1e-12 * max(1.0, float(np.abs(np.vstack([a, c])).max())):
        raise MethodError("The images with and without the artefact have the same activations at this layer, so "
                          "there is no direction to remove. Choose another layer or other images.")
    direction = direction / norm
    pa, pc = a @ direction, c @ direction
    midpoint = 0.5 * (pa.mean() + pc.mean())
    correct = int((pa > midpoint).sum() + (pc <= midpoint).sum())
    pooled = np.sqrt(0.5 * (pa.var() + pc.var()))
    info = {"kind": kind, "artefact_images": len(a), "clean_images": len(c), "dimensions": int(a.shape[1]),
            "separation_accuracy": correct / (len(a) + len(c)),
            "mean_gap": float((pa.mean() - pc.mean()) / pooled) if pooled > 0 else float("inf")}
    return direction.astype(np.float32), info


def _logistic_direction(a: np.ndarray, c: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([a, c])
    y = np.r_[np.ones(len(a)), np.zeros(len(c))]
    scale = x.std(0)
    scale[scale == 0] = 1.0
    classifier = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    classifier.fit((x - x.mean(0)) / scale, y)
    return classifier.coef_[0] / scale  # a direction in the unscaled activations


def default_clarc_layer(model: LoadedModel) -> str:
    """A sensible layer to correct: the output of the last convolutional stage, where objects and marks are
    represented but not yet mixed into class scores.

    For a network built as one sequence of layers (the demo) that is the last pooling or activation after the
    last convolution; for one built of stages (torchvision's ``features`` or ``layer4``) the last stage that
    holds a convolution.
    """
    children = list(model.module.named_children())
    has_conv = [any(isinstance(m, nn.Conv2d) for m in child.modules()) for _, child in children]
    if not any(has_conv):
        raise InputError(f"{model.name} has no convolution layer to correct; choose a layer by name.")
    last = max(i for i, flag in enumerate(has_conv) if flag)
    if list(children[last][1].children()):
        return children[last][0]
    chosen = last
    for i in range(last + 1, len(children)):
        if not isinstance(children[i][1], (nn.BatchNorm2d, nn.ReLU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.MaxPool2d,
                                           nn.AvgPool2d)):
            break
        chosen = i
    return children[chosen][0]
