"""Shapley values of the explained output, per row, through the ``shap`` library.

All methods explain the same thing: ``predict(x)`` (the explained class's probability, or the
regression value) against an interventional background, so that
``base_value + values.sum() == predict(x)`` (efficiency) and the base value is the background's
weighted mean output. Methods:

- ``"tree"``: TreeSHAP (:class:`shap.TreeExplainer`, interventional, probability output for
  classifiers) for scikit-learn decision trees and tree ensembles used directly (not inside a
  :class:`~sklearn.pipeline.Pipeline`). It is exact for regressors, trees and forests. A boosted
  classifier's probability is a sigmoid of a sum of trees, which shap spreads over the features
  per reference row: efficient, but a few per cent off the exact values, so ``"auto"`` prefers
  ``"exact"`` for boosted classifiers up to :data:`EXACT_LIMIT` features;
- ``"exact"``: :class:`shap.explainers.Exact`, every coalition; ``"auto"`` picks it up to
  :data:`EXACT_LIMIT` features;
- ``"kernel"``: KernelSHAP (:class:`shap.KernelExplainer`), sampled coalitions, weighted backgrounds
  supported natively;
- ``"permutation"``: :class:`shap.explainers.Permutation`, sampled antithetic permutations; ``"auto"``
  picks it beyond :data:`EXACT_LIMIT` features: on a trained 20-feature MLP it matched KernelSHAP's
  error at 0.23x its time (``bench/bench_shapley_samplers.py``).

A weighted background (k-means summaries) is handled for tree, exact and permutation by
linearity: interventional Shapley values are the weighted sum of those against each background
row alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..core import CancelToken, InputError, MethodError, Step, no_progress
from .dependence import checked_outputs, checked_table

#: ``"auto"`` computes exact Shapley values up to this many features (2**d coalitions per row and background row).
EXACT_LIMIT = 10
#: ``"exact"`` is refused above this many features.
EXACT_HARD_LIMIT = 16
METHODS = ("auto", "exact", "tree", "kernel", "permutation")
#: Largest efficiency gap accepted, relative to the spread of the outputs (``max(range, 1e-12)``).
EFFICIENCY_TOLERANCE = {"exact": 1e-6, "tree": 1e-6, "permutation": 1e-6, "kernel": 1e-4}


@dataclass(frozen=True)
class Background:
    """The rows Shapley values integrate over, their weights (summing to 1), and a plain description."""

    rows: np.ndarray
    weights: np.ndarray
    description: str

    def __iter__(self):
        return iter((self.rows, self.weights))


@dataclass(frozen=True)
class ShapleyResult:
    """Shapley values of the explained output.

    Attributes
    ----------
    values
        ``(n, d)``: each feature's share of ``output - base_value`` per row.
    base_value
        The background's weighted mean output.
    method
        The method that ran (``"tree"``, ``"exact"``, ``"kernel"`` or ``"permutation"``).
    output
        ``predict(X_explain)``, ``(n,)``.
    efficiency_gap
        ``max |base_value + values.sum(axis=1) - output|``.
    feature_names
        Column names, when given.
    background
        Plain description of the background.
    """

    values: np.ndarray
    base_value: float
    method: str
    output: np.ndarray
    efficiency_gap: float
    feature_names: tuple[str, ...] | None
    background: str


def background_sample(X: Any, n: int = 100, seed: int = 0) -> Background:
    """Up to ``n`` rows of ``X`` drawn without replacement (seeded), equally weighted."""
    table = checked_table(X)
    if n < 1:
        raise InputError("The background needs at least one row.")
    if len(table) <= n:
        rows, words = table, f"all {len(table)} rows of the table, equally weighted"
    else:
        chosen = np.sort(np.random.default_rng(seed).choice(len(table), n, replace=False))
        rows, words = table[chosen], f"{n} rows sampled at random from {len(table)} (seed {seed}), equally weighted"
    return Background(rows, np.full(len(rows), 1.0 / len(rows)), words)


def background_kmeans(X: Any, k: int = 20, seed: int = 0) -> Background:
    """``k`` k-means centres of ``X``, each weighted by its cluster's share of the rows.

    Each centre's values are moved to the nearest value observed in its column, so that
    discrete columns keep valid values (as :func:`shap.kmeans` does).
    """
    from sklearn.cluster import KMeans

    table = checked_table(X)
    if k < 1:
        raise InputError("The background needs at least one k-means summary.")
    k = min(k, len(np.unique(table, axis=0)))
    fit = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(table)
    centres = fit.cluster_centers_.copy()
    for j in range(table.shape[1]):
        observed = np.unique(table[:, j])
        centres[:, j] = observed[np.abs(observed[None, :] - centres[:, j:j + 1]).argmin(axis=1)]
    weights = np.bincount(fit.labels_, minlength=k) / len(table)
    words = (f"{k} k-means summaries of {len(table)} rows (seed {seed}), each weighted by the share of rows "
             "in its cluster")
    return Background(centres, weights, words)


def as_background(background: Any, width: int) -> Background:
    """A :class:`Background` from one, a ``(rows, weights)`` pair, or a plain array (equal weights)."""
    if isinstance(background, Background):
        rows, weights, words = background.rows, background.weights, background.description
    elif isinstance(background, tuple) and len(background) == 2:
        rows, weights, words = checked_table(background[0]), np.asarray(background[1], dtype=float), ""
    else:
        rows = checked_table(background)
        weights, words = np.full(len(rows), 1.0 / len(rows)), f"{len(rows)} rows, equally weighted"
    rows = checked_table(rows)
    if rows.shape[1] != width:
        raise InputError(f"The background has {rows.shape[1]} columns but the rows to explain have {width}.")
    if weights.shape != (len(rows),) or not np.all(np.isfinite(weights)) or weights.min() < 0 or weights.sum() <= 0:
        raise InputError("The background weights must be one non-negative number per background row.")
    return Background(rows, weights / weights.sum(), words or f"{len(rows)} weighted rows")


def tree_compatible(estimator: Any) -> bool:
    """Whether TreeSHAP explains ``estimator`` in the raw feature space: a plain scikit-learn tree model."""
    from sklearn.ensemble import (
        ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
        HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor,
    )
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    trees = (DecisionTreeClassifier, DecisionTreeRegressor, RandomForestClassifier, RandomForestRegressor,
             ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
             HistGradientBoostingClassifier, HistGradientBoostingRegressor)
    return isinstance(estimator, trees)


def boosted_classifier(estimator: Any) -> bool:
    """Whether TreeSHAP's probability output is only approximate for ``estimator`` (a boosted classifier)."""
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier

    return isinstance(estimator, (GradientBoostingClassifier, HistGradientBoostingClassifier))


