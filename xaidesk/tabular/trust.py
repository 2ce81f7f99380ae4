"""How far to trust an explanation of a table model: stability, consistency, certainty and fidelity.

Every measure works on an *explainer*: ``explainer(rows (n, d), seed) -> importances (n, d)``, the
signed per-feature attributions of the explained output, so that every method is measured the same
way. Ready explainers: :func:`shapley_explainer`, :func:`lime_explainer` (xaidesk's LIME),
:func:`lime_package_explainer` (the ``lime`` package) and :func:`linear_explainer`. The LIME
explainers draw row ``i`` of a call with seed ``seed + i``, as one sampler run over the rows would;
KernelSHAP and permutation sampling draw all rows from ``seed``.

Explanations are compared by the Spearman rank correlation of their absolute importances
(:func:`rank_agreement`): 1 when the features are ranked alike, 0 when unrelated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..core import CancelToken, InputError, MethodError, Step, no_progress
from .dependence import checked_table
from .shapley import shapley_values

Explainer = Callable[[np.ndarray, int], np.ndarray]


def lime_tabular(*args, **kwargs):
    """xaidesk's LIME for tables (:func:`xaidesk.explain.table_lime.lime_tabular`), imported on first use
    (it loads torch, which the window must not load while it opens)."""
    from ..explain.table_lime import lime_tabular as run

    return run(*args, **kwargs)

#: Mean rank correlation from which explanations count as "stable", and as "somewhat stable"; below: "unstable".
#: With 10 features, one swap of neighbouring ranks costs about 0.01 and one swap across three ranks about 0.05.
STABLE_FROM = 0.95
SOMEWHAT_STABLE_FROM = 0.8


def verdict(agreement: float) -> str:
    """``"stable"`` from :data:`STABLE_FROM`, ``"somewhat stable"`` from :data:`SOMEWHAT_STABLE_FROM`, else
    ``"unstable"``."""
    return "stable" if agreement >= STABLE_FROM else "somewhat stable" if agreement >= SOMEWHAT_STABLE_FROM \
        else "unstable"


def rank_agreement(reference: Any, others: Any) -> np.ndarray:
    """Spearman rank correlation between ``reference`` ``(d,)`` and each row of ``others`` ``(m, d)``.

    Ties get average ranks (as :func:`scipy.stats.spearmanr`). Where a vector is constant (no ranking),
    the correlation is 1 if both are constant and 0 otherwise, never missing.
    """
    reference = np.asarray(reference, dtype=float).reshape(-1)
    others = np.atleast_2d(np.asarray(others, dtype=float))
    if others.shape[1] != reference.size or reference.size < 2:
        raise InputError("Rank agreement needs explanations of the same two or more features.")
    if not (np.all(np.isfinite(reference)) and np.all(np.isfinite(others))):
        raise InputError("Rank agreement needs finite importances; these have missing or infinite values.")
    from scipy.stats import rankdata  # scipy.stats takes most of a second to import: only when measuring

    a = rankdata(reference) - (reference.size + 1) / 2
    b = rankdata(others, axis=1) - (reference.size + 1) / 2
    norm_a, norm_b = np.sqrt((a * a).sum()), np.sqrt((b * b).sum(axis=1))
    both = (norm_a > 0) & (norm_b > 0)
    correlation = np.where(both, (b @ a) / np.where(both, norm_a * norm_b, 1.0), 0.0)
    correlation[(norm_a == 0) & (norm_b == 0)] = 1.0
    return np.clip(correlation, -1.0, 1.0)


def explain_checked(explainer: Explainer, rows: np.ndarray, seed: int) -> np.ndarray:
    """``explainer(rows, seed)`` as a finite ``(n, d)`` array, or a plain :class:`MethodError`."""
    values = np.asarray(explainer(rows.copy(), int(seed)), dtype=float)
    if values.shape != rows.shape:
        raise MethodError(f"The explainer gave importances of shape {values.shape} for rows of shape {rows.shape}; "
                          "it must give one importance per feature and row.")
    if not np.all(np.isfinite(values)):
        raise MethodError("The explainer gave missing or infinite importances; check the model's outputs.")
    return values


# ---- explainers ---------------------------------------------------------------------------------------------

def shapley_explainer(predict: Callable, background: Any, *, estimator: Any = None, method: str = "auto",
                      nsamples: int | None = None) -> Explainer:
    """Shapley values of ``predict`` against ``background`` (see :func:`~xaidesk.tabular.shapley.shapley_values`)."""
    def explain(rows: np.ndarray, seed: int) -> np.ndarray:
        return shapley_values(predict, rows, background, estimator=estimator, method=method, nsamples=nsamples,
                              seed=seed).values
    return explain


def lime_explainer(predict: Callable, training: Any, *, num_samples: int = 5000,
                   sample_around_instance: bool = False, kernel_width: float | None = None) -> Explainer:
    """xaidesk's LIME for tables (:func:`~xaidesk.explain.table_lime.lime_tabular`): its contributions."""
    training = checked_table(training)

    def explain(rows: np.ndarray, seed: int) -> np.ndarray:
        return np.stack([lime_tabular(predict, row, training, num_samples=num_samples, kernel_width=kernel_width,
                                      sample_around_instance=sample_around_instance, seed=seed + i).contributions
                         for i, row in enumerate(rows)])
    return explain


