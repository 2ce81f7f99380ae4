"""Canonizers that make modern CNN blocks explainable with LRP (torchvision and timm).

A canonizer changes *how* a block computes, never *what* it computes, for the duration of one
LRP run: it swaps the forward method of one module instance (and adds helper modules to it),
and :meth:`remove` deletes the swapped attributes again (zennit's :class:`AttributeCanonizer`
pattern). Nothing is patched class-wide.

Three kinds of change are made:

* **Residual sums made explicit.** ``x + block(x)`` written as a plain ``+`` is invisible to
  LRP: the backward pass copies the full relevance into *both* summands, so a residual block
  doubles the relevance that passes through it. The canonized block stacks the two summands
  and adds them with zennit's :class:`~zennit.layer.Sum` module, which gets zennit's ``Norm``
  rule (relevance split in proportion to each summand's contribution, conserved).
* **Gates treated as constants.** Squeeze-and-excitation (``x * gate(x)``) and ConvNeXt's layer
  scale (``gamma * x``) multiply features element-wise by a factor. :func:`constant_factor`
  computes the same product but passes relevance to the gated features unchanged and none to
  the factor (for a fixed factor, ``x*s / (x*s) * R = R``).
* **Global average pooling as a module.** DenseNet, ShuffleNet v2, MobileNet v2 and MNASNet pool with a
  function call, whose gradient spreads relevance evenly over the positions. The canonized
  model pools with an ``AdaptiveAvgPool2d`` module, which gets zennit's ``Norm`` rule
  (relevance in proportion to each position's activation).

:func:`canonizers_for` picks the canonizers from the module types found in a model. Graphs
converted from ONNX get the same three changes through :class:`OnnxBinaryCanonizer` and the
pooling rewrite. :func:`unchecked_library_module` finds timm, onnx2torch and Hugging Face modules
whose class is neither rewritten here nor known to be plain: LRP refuses those models.
"""

from __future__ import annotations

import functools
import importlib

import torch
from zennit import canonizers as zennit_canonizers
from zennit.canonizers import AttributeCanonizer, CompositeCanonizer, MergeBatchNorm
from zennit.core import collect_leaves
from zennit.layer import Sum

__all__ = [
    "ConstantFactorCanonizer", "DenseNetMergeBatchNorm", "GlobalPoolCanonizer", "InputTransformCanonizer",
    "ONNX_ACTIVATIONS", "OnnxBinaryCanonizer", "ResNetCanonizer", "ResidualSumCanonizer", "SequentialMergeBatchNorm",
    "TIMM_ACTIVATIONS", "TimmMergeBatchNorm", "canonizers_for", "constant_factor", "covered_by_canonizers",
    "family_of", "relevance_to", "unchecked_library_module",
]


# --- batch norms merged exactly -----------------------------------------------------------------------


def _merge_exactly(modules, batch_norm):
    """zennit's merge, with the emptied batch norm an exact identity.

    zennit resets the norm to mean 0, variance 1, which still divides by ``sqrt(1 + eps)``: the
    canonized model's logits are off by about ``eps / 2`` per merged norm (0.05 % per layer
    with torchvision MobileNet's ``eps = 1e-3``). A variance of ``1 - eps`` makes it exact.
    """
    MergeBatchNorm.merge_batch_norm(modules, batch_norm)
    batch_norm.running_var.data = torch.full_like(batch_norm.running_var.data, 1.0 - batch_norm.eps)


class SequentialMergeBatchNorm(zennit_canonizers.SequentialMergeBatchNorm):
    """zennit's SequentialMergeBatchNorm (merge every batch norm that follows a linear layer in
    module order) with the merged norm an exact identity (see :func:`_merge_exactly`)."""

    merge_batch_norm = staticmethod(_merge_exactly)


class ResNetCanonizer(CompositeCanonizer):
    """zennit's ResNetCanonizer (skip sums of torchvision ResNet blocks explicit) with exact merging."""

    def __init__(self):
        from zennit.torchvision import ResNetBasicBlockCanonizer, ResNetBottleneckCanonizer

        super().__init__((SequentialMergeBatchNorm(), ResNetBottleneckCanonizer(), ResNetBasicBlockCanonizer()))


# --- the constant factor ------------------------------------------------------------------------


