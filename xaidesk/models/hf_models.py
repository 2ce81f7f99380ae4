"""Hugging Face ``transformers`` image classifiers saved in a local folder (``hf:FOLDER``).

The folder is what ``model.save_pretrained(FOLDER)`` and ``image_processor.save_pretrained(FOLDER)``
write (or a downloaded model repository): ``config.json``, the weights (``model.safetensors``,
preferred, or ``pytorch_model.bin``, either possibly sharded with an index file) and
``preprocessor_config.json``. Nothing is ever downloaded: every transformers call passes
``local_files_only=True`` and is given a folder on this computer. ``.bin`` weights are read
with ``torch.load(weights_only=True)``; a ``.bin`` that holds pickled code, and any model or image
processor that ships its own Python code (``auto_map`` in its configuration), load only with
``trust=True``.

The network is wrapped in :class:`HFImageClassifier`, whose ``forward(pixel_values)`` returns the
logits, and it is built with eager attention so that attention is explicit for LRP. The saved
image processor is turned into a :class:`~xaidesk.models.preprocessing.Preprocessing` and checked
against the processor itself on a test image; any difference is stated in the model's notes.
"""

from __future__ import annotations

import contextlib
import math
import pickle
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..core import ModelError
from .base import CLASS_NAMES, PREPROCESSING, LoadedModel, Note
from .files import UntrustedModelError
from .preprocessing import Preprocessing

_WEIGHT_FILES = (
    "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
)
_FOREIGN_WEIGHTS = {"tf_model.h5": "TensorFlow", "flax_model.msgpack": "Flax", "model.ckpt.index": "TensorFlow"}
_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_RESAMPLE = {0: "nearest", 1: "bicubic", 2: "bilinear", 3: "bicubic", 4: "bilinear", 5: "bilinear"}
_RESAMPLE_NAMES = {1: "Lanczos", 4: "box", 5: "Hamming"}
# Largest difference, in 1/255 of the pixel range, between our input and the image processor's that
# counts as a match: the processor resizes uint8 images and rounds, which alone gives up to one level.
_MATCH_LEVELS = 2.0
#: The oldest transformers hf: works with (``from_pretrained(dtype=...)`` arrived in 4.56).
MIN_TRANSFORMERS = "4.56"


def check_transformers_version() -> str:
    """The installed transformers version, or a ModelError when it is missing or older than :data:`MIN_TRANSFORMERS`."""
    try:
        import transformers
    except ImportError as error:
        raise ModelError(
            f"hf: models need the transformers package ({MIN_TRANSFORMERS} or newer), which is not installed."
        ) from error
    from packaging.version import InvalidVersion, Version

    found = str(getattr(transformers, "__version__", "0"))
    try:
        old = Version(found) < Version(MIN_TRANSFORMERS)
    except InvalidVersion:
        old = False
    if old:
        raise ModelError(
            f"hf: models need transformers {MIN_TRANSFORMERS} or newer; this installation has {found}. "
            "Update it (pip install -U transformers)."
        )
    return found


class HFImageClassifier(torch.nn.Module):
    """A transformers image classifier whose ``forward`` returns the logits tensor (B, K).

    The transformers model is kept as the child ``model``, so layer lists, hooks and LRP rules
    see its modules.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The logits (B, K) for ``pixel_values`` (B, C, H, W)."""
        output = self.model(pixel_values)
        logits = output[0] if isinstance(output, (tuple, list)) else output.logits
        return logits


