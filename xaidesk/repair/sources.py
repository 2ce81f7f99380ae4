"""Where an artefact to remove comes from: the person's choice turned into (artefact, carrying images, clean images).

- a SpRAy cluster (:func:`artefact_from_spray`): its members carry the artefact, the run's other
  heatmapped images are clean;
- two lists of image files, with and without the artefact (:func:`artefact_from_files`);
- a region drawn on one image (:func:`artefact_from_image_region`): the carrying images are the
  clean ones with the region pasted in.
"""

from __future__ import annotations

import operator
from pathlib import Path

import numpy as np
import torch

from ..core import CancelToken, InputError, no_progress, sub_progress
from ..core.cancel import Step
from ..models.base import LoadedModel
from .artefact import Artefact, artefact_from_region, artefact_from_samples
from .cav import MIN_IMAGES
from .data import DECODE_MAX_SIDE, ImageSet


def load_images(model: LoadedModel, paths, *, labels=None, token: CancelToken | None = None,
                progress=no_progress) -> ImageSet:
    """The image files ``paths`` prepared for ``model`` (labels ``-1`` unless given), each refused by name when
    it cannot be read."""
    from ..data.images import load_image

    token = token or CancelToken()
    paths = [Path(p).expanduser() for p in paths]
    inputs = []
    for done, path in enumerate(paths, 1):
        token.check()
        if not path.is_file():
            raise InputError(f"The image '{path}' does not exist. Check the path, or leave it out.")
        try:
            pixels = load_image(path, max_side=DECODE_MAX_SIDE).pixels
        except InputError as error:
            raise InputError(f"The image '{path}' could not be read: {error.message}") from None
        inputs.append(model.preprocessing.to_tensor(pixels))
        progress(done / max(1, len(paths)), Step.count("Reading images", done, len(paths), "images"))
    labels = [-1] * len(paths) if labels is None else [int(v) for v in labels]
    stacked = torch.cat(inputs) if inputs else torch.zeros((0,))
    return ImageSet(stacked, torch.as_tensor(labels, dtype=torch.long), paths)


def _check_image_model(model: LoadedModel) -> None:
    if model.modality != "image":
        raise InputError(f"{model.name} is a model for {model.modality}; artefacts are marked on images.")


def check_counts(carrying: int, clean: int) -> None:
    """Refuse fewer than :data:`~.cav.MIN_IMAGES` images with the artefact or without it."""
    if carrying < MIN_IMAGES or clean < MIN_IMAGES:
        raise InputError(f"Give at least {MIN_IMAGES} images that carry the artefact and {MIN_IMAGES} that do not "
                         f"({carrying} and {clean} were given).")


def check_class(model: LoadedModel, target) -> int:
    """``target`` as a class index of ``model``, refused in plain words when it is not one."""
    names = [str(n) for n in model.class_names]
    try:
        index = operator.index(target)
    except TypeError:
        index = -1
    if not 0 <= index < len(names):
        listed = ", ".join(f"{i} {n}" for i, n in enumerate(names[:10])) + (", ..." if len(names) > 10 else "")
        raise InputError(f"The class index {target} is not a class of {model.name}; its classes are {listed}.")
    return index


