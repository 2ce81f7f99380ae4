"""The ``torchvision:ARCH:PATH`` loader: torchvision's architecture with the weights from a local file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from ...core import ModelError
from ..base import LoadedModel
from .architectures import check_architecture, default_preprocessing
from .state_dicts import (
    _describe_mismatch,
    build_from_state_dict,
    detect_architecture,
    extract_state_dict,
    fits_architecture,
    num_classes_of,
    vit_image_size,
)

def load_torchvision(
    arch: str,
    path: str | os.PathLike,
    *,
    spec: str | None = None,
    state: Mapping[str, torch.Tensor] | None = None,
    notes: list[str] | None = None,
) -> LoadedModel:
    """Load torchvision's ``arch`` with the state dict in ``path`` (or the given ``state``)."""
    from ..base import PREPROCESSING, Note
    from ..files import class_names_from_sidecar, read_sidecar, read_weights_only

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