def lime_package_explainer(predict: Callable, training: Any, *, num_samples: int = 5000, discretize: bool = True,
                           sample_around_instance: bool = False) -> Explainer:
    """The ``lime`` package's ``LimeTabularExplainer`` (regression mode on the explained output).

    With ``discretize`` (the package's default) each feature's importance is the weight of "the value
    lies in the row's quartile"; without, it is the coefficient times the scaled value, as xaidesk's.
    """
    try:
        from lime.lime_tabular import LimeTabularExplainer
    except ImportError:
        raise MethodError("The lime package is not installed; install it (pip install lime) to compare with it, "
                          "or use xaidesk's own LIME.") from None
    training = checked_table(training)

    def explain(rows: np.ndarray, seed: int) -> np.ndarray:
        values = np.zeros(rows.shape)
        for i, row in enumerate(rows):
            lime = LimeTabularExplainer(training, mode="regression", discretize_continuous=discretize,
                                        feature_selection="none", random_state=seed + i,
                                        sample_around_instance=sample_around_instance)
            found = lime.explain_instance(row, predict, num_features=rows.shape[1], num_samples=num_samples)
            for j, weight in found.local_exp[1]:
                values[i, j] = weight
            if not discretize:
                values[i] *= (row - lime.scaler.mean_) / lime.scaler.scale_
        return values
    return explain


