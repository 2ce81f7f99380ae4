"""timm architectures with weights from a local file (``timm:NAME:PATH``).

The weights are a state dict (``torch.save``, read with ``weights_only=True``) or a
``.safetensors`` file; nothing is downloaded. The network is built by
``timm.create_model(NAME, pretrained=False, num_classes=N)`` with N read from the
classifier in the weights, and its preprocessing comes from timm's pretrained
configuration for NAME (input size, crop fraction, interpolation, mean and std).
timm is imported only when a timm model is loaded or its names are listed.
"""

from __future__ import annotations

import difflib
import functools
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..core import ModelError
from .base import LoadedModel, check_finite_weights
from .preprocessing import Preprocessing


@functools.lru_cache(maxsize=1)
def timm_architecture_names() -> list[str]:
    """Every architecture name timm can build (``timm.list_models()``, sorted; computed once)."""
    import timm

    return sorted(timm.list_models())


def check_timm_name(name: str) -> str:
    """``name`` (an architecture, optionally with a pretrained tag such as ``.augreg_in21k``) or a ModelError.

    The error names the closest architecture names timm knows.
    """
    import timm

    name = str(name).strip()
    if name and timm.is_model(name):
        return name
    base = name.split(".", 1)[0].lower().replace("-", "_")
    close = difflib.get_close_matches(base, timm_architecture_names(), n=5, cutoff=0.6)
    hint = f" Close names: {', '.join(close)}." if close else " 'xaidesk models' and timm.list_models() list them."
    raise ModelError(f"timm has no architecture called '{name}'.{hint}")


def _classifier_names(name: str, model: torch.nn.Module | None = None) -> tuple[str, ...]:
    """The classifier layer(s) timm names for ``name`` (``head``, ``fc``, ``head.fc``, distilled: two)."""
    from timm.models import get_pretrained_cfg

    classifier: Any = None
    if model is not None:
        classifier = getattr(model, "pretrained_cfg", None) and model.pretrained_cfg.get("classifier")
    if classifier is None:
        cfg = get_pretrained_cfg(name)
        classifier = cfg.classifier if cfg is not None else None
    if classifier is None:
        return ()
    return (classifier,) if isinstance(classifier, str) else tuple(classifier)


def _read_state(path: Path, trust: bool, notes: list[str]) -> dict[str, torch.Tensor]:
    from .files import UntrustedModelError, _read_trusted, read_weights_only
    from .torchvision_models import extract_state_dict

    try:
        obj = read_weights_only(path)
    except UntrustedModelError:
        if not trust:
            raise
        obj = _read_trusted(path)
        notes.append("Loaded as a trusted file (its code was run).")
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict_ema"), Mapping):
        obj = obj["state_dict_ema"]  # as timm's load_checkpoint: the averaged weights of a training checkpoint
        notes.append("Used the averaged (EMA) weights of the training checkpoint.")
    state = extract_state_dict(obj)
    if state is None:
        raise ModelError(
            f"{path.name} holds no layer weights (a state dict), so it cannot be loaded into a timm model. "
            "Save the model's state_dict() with torch.save or safetensors."
        )
    return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}


def _mismatch(state: Mapping[str, torch.Tensor], model: torch.nn.Module) -> str | None:
    """A sentence naming the first missing, unexpected and wrong-shaped key, or None when ``state`` fits."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    parts = []
    if missing:
        parts.append(f"{len(missing)} of its layers are missing (for example '{missing[0]}')")
    if unexpected:
        parts.append(f"{len(unexpected)} are unknown to it (for example '{unexpected[0]}')")
    if wrong:
        key = wrong[0]
        parts.append(f"{len(wrong)} have the wrong shape (for example '{key}': {list(state[key].shape)} "
                     f"instead of {list(expected[key])})")
    return "; ".join(parts) or None


def _vit_image_size(state: Mapping[str, torch.Tensor], model: torch.nn.Module) -> int | None:
    """The square input size a ViT-style state dict was made for, when it differs from ``model``'s."""
    embedding, own = state.get("pos_embed"), getattr(model, "pos_embed", None)
    patch_embed = getattr(model, "patch_embed", None)
    if embedding is None or own is None or embedding.shape == own.shape or patch_embed is None:
        return None
    patch = getattr(patch_embed, "patch_size", None)
    prefix = int(getattr(model, "num_prefix_tokens", 0)) if not getattr(model, "no_embed_class", False) else 0
    if patch is None or embedding.ndim != 3:
        return None
    tokens = int(embedding.shape[1]) - prefix
    grid = math.isqrt(max(tokens, 0))
    if tokens < 1 or grid * grid != tokens:
        return None
    return grid * int(patch[0] if isinstance(patch, (tuple, list)) else patch)


