"""From an opened sound to an explanation on the clip's spectrogram timeline.

:func:`explain_audio` resamples the clip to the model's rate, computes the log-mel spectrogram of
the whole clip (:class:`~xaidesk.models.audio.AudioFrontEnd`), cuts it into windows of
``window_frames`` frames, explains each window with the registered method -- the same registry
and functions as for images; the model input is (1, 1, n_mels, window_frames) -- and blends the
window maps onto the clip's timeline: ``relevance`` is (n_mels, total_frames), lowest mel band in
row 0.

No seams. Explanation windows overlap by at least half (hop ``min(window_hop_frames,
window_frames // 2)``) and are blended with a smooth weight, ``sin^2`` over the window (a Hann
window shifted half a frame, so it is never zero): each frame's value is the weighted mean of the
windows covering it. Window edges, where a network's padding and a method's own border effects
live, get almost no weight, so no stripe marks where one window ends and the next begins. The last
window is aligned to the end of the clip (it overlaps the one before) instead of being padded with
silence; only a clip shorter than one window is padded, and the padding is not part of the map.
Predictions use the model's own windows (``window_hop_frames``), also ending at the clip's end.

Progress runs across windows; partial results (windows finished so far plus the current
window's partial) are stitched and reported like images' partials, and so is the partial
attached to :class:`~xaidesk.core.Cancelled` (``error.partial``, ``complete=False``).

Defaults differ from images where spectrograms call for it (recorded in ``extras["notes"]``):
LIME cuts the spectrogram into a grid of time-frequency patches (``segmentation="grid"``) and
RELAX's random grid uses 8 cells per side, unless the person chose otherwise.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core import Cancelled, CancelToken, Explanation, MethodError, Step, Target, no_progress, step_of
from ..data.audio import LoadedAudio
from ..models.audio import AudioFrontEnd, clip_samples, window_inputs
from ..models.base import LoadedModel
from ..models.inference import forward_logits
from .common import check_target
from .common import method_for
from .image import Prediction

PREDICT_BATCH = 64


def _frontend(model_or_frontend) -> AudioFrontEnd:
    frontend = model_or_frontend if isinstance(model_or_frontend, AudioFrontEnd) else getattr(
        model_or_frontend, "frontend", None)
    if frontend is None:
        raise MethodError("This model has no spectrogram settings, so it cannot take sound. Choose an audio "
                          "model (demo:sounds, vggish:PATH, or file:PATH with an audio description file).")
    return frontend


def spectrogram_of(model_or_frontend, audio: LoadedAudio) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(log_mel (n_mels, frames) float32, frame_times (s), mel_frequencies (Hz))`` of a clip.

    ``frame_times`` are seconds in the *file* (a segment's ``audio.start`` is added); rows are mel
    bands, lowest first.
    """
    frontend = _frontend(model_or_frontend)
    log_mel = frontend.log_mel(clip_samples(audio, frontend))
    return log_mel, frontend.frame_times(log_mel.shape[1]) + float(audio.start), frontend.mel_frequencies()


