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
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..core import ModelError
from .base import LoadedModel, check_finite_weights
from .preprocessing import Preprocessing


#: The oldest timm ``timm:`` works with (``resolve_model_data_config``, ``get_pretrained_cfg``, ``pretrained_cfg_overlay``).
MIN_TIMM = "0.9"


def check_timm_version() -> str:
    """The installed timm version, or a ModelError when timm is missing or older than :data:`MIN_TIMM`."""
    try:
        import timm
    except ImportError as error:
        raise ModelError(f"timm: models need the timm package ({MIN_TIMM} or newer), which is not installed.") from error
    from packaging.version import InvalidVersion, Version

    found = str(getattr(timm, "__version__", "0"))
    try:
        old = Version(found) < Version(MIN_TIMM)
    except InvalidVersion:
        old = False
    if old:
        raise ModelError(
            f"timm: models need timm {MIN_TIMM} or newer; this installation has {found}. Update it (pip install -U timm)."
        )
    return found


@functools.lru_cache(maxsize=1)
def timm_architecture_names() -> list[str]:
    """Every architecture name timm can build (``timm.list_models()``, sorted; computed once)."""
    import timm

    return sorted(timm.list_models())


def check_timm_name(name: str) -> str:
    """``name`` (an architecture, optionally with a pretrained tag such as ``.augreg_in21k``) or a ModelError.

    The error names the closest architecture names timm knows.

    Raises
    ------
    ModelError
        When timm has no such architecture, or timm is missing or too old (:data:`MIN_TIMM`).
    """
    import timm

    check_timm_version()
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
    from .files import read_state_dict

    # As timm's load_checkpoint: a training checkpoint's averaged weights when it has them.
    return read_state_dict(path, trust=trust, notes=notes, prefer_ema=True)


def _mismatch(state: Mapping[str, torch.Tensor], model: torch.nn.Module) -> str | None:
    """A sentence naming the first missing, unexpected and wrong-shaped key, or None when ``state`` fits."""
    from .torchvision import describe_key_mismatch

    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    return describe_key_mismatch(state, expected, missing, unexpected, wrong) or None


def _vit_image_size(state: Mapping[str, torch.Tensor], model: torch.nn.Module) -> int | None:
    """The square input size a ViT-style state dict was made for, when it differs from ``model``'s.

    The position embedding is ``pos_embed``, or the one key ending in ``.pos_embed`` (weights saved
    inside a wrapper, such as OpenCLIP's ``visual.trunk.``, that timm's converter unwraps).
    """
    from .torchvision import vit_grid_side

    own, patch_embed = getattr(model, "pos_embed", None), getattr(model, "patch_embed", None)
    embedding = state.get("pos_embed")
    if embedding is None:
        found = [v for k, v in state.items() if str(k).endswith(".pos_embed")]
        embedding = found[0] if len(found) == 1 else None
    if embedding is None or own is None or embedding.shape == own.shape or patch_embed is None:
        return None
    patch = getattr(patch_embed, "patch_size", None)
    prefix = int(getattr(model, "num_prefix_tokens", 0)) if not getattr(model, "no_embed_class", False) else 0
    grid = vit_grid_side(embedding, prefix)
    if patch is None or grid is None:
        return None
    return grid * int(patch[0] if isinstance(patch, (tuple, list)) else patch)


def _create(name: str, **options: Any) -> torch.nn.Module:
    import timm

    check_timm_version()
    try:
        return timm.create_model(name, pretrained=False, **options)
    except Exception as error:  # noqa: BLE001 - timm raises many kinds for bad options
        raise ModelError(f"timm could not build '{name}' ({type(error).__name__}: {error}).",
                         details=f"{type(error).__name__}: {error}") from error