def _create(name: str, **options: Any) -> torch.nn.Module:
    import timm

    try:
        return timm.create_model(name, pretrained=False, **options)
    except Exception as error:  # noqa: BLE001 - timm raises many kinds for bad options
        raise ModelError(f"timm could not build '{name}' ({type(error).__name__}: {error}).",
                         details=f"{type(error).__name__}: {error}") from error


def timm_preprocessing(model: torch.nn.Module, name: str, image_size: int | None = None) -> tuple[Preprocessing, str]:
    """Our :class:`Preprocessing` from timm's resolved data configuration of ``model``, and a note.

    ``timm.data.resolve_model_data_config`` gives input size, mean/std, crop fraction,
    interpolation and crop mode; ``center`` maps exactly (shorter side to
    ``floor(size / crop_pct)``, centre crop), ``squash`` with ``crop_pct`` 1 resizes straight to the
    input size; other crop modes are approximated by the centre crop and the note says so.
    """
    from timm.data import resolve_model_data_config

    config = resolve_model_data_config(model)
    channels, height, width = (int(v) for v in config["input_size"])
    if image_size is not None:
        height = width = int(image_size)
    interpolation = str(config.get("interpolation") or "bilinear")
    if interpolation not in ("bilinear", "bicubic", "nearest"):
        interpolation = "bicubic"  # timm's "random" and friends are training-time choices
    crop_pct = float(config.get("crop_pct") or 0.875)
    crop_mode = str(config.get("crop_mode") or "center")
    mean = tuple(float(v) for v in config["mean"])
    std = tuple(float(v) for v in config["std"])
    gray = channels == 1
    if gray:
        mean, std = mean[:1], std[:1]
    kind = "gray" if gray else "rgb"
    label = f"timm {name}"
    if crop_mode == "squash" and crop_pct >= 1.0:
        preprocessing = Preprocessing(size=(height, width), mean=mean, std=std, channels=kind,
                                      interpolation=interpolation, name=label)
        how = f"resize to {height}x{width}"
    else:
        preprocessing = Preprocessing.from_crop_pct((height, width), min(crop_pct, 1.0), mean, std, interpolation,
                                                    channels=kind, name=label)
        how = f"resize to {preprocessing.resize}, centre crop {height}x{width}"
        if crop_mode != "center":
            how += f" (timm's '{crop_mode}' crop mode, approximated by a centre crop)"
    return preprocessing, f"Preprocessing from timm's configuration for {name}: {how}, {interpolation}."


