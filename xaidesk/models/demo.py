"""The built-in demo models: a small zennit-friendly CNN and its shipped weights.

The weights in ``resources/models/<name>.pt`` are written by
``scripts/train_demo_models.py`` (deterministic, CPU, a few minutes); the
matching ``<name>.json`` holds the title, description, class names,
preprocessing, architecture settings, accuracy figures and sample files.

The network is an ``nn.Sequential`` of Conv2d, BatchNorm2d, ReLU, MaxPool2d,
Flatten and Linear modules only (activations as modules, nothing functional,
nothing in place), so every LRP rule and canonizer can attach to it. The
BatchNorm layers are kept on purpose: LRP needs them merged into the
convolutions before it runs (a canonizer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..core import ModelError
from ..resources import resource_path
from .base import LoadedModel
from .preprocessing import preprocessing_from_dict

DEMO_ARCHITECTURE = "demo_cnn"
DEMO_NAMES = ("digits", "clever_hans", "sounds")


def build_demo_cnn(
    in_channels: int,
    num_classes: int,
    input_size: Sequence[int],
    widths: Sequence[int] = (16, 32, 64),
    hidden: int = 64,
    linear_bias: bool = True,
) -> nn.Sequential:
    """A small VGG-like CNN: ``len(widths)`` blocks of conv-BN-ReLU-maxpool, then two linear layers.

    Parameters
    ----------
    in_channels
        1 for grayscale, 3 for RGB.
    num_classes
        Number of outputs (logits).
    input_size
        (height, width) of the input; both must be divisible by ``2 ** len(widths)``.
    widths
        Output channels of each convolution block.
    hidden
        Width of the hidden fully connected layer.
    linear_bias
        Whether the two linear layers have biases. Without them (and with the
        ZPlus rule ignoring the convolutions' folded BatchNorm biases) LRP's
        relevance sums to the explained logit almost exactly.
    """
    height, width = int(input_size[0]), int(input_size[1])
    factor = 2 ** len(widths)
    if height % factor or width % factor:
        raise ValueError(f"input size {height}x{width} must be divisible by {factor}")
    layers: list[nn.Module] = []
    channels = in_channels
    for out in widths:
        layers += [
            nn.Conv2d(channels, out, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        channels = out
    layers += [
        nn.Flatten(),
        nn.Linear(channels * (height // factor) * (width // factor), hidden, bias=linear_bias),
        nn.ReLU(),
        nn.Linear(hidden, num_classes, bias=linear_bias),
    ]
    return nn.Sequential(*layers)


def demo_metadata_path(name: str) -> Path:
    return resource_path("models", f"{name}.json")


def demo_weights_path(name: str) -> Path:
    return resource_path("models", f"{name}.pt")


def read_demo_metadata(name: str) -> dict[str, Any]:
    """The JSON written next to the demo's weights by the training script."""
    path = demo_metadata_path(name)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ModelError(
            f"The built-in model '{name}' is missing its files ({path.name} in the resources folder). "
            "Reinstall xaidesk, or run scripts/train_demo_models.py in a source checkout."
        ) from None
    except (OSError, ValueError) as error:
        raise ModelError(
            f"The description file of the built-in model '{name}' could not be read.", details=str(error)
        ) from error


def load_demo(name: str, spec: str | None = None) -> LoadedModel:
    """Load the built-in demo ``name`` (``digits`` or ``clever_hans``)."""
    if name not in DEMO_NAMES:
        raise ModelError(
            f"There is no built-in model called '{name}'. The built-in models are: "
            + ", ".join(f"demo:{n}" for n in DEMO_NAMES)
            + "."
        )
    meta = read_demo_metadata(name)
    arch = meta["architecture"]
    frontend = None
    if meta.get("modality") == "audio":
        from .audio import AudioFrontEnd

        frontend = AudioFrontEnd.from_dict(meta["frontend"])
        preprocessing = frontend.preprocessing(name=f"demo:{name}")
    else:
        preprocessing = preprocessing_from_dict(meta["preprocessing"], name=f"demo:{name}")
    module = build_demo_cnn(
        in_channels=preprocessing.num_channels,
        num_classes=len(meta["class_names"]),
        input_size=preprocessing.size,
        widths=arch["widths"],
        hidden=arch["hidden"],
        linear_bias=bool(arch.get("linear_bias", True)),
    )
    path = demo_weights_path(name)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    except FileNotFoundError:
        raise ModelError(
            f"The built-in model '{name}' is missing its weights ({path.name} in the resources folder). "
            "Reinstall xaidesk, or run scripts/train_demo_models.py in a source checkout."
        ) from None
    except Exception as error:  # noqa: BLE001 - any failure is reported in one sentence
        raise ModelError(
            f"The weights of the built-in model '{name}' could not be loaded; the resources folder "
            "may be damaged. Reinstall xaidesk or run scripts/train_demo_models.py.",
            details=f"{type(error).__name__}: {error}",
        ) from error
    module.eval()
    module.requires_grad_(False)
    return LoadedModel(
        spec=spec or f"demo:{name}",
        name=meta.get("title", name),
        module=module,
        preprocessing=preprocessing,
        class_names=[str(c) for c in meta["class_names"]],
        architecture=DEMO_ARCHITECTURE,
        notes=list(meta.get("notes", [])),
        modality=str(meta.get("modality", "image")),
        frontend=frontend,
    )


def list_demos() -> list[dict[str, Any]]:
    """Describe the built-in models (see :func:`xaidesk.models.list_builtin_models`)."""
    result = []
    for name in DEMO_NAMES:
        try:
            meta = read_demo_metadata(name)
        except ModelError:
            continue
        samples = []
        labels = []
        for sample in meta.get("samples", []):
            path = resource_path("samples", sample["file"])
            if path.is_file():
                samples.append(path)
                labels.append(sample.get("label"))
        result.append(
            {
                "spec": f"demo:{name}",
                "title": meta.get("title", name),
                "description": meta.get("description", ""),
                "samples": samples,
                "sample_labels": labels,
                "accuracy": dict(meta.get("accuracy", {})),
                "class_names": list(meta.get("class_names", [])),
                "modality": str(meta.get("modality", "image")),
            }
        )
    return result
