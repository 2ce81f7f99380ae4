"""Pixel flipping (perturbation analysis; Bach et al. 2015, Samek et al. 2017).

Remove the input's regions in order of relevance, most relevant first, and
record the explained score after each step. A faithful explanation makes the
score fall fast; the same curve for random orders is the baseline. Regions are
square patches of the opened image; removed patches are filled with a
reference (the image's mean colour, black, or a blurred copy) and every
perturbed image goes through the model's own preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core import CancelToken, InputError, no_progress
from ..explain.perturbation import evaluate_perturbations
from ..models.base import LoadedModel

FILLS = ("mean", "black", "blur")


@dataclass
class FlippingCurve:
    """Scores as more and more of the input is removed.

    Attributes
    ----------
    fractions
        Share of the patches removed at each step, from 0 to 1.
    scores
        Explained score (logit) after removing the most relevant patches first.
    random_scores
        Mean score over ``random_orders`` random removal orders.
    auc, random_auc
        Areas under the two curves (trapezoid over ``fractions``), relative to
        the unperturbed score; lower ``auc`` than ``random_auc`` means the
        explanation found what the model needs.
    """

    fractions: np.ndarray
    scores: np.ndarray
    random_scores: np.ndarray
    auc: float
    random_auc: float
    patch: int
    fill: str
    target: int
    extras: dict = field(default_factory=dict)

    @property
    def faithfulness_gap(self) -> float:
        """``random_auc - auc``: how much faster the score falls than at random (higher is better)."""
        return float(self.random_auc - self.auc)

    def to_dict(self) -> dict:
        return {
            "fractions": self.fractions.tolist(),
            "scores": self.scores.tolist(),
            "random_scores": self.random_scores.tolist(),
            "auc": self.auc,
            "random_auc": self.random_auc,
            "faithfulness_gap": self.faithfulness_gap,
            "patch": self.patch,
            "fill": self.fill,
            "target": self.target,
        }


def patch_scores(relevance: np.ndarray, patch: int) -> np.ndarray:
    """Sum of relevance per ``patch`` x ``patch`` tile (edge tiles may be smaller), shape (rows, cols)."""
    height, width = relevance.shape
    rows, cols = -(-height // patch), -(-width // patch)
    padded = np.zeros((rows * patch, cols * patch), dtype=np.float64)
    padded[:height, :width] = relevance
    return padded.reshape(rows, patch, cols, patch).sum(axis=(1, 3))


def _fill_image(image: np.ndarray, fill: str) -> np.ndarray:
    if fill == "mean":
        return np.broadcast_to(image.reshape(-1, 3).mean(0).round().astype(np.uint8), image.shape).copy()
    if fill == "black":
        return np.zeros_like(image)
    from skimage.filters import gaussian

    sigma = max(1.0, min(image.shape[:2]) / 16.0)
    return np.clip(np.round(gaussian(image, sigma=sigma, channel_axis=-1, preserve_range=True)), 0, 255).astype(np.uint8)


def pixel_flipping_curve(
    model: LoadedModel,
    image: np.ndarray,
    relevance: np.ndarray,
    target: int,
    *,
    steps: int = 20,
    patch: int = 0,
    fill: str = "mean",
    random_orders: int = 3,
    seed: int = 0,
    token: CancelToken | None = None,
    progress=no_progress,
) -> FlippingCurve:
    """Pixel-flipping curve of ``relevance`` (in the image's coordinates) for class ``target``.

    Parameters
    ----------
    model, image
        The model and the opened RGB uint8 image the explanation belongs to.
    relevance
        (H, W) map in the image's coordinates (as :func:`~xaidesk.explain.explain_image` returns it).
    steps
        Number of removal steps after the unperturbed one.
    patch
        Side of the removed squares in image pixels; 0 = 1/16 of the shorter side.
    fill, random_orders, seed
        What removed patches show; how many random orders form the baseline; their seed.
    """
    if relevance.shape != image.shape[:2]:
        raise InputError(
            f"The relevance map ({relevance.shape[1]}x{relevance.shape[0]}) does not match the image "
            f"({image.shape[1]}x{image.shape[0]}); evaluate an explanation of this image."
        )
    if fill not in FILLS:
        raise InputError(f"Unknown fill '{fill}'; choose one of: {', '.join(FILLS)}.")
    steps = max(1, int(steps))
    patch = int(patch) or max(1, min(image.shape[:2]) // 16)
    tiles = patch_scores(np.nan_to_num(np.asarray(relevance, dtype=np.float64)), patch)
    n_tiles = tiles.size
    rng = np.random.default_rng(seed)
    orders = [np.argsort(-tiles.ravel(), kind="stable")] + [rng.permutation(n_tiles) for _ in range(random_orders)]
    counts = np.round(np.linspace(0, n_tiles, steps + 1)).astype(int)
    filled = _fill_image(image, fill)
    rows, cols = tiles.shape

    def perturbed(order: np.ndarray, count: int) -> np.ndarray:
        keep = np.ones(n_tiles, dtype=bool)
        keep[order[:count]] = False
        mask = np.repeat(np.repeat(keep.reshape(rows, cols), patch, 0), patch, 1)[: image.shape[0], : image.shape[1]]
        return np.where(mask[..., None], image, filled)

    jobs = [(o, c) for o in range(len(orders)) for c in counts]

    def make_batch(start: int, stop: int) -> torch.Tensor:
        return torch.cat([model.preprocessing.to_tensor(perturbed(orders[o], c)) for o, c in jobs[start:stop]])

    outputs = evaluate_perturbations(
        model.module, make_batch, len(jobs), token=token or CancelToken(), progress=progress,
        message="Pixel flipping: images", model_name=model.name,
    )
    scores = outputs[:, int(target)].double().numpy().reshape(len(orders), len(counts))
    fractions = counts / n_tiles
    base = scores[0, 0]
    scale = abs(base) if abs(base) > 1e-12 else 1.0

    def area(curve: np.ndarray) -> float:
        return float(np.sum((curve[1:] + curve[:-1]) * np.diff(fractions)) / 2.0 / scale)

    random_scores = scores[1:].mean(0) if random_orders else np.full(len(counts), np.nan)
    return FlippingCurve(
        fractions=fractions,
        scores=scores[0],
        random_scores=random_scores,
        auc=area(scores[0]),
        random_auc=area(random_scores) if random_orders else float("nan"),
        patch=patch,
        fill=fill,
        target=int(target),
        extras={"tiles": int(n_tiles), "random_orders": int(random_orders)},
    )
