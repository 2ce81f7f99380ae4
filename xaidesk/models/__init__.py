"""Qt-free model handling: built-in demos, torchvision architectures, saved files.

A model is named by a spec string (see :func:`load_model`):

- ``demo:NAME`` — a built-in demo model (:func:`list_builtin_models`).
- ``torchvision:ARCH:PATH`` — a torchvision architecture with weights from a local state-dict file.
- ``file:PATH`` — a saved model: TorchScript, a torchvision state dict, or
  (only with ``trust=True``) a pickled ``nn.Module``. With a sidecar JSON
  ``{"modality": "audio", "frontend": {...}, "class_names": [...]}`` it is an audio model.
- ``vggish:PATH`` — the VGGish architecture with weights (a state dict) from a local file
  (:mod:`xaidesk.models.audio`).
- ``timm:NAME:PATH`` — a timm architecture with weights from a state dict or ``.safetensors`` file.
- ``hf:FOLDER`` — a Hugging Face ``transformers`` image classifier saved in a local folder.
- ``onnx:PATH`` — an ONNX file, run by onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

from ..core import ModelError
from .base import LoadedModel, check_finite_weights
from .demo import DEMO_NAMES, list_demos, load_demo
from .files import UntrustedModelError, load_file, read_sidecar
from .preprocessing import IMAGENET, Preprocessing
from .torchvision import (
    TORCHVISION_ARCHITECTURES,
    detect_architecture,
    download_weights,
    load_torchvision,
    weights_dir,
)

__all__ = [
    "IMAGENET", "LoadedModel", "ModelError", "Preprocessing", "TORCHVISION_ARCHITECTURES",
    "UntrustedModelError", "detect_architecture", "download_weights", "list_builtin_models",
    "load_model", "read_sidecar", "weights_dir", "SPEC_FORMS", "AudioFrontEnd", "build_vggish",
]

from .audio import AudioFrontEnd, build_vggish  # noqa: E402

SPEC_FORMS = (
    "demo:NAME (built-in: " + ", ".join(DEMO_NAMES) + ")",
    "torchvision:ARCH:PATH (a torchvision architecture with weights from a file)",
    "file:PATH (a saved model)",
    "vggish:PATH (the VGGish audio architecture with weights from a file)",
    "probe:PATH (a two-class classifier fitted on a backbone layer, see 'xaidesk probe')",
    "timm:NAME:PATH (a timm architecture with weights from a file)",
    "hf:FOLDER (a Hugging Face image classifier saved in a folder)",
    "onnx:PATH (an ONNX file, run by onnxruntime)",
)


def _forms() -> str:
    return "; ".join(SPEC_FORMS)


def list_builtin_models(modality: str | None = None) -> list[dict]:
    """The built-in demo models (only those of ``modality`` when given: "image" or "audio").

    Each entry has ``modality`` ("image" or "audio"), ``spec`` (``"demo:digits"``), ``title``, ``description``,
    ``samples`` (paths of sample images), ``accuracy`` (figures from training),
    and also ``sample_labels`` (true class of each sample) and ``class_names``.
    """
    return [m for m in list_demos() if modality is None or m["modality"] == modality]


def load_model(spec: str, *, trust: bool = False, labels: str | Path | None = None,
               preprocessing: Preprocessing | None = None) -> LoadedModel:
    """Load the model named by ``spec`` (see :func:`_load`) and refuse one with NaN or infinite weights.

    ``labels`` names a label file (``.txt`` or ``.json``) whose class names replace the model's own;
    ``preprocessing`` replaces the preprocessing the source describes.
    """
    model = _load(spec, trust=trust)
    check_finite_weights(model.module, model.name)
    if labels is not None and str(labels).strip():
        from .labels import apply_label_file

        apply_label_file(model, labels)
        model.label_file = str(Path(labels).expanduser())
    if preprocessing is not None:
        model = model.with_preprocessing(preprocessing)
    return model


def _load(spec: str, *, trust: bool = False) -> LoadedModel:
    """Load the model named by ``spec``, in eval mode with gradients of its parameters off.

    Parameters
    ----------
    spec
        ``demo:NAME``, ``torchvision:ARCH:PATH`` or ``file:PATH``.
    trust
        Allow loading a file that holds pickled Python code (a full saved
        module). Without it such a file raises :class:`UntrustedModelError`.

    Raises
    ------
    ModelError
        With a plain message for anything that cannot be loaded.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ModelError(f"No model was given. Name a model as one of: {_forms()}.")
    spec = spec.strip()
    prefix, sep, rest = spec.partition(":")
    kind = prefix.strip().lower()
    rest = rest.strip()
    if not sep or kind not in ("demo", "torchvision", "file", "vggish", "probe", "timm", "hf", "onnx"):
        hint = ""
        if Path(spec).expanduser().is_file():
            hint = f" To open this file use 'file:{spec}'."
        raise ModelError(f"'{spec}' is not a model name xaidesk knows. Use one of: {_forms()}.{hint}")
    if kind == "demo":
        if not rest:
            raise ModelError(
                "Name the built-in model after 'demo:', one of: " + ", ".join(f"demo:{n}" for n in DEMO_NAMES) + "."
            )
        return load_demo(rest.lower(), spec=spec)
    if kind == "torchvision":
        arch, _, path = rest.partition(":")
        if not arch:
            raise ModelError(
                "Name the architecture after 'torchvision:', e.g. torchvision:resnet18:PATH. Supported: "
                + ", ".join(TORCHVISION_ARCHITECTURES) + "."
            )
        from .torchvision import check_architecture

        arch = check_architecture(arch)
        if not path.strip():
            raise ModelError(
                f"torchvision:{arch} needs a weights file: give it as torchvision:{arch}:PATH (the weights "
                f"saved from torchvision.models.{arch}, e.g. the published ones once downloaded)."
            )
        return load_torchvision(arch, path.strip(), spec=spec)
    if kind == "timm":
        from .timm_models import load_timm

        name, _, path = rest.partition(":")
        if not name.strip() or not path.strip():
            raise ModelError(
                "timm: needs an architecture name and a weights file: give it as timm:NAME:PATH, "
                "e.g. timm:vit_small_patch16_224:weights.safetensors."
            )
        return load_timm(name.strip(), path.strip(), spec=spec, trust=trust)
    if kind == "hf":
        from .hf import load_hf

        if not rest:
            raise ModelError("hf: needs a folder: give it as hf:FOLDER (holding config.json and the weights).")
        return load_hf(rest, spec=spec, trust=trust)
    if kind == "onnx":
        from .onnx import load_onnx

        if not rest:
            raise ModelError("onnx: needs a file: give it as onnx:PATH (an .onnx file).")
        return load_onnx(rest, spec=spec)
    if kind == "probe":
        from .probe import load_probe

        if not rest:
            raise ModelError("probe: needs a probe file: give it as probe:PATH (written by 'xaidesk probe').")
        return load_probe(rest, spec=spec)
    if kind == "vggish":
        from .audio import load_vggish

        if not rest:
            raise ModelError("vggish: needs a weights file: give it as vggish:PATH (a VGGish state dict).")
        return load_vggish(rest, spec=spec)
    if rest:
        from .audio import is_audio_sidecar, load_audio_file

        if is_audio_sidecar(rest):
            return load_audio_file(rest, trust=trust, spec=spec)
    if not rest:
        raise ModelError(f"Give the path of the model file after 'file:', e.g. file:model.pt. Valid forms: {_forms()}.")
    return load_file(rest, trust=trust, spec=spec)
