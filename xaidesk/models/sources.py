"""Recognise what a person brings as a model: a file or a folder, and the spec that opens it.

:func:`recognise` looks at a path without running anything stored in it and answers with a
:class:`SourceGuess`: the kind of model, a plain description and the model spec
(:func:`xaidesk.models.load_model`), or no spec when the person must choose an architecture
(weights alone do not say which network they belong to; :func:`architecture_choices` lists the
torchvision and timm names to choose from, and :meth:`SourceGuess.spec_with` completes the spec).

- ``.onnx`` file -> ``onnx:PATH``
- folder with ``config.json`` -> ``hf:FOLDER`` (a ``transformers`` model), or ``timm:NAME:WEIGHTS``
  when the config is timm's (it names an ``architecture``)
- weights file (``.safetensors``, ``.pt``, ``.pth``, ``.bin``, ``.ckpt``, ...) -> ``torchvision:ARCH:PATH``
  when its layers match a torchvision architecture exactly, ``vggish:PATH`` for VGGish, otherwise
  an architecture to choose (``torchvision:`` or ``timm:``)
- TorchScript archive -> ``file:PATH``
- pickled Python object (a whole saved model) -> ``file:PATH``, marked ``needs_trust``: loading it runs
  code from the file, so it is only loaded after the person confirms (``trust=True``)
- ``.xdprobe`` file -> ``probe:PATH``

Weights are read with :func:`xaidesk.models.files.read_weights_only` (``weights_only=True``);
``.safetensors`` headers are read with ``safetensors`` (names and shapes only, no values).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core import ModelError

#: Suffixes of files that may hold PyTorch weights or a saved PyTorch model.
WEIGHTS_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".tar", ".ts", ".pkl")
#: Every suffix :func:`recognise` looks for when a folder holds one model file.
MODEL_SUFFIXES = (".onnx", ".xdprobe") + WEIGHTS_SUFFIXES
#: Names of a classifier's last layer in common code bases, to count outputs of unknown weights.
_HEAD_WORDS = ("head", "fc", "classifier", "logits", "last_linear")


@dataclass(frozen=True)
class ArchitectureChoice:
    """One architecture a weights file can be loaded into.

    Attributes
    ----------
    name
        The architecture's name in its library (``"resnet18"``, ``"vit_small_patch16_224"``).
    source
        ``"torchvision"`` or ``"timm"``: the spec prefix.
    """

    name: str
    source: str

    @property
    def title(self) -> str:
        """``"NAME  (SOURCE)"``, as a search box lists it."""
        return f"{self.name}  ({self.source})"


@dataclass(frozen=True)
class SourceGuess:
    """What :func:`recognise` found at a path.

    Attributes
    ----------
    kind
        ``"onnx"``, ``"hf"``, ``"timm"``, ``"torchvision"`` (weights that match a torchvision
        architecture), ``"weights"`` (weights of an architecture to choose), ``"torchscript"``,
        ``"pickle"``, ``"probe"``, ``"vggish"`` or ``"edited"`` (a model edited by xaidesk).
    path
        The file or folder the spec names (for a timm folder: its weights file).
    description
        What was found, in plain words.
    spec
        The model spec that opens it, or ``None`` while an architecture must be chosen.
    architecture
        The architecture found (detected from the layers or named by a config), if any.
    architecture_source
        Whose architecture that is: ``"torchvision"`` or ``"timm"``.
    num_classes
        The number of outputs read from the weights, if known.
    modality
        ``"image"`` or ``"audio"``.
    needs_trust
        Loading runs code stored in the file (a pickled object): only with the person's consent.
    notes
        Further plain remarks (what was looked at instead of the given path, ...).
    """

    kind: str
    path: Path
    description: str
    spec: str | None
    architecture: str | None = None
    architecture_source: str = "torchvision"
    num_classes: int | None = None
    modality: str = "image"
    needs_trust: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def chooses_architecture(self) -> bool:
        """Whether the person picks (or may change) the architecture the weights are loaded into."""
        return self.kind in ("torchvision", "weights")

    def spec_with(self, choice: ArchitectureChoice | None) -> str | None:
        """The spec for these weights loaded into ``choice`` (the guess's own spec for other kinds)."""
        if not self.chooses_architecture:
            return self.spec
        if choice is None:
            return self.spec
        if choice.source not in ("torchvision", "timm"):
            raise ValueError(f"unknown architecture source {choice.source!r}")
        return f"{choice.source}:{choice.name}:{self.path}"


# --------------------------------------------------------------------------- architectures


def torchvision_architecture_choices() -> list[ArchitectureChoice]:
    """The torchvision architectures xaidesk loads weights into."""
    from .torchvision import TORCHVISION_ARCHITECTURES

    return [ArchitectureChoice(name, "torchvision") for name in TORCHVISION_ARCHITECTURES]


@functools.lru_cache(maxsize=1)
def timm_architecture_choices() -> tuple[ArchitectureChoice, ...]:
    """Every timm architecture name (empty when timm is not installed)."""
    try:
        from . import timm_models

        names = timm_models.timm_architecture_names()
    except (ImportError, AttributeError):
        try:
            import timm
        except ImportError:
            return ()
        names = timm.list_models()
    return tuple(ArchitectureChoice(str(name), "timm") for name in names)


def architecture_choices() -> list[ArchitectureChoice]:
    """torchvision's architectures first, then timm's, for a search box."""
    return torchvision_architecture_choices() + list(timm_architecture_choices())


def matching_choices(choices, text: str) -> list[ArchitectureChoice]:
    """The choices whose title holds every word of ``text`` (case and ``-``/``_`` ignored)."""
    words = [_fold(word) for word in str(text).split()]
    return [c for c in choices if all(word in _fold(c.title) for word in words)]


def _fold(text: str) -> str:
    return text.lower().replace("-", "_")


# --------------------------------------------------------------------------- recognise


def recognise(path: str | Path) -> SourceGuess:
    """Find out what model ``path`` holds and the spec that opens it; nothing in it is run.

    Raises
    ------
    ModelError
        With a plain message when the path is missing or holds nothing xaidesk can open.
    """
    from ..core.io import missing_path_message

    path = Path(str(path).strip()).expanduser()
    if not str(path).strip() or str(path) == ".":
        raise ModelError("Choose a model file or a model folder.")
    if not path.exists():
        raise ModelError(missing_path_message(path, "model file or folder"))
    if path.is_dir():
        return _recognise_folder(path)
    folder = _config_folder_of(path)
    if folder is not None:
        guess = _recognise_folder(folder)
        note = f"{path.name} belongs to the model in the folder {folder.name}, so the folder is opened."
        return _with_note(guess, note)
    return _recognise_file(path)


def _with_note(guess: SourceGuess, note: str) -> SourceGuess:
    from dataclasses import replace

    return replace(guess, notes=(note, *guess.notes))


def _config_folder_of(path: Path) -> Path | None:
    """The folder of a weights file that sits beside a Hugging Face or timm ``config.json``."""
    if path.suffix.lower() not in (".safetensors", ".bin"):
        return None
    config = path.parent / "config.json"
    return path.parent if config.is_file() and read_json_object(config) is not None else None


def read_json_object(path: Path) -> dict | None:
    """The JSON object in ``path``, or ``None`` when the file cannot be read or holds no JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _recognise_folder(folder: Path) -> SourceGuess:
    config_path = folder / "config.json"
    if config_path.is_file():
        config = read_json_object(config_path)
        if config is None:
            raise ModelError(
                f"The config.json in {folder.name} is not valid JSON, so the model in it cannot be recognised. "
                "Check that the folder was copied completely."
            )
        if is_timm_config(config):
            return _timm_folder(folder, config)
        return _hf_folder(folder, config)
    snapshot = hf_cache_snapshot(folder)
    if snapshot is not None:
        guess = _recognise_folder(snapshot)
        return _with_note(guess, f"{folder.name} is a Hugging Face download folder; its snapshot "
                                 f"{snapshot.name[:12]} is opened.")
    from .probe import PROBE_FILE_NAME

    if (folder / PROBE_FILE_NAME).is_file():
        return _recognise_file(folder / PROBE_FILE_NAME)
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and _model_suffix(p))
    if len(candidates) == 1:
        guess = _recognise_file(candidates[0])
        return _with_note(guess, f"The folder {folder.name} holds one model file, {candidates[0].name}.")
    if candidates:
        names = ", ".join(p.name for p in candidates[:4]) + (" …" if len(candidates) > 4 else "")
        raise ModelError(
            f"The folder {folder.name} holds several model files ({names}). Choose the file you want to open."
        )
    raise ModelError(
        f"The folder {folder.name} holds no model xaidesk recognises: a model folder has a config.json "
        "(Hugging Face or timm), otherwise choose the model file itself (.onnx, .safetensors, .pt, .pth)."
    )


def hf_cache_snapshot(folder: Path) -> Path | None:
    """The snapshot of a Hugging Face download folder (``models--ORG--NAME``): ``refs/main``'s, or the only one.

    ``None`` when ``folder`` has no snapshot holding a ``config.json``.

    Raises
    ------
    ModelError
        When it holds several snapshots and ``refs/main`` names none of them.
    """
    snapshots = folder / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = folder / "refs" / "main"
    if ref.is_file():
        try:
            chosen = snapshots / ref.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            chosen = snapshots / "?"
        if (chosen / "config.json").is_file():
            return chosen
    found = [s for s in sorted(snapshots.iterdir()) if (s / "config.json").is_file()]
    if len(found) > 1:
        raise ModelError(
            f"The download folder {folder.name} holds {len(found)} versions of the model; choose one of the "
            f"folders inside {snapshots} (for example {found[-1]})."
        )
    return found[0] if found else None


def _model_suffix(path: Path) -> bool:
    return path.suffix.lower() in MODEL_SUFFIXES and not path.name.startswith(".")


def _hf_folder(folder: Path, config: dict) -> SourceGuess:
    architectures = config.get("architectures")
    named = architectures[0] if isinstance(architectures, list) and architectures else config.get("model_type")
    labels = config.get("id2label")
    count = len(labels) if isinstance(labels, dict) and labels else None
    what = f" ({named})" if named else ""
    classes = f" with {count} classes" if count else ""
    return SourceGuess(
        kind="hf",
        path=folder,
        description=f"A Hugging Face model saved in the folder {folder.name}{what}{classes}. It is opened "
                    "with the transformers library, from this folder only (nothing is downloaded).",
        spec=f"hf:{folder}",
        architecture=str(named) if named else None,
        num_classes=count,
    )


#: Weights file names of a timm model folder (``timm.models.push_to_hf_hub`` / ``save_for_hf``), preferred first.
TIMM_WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin", "model.pth", "model.pt")


def is_timm_config(config: dict | None) -> bool:
    """True for a timm ``config.json`` (it names an ``architecture``; transformers' names a ``model_type``)."""
    return isinstance(config, dict) and isinstance(config.get("architecture"), str) and "model_type" not in config


def timm_weights_in(folder: Path) -> Path | None:
    """The weights file of a timm model folder (see :data:`TIMM_WEIGHT_NAMES`), or ``None``."""
    return next((folder / name for name in TIMM_WEIGHT_NAMES if (folder / name).is_file()), None)


def _timm_folder(folder: Path, config: dict) -> SourceGuess:
    arch = str(config["architecture"])
    weights = timm_weights_in(folder)
    if weights is None:
        raise ModelError(
            f"The folder {folder.name} describes the timm model {arch} but holds no weights file "
            "(model.safetensors or pytorch_model.bin). Check that the folder was copied completely."
        )
    count = config.get("num_classes")
    classes = f" with {int(count)} classes" if isinstance(count, int) and count > 0 else ""
    given = [what for what, key in (("preprocessing", "pretrained_cfg"), ("class names", "label_names"))
             if config.get(key)]
    uses = f" Its config.json gives the {' and '.join(given)}, which are used." if given else ""
    return SourceGuess(
        kind="timm",
        path=weights,
        description=f"A timm model saved in the folder {folder.name}: the architecture {arch}{classes}, "
                    f"weights in {weights.name}.{uses}",
        spec=f"timm:{arch}:{weights}",
        architecture=arch,
        num_classes=int(count) if isinstance(count, int) and count > 0 else None,
    )


def _recognise_file(path: Path) -> SourceGuess:
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return SourceGuess(
            kind="onnx", path=path, spec=f"onnx:{path}",
            description=f"An ONNX model file ({path.name}). It is converted to PyTorch to be explained "
                        "(onnx2torch) and its scores are checked against onnxruntime.",
        )
    if suffix == ".xdprobe" or _is_probe(path):
        # An audio probe opens as an audio model file (xaidesk.models.probe.audio); probe: makes image models.
        audio = _file_modality(path) == "audio"
        return SourceGuess(
            kind="probe", path=path, spec=f"file:{path}" if audio else f"probe:{path}",
            modality="audio" if audio else "image",
            description=f"A quick two-class classifier for {'sound' if audio else 'images'} ({path.name}), made "
                        "with 'Train a quick classifier'; its backbone model is opened with it.",
        )
    from .files import UntrustedModelError, is_safetensors, is_torchscript, read_weights_only

    if is_safetensors(path):
        from .edited_document import read_edited_document

        document = read_edited_document(path)
        if document is not None:
            return SourceGuess(
                kind="edited", path=path, spec=f"file:{path}", num_classes=len(document.get("class_names", [])),
                description=f"A model edited by xaidesk ({path.name}), made from {document.get('base')}; "
                            "its base model is opened with it.",
            )
        return _recognise_state(path, _safetensors_shapes(path))

    if is_torchscript(path):
        return SourceGuess(
            kind="torchscript", path=path, spec=f"file:{path}", modality=_file_modality(path),
            description=f"A TorchScript model ({path.name}): a saved network that opens without running "
                        "Python code. Gradient methods and occlusion work on it; LRP needs the Python model.",
        )
    try:
        obj = read_weights_only(path)
    except UntrustedModelError as error:
        reference = f" ({error.code_reference})" if error.code_reference else ""
        return SourceGuess(
            kind="pickle", path=path, spec=f"file:{path}", needs_trust=True, modality=_file_modality(path),
            description=f"A whole saved Python model{reference} in {path.name}. Opening it runs code stored "
                        "in the file, so xaidesk asks you to confirm that you trust where it came from.",
        )
    except ModelError as error:
        if suffix in WEIGHTS_SUFFIXES:
            raise
        raise ModelError(
            f"{path.name} is not a model file xaidesk knows. It opens ONNX files (.onnx), PyTorch weights "
            "and models (.safetensors, .pt, .pth, .bin, .ckpt), Hugging Face or timm folders (with a "
            "config.json) and quick classifiers (.xdprobe).",
            details=error.details or error.message,
        ) from error
    from .torchvision import extract_state_dict

    state = extract_state_dict(obj)
    if state is None:
        raise ModelError(
            f"{path.name} was read, but it holds neither a model nor layer weights (it holds a "
            f"{type(obj).__name__}). Choose the file that holds the model."
        )
    return _recognise_state(path, state)


def _is_probe(path: Path) -> bool:
    if path.suffix.lower() != ".json" or path.stat().st_size > 50_000_000:
        return False
    from .probe import PROBE_FORMAT

    data = read_json_object(path)
    return data is not None and data.get("format") == PROBE_FORMAT


def _file_modality(path: Path) -> str:
    from .audio import is_audio_sidecar

    return "audio" if is_audio_sidecar(path) else "image"


def _safetensors_shapes(path: Path) -> dict:
    """The tensors of a ``.safetensors`` file as empty tensors on the meta device (names and shapes only)."""
    import torch

    try:
        from safetensors import safe_open
    except ImportError as error:  # pragma: no cover - safetensors is a dependency
        raise ModelError("Reading .safetensors files needs the safetensors package, which is not installed.") from error
    try:
        with safe_open(str(path), framework="pt") as handle:
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except Exception as error:  # noqa: BLE001 - SafetensorError, OSError, ...
        raise ModelError(
            f"{path.name} could not be read as a .safetensors file: it may be damaged or incomplete. "
            "Check that the file copied fully.",
            details=f"{type(error).__name__}: {error}",
        ) from error
    if not shapes:
        raise ModelError(f"{path.name} holds no weights.")
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


def _recognise_state(path: Path, state: Mapping) -> SourceGuess:
    from .torchvision import detect_architecture, extract_state_dict, num_classes_of

    state = extract_state_dict(state) or state
    if _is_vggish(state):
        head = state.get("head.1.weight")
        count = int(head.shape[0]) if head is not None else None
        what = f"with a classifier of {count} classes" if count else "without a classifier (it gives embeddings)"
        return SourceGuess(
            kind="vggish", path=path, spec=f"vggish:{path}", architecture="vggish", num_classes=count,
            modality="audio",
            description=f"Weights of VGGish, a network for sound, {what}. Open it in the Audio tab.",
        )
    arch = detect_architecture(state)
    if arch is not None:
        count = num_classes_of(state, arch)
        return SourceGuess(
            kind="torchvision", path=path, spec=f"torchvision:{arch}:{path}", architecture=arch,
            num_classes=count,
            description=f"Weights (a state dict) whose layers match torchvision's {arch} exactly, "
                        f"with {count} classes.",
        )
    head = _head_outputs(state)
    outputs = f" Its last layer, '{head[0]}', has {head[1]} outputs." if head else ""
    timm_names = _timm_matches(state)
    if timm_names:
        names = ", ".join(timm_names[:3]) + (" and others" if len(timm_names) > 3 else "")
        return SourceGuess(
            kind="weights", path=path, spec=f"timm:{timm_names[0]}:{path}", architecture=timm_names[0],
            architecture_source="timm", num_classes=head[1] if head else None,
            description=f"Weights (a state dict) whose layers match timm's {names}.{outputs} The first is "
                        "chosen; choose another if it was trained with another one.",
        )
    return SourceGuess(
        kind="weights", path=path, spec=None, num_classes=head[1] if head else None,
        description=f"Weights (a state dict) of {len(state)} tensors, without the network they belong to."
                    f"{outputs} Choose the architecture they were trained with.",
    )


def _timm_matches(state: Mapping) -> list[str]:
    """timm architectures whose layers match ``state`` (empty without timm or on any doubt)."""
    try:
        from .timm_models import detect_timm_architecture

        return detect_timm_architecture(state)
    except Exception:  # noqa: BLE001 - a guess only: the person still chooses the architecture
        return []


def _is_vggish(state: Mapping) -> bool:
    embedding = state.get("embeddings.4.weight")
    return (embedding is not None and tuple(embedding.shape) == (128, 4096)
            and all(str(k).split(".")[0] in ("features", "embeddings", "head") for k in state))


def _head_outputs(state: Mapping) -> tuple[str, int] | None:
    """The last 2-D weight whose name says it is a classifier, and its number of outputs."""
    found = None
    for key, value in state.items():
        name = str(key)
        shape = getattr(value, "shape", ())
        if name.endswith(".weight") and len(shape) == 2 and any(w in name.split(".") for w in _HEAD_WORDS):
            found = (name[: -len(".weight")], int(shape[0]))
    return found
