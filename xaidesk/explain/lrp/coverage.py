"""Whether the CNN LRP rules cover a model: checked before anything is attached to it.

:func:`check_coverage` refuses a model with a layer no rule covers (naming the layer and why),
a transformer (explained by ``lrp.attention`` instead) or a library block LRP was not checked on;
:func:`model_refusal` says the same in one sentence before a run, for the method pickers.
"""

from __future__ import annotations

import torch
from zennit.canonizers import MergeBatchNorm
from zennit.core import Composite
from zennit.types import BatchNorm

from ...core import MethodError
from ...models.base import LoadedModel
from .canonizers import covered_by_canonizers, unchecked_library_module

# Layers LRP has no rule for even though they have no parameters (or that zennit would wrongly
# treat as element-wise): normalisations over features, softmax, attention and recurrent layers.
_UNSUPPORTED = (
    torch.nn.LayerNorm,
    torch.nn.GroupNorm,
    torch.nn.InstanceNorm1d,
    torch.nn.InstanceNorm2d,
    torch.nn.InstanceNorm3d,
    torch.nn.LocalResponseNorm,
    torch.nn.Softmax,
    torch.nn.Softmax2d,
    torch.nn.LogSoftmax,
    torch.nn.Softmin,
    torch.nn.MultiheadAttention,
    torch.nn.RNNBase,
)


# --- coverage ---------------------------------------------------------------------------------


def _describe(name: str) -> str:
    return f"'{name}'" if name else "at the top level of the model"


GRADIENT_METHODS = "Sensitivity, Input × gradient, Integrated gradients or SmoothGrad"


def _reason(child: torch.nn.Module) -> str:
    """Why LRP has no rule for ``child`` (a layer :func:`check_coverage` refuses)."""
    if isinstance(child, (torch.nn.Softmax, torch.nn.Softmax2d, torch.nn.LogSoftmax, torch.nn.Softmin)):
        return "a softmax couples all its inputs and has no relevance-conserving rule here"
    if isinstance(child, torch.nn.LayerNorm):
        return ("layer norm has a rule here only inside ConvNeXt blocks; in transformers it is explained "
                "by LRP for transformers (AttnLRP)")
    if isinstance(child, (torch.nn.GroupNorm, torch.nn.InstanceNorm1d, torch.nn.InstanceNorm2d,
                          torch.nn.InstanceNorm3d, torch.nn.LocalResponseNorm)):
        return "normalising over features or positions couples its inputs, and no rule for it was checked"
    if isinstance(child, torch.nn.RNNBase):
        return "recurrent layers are not covered by these rules"
    return "it has parameters of its own in a layer type the LRP rules do not know (a custom layer?)"


def _transformer_part(module: torch.nn.Module) -> tuple[str, torch.nn.Module] | None:
    """The first attention layer or transformer block in ``module``, if any."""
    for name, child in module.named_modules():
        kind = type(child).__name__
        if isinstance(child, torch.nn.MultiheadAttention) or "Attention" in kind or "Transformer" in kind:
            return name, child
    return None


