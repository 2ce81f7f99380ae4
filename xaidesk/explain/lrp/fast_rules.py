"""Faster zennit rules for the CNN LRP methods: the same relevance with less work per layer.

:func:`accelerate` switches the hooks of a zennit composite to subclasses ``Fast<Rule>`` of
zennit's rule classes (mixing in :class:`_SkipZeroTerms`); :func:`skip_replaced_backward`
attaches :class:`_Bridge` to the ruled layers. What each saves, and what it relies on in
zennit, is in docs/lrp-cnn-rules.md ("zennit coupling and porting to zennit 1.x").

- Terms of z+, gamma and alpha-beta whose input is all zeros (the negative part of a ReLU's
  output) and whose bias is zeroed contribute nothing and are skipped.
- On layers of exactly ``torch.nn.Conv1d/2d/3d`` (zero padding given as numbers) or
  ``torch.nn.Linear``, a rule's modified forward and its transposed pass are computed
  directly (``F.conv*d`` and ``aten.convolution_backward`` / a matrix product) instead of
  building a graph and calling ``torch.autograd.grad``; the modified parameters are computed
  once per layer and call, without swapping ``Parameter`` objects in and out of the layer.
- z+ with its only kept term on a non-negative input has a non-negative output, so zennit's
  stabiliser reduces to ``z + stabiliser`` and the reducer to ``x * gradient`` (bit for bit).
- Epsilon on a layer whose parameters it does not modify, and Norm on zennit's ``Sum``, reuse
  the layer output of the forward pass instead of recomputing it.
- :func:`register_lean` leaves zennit's ``Pass`` hook off where the run passes the relevance on
  unchanged without it: a batch norm merged into an exact identity, and ReLU, SiLU, GELU and
  their kin (run for the call as :class:`_PassedActivation`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from zennit.core import BasicHook, Composite, ParamMod, Stabilizer, zero_wrap
from zennit.layer import Sum
from zennit.rules import AlphaBeta, Epsilon, Flat, Gamma, Norm, Pass, WSquare, ZBox, ZPlus

from .canonizers import merged_into_identity

__all__ = ["accelerate", "register_lean", "skip_replaced_backward"]

_CONVOLUTIONS = {torch.nn.Conv1d: F.conv1d, torch.nn.Conv2d: F.conv2d, torch.nn.Conv3d: F.conv3d}


class _DirectLayer:
    """The forward and the input gradient of one exact ``Conv*d`` or ``Linear`` with given parameters."""

    def __init__(self, module: torch.nn.Module):
        self.module = module
        self.convolution = _CONVOLUTIONS.get(type(module))

    @staticmethod
    def of(module: torch.nn.Module) -> _DirectLayer | None:
        kind = type(module)
        if kind is torch.nn.Linear:
            return _DirectLayer(module)
        if kind in _CONVOLUTIONS and module.padding_mode == "zeros" and not isinstance(module.padding, str):
            return _DirectLayer(module)
        return None

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        m = self.module
        if self.convolution is None:
            return F.linear(x, weight, bias)
        return self.convolution(x, weight, bias, m.stride, m.padding, m.dilation, m.groups)

    def input_gradient(self, grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        m = self.module
        if self.convolution is None:
            return grad.matmul(weight)
        return torch.ops.aten.convolution_backward(
            grad, x, weight, None, m.stride, m.padding, m.dilation, False, [0] * len(m.stride), m.groups,
            [True, False, False],
        )[0]


def _modified_parameters(param_mod: ParamMod, module: torch.nn.Module):
    """``(weight, bias)`` as ``param_mod`` would set them, or ``None`` where that cannot be said
    without entering the modifier (parameters other than weight and bias, a key list)."""
    names = [name for name, _ in module.named_parameters(recurse=False)]
    if param_mod.param_keys is not None or not set(names) <= {"weight", "bias"}:
        return None
    modifier = zero_wrap(param_mod.zero_params or [])(param_mod.modifier)
    bias = module.bias
    return (
        modifier(module.weight.data, "weight"),
        None if bias is None else modifier(bias.data, "bias"),
    )


def _drops_bias(param_mod: ParamMod) -> bool:
    zero = param_mod.zero_params or []
    return zero == "bias" or (not isinstance(zero, str) and "bias" in zero)


def _plain_stabilizer(rule) -> float | None:
    """The ε of a rule whose stabiliser is zennit's default ``Stabilizer`` (else ``None``)."""
    for cell in getattr(rule.gradient_mapper, "__closure__", None) or ():
        value = cell.cell_contents
        if type(value) is Stabilizer and not value.clip and not value.norm_scale:
            return float(value.epsilon)
    return None


