"""torchvision architectures with weights from a local file, and the weights download.

Nothing here touches the network except :func:`download_weights`, and only
when it is called.
"""

from __future__ import annotations

import functools
import hashlib
import math
import http.client
import os
import re
import socket
import tempfile
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch.overrides import TorchFunctionMode

from ..core import CancelToken, Cancelled, ModelError
from .base import LoadedModel
from .preprocessing import IMAGENET, Preprocessing

TORCHVISION_ARCHITECTURES: tuple[str, ...] = (
    # families first supported, then the others; within a family from small to large
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l",
    "densenet121", "densenet169", "densenet201", "densenet161",
    "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
    "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf",
    "regnet_x_32gf",
    "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf", "regnet_y_16gf",
    "regnet_y_32gf", "regnet_y_128gf",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
    "squeezenet1_0", "squeezenet1_1", "alexnet", "googlenet", "inception_v3",
    "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14",
    "swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b",
    "maxvit_t",
)


@dataclass(frozen=True)
class _Family:
    """What every architecture of a family shares: its classifier layer and a few layer names."""

    prefixes: tuple[str, ...]
    classifier: str  # the last layer, whose output size is the number of classes
    marks: tuple[str, ...]  # keys every state dict of the family has (a cheap pre-check)


_FAMILIES: tuple[_Family, ...] = (
    _Family(("vgg", "alexnet"), "classifier.6", ("features.0.weight",)),
    _Family(("resnet", "resnext", "wide_resnet"), "fc", ("conv1.weight", "layer1.0.conv1.weight")),
    _Family(("mobilenet_v2",), "classifier.1", ("features.0.0.weight", "features.1.conv.0.0.weight")),
    _Family(("mobilenet_v3",), "classifier.3", ("features.0.0.weight", "features.1.block.0.0.weight")),
    _Family(("efficientnet",), "classifier.1", ("features.0.0.weight", "features.1.0.block.0.0.weight")),
    _Family(("densenet",), "classifier", ("features.conv0.weight",)),
    _Family(("convnext",), "classifier.2", ("features.0.0.weight", "features.1.0.block.0.weight")),
    _Family(("regnet",), "fc", ("stem.0.weight", "trunk_output.block1.block1-0.f.a.0.weight")),
    _Family(("shufflenet",), "fc", ("conv1.0.weight", "stage2.0.branch1.0.weight")),
    _Family(("mnasnet",), "classifier.1", ("layers.0.weight",)),
    _Family(("squeezenet",), "classifier.1", ("features.0.weight", "features.3.squeeze.weight")),
    _Family(("googlenet",), "fc", ("conv1.conv.weight", "inception3a.branch1.conv.weight")),
    _Family(("inception",), "fc", ("Conv2d_1a_3x3.conv.weight",)),
    _Family(("vit",), "heads.head", ("conv_proj.weight", "encoder.pos_embedding", "class_token")),
    _Family(("swin",), "head", ("features.0.0.weight", "norm.weight")),
    _Family(("maxvit",), "classifier.5", ("stem.0.0.weight",)),
)

