"""LIME on superpixels (Ribeiro et al., "Why should I trust you?", KDD 2016).

The image (as the model sees it: model-input geometry, de-normalised to [0, 1]) is cut into
superpixels with scikit-image (SLIC, quickshift or Felzenszwalb). Each sample switches every
superpixel on (original pixels) or off (hidden: black, the superpixel's mean colour, or a
blurred copy). Images hide with black by default, unlike ``lime`` (the superpixel's mean):
SLIC's superpixels follow colour, so the mean of a superpixel that covers one object is that
object's colour and hides nothing; on a trained network this mattered more than the
segmentation or the sampler (``bench/bench_sampling_faithfulness.py``, figures in ``docs/methods.md``).

The model's softmax probabilities of all samples are kept; a weighted ridge
regression of the explained class's probability on the on/off pattern is the local surrogate.

The estimator follows the ``lime`` package (``lime_image.LimeImageExplainer``):

- the first sample is the unperturbed image (all superpixels on);
- a sample's weight is ``sqrt(exp(-d**2 / kernel_width**2))`` with ``d`` the cosine distance
  between its on/off vector ``z`` and the all-ones vector, ``d = 1 - sqrt(|z| / S)``;
- the surrogate is ``sklearn.linear_model.Ridge(alpha, fit_intercept=True)`` fitted with these
  sample weights on all superpixels; its weighted R^2 is the local fidelity.

Sampling (the ``sampling`` parameter). Every scheme draws each sample after the first from the
same distribution as ``lime`` -- every superpixel on or off with probability 1/2, independently
-- so the weighted moments the ridge is fitted on are unbiased for the same population
quantities and all schemes converge to the same surrogate. They differ in how the samples
depend on each other:

``lime``
    ``lime``'s own scheme: ``np.random.RandomState(seed).randint(0, 2, N * S)``, first row set
    to ones. With the same seed and segmentation it reproduces ``lime``'s samples exactly.
``orthogonal`` (default)
    Blocks of ``m`` samples (``m`` the smallest power of two > S) taken from a randomised
    Sylvester-Hadamard matrix: S distinct non-constant columns chosen at random, each superpixel's
    column flipped with probability 1/2 (so every row is uniform on {0, 1}^S), rows shuffled.
    Within a block every superpixel is on in exactly half of the samples and every two
    superpixels are uncorrelated (an orthogonal array of strength 2), so the regression's
    design is as well conditioned as it can be. LIME on a few dozen superpixels converges after
    roughly 1-3 S samples, where a random design still has near-collinear columns; this is where
    the orthogonal design saves forward passes (measured in ``bench/bench_lime.py``: about
    0.65-1x the samples of i.i.d. sampling for Pearson >= 0.95 with a 10x longer run).
``antithetic``
    After the first sample, samples come in complementary pairs ``(z, 1 - z)``. Even-order
    interactions between superpixels cancel in the regression's cross-moments (up to the
    difference of the two kernel weights), but with an intercept the complement carries no new
    information about the linear part (``1 - z`` is a linear function of ``z``); measured, it
    needs *more* samples than i.i.d. at the sample sizes LIME is used with, and is kept for
    comparison only.
``stratified``
    The number of superpixels on, ``|z| ~ Binomial(S, 1/2)``, is drawn by stratified
    inverse-CDF sampling (one stratum per sample, randomly ordered), then a uniformly random
    subset of that size; the kernel weight depends on ``|z|`` only, so this removes the
    fluctuation of the weight sum. Measured: about as good as i.i.d.

Every row of every scheme is marginally uniform on {0, 1}^S; only the dependence between rows
differs. The weighted moments the ridge is fitted on are therefore unbiased for the same
population quantities and all schemes converge to the same surrogate as ``lime`` (checked in
``tests/test_lime.py`` against the exact surrogate over all 2^S patterns).

All schemes are reproducible with ``seed``. Samples are evaluated batch by batch through
:func:`~xaidesk.models.inference.evaluate_perturbations` (only the N x S binary design is
kept in full, never N images); every few batches the ridge is refitted on the samples so far and
reported as a partial result.

All classes' probabilities are kept in ``extras["outputs"]``, so :func:`refit_lime` explains any
other class without a new forward pass.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..core import Cancelled, Explanation, MethodError, Param, Target, register_method
from ..core.registry import TAG_NEEDS_SEGMENTATION
from ..models.inference import BatchStats, evaluate_perturbations
from .common import check_target, detached_copy, reference_input, scoring_module

MODALITY = ("image", "audio")
SEGMENTATIONS = ("slic", "quickshift", "felzenszwalb", "grid")
HIDE_KINDS = ("mean", "black", "blur")
SAMPLINGS = ("orthogonal", "lime", "antithetic", "stratified")
DEFAULT_SAMPLING = "orthogonal"

PARAMS = [
    Param("num_samples", "int", 1000,
          "How many copies with superpixels randomly switched off the model looks at; more is steadier but slower.",
          minimum=10, maximum=100_000, label="random copies"),
    Param("segmentation", "choice", "slic",
          "How the image is cut into superpixels: SLIC (compact, even regions), quickshift (lime's "
          "default), Felzenszwalb (follows edges, uneven sizes) or a grid of rectangles (the natural "
          "choice for spectrograms: time-frequency patches).",
          choices=SEGMENTATIONS, label="superpixels by",
          choice_titles={"slic": "SLIC superpixels (compact regions)", "quickshift": "Quickshift (lime's default)",
                         "felzenszwalb": "Felzenszwalb (follows edges)", "grid": "Grid of rectangles"}),
    Param("grid_rows", "int", 8,
          "Grid: number of patches from top to bottom (frequency bands on a spectrogram).",
          minimum=1, maximum=1024, label="grid rows",
          shown_when={"segmentation": ("grid",)}),
    Param("grid_cols", "int", 8,
          "Grid: number of patches from left to right (time steps on a spectrogram).",
          minimum=1, maximum=1024, label="grid columns",
          shown_when={"segmentation": ("grid",)}),
    Param("n_segments", "int", 100,
          "SLIC: approximate number of superpixels (about 60-80 result on a typical photo).",
          minimum=2, maximum=10_000, label="SLIC: superpixels",
          shown_when={"segmentation": ("slic",)}),
    Param("compactness", "float", 10.0,
          "SLIC: higher values give squarer superpixels, lower values follow colour edges more.",
          minimum=0.001, maximum=1000.0, label="SLIC: squareness",
          shown_when={"segmentation": ("slic",)}),
    Param("kernel_size", "float", 4.0,
          "Quickshift: width of the smoothing kernel; larger gives fewer, bigger superpixels.",
          minimum=0.5, maximum=100.0, label="quickshift: smoothing",
          shown_when={"segmentation": ("quickshift",)}),
    Param("max_dist", "float", 200.0,
          "Quickshift: cut-off distance between pixels of one superpixel; larger gives fewer superpixels.",
          minimum=0.1, maximum=10_000.0, label="quickshift: distance",
          shown_when={"segmentation": ("quickshift",)}),
    Param("ratio", "float", 0.2,
          "Quickshift: balance between colour (towards 1) and position (towards 0).",
          minimum=0.0, maximum=1.0, label="quickshift: colour share",
          shown_when={"segmentation": ("quickshift",)}),
    Param("scale", "float", 150.0,
          "Felzenszwalb: larger gives fewer, bigger superpixels.", minimum=0.1, maximum=100_000.0,
          label="Felzenszwalb: size",
          shown_when={"segmentation": ("felzenszwalb",)}),
    Param("sigma", "float", 0.8,
          "Felzenszwalb: smoothing before cutting, in pixels.", minimum=0.0, maximum=100.0,
          label="Felzenszwalb: smoothing",
          shown_when={"segmentation": ("felzenszwalb",)}),
    Param("min_size", "int", 50,
          "Felzenszwalb: smallest superpixel, in pixels.", minimum=1, maximum=1_000_000,
          label="Felzenszwalb: smallest part",
          shown_when={"segmentation": ("felzenszwalb",)}),
    Param("hide", "choice", "black",
          "What a switched-off superpixel shows: black, its own mean colour, or a blurred copy of the image. "
          "Its own mean colour hides nothing when the superpixel is of one colour (a part that superpixels "
          "follow well), so black is the default for pictures; sounds keep the mean.",
          choices=HIDE_KINDS, label="switched-off parts show",
          choice_titles={"mean": "Their own average colour", "black": "Black", "blur": "A blurred copy"}),
    Param("kernel_width", "float", 0.25,
          "How strongly copies count by how close they stay to the original (kernel width on the cosine "
          "distance); smaller values trust only copies close to the original.",
          minimum=0.001, maximum=100.0, label="closeness weighting"),
    Param("alpha", "float", 1.0,
          "How strongly the fitted weights are kept small (ridge penalty of the linear model; lime uses 1).",
          minimum=0.0, maximum=1e6, label="weight penalty"),
    Param("sampling", "choice", DEFAULT_SAMPLING,
          "How on/off patterns are drawn: orthogonal (balanced blocks; steadiest for few samples), lime "
          "(the lime package's own random scheme), antithetic (each pattern with its complement) or "
          "stratified (by number of superpixels switched on). All converge to the same result.",
          choices=SAMPLINGS, label="switching pattern",
          choice_titles={"orthogonal": "Balanced blocks (orthogonal)", "lime": "As the lime package draws them",
                         "antithetic": "Each with its opposite (antithetic)",
                         "stratified": "By number switched on (stratified)"}),
    Param("top_k", "int", 5, "How many most positive and most negative superpixels are listed.",
          minimum=1, maximum=100, label="superpixels listed"),
    Param("seed", "int", 0, "Start value of the random choices; the same seed gives the same copies.",
          minimum=0, maximum=2**31 - 1, label="random seed (same seed, same result)"),
    Param("batch_size", "int", 0, "How many copies the model looks at in one go; Automatic picks what fits in memory.",
          minimum=0, maximum=1024, label="copies at once", minimum_text="Automatic"),
]


# --- superpixels ----------------------------------------------------------------------------------


def display_image(x: torch.Tensor, preprocessing=None) -> np.ndarray:
    """The (H, W, 3) float64 image in [0, 1] that the model sees, for segmentation.

    ``x`` (1, C, H, W) is de-normalised with the preprocessing's mean and std when they fit its
    channels, otherwise each channel is min-max scaled. One channel is replicated to RGB; other
    channel counts are averaged to gray.
    """
    data = x.detach()[0].double().cpu()
    channels = data.shape[0]
    mean = getattr(preprocessing, "mean", None)
    std = getattr(preprocessing, "std", None)
    if mean is not None and std is not None and len(mean) == channels and len(std) == channels:
        data = data * torch.tensor(std, dtype=torch.float64).view(-1, 1, 1) + torch.tensor(
            mean, dtype=torch.float64).view(-1, 1, 1)
    else:
        low = data.amin(dim=(1, 2), keepdim=True)
        high = data.amax(dim=(1, 2), keepdim=True)
        data = (data - low) / torch.clamp(high - low, min=1e-12)
    image = data.clamp(0.0, 1.0).permute(1, 2, 0).numpy()
    if channels == 3:
        return np.ascontiguousarray(image)
    gray = image.mean(axis=2, keepdims=True)
    return np.ascontiguousarray(np.repeat(gray, 3, axis=2))


def relabel(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0 .. S-1 in order of their first value (int64)."""
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int64)