def explained_class(estimator: Any, rows: np.ndarray, output: np.ndarray) -> int | None:
    """For a classifier, the ``predict_proba`` column equal to ``output``; ``-1`` for a regressor whose
    ``predict`` is the output; ``None`` when the estimator's output is not the explained one."""
    if hasattr(estimator, "predict_proba"):
        probabilities = np.asarray(estimator.predict_proba(rows), dtype=float)
        for column in range(probabilities.shape[1]):
            if np.allclose(probabilities[:, column], output, rtol=0, atol=1e-7):
                return column
        return None
    return -1 if np.allclose(np.asarray(estimator.predict(rows), dtype=float), output, rtol=0, atol=1e-7) else None


def choose_method(method: str, estimator: Any, width: int, probe: tuple[np.ndarray, np.ndarray]) -> str:
    """The method that runs for ``method`` (``"auto"`` resolved), or a plain refusal."""
    if method not in METHODS:
        raise MethodError(f"Unknown Shapley method {method!r}. Choose one of: {', '.join(METHODS)}.")
    tree_ok = (estimator is not None and tree_compatible(estimator)
               and explained_class(estimator, *probe) is not None)
    if method == "tree" and not tree_ok:
        raise MethodError("TreeSHAP needs a scikit-learn decision tree or tree ensemble used directly (not inside "
                          "a pipeline) whose probability or prediction is the explained output. Choose exact, "
                          "kernel or permutation instead.")
    if method == "exact" and width > EXACT_HARD_LIMIT:
        raise MethodError(f"Exact Shapley values need 2^{width} model calls per row; with more than "
                          f"{EXACT_HARD_LIMIT} features choose kernel or permutation sampling instead.")
    if method != "auto":
        return method
    if tree_ok and not (width <= EXACT_LIMIT and boosted_classifier(estimator)):
        return "tree"
    return "exact" if width <= EXACT_LIMIT else "permutation"


