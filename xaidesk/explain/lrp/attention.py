"""LRP for vision transformers (AttnLRP, Achtibat et al. 2024), scoped to the explained model.

The explained network is never changed. :func:`lrp_copy` builds a copy of it that shares the
weights (``copy.deepcopy`` with every parameter and buffer kept as the same tensor) and in
which the attention, normalisation, activation, dense and convolution layers are replaced by
LRP-aware modules (:mod:`xaidesk.explain.lrp.attention_rules`, :mod:`xaidesk.explain.lrp.attention_families`).
No library class (``torch.nn``, timm, transformers, zennit) is patched, so LRP of other models
running in the same process is unaffected. One forward and one backward pass of the copy give
the input relevance as gradient × input, starting from the explained logit (so that
``extras["conservation"] = Σ R / f_t(x)`` is comparable with the other LRP methods).

Models whose layers the copy cannot cover (a CNN, an unknown attention layer, any layer
without a rule) are refused with a :class:`MethodError` that names the layer.
"""

from __future__ import annotations

import copy

import torch

from ...core import Explanation, MethodError, Param, Target, register_method
from ...core.registry import TAG_TRANSFORMERS
from ...models.base import LoadedModel
from ...models.inference import forward_logits
from ..common import channel_sum, check_target, detached_copy, gradients_enabled
from .attention_families import TORCH_ACTIVATIONS, TORCH_PASSIVE, Family, WindowAttention, known_families
from .attention_rules import ATTENTION_MODES, IdentityRule, LRPLayerNorm, LRPRMSNorm, RuledConv2d, RuledLinear

MODALITY = ("image", "audio")
METHOD = "lrp.attention"

_NO_RULE = ("use a gradient method (such as Input × gradient or Integrated gradients) or Occlusion "
            "for this model.")


class _Refusal(Exception):
    """A layer the copy cannot cover: its name and why."""

    def __init__(self, name: str, layer: torch.nn.Module, reason: str):
        super().__init__(reason)
        self.name, self.layer, self.reason = name, layer, reason


def _describe(name: str) -> str:
    return f"'{name}'" if name else "at the top level of the model"


def _overrides(layer: torch.nn.Module, base: type) -> bool:
    """Whether ``layer``'s class computes something else than ``base`` (its own forward)."""
    return type(layer).forward is not base.forward


def _own_parameters(layer: torch.nn.Module) -> list[str]:
    return [n for n, _ in layer.named_parameters(recurse=False)]


