"""The probe file (``.xdprobe``): a small JSON document with the backbone's spec, the layer and both heads;
``probe:PATH`` loads it as a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...core import InputError, ModelError
from ...core.io import write_json_atomic
from ..base import LoadedModel
from .backbone import cut_backbone, layer_shapes
from .fitting import ProbeResult
from .heads import HEADS, probe_module, probe_notes

PROBE_SUFFIX = ".xdprobe"
PROBE_FILE_NAME = "probe" + PROBE_SUFFIX
PROBE_FORMAT = "xaidesk-probe"
PROBE_VERSION = 1


def probe_document(result: ProbeResult, head: str = "mean-difference") -> dict[str, Any]:
    """The contents of a probe file for ``result``, using ``head`` as the classifier."""
    if head not in result.heads:
        raise InputError(f"Unknown head '{head}'; choose one of: {', '.join(HEADS)}.")
    return {
        "format": PROBE_FORMAT,
        "version": PROBE_VERSION,
        "backbone": result.backbone,
        "backbone_name": result.backbone_name,
        "layer": result.layer,
        "layer_shape": list(result.layer_shape),
        "class_names": list(result.class_names),
        **({"backbone_label_file": result.backbone_label_file} if result.backbone_label_file else {}),
        **({"backbone_preprocessing": result.backbone_preprocessing} if result.backbone_preprocessing else {}),
        "head": head,
        "heads": {
            name: {**fitted.to_dict(), "weight": [float(v) for v in fitted.weight], "bias": fitted.bias}
            for name, fitted in result.heads.items()
        },
        "fitted_on": {
            "folder": result.folder, "held_out_share": result.held_out_share, "seed": result.seed,
            "train": result.train_counts, "held_out": result.held_out_counts,
        },
    }


def save_probe(result: ProbeResult, path: str | Path, head: str = "mean-difference") -> Path:
    """Write the probe file (atomically); load it with ``load_model("probe:PATH")``."""
    return write_json_atomic(Path(path), probe_document(result, head))


def _probe_path(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir() and (path / PROBE_FILE_NAME).is_file():
        return path / PROBE_FILE_NAME
    return path


def read_probe(path: str | Path) -> dict[str, Any]:
    """Read and check a probe file (or a folder holding ``probe.xdprobe``)."""
    path = _probe_path(path)
    if not path.is_file():
        raise ModelError(f"The probe file '{path}' does not exist. Fit a classifier first (xaidesk probe ...).")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ModelError(f"'{path.name}' is not a readable probe file.", details=str(error)) from None
    if not isinstance(document, dict) or document.get("format") != PROBE_FORMAT:
        raise ModelError(f"'{path.name}' is not a probe file written by xaidesk.")
    if int(document.get("version", 0)) > PROBE_VERSION:
        raise ModelError(f"'{path.name}' was written by a newer xaidesk; update xaidesk to open it.")
    try:
        head = document["heads"][document["head"]]
        weight = np.asarray(head["weight"], dtype=np.float64)
        shape = tuple(int(v) for v in document["layer_shape"])
        names = [str(c) for c in document["class_names"]]
        float(head["bias"]), float(head["threshold"]), str(document["backbone"]), str(document["layer"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"The probe file '{path.name}' is incomplete or damaged.", details=repr(error)) from None
    expected = shape[0] if shape else 0
    if weight.ndim != 1 or len(weight) != expected or len(names) != 2 or not np.all(np.isfinite(weight)):
        raise ModelError(f"The probe file '{path.name}' is damaged: its head does not fit its layer.")
    return document


def load_probe(path: str | Path, spec: str | None = None) -> LoadedModel:
    """Load a saved probe as a :class:`LoadedModel` (the backbone is loaded from its own spec)."""
    from .. import load_model

    document = read_probe(path)
    if str(document.get("modality", "")).lower() == "audio":
        from .audio import load_audio_probe

        return load_audio_probe(_probe_path(path), spec=spec or f"probe:{_probe_path(path)}")
    backbone_spec = str(document["backbone"])
    if backbone_spec.lower().startswith("probe:"):
        raise ModelError("A probe's backbone cannot itself be a probe file.")
    preprocessing = None
    if document.get("backbone_preprocessing"):
        from ..preprocessing import preprocessing_from_dict

        try:
            preprocessing = preprocessing_from_dict(document["backbone_preprocessing"], name="the probe file")
        except (TypeError, ValueError, AttributeError) as error:
            raise ModelError("The backbone preprocessing stored in this probe file cannot be used; fit the "
                             "probe again.", details=str(error)) from error
    try:
        backbone = load_model(backbone_spec, labels=document.get("backbone_label_file"), preprocessing=preprocessing)
    except ModelError as error:
        raise ModelError(
            f"The backbone of this probe ({backbone_spec}) could not be loaded: {error.message}",
            details=error.details) from None
    module, head, fitted, layer = fitted_probe_module(document, backbone, backbone_spec, "probe")
    names = [str(c) for c in document["class_names"]]
    return LoadedModel(
        spec=spec or f"probe:{_probe_path(path)}",
        name=f"{names[0]} vs {names[1]} ({backbone.name}, {layer})",
        module=module,
        preprocessing=backbone.preprocessing,
        class_names=names,
        architecture=backbone.architecture,
        notes=probe_notes(names, head, float(fitted.get("auc", float("nan"))), float(fitted["threshold"])),
    )


def fitted_probe_module(document: dict, backbone: LoadedModel, backbone_spec: str, noun: str):
    """The saved head of a probe file on ``backbone`` cut at its layer: ``(module, head, fitted, layer)``.

    Refuses, in words naming the ``noun`` ("probe", "classifier"), a backbone whose layer no longer
    gives the shape the head was fitted on.
    """
    head = str(document["head"])
    fitted = document["heads"][head]
    layer = str(document["layer"])
    shape = tuple(int(v) for v in document["layer_shape"])
    trunk = cut_backbone(backbone, layer)
    actual = layer_shapes(backbone).get(layer)
    if actual is None or tuple(actual) != shape:
        raise ModelError(f"The backbone {backbone_spec} no longer matches this {noun}: its layer '{layer}' gives "
                         f"{actual} instead of {shape}. Fit the {noun} again.")
    module = probe_module(trunk, shape, fitted["weight"], float(fitted["bias"]), float(fitted["threshold"]))
    return module, head, fitted, layer
