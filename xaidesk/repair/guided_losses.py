"""The losses of explanation-guided fine-tuning: "right for the right reasons" and LRP-weighted features.

- :func:`rrr_loss` (Ross et al. 2017): cross-entropy plus the squared input gradient of the summed
  log-probabilities inside a region marked as irrelevant (double backpropagation).
- :func:`sun_loss` (Sun et al. 2020): cross-entropy of the prediction plus the cross-entropy of the
  prediction made from the features weighted by their own LRP relevance, ``w = 1 + R(f)``.

Both follow :data:`xaidesk.repair.training.LossFunction`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..core import ModelError

#: Layers that may follow the weighted Linear layer in the head: LRP passes relevance through them unchanged
#: (ReLU) or they are the identity when explaining (Dropout, Identity).
PASS_THROUGH = (nn.ReLU, nn.Dropout, nn.Identity)

#: With weight "auto", the RRR penalty starts this many times as large as the cross-entropy of guessing.
AUTO_FACTOR = 10.0


# --- Right for the right reasons --------------------------------------------------------------------------------

def rrr_penalty(module: nn.Module, inputs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits and, per image, ``sum_{mask} (d sum_k log softmax(p)_k / dx)^2`` (over pixels and channels).

    The gradient is taken with ``create_graph=True`` so that the penalty itself can be trained on. With
    batch-norm layers frozen (the default), images do not interact, so the gradient of the batch sum is each
    image's own gradient.
    """
    x = inputs.detach().clone().requires_grad_(True)
    logits = module(x)
    summed = F.log_softmax(logits, dim=1).sum()
    (gradient,) = torch.autograd.grad(summed, x, create_graph=True)
    penalty = (gradient.pow(2) * mask.to(gradient)).flatten(1).sum(1)
    return logits, penalty


def rrr_loss(mask: np.ndarray, weight: float):
    """``CE(y, p) + weight * mean over the batch of`` :func:`rrr_penalty` (Ross et al. 2017, eq. 1)."""
    region = torch.as_tensor(np.asarray(mask, dtype=np.float32))[None, None]

    def loss(module, inputs, labels, context):
        logits, penalty = rrr_penalty(module, inputs, region)
        ce = F.cross_entropy(logits, labels)
        mean_penalty = penalty.mean()
        return ce + float(weight) * mean_penalty, {"cross_entropy": ce.detach(), "penalty": mean_penalty.detach()}

    return loss


def calibrated_weight(module: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, mask: np.ndarray,
                      classes: int) -> float:
    """The RRR weight ("auto"): the penalty term starts at ``AUTO_FACTOR`` times the cross-entropy of guessing.

    Ross et al. chose the weight so that the penalty is of the order of the cross-entropy. A model that
    already fits its training images has a cross-entropy near zero and gradients of both terms of similar
    size, which barely moves it off a shortcut; so the reference is the cross-entropy of guessing,
    ``log(classes)``, and the penalty on ``inputs`` starts ``AUTO_FACTOR`` times as large. Training then
    drives the penalty down by orders of magnitude, after which the cross-entropy leads.
    """
    module.eval()
    _, penalty = rrr_penalty(module, inputs, torch.as_tensor(np.asarray(mask, np.float32))[None, None])
    size = float(penalty.detach().mean())
    if not np.isfinite(size) or size <= 1e-12:
        return AUTO_FACTOR * math.log(max(classes, 2))
    return AUTO_FACTOR * math.log(max(classes, 2)) / size


# --- LRP-weighted features (Sun et al. 2020) ---------------------------------------------------------------------

@dataclass
class Head:
    """The weighted Linear layer (``name``) and the layers after it that make the logits, in order."""

    name: str
    layers: list[nn.Module]

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            features = layer(features)
        return features


def _children(module: nn.Module) -> list[tuple[str, nn.Module]]:
    return list(module.named_children())


def head_after(root: nn.Module, name: str) -> Head | None:
    """The head that starts at the Linear layer ``name``, or ``None`` if what follows is not a plain chain.

    Inside an ``nn.Sequential`` the layers after it must be Linear, ReLU, Dropout or Identity; in any other
    container it must be the last child (as ``fc`` in a ResNet). Callers confirm the chain by comparing its
    output with the model's logits (:func:`check_head`).
    """
    modules = dict(root.named_modules())
    if not isinstance(modules.get(name), nn.Linear):
        return None
    layers = [modules[name]]
    path = name.split(".")
    for depth in range(len(path), 0, -1):
        parent = modules[".".join(path[:depth - 1])] if depth > 1 else root
        children = _children(parent)
        position = [child for child, _ in children].index(path[depth - 1])
        after = [module for _, module in children[position + 1:]]
        if isinstance(parent, nn.Sequential):
            if not all(isinstance(m, (nn.Linear, *PASS_THROUGH)) for m in after):
                return None
            layers += after
        elif after:
            return None
    return Head(name, layers)


