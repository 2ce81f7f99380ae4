"""LIME for tables: one row's local linear surrogate of a model's output.

LIME for tables (:func:`lime_tabular`)
    The same algorithm as ``lime.lime_tabular.LimeTabularExplainer`` with
    ``discretize_continuous=False``, ``feature_selection="none"`` and the default
    Ridge(alpha=1): samples x' = instance + N(0, 1) · σ_train (``sample_around_instance=True``)
    or mean + N(0, 1) · σ_train (the package's default); the first sample is the
    instance itself; the samples are scaled by (x' - mean) / σ; the kernel is
    sqrt(exp(-d² / width²)) with width = 0.75 √F on the Euclidean distance of the
    scaled samples to the scaled instance; a weighted Ridge is fitted on the scaled
    samples. With the same ``numpy.random.RandomState(seed)`` both draw the same
    samples in the same order (one ``normal(0, 1, S·F)`` call), so coefficients
    agree to rounding (tested against the package). ``coefficients`` are
    the Ridge coefficients on the scaled features (what the package reports);
    ``contributions`` = coefficient · (x - mean) / σ, which add up with the
    intercept to the surrogate's prediction at the instance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LimeTabularResult:
    """One row's LIME explanation (see the module doc for the algorithm)."""

    coefficients: np.ndarray  # (F,) Ridge coefficients on the scaled features
    contributions: np.ndarray  # (F,) coefficient * scaled instance value
    intercept: float
    local_prediction: float
    score: float  # weighted R² of the surrogate
    samples: np.ndarray  # (S, F) the perturbed samples (original units), first = instance
    weights: np.ndarray  # (S,) kernel weights
    predictions: np.ndarray  # (S,) model outputs explained


def lime_tabular(
    predict_fn,
    instance: np.ndarray,
    training: np.ndarray,
    *,
    num_samples: int = 5000,
    kernel_width: float | None = None,
    sample_around_instance: bool = False,
    seed: int = 0,
    samples: np.ndarray | None = None,
) -> LimeTabularResult:
    """LIME for one row; ``predict_fn(samples) -> (S,)`` returns the explained output.

    ``samples`` may be given (first row = instance) to explain on exactly those.
    """
    from sklearn.linear_model import Ridge

    training = np.asarray(training, dtype=np.float64)
    instance = np.asarray(instance, dtype=np.float64)
    f = training.shape[1]
    mean = training.mean(axis=0)
    scale = training.std(axis=0)
    scale[scale == 0] = 1.0
    if samples is None:
        rng = np.random.RandomState(seed)
        samples = rng.normal(0, 1, num_samples * f).reshape(num_samples, f)
        samples = samples * scale + (instance if sample_around_instance else mean)
        samples[0] = instance
    samples = np.asarray(samples, dtype=np.float64)
    scaled = (samples - mean) / scale
    distances = np.sqrt(((scaled - scaled[0]) ** 2).sum(axis=1))
    width = float(kernel_width) if kernel_width is not None else float(np.sqrt(f) * 0.75)
    weights = np.sqrt(np.exp(-(distances ** 2) / width ** 2))
    predictions = np.asarray(predict_fn(samples), dtype=np.float64).reshape(-1)
    surrogate = Ridge(alpha=1, fit_intercept=True, random_state=np.random.RandomState(seed))
    surrogate.fit(scaled, predictions, sample_weight=weights)
    score = float(surrogate.score(scaled, predictions, sample_weight=weights))
    local = float(surrogate.predict(scaled[:1])[0])
    coef = np.asarray(surrogate.coef_, dtype=np.float64)
    return LimeTabularResult(
        coefficients=coef, contributions=coef * scaled[0], intercept=float(surrogate.intercept_),
        local_prediction=local, score=score, samples=samples, weights=weights, predictions=predictions,
    )
