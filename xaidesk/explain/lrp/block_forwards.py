"""How canonized blocks compute: the forwards that the canonizers swap in, by library.

:func:`constant_factor` multiplies by a factor that LRP treats as a constant; the ``_tv_*``,
``_timm_*`` and ``_onnx_*`` functions are the rewritten forwards of torchvision, timm and
onnx2torch blocks (same values, residual sums through zennit's ``Sum``, gates as constant
factors, global pooling as a module). :func:`handled_forward` says which forward a module's class gets;
:mod:`xaidesk.explain.lrp.canonizers` attaches them for one LRP run.
"""

from __future__ import annotations

import functools
import importlib

import torch


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


#: The axis along which the summands of a residual sum are stacked for zennit's ``Sum`` module (the
#: canonizers build it with this ``dim``). A new leading axis keeps every summand, and the relevance
#: split back to it, contiguous; stacked last, the sum and the split run over strided memory.
SUM_AXIS = 0


def _summed(self, *terms: torch.Tensor) -> torch.Tensor:
    return self.canonizer_sum(torch.stack(terms, dim=SUM_AXIS))


# --- forwards of canonized torchvision blocks ------------------------------------------------------
# Each mirrors the block's own forward in torchvision 0.2x with the "+" replaced by a Sum module
# and element-wise products by constant_factor.


def _tv_resnet_basic_block_forward(self, x):
    out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
    identity = x if self.downsample is None else self.downsample(x)
    return self.relu(_summed(self, identity, out))


def _tv_resnet_bottleneck_forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(out)))))
    identity = x if self.downsample is None else self.downsample(x)
    return self.relu(_summed(self, identity, out))


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
    (convnext, densenet, efficientnet, googlenet, inception, mnasnet, mobilenetv2, mobilenetv3, regnet, resnet,
     shufflenetv2) = (
        importlib.import_module(f"torchvision.models.{name}") for name in (
            "convnext", "densenet", "efficientnet", "googlenet", "inception", "mnasnet", "mobilenetv2", "mobilenetv3",
            "regnet", "resnet", "shufflenetv2",
        )
    )
    return {
        resnet.BasicBlock: ("resnet", _tv_resnet_basic_block_forward),
        resnet.Bottleneck: ("resnet", _tv_resnet_bottleneck_forward),
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
    from ...core import MethodError

    raise MethodError(
        f"LRP cannot explain the ONNX node '{self.canonizer_node}' ({_OP_NAMES.get(op, 'arithmetic')} of "
        f"{'two computed tensors' if all(tracked) else 'a computed tensor and a constant'} "
        f"of shapes {tuple(getattr(first, 'shape', ()))} and {tuple(getattr(second, 'shape', ()))}): it is neither "
        "a residual sum nor a gate, and no LRP rule for it was checked. Use a gradient method "
        "(Sensitivity, Input × gradient, Integrated gradients or SmoothGrad) or occlusion."
    )


_OP_NAMES = {torch.add: "Add", torch.sub: "Sub", torch.mul: "Mul", torch.div: "Div"}


def onnx_gate_operands(root: torch.nn.Module) -> dict[str, int]:
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


def forward_entry(module: torch.nn.Module) -> tuple[str, object] | None:
    """``(kind, forward)`` for ``module``'s exact class, if handled. A library's table is built
    (and the library imported) only when a module of that library is asked about."""
    cls = type(module)
    for prefix, table in _LIBRARIES.items():
        if cls.__module__.startswith(prefix):
            if prefix not in _FORWARDS:
                _FORWARDS[prefix] = table()
            return _FORWARDS[prefix].get(cls)
    return None


def handled_forward(module: torch.nn.Module, kinds: tuple[str, ...]):
    """The canonized forward for ``module`` when its exact class is handled with one of ``kinds``."""
    entry = forward_entry(module)
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


def timm_body_names(module: torch.nn.Module) -> tuple[str, ...] | None:
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


def timm_body(module: torch.nn.Module) -> _TimmBody:
    names = timm_body_names(module)
    return _TimmBody([getattr(module, n) for n in names if getattr(module, n, None) is not None])

