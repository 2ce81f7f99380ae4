"""The transformers network of an ``hf:`` model: the version check, loading the weights safely, checking them."""

from __future__ import annotations

import contextlib
import pickle
import threading
from pathlib import Path
from typing import Any, Iterator

import torch

from ...core import ModelError
from ..base import CLASS_NAMES, Note
from ..files import UntrustedModelError
from ..preprocessing import Preprocessing
from .folder import _read_json

#: The oldest transformers hf: works with (``from_pretrained(dtype=...)`` arrived in 4.56).
MIN_TRANSFORMERS = "4.56"


def check_transformers_version() -> str:
    """The installed transformers version, or a ModelError when it is missing or older than :data:`MIN_TRANSFORMERS`."""
    try:
        import transformers
    except ImportError as error:
        raise ModelError(
            f"hf: models need the transformers package ({MIN_TRANSFORMERS} or newer), which is not installed."
        ) from error
    from packaging.version import InvalidVersion, Version

    found = str(getattr(transformers, "__version__", "0"))
    try:
        old = Version(found) < Version(MIN_TRANSFORMERS)
    except InvalidVersion:
        old = False
    if old:
        raise ModelError(
            f"hf: models need transformers {MIN_TRANSFORMERS} or newer; this installation has {found}. "
            "Update it (pip install -U transformers)."
        )
    return found


class HFImageClassifier(torch.nn.Module):
    """A transformers image classifier whose ``forward`` returns the logits tensor (B, K).

    The transformers model is kept as the child ``model``, so layer lists, hooks and LRP rules
    see its modules.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The logits (B, K) for ``pixel_values`` (B, C, H, W)."""
        output = self.model(pixel_values)
        logits = output[0] if isinstance(output, (tuple, list)) else output.logits
        return logits


class _Quiet:
    """Who is keeping transformers quiet: the settings to restore and how many loads still run."""

    lock = threading.Lock()
    depth = 0
    saved: tuple[int, bool] | None = None


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Keep transformers' progress bars and load report off the screen while the block runs.

    Loads may overlap (in several threads): the first to start saves transformers' verbosity and
    progress-bar setting, and the last to end restores them.
    """
    from transformers.utils import logging as hf_logging

    with _Quiet.lock:
        if _Quiet.depth == 0:
            _Quiet.saved = (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled())
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        _Quiet.depth += 1
    try:
        yield
    finally:
        with _Quiet.lock:
            _Quiet.depth -= 1
            if _Quiet.depth == 0 and _Quiet.saved is not None:
                verbosity, bars = _Quiet.saved
                _Quiet.saved = None
                hf_logging.set_verbosity(verbosity)
                if bars:
                    hf_logging.enable_progress_bar()


def _load_network(folder: Path, weights: str, trust: bool) -> torch.nn.Module:
    """``AutoModelForImageClassification`` from the folder, float32, eager attention, every weight checked.

    transformers reads ``.bin`` weights with ``torch.load(weights_only=True)`` whatever it is told;
    a ``.bin`` that holds pickled objects is therefore read here, and only with ``trust``.
    """
    options = dict(
        local_files_only=True, trust_remote_code=trust, attn_implementation="eager", dtype=torch.float32,
        ignore_mismatched_sizes=True, output_loading_info=True,
    )
    try:
        try:
            model, info = _from_pretrained(str(folder), weights_only=True, **options)
        except pickle.UnpicklingError as error:
            if not trust:
                raise UntrustedModelError(
                    f"{weights} in {folder.name} contains program code (saved Python objects), not just weights. "
                    "Loading it runs that code, which can do anything your user account can do. Prefer the "
                    "model.safetensors version of the model; to load this file anyway, confirm that you trust it "
                    "(--trust on the command line).",
                    details=str(error),
                    path=folder / weights,
                ) from error
            model, info = _from_trusted_bin(folder, weights, options)
    except ModelError:
        raise
    except MemoryError as error:
        raise ModelError(f"{folder.name} is too large to load into memory.") from error
    except Exception as error:  # noqa: BLE001 - OSError, ValueError, RuntimeError, KeyError from transformers
        raise ModelError(
            f"transformers could not load the model in {folder.name} ({type(error).__name__}); the folder "
            "may be incomplete or saved by a different version. The details say more.",
            details=f"{type(error).__name__}: {error}",
        ) from error
    _check_loading_info(info, folder, weights)
    return model.float().eval().requires_grad_(False)


def _from_pretrained(folder: str | None, **options) -> tuple[torch.nn.Module, dict]:
    from transformers import AutoModelForImageClassification

    with quiet_transformers():
        return AutoModelForImageClassification.from_pretrained(folder, **options)


def _from_trusted_bin(folder: Path, weights: str, options: dict) -> tuple[torch.nn.Module, dict]:
    """The model class for the folder's config, given the fully unpickled tensors of its ``.bin`` weights."""
    from transformers import AutoConfig, AutoModelForImageClassification

    config = AutoConfig.from_pretrained(str(folder), local_files_only=True, trust_remote_code=True)
    with torch.device("meta"):  # only to learn the class, at no memory cost
        model_class = type(AutoModelForImageClassification.from_config(config, trust_remote_code=True))
    state = _trusted_state_dict(folder, weights)
    options = {k: v for k, v in options.items() if k not in ("local_files_only", "trust_remote_code")}
    with quiet_transformers():
        return model_class.from_pretrained(None, config=config, state_dict=state, **options)