def segment_image(image: np.ndarray, params: dict) -> np.ndarray:
    """Superpixels of an (H, W, 3) float image in [0, 1] as an int64 label map 0 .. S-1."""
    kind = params.get("segmentation", "slic")
    if kind == "grid":
        return grid_segments(image.shape[:2], int(params.get("grid_rows", 8)), int(params.get("grid_cols", 8)))
    from skimage.segmentation import felzenszwalb, quickshift, slic

    if kind == "slic":
        labels = slic(image, n_segments=int(params.get("n_segments", 100)),
                      compactness=float(params.get("compactness", 10.0)), start_label=0, channel_axis=-1)
    elif kind == "quickshift":
        labels = quickshift(image, kernel_size=float(params.get("kernel_size", 4.0)),
                            max_dist=float(params.get("max_dist", 200.0)), ratio=float(params.get("ratio", 0.2)),
                            rng=42, channel_axis=-1)  # skimage's default, as lime gets it
    elif kind == "felzenszwalb":
        labels = felzenszwalb(image, scale=float(params.get("scale", 150.0)), sigma=float(params.get("sigma", 0.8)),
                              min_size=int(params.get("min_size", 50)), channel_axis=-1)
    else:
        raise MethodError(f"Unknown segmentation '{kind}'; choose one of: {', '.join(SEGMENTATIONS)}.")
    return relabel(np.asarray(labels))


