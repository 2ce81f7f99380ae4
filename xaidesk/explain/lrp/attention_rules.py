"""The AttnLRP rules as autograd functions and LRP-aware layers (gradient × input form).

Every layer of the explained copy is made to pass, in its backward pass, the gradient
``g = R / a`` for its input ``a`` given ``g = R / z`` for its output ``z`` (Achtibat et al.
2024, "efficient" form of LXT). The relevance of the input is then ``x ⊙ ∂f_t/∂x`` and each
layer applies its rule:

* linear and convolution layers: generalised γ rule with stabiliser ε (γ = 0 is the ε rule),
  as zennit's ``Gamma`` computes it, in one custom backward pass;
* layer norm and RMS norm: the division by the standard deviation is a constant (identity rule
  through the normalisation; the centring and the affine part are linear);
* element-wise non-linearities (GELU, SiLU, tanh, ...): identity rule, relevance passes unchanged;
* attention: the softmax rule falls out of the softmax's own gradient, and the two bilinear
  products (Q·Kᵀ and A·V) split relevance 50/50 (uniform rule) by scaling the gradient of
  the query and key by 1/4 and of the value by 1/2; CP-LRP instead holds the attention
  weights constant (no gradient through query and key).

Nothing here touches a library class: the layers below are new modules placed in a copy of
the explained model by :mod:`xaidesk.explain.lrp.attention`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .rules import constant_std_layer_norm

ATTENTION_MODES = ("attnlrp", "cp")


def stabilize(z: torch.Tensor, epsilon: float) -> torch.Tensor:
    """``z + ε·sign(z)`` with sign(0) = +1, as zennit stabilises a rule's denominator."""
    return torch.where(z >= 0, z + epsilon, z - epsilon)


def _share(relevance: torch.Tensor, denominator: torch.Tensor, epsilon: float) -> torch.Tensor:
    """``relevance / stabilize(denominator)``; 0 where that is 0 (possible only with ε = 0)."""
    denominator = stabilize(denominator, epsilon)
    if epsilon > 0:  # |z ± ε| ≥ ε
        return relevance / denominator
    zero = torch.zeros((), dtype=relevance.dtype, device=relevance.device)
    return torch.where(denominator == 0, zero, relevance / torch.where(denominator == 0, 1.0, denominator))


def _gamma_backward(x, out, bias, relevance, gamma, epsilon, apply, transpose):
    """Input gradient ``R_x / x`` of the generalised γ rule of an affine layer ``out = apply(x, w) + b``.

    Positive outputs share their relevance by ``x⁺ (w + γw⁺) + x⁻ (w + γw⁻)`` plus the bias
    ``b + γb⁺``, negative outputs by ``x⁺ (w + γw⁻) + x⁻ (w + γw⁺)`` plus ``b + γb⁻``, exactly as
    zennit's ``Gamma`` rule. With ``x⁺w⁺ + x⁻w⁻ = (|x||w| + xw) / 2`` and ``w^± = (w ± |w|) / 2``
    the rule needs three products with the layer's size (one forward with ``|x|, |w|``, two
    transposed with ``w`` and ``|w|``) instead of zennit's four forward and four backward.
    ``apply(inp, w)`` is the layer without bias (carrying its ``weight``), ``transpose(s, w)``
    its transposed map.
    """
    weight = apply.weight
    if gamma == 0.0:
        return transpose(_share(relevance, out, epsilon), weight)
    abs_weight = weight.abs()
    linear = out if bias is None else out - bias
    same_sign = 0.5 * (apply(x.abs(), abs_weight) + linear)  # x⁺w⁺ + x⁻w⁻
    positive = out > 0
    # z = xw + γ(x⁺w⁺ + x⁻w⁻) for positive outputs, xw + γ(x⁺w⁻ + x⁻w⁺) for the others
    denominator = linear + gamma * torch.where(positive, same_sign, linear - same_sign)
    if bias is not None:
        denominator = denominator + bias + gamma * torch.where(positive, bias.clamp(min=0), bias.clamp(max=0))
    share = _share(relevance, denominator, epsilon)  # zero where out = 0, since relevance = g·out is
    whole = transpose(share, weight)
    signed = transpose(torch.where(positive, share, -share), abs_weight)
    return (1.0 + 0.5 * gamma) * whole + (0.5 * gamma) * torch.where(x > 0, signed, -signed)


class _Affine:
    """A layer's map without bias, ``apply(inp, w)``, carrying the layer's own weight."""

    def __init__(self, weight, function):
        self.weight, self.function = weight, function

    def __call__(self, inp, w):
        return self.function(inp, w)


class _LinearRule(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, gamma, epsilon):
        out = F.linear(x, weight, bias)
        ctx.save_for_backward(x, weight, bias, out)
        ctx.gamma, ctx.epsilon = gamma, epsilon
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias, out = ctx.saved_tensors
        apply = _Affine(weight, F.linear)
        g = _gamma_backward(x, out, bias, grad * out, ctx.gamma, ctx.epsilon, apply, lambda s, w: s @ w)
        return g, None, None, None, None


