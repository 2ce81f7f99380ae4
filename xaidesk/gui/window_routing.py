"""Which tab opens what: the main window's routing decisions, free of Qt (tested headless).

:func:`tab_for_path` names the tab a file or folder opens in (File ▸ Open, a dropped file,
a recent file), :func:`open_file_filter` is File ▸ Open's list of kinds, and
:func:`startup_plan` decides what opens once the models and methods are loaded (the
command-line options, the last model used, the first demo). The window
(:mod:`xaidesk.gui.main_window`) only carries these out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: What :func:`tab_for_path` answers: the tab's kind, or a folder that holds no molecules (refused).
IMAGES, AUDIO, TABLES, MOLECULES, NO_MOLECULES = "images", "audio", "tables", "molecules", "no-molecules"


def is_audio_file(path) -> bool:
    """Whether a path names a sound file (by its suffix), routed to the Audio tab."""
    from xaidesk.data.audio import AUDIO_SUFFIXES

    return Path(str(path)).suffix.lower() in AUDIO_SUFFIXES


def is_table_file(path) -> bool:
    """Whether a path names a table (CSV, TSV, Excel; by its suffix), routed to the Tables tab."""
    from xaidesk.data.tables import TABLE_SUFFIXES

    return Path(str(path)).suffix.lower() in TABLE_SUFFIXES


def tab_for_path(path) -> str:
    """The tab ``path`` opens in: molecules (a .xyz file, or a folder of them), tables, audio, else images.

    A folder without molecules gives :data:`NO_MOLECULES`: folders open only in the Molecules tab.
    """
    from .molecule_jobs import holds_molecules, is_molecule_path

    if Path(path).is_dir() and not holds_molecules(path):
        return NO_MOLECULES
    if is_molecule_path(path):
        return MOLECULES
    if is_table_file(path):
        return TABLES
    if is_audio_file(path):
        return AUDIO
    return IMAGES


def open_file_filter() -> str:
    """The File ▸ Open dialog's filters: every kind the tabs open, then each kind."""
    from xaidesk.data.audio import AUDIO_SUFFIXES
    from xaidesk.data.images import IMAGE_SUFFIXES
    from xaidesk.data.tables import TABLE_SUFFIXES

    from .molecule_jobs import MOLECULE_SUFFIX

    kinds = (("Images", IMAGE_SUFFIXES), ("Sounds", AUDIO_SUFFIXES), ("Tables", TABLE_SUFFIXES),
             ("Molecules", (MOLECULE_SUFFIX,)))
    patterns = [" ".join(f"*{s}" for s in suffixes) for _, suffixes in kinds]
    filters = [f"All supported files ({' '.join(patterns)})"]
    filters += [f"{name} ({pattern})" for (name, _), pattern in zip(kinds, patterns)]
    return ";;".join(filters + ["All files (*)"])


def known_specs(models) -> set:
    """The specs of a catalog's model entries."""
    return {m["spec"] for m in models}


@dataclass
class StartupPlan:
    """What the window opens once its models and methods are loaded.

    Attributes
    ----------
    image_model, audio_model
        The spec to load in the Images tab and in the Audio tab, or ``None``.
    image, audio
        The image and the sound file to open, or ``None`` (the Audio tab is shown for a sound).
    """

    image_model: str | None = None
    audio_model: str | None = None
    image: str | None = None
    audio: str | None = None


def startup_plan(options, image_models, audio_models, remembered: str = "") -> StartupPlan:
    """Decide what opens at start-up.

    Parameters
    ----------
    options
        The window's :class:`~xaidesk.gui.main_window.StartupOptions`.
    image_models, audio_models
        The catalog's model entries (dicts with ``spec`` and ``samples``).
    remembered
        The image model used last (kept only if it is still in the catalog).
    """
    plan = StartupPlan()
    spec = options.model
    if spec and (spec in known_specs(audio_models) or spec.startswith("vggish:")):
        plan.audio_model, spec = spec, None
    image = options.image
    if options.demo and image_models:
        spec = spec or image_models[0]["spec"]
        if image is None and image_models[0].get("samples"):
            image = image_models[0]["samples"][0]
    if spec is None:
        spec = remembered if remembered in known_specs(image_models) else (
            image_models[0]["spec"] if image_models else None)
    audio = options.audio
    if image and is_audio_file(image):
        audio, image = image, None
    plan.image_model, plan.image, plan.audio = spec or None, image or None, audio or None
    return plan


def dropped_path(paths) -> Path | None:
    """The first of the dropped local ``paths`` the window opens: a file, or a folder of .xyz molecules
    (``None``: the drop is refused)."""
    from .molecule_jobs import holds_molecules

    for text in paths:
        path = Path(text)
        if not path.is_dir() or holds_molecules(path):
            return path
    return None
