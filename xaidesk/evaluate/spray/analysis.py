"""The SpRAy analysis of one class's heatmaps (:func:`spray`) and what it found (:class:`SprayResult`).

The steps are described in :mod:`xaidesk.evaluate.spray`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ...core import CancelToken, InputError, no_progress
from .maps import VALUES, _as_map_list, _map_values, downsample, normalize_maps
from .spectral import _cluster, _spectral_coordinates, _tsne, affinity_graph, eigengap, laplacian_spectrum

EMBEDDINGS = ("tsne", "spectral")
DEFAULT_SIZE = 32
DEFAULT_NEIGHBORS = 10
DEFAULT_MAX_CLUSTERS = 10
#: Eigenvalues reported for the spectrum plot (fewer when there are fewer maps).
SPECTRUM_LENGTH = 20


@dataclass
class SprayResult:
    """What SpRAy found in one class's heatmaps.

    Attributes
    ----------
    maps
        The downsampled, normalised maps (N, size, size); ``None`` for a result read back from disk.
    eigenvalues
        The smallest eigenvalues of the normalised graph Laplacian, ascending.
    eigengap_k
        The number of clusters the largest eigengap suggests (``eigenvalues[k] - eigenvalues[k-1]``
        is the largest gap for ``k`` in ``2 .. max_clusters``).
    eigengap
        That gap's size.
    labels
        Cluster of each map (N,), ``0 .. n_clusters-1``, cluster 0 the largest.
    n_clusters
        Clusters used: ``eigengap_k`` unless a number was asked for.
    embedding
        2D coordinates of the maps (N, 2).
    cluster_means
        Mean normalised map of each cluster (n_clusters, size, size).
    params
        The settings used (size, values, normalize, n_neighbors, n_clusters asked for, max_clusters, embedding, seed).
    seconds
        Time the analysis took.
    """

    maps: np.ndarray | None
    eigenvalues: np.ndarray
    eigengap_k: int
    eigengap: float
    labels: np.ndarray
    n_clusters: int
    embedding: np.ndarray
    cluster_means: np.ndarray
    params: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def looks_like_one_strategy(self) -> bool:
        """Whether the first gap (λ1 − λ0) outgrows every later one: the heatmaps look alike, and
        the clusters split one strategy rather than separate several."""
        values = np.asarray(self.eigenvalues, dtype=np.float64)
        return bool(len(values) > 1 and np.isfinite(self.eigengap) and values[1] - values[0] > self.eigengap)

    @property
    def cluster_sizes(self) -> list[int]:
        return np.bincount(self.labels, minlength=self.n_clusters).tolist()

    def members(self, cluster: int) -> np.ndarray:
        """Indices of the maps in ``cluster``."""
        return np.flatnonzero(self.labels == cluster)

    def to_dict(self) -> dict:
        """The numbers of the result as plain JSON-ready values (without the maps)."""
        return {
            "n_maps": int(len(self.labels)),
            "n_clusters": int(self.n_clusters),
            "eigengap_k": int(self.eigengap_k),
            "eigengap": float(self.eigengap),
            "looks_like_one_strategy": self.looks_like_one_strategy,
            "cluster_sizes": self.cluster_sizes,
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "labels": [int(v) for v in self.labels],
            "embedding": [[float(a), float(b)] for a, b in self.embedding],
            "params": dict(self.params),
            "seconds": float(self.seconds),
        }


def spray(
    heatmaps,
    *,
    size: int = DEFAULT_SIZE,
    n_neighbors: int | None = None,
    n_clusters: int | None = None,
    max_clusters: int = DEFAULT_MAX_CLUSTERS,
    values: str = "abs",
    normalize: str = "max",
    embedding: str = "tsne",
    seed: int = 0,
    token: CancelToken | None = None,
    progress=None,
) -> SprayResult:
    """Cluster heatmaps of one class by spectral relevance analysis.

    Parameters
    ----------
    heatmaps
        An (N, H, W) array, or a list of N 2D maps of any sizes (each is averaged onto
        ``size`` x ``size`` cells, so maps of another aspect ratio are stretched).
    size
        Side of the downsampled maps, 2 to 256.
    n_neighbors
        Neighbours per map in the affinity graph; ``None`` takes 10 (at most N - 1).
    n_clusters
        Clusters to form; ``None`` takes the number the eigengap suggests.
    max_clusters
        Largest number of clusters the eigengap may suggest.
    values
        Compare ``"abs"`` (|R|, the default), ``"positive"`` (max(R, 0)) or ``"signed"`` (R) maps.
    normalize
        ``"max"`` (divide by the largest |value|) or ``"l2"`` (divide by the Euclidean norm).
    embedding
        ``"tsne"`` (t-SNE of the maps; the spectral embedding below 5 maps) or ``"spectral"``
        (the first two coordinates of the spectral embedding).
    seed
        Seed of the clustering's k-means and of t-SNE.
    token, progress
        Cancel token (checked between steps) and progress callback.
    """
    start = time.perf_counter()
    token = token or CancelToken()
    progress = progress or no_progress
    maps = _as_map_list(heatmaps)
    n = len(maps)
    size = int(size)
    if not 2 <= size <= 256:
        raise InputError(f"The map size must be between 2 and 256 cells; {size} was given.")
    if values not in VALUES:
        raise InputError(f"Unknown map values '{values}'; choose one of: {', '.join(VALUES)}.")
    if embedding not in EMBEDDINGS:
        raise InputError(f"Unknown embedding '{embedding}'; choose one of: {', '.join(EMBEDDINGS)}.")
    if n < 3:
        raise InputError(f"SpRAy needs at least 3 heatmaps to compare; {n} were given.")
    neighbours = min(DEFAULT_NEIGHBORS, n - 1) if n_neighbors is None else int(n_neighbors)
    if not 1 <= neighbours <= n - 1:
        raise InputError(f"The number of neighbours must be between 1 and {n - 1} (one less than the "
                         f"{n} heatmaps); {neighbours} was given.")
    if n_clusters is not None and not 2 <= int(n_clusters) <= n - 1:
        raise InputError(f"The number of clusters must be between 2 and {n - 1} for {n} heatmaps; "
                         f"{n_clusters} was given.")
    if int(max_clusters) < 2:
        raise InputError("The largest number of clusters to consider must be at least 2.")

    small = np.empty((n, size, size), dtype=np.float64)
    for i, heatmap in enumerate(maps):
        if i % 64 == 0:
            token.check()
            progress(0.3 * i / n, "Downsampling the heatmaps")
        small[i] = downsample(_map_values(heatmap, values), size)
    small = normalize_maps(small, normalize)
    features = small.reshape(n, -1)

    token.check()
    progress(0.3, "Building the nearest-neighbour graph")
    affinity = affinity_graph(features, neighbours)
    token.check()
    progress(0.4, "Computing the Laplacian's eigenvalues")
    wanted = int(n_clusters) if n_clusters is not None else 0
    n_eigen = min(n, max(SPECTRUM_LENGTH, int(max_clusters) + 1, wanted + 1))
    eigenvalues, vectors = laplacian_spectrum(affinity, n_eigen)
    k_gap, gap = eigengap(eigenvalues, int(max_clusters))
    k = int(n_clusters) if n_clusters is not None else min(k_gap, n - 1)

    token.check()
    progress(0.55, f"Spectral clustering into {k} clusters")
    labels = _cluster(affinity, k, seed)
    token.check()
    progress(0.7, "Embedding the maps in 2D" + (" (t-SNE)" if embedding == "tsne" else ""))
    if embedding == "tsne" and n >= 5:
        coords = _tsne(features, seed)
    else:
        coords = _spectral_coordinates(vectors, affinity, k)
    token.check()
    means = np.stack([small[labels == c].mean(axis=0) for c in range(k)])
    progress(1.0, "Done")
    params = {"size": size, "values": values, "normalize": normalize, "n_neighbors": neighbours,
              "n_clusters": None if n_clusters is None else int(n_clusters),
              "max_clusters": int(max_clusters), "embedding": embedding, "seed": int(seed)}
    return SprayResult(maps=small, eigenvalues=eigenvalues, eigengap_k=k_gap, eigengap=gap, labels=labels,
                       n_clusters=k, embedding=coords, cluster_means=means, params=params,
                       seconds=time.perf_counter() - start)