class _SkipZeroTerms:
    """Mixin for zennit's BasicHook rules: the same relevance with less work (see the module doc).

    Rules such as z+, gamma and alpha-beta split the layer input into its positive and negative
    parts and run one extra forward and backward pass per part. Behind a ReLU (or max pooling
    of ReLUs) the negative part is all zeros, and so -- when the term also drops the bias -- is
    its output and its contribution. Skipping those terms gives the same relevance with one
    forward and one backward pass less per layer.
    """

    #: Read by :func:`~xaidesk.explain.lrp.coverage.check_coverage`, which names the rule without "Fast".
    skips_zero_terms = True

    def forward(self, module, input, output):
        self.stored_tensors["input"] = input
        if _reuses_output(self, module) and isinstance(output, torch.Tensor):
            # a copy: an in-place activation after the layer would change the output itself
            self.stored_tensors["output"] = output.detach().clone()

    def backward(self, module, grad_input, grad_output):
        original = self.stored_tensors["input"][0]
        grad = grad_output[0]
        if not grad.requires_grad:
            stored = self.stored_tensors.get("output")
            if stored is not None:
                return self._from_output(module, original, stored, grad, grad_input)
            direct = _DirectLayer.of(module)
            if direct is not None:
                relevance = self._direct(module, direct, original, grad)
                if relevance is not None:
                    return tuple(relevance if g.shape == relevance.shape else None for g in grad_input)
        return self._through_autograd(module, original, grad, grad_input)

    def _from_output(self, module, original, output, grad, grad_input):
        """Epsilon (unmodified parameters) and Norm on ``Sum``: the stored forward output is ``z``."""
        scaled = self.gradient_mapper(grad, [output])
        if isinstance(module, Sum):
            gradient = scaled.unsqueeze(module.dim).expand_as(original)
        else:
            gradient = _DirectLayer.of(module).input_gradient(scaled, original, module.weight.data)
        relevance = self.reducer([original], [gradient])
        return tuple(relevance if g.shape == relevance.shape else None for g in grad_input)

    def _direct(self, module, direct: _DirectLayer, original, grad):
        """The rule on an exact Conv*d/Linear without autograd; ``None`` where a modifier is not plain."""
        mods = [ParamMod.ensure(p) for p in self.param_modifiers]
        if isinstance(self, ZPlus):
            fast = self._zplus(module, direct, original, grad, mods)
            if fast is not None:
                return fast
        has_bias = getattr(module, "bias", None) is not None
        terms = []
        for in_mod, param_mod, out_mod in zip(self.input_modifiers, mods, self.output_modifiers):
            inp = in_mod(original)
            if (not has_bias or _drops_bias(param_mod)) and not bool(inp.any()):
                terms.append(None)
                continue
            params = _modified_parameters(param_mod, module)
            if params is None:
                return None
            terms.append((inp, params[0], out_mod(direct.forward(inp, *params))))
        kept = [t for t in terms if t is not None]
        reference = kept[0][2]
        outputs = [t[2] if t is not None else torch.zeros_like(reference) for t in terms]
        grad_outputs = _as_list(self.gradient_mapper(grad, outputs))
        zeros = torch.zeros_like(original)
        inputs, gradients = [], []
        for term, scaled in zip(terms, grad_outputs):
            if term is None:
                inputs.append(zeros)
                gradients.append(zeros)
            else:
                inputs.append(term[0])
                gradients.append(direct.input_gradient(scaled, term[0], term[1]))
        return self.reducer(inputs, gradients)

    def _zplus(self, module, direct, original, grad, mods):
        """z+ behind a non-negative input: ``x * W+^T (R / (W+ x + b+ + ε))``, zennit's result bit for bit."""
        epsilon = _plain_stabilizer(self)
        if epsilon is None or not (module.bias is None or _drops_bias(mods[1])) or original.numel() == 0:
            return None
        if not bool(original.min() >= 0):
            return None
        params = _modified_parameters(mods[0], module)
        if params is None:
            return None
        z = direct.forward(original, *params)
        # z >= 0, so zennit's ``z + (sign(z) + (z == 0)) * ε`` is ``z + ε``; the skipped term adds exact zeros
        scaled = torch.div(grad, z.add_(epsilon), out=z)
        return direct.input_gradient(scaled, original, params[0]).mul_(original)

    def _through_autograd(self, module, original, grad, grad_input):
        """zennit's ``BasicHook.backward`` with the zero terms skipped (any layer type)."""
        has_bias = getattr(module, "bias", None) is not None
        inputs: list = []
        outputs: list = []
        for in_mod, param_mod, out_mod in zip(self.input_modifiers, self.param_modifiers, self.output_modifiers):
            param_mod = ParamMod.ensure(param_mod)
            inp = in_mod(original)
            if (not has_bias or _drops_bias(param_mod)) and not bool(inp.any()):
                inputs.append(None)
                outputs.append(None)
                continue
            inp = (inp.clone() if inp is original else inp).detach().requires_grad_()
            with param_mod(module) as modified, torch.autograd.enable_grad():
                outputs.append(out_mod(modified.forward(inp)))
            inputs.append(inp)
        kept = [i for i, out in enumerate(outputs) if out is not None]
        reference = outputs[kept[0]]
        full_outputs = [out if out is not None else torch.zeros_like(reference) for out in outputs]
        grad_outputs = _as_list(self.gradient_mapper(grad, full_outputs))
        gradients = torch.autograd.grad(
            [outputs[i] for i in kept], [inputs[i] for i in kept],
            grad_outputs=[grad_outputs[i] for i in kept], create_graph=grad.requires_grad,
        )
        zeros = torch.zeros_like(original)
        full_inputs, full_gradients = [zeros] * len(outputs), [zeros] * len(outputs)
        for i, gradient in zip(kept, gradients):
            full_inputs[i], full_gradients[i] = inputs[i], gradient
        relevance = self.reducer(full_inputs, full_gradients)
        return tuple(relevance if g.shape == relevance.shape else None for g in grad_input)


