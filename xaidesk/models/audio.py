"""Audio models: the log-mel front-end, the VGGish architecture and audio model loading.

Input layout. Every audio model in xaidesk takes a batch of log-mel patches shaped
**(B, 1, n_mels, window_frames)** -- mel bands on the rows (lowest band in row 0), time frames
on the columns; for VGGish (B, 1, 64, 96). Relevance maps therefore come out as
(n_mels, frames) and are blended along the time axis. (torchvggish and the TensorFlow VGGish take
(96 frames, 64 bands); their weights are converted on loading -- conv kernels transposed and the
first fully connected layer's inputs reordered, see :mod:`xaidesk.models.vggish_convert`.)

Front-end. :class:`AudioFrontEnd` computes what VGGish computes: a magnitude STFT (periodic Hann
window of ``n_fft`` samples, hop ``hop_length``, centred frames with zero padding), an HTK mel
filterbank (librosa's ``filters.mel(htk=True)``, Slaney-normalised), then ``log(mel + offset)``.
The numbers equal ``librosa.feature.melspectrogram(..., htk=True, power=1.0)`` (checked in
tests); the STFT is computed with torch and the filterbank with numpy so that opening a file does
not wait for librosa's just-in-time compilation.

Model input scaling. The log-mel values are fed unchanged; the ``Preprocessing`` attached to an
audio model has ``size=(n_mels, window_frames)``, ``channels="gray"`` and mean/std chosen so that
its box bounds (:meth:`Preprocessing.bounds`) are the front-end's log-mel range
``[log(offset), log(offset + largest possible mel value)]`` (what LRP's z^B rule needs).

Windows. :func:`clip_samples` resamples a clip to the front-end's rate; :func:`window_inputs` cuts
its log-mel spectrogram into the model's windows (:func:`window_bounds`), as the audio pipeline,
the faithfulness curves and the audio quick classifier feed them to the model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core import InputError, ModelError
from ..data.audio import LoadedAudio, resample
from .base import CLASS_NAMES, LoadedModel, Note
from .preprocessing import Preprocessing

VGGISH_ARCHITECTURE = "vggish"
EMBEDDING_SIZE = 128


# --- the front-end ----------------------------------------------------------------------------------


def _hz_to_mel_htk(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz_htk(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) HTK mel filters with Slaney area normalisation (as librosa's)."""
    fft_freqs = np.linspace(0.0, rate / 2.0, 1 + n_fft // 2)
    mel_points = np.linspace(_hz_to_mel_htk(fmin), _hz_to_mel_htk(fmax), n_mels + 2)
    hz = _mel_to_hz_htk(mel_points)
    fdiff = np.diff(hz)
    ramps = hz[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz[2 : n_mels + 2] - hz[:n_mels]))[:, None]
    return weights.astype(np.float32)