def load_timm(name: str, path: str | Path, *, spec: str | None = None, trust: bool = False) -> LoadedModel:
    """Load timm's ``name`` with the weights in ``path`` (a state dict or ``.safetensors`` file).

    Raises
    ------
    ModelError
        When ``name`` is not a timm architecture (the message names close ones), the file cannot be
        read, or the weights do not fit (the message names the first missing, unexpected or
        wrong-shaped layer).
    """
    from .files import _check_file, _class_names, read_sidecar

    name = check_timm_name(name)
    path = Path(path).expanduser()
    spec = spec or f"timm:{name}:{path}"
    _check_file(path)
    notes: list[str] = []
    state = _read_state(path, trust, notes)

    options: dict[str, Any] = {}
    heads = _classifier_names(name)
    head = next((h for h in heads if f"{h}.weight" in state), None)
    if head is not None:
        options["num_classes"] = int(state[f"{head}.weight"].shape[0])
    model = _create(name, **options)
    image_size = _vit_image_size(state, model)
    if image_size is not None:
        model = _create(name, img_size=image_size, **options)
        notes.append(f"Built for {image_size}x{image_size} pixel input, the size its position embedding is for.")
    problem = _mismatch(state, model)
    if problem is not None:
        # Weights saved by the architecture's original code: timm's own converter for the family, if any.
        convert = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
        converted = None
        if convert is not None:
            try:
                converted = convert(dict(state), model)
            except Exception:  # noqa: BLE001 - the converter does not apply to these weights
                converted = None
        if isinstance(converted, Mapping) and head is None:
            head = next((h for h in _classifier_names(name, model) if f"{h}.weight" in converted), None)
            if head is not None:
                options["num_classes"] = int(converted[f"{head}.weight"].shape[0])
                model = _create(name, **options)
        if isinstance(converted, Mapping) and _mismatch(converted, model) is None:
            state = {k: (v.float() if v.is_floating_point() else v) for k, v in converted.items()}
            notes.append("The weights were converted to timm's layout by timm's checkpoint_filter_fn.")
        elif head is None and _mismatch(state, _create(name, num_classes=0)) is None:
            raise ModelError(
                f"The weights in {path.name} have no classifier layer ({' or '.join(heads) or 'none named'}), "
                "so they give features, not class scores. xaidesk explains classifiers: save the model with its "
                "head."
            )
        else:
            raise ModelError(
                f"The weights in {path.name} do not fit timm's {name}: {problem}. Check that the file holds a "
                f"state dict saved from timm.create_model('{name}').",
                details=problem,
            )
    if head is None:
        raise ModelError(
            f"The weights in {path.name} have no classifier layer ({' or '.join(heads) or 'none named by timm'}), "
            "so they give features, not class scores. xaidesk explains classifiers: save the model with its head."
        )
    try:
        model.load_state_dict(state, strict=True)
    except Exception as error:  # noqa: BLE001
        raise ModelError(f"The weights in {path.name} could not be loaded into timm's {name}.",
                         details=f"{type(error).__name__}: {error}") from error
    model.eval()
    model.requires_grad_(False)
    check_finite_weights(model, path.name)

    sidecar = read_sidecar(path)
    preprocessing, note = timm_preprocessing(model, name, image_size)
    if sidecar.preprocessing is not None:
        fixed = (image_size, image_size) if image_size else _fixed_input_size(model)
        if fixed is not None and tuple(sidecar.preprocessing.size) != fixed:
            raise ModelError(
                f"timm's {name} takes {fixed[0]}x{fixed[1]} pixel input, but {sidecar.source} asks for "
                f"{sidecar.preprocessing.size[0]}x{sidecar.preprocessing.size[1]}. Correct or remove its "
                "preprocessing entry."
            )
        preprocessing = sidecar.preprocessing
        notes.append(f"Preprocessing from {sidecar.source}.")
    else:
        notes.append(note)
    num_classes = int(state[f"{head}.weight"].shape[0])
    return LoadedModel(
        spec=spec,
        name=f"{name} ({path.name})",
        module=model,
        preprocessing=preprocessing,
        class_names=_class_names(sidecar, num_classes, notes),
        architecture=f"timm:{name}",
        notes=notes,
    )


def _fixed_input_size(model: torch.nn.Module) -> tuple[int, int] | None:
    """The one input size a timm model accepts (ViT-style patch embedding with a fixed size), if so."""
    patch_embed = getattr(model, "patch_embed", None)
    if patch_embed is None or getattr(patch_embed, "dynamic_img_size", False) or not getattr(patch_embed, "strict_img_size", False):
        return None
    size = getattr(patch_embed, "img_size", None)
    return (int(size[0]), int(size[1])) if size is not None else None


# --------------------------------------------------------------------------- detection

_VIT_WIDTHS = {192: "tiny", 384: "small", 768: "base", 1024: "large", 1280: "huge"}
_CONVNEXT_WIDTHS = {40: "atto", 48: "femto", 64: "pico", 80: "nano", 96: "tiny|small", 128: "base", 192: "large",
                    256: "xlarge", 352: "huge", 384: "xxlarge"}
