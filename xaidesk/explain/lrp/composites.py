"""Which canonizers and which zennit rules each CNN LRP method uses.

:func:`choose_canonizers` picks the canonizers for a model's blocks
(:mod:`xaidesk.explain.lrp.canonizers`); :func:`composite_for` assembles the zennit composite of
one registered method (``epsilon_plus_flat``, ``epsilon_gamma_box``, ``epsilon_alpha2_beta1``,
``custom``), with :func:`extra_layer_map` adding rules for layers zennit has none for.
:func:`xaidesk.explain.lrp.cnn.build_composite` switches the result to the faster hooks.
"""

from __future__ import annotations

import torch
from zennit.composites import (
    EpsilonAlpha2Beta1,
    EpsilonGammaBox,
    EpsilonPlusFlat,
    SpecialFirstLayerMapComposite,
    layer_map_base,
)
from zennit.core import Composite
from zennit.rules import Epsilon, Flat, Gamma, Pass, WSquare, ZBox
from zennit.types import Convolution
from zennit.types import Linear as AnyLinear  # Linear, Conv*d and ConvTranspose*d

from ...core import MethodError
from .canonizers import (
    ONNX_ACTIVATIONS,
    TIMM_ACTIVATIONS,
    ResNetCanonizer,
    SequentialMergeBatchNorm,
    canonizers_for,
)
from .rules import LayerNormEpsilon


# --- canonizers -------------------------------------------------------------------------------


def choose_canonizers(architecture: str, module: torch.nn.Module | None = None) -> list:
    """Fresh canonizer instances for a model.

    With ``module``, the choice follows the block types found in it (see
    :func:`xaidesk.explain.lrp.canonizers.canonizers_for`): torchvision ResNet blocks get
    ResNetCanonizer (zennit's, with the summands stacked first); EfficientNet, MobileNet,
    RegNet, ConvNeXt, DenseNet, ShuffleNet and timm's EfficientNet/ResNet/ConvNeXt blocks get
    residual sums, constant gates and pooling made explicit; batch norms are merged into the
    layer that feeds them.

    Without ``module``, by the architecture key alone (``vgg16``, ``resnet50``, ``demo_cnn``,
    ...): ``resnet*`` gets ResNetCanonizer and everything else SequentialMergeBatchNorm, which
    merges every batch norm that directly follows a linear layer.
    """
    if module is not None:
        return canonizers_for(module)
    arch = (architecture or "unknown").lower()
    if arch.startswith("resnet"):
        return [ResNetCanonizer()]
    return [SequentialMergeBatchNorm()]


def canonizer_names(canonizers: list) -> list[str]:
    return [type(c).__name__ for c in canonizers]


# --- composites -------------------------------------------------------------------------------

FIRST_RULES = ("flat", "zbox", "wsquare", "gamma")
TOP_RULES = ("epsilon", "zero")


class BoxRule(ZBox):
    """zennit's ZBox with bounds given for the whole model input (1, C, H, W).

    The bounds are reshaped to the first layer's input when that is a flattened image (a dense
    first layer after ``Flatten``), where zennit's ZBox would fail to broadcast them.
    """

    def __init__(self, low: torch.Tensor, high: torch.Tensor, stabilizer: float = 1e-6):
        super().__init__(low=low, high=high, stabilizer=stabilizer)
        self.input_modifiers = (lambda a: a, self._fitted(low), self._fitted(high))

    @staticmethod
    def _fitted(bound: torch.Tensor):
        def modifier(a: torch.Tensor) -> torch.Tensor:
            b = bound.to(a)
            if b.shape[1:] != a.shape[1:] and b[0].numel() == a[0].numel():
                b = b.reshape(1, *a.shape[1:])
            return b.expand(a.shape)

        return modifier


def _first_rule(kind: str, *, gamma: float, low, high):
    if kind == "flat":
        return Flat()
    if kind == "zbox":
        return BoxRule(low=low, high=high)
    if kind == "wsquare":
        # The w^2 rule as written in docs/methods.md: sum_j w_ij^2 / sum_i w_ij^2, without the bias
        # (zennit's default would square the bias and add it to the denominator).
        return WSquare(zero_params=["bias"])
    if kind == "gamma":
        return Gamma(gamma=gamma)
    raise MethodError(f"Unknown first-layer rule '{kind}'; choose one of: {', '.join(FIRST_RULES)}.")


