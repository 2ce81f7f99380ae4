"""The registered NEON methods for tables (modality ``"table"``, run through
:func:`xaidesk.explain.table.explain_table`).

- ``neon.knn`` and ``neon.kde``: outlier scores and their NEON explanation
  (:mod:`xaidesk.explain.neon_outliers`), with γ chosen by :mod:`xaidesk.explain.neon_gamma` when ``auto``;
- ``neon.kmeans``: k-means clusters, neuralised (:mod:`xaidesk.explain.kmeans`).
"""

from __future__ import annotations

import time

import numpy as np

from ..core import Explanation, MethodError, Param, Target, register_method, sub_progress
from ..core.registry import TAG_LABEL_FREE, TAG_OUTLIER_SCORE
from . import kmeans as _kmeans
from .neon_gamma import select_gamma
from .neon_outliers import outlier_scores
from .table import MODALITY, STANDARDIZE, THETA, preprocess_table, table_extras


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