def load_hf(folder: str | Path, *, spec: str | None = None, trust: bool = False) -> LoadedModel:
    """Load a transformers image classifier from a local folder (needs transformers :data:`MIN_TRANSFORMERS`).

    Parameters
    ----------
    folder
        A folder holding ``config.json``, the weights and (ideally) ``preprocessor_config.json``;
        a Hugging Face cache folder ``models--ORG--NAME`` is read at its current snapshot.
    spec
        The spec string it was named by (default ``hf:FOLDER``).
    trust
        Allow a model or image processor that comes with its own Python code, and ``.bin``
        weights that hold pickled objects. Both run code from the folder.

    Raises
    ------
    UntrustedModelError
        The folder needs code to run and ``trust`` is False.
    ModelError
        Anything else that keeps the model from loading, in plain words.
    """
    check_transformers_version()
    path, cache = _model_folder(folder)
    notes: list[str] = []
    if cache is not None:
        notes.append(f"Read from the Hugging Face cache snapshot {path.name[:12]}.")
    config = _read_json(path / "config.json", path)
    _check_custom_code(config, path, trust)
    model_type = _check_model_type(config, path, trust)
    weights = _weights_file(path)
    model = _load_network(path, weights, trust)
    class_names = _class_names(model.config, notes)
    preprocessing = _preprocessing(path, model.config, model_type, trust, notes)
    module = HFImageClassifier(model).eval().requires_grad_(False)
    _check_outputs(module, preprocessing, len(class_names), path)
    return LoadedModel(
        spec=spec or f"hf:{folder}",
        name=cache.name if cache is not None else path.name,
        module=module,
        preprocessing=preprocessing,
        class_names=class_names,
        architecture=f"hf:{model_type}",
        notes=notes,
    )


# --------------------------------------------------------------------------- the folder


def _model_folder(folder: str | Path) -> tuple[Path, Path | None]:
    """The folder that holds config.json, and the cache folder ``models--ORG--NAME`` it is a snapshot of (if so)."""
    text = str(folder).strip()
    path = Path(text).expanduser()
    if not path.exists():
        if _HUB_NAME.match(text) and not text.startswith((".", "~")):
            raise ModelError(
                f"'{text}' is not a folder on this computer. xaidesk never downloads models: download "
                f"'{text}' once on a computer with internet (e.g. 'hf download {text} --local-dir FOLDER') "
                "and give the folder as hf:FOLDER."
            )
        raise ModelError(f"The folder {path} does not exist. Give the folder that holds the model's config.json.")
    if path.is_file():
        hint = f" (hf:{path.parent})" if path.name == "config.json" else ""
        raise ModelError(
            f"{path.name} is a file; hf: needs the folder that holds config.json and the weights{hint}."
        )
    if (path / "config.json").is_file():
        return path, None
    from .sources import hf_cache_snapshot

    snapshot = hf_cache_snapshot(path)
    if snapshot is not None:
        return snapshot, path
    raise ModelError(
        f"The folder {path} holds no config.json, so it is not a saved transformers model. Give the "
        "folder written by save_pretrained (config.json, model.safetensors, preprocessor_config.json)."
    )


def _read_json(file: Path, folder: Path) -> dict:
    from .sources import read_json_object

    data = read_json_object(file)
    if data is None:
        raise ModelError(
            f"{file.name} in {folder} could not be read as JSON describing the model; the download may be "
            "incomplete. Fetch it again."
        )
    return data


def _check_custom_code(config: dict, folder: Path, trust: bool) -> None:
    """Refuse, without ``trust``, a model or image processor that brings its own Python code."""
    if trust:
        return
    sources = [("config.json", config)]
    for name in _PROCESSOR_FILES:
        if (folder / name).is_file():
            sources.append((name, _read_json(folder / name, folder)))
    for name, data in sources:
        auto_map = data.get("auto_map")
        if not auto_map:
            continue
        reference = next(iter(auto_map.values())) if isinstance(auto_map, dict) else auto_map
        if isinstance(reference, (list, tuple)):
            reference = next((r for r in reference if r), "")
        raise UntrustedModelError(
            f"This model comes with its own Python code ({name} names {reference}). Loading it runs that "
            "code, which can do anything your user account can do. Only trust models from sources you "
            "trust; to load it anyway, confirm that you trust it (--trust on the command line).",
            path=folder / name,
            code_reference=str(reference) or None,
        )


