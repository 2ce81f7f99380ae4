"""Which vision transformers AttnLRP knows, and their attention layers rewritten with its rules.

A family is recognised by the classes of its attention layers (torchvision's
``MultiheadAttention``, ``ShiftedWindowAttention`` and
``ShiftedWindowAttentionV2``, timm's ``Attention``, Hugging Face's ``ViTAttention``, ``DeiTAttention``,
``SwinAttention`` and ``Swinv2Attention``). Each family names

* ``attention``: a function ``(layer, linear, mode) -> module`` giving an LRP-aware module with
  the same call signature as the family's attention layer (``linear(weight, bias)`` makes a
  dense layer with the chosen rule);
* ``passive``: container classes whose own forward code only routes tensors through their
  children with linear operations (reshapes, concatenation, sums, token selection), so
  relevance passes them by the gradient;
* ``constants``: the parameters such containers own (class token, position embedding,
  layer scale): they act like biases and keep the relevance that flows into them.

Library modules are looked up in ``sys.modules`` only: a family whose library was never
imported cannot be in the model, and nothing heavy is imported to find out.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Callable

import torch

from .attention_rules import attend


@dataclass
class Family:
    name: str
    title: str
    attention: dict[type, Callable] = field(default_factory=dict)
    passive: tuple[type, ...] = ()
    constants: dict[type, tuple[str, ...]] = field(default_factory=dict)
    activations: tuple[type, ...] = ()
    norms: tuple[type, ...] = ()


def _module(name: str):
    return sys.modules.get(name)


def _module_classes(module) -> tuple[type, ...]:
    """The nn.Module classes a library module defines itself (its element-wise activations)."""
    if module is None:
        return ()
    return tuple(c for c in vars(module).values()
                 if isinstance(c, type) and issubclass(c, torch.nn.Module) and c.__module__ == module.__name__)


def _classes(module, *names: str) -> tuple[type, ...]:
    return tuple(getattr(module, n) for n in names if module is not None and hasattr(module, n))


# --- torchvision ------------------------------------------------------------------------------


class TorchMultiheadAttention(torch.nn.Module):
    """``torch.nn.MultiheadAttention`` (self-attention, no masks) written out with the AttnLRP rules."""

    def __init__(self, mha: torch.nn.MultiheadAttention, linear: Callable, mode: str):
        super().__init__()
        if not mha._qkv_same_embed_dim or mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError("separate key/value sizes, bias_k/bias_v or add_zero_attn")
        e = mha.embed_dim
        w, b = mha.in_proj_weight, mha.in_proj_bias
        self.in_proj = linear(w, b)
        self.q, self.k, self.v = (linear(w[i * e:(i + 1) * e], None if b is None else b[i * e:(i + 1) * e])
                                  for i in range(3))
        self.out_proj = linear(mha.out_proj.weight, mha.out_proj.bias)
        self.heads, self.batch_first, self.mode = mha.num_heads, mha.batch_first, mode

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if key_padding_mask is not None or attn_mask is not None or is_causal:
            raise ValueError("attention masks")
        # Self-attention: query, key and value from one product (the rules act per output, so the
        # relevance is that of three). Not with CP-LRP, where only the value's backward pass runs.
        fused = query is key and key is value and self.mode != "cp"
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        b, n, e = query.shape

        def heads(t, length):
            return t.reshape(b, length, self.heads, e // self.heads).transpose(1, 2)

        if fused:
            q, k, v = self.in_proj(query).reshape(b, n, 3, self.heads, e // self.heads).permute(2, 0, 3, 1, 4)
        else:
            q, k, v = heads(self.q(query), n), heads(self.k(key), key.shape[1]), heads(self.v(value), value.shape[1])
        out = attend(q, k, v, self.mode).transpose(1, 2).reshape(b, n, e)
        out = self.out_proj(out)
        return (out if self.batch_first else out.transpose(0, 1)), None


def _torchvision() -> Family | None:
    vit = _module("torchvision.models.vision_transformer")
    if vit is None:
        return None
    return Family(
        name="torchvision-vit",
        title="torchvision ViT",
        attention={torch.nn.MultiheadAttention: TorchMultiheadAttention},
        passive=_classes(vit, "VisionTransformer", "Encoder", "EncoderBlock", "MLPBlock"),
        constants={vit.VisionTransformer: ("class_token",), vit.Encoder: ("pos_embedding",)},
    )


class WindowAttention(torch.nn.Module):
    """Base of the Swin attention layers: their position bias may be measured.

    With ``position_bias_leaves`` set to a list (and the AttnLRP rule), each forward pass adds
    the position bias of every window as a leaf tensor to that list; ``bias · ∂f/∂bias`` is then
    the relevance the bias keeps (it is added to the attention logits, like a bias to a dense layer).
    """

    position_bias_leaves: list | None = None
    mode = "attnlrp"

    def per_window(self, bias: torch.Tensor, windows: int) -> torch.Tensor:
        """The position bias (1, heads, n, n) for ``windows`` windows, in batch-major order (windows, heads, n, n)."""
        bias = bias.detach().expand(windows, -1, -1, -1)
        if self.position_bias_leaves is None or self.mode == "cp" or not torch.is_grad_enabled():
            return bias
        leaf = bias.clone().requires_grad_(True)
        self.position_bias_leaves.append(leaf)
        return leaf


class TorchSwinAttention(WindowAttention):
    """torchvision's ``ShiftedWindowAttention`` (Swin V1) with the AttnLRP rules.

    The relative position bias and the mask of shifted windows are added to the attention
    logits as constants (like biases they keep the relevance that reaches them).
    """

    def __init__(self, attn, linear: Callable, mode: str):
        super().__init__()
        self.qkv = linear(attn.qkv.weight, attn.qkv.bias)
        self.proj = linear(attn.proj.weight, attn.proj.bias)
        self.window_size, self.shift_size = list(attn.window_size), list(attn.shift_size)
        self.heads, self.mode = attn.num_heads, mode
        self.position_bias = attn.get_relative_position_bias  # bound to the copy's own attention layer

    def forward(self, x):
        b, h, w, c = x.shape
        wh, ww = self.window_size
        pad_r, pad_b = (ww - w % ww) % ww, (wh - h % wh) % wh
        x = torch.nn.functional.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        _, ph, pw, _ = x.shape
        shift = [0 if wh >= ph else self.shift_size[0], 0 if ww >= pw else self.shift_size[1]]
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        windows = (ph // wh) * (pw // ww)
        x = x.view(b, ph // wh, wh, pw // ww, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b * windows, wh * ww, c)
        n = wh * ww
        with torch.no_grad():  # a constant: computed from parameters only
            bias = self.position_bias()  # (1, heads, n, n)
        bias = self.per_window(bias, b * windows)
        if sum(shift) > 0:
            mask = _shift_mask(x, ph, pw, self.window_size, shift).view(1, windows, 1, n, n)
            bias = (bias.reshape(b, windows, self.heads, n, n) + mask).reshape(b * windows, self.heads, n, n)
        x = self.attention(x, bias)
        x = self.proj(x.transpose(1, 2).reshape(b * windows, n, c))
        x = x.view(b, ph // wh, pw // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(shift[0], shift[1]), dims=(1, 2))
        return x[:, :h, :w, :].contiguous()

    def attention(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Scaled dot-product attention of the windows ``x`` (windows, n, c); (windows, heads, n, d)."""
        windows, n, c = x.shape
        q, k, v = self.qkv(x).reshape(windows, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        return attend(q, k, v, self.mode, mask=bias, scale=(c // self.heads) ** -0.5)


def cosine_attend(q, k, v, logit_scale: torch.Tensor, bias: torch.Tensor, mode: str) -> torch.Tensor:
    """Swin V2's cosine attention ``softmax(τ · q̂·k̂ᵀ + bias) · v`` with the AttnLRP or CP-LRP rule.

    The L2 norms of query and key are held constant (like the standard deviation of a layer
    norm), so relevance passes the normalisation unchanged; the logit scale τ (clamped at 100,
    as the libraries do) is a constant factor and the position bias a constant summand.
    """
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12).detach()  # F.normalize's ε
    k = k / k.norm(dim=-1, keepdim=True).clamp_min(1e-12).detach()
    scale = torch.clamp(logit_scale.detach(), max=math.log(100.0)).exp()  # (heads, 1, 1)
    return attend(q * scale, k, v, mode, mask=bias, scale=1.0)


class TorchSwinAttentionV2(TorchSwinAttention):
    """torchvision's ``ShiftedWindowAttentionV2`` (Swin V2: cosine attention) with the AttnLRP rules.

    The continuous position bias (16·sigmoid of ``cpb_mlp``) depends on no input: a constant
    added to the attention logits like V1's bias table. The key has no bias (torchvision zeroes
    it in every forward pass).
    """

    def __init__(self, attn, linear: Callable, mode: str):
        super().__init__(attn, linear, mode)
        e, w, b = attn.qkv.in_features, attn.qkv.weight, attn.qkv.bias
        self.qkv = None  # split into q, k, v: the key without bias
        self.q, self.k, self.v = (linear(w[i * e:(i + 1) * e], None if b is None or i == 1 else b[i * e:(i + 1) * e])
                                  for i in range(3))
        self.logit_scale = attn.logit_scale

    def attention(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        windows, n, c = x.shape
        q, k, v = (p(x).reshape(windows, n, self.heads, c // self.heads).transpose(1, 2)
                   for p in (self.q, self.k, self.v))
        return cosine_attend(q, k, v, self.logit_scale, bias, self.mode)


def _shift_mask(x, ph, pw, window_size, shift) -> torch.Tensor:
    """The (windows, n, n) mask of shifted windows: -100 between tokens from different regions, as torchvision."""
    mask = x.new_zeros((ph, pw))
    h_slices = ((0, -window_size[0]), (-window_size[0], -shift[0]), (-shift[0], None))
    w_slices = ((0, -window_size[1]), (-window_size[1], -shift[1]), (-shift[1], None))
    for count, (hs, ws) in enumerate((hs, ws) for hs in h_slices for ws in w_slices):
        mask[hs[0]:hs[1], ws[0]:ws[1]] = count
    mask = mask.view(ph // window_size[0], window_size[0], pw // window_size[1], window_size[1])
    mask = mask.permute(0, 2, 1, 3).reshape(-1, window_size[0] * window_size[1])
    mask = mask.unsqueeze(1) - mask.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


def _torchvision_swin() -> Family | None:
    swin = _module("torchvision.models.swin_transformer")
    if swin is None:
        return None
    misc = _module("torchvision.ops.misc")
    ops = _module("torchvision.ops.stochastic_depth")
    return Family(
        name="torchvision-swin",
        title="torchvision Swin",
        attention={swin.ShiftedWindowAttention: TorchSwinAttention,
                   swin.ShiftedWindowAttentionV2: TorchSwinAttentionV2},
        passive=_classes(swin, "SwinTransformer", "SwinTransformerBlock", "PatchMerging", "SwinTransformerBlockV2",
                         "PatchMergingV2")
        + _classes(misc, "Permute", "MLP") + _classes(ops, "StochasticDepth"),
    )


# --- timm ---------------------------------------------------------------------------------------


class TimmAttention(torch.nn.Module):
    """timm's ``Attention`` (qkv projection, optional q/k norms) with the AttnLRP rules."""

    def __init__(self, attn, linear: Callable, mode: str):
        super().__init__()
        if getattr(attn, "gate", None) is not None:
            raise ValueError("gated attention output (an element-wise product of two signals)")
        self.qkv = linear(attn.qkv.weight, attn.qkv.bias)
        self.proj = linear(attn.proj.weight, attn.proj.bias)
        self.q_norm, self.k_norm, self.norm = attn.q_norm, attn.k_norm, attn.norm
        self.heads, self.head_dim, self.attn_dim = attn.num_heads, attn.head_dim, attn.attn_dim
        self.scale, self.mode = attn.scale, mode

    def forward(self, x, attn_mask=None, is_causal=False):
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        out = attend(q, k, v, self.mode, mask=attn_mask, scale=self.scale, is_causal=is_causal)
        out = self.norm(out.transpose(1, 2).reshape(b, n, self.attn_dim))
        return self.proj(out)


def _timm() -> Family | None:
    attention = _module("timm.layers.attention")
    vit = _module("timm.models.vision_transformer")
    if attention is None:
        return None
    deit = _module("timm.models.deit")
    layers = _module("timm.layers")
    passive = _classes(vit, "VisionTransformer", "Block") + _classes(deit, "VisionTransformerDistilled")
    passive += _classes(layers, "PatchEmbed", "Mlp", "LayerScale", "DropPath", "PatchDropout")
    constants: dict[type, tuple[str, ...]] = {}
    for cls in _classes(vit, "VisionTransformer") + _classes(deit, "VisionTransformerDistilled"):
        constants[cls] = ("cls_token", "reg_token", "pos_embed", "dist_token")
    for cls in _classes(layers, "LayerScale"):
        constants[cls] = ("gamma",)
    norm = _module("timm.layers.norm")
    return Family(
        name="timm-vit",
        title="timm ViT/DeiT",
        attention={attention.Attention: TimmAttention},
        passive=passive,
        constants=constants,
        activations=_module_classes(_module("timm.layers.activations")),
        norms=_classes(norm, "LayerNorm", "RmsNorm"),
    )


# --- Hugging Face transformers -------------------------------------------------------------------


class HFAttention(torch.nn.Module):
    """Hugging Face ``ViTAttention`` / ``DeiTAttention`` (q/k/v/o projections) with the AttnLRP rules."""

    def __init__(self, attn, linear: Callable, mode: str):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (
            linear(p.weight, p.bias) for p in (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj))
        self.head_dim, self.scale, self.mode = attn.head_dim, attn.scaling, mode

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        shape = (*hidden_states.shape[:-1], -1, self.head_dim)
        q, k, v = (p(hidden_states).view(shape).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        out = attend(q, k, v, self.mode, mask=attention_mask, scale=self.scale)
        out = out.transpose(1, 2).reshape(*hidden_states.shape[:-1], -1)
        return self.o_proj(out), None


def _hugging_face() -> Family | None:
    vit = _module("transformers.models.vit.modeling_vit")
    deit = _module("transformers.models.deit.modeling_deit")
    if vit is None and deit is None:
        return None
    attention = {cls: HFAttention for cls in _classes(vit, "ViTAttention") + _classes(deit, "DeiTAttention")}
    names = ("ForImageClassification", "ForImageClassificationWithTeacher", "Model", "Embeddings",
             "PatchEmbeddings", "Encoder", "Layer", "MLP")
    passive = _classes(vit, *(f"ViT{n}" for n in names)) + _classes(deit, *(f"DeiT{n}" for n in names))
    constants = {cls: ("cls_token", "distillation_token", "position_embeddings", "mask_token")
                 for cls in _classes(vit, "ViTEmbeddings") + _classes(deit, "DeiTEmbeddings")}
    activations = _module("transformers.activations")
    return Family(
        name="hf-vit",
        title="Hugging Face ViT/DeiT",
        attention=attention,
        passive=passive,
        constants=constants,
        activations=_module_classes(activations),
    )


class HFSwinAttention(WindowAttention):
    """Hugging Face ``SwinAttention`` with the AttnLRP rules; position bias and shift mask are constants."""

    def __init__(self, attn, linear: Callable, mode: str):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (
            linear(p.weight, p.bias) for p in (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj))
        self.position_bias = attn.relative_position_bias
        self.head_dim, self.scale, self.mode = attn.head_dim, attn.scaling, mode

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        windows, n = hidden_states.shape[:-1]
        shape = (windows, n, -1, self.head_dim)
        q, k, v = (p(hidden_states).view(shape).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        with torch.no_grad():
            bias = self.position_bias()  # (1, heads, n, n)
        bias = self.per_window(bias, windows)
        if attention_mask is not None:  # (windows per picture, n, n)
            per_picture = attention_mask.shape[0]
            mask = attention_mask.unsqueeze(1).unsqueeze(0).expand(windows // per_picture, -1, -1, -1, -1)
            bias = bias + mask.reshape(-1, 1, n, n)
        out = attend(q, k, v, self.mode, mask=bias, scale=self.scale)
        return self.o_proj(out.transpose(1, 2).reshape(windows, n, -1)), None


def _hugging_face_swin() -> Family | None:
    swin = _module("transformers.models.swin.modeling_swin")
    if swin is None:
        return None
    return Family(
        name="hf-swin",
        title="Hugging Face Swin",
        attention={swin.SwinAttention: HFSwinAttention},
        passive=_classes(swin, "SwinForImageClassification", "SwinModel", "SwinEmbeddings", "SwinPatchEmbeddings",
                         "SwinPatchMerging", "SwinEncoder", "SwinStage", "SwinLayer", "SwinMLP", "SwinDropPath"),
        constants={swin.SwinEmbeddings: ("mask_token", "position_embeddings")},
        activations=_module_classes(_module("transformers.activations")),
    )


class HFSwinv2Attention(WindowAttention):
    """Hugging Face ``Swinv2Attention`` (cosine attention, continuous position bias) with the AttnLRP rules."""

    def __init__(self, attn, linear: Callable, mode: str):
        super().__init__()
        inner = attn.self
        self.query, self.key, self.value = (linear(p.weight, p.bias) for p in (inner.query, inner.key, inner.value))
        self.dense = linear(attn.output.dense.weight, attn.output.dense.bias)
        self.heads, self.head_dim = inner.num_attention_heads, inner.attention_head_size
        self.logit_scale, self.mode = inner.logit_scale, mode
        self.position_bias = lambda: _hf_swinv2_position_bias(inner)  # the copy's own layer

    def forward(self, hidden_states, attention_mask=None, output_attentions=False, **kwargs):
        windows, n, _ = hidden_states.shape
        q, k, v = (p(hidden_states).view(windows, n, self.heads, self.head_dim).transpose(1, 2)
                   for p in (self.query, self.key, self.value))
        with torch.no_grad():
            bias = self.position_bias().unsqueeze(0)  # (1, heads, n, n)
        bias = self.per_window(bias, windows)
        if attention_mask is not None:  # (windows per picture, n, n); Hugging Face adds it twice
            per_picture = attention_mask.shape[0]
            mask = (2 * attention_mask).unsqueeze(1).unsqueeze(0).expand(windows // per_picture, -1, -1, -1, -1)
            bias = bias + mask.reshape(-1, 1, n, n)
        out = cosine_attend(q, k, v, self.logit_scale, bias, self.mode)
        return (self.dense(out.transpose(1, 2).reshape(windows, n, -1)),)


def _hf_swinv2_position_bias(attn) -> torch.Tensor:
    """16·sigmoid of the continuous position bias of a ``Swinv2SelfAttention``: (heads, n, n)."""
    n = attn.window_size[0] * attn.window_size[1]
    table = attn.continuous_position_bias_mlp(attn.relative_coords_table).view(-1, attn.num_attention_heads)
    bias = table[attn.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
    return 16 * torch.sigmoid(bias)


def _hugging_face_swinv2() -> Family | None:
    swin = _module("transformers.models.swinv2.modeling_swinv2")
    if swin is None:
        return None
    return Family(
        name="hf-swinv2",
        title="Hugging Face Swin V2",
        attention={swin.Swinv2Attention: HFSwinv2Attention},
        passive=_classes(swin, "Swinv2ForImageClassification", "Swinv2Model", "Swinv2Embeddings",
                         "Swinv2PatchEmbeddings", "Swinv2PatchMerging", "Swinv2Encoder", "Swinv2Stage", "Swinv2Layer",
                         "Swinv2Intermediate", "Swinv2Output", "Swinv2DropPath"),
        constants={swin.Swinv2Embeddings: ("mask_token", "position_embeddings")},
        activations=_module_classes(_module("transformers.activations")),
    )


def known_families() -> list[Family]:
    """The families whose libraries are loaded in this process (torchvision, timm, transformers)."""
    found = (_torchvision(), _torchvision_swin(), _timm(), _hugging_face(), _hugging_face_swin(),
             _hugging_face_swinv2())
    return [f for f in found if f is not None]


#: Element-wise non-linearities of torch that get the identity rule.
TORCH_ACTIVATIONS = (
    torch.nn.GELU, torch.nn.SiLU, torch.nn.Tanh, torch.nn.ReLU, torch.nn.Sigmoid, torch.nn.Mish,
    torch.nn.Hardswish, torch.nn.Hardtanh, torch.nn.LeakyReLU, torch.nn.ELU, torch.nn.Softplus,
)

#: Layers that do nothing at inference time, only reshape or average, so relevance passes them in
#: proportion to their inputs.
TORCH_PASSIVE = (
    torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict, torch.nn.Identity, torch.nn.Flatten,
    torch.nn.Dropout, torch.nn.Dropout1d, torch.nn.Dropout2d, torch.nn.AdaptiveAvgPool1d, torch.nn.AdaptiveAvgPool2d,
)
