"""Edited models: a base model changed by xaidesk (corrected, pruned or fine-tuned), saved as one file.

The file is a ``.safetensors`` file, so it holds tensors only and never runs code. Its
``__metadata__`` carries :data:`EDITED_FORMAT` and a JSON document:

- ``base``: the spec of the model it was made from (rebuilt when the file is opened, so the
  base must still be reachable: ``demo:NAME``, or a weights file that has not moved);
- ``class_names``, ``preprocessing``, ``architecture``, ``title``;
- ``edits``: what was done, in order (``{"kind": "p-clarc", ...}``, ``{"kind": "prune", ...}``,
  ``{"kind": "finetune", ...}``), each with its own settings;
- ``provenance``: where it came from (run folder, artefact, figures measured before and after).

The tensors are the edited network's state dict under ``model.`` and, for every P-ClArC
projection, its direction and reference under ``projection.<i>.``. Opening the file
(``file:PATH``) rebuilds the base, gives layers the shapes the saved weights have (pruned
filters are physically gone), loads the weights and puts the projections back.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core import ModelError
from .base import LoadedModel
from .edited_document import EDITED_FORMAT, EDITED_VERSION, read_edited_document

#: The edited files being opened on this thread's way down to their base (a file naming itself is refused).
_OPENING = threading.local()

MODEL_PREFIX = "model."
PROJECTION_PREFIX = "projection."


class ConceptProjection(nn.Module):
    """P-ClArC: remove one direction from a layer's output (Anders et al. 2022).

    For the flattened output ``a`` of each sample, ``a' = a - v (v·a - z)`` with the unit
    direction ``v`` and the reference ``z`` (the clean samples' mean of ``v·a``). The map is
    an affine projection: applying it twice changes nothing, and components orthogonal to
    ``v`` pass unchanged.

    Parameters
    ----------
    direction
        The concept direction over the flattened layer output (any length; it is normalised).
    reference
        The value ``v·a`` is set to (in units of the normalised direction).
    """

    def __init__(self, direction: torch.Tensor, reference: float | torch.Tensor):
        super().__init__()
        direction = torch.as_tensor(direction, dtype=torch.float32).flatten()
        norm = float(direction.norm())
        if not torch.isfinite(direction).all() or norm == 0.0:
            raise ModelError("The concept direction is zero or not finite, so there is nothing to project out.")
        self.register_buffer("direction", direction / norm)
        self.register_buffer("reference", torch.as_tensor(float(reference), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        coefficient = flat @ self.direction - self.reference
        return (flat - coefficient[:, None] * self.direction[None, :]).view_as(x)

    def extra_repr(self) -> str:
        return f"dimensions={self.direction.numel()}, reference={float(self.reference):.4g}"


class ProjectedLayer(nn.Module):
    """A layer followed by a :class:`ConceptProjection` of its output."""

    def __init__(self, layer: nn.Module, projection: ConceptProjection):
        super().__init__()
        self.layer = layer
        self.projection = projection

    def forward(self, *args, **kwargs):
        return self.projection(self.layer(*args, **kwargs))


def get_submodule(root: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (dotted), with a plain error naming the layer."""
    try:
        return root.get_submodule(name)
    except AttributeError:
        raise ModelError(f"The model has no layer called '{name}'; choose one from its layer list.") from None


def set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule called ``name`` (dotted) by ``module``."""
    parent_name, _, child = name.rpartition(".")
    parent = get_submodule(root, parent_name) if parent_name else root
    setattr(parent, child, module)


def add_projection(root: nn.Module, layer: str, projection: ConceptProjection) -> None:
    """Put ``projection`` behind the output of ``layer`` inside ``root`` (in place)."""
    set_submodule(root, layer, ProjectedLayer(get_submodule(root, layer), projection))


def plain_state_dict(root: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of ``root`` with projections left out and the layers they wrap under their own names."""
    projected = sorted((name for name, m in root.named_modules() if isinstance(m, ProjectedLayer)),
                       key=len, reverse=True)
    state = {}
    for key, value in root.state_dict().items():
        for name in projected:
            prefix = f"{name}." if name else ""
            if key.startswith(prefix + "projection."):
                key = None
                break
            if key.startswith(prefix + "layer."):
                key = prefix + key[len(prefix) + len("layer."):]
        if key is not None:
            state[key] = value
    return state


def projections_of(root: nn.Module) -> list[tuple[str, ConceptProjection]]:
    """``(layer name, projection)`` for every :class:`ProjectedLayer` inside ``root``."""
    return [(name, module.projection) for name, module in root.named_modules() if isinstance(module, ProjectedLayer)]


def resize_to_state(root: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Give Conv2d, Linear and BatchNorm layers the channel counts of ``state`` (in place).

    A batch norm is sized by its running mean, so one without learned scale and shift is sized too.

    Pruning removes filters physically, so a pruned network's weights are smaller than its
    base's. A rebuilt layer keeps the old one's mode (training or evaluation) and whether its
    weights take gradients. Returns the names of the layers that were rebuilt.
    """
    rebuilt = []
    for name, module in list(root.named_modules()):
        prefix = f"{name}." if name else ""
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            saved, current = state.get(prefix + "running_mean"), module.running_mean
            if saved is None or current is None:
                saved, current = state.get(prefix + "weight"), module.weight
        else:
            saved, current = state.get(prefix + "weight"), getattr(module, "weight", None)
        if saved is None or current is None or tuple(saved.shape) == tuple(current.shape):
            continue
        weight = saved
        bias = getattr(module, "bias", None) is not None
        if isinstance(module, nn.Conv2d):
            if module.groups != 1:
                raise ModelError(f"The saved weights of '{name}' do not fit its grouped convolution.")
            new = nn.Conv2d(weight.shape[1], weight.shape[0], module.kernel_size, module.stride, module.padding,
                            module.dilation, 1, bias, module.padding_mode)
        elif isinstance(module, nn.Linear):
            new = nn.Linear(weight.shape[1], weight.shape[0], bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            new = type(module)(weight.shape[0], module.eps, module.momentum, module.affine, module.track_running_stats)
        else:
            raise ModelError(f"The saved weights of '{name}' have another shape than the model's, and xaidesk "
                             f"cannot resize a {type(module).__name__} layer.")
        new.train(module.training)
        new.requires_grad_(any(p.requires_grad for p in module.parameters()))
        set_submodule(root, name, new)
        rebuilt.append(name)
    return rebuilt


def edited_document(model: LoadedModel, *, base: str, edits: list[dict], provenance: dict) -> dict[str, Any]:
    """The JSON document stored in an edited model file."""
    return {
        "format": EDITED_FORMAT,
        "version": EDITED_VERSION,
        "base": base,
        "title": model.name,
        "class_names": list(model.class_names),
        "preprocessing": model.preprocessing.to_dict(),
        "architecture": model.architecture,
        "edits": list(edits),
        "provenance": dict(provenance),
    }


def save_edited_model(model: LoadedModel, path: str | Path, *, base: str, edits: list[dict],
                      provenance: dict) -> Path:
    """Write ``model`` (an edited copy of ``base``) as an edited model file, atomically.

    Parameters
    ----------
    model
        The edited model; its module may hold :class:`ProjectedLayer` layers and pruned layers.
    path
        The file to write (``.safetensors`` by convention).
    base
        The spec the edit started from (must load again when the file is opened).
    edits, provenance
        What was done and where it came from (plain JSON values).
    """
    from safetensors.torch import save as save_tensors

    from ..core.io import json_text, write_bytes_atomic

    module = model.module
    tensors = {MODEL_PREFIX + key: value.detach().cpu().contiguous() for key, value in plain_state_dict(module).items()}
    layers = []
    for i, (layer, projection) in enumerate(projections_of(module)):
        tensors[f"{PROJECTION_PREFIX}{i}.direction"] = projection.direction.detach().cpu().contiguous()
        tensors[f"{PROJECTION_PREFIX}{i}.reference"] = projection.reference.detach().cpu().reshape(1).contiguous()
        layers.append(layer)
    document = edited_document(model, base=base, edits=edits, provenance={**provenance, "projections": layers})
    metadata = {"format": EDITED_FORMAT, "document": json_text(document, indent=None)}
    return write_bytes_atomic(Path(path), save_tensors(tensors, metadata=metadata))


def is_edited_file(path: str | Path) -> bool:
    """True when ``path`` is an edited model file."""
    path = Path(path)
    return path.is_file() and read_edited_document(path) is not None


def describe_edits(document: dict) -> str:
    """One line per edit, in plain words (shown as the model's notes)."""
    lines = []
    for edit in document.get("edits", []):
        summary = edit.get("summary") or edit.get("kind", "edit")
        lines.append(str(summary))
    return "; ".join(lines)


def _base_file(spec: str) -> Path | None:
    """The file or folder a spec names (``None`` for the built-in demos)."""
    kind, _, rest = spec.partition(":")
    if kind in ("torchvision", "timm"):
        rest = rest.partition(":")[2]
    return Path(rest).expanduser() if kind != "demo" and rest else None


def load_edited(path: str | Path, *, spec: str | None = None, trust: bool = False) -> LoadedModel:
    """Open an edited model file: rebuild its base, resize pruned layers, load the weights, add projections."""
    from safetensors.torch import load_file as load_tensors

    from . import load_model
    from .preprocessing import preprocessing_from_dict

    from .files import UntrustedModelError

    path = Path(path).expanduser()
    document = read_edited_document(path)
    if document is None:
        raise ModelError(f"{path.name} is not an edited xaidesk model file.")
    base_spec = str(document.get("base", ""))
    if not hasattr(_OPENING, "files"):
        _OPENING.files = []
    opening = _OPENING.files
    if path.resolve() in opening:
        raise ModelError(f"{path.name} names itself (or a file that names it) as the model it was made from, so it "
                         "cannot be opened. The file was probably saved over its own base; make the edit again.")
    opening.append(path.resolve())
    try:
        base = load_model(base_spec, trust=trust)
    except UntrustedModelError:
        raise  # the base holds code: the person is asked to trust that file itself
    except ModelError as error:
        moved = _base_file(base_spec)
        hint = ("Put the base model back where it was, then open this file again."
                if moved is not None and not moved.exists() else "")
        raise ModelError(f"{path.name} was made from the model '{base_spec}', which could not be opened: "
                         f"{error.message} {hint}".strip(), details=error.details) from error
    finally:
        opening.remove(path.resolve())
    tensors = load_tensors(str(path))
    state = {k[len(MODEL_PREFIX):]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
    module = base.module
    try:
        resize_to_state(module, state)
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelError(f"The weights in {path.name} do not fit the model '{base_spec}' it names.",
                         details=str(error)) from error
    for i, layer in enumerate(document.get("provenance", {}).get("projections", [])):
        direction = tensors.get(f"{PROJECTION_PREFIX}{i}.direction")
        reference = tensors.get(f"{PROJECTION_PREFIX}{i}.reference")
        if direction is None or reference is None:
            raise ModelError(f"{path.name} is incomplete: the projection at '{layer}' is missing.")
        add_projection(module, layer, ConceptProjection(direction, reference.reshape(())))
    module.eval()
    module.requires_grad_(False)
    try:
        preprocessing = preprocessing_from_dict(document["preprocessing"], name=base.preprocessing.name)
    except (KeyError, ValueError, TypeError):
        preprocessing = base.preprocessing
    notes = [f"Edited from {base_spec}: {describe_edits(document)}."]
    return replace(
        base, spec=spec or f"file:{path}", name=str(document.get("title") or path.name), module=module,
        preprocessing=preprocessing, class_names=[str(c) for c in document.get("class_names", base.class_names)],
        notes=notes + [n for n in base.notes],
    )