def _check_model_type(config: dict, folder: Path, trust: bool) -> str:
    """The config's ``model_type``, refused unless transformers offers it as an image classifier."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES as classifiers

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise ModelError(f"config.json in {folder} names no model_type, so it is not a transformers model config.")
    custom = trust and "AutoModelForImageClassification" in (config.get("auto_map") or {})
    if model_type not in classifiers and not custom:
        known = ", ".join(sorted(classifiers)[:12])
        if model_type in CONFIG_MAPPING_NAMES:
            raise ModelError(
                f"{folder.name} holds a '{model_type}' model, which is not an image classifier. hf: opens "
                f"image classifiers (AutoModelForImageClassification), such as {known}, ..."
            )
        import transformers

        raise ModelError(
            f"{folder.name} holds a model of type '{model_type}', which transformers {transformers.__version__} "
            "does not know. It may need a newer transformers, or its own code (then its config.json has an "
            "auto_map entry)."
        )
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and not custom:
        if not any("ForImageClassification" in str(a) for a in architectures):
            raise ModelError(
                f"{folder.name} was saved as {architectures[0]}, which has no classification head. hf: needs a "
                f"model saved from an image-classification class (e.g. {_class_name(classifiers[model_type])})."
            )
    return model_type


def _class_name(entry: Any) -> str:
    return entry[0] if isinstance(entry, (tuple, list)) else str(entry)


def _weights_file(folder: Path) -> str:
    for name in _WEIGHT_FILES:
        if (folder / name).is_file():
            return name
    shards = sorted(folder.glob("model-*.safetensors")) + sorted(folder.glob("pytorch_model-*.bin"))
    if shards:
        raise ModelError(
            f"{folder.name} holds weight shards ({shards[0].name}, ...) but not the index file that lists "
            "them (model.safetensors.index.json or pytorch_model.bin.index.json). Fetch the folder again."
        )
    foreign = [kind for name, kind in _FOREIGN_WEIGHTS.items() if (folder / name).is_file()]
    if foreign:
        raise ModelError(
            f"{folder.name} holds only {foreign[0]} weights, which transformers 5 no longer reads. Use a copy "
            "of the model with model.safetensors (most model pages offer one)."
        )
    raise ModelError(
        f"{folder.name} holds no weights: expected model.safetensors (or pytorch_model.bin) next to config.json."
    )


# --------------------------------------------------------------------------- the network


class _Quiet:
    """Who is keeping transformers quiet: the settings to restore and how many loads still run."""

    lock = threading.Lock()
    depth = 0
    saved: tuple[int, bool] | None = None


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Keep transformers' progress bars and load report off the screen while the block runs.

    Loads may overlap (in several threads): the first to start saves transformers' verbosity and
    progress-bar setting, and the last to end restores them.
    """
    from transformers.utils import logging as hf_logging

    with _Quiet.lock:
        if _Quiet.depth == 0:
            _Quiet.saved = (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled())
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        _Quiet.depth += 1
    try:
        yield
    finally:
        with _Quiet.lock:
            _Quiet.depth -= 1
            if _Quiet.depth == 0 and _Quiet.saved is not None:
                verbosity, bars = _Quiet.saved
                _Quiet.saved = None
                hf_logging.set_verbosity(verbosity)
                if bars:
                    hf_logging.enable_progress_bar()


def _load_network(folder: Path, weights: str, trust: bool) -> torch.nn.Module:
    """``AutoModelForImageClassification`` from the folder, float32, eager attention, every weight checked.

    transformers reads ``.bin`` weights with ``torch.load(weights_only=True)`` whatever it is told;
    a ``.bin`` that holds pickled objects is therefore read here, and only with ``trust``.
    """
    options = dict(
        local_files_only=True, trust_remote_code=trust, attn_implementation="eager", dtype=torch.float32,
        ignore_mismatched_sizes=True, output_loading_info=True,
    )
    try:
        try:
            model, info = _from_pretrained(str(folder), weights_only=True, **options)
        except pickle.UnpicklingError as error:
            if not trust:
                raise UntrustedModelError(
                    f"{weights} in {folder.name} contains program code (saved Python objects), not just weights. "
                    "Loading it runs that code, which can do anything your user account can do. Prefer the "
                    "model.safetensors version of the model; to load this file anyway, confirm that you trust it "
                    "(--trust on the command line).",
                    details=str(error),
                    path=folder / weights,
                ) from error
            model, info = _from_trusted_bin(folder, weights, options)
    except ModelError:
        raise
    except MemoryError as error:
        raise ModelError(f"{folder.name} is too large to load into memory.") from error
    except Exception as error:  # noqa: BLE001 - OSError, ValueError, RuntimeError, KeyError from transformers
        raise ModelError(
            f"transformers could not load the model in {folder.name} ({type(error).__name__}); the folder "
            "may be incomplete or saved by a different version. The details say more.",
            details=f"{type(error).__name__}: {error}",
        ) from error
    _check_loading_info(info, folder, weights)
    return model.float().eval().requires_grad_(False)


