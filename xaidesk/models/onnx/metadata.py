"""How an ONNX model's inputs are prepared and what its classes are called.

Read from the graph's metadata, else the sidecar file, else the input's shape (see
:mod:`xaidesk.models.onnx`).
"""

from __future__ import annotations

import json
import re

from ...core import ModelError
from ..base import CLASS_NAMES, PREPROCESSING, Note
from ..preprocessing import Preprocessing
from .graph import _InputInfo

#: Metadata keys read for the preprocessing and the class names (see :mod:`xaidesk.models.onnx`).
PREPROCESSING_KEYS = ("preprocessing", "size", "image_size", "input_size", "resize", "mean", "std", "channels",
                      "interpolation")
CLASS_NAME_KEYS = ("class_names", "classes", "labels", "id2label")
#: Input size assumed when the graph leaves height and width open and nothing else says.
DEFAULT_SIZE = 224


def _numbers(text: str, key: str) -> list[float]:
    text = text.strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = [v for v in re.split(r"[,\s;]+", text.strip("[]()")) if v]
    if isinstance(value, (int, float)):
        value = [value]
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError) as error:
        raise ModelError(f"The model's metadata entry '{key}' ({text[:60]!r}) is not a list of numbers.") from error


def _metadata_preprocessing(metadata: dict[str, str], name: str) -> dict | None:
    """The preprocessing the metadata describes, in sidecar form, or None when it says nothing."""
    if not any(key in metadata for key in PREPROCESSING_KEYS):
        return None
    data: dict = {}
    if "preprocessing" in metadata:
        try:
            data = json.loads(metadata["preprocessing"])
        except ValueError as error:
            raise ModelError(f"The 'preprocessing' metadata entry of {name} is not valid JSON; fix the export or "
                             "set the preprocessing by hand.", details=str(error)) from error
        if not isinstance(data, dict):
            raise ModelError(f"The 'preprocessing' metadata entry of {name} must be a JSON object {{...}}.")
    for key in ("size", "image_size", "input_size"):
        if key in metadata and "size" not in data:
            values = [int(v) for v in _numbers(metadata[key], key)]
            data["size"] = values[-2:] if len(values) >= 2 else values * 2
    for key in ("mean", "std"):
        if key in metadata:
            data[key] = _numbers(metadata[key], key)
    if "resize" in metadata:
        data["resize"] = int(_numbers(metadata["resize"], "resize")[0])
    for key in ("channels", "interpolation"):
        if key in metadata:
            data[key] = metadata[key].strip()
    return data


def _metadata_class_names(metadata: dict[str, str]) -> list[str] | None:
    for key in CLASS_NAME_KEYS:
        if key not in metadata:
            continue
        text = metadata[key].strip()
        try:
            value = json.loads(text)
        except ValueError:
            value = [line.strip() for line in text.splitlines() if line.strip()]
        if isinstance(value, dict):
            try:
                table = {int(k): str(v) for k, v in value.items()}
            except (TypeError, ValueError):
                continue
            if sorted(table) == list(range(len(table))):
                return [table[i] for i in range(len(table))]
        elif isinstance(value, list) and value:
            return [str(v) for v in value]
    return None


def choose_preprocessing(metadata: dict[str, str], sidecar, info: _InputInfo, name: str,
                         notes: list[str]) -> Preprocessing:
    """The preprocessing from the metadata, else the sidecar, else inferred from the input (with a note of kind
    ``PREPROCESSING``)."""
    from ..preprocessing import preprocessing_from_dict

    fixed_size = info.size if None not in info.size else None
    channels = {1: "gray", 3: "rgb"}.get(info.channels or 0)
    described = _metadata_preprocessing(metadata, name)
    if described is not None:
        given = set(described)
        described.setdefault("size", list(fixed_size or (DEFAULT_SIZE, DEFAULT_SIZE)))
        if channels:
            described.setdefault("channels", channels)
        try:
            preprocessing = preprocessing_from_dict(described, name=f"{name} metadata")
        except (TypeError, ValueError) as error:
            raise ModelError(f"The preprocessing in the metadata of {name} cannot be used: {error}. Set the "
                             "preprocessing by hand.", details=str(error)) from error
        notes.append(Note("Preprocessing from the model's metadata.", PREPROCESSING))
        if not {"mean", "std"} <= given:
            notes.append(Note("The metadata gives no mean and std: assumed ImageNet's. Check them and edit the "
                              "preprocessing if the model was trained otherwise.", PREPROCESSING))
    elif sidecar.preprocessing is not None:
        preprocessing = sidecar.preprocessing
        notes.append(Note(f"Preprocessing from {sidecar.source}.", PREPROCESSING))
    else:
        gray = channels == "gray"
        size = fixed_size or (DEFAULT_SIZE, DEFAULT_SIZE)
        preprocessing = Preprocessing(size=size, mean=(0.5,) if gray else (0.485, 0.456, 0.406),
                                      std=(0.5,) if gray else (0.229, 0.224, 0.225),
                                      channels="gray" if gray else "rgb", name="assumed")
        where = "the input's shape" if fixed_size else f"nothing ({DEFAULT_SIZE}x{DEFAULT_SIZE} assumed)"
        notes.append(Note(
            f"The model file does not say how to prepare inputs: size from {where}; mean and std were not given "
            f"and are assumed ({'0.5' if gray else 'ImageNet'}'s). Check them and edit the preprocessing.",
            PREPROCESSING))
    if fixed_size and tuple(preprocessing.size) != tuple(fixed_size):
        raise ModelError(
            f"{name} takes {fixed_size[0]}x{fixed_size[1]} inputs, but its description says "
            f"{preprocessing.size[0]}x{preprocessing.size[1]}. Correct the description or set the preprocessing by hand."
        )
    if info.channels and preprocessing.num_channels != info.channels:
        raise ModelError(f"{name} takes {info.channels}-channel inputs, but its description says "
                         f"{preprocessing.channels}. Correct the description or set the preprocessing by hand.")
    return preprocessing


def choose_class_names(metadata: dict[str, str], sidecar, count: int, notes: list[str]) -> list[str]:
    """The class names of an ONNX model: from its metadata, else its sidecar, else ImageNet's or ``class i``.

    Parameters
    ----------
    metadata
        The model's metadata properties.
    sidecar
        What the sidecar file said (:class:`~xaidesk.models.files.Sidecar`).
    count
        The model's number of outputs.
    notes
        The model's notes; notes about class names are of kind ``CLASS_NAMES``.
    """
    from ..files import Sidecar, class_names_from_sidecar

    names = _metadata_class_names(metadata)
    if names is not None:
        if len(names) == count:
            notes.append(Note("Class names from the model's metadata.", CLASS_NAMES))
            return list(names)
        notes.append(Note(f"The model's metadata lists {len(names)} class names but the model has {count} "
                          "outputs; the names were ignored.", CLASS_NAMES))
    given = Sidecar(class_names=getattr(sidecar, "class_names", None), source=getattr(sidecar, "source", ""))
    return class_names_from_sidecar(given, count, notes)