_EFFICIENTNET_HEADS = {1280: "b0|b1", 1408: "b2", 1536: "b3", 1792: "b4", 2048: "b5", 2304: "b6", 2560: "b7",
                       2816: "b8"}


def _blocks(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    """How many numbered blocks ``prefix.N.`` the state dict has."""
    numbers = {key[len(prefix):].split(".", 1)[0] for key in state if key.startswith(prefix)}
    return sum(1 for n in numbers if n.isdigit())


def _name_pattern(state: Mapping[str, torch.Tensor]) -> str | None:
    """A regular expression for the timm names whose layout the key names and a few shapes suggest."""
    if {"pos_embed", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight"} <= set(state):
        proj = state["patch_embed.proj.weight"]
        word = _VIT_WIDTHS.get(int(proj.shape[0]))
        prefix = 1 + int("dist_token" in state)
        tokens = int(state["pos_embed"].shape[1]) - prefix
        grid = math.isqrt(max(tokens, 0))
        if word is None or grid * grid != tokens:
            return None
        distilled = "_distilled" if "dist_token" in state else ""
        return rf"(vit|deit|deit3)_{word}{distilled}_patch{int(proj.shape[-1])}_{grid * int(proj.shape[-1])}$"
    if {"stem.0.weight", "stages.0.blocks.0.conv_dw.weight"} <= set(state):
        words = _CONVNEXT_WIDTHS.get(int(state["stem.0.weight"].shape[0]))
        return rf"convnext(v2)?_({words})$" if words else None
    if {"layer1.0.conv1.weight", "fc.weight"} <= set(state) and ("conv1.weight" in state or "conv1.0.weight" in state):
        per_block = 3 if "layer1.0.conv3.weight" in state else 2
        depth = sum(_blocks(state, f"layer{i}.") for i in range(1, 5)) * per_block + 2
        return rf"(resnet|resnext|wide_resnet){depth}(?!\d)\w*$"
    if {"conv_stem.weight", "conv_head.weight", "classifier.weight"} <= set(state):
        variants = _EFFICIENTNET_HEADS.get(int(state["conv_head.weight"].shape[0]))
        return rf"(tf_)?efficientnet_({variants})$" if variants else None
    return None


@functools.lru_cache(maxsize=64)
def _timm_signature(name: str) -> dict[str, tuple[int, ...]] | None:
    """Parameter and buffer shapes of timm's ``name`` (built on the meta device), or None if it cannot be."""
    import timm

    from .torchvision_models import _NoInitOnMeta

    try:
        with torch.device("meta"), _NoInitOnMeta():
            model = timm.create_model(name, pretrained=False)
    except Exception:  # noqa: BLE001 - a builder that computes with tensors; not a candidate then
        return None
    heads = set(_classifier_names(name, model))
    return {k: (None if k.rpartition(".")[0] in heads else tuple(v.shape)) for k, v in model.state_dict().items()}


def detect_timm_architecture(state: Mapping[str, torch.Tensor], limit: int = 8) -> list[str]:
    """timm architecture names whose layers match ``state`` exactly (any class count), best first.

    Only ViT/DeiT, ConvNeXt, ResNet and EfficientNet layouts are recognised: key names and a few
    shapes pick at most ``limit`` names, which are then built on the meta device and compared.
    Several names can fit the same weights (``efficientnet_b0`` and ``tf_efficientnet_b0`` differ
    only in padding); an empty list means no recognised layout fits.
    """
    import re

    pattern = _name_pattern(state)
    if pattern is None:
        return []
    expression = re.compile(pattern)
    candidates = sorted((n for n in timm_architecture_names() if expression.match(n)), key=lambda n: (len(n), n))
    given = {k: tuple(v.shape) for k, v in state.items()}
    found = []
    for name in candidates[:limit]:
        signature = _timm_signature(name)
        if signature is None or set(signature) != set(given):
            continue
        if all(shape is None or given[key] == shape for key, shape in signature.items()):
            found.append(name)
    return found