def _from_pretrained(folder: str | None, **options) -> tuple[torch.nn.Module, dict]:
    from transformers import AutoModelForImageClassification

    with quiet_transformers():
        return AutoModelForImageClassification.from_pretrained(folder, **options)


def _from_trusted_bin(folder: Path, weights: str, options: dict) -> tuple[torch.nn.Module, dict]:
    """The model class for the folder's config, given the fully unpickled tensors of its ``.bin`` weights."""
    from transformers import AutoConfig, AutoModelForImageClassification

    config = AutoConfig.from_pretrained(str(folder), local_files_only=True, trust_remote_code=True)
    with torch.device("meta"):  # only to learn the class, at no memory cost
        model_class = type(AutoModelForImageClassification.from_config(config, trust_remote_code=True))
    state = _trusted_state_dict(folder, weights)
    options = {k: v for k, v in options.items() if k not in ("local_files_only", "trust_remote_code")}
    with quiet_transformers():
        return model_class.from_pretrained(None, config=config, state_dict=state, **options)


def _trusted_state_dict(folder: Path, weights: str) -> dict[str, torch.Tensor]:
    """The tensors of trusted ``.bin`` weights (a single file or the shards an index lists), fully unpickled."""
    from .files import read_trusted

    files = [folder / weights]
    if weights.endswith(".index.json"):
        weight_map = _read_json(folder / weights, folder).get("weight_map") or {}
        files = [folder / name for name in sorted(set(weight_map.values()))]
    state: dict[str, torch.Tensor] = {}
    for file in files:
        content = read_trusted(file)  # trusted: no weights-only attempt, and the keys kept as saved
        if not isinstance(content, dict):
            raise ModelError(f"{file.name} in {folder.name} holds a {type(content).__name__}, not a set of weights.")
        state.update({str(k): v for k, v in content.items() if isinstance(v, torch.Tensor)})
    return state


def _check_loading_info(info: dict, folder: Path, weights: str) -> None:
    """Refuse weights that leave part of the model unset, carry extra tensors or have the wrong shapes."""
    mismatched = sorted(str(k[0]) if isinstance(k, tuple) else str(k) for k in info.get("mismatched_keys", ()))
    missing = sorted(str(k) for k in info.get("missing_keys", ()))
    unexpected = sorted(str(k) for k in info.get("unexpected_keys", ()))
    problems = [
        (mismatched, "has a different shape in {w} than config.json describes"),
        (missing, "is missing from {w}"),
        (unexpected, "is in {w} but not in the model config.json describes"),
    ]
    for keys, wording in problems:
        if keys:
            more = f" ({len(keys) - 1} more)" if len(keys) > 1 else ""
            raise ModelError(
                f"The weights do not match config.json in {folder.name}: '{keys[0]}' "
                + wording.format(w=weights) + f"{more}. The folder mixes files of different models; fetch it again.",
                details="\n".join(keys[:50]),
            )
    errors = info.get("error_msgs") or []
    if errors:
        raise ModelError(
            f"The weights in {folder.name} could not be loaded into the model config.json describes.",
            details="\n".join(str(e) for e in errors[:20]),
        )


def _class_names(config: Any, notes: list[str]) -> list[str]:
    id2label = getattr(config, "id2label", None) or {}
    count = int(getattr(config, "num_labels", len(id2label)) or len(id2label))
    labels = {int(k): str(v) for k, v in id2label.items()}
    names = [labels.get(i, f"LABEL_{i}") for i in range(count)]
    generic = [i for i, name in enumerate(names) if name == f"LABEL_{i}"]
    if generic:
        names = [f"class {i}" if name == f"LABEL_{i}" else name for i, name in enumerate(names)]
        notes.append(Note(
            f"config.json names {'no' if len(generic) == count else 'only some'} classes (transformers' default "
            "LABEL_i); they are called 'class i'. A label file can name them.", CLASS_NAMES))
    return names


def _check_outputs(module: HFImageClassifier, preprocessing: Preprocessing, count: int, folder: Path) -> None:
    """Run one blank input through the model: it must give one finite score per class."""
    x = torch.zeros(1, preprocessing.num_channels, *preprocessing.size)
    try:
        with torch.no_grad():
            logits = module(x)
    except Exception as error:  # noqa: BLE001
        raise ModelError(
            f"The model in {folder.name} does not accept a {preprocessing.size[0]}×{preprocessing.size[1]} image, "
            "the size its image processor gives. Check preprocessor_config.json against config.json.",
            details=f"{type(error).__name__}: {error}",
        ) from error
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[1] != count:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ModelError(
            f"The model in {folder.name} gives outputs of shape {shape}, not one score for each of its "
            f"{count} classes."
        )


