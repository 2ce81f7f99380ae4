"""Preparing heatmaps for SpRAy: checking them, taking their values, area-averaging and normalising."""

from __future__ import annotations

import numpy as np

from ...core import InputError

NORMALIZATIONS = ("max", "l2")
VALUES = ("abs", "positive", "signed")


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: row i averages the input cells that output cell i covers, by covered length."""
    edges_in = np.arange(n_in + 1, dtype=np.float64) / n_in
    edges_out = np.arange(n_out + 1, dtype=np.float64) / n_out
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    overlap = np.clip(hi - lo, 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def downsample(heatmap: np.ndarray, size: int) -> np.ndarray:
    """A 2D map averaged onto ``size`` x ``size`` cells by covered area (exact for any input size)."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    rows, cols = heatmap.shape
    return _area_matrix(rows, size) @ heatmap @ _area_matrix(cols, size).T


def normalize_maps(maps: np.ndarray, how: str = "max") -> np.ndarray:
    """Divide each map of (N, ...) by its largest absolute value (``"max"``) or Euclidean norm (``"l2"``)."""
    if how not in NORMALIZATIONS:
        raise InputError(f"Unknown normalisation '{how}'; choose one of: {', '.join(NORMALIZATIONS)}.")
    flat = maps.reshape(len(maps), -1)
    scale = np.abs(flat).max(axis=1) if how == "max" else np.linalg.norm(flat, axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    return maps / scale.reshape((-1,) + (1,) * (maps.ndim - 1))


def _as_map_list(heatmaps) -> list[np.ndarray]:
    if isinstance(heatmaps, np.ndarray) and heatmaps.ndim != 3:
        raise InputError(f"Heatmaps must be given as an (N, H, W) array or a list of 2D maps; "
                         f"an array of shape {heatmaps.shape} was given.")
    maps = [np.asarray(m) for m in heatmaps]
    for i, m in enumerate(maps):
        if m.ndim != 2 or min(m.shape) < 1:
            raise InputError(f"Heatmap {i} has shape {m.shape}; every heatmap must be a 2D map.")
        if not np.all(np.isfinite(m)):
            raise InputError(f"Heatmap {i} holds non-finite values (nan or inf); recompute it or leave it out.")
    return maps


def _map_values(heatmap: np.ndarray, values: str) -> np.ndarray:
    if values == "abs":
        return np.abs(heatmap)
    if values == "positive":
        return np.clip(heatmap, 0, None)
    return heatmap