def grid_segments(shape: tuple[int, int], rows: int, cols: int) -> np.ndarray:
    """Rectangular patches: ``rows`` x ``cols`` near-equal cells, labelled row by row (int64)."""
    h, w = int(shape[0]), int(shape[1])
    rows, cols = max(1, min(rows, h)), max(1, min(cols, w))
    r = (np.arange(h) * rows) // h
    c = (np.arange(w) * cols) // w
    return (r[:, None] * cols + c[None, :]).astype(np.int64)


def hidden_input(x: torch.Tensor, segments: np.ndarray, hide: str, preprocessing=None) -> torch.Tensor:
    """What switched-off superpixels show, as a (1, C, H, W) tensor like ``x``."""
    if hide == "mean":
        seg = torch.from_numpy(segments.reshape(-1))
        count = torch.bincount(seg, minlength=int(segments.max()) + 1).to(torch.float64)
        flat = x.detach()[0].reshape(x.shape[1], -1).double()
        sums = torch.zeros((x.shape[1], count.numel()), dtype=torch.float64)
        sums.index_add_(1, seg, flat)
        means = sums / count.clamp(min=1)
        return means[:, seg].reshape(x.shape).to(x.dtype)
    if hide == "black":
        return reference_input(x, "black", preprocessing)
    if hide == "blur":
        return reference_input(x, "blur")
    raise MethodError(f"Unknown hide colour '{hide}'; choose one of: {', '.join(HIDE_KINDS)}.")


