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

Modules: ``maps`` (step 1), ``spectral`` (steps 2 to 5), ``analysis`` (:func:`spray` and
:class:`SprayResult`), ``run_heatmaps`` (:func:`load_run_heatmaps` reads the heatmaps of one
method and class from a batch run folder, ``index.csv`` plus one ``.npy`` per item, through the
run format's own reader :mod:`xaidesk.runs.format`) and ``results`` (:func:`write_spray_results`
and :func:`read_spray_results` write and re-read the result folder of ``python -m xaidesk spray``);
``classes`` (:func:`rank_classes`) runs SpRAy on every class of a run and ranks the classes by the
Fisher criterion on the spectral embedding, the top suspects of a Clever Hans strategy first.
"""

from .analysis import (
    DEFAULT_MAX_CLUSTERS,
    DEFAULT_NEIGHBORS,
    DEFAULT_SIZE,
    EMBEDDINGS,
    SPECTRUM_LENGTH,
    SprayResult,
    spray,
)
from .maps import NORMALIZATIONS, VALUES, downsample, normalize_maps
from .results import (
    CLUSTER_COLORS,
    RESULT_FILES,
    cluster_color,
    read_spray_results,
    render_cluster_means,
    render_embedding,
    write_spray_results,
)
from .classes import ClassSuspicion, class_suspicion, classes_csv, fisher_criterion, rank_classes
from .run_heatmaps import RunHeatmaps, load_run_heatmaps, read_run_index, run_classes, run_methods
from .spectral import affinity_graph, eigengap, laplacian_spectrum

__all__ = [
    "CLUSTER_COLORS", "ClassSuspicion", "DEFAULT_MAX_CLUSTERS", "DEFAULT_NEIGHBORS", "DEFAULT_SIZE", "EMBEDDINGS",
    "NORMALIZATIONS", "RESULT_FILES", "SPECTRUM_LENGTH", "VALUES", "RunHeatmaps", "SprayResult",
    "affinity_graph", "class_suspicion", "classes_csv", "cluster_color", "downsample", "eigengap", "fisher_criterion", "laplacian_spectrum", "load_run_heatmaps",
    "normalize_maps", "read_run_index", "read_spray_results", "render_cluster_means", "render_embedding",
    "rank_classes", "run_classes", "run_methods", "spray", "write_spray_results",
]