def explanation_hop(frontend: AudioFrontEnd) -> int:
    """Frames between explanation windows: at most half a window, so every frame lies in the
    smooth middle of some window."""
    return max(1, min(frontend.window_hop_frames, frontend.window_frames // 2))


def blend_weight(size: int) -> np.ndarray:
    """The weight of each frame of a window when window maps are blended: ``sin^2(pi (i + 1/2) / size)``.

    Near zero at the edges, one in the middle, never zero; shifted copies ``size / 2`` apart sum to one.
    """
    return np.sin(np.pi * (np.arange(size) + 0.5) / size) ** 2


@dataclass
class AudioPrediction(Prediction):
    """Class scores of a clip: probabilities averaged over its windows.

    ``logits`` are the windows' mean logits; ``top_class`` is the class with the highest averaged
    probability. Per window: ``window_logits`` and ``window_probabilities`` (W, K),
    ``window_top`` (top class per window) and ``windows`` ((start, stop) frames).
    """

    window_logits: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    window_probabilities: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    window_top: list[int] = field(default_factory=list)
    windows: list[tuple[int, int]] = field(default_factory=list)

    @property
    def top_class(self) -> int:
        return int(np.argmax(self.probabilities))


def _check_audio_model(model: LoadedModel) -> AudioFrontEnd:
    if getattr(model, "modality", "image") != "audio":
        raise MethodError(f"{model.name} is an image model; choose an audio model to explain sound.")
    return _frontend(model)


def _predict_windows(model: LoadedModel, x: torch.Tensor) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for i in range(0, x.shape[0], PREDICT_BATCH):
            out.append(forward_logits(model.module, x[i:i + PREDICT_BATCH], model.name).float())
    return torch.cat(out).numpy()


def predict_audio(model: LoadedModel, audio: LoadedAudio) -> AudioPrediction:
    """Class probabilities of a clip, averaged over its windows (per-window results kept).

    Raises :class:`MethodError` for a model without classes (VGGish without a classifier head).
    """
    frontend = _check_audio_model(model)
    if model.embedding_only:
        raise MethodError(f"{model.name} has no classifier head: it outputs a 128-number embedding, not classes, "
                          "so there is no prediction to show. RELAX still explains its representation.")
    x, bounds = window_inputs(spectrogram_of(frontend, audio)[0], frontend)
    logits = _predict_windows(model, x)
    if logits.shape[1] != len(model.class_names):
        raise MethodError(f"{model.name} produced {logits.shape[1]} scores but has {len(model.class_names)} class names.")
    probabilities = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
    mean = probabilities.mean(axis=0)
    return AudioPrediction(logits.mean(axis=0), mean.astype(np.float32), list(model.class_names),
                           window_logits=logits, window_probabilities=probabilities.astype(np.float32),
                           window_top=[int(i) for i in probabilities.argmax(axis=1)], windows=bounds)


@contextlib.contextmanager
def _input_offset(module: torch.nn.Module, offset: float):
    """Add ``offset`` to the module's input for the duration (a forward pre-hook; removed after)."""
    if offset == 0.0:
        yield
        return
    handle = module.register_forward_pre_hook(lambda mod, inputs: (inputs[0] + offset, *inputs[1:]))
    try:
        yield
    finally:
        handle.remove()


class _Stitcher:
    """Blends window maps onto the clip timeline: per frame, the :func:`blend_weight`-weighted mean
    of the windows covering it. Per frame, LIME segments come from the window weighted most there."""

    def __init__(self, n_mels: int, total: int, window_frames: int) -> None:
        self.total = total
        self.weight = blend_weight(window_frames)
        self.relevance = np.zeros((n_mels, total), dtype=np.float64)
        self.uncertainty: np.ndarray | None = None
        self.weight_sum = np.zeros(total, dtype=np.float64)
        self.best_weight = np.zeros(total, dtype=np.float64)
        self.segments: np.ndarray | None = None
        self.segment_weights: list[float] = []

    def add(self, explanation: Explanation, bounds: tuple[int, int]) -> None:
        start, stop = bounds
        keep = min(stop, self.total) - start
        # The only window (a clip of at most one window) has nothing to blend with.
        weight = np.ones(keep) if start == 0 and stop >= self.total else self.weight[:keep]
        rel = np.asarray(explanation.relevance, dtype=np.float64)
        self.relevance[:, start:start + keep] += rel[:, :keep] * weight
        if explanation.uncertainty is not None:
            if self.uncertainty is None:
                self.uncertainty = np.zeros_like(self.relevance)
            unc = np.asarray(explanation.uncertainty, dtype=np.float64)[:, :keep]
            self.uncertainty[:, start:start + keep] += unc * weight
        self.weight_sum[start:start + keep] += weight
        segments = explanation.extras.get("segments")
        weights = explanation.extras.get("segment_weights")
        if isinstance(segments, np.ndarray) and weights is not None:
            if self.segments is None:
                self.segments = np.full(self.relevance.shape, -1, dtype=np.int64)
            offset = len(self.segment_weights)
            wins = np.flatnonzero(weight > self.best_weight[start:start + keep])
            self.segments[:, start + wins] = segments[:, wins] + offset
            self.segment_weights.extend(float(w) for w in np.asarray(weights).reshape(-1))
        self.best_weight[start:start + keep] = np.maximum(self.best_weight[start:start + keep], weight)

    def copy(self) -> "_Stitcher":
        other = _Stitcher.__new__(_Stitcher)
        other.__dict__.update({k: (v.copy() if isinstance(v, (np.ndarray, list)) else v)
                               for k, v in self.__dict__.items()})
        return other

    def maps(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(relevance, uncertainty) as float32; frames no window has covered yet are zero."""
        scale = np.where(self.weight_sum > 0, 1.0 / np.where(self.weight_sum > 0, self.weight_sum, 1.0), 0.0)
        relevance = (self.relevance * scale[None, :]).astype(np.float32)
        uncertainty = None if self.uncertainty is None else (self.uncertainty * scale[None, :]).astype(np.float32)
        return relevance, uncertainty


def _check_window_result(result: Explanation, method_title: str, index: int, count: int) -> None:
    for name, values in (("relevance", result.relevance), ("uncertainty", result.uncertainty)):
        if values is not None and not np.all(np.isfinite(np.asarray(values))):
            where = f" in window {index + 1} of {count}" if count > 1 else ""
            raise MethodError(f"{method_title} produced an invalid {name} map (NaN or infinity){where}, so there is "
                              "nothing to show. Try other settings or another method; if it persists the model may "
                              "be broken.")


def _scalar_extras(extras: dict) -> dict:
    return {k: v for k, v in extras.items() if isinstance(v, (bool, int, float, str))}


def explain_audio(
    model: LoadedModel,
    audio: LoadedAudio,
    method: str,
    target: int | None = None,
    params: dict | None = None,
    token: CancelToken | None = None,
    progress=None,
) -> Explanation:
    """Explain an audio model's output on a clip, window by window, on the clip's timeline.

    Returns an :class:`Explanation` whose ``relevance`` (and ``uncertainty``) is
    (n_mels, total_frames) and whose ``extras`` hold ``frame_times`` (s, in the file),
    ``mel_frequencies`` (Hz), ``windows`` (the explanation windows [(start_frame, stop_frame)],
    overlapping, stop clipped to the clip), ``frontend`` (dict), ``spectrogram`` (the log-mel,
    float32), ``window_scores`` (the target's logit per explanation window), ``window_details``
    (each window's scalar extras), ``segment`` ([start_s, stop_s] in the file) and ``notes``.
    A window map holding NaN or infinity is refused (:class:`MethodError`), never blended in.
    """
    frontend = _check_audio_model(model)
    info = method_for(method, "audio", model)
    if model.embedding_only and info.family != "relax":
        raise MethodError(
            f"{model.name} has no classifier head: it outputs a 128-number embedding, not classes, so "
            f"{info.title} has no class to explain. Use RELAX, which explains the representation, or load "
            "weights with a classifier head."
        )
    values = dict(params or {})
    notes: list[str] = list(getattr(audio, "notices", []))
    spectrogram_defaults = {k: v for k, v in info.modality_defaults.get("audio", {}).items() if k not in values}
    values.update(spectrogram_defaults)
    if spectrogram_defaults.get("segmentation") == "grid":
        notes.append(f"{info.family_title} used a grid of time-frequency patches (the spectrogram default).")
    if info.name == "relax" and model.embedding_only and not values.get("layer"):
        values["layer"] = "embeddings"
        notes.append("RELAX explains the 128-number VGGish embedding (the model has no classifier head).")
    resolved = info.resolve_params(values)
    token = token or CancelToken()
    progress = progress or no_progress
    start_time = time.perf_counter()

    samples = clip_samples(audio, frontend)
    total_seconds = len(samples) / frontend.sample_rate
    log_mel = frontend.log_mel(samples)
    total = log_mel.shape[1]
    x_all, bounds = window_inputs(log_mel, frontend, explanation_hop(frontend))
    windows = [(a, min(b, total)) for a, b in bounds]
    if audio.rate < frontend.sample_rate:
        notes.append(f"The clip was recorded at {audio.rate} Hz, below the model's {frontend.sample_rate} Hz: it was "
                     f"resampled and holds no sound above {audio.rate / 2:g} Hz.")
    if total < frontend.window_frames:
        notes.append(f"The clip is shorter than one model window ({frontend.window_seconds:.2f} s); the model "
                     "heard it padded with silence, and the padding is not part of the map.")
    if model.embedding_only:
        window_logits = None
        target = 0 if target is None else int(target)
        score = float("nan")
    else:
        clip_logits = _predict_windows(model, window_inputs(log_mel, frontend)[0])
        if clip_logits.shape[1] != len(model.class_names):
            raise MethodError(f"{model.name} produced {clip_logits.shape[1]} scores but has "
                              f"{len(model.class_names)} class names.")
        if target is None:
            probabilities = torch.softmax(torch.from_numpy(clip_logits).double(), dim=1).numpy().mean(0)
            target = int(np.argmax(probabilities))
        check_target(int(target), len(model.class_names))
        score = float(clip_logits[:, int(target)].mean())
        window_logits = _predict_windows(model, x_all)
    check_target(int(target), len(model.class_names))
    target_info = Target(int(target), model.label(int(target)))
    stitcher = _Stitcher(log_mel.shape[0], total, frontend.window_frames)
    details: list[dict] = []
    method_notes: list[str] = []

    def finished(stitched: _Stitcher, complete: bool, done: int) -> Explanation:
        relevance, uncertainty = stitched.maps()
        extras = {
            "frame_times": frontend.frame_times(total) + float(audio.start),
            "mel_frequencies": frontend.mel_frequencies(),
            "windows": [list(w) for w in windows],
            "windows_done": int(done),
            "frontend": frontend.to_dict(),
            "spectrogram": log_mel,
            "window_scores": [] if window_logits is None else [float(v) for v in window_logits[:, int(target)]],
            "window_details": list(details),
            "segment": [float(audio.start), float(audio.start) + total_seconds],
            "notes": notes + [n for n in method_notes if n not in notes],
        }
        if stitched.segments is not None:
            extras["segments"] = stitched.segments
            extras["segment_weights"] = np.asarray(stitched.segment_weights, dtype=np.float32)
        return Explanation(relevance, method, target_info, score=score, params=dict(resolved),
                           uncertainty=uncertainty, seconds=time.perf_counter() - start_time, extras=extras,
                           complete=complete)

    count = len(bounds)
    token.check()
    shift = 0.0
    if info.family == "relax" and not model.is_torchscript:
        # RELAX multiplies the input by its masks. On a log-mel spectrogram, 0 is not "no sound"
        # (log(0.01) is), so hidden cells are set to silence: the method sees x - silence and a
        # pre-hook adds silence back before the network, i.e. the network sees
        # silence + (x - silence) * M.
        shift = float(math.log(frontend.log_offset))
        notes.append("RELAX hides time-frequency cells by setting them to silence (the lowest log-mel value).")
    elif info.family == "relax":
        notes.append("RELAX hides cells by setting their log-mel values to 0 (a TorchScript model cannot be "
                     "given the silence offset).")
    with _input_offset(model.module, shift):
        for k, window in enumerate(bounds):
            x = x_all[k:k + 1].clone() - shift

            def window_progress(fraction: float, message: str = "", partial=None, _k=k, _w=window) -> None:
                stitched = None
                if partial is not None:
                    stitched = stitcher.copy()
                    stitched.add(partial, _w)
                    stitched = finished(stitched, False, _k)
                step = step_of(message)
                if step is None:
                    step = Step(message)
                label = step.in_window(_k + 1, count) if str(step) else Step(f"window {_k + 1} of {count}",
                                                                            window=(_k + 1, count))
                progress((_k + min(max(fraction, 0.0), 1.0)) / count, label, stitched)

            try:
                result = info.function(model, x, int(target), params=resolved, token=token, progress=window_progress)
            except Cancelled as error:
                partial = getattr(error, "partial", None)
                stitched = stitcher.copy()
                if partial is not None:
                    stitched.add(partial, window)
                error.partial = finished(stitched, False, k) if (partial is not None or k > 0) else None
                raise
            _check_window_result(result, info.title, k, count)
            stitcher.add(result, window)
            details.append(_scalar_extras(result.extras))
            for note in result.extras.get("notes", []) or []:
                if note not in method_notes:
                    method_notes.append(note)
            if k + 1 < count:
                progress((k + 1) / count, Step(f"window {k + 1} of {count} done", window=(k + 1, count)),
                         finished(stitcher, False, k + 1))
    result = finished(stitcher, True, count)
    result.extras["model_input_shape"] = list(frontend.input_size)
    progress(1.0, "done", None)
    return result


def resynthesize(audio: LoadedAudio, frontend: AudioFrontEnd, relevance: np.ndarray, share: float = 0.2,
                 keep: str = "top") -> np.ndarray:
    """"Listen to the evidence": the clip with only its most relevant time-frequency cells (or the rest).

    The top ``share`` of the (n_mels, frames) cells by relevance form a mel-domain mask (its
    complement for ``keep="rest"``). It is mapped to STFT bins with the mel filterbank transposed
    and normalised per bin (each bin takes the weighted average of the bands covering it; bins
    below ``fmin`` / above ``fmax`` take the nearest band), applied to the clip's STFT at the
    front-end's rate and inverted (istft). Because the mapping is linear and the per-bin weights
    sum to one, ``keep="top"`` plus ``keep="rest"`` gives back the clip, and ``share=1`` the
    clip itself. Returns float32 samples at ``frontend.sample_rate``, peak-normalised only if
    they would clip.
    """
    if keep not in ("top", "rest"):
        raise MethodError("keep must be 'top' (the most relevant cells) or 'rest' (everything else).")
    if not 0.0 <= float(share) <= 1.0:
        raise MethodError(f"The share of cells to keep must be between 0 and 1; got {share}.")
    samples = clip_samples(audio, frontend)
    spectrum = frontend.stft(samples)                      # (F, T) complex
    frames = spectrum.shape[1]
    relevance = np.asarray(relevance, dtype=np.float64)
    if relevance.shape[0] != frontend.n_mels:
        raise MethodError(f"The relevance map has {relevance.shape[0]} rows but the spectrogram has "
                          f"{frontend.n_mels} mel bands.")
    rel = np.full((frontend.n_mels, frames), -np.inf)
    usable = min(frames, relevance.shape[1])
    rel[:, :usable] = np.nan_to_num(relevance[:, :usable], nan=-np.inf)
    n_keep = int(math.ceil(float(share) * rel.size))
    mask = np.zeros(rel.size)
    if n_keep > 0:
        order = np.argsort(-rel.reshape(-1), kind="stable")
        mask[order[:n_keep]] = 1.0
    mask = mask.reshape(rel.shape)
    if keep == "rest":
        mask = 1.0 - mask
    fb = frontend.filterbank().astype(np.float64)          # (n_mels, F)
    coverage = fb.sum(axis=0)
    covered = np.flatnonzero(coverage > 0)
    weights = np.zeros_like(fb)
    weights[:, covered] = fb[:, covered] / coverage[covered]
    if covered.size:
        weights[0, : covered[0]] = 1.0
        weights[-1, covered[-1] + 1 :] = 1.0
    bin_mask = torch.from_numpy(weights.T @ mask).to(torch.float32)  # (F, T)
    window = torch.hann_window(frontend.n_fft, periodic=True)
    out = torch.istft(spectrum * bin_mask, frontend.n_fft, frontend.hop_length, window=window, center=True,
                      length=len(samples)).numpy().astype(np.float32)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 1.0:
        out = out / peak
    return out


def render_spectrogram_overlay(spectrogram: np.ndarray, relevance: np.ndarray | None, *, cmap: str | None = None,
                               opacity: float = 0.6, scale: tuple[int, int] = (4, 2),
                               signed: bool | None = None) -> np.ndarray:
    """An RGB uint8 picture of the log-mel spectrogram (sequential colour map, lowest band at the
    bottom) with ``relevance`` blended over it; each cell drawn ``scale`` = (rows, columns) pixels.

    ``signed`` False (a map that only says how much) draws it over its range on a sequential map."""
    from ..core import render

    levels = render.range_levels(spectrogram, percentile=99.9)
    base = render.colorize(np.flipud(spectrogram), levels, "viridis")
    if relevance is not None:
        relevance = np.flipud(np.asarray(relevance, dtype=np.float32))
        base = render.blend_overlay(base, relevance, cmap=cmap or render.automatic_colormap(signed),
                                    opacity=opacity, levels=render.automatic_levels(relevance, signed))
    return np.repeat(np.repeat(base, int(scale[0]), axis=0), int(scale[1]), axis=1)
