"""Prototypes of a class's reasoning (PCX, Dreyer et al. 2024): a Gaussian mixture on concept-relevance vectors.

Each sample explained for a class gives one vector: the relevance of every concept (channel) of a layer
(:func:`xaidesk.explain.lrp.concept_records.record_concepts`). Samples the model decides for the same reasons have
similar vectors; a Gaussian mixture fitted on them has one component per typical way of reasoning, a
*prototype*. A new prediction is typical when the mixture finds its vector likely, compared with the
samples the mixture was fitted on.

How the vectors are prepared (the choices are explained in ``docs/concepts-prototypes.md``):

1. each vector is divided by its L1 norm, so that it holds each concept's share of the layer's relevance
   (how the model decided, not how confidently);
2. the shares are projected on their first principal components, at most ``samples // 8`` and at most 32,
   so that a 512-channel layer with a hundred samples still gives a mixture that can be estimated;
3. a mixture with diagonal covariances (in that space) is fitted, with a variance floor of a thousandth of
   the mean variance, so that a direction along which all samples agree does not make every other sample
   infinitely unlikely.

A sample's log-likelihood is the mixture's in the kept space: a vector that differs from the class only
in directions the components leave out is not seen as atypical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..core import InputError, MethodError

#: Covariance types of the mixture (scikit-learn's names).
COVARIANCES = ("diag", "full", "spherical", "tied")
#: Samples needed per prototype.
SAMPLES_PER_PROTOTYPE = 3
#: Dimensions of the space the mixture is fitted in: at most this many, and one per this many samples.
MAX_DIMENSIONS = 32
SAMPLES_PER_DIMENSION = 8
#: The variance floor, as a fraction of the mean variance of the projected vectors.
VARIANCE_FLOOR = 1e-3
#: Closest samples kept per prototype.
CLOSEST = 8


@dataclass(frozen=True)
class Mixture:
    """The fitted model: the projection (``pca``), the ``mixture`` in its space and its variance ``floor``."""

    pca: object
    mixture: object
    floor: float

    def log_likelihood(self, normalised: np.ndarray) -> np.ndarray:
        """``(N,)`` log-likelihood of L1-normalised vectors under the mixture, in the kept space."""
        return self.mixture.score_samples(self.pca.transform(normalised))


@dataclass(frozen=True)
class Prototypes:
    """A mixture fitted on one class's concept-relevance vectors.

    Attributes
    ----------
    means
        ``(K, C)`` each prototype's mean concept relevance as shares of the layer's relevance (the vectors
        after L1 normalisation, averaged with the prototype's responsibilities), in the layer's channels.
    weights
        ``(K,)`` the mixture weights.
    members
        Per prototype, the indices of the samples assigned to it.
    closest, closest_files
        Per prototype, the indices (and files) of its members most likely under it, most likely first.
    assignments, log_likelihood, percentiles
        ``(N,)`` per training sample: its prototype, its log-likelihood under the mixture, and the percentage
        of training samples less likely than it.
    files
        The training samples' files ('' when none were given).
    settings
        What was fitted: ``n_prototypes``, ``covariance``, ``dimensions``, ``seed``, ``channels``,
        ``samples`` and, from :func:`prototypes_for_class`, ``class_index`` and ``by``.
    model
        The fitted :class:`Mixture`; ``None`` when read back from files without it.
    """

    means: np.ndarray
    weights: np.ndarray
    members: list[np.ndarray]
    closest: list[np.ndarray]
    closest_files: list[list[str]]
    assignments: np.ndarray
    log_likelihood: np.ndarray
    percentiles: np.ndarray
    files: list[str]
    settings: dict
    model: Mixture | None = field(default=None, repr=False, compare=False)

    @property
    def count(self) -> int:
        return int(len(self.weights))

    def top_concepts(self, prototype: int, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` channels of largest mean share in ``prototype``, with their shares."""
        mean = self.means[int(prototype)]
        order = np.argsort(-mean, kind="stable")[: int(k)]
        return [(int(c), float(mean[c])) for c in order]


@dataclass(frozen=True)
class Typicality:
    """How typical one vector is for a fitted class.

    ``percentile`` is the percentage of training samples less likely than it (low = atypical);
    ``differences`` the ``(channel, share − prototype's mean share)`` pairs, largest ``|difference|`` first.
    """

    prototype: int
    log_likelihood: float
    percentile: float
    differences: list[tuple[int, float]]


def _checked(relevance, n_prototypes: int) -> np.ndarray:
    try:
        array = np.asarray(relevance, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("The concept relevance must be a table of numbers (samples × concepts).") from None
    if array.ndim != 2 or array.shape[1] < 1:
        raise InputError(f"The concept relevance must have one row per sample and one column per concept; "
                         f"got an array of shape {array.shape}.")
    if int(n_prototypes) < 1:
        raise InputError(f"Ask for at least one prototype (got {n_prototypes}).")
    needed = max(4, SAMPLES_PER_PROTOTYPE * int(n_prototypes))
    if len(array) < needed:
        raise InputError(f"{n_prototypes} prototype(s) need at least {needed} samples of the class; got "
                         f"{len(array)}. Explain more samples or ask for fewer prototypes.")
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        raise InputError(f"{int(bad.sum())} sample(s) have concept relevance that is not finite (NaN or "
                         f"infinite), the first is sample {int(np.argmax(bad))}; leave them out.")
    return array


def shares(relevance) -> np.ndarray:
    """Each vector divided by its L1 norm (a vector without relevance stays zero)."""
    array = np.atleast_2d(np.asarray(relevance, dtype=np.float64))
    norm = np.abs(array).sum(axis=1, keepdims=True)
    return array / np.where(norm > 0, norm, 1.0)


def _dimensions(samples: int, channels: int) -> int:
    return max(1, min(channels, samples // SAMPLES_PER_DIMENSION, MAX_DIMENSIONS))


def _fit_mixture(normalised: np.ndarray, count: int, covariance: str, seed: int):
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    if covariance not in COVARIANCES:
        raise InputError(f"Unknown covariance '{covariance}'; choose one of {', '.join(COVARIANCES)}.")
    dimensions = min(_dimensions(*normalised.shape), len(normalised) - 1) or 1
    pca = PCA(n_components=dimensions, svd_solver="full", random_state=seed).fit(normalised)
    projected = pca.transform(normalised)
    floor = max(VARIANCE_FLOOR * float(projected.var(axis=0).mean()), 1e-12)
    mixture = GaussianMixture(count, covariance_type=covariance, reg_covar=floor, n_init=4, max_iter=500,
                              random_state=seed)
    try:
        mixture.fit(projected)
    except ValueError as error:
        raise MethodError("The mixture could not be fitted on these concept vectors; ask for fewer prototypes "
                          "or give more samples.", details=str(error)) from None
    return Mixture(pca, mixture, floor), projected


def _component_log_density(mixture, projected: np.ndarray) -> np.ndarray:
    """``(N, K)`` the log-density of each sample under each component alone."""
    from scipy.stats import multivariate_normal

    k, d = mixture.means_.shape
    columns = []
    for c in range(k):
        kind = mixture.covariance_type
        cov = {"full": lambda: mixture.covariances_[c], "tied": lambda: mixture.covariances_,
               "diag": lambda: np.diag(mixture.covariances_[c]),
               "spherical": lambda: np.eye(d) * mixture.covariances_[c]}[kind]()
        columns.append(multivariate_normal(mixture.means_[c], cov, allow_singular=True).logpdf(projected))
    return np.column_stack(columns).reshape(len(projected), k)


def percentile_of(values: np.ndarray, value: float) -> float:
    """Percentage of ``values`` below ``value`` (ties count half)."""
    values = np.asarray(values)
    return float(100.0 * ((values < value).sum() + 0.5 * (values == value).sum()) / max(len(values), 1))


def fit_prototypes(relevance, n_prototypes: int, *, files: Sequence[str] | None = None, seed: int = 0,
                   covariance: str = "diag") -> Prototypes:
    """Fit ``n_prototypes`` prototypes on ``(N, C)`` concept-relevance vectors of one class.

    Raises
    ------
    InputError
        Too few samples (fewer than 3 per prototype, or 4), values that are not finite, fewer than one
        prototype, ``files`` of another length, or an unknown ``covariance``.
    """
    array = _checked(relevance, n_prototypes)
    files = [""] * len(array) if files is None else [str(f) for f in files]
    if len(files) != len(array):
        raise InputError(f"{len(files)} file names were given for {len(array)} samples.")
    normalised = shares(array)
    model, projected = _fit_mixture(normalised, int(n_prototypes), covariance, int(seed))
    responsibility = model.mixture.predict_proba(projected)
    assignments = responsibility.argmax(axis=1)
    log_likelihood = model.log_likelihood(normalised)
    density = _component_log_density(model.mixture, projected)
    members, closest, closest_files = [], [], []
    for c in range(int(n_prototypes)):
        mine = np.flatnonzero(assignments == c)
        members.append(mine)
        best = mine[np.argsort(-density[mine, c], kind="stable")][:CLOSEST]
        closest.append(best)
        closest_files.append([files[i] for i in best])
    mass = responsibility.sum(axis=0)
    means = (responsibility.T @ normalised) / np.where(mass > 0, mass, 1.0)[:, None]
    percentiles = np.array([percentile_of(log_likelihood, v) for v in log_likelihood])
    settings = {"n_prototypes": int(n_prototypes), "covariance": covariance,
                "dimensions": int(model.pca.n_components_), "seed": int(seed), "channels": int(array.shape[1]),
                "samples": int(len(array)), "normalisation": "l1", "variance_floor": model.floor}
    return Prototypes(means=means, weights=model.mixture.weights_.copy(), members=members, closest=closest,
                      closest_files=closest_files, assignments=assignments, log_likelihood=log_likelihood,
                      percentiles=percentiles, files=files, settings=settings, model=model)


def typicality(prototypes: Prototypes, vector, k: int | None = 5) -> Typicality:
    """How typical ``vector`` (one sample's concept relevance at the same layer) is for the fitted class.

    ``k`` limits the concepts listed as differing most (``None`` lists all).
    """
    if prototypes.model is None:
        raise InputError("These prototypes were read from files without their mixture; fit them again to "
                         "judge new samples.")
    vector = np.asarray(vector, dtype=np.float64).reshape(-1)
    channels = prototypes.means.shape[1]
    if vector.shape[0] != channels:
        raise InputError(f"The vector has {vector.shape[0]} concepts; the prototypes were fitted on {channels}. "
                         "Use the same layer.")
    if not np.isfinite(vector).all():
        raise InputError("The concept relevance of this sample is not finite (NaN or infinite).")
    share = shares(vector)
    nearest = int(prototypes.model.mixture.predict(prototypes.model.pca.transform(share))[0])
    log_likelihood = float(prototypes.model.log_likelihood(share)[0])
    difference = share[0] - prototypes.means[nearest]
    order = np.argsort(-np.abs(difference), kind="stable")[: (None if k is None else int(k))]
    return Typicality(prototype=nearest, log_likelihood=log_likelihood,
                      percentile=percentile_of(prototypes.log_likelihood, log_likelihood),
                      differences=[(int(c), float(difference[c])) for c in order])


def check_comparable(prototypes: Prototypes, layer: str, class_index: int) -> None:
    """Refuse plainly when one prediction's concepts (``layer``, ``class_index``) cannot be compared with
    ``prototypes`` (fitted at another layer or for another class)."""
    fitted_layer, fitted_class = prototypes.settings.get("layer"), prototypes.settings.get("class_index")
    if fitted_layer is not None and str(fitted_layer) != str(layer):
        raise InputError(f"These prototypes were fitted at layer {fitted_layer}, the concepts are of layer {layer}; "
                         f"explain the concepts of layer {fitted_layer}.")
    if fitted_class is not None and int(fitted_class) != int(class_index):
        raise InputError(f"These prototypes are of class {fitted_class}, the prediction explained is class "
                         f"{class_index}; explain class {fitted_class}, or use that class's prototypes.")


def choose_prototype_count(relevance, max_count: int = 8, *, seed: int = 0, covariance: str = "full") -> int:
    """The number of prototypes (1 to ``max_count``) whose mixture has the lowest BIC, all in the space
    :func:`fit_prototypes` uses. Full covariances by default: their larger penalty keeps the count from
    growing to copy one correlated group with several diagonal components."""
    array = _checked(relevance, 1)
    normalised = shares(array)
    largest = max(1, min(int(max_count), len(array) // SAMPLES_PER_PROTOTYPE))
    model, projected = _fit_mixture(normalised, 1, covariance, int(seed))
    from sklearn.mixture import GaussianMixture

    scores = []
    for count in range(1, largest + 1):
        try:
            mixture = GaussianMixture(count, covariance_type=covariance, reg_covar=model.floor, n_init=2,
                                      max_iter=500, random_state=int(seed)).fit(projected)
        except ValueError:
            break  # too few distinct vectors for this many components: stop at the counts that fitted
        scores.append(mixture.bic(projected))
    return int(np.argmin(scores)) + 1 if scores else 1


def prototypes_for_class(references, class_index: int, n_prototypes: int, *, by: str = "predicted",
                         seed: int = 0, covariance: str = "diag") -> Prototypes:
    """Prototypes of one class from a reference run (:func:`xaidesk.concepts.references.open_references`).

    ``by="predicted"`` takes the samples the model predicted as the class (PCX explains the model's own
    decisions); ``by="target"`` those the run explained for the class (its ``targets``). Either way only
    samples whose relevance explains the class are used (a run made for one fixed class explains that
    class for every sample). ``settings`` records the run's layer, model, method and folder. Members, closest
    samples and assignments index the chosen samples; ``files`` names them.
    """
    if by not in ("predicted", "target"):
        raise InputError(f"Choose the samples by 'predicted' or 'target', not '{by}'.")
    labels = np.asarray(references.predicted if by == "predicted" else references.targets)
    # The relevance vectors must explain this class: with a run made for a fixed class, a sample predicted
    # as another class carries the relevance of that fixed class, not of its own.
    chosen = np.flatnonzero((labels == int(class_index)) & (np.asarray(references.targets) == int(class_index)))
    if len(chosen) == 0:
        what = "predicted as, and explained for," if by == "predicted" else "explained for"
        raise InputError(f"No sample of the reference run is {what} class {class_index}; choose another class.")
    relevance = np.asarray(references.relevance)[chosen]
    files = [str(references.files[i]) for i in chosen]
    fitted = fit_prototypes(relevance, n_prototypes, files=files, seed=seed, covariance=covariance)
    fitted.settings.update(class_index=int(class_index), by=by, **{
        key: str(getattr(references, attribute)) for key, attribute in (
            ("layer", "layer"), ("model", "model_spec"), ("method", "method"), ("run", "run_dir"))
        if getattr(references, attribute, None) is not None})
    return fitted


__all__ = [
    "COVARIANCES", "Mixture", "Prototypes", "Typicality", "check_comparable", "choose_prototype_count", "fit_prototypes", "percentile_of",
    "prototypes_for_class", "shares", "typicality",
]
