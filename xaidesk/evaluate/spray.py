"""Spectral relevance analysis (SpRAy; Lapuschkin et al. 2019, "Unmasking Clever Hans predictors").

For the heatmaps of one class, SpRAy finds the prediction strategies a model
uses: maps that look alike (the same evidence in the same place) form clusters
of a nearest-neighbour graph, and a small cluster whose mean heatmap sits on a
watermark, a border or a tag betrays a shortcut.

Steps (:func:`spray`):

1. Every map is turned into the values to compare: its absolute value
   (``values="abs"``, the default, as in the preprocessing of the authors'
   CoRelAy pipelines: where the model looks, whatever the sign), its positive
   part (``"positive"``) or the signed map (``"signed"``). It is brought to
   ``size`` x ``size`` cells by area averaging (each
   cell is the mean of the input pixels it covers, weighted by the covered
   area; up to the factor cell area / pixel area this is sum pooling, so no
   relevance is lost or counted twice), then divided by its largest absolute
   value (``normalize="max"``, the default: every map lies in [-1, 1] and
   its shape, not its overall strength, decides its neighbours) or by its
   Euclidean norm (``normalize="l2"``). All-zero maps stay zero.
2. The flattened maps are joined to their ``n_neighbors`` nearest neighbours
   (Euclidean distance); the graph is symmetrised, ``A = (C + C^T) / 2`` for
   the connectivity matrix ``C``, as scikit-learn's spectral clustering does.
3. The smallest eigenvalues of the normalised graph Laplacian
   ``L = I - D^-1/2 A D^-1/2`` show how many groups the graph holds: ``k``
   nearly separate groups give ``k`` eigenvalues near zero followed by a jump
   (the eigengap). The suggested ``k`` is the one before the largest jump
   among ``2 .. max_clusters``.
4. Spectral clustering (``sklearn.cluster.SpectralClustering`` on the
   precomputed affinity) splits the maps into ``k`` clusters, numbered by size
   (cluster 0 the largest).
5. A 2D picture of the maps: t-SNE of the downsampled maps (the Euclidean
   distances the graph is built from; the paper showed t-SNE too), or the
   spectral embedding (the rows of the Laplacian's first two non-trivial
   eigenvectors, scaled by D^-1/2, in which the clustering's k-means works).

:func:`load_run_heatmaps` reads the heatmaps of one method and class from a
batch run folder (``index.csv`` plus one ``.npy`` per item), through the run
format's own reader (:mod:`xaidesk.runs.format`);
:func:`write_spray_results` and :func:`read_spray_results` write and re-read
the result folder of ``python -m xaidesk spray``.
"""

from __future__ import annotations

import csv
import io
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import CancelToken, InputError, no_progress
from ..runs.format import read_index_records, read_meta

NORMALIZATIONS = ("max", "l2")
VALUES = ("abs", "positive", "signed")
EMBEDDINGS = ("tsne", "spectral")
DEFAULT_SIZE = 32
DEFAULT_NEIGHBORS = 10
DEFAULT_MAX_CLUSTERS = 10
#: Eigenvalues reported for the spectrum plot (fewer when there are fewer maps).
SPECTRUM_LENGTH = 20
#: Above this many maps the eigenvalues come from an iterative sparse solver instead of a dense one.
DENSE_LIMIT = 2500
#: Files of a SpRAy result folder.
RESULT_FILES = ("clusters.csv", "eigenvalues.csv", "cluster_means.npy", "cluster_means.png", "embedding.png",
                "summary.json")
#: Cluster colours of the embedding picture and the GUI (RGB), repeated when there are more clusters.
CLUSTER_COLORS = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)


def cluster_color(cluster: int) -> tuple[int, int, int]:
    return CLUSTER_COLORS[int(cluster) % len(CLUSTER_COLORS)]


# --------------------------------------------------------------------------- result


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


# --------------------------------------------------------------------------- steps


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: row i averages the input cells that output cell i covers, by covered length."""
    edges_in = np.arange(n_in + 1, dtype=np.float64) / n_in
    edges_out = np.arange(n_out + 1, dtype=np.float64) / n_out
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    overlap = np.clip(hi - lo, 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def downsample(heatmap: np.ndarray, size: int) -> np.ndarray:
    """A 2D map averaged onto ``size`` x ``size`` cells by covered area (exact for any input size)."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    rows, cols = heatmap.shape
    return _area_matrix(rows, size) @ heatmap @ _area_matrix(cols, size).T


