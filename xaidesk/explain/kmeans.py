"""k-means, a helper for choosing k, and the neuralised cluster explanation (Kauffmann et al. 2019).

Neuralisation
-------------
For centroids μ_1..μ_C and a point x assigned to cluster c, define for every
competitor j ≠ c

    h_j = ||x - μ_j||² - ||x - μ_c||² = w_jᵀ x + b_j,   w_j = 2 (μ_c - μ_j),   b_j = ||μ_j||² - ||μ_c||²

(layer 1, linear in x) and the cluster evidence as a soft minimum over the competitors (layer 2)

    f_c(x) = -(1/β) log Σ_{j≠c} exp(-β h_j).

With p_c the softmax membership at stiffness β, p_c = exp(-β||x-μ_c||²) / Σ_j exp(-β||x-μ_j||²),
the logit is β f_c(x) = log(p_c / (1 - p_c)) (tested); with β = 1 f_c *is* the logit. We
explain f_c (in squared-distance units, like the outlier scores).

Relevance (the paper's rules, as implemented here)
--------------------------------------------------
- layer 2 -> competitors: R_j = exp(-β h_j) / Σ_{j'≠c} exp(-β h_j') · f_c  (min-take-most);
- layer 1 -> features, **midpoint rule** (default): with the midpoint m_j = (μ_c + μ_j) / 2,
  b_j = -w_jᵀ m_j, so h_j = Σ_i w_ji (x_i - m_ji) has no bias left and
  R_i = Σ_j w_ji (x_i - m_ji) / h_j · R_j  conserves relevance exactly (Σ_i R_i = f_c);
- ``rule="epsilon"``: R_i = Σ_j w_ji x_i / (h_j + ε sign(h_j)) · R_j (LRP-ε on the
  original linear layer): the bias b_j and ε absorb the rest, which is reported as
  ``absorbed`` (``relevance.sum(1) + absorbed == f_c``).

A competitor with h_j = 0 (x on the boundary) has no direction; its share is
spread evenly over the features (midpoint rule) so that conservation holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import CancelToken, MethodError, Step, no_progress


@dataclass
class KChoice:
    """Elbow and silhouette data for k = ks: inertia and mean silhouette per k; the suggested k."""

    ks: list[int]
    inertia: list[float]
    silhouette: list[float]
    suggested: int
    rule: str = "the k with the highest mean silhouette"

    def to_dict(self) -> dict:
        return {"ks": self.ks, "inertia": self.inertia, "silhouette": self.silhouette,
                "suggested": self.suggested, "rule": self.rule}


@dataclass
class ClusterExplanation:
    """Neuralised k-means explanation of every row.

    Attributes
    ----------
    labels
        (N,) assigned cluster.
    centroids
        (C, F).
    evidence
        (N,) f_c(x), the soft-min cluster evidence of each row for its own cluster.
    logit
        (N,) β f_c = log(p / (1 - p)).
    membership
        (N, C) softmax memberships at stiffness β.
    relevance
        (N, F) feature relevance of f_c.
    absorbed
        (N,) relevance not assigned to features (0 for the midpoint rule).
    cluster_relevance
        (C, F) mean relevance of each cluster's members.
    sizes
        (C,) members per cluster.
    """

    labels: np.ndarray
    centroids: np.ndarray
    evidence: np.ndarray
    logit: np.ndarray
    membership: np.ndarray
    relevance: np.ndarray
    absorbed: np.ndarray
    cluster_relevance: np.ndarray
    sizes: np.ndarray
    beta: float = 1.0
    rule: str = "midpoint"
    extras: dict = field(default_factory=dict)


def single_threaded():
    """sklearn's k-means runs single-threaded here: on a busy machine its OpenMP threads
    spin and made a 440-row fit take seconds instead of milliseconds (measured)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def fit_kmeans(X: np.ndarray, k: int, seed: int = 0):
    """sklearn KMeans (k-means++, 10 restarts, fixed seed), single-threaded (see :func:`single_threaded`)."""
    from sklearn.cluster import KMeans

    X = np.asarray(X, dtype=np.float64)
    if not 2 <= k <= len(X) - 1:
        raise MethodError(f"The number of clusters must be between 2 and {len(X) - 1}; got {k}.")
    with single_threaded():
        return KMeans(n_clusters=int(k), n_init=10, random_state=seed).fit(X)


