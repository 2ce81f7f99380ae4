"""What the Tables tab's "What if" and "Shapley values" pages compute, without Qt.

The pages run these functions as background jobs on the model that rides in a
``tabular.readable`` result (``result.extras["fitted"]``), and draw what they return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

import numpy as np

from ..core import InputError, ModelError, no_progress, sub_progress
from ..tabular.dependence import IceResult, PartialDependence2D, default_grid, ice_curves, partial_dependence_2d
from ..tabular.shapley import Background, ShapleyResult, background_kmeans, background_sample, shapley_values
from .formatting import format_value

#: Rows drawn as ICE curves (sampled with the result's seed), so that the plot stays quick and legible.
ICE_ROWS = 200
#: Grid points per feature inside the observed range (ICE) and per feature of a pair (2-D).
ICE_POINTS = 20
PAIR_POINTS = 10
#: Grid points added on each side when the range is extended.
EXTENSION_POINTS = 3
METHOD_WORDS = {"tree": "TreeSHAP (exact for tree models)", "exact": "exact (every coalition of features)",
                "kernel": "KernelSHAP (sampled coalitions)", "permutation": "permutation sampling"}


def fitted_model(result: Any) -> Any:
    """The fitted model of a ``tabular.readable`` result, or ``None``."""
    extras = getattr(result, "extras", None) or {}
    return extras.get("fitted")


def result_seed(result: Any) -> int:
    return int((getattr(result, "params", None) or {}).get("seed", 0) or 0)


def extended_grid(values: np.ndarray, extend: float, points: int = ICE_POINTS) -> np.ndarray:
    """The sweep grid of a column, plus points up to ``extend`` × its range beyond each end.

    Inside the observed range: :func:`default_grid`'s quantiles (dense where the data are) and, for a
    column with many distinct values, ``points`` evenly spaced values too (so that sparse stretches
    are not drawn as straight lines).
    """
    if extend < 0:
        raise InputError("The range can only be extended by a share of 0 or more.")
    grid = default_grid(np.asarray(values, dtype=float), points)
    low, high = float(np.min(values)), float(np.max(values))
    if len(np.unique(values)) > points + 2:
        grid = np.unique(np.concatenate([grid, np.linspace(low, high, points)]))
    if extend == 0 or high <= low:
        return grid
    reach = extend * (high - low)
    below = np.linspace(low - reach, low, EXTENSION_POINTS + 1)[:-1]
    above = np.linspace(high, high + reach, EXTENSION_POINTS + 1)[1:]
    return np.unique(np.concatenate([below, grid, above]))


class RowCurve(NamedTuple):
    """One row's output as a feature sweeps ``grid``; ``value``/``output``: the row as it is."""

    position: int
    grid: np.ndarray
    outputs: np.ndarray
    value: float
    output: float


def row_curve(fitted: Any, position: int, feature: int, grid: np.ndarray) -> RowCurve:
    """The output of row ``position`` with ``feature`` set to each grid value (the model called directly)."""
    X = np.asarray(fitted.X, dtype=float)
    if not 0 <= position < len(X):
        raise InputError(f"Row position {position} is outside the table of {len(X)} rows.")
    row = X[position]
    rows = np.repeat(row[None, :], len(grid), axis=0)
    rows[:, feature] = grid
    outputs = np.asarray(fitted.predict_output(rows), dtype=float)
    output = float(np.asarray(fitted.predict_output(row[None, :]), dtype=float)[0])
    if not (np.all(np.isfinite(outputs)) and np.isfinite(output)):
        raise ModelError("The model gave missing or infinite outputs for the selected row.")
    return RowCurve(int(position), np.asarray(grid, dtype=float), outputs, float(row[feature]), output)


class IceView(NamedTuple):
    """ICE curves for the page: the core's result, the selected row's curve (or ``None``) and the grid's reach."""

    ice: IceResult
    row: RowCurve | None
    extend: float


def compute_ice(fitted: Any, feature: int, extend: float, position: int | None, seed: int,
                max_rows: int = ICE_ROWS, token=None, progress=no_progress) -> IceView:
    """ICE curves of ``feature`` over up to ``max_rows`` sampled rows, and the selected row's own curve."""
    X = np.asarray(fitted.X, dtype=float)
    grid = extended_grid(X[:, feature], extend)
    ice = ice_curves(fitted.predict_output, X, feature, grid=grid, max_rows=max_rows, seed=seed,
                     estimator=fitted.estimator, token=token, progress=sub_progress(progress, 0.0, 0.95))
    row = None if position is None else row_curve(fitted, position, feature, ice.grid)
    progress(1.0, "ICE curves drawn")
    return IceView(ice, row, float(extend))


