"""Pixel flipping and region perturbation on images (see :mod:`.faithfulness` for the curves).

The units are square patches of the *opened* image (``patch=1``: single pixels, i.e. pixel
flipping). A patch's relevance is the sum of the relevance map (in the image's coordinates, as
:func:`~xaidesk.explain.explain_image` returns it) over its pixels. Removed patches show a
reference image -- the image's mean colour, a Gaussian-blurred copy (sigma = 1/16 of the shorter
side) or black -- and every perturbed image goes through the model's own preprocessing.
"""

from __future__ import annotations

import time

import numpy as np

from ..core import CancelToken, InputError, no_progress
from ..explain.common import scoring_module
from ..models.base import LoadedModel
from .faithfulness import (
    FaithfulnessResult, FlipSettings, assemble, evaluate_jobs, explained_scores, removal_counts, removal_orders,
)


def check_patch_size(patch: int, shape: tuple[int, ...]) -> None:
    """Refuse a patch side larger than the input (``shape``: height, width, ...) it would tile."""
    height, width = shape[:2]
    if patch > max(height, width):
        raise InputError(f"A patch side of {patch} is larger than the input itself ({width}x{height}); choose a "
                         f"patch of at most {max(height, width)}, or 0 for the automatic size.")


def patch_scores(relevance: np.ndarray, patch: int) -> np.ndarray:
    """Sum of relevance per ``patch`` x ``patch`` tile (edge tiles may be smaller), shape (rows, cols)."""
    check_patch_size(patch, relevance.shape)
    height, width = relevance.shape
    rows, cols = -(-height // patch), -(-width // patch)
    padded = np.zeros((rows * patch, cols * patch), dtype=np.float64)
    padded[:height, :width] = relevance
    return padded.reshape(rows, patch, cols, patch).sum(axis=(1, 3))


def fill_image(image: np.ndarray, fill: str) -> np.ndarray:
    """The reference that removed patches show: mean colour, blurred copy or black (RGB uint8)."""
    if fill == "mean":
        return np.broadcast_to(image.reshape(-1, 3).mean(0).round().astype(np.uint8), image.shape).copy()
    if fill == "black":
        return np.zeros_like(image)
    if fill == "blur":
        from skimage.filters import gaussian

        sigma = max(1.0, min(image.shape[:2]) / 16.0)
        blurred = gaussian(image.astype(np.float64), sigma=sigma, channel_axis=-1, preserve_range=True)
        return np.clip(np.round(blurred), 0, 255).astype(np.uint8)
    raise InputError(f"Unknown fill '{fill}'; choose one of: mean, blur, black.")


def auto_patch(shape: tuple[int, int]) -> int:
    """Default patch side: 1/16 of the shorter side (at least one pixel)."""
    return max(1, min(shape[:2]) // 16)


def image_faithfulness(
    model: LoadedModel,
    image: np.ndarray,
    relevance: np.ndarray,
    target: int,
    settings: FlipSettings = FlipSettings(),
    *,
    method: str = "",
    token: CancelToken | None = None,
    progress=no_progress,
) -> FaithfulnessResult:
    """Perturbation curves of ``relevance`` for class ``target`` of ``model`` on ``image``.

    Parameters
    ----------
    model, image
        The model and the opened RGB uint8 image (H, W, 3) the explanation belongs to (not modified).
    relevance
        (H, W) map in the image's coordinates.
    target
        The explained class.
    settings
        Orders, steps, patch size, fill, random orders, score kind.
    method
        Name recorded in the result.
    """
    start = time.perf_counter()
    settings = settings.checked()
    relevance = np.asarray(relevance)
    if relevance.shape != image.shape[:2]:
        raise InputError(
            f"The relevance map ({relevance.shape[1]}x{relevance.shape[0]}) does not match the image "
            f"({image.shape[1]}x{image.shape[0]}); evaluate an explanation of this image."
        )
    patch = settings.patch or auto_patch(image.shape)
    tiles = patch_scores(np.nan_to_num(relevance.astype(np.float64)), patch)
    rows, cols = tiles.shape
    n_units = tiles.size
    orders = removal_orders(tiles, settings, np.random.default_rng(settings.seed))
    counts = removal_counts(n_units, settings.steps)
    filled = fill_image(image, settings.fill)
    height, width = image.shape[:2]

    def inputs_of(job: int):
        order, count = divmod(job, len(counts))
        keep = np.ones(n_units, dtype=bool)
        keep[orders[order][1][: counts[count]]] = False
        mask = np.repeat(np.repeat(keep.reshape(rows, cols), patch, 0), patch, 1)[:height, :width]
        return model.preprocessing.to_tensor(np.where(mask[..., None], image, filled))

    outputs = evaluate_jobs(scoring_module(model), inputs_of, len(orders) * len(counts), token=token, progress=progress,
                            message="Perturbation curves: images", model_name=model.name)
    scores = explained_scores(outputs, target, settings.score)
    unit = "pixels" if patch == 1 else f"{patch}x{patch}-pixel patches"
    result = assemble(method, target, model.label(int(target)),
                      orders, counts, n_units, scores, f"{unit} ({n_units})", settings, patch_resolved=patch)
    result.seconds = time.perf_counter() - start
    return result
