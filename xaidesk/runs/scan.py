"""Finding the inputs of a run: the image or sound files of a folder, their order and shards.

Sharding: ``shard=(i, n)`` takes every n-th file of the sorted list starting at i (0-based),
so n machines can share a folder; :func:`xaidesk.runs.merge.merge_runs` joins their run folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..core import InputError
from ..data.audio import AUDIO_SUFFIXES
from ..data.images import IMAGE_SUFFIXES
from .format import is_run_folder

MODALITY_SUFFIXES = {"image": IMAGE_SUFFIXES, "audio": AUDIO_SUFFIXES}
#: The plural noun of each kind of input, for messages.
INPUT_NOUNS = {"image": "images", "audio": "sound clips"}


@dataclass
class FolderScan:
    """The inputs found in a folder.

    Attributes
    ----------
    root
        The folder (absolute).
    modality
        ``"image"`` or ``"audio"``.
    files
        Paths relative to ``root`` with forward slashes, sorted.
    classes
        The class subfolder names that hold inputs (empty when all inputs sit in ``root``).
    other_files
        How many files were not of this modality (ignored).
    """

    root: Path
    modality: str
    files: list[str]
    classes: list[str]
    other_files: int = 0

    def true_class(self, file: str) -> str:
        return true_class_of(file)

    def describe(self) -> str:
        """``"240 images in 3 classes (cat, dog, horse)"``."""
        noun = INPUT_NOUNS[self.modality] if len(self.files) != 1 else INPUT_NOUNS[self.modality][:-1]
        text = f"{len(self.files)} {noun}"
        if self.classes:
            shown = ", ".join(self.classes[:6]) + (", …" if len(self.classes) > 6 else "")
            text += f" in {len(self.classes)} class folder{'s' if len(self.classes) != 1 else ''} ({shown})"
        return text



def true_class_of(file: str) -> str:
    """The class subfolder of a relative path (its first component), or ``""``."""
    parts = file.split("/")
    return parts[0] if len(parts) > 1 else ""



def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/8"`` -> ``(2, 8)``: shard 2 of 8, numbered from 0. ``None`` or ``""`` -> ``None``."""
    if text is None or str(text).strip() == "":
        return None
    index, sep, count = str(text).strip().partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise InputError(f"A shard is written i/n, e.g. 0/4 for the first of four; got '{text}'.") from None
    return check_shard((i, n)) if sep else check_shard((i, 0))


def check_shard(shard) -> tuple[int, int] | None:
    """``(i, n)`` as ints after checking it; :class:`InputError` for a shard that does not exist."""
    if shard is None:
        return None
    i, n = int(shard[0]), int(shard[1])
    if n < 1:
        raise InputError(f"The number of shards must be at least 1; got {n} (write a shard as i/n, e.g. 0/4).")
    if not 0 <= i < n:
        raise InputError(f"Shards are numbered from 0 to {n - 1}; got shard {i} of {n}.")
    return i, n


def shard_files(files: Sequence[str], shard) -> list[str]:
    """The files of shard ``(i, n)``: every n-th of the sorted list, starting at i."""
    ordered = sorted(files)
    shard = check_shard(shard)
    if shard is None:
        return ordered
    i, n = shard
    return ordered[i::n]



def _walk(root: Path, exclude: Iterable[Path]) -> list[str]:
    """Every regular file under ``root`` (relative, forward slashes), skipping hidden entries,
    excluded folders and run folders inside the source."""
    excluded = {Path(p).resolve() for p in exclude}
    found: list[str] = []
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and (here / d).resolve() not in excluded and not is_run_folder(here / d)
        )
        for name in names:
            if not name.startswith(".") and (here / name).is_file():
                found.append((here / name).relative_to(root).as_posix())
    return sorted(found)


def check_source(folder) -> Path:
    """The input folder, absolute; :class:`InputError` when it is missing or a file."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise InputError(f"The folder '{root}' does not exist. Check the name and location.")
    if not root.is_dir():
        raise InputError(f"'{root}' is a file, not a folder. Choose the folder that holds the images or sound clips.")
    return root.resolve()


def detect_modality(folder, exclude: Iterable[Path] = ()) -> str:
    """``"image"`` or ``"audio"``: the kind of input most files of the folder are.

    Raises :class:`InputError` for an empty folder or one without image or sound files.
    """
    root = check_source(folder)
    files = _walk(root, exclude)
    counts = {m: sum(Path(f).suffix.lower() in s for f in files) for m, s in MODALITY_SUFFIXES.items()}
    if not any(counts.values()):
        raise _no_inputs(root, files, None)
    return "audio" if counts["audio"] > counts["image"] else "image"


def _no_inputs(root: Path, files: list[str], modality: str | None) -> InputError:
    if not files:
        return InputError(f"The folder '{root}' is empty. Choose a folder of images or sound clips "
                          "(class subfolders are fine).")
    if modality is None:
        kinds = "image files (" + ", ".join(IMAGE_SUFFIXES) + ") or sound files (" + ", ".join(AUDIO_SUFFIXES) + ")"
    else:
        kinds = f"{modality} files (" + ", ".join(MODALITY_SUFFIXES[modality]) + ")"
    return InputError(f"The folder '{root}' holds {len(files)} file(s) but no {kinds}. "
                      "Choose a folder of such files, directly or in class subfolders.")


def scan_folder(folder, modality: str | None = None, exclude: Iterable[Path] = ()) -> FolderScan:
    """Find the inputs of ``modality`` (detected when ``None``) in ``folder`` and its subfolders.

    Hidden files and folders, ``exclude`` and run folders inside ``folder`` are left out.
    Raises :class:`InputError` when there is nothing to explain.
    """
    root = check_source(folder)
    files = _walk(root, exclude)
    if modality is None:
        modality = detect_modality(root, exclude)
    if modality not in MODALITY_SUFFIXES:
        raise InputError(f"Dataset mode explains images or sound clips, not {modality} inputs.")
    suffixes = MODALITY_SUFFIXES[modality]
    chosen = [f for f in files if Path(f).suffix.lower() in suffixes]
    if not chosen:
        raise _no_inputs(root, files, modality)
    classes = sorted({true_class_of(f) for f in chosen} - {""})
    return FolderScan(root, modality, chosen, classes, other_files=len(files) - len(chosen))


def item_stems(files: Sequence[str]) -> dict[str, str]:
    """File -> its item path without suffix: the file without its suffix, or with it where two
    files differ only in their suffix (``a.png`` and ``a.jpg``)."""
    stems: dict[str, list[str]] = {}
    for f in files:
        stems.setdefault(f.rsplit(".", 1)[0] if "." in Path(f).name else f, []).append(f)
    out = {}
    for stem, members in stems.items():
        for f in members:
            out[f] = stem if len(members) == 1 else f
    while True:  # a kept full name can equal another file's stem (x.png beside x.jpg and x.png.png)
        owners: dict[str, list[str]] = {}
        for f, stem in out.items():
            owners.setdefault(stem, []).append(f)
        clashing = [f for members in owners.values() if len(members) > 1 for f in members if out[f] != f]
        if not clashing:
            return out
        for f in clashing:
            out[f] = f



__all__ = ["FolderScan", "INPUT_NOUNS", "MODALITY_SUFFIXES", "check_shard", "check_source", "detect_modality",
           "item_stems", "parse_shard", "scan_folder", "shard_files", "true_class_of"]