@dataclass
class AudioFrontEnd:
    """How a waveform becomes model input (VGGish's settings by default)."""

    sample_rate: int = 16000
    n_fft: int = 400
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 125.0
    fmax: float = 7500.0
    log_offset: float = 0.01
    window_frames: int = 96
    window_hop_frames: int = 96

    def __post_init__(self) -> None:
        problems = []
        if self.sample_rate < 1000:
            problems.append("the sample rate must be at least 1000 Hz")
        if self.n_fft < 16 or self.hop_length < 1:
            problems.append("n_fft must be at least 16 and the hop at least 1 sample")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            problems.append("the mel range needs 0 <= fmin < fmax <= half the sample rate")
        if self.n_mels < 2 or self.window_frames < 1 or self.window_hop_frames < 1:
            problems.append("n_mels must be at least 2 and the window sizes at least 1 frame")
        if self.log_offset <= 0:
            problems.append("the log offset must be positive")
        if problems:
            raise ModelError("The spectrogram settings cannot be used: " + "; ".join(problems) + ".")

    # -- geometry ----------------------------------------------------------------------------------
    @property
    def window_seconds(self) -> float:
        """Seconds of sound one model window covers."""
        return self.window_frames * self.hop_length / self.sample_rate

    @property
    def input_size(self) -> tuple[int, int]:
        """(mel bands, frames) of one model window."""
        return (int(self.n_mels), int(self.window_frames))

    def frame_times(self, frames: int) -> np.ndarray:
        """Centre time (s) of each of ``frames`` frames (frames are centred on hop multiples)."""
        return np.arange(int(frames)) * self.hop_length / float(self.sample_rate)

    def mel_frequencies(self) -> np.ndarray:
        """Centre frequency (Hz) of each mel band, lowest first."""
        mels = np.linspace(_hz_to_mel_htk(self.fmin), _hz_to_mel_htk(self.fmax), self.n_mels + 2)
        return _mel_to_hz_htk(mels[1:-1])

    def num_frames(self, num_samples: int) -> int:
        """Spectrogram frames of a waveform of ``num_samples`` samples (centred frames)."""
        return 1 + int(num_samples) // self.hop_length

    # -- computation -------------------------------------------------------------------------------
    def filterbank(self) -> np.ndarray:
        """The mel filterbank (computed once)."""
        cached = getattr(self, "_fb", None)
        if cached is None:
            cached = mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.fmin, self.fmax)
            object.__setattr__(self, "_fb", cached)
        return cached

    def stft(self, samples: np.ndarray) -> torch.Tensor:
        """Complex STFT (1 + n_fft // 2, frames) of float32 mono samples at ``sample_rate``."""
        y = np.ascontiguousarray(samples, dtype=np.float32)
        y = torch.from_numpy(y if y.flags.writeable else y.copy())
        if len(y) < self.n_fft // 2 + 1:
            y = torch.nn.functional.pad(y, (0, self.n_fft // 2 + 1 - len(y)))
        window = torch.hann_window(self.n_fft, periodic=True)
        return torch.stft(y, self.n_fft, self.hop_length, window=window, center=True, pad_mode="constant",
                          return_complex=True)

    def mel(self, samples: np.ndarray) -> np.ndarray:
        """Magnitude mel spectrogram (n_mels, frames), float32."""
        magnitude = self.stft(samples).abs()
        frames = self.num_frames(len(samples))
        out = torch.from_numpy(self.filterbank()) @ magnitude[:, :frames]
        return out.numpy().astype(np.float32, copy=False)

    def log_mel(self, samples: np.ndarray) -> np.ndarray:
        """``log(mel + log_offset)`` of samples already at ``sample_rate``: (n_mels, frames) float32."""
        return np.log(self.mel(samples) + np.float32(self.log_offset)).astype(np.float32)

    def log_mel_range(self) -> tuple[float, float]:
        """Lowest and highest possible log-mel value for samples in [-1, 1]."""
        window_sum = float(torch.hann_window(self.n_fft, periodic=True).sum())
        peak = float(self.filterbank().sum(axis=1).max()) * window_sum
        return math.log(self.log_offset), math.log(self.log_offset + peak)

    def preprocessing(self, name: str = "log-mel") -> Preprocessing:
        """A :class:`Preprocessing` of size (n_mels, window_frames) whose bounds are the log-mel range."""
        low, high = self.log_mel_range()
        span = high - low
        return Preprocessing(size=self.input_size, mean=(-low / span,), std=(1.0 / span,), channels="gray",
                             name=name)

    # -- (de)serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The settings as a plain dict (see :meth:`from_dict`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict | None) -> "AudioFrontEnd":
        """Settings from a dict (missing ones take their defaults); unknown or non-numeric ones raise ModelError."""
        data = dict(data or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ModelError(f"Unknown spectrogram setting(s) {', '.join(unknown)}; known: {', '.join(known)}.")
        try:
            values = {k: (int(v) if known[k].type in ("int", int) else float(v)) for k, v in data.items()}
        except (TypeError, ValueError) as error:
            raise ModelError(f"A spectrogram setting is not a number: {error}.") from error
        return cls(**values)


# --- a clip cut into the model's windows -------------------------------------------------------------


def clip_samples(audio: LoadedAudio, frontend: AudioFrontEnd) -> np.ndarray:
    """The clip's samples at the front-end's rate (float32).

    Raises :class:`InputError` when the clip's rate is too low to reach the model's lowest mel band.
    """
    if audio.rate / 2 <= frontend.fmin:
        raise InputError(f"The clip's sample rate ({audio.rate} Hz) holds nothing above {audio.rate / 2:g} Hz, but this "
                         f"model listens from {frontend.fmin:g} Hz up; use a recording made at "
                         f"{frontend.sample_rate} Hz or at least {int(4 * frontend.fmin)} Hz.")
    return resample(np.asarray(audio.samples, dtype=np.float32), audio.rate, frontend.sample_rate)


def window_bounds(total_frames: int, frontend: AudioFrontEnd, hop: int | None = None) -> list[tuple[int, int]]:
    """(start, stop) frames of each window, every ``hop`` frames (default: the model's window hop).

    ``stop - start == window_frames``. The last window ends at the clip's end (it may overlap the
    one before more than the others do); only a clip shorter than one window has a single window
    that passes its end (padded with silence by :func:`window_inputs`).
    """
    size = frontend.window_frames
    hop = frontend.window_hop_frames if hop is None else max(1, int(hop))
    if total_frames <= size:
        return [(0, size)]
    starts = list(range(0, total_frames - size + 1, hop))
    if starts[-1] + size < total_frames:
        starts.append(total_frames - size)
    return [(s, s + size) for s in starts]


def window_inputs(log_mel: np.ndarray, frontend: AudioFrontEnd,
                  hop: int | None = None) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """All windows as a (W, 1, n_mels, window_frames) tensor and their bounds (see :func:`window_bounds`).

    Only a clip shorter than one window is padded, with the log-mel value of silence.
    """
    total = log_mel.shape[1]
    bounds = window_bounds(total, frontend, hop)
    padded_length = max(bounds[-1][1], total)
    silence = np.float32(math.log(frontend.log_offset))
    padded = np.full((log_mel.shape[0], padded_length), silence, dtype=np.float32)
    padded[:, :total] = log_mel
    x = np.stack([padded[:, a:b] for a, b in bounds])[:, None]
    return torch.from_numpy(np.ascontiguousarray(x)), bounds


# --- networks ---------------------------------------------------------------------------------------


def build_vggish(num_classes: int | None = None, *, input_size: tuple[int, int] = (64, 96)) -> nn.Sequential:
    """The VGGish network (Hershey et al. 2017) for (B, 1, 64 bands, 96 frames) log-mel patches.

    conv64-pool-conv128-pool-conv256-conv256-pool-conv512-conv512-pool, then fully connected
    4096-4096-128 (the 128-d embedding, linear as in the TensorFlow release). With
    ``num_classes`` a linear classifier head follows (``ReLU`` then ``Linear(128, K)``), named
    ``head``; without it the model outputs the embedding. Only modules (ReLU, Flatten), nothing
    functional or in place, so LRP rules attach to every layer.
    """
    def conv(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]

    h, w = int(input_size[0]), int(input_size[1])
    if h % 16 or w % 16:
        raise ValueError("VGGish input size must be divisible by 16")
    features = nn.Sequential(
        *conv(1, 64), nn.MaxPool2d(2),
        *conv(64, 128), nn.MaxPool2d(2),
        *conv(128, 256), *conv(256, 256), nn.MaxPool2d(2),
        *conv(256, 512), *conv(512, 512), nn.MaxPool2d(2),
    )
    embeddings = nn.Sequential(
        nn.Linear(512 * (h // 16) * (w // 16), 4096), nn.ReLU(),
        nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, EMBEDDING_SIZE),
    )
    layers = [("features", features), ("flatten", nn.Flatten()), ("embeddings", embeddings)]
    if num_classes:
        layers.append(("head", nn.Sequential(nn.ReLU(), nn.Linear(EMBEDDING_SIZE, int(num_classes)))))
    from collections import OrderedDict

    return nn.Sequential(OrderedDict(layers))


def _finalise(module: nn.Module) -> nn.Module:
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def _embedding_names(count: int) -> list[str]:
    return [f"embedding {i}" for i in range(count)]


def load_vggish(path: str | Path, *, spec: str | None = None, frontend: AudioFrontEnd | None = None,
                class_names: list[str] | None = None) -> LoadedModel:
    """``vggish:PATH``: VGGish weights from a local file; classes inferred from ``head.1.weight``.

    The file may hold xaidesk's, torchvggish's or TensorFlow's layout (``.pt``/``.pth``,
    ``.safetensors`` or ``.npz``); the latter two are converted on loading
    (:func:`xaidesk.models.vggish_convert.read_vggish_state`). A sidecar ``{"layout": ...}``
    names the layout where the file's names leave it open.
    """
    from .files import read_sidecar
    from .vggish_convert import read_vggish_state

    path = Path(path).expanduser()
    meta = _read_audio_sidecar(path)
    layout = (meta or {}).get("layout")
    state, notes = read_vggish_state(path, str(layout) if layout else None)
    head = state.get("head.1.weight")
    num_classes = int(head.shape[0]) if head is not None else None
    with torch.device("meta"):  # no random initialisation: every weight comes from the file
        module = build_vggish(num_classes)
    try:
        module.load_state_dict(state, assign=True)
    except RuntimeError as error:
        raise ModelError(
            f"The weights in {path.name} do not fit the VGGish architecture (conv64-128-256-256-512-512, "
            "fully connected 4096-4096-128, optional 'head'). Check that the file holds VGGish weights.",
            details=str(error),
        ) from error
    frontend = frontend or (AudioFrontEnd.from_dict(meta["frontend"]) if meta and meta.get("frontend") else AudioFrontEnd())
    if frontend.input_size != (64, 96):
        raise ModelError("VGGish takes 64 mel bands x 96 frames; the spectrogram settings describe "
                         f"{frontend.n_mels} x {frontend.window_frames}.")
    if num_classes is None:
        names = _embedding_names(EMBEDDING_SIZE)
        notes.append("These VGGish weights have no classifier head: the model's output is the 128-number "
                     "embedding, not classes. RELAX (which explains the representation) works; methods that "
                     "explain a class need weights with a classifier head.")
    else:
        names = class_names or (meta or {}).get("class_names") or read_sidecar(path).class_names \
            or [f"class {i}" for i in range(num_classes)]
        if len(names) != num_classes:
            notes.append(Note(f"The description lists {len(names)} class names but the head has {num_classes} "
                              "outputs; the names were ignored.", CLASS_NAMES))
            names = [f"class {i}" for i in range(num_classes)]
    return LoadedModel(
        spec=spec or f"vggish:{path}", name=f"VGGish ({path.name})", module=_finalise(module),
        preprocessing=frontend.preprocessing(name="vggish log-mel"), class_names=[str(n) for n in names],
        architecture=VGGISH_ARCHITECTURE, modality="audio", notes=notes, frontend=frontend,
        embedding_only=num_classes is None,
    )


def _read_audio_sidecar(path: Path) -> dict | None:
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise ModelError(f"The description file {candidate.name} next to the model is not valid JSON. "
                                 "Fix or remove it.", details=str(error)) from error
            return data if isinstance(data, dict) else None
    return None


def is_audio_sidecar(path: str | Path) -> bool:
    """Whether the model file at ``path`` has a sidecar JSON with ``"modality": "audio"``, or is itself
    an audio model description: a quick classifier fitted on an audio backbone (``.xdprobe``)."""
    from .probe.audio import is_audio_probe_file

    if is_audio_probe_file(path):
        return True
    try:
        meta = _read_audio_sidecar(Path(path).expanduser())
    except ModelError:
        return False
    return bool(meta) and str(meta.get("modality", "")).lower() == "audio"


def load_audio_file(path: str | Path, *, trust: bool = False, spec: str | None = None,
                    frontend: "AudioFrontEnd | dict | None" = None) -> LoadedModel:
    """``file:PATH`` with a sidecar ``{"modality": "audio", "frontend": {...}, "class_names": [...]}``.

    The file may be TorchScript, a pickled module (only with ``trust``), or a VGGish state dict.
    ``frontend`` (settings entered by the person) overrides the sidecar's; without either the
    VGGish defaults are used. An audio quick-classifier file (``.xdprobe``) is loaded by
    :func:`xaidesk.models.probe.audio.load_audio_probe` (its backbone's settings are used).
    """
    from . import files
    from .probe.audio import is_audio_probe_file, load_audio_probe
    from .base import check_finite_weights

    path = Path(path).expanduser()
    spec = spec or f"file:{path}"
    files.check_model_file(path)
    if is_audio_probe_file(path):
        return load_audio_probe(path, spec=spec, trust=trust)
    meta = _read_audio_sidecar(path) or {}
    if frontend is not None:
        frontend = frontend if isinstance(frontend, AudioFrontEnd) else AudioFrontEnd.from_dict(frontend)
        notes = ["Spectrogram settings as entered."]
    else:
        frontend = AudioFrontEnd.from_dict(meta.get("frontend"))
        notes = ["Spectrogram settings from the description file." if meta.get("frontend")
                 else "No spectrogram settings were given: using VGGish's (16 kHz, 64 mel bands, 96 frames)."]
    torchscript = files.is_torchscript(path)
    if torchscript:
        module = files.load_torchscript(path)
    else:
        obj = files.read_model_object(path, trust=trust, notes=notes)
        if isinstance(obj, nn.Module):
            module = obj
        else:
            return load_vggish(path, spec=spec, frontend=frontend, class_names=meta.get("class_names"))
    module = _finalise(module if torchscript else module.float())
    x = torch.zeros(1, 1, *frontend.input_size)
    try:
        with torch.no_grad():
            out = module(x)
    except Exception as error:  # noqa: BLE001
        raise ModelError(f"The model in {path.name} does not accept a log-mel patch of {frontend.n_mels} bands x "
                         f"{frontend.window_frames} frames (shaped 1x1x{frontend.n_mels}x{frontend.window_frames}). "
                         "Check the spectrogram settings in its description file.", details=str(error)) from error
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ModelError(f"The model in {path.name} must return one row of class scores per patch.")
    check_finite_weights(module, path.name)
    count = int(out.shape[1])
    names = [str(n) for n in meta.get("class_names") or []]
    if len(names) != count:
        if names:
            notes.append(Note(f"The description lists {len(names)} class names but the model has {count} outputs; "
                              "the names were ignored.", CLASS_NAMES))
        names = [f"class {i}" for i in range(count)]
    return LoadedModel(spec=spec, name=path.name, module=module, preprocessing=frontend.preprocessing(name=path.name),
                       class_names=names, architecture=str(meta.get("architecture", "unknown")),
                       is_torchscript=torchscript, modality="audio", notes=notes, frontend=frontend)
