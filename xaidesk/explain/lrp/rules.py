"""LRP rules for layers of modern CNNs that zennit has no rule for: layer norm in ConvNeXt.

Layer norm computes ``y = w * (x - mean(x)) / std(x) + b`` over the channels of each position.
Following AttnLRP (Achtibat et al. 2024), the division by the standard deviation is treated as
a constant (it rescales, it does not decide *which* features matter); what is left,
``x -> w * (x - mean(x)) / s + b``, is linear in ``x`` and is explained with the LRP-ε rule for
linear layers: ``R_j = sum_i x_j J_ij / (y_i + ε sign(y_i)) R_i`` with ``J`` the Jacobian of the
linearised map. Without a bias, ``sum_j R_j = sum_i R_i`` (conserved); the bias absorbs its share
as in any ε-rule.
"""

from __future__ import annotations

import torch
from zennit.core import Hook, Stabilizer

__all__ = ["LayerNormEpsilon", "constant_std_layer_norm", "is_channel_layer_norm", "linearised_layer_norm"]


def is_channel_layer_norm(module: torch.nn.Module) -> bool:
    """True for torchvision's and timm's ``LayerNorm2d`` (normalises dim 1 of an NCHW tensor)."""
    return isinstance(module, torch.nn.LayerNorm) and type(module).__name__ == "LayerNorm2d"


def constant_std_layer_norm(x: torch.Tensor, dims: tuple[int, ...], weight, bias, eps: float) -> torch.Tensor:
    """``weight * (x - mean(x)) / std(x) + bias`` over ``dims``, with the standard deviation detached.

    The layer-norm rule shared by the CNN LRP here and the transformer LRP
    (:class:`xaidesk.explain.lrp.attention_rules.LRPLayerNorm`): equal to the layer norm in value, its
    gradient treats the standard deviation as a constant (AttnLRP, Achtibat et al. 2024).
    ``weight`` and ``bias`` (or ``None``) must broadcast against ``x``.
    """
    centred = x - x.mean(dims, keepdim=True)
    std = torch.sqrt(centred.detach().pow(2).mean(dims, keepdim=True) + eps)
    y = centred / std
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def linearised_layer_norm(module: torch.nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` recomputed with the standard deviation detached from the graph.

    Equal to ``module(x)`` in value; its gradient treats the standard deviation as a constant.
    """
    if is_channel_layer_norm(module):
        dims: tuple[int, ...] = (1,)
        view = (1, -1) + (1,) * (x.dim() - 2)
    else:
        dims = tuple(range(x.dim() - len(module.normalized_shape), x.dim()))
        view = tuple(module.normalized_shape)
    weight = None if module.weight is None else module.weight.reshape(view)
    bias = None if module.bias is None else module.bias.reshape(view)
    return constant_std_layer_norm(x, dims, weight, bias, module.eps)


class LayerNormEpsilon(Hook):
    """LRP-ε on a layer norm linearised with a constant standard deviation (see the module doc).

    Parameters
    ----------
    epsilon
        Stabiliser added to the denominator with the sign of each output.
    """

    def __init__(self, epsilon: float = 1e-6):
        super().__init__()
        self.epsilon = epsilon

    def forward(self, module, input, output):
        self.stored_tensors["input"] = input

    def backward(self, module, grad_input, grad_output):
        x = self.stored_tensors["input"][0].detach().requires_grad_(True)
        with torch.autograd.enable_grad():
            y = linearised_layer_norm(module, x)
        stabilise = Stabilizer.ensure(self.epsilon)
        (gradient,) = torch.autograd.grad(y, x, grad_outputs=grad_output[0] / stabilise(y.detach()))
        return (x.detach() * gradient,)

    def copy(self):
        return type(self)(self.epsilon)