def extra_layer_map(module: torch.nn.Module, epsilon: float) -> list:
    """Rules for layers zennit has none for, in the CNN families where they were checked.

    Element-wise activations zennit does not know (torch's Mish, timm's GELU/Swish/... classes)
    pass relevance through, as zennit's own activations do. Layer norms get
    :class:`~xaidesk.explain.lrp.rules.LayerNormEpsilon` when the model is a ConvNeXt
    (torchvision ``CNBlock`` or timm ``ConvNeXtBlock`` present). Layer norm elsewhere --
    transformers above all -- stays refused: transformers are explained by ``lrp.attention``.
    """
    extra: list = []
    activations = tuple({type(m) for m in module.modules() if _is_unlisted_activation(m)})
    if activations:
        extra.append((activations, Pass()))
    if any(type(m).__name__ in _CONVNEXT_BLOCKS for m in module.modules()):
        extra.append((torch.nn.LayerNorm, LayerNormEpsilon(epsilon=epsilon)))
    return extra


_CONVNEXT_BLOCKS = ("CNBlock", "ConvNeXtBlock")

def _is_unlisted_activation(module: torch.nn.Module) -> bool:
    """Element-wise activations zennit's ``Activation`` type does not list (it lists torch's ReLU,
    SiLU, GELU, Hardswish, Hardsigmoid, Sigmoid, ...): torch's Mish, timm's own classes and
    onnx2torch's HardSigmoid and Clip."""
    if isinstance(module, torch.nn.Mish):
        return True
    cls = type(module)
    return ((cls.__module__ == "timm.layers.activations" and cls.__name__ in TIMM_ACTIVATIONS)
            or (cls.__module__.startswith("onnx2torch.") and cls.__name__ in ONNX_ACTIVATIONS))


def composite_for(name, params, model, canonizers, input_shape) -> Composite:
    if canonizers is None:
        module = model.module if isinstance(model.module, torch.nn.Module) and not model.is_torchscript else None
        canonizers = choose_canonizers(model.architecture, module)
    epsilon = float(params.get("epsilon", 1e-6))
    gamma = float(params.get("gamma", 0.25))
    extra = extra_layer_map(model.module, epsilon) if isinstance(model.module, torch.nn.Module) else []
    if name == "epsilon_plus_flat":
        return EpsilonPlusFlat(epsilon=epsilon, canonizers=canonizers, layer_map=extra)
    if name == "epsilon_alpha2_beta1":
        return EpsilonAlpha2Beta1(epsilon=epsilon, canonizers=canonizers, layer_map=extra)
    low, high = model.preprocessing.bounds()
    if name == "epsilon_gamma_box":
        return EpsilonGammaBox(low=low, high=high, epsilon=epsilon, gamma=gamma, canonizers=canonizers,
                               layer_map=extra)
    if name == "custom":
        top = params.get("top_rule", "epsilon")
        if top not in TOP_RULES:
            raise MethodError(f"Unknown top-layer rule '{top}'; choose one of: {', '.join(TOP_RULES)}.")
        dense = Epsilon(epsilon=epsilon if top == "epsilon" else 0.0)
        layer_map = extra + layer_map_base() + [
            (Convolution, Gamma(gamma=gamma)),
            (torch.nn.Linear, dense),
        ]
        if input_shape is None:
            input_shape = (1, model.preprocessing.num_channels, *model.preprocessing.size)
        shape = (1, low.shape[1], *input_shape[2:])
        first = _first_rule(params.get("first_rule", "zbox"), gamma=gamma,
                            low=low.expand(shape).clone(), high=high.expand(shape).clone())
        return SpecialFirstLayerMapComposite(layer_map=layer_map, first_map=[(AnyLinear, first)], canonizers=canonizers)
    raise MethodError(f"Unknown LRP composite '{name}'.")

