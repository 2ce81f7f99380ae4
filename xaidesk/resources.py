"""Find the ``resources/`` folder in a source checkout and in a PyInstaller bundle."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_root() -> Path:
    """The ``resources`` folder.

    Looked up in this order: the ``XAIDESK_RESOURCES`` environment variable,
    the PyInstaller bundle (``sys._MEIPASS/resources``), the folder next to an
    installed executable, and the source checkout (``<repo>/resources``).
    """
    override = os.environ.get("XAIDESK_RESOURCES")
    if override:
        return Path(override)
    candidates: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "resources")
    if getattr(sys, "frozen", False):
        candidates.append(Path(sys.executable).resolve().parent / "resources")
    candidates.append(Path(__file__).resolve().parent.parent / "resources")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[-1] if not bundle else candidates[0]


def resource_path(*parts: str) -> Path:
    """Path of a file or folder inside ``resources/`` (it need not exist)."""
    return resources_root().joinpath(*parts)