def _trusted_state_dict(folder: Path, weights: str) -> dict[str, torch.Tensor]:
    """The tensors of trusted ``.bin`` weights (a single file or the shards an index lists), fully unpickled."""
    from ..files import read_trusted

    files = [folder / weights]
    if weights.endswith(".index.json"):
        weight_map = _read_json(folder / weights, folder).get("weight_map") or {}
        files = [folder / name for name in sorted(set(weight_map.values()))]
    state: dict[str, torch.Tensor] = {}
    for file in files:
        content = read_trusted(file)  # trusted: no weights-only attempt, and the keys kept as saved
        if not isinstance(content, dict):
            raise ModelError(f"{file.name} in {folder.name} holds a {type(content).__name__}, not a set of weights.")
        state.update({str(k): v for k, v in content.items() if isinstance(v, torch.Tensor)})
    return state


def _check_loading_info(info: dict, folder: Path, weights: str) -> None:
    """Refuse weights that leave part of the model unset, carry extra tensors or have the wrong shapes."""
    mismatched = sorted(str(k[0]) if isinstance(k, tuple) else str(k) for k in info.get("mismatched_keys", ()))
    missing = sorted(str(k) for k in info.get("missing_keys", ()))
    unexpected = sorted(str(k) for k in info.get("unexpected_keys", ()))
    problems = [
        (mismatched, "has a different shape in {w} than config.json describes"),
        (missing, "is missing from {w}"),
        (unexpected, "is in {w} but not in the model config.json describes"),
    ]
    for keys, wording in problems:
        if keys:
            more = f" ({len(keys) - 1} more)" if len(keys) > 1 else ""
            raise ModelError(
                f"The weights do not match config.json in {folder.name}: '{keys[0]}' "
                + wording.format(w=weights) + f"{more}. The folder mixes files of different models; fetch it again.",
                details="\n".join(keys[:50]),
            )
    errors = info.get("error_msgs") or []
    if errors:
        raise ModelError(
            f"The weights in {folder.name} could not be loaded into the model config.json describes.",
            details="\n".join(str(e) for e in errors[:20]),
        )


def _class_names(config: Any, notes: list[str]) -> list[str]:
    id2label = getattr(config, "id2label", None) or {}
    count = int(getattr(config, "num_labels", len(id2label)) or len(id2label))
    labels = {int(k): str(v) for k, v in id2label.items()}
    names = [labels.get(i, f"LABEL_{i}") for i in range(count)]
    generic = [i for i, name in enumerate(names) if name == f"LABEL_{i}"]
    if generic:
        names = [f"class {i}" if name == f"LABEL_{i}" else name for i, name in enumerate(names)]
        notes.append(Note(
            f"config.json names {'no' if len(generic) == count else 'only some'} classes (transformers' default "
            "LABEL_i); they are called 'class i'. A label file can name them.", CLASS_NAMES))
    return names


def _check_outputs(module: HFImageClassifier, preprocessing: Preprocessing, count: int, folder: Path) -> None:
    """Run one blank input through the model: it must give one finite score per class."""
    x = torch.zeros(1, preprocessing.num_channels, *preprocessing.size)
    try:
        with torch.no_grad():
            logits = module(x)
    except Exception as error:  # noqa: BLE001
        raise ModelError(
            f"The model in {folder.name} does not accept a {preprocessing.size[0]}×{preprocessing.size[1]} image, "
            "the size its image processor gives. Check preprocessor_config.json against config.json.",
            details=f"{type(error).__name__}: {error}",
        ) from error
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[1] != count:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ModelError(
            f"The model in {folder.name} gives outputs of shape {shape}, not one score for each of its "
            f"{count} classes."
        )
