"""Which classes of a run are suspicious: SpRAy on every class, ranked by how clearly its heatmaps split.

For each explained class with enough heatmaps, :func:`rank_classes` runs :func:`~.analysis.spray`
and scores the split two ways:

- the **eigengap** of the normalised graph Laplacian (a large jump after ``k`` small eigenvalues
  means ``k`` nearly separate groups of heatmaps);
- the **Fisher criterion** on the spectral embedding (Anders et al. 2022, "Finding and removing
  Clever Hans"): with the spectral clusters as groups, the largest
  ``J(w) = wᵀ S_b w / wᵀ S_w w`` over directions ``w`` of the embedding, the largest generalised
  eigenvalue of the between-cluster scatter ``S_b`` and the within-cluster scatter ``S_w``. One
  strategy gives clusters that overlap (small J); a shortcut used on part of the inputs gives a
  cluster far from the rest (large J).

Classes are ranked by the Fisher criterion, largest first: the top suspects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...core import CancelToken, InputError, no_progress
from .analysis import DEFAULT_MAX_CLUSTERS, SprayResult, spray
from .run_heatmaps import load_run_heatmaps, read_run_index, run_classes, run_methods
from .spectral import affinity_graph, laplacian_spectrum, spectral_embedding

#: Fewest heatmaps a class needs to be analysed (fewer cannot show two strategies with a neighbour graph).
MIN_HEATMAPS = 10
#: Columns of ``classes.csv``, in order.
CLASS_COLUMNS = ("rank", "target", "label", "heatmaps", "fisher", "eigengap", "eigengap_k", "clusters",
                 "smallest_cluster_share")


def fisher_criterion(embedding: np.ndarray, labels: np.ndarray) -> float:
    """The largest ``wᵀ S_b w / wᵀ S_w w`` for points ``embedding`` (N, D) grouped by ``labels`` (N,).

    ``S_w`` gets a ridge of 1e-9 of the total scatter's trace per dimension, so groups that collapse
    to points (a neighbour graph in separate pieces) give a very large, finite value. Returns 0 for
    fewer than two groups.
    """
    from scipy.linalg import eigh

    x = np.asarray(embedding, dtype=np.float64)
    labels = np.asarray(labels)
    groups = np.unique(labels)
    if len(groups) < 2 or x.ndim != 2 or x.shape[1] == 0:
        return 0.0
    mean = x.mean(axis=0)
    d = x.shape[1]
    between = np.zeros((d, d))
    within = np.zeros((d, d))
    for group in groups:
        members = x[labels == group]
        centre = members.mean(axis=0)
        offset = (centre - mean)[:, None]
        between += len(members) * (offset @ offset.T)
        centred = members - centre
        within += centred.T @ centred
    total = float(np.trace(between + within))
    if total <= 0 or not math.isfinite(total):
        return 0.0
    within += (1e-9 * total / d) * np.eye(d)
    return float(eigh(between, within, eigvals_only=True)[-1])


@dataclass
class ClassSuspicion:
    """How clearly one class's heatmaps split into strategies.

    Attributes
    ----------
    target, label
        The explained class.
    heatmaps
        Heatmaps analysed.
    fisher
        The Fisher criterion on the spectral embedding (:func:`fisher_criterion`).
    eigengap, eigengap_k
        The largest eigengap and the number of clusters it suggests.
    clusters
        Clusters formed.
    smallest_cluster_share
        Share of the heatmaps in the smallest cluster (a shortcut is often a small cluster).
    result
        The class's :class:`~.analysis.SprayResult`, to open its SpRAy view.
    """

    target: int
    label: str
    heatmaps: int
    fisher: float
    eigengap: float
    eigengap_k: int
    clusters: int
    smallest_cluster_share: float
    result: SprayResult

    def row(self, rank: int) -> dict:
        """The class's line of ``classes.csv`` (see :data:`CLASS_COLUMNS`)."""
        return {"rank": rank, "target": self.target, "label": self.label, "heatmaps": self.heatmaps,
                "fisher": self.fisher, "eigengap": self.eigengap, "eigengap_k": self.eigengap_k,
                "clusters": self.clusters, "smallest_cluster_share": self.smallest_cluster_share}