def import_shap():
    """The ``shap`` module, imported without its colour-map deprecation warnings (it draws nothing for us)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import shap
    return shap


def model_calls_per_row(method: str, width: int, nsamples: int | None = None) -> int:
    """Model evaluations per explained row and per background row that ``method`` makes (0 for tree)."""
    if method == "tree":
        return 0
    if method == "exact":
        return 2 ** width
    if method == "kernel":
        return nsamples or 2 * width + 2048
    return nsamples or permutation_budget(width)


def permutation_budget(width: int) -> int:
    """The default evaluations per row of permutation sampling: ``max(500, 10(2d + 1))``."""
    return max(500, 10 * (2 * width + 1))


def tree_values(estimator: Any, column: int, rows: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, float]:
    """TreeSHAP values of the explained class's probability (``column``; -1 for a regressor)."""
    shap = import_shap()
    output = "raw" if column < 0 else "probability"
    try:
        explainer = shap.TreeExplainer(estimator, background, model_output=output,
                                       feature_perturbation="interventional")
        values = np.asarray(explainer.shap_values(rows, check_additivity=False), dtype=float)
    except Exception as error:  # shap refuses some models (e.g. multi-class boosting) with its own error types
        raise MethodError(f"TreeSHAP cannot explain this {type(estimator).__name__}'s output. Choose exact, "
                          "kernel or permutation instead.", details=str(error)) from error
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    if values.ndim == 3:
        return values[:, :, column], float(base[column])
    if column == 0:  # a binary model explained through its positive class
        return -values, 1.0 - float(base[0])
    return values, float(base[0])


def masker_values(kind: str, predict: Callable, rows: np.ndarray, background: np.ndarray, nsamples: int | None,
                  seed: int) -> tuple[np.ndarray, float]:
    """Exact or permutation Shapley values with an equally weighted background."""
    shap = import_shap()
    masker = shap.maskers.Independent(background, max_samples=len(background))
    if kind == "exact":
        explanation = shap.explainers.Exact(predict, masker)(rows, silent=True)
    else:
        budget = nsamples if nsamples is not None else permutation_budget(rows.shape[1])
        explanation = shap.explainers.Permutation(predict, masker, seed=seed)(rows, max_evals=budget, silent=True)
    return np.asarray(explanation.values, dtype=float), float(np.asarray(explanation.base_values).reshape(-1)[0])


def kernel_values(predict: Callable, rows: np.ndarray, background: Background, nsamples: int | None,
                  seed: int) -> tuple[np.ndarray, float]:
    """KernelSHAP values; the background's weights are used as given."""
    shap = import_shap()
    from shap.utils._legacy import DenseData

    names = [str(j) for j in range(rows.shape[1])]
    data = DenseData(background.rows, names, None, background.weights.copy())
    explainer = shap.KernelExplainer(predict, data)
    state = np.random.get_state()
    np.random.seed(seed)  # KernelSHAP samples coalitions from numpy's global generator
    try:
        values = explainer.shap_values(rows, nsamples="auto" if nsamples is None else nsamples, silent=True)
    finally:
        np.random.set_state(state)
    base = float(np.asarray(explainer.expected_value).reshape(-1)[0])
    return np.asarray(values, dtype=float).reshape(rows.shape), base


