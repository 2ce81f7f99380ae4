"""Qt-free helpers for result decorations: superpixel boundaries, top-segment highlights,
partial-result bookkeeping.

Everything here is plain numpy and could move to :mod:`xaidesk.core.render` (the CLI
could then draw the same boundaries into ``overlay.png``).
"""

from __future__ import annotations

import numpy as np

#: Colour of superpixel boundaries drawn over the heatmap (RGBA).
BOUNDARY_RGBA = (255, 255, 255, 200)
#: What covers segments outside the top k when "only top segments" is on (RGBA).
DIM_RGBA = (40, 40, 40, 190)


def segment_boundaries(labels: np.ndarray) -> np.ndarray:
    """Boolean (H, W) map of the pixels on a boundary between two superpixels.

    A pixel is on a boundary when its right or lower neighbour has another label (a one-pixel
    line, like ``skimage.segmentation.find_boundaries(mode="inner")`` on one side only);
    cropped-away pixels (label -1) next to a segment count too.
    """
    labels = np.asarray(labels)
    edges = np.zeros(labels.shape, dtype=bool)
    if labels.ndim != 2 or labels.size == 0:
        return edges
    horizontal = labels[:, 1:] != labels[:, :-1]
    vertical = labels[1:, :] != labels[:-1, :]
    edges[:, :-1] |= horizontal
    edges[:-1, :] |= vertical
    edges &= labels >= 0
    return edges


def segment_mask(labels: np.ndarray, ids) -> np.ndarray:
    """Boolean (H, W) map of the pixels whose label is one of ``ids``."""
    ids = np.asarray(list(ids), dtype=np.int64)
    if ids.size == 0:
        return np.zeros(np.shape(labels), dtype=bool)
    return np.isin(np.asarray(labels), ids)


def decoration_rgba(
    labels: np.ndarray | None,
    *,
    boundaries: bool = False,
    highlight: list[int] | None = None,
) -> np.ndarray | None:
    """An (H, W, 4) uint8 layer drawn over the heatmap, or ``None`` when there is nothing to draw.

    ``highlight`` (segment labels) dims every other segment; ``boundaries`` draws the
    superpixel borders.
    """
    if labels is None or (not boundaries and highlight is None):
        return None
    labels = np.asarray(labels)
    layer = np.zeros((*labels.shape, 4), dtype=np.uint8)
    if highlight is not None:
        layer[~segment_mask(labels, highlight)] = DIM_RGBA
    if boundaries:
        layer[segment_boundaries(labels)] = BOUNDARY_RGBA
    return layer


def composite(rgb: np.ndarray, rgba: np.ndarray | None) -> np.ndarray:
    """``rgba`` alpha-blended over an (H, W, 3) uint8 image (the image itself if ``rgba`` is None)."""
    if rgba is None:
        return rgb
    alpha = rgba[..., 3:4].astype(np.float64) / 255.0
    out = (1.0 - alpha) * rgb.astype(np.float64) + alpha * rgba[..., :3].astype(np.float64)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def segment_at(labels: np.ndarray | None, x: int, y: int) -> int | None:
    """The superpixel label at image pixel (x, y), or ``None`` (no labels, outside, cropped)."""
    if labels is None:
        return None
    height, width = labels.shape[:2]
    if not (0 <= x < width and 0 <= y < height):
        return None
    label = int(labels[y, x])
    return label if label >= 0 else None


def top_segment_rows(extras: dict) -> list[tuple[int, float, str]]:
    """Rows ``(segment, weight, "positive"/"negative")`` of a LIME result's top segments."""
    weights = extras.get("segment_weights") or []
    rows = []
    for kind, key in (("positive", "top_positive"), ("negative", "top_negative")):
        for label in extras.get(key) or []:
            if 0 <= int(label) < len(weights):
                rows.append((int(label), float(weights[int(label)]), kind))
    return rows


def highlighted_segments(extras: dict) -> list[int]:
    """The top positive and top negative segments of a LIME result."""
    return [int(v) for v in (extras.get("top_positive") or [])] + [int(v) for v in (extras.get("top_negative") or [])]


def samples_done(explanation, fallback_total: int | None = None) -> tuple[int | None, int | None]:
    """``(n_done, n_total)`` of a (partial) perturbation result, from its extras and params."""
    extras = getattr(explanation, "extras", {}) or {}
    params = getattr(explanation, "params", {}) or {}
    done = extras.get("n_done", extras.get("n_used"))
    total = extras.get("num_masks") or extras.get("num_samples") or params.get("num_masks") or params.get("num_samples")
    total = total or fallback_total
    return (int(done) if done is not None else None), (int(total) if total else None)


__all__ = [
    "composite",
    "decoration_rgba",
    "highlighted_segments",
    "samples_done",
    "segment_at",
    "segment_boundaries",
    "segment_mask",
    "top_segment_rows",
]