def artefact_from_spray(spray_folder, cluster: int, model: LoadedModel, *, token: CancelToken | None = None,
                        progress=no_progress) -> tuple[Artefact, ImageSet, ImageSet]:
    """The artefact of SpRAy cluster ``cluster``, located by relevance against the run's other images.

    The images are read from the batch run's source folder, which must still be where the run found them.
    """
    from ..evaluate.spray.results import read_spray_results

    _check_image_model(model)
    folder = Path(spray_folder).expanduser()
    result, heatmaps = read_spray_results(folder)
    if not 0 <= int(cluster) < result.n_clusters:
        raise InputError(f"The SpRAy result has clusters 0 to {result.n_clusters - 1}; there is no cluster {cluster}.")
    members = set(result.members(int(cluster)).tolist())
    paths = [heatmaps.source_path(i) for i in range(len(heatmaps.rows))]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"The pictures of the SpRAy run are not where the run found them ('{missing[0]}' is missing, "
                         f"{len(missing)} in all). Put the run's source folder back, or give the images that "
                         "carry it and clean ones instead.")
    check_counts(len(members), len(paths) - len(members))
    by_name = {name.strip().lower(): i for i, name in enumerate(model.class_names)}
    labels = [by_name.get(str(row.get("true_class", "")).strip().lower(), -1) for row in heatmaps.rows]
    images = load_images(model, paths, labels=labels, token=token, progress=sub_progress(progress, 0.0, 0.6))
    inside = np.array([i in members for i in range(len(paths))])
    carrying, clean = images.subset(np.flatnonzero(inside)), images.subset(np.flatnonzero(~inside))
    try:
        target = check_class(model, heatmaps.target)
    except InputError:
        raise InputError(f"The SpRAy run explains class {heatmaps.target}, which {model.name} does not have; choose "
                         "the model the run was made with.") from None
    progress(0.6, "Locating the artefact by relevance")
    artefact = artefact_from_samples(
        model, carrying.inputs, clean.inputs, target, token=token,
        description=f"the artefact of SpRAy cluster {int(cluster)} ({len(carrying)} images of "
                    f"'{model.class_names[target]}')",
        origin={"source": "spray", "spray_folder": str(folder.resolve()), "cluster": int(cluster),
                "run": str(heatmaps.run_dir), "method": heatmaps.method, "target": target})
    progress(1.0, "Artefact located")
    return artefact, carrying, clean


def artefact_from_files(model: LoadedModel, carrying_files, clean_files, target: int, *,
                        token: CancelToken | None = None) -> tuple[Artefact, ImageSet, ImageSet]:
    """The artefact shared by the ``carrying_files``, located by relevance for class ``target``
    against the ``clean_files``."""
    _check_image_model(model)
    carrying_files, clean_files = list(carrying_files), list(clean_files)
    check_counts(len(carrying_files), len(clean_files))
    target = check_class(model, target)
    carrying = load_images(model, carrying_files, token=token)
    clean = load_images(model, clean_files, token=token)
    artefact = artefact_from_samples(
        model, carrying.inputs, clean.inputs, int(target), token=token,
        description=f"the artefact shared by {len(carrying)} chosen images",
        origin={"source": "files", "carrying": [str(p) for p in carrying.files],
                "clean": [str(p) for p in clean.files], "target": int(target)})
    return artefact, carrying, clean


def artefact_from_image_region(model: LoadedModel, image_path, box, clean: ImageSet) -> tuple[Artefact, ImageSet, ImageSet]:
    """The artefact inside ``box`` = (top, left, height, width, in model-input pixels) of the image file
    ``image_path``; the carrying images are the ``clean`` ones with it pasted in."""
    _check_image_model(model)
    if len(clean) < MIN_IMAGES:
        raise InputError(f"Give at least {MIN_IMAGES} images without the artefact to paste it into "
                         f"({len(clean)} were given).")
    box = tuple(int(v) for v in box)
    if len(box) != 4:
        raise InputError("The region is four numbers: top, left, height, width (in model-input pixels).")
    path = Path(image_path).expanduser()
    source = load_images(model, [path]).inputs[0]
    if tuple(source.shape) != tuple(clean.inputs.shape[1:]):
        raise InputError(f"The image '{path.name}' and the clean images were prepared for different models.")
    artefact = artefact_from_region(source, box, description=f"the region {box} of {path.name}",
                                    origin={"source": "region", "image": str(path.resolve())})
    carrying = ImageSet(artefact.paste(clean.inputs), clean.labels.clone(), list(clean.files))
    return artefact, carrying, clean