# Input features of the classifier and number of weight/buffer keys (batch-norm counters left out)
# of each architecture: a cheap test before a signature is built. None: it depends on the weights
# (GoogLeNet and Inception v3 may carry auxiliary classifiers). tests/test_torchvision_families.py
# checks this table against torchvision.
_HEAD_FEATURES_AND_KEYS: dict[str, tuple[int, int | None]] = {
    "vgg11": (4096, 22), "vgg11_bn": (4096, 54), "vgg13": (4096, 26), "vgg13_bn": (4096, 66), "vgg16": (4096, 32),
    "vgg16_bn": (4096, 84), "vgg19": (4096, 38), "vgg19_bn": (4096, 102), "resnet18": (512, 102),
    "resnet34": (512, 182), "resnet50": (2048, 267), "resnet101": (2048, 522), "resnet152": (2048, 777),
    "mobilenet_v2": (1280, 262), "mobilenet_v3_small": (1024, 210), "mobilenet_v3_large": (1280, 266),
    "resnext50_32x4d": (2048, 267), "resnext101_32x8d": (2048, 522), "resnext101_64x4d": (2048, 522),
    "wide_resnet50_2": (2048, 267), "wide_resnet101_2": (2048, 522), "efficientnet_b0": (1280, 311),
    "efficientnet_b1": (1280, 439), "efficientnet_b2": (1408, 439), "efficientnet_b3": (1536, 496),
    "efficientnet_b4": (1792, 610), "efficientnet_b5": (2048, 738), "efficientnet_b6": (2304, 852),
    "efficientnet_b7": (2560, 1037), "efficientnet_v2_s": (1280, 672), "efficientnet_v2_m": (1280, 963),
    "efficientnet_v2_l": (1280, 1331), "densenet121": (1024, 606), "densenet169": (1664, 846),
    "densenet201": (1920, 1006), "densenet161": (2208, 806), "convnext_tiny": (768, 182),
    "convnext_small": (768, 344), "convnext_base": (1024, 344), "convnext_large": (1536, 344),
    "regnet_x_400mf": (400, 357), "regnet_x_800mf": (672, 267), "regnet_x_1_6gf": (912, 297),
    "regnet_x_3_2gf": (1008, 402), "regnet_x_8gf": (1920, 372), "regnet_x_16gf": (2048, 357),
    "regnet_x_32gf": (2520, 372), "regnet_y_400mf": (440, 331), "regnet_y_800mf": (784, 293),
    "regnet_y_1_6gf": (888, 540), "regnet_y_3_2gf": (1512, 426), "regnet_y_8gf": (2016, 350),
    "regnet_y_16gf": (3024, 369), "regnet_y_32gf": (3712, 407), "regnet_y_128gf": (7392, 540),
    "shufflenet_v2_x0_5": (1024, 282), "shufflenet_v2_x1_0": (1024, 282), "shufflenet_v2_x1_5": (1024, 282),
    "shufflenet_v2_x2_0": (2048, 282), "mnasnet0_5": (1280, 262), "mnasnet0_75": (1280, 262),
    "mnasnet1_0": (1280, 262), "mnasnet1_3": (1280, 262), "squeezenet1_0": (512, 52), "squeezenet1_1": (512, 52),
    "alexnet": (4096, 16), "googlenet": (1024, None), "inception_v3": (2048, None), "vit_b_16": (768, 152),
    "vit_b_32": (768, 152), "vit_l_16": (1024, 296), "vit_l_32": (1024, 296), "vit_h_14": (1280, 392),
    "swin_t": (768, 185), "swin_s": (768, 353), "swin_b": (1024, 353), "swin_v2_t": (768, 233),
    "swin_v2_s": (768, 449), "swin_v2_b": (1024, 449), "maxvit_t": (512, 548),
}

# Auxiliary classifiers, whose output size is also the number of classes.
_AUXILIARY_HEADS = {"googlenet": ("aux1.fc2", "aux2.fc2"), "inception_v3": ("AuxLogits.fc",)}

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights", "params")
_PREFIXES = ("module.", "_orig_mod.", "model.")


def _family(arch: str) -> _Family:
    for family in _FAMILIES:
        if arch.startswith(family.prefixes):
            return family
    raise KeyError(arch)


def classifier_key(arch: str) -> str:
    """Name of the last layer of ``arch`` (without ``.weight``), whose output size is the class count."""
    return _family(arch).classifier


