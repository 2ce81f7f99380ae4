"""Perturbation curves on a sound's spectrogram (see :mod:`.faithfulness` for the curves).

The relevance of an audio explanation lives on the clip's log-mel spectrogram
(n_mels, frames), which is what the model sees window by window
(:func:`~xaidesk.models.audio.window_inputs`). The units are square time-frequency patches
of ``patch`` mel bands x ``patch`` frames (``patch=1``: single cells). Removed patches show the
spectrogram's mean log-mel value (``"mean"``), a Gaussian-blurred copy (``"blur"``, sigma = 2
cells) or silence, the lowest log-mel value ``log(log_offset)`` (``"black"``). The perturbed
spectrogram is cut into the model's own windows (:func:`~xaidesk.models.audio.window_inputs`,
the last one ending at the clip's end) and the explained score is the target's logit (or
probability) averaged over them -- the clip score :func:`~xaidesk.explain.audio.explain_audio`
reports.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..core import CancelToken, InputError, MethodError, no_progress
from ..data.audio import LoadedAudio
from ..models.audio import clip_samples, window_inputs
from ..explain.common import scoring_module
from ..models.base import LoadedModel
from .faithfulness import (
    FaithfulnessResult, FlipSettings, assemble, evaluate_jobs, explained_scores, removal_counts, removal_orders,
)
from .pixel_flipping import patch_scores

#: Default side of a time-frequency patch, in mel bands and frames.
AUDIO_PATCH = 8


def fill_spectrogram(log_mel: np.ndarray, fill: str, silence: float) -> np.ndarray:
    """What removed time-frequency cells show: the mean log-mel, a blurred copy, or silence."""
    if fill == "mean":
        return np.full_like(log_mel, float(log_mel.mean()))
    if fill == "black":
        return np.full_like(log_mel, np.float32(silence))
    if fill == "blur":
        from skimage.filters import gaussian

        return gaussian(log_mel.astype(np.float64), sigma=2.0, preserve_range=True).astype(np.float32)
    raise InputError(f"Unknown fill '{fill}'; choose one of: mean, blur, black.")


def audio_faithfulness(
    model: LoadedModel,
    audio: LoadedAudio,
    relevance: np.ndarray,
    target: int,
    settings: FlipSettings = FlipSettings(),
    *,
    method: str = "",
    token: CancelToken | None = None,
    progress=no_progress,
) -> FaithfulnessResult:
    """Perturbation curves of a spectrogram ``relevance`` (n_mels, frames) for class ``target``."""
    start = time.perf_counter()
    settings = settings.checked()
    frontend = getattr(model, "frontend", None)
    if getattr(model, "modality", "image") != "audio" or frontend is None:
        raise MethodError(f"{model.name} is not a sound model; evaluate sound with an audio model (e.g. demo:sounds).")
    if model.embedding_only:
        raise MethodError(f"{model.name} has no classifier head, so there is no class score whose fall could be "
                          "measured; faithfulness needs a model with classes.")
    log_mel = frontend.log_mel(clip_samples(audio, frontend))
    relevance = np.asarray(relevance)
    if relevance.shape != log_mel.shape:
        raise InputError(
            f"The relevance map ({relevance.shape[0]} bands x {relevance.shape[1]} frames) does not match the clip's "
            f"spectrogram ({log_mel.shape[0]} x {log_mel.shape[1]}); evaluate an explanation of this clip."
        )
    patch = settings.patch or AUDIO_PATCH
    tiles = patch_scores(np.nan_to_num(relevance.astype(np.float64)), patch)
    rows, cols = tiles.shape
    n_units = tiles.size
    orders = removal_orders(tiles, settings, np.random.default_rng(settings.seed))
    counts = removal_counts(n_units, settings.steps)
    filled = fill_spectrogram(log_mel, settings.fill, math.log(frontend.log_offset))
    n_windows = window_inputs(log_mel, frontend)[0].shape[0]
    bands, frames = log_mel.shape

    def inputs_of(job: int):
        order, count = divmod(job, len(counts))
        keep = np.ones(n_units, dtype=bool)
        keep[orders[order][1][: counts[count]]] = False
        mask = np.repeat(np.repeat(keep.reshape(rows, cols), patch, 0), patch, 1)[:bands, :frames]
        return window_inputs(np.where(mask, log_mel, filled).astype(np.float32), frontend)[0]

    outputs = evaluate_jobs(scoring_module(model), inputs_of, len(orders) * len(counts), per_job=n_windows, token=token,
                            progress=progress, message="Perturbation curves: spectrogram", model_name=model.name)
    scores = explained_scores(outputs, target, settings.score).reshape(-1, n_windows).mean(axis=1)
    unit = "time-frequency cells" if patch == 1 else f"{patch} bands x {patch} frames patches"
    result = assemble(method, target, model.label(int(target)), orders, counts, n_units, scores,
                      f"{unit} ({n_units})", settings, patch_resolved=patch, windows=int(n_windows))
    result.seconds = time.perf_counter() - start
    return result