def choose_k(
    X: np.ndarray, ks=range(2, 11), *, seed: int = 0, silhouette_sample: int = 3000,
    token: CancelToken | None = None, progress=None,
) -> KChoice:
    """Inertia (elbow) and mean silhouette per k; suggests the k with the best silhouette.

    The silhouette is computed on a fixed random subsample of at most
    ``silhouette_sample`` rows for large tables.
    """
    from sklearn.metrics import silhouette_score

    token = token or CancelToken()
    progress = progress or no_progress
    X = np.asarray(X, dtype=np.float64)
    ks = [k for k in ks if 2 <= k <= len(X) - 1]
    if not ks:
        raise MethodError("There are too few rows to form clusters.")
    inertia, silhouette = [], []
    for i, k in enumerate(ks):
        token.check()
        model = fit_kmeans(X, k, seed)
        inertia.append(float(model.inertia_))
        if len(np.unique(model.labels_)) < 2:
            silhouette.append(float("nan"))
        else:
            sample = min(len(X), silhouette_sample)
            with single_threaded():
                silhouette.append(float(silhouette_score(X, model.labels_, sample_size=sample if sample < len(X) else None,
                                                         random_state=seed)))
        progress((i + 1) / len(ks), f"k = {k}")
    scores = np.array(silhouette)
    suggested = ks[int(np.nanargmax(scores))] if np.isfinite(scores).any() else ks[0]
    return KChoice(ks=ks, inertia=inertia, silhouette=silhouette, suggested=int(suggested))


def explain_clusters(
    X: np.ndarray,
    centroids: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    beta: float = 1.0,
    rule: str = "midpoint",
    epsilon: float = 1e-9,
    chunk: int = 4096,
    token: CancelToken | None = None,
    progress=None,
) -> ClusterExplanation:
    """Neuralised explanation of every row's membership in its cluster (or in ``labels``)."""
    if rule not in ("midpoint", "epsilon"):
        raise MethodError("The cluster relevance rule is 'midpoint' or 'epsilon'.")
    if not beta > 0:
        raise MethodError("β (stiffness) must be positive.")
    token = token or CancelToken()
    progress = progress or no_progress
    X = np.asarray(X, dtype=np.float64)
    mu = np.asarray(centroids, dtype=np.float64)
    n, f = X.shape
    c_count = mu.shape[0]
    if c_count < 2:
        raise MethodError("A cluster explanation needs at least 2 clusters.")
    d_all = ((X[:, None, :] - mu[None, :, :]) ** 2).sum(-1)  # (N, C), C is small
    if labels is None:
        labels = d_all.argmin(axis=1)
    labels = np.asarray(labels, dtype=int)
    logits = -beta * d_all
    logits -= logits.max(axis=1, keepdims=True)
    membership = np.exp(logits)
    membership /= membership.sum(axis=1, keepdims=True)
    evidence = np.empty(n)
    relevance = np.empty((n, f))
    absorbed = np.zeros(n)
    for start in range(0, n, chunk):
        token.check()
        stop = min(n, start + chunk)
        x = X[start:stop]
        lab = labels[start:stop]
        mc = mu[lab]  # (b, F)
        w = 2.0 * (mc[:, None, :] - mu[None, :, :])  # (b, C, F)
        h = d_all[start:stop] - d_all[np.arange(start, stop), lab][:, None]  # (b, C)
        own = np.zeros_like(h, dtype=bool)
        own[np.arange(stop - start), lab] = True
        hm = np.where(own, np.inf, h)
        hmin = hm.min(axis=1)
        e = np.exp(-beta * (hm - hmin[:, None]))
        s = e.sum(axis=1)
        fc = hmin - np.log(s) / beta
        evidence[start:stop] = fc
        r_j = e / s[:, None] * fc[:, None]  # layer-2 relevance, 0 for own
        if rule == "midpoint":
            m = 0.5 * (mc[:, None, :] + mu[None, :, :])
            contrib = w * (x[:, None, :] - m)  # (b, C, F), sums over F to h_j
            flat = np.abs(h) <= 1e-12 * (1.0 + np.abs(d_all[start:stop]).max(axis=1, keepdims=True))
            flat &= ~own
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where((flat | own)[..., None], 0.0, contrib / np.where(flat | own, 1.0, h)[..., None])
            rel = (share * r_j[..., None]).sum(axis=1) + (r_j * flat).sum(axis=1, keepdims=True) / f
            relevance[start:stop] = rel
        else:
            contrib = w * x[:, None, :]
            denom = h + epsilon * np.where(h >= 0, 1.0, -1.0)
            denom = np.where(own, 1.0, denom)
            share = np.where(own[..., None], 0.0, contrib / denom[..., None])
            rel = (share * r_j[..., None]).sum(axis=1)
            relevance[start:stop] = rel
            absorbed[start:stop] = fc - rel.sum(axis=1)
        progress(stop / n, Step(f"explained {stop:,} of {n:,} rows", stop, n, "rows"))
    sizes = np.bincount(labels, minlength=c_count)
    cluster_relevance = np.zeros((c_count, f))
    for c in range(c_count):
        if sizes[c]:
            cluster_relevance[c] = relevance[labels == c].mean(axis=0)
    return ClusterExplanation(
        labels=labels, centroids=mu, evidence=evidence, logit=beta * evidence, membership=membership,
        relevance=relevance, absorbed=absorbed, cluster_relevance=cluster_relevance, sizes=sizes,
        beta=float(beta), rule=rule,
    )