def check_architecture(arch: str) -> str:
    """Normalise ``arch`` or raise a :class:`ModelError` listing the supported ones."""
    name = str(arch).strip().lower().replace("-", "_")
    if name not in TORCHVISION_ARCHITECTURES:
        import difflib

        close = difflib.get_close_matches(name, TORCHVISION_ARCHITECTURES, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ModelError(
            f"'{arch}' is not a supported torchvision architecture.{hint} Supported: "
            + ", ".join(TORCHVISION_ARCHITECTURES)
            + "."
        )
    return name


# --------------------------------------------------------------------------- state dicts


def extract_state_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    """The tensors of a state dict, unwrapped from ``{"state_dict": ...}`` / ``{"model": ...}``.

    A common ``module.`` (DataParallel), ``_orig_mod.`` (torch.compile) or
    ``model.`` prefix shared by every key is removed. Returns ``None`` when
    ``obj`` holds no tensors.
    """
    if not isinstance(obj, Mapping):
        return None
    for _ in range(3):  # nested wrappers such as {"model": {"state_dict": ...}}
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        return None
    stripped = ""
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in tensors):
                tensors = {k[len(prefix):]: v for k, v in tensors.items()}
                stripped += prefix
                changed = True
    metadata = getattr(obj, "_metadata", None)
    if isinstance(metadata, Mapping):  # layer versions torch.save kept; some layers read them when loading
        result = OrderedDict(tensors)
        result._metadata = {  # type: ignore[attr-defined]
            ("" if k == stripped[:-1] else k[len(stripped):]): v
            for k, v in metadata.items()
            if not stripped or k == stripped[:-1] or k.startswith(stripped)
        }
        return result
    return tensors


def _is_counter(key: str) -> bool:
    return key.endswith("num_batches_tracked")


class _ParametersOnMeta(TorchFunctionMode):
    """Creates the empty/zero/one-filled tensors of layers on the meta device, other tensors as usual.

    For builders that compute with tensors while building (RegNet's widths), where
    ``torch.device("meta")`` would leave them no values to read.
    """

    _FACTORIES = frozenset({torch.empty, torch.zeros, torch.ones, torch.full})

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in self._FACTORIES and kwargs.get("device") is None:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


class NoInitOnMeta(TorchFunctionMode):
    """Skips the in-place random initialisation of meta tensors, which have no values to fill.

    Building is several times faster: torch runs these operations on meta tensors in Python.
    """

    _INIT = frozenset({"normal_", "uniform_", "zero_", "fill_", "erfinv_", "mul_", "add_", "clamp_",
                       "copy_", "exponential_", "bernoulli_", "random_", "orthogonal_", "trunc_normal_"})

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if (getattr(func, "__name__", "") in self._INIT and args and isinstance(args[0], torch.Tensor)
                and args[0].is_meta):
            return args[0]
        return func(*args, **(kwargs or {}))


_NoInitOnMeta = NoInitOnMeta  # the former private name


def _build_on_meta(arch: str, **options: Any) -> torch.nn.Module:
    """torchvision's ``arch`` with no weights in memory (every parameter on the meta device)."""
    import warnings

    import torchvision

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # GoogLeNet / Inception: "default initialization will change"
        try:
            with torch.device("meta"), NoInitOnMeta():
                return torchvision.models.get_model(arch, weights=None, **options)
        except NotImplementedError:  # "Cannot copy out of meta tensor": the builder computes with tensors
            with _ParametersOnMeta(), NoInitOnMeta():
                return torchvision.models.get_model(arch, weights=None, **options)


def _build_options(arch: str, state: Mapping[str, torch.Tensor] | None) -> tuple[tuple[str, Any], ...]:
    """Settings of torchvision's builder that the weights decide (sorted ``(name, value)`` pairs).

    ViT: ``image_size``, from the length of the position embedding. GoogLeNet and Inception v3:
    ``aux_logits`` (whether the auxiliary classifiers were saved), built as torchvision builds its
    pretrained ones (``transform_input=True``, ``init_weights=False``).
    """
    options: dict[str, Any] = {}
    if arch.startswith("vit_"):
        size = vit_image_size(arch, state) if state is not None else None
        if size is not None:
            options["image_size"] = size
    elif arch == "googlenet":
        options.update(aux_logits=state is not None and "aux1.fc2.weight" in state,
                       transform_input=True, init_weights=False)
    elif arch == "inception_v3":
        options.update(aux_logits=state is not None and "AuxLogits.fc.weight" in state,
                       transform_input=True, init_weights=False)
    return tuple(sorted(options.items()))