class PairView(NamedTuple):
    """A 2-D partial dependence and the observed ranges of its two features."""

    features: tuple[int, int]
    pd: PartialDependence2D
    ranges: tuple[tuple[float, float], tuple[float, float]]


def compute_pair(fitted: Any, first: int, second: int, extend: float, seed: int, max_rows: int = ICE_ROWS,
                 token=None, progress=no_progress) -> PairView:
    """Partial dependence on two features over a grid each (extended like the ICE grid)."""
    X = np.asarray(fitted.X, dtype=float)
    grids = (extended_grid(X[:, first], extend, PAIR_POINTS), extended_grid(X[:, second], extend, PAIR_POINTS))
    pd = partial_dependence_2d(fitted.predict_output, X, first, second, grid=grids, max_rows=max_rows, seed=seed,
                               token=token, progress=progress)
    ranges = tuple((float(X[:, j].min()), float(X[:, j].max())) for j in (first, second))
    return PairView((first, second), pd, ranges)


@dataclass(frozen=True)
class Explained:
    """Shapley values of some rows against one background, as the Shapley page shows them."""

    shapley: ShapleyResult
    positions: np.ndarray
    background_rows: np.ndarray
    background_weights: np.ndarray
    background_words: str
    requested_method: str

    def index_of(self, position: int) -> int | None:
        hits = np.flatnonzero(self.positions == position)
        return int(hits[0]) if hits.size else None


def explained_from_result(result: Any) -> Explained | None:
    """The Shapley values a ``tabular.readable`` result carries, or ``None`` when it has none."""
    extras = getattr(result, "extras", None) or {}
    shapley = extras.get("shapley")
    if shapley is None or extras.get("fitted") is None:
        return None
    model = extras.get("model") or {}
    return Explained(shapley, np.asarray(extras["explained_positions"], dtype=int),
                     np.asarray(extras["background_rows"], dtype=float),
                     np.asarray(extras["background_weights"], dtype=float),
                     str(model.get("background") or shapley.background), str(model.get("shapley_method") or
                                                                                 shapley.method))


def explain_rows(fitted: Any, explained: Explained, positions: Sequence[int], seed: int, token=None,
                 progress=no_progress) -> ShapleyResult:
    """Shapley values of more rows with the same model, background, method and seed as ``explained``."""
    rows = np.asarray(fitted.X, dtype=float)[np.asarray(positions, dtype=int)]
    return shapley_values(fitted.predict_output, rows, (explained.background_rows, explained.background_weights),
                          estimator=fitted.estimator, method=explained.shapley.method, seed=seed,
                          feature_names=list(fitted.feature_names), token=token, progress=progress)


def explain_with_background(fitted: Any, explained: Explained, kind: str, size: int, seed: int, token=None,
                            progress=no_progress) -> Explained:
    """The same rows explained again against a new background of the training rows: ``"sample"`` or ``"kmeans"``."""
    if kind not in ("sample", "kmeans"):
        raise InputError(f"Unknown background {kind!r}: choose a random sample or k-means summaries.")
    train = np.asarray(fitted.X, dtype=float)[np.asarray(fitted.train_rows, dtype=int)]
    progress(0.0, "Choosing the background")
    background: Background = (background_kmeans(train, size, seed) if kind == "kmeans"
                              else background_sample(train, size, seed))
    if token is not None:
        token.check()
    rows = np.asarray(fitted.X, dtype=float)[explained.positions]
    shapley = shapley_values(fitted.predict_output, rows, background, estimator=fitted.estimator,
                             method=explained.requested_method, seed=seed, feature_names=list(fitted.feature_names),
                             token=token, progress=sub_progress(progress, 0.05, 1.0))
    return Explained(shapley, explained.positions.copy(), background.rows, background.weights,
                     background.description, explained.requested_method)


class WaterfallStep(NamedTuple):
    """One bar of a waterfall: from ``start`` to ``end`` (``end - start`` is the Shapley value)."""

    label: str
    start: float
    end: float
    features: tuple[int, ...]


