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

import weakref

import torch
import torch.nn.functional as F

from .rules import constant_std_layer_norm

ATTENTION_MODES = ("attnlrp", "cp")


def stabilize(z: torch.Tensor, epsilon: float) -> torch.Tensor:
    """``z + ε·sign(z)``, as zennit stabilises a rule's denominator (here sign(-0) = -1, sign(+0) = +1)."""
    return z + torch.copysign(torch.tensor(epsilon, dtype=z.dtype, device=z.device), z)


def _magnitude(tensor: torch.Tensor) -> torch.Tensor:
    """``|tensor|`` of a layer's weight, kept between explanations on the CPU while the weight is unchanged.

    The copies of the explained model are built per explanation but share its parameters, so
    ``|w|`` is remembered per parameter (for as long as it lives, at the cost of its memory once
    more, up to :data:`MAGNITUDE_BUDGET_BYTES` in all) and recomputed when the parameter was written
    to (its version counter) or replaced. On an accelerator it is recomputed each time: cheap there,
    and memory is scarcer.
    """
    if tensor.device.type != "cpu":
        return tensor.detach().abs()
    try:
        stamp = (tensor._version, tensor.data_ptr(), tensor.shape, tensor.stride(), tensor.dtype)
    except RuntimeError:  # an inference-mode tensor has no version counter
        return tensor.detach().abs()
    key = id(tensor)
    entry = _MAGNITUDES.get(key)
    if entry is not None and entry[0]() is tensor and entry[1] == stamp:
        return entry[2]
    value = tensor.detach().abs()
    _MAGNITUDES.pop(key, None)
    kept = sum(entry[2].nbytes for entry in list(_MAGNITUDES.values()))
    if kept + value.nbytes <= MAGNITUDE_BUDGET_BYTES:
        _MAGNITUDES[key] = (weakref.ref(tensor, lambda _, key=key: _MAGNITUDES.pop(key, None)), stamp, value)
    return value


_MAGNITUDES: dict[int, tuple] = {}
#: The most memory the kept ``|w|`` may take (a ViT-B/16 takes about 340 MB; larger models keep part of theirs).
MAGNITUDE_BUDGET_BYTES = 512 * 2**20


def _shares(grad, out, gamma, magnitude, epsilon):
    """``(s, t)`` of the γ rule for the output relevance ``R = grad · z`` (``out`` is ``z``).

    The rule's denominator of an output ``z`` is ``(1 + γ/2) z ± (γ/2) m`` (``+`` for ``z > 0``),
    stabilised by ``± ε``, where ``m = |x|·|w| + |b|`` is ``magnitude`` (see :func:`_linear_backward`).
    Both summands have the sign of ``z``, so the stabilised denominator is ``± D`` with
    ``D = (1 + γ/2)|z| + (γ/2) m + ε ≥ 0``; the share ``R / (± D)`` of the output is
    ``s = grad · |z| / D`` and the share with the sign of ``z`` is ``t = grad · z / D``
    (``t`` is ``None`` for γ = 0). Both are 0 where ``D = 0`` (only with ε = 0).
    ``magnitude`` is written over.
    """
    absolute = out.abs()
    if gamma == 0.0:
        denominator = absolute + epsilon
    else:
        denominator = magnitude.mul_(0.5 * gamma).add_(absolute, alpha=1.0 + 0.5 * gamma)
        if epsilon != 0.0:
            denominator.add_(epsilon)
    if epsilon == 0.0:
        denominator = torch.where(denominator == 0, 1.0, denominator)  # |z| = 0 there: shares 0
    ratio = torch.div(grad, denominator, out=denominator)
    s = absolute.mul_(ratio)
    return s, (None if gamma == 0.0 else ratio.mul_(out))


