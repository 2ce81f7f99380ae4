"""Canonizers that make modern CNN blocks explainable with LRP (torchvision, timm, onnx2torch).

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
  scale (``gamma * x``) multiply features element-wise by a factor.
  :func:`~xaidesk.explain.lrp.block_forwards.constant_factor`
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

from .block_forwards import SUM_AXIS, forward_entry, handled_forward, onnx_gate_operands, timm_body, timm_body_names

__all__ = [
    "ConstantFactorCanonizer", "DenseNetMergeBatchNorm", "GlobalPoolCanonizer", "InputTransformCanonizer",
    "ONNX_ACTIVATIONS", "OnnxBinaryCanonizer", "ResNetCanonizer", "ResidualSumCanonizer", "SequentialMergeBatchNorm",
    "TIMM_ACTIVATIONS", "TimmMergeBatchNorm", "canonizers_for", "covered_by_canonizers", "family_of",
    "merged_into_identity", "unchecked_library_module",
]


# --- batch norms merged exactly -----------------------------------------------------------------------


def _merge_exactly(modules, batch_norm):
    """zennit's merge, with the emptied batch norm an exact identity.

    zennit resets the norm to mean 0, variance 1, which still divides by ``sqrt(1 + eps)``: the
    canonized model's logits are off by about ``eps / 2`` per merged norm (0.05 % per layer
    with torchvision MobileNet's ``eps = 1e-3``). A variance of ``1 - eps`` makes it exact.
    A plain torch batch norm that now computes ``x * 1 + 0`` bit for bit is skipped for the
    run (its forward returns a copy of its input; :class:`_ExactMerge` restores it).
    """
    MergeBatchNorm.merge_batch_norm(modules, batch_norm)
    batch_norm.running_var.data = torch.full_like(batch_norm.running_var.data, 1.0 - batch_norm.eps)
    if _is_exact_identity(batch_norm):
        batch_norm.forward = _pass_through


def _pass_through(input: torch.Tensor) -> torch.Tensor:
    # a copy, as the norm itself returns: an in-place operation after it (GoogLeNet's
    # ``F.relu(bn(conv(x)), inplace=True)``) must not change the convolution's output
    return input.clone()


def merged_into_identity(module: torch.nn.Module) -> bool:
    """True while ``module`` is a batch norm that a canonizer merged and skips (it returns a copy of its input)."""
    return module.__dict__.get("forward") is _pass_through


_PLAIN_BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)


def _is_exact_identity(batch_norm: torch.nn.Module) -> bool:
    """True when the merged norm is a plain torch batch norm in eval mode whose scale is exactly 1."""
    if type(batch_norm) not in _PLAIN_BATCH_NORMS or batch_norm.training or "forward" in batch_norm.__dict__:
        return False
    dims = {torch.nn.BatchNorm1d: 0, torch.nn.BatchNorm2d: 2, torch.nn.BatchNorm3d: 3}[type(batch_norm)]
    probe = torch.ones((1, batch_norm.num_features) + (1,) * dims, dtype=batch_norm.running_var.dtype,
                       device=batch_norm.running_var.device)
    with torch.no_grad():
        out = torch.nn.functional.batch_norm(probe, batch_norm.running_mean, batch_norm.running_var,
                                             batch_norm.weight, batch_norm.bias, False, 0.0, batch_norm.eps)
    return bool(torch.equal(out, probe)) and not bool(batch_norm.bias.any()) and not bool(batch_norm.running_mean.any())


class _ExactMerge:
    """Mixin for zennit's MergeBatchNorm canonizers: merge with :func:`_merge_exactly`, and give a
    skipped batch norm its own forward back on removal."""

    merge_batch_norm = staticmethod(_merge_exactly)

    def remove(self):
        if self.batch_norm is not None and self.batch_norm.__dict__.get("forward") is _pass_through:
            del self.batch_norm.forward
        super().remove()


class SequentialMergeBatchNorm(_ExactMerge, zennit_canonizers.SequentialMergeBatchNorm):
    """zennit's SequentialMergeBatchNorm (merge every batch norm that follows a linear layer in
    module order) with the merged norm an exact identity (see :func:`_merge_exactly`)."""


class ResNetCanonizer(CompositeCanonizer):
    """torchvision ResNets as zennit's ResNetCanonizer makes them (batch norms merged exactly, the skip
    sums of BasicBlock and Bottleneck through a ``Sum`` module), with the summands stacked first."""

    def __init__(self):
        super().__init__((SequentialMergeBatchNorm(), ResNetBlockCanonizer()))


# --- the canonizers ----------------------------------------------------------------------------------


class _SwapForward(AttributeCanonizer):
    """Swap the forward of every module whose class is handled with one of ``kinds``."""

    kinds: tuple[str, ...] = ()
    method = "forward"

    def __init__(self):
        super().__init__(self._attribute_map)

    def _attribute_map(self, name, module):
        forward = handled_forward(module, self.kinds)
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
        helpers = {"canonizer_sum": Sum(dim=SUM_AXIS)}
        if timm_body_names(module) is not None:
            helpers["canonizer_body"] = timm_body(module)
        return helpers


class ResNetBlockCanonizer(ResidualSumCanonizer):
    """torchvision's ResNet ``BasicBlock`` and ``Bottleneck`` add their skip connection with a ``Sum`` module."""

    kinds = ("resnet",)


