"""The spectral part of SpRAy: nearest-neighbour graph, Laplacian spectrum, eigengap, clustering, 2D embedding."""

from __future__ import annotations

import warnings

import numpy as np

#: Above this many maps the eigenvalues come from an iterative sparse solver instead of a dense one.
DENSE_LIMIT = 2500


def affinity_graph(features: np.ndarray, n_neighbors: int):
    """The symmetrised k-nearest-neighbour connectivity graph (sparse CSR, entries 0.5 or 1)."""
    from sklearn.neighbors import kneighbors_graph

    connectivity = kneighbors_graph(features, n_neighbors=n_neighbors, mode="connectivity", include_self=False)
    return (0.5 * (connectivity + connectivity.T)).tocsr()


def laplacian_spectrum(affinity, n_eigenvalues: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_eigenvalues`` smallest eigenvalues of the normalised Laplacian and their eigenvectors.

    Dense ``scipy.linalg.eigh`` up to :data:`DENSE_LIMIT` nodes; above, ``eigsh`` on ``2I - L``
    (the normalised Laplacian's spectrum lies in [0, 2], so its smallest eigenvalues are the
    largest of ``2I - L``, which Lanczos finds quickly).
    """
    from scipy.linalg import eigh
    from scipy.sparse import identity
    from scipy.sparse.csgraph import laplacian
    from scipy.sparse.linalg import eigsh

    n = affinity.shape[0]
    lap = laplacian(affinity.astype(np.float64), normed=True)
    if n <= DENSE_LIMIT:
        values, vectors = eigh(lap.toarray(), subset_by_index=[0, n_eigenvalues - 1])
    else:
        shifted = 2.0 * identity(n, format="csr") - lap
        values, vectors = eigsh(shifted, k=n_eigenvalues, which="LA", tol=1e-8,
                                v0=np.ones(n) / np.sqrt(n))
        values = 2.0 - values
        order = np.argsort(values)
        values, vectors = values[order], vectors[:, order]
    return np.clip(values, 0.0, 2.0), vectors


def eigengap(eigenvalues: np.ndarray, max_clusters: int) -> tuple[int, float]:
    """The ``k`` in ``2 .. max_clusters`` with the largest gap ``eigenvalues[k] - eigenvalues[k-1]``, and the gap."""
    top = min(max_clusters, len(eigenvalues) - 1)
    if top < 2:
        return 2, float("nan")
    gaps = np.diff(eigenvalues[: top + 1])  # gaps[k-1] = eigenvalues[k] - eigenvalues[k-1]
    k = int(np.argmax(gaps[1:top])) + 2
    return k, float(gaps[k - 1])


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    sizes = np.bincount(labels)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[labels]


def spectral_embedding(vectors: np.ndarray, affinity, dims: int) -> np.ndarray:
    """The spectral embedding: rows of D^-1/2 times the Laplacian's first ``dims`` non-trivial eigenvectors.

    ``vectors`` are the eigenvectors of :func:`laplacian_spectrum` (the trivial one first); fewer
    columns come back when fewer are given.
    """
    degree = np.asarray(affinity.sum(axis=1)).ravel()
    scaled = vectors / np.sqrt(np.where(degree > 0, degree, 1.0))[:, None]
    return np.asarray(scaled[:, 1 : min(scaled.shape[1], int(dims) + 1)], dtype=np.float64)


def _spectral_coordinates(vectors: np.ndarray, affinity, n_clusters: int) -> np.ndarray:
    """The first two coordinates of the spectral embedding (a second of zeros when there is only one)."""
    spectral = spectral_embedding(vectors, affinity, max(n_clusters, 2))
    if spectral.shape[1] < 2:
        spectral = np.column_stack([spectral[:, 0], np.zeros(len(spectral))])
    return np.asarray(spectral[:, :2], dtype=np.float64)


def _tsne(features: np.ndarray, seed: int) -> np.ndarray:
    """t-SNE of the maps (Euclidean distances, as the graph), after PCA to at most 50 dimensions."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = len(features)
    if features.shape[1] > 50 and n > 50:
        features = PCA(n_components=50, random_state=seed).fit_transform(features)
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    # One OpenMP thread: on a busy machine (a GUI, torch threads) the parallel gradient spins
    # and runs ten times slower than a single thread does.
    with threadpool_limits(limits=1, user_api="openmp"):
        return tsne.fit_transform(features).astype(np.float64)


def _cluster(affinity, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import SpectralClustering

    model = SpectralClustering(n_clusters=k, affinity="precomputed", assign_labels="kmeans", n_init=10,
                               random_state=seed)
    with warnings.catch_warnings():
        # A graph in several pieces is what SpRAy looks for, not a problem.
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        labels = model.fit_predict(affinity)
    return _relabel_by_size(np.asarray(labels, dtype=np.int64))
