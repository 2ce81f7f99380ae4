"""Choosing NEON's stiffness γ by bootstrap, and rating how well each γ separates outliers from inliers.

:func:`select_gamma` scores the rows at every γ of a grid (:func:`gamma_grid`) against resamples of the
rows and takes the largest γ whose scores stay stable (:data:`GAMMA_RULE`); :func:`separation_check`
rates, per γ, how clearly k-means tells the top-scored rows from the bottom-scored ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import CancelToken, Step, no_progress


@dataclass
class GammaSelection:
    """Everything the γ view shows.

    Attributes
    ----------
    gammas
        The γ grid.
    mean, spread
        Per γ: the mean over rows of the bootstrap mean score, and the median
        over rows of the bootstrap standard deviation of a row's score.
    relative_spread
        ``spread / (standard deviation of the scores across rows)``: how much a
        row's score moves under resampling compared with how much scores differ
        between rows (small is stable).
    rank_stability
        Mean Spearman correlation between the scores on the full data and on
        each resample (1 = the ranking does not change).
    chosen
        The chosen γ (see ``rule``).
    rule
        The rule, in words.
    separation
        Per γ: dict with ``calinski_harabasz``, ``dunn`` and ``agreement``
        (adjusted Rand index of the k-means split vs the top/bottom split).
    rows_used
        How many rows the selection ran on (a subsample for large tables).
    """

    gammas: np.ndarray
    mean: np.ndarray
    spread: np.ndarray
    relative_spread: np.ndarray
    rank_stability: np.ndarray
    chosen: float
    rule: str
    separation: list[dict] = field(default_factory=list)
    rows_used: int = 0

    def to_dict(self) -> dict:
        return {
            "gammas": self.gammas.tolist(), "mean": self.mean.tolist(), "spread": self.spread.tolist(),
            "relative_spread": self.relative_spread.tolist(), "rank_stability": self.rank_stability.tolist(),
            "chosen": self.chosen, "rule": self.rule, "separation": self.separation, "rows_used": self.rows_used,
        }


SPREAD_TOLERANCE = 2.0
GAMMA_RULE = (
    "the largest γ (the most local score) whose bootstrap spread stays small: the relative spread "
    "(median over rows of a row's score standard deviation across resamples of 80% of the rows, divided by "
    f"the standard deviation of the scores across rows) at most {SPREAD_TOLERANCE:g} times the smallest on the grid"
)


def gamma_grid(X: np.ndarray, *, per_decade: int = 2, span: tuple[float, float] = (-2.0, 1.0), seed: int = 0) -> np.ndarray:
    """γ candidates around 1 / (median squared nearest-neighbour distance), rounded to 2 significant digits."""
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    sample = X[rng.choice(len(X), size=min(len(X), 1000), replace=False)]
    d = _squared_distances(sample)
    np.fill_diagonal(d, np.inf)
    nn = float(np.median(d.min(axis=1)))
    base = 1.0 / max(nn, 1e-12)
    exponents = np.arange(span[0] * per_decade, span[1] * per_decade + 1) / per_decade
    values = base * 10.0 ** exponents
    return np.array(sorted({float(f"{v:.2g}") for v in values}))


def select_gamma(
    X: np.ndarray,
    gammas: np.ndarray | None = None,
    *,
    resamples: int = 20,
    fraction: float = 0.8,
    max_rows: int = 2000,
    separation_rows: int = 50,
    seed: int = 0,
    token: CancelToken | None = None,
    progress=None,
) -> GammaSelection:
    """Choose γ by bootstrap (see :data:`GAMMA_RULE`) and report the top/bottom separation per γ.

    For each resample, a random ``fraction`` of the rows is the reference set;
    every row is scored against it (leaving itself out where it is in it).
    Tables larger than ``max_rows`` are first subsampled (fixed seed).
    """
    from scipy.stats import spearmanr

    X = np.asarray(X, dtype=np.float64)
    token = token or CancelToken()
    progress = progress or no_progress
    rng = np.random.default_rng(seed)
    if len(X) > max_rows:
        X = X[np.sort(rng.choice(len(X), size=max_rows, replace=False))]
    n = len(X)
    gammas = gamma_grid(X, seed=seed) if gammas is None else np.asarray(gammas, dtype=np.float64)
    d = _squared_distances(X)
    full = np.empty((len(gammas), n))
    boot = np.empty((len(gammas), resamples, n))
    m = max(3, int(round(fraction * n)))
    masks = []
    for b in range(resamples):
        members = np.zeros(n, dtype=bool)
        members[rng.choice(n, size=m, replace=False)] = True
        masks.append(members)
    steps = len(gammas) * (resamples + 1)
    done = 0
    for g, gamma in enumerate(gammas):
        full[g] = _softmin_from_distances(d, np.ones(n, dtype=bool), gamma)
        for b, members in enumerate(masks):
            token.check()
            boot[g, b] = _softmin_from_distances(d, members, gamma)
            done += 1
            progress(done / steps, Step(f"γ = {gamma:g}: resample {b + 1} of {resamples}", b + 1, resamples, "resamples"))
    mean = boot.mean(axis=1).mean(axis=1)
    row_std = boot.std(axis=1)
    spread = np.median(row_std, axis=1)
    between = full.std(axis=1)
    relative = spread / np.where(between > 0, between, np.inf)
    stability = np.array([
        np.mean([spearmanr(full[g], boot[g, b]).statistic for b in range(resamples)]) for g in range(len(gammas))
    ])
    finite = np.isfinite(relative)
    if finite.any():
        ok = np.flatnonzero(finite & (relative <= SPREAD_TOLERANCE * relative[finite].min()))
        chosen = float(gammas[ok.max()])
    else:
        ok = np.array([], dtype=int)
        chosen = float(gammas[len(gammas) // 2])
    separation = [separation_check(X, full[g], rows=separation_rows, seed=seed) for g in range(len(gammas))]
    progress(1.0, f"chose γ = {chosen:g}")
    return GammaSelection(
        gammas=gammas, mean=mean, spread=spread, relative_spread=relative, rank_stability=stability,
        chosen=chosen, rule=GAMMA_RULE if ok.size else "the scores do not vary between rows; the middle of the grid was taken",
        separation=separation, rows_used=n,
    )


def _squared_distances(X: np.ndarray) -> np.ndarray:
    """(n, n) squared distances of a small sample by the expansion (no n x n x F tensor)."""
    Xc = X - X.mean(axis=0)
    sq = (Xc * Xc).sum(axis=1)
    d = sq[:, None] + sq[None, :] - 2.0 * (Xc @ Xc.T)
    return np.maximum(d, 0.0)


def _softmin_from_distances(d: np.ndarray, members: np.ndarray, gamma: float) -> np.ndarray:
    """Soft-min score of every row against the member rows (leaving itself out), from a full distance matrix."""
    z = np.where(members[None, :], d, np.inf)
    np.fill_diagonal(z, np.inf)
    count = members.sum() - members.astype(float)  # members exclude themselves
    zmin = z.min(axis=1)
    s = np.exp(-gamma * (z - zmin[:, None])).sum(axis=1)
    return zmin - (np.log(s) - np.log(count)) / gamma


def dunn_index(X: np.ndarray, labels: np.ndarray) -> float:
    """Dunn index: smallest distance between points of different clusters / largest cluster diameter."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    clusters = [X[labels == c] for c in np.unique(labels)]
    if len(clusters) < 2:
        return float("nan")

    def distances(a, b):
        return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0))

    diameter = max(distances(c, c).max() for c in clusters)
    separation = min(
        distances(clusters[i], clusters[j]).min() for i in range(len(clusters)) for j in range(i + 1, len(clusters))
    )
    return float(separation / diameter) if diameter > 0 else float("inf")