def _as_list(grad_outputs) -> list:
    """zennit's mappers return one tensor (single-term rules) or a list; ``autograd.grad`` takes both."""
    return [grad_outputs] if isinstance(grad_outputs, torch.Tensor) else list(grad_outputs)


def _reuses_output(rule, module) -> bool:
    """Epsilon with unmodified parameters on an exact Linear/Conv*d, or Norm on zennit's ``Sum``."""
    if isinstance(rule, Norm):
        return type(module) is Sum
    if isinstance(rule, Epsilon) and _DirectLayer.of(module) is not None:
        mod = ParamMod.ensure(rule.param_modifiers[0])
        return not mod.zero_params and mod.param_keys is None and mod.modifier(module.weight, "weight") is module.weight
    return False


#: zennit rules switched to their fast subclass (same relevance; see the module doc).
FAST_RULES = (ZPlus, Gamma, AlphaBeta, Epsilon, Norm, Flat, WSquare, ZBox)

_FAST_CLASSES: dict[type, type] = {}


def accelerate(composite: Composite) -> Composite:
    """Switch the rules of ``composite`` listed in :data:`FAST_RULES` to ``Fast<Rule>`` (same result)."""
    for mapping in (getattr(composite, "layer_map", []), getattr(composite, "first_map", [])):
        for _, hook in mapping:
            cls = type(hook)
            if isinstance(hook, FAST_RULES) and isinstance(hook, BasicHook) and not isinstance(hook, _SkipZeroTerms):
                if cls not in _FAST_CLASSES:
                    _FAST_CLASSES[cls] = type(f"Fast{cls.__name__}", (_SkipZeroTerms, cls), {})
                hook.__class__ = _FAST_CLASSES[cls]
    return composite


class _Bridge(torch.autograd.Function):
    """Forward: the layer's output. Backward: zeros for the layer's input.

    zennit replaces the gradient arriving at a ruled layer's input with the rule's relevance, so
    the layer's own backward pass is computed and thrown away. Routing the output through this
    bridge skips that wasted backward pass; the zeros are one zero expanded to the input's shape
    (no memory is filled).
    """

    @staticmethod
    def forward(ctx, inp, out):
        ctx.input_shape = inp.shape
        return out.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad.new_zeros(()).expand(ctx.input_shape), None


def _bridge_output(module, inputs, output):
    if (
        torch.is_grad_enabled()
        and len(inputs) == 1
        and isinstance(inputs[0], torch.Tensor)
        and inputs[0].requires_grad
        and isinstance(output, torch.Tensor)
    ):
        return _Bridge.apply(inputs[0], output.detach())
    return None


class _BridgedLayer(torch.autograd.Function):
    """:class:`_Bridge` for an exact Conv*d/Linear that computes the layer itself: no graph of the
    layer's own forward is built and its output needs no copy."""

    @staticmethod
    def forward(ctx, inp, layer):
        ctx.input_shape = inp.shape
        module = layer.module
        return layer.forward(inp, module.weight, module.bias)

    @staticmethod
    def backward(ctx, grad):
        return grad.new_zeros(()).expand(ctx.input_shape), None


