"""The description inside an edited model file, read from the file's header alone (no torch, no weights).

A ``.safetensors`` file starts with an 8-byte little-endian length and a JSON header whose
``__metadata__`` holds strings; an edited model (:mod:`xaidesk.models.edited`) keeps
:data:`EDITED_FORMAT` and its JSON document there. Only the header is read, never the weights,
so recognising a file and naming its classes (the Dataset tab) stays cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core import ModelError

EDITED_FORMAT = "xaidesk-edited-model"
EDITED_VERSION = 1
#: Larger headers are not an edited model's (its document is a few kilobytes).
MAX_HEADER_BYTES = 100_000_000


def _metadata(path: Path) -> dict | None:
    try:
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 2 <= size <= MAX_HEADER_BYTES:
                return None
            header = json.loads(handle.read(size))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def read_edited_document(path: str | Path) -> dict[str, Any] | None:
    """The document of an edited model file, or ``None`` when ``path`` is not one.

    Raises
    ------
    ModelError
        When the file says it is an edited model but its document is damaged or from a newer xaidesk.
    """
    metadata = _metadata(Path(path))
    if metadata is None or metadata.get("format") != EDITED_FORMAT:
        return None
    damaged = f"{Path(path).name} says it is an edited xaidesk model, but its description is damaged."
    try:
        document = json.loads(metadata.get("document", ""))
    except ValueError:
        raise ModelError(damaged) from None
    if not isinstance(document, dict) or document.get("format") != EDITED_FORMAT:
        raise ModelError(damaged)
    if int(document.get("version", 0)) > EDITED_VERSION:
        raise ModelError(f"{Path(path).name} was written by a newer xaidesk; update xaidesk to open it.")
    return document