def class_suspicion(target: int, label: str, heatmaps, *, n_clusters: int | None = None,
                    max_clusters: int = DEFAULT_MAX_CLUSTERS, token: CancelToken | None = None,
                    **spray_options) -> ClassSuspicion:
    """SpRAy on one class's ``heatmaps`` and the scores of its split (eigengap and Fisher criterion)."""
    result = spray(heatmaps, n_clusters=n_clusters, max_clusters=max_clusters, embedding="spectral",
                   token=token, **spray_options)
    features = result.maps.reshape(len(result.maps), -1)
    affinity = affinity_graph(features, result.params["n_neighbors"])
    _, vectors = laplacian_spectrum(affinity, min(len(features), result.n_clusters + 1))
    embedding = spectral_embedding(vectors, affinity, result.n_clusters)
    sizes = np.bincount(result.labels, minlength=result.n_clusters)
    return ClassSuspicion(
        target=int(target), label=str(label), heatmaps=len(result.labels),
        fisher=fisher_criterion(embedding, result.labels), eigengap=float(result.eigengap),
        eigengap_k=int(result.eigengap_k), clusters=int(result.n_clusters),
        smallest_cluster_share=float(sizes.min() / sizes.sum()), result=result)


def rank_classes(run_dir, *, method: str | None = None, min_heatmaps: int = MIN_HEATMAPS,
                 token: CancelToken | None = None, progress=None, **spray_options) -> list[ClassSuspicion]:
    """SpRAy on every explained class of a batch run with at least ``min_heatmaps`` heatmaps, top suspects first.

    ``spray_options`` go to :func:`~.analysis.spray` (``size``, ``values``, ``normalize``,
    ``n_neighbors``, ``max_clusters``, ``seed``). Classes with fewer heatmaps are left out; none
    left is an :class:`~xaidesk.core.InputError`.
    """
    token = token or CancelToken()
    progress = progress or no_progress
    _, rows = read_run_index(run_dir)
    if not rows:
        raise InputError(f"The run '{run_dir}' has no finished items yet.")
    if method is None:
        methods = run_methods(rows)
        if len(methods) > 1:
            raise InputError(f"The run used several methods ({', '.join(methods)}); choose one.")
        method = methods[0]
    classes = [(index, label, count) for index, label, count in run_classes(rows, method) if count >= min_heatmaps]
    if not classes:
        raise InputError(f"No explained class of the run has {min_heatmaps} heatmaps of {method} or more; "
                         "SpRAy across classes needs at least that many per class.")
    ranked = []
    for i, (index, label, _count) in enumerate(classes):
        token.check()
        progress(i / len(classes), f"SpRAy on class {label} ({i + 1} of {len(classes)})")
        heatmaps = load_run_heatmaps(run_dir, method=method, target_class=index, token=token)
        if len(heatmaps.maps) < min_heatmaps:  # rows whose maps are missing were left out
            continue
        ranked.append(class_suspicion(index, label, heatmaps.maps, token=token, **spray_options))
    progress(1.0, "Classes ranked")
    return sorted(ranked, key=lambda c: (-c.fisher, -c.eigengap, c.target))


def classes_csv(ranked: list[ClassSuspicion]) -> bytes:
    """``classes.csv``: one line per class in rank order (:data:`CLASS_COLUMNS`)."""
    from ...core.io import csv_field, csv_number

    lines = [",".join(CLASS_COLUMNS)]
    for rank, suspicion in enumerate(ranked, start=1):
        row = suspicion.row(rank)
        lines.append(",".join(csv_number(row[c]) if isinstance(row[c], float) else csv_field(str(row[c]))
                              for c in CLASS_COLUMNS))
    return ("\n".join(lines) + "\n").encode("utf-8")