def shapley_values(predict: Callable[[np.ndarray], np.ndarray], X_explain: Any, background: Any, *,
                   estimator: Any = None, method: str = "auto", nsamples: int | None = None, seed: int = 0,
                   feature_names: Sequence[str] | None = None, batch_rows: int | None = None,
                   token: CancelToken | None = None, progress=no_progress) -> ShapleyResult:
    """Shapley values of ``predict`` for each row of ``X_explain`` against ``background``.

    Parameters
    ----------
    predict
        Rows ``(n, d)`` to the explained output ``(n,)``.
    X_explain
        Rows to explain, ``(n, d)``; not modified.
    background
        A :class:`Background`, a ``(rows, weights)`` pair or plain rows (equal weights).
    estimator
        The fitted scikit-learn model behind ``predict``, for TreeSHAP.
    method
        ``"auto"`` (tree, except boosted classifiers up to :data:`EXACT_LIMIT` features; else exact up
        to :data:`EXACT_LIMIT` features, else permutation), ``"exact"``,
        ``"tree"``, ``"kernel"`` or ``"permutation"``.
    nsamples
        Model evaluations per row for kernel (default ``2d + 2048``) and permutation
        (default ``max(500, 10(2d + 1))``).
    seed
        Seed of the sampled methods.
    batch_rows
        Rows explained between cancellation checks.

    Raises
    ------
    MethodError
        When the efficiency gap exceeds :data:`EFFICIENCY_TOLERANCE` times the output spread.
    """
    rows = checked_table(X_explain)
    width = rows.shape[1]
    back = as_background(background, width)
    if feature_names is not None and len(feature_names) != width:
        raise InputError(f"{len(feature_names)} feature names were given for {width} columns.")
    output = checked_outputs(predict(rows), len(rows))
    chosen = choose_method(method, estimator, width, (rows, output))
    column = explained_class(estimator, rows, output) if chosen == "tree" else None
    equal = np.allclose(back.weights, back.weights[0])
    parts = [(back.rows, 1.0)] if equal or chosen == "kernel" else \
        [(back.rows[k:k + 1], w) for k, w in enumerate(back.weights) if w > 0]

    def one_batch(batch: np.ndarray) -> tuple[np.ndarray, float]:
        total, base = np.zeros(batch.shape), 0.0
        for part, weight in parts:
            if chosen == "tree":
                values, b = tree_values(estimator, column, batch, part)
            elif chosen == "kernel":
                values, b = kernel_values(predict, batch, back, nsamples, seed)
            else:
                values, b = masker_values(chosen, predict, batch, part, nsamples, seed)
            total, base = total + weight * values, base + weight * b
        return total, base

    if chosen == "tree" and method == "auto":
        try:
            tree_values(estimator, column, rows[:1], back.rows[:1])
        except MethodError:
            chosen = "exact" if width <= EXACT_LIMIT else "permutation"
    step = batch_rows or (200 if chosen == "tree" else 20 if chosen == "exact" else 5)
    collected, base = [], 0.0
    for start in range(0, len(rows), step):
        if token is not None:
            token.check()
        values, base = one_batch(rows[start:start + step])
        collected.append(values)
        done = min(start + step, len(rows))
        progress(done / len(rows), Step.count("Shapley values", done, len(rows), "rows"))
    values = np.concatenate(collected)
    if not np.all(np.isfinite(values)):
        raise MethodError("The Shapley values came out missing or infinite; check the model's outputs.")
    gap = float(np.max(np.abs(base + values.sum(axis=1) - output)))
    spread = max(float(np.ptp(np.concatenate([output, [base]]))), float(np.abs(output).max()) * 1e-3, 1e-12)
    if gap > EFFICIENCY_TOLERANCE[chosen] * spread:
        raise MethodError(f"The {chosen} Shapley values do not add up to the model's output (off by {gap:.3g}); "
                          "they cannot be trusted. Try the exact or permutation method, or more samples.")
    return ShapleyResult(values=values, base_value=base, method=chosen, output=output, efficiency_gap=gap,
                         feature_names=None if feature_names is None else tuple(feature_names),
                         background=back.description)
