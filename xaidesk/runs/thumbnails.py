"""Thumbnails of a run's items: the heatmap blended over the input, longest side :data:`THUMBNAIL_SIZE` px."""

from __future__ import annotations

import numpy as np

from ..core import render
from .format import THUMBNAIL_SIZE


def _resize(array: np.ndarray, size: tuple[int, int], shrink: bool):
    from PIL import Image

    resample = Image.Resampling.BOX if shrink else Image.Resampling.NEAREST
    if array.dtype == np.uint8:
        return np.asarray(Image.fromarray(np.ascontiguousarray(array)).resize(size, resample))
    return np.asarray(Image.fromarray(np.ascontiguousarray(array, dtype=np.float32), mode="F").resize(size, resample))


def _thumbnail_size(height: int, width: int, longest: int) -> tuple[int, int]:
    scale = longest / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def image_thumbnail(pixels: np.ndarray, relevance: np.ndarray, longest: int = THUMBNAIL_SIZE,
                    cmap: str | None = None, opacity: float = 0.6, signed: bool | None = None) -> np.ndarray:
    """The heatmap blended over the image, longest side ``longest`` px (RGB uint8).

    Both are resized first (box filter when shrinking, nearest neighbours when enlarging) and the
    colour levels are those of the small map, the one that is seen. ``signed`` False (a map that only
    says how much) is drawn over its range on a sequential colour map unless ``cmap`` is given.
    """
    height, width = pixels.shape[:2]
    size = _thumbnail_size(height, width, longest)
    shrink = max(height, width) > longest
    small = _resize(pixels, size, shrink)
    small_relevance = _resize(relevance, size, shrink)
    return render.blend_overlay(small, small_relevance, cmap=cmap or render.automatic_colormap(signed),
                                opacity=opacity, levels=render.automatic_levels(small_relevance, signed))


def audio_thumbnail(spectrogram: np.ndarray, relevance: np.ndarray, longest: int = THUMBNAIL_SIZE,
                    cmap: str | None = None, opacity: float = 0.6, signed: bool | None = None) -> np.ndarray:
    """The relevance blended over the spectrogram picture, longest side ``longest`` px."""
    from ..explain.audio import render_spectrogram_overlay

    picture = render_spectrogram_overlay(spectrogram, relevance, cmap=cmap, opacity=opacity, scale=(1, 1),
                                         signed=signed)
    height, width = picture.shape[:2]
    return _resize(picture, _thumbnail_size(height, width, longest), max(height, width) > longest)



__all__ = ["audio_thumbnail", "image_thumbnail"]
