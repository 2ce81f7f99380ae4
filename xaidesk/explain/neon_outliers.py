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

The registered methods that use these scores are in :mod:`xaidesk.explain.neon`; γ is chosen
by :mod:`xaidesk.explain.neon_gamma`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core import CancelToken, MethodError, Step, no_progress

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