def separation_check(X: np.ndarray, scores: np.ndarray, rows: int = 50, seed: int = 0) -> dict:
    """Top-``rows`` vs bottom-``rows`` by score: k-means (k = 2) on them, rated by Calinski-Harabasz and Dunn.

    ``agreement`` is the adjusted Rand index between the k-means split and the
    top/bottom split (1: k-means finds exactly the outliers vs the inliers).
    Where the split cannot be rated (fewer than 4 rows, or k-means finds one
    group), the ratings are ``None`` and ``note`` says why.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score

    X = np.asarray(X, dtype=np.float64)
    rows = min(rows, len(X) // 2)
    if rows < 2:  # Calinski-Harabasz needs more rows than clusters
        return {"calinski_harabasz": None, "dunn": None, "agreement": None, "rows": int(rows),
                "note": f"not rated: {len(X)} rows are too few (at least 4 are needed)"}
    order = np.argsort(scores)
    picked = np.concatenate([order[-rows:], order[:rows]])
    truth = np.r_[np.ones(rows, dtype=int), np.zeros(rows, dtype=int)]
    data = X[picked]
    from .kmeans import single_threaded

    with single_threaded():
        labels = KMeans(n_clusters=2, n_init=10, random_state=seed).fit_predict(data)
    if len(np.unique(labels)) < 2:
        return {"calinski_harabasz": None, "dunn": None, "agreement": 0.0, "rows": int(rows),
                "note": "not rated: k-means found only one group among these rows"}
    return {
        "calinski_harabasz": float(calinski_harabasz_score(data, labels)),
        "dunn": dunn_index(data, labels),
        "agreement": float(adjusted_rand_score(truth, labels)),
        "rows": int(rows),
    }