def waterfall_steps(values: np.ndarray, base: float, names: Sequence[str], row: np.ndarray,
                    max_bars: int = 12) -> list[WaterfallStep]:
    """Bars from the top (largest |value|) down; the bottom bar starts at ``base``, the top bar ends at the output.

    Features beyond ``max_bars - 1`` are gathered into one last bar "n other features".
    """
    values = np.asarray(values, dtype=float)
    order = np.argsort(-np.abs(values), kind="stable")
    groups: list[tuple[str, tuple[int, ...]]] = []
    if len(order) > max_bars:
        shown, rest = order[:max_bars - 1], order[max_bars - 1:]
        groups = [(f"{names[j]} = {number_words(row[j])}", (int(j),)) for j in shown]
        groups.append((f"{len(rest)} other features", tuple(int(j) for j in rest)))
    else:
        groups = [(f"{names[j]} = {number_words(row[j])}", (int(j),)) for j in order]
    steps: list[WaterfallStep] = []
    level = float(base)
    for label, members in reversed(groups):
        size = float(values[list(members)].sum())
        steps.append(WaterfallStep(label, level, level + size, members))
        level += size
    return steps[::-1]


def number_words(value: float) -> str:
    """A feature value as people write it (whole numbers without decimals)."""
    value = float(value)
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:.4g}"


def importance_order(values: np.ndarray) -> np.ndarray:
    """Feature indices by mean |Shapley value|, largest first."""
    return np.argsort(-np.mean(np.abs(np.asarray(values, dtype=float)), axis=0), kind="stable")


def swarm_offsets(values: np.ndarray, bins: int = 100, half_height: float = 0.4) -> np.ndarray:
    """Vertical offsets stacking dots of nearly equal value beside each other (a beeswarm row), within ±half_height."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return np.zeros(0)
    spread = float(values.max() - values.min())
    slots = np.round(bins * (values - values.min()) / (spread + 1e-12)).astype(int)
    offsets = np.zeros(len(values))
    layer, last = 0, None
    for index in np.argsort(slots, kind="stable"):
        layer = 0 if slots[index] != last else layer
        offsets[index] = np.ceil(layer / 2) * (1 if layer % 2 else -1)
        layer, last = layer + 1, slots[index]
    top = float(np.abs(offsets).max())
    return offsets * (half_height / top) if top > 0 else offsets


def colour_fraction(values: np.ndarray) -> np.ndarray:
    """Feature values scaled to 0 (low) … 1 (high) between their 5th and 95th percentiles (as shap colours them)."""
    values = np.asarray(values, dtype=float)
    low, high = np.percentile(values, [5, 95]) if values.size else (0.0, 0.0)
    if high <= low:
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    if high <= low:
        return np.full(values.shape, 0.5)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def strongest_interaction(feature: int, values: np.ndarray, X: np.ndarray) -> int | None:
    """The feature that most changes ``feature``'s Shapley values at equal feature value (shap's heuristic)."""
    if X.shape[1] < 2:
        return None
    from xaidesk.tabular.shapley import import_shap

    approximate_interactions = import_shap().utils.approximate_interactions
    ranked = [int(j) for j in approximate_interactions(feature, np.asarray(values, dtype=float),
                                                       np.asarray(X, dtype=float)) if int(j) != feature]
    return ranked[0] if ranked else None


def efficiency_words(base: float, values: np.ndarray, output: float, gap: float, scope: str) -> str:
    """The efficiency check in plain words: base value + the values = the output; ``scope`` names what ``gap``
    covers ("largest gap over the 200 explained rows", "gap for this row")."""
    total = float(np.sum(values))
    return (f"base value {format_value(base)} + the values ({'+' if total >= 0 else '−'}{format_value(abs(total))})"
            f" = {format_value(base + total)}, the model's {format_value(output)} for this row. "
            f"{scope[:1].upper()}{scope[1:]}: {format_value(gap) if gap > 0 else '0'}.")


__all__ = ["ICE_ROWS", "METHOD_WORDS", "Explained", "IceView", "PairView", "RowCurve", "WaterfallStep",
           "colour_fraction", "compute_ice", "compute_pair", "efficiency_words",
           "explain_rows", "explain_with_background", "explained_from_result", "extended_grid", "fitted_model",
           "importance_order", "number_words", "result_seed", "row_curve", "strongest_interaction",
           "swarm_offsets", "waterfall_steps"]