def linear_feature_layers(root: nn.Module) -> list[str]:
    """The Linear layers whose input can be weighted (each followed only by a plain head)."""
    return [name for name, m in root.named_modules() if isinstance(m, nn.Linear) and head_after(root, name)]


def forward_with_features(module: nn.Module, head: Head, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits of ``module`` and the features entering the head's first layer, from one forward pass."""
    captured = []
    handle = head.layers[0].register_forward_hook(lambda layer, args, output: captured.append(args[0]))
    try:
        logits = module(inputs)
    finally:
        handle.remove()
    if len(captured) != 1:
        raise ModelError(f"The layer '{head.name}' ran {len(captured)} times in one pass; choose another layer.")
    return logits, captured[0]


def check_head(module: nn.Module, head: Head, inputs: torch.Tensor) -> None:
    """Refuse a head whose layers do not reproduce the model's logits from the features (plain words)."""
    module.eval()
    with torch.no_grad():
        logits, features = forward_with_features(module, head, inputs)
        if features.dim() != 2:
            raise ModelError(f"The layer '{head.name}' takes inputs of shape {tuple(features.shape[1:])}, not one "
                             "feature vector per image, so its features cannot be weighted. Choose another layer.")
        again = head(features)
    if logits.shape != again.shape or not torch.allclose(logits, again, rtol=1e-4, atol=1e-4):
        raise ModelError(f"The layers after '{head.name}' do more than Linear and ReLU layers (the model changes "
                         "their output before its prediction), so the features there cannot be weighted. "
                         "Choose another layer.")


def epsilon_lrp(layers: list[nn.Module], features: torch.Tensor, start, epsilon: float = 1e-6) -> torch.Tensor:
    """LRP-epsilon relevance of ``features`` (N, D) through ``layers`` (Linear and pass-through layers).

    ``start(logits)`` gives the relevance at the output. Through a Linear layer
    ``R_j = a_j * sum_k w_kj R_k / (z_k + epsilon * sign(z_k))`` with the bias in ``z``; ReLU, Dropout
    and Identity pass relevance unchanged. Everything here is constant (no gradient).
    """
    with torch.no_grad():
        activations = [features]
        for layer in layers:
            activations.append(F.linear(activations[-1], layer.weight, layer.bias) if isinstance(layer, nn.Linear)
                               else F.relu(activations[-1]) if isinstance(layer, nn.ReLU) else activations[-1])
        relevance = start(activations[-1])
        for layer, a in zip(reversed(layers), reversed(activations[:-1])):
            if isinstance(layer, nn.Linear):
                z = F.linear(a, layer.weight, layer.bias)
                stabilised = z + epsilon * ((z == 0).to(z) + z.sign())
                relevance = a * ((relevance / stabilised) @ layer.weight)
    return relevance


def start_relevance(logits: torch.Tensor, labels: torch.Tensor, explain: str) -> torch.Tensor:
    """Relevance at the logits: ``softmax(p)_k * p_k`` for every class k ("softmax"), or ``p_y`` only ("label")."""
    if explain == "label":
        return torch.zeros_like(logits).scatter(1, labels[:, None], logits.gather(1, labels[:, None]))
    return torch.softmax(logits, dim=1) * logits


def lrp_weights(head: Head, features: torch.Tensor, labels: torch.Tensor, *, explain: str = "softmax",
                epsilon: float = 1e-6) -> torch.Tensor:
    """``w = 1 + R(f) / max |R(f)|`` per image: the constant weights of Sun et al.'s LRP-weighted features."""
    relevance = epsilon_lrp(head.layers, features.detach(), lambda p: start_relevance(p, labels, explain), epsilon)
    scale = relevance.abs().amax(dim=1, keepdim=True).clamp(min=1e-12)
    return 1.0 + relevance / scale


def sun_loss(head: Head, *, xi: float = 1.0, lam: float = 1.0, explain: str = "softmax", epsilon: float = 1e-6):
    """``xi * CE(y, p) + lam * CE(y, head(w * f))`` with ``w`` from :func:`lrp_weights` (Sun et al. 2020)."""

    def loss(module, inputs, labels, context):
        logits, features = forward_with_features(module, head, inputs)
        features = features.flatten(1)
        weighted_logits = head(lrp_weights(head, features, labels, explain=explain, epsilon=epsilon) * features)
        ce = F.cross_entropy(logits, labels)
        ce_lrp = F.cross_entropy(weighted_logits, labels)
        return float(xi) * ce + float(lam) * ce_lrp, {"cross_entropy": ce.detach(), "cross_entropy_lrp": ce_lrp.detach()}

    return loss