class _Rewriter:
    """Replaces the layers of a copy with their LRP-aware equivalents and records the rules."""

    def __init__(self, families: list[Family], *, gamma_conv, gamma_linear, epsilon, attention, projection_gamma):
        self.gamma_conv, self.gamma_linear, self.epsilon, self.mode = gamma_conv, gamma_linear, epsilon, attention
        self.projection_gamma = gamma_linear if projection_gamma is None else projection_gamma
        self.rules: dict[str, str] = {}
        self.attention_layers = 0
        self.attention = {cls: make for f in families for cls, make in f.attention.items()}
        self.passive = TORCH_PASSIVE + tuple(c for f in families for c in f.passive)
        self.activations = TORCH_ACTIVATIONS + tuple(c for f in families for c in f.activations)
        self.constants: dict[type, tuple[str, ...]] = {}
        for f in families:
            self.constants.update(f.constants)
        rms = tuple(c for f in families for c in f.norms if "rms" in c.__name__.lower())
        self.layer_norms = (torch.nn.LayerNorm,) + tuple(c for f in families for c in f.norms if c not in rms)
        self.rms_norms = ((torch.nn.RMSNorm,) if hasattr(torch.nn, "RMSNorm") else ()) + rms

    def linear(self, weight: torch.Tensor, bias: torch.Tensor | None) -> RuledLinear:
        """A query/key/value or output projection of an attention layer with its rule."""
        return RuledLinear(weight, bias, self.projection_gamma, self.epsilon)

    def _rule_name(self, gamma: float) -> str:
        return f"γ (γ={gamma:g}, ε={self.epsilon:g})" if gamma else f"ε (ε={self.epsilon:g})"

    def rewrite(self, root: torch.nn.Module) -> None:
        """Rewrite ``root`` in place; the root itself may be any wrapper without parameters of its own."""
        if type(root) in self.passive or type(root) in self.attention:
            replaced = self._replace("", root)
            if replaced is not None:
                raise _Refusal("", root, "the model is a single attention layer, not a classifier")
            return
        if _own_parameters(root):
            raise _Refusal("", root, "it holds parameters of its own that no AttnLRP rule covers")
        self._children(root, "")

    def _children(self, parent: torch.nn.Module, prefix: str) -> None:
        for child_name, child in list(parent.named_children()):
            name = f"{prefix}.{child_name}" if prefix else child_name
            replacement = self._replace(name, child)
            if replacement is not None:
                setattr(parent, child_name, replacement)

    def _replace(self, name: str, layer: torch.nn.Module) -> torch.nn.Module | None:
        kind = type(layer)
        if kind in self.attention:
            try:
                made = self.attention[kind](layer, self.linear, self.mode)
            except ValueError as error:
                raise _Refusal(name, layer, f"this attention layer uses {error}, which AttnLRP here does not cover")
            self.attention_layers += 1
            self.rules[name] = ("CP-LRP (attention weights constant)" if self.mode == "cp" else
                                "AttnLRP (softmax rule, uniform rule on Q·Kᵀ and A·V)")
            self.rules[name] += f"; projections {self._rule_name(self.projection_gamma)}"
            return made
        if isinstance(layer, torch.nn.Linear) and not _overrides(layer, torch.nn.Linear):
            self.rules[name] = self._rule_name(self.gamma_linear)
            return RuledLinear.of(layer, self.gamma_linear, self.epsilon)
        if isinstance(layer, torch.nn.Conv2d) and not _overrides(layer, torch.nn.Conv2d):
            try:
                made = RuledConv2d(layer, self.gamma_conv, self.epsilon)
            except ValueError as error:
                raise _Refusal(name, layer, f"the convolution uses {error}, which the rule here does not cover")
            self.rules[name] = self._rule_name(self.gamma_conv)
            return made
        if kind in self.layer_norms:
            self.rules[name] = "identity through the normalisation (standard deviation constant)"
            return LRPLayerNorm(layer)
        if kind in self.rms_norms:
            self.rules[name] = "identity through the normalisation (RMS constant)"
            return LRPRMSNorm(layer)
        if kind in self.activations:
            self.rules[name] = "identity"
            return IdentityRule(layer)
        if kind in self.passive:
            extra = [p for p in _own_parameters(layer) if p not in self.constants.get(kind, ())]
            if extra:
                raise _Refusal(name, layer, f"it holds parameters no AttnLRP rule covers ({', '.join(extra)})")
            self._children(layer, name)
            return None
        if "attention" in kind.__name__.lower():
            reason = "it is an attention layer of a kind AttnLRP here does not know"
        else:
            reason = ("its computation is none AttnLRP has a rule for (dense, convolution, normalisation, "
                      "element-wise activation or attention layers of a known vision transformer)")
        raise _Refusal(name, layer, reason)