class OnnxBinaryCanonizer(_SwapForward):
    """Add / Sub / Mul / Div of a graph converted from ONNX by onnx2torch: residual sums, gates and
    constant factors as in the blocks above, anything else refused by node (see :func:`~xaidesk.explain.lrp.block_forwards._onnx_binary_forward`)."""

    kinds = ("onnx_binary",)

    def apply(self, root_module):
        self._gates = onnx_gate_operands(root_module)
        try:
            return super().apply(root_module)
        finally:
            del self._gates

    def _attribute_map(self, name, module):
        attributes = super()._attribute_map(name, module)
        if attributes is not None:
            attributes.update(canonizer_sum=Sum(dim=SUM_AXIS), canonizer_node=name,
                              canonizer_gate=getattr(self, "_gates", {}).get(name))
        return attributes


class ConstantFactorCanonizer(_SwapForward):
    """Squeeze-and-excitation gates and timm's layer-scale modules multiply by a constant factor
    (see :func:`~xaidesk.explain.lrp.block_forwards.constant_factor`)."""

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


class DenseNetMergeBatchNorm(_ExactMerge, MergeBatchNorm):
    """Merge only the batch norms that really follow a convolution in a torchvision DenseNet.

    In a dense layer the bottleneck convolution ``conv1`` feeds ``norm2`` directly; the stem
    ``conv0`` feeds ``norm0``. Every other batch norm follows a concatenation (pre-activation:
    BN -> ReLU -> conv) and cannot be merged into anything; LRP passes relevance through it.
    zennit's SequentialMergeBatchNorm pairs by module order and would wrongly merge ``norm1`` of
    one dense layer into ``conv2`` of the previous one.
    """

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


class TimmMergeBatchNorm(_ExactMerge, MergeBatchNorm):
    """Merge each timm batch norm into the convolution that feeds it.

    Inside timm's blocks the pairs are found by attribute name; timm's batch norms
    (``BatchNormAct2d``) also hold the activation, and merging reduces the norm to the identity
    and keeps the activation. Elsewhere (stems, heads, downsampling Sequentials) a plain batch
    norm right after a convolution in module order is merged, as zennit's
    SequentialMergeBatchNorm does, but never a second time.
    """

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
            if module_path.startswith(prefix) and forward_entry(module) is None and not checked(module):
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
    kinds = {entry[0] for entry in map(forward_entry, module.modules()) if entry is not None}
    for canonizer in (ResidualSumCanonizer(), OnnxBinaryCanonizer(), ConstantFactorCanonizer(),
                      GlobalPoolCanonizer(), InputTransformCanonizer()):
        if kinds & set(canonizer.kinds):
            canonizers.append(canonizer)
    return canonizers


def covered_by_canonizers(module: torch.nn.Module, canonizers: list) -> str | None:
    """The canonizer that takes care of ``module``'s own parameters (ConvNeXt layer scale), if any."""
    for canonizer in canonizers:
        if isinstance(canonizer, _SwapForward) and handled_forward(module, canonizer.kinds) is not None:
            return type(canonizer).__name__
    return None