# --- sampling -------------------------------------------------------------------------------------


def sample_design(num_samples: int, num_segments: int, sampling: str, seed: int) -> np.ndarray:
    """The (N, S) uint8 on/off design; row 0 is all ones (the unperturbed input).

    See the module docstring: every later row is marginally uniform on {0, 1}^S in every scheme.
    """
    n, s = int(num_samples), int(num_segments)
    if sampling == "lime":
        rng = np.random.RandomState(seed)
        design = rng.randint(0, 2, n * s).reshape((n, s)).astype(np.uint8)
    elif sampling == "antithetic":
        rng = np.random.default_rng(seed)
        design = np.empty((n, s), dtype=np.uint8)
        rest = n - 1
        halves = rng.integers(0, 2, size=((rest + 1) // 2, s), dtype=np.uint8)
        pairs = np.stack([halves, 1 - halves], axis=1).reshape(-1, s)
        design[1:] = pairs[:rest]
    elif sampling == "orthogonal":
        rng = np.random.default_rng(seed)
        design = np.empty((n, s), dtype=np.uint8)
        m = 1 << max(1, int(np.ceil(np.log2(s + 1))))  # Sylvester-Hadamard order >= S + 1
        rows = np.arange(m, dtype=np.int64)[:, None]
        filled = 1
        while filled < n:
            columns = rng.choice(np.arange(1, m), size=s, replace=False)
            block = (_popcount(rows & columns[None, :]) & 1).astype(np.uint8)
            block ^= rng.integers(0, 2, size=s, dtype=np.uint8)[None, :]  # random flip per superpixel
            block = block[rng.permutation(m)]
            take = min(m, n - filled)
            design[filled : filled + take] = block[:take]
            filled += take
    elif sampling == "stratified":
        from scipy.stats import binom

        rng = np.random.default_rng(seed)
        design = np.zeros((n, s), dtype=np.uint8)
        rest = n - 1
        if rest > 0:
            u = (rng.permutation(rest) + rng.random(rest)) / rest
            sizes = binom.ppf(u, s, 0.5).astype(np.int64).clip(0, s)
            keys = rng.random((rest, s))
            order = np.argsort(keys, axis=1)  # a uniformly random permutation of superpixels per row
            on = np.arange(s)[None, :] < sizes[:, None]
            np.put_along_axis(design[1:], order, on.astype(np.uint8), axis=1)
    else:
        raise MethodError(f"Unknown sampling '{sampling}'; choose one of: {', '.join(SAMPLINGS)}.")
    design[0] = 1
    return design


def _popcount(values: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    out = np.zeros_like(values)
    v = values.copy()
    while np.any(v):
        out += v & 1
        v >>= 1
    return out


def kernel_weights(design: np.ndarray, kernel_width: float) -> np.ndarray:
    """lime's weights ``sqrt(exp(-d^2 / w^2))``, ``d`` the cosine distance of each row to all ones."""
    s = design.shape[1]
    on = design.sum(axis=1, dtype=np.float64)
    distance = 1.0 - np.sqrt(on / s)  # cos(z, 1) = |z| / (sqrt(|z|) sqrt(S)); 0 for the empty set
    return np.sqrt(np.exp(-(distance**2) / float(kernel_width) ** 2))


# --- surrogate ------------------------------------------------------------------------------------


def fit_surrogate(design: np.ndarray, y: np.ndarray, weights: np.ndarray, alpha: float = 1.0):
    """Weighted ridge ``y ~ design``; returns (coefficients float64 (S,), intercept, weighted R^2)."""
    from sklearn.linear_model import Ridge

    data = np.asarray(design, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    model = Ridge(alpha=float(alpha), fit_intercept=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data, y, sample_weight=weights)
        r2 = float(model.score(data, y, sample_weight=weights)) if len(y) > 1 else float("nan")
    return np.asarray(model.coef_, dtype=np.float64), float(model.intercept_), r2


def paint(segments: np.ndarray, segment_weights: np.ndarray) -> np.ndarray:
    """Each pixel gets its superpixel's weight; pixels labelled -1 (cropped away, not seen) get NaN."""
    segments = np.asarray(segments)
    table = np.append(np.asarray(segment_weights, dtype=np.float32), np.float32(np.nan))
    return table[np.where(segments >= 0, segments, len(table) - 1)].astype(np.float32)


def top_segments(segment_weights: np.ndarray, k: int) -> tuple[list[int], list[int]]:
    """The ``k`` most positive and the ``k`` most negative superpixel labels."""
    w = np.asarray(segment_weights, dtype=np.float64)
    order = np.argsort(-w, kind="stable")
    positive = [int(i) for i in order if w[i] > 0][:k]
    negative = [int(i) for i in order[::-1] if w[i] < 0][:k]
    return positive, negative


def _surrogate_extras(design, weights, outputs, target, alpha, top_k) -> dict:
    coef, intercept, r2 = fit_surrogate(design, outputs[:, target], weights, alpha)
    positive, negative = top_segments(coef, top_k)
    return {
        "segment_weights": [float(v) for v in coef],
        "top_positive": positive,
        "top_negative": negative,
        "r2": r2,
        "intercept": intercept,
        "local_prediction": float(intercept + coef.sum()),
    }


def refit_lime(explanation: Explanation, target: int, *, class_label: str | None = None) -> Explanation:
    """Explain another class from a LIME result's stored samples, without a forward pass.

    Uses ``extras["design"]``, ``extras["sample_weights"]`` and ``extras["outputs"]`` (the
    probabilities of all classes) and paints the new weights on ``extras["segments"]``, so the
    relevance comes back in the same coordinates as ``explanation`` (model input or original
    image). Equals a fresh run for ``target`` with the same settings and seed.
    """
    extras = explanation.extras
    try:
        design, weights, outputs = extras["design"], extras["sample_weights"], extras["outputs"]
    except KeyError as missing:
        raise MethodError(f"This explanation has no stored LIME samples ({missing.args[0]} missing); run LIME again.") from None
    check_target(int(target), outputs.shape[1])
    alpha = float(extras.get("alpha", explanation.params.get("alpha", 1.0)))
    top_k = int(extras.get("top_k", explanation.params.get("top_k", 5)))
    new = dict(extras)
    new.update(_surrogate_extras(design, weights, outputs, int(target), alpha, top_k))
    new["probability"] = float(outputs[0, int(target)])
    score = explanation.score
    if isinstance(extras.get("base_output"), np.ndarray):
        score = float(extras["base_output"][int(target)])
    label = class_label if class_label is not None else (
        explanation.target.label if int(target) == explanation.target.index else f"class {int(target)}")
    return explanation.replace(
        relevance=paint(extras["segments"], np.asarray(new["segment_weights"])),
        target=Target(int(target), label),
        score=score,
        extras=new,
    )


# --- the method -----------------------------------------------------------------------------------


@register_method(
    "lime",
    unit="weight", sample_unit="samples", tags=[TAG_NEEDS_SEGMENTATION], refit=refit_lime,
    modality_defaults={"audio": {"segmentation": "grid", "hide": "mean"}},
    modality=MODALITY,
    params=PARAMS,
    title="LIME (superpixels)",
    help="Switches superpixels (small patches of similar colour) on and off at random, fits a simple "
    "linear model to the class probability and shows each superpixel's weight; R² says how well the "
    "simple model matches (1 is perfect).",
    iterative=True,
    resample="value",
)
def lime(model, x, target, *, params, token, progress) -> Explanation:
    """Weighted ridge surrogate on superpixel on/off samples; relevance is each superpixel's weight."""
    token.check()
    x = detached_copy(x)
    progress(0.0, "LIME: cutting the image into superpixels")
    segments = segment_image(display_image(x, model.preprocessing), params)
    num_segments = int(segments.max()) + 1
    token.check()
    fill = hidden_input(x, segments, params["hide"], model.preprocessing)
    n = int(params["num_samples"])
    design = sample_design(n, num_segments, params["sampling"], int(params["seed"]))
    weights = kernel_weights(design, float(params["kernel_width"]))
    alpha, top_k = float(params["alpha"]), int(params["top_k"])
    seg_t = torch.from_numpy(segments)
    design_t = torch.from_numpy(design.astype(bool))
    label = model.label(int(target)) if hasattr(model, "label") else ""

    def make_batch(start: int, stop: int) -> torch.Tensor:
        keep = design_t[start:stop][:, seg_t]  # (B, H, W): pixel's superpixel is on
        return torch.where(keep[:, None], x, fill)

    probabilities: np.ndarray | None = None
    logits: np.ndarray | None = None
    done = 0

    def on_batch(start: int, stop: int, outputs: torch.Tensor) -> None:
        nonlocal probabilities, logits, done
        if probabilities is None:
            check_target(target, outputs.shape[1])
            probabilities = np.empty((n, outputs.shape[1]), dtype=np.float32)
            logits = np.empty((n, outputs.shape[1]), dtype=np.float32)
        logits[start:stop] = outputs.numpy()
        probabilities[start:stop] = torch.softmax(outputs.double(), dim=1).float().numpy()
        done = stop

    def build(count: int, complete: bool) -> Explanation:
        extras = {
            "segments": segments,
            "num_segments": num_segments,
            "n_used": int(count),
            "n_done": int(count),
            "num_samples": n,
            "sampling": params["sampling"],
            "design": design[:count],
            "sample_weights": weights[:count],
            "outputs": probabilities[:count],
            "logits": logits[:count],
            "base_output": logits[0].copy(),
            "probability": float(probabilities[0, target]),
            "alpha": alpha,
            "top_k": top_k,
            "kernel_width": float(params["kernel_width"]),
        }
        extras.update(_surrogate_extras(design[:count], weights[:count], probabilities[:count], target, alpha, top_k))
        return Explanation(
            relevance=paint(segments, np.asarray(extras["segment_weights"])),
            method="lime",
            target=Target(int(target), label),
            score=float(logits[0, target]),
            extras=extras,
            complete=complete,
        )

    stats = BatchStats()
    try:
        evaluate_perturbations(
            scoring_module(model), make_batch, n, token=token, progress=progress,
            batch_size=int(params["batch_size"]), on_batch=on_batch,
            partial=lambda: build(done, False) if done > 0 else None,
            message="LIME: samples", unit="samples", model_name=model.name, stats=stats,
        )
    except Cancelled:
        error = Cancelled()
        error.partial = build(done, False) if done > 0 else None
        raise error from None
    result = build(n, True)
    result.extras["batch_sizes"] = sorted(set(stats.sizes))
    return result