def normalize_maps(maps: np.ndarray, how: str = "max") -> np.ndarray:
    """Divide each map of (N, ...) by its largest absolute value (``"max"``) or Euclidean norm (``"l2"``)."""
    if how not in NORMALIZATIONS:
        raise InputError(f"Unknown normalisation '{how}'; choose one of: {', '.join(NORMALIZATIONS)}.")
    flat = maps.reshape(len(maps), -1)
    scale = np.abs(flat).max(axis=1) if how == "max" else np.linalg.norm(flat, axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    return maps / scale.reshape((-1,) + (1,) * (maps.ndim - 1))


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


def _spectral_coordinates(vectors: np.ndarray, affinity, n_clusters: int) -> np.ndarray:
    """Rows of D^-1/2 times the Laplacian's first non-trivial eigenvectors (the spectral embedding)."""
    degree = np.asarray(affinity.sum(axis=1)).ravel()
    scaled = vectors / np.sqrt(np.where(degree > 0, degree, 1.0))[:, None]
    dims = min(scaled.shape[1] - 1, max(n_clusters, 2))
    spectral = scaled[:, 1 : dims + 1]
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


# --------------------------------------------------------------------------- the analysis


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


def _as_map_list(heatmaps) -> list[np.ndarray]:
    if isinstance(heatmaps, np.ndarray) and heatmaps.ndim != 3:
        raise InputError(f"Heatmaps must be given as an (N, H, W) array or a list of 2D maps; "
                         f"an array of shape {heatmaps.shape} was given.")
    maps = [np.asarray(m) for m in heatmaps]
    for i, m in enumerate(maps):
        if m.ndim != 2 or min(m.shape) < 1:
            raise InputError(f"Heatmap {i} has shape {m.shape}; every heatmap must be a 2D map.")
        if not np.all(np.isfinite(m)):
            raise InputError(f"Heatmap {i} holds non-finite values (nan or inf); recompute it or leave it out.")
    return maps


def _map_values(heatmap: np.ndarray, values: str) -> np.ndarray:
    if values == "abs":
        return np.abs(heatmap)
    if values == "positive":
        return np.clip(heatmap, 0, None)
    return heatmap


def _cluster(affinity, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import SpectralClustering

    model = SpectralClustering(n_clusters=k, affinity="precomputed", assign_labels="kmeans", n_init=10,
                               random_state=seed)
    with warnings.catch_warnings():
        # A graph in several pieces is what SpRAy looks for, not a problem.
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        labels = model.fit_predict(affinity)
    return _relabel_by_size(np.asarray(labels, dtype=np.int64))


# --------------------------------------------------------------------------- run folders


@dataclass
class RunHeatmaps:
    """The heatmaps of one method and class of a batch run.

    Attributes
    ----------
    run_dir
        The run folder.
    run
        Its ``run.json`` (source folder, modality, model spec, methods, ...).
    method, target, target_label
        The method and the explained class of every selected item.
    rows
        The selected ``index.csv`` rows (dicts of the columns, in file order).
    maps
        The relevance maps of the rows (empty when read with ``load_maps=False``).
    notices
        Rows that were left out and why.
    """

    run_dir: Path
    run: dict
    method: str
    target: int
    target_label: str
    rows: list[dict]
    maps: list[np.ndarray]
    notices: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return [row["file"] for row in self.rows]

    def thumbnail_path(self, i: int) -> Path | None:
        name = self.rows[i].get("thumbnail") or ""
        return _inside(self.run_dir, name) if name else None

    def source_path(self, i: int) -> Path:
        """The input file of row ``i`` (the run's source folder joined with ``file``)."""
        return Path(self.run.get("source") or self.run_dir) / self.rows[i]["file"]


def read_run_index(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """A batch run's ``run.json`` and the complete rows of its ``index.csv`` (dicts of the index columns).

    Both are read by :mod:`xaidesk.runs.format`, so a row still being appended is left out.
    """
    run_dir = Path(run_dir)
    run = read_meta(run_dir)
    return run, [row for row in read_index_records(run_dir) if row["relevance"]]


def run_classes(rows: list[dict], method: str | None = None) -> list[tuple[int, str, int]]:
    """The explained classes of a run (of one method): (index, label, count), most frequent first."""
    counts: dict[tuple[int, str], int] = {}
    for row in rows:
        if method is None or row["method"] == method:
            key = (_as_int(row["target"]), row.get("target_label") or row["target"])
            counts[key] = counts.get(key, 0) + 1
    return sorted(((i, label, c) for (i, label), c in counts.items()), key=lambda t: (-t[2], t[0]))


def run_methods(rows: list[dict]) -> list[str]:
    return sorted({row["method"] for row in rows})


def load_run_heatmaps(
    run_dir: str | Path,
    *,
    method: str | None = None,
    target_class: str | int | None = None,
    true_class: str | None = None,
    load_maps: bool = True,
    token: CancelToken | None = None,
    progress=None,
) -> RunHeatmaps:
    """The relevance maps of one method and one explained class of a batch run.

    Parameters
    ----------
    run_dir
        The run folder (``run.json``, ``index.csv``, ``items/``).
    method
        Method name; may be left out when the run used one method.
    target_class
        The explained class, by label or index; may be left out when the selection explains one class.
    true_class
        Keep only inputs from this class subfolder (``true_class`` column).
    load_maps
        Read the ``.npy`` files (else only the rows are selected).
    """
    token = token or CancelToken()
    progress = progress or no_progress
    run_dir = Path(run_dir)
    run, rows = read_run_index(run_dir)
    methods = run_methods(rows)
    if not rows:
        raise InputError(f"The run '{run_dir}' has no finished items yet.")
    if method is None:
        if len(methods) > 1:
            raise InputError(f"The run used several methods ({', '.join(methods)}); choose one.")
        method = methods[0]
    if method not in methods:
        raise InputError(f"The run has no results of method '{method}'; it has: {', '.join(methods)}.")
    rows = [row for row in rows if row["method"] == method]
    if true_class is not None:
        classes = sorted({row.get("true_class", "") for row in rows})
        rows = [row for row in rows if row.get("true_class", "") == str(true_class)]
        if not rows:
            raise InputError(f"No input of class '{true_class}' in the run; its classes are: "
                             f"{', '.join(c for c in classes if c) or 'none (no class subfolders)'}.")
    targets = run_classes(rows)
    if target_class is None:
        if len(targets) > 1:
            names = ", ".join(f"{label} ({count})" for _, label, count in targets)
            raise InputError(f"The selected items explain several classes ({names}); choose one class: "
                             "SpRAy compares heatmaps of one class.")
        target, label = targets[0][0], targets[0][1]
    else:
        wanted = str(target_class)
        match = [t for t in targets if t[1] == wanted] or [t for t in targets if str(t[0]) == wanted]
        if not match:
            names = ", ".join(label for _, label, _ in targets)
            raise InputError(f"No heatmap explains class '{target_class}' with {method}; explained classes: {names}.")
        target, label = match[0][0], match[0][1]
    rows = [row for row in rows if _as_int(row["target"]) == target]
    selected, maps, notices = [], [], []
    for i, row in enumerate(rows):
        path = _inside(run_dir, row["relevance"])
        if path is None or not path.is_file():
            notices.append(f"{row['file']}: its relevance file '{row['relevance']}' is missing; left out.")
            continue
        if load_maps:
            if i % 32 == 0:
                token.check()
                progress(i / len(rows), f"Reading heatmap {i + 1} of {len(rows)}")
            try:
                data = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as error:
                notices.append(f"{row['file']}: its relevance file could not be read ({error}); left out.")
                continue
            data = np.squeeze(data)
            if data.ndim == 3 and data.shape[-1] in (1, 3):  # per-channel maps: sum the channels
                data = data.sum(axis=-1)
            if data.ndim != 2:
                notices.append(f"{row['file']}: its relevance map has shape {data.shape}, not 2D; left out.")
                continue
            # NaN marks pixels the model never saw (cut off by a centre crop): no relevance there.
            maps.append(np.where(np.isnan(data), 0.0, data).astype(np.float32))
        selected.append(row)
    if not selected:
        raise InputError(f"None of the {len(rows)} heatmaps of class '{label}' could be read from '{run_dir}'.")
    progress(1.0, f"Read {len(selected)} heatmaps")
    return RunHeatmaps(run_dir=run_dir, run=run, method=method, target=target, target_label=label,
                       rows=selected, maps=maps, notices=notices)


def _as_int(text) -> int:
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return -1


def _inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` if it stays inside ``root`` (index paths never point elsewhere)."""
    root = root.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) else None


# --------------------------------------------------------------------------- pictures


def render_cluster_means(means: np.ndarray, cmap: str | None = None, cell: int = 128, gap: int = 6) -> np.ndarray:
    """The clusters' mean maps side by side (RGB uint8), each on its own symmetric colour levels
    (where a cluster looks matters, not how strongly: the maps were normalised)."""
    from ..core import render

    k, h, w = means.shape
    scale = max(1, cell // max(h, w))
    block = np.ones((scale, scale, 1), dtype=np.uint8)
    tiles = [np.kron(render.colorize(m, render.symmetric_levels(m, percentile=100), cmap or render.DEFAULT_COLORMAP),
                     block) for m in means]
    height, width = h * scale, w * scale
    out = np.full((height, k * width + (k - 1) * gap, 3), 255, dtype=np.uint8)
    for c, tile in enumerate(tiles):
        out[:, c * (width + gap) : c * (width + gap) + width] = tile
    return out


def render_embedding(embedding: np.ndarray, labels: np.ndarray, side: int = 480, radius: int = 4) -> np.ndarray:
    """A scatter picture of the 2D embedding, one colour per cluster (RGB uint8)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (side, side), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    margin = 3 * radius
    low, high = embedding.min(axis=0), embedding.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    xy = margin + (embedding - low) / span * (side - 2 * margin)
    xy[:, 1] = side - xy[:, 1]  # y grows upwards, as in the GUI's plot
    draw.rectangle([0, 0, side - 1, side - 1], outline=(180, 180, 180))
    for (x, y), label in zip(xy, labels):
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=cluster_color(label), outline=(40, 40, 40))
    return np.asarray(image)


# --------------------------------------------------------------------------- result folders


def write_spray_results(out: str | Path, result: SprayResult, heatmaps: RunHeatmaps, cmap: str | None = None) -> Path:
    """Write a SpRAy result as a set of files (see :data:`RESULT_FILES`) into the folder ``out``.

    ``clusters.csv`` has the columns ``file,cluster,x,y,relevance,thumbnail`` (paths
    relative to the run folder), ``eigenvalues.csv`` ``index,eigenvalue,gap`` (gap to
    the next eigenvalue), ``cluster_means.npy`` the (k, size, size) means, and
    ``summary.json`` the run, method, class, ``k``, eigengap, cluster sizes and parameters.
    """
    from ..core.io import csv_field, csv_number, save_npy_atomic, save_png_atomic, staged_folder, \
        write_bytes_atomic, write_json_atomic

    if len(heatmaps.rows) != len(result.labels):
        raise InputError("The SpRAy result and the run's items differ in number; run the analysis again.")
    clusters = ["file,cluster,x,y,relevance,thumbnail"] + [
        ",".join([csv_field(row["file"]), str(int(c)), csv_number(x), csv_number(y), csv_field(row["relevance"]),
                  csv_field(row.get("thumbnail", ""))])
        for row, c, (x, y) in zip(heatmaps.rows, result.labels, result.embedding)
    ]
    gaps = np.append(np.diff(result.eigenvalues), np.nan)
    eigen = ["index,eigenvalue,gap"] + [f"{i},{csv_number(v)},{csv_number(g)}"
                                        for i, (v, g) in enumerate(zip(result.eigenvalues, gaps))]
    summary = {
        "format": "xaidesk-spray/1",
        "run": str(heatmaps.run_dir.resolve()),
        "model": heatmaps.run.get("model"),
        "modality": heatmaps.run.get("modality"),
        "method": heatmaps.method,
        "target": heatmaps.target,
        "target_label": heatmaps.target_label,
        "n_maps": int(len(result.labels)),
        "n_clusters": int(result.n_clusters),
        "eigengap_k": int(result.eigengap_k),
        "eigengap": float(result.eigengap),
        "cluster_sizes": result.cluster_sizes,
        "params": result.params,
        "seconds": round(float(result.seconds), 3),
        "notices": heatmaps.notices,
    }
    with staged_folder(out) as folder:
        write_bytes_atomic(folder / "clusters.csv", ("\n".join(clusters) + "\n").encode("utf-8"))
        write_bytes_atomic(folder / "eigenvalues.csv", ("\n".join(eigen) + "\n").encode("utf-8"))
        save_npy_atomic(folder / "cluster_means.npy", result.cluster_means.astype(np.float32))
        save_png_atomic(folder / "cluster_means.png", render_cluster_means(result.cluster_means, cmap))
        save_png_atomic(folder / "embedding.png", render_embedding(result.embedding, result.labels))
        write_json_atomic(folder / "summary.json", summary)
    return Path(out)


def read_spray_results(folder: str | Path) -> tuple[SprayResult, RunHeatmaps]:
    """Read a folder written by :func:`write_spray_results` back.

    The run's items are matched by file name; when the run folder has moved or gone the
    rows come from ``clusters.csv`` alone (no thumbnails).
    """
    folder = Path(folder)
    missing = [name for name in ("clusters.csv", "eigenvalues.csv", "cluster_means.npy", "summary.json")
               if not (folder / name).is_file()]
    if missing:
        raise InputError(f"'{folder}' is not a SpRAy result folder (it lacks {', '.join(missing)}).")
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        clusters = list(csv.DictReader(io.StringIO((folder / "clusters.csv").read_text(encoding="utf-8"))))
        eigen = list(csv.DictReader(io.StringIO((folder / "eigenvalues.csv").read_text(encoding="utf-8"))))
        means = np.load(folder / "cluster_means.npy", allow_pickle=False)
        labels = np.array([int(r["cluster"]) for r in clusters], dtype=np.int64)
        coords = np.array([[float(r["x"]), float(r["y"])] for r in clusters], dtype=np.float64).reshape(-1, 2)
        eigenvalues = np.array([float(r["eigenvalue"]) for r in eigen], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"The SpRAy results in '{folder}' could not be read ({error}).") from error
    k = int(summary.get("n_clusters", means.shape[0]))
    if means.ndim != 3 or means.shape[0] != k or (len(labels) and labels.max() >= k):
        raise InputError(f"The SpRAy results in '{folder}' do not fit together (clusters and means differ).")
    result = SprayResult(maps=None, eigenvalues=eigenvalues, eigengap_k=int(summary.get("eigengap_k", k)),
                         eigengap=float(summary.get("eigengap", float("nan"))), labels=labels, n_clusters=k,
                         embedding=coords, cluster_means=means, params=dict(summary.get("params", {})),
                         seconds=float(summary.get("seconds", 0.0)))
    run_dir = Path(summary.get("run", ""))
    run, by_file = {}, {}
    try:
        run, rows = read_run_index(run_dir)
        by_file = {row["file"]: row for row in rows if row["method"] == summary.get("method")
                   and _as_int(row["target"]) == int(summary.get("target", -1))}
    except InputError:
        pass
    notices = [] if by_file else [f"The run folder '{run_dir}' was not found; thumbnails are not available."]
    rows = [by_file.get(r["file"]) or {"file": r["file"], "relevance": r.get("relevance", ""),
                                       "thumbnail": r.get("thumbnail", "") if by_file else "",
                                       "target": str(summary.get("target", "")),
                                       "target_label": summary.get("target_label", ""),
                                       "method": summary.get("method", "")}
            for r in clusters]
    if not run:
        run = {"model": summary.get("model"), "modality": summary.get("modality")}
    heatmaps = RunHeatmaps(run_dir=run_dir, run=run, method=summary.get("method", ""),
                           target=int(summary.get("target", -1)), target_label=str(summary.get("target_label", "")),
                           rows=rows, maps=[], notices=notices)
    return result, heatmaps
