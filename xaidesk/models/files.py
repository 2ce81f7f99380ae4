"""Loading ``file:PATH`` models safely, and reading their sidecar files.

A PyTorch file is read with ``torch.load(weights_only=True)``, which only
rebuilds tensors and plain containers; a ``.safetensors`` file with the
``safetensors`` library, which reads tensors only. A file that holds a pickled Python
object (a full ``nn.Module``) needs ``weights_only=False``, which runs code
stored in the file: that happens only with ``trust=True``.
"""

from __future__ import annotations

import json
import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core import ModelError
from .base import CLASS_NAMES, PREPROCESSING, LoadedModel, Note, check_finite_weights
from .preprocessing import IMAGENET, Preprocessing


class UntrustedModelError(ModelError):
    """The file holds Python code (a pickled object); loading it needs explicit trust.

    Attributes
    ----------
    path
        The file.
    code_reference
        The first class or function the file refers to (``"torchvision.models.resnet.ResNet"``), if known.
    """

    def __init__(self, message: str, details: str | None = None, *, path: Path | None = None,
                 code_reference: str | None = None):
        super().__init__(message, details)
        self.path = path
        self.code_reference = code_reference


@dataclass
class Sidecar:
    """What a sidecar file next to a model says (``PATH.json`` / ``PATH.classes.txt``)."""

    class_names: list[str] | None = None
    preprocessing: Preprocessing | None = None
    source: str = ""


def _sidecar_candidates(path: Path, ending: str) -> list[Path]:
    first = path.with_name(path.name + ending)
    second = path.with_suffix(ending) if path.suffix else first
    return [first] if first == second else [first, second]


def read_sidecar(path: Path) -> Sidecar:
    """Read ``PATH.json`` (or ``PATH`` with its suffix replaced by ``.json``) and ``PATH.classes.txt``.

    The JSON may hold ``{"class_names": [...], "preprocessing": {"size": [h, w],
    "mean": [...], "std": [...], "channels": "rgb"|"gray", "resize": int|null,
    "interpolation": "bilinear"|"bicubic"|"nearest"}}`` (interpolation optional, bilinear by default).
    A sidecar that exists but cannot be used raises :class:`ModelError`.
    """
    from .preprocessing import preprocessing_from_dict

    result = Sidecar()
    for candidate in _sidecar_candidates(path, ".json"):
        if not candidate.is_file():
            continue
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ModelError(
                f"The description file {candidate.name} next to the model is not valid JSON. "
                "Fix or remove it.",
                details=str(error),
            ) from error
        if not isinstance(data, dict):
            raise ModelError(f"The description file {candidate.name} must hold a JSON object {{...}}.")
        result.source = candidate.name
        names = data.get("class_names", data.get("classes"))
        if names is not None:
            if not isinstance(names, list) or not names:
                raise ModelError(f"'class_names' in {candidate.name} must be a list of names.")
            result.class_names = [str(n) for n in names]
        if data.get("preprocessing") is not None:
            try:
                result.preprocessing = preprocessing_from_dict(data["preprocessing"], name=candidate.name)
            except (TypeError, ValueError, AttributeError) as error:
                raise ModelError(
                    f"The 'preprocessing' entry in {candidate.name} cannot be used: {error}. It takes "
                    '{"size": [h, w], "mean": [...], "std": [...], "channels": "rgb" or "gray", '
                    '"resize": a number or null, "interpolation": "bilinear", "bicubic" or "nearest"}.',
                    details=str(error),
                ) from error
        break
    if result.class_names is None:
        for candidate in _sidecar_candidates(path, ".classes.txt"):
            if candidate.is_file():
                try:
                    lines = candidate.read_text(encoding="utf-8").splitlines()
                except (OSError, UnicodeDecodeError) as error:
                    raise ModelError(f"The class-name file {candidate.name} could not be read.",
                                     details=str(error)) from error
                names = [line.strip() for line in lines if line.strip()]
                if names:
                    result.class_names = names
                    result.source = result.source or candidate.name
                break
    return result


def check_model_file(path: Path) -> None:
    """Refuse a ``path`` that is missing or a folder, in plain words.

    Raises
    ------
    ModelError
        When there is no file at ``path``.
    """
    if not path.exists():
        if path.is_symlink():
            from ..core.io import missing_path_message

            raise ModelError(missing_path_message(path, "model file"))
        raise ModelError(f"There is no model file at {path}. Check the path and try again.")
    if not path.is_file():
        raise ModelError(f"{path} is a folder, not a model file. Choose the .pt or .pth file inside it.")




def _unreadable(path: Path, error: BaseException) -> ModelError:
    return ModelError(
        f"{path.name} could not be read as a PyTorch model file: it may be damaged or incomplete, or it "
        "was not saved with PyTorch (torch.save or torch.jit.save). Check that the file copied fully.",
        details=f"{type(error).__name__}: {error}",
    )