def vit_image_size(arch: str, state: Mapping[str, torch.Tensor]) -> int | None:
    """The input size a torchvision ViT state dict was made for, from its position embedding.

    ``None`` when the weights have no usable position embedding (they then do not fit ``arch``).
    """
    embedding = state.get("encoder.pos_embedding")
    grid = vit_grid_side(embedding, 1) if embedding is not None else None  # one class token
    return None if grid is None else grid * int(arch.rsplit("_", 1)[-1])


def vit_grid_side(embedding: torch.Tensor, prefix_tokens: int) -> int | None:
    """Patches per side of the square grid a ViT position embedding ``(1, prefix + side², dim)`` is for.

    Parameters
    ----------
    embedding
        The position embedding (any device, the meta device included).
    prefix_tokens
        Tokens before the patches (class and distillation tokens).

    Returns
    -------
    int or None
        The side, or ``None`` when the embedding is not 3-D or its patch tokens do not form a square.
    """
    if getattr(embedding, "ndim", 0) != 3:
        return None
    tokens = int(embedding.shape[1]) - prefix_tokens
    grid = math.isqrt(max(tokens, 0))
    return grid if tokens >= 1 and grid * grid == tokens else None


@functools.lru_cache(maxsize=None)
def _signature(arch: str, options: tuple[tuple[str, Any], ...] = ()) -> dict[str, tuple[int, ...]]:
    """Parameter and buffer shapes of ``arch`` with 1000 classes (built on the meta device, no memory)."""
    model = _build_on_meta(arch, **dict(options))
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if not _is_counter(k)}


def _compare(state: Mapping[str, torch.Tensor], arch: str) -> tuple[list[str], list[str], list[str]]:
    """Missing keys, unexpected keys and keys of the wrong shape, for ``state`` against ``arch``.

    The classifier's output size is free (it is the number of classes).
    """
    expected = _signature(arch, _build_options(arch, state))
    heads = {classifier_key(arch), *_AUXILIARY_HEADS.get(arch, ())}
    given = {k: tuple(v.shape) for k, v in state.items() if not _is_counter(k)}
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    wrong = []
    for key in expected:
        if key not in given:
            continue
        a, b = expected[key], given[key]
        layer, _, kind = key.rpartition(".")
        if layer in heads and kind == "weight":  # (classes, features); SqueezeNet's 1x1 convolution (classes, ...)
            ok = len(a) == len(b) and a[1:] == b[1:]
        elif layer in heads and kind == "bias":
            ok = len(b) == 1
        else:
            ok = a == b
        if not ok:
            wrong.append(key)
    return missing, unexpected, wrong


def fits_architecture(state: Mapping[str, torch.Tensor], arch: str) -> bool:
    """True when ``state`` has exactly the layers and shapes of torchvision's ``arch`` (any class count)."""
    missing, unexpected, wrong = _compare(state, arch)
    return not (missing or unexpected or wrong)


def _could_be(state: Mapping[str, torch.Tensor], count: int, arch: str) -> bool:
    """Cheap pre-check on key names and sizes, before any signature is built.

    ``count`` is the number of keys of ``state`` that are not batch-norm counters.
    """
    family = _family(arch)
    head = state.get(f"{family.classifier}.weight")
    if head is None or head.ndim < 2 or not all(mark in state for mark in family.marks):
        return False
    features, keys = _HEAD_FEATURES_AND_KEYS.get(arch, (None, None))
    return (features is None or int(head.shape[1]) == features) and (keys is None or count == keys)


def detect_architecture(state: Mapping[str, torch.Tensor]) -> str | None:
    """The supported torchvision architecture whose layers match ``state`` exactly, if any.

    Only the architectures whose characteristic layer names, classifier input size and number
    of layers agree with ``state`` are built (on the meta device) and compared, so detection
    stays fast.
    """
    count = sum(1 for key in state if not _is_counter(key))
    for arch in TORCHVISION_ARCHITECTURES:
        if _could_be(state, count, arch) and fits_architecture(state, arch):
            return arch
    return None


def num_classes_of(state: Mapping[str, torch.Tensor], arch: str) -> int:
    """The number of outputs of ``arch``'s classifier in ``state``."""
    return int(state[f"{classifier_key(arch)}.weight"].shape[0])


