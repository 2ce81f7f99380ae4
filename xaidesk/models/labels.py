"""Class names from a label file, for a model of any source."""

from __future__ import annotations

import json
from pathlib import Path

from ..core import ModelError

LABEL_FILE_SUFFIXES = (".txt", ".json")


def read_label_file(path: str | Path) -> list[str]:
    """The class names in ``path``: a ``.txt`` file (one name per line) or a ``.json`` file.

    The JSON may be a list of names, an object ``{"0": "cat", "1": "dog"}`` (an ``id2label`` table) or
    an object with a ``class_names`` / ``classes`` / ``id2label`` entry holding either.

    Raises
    ------
    ModelError
        When the file is missing, unreadable, empty, or its indices have gaps.
    """
    from ..core.io import missing_path_message

    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(missing_path_message(path, "label file"))
    suffix = path.suffix.lower()
    if suffix not in LABEL_FILE_SUFFIXES:
        raise ModelError(
            f"{path.name} is not a label file xaidesk reads: use a .txt file with one class name per line, "
            "or a .json file with a list of names."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"The label file {path.name} could not be read as text.", details=str(error)) from error
    if suffix == ".txt":
        names = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ModelError(f"The label file {path.name} is not valid JSON.", details=str(error)) from error
        names = _names_from_json(data, path.name)
    if not names:
        raise ModelError(f"The label file {path.name} holds no class names.")
    return names


def _names_from_json(data, filename: str) -> list[str]:
    if isinstance(data, dict):
        for key in ("class_names", "classes", "id2label", "labels"):
            if key in data:
                return _names_from_json(data[key], filename)
        try:
            table = {int(k): str(v) for k, v in data.items()}
        except (TypeError, ValueError) as error:
            raise ModelError(
                f"The label file {filename} must hold a list of names, or an object mapping class numbers "
                'to names ({"0": "cat", "1": "dog"}).'
            ) from error
        if sorted(table) != list(range(len(table))):
            raise ModelError(f"The class numbers in {filename} must run 0, 1, 2, ... without gaps.")
        return [table[i] for i in range(len(table))]
    if isinstance(data, list) and all(isinstance(n, (str, int, float)) for n in data):
        return [str(n).strip() for n in data]
    raise ModelError(f"The label file {filename} must hold a list of class names.")


def apply_label_file(model, path: str | Path) -> None:
    """Give ``model`` the class names in ``path``; refuse a file whose count differs from the outputs.

    The loader's notes about class names (:data:`~xaidesk.models.base.CLASS_NAMES`) are replaced by one
    naming the file.

    Raises
    ------
    ModelError
        When the file cannot be read or lists another number of names than the model has outputs.
    """
    from .base import CLASS_NAMES, Note, notes_without

    names = read_label_file(path)
    if len(names) != model.num_classes:
        raise ModelError(
            f"The label file {Path(path).name} lists {len(names)} class names, but {model.name} has "
            f"{model.num_classes} outputs. Choose the label file that belongs to this model."
        )
    model.class_names = names
    model.notes = [*notes_without(model.notes, CLASS_NAMES), Note(f"Class names from {Path(path).name}.", CLASS_NAMES)]
