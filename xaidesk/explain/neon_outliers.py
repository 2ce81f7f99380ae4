"""NEON for outlier scores: the soft-min nearest-neighbour score and its kernel-density twin.

Scores (Montavon et al. 2020, "Explaining the predictions of unsupervised learning models")
-------------------------------------------------------------------------------------------
With squared distances z_jk = ||x_j - x_k||², the soft-min outlier score of row j is

    y_j = -(1/γ) log( (1/M) Σ_{k∈K_j} exp(-γ z_jk) )

computed with the log-sum-exp trick (the smallest z_jk is taken out before the exp).

- ``neon.knn`` (soft-min): K_j = all rows but j, M = N - 1.
- ``neon.kde``: p̃(x) = (1/M) Σ_k exp(-γ ||x - u_k||²) and o(x) = -(1/γ) log p̃(x).
  For the rows of the table themselves we use **leave-one-out** by default
  (K_j excludes j, M = N - 1): the density of a row is then estimated from the
  other rows, which is the natural choice (with its own kernel every row would
  get exp(0) = 1 added to its density). With leave-one-out the KDE score of a
  row equals the soft-min score; the two differ in their explanation: KDE
  uses the stabiliser ε of the talk's formula (below), and ``leave_one_out=False``
  gives the density of the full sample (M = N, own kernel included; its share
  of the relevance has no direction in feature space and is reported as absorbed).
  New points (``query``) are always scored against all N rows.

Explanation (NEON: neuralise, then propagate with LRP)
------------------------------------------------------
- layer 2 -> neighbours: R_k = p_jk y_j with p_jk = exp(-γ z_jk) / Σ_{k'} exp(-γ z_jk')
  (the soft-min weights: the nearest neighbours take most of the score);
- layer 1 -> features: R_i = Σ_k (x_ki - x_ji)² / (ε + z_jk) · R_k.

With ε = 0 the feature relevances sum to y_j exactly (conservation). A
neighbour at distance 0 (a duplicate row) has no direction: with ε = 0 its
share is spread evenly over the features (conservation kept), with ε > 0 it is
absorbed. Whatever ε absorbs is returned as ``absorbed`` so that
``relevance.sum(1) + absorbed == scores`` always holds.

Computation
-----------
All rows at once (:func:`outlier_scores`) works in row chunks: a chunk of b
rows needs b x N distances (``max_chunk_elements`` bounds b·N, 4 M doubles =
32 MB per buffer by default), never the N x N matrix. Distances come from the
expansion ||a||² + ||b||² - 2 aᵀb on mean-centred data (BLAS), the relevance
from the same expansion of Σ_k A_jk (x_ki - x_ji)², so scores and relevance of
every row cost one pass of O(N² F). The two b x N buffers are allocated once and
every step works in place (fresh allocations of that size cost as much as the
exp). Everything is float64 by default (torch on the CPU, using its thread
setting); ``precision="float32"`` halves the time of the distance and exp blocks. The token is checked and progress reported between
chunks. One row (:func:`explain_row`) is a single direct pass over its N
neighbours.

Registered methods (modality ``"table"``, through :func:`xaidesk.explain.table.explain_table`):
``neon.knn``, ``neon.kde`` and ``neon.kmeans`` (k-means from :mod:`xaidesk.explain.kmeans`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core import CancelToken, Explanation, MethodError, Param, Step, Target, no_progress, register_method
from ..core.registry import TAG_LABEL_FREE, TAG_OUTLIER_SCORE
from . import kmeans as _kmeans
from .table import MODALITY, STANDARDIZE, THETA, preprocess_table, sub_progress, table_extras

DEFAULT_CHUNK_ELEMENTS = 1 << 22


@dataclass
class OutlierResult:
    """Scores (N,), relevance (N, F) or None, absorbed (N,) relevance (zero when conserved)."""

    scores: np.ndarray
    relevance: np.ndarray | None
    absorbed: np.ndarray | None
    gamma: float
    leave_one_out: bool = True
    epsilon: float = 0.0


@dataclass
class RowExplanation:
    """The NEON explanation of one row.

    Attributes
    ----------
    row
        Index of the row in the matrix (``None`` for a query point).
    score
        Its outlier score.
    relevance
        (F,) feature relevance; ``relevance.sum() + absorbed == score``.
    absorbed
        Relevance absorbed by ε (0 when ε = 0 and no duplicate).
    neighbours
        Indices of the ``top`` most relevant neighbours, most relevant first.
    neighbour_relevance
        Their layer-2 relevance R_k = p_k · score.
    neighbour_weights
        Their soft-min weights p_k (sum over all neighbours = 1).
    """

    row: int | None
    score: float
    relevance: np.ndarray
    absorbed: float
    neighbours: np.ndarray
    neighbour_relevance: np.ndarray
    neighbour_weights: np.ndarray


def _check(X: np.ndarray, gamma: float) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise MethodError(f"The data must be a table (rows x features); got shape {X.shape}.")
    if X.shape[0] < 3:
        raise MethodError("Outlier scores need at least 3 rows.")
    if not np.all(np.isfinite(X)):
        raise MethodError("The data contain missing or infinite values; handle them before scoring.")
    if not (gamma > 0 and np.isfinite(gamma)):
        raise MethodError(f"γ (gamma) must be a positive number; got {gamma}.")
    return X


def chunk_rows(n_reference: int, max_chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> int:
    """Rows per chunk so that a chunk's distance block has at most ``max_chunk_elements`` entries."""
    return int(max(1, min(n_reference, max_chunk_elements // max(n_reference, 1))))


def outlier_scores(
    X: np.ndarray,
    gamma: float,
    *,
    explain: bool = True,
    leave_one_out: bool = True,
    epsilon: float = 0.0,
    query: np.ndarray | None = None,
    chunk: int | None = None,
    max_chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    precision: str = "float64",
    token: CancelToken | None = None,
    progress=None,
) -> OutlierResult:
    """Soft-min / KDE outlier scores of every row (or of ``query`` rows), with NEON relevance.

    Parameters
    ----------
    X
        (N, F) reference rows (already preprocessed).
    gamma
        Stiffness γ > 0 (1 / squared-distance units).
    explain
        Also compute the (N, F) relevance (same pass; about 1.5x the time).
    leave_one_out
        Exclude row j from its own sum (soft-min; KDE default). Ignored for ``query``.
    epsilon
        Stabiliser ε >= 0 of the layer-1 rule.
    query
        Score these (Q, F) rows against all N rows of ``X`` instead.
    chunk
        Rows per chunk (default: from ``max_chunk_elements``); any value works,
        it need not divide N.
    precision
        ``"float64"`` (default; what the tests check) or ``"float32"`` for the
        distance and exp blocks (about twice as fast; per-row sums, scores and
        relevance are still assembled in float64; scores agree to about 1e-6
        relative).
    """
    X = _check(X, gamma)
    if epsilon < 0:
        raise MethodError("ε (epsilon) must be zero or positive.")
    if precision not in ("float64", "float32"):
        raise MethodError("precision is 'float64' or 'float32'.")
    dtype = torch.float64 if precision == "float64" else torch.float32
    token = token or CancelToken()
    progress = progress or no_progress
    n, f = X.shape
    centre = X.mean(axis=0)
    ref64 = torch.from_numpy(X - centre)
    if query is not None:
        query = np.asarray(query, dtype=np.float64)
        if query.ndim != 2 or query.shape[1] != f:
            raise MethodError(f"The rows to score must have {f} features.")
        rows64 = torch.from_numpy(query - centre)
        leave_one_out = False
        count = n
    else:
        rows64 = ref64
        count = n - 1 if leave_one_out else n
    q = rows64.shape[0]
    ref_sq = (ref64 * ref64).sum(1)
    rows_sq = ref_sq if query is None else (rows64 * rows64).sum(1)
    # u_jk = γ(||x_k||² - 2 x_j·x_k) = [x_j, 1] · [-2γ x_k, γ||x_k||²]: one matmul per chunk; the row
    # constant γ||x_j||² cancels in the soft-min shift and is added back for the score.
    left = torch.cat([rows64, torch.ones(q, 1, dtype=torch.float64)], dim=1).to(dtype)
    right = torch.cat([-2.0 * gamma * ref64, gamma * ref_sq[:, None]], dim=1).to(dtype).T.contiguous()
    if explain:
        # Σ_k A_jk (x_ki - x_ji)² = (A @ x²)_i - 2 x_ji (A @ x)_i + x_ji² Σ_k A_jk: one more matmul
        stack = torch.cat([ref64 * ref64, ref64, torch.ones(n, 1, dtype=torch.float64)], dim=1).to(dtype)
    step = int(chunk) if chunk else chunk_rows(n, max_chunk_elements)
    step = max(1, min(step, q))
    scores = np.empty(q)
    relevance = np.empty((q, f)) if explain else None
    absorbed = np.zeros(q) if explain else None
    log_count = float(np.log(count))
    # squared distances at or below this are treated as zero (rounding of the expansion)
    tiny = (1e-12 if dtype == torch.float64 else 1e-5) * max(float(ref_sq.mean()), 1e-300)
    u_buffer = torch.empty((step, n), dtype=dtype)
    e_buffer = torch.empty((step, n), dtype=dtype)
    with torch.no_grad():
        for start in range(0, q, step):
            token.check()
            stop = min(q, start + step)
            b = stop - start
            u = u_buffer[:b]
            e = e_buffer[:b]
            torch.mm(left[start:stop], right, out=u)
            if leave_one_out:
                idx = torch.arange(start, stop)
                u[idx - start, idx] = float("inf")
            umin = u.min(dim=1).values
            torch.sub(umin[:, None], u, out=e)
            e.exp_()
            total = e.sum(dim=1, dtype=torch.float64)
            zmin = umin.double() / gamma + rows_sq[start:stop]
            zmin.clamp_(min=0.0)
            y = zmin - (torch.log(total) - log_count) / gamma
            scores[start:stop] = y.numpy()
            if explain:
                # z_jk = u_jk / γ + ||x_j||², in place; layer-2 relevance R_k = p_jk y_j, in place
                u.div_(gamma).add_(rows_sq[start:stop, None].to(dtype))
                e.mul_((y / total)[:, None].to(dtype))
                zero = u <= tiny
                uniform = None
                if epsilon == 0.0:
                    if bool(zero.any()):
                        uniform = (e * zero).sum(dim=1, dtype=torch.float64) / f
                        e.masked_fill_(zero, 0.0)
                        u.masked_fill_(zero, 1.0)
                    e.div_(u)
                else:
                    u.clamp_(min=0.0).add_(epsilon)
                    e.div_(u)
                parts = (e @ stack).double()
                block = rows64[start:stop]
                rel = parts[:, :f] - 2.0 * block * parts[:, f:2 * f] + block * block * parts[:, 2 * f:]
                if uniform is not None:
                    rel += uniform[:, None]
                relevance[start:stop] = rel.numpy()
                if epsilon > 0.0:
                    absorbed[start:stop] = (y - rel.sum(dim=1)).numpy()
            progress(stop / q, Step(f"scored {stop:,} of {q:,} rows", stop, q, "rows"))
    return OutlierResult(
        scores=scores,
        relevance=relevance,
        absorbed=absorbed,
        gamma=float(gamma), leave_one_out=leave_one_out, epsilon=float(epsilon),
    )


def explain_row(
    X: np.ndarray,
    row: int | None,
    gamma: float,
    *,
    point: np.ndarray | None = None,
    leave_one_out: bool = True,
    epsilon: float = 0.0,
    top: int = 10,
) -> RowExplanation:
    """NEON explanation of one row ``row`` of ``X`` (or of a new ``point``): one pass over the N rows."""
    X = _check(X, gamma)
    n, f = X.shape
    x = X[row] if point is None else np.asarray(point, dtype=np.float64)
    diff2 = X - x
    np.square(diff2, out=diff2)
    z = diff2.sum(axis=1)
    mask = np.ones(n, dtype=bool)
    if point is None and leave_one_out:
        mask[row] = False
    count = mask.sum()
    zm = np.where(mask, z, np.inf)
    zmin = zm.min()
    e = np.exp(-gamma * (zm - zmin))
    s = e.sum()
    y = zmin - (np.log(s) - np.log(count)) / gamma
    p = e / s
    r_k = p * y
    zero = mask & (z <= 1e-300)
    if epsilon == 0.0:
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(zero | ~mask, 0.0, r_k / np.where(zero | ~mask, 1.0, z))
        relevance = a @ diff2 + r_k[zero].sum() / f
    else:
        a = np.where(mask, r_k / (z + epsilon), 0.0)
        relevance = a @ diff2
    absorbed = float(y - relevance.sum()) if epsilon > 0 else 0.0
    order = np.argsort(-r_k)[: min(top, int(count))]
    return RowExplanation(
        row=row if point is None else None, score=float(y), relevance=relevance, absorbed=absorbed,
        neighbours=order, neighbour_relevance=r_k[order], neighbour_weights=p[order],
    )


# --- choosing γ -------------------------------------------------------------------------------


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


# --- the registered methods (modality "table") -------------------------------------------------


GAMMA = Param(
    "gamma", "str", "auto",
    "Stiffness γ of the soft minimum: larger values look only at the nearest rows. "
    "A positive number, or 'auto' to choose it by bootstrap.",
    label="stiffness γ", choice_titles={"auto": "Automatic"},
)


def _parse_gamma(value) -> float | str:
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    try:
        gamma = float(text)
    except ValueError:
        raise MethodError(f"γ (gamma) must be a positive number or 'auto'; got '{value}'.") from None
    if not (gamma > 0 and np.isfinite(gamma)):
        raise MethodError(f"γ (gamma) must be a positive number; got '{value}'.")
    return gamma


def _outliers(x, params, token, progress, *, epsilon: float, leave_one_out: bool, name: str) -> Explanation:
    start = time.perf_counter()
    _, names, pre = preprocess_table(x, params)
    gamma = _parse_gamma(params["gamma"])
    extras = {}
    lo = 0.0
    if gamma == "auto":
        selection = select_gamma(pre.values, token=token, progress=sub_progress(progress, 0.0, 0.3))
        gamma = selection.chosen
        extras["gamma_selection"] = selection.to_dict()
        lo = 0.3
    result = outlier_scores(pre.values, gamma, explain=True, leave_one_out=leave_one_out, epsilon=epsilon,
                                  token=token, progress=sub_progress(progress, lo, 1.0))
    label = "outlier score (soft-min distance)" if name == "neon.knn" else "outlier score (-log density / γ)"
    return Explanation(
        relevance=result.relevance, method=name, target=Target(0, "outlier score"),
        score=float(result.scores.max()), params=dict(params), seconds=time.perf_counter() - start,
        extras=table_extras(pre, result.scores, result.absorbed, label, gamma=float(gamma), **extras),
    )


@register_method(
    "neon.knn", modality=MODALITY, title="Outliers: soft-min nearest neighbours (NEON)",
    tags=[TAG_LABEL_FREE, TAG_OUTLIER_SCORE], default_for=("table",), order=0,
    params=[GAMMA, THETA, STANDARDIZE],
)
def explain_knn(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Score every row by its soft-min squared distance to the other rows and explain the score per feature (NEON)."""
    return _outliers(x, params, token, progress, epsilon=0.0, leave_one_out=True, name="neon.knn")


@register_method(
    "neon.kde", modality=MODALITY, title="Outliers: kernel density (NEON)",
    tags=[TAG_LABEL_FREE, TAG_OUTLIER_SCORE], order=1,
    params=[
        GAMMA, THETA, STANDARDIZE,
        Param("epsilon", "float", 0.01, "Stabiliser ε of the relevance rule; the relevance it absorbs is reported.",
              minimum=0.0, maximum=1e6, label="stabiliser (ε)"),
        Param("leave_one_out", "bool", True, "Estimate each row's density from the other rows (recommended).",
              label="leave the row out"),
    ],
)
def explain_kde(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Score every row by minus the log of a Gaussian kernel density at it and explain the score per feature (NEON)."""
    return _outliers(x, params, token, progress, epsilon=float(params["epsilon"]),
                     leave_one_out=bool(params["leave_one_out"]), name="neon.kde")


@register_method(
    "neon.kmeans", modality=MODALITY, title="Clusters: k-means, neuralised (NEON)",
    tags=[TAG_LABEL_FREE], order=2,
    params=[
        Param("clusters", "int", 0, "Number of clusters; Automatic (0) chooses it by the silhouette (k = 2 to 10).",
              minimum=0, maximum=50, minimum_text="Automatic", label="number of clusters"),
        Param("beta", "float", 1.0, "Stiffness β of the soft minimum over the competing clusters: larger values "
              "compare each row only with its nearest competing cluster.", minimum=1e-6, maximum=1e6,
              label="focus on the nearest rival cluster (β)"),
        Param("rule", "choice", "midpoint",
              "How relevance reaches the features: 'midpoint' (conserved exactly) or 'epsilon' (LRP-ε, biases absorb some).",
              choices=("midpoint", "epsilon"), label="relevance rule",
              choice_titles={"midpoint": "Midpoint (adds up exactly)", "epsilon": "LRP-ε (biases absorb some)"}),
        THETA, STANDARDIZE,
        Param("seed", "int", 0, "Start value of k-means' random choices; the same seed gives the same clusters.",
              minimum=0, maximum=2**31 - 1, label="random seed (same seed, same result)"),
    ],
)
def explain_kmeans(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Cluster the rows with k-means and explain each row's cluster membership per feature (neuralised k-means)."""
    start = time.perf_counter()
    _, names, pre = preprocess_table(x, params)
    extras = {}
    k = int(params["clusters"])
    seed = int(params["seed"])
    lo = 0.0
    if k == 0:
        choice = _kmeans.choose_k(pre.values, seed=seed, token=token, progress=sub_progress(progress, 0.0, 0.5))
        k = choice.suggested
        extras["k_choice"] = choice.to_dict()
        lo = 0.5
    token.check()
    fitted = _kmeans.fit_kmeans(pre.values, k, seed)
    result = _kmeans.explain_clusters(pre.values, fitted.cluster_centers_, labels=fitted.labels_,
                                      beta=float(params["beta"]), rule=params["rule"], token=token,
                                      progress=sub_progress(progress, lo, 1.0))
    extras.update(
        clusters=k, labels=result.labels, centroids=result.centroids, membership=result.membership,
        logit=result.logit, cluster_relevance=result.cluster_relevance.tolist(), cluster_sizes=result.sizes.tolist(),
        inertia=float(fitted.inertia_),
    )
    return Explanation(
        relevance=result.relevance, method="neon.kmeans", target=Target(0, "cluster evidence"),
        score=float(np.mean(result.evidence)), params=dict(params), seconds=time.perf_counter() - start,
        extras=table_extras(pre, result.evidence, result.absorbed,
                              "cluster evidence (soft-min margin to the other clusters)", **extras),
    )