def lrp_copy(
    module: torch.nn.Module,
    *,
    gamma_conv: float = 0.25,
    gamma_linear: float = 0.05,
    epsilon: float = 1e-6,
    attention: str = "attnlrp",
    projection_gamma: float | None = None,
) -> tuple[torch.nn.Module, dict]:
    """A copy of ``module`` that computes AttnLRP as gradient × input, and ``info`` about it.

    ``projection_gamma`` is the γ of the attention layers' query, key, value and output
    projections (default: ``gamma_linear``, like every other dense layer). LXT leaves these
    projections of torchvision's ``MultiheadAttention`` at LRP-0, since they are not modules
    there; ``projection_gamma=0`` reproduces that for comparisons.

    The copy shares the parameters and buffers of ``module`` (never written to) and is in
    eval mode. ``info`` holds ``family`` (titles of the recognised families), ``rules``
    (layer name -> rule) and ``attention_layers``. Raises :class:`MethodError` for a model
    that is not a known vision transformer or holds a layer no rule covers.
    """
    if attention not in ATTENTION_MODES:
        raise MethodError(f"Unknown attention rule '{attention}'; choose one of: {', '.join(ATTENTION_MODES)}.")
    if isinstance(module, torch.jit.ScriptModule) or not isinstance(module, torch.nn.Module):
        raise MethodError("LRP for transformers needs the model as a PyTorch nn.Module; this model is a "
                          "TorchScript file. Use a gradient method or occlusion instead.")
    families = known_families()
    present = [f for f in families if any(type(m) in f.attention for m in module.modules())]
    if not present:
        unknown = next(((n, m) for n, m in module.named_modules() if "attention" in type(m).__name__.lower()), None)
        if unknown is not None:
            raise MethodError(
                f"LRP for transformers has no rule for the attention layer {_describe(unknown[0])} "
                f"({type(unknown[1]).__name__}): it knows the attention of torchvision, timm and Hugging Face ViT "
                "and DeiT and of torchvision and Hugging Face Swin (V1 and V2). Use " + _NO_RULE.removeprefix("use "),
                details=f"Model class: {type(module).__module__}.{type(module).__name__}",
            )
        raise MethodError(_NOT_A_TRANSFORMER, details=f"Model class: {type(module).__module__}.{type(module).__name__}")
    shared = {id(t): t for t in (*module.parameters(), *module.buffers())}
    duplicate = copy.deepcopy(module, memo=shared)
    rewriter = _Rewriter(present, gamma_conv=gamma_conv, gamma_linear=gamma_linear, epsilon=epsilon,
                         attention=attention, projection_gamma=projection_gamma)
    try:
        rewriter.rewrite(duplicate)
    except _Refusal as refusal:
        raise MethodError(
            f"LRP for transformers has no rule for layer {_describe(refusal.name)} ({type(refusal.layer).__name__}): "
            f"{refusal.reason}. Use " + _NO_RULE.removeprefix("use "),
            details=f"Uncovered module: {refusal.name or '<root>'}: {refusal.layer!r}"[:2000],
        ) from None
    duplicate.eval()
    info = {"family": ", ".join(f.title for f in present), "rules": rewriter.rules,
            "attention_layers": rewriter.attention_layers}
    return duplicate, info


_NOT_A_TRANSFORMER = (
    "LRP for transformers explains vision transformers (torchvision, timm and Hugging Face ViT and DeiT, "
    "torchvision and Hugging Face Swin V1 and V2); this model has no attention layer. For a convolutional "
    "network use another LRP method, such as LRP (epsilon-plus-flat)."
)


def model_refusal(model) -> str | None:
    """Why ``lrp.attention`` cannot explain ``model`` at all (no attention layer), checked without copying it."""
    module = getattr(model, "module", None)
    if getattr(model, "gradient_refusal", None) or not isinstance(module, torch.nn.Module):
        return None  # said elsewhere (ONNX without a conversion, TorchScript)
    if isinstance(module, torch.jit.ScriptModule):
        return None
    families = known_families()
    for layer in module.modules():
        if any(type(layer) in f.attention for f in families) or "attention" in type(layer).__name__.lower():
            return None
    return _NOT_A_TRANSFORMER


