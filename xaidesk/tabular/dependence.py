"""What if one feature changed: individual conditional expectation (ICE) curves and partial dependence.

Each ICE curve is one row's model output as one feature sweeps a grid while the row's other
features stay fixed; partial dependence is their average. scikit-learn's
:func:`sklearn.inspection.partial_dependence` computes them when a fitted scikit-learn estimator is
given and its output is the one explained; otherwise the explained output ``predict`` is called on
the modified rows in batches. The data's observed range and its values (for a rug) come with the
result, and grid points outside the observed range are marked as extrapolated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from ..core import CancelToken, InputError, ModelError, Step, no_progress

#: Bytes one stacked prediction call may use for its modified rows.
MEMORY_BUDGET = 64 * 2**20


@dataclass(frozen=True)
class IceResult:
    """ICE curves for one feature.

    Attributes
    ----------
    feature
        The column index.
    grid
        The feature values swept, ascending, shape ``(points,)``.
    curves
        The explained output per row and grid point, shape ``(rows, points)``.
    average
        The partial dependence: ``curves.mean(axis=0)``.
    data_values
        The feature's column over the whole table (for a rug).
    data_range
        ``(min, max)`` of the observed column.
    extrapolated
        ``True`` for grid points outside the observed range.
    rows
        Which table rows the curves belong to.
    source
        ``"scikit-learn"`` or ``"model calls"``: what computed the curves.
    """

    feature: int
    grid: np.ndarray
    curves: np.ndarray
    average: np.ndarray
    data_values: np.ndarray
    data_range: tuple[float, float]
    extrapolated: np.ndarray
    rows: np.ndarray
    source: str


class PartialDependence2D(NamedTuple):
    """Partial dependence over a pair of features: ``values[i, j]`` at ``(grid1[i], grid2[j])``."""

    grid1: np.ndarray
    grid2: np.ndarray
    values: np.ndarray


def feature_index(feature: int | str, width: int, feature_names: Sequence[str] | None = None) -> int:
    """The column index of ``feature`` (an index, or a name from ``feature_names``)."""
    if isinstance(feature, str):
        if feature_names is None or feature not in list(feature_names):
            raise InputError(f"There is no feature called {feature!r}. Choose one of the table's columns.")
        return list(feature_names).index(feature)
    index = int(feature)
    if not 0 <= index < width:
        raise InputError(f"Feature {index} does not exist: the table has {width} feature columns.")
    return index


def default_grid(values: np.ndarray, points: int = 20) -> np.ndarray:
    """``points`` quantiles over the 5–95 % range plus the extremes, or every distinct value when there are few."""
    distinct = np.unique(values)
    if len(distinct) <= points + 2:
        return distinct.astype(float)
    inner = np.quantile(values, np.linspace(0.05, 0.95, points))
    return np.unique(np.concatenate([[distinct[0]], inner, [distinct[-1]]])).astype(float)


def checked_table(X: Any) -> np.ndarray:
    """``X`` as a finite 2-D float copy, or a plain error."""
    table = np.array(X, dtype=float, copy=True)
    if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] == 0:
        raise InputError("The table must have at least one row and one feature column.")
    if not np.all(np.isfinite(table)):
        raise InputError("The table has missing or infinite values. Fill or remove them before explaining.")
    return table


def sample_rows(count: int, rows: Sequence[int] | None, max_rows: int, seed: int) -> np.ndarray:
    """The chosen row indices, or up to ``max_rows`` sampled without replacement (seeded, sorted)."""
    if rows is not None:
        chosen = np.asarray(rows, dtype=int).reshape(-1)
        if chosen.size == 0 or chosen.min() < -count or chosen.max() >= count:
            raise InputError(f"The chosen rows must lie between 0 and {count - 1}.")
        return chosen % count
    if count <= max_rows:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, max_rows, replace=False))


def checked_outputs(outputs: Any, count: int) -> np.ndarray:
    """The model's outputs as a finite ``(count,)`` array, or a plain error."""
    values = np.asarray(outputs, dtype=float)
    if values.shape != (count,):
        raise ModelError(f"The model gave outputs of shape {values.shape} for {count} rows; one number per row "
                         "is needed (the explained class's probability, or the predicted value).")
    if not np.all(np.isfinite(values)):
        raise ModelError("The model gave missing or infinite outputs on the modified rows.")
    return values


