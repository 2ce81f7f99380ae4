"""The image processor of an ``hf:`` model as a :class:`~xaidesk.models.preprocessing.Preprocessing`.

The saved processor (or transformers' standard one for the model type) is translated and then
checked against the processor itself on a test image; any difference goes into the model's notes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...core import ModelError
from ..base import PREPROCESSING, Note
from ..preprocessing import Preprocessing
from .folder import _PROCESSOR_FILES
from .network import quiet_transformers

_RESAMPLE = {0: "nearest", 1: "bicubic", 2: "bilinear", 3: "bicubic", 4: "bilinear", 5: "bilinear"}
_RESAMPLE_NAMES = {1: "Lanczos", 4: "box", 5: "Hamming"}
# Largest difference, in 1/255 of the pixel range, between our input and the image processor's that
# counts as a match: the processor resizes uint8 images and rounds, which alone gives up to one level.
_MATCH_LEVELS = 2.0


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