def _copy_for(model: LoadedModel, params: dict) -> tuple[torch.nn.Module, dict]:
    if model.is_torchscript:
        raise MethodError("LRP for transformers needs the model as a PyTorch nn.Module; this model is a "
                          "TorchScript file. Use a gradient method or occlusion instead.")
    return lrp_copy(
        model.module,
        gamma_conv=float(params.get("gamma_conv", 0.25)),
        gamma_linear=float(params.get("gamma_linear", 0.05)),
        epsilon=float(params.get("epsilon", 1e-6)),
        attention=str(params.get("attention", "attnlrp")),
    )


def _propagate(model: LoadedModel, x: torch.Tensor, pick, params: dict, token, progress):
    """Forward and backward pass of the copy from the logits ``pick(logits)`` chooses (one class per input).

    Returns ``(logits (B, K), relevance (B, C, H, W), chosen classes, info)``. For window
    attention (Swin) ``info["position_bias_relevance"]`` holds, per input, the relevance its
    attention layers' position biases keep (0 with CP-LRP, where they are inside the constant weights).
    """
    duplicate, info = _copy_for(model, params)
    windows = [m for m in duplicate.modules() if isinstance(m, WindowAttention)]
    leaves: list[torch.Tensor] = []
    for layer in windows:
        layer.position_bias_leaves = leaves
    x = detached_copy(x).requires_grad_(True)
    with gradients_enabled():
        logits = forward_logits(duplicate, x, model.name)
        chosen = pick(logits.detach())
        if progress is not None:
            progress(0.5, "Propagating relevance")
        if token is not None:
            token.check()
        rows = torch.arange(logits.shape[0], device=logits.device)
        picked = logits[rows, torch.as_tensor(chosen, device=logits.device)]
        # The samples do not mix: one pass explains all.
        gradient, *kept = torch.autograd.grad(picked.sum(), [x, *leaves], allow_unused=True)
    relevance = (x.detach() * gradient).detach()
    if windows:
        per_input = torch.zeros(x.shape[0], dtype=torch.float64)
        for leaf, g in zip(leaves, kept):  # (B · windows, heads, n, n) in batch-major order
            if g is not None:
                per_input += (leaf.detach() * g).reshape(x.shape[0], -1).sum(1).double().cpu()
        info["position_bias_relevance"] = per_input.tolist()
    if not bool(torch.isfinite(relevance).all()):
        raise MethodError(
            "LRP for transformers produced invalid relevance (NaN or infinity) for this input. Try a larger "
            "stabiliser (ε) or CP-LRP; if it persists use a gradient method."
        )
    return logits.detach(), relevance, chosen, info