def _input_signs(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """``γ/2`` with the sign of ``x`` (of its sign bit: -0 is negative, +0 positive)."""
    return torch.copysign(torch.tensor(0.5 * gamma, dtype=x.dtype, device=x.device), x)


def _linear_backward(x, out, grad, weight, magnitude_of_weight, bias, gamma, epsilon):
    """Input gradient ``R_x / x`` of the generalised γ rule of a dense layer ``out = x wᵀ + b``.

    zennit's ``Gamma`` rule shares the relevance of a positive output by
    ``x⁺ (w + γw⁺) + x⁻ (w + γw⁻)`` plus ``b + γb⁺``, of the others by ``x⁺ (w + γw⁻) + x⁻ (w + γw⁺)``
    plus ``b + γb⁻``. With ``x⁺w⁺ + x⁻w⁻ = (|x||w| + xw) / 2`` these denominators are
    ``(1 + γ/2) z ± (γ/2)(|x||w| + |b|)`` (:func:`_shares`), and the input gradient is
    ``(1 + γ/2) s w + (γ/2) sign(x) (t |w|)``: three products with the layer's size (one with
    ``|x|, |w|``, two transposed) instead of zennit's eight, each one matrix product on 2-D views.
    ``magnitude_of_weight`` is ``|w|`` (a function giving it: only called for γ > 0).
    """
    features, outputs = x.shape[-1], out.shape[-1]
    out, grad = out.reshape(-1, outputs), grad.reshape(-1, outputs)
    if gamma == 0.0:
        s, _ = _shares(grad, out, 0.0, None, epsilon)
        return torch.mm(s, weight).view(x.shape)
    flat = x.reshape(-1, features)
    magnitude_of_weight = magnitude_of_weight()
    if bias is None:
        magnitude = torch.mm(flat.abs(), magnitude_of_weight.t())
    else:
        magnitude = torch.addmm(bias.abs(), flat.abs(), magnitude_of_weight.t())
    s, t = _shares(grad, out, gamma, magnitude, epsilon)
    result = torch.mm(t, magnitude_of_weight).mul_(_input_signs(flat, gamma))
    return result.addmm_(s, weight, alpha=1.0 + 0.5 * gamma).view(x.shape)


def _is_patch_embedding(weight: torch.Tensor, geometry) -> bool:
    """Whether a convolution cuts its input into non-overlapping patches (a ViT's patch embedding)."""
    stride, padding, dilation, groups = geometry
    return (tuple(stride) == tuple(weight.shape[2:]) and not any(padding) and tuple(dilation) == (1, 1)
            and groups == 1)


def _conv_backward(x, out, grad, layer):
    """:func:`_linear_backward` for a 2-D convolution (its transposed map: ``conv2d_input``).

    A patch embedding whose patches tile the input is a dense layer on the patches, and is
    computed as one (one matrix product per map instead of a transposed convolution).
    """
    weight, gamma, epsilon, geometry = layer.weight.detach(), layer.gamma, layer.epsilon, layer.geometry
    bias = None if layer.bias is None else layer.bias.detach()
    b, c, height, width = x.shape
    kh, kw = weight.shape[2:]
    if _is_patch_embedding(weight, geometry) and height % kh == 0 and width % kw == 0:
        h, w = height // kh, width // kw
        patches = x.reshape(b, c, h, kh, w, kw).permute(0, 2, 4, 1, 3, 5).reshape(b * h * w, c * kh * kw)
        g = _linear_backward(
            patches, out.permute(0, 2, 3, 1), grad.permute(0, 2, 3, 1), weight.reshape(len(weight), -1),
            lambda: _magnitude(layer.weight).reshape(len(weight), -1), bias, gamma, epsilon)
        return g.view(b, h, w, c, kh, kw).permute(0, 3, 1, 4, 2, 5).reshape(x.shape)
    if gamma == 0.0:
        s, _ = _shares(grad, out, 0.0, None, epsilon)
        return torch.nn.grad.conv2d_input(x.shape, weight, s, *geometry)
    magnitude_of_weight = _magnitude(layer.weight)
    magnitude = F.conv2d(x.abs(), magnitude_of_weight, None if bias is None else bias.abs(), *geometry)
    s, t = _shares(grad, out, gamma, magnitude, epsilon)
    result = torch.nn.grad.conv2d_input(x.shape, magnitude_of_weight, t, *geometry).mul_(_input_signs(x, gamma))
    whole = torch.nn.grad.conv2d_input(x.shape, weight, s, *geometry)
    return result.add_(whole, alpha=1.0 + 0.5 * gamma)


class _LinearRule(torch.autograd.Function):
    """Forward ``layer``'s dense map; backward its γ rule. ``layer`` (a :class:`RuledLinear`) is
    passed whole, so that its weight reaches :func:`_magnitude` as the shared parameter itself."""

    @staticmethod
    def forward(ctx, x, layer):
        out = F.linear(x, layer.weight, layer.bias)  # no graph: autograd is off in here
        ctx.save_for_backward(x, out)
        ctx.layer = layer
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        layer = ctx.layer
        bias = None if layer.bias is None else layer.bias.detach()
        g = _linear_backward(x, out, grad, layer.weight.detach(), lambda: _magnitude(layer.weight), bias,
                             layer.gamma, layer.epsilon)
        return g, None


class _ConvRule(torch.autograd.Function):
    """:class:`_LinearRule` for a :class:`RuledConv2d`."""

    @staticmethod
    def forward(ctx, x, layer):
        out = F.conv2d(x, layer.weight, layer.bias, *layer.geometry)
        ctx.save_for_backward(x, out)
        ctx.layer = layer
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        return _conv_backward(x, out, grad, ctx.layer), None


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
        if not torch.is_grad_enabled() or not x.requires_grad:
            return F.linear(x, self.weight.detach(), None if self.bias is None else self.bias.detach())
        return _LinearRule.apply(x, self)

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
        if not torch.is_grad_enabled() or not x.requires_grad:
            bias = None if self.bias is None else self.bias.detach()
            return F.conv2d(x, self.weight.detach(), bias, *self.geometry)
        return _ConvRule.apply(x, self)

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
