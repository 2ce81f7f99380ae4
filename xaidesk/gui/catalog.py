"""What the application can offer, gathered off the GUI thread.

Importing the model and method packages loads torch (seconds). The GUI never
imports them at module level; :func:`load_catalog` runs in the runner right
after the window is shown and hands back plain data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

_threads_configured = False


@dataclass
class Catalog:
    """Built-in models, image and audio methods and torchvision architectures.

    Attributes
    ----------
    builtin_models
        Dicts with ``spec``, ``title``, ``description``, ``samples``, ``accuracy``.
    methods
        ``MethodInfo`` records of the image methods, in the registry's order (by family).
    audio_methods
        ``MethodInfo`` records of the audio methods, in the registry's order.
    architectures
        Names of the torchvision architectures that can be loaded.
    devices
        Where models can run: ``"cpu"``, and ``"cuda"`` when PyTorch finds a CUDA GPU.
    """

    builtin_models: list[dict] = field(default_factory=list)
    methods: list = field(default_factory=list)
    architectures: list[str] = field(default_factory=list)
    audio_methods: list = field(default_factory=list)
    devices: list[str] = field(default_factory=lambda: ["cpu"])

    def models(self, modality: str = "image") -> list[dict]:
        """The built-in models of one modality (entries without ``modality`` are image models)."""
        return [m for m in self.builtin_models if m.get("modality", "image") == modality]

    def samples(self, modality: str = "image") -> list:
        """All sample inputs of the built-in models of one modality, in order."""
        return [path for model in self.models(modality) for path in model.get("samples", [])]

    def sample_owner(self, path) -> dict | None:
        """The built-in model a sample input belongs to, or None for any other file."""
        key = _same_file_key(path)
        for model in self.builtin_models:
            if any(_same_file_key(sample) == key for sample in model.get("samples", [])):
                return model
        return None


def _same_file_key(path) -> str:
    return os.path.normcase(os.path.abspath(str(path)))


def sample_title(path, spec: str = "") -> str:
    """A sample's name for people, from its file name: ``"Tone then clicks"`` for ``sounds_tone_then_clicks.wav``.

    The model's short name (``"sounds"`` of ``demo:sounds``) is dropped from the front unless only a
    number would be left (``"Digits 0"``).
    """
    stem = Path(str(path)).stem
    prefix = spec.rsplit(":", 1)[-1] + "_" if spec else ""
    if prefix != "_" and stem.startswith(prefix) and not stem[len(prefix):].isdigit():
        stem = stem[len(prefix):]
    text = " ".join(stem.replace("_", " ").replace("-", " ").split()) or stem
    return text[:1].upper() + text[1:]


def input_title(path, catalog: Catalog | None) -> str:
    """How to name an opened input: a sample's plain title ("Horse tagged 1"), any other file's name."""
    owner = catalog.sample_owner(path) if catalog is not None else None
    return sample_title(path, owner["spec"]) if owner else Path(str(path)).name


def configure_torch_threads() -> None:
    """Leave one core for the GUI thread: ``torch.set_num_threads(cpu_count - 1)``, once."""
    global _threads_configured
    if _threads_configured:
        return
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    _threads_configured = True


def load_catalog(token=None, progress=None) -> Catalog:
    """Import the torch-backed packages and list what they offer (run in the worker)."""
    if progress:
        progress(0.1, "Loading PyTorch")
    configure_torch_threads()
    from xaidesk.core import list_methods
    from xaidesk.tabular import load_builtin_methods

    load_builtin_methods()

    methods = list_methods("image")
    audio_methods = list_methods("audio")
    builtin: list[dict] = []
    architectures: list[str] = []
    try:
        from xaidesk import models

        builtin = list(models.list_builtin_models())
        architectures = list(getattr(models, "TORCHVISION_ARCHITECTURES", ()))
    except (ImportError, AttributeError):
        pass
    from xaidesk.runs import available_devices

    return Catalog(builtin_models=builtin, methods=methods, architectures=architectures, audio_methods=audio_methods,
                   devices=available_devices())