def build_from_state_dict(arch: str, state: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    """Build ``arch`` with as many classes as ``state`` has and load ``state`` into it (strictly)."""
    num_classes = num_classes_of(state, arch)
    model = _build_on_meta(arch, num_classes=num_classes, **dict(_build_options(arch, state)))
    own = model.state_dict()
    full = dict(state)
    for key, value in own.items():
        if _is_counter(key) and key not in full:
            full[key] = torch.zeros((), dtype=torch.long)
    full = OrderedDict((k, (v.float() if v.is_floating_point() else v)) for k, v in full.items())
    # Layer versions (MNASNet checks its own): the file's if it kept them, else the current ones.
    full._metadata = getattr(state, "_metadata", None) or getattr(own, "_metadata", {})  # type: ignore[attr-defined]
    model.load_state_dict(full, strict=True, assign=True)
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if tensor.is_meta:  # pragma: no cover - guarded by strict loading
            raise ModelError(f"The weights file has no values for {name}.")
    return model


def imagenet_categories(arch: str = "resnet18") -> list[str]:
    """The 1000 ImageNet class names shipped in torchvision's weights metadata (offline)."""
    from torchvision.models import get_model_weights

    return list(get_model_weights(arch).DEFAULT.meta["categories"])


def default_preprocessing(arch: str, image_size: int | None = None) -> Preprocessing:
    """The evaluation preprocessing of torchvision's published weights for ``arch`` (offline).

    Resize, crop, interpolation, mean and std come from ``get_model_weights(arch).DEFAULT.transforms()``.
    With ``image_size`` (a ViT made for another input size) the published weights of that crop
    size are used if torchvision has them, otherwise ImageNet's 224/256 proportions at that size.
    Preprocessing equal to :data:`IMAGENET` is returned as that object.
    """
    from torchvision.models import get_model_weights

    published = get_model_weights(arch)
    for weights in [published.DEFAULT] + [w for w in published if w is not published.DEFAULT]:
        transform = weights.transforms()
        crop = int(transform.crop_size[0])
        if image_size is not None and crop != image_size:
            continue
        preprocessing = Preprocessing(
            size=(crop, crop),
            resize=int(transform.resize_size[0]),
            mean=tuple(float(v) for v in transform.mean),
            std=tuple(float(v) for v in transform.std),
            interpolation=str(transform.interpolation.value),
            name=f"torchvision {arch}",
        )
        if replace(preprocessing, name=IMAGENET.name) == IMAGENET:
            return IMAGENET
        return preprocessing
    return replace(IMAGENET, size=(image_size, image_size), resize=math.floor(image_size * 256 / 224),
                   name=f"{arch} at {image_size} px")


def _describe_mismatch(state: Mapping[str, torch.Tensor], arch: str) -> str:
    missing, unexpected, wrong = _compare(state, arch)
    return describe_key_mismatch(state, _signature(arch, _build_options(arch, state)), missing, unexpected, wrong)


def describe_key_mismatch(state: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]],
                          missing: list[str], unexpected: list[str], wrong: list[str]) -> str:
    """One sentence naming the first missing, unexpected and wrong-shaped key of ``state`` (``""`` when none)."""
    parts = []
    if missing:
        parts.append(f"{len(missing)} of its layers are missing (for example '{missing[0]}')")
    if unexpected:
        parts.append(f"{len(unexpected)} are unknown to it (for example '{unexpected[0]}')")
    if wrong:
        key = wrong[0]
        parts.append(f"{len(wrong)} have the wrong shape (for example '{key}': {list(state[key].shape)} "
                     f"instead of {list(expected[key])})")
    return "; ".join(parts)