class _ConvRule(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, gamma, epsilon, stride, padding, dilation, groups):
        out = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
        ctx.save_for_backward(x, weight, bias, out)
        ctx.gamma, ctx.epsilon, ctx.geometry = gamma, epsilon, (stride, padding, dilation, groups)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias, out = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.geometry
        apply = _Affine(weight, lambda inp, w: F.conv2d(inp, w, None, stride, padding, dilation, groups))

        def transpose(s, w):
            return torch.nn.grad.conv2d_input(x.shape, w, s, stride, padding, dilation, groups)

        channel_bias = None if bias is None else bias.view(1, -1, 1, 1)
        g = _gamma_backward(x, out, channel_bias, grad * out, ctx.gamma, ctx.epsilon, apply, transpose)
        return g, None, None, None, None, None, None, None, None


class _IdentityRule(torch.autograd.Function):
    """Forward ``fn(x)``; backward passes the relevance unchanged: ``g_in = g_out · fn(x) / x``."""

    @staticmethod
    def forward(ctx, x, fn):
        out = fn(x)
        ctx.save_for_backward(out / stabilize(x, 1e-10))
        return out

    @staticmethod
    def backward(ctx, grad):
        (ratio,) = ctx.saved_tensors
        return grad * ratio, None


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; the gradient (and so the relevance) is multiplied by ``factor``."""

    @staticmethod
    def forward(ctx, x, factor):
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


def scale_gradient(x: torch.Tensor, factor: float) -> torch.Tensor:
    return _ScaleGradient.apply(x, factor)


def attend(q, k, v, mode: str, *, mask=None, scale=None, is_causal=False) -> torch.Tensor:
    """Scaled dot-product attention of (B, heads, N, d) tensors with the AttnLRP or CP-LRP rule.

    AttnLRP: the softmax rule is the softmax's own gradient × input; the uniform rule splits
    the relevance of A·V and of Q·Kᵀ in halves (query and key get 1/4, the value 1/2).
    CP-LRP: the attention weights are constants, relevance flows only through the value.
    """
    if mode == "cp":
        q, k = q.detach(), k.detach()
    else:
        q, k, v = scale_gradient(q, 0.25), scale_gradient(k, 0.25), scale_gradient(v, 0.5)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, is_causal=is_causal)


# --- LRP-aware layers --------------------------------------------------------------------------


class RuledLinear(torch.nn.Module):
    """A dense layer whose backward pass is the γ/ε rule (weights shared with the original, never trained)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, gamma: float, epsilon: float):
        super().__init__()
        self.weight, self.bias = weight, bias
        self.gamma, self.epsilon = float(gamma), float(epsilon)

    @classmethod
    def of(cls, linear: torch.nn.Linear, gamma: float, epsilon: float) -> "RuledLinear":
        return cls(linear.weight, linear.bias, gamma, epsilon)

    def forward(self, x):
        bias = None if self.bias is None else self.bias.detach()
        return _LinearRule.apply(x, self.weight.detach(), bias, self.gamma, self.epsilon)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}, gamma={self.gamma}, epsilon={self.epsilon}"


class RuledConv2d(torch.nn.Module):
    """A 2-D convolution whose backward pass is the γ/ε rule."""

    def __init__(self, conv: torch.nn.Conv2d, gamma: float, epsilon: float):
        super().__init__()
        if conv.padding_mode != "zeros":
            raise ValueError(f"padding mode '{conv.padding_mode}'")
        if isinstance(conv.padding, str):
            raise ValueError(f"padding '{conv.padding}'")
        self.weight, self.bias = conv.weight, conv.bias
        self.geometry = (conv.stride, conv.padding, conv.dilation, conv.groups)
        self.gamma, self.epsilon = float(gamma), float(epsilon)

    def forward(self, x):
        bias = None if self.bias is None else self.bias.detach()
        return _ConvRule.apply(x, self.weight.detach(), bias, self.gamma, self.epsilon, *self.geometry)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, epsilon={self.epsilon}"


class LRPLayerNorm(torch.nn.Module):
    """Layer norm with the standard deviation held constant (identity rule through the division)."""

    def __init__(self, norm: torch.nn.LayerNorm):
        super().__init__()
        self.dims = tuple(range(-len(norm.normalized_shape), 0))
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps

    def forward(self, x):
        weight = None if self.weight is None else self.weight.detach()
        bias = None if self.bias is None else self.bias.detach()
        return constant_std_layer_norm(x, self.dims, weight, bias, self.eps)


class LRPRMSNorm(torch.nn.Module):
    """RMS norm with the root mean square held constant."""

    def __init__(self, norm: torch.nn.Module):
        super().__init__()
        shape = norm.normalized_shape
        self.dims = tuple(range(-(len(shape) if isinstance(shape, (tuple, list)) else 1), 0))
        self.weight = getattr(norm, "weight", None)
        eps = getattr(norm, "eps", None)
        self.eps = torch.finfo(torch.float32).eps if eps is None else float(eps)

    def forward(self, x):
        rms = (x.pow(2).mean(dim=self.dims, keepdim=True) + self.eps).sqrt()
        y = x / rms.detach()
        return y if self.weight is None else y * self.weight.detach()


class IdentityRule(torch.nn.Module):
    """An element-wise non-linearity whose relevance passes unchanged (identity rule)."""

    def __init__(self, activation: torch.nn.Module):
        super().__init__()
        self.activation = activation

    def forward(self, x):
        if not torch.is_grad_enabled() or not x.requires_grad:
            return self.activation(x)
        return _IdentityRule.apply(x, self.activation)