# --------------------------------------------------------------------------- preprocessing


def _preprocessing(folder: Path, config: Any, model_type: str, trust: bool, notes: list[str]) -> Preprocessing:
    """The saved image processor as a :class:`Preprocessing`, checked on a test image."""
    processor, source = _image_processor(folder, model_type, trust, notes)
    preprocessing, differences = preprocessing_from_processor(processor, config, name=f"{source} ({folder.name})")
    notes.extend(Note(text, PREPROCESSING) for text in differences)
    model_size = _config_size(config)
    if source != "preprocessor_config.json" and model_size and preprocessing.size != model_size:
        # The standard processor's size is for the published checkpoints; this model names its own.
        preprocessing = replace(preprocessing, size=model_size, resize=None)
        notes.append(Note(f"Images are resized to {model_size[0]}×{model_size[1]}, the input size config.json names.",
                          PREPROCESSING))
        return preprocessing
    if preprocessing.channels == "rgb":
        levels = _compare_with_processor(processor, preprocessing)
        if levels is None:
            notes.append(Note("The image processor could not be run on a test image to check xaidesk's "
                              "preprocessing.", PREPROCESSING))
        elif isinstance(levels, str):
            notes.append(Note(levels, PREPROCESSING))
        elif levels > _MATCH_LEVELS:
            notes.append(Note(
                f"On a test image xaidesk's model input differs from that of the model's own image processor by "
                f"up to {levels:.0f}/255 of the pixel range, so scores may differ from transformers' own.",
                PREPROCESSING))
    return preprocessing


def _image_processor(folder: Path, model_type: str, trust: bool, notes: list[str]) -> tuple[Any, str]:
    from transformers import AutoImageProcessor

    if any((folder / name).is_file() for name in _PROCESSOR_FILES):
        try:
            with quiet_transformers():
                processor = AutoImageProcessor.from_pretrained(
                    str(folder), local_files_only=True, trust_remote_code=trust
                )
        except Exception as error:  # noqa: BLE001
            raise ModelError(
                f"The image processor in {folder.name} (preprocessor_config.json) could not be read; without it "
                "xaidesk cannot tell how the model wants its images. Fetch the file again.",
                details=f"{type(error).__name__}: {error}",
            ) from error
        return processor, "preprocessor_config.json"
    # No processor saved (model.save_pretrained alone): the standard one of the model type, as transformers defines it.
    from transformers.models.auto.image_processing_auto import (
        IMAGE_PROCESSOR_MAPPING_NAMES,
        get_image_processor_class_from_name,
    )

    class_name = standard_processor_name(IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type))
    cls = get_image_processor_class_from_name(class_name) if class_name else None
    if cls is None:
        raise ModelError(
            f"{folder.name} has no preprocessor_config.json, and transformers has no standard image processor "
            f"for '{model_type}' models. Save the model's image processor into the folder "
            "(image_processor.save_pretrained(FOLDER))."
        )
    notes.append(Note(
        f"The folder has no preprocessor_config.json: the standard {class_name} settings of transformers are "
        "used. If the model was trained with other preprocessing, save its image processor into the folder "
        "or set the preprocessing by hand.", PREPROCESSING))
    return cls(), class_name


def standard_processor_name(entry: Any) -> str | None:
    """The image processor class named by an ``IMAGE_PROCESSOR_MAPPING_NAMES`` entry.

    transformers 5 maps backends to names (``{"torchvision": ..., "pil": ...}``), transformers 4
    gives ``(slow, fast)``; the torchvision (fast) one is preferred, as transformers 5 does.
    """
    if isinstance(entry, dict):
        return entry.get("torchvision") or entry.get("pil") or next((v for v in entry.values() if v), None)
    if isinstance(entry, (tuple, list)):
        slow, fast = (list(entry) + [None, None])[:2]
        return fast or slow
    return str(entry) if entry else None