def load_torchvision(
    arch: str,
    path: str | os.PathLike,
    *,
    spec: str | None = None,
    state: Mapping[str, torch.Tensor] | None = None,
    notes: list[str] | None = None,
) -> LoadedModel:
    """Load torchvision's ``arch`` with the state dict in ``path`` (or the given ``state``)."""
    from .base import PREPROCESSING, Note
    from .files import class_names_from_sidecar, read_sidecar, read_weights_only

    arch = check_architecture(arch)
    path = Path(path).expanduser()
    spec = spec or f"torchvision:{arch}:{path}"
    notes = list(notes or [])
    if state is None:
        obj = read_weights_only(path)
        state = extract_state_dict(obj)
        if state is None:
            raise ModelError(
                f"{path.name} does not hold a state dict (a table of layer weights), so it cannot "
                f"be loaded into {arch}. If it is a complete saved model, open it with 'file:{path}'."
            )
    if arch.startswith("vit_") and "encoder.pos_embedding" in state and vit_image_size(arch, state) is None:
        raise ModelError(
            f"The weights in {path.name} have a position embedding of shape "
            f"{list(state['encoder.pos_embedding'].shape)}, which is not one class token plus a square grid "
            f"of patches, so they do not fit torchvision's {arch}."
        )
    if not fits_architecture(state, arch):
        detected = detect_architecture(state)
        if detected:
            raise ModelError(
                f"The weights in {path.name} are for {detected}, not {arch}. Choose {detected} as the "
                f"architecture (torchvision:{detected}:{path}).",
                details=_describe_mismatch(state, arch),
            )
        raise ModelError(
            f"The weights in {path.name} do not fit torchvision's {arch} and do not look like any "
            f"supported architecture ({_describe_mismatch(state, arch)}). Check that the file holds "
            f"a state dict saved from torchvision.models.{arch}(); a complete saved model opens "
            "with 'file:PATH'.",
        )
    sidecar = read_sidecar(path)
    image_size = vit_image_size(arch, state) if arch.startswith("vit_") else None
    if arch == "maxvit_t":
        image_size = 224  # built for 224x224 input
    preprocessing = default_preprocessing(arch, image_size)
    if sidecar.preprocessing is not None:
        if image_size is not None and tuple(sidecar.preprocessing.size) != (image_size, image_size):
            raise ModelError(
                f"{arch} with these weights takes {image_size}x{image_size} pixel input, but "
                f"{sidecar.source} asks for {sidecar.preprocessing.size[0]}x{sidecar.preprocessing.size[1]}. "
                f"Set \"size\": [{image_size}, {image_size}] in {sidecar.source}, or remove its preprocessing entry."
            )
        preprocessing = sidecar.preprocessing
        notes.append(Note(f"Preprocessing from {sidecar.source}.", PREPROCESSING))
    else:
        notes.append(Note(
            f"Preprocessing as for torchvision's published {arch} weights: resize to {preprocessing.resize}, "
            f"centre crop {preprocessing.size[0]}x{preprocessing.size[1]}, {preprocessing.interpolation}.",
            PREPROCESSING))
    if arch in ("googlenet", "inception_v3"):
        notes.append(
            f"{arch} is built as torchvision builds its pretrained one (transform_input=True): it expects "
            "ImageNet-normalised input and re-normalises it inside."
        )
    try:
        module = build_from_state_dict(arch, state)
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001
        raise ModelError(
            f"The weights in {path.name} could not be loaded into {arch}.", details=f"{type(error).__name__}: {error}"
        ) from error
    module.eval()
    module.requires_grad_(False)
    num_classes = num_classes_of(state, arch)

    class_names = class_names_from_sidecar(sidecar, num_classes, notes, path=path, imagenet_arch=arch)
    return LoadedModel(
        spec=spec,
        name=f"{arch} ({path.name})",
        module=module,
        preprocessing=preprocessing,
        class_names=[str(c) for c in class_names],
        architecture=arch,
        notes=notes,
    )


# --------------------------------------------------------------------------- download


def weights_dir() -> Path:
    """Where downloaded weights are kept: ``$XAIDESK_CACHE_DIR/weights`` or the person's cache folder."""
    override = os.environ.get("XAIDESK_CACHE_DIR")
    if override:
        return Path(override) / "weights"
    from ..userdirs import cache_dir

    return cache_dir() / "weights"


def weights_url(arch: str) -> str:
    """URL of torchvision's published default weights for ``arch`` (no network access)."""
    from torchvision.models import get_model_weights

    return get_model_weights(check_architecture(arch)).DEFAULT.url


