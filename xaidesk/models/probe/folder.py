"""The labelled folder a quick classifier is fitted on: two class subfolders, split into training and held-out files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...core import InputError

MIN_IMAGES_PER_CLASS = 4


@dataclass
class LabelledFolder:
    """The images of a folder with two class subfolders.

    Attributes
    ----------
    root
        The folder.
    class_names
        The two subfolder names, in alphabetical order (class 1, class 2).
    files
        Every image, class 1's first, each class sorted by path.
    labels
        0 or 1 per file.
    """

    root: Path
    class_names: list[str]
    files: list[Path]
    labels: np.ndarray

    def counts(self) -> list[int]:
        return [int(np.count_nonzero(self.labels == k)) for k in (0, 1)]


def labelled_files(folder: Path, suffixes) -> list[Path]:
    """The files of ``folder`` (nested folders included, hidden ones left out) whose suffix is in ``suffixes``."""
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def scan_labelled_folder(folder: str | Path, min_per_class: int = MIN_IMAGES_PER_CLASS, *, suffixes=None,
                         noun: str = "image", listing: str = "images", example: str = "healthy/ and diseased/",
                         ) -> LabelledFolder:
    """List the files of ``folder``'s two class subfolders (files in nested folders count too).

    Parameters
    ----------
    suffixes
        The file suffixes that count (default: the image formats xaidesk opens).
    noun, listing, example
        How messages name one file ("image"), the kind of files ("images") and two example subfolders.

    Raises
    ------
    InputError
        When the folder is missing, does not hold exactly two subfolders with such files, or a class
        has fewer than ``min_per_class`` files.
    """
    if suffixes is None:
        from ...data.images import IMAGE_SUFFIXES as suffixes
    root = Path(folder).expanduser()
    per_class = "one subfolder per class" if noun == "image" else f"one subfolder of {noun}s per class"
    if not root.exists():
        raise InputError(f"The folder '{root}' does not exist. Choose a folder with {per_class}.")
    if not root.is_dir():
        raise InputError(f"'{root}' is a file, not a folder. Choose a folder with {per_class}.")
    classes = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = labelled_files(sub, suffixes)
        if files:
            classes.append((sub.name, files))
    if len(classes) != 2:
        found = ", ".join(f"'{name}' ({len(files)})" for name, files in classes) or "none"
        raise InputError(
            f"'{root.name}' needs exactly two subfolders with {listing}, one per class (e.g. {example}); "
            f"found {len(classes)} with {noun}s: {found}. Arrange the {noun}s so and try again."
        )
    for name, files in classes:
        if len(files) < min_per_class:
            raise InputError(
                f"The class '{name}' has only {len(files)} {noun}(s); at least {min_per_class} per class are "
                f"needed (some to fit the classifier, some to judge it). Add more {noun}s."
            )
    files = [f for _, fs in classes for f in fs]
    labels = np.concatenate([np.full(len(fs), k, dtype=np.int64) for k, (_, fs) in enumerate(classes)])
    return LabelledFolder(root=root, class_names=[name for name, _ in classes], files=files, labels=labels)


def split_held_out(labels: np.ndarray, held_out: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, held_out)`` of a stratified random split (scikit-learn's, seeded).

    Raises
    ------
    InputError
        When the share is not between 0 and 1, or leaves a class with fewer than two training
        images or no held-out image.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    if not 0.0 < float(held_out) < 1.0:
        raise InputError(f"The held-out share must be between 0 and 1 (e.g. 0.3), not {held_out}.")
    indices = np.arange(len(labels))
    try:
        train, test = train_test_split(indices, test_size=float(held_out), stratify=labels, random_state=int(seed))
    except ValueError as error:
        raise InputError(
            f"A held-out share of {held_out:g} cannot be split by class with {len(labels)} images; "
            "choose a share nearer 0.3 or add images.", details=str(error)) from None
    for k in (0, 1):
        n_train, n_test = int(np.count_nonzero(labels[train] == k)), int(np.count_nonzero(labels[test] == k))
        if n_train < 2 or n_test < 1:
            raise InputError(
                f"A held-out share of {held_out:g} leaves class {k + 1} with {n_train} training and {n_test} "
                "held-out image(s); at least 2 and 1 are needed. Choose a share nearer 0.3 or add images."
            )
    return np.sort(train), np.sort(test)