def sweep(predict: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, columns: Sequence[int],
          points: np.ndarray, token: CancelToken | None = None, progress=no_progress,
          label: str = "Partial dependence") -> np.ndarray:
    """The output of every row with ``columns`` set to each of ``points`` (shape ``(points, len(columns))``).

    Returns ``(len(points), len(rows))``. Grid points are stacked into one call up to
    :data:`MEMORY_BUDGET`.
    """
    per_point = max(rows.nbytes, 1)
    chunk = max(1, min(len(points), MEMORY_BUDGET // per_point))
    out = np.empty((len(points), len(rows)))
    for start in range(0, len(points), chunk):
        if token is not None:
            token.check()
        block = points[start:start + chunk]
        stacked = np.repeat(rows[None], len(block), axis=0)
        stacked[:, :, list(columns)] = block[:, None, :]
        flat = stacked.reshape(-1, rows.shape[1])
        out[start:start + len(block)] = checked_outputs(predict(flat), len(flat)).reshape(len(block), len(rows))
        done = start + len(block)
        progress(done / len(points), Step.count(label, done, len(points), "grid points"))
    return out


def sklearn_curves(estimator: Any, predict: Callable, rows: np.ndarray, feature: int,
                   grid: np.ndarray) -> np.ndarray | None:
    """ICE curves from scikit-learn, or ``None`` when its output is not the one ``predict`` explains."""
    from sklearn.inspection import partial_dependence

    try:
        result = partial_dependence(estimator, rows, [feature], kind="both", custom_values={feature: grid},
                                    method="brute")
    except (ValueError, TypeError, AttributeError):
        return None
    individual = np.asarray(result["individual"], dtype=float)  # (outputs, rows, points)
    probe = rows.copy()
    probe[:, feature] = grid[0]
    expected = checked_outputs(predict(probe), len(rows))
    candidates = list(individual) + ([1.0 - individual[0]] if individual.shape[0] == 1 else [])
    for curves in candidates:
        if curves.shape == (len(rows), len(grid)) and np.allclose(curves[:, 0], expected, rtol=0, atol=1e-9):
            return curves
    return None


def ice_curves(predict: Callable[[np.ndarray], np.ndarray], X: Any, feature: int | str, *,
               grid: Sequence[float] | None = None, points: int = 20, rows: Sequence[int] | None = None,
               max_rows: int = 200, seed: int = 0, estimator: Any = None,
               feature_names: Sequence[str] | None = None, token: CancelToken | None = None,
               progress=no_progress) -> IceResult:
    """ICE curves and partial dependence of the explained output on one feature.

    Parameters
    ----------
    predict
        Rows ``(n, d)`` to the explained output ``(n,)``.
    X
        The table, ``(n, d)``; not modified.
    feature
        Column index, or name when ``feature_names`` is given.
    grid
        Feature values to sweep; by default :func:`default_grid` with ``points`` quantiles.
    rows
        Which rows get curves; by default up to ``max_rows`` sampled with ``seed``.
    estimator
        A fitted scikit-learn estimator behind ``predict``; when given and its output matches,
        :func:`sklearn.inspection.partial_dependence` computes the curves.
    token, progress
        Cancellation (checked between batches of grid points) and progress reports.
    """
    table = checked_table(X)
    column = feature_index(feature, table.shape[1], feature_names)
    values = table[:, column]
    if grid is None:
        sweep_grid = default_grid(values, points)
    else:
        sweep_grid = np.unique(np.asarray(grid, dtype=float).reshape(-1))
        if sweep_grid.size == 0 or not np.all(np.isfinite(sweep_grid)):
            raise InputError("The grid must hold at least one finite value.")
    chosen = sample_rows(len(table), rows, max_rows, seed)
    subset = table[chosen]
    curves, source = None, "model calls"
    if estimator is not None:
        curves = sklearn_curves(estimator, predict, subset, column, sweep_grid)
        source = "scikit-learn" if curves is not None else source
    if curves is None:
        curves = sweep(predict, subset, [column], sweep_grid[:, None], token, progress, "ICE curves").T
    if not np.all(np.isfinite(curves)):
        raise ModelError("The model gave missing or infinite outputs on the modified rows.")
    low, high = float(values.min()), float(values.max())
    progress(1.0, Step.count("ICE curves", len(sweep_grid), len(sweep_grid), "grid points"))
    return IceResult(feature=column, grid=sweep_grid, curves=curves, average=curves.mean(axis=0),
                     data_values=values.copy(), data_range=(low, high),
                     extrapolated=(sweep_grid < low) | (sweep_grid > high), rows=chosen, source=source)


def partial_dependence_2d(predict: Callable[[np.ndarray], np.ndarray], X: Any, f1: int | str, f2: int | str, *,
                          grid: tuple[Sequence[float], Sequence[float]] | None = None, points: int = 10,
                          rows: Sequence[int] | None = None, max_rows: int = 200, seed: int = 0,
                          feature_names: Sequence[str] | None = None, token: CancelToken | None = None,
                          progress=no_progress) -> PartialDependence2D:
    """Partial dependence of the explained output on a pair of features.

    ``values[i, j]`` is the mean output over the rows with ``f1 = grid1[i]`` and ``f2 = grid2[j]``.
    Grids default to :func:`default_grid` with ``points`` quantiles each; other parameters as in
    :func:`ice_curves`.
    """
    table = checked_table(X)
    first = feature_index(f1, table.shape[1], feature_names)
    second = feature_index(f2, table.shape[1], feature_names)
    if first == second:
        raise InputError("Choose two different features for a two-feature partial dependence.")
    if grid is None:
        grid1, grid2 = default_grid(table[:, first], points), default_grid(table[:, second], points)
    else:
        grid1, grid2 = (np.unique(np.asarray(g, dtype=float).reshape(-1)) for g in grid)
        if grid1.size == 0 or grid2.size == 0 or not (np.all(np.isfinite(grid1)) and np.all(np.isfinite(grid2))):
            raise InputError("Both grids must hold at least one finite value.")
    subset = table[sample_rows(len(table), rows, max_rows, seed)]
    pairs = np.stack(np.meshgrid(grid1, grid2, indexing="ij"), axis=-1).reshape(-1, 2)
    outputs = sweep(predict, subset, [first, second], pairs, token, progress, "Partial dependence")
    return PartialDependence2D(grid1, grid2, outputs.mean(axis=1).reshape(len(grid1), len(grid2)))
