"""The labelled images a model is corrected, pruned or fine-tuned on: one subfolder per class of the model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core import CancelToken, InputError, no_progress
from ..core.cancel import Step
from ..models.base import LoadedModel

#: Images are decoded at most this large before the model's resize.
DECODE_MAX_SIDE = 1024


@dataclass
class ImageSet:
    """Images prepared for one model, with their class indices.

    Attributes
    ----------
    inputs
        The model inputs (N, C, H, W), already normalised.
    labels
        The class index of each image (N,), ``-1`` where unknown.
    files
        Where each image came from (empty for generated images).
    """

    inputs: torch.Tensor
    labels: torch.Tensor
    files: list[Path]

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def subset(self, indices) -> "ImageSet":
        """The images at ``indices``, in that order."""
        index = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        files = [self.files[i] for i in index.tolist()] if self.files else []
        return ImageSet(self.inputs[index], self.labels[index], files)

    def of_class(self, label: int) -> "ImageSet":
        """The images of class ``label``."""
        return self.subset(torch.nonzero(self.labels == label).flatten().tolist())


def class_folders(folder: str | Path, model: LoadedModel) -> list[tuple[int, Path]]:
    """``(class index, subfolder)`` for each subfolder of ``folder`` named after a class of ``model``.

    Names match without regard to case. Subfolders that name no class are refused, since their
    images would otherwise be silently left out.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is a file, not a folder"
        raise InputError(f"The folder '{root}' {what}. Choose a folder with one subfolder per class of the model.")
    by_name = {name.strip().lower(): i for i, name in enumerate(model.class_names)}
    found, unknown = [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        index = by_name.get(sub.name.strip().lower())
        (unknown if index is None else found).append(sub if index is None else (index, sub))
    if unknown:
        names = ", ".join(f"'{p.name}'" for p in unknown[:5])
        raise InputError(
            f"The subfolder(s) {names} of '{root}' name no class of {model.name}. Name each subfolder after "
            f"one of its classes ({', '.join(model.class_names[:8])}{', ...' if len(model.class_names) > 8 else ''})."
        )
    if not found:
        raise InputError(
            f"'{root}' has no subfolder named after a class of {model.name}. Put the images of each class in a "
            f"subfolder with the class's name (for example {model.class_names[0]}/)."
        )
    return found


def load_labelled_folder(folder: str | Path, model: LoadedModel, *, token: CancelToken | None = None,
                         progress=no_progress, min_images: int = 2) -> ImageSet:
    """Read every image of ``folder``'s class subfolders and prepare it for ``model``.

    Raises
    ------
    InputError
        When the folder has no usable class subfolder, fewer than ``min_images`` images, or an
        image that cannot be read (named, so that the person can remove it).
    """
    from ..data.images import IMAGE_SUFFIXES, load_image
    from ..models.probe.folder import labelled_files

    token = token or CancelToken()
    entries = [(index, path) for index, sub in class_folders(folder, model)
               for path in labelled_files(sub, IMAGE_SUFFIXES)]
    if len(entries) < min_images:
        raise InputError(f"'{folder}' holds {len(entries)} image(s) in its class subfolders; at least {min_images} "
                         "are needed.")
    inputs, labels, files = [], [], []
    pre = model.preprocessing
    for done, (index, path) in enumerate(entries, 1):
        token.check()
        try:
            pixels = load_image(path, max_side=DECODE_MAX_SIDE).pixels
        except InputError as error:
            raise InputError(f"The image '{path}' could not be read: {error.message} Remove it from the folder "
                             "or replace it.") from None
        inputs.append(pre.to_tensor(pixels))
        labels.append(index)
        files.append(path)
        progress(done / len(entries), Step.count("Reading images", done, len(entries), "images"))
    return ImageSet(torch.cat(inputs), torch.as_tensor(labels, dtype=torch.long), files)


def split_held_out(images: ImageSet, held_out: float = 0.2, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """A stratified random split ``(train, held_out)`` (scikit-learn's, seeded)."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < float(held_out) < 1.0:
        raise InputError(f"The held-out share must be between 0 and 1 (e.g. 0.2), not {held_out}.")
    labels = images.labels.numpy()
    counts = np.bincount(labels[labels >= 0])
    stratify = labels if counts[counts > 0].min(initial=0) >= 2 else None
    try:
        train, test = train_test_split(np.arange(len(images)), test_size=float(held_out), stratify=stratify,
                                       random_state=int(seed))
    except ValueError as error:
        raise InputError(f"{len(images)} images cannot be split with a held-out share of {held_out:g}; add images "
                         "or choose a share nearer 0.2.", details=str(error)) from None
    return images.subset(np.sort(train)), images.subset(np.sort(test))


def generated_clever_hans_set(model: LoadedModel, n: int, seed: int, *, marked: str = "as-in-training") -> ImageSet:
    """Generated Clever Hans scenes prepared for ``model``: ``marked`` is ``"as-in-training"``, ``"none"`` or ``"all"``.

    The scenes come from :mod:`xaidesk.data.scenes` (the demo's own generator), never from a shipped data set.
    """
    from ..data.scenes import make_clever_hans_set, with_marks

    images, labels, as_in_training = make_clever_hans_set(n, seed)
    which = {"as-in-training": as_in_training, "none": np.zeros(n, bool), "all": np.ones(n, bool)}[marked]
    pixels = with_marks(images, which)
    inputs = torch.cat([model.preprocessing.to_tensor(p) for p in pixels])
    return ImageSet(inputs, torch.as_tensor(labels, dtype=torch.long), [])