class _BridgedForward:
    """The forward set on an exact Conv*d/Linear for one run: bridged while the layer holds the
    weight it had when attached (a rule that swaps in modified parameters gets the plain forward)."""

    def __init__(self, module: torch.nn.Module, layer: _DirectLayer):
        self.module = module
        self.layer = layer
        self.weight = module.weight

    def __call__(self, inp):
        module = self.module
        if (torch.is_grad_enabled() and isinstance(inp, torch.Tensor) and inp.requires_grad
                and module.weight is self.weight):
            return _BridgedLayer.apply(inp, self.layer)
        return self.layer.forward(inp, module.weight, module.bias)

    def remove(self) -> None:
        if self.module.__dict__.get("forward") is self:
            del self.module.forward


def skip_replaced_backward(module: torch.nn.Module, composite: Composite) -> list:
    """Attach :class:`_Bridge` to every layer whose input gradient a zennit rule replaces (exact
    Conv*d/Linear layers get :class:`_BridgedForward` instead); returns handles with ``remove()``."""
    handles = []
    ctx: dict = {}
    for name, child in module.named_modules():
        if isinstance(composite.module_map(ctx, name, child), BasicHook):
            layer = _DirectLayer.of(child)
            if layer is not None and "forward" not in child.__dict__:
                child.forward = _BridgedForward(child, layer)
                handles.append(child.forward)
            else:
                handles.append(child.register_forward_hook(_bridge_output, prepend=True))
    return handles


class _PassThrough(torch.autograd.Function):
    """Forward: the activation's value. Backward: the relevance unchanged (zennit's ``Pass`` rule)."""

    @staticmethod
    def forward(ctx, x, passed):
        return passed.function(passed.module, x)

    @staticmethod
    def backward(ctx, relevance):
        return relevance, None


#: Activations run out of place by :class:`_PassedActivation` (exact classes: a subclass may compute otherwise).
_OUT_OF_PLACE = {
    torch.nn.ReLU: lambda module, x: torch.relu(x),
    torch.nn.ReLU6: lambda module, x: F.hardtanh(x, 0.0, 6.0),
    torch.nn.LeakyReLU: lambda module, x: F.leaky_relu(x, module.negative_slope),
    torch.nn.SiLU: lambda module, x: F.silu(x),
    torch.nn.Hardswish: lambda module, x: F.hardswish(x),
    torch.nn.GELU: lambda module, x: F.gelu(x, approximate=module.approximate),
}


class _PassedActivation:
    """The forward set on an activation of :data:`_OUT_OF_PLACE` for one run in place of zennit's
    ``Pass`` hook: the same relevance without the hook's copy of the input, its two autograd hooks
    and the activation's own backward pass. Out of place, like the copy the hook makes, so an
    in-place activation leaves its input alone."""

    def __init__(self, module: torch.nn.Module):
        self.module = module
        self.function = _OUT_OF_PLACE[type(module)]

    def __call__(self, inp):
        if torch.is_grad_enabled() and isinstance(inp, torch.Tensor) and inp.requires_grad:
            return _PassThrough.apply(inp, self)
        return self.function(self.module, inp)

    def remove(self) -> None:
        if self.module.__dict__.get("forward") is self:
            del self.module.forward


def register_lean(composite: Composite, module: torch.nn.Module, handles: list) -> None:
    """``composite.register(module)`` without the ``Pass`` hooks whose effect the run has anyway.

    A batch norm merged into an exact identity returns a copy of its input, so the relevance passes
    it unchanged with no hook; an activation of :data:`_OUT_OF_PLACE` gets :class:`_PassedActivation`
    for the run. Their removers are appended to ``handles`` as they are made, so they are removed
    also when registering fails midway.
    """
    own = composite.__dict__.get("module_map")  # zennit composites keep their map as an attribute
    rule_for = composite.module_map

    def module_map(ctx, name, child):
        template = rule_for(ctx, name, child)
        if type(template) is not Pass:
            return template
        if merged_into_identity(child):
            return None
        if type(child) in _OUT_OF_PLACE and "forward" not in child.__dict__:
            child.forward = _PassedActivation(child)
            handles.append(child.forward)
            return None
        return template

    composite.module_map = module_map
    try:
        composite.register(module)
    finally:
        if own is None:
            del composite.module_map
        else:
            composite.module_map = own