def _size(value: Any) -> dict[str, int]:
    """A transformers size (``SizeDict``, dict or int) as a dict of its set entries."""
    if value is None:
        return {}
    if isinstance(value, int):
        return {"height": value, "width": value}
    items = value.items() if isinstance(value, dict) else vars(value).items()
    return {k: int(v) for k, v in items if v is not None and isinstance(v, (int, float))}


def _config_size(config: Any) -> tuple[int, int] | None:
    size = getattr(config, "image_size", None)
    if isinstance(size, int):
        return size, size
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]), int(size[1])
    return None


def _channel_values(value: Any, count: int, default: float) -> tuple[float, ...]:
    if value is None:
        return (default,) * count
    values = [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    if len(values) == 1:
        values = values * count
    return tuple(values)


def preprocessing_from_processor(processor: Any, config: Any, name: str = "transformers") -> tuple[Preprocessing, list[str]]:
    """Translate a transformers image processor into a :class:`Preprocessing`.

    Parameters
    ----------
    processor
        A transformers image processor (its ``size``, ``crop_size``, ``resample``, rescale and normalise settings are read).
    config
        The model's configuration (``num_channels``, ``image_size``).
    name
        Names the preprocessing (shown to the person).

    Returns
    -------
    tuple
        The preprocessing, and notes on what it cannot reproduce exactly.

    Raises
    ------
    ModelError
        For inputs other than one or three channels, or a non-positive rescale factor or std.

    Resizing follows transformers' torchvision backend: ``size={"height", "width"}`` resizes
    straight to that size, ``size={"shortest_edge"}`` keeps the aspect ratio, and an enabled
    ``crop_size`` centre-crops after the resize. ConvNeXt's ``crop_pct`` resizes the shorter side
    to ``shortest_edge / crop_pct`` below 384 pixels. Rescaling by ``rescale_factor`` (and
    EfficientNet's ``rescale_offset``) and normalising by ``image_mean``/``image_std`` are folded
    into the mean and std applied to [0, 1] pixels, which is exact.
    """
    notes: list[str] = []
    channels_in = int(getattr(config, "num_channels", 3) or 3)
    if channels_in not in (1, 3):
        raise ModelError(f"The model takes {channels_in}-channel images; xaidesk opens RGB and grey images only.")
    channels = "gray" if channels_in == 1 else "rgb"
    if channels == "gray":
        notes.append("The model takes one-channel images: xaidesk turns images grey (0.299 R + 0.587 G + 0.114 B).")
    resample = getattr(processor, "resample", None)
    code = int(getattr(resample, "value", resample)) if resample is not None else 2
    interpolation = _RESAMPLE.get(code, "bilinear")
    if code in _RESAMPLE_NAMES:
        notes.append(f"The image processor resamples with the {_RESAMPLE_NAMES[code]} filter; xaidesk uses {interpolation}.")
    size = _size(getattr(processor, "size", None))
    crop = _size(getattr(processor, "crop_size", None)) if getattr(processor, "do_center_crop", False) else {}
    crop_hw = (crop["height"], crop["width"]) if "height" in crop and "width" in crop else None
    model_size = _config_size(config)
    resize: int | None = None
    if not getattr(processor, "do_resize", True):
        out = crop_hw or model_size
        if out is None:
            raise ModelError("The image processor does not resize images and the model names no input size.")
        notes.append(
            f"The image processor does not resize images{' (it only crops)' if crop_hw else ''}; xaidesk resizes "
            f"each image to {out[0]}×{out[1]}, the size the model takes."
        )
    elif "height" in size and "width" in size:
        out = (size["height"], size["width"])
        if crop_hw and crop_hw != out:
            resize, out = min(out), crop_hw
            notes.append(
                f"The image processor stretches images to {size['height']}×{size['width']} and crops the centre "
                f"{crop_hw[0]}×{crop_hw[1]}; xaidesk resizes the shorter side to {resize} instead (the same for "
                "square images; others keep their aspect ratio)."
            )
    elif "shortest_edge" in size:
        edge = size["shortest_edge"]
        crop_pct = getattr(processor, "crop_pct", None)
        if type(processor).__name__.startswith("ConvNext") and crop_pct:
            out = (edge, edge)
            resize = int(edge / float(crop_pct)) if edge < 384 else None
        elif crop_hw:
            out, resize = crop_hw, edge
        else:
            out = (edge, edge)
            notes.append(
                f"The image processor resizes the shorter side to {edge} and keeps the aspect ratio; xaidesk "
                f"stretches each image to {edge}×{edge} so that every input has the same size."
            )
    else:
        out = model_size or (224, 224)
        notes.append(
            f"The image processor's size {size or '(none)'} is not one xaidesk reproduces; images are resized "
            f"to {out[0]}×{out[1]}."
        )
    if resize is not None and resize < max(out):
        resize = None  # the crop would be larger than the resized image: resize straight instead
    if resize is not None:
        notes.append(
            "transformers rounds the centre crop's offset down, xaidesk (as torchvision) to the nearest pixel: "
            "for some image sizes the crop sits one pixel apart."
        )
    if getattr(processor, "do_flip_channel_order", False):
        notes.append(
            "The model expects its colour channels in BGR order, which xaidesk's preprocessing cannot produce: "
            "its scores here are for images with red and blue swapped."
        )
    mean, std = _folded_normalisation(processor, channels_in)
    preprocessing = Preprocessing(
        size=(int(out[0]), int(out[1])), mean=mean, std=std, channels=channels, resize=resize,
        name=name, interpolation=interpolation,
    )
    return preprocessing, notes


def _folded_normalisation(processor: Any, count: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std on [0, 1] pixels that give ``(p * factor - offset - image_mean) / image_std`` for pixels p."""
    factor = float(getattr(processor, "rescale_factor", 1 / 255)) if getattr(processor, "do_rescale", True) else 1.0
    offset = 1.0 if getattr(processor, "do_rescale", True) and getattr(processor, "rescale_offset", False) else 0.0
    if getattr(processor, "do_normalize", False):
        image_mean = _channel_values(getattr(processor, "image_mean", None), count, 0.0)
        image_std = _channel_values(getattr(processor, "image_std", None), count, 1.0)
    else:
        image_mean, image_std = (0.0,) * count, (1.0,) * count
    scale = 255.0 * factor
    if math.isclose(scale, 1.0, rel_tol=1e-9):
        scale = 1.0
    if not math.isfinite(scale) or scale <= 0 or not all(math.isfinite(s) and s > 0 for s in image_std):
        raise ModelError("The image processor's rescale factor or image_std is not a positive number.")
    mean = tuple((m + offset) / scale for m in image_mean)
    std = tuple(s / scale for s in image_std)
    return mean, std


def _test_image(height: int, width: int) -> np.ndarray:
    """A deterministic textured RGB image (stripes and a gradient) for comparing preprocessing."""
    rows = np.arange(height, dtype=np.float64)[:, None]
    cols = np.arange(width, dtype=np.float64)[None, :]
    red = 0.5 + 0.4 * np.sin(rows / 5.0) * np.cos(cols / 7.0)
    green = (rows + cols) / (height + width)
    blue = 0.5 + 0.45 * np.sin((rows + 2 * cols) / 11.0)
    image = np.stack([red, green, np.broadcast_to(blue, red.shape)], axis=-1)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def _compare_with_processor(processor: Any, preprocessing: Preprocessing) -> float | str | None:
    """Largest difference, in 1/255 of the pixel range, between our input and the processor's.

    Measured on a non-square test image a little larger than the model input. Returns a note
    (str) when the two give different input sizes, ``None`` when the processor fails.
    """
    height, width = preprocessing.size
    image = _test_image(height * 5 // 4 + 3, width * 3 // 2 + 5)
    try:
        with quiet_transformers():
            theirs = processor(images=image, return_tensors="pt", input_data_format="channels_last")["pixel_values"]
        theirs = torch.as_tensor(theirs, dtype=torch.float32)
    except Exception:  # noqa: BLE001 - a processor that cannot take a plain array: nothing to compare
        return None
    ours = preprocessing.to_tensor(image)
    if tuple(theirs.shape) != tuple(ours.shape):
        return (
            f"The model's own image processor gives inputs of shape {tuple(theirs.shape)[1:]} where xaidesk gives "
            f"{tuple(ours.shape)[1:]}; scores may differ from transformers'."
        )
    std = torch.tensor(preprocessing.std, dtype=torch.float32).view(1, -1, 1, 1)
    return float(((theirs - ours).abs() * std).max()) * 255.0
