"""Qt-free work behind the Audio tab: load models, open sounds, predict, explain, resynthesise.

These functions run in the :class:`~xaidesk.gui.runner.Runner` (the tab wraps each in a
``job(token, progress)``) and return plain data, so nothing Qt crosses threads. They are
kept free of Qt so they can be tested headless. Torch-backed packages are imported inside
the functions: importing this module stays cheap.

Time is seconds from the start of the *file*: a segment keeps its place on the file's timeline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .catalog import configure_torch_threads

#: Points of the whole-file overview.
OVERVIEW_POINTS = 4000
#: Files longer than this open with an overview; this much is analysed at first.
SEGMENT_SECONDS = 10.0


@dataclass
class Spectrogram:
    """A log-mel spectrogram on the clip's timeline (plain data)."""

    log_mel: np.ndarray
    frame_times: np.ndarray
    mel_frequencies: np.ndarray
    #: The front-end settings it was computed with.
    frontend: dict | None = None


@dataclass
class OpenedAudio:
    """What opening a file (or a segment of it) produced, handed from the worker."""

    path: Path
    info: dict
    clip: object
    spectrogram: Spectrogram | None
    envelope: tuple | None = None


def frontend_dict(frontend) -> dict | None:
    """An audio front-end's settings as a plain dict (``None`` for none)."""
    if frontend is None:
        return None
    to_dict = getattr(frontend, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    if dataclasses.is_dataclass(frontend):
        return dataclasses.asdict(frontend)
    return None


def default_frontend():
    """The front-end spectrograms use while no model is loaded (VGGish's settings)."""
    from xaidesk.models.audio import AudioFrontEnd

    return AudioFrontEnd()


def time_text(seconds: float) -> str:
    """``"1:05.3"``: minutes and seconds with one decimal."""
    minutes, secs = divmod(max(0.0, float(seconds)), 60.0)
    return f"{int(minutes)}:{secs:04.1f}"


def spectrogram_of(source, clip) -> Spectrogram:
    """The clip's log-mel spectrogram with ``source``'s front-end (a model or a front-end)."""
    from xaidesk.explain.audio import spectrogram_of as compute

    log_mel, times, freqs = compute(source, clip)
    settings = frontend_dict(getattr(source, "frontend", None) or source)
    return Spectrogram(np.asarray(log_mel, dtype=np.float32), np.asarray(times), np.asarray(freqs), settings)


def load_file_with_frontend(spec: str, frontend: dict, trust: bool):
    """Load ``file:PATH`` as an audio model with spectrogram settings entered by the person."""
    import inspect

    from xaidesk.core import ModelError
    from xaidesk.models.audio import AudioFrontEnd, load_audio_file

    settings = AudioFrontEnd.from_dict(frontend)
    if "frontend" not in inspect.signature(load_audio_file).parameters:
        raise ModelError("This version of xaidesk can only open audio model files that have a description file "
                         "(MODEL.pt.json with \"modality\": \"audio\" and its \"frontend\") beside them.")
    return load_audio_file(spec.partition(":")[2], trust=trust, spec=spec, frontend=settings)


def load_audio_model(spec: str, trust: bool = False, frontend: dict | None = None):
    """``(model, defaults)``: the loaded model, and the default front-end settings to offer when the
    model has no front-end of its own (``None`` when it has one)."""
    from xaidesk.models import load_model

    configure_torch_threads()
    if frontend is not None and spec.startswith("file:"):
        model = load_file_with_frontend(spec, frontend, trust)
    else:
        model = load_model(spec, trust=trust)
    defaults = None
    if getattr(model, "frontend", None) is None:
        defaults = frontend_dict(default_frontend())
    return model, defaults


def open_audio(path, mixdown: str, model, token) -> OpenedAudio:
    """Open a sound file: a file longer than :data:`SEGMENT_SECONDS` gets a whole-file overview
    (``envelope``) and its first :data:`SEGMENT_SECONDS` as the clip; the spectrogram uses
    ``model``'s front-end (the default one without a model)."""
    from xaidesk.data.audio import audio_info, load_audio, read_segment, waveform_envelope

    path = Path(path)
    info = audio_info(path)
    channels = int(info.get("channels", 1) or 1)
    mix = mixdown if channels > 1 else "mean"
    envelope = None
    if float(info.get("duration", 0.0)) > SEGMENT_SECONDS:
        envelope = waveform_envelope(path, points=OVERVIEW_POINTS, mixdown=mix)
        token.check()
        clip = read_segment(path, 0.0, SEGMENT_SECONDS, mixdown=mix)
    else:
        clip = load_audio(path, mixdown=mix)
    token.check()
    spectrogram = spectrogram_of(model if model is not None else default_frontend(), clip)
    return OpenedAudio(path, dict(info), clip, spectrogram, envelope)


def open_segment(path, start: float, stop: float, mixdown: str, model, file_info: dict, reload_overview: bool,
                 token) -> OpenedAudio:
    """Read ``start``–``stop`` seconds of a file (and, with ``reload_overview``, its overview again)."""
    from xaidesk.data.audio import read_segment, waveform_envelope

    envelope = waveform_envelope(path, points=OVERVIEW_POINTS, mixdown=mixdown) if reload_overview else None
    clip = read_segment(path, start, stop, mixdown=mixdown)
    token.check()
    spectrogram = spectrogram_of(model if model is not None else default_frontend(), clip)
    return OpenedAudio(Path(path), dict(file_info or {}), clip, spectrogram, envelope)


def analyse(model, clip, recompute_spectrogram: bool, token) -> tuple:
    """``(clip, spectrogram or None, prediction or None)``: the clip's prediction (none for a model that
    outputs an embedding) and, when asked, its spectrogram with the model's front-end."""
    from xaidesk.explain.audio import predict_audio

    spectrogram = spectrogram_of(model, clip) if recompute_spectrogram else None
    token.check()
    if getattr(model, "embedding_only", False):
        return clip, spectrogram, None  # no classes to predict; RELAX explains the embedding
    return clip, spectrogram, predict_audio(model, clip)


def explain(model, clip, method: str, target, params: dict, token, progress, device: str = "cpu"):
    """Explain ``clip`` with ``method`` on ``device`` (an :class:`~xaidesk.core.Explanation` on the spectrogram)."""
    from xaidesk.explain.audio import explain_audio
    from xaidesk.runs import call_on_device

    return call_on_device(device, explain_audio, model, clip, method, target=target, params=params, token=token,
                          progress=progress)


def compare_methods(model, clip, methods: list[str], target, params: dict, settings, token, progress,
                    device: str = "cpu"):
    """The faithfulness comparison of ``methods`` on ``clip``, on ``device``."""
    from xaidesk.evaluate import compare_audio_methods
    from xaidesk.runs import call_on_device

    return call_on_device(device, compare_audio_methods, model, clip, methods, target=target, params=params,
                          settings=settings, token=token, progress=progress)


def resynthesize_evidence(clip, frontend, relevance, share: float, keep: str) -> tuple:
    """``(clip, keep, share, samples, rate)``: the sound of the top ``share`` of the relevance's cells
    (``keep="top"``) or of the rest (``"rest"``)."""
    from xaidesk.explain.audio import resynthesize

    samples = resynthesize(clip, frontend, relevance, share=share, keep=keep)
    return clip, keep, share, np.asarray(samples, dtype=np.float32), int(frontend.sample_rate)


def unfinished_as_blank(partial):
    """A partial result whose not-yet-explained frames (windows still to come: exactly zero in
    relevance and uncertainty) are NaN, so the views leave them uncoloured and the colour levels
    come from the explained part only (render's level functions skip non-finite values)."""
    relevance = np.asarray(partial.relevance)
    uncertainty = getattr(partial, "uncertainty", None)
    covered = np.any(relevance != 0, axis=0)
    if uncertainty is not None:
        covered |= np.any(np.asarray(uncertainty) != 0, axis=0)
    if covered.all() or not covered.any():
        return partial
    relevance = relevance.astype(np.float32, copy=True)
    relevance[:, ~covered] = np.nan
    if uncertainty is not None:
        uncertainty = np.asarray(uncertainty, dtype=np.float32).copy()
        uncertainty[:, ~covered] = np.nan
    return partial.replace(relevance=relevance, uncertainty=uncertainty)