def linear_explainer(estimator: Any, training: Any, positive: int = 1) -> Explainer:
    """Coefficient × (x − mean) of a linear model, on the log-odds of class ``positive`` for a classifier.

    ``estimator`` is a fitted scikit-learn linear model, alone or after a ``StandardScaler`` in a
    pipeline (as :mod:`xaidesk.tabular.models` fits them; pass ``FittedModel.positive``); ``training``
    gives the mean. The importances add up to the output minus the output at the mean.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = list(estimator) if isinstance(estimator, Pipeline) else [estimator]
    final, scalers = steps[-1], steps[:-1]
    if not hasattr(final, "coef_") or any(not isinstance(s, StandardScaler) for s in scalers):
        raise MethodError("Coefficient explanations need a linear model (with at most a standard scaler before "
                          "it); use Shapley values or LIME for this model.")
    coef = np.atleast_2d(np.asarray(final.coef_, dtype=float))
    if len(coef) > 1:
        coef = coef[positive]
    else:
        coef = coef[0] * (-1.0 if positive == 0 and len(getattr(final, "classes_", ())) == 2 else 1.0)
    for scaler in scalers:
        if scaler.scale_ is not None:
            coef = coef / scaler.scale_
    mean = checked_table(training).mean(axis=0)
    if mean.size != coef.size:
        raise InputError(f"The model has {coef.size} coefficients but the training table {mean.size} columns.")
    return lambda rows, seed: (checked_table(rows) - mean) * coef


# ---- the measures ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StabilityResult:
    """How alike the explanations of a row and of rows close to it are.

    Attributes
    ----------
    row
        Index of the explained row in the table.
    mode
        ``"neighbours"`` (the nearest rows, standardised distance) or ``"noise"`` (perturbed copies).
    neighbours
        Indices of the neighbours (``"neighbours"`` mode; empty otherwise).
    compared
        The neighbour or perturbed rows, ``(m, d)``.
    explanation, compared_explanations
        Importances of the row ``(d,)`` and of the compared rows ``(m, d)``.
    correlations
        Rank correlation of |importances| of the row's explanation with each compared one, ``(m,)``.
    mean, spread
        Their mean and standard deviation.
    verdict
        ``"stable"``, ``"somewhat stable"`` or ``"unstable"`` (:func:`verdict` of ``mean``).
    """

    row: int
    mode: str
    neighbours: np.ndarray
    compared: np.ndarray
    explanation: np.ndarray
    compared_explanations: np.ndarray
    correlations: np.ndarray
    mean: float
    spread: float
    verdict: str


def stability(explainer: Explainer, X: Any, row: int, *, neighbours: int = 10, noise: float | None = None,
              seed: int = 0, token: CancelToken | None = None, progress=no_progress) -> StabilityResult:
    """Explain row ``row`` of ``X`` and ``neighbours`` rows close to it, and compare the explanations.

    Parameters
    ----------
    explainer
        ``explainer(rows, seed) -> importances``.
    X
        The table ``(n, d)``; not modified.
    row
        Index of the row to explain.
    neighbours
        How many rows to compare with: the nearest other rows of ``X`` (Euclidean distance on columns
        divided by their standard deviation), or, with ``noise``, that many perturbed copies.
    noise
        When given, the copies are the row plus Gaussian noise of ``noise`` × each column's standard
        deviation (e.g. 0.05), instead of the table's neighbours.
    seed
        Seed of the noise and of the explainer.
    """
    table = checked_table(X)
    n = len(table)
    if not isinstance(row, (int, np.integer)) or not 0 <= row < n:
        raise InputError(f"Row {row} is not in the table; choose a row between 0 and {n - 1}.")
    if neighbours < 1:
        raise InputError("Stability needs at least one neighbour to compare with.")
    scale = table.std(axis=0)
    scale[scale == 0] = 1.0
    if noise is None:
        if neighbours > n - 1:
            raise InputError(f"The table has {n - 1} other rows; ask for at most that many neighbours "
                             f"(asked {neighbours}).")
        distance = np.sqrt((((table - table[row]) / scale) ** 2).sum(axis=1))
        distance[row] = np.inf
        chosen = np.argsort(distance, kind="stable")[:neighbours]
        compared, mode = table[chosen], "neighbours"
    else:
        if not np.isfinite(noise) or noise <= 0:
            raise InputError(f"The noise must be a positive share of each column's spread; got {noise}.")
        chosen = np.zeros(0, dtype=int)
        rng = np.random.default_rng(seed)
        compared = table[row] + rng.normal(size=(neighbours, table.shape[1])) * scale * noise
        mode = "noise"
    if token is not None:
        token.check()
    progress(0.0, Step.count("Explanations", 0, neighbours + 1, "rows"))
    values = explain_checked(explainer, np.vstack([table[row], compared]), seed)
    progress(1.0, Step.count("Explanations", neighbours + 1, neighbours + 1, "rows"))
    correlations = rank_agreement(np.abs(values[0]), np.abs(values[1:]))
    mean = float(correlations.mean())
    return StabilityResult(int(row), mode, chosen, compared, values[0], values[1:], correlations, mean,
                           float(correlations.std()), verdict(mean))


@dataclass(frozen=True)
class ConsistencyResult:
    """How alike two explainers (e.g. two models) explain the same rows.

    ``correlations`` ``(n,)`` holds each row's rank correlation of |importances|; ``mean`` their mean.
    """

    explanations_a: np.ndarray
    explanations_b: np.ndarray
    correlations: np.ndarray
    mean: float


def consistency(explainer_a: Explainer, explainer_b: Explainer, rows: Any, *, seed: int = 0) -> ConsistencyResult:
    """Explain ``rows`` ``(n, d)`` with both explainers and compare the explanations row by row."""
    rows = checked_table(rows)
    a, b = explain_checked(explainer_a, rows, seed), explain_checked(explainer_b, rows, seed)
    correlations = np.array([rank_agreement(np.abs(x), np.abs(y))[0] for x, y in zip(a, b)])
    return ConsistencyResult(a, b, correlations, float(correlations.mean()))


@dataclass(frozen=True)
class CertaintyResult:
    """A sampled explanation's spread across seeds, for error bars.

    Attributes
    ----------
    explanations
        One row per seed, ``(s, d)``.
    mean, std
        Per feature, ``(d,)``.
    relative_spread
        ``mean(std) / mean(|explanations|)``: 0 for a deterministic method.
    seed_agreement
        Mean rank correlation of |importances| over all pairs of seeds.
    verdict
        :func:`verdict` of ``seed_agreement``.
    """

    seeds: tuple[int, ...]
    explanations: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    relative_spread: float
    seed_agreement: float
    verdict: str


def certainty(explainer: Explainer, row: Any, seeds: Sequence[int] = range(10)) -> CertaintyResult:
    """Explain one row (its feature values, ``(d,)``) once per seed and measure the spread."""
    x = checked_table(np.asarray(row, dtype=float).reshape(1, -1))
    seeds = tuple(int(s) for s in seeds)
    if len(seeds) < 2:
        raise InputError("Certainty needs at least two seeds to measure a spread.")
    values = np.vstack([explain_checked(explainer, x, s) for s in seeds])
    mean, std = values.mean(axis=0), values.std(axis=0, ddof=1)
    size = float(np.abs(values).mean())
    relative = float(std.mean() / size) if size > 0 else 0.0
    pairs = [rank_agreement(np.abs(values[i]), np.abs(values[i + 1:])) for i in range(len(seeds) - 1)]
    agreement = float(np.concatenate(pairs).mean())
    return CertaintyResult(seeds, values, mean, std, relative, agreement, verdict(agreement))


@dataclass(frozen=True)
class Fidelity:
    """How well an explanation reproduces the model: LIME's local R² per row, the Shapley efficiency gap."""

    local_r2: np.ndarray
    efficiency_gap: float
    shapley_method: str


