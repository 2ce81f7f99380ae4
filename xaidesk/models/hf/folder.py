"""The folder of an ``hf:`` model: finding it (or its cache snapshot), its config, custom code and weights."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ...core import ModelError
from ..files import UntrustedModelError

_WEIGHT_FILES = (
    "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
)
_FOREIGN_WEIGHTS = {"tf_model.h5": "TensorFlow", "flax_model.msgpack": "Flax", "model.ckpt.index": "TensorFlow"}
_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _model_folder(folder: str | Path) -> tuple[Path, Path | None]:
    """The folder that holds config.json, and the cache folder ``models--ORG--NAME`` it is a snapshot of (if so)."""
    text = str(folder).strip()
    path = Path(text).expanduser()
    if not path.exists():
        if _HUB_NAME.match(text) and not text.startswith((".", "~")):
            raise ModelError(
                f"'{text}' is not a folder on this computer. xaidesk never downloads models: download "
                f"'{text}' once on a computer with internet (e.g. 'hf download {text} --local-dir FOLDER') "
                "and give the folder as hf:FOLDER."
            )
        raise ModelError(f"The folder {path} does not exist. Give the folder that holds the model's config.json.")
    if path.is_file():
        hint = f" (hf:{path.parent})" if path.name == "config.json" else ""
        raise ModelError(
            f"{path.name} is a file; hf: needs the folder that holds config.json and the weights{hint}."
        )
    if (path / "config.json").is_file():
        return path, None
    from ..sources import hf_cache_snapshot

    snapshot = hf_cache_snapshot(path)
    if snapshot is not None:
        return snapshot, path
    raise ModelError(
        f"The folder {path} holds no config.json, so it is not a saved transformers model. Give the "
        "folder written by save_pretrained (config.json, model.safetensors, preprocessor_config.json)."
    )


def _read_json(file: Path, folder: Path) -> dict:
    from ..sources import read_json_object

    data = read_json_object(file)
    if data is None:
        raise ModelError(
            f"{file.name} in {folder} could not be read as JSON describing the model; the download may be "
            "incomplete. Fetch it again."
        )
    return data


def _check_custom_code(config: dict, folder: Path, trust: bool) -> None:
    """Refuse, without ``trust``, a model or image processor that brings its own Python code."""
    if trust:
        return
    sources = [("config.json", config)]
    for name in _PROCESSOR_FILES:
        if (folder / name).is_file():
            sources.append((name, _read_json(folder / name, folder)))
    for name, data in sources:
        auto_map = data.get("auto_map")
        if not auto_map:
            continue
        reference = next(iter(auto_map.values())) if isinstance(auto_map, dict) else auto_map
        if isinstance(reference, (list, tuple)):
            reference = next((r for r in reference if r), "")
        raise UntrustedModelError(
            f"This model comes with its own Python code ({name} names {reference}). Loading it runs that "
            "code, which can do anything your user account can do. Only trust models from sources you "
            "trust; to load it anyway, confirm that you trust it (--trust on the command line).",
            path=folder / name,
            code_reference=str(reference) or None,
        )


def _check_model_type(config: dict, folder: Path, trust: bool) -> str:
    """The config's ``model_type``, refused unless transformers offers it as an image classifier."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES as classifiers

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise ModelError(f"config.json in {folder} names no model_type, so it is not a transformers model config.")
    custom = trust and "AutoModelForImageClassification" in (config.get("auto_map") or {})
    if model_type not in classifiers and not custom:
        known = ", ".join(sorted(classifiers)[:12])
        if model_type in CONFIG_MAPPING_NAMES:
            raise ModelError(
                f"{folder.name} holds a '{model_type}' model, which is not an image classifier. hf: opens "
                f"image classifiers (AutoModelForImageClassification), such as {known}, ..."
            )
        import transformers

        raise ModelError(
            f"{folder.name} holds a model of type '{model_type}', which transformers {transformers.__version__} "
            "does not know. It may need a newer transformers, or its own code (then its config.json has an "
            "auto_map entry)."
        )
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and not custom:
        if not any("ForImageClassification" in str(a) for a in architectures):
            raise ModelError(
                f"{folder.name} was saved as {architectures[0]}, which has no classification head. hf: needs a "
                f"model saved from an image-classification class (e.g. {_class_name(classifiers[model_type])})."
            )
    return model_type


def _class_name(entry: Any) -> str:
    return entry[0] if isinstance(entry, (tuple, list)) else str(entry)


def _weights_file(folder: Path) -> str:
    for name in _WEIGHT_FILES:
        if (folder / name).is_file():
            return name
    shards = sorted(folder.glob("model-*.safetensors")) + sorted(folder.glob("pytorch_model-*.bin"))
    if shards:
        raise ModelError(
            f"{folder.name} holds weight shards ({shards[0].name}, ...) but not the index file that lists "
            "them (model.safetensors.index.json or pytorch_model.bin.index.json). Fetch the folder again."
        )
    foreign = [kind for name, kind in _FOREIGN_WEIGHTS.items() if (folder / name).is_file()]
    if foreign:
        raise ModelError(
            f"{folder.name} holds only {foreign[0]} weights, which transformers 5 no longer reads. Use a copy "
            "of the model with model.safetensors (most model pages offer one)."
        )
    raise ModelError(
        f"{folder.name} holds no weights: expected model.safetensors (or pytorch_model.bin) next to config.json."
    )