def attnlrp_attribution(
    model: LoadedModel,
    x: torch.Tensor,
    target: int,
    params: dict,
    *,
    token=None,
    progress=None,
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """``(logits, input relevance (1, C, H, W), info)`` of AttnLRP for one input."""

    def pick(logits):
        check_target(target, logits.shape[1])
        return [int(target)] * logits.shape[0]

    logits, relevance, _, info = _propagate(model, x, pick, params, token, progress)
    return logits, relevance, info


def attnlrp_attribution_batch(
    model: LoadedModel,
    x: torch.Tensor,
    targets,
    params: dict,
    *,
    token=None,
) -> tuple[torch.Tensor, torch.Tensor, list[int], dict]:
    """AttnLRP for a batch of independent inputs (B, C, H, W) in one forward and one backward pass.

    ``targets`` is one class per input, or ``None`` for each input's top class (from the same
    forward pass). Every rule acts within one sample (norms per token, attention within a
    picture's windows), so the relevance equals :func:`attnlrp_attribution` on each input
    alone, up to float rounding. Returns ``(logits (B, K), relevance (B, C, H, W), targets, info)``.
    """

    def pick(logits):
        chosen = logits.argmax(1).tolist() if targets is None else [int(t) for t in targets]
        if len(chosen) != logits.shape[0]:
            raise MethodError(f"{len(chosen)} targets were given for a batch of {logits.shape[0]} inputs.")
        for t in chosen:
            check_target(t, logits.shape[1])
        return chosen

    return _propagate(model, x, pick, params, token, None)


def _explanation(model, target: int, logit: float, relevance: torch.Tensor, params: dict, info: dict,
                 index: int = 0) -> Explanation:
    """The Explanation of input ``index``'s relevance (C, H, W)."""
    total = float(relevance.sum())
    extras = {
        "composite": "cp-lrp" if params.get("attention") == "cp" else "attnlrp",
        "canonizers": [],
        "family": info["family"],
        "rules": dict(info["rules"]),
        "relevance_sum": total,
        "logit": logit,
        "conservation": total / logit if logit != 0 else float("nan"),
        "initial_relevance": "target logit",
    }
    if "position_bias_relevance" in info:
        extras["position_bias_relevance"] = float(info["position_bias_relevance"][index])
    return Explanation(
        relevance=channel_sum(relevance[None]),
        method=METHOD,
        target=Target(int(target), model.label(int(target))),
        score=logit,
        params=dict(params),
        extras=extras,
    )


def run_attnlrp_batch(model, x: torch.Tensor, targets, *, params: dict, token) -> list[Explanation]:
    """``lrp.attention`` for a batch (B, C, H, W): one :class:`Explanation` per input, as the per-input method."""
    token.check()
    logits, relevance, chosen, info = attnlrp_attribution_batch(model, x, targets, params, token=token)
    logits, relevance = logits.float().cpu(), relevance.cpu()
    return [_explanation(model, t, float(logits[i, t]), relevance[i], params, info, i) for i, t in enumerate(chosen)]


@register_method(
    METHOD,
    tags=[TAG_TRANSFORMERS], order=4,
    modality=MODALITY,
    refusal=model_refusal,
    params=[
        Param(
            "attention", "choice", "attnlrp",
            "How relevance passes the attention layers: AttnLRP through the attention weights and the values, "
            "CP-LRP through the values only (the attention weights held constant).",
            choices=ATTENTION_MODES, label="rule for attention",
            choice_titles={"attnlrp": "AttnLRP (softmax and uniform rules)",
                           "cp": "CP-LRP (attention weights held constant)"},
        ),
        Param(
            "gamma_conv", "float", 0.25,
            "How much the patch-embedding convolution favours supporting evidence; 0 gives the ε rule.",
            minimum=0.0, maximum=100.0, label="γ of convolutions",
        ),
        Param(
            "gamma_linear", "float", 0.05,
            "How much the dense layers favour supporting evidence; 0 gives the ε rule, larger values smoother maps.",
            minimum=0.0, maximum=100.0, label="γ of dense layers",
        ),
        Param(
            "epsilon", "float", 1e-6,
            "A small number that keeps the rules of the dense and convolution layers stable.",
            minimum=0.0, maximum=100.0, label="stabiliser (ε)",
        ),
    ],
    title="LRP for transformers (AttnLRP)",
    help="Traces the prediction of a vision transformer (ViT, DeiT, Swin) back to the pixels, with rules made "
    "for attention, layer norms and GELU; shows evidence for and against the class.",
    needs_module=True,
)
def attention_lrp(model, x, target, *, params, token, progress) -> Explanation:
    """AttnLRP for vision transformers: softmax and uniform rules in attention, identity in norms and activations."""
    token.check()
    progress(0.0, "Computing LRP for transformers")
    logits, relevance, info = attnlrp_attribution(model, x, target, params, token=token, progress=progress)
    return _explanation(model, target, float(logits[0, int(target)]), relevance[0], params, info)


#: The batched path of ``lrp.attention`` (``xaidesk.runs.compute.batched_function`` looks methods up in such tables):
#: ``name -> function(model, x (B, C, H, W), targets or None, *, params, token) -> [Explanation]``.
BATCHED_METHODS = {METHOD: run_attnlrp_batch}


__all__ = ["BATCHED_METHODS", "attnlrp_attribution", "attnlrp_attribution_batch", "lrp_copy",
           "run_attnlrp_batch"]