_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _code_reference(error: BaseException) -> str | None:
    """The pickled class a weights-only load refused, or None if the error is not about code."""
    text = str(error)
    if "Unsupported global" not in text and "GLOBAL " not in text:
        return None
    match = _GLOBAL.search(text)
    return match.group(1) if match else "a Python object"


def is_torchscript(path: Path) -> bool:
    """True for a TorchScript archive (a zip with ``constants.pkl`` or a ``code/`` folder)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    return any(n.endswith("/constants.pkl") or n == "constants.pkl" or "/code/" in n or n.startswith("code/")
               for n in names)


def is_safetensors(path: Path) -> bool:
    """True for a ``.safetensors`` file, by its name or its header (an 8-byte length, then ``{``)."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
        size = path.stat().st_size
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 2 <= int.from_bytes(head[:8], "little") <= size - 8


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file (it holds no code, so no trust is needed).

    Raises :class:`ModelError` when the file is damaged or incomplete.
    """
    from safetensors.torch import load_file

    path = Path(path).expanduser()
    check_model_file(path)
    try:
        return load_file(str(path), device="cpu")
    except MemoryError as error:
        raise ModelError(f"{path.name} is too large to load into memory.") from error
    except Exception as error:  # noqa: BLE001 - SafetensorError, OSError, ValueError, ...
        raise ModelError(
            f"{path.name} could not be read as a safetensors weights file: it may be damaged or incomplete. "
            "Check that the file copied fully, or save the weights again.",
            details=f"{type(error).__name__}: {error}",
        ) from error


def read_weights_only(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` with errors turned into plain messages.

    A ``.safetensors`` file is read with :func:`read_safetensors` instead (a dict of tensors).
    Raises :class:`UntrustedModelError` when the file holds pickled code and
    :class:`ModelError` when it cannot be read at all.
    """
    path = Path(path).expanduser()
    check_model_file(path)
    if is_safetensors(path):
        return read_safetensors(path)
    if is_torchscript(path):
        raise ModelError(
            f"{path.name} is a TorchScript model, not a weights file. Open it with 'file:{path}'."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reference = _code_reference(error)
        if reference is None:
            raise _unreadable(path, error) from error
        raise UntrustedModelError(
            f"{path.name} contains program code (a saved Python object, {reference}), not just weights. "
            "Loading it runs that code, which can do anything your user account can do. Only trust "
            "files from sources you trust; to load it anyway, confirm that you trust it (--trust on "
            "the command line).",
            details=str(error),
            path=path,
            code_reference=reference,
        ) from error
    except MemoryError as error:
        raise ModelError(f"{path.name} is too large to load into memory.") from error
    except Exception as error:  # noqa: BLE001 - EOFError, RuntimeError (zip), ValueError, ...
        raise _unreadable(path, error) from error


def read_trusted(path: Path) -> Any:
    """``torch.load(path, weights_only=False)``: runs the code pickled in the file, so only with trust.

    Raises
    ------
    ModelError
        When the file cannot be loaded even so (its classes are not importable here, or it is too large).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=False)
    except MemoryError as error:
        raise ModelError(f"{path.name} is too large to load into memory.") from error
    except Exception as error:  # noqa: BLE001
        raise ModelError(
            f"{path.name} could not be loaded even as a trusted file: the code it needs is not "
            f"available here ({type(error).__name__}: {error}). A model saved as a whole object needs "
            "the Python classes that defined it; save its state_dict or a TorchScript version instead.",
            details=f"{type(error).__name__}: {error}",
        ) from error


def read_model_object(path: Path, *, trust: bool, notes: list[str]) -> Any:
    """What ``path`` holds, read weights-only; with ``trust``, a file holding pickled code is read in full.

    Parameters
    ----------
    path
        A PyTorch or ``.safetensors`` file.
    trust
        Allow running the code pickled in the file (a note says so when that happened).
    notes
        The model's notes, appended to.

    Raises
    ------
    UntrustedModelError
        The file holds pickled code and ``trust`` is False.
    ModelError
        The file cannot be read.
    """
    try:
        return read_weights_only(path)
    except UntrustedModelError:
        if not trust:
            raise
        obj = read_trusted(path)
        notes.append("Loaded as a trusted file (its code was run).")
        return obj


def state_dict_of(obj: Any) -> dict[str, torch.Tensor] | None:
    """The float tensors of a state dict in ``obj``: a module's ``state_dict()``, unwrapped from
    ``{"state_dict": ...}``-style wrappers and common key prefixes (see
    :func:`~xaidesk.models.torchvision.extract_state_dict`); ``None`` when ``obj`` holds no tensors."""
    from .torchvision import extract_state_dict

    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    state = extract_state_dict(obj)
    if state is None:
        return None
    floats = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:
        from collections import OrderedDict

        floats = OrderedDict(floats)
        floats._metadata = metadata  # type: ignore[attr-defined]
    return floats


def read_state_dict(path: Path, *, trust: bool, notes: list[str], prefer_ema: bool = False) -> dict[str, torch.Tensor]:
    """The layer weights in ``path`` as float tensors (see :func:`read_model_object` and :func:`state_dict_of`).

    Parameters
    ----------
    path
        A state dict saved with ``torch.save`` (possibly wrapped in a training checkpoint), a
        ``.safetensors`` file, or (with ``trust``) a pickled module.
    trust
        Allow running the code pickled in the file.
    notes
        The model's notes, appended to.
    prefer_ema
        Take a training checkpoint's averaged weights (``state_dict_ema``), as timm's ``load_checkpoint`` does.

    Raises
    ------
    UntrustedModelError
        The file holds pickled code and ``trust`` is False.
    ModelError
        The file cannot be read or holds no layer weights.
    """
    obj = read_model_object(path, trust=trust, notes=notes)
    if prefer_ema and isinstance(obj, dict) and isinstance(obj.get("state_dict_ema"), dict):
        obj = obj["state_dict_ema"]
        notes.append("Used the averaged (EMA) weights of the training checkpoint.")
    state = state_dict_of(obj)
    if state is None:
        raise ModelError(
            f"{path.name} holds no layer weights (a state dict), so it cannot be loaded into a network. "
            "Save the model's state_dict() with torch.save or safetensors."
        )
    return state


def load_torchscript(path: Path) -> torch.nn.Module:
    """The TorchScript module in ``path``, on the CPU.

    Raises
    ------
    ModelError
        When the archive cannot be loaded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.load is deprecated"
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as error:  # noqa: BLE001
        raise ModelError(
            f"{path.name} looks like a TorchScript model but could not be loaded "
            "(it may be damaged or saved by a newer PyTorch).",
            details=f"{type(error).__name__}: {error}",
        ) from error


_load_torchscript = load_torchscript


def _count_outputs(module: torch.nn.Module, preprocessing: Preprocessing, path: Path) -> int:
    """The number of classes, from a forward pass on two zero inputs of the preprocessing size.

    Two inputs, so that a model that drops the batch axis or returns one number per input is
    refused now rather than under a method that batches its inputs.
    """
    from .inference import model_failure

    x = torch.zeros(2, preprocessing.num_channels, *preprocessing.size)
    shape_text = f"{preprocessing.num_channels}x{preprocessing.size[0]}x{preprocessing.size[1]}"
    try:
        with torch.no_grad():
            out = module(x)
    except Exception as error:  # noqa: BLE001
        kind, reason = model_failure(error)
        if kind != "RuntimeError":
            raise ModelError(
                f"The model in {path.name} failed on a test input: {reason.rstrip('.')} (it raised {kind} in its "
                "forward pass).", details=f"{type(error).__name__}: {error}") from error
        raise ModelError(
            f"The model in {path.name} does not accept an input of {shape_text} "
            f"(channels x height x width). Put a description file {path.name}.json next to it with "
            'its input, e.g. {"preprocessing": {"size": [h, w], "channels": "rgb", "mean": [...], '
            '"std": [...]}, "class_names": [...]}.',
            details=f"{type(error).__name__}: {error}",
        ) from error
    if isinstance(out, (tuple, list)) or isinstance(out, dict):
        raise ModelError(
            f"The model in {path.name} returns several outputs; xaidesk explains models that return one "
            "tensor of class scores. Save a wrapper that returns only the scores."
        )
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelError(
            f"The model in {path.name} returns {shape} for two {shape_text} inputs; xaidesk expects one row of "
            "class scores per input (inputs x classes). A model with one output must return shape (inputs, 1)."
        )
    if out.is_floating_point() and not bool(torch.isfinite(out).all()):
        raise ModelError(
            f"The model in {path.name} gives invalid scores (NaN or infinity) on a plain test input; its "
            "weights or code are broken. Use another copy of the model."
        )
    return int(out.shape[-1])


def class_names_from_sidecar(sidecar: Sidecar, count: int, notes: list[str], *, path: Path | None = None,
                             imagenet_arch: str = "resnet18") -> list[str]:
    """The sidecar's class names when it has one per output, else ImageNet's for 1000 outputs, else ``class i``.

    Parameters
    ----------
    sidecar
        What the sidecar file said (:func:`read_sidecar`).
    count
        The model's number of outputs.
    notes
        The model's notes: one note of kind ``CLASS_NAMES`` says where the names came from.
    path
        The model file; when given and no names were found, the note says where to put them.
    imagenet_arch
        The torchvision architecture whose weights metadata gives the ImageNet names.
    """
    if sidecar.class_names is not None:
        if len(sidecar.class_names) == count:
            notes.append(Note(f"Class names from {sidecar.source}.", CLASS_NAMES))
            return list(sidecar.class_names)
        notes.append(Note(
            f"{sidecar.source} lists {len(sidecar.class_names)} class names but the model has {count} "
            "outputs; the names were ignored.", CLASS_NAMES))
    if count == 1000:
        from .torchvision import imagenet_categories

        notes.append(Note("1000 outputs: using the ImageNet class names.", CLASS_NAMES))
        return imagenet_categories(imagenet_arch)
    if path is not None:
        notes.append(Note(
            f"The model has {count} classes and no class names were found; put them in "
            f"{path.name}.json ({{\"class_names\": [...]}}) or {path.name}.classes.txt (one per line), "
            "or give a label file.", CLASS_NAMES))
    return [f"class {i}" for i in range(count)]



def _timm_candidates(state: dict[str, torch.Tensor]) -> list[str]:
    """timm architectures whose layers match ``state`` (empty when none, or timm is not installed)."""
    try:
        from .timm_models import detect_timm_architecture

        return detect_timm_architecture(state)
    except ImportError:
        return []


def load_file(path: str | Path, *, trust: bool = False, spec: str | None = None) -> LoadedModel:
    """Load ``file:PATH``: a TorchScript archive, a state dict of a torchvision model, or (trusted) a pickled module."""
    from .torchvision import detect_architecture, extract_state_dict, load_torchvision

    path = Path(path).expanduser()
    spec = spec or f"file:{path}"
    check_model_file(path)
    if is_safetensors(path):
        from .edited import load_edited, read_edited_document

        if read_edited_document(path) is not None:
            return load_edited(path, spec=spec, trust=trust)
    notes: list[str] = []
    torchscript = is_torchscript(path)
    if torchscript:
        module = load_torchscript(path)
        notes.append("TorchScript model: gradient methods and occlusion work; LRP needs the Python model.")
    else:
        obj = read_model_object(path, trust=trust, notes=notes)
        if isinstance(obj, torch.nn.Module):
            module = obj
        elif isinstance(obj, dict) and any(isinstance(v, torch.nn.Module) for v in obj.values()):
            key = next(k for k, v in obj.items() if isinstance(v, torch.nn.Module))
            module = obj[key]
            notes.append(f"Used the model stored under '{key}' in the file.")
        else:
            state = extract_state_dict(obj)
            if state is None:
                raise ModelError(
                    f"{path.name} was read, but it holds neither a model nor layer weights "
                    f"(it holds a {type(obj).__name__}). Choose the file that holds the model."
                )
            arch = detect_architecture(state)
            if arch is None:
                timm_names = _timm_candidates(state)
                if timm_names:
                    raise ModelError(
                        f"{path.name} holds only weights (a state dict) that match timm's "
                        f"{' or '.join(timm_names)}. Open it as timm:{timm_names[0]}:{path}."
                    )
                raise ModelError(
                    f"{path.name} holds only weights (a state dict) and xaidesk could not tell which "
                    "network they belong to. Choose its architecture: torchvision:ARCH:PATH "
                    f"(for example torchvision:resnet18:{path}) or timm:NAME:PATH.",
                )
            notes.insert(0, f"This file holds only weights; they match torchvision's {arch}, loaded as that.")
            return load_torchvision(arch, path, spec=spec, state=state, notes=notes)

    if not isinstance(module, torch.nn.Module):  # pragma: no cover - jit modules are nn.Modules
        raise ModelError(f"{path.name} does not hold a PyTorch model.")
    module = module.float() if not torchscript else module
    module.eval()
    for parameter in module.parameters():  # ScriptModules have no requires_grad_()
        parameter.requires_grad_(False)
    sidecar = read_sidecar(path)
    preprocessing = sidecar.preprocessing or IMAGENET
    if sidecar.preprocessing is not None:
        notes.append(Note(f"Preprocessing from {sidecar.source}.", PREPROCESSING))
    else:
        notes.append(Note("No description file: assuming ImageNet preprocessing (224x224 RGB).", PREPROCESSING))
    check_finite_weights(module, path.name)  # before the test input, to name the damaged layer
    count = _count_outputs(module, preprocessing, path)
    architecture = "unknown"
    try:
        arch = detect_architecture(extract_state_dict(module.state_dict()) or {})
    except Exception:  # noqa: BLE001 - detection is a nicety
        arch = None
    if arch:
        architecture = arch
        notes.append(f"Its layers match torchvision's {arch}.")
    return LoadedModel(
        spec=spec,
        name=path.name,
        module=module,
        preprocessing=preprocessing,
        class_names=class_names_from_sidecar(sidecar, count, notes, path=path),
        architecture=architecture,
        is_torchscript=torchscript,
        notes=notes,
    )