def fidelity(predict: Callable, rows: Any, training: Any, background: Any, *, estimator: Any = None,
             shapley_method: str = "auto", lime_samples: int = 5000, seed: int = 0,
             token: CancelToken | None = None, progress=no_progress) -> Fidelity:
    """LIME's weighted R² of its local surrogate for each of ``rows``, and the Shapley values' efficiency gap
    (``max |base + Σ values − output|``) on the same rows. Cancellable between rows."""
    rows, training = checked_table(rows), checked_table(training)
    r2 = []
    for i, row in enumerate(rows):
        if token is not None:
            token.check()
        progress(0.5 * i / len(rows), Step.count("LIME's local fit", i, len(rows), "rows"))
        r2.append(lime_tabular(predict, row, training, num_samples=lime_samples, seed=seed + i).score)
    result = shapley_values(predict, rows, background, estimator=estimator, method=shapley_method, seed=seed,
                            token=token, progress=lambda f, m="": progress(0.5 + 0.5 * f, m))
    return Fidelity(np.array(r2), result.efficiency_gap, result.method)


@dataclass(frozen=True)
class ComparisonTable:
    """A small table: ``header`` and one tuple per method."""

    header: tuple[str, ...]
    rows: list[tuple]


def lime_stability_comparison(predict: Callable, X: Any, rows: Sequence[int], *, num_samples: int = 500,
                              seeds: Sequence[int] = range(5), neighbours: int = 5, noise: float = 0.05,
                              background: Any = None, token: CancelToken | None = None,
                              progress=no_progress) -> ComparisonTable:
    """The seed's warning, measured: the ``lime`` package's sampling against xaidesk's LIME.

    Each method explains the same ``rows`` of ``X`` with ``num_samples`` samples: the package with its
    default quartile bins and without them (the same algorithm as xaidesk's, which it should match),
    and xaidesk's; with a Shapley ``background``, exact (or KernelSHAP beyond 10 features) Shapley
    values too, as a reference. Per method, averaged over the rows: the agreement across ``seeds`` and
    the relative spread (:func:`certainty`), the stability under ``noise`` and over the ``neighbours``
    nearest rows (:func:`stability`), and the :func:`verdict` of the agreement across seeds. The
    neighbours differ for real, so even a deterministic method scores below 1 there.
    """
    table = checked_table(X)
    rows = [int(r) for r in rows]
    if not rows or min(rows) < 0 or max(rows) >= len(table):
        raise InputError(f"The rows to compare must lie between 0 and {len(table) - 1}.")
    methods = {
        "lime package (quartile bins, its default)": lime_package_explainer(predict, table, num_samples=num_samples),
        "lime package (continuous)": lime_package_explainer(predict, table, num_samples=num_samples,
                                                            discretize=False),
        "xaidesk LIME": lime_explainer(predict, table, num_samples=num_samples),
    }
    if background is not None:
        methods["Shapley values (reference)"] = shapley_explainer(predict, background)
    out, total = [], len(methods) * len(rows)
    for m, (name, explainer) in enumerate(methods.items()):
        measures = []
        for r, row in enumerate(rows):
            if token is not None:
                token.check()
            sure = certainty(explainer, table[row], seeds)
            measures.append((sure.seed_agreement, sure.relative_spread,
                             stability(explainer, table, row, neighbours=neighbours, noise=noise, seed=r).mean,
                             stability(explainer, table, row, neighbours=neighbours).mean))
            progress((m * len(rows) + r + 1) / total, Step.count("Compared", m * len(rows) + r + 1, total, "rows"))
        mean = [float(v) for v in np.mean(measures, axis=0)]
        out.append((name, num_samples, *mean, verdict(mean[0])))
    return ComparisonTable(("method", "samples", "agreement across seeds", "relative spread",
                            f"stability under noise ({noise:g} sd)", "stability over neighbours",
                            "verdict across seeds"), out)