class _IdentityRelevance(torch.autograd.Function):
    """Forward: ``value`` (``x`` gated, scaled or divided by a factor). Backward: the relevance to ``x``
    unchanged, none to the factor or the branch that computed it."""

    @staticmethod
    def forward(ctx, x, value):
        return value.clone()

    @staticmethod
    def backward(ctx, relevance):
        # zeros rather than None: LRP hooks on the factor's branch then receive zero relevance
        # (zennit's rules fail on a missing gradient)
        return relevance, torch.zeros_like(relevance)


def relevance_to(x: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``value`` (an element-wise gating or scaling of ``x``, same shape) whose LRP backward pass gives
    the relevance of ``value`` to ``x`` unchanged: the one mechanism behind every gate and constant
    factor here (torchvision and timm squeeze-and-excitation, layer scale, ONNX ``Mul``/``Div``)."""
    return _IdentityRelevance.apply(x, value)


def constant_factor(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``x * factor`` whose LRP backward pass treats ``factor`` as a constant.

    The relevance of the product goes to ``x`` unchanged; the factor (and the branch that
    computed it) gets none (for a fixed factor, ``x*s / (x*s) * R = R``). Falls back to the plain
    product when ``factor`` would enlarge ``x`` by broadcasting (then no element-wise identity exists).
    """
    if torch.broadcast_shapes(x.shape, factor.shape) != x.shape:
        return x * factor
    return relevance_to(x, x * factor)


def _summed(self, *terms: torch.Tensor) -> torch.Tensor:
    return self.canonizer_sum(torch.stack(terms, dim=-1))


# --- forwards of canonized torchvision blocks ------------------------------------------------------
# Each mirrors the block's own forward in torchvision 0.2x with the "+" replaced by a Sum module
# and element-wise products by constant_factor.


def _tv_mbconv_forward(self, input):  # torchvision MBConv, FusedMBConv, mobilenet_v3 InvertedResidual
    result = self.block(input)
    if self.use_res_connect:
        result = self.stochastic_depth(result) if hasattr(self, "stochastic_depth") else result
        result = _summed(self, input, result)
    return result


def _tv_mobilenet_v2_residual_forward(self, x):
    if self.use_res_connect:
        return _summed(self, x, self.conv(x))
    return self.conv(x)


def _tv_regnet_block_forward(self, x):
    shortcut = self.proj(x) if self.proj is not None else x
    return self.activation(_summed(self, shortcut, self.f(x)))


def _tv_convnext_block_forward(self, input):
    result = constant_factor(self.block(input), self.layer_scale)
    result = self.stochastic_depth(result)
    return _summed(self, input, result)


def _tv_squeeze_excitation_forward(self, input):
    return constant_factor(input, self._scale(input))


def _tv_densenet_forward(self, x):
    out = torch.nn.functional.relu(self.features(x))
    return self.classifier(torch.flatten(self.canonizer_pool(out), 1))


def _tv_shufflenet_forward(self, x):
    x = self.conv5(self.stage4(self.stage3(self.stage2(self.maxpool(self.conv1(x))))))
    return self.fc(torch.flatten(self.canonizer_pool(x), 1))


def _tv_mobilenet_v2_forward(self, x):
    return self.classifier(torch.flatten(self.canonizer_pool(self.features(x)), 1))


def _tv_mnasnet_residual_forward(self, input):
    if self.apply_residual:
        return _summed(self, input, self.layers(input))
    return self.layers(input)


def _tv_mnasnet_forward(self, x):
    return self.classifier(torch.flatten(self.canonizer_pool(self.layers(x)), 1))


def _tv_transform_input(self, x):
    """GoogLeNet / Inception v3 input re-normalisation, with relevance passed to the pixels unchanged.

    The re-normalisation is an element-wise affine map of each pixel; its value is kept, its
    backward pass is the identity (the relevance of a transformed pixel is that of the pixel).
    """
    return x + (type(self)._transform_input(self, x) - x).detach()


# --- forwards of canonized timm blocks ----------------------------------------------------------------


def _timm_efficientnet_residual_forward(self, x):
    """timm's InvertedResidual / DepthwiseSeparableConv / EdgeResidual with the skip as a Sum."""
    shortcut = x
    x = self.canonizer_body(x)
    if self.has_skip:
        x = _summed(self, shortcut, self.drop_path(x))
    return x


def _timm_gate_forward(self, x):
    """Any timm channel gate (``x * gate(x)``: SE, effective SE, ECA): its own forward, with the
    gate computed on a detached input and the relevance passed to ``x`` unchanged."""
    return relevance_to(x, type(self).forward(self, x.detach()))


def _timm_layer_scale_forward(self, x):
    gamma = self.gamma.view(1, -1, 1, 1) if x.dim() == 4 and type(self).__name__ == "LayerScale2d" else self.gamma
    return constant_factor(x, gamma)


def _timm_resnet_block_forward(self, x):
    shortcut = x
    x = self.canonizer_body(x)
    if self.downsample is not None:
        shortcut = self.downsample(shortcut)
    act = self.act3 if hasattr(self, "act3") else self.act2  # Bottleneck / BasicBlock
    return act(_summed(self, shortcut, x))


def _timm_convnext_block_forward(self, x):
    shortcut = x
    x = self.conv_dw(x)
    if self.use_conv_mlp:
        x = self.mlp(self.norm(x))
    else:
        x = self.mlp(self.norm(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
    if self.gamma is not None:
        x = constant_factor(x, self.gamma.reshape(1, -1, 1, 1))
    return _summed(self, self.shortcut(shortcut), self.drop_path(x))


# --- which class gets which forward ---------------------------------------------------------------


def _torchvision_forwards() -> dict[type, tuple[str, object]]:
    """``class -> (kind, forward)`` for the torchvision blocks handled here."""
    try:
        from torchvision.ops.misc import SqueezeExcitation
    except ImportError:  # torchvision is optional for LRP on hand-built models
        return {}
    # by module path: torchvision.models.googlenet is also the name of a function
    convnext, densenet, efficientnet, googlenet, inception, mnasnet, mobilenetv2, mobilenetv3, regnet, shufflenetv2 = (
        importlib.import_module(f"torchvision.models.{name}") for name in (
            "convnext", "densenet", "efficientnet", "googlenet", "inception", "mnasnet", "mobilenetv2", "mobilenetv3",
            "regnet", "shufflenetv2",
        )
    )
    return {
        efficientnet.MBConv: ("residual", _tv_mbconv_forward),
        efficientnet.FusedMBConv: ("residual", _tv_mbconv_forward),
        mobilenetv3.InvertedResidual: ("residual", _tv_mbconv_forward),
        mobilenetv2.InvertedResidual: ("residual", _tv_mobilenet_v2_residual_forward),
        regnet.ResBottleneckBlock: ("residual", _tv_regnet_block_forward),
        convnext.CNBlock: ("residual", _tv_convnext_block_forward),
        SqueezeExcitation: ("gate", _tv_squeeze_excitation_forward),
        densenet.DenseNet: ("pool", _tv_densenet_forward),
        shufflenetv2.ShuffleNetV2: ("pool", _tv_shufflenet_forward),
        mobilenetv2.MobileNetV2: ("pool", _tv_mobilenet_v2_forward),
        mnasnet._InvertedResidual: ("residual", _tv_mnasnet_residual_forward),
        mnasnet.MNASNet: ("pool", _tv_mnasnet_forward),
        googlenet.GoogLeNet: ("input", _tv_transform_input),
        inception.Inception3: ("input", _tv_transform_input),
    }


def _timm_forwards() -> dict[type, tuple[str, object]]:
    """``class -> (kind, forward)`` for the timm blocks handled here (empty without timm)."""
    try:
        from timm.models import _efficientnet_blocks as eff
        from timm.layers import LayerScale, LayerScale2d
        from timm.layers import eca, squeeze_excite
        from timm.models import convnext, resnet
    except ImportError:
        return {}
    return {
        eff.InvertedResidual: ("timm_residual", _timm_efficientnet_residual_forward),
        eff.DepthwiseSeparableConv: ("timm_residual", _timm_efficientnet_residual_forward),
        eff.EdgeResidual: ("timm_residual", _timm_efficientnet_residual_forward),
        eff.ConvBnAct: ("timm_residual", _timm_efficientnet_residual_forward),
        eff.UniversalInvertedResidual: ("timm_residual", _timm_efficientnet_residual_forward),
        LayerScale: ("gate", _timm_layer_scale_forward),
        LayerScale2d: ("gate", _timm_layer_scale_forward),
        eff.SqueezeExcite: ("gate", _timm_gate_forward),
        squeeze_excite.SEModule: ("gate", _timm_gate_forward),
        squeeze_excite.EffectiveSEModule: ("gate", _timm_gate_forward),
        squeeze_excite.SqueezeExcite: ("gate", _timm_gate_forward),
        eca.EcaModule: ("gate", _timm_gate_forward),
        eca.CecaModule: ("gate", _timm_gate_forward),
        resnet.BasicBlock: ("timm_resnet", _timm_resnet_block_forward),
        resnet.Bottleneck: ("timm_resnet", _timm_resnet_block_forward),
        convnext.ConvNeXtBlock: ("residual", _timm_convnext_block_forward),
    }


# --- graphs converted from ONNX by onnx2torch ---------------------------------------------------------


def _onnx_binary_forward(self, first, second):
    """onnx2torch's Add / Sub / Mul / Div with the LRP rule of what the operation does.

    An operand *tracks* the input when it requires a gradient during the LRP run (an activation);
    a weight, a constant or anything computed from constants does not. The decision therefore
    does not depend on the batch size. With two activations: ``Add`` of one shape is a residual
    sum (zennit's ``Sum`` module, LRP-0 split); ``Mul`` is a gate when one operand is smaller
    (squeeze-and-excitation, broadcast) or comes from a sigmoid node in the graph (SiLU exported
    as ``x * Sigmoid(x)``): the relevance goes to the other operand unchanged. With one activation,
    ``Mul`` and ``Div`` by a constant are a constant factor (relevance unchanged) and ``Add`` and
    ``Sub`` of a constant pass the relevance to the activation. Anything else is refused with the
    node's name (a :class:`~xaidesk.core.MethodError`).
    """
    value = type(self).forward(self, first, second)
    if not torch.is_grad_enabled():
        return value
    operands = (first, second)
    tracked = [isinstance(t, torch.Tensor) and t.requires_grad for t in operands]
    if not any(tracked):
        return value
    op = self.math_op_function
    legacy = getattr(self, "broadcast", None) == 1 and getattr(self, "axis", None) is not None
    if all(tracked) and not legacy:
        if op is torch.add and first.shape == second.shape:
            return _summed(self, first, second)
        if op is torch.mul:
            shape = torch.broadcast_shapes(first.shape, second.shape)
            smaller = [t.shape != shape for t in operands]
            if any(smaller) and not all(smaller):
                return relevance_to(operands[smaller.index(False)], value)
            if first.shape == second.shape and self.canonizer_gate is not None:
                return relevance_to(operands[1 - self.canonizer_gate], value)
    elif not all(tracked):
        activation = operands[tracked.index(True)]
        if op in (torch.add, torch.sub):
            return value  # the constant gets no relevance, the activation all of it
        if (op is torch.mul or (op is torch.div and tracked[0])) and value.shape == activation.shape:
            return relevance_to(activation, value)
    from ..core import MethodError

    raise MethodError(
        f"LRP cannot explain the ONNX node '{self.canonizer_node}' ({_OP_NAMES.get(op, 'arithmetic')} of "
        f"{'two computed tensors' if all(tracked) else 'a computed tensor and a constant'} "
        f"of shapes {tuple(getattr(first, 'shape', ()))} and {tuple(getattr(second, 'shape', ()))}): it is neither "
        "a residual sum nor a gate, and no LRP rule for it was checked. Use a gradient method "
        "(Sensitivity, Input × gradient, Integrated gradients or SmoothGrad) or occlusion."
    )


_OP_NAMES = {torch.add: "Add", torch.sub: "Sub", torch.mul: "Mul", torch.div: "Div"}


def _onnx_gate_operands(root: torch.nn.Module) -> dict[str, int]:
    """``module name -> index of the operand produced by a sigmoid`` for the binary operations of an
    onnx2torch graph (SiLU and gates exported as ``x * Sigmoid(...)``)."""
    graph = getattr(root, "graph", None)
    if graph is None:
        return {}
    gates = _onnx_gate_types()
    found: dict[str, int] = {}
    for node in graph.nodes:
        if node.op != "call_module":
            continue
        for index, arg in enumerate(node.args[:2]):
            if getattr(arg, "op", None) == "call_module" and isinstance(root.get_submodule(arg.target), gates):
                found.setdefault(node.target, index)
    return found


def _onnx_gate_types() -> tuple[type, ...]:
    from onnx2torch.node_converters.activations import OnnxHardSigmoid

    return (torch.nn.Sigmoid, torch.nn.Hardsigmoid, OnnxHardSigmoid)


def _onnx_global_pool_forward(self, input_tensor):
    if input_tensor.dim() == 4:
        return self.canonizer_pool(input_tensor)
    return type(self).forward(self, input_tensor)


def _onnx2torch_forwards() -> dict[type, tuple[str, object]]:
    """``class -> (kind, forward)`` for the onnx2torch modules handled here (empty without onnx2torch)."""
    try:
        from onnx2torch.node_converters.binary_math_operations import OnnxBinaryMathOperation
        from onnx2torch.node_converters.global_average_pool import (
            OnnxGlobalAveragePool,
            OnnxGlobalAveragePoolWithKnownInputShape,
        )
    except ImportError:
        return {}
    return {
        OnnxBinaryMathOperation: ("onnx_binary", _onnx_binary_forward),
        OnnxGlobalAveragePool: ("pool", _onnx_global_pool_forward),
        OnnxGlobalAveragePoolWithKnownInputShape: ("pool", _onnx_global_pool_forward),
    }


_LIBRARIES = {"torchvision.": _torchvision_forwards, "timm.": _timm_forwards, "onnx2torch.": _onnx2torch_forwards}
_FORWARDS: dict[str, dict[type, tuple[str, object]]] = {}


def _entry(module: torch.nn.Module) -> tuple[str, object] | None:
    """``(kind, forward)`` for ``module``'s exact class, if handled. A library's table is built
    (and the library imported) only when a module of that library is asked about."""
    cls = type(module)
    for prefix, table in _LIBRARIES.items():
        if cls.__module__.startswith(prefix):
            if prefix not in _FORWARDS:
                _FORWARDS[prefix] = table()
            return _FORWARDS[prefix].get(cls)
    return None


def _handled(module: torch.nn.Module, kinds: tuple[str, ...]):
    """The canonized forward for ``module`` when its exact class is handled with one of ``kinds``."""
    entry = _entry(module)
    return entry[1] if entry is not None and entry[0] in kinds else None


# --- timm block bodies ------------------------------------------------------------------------------
# timm writes its blocks as a chain of attributes; the body is that chain, in forward order, as a
# Sequential of the block's own (shared) modules so the canonized forward can run it in one call.

@functools.cache
def _timm_bodies() -> dict[type, tuple[str, ...]]:
    """``timm block class -> its layers' attribute names in forward order`` (keyed by class: torchvision's
    ``InvertedResidual`` or timm's RegNet ``Bottleneck`` share a bare name with these and are not them)."""
    from timm.models import _efficientnet_blocks as eff
    from timm.models import resnet

    return {
        eff.InvertedResidual: ("conv_s2d", "bn_s2d", "conv_pw", "bn1", "conv_dw", "bn2", "aa", "se", "conv_pwl",
                               "bn3"),
        eff.DepthwiseSeparableConv: ("conv_s2d", "bn_s2d", "conv_dw", "bn1", "aa", "se", "conv_pw", "bn2"),
        eff.EdgeResidual: ("conv_exp", "bn1", "aa", "se", "conv_pwl", "bn2"),
        eff.ConvBnAct: ("conv", "bn1", "aa"),
        eff.UniversalInvertedResidual: ("dw_start", "pw_exp", "dw_mid", "se", "pw_proj", "dw_end", "layer_scale"),
        resnet.BasicBlock: ("conv1", "bn1", "drop_block", "act1", "aa", "conv2", "bn2", "se", "drop_path"),
        resnet.Bottleneck: ("conv1", "bn1", "act1", "conv2", "bn2", "drop_block", "act2", "aa", "conv3", "bn3", "se",
                            "drop_path"),
    }


def _timm_body_names(module: torch.nn.Module) -> tuple[str, ...] | None:
    if not type(module).__module__.startswith("timm."):
        return None
    return _timm_bodies().get(type(module))


class _TimmBody(torch.nn.Module):
    """Runs a timm block's layers in order (the modules are the block's own, not copies)."""

    def __init__(self, layers: list[torch.nn.Module]):
        super().__init__()
        self.layers = layers  # a plain list: not registered, so no module appears twice

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def _timm_body(module: torch.nn.Module) -> _TimmBody:
    names = _timm_body_names(module)
    return _TimmBody([getattr(module, n) for n in names if getattr(module, n, None) is not None])


# --- the canonizers ----------------------------------------------------------------------------------


class _SwapForward(AttributeCanonizer):
    """Swap the forward of every module whose class is handled with one of ``kinds``."""

    kinds: tuple[str, ...] = ()
    method = "forward"

    def __init__(self):
        super().__init__(self._attribute_map)

    def _attribute_map(self, name, module):
        forward = _handled(module, self.kinds)
        if forward is None:
            return None
        attributes = {self.method: forward.__get__(module)}
        attributes.update(self._helpers(module))
        return attributes

    def _helpers(self, module) -> dict:
        return {}

    def copy(self):
        return type(self)()


class ResidualSumCanonizer(_SwapForward):
    """Residual blocks (EfficientNet, MobileNet v2/v3, MNASNet, RegNet, ConvNeXt; timm EfficientNet,
    ResNet, ConvNeXt) add their skip connection with a :class:`~zennit.layer.Sum` module."""

    kinds = ("residual", "timm_residual", "timm_resnet")

    def _helpers(self, module) -> dict:
        helpers = {"canonizer_sum": Sum()}
        if _timm_body_names(module) is not None:
            helpers["canonizer_body"] = _timm_body(module)
        return helpers


class OnnxBinaryCanonizer(_SwapForward):
    """Add / Sub / Mul / Div of a graph converted from ONNX by onnx2torch: residual sums, gates and
    constant factors as in the blocks above, anything else refused by node (see :func:`_onnx_binary_forward`)."""

    kinds = ("onnx_binary",)

    def apply(self, root_module):
        self._gates = _onnx_gate_operands(root_module)
        try:
            return super().apply(root_module)
        finally:
            del self._gates

    def _attribute_map(self, name, module):
        attributes = super()._attribute_map(name, module)
        if attributes is not None:
            attributes.update(canonizer_sum=Sum(), canonizer_node=name,
                              canonizer_gate=getattr(self, "_gates", {}).get(name))
        return attributes


class ConstantFactorCanonizer(_SwapForward):
    """Squeeze-and-excitation gates and timm's layer-scale modules multiply by a constant factor
    (see :func:`constant_factor`)."""

    kinds = ("gate",)


class GlobalPoolCanonizer(_SwapForward):
    """DenseNet, ShuffleNet v2, MobileNet v2 and MNASNet pool globally with a module that LRP can see."""

    kinds = ("pool",)

    def _helpers(self, module) -> dict:
        return {"canonizer_pool": torch.nn.AdaptiveAvgPool2d(1)}


class InputTransformCanonizer(_SwapForward):
    """GoogLeNet and Inception v3 re-normalise their input inside the model (``transform_input``);
    the relevance passes through that element-wise map unchanged."""

    kinds = ("input",)
    method = "_transform_input"


class DenseNetMergeBatchNorm(MergeBatchNorm):
    """Merge only the batch norms that really follow a convolution in a torchvision DenseNet.

    In a dense layer the bottleneck convolution ``conv1`` feeds ``norm2`` directly; the stem
    ``conv0`` feeds ``norm0``. Every other batch norm follows a concatenation (pre-activation:
    BN -> ReLU -> conv) and cannot be merged into anything; LRP passes relevance through it.
    zennit's SequentialMergeBatchNorm pairs by module order and would wrongly merge ``norm1`` of
    one dense layer into ``conv2`` of the previous one.
    """

    merge_batch_norm = staticmethod(_merge_exactly)

    def apply(self, root_module):
        from torchvision.models import densenet

        instances = []
        for module in root_module.modules():
            pairs = []
            if isinstance(module, densenet._DenseLayer):
                pairs.append((module.conv1, module.norm2))
            if isinstance(module, densenet.DenseNet) and hasattr(module.features, "norm0"):
                pairs.append((module.features.conv0, module.features.norm0))
            for linear, batch_norm in pairs:
                instance = self.copy()
                instance.register((linear,), batch_norm)
                instances.append(instance)
        return instances


class TimmMergeBatchNorm(MergeBatchNorm):
    """Merge each timm batch norm into the convolution that feeds it.

    Inside timm's blocks the pairs are found by attribute name; timm's batch norms
    (``BatchNormAct2d``) also hold the activation, and merging reduces the norm to the identity
    and keeps the activation. Elsewhere (stems, heads, downsampling Sequentials) a plain batch
    norm right after a convolution in module order is merged, as zennit's
    SequentialMergeBatchNorm does, but never a second time.
    """

    merge_batch_norm = staticmethod(_merge_exactly)

    @staticmethod
    @functools.cache
    def _pairs() -> dict[type, tuple[tuple[str, str], ...]]:
        """``timm class -> (convolution, batch norm) attribute pairs``, keyed by class (not bare name)."""
        from timm.layers import ConvNormAct
        from timm.models import _efficientnet_blocks as eff
        from timm.models import efficientnet, mobilenetv3, resnet

        return {
            eff.InvertedResidual: (("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3")),
            eff.DepthwiseSeparableConv: (("conv_dw", "bn1"), ("conv_pw", "bn2")),
            eff.EdgeResidual: (("conv_exp", "bn1"), ("conv_pwl", "bn2")),
            eff.ConvBnAct: (("conv", "bn1"),),
            ConvNormAct: (("conv", "bn"),),
            efficientnet.EfficientNet: (("conv_stem", "bn1"), ("conv_head", "bn2")),
            mobilenetv3.MobileNetV3: (("conv_stem", "bn1"), ("conv_head", "norm_head")),
            resnet.BasicBlock: (("conv1", "bn1"), ("conv2", "bn2")),
            resnet.Bottleneck: (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")),
        }

    def apply(self, root_module):
        instances = []
        for module in root_module.modules():
            if not type(module).__module__.startswith("timm."):
                continue
            for conv_name, bn_name in self._pairs().get(type(module), ()):
                conv, batch_norm = getattr(module, conv_name, None), getattr(module, bn_name, None)
                if isinstance(conv, torch.nn.Conv2d) and isinstance(batch_norm, torch.nn.BatchNorm2d):
                    instances.append(self._merged(conv, batch_norm))
        merged = {id(instance.batch_norm) for instance in instances}
        last_leaf = None
        for leaf in collect_leaves(root_module):
            if (isinstance(last_leaf, self.linear_type) and isinstance(leaf, self.batch_norm_type)
                    and id(leaf) not in merged):
                instances.append(self._merged(last_leaf, leaf))
            last_leaf = leaf
        return instances

    def _merged(self, linear, batch_norm):
        instance = self.copy()
        instance.register((linear,), batch_norm)
        return instance


# --- which library modules LRP was checked on ------------------------------------------------------
# A timm or onnx2torch block may add (``x + f(x)``) or multiply (``x * g(x)``) inside its forward
# method, where no rule sees it: LRP would silently create or destroy relevance (measured: a
# sum of relevance 10^4 to 10^9 times the logit on timm's RegNet, CSPNet, GhostNet, RepVGG).
# So a module of these libraries runs only when its class is rewritten above or is on the list
# of classes whose forward was read and found plain (layers in order, no arithmetic between
# branches); anything else is refused by name.

#: timm element-wise activations; LRP passes relevance through them (lrp.extra_layer_map).
TIMM_ACTIVATIONS = ("Swish", "Mish", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid", "HardMish", "GELU",
                    "GELUTanh", "QuickGELU")


@functools.cache
def _timm_plain() -> frozenset[type]:
    """timm classes whose forward only chains checked layers (read in timm 1.0)."""
    # by module path: timm.layers also exports functions named conv2d_same, linear, ...
    activations, adaptive_avgmax_pool, classifier, conv2d_same, conv_bn_act, drop, linear, mlp, norm, norm_act = (
        importlib.import_module(f"timm.layers.{name}") for name in (
            "activations", "adaptive_avgmax_pool", "classifier", "conv2d_same", "conv_bn_act", "drop", "linear", "mlp",
            "norm", "norm_act",
        )
    )
    convnext, efficientnet, mobilenetv3, resnet = (
        importlib.import_module(f"timm.models.{name}") for name in ("convnext", "efficientnet", "mobilenetv3", "resnet")
    )

    return frozenset({
        resnet.ResNet, efficientnet.EfficientNet, mobilenetv3.MobileNetV3, convnext.ConvNeXt, convnext.ConvNeXtStage,
        adaptive_avgmax_pool.SelectAdaptivePool2d, classifier.ClassifierHead, classifier.NormMlpClassifierHead,
        norm_act.BatchNormAct2d, conv_bn_act.ConvNormAct, conv2d_same.Conv2dSame, linear.Linear, mlp.Mlp,
        norm.LayerNorm, norm.LayerNorm2d, drop.DropPath, drop.DropBlock2d,
        *(getattr(activations, name) for name in TIMM_ACTIVATIONS),
    })


#: onnx2torch modules that only move, copy or select values (their gradient hands each value's
#: relevance to where it came from) or produce constants.
_ONNX_PLAIN = ("OnnxFlatten", "OnnxReshape", "OnnxTranspose", "OnnxConcat", "OnnxConstant", "OnnxShape", "OnnxGather",
               "OnnxSqueezeStaticAxes", "OnnxSqueezeDynamicAxes", "OnnxUnsqueezeStaticAxes",
               "OnnxUnsqueezeDynamicAxes", "OnnxCopyIdentity", "OnnxCast", "OnnxSplit", "OnnxSplit13")
#: onnx2torch element-wise activations; LRP passes relevance through them (lrp.extra_layer_map).
ONNX_ACTIVATIONS = ("OnnxHardSigmoid", "OnnxClip")


def _onnx_checked(module: torch.nn.Module) -> bool:
    return type(module).__name__ in _ONNX_PLAIN + ONNX_ACTIVATIONS


def _timm_checked(module: torch.nn.Module) -> bool:
    return type(module) in _timm_plain()


#: Library prefix -> whether a module of that library is plain. Hugging Face's convolutional
#: networks (ResNet, ConvNeXt, RegNet, MobileNet, EfficientNet ports) write their residual
#: additions and gates inside their layers' code and no rewrite for them exists: all refused.
_CHECKED = {"timm.": _timm_checked, "onnx2torch.": _onnx_checked, "transformers.": lambda module: False}


def unchecked_library_module(root: torch.nn.Module) -> tuple[str, torch.nn.Module] | None:
    """``(name, module)`` of the first timm, onnx2torch or Hugging Face transformers module in ``root``
    (sub-modules first, then ``root``) whose class is neither rewritten by a canonizer here nor known
    to be plain; ``None`` when there is none."""
    named = list(root.named_modules())
    for name, module in named[1:] + named[:1]:
        module_path = type(module).__module__
        for prefix, checked in _CHECKED.items():
            if module_path.startswith(prefix) and _entry(module) is None and not checked(module):
                return name, module
    return None


# --- choosing ------------------------------------------------------------------------------------------


def family_of(module: torch.nn.Module) -> str:
    """The family whose batch-norm merging ``module`` needs: ``"resnet"`` (torchvision),
    ``"densenet"`` (torchvision), ``"timm"`` or ``"generic"`` (by module order)."""
    names = {type(m).__module__ + "." + type(m).__name__ for m in module.modules()}
    if names & {"torchvision.models.resnet.BasicBlock", "torchvision.models.resnet.Bottleneck"}:
        return "resnet"
    if any(n.startswith("torchvision.models.densenet.") for n in names):
        return "densenet"
    if any(n.startswith("timm.") for n in names):
        return "timm"
    return "generic"


def canonizers_for(module: torch.nn.Module) -> list:
    """Fresh canonizers for the block types found in ``module``.

    Batch norms: merged into the preceding convolution (by module order; by name in DenseNet and
    timm blocks). Then residual sums, constant factors and global pooling as described above,
    each only when a block it handles is present.
    """
    family = family_of(module)
    if family == "resnet":
        canonizers: list = [ResNetCanonizer()]  # merges batch norms and makes the skip sums explicit
    elif family == "densenet":
        canonizers = [DenseNetMergeBatchNorm()]
    elif family == "timm":
        canonizers = [TimmMergeBatchNorm()]
    else:
        canonizers = [SequentialMergeBatchNorm()]
    kinds = {entry[0] for entry in map(_entry, module.modules()) if entry is not None}
    for canonizer in (ResidualSumCanonizer(), OnnxBinaryCanonizer(), ConstantFactorCanonizer(),
                      GlobalPoolCanonizer(), InputTransformCanonizer()):
        if kinds & set(canonizer.kinds):
            canonizers.append(canonizer)
    return canonizers


def covered_by_canonizers(module: torch.nn.Module, canonizers: list) -> str | None:
    """The canonizer that takes care of ``module``'s own parameters (ConvNeXt layer scale), if any."""
    for canonizer in canonizers:
        if isinstance(canonizer, _SwapForward) and _handled(module, canonizer.kinds) is not None:
            return type(canonizer).__name__
    return None