def check_coverage(module: torch.nn.Module, composite: Composite) -> dict[str, str]:
    """Check that every layer that needs a rule gets one; return ``{layer name: rule name}``.

    A layer needs a rule when it has parameters of its own (unless a canonizer of ``composite``
    rewrites it, as ConvNeXt's layer scale), or when it is a known non-linear layer LRP cannot
    pass relevance through (layer norm without a rule, softmax, attention, recurrent layers).
    Transformers are refused as a whole, pointing to ``lrp.attention``; so is any timm, onnx2torch or
    Hugging Face block whose class LRP was not checked on
    (:func:`~xaidesk.explain.lrp.canonizers.unchecked_library_module`).
    Raises :class:`MethodError` naming the first uncovered layer and why.
    """
    transformer = _transformer_part(module)
    if transformer is not None:
        name, child = transformer
        raise MethodError(
            f"This model is a transformer (it has {type(child).__name__} "
            f"{f'at {name!r}' if name else 'at the top level'}); these LRP "
            "rules are made for CNNs. Use LRP for transformers (AttnLRP), or a "
            f"gradient method ({GRADIENT_METHODS}).",
            details=f"Attention module: {name or '<root>'}: {type(child).__name__}",
        )
    unchecked = unchecked_library_module(module)
    if unchecked is not None:
        name, child = unchecked
        raise MethodError(
            f"{_unchecked_sentence(module, name, child)} LRP would get the relevance wrong without any warning; "
            f"the blocks LRP was checked on are listed in docs/lrp-cnn-rules.md. Use a gradient method "
            f"({GRADIENT_METHODS}) or occlusion for this model.",
            details=f"Unchecked module: {name or '<root>'}: {type(child).__module__}.{type(child).__qualname__}",
        )
    canonizers = list(getattr(composite, "canonizers", None) or [])
    ctx: dict = {}
    rules: dict[str, str] = {}
    for name, child in module.named_modules():
        hook = composite.module_map(ctx, name, child)
        unsupported = isinstance(child, _UNSUPPORTED) and hook is None
        has_params = any(True for _ in child.parameters(recurse=False))
        canonized = covered_by_canonizers(child, canonizers) if has_params and hook is None else None
        if unsupported or (hook is None and has_params and canonized is None):
            raise MethodError(
                f"LRP has no rule for layer {_describe(name)} ({type(child).__name__}): {_reason(child)}. "
                "LRP works on networks made of convolutions, dense layers, pooling, batch norm, "
                "ReLU-like activations and the CNN blocks listed in docs/lrp-cnn-rules.md; "
                f"use a gradient method ({GRADIENT_METHODS}) or occlusion for this model.",
                details=f"Uncovered module: {name or '<root>'}: {child!r}",
            )
        if canonized is not None:
            rules[name] = f"constant factor ({canonized})"
        elif hook is not None and has_params:
            hook_name = type(hook).__name__
            rules[name] = hook_name.removeprefix("Fast") if getattr(hook, "skips_zero_terms", False) else hook_name
    return rules


def _unchecked_sentence(module: torch.nn.Module, name: str, child: torch.nn.Module) -> str:
    library = {"timm": "timm", "onnx2torch": "ONNX (onnx2torch)", "transformers": "Hugging Face"}.get(
        type(child).__module__.split(".")[0], "library")
    return (f"LRP has not been checked on this {type(module).__name__} model: its {library} block "
            f"{type(child).__name__} ({_describe(name)}) may add or multiply features inside its own code, "
            "where the LRP rules cannot see it.")


def model_refusal(model) -> str | None:
    """Why the LRP methods here cannot explain ``model`` at all, said before a run (``None`` when they may):
    a transformer, or a timm / onnx2torch / Hugging Face block LRP was not checked on."""
    module = getattr(model, "module", None)
    if getattr(model, "gradient_refusal", None) or not isinstance(module, torch.nn.Module):
        return None  # said elsewhere (ONNX without a conversion)
    if getattr(model, "is_torchscript", False) or isinstance(module, torch.jit.ScriptModule):
        return None
    if _transformer_part(module) is not None:
        return ("This model is a transformer; these LRP rules are made for CNNs: use LRP for transformers "
                "(AttnLRP), a gradient method or occlusion.")
    unchecked = unchecked_library_module(module)
    if unchecked is not None:
        return f"{_unchecked_sentence(module, *unchecked)} Use a gradient method or occlusion."
    return None


def unmerged_batch_norms(module: torch.nn.Module, composite: Composite) -> list[str]:
    """Names of batch norms no canonizer merged (LRP then passes relevance through them unchanged)."""
    merged = {id(h.batch_norm) for h in composite.handles if isinstance(h, MergeBatchNorm)}
    return [name for name, m in module.named_modules() if isinstance(m, BatchNorm) and id(m) not in merged]


def guard_module(model: LoadedModel) -> torch.nn.Module:
    module = model.module
    if model.is_torchscript or isinstance(module, torch.jit.ScriptModule) or not isinstance(module, torch.nn.Module):
        raise MethodError(
            "LRP needs the model as a PyTorch nn.Module so it can attach its rules to each layer; "
            "this model is a TorchScript file. Use a gradient method or occlusion instead."
        )
    return module

