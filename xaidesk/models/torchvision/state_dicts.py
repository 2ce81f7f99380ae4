"""torchvision state dicts: unwrapping them, comparing them with each architecture (built on the meta
device, no memory), detecting the architecture and building the network from them."""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from ...core import ModelError
from .architectures import _AUXILIARY_HEADS, _HEAD_FEATURES_AND_KEYS, TORCHVISION_ARCHITECTURES, _family, classifier_key

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights", "params")
_PREFIXES = ("module.", "_orig_mod.", "model.")


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
