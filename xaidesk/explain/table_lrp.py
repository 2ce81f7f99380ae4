"""LRP-ε for the small table MLP, with zennit's Epsilon rule as a cross-check.

LRP-ε for the MLP (:func:`lrp_epsilon`)
    Plain numpy: R_j = Σ_k a_j w_jk / (z_k + ε sign(z_k)) R_k, z_k = Σ_j a_j w_jk + b_k,
    starting from the explained output (the regression value or the logit of the
    explained class). The parts the biases and ε take are accumulated as
    ``absorbed``, so ``relevance.sum(1) + absorbed == output`` exactly. It agrees with
    zennit's ``Epsilon`` rule (:func:`lrp_epsilon_zennit`, tested). The network
    sees standardised inputs (x - mean) / scale; relevance is computed on those,
    one value per feature (the diagonal standardisation passes it through).
"""

from __future__ import annotations

import numpy as np
import torch

from ..core import MethodError


def _linear_layers(model: torch.nn.Sequential) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """(W, b, relu_after) for each Linear of a Linear/ReLU Sequential, in float64."""
    layers = []
    modules = list(model)
    for i, m in enumerate(modules):
        if isinstance(m, torch.nn.Linear):
            relu = i + 1 < len(modules) and isinstance(modules[i + 1], torch.nn.ReLU)
            bias = m.bias.detach().double().numpy() if m.bias is not None else np.zeros(m.out_features)
            layers.append((m.weight.detach().double().numpy(), bias, relu))
        elif not isinstance(m, torch.nn.ReLU):
            raise MethodError(f"LRP here covers Linear and ReLU layers only; the model has {type(m).__name__}.")
    return layers


def lrp_epsilon(model: torch.nn.Sequential, X: np.ndarray, output: np.ndarray | int = 0, epsilon: float = 1e-6):
    """LRP-ε through a Linear/ReLU MLP in float64. Returns (relevance (N, F), absorbed (N,), f (N,)).

    ``output`` is the explained output unit (one index, or one per row).
    ``relevance.sum(1) + absorbed == f`` holds exactly (biases and ε take ``absorbed``).
    """
    X = np.asarray(X, dtype=np.float64)
    layers = _linear_layers(model)
    activations = [X]
    a = X
    for w, b, relu in layers:
        a = a @ w.T + b
        if relu:
            a = np.maximum(a, 0.0)
        activations.append(a)
    out = activations[-1]
    idx = np.broadcast_to(np.asarray(output), (len(X),))
    f = out[np.arange(len(X)), idx]
    r = np.zeros_like(out)
    r[np.arange(len(X)), idx] = f
    absorbed = np.zeros(len(X))
    for (w, b, _), a in zip(reversed(layers), reversed(activations[:-1])):
        z = a @ w.T + b
        denom = z + epsilon * np.where(z >= 0, 1.0, -1.0)
        s = r / denom
        new = a * (s @ w)
        absorbed += r.sum(axis=1) - new.sum(axis=1)
        r = new
    return r, absorbed, f


def lrp_epsilon_zennit(model: torch.nn.Sequential, X: np.ndarray, output: int = 0, epsilon: float = 1e-6) -> np.ndarray:
    """The same with zennit's Epsilon rule on every Linear (float64 copy of the model)."""
    import copy

    from zennit.attribution import Gradient
    from zennit.composites import LayerMapComposite
    from zennit.rules import Epsilon, Pass

    net = copy.deepcopy(model).double()
    composite = LayerMapComposite(layer_map=[(torch.nn.ReLU, Pass()), (torch.nn.Linear, Epsilon(epsilon=epsilon))])
    x = torch.as_tensor(np.asarray(X, dtype=np.float64)).requires_grad_(True)
    with torch.enable_grad(), Gradient(model=net, composite=composite) as attributor:
        out = net(x)
        grad_out = torch.zeros_like(out)
        grad_out[:, output] = out[:, output].detach()
        _, relevance = attributor(x, grad_out)
    return relevance.detach().numpy()