# Replaceable in tests.
_urlopen: Callable[..., Any] = urllib.request.urlopen

_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, TimeoutError)


def _offline_error(arch: str, reason: str) -> ModelError:
    return ModelError(
        f"Could not download the published weights for {arch}: this computer seems to be offline "
        f"({reason}). Download the file elsewhere and load it as 'torchvision:{arch}:PATH' (a weights file "
        "on this computer).",
        details=reason,
    )


def download_weights(
    arch: str,
    *,
    progress: Callable[[float, str], None] | None = None,
    token: CancelToken | None = None,
) -> Path:
    """Download torchvision's published weights for ``arch`` into the cache and return the file.

    Parameters
    ----------
    arch
        One of :data:`TORCHVISION_ARCHITECTURES`.
    progress
        Called as ``progress(fraction, message)`` while downloading.
    token
        Checked between chunks; cancelling raises :class:`~xaidesk.core.Cancelled`
        and leaves no partial file behind.

    Returns
    -------
    Path
        The weights file (state dict); load it with ``torchvision:ARCH:PATH``.
        A file already in the cache is returned without a download.
    """
    arch = check_architecture(arch)
    report = progress or (lambda fraction, message="": None)
    url = weights_url(arch)
    filename = url.rsplit("/", 1)[-1] or f"{arch}.pth"
    folder = weights_dir()
    target = folder / filename
    if target.is_file():
        report(1.0, f"The weights for {arch} are already downloaded.")
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
    except OSError as error:
        raise ModelError(
            f"Could not create the download folder {folder}: {error.strerror or error}.", details=str(error)
        ) from error
    tmp = Path(tmp_name)
    try:
        from ..core.io import normal_file_mode

        os.chmod(tmp, normal_file_mode())  # a shared weights file, not a private 0600 one
        with os.fdopen(handle, "wb") as out:
            report(0.0, f"Connecting to download the {arch} weights ...")
            if token is not None:
                token.check()
            try:
                response = _urlopen(url, timeout=30)
            except urllib.error.HTTPError as error:
                raise ModelError(
                    f"Could not download the published weights for {arch}: the server answered "
                    f"{error.code} {error.reason}. Download the file elsewhere and open it with "
                    f"'torchvision:{arch}:PATH' (a weights file on this computer).",
                    details=url,
                ) from error
            except _NETWORK_ERRORS as error:
                raise _offline_error(arch, str(getattr(error, "reason", error))) from error
            with response:
                total = int(response.headers.get("Content-Length") or 0)
                digest = hashlib.sha256()
                done, last = 0, -1.0
                while True:
                    if token is not None:
                        token.check()
                    try:
                        chunk = response.read(1 << 16)
                    except _NETWORK_ERRORS as error:
                        raise _offline_error(arch, f"the connection broke: {error}") from error
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                    except OSError as error:
                        raise ModelError(
                            f"Could not save the {arch} weights in {folder}: {error.strerror or error}.",
                            details=str(error),
                        ) from error
                    digest.update(chunk)
                    done += len(chunk)
                    fraction = min(done / total, 0.999) if total else 0.0
                    if fraction - last >= 0.01 or not total:
                        last = fraction
                        size = f" of {total / 1e6:.1f}" if total else ""
                        report(fraction, f"Downloading {arch} weights: {done / 1e6:.1f}{size} MB")
        if total and done != total:
            raise _offline_error(arch, f"the download stopped after {done} of {total} bytes")
        match = re.search(r"-([0-9a-f]{6,64})\.", filename)
        if match and not digest.hexdigest().startswith(match.group(1)):
            raise ModelError(
                f"The downloaded weights for {arch} are damaged (their checksum does not match). "
                "Try again, or download the file elsewhere and open it with 'torchvision:ARCH:PATH'."
            )
        os.replace(tmp, target)
    except (ModelError, Cancelled):
        raise
    except Exception as error:  # noqa: BLE001 - anything else still becomes one sentence
        raise ModelError(
            f"Could not download the published weights for {arch}: {error}.", details=repr(error)
        ) from error
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass
    report(1.0, f"Downloaded the {arch} weights.")
    return target