def timm_preprocessing(model: torch.nn.Module, name: str, image_size: int | None = None,
                       source: str | None = None) -> tuple[Preprocessing, str]:
    """Our :class:`Preprocessing` from timm's resolved data configuration of ``model``, and a note.

    ``source`` names the file the model's ``pretrained_cfg`` came from (``config.json``), if any;
    otherwise the note credits timm's own configuration for ``name``.

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
    where = f"{source} (timm's pretrained_cfg)" if source else f"timm's configuration for {name}"
    return preprocessing, f"Preprocessing from {where}: {how}, {interpolation}."


def load_timm(name: str, path: str | Path, *, spec: str | None = None, trust: bool = False) -> LoadedModel:
    """Load timm's ``name`` with the weights in ``path``.

    Parameters
    ----------
    name
        A timm architecture name (optionally with a pretrained tag).
    path
        A state dict (``torch.save``) or ``.safetensors`` file, or a timm model folder (``config.json``
        naming an ``architecture``, and ``model.safetensors``). A timm ``config.json`` next to the
        weights gives the preprocessing (its ``pretrained_cfg``), the class names (``label_names``) and
        the build arguments (``model_args``), as ``timm.create_model("local-dir:FOLDER")`` reads them.
    spec
        The spec string it was named by (default ``timm:NAME:PATH``).
    trust
        Allow a file that holds pickled code (it runs that code).

    Raises
    ------
    ModelError
        When ``name`` is not a timm architecture (the message names close ones), timm is too old
        (:data:`MIN_TIMM`), the file cannot be read, or the weights do not fit (the message names the
        first missing, unexpected or wrong-shaped layer).
    """
    from .base import PREPROCESSING, Note
    from .files import Sidecar, check_model_file, class_names_from_sidecar, read_sidecar

    name = check_timm_name(name)
    path = _weights_path(Path(path).expanduser())
    spec = spec or f"timm:{name}:{path}"
    check_model_file(path)
    notes: list[str] = []
    state = _read_state(path, trust, notes)
    hub = folder_config(path.parent, name, notes)

    options: dict[str, Any] = dict(hub.build_options)
    heads = _classifier_names(name)
    head = next((h for h in heads if f"{h}.weight" in state), None)
    if head is not None:
        options["num_classes"] = int(state[f"{head}.weight"].shape[0])
    model = _create(name, **options)
    image_size = _vit_image_size(state, model)
    if image_size is not None:
        options["img_size"] = image_size
        model = _create(name, **options)
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
                model = _create(name, **options)  # img_size kept: the converter fitted the weights to it
        if isinstance(converted, Mapping) and _mismatch(converted, model) is None:
            state = {k: (v.float() if v.is_floating_point() else v) for k, v in converted.items()}
            notes.append("The weights were converted to timm's layout by timm's checkpoint_filter_fn.")
        elif head is None and _mismatch(state, _create(name, **{**options, "num_classes": 0})) is None:
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
    preprocessing, note = timm_preprocessing(model, name, image_size, source=hub.source if hub.preprocessing else None)
    if sidecar.preprocessing is not None:
        fixed = (image_size, image_size) if image_size else _fixed_input_size(model)
        if fixed is not None and tuple(sidecar.preprocessing.size) != fixed:
            raise ModelError(
                f"timm's {name} takes {fixed[0]}x{fixed[1]} pixel input, but {sidecar.source} asks for "
                f"{sidecar.preprocessing.size[0]}x{sidecar.preprocessing.size[1]}. Correct or remove its "
                "preprocessing entry."
            )
        preprocessing = sidecar.preprocessing
        notes.append(Note(f"Preprocessing from {sidecar.source}.", PREPROCESSING))
    else:
        notes.append(Note(note, PREPROCESSING))
    num_classes = int(state[f"{head}.weight"].shape[0])
    if sidecar.class_names is None and hub.class_names is not None:
        sidecar = Sidecar(class_names=hub.class_names, preprocessing=sidecar.preprocessing, source=hub.source)
    return LoadedModel(
        spec=spec,
        name=f"{name} ({path.name})",
        module=model,
        preprocessing=preprocessing,
        class_names=class_names_from_sidecar(sidecar, num_classes, notes, path=path),
        architecture=f"timm:{name}",
        notes=notes,
    )


def _weights_path(path: Path) -> Path:
    """``path``, or for a timm model folder the weights file in it."""
    if not path.is_dir():
        return path
    from .sources import is_timm_config, read_json_object, timm_weights_in

    weights = timm_weights_in(path) if is_timm_config(read_json_object(path / "config.json")) else None
    if weights is None:
        raise ModelError(
            f"{path} is a folder without a timm model: timm: needs a weights file, or a folder holding timm's "
            "config.json (naming an 'architecture') and model.safetensors."
        )
    return weights


@dataclass
class FolderConfig:
    """What a timm ``config.json`` next to the weights says (empty when there is none).

    Attributes
    ----------
    build_options
        Arguments for ``timm.create_model``: ``pretrained_cfg_overlay`` (the saved ``pretrained_cfg``)
        and the saved ``model_args``.
    class_names
        The ``label_names``, if given as a list or a gap-free ``{index: name}`` table.
    preprocessing
        True when the saved ``pretrained_cfg`` sets the input size, mean, std, crop or interpolation.
    source
        ``"config.json"``.
    """

    build_options: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] | None = None
    preprocessing: bool = False
    source: str = "config.json"


#: ``pretrained_cfg`` entries that describe the data; where the weights came from is left out.
_DATA_FIELDS = ("input_size", "test_input_size", "min_input_size", "fixed_input_size", "interpolation", "crop_pct",
                "test_crop_pct", "crop_mode", "mean", "std", "num_classes", "label_names", "label_descriptions",
                "label_offset", "pool_size", "test_pool_size", "first_conv", "classifier")
_PREPROCESSING_FIELDS = ("input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std")


def folder_config(folder: Path, name: str, notes: list[str]) -> FolderConfig:
    """The timm ``config.json`` in ``folder`` (as timm's ``load_model_config_from_path`` parses it), if it is for ``name``.

    A config for another architecture is ignored, with a note; a ``config.json`` that is not timm's
    (a transformers one) is not read.
    """
    from .sources import is_timm_config, read_json_object

    config = read_json_object(folder / "config.json") if (folder / "config.json").is_file() else None
    if not is_timm_config(config):
        return FolderConfig()
    saved = str(config["architecture"])
    if saved.split(".", 1)[0] != name.split(".", 1)[0]:
        notes.append(f"The config.json next to the weights is for {saved}, not {name}; it was not used.")
        return FolderConfig()
    cfg = config.get("pretrained_cfg")
    cfg = dict(cfg) if isinstance(cfg, dict) else {k: v for k, v in config.items() if k in _DATA_FIELDS}
    if "pretrained_cfg" not in config and "labels" in config:  # the older single-dict layout, as timm renames it
        cfg.setdefault("label_names", config["labels"])
    for key in ("num_classes", "label_names", "label_descriptions"):
        if key in config:
            cfg[key] = config[key]
    overlay = {k: v for k, v in cfg.items() if k in _DATA_FIELDS and v is not None}
    options: dict[str, Any] = {"pretrained_cfg_overlay": overlay} if overlay else {}
    model_args = config.get("model_args")
    if isinstance(model_args, dict):
        options.update({str(k): v for k, v in model_args.items() if k not in ("pretrained", "num_classes")})
    return FolderConfig(build_options=options, class_names=_label_names(overlay.get("label_names")),
                        preprocessing=any(k in overlay for k in _PREPROCESSING_FIELDS))


def _label_names(value: Any) -> list[str] | None:
    if isinstance(value, (list, tuple)) and value:
        return [str(v) for v in value]
    if isinstance(value, dict) and value:
        try:
            table = {int(k): str(v) for k, v in value.items()}
        except (TypeError, ValueError):
            return None
        if sorted(table) == list(range(len(table))):
            return [table[i] for i in range(len(table))]
    return None


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
    from .torchvision import vit_grid_side

    if {"pos_embed", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight"} <= set(state):
        proj = state["patch_embed.proj.weight"]
        word = _VIT_WIDTHS.get(int(proj.shape[0]))
        grid = vit_grid_side(state["pos_embed"], 1 + int("dist_token" in state))
        if word is None or grid is None:
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

    from .torchvision import NoInitOnMeta

    try:
        with torch.device("meta"), NoInitOnMeta():
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
