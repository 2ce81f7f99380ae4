"""The ``hf:FOLDER`` loader (see :mod:`xaidesk.models.hf`)."""

from __future__ import annotations

from pathlib import Path

from ..base import LoadedModel
from .folder import _check_custom_code, _check_model_type, _model_folder, _read_json, _weights_file
from .network import HFImageClassifier, _check_outputs, _class_names, _load_network, check_transformers_version
from .processor import _preprocessing

def load_hf(folder: str | Path, *, spec: str | None = None, trust: bool = False) -> LoadedModel:
    """Load a transformers image classifier from a local folder (needs transformers :data:`MIN_TRANSFORMERS`).

    Parameters
    ----------
    folder
        A folder holding ``config.json``, the weights and (ideally) ``preprocessor_config.json``;
        a Hugging Face cache folder ``models--ORG--NAME`` is read at its current snapshot.
    spec
        The spec string it was named by (default ``hf:FOLDER``).
    trust
        Allow a model or image processor that comes with its own Python code, and ``.bin``
        weights that hold pickled objects. Both run code from the folder.

    Raises
    ------
    UntrustedModelError
        The folder needs code to run and ``trust`` is False.
    ModelError
        Anything else that keeps the model from loading, in plain words.
    """
    check_transformers_version()
    path, cache = _model_folder(folder)
    notes: list[str] = []
    if cache is not None:
        notes.append(f"Read from the Hugging Face cache snapshot {path.name[:12]}.")
    config = _read_json(path / "config.json", path)
    _check_custom_code(config, path, trust)
    model_type = _check_model_type(config, path, trust)
    weights = _weights_file(path)
    model = _load_network(path, weights, trust)
    class_names = _class_names(model.config, notes)
    preprocessing = _preprocessing(path, model.config, model_type, trust, notes)
    module = HFImageClassifier(model).eval().requires_grad_(False)
    _check_outputs(module, preprocessing, len(class_names), path)
    return LoadedModel(
        spec=spec or f"hf:{folder}",
        name=cache.name if cache is not None else path.name,
        module=module,
        preprocessing=preprocessing,
        class_names=class_names,
        architecture=f"hf:{model_type}",
        notes=notes,
    )
