"""Colour maps, colour levels and overlays: rendering decisions made headless.

The GUI shows what these functions compute; the CLI writes the same pictures.
"""

from __future__ import annotations

import numpy as np


def _lut(stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """Linear interpolation of RGB control points into a (256, 3) uint8 table."""
    positions = np.array([p for p, _ in stops], dtype=np.float64)
    colours = np.array([c for _, c in stops], dtype=np.float64)
    grid = np.linspace(0.0, 1.0, 256)
    table = np.stack([np.interp(grid, positions, colours[:, k]) for k in range(3)], axis=1)
    return np.round(table).astype(np.uint8)


COLORMAPS: dict[str, np.ndarray] = {
    # zennit's "coldnhot": cyan-blue for negative, black at zero, red-yellow for positive.
    "coldnhot": _lut([(0.0, (0, 255, 255)), (0.25, (0, 0, 255)), (0.5, (0, 0, 0)), (0.75, (255, 0, 0)), (1.0, (255, 255, 0))]),
    "bwr": _lut([(0.0, (0, 0, 255)), (0.5, (255, 255, 255)), (1.0, (255, 0, 0))]),
    "seismic": _lut([(0.0, (0, 0, 77)), (0.25, (0, 0, 255)), (0.5, (255, 255, 255)), (0.75, (255, 0, 0)), (1.0, (128, 0, 0))]),
    "purple_green": _lut([(0.0, (64, 0, 75)), (0.25, (153, 112, 171)), (0.5, (247, 247, 247)), (0.75, (90, 174, 97)), (1.0, (0, 68, 27))]),
    "gray": _lut([(0.0, (0, 0, 0)), (1.0, (255, 255, 255))]),
    "hot": _lut([(0.0, (0, 0, 0)), (0.4, (230, 0, 0)), (0.8, (255, 210, 0)), (1.0, (255, 255, 255))]),
    "viridis": _lut([
        (0.0, (68, 1, 84)), (0.25, (59, 82, 139)), (0.5, (33, 145, 140)), (0.75, (94, 201, 98)), (1.0, (253, 231, 37)),
    ]),
}
DIVERGING_COLORMAPS = ("coldnhot", "bwr", "seismic", "purple_green")
SEQUENTIAL_COLORMAPS = ("viridis", "hot", "gray")
DEFAULT_COLORMAP = "bwr"


def _subsample(values: np.ndarray, max_samples: int | None) -> np.ndarray:
    flat = np.asarray(values).ravel()
    if max_samples is not None and flat.size > max_samples:
        flat = flat[:: int(np.ceil(flat.size / max_samples))]
    return flat


def symmetric_levels(relevance: np.ndarray, percentile: float = 99.5, max_samples: int | None = None) -> tuple[float, float]:
    """Levels (-m, m) centred on zero, m the ``percentile`` of |relevance|.

    A percentile rather than the maximum keeps one extreme pixel from washing
    out the map. ``max_samples`` estimates the percentile from an evenly
    strided subset (fast for live previews of large images). Returns (-1, 1)
    for an all-zero or non-finite map.
    """
    values = np.abs(_subsample(relevance, max_samples).astype(np.float64))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return -1.0, 1.0
    m = float(np.percentile(values, percentile)) if percentile < 100 else float(values.max())
    if m <= 0:
        m = float(values.max())
    if m <= 0:
        return -1.0, 1.0
    return -m, m


def range_levels(values: np.ndarray, percentile: float = 99.5, max_samples: int | None = None) -> tuple[float, float]:
    """Levels (low, high) for non-negative maps such as uncertainty."""
    values = _subsample(values, max_samples).astype(np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(np.percentile(values, 100 - percentile)), float(np.percentile(values, percentile))
    if high <= low:
        high = low + 1.0
    return low, high


def normalize(values: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    """Map ``values`` linearly so ``levels`` become 0 and 1, clipped."""
    low, high = levels
    span = high - low if high > low else 1.0
    out = (np.asarray(values, dtype=np.float64) - low) / span
    return np.clip(np.nan_to_num(out, nan=0.5), 0.0, 1.0)


def colorize(values: np.ndarray, levels: tuple[float, float] | None = None, cmap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """Colour a 2-D map with a LUT; returns (H, W, 3) uint8."""
    if cmap not in COLORMAPS:
        raise ValueError(f"unknown colour map {cmap!r}; choose one of {', '.join(COLORMAPS)}")
    if levels is None:
        levels = symmetric_levels(values)
    index = np.round(normalize(values, levels) * 255).astype(np.intp)
    return COLORMAPS[cmap][index]


def grayscale(image: np.ndarray) -> np.ndarray:
    """The grey (H, W, 3) uint8 version of an RGB image shown under heatmaps."""
    gray = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) if image.ndim == 3 else image.astype(np.float64)
    return np.repeat(np.clip(np.round(gray), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def blend_overlay(
    image: np.ndarray,
    relevance: np.ndarray,
    cmap: str = DEFAULT_COLORMAP,
    opacity: float = 0.6,
    levels: tuple[float, float] | None = None,
) -> np.ndarray:
    """Blend a coloured relevance map over an RGB uint8 image of the same size.

    The image is shown in grey underneath so the colours of the map stay readable.
    """
    if image.shape[:2] != relevance.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and relevance {relevance.shape[:2]} differ in size")
    opacity = float(np.clip(opacity, 0.0, 1.0))
    base = grayscale(image).astype(np.float64)
    heat = colorize(relevance, levels, cmap).astype(np.float64)
    out = (1.0 - opacity) * base + opacity * heat
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def relevance_stats(relevance: np.ndarray) -> dict:
    """Summary numbers shown beside a heatmap."""
    r = np.asarray(relevance, dtype=np.float64)
    finite = r[np.isfinite(r)]
    if finite.size == 0:
        return {"sum": 0.0, "min": 0.0, "max": 0.0, "positive_share": 0.0}
    positive = finite[finite > 0].sum()
    total_abs = np.abs(finite).sum()
    return {
        "sum": float(finite.sum()),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "positive_share": float(positive / total_abs) if total_abs > 0 else 0.0,
    }
