"""Qt-free audio loading: WAV, FLAC, OGG (and MP3 where libsndfile can) -> float32 mono.

- :func:`load_audio` decodes a whole file (or its first ``max_seconds``) with soundfile and
  falls back to librosa/audioread for formats libsndfile cannot read. Integer and float samples
  of any bit depth come back as float32 in [-1, 1]; several channels are mixed down
  (``"mean"``, ``"left"`` or ``"right"``; the choice is recorded in ``LoadedAudio.mixdown``).
- :func:`audio_info` reads only the header (for long files).
- :func:`read_segment` decodes only ``start_s .. stop_s``.
- :func:`waveform_envelope` computes a min/max overview of a long file block by block
  (``soundfile.blocks``), never holding the whole file.

Bad files raise :class:`~xaidesk.core.InputError` with one plain sentence: empty, truncated,
unsupported, silent (all zeros or below -90 dBFS), far too short (< 0.1 s) files and sample rates
too low to hold sound (< 1 kHz). Segment times must be finite seconds inside the clip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import InputError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")
AUDIO_FILE_FILTER = "Audio files (" + " ".join(f"*{s}" for s in AUDIO_SUFFIXES) + ");;All files (*)"
MIXDOWNS = ("mean", "left", "right")
#: Shorter clips are refused (a model window is ~1 s; a tenth of that is not a sound to explain).
MIN_SECONDS = 0.1
#: Peak level below which a clip counts as silent.
SILENCE_DBFS = -90.0
#: Lower sample rates cannot hold sound worth explaining (they carry nothing above half this, 500 Hz).
MIN_RATE = 1000


@dataclass
class LoadedAudio:
    """A decoded clip (or segment): float32 mono samples in [-1, 1] (read-only) at ``rate``."""

    samples: np.ndarray
    rate: int
    channels: int = 1
    mixdown: str = "mean"
    path: Path | None = None
    notices: list[str] = field(default_factory=list)
    subtype: str = ""
    start: float = 0.0  # seconds into the file where ``samples`` begin (segments)

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.rate) if self.rate else 0.0

    @property
    def stop(self) -> float:
        return self.start + self.duration


def _sf():
    import soundfile

    return soundfile


def _check_path(path: Path) -> None:
    if not path.exists():
        if path.is_symlink():
            raise InputError(f"{path.name} is a link that leads nowhere (its target is missing or it points to "
                             "itself); open the recording it was meant to point to.")
        raise InputError(f"There is no file at {path}. Check the path and try again.")
    if not path.is_file():
        raise InputError(f"{path} is a folder, not an audio file.")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is empty (0 bytes); choose a file that holds a recording.")


def _unsupported(path: Path, error: BaseException | None = None) -> InputError:
    return InputError(
        f"{path.name} could not be read as audio: it is not a WAV, FLAC, OGG or MP3 file, or it is "
        "damaged. Convert it to WAV or FLAC and try again.",
        details=None if error is None else f"{type(error).__name__}: {error}",
    )


def _mix(data: np.ndarray, mixdown: str) -> np.ndarray:
    if mixdown not in MIXDOWNS:
        raise InputError(f"Unknown channel mix-down '{mixdown}'; choose one of: {', '.join(MIXDOWNS)}.")
    if data.ndim == 1:
        return data
    if data.shape[1] == 1:
        return data[:, 0]
    if mixdown == "left":
        return data[:, 0]
    if mixdown == "right":
        return data[:, 1]
    return data.mean(axis=1)


def audio_info(path: str | os.PathLike) -> dict:
    """``{"rate", "channels", "frames", "duration", "subtype", "format"}`` from the header only."""
    path = Path(path).expanduser()
    _check_path(path)
    sf = _sf()
    try:
        info = sf.info(str(path))
    except Exception as error:  # noqa: BLE001 - fall back to librosa/audioread (e.g. MP3 on old libsndfile)
        try:
            import librosa

            rate = int(librosa.get_samplerate(str(path)))
            duration = float(librosa.get_duration(path=str(path)))
        except Exception:  # noqa: BLE001
            raise _unsupported(path, error) from error
        return {"rate": rate, "channels": 0, "frames": int(round(duration * rate)), "duration": duration,
                "subtype": "", "format": path.suffix.lstrip(".").upper()}
    return {"rate": int(info.samplerate), "channels": int(info.channels), "frames": int(info.frames),
            "duration": float(info.frames) / info.samplerate if info.samplerate else 0.0,
            "subtype": str(info.subtype), "format": str(info.format)}


def _check_rate(path: Path, rate: int) -> None:
    if rate < MIN_RATE:
        raise InputError(f"{path.name} says its sample rate is {rate} Hz, too low to hold sound (it needs at least "
                         f"{MIN_RATE} Hz; recordings use 8000 Hz or more). Check the file or resample it.")


def _finish(path: Path, data: np.ndarray, rate: int, channels: int, mixdown: str, subtype: str,
            notices: list[str], start: float = 0.0, check_length: bool = True) -> LoadedAudio:
    _check_rate(path, rate)
    if data.size == 0:
        raise InputError(f"{path.name} holds no samples (an empty recording); choose another file.")
    mono = _mix(np.asarray(data, dtype=np.float32), mixdown if channels > 1 else "mean")
    if not np.all(np.isfinite(mono)):
        raise InputError(f"{path.name} contains invalid sample values (not-a-number or infinity); "
                         "the file is damaged.")
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    if peak > 1.0:
        notices.append(f"The samples reach {peak:.2f}, beyond full scale; they were scaled into [-1, 1].")
        mono = mono / peak
    if check_length and len(mono) / rate < MIN_SECONDS:
        raise InputError(f"{path.name} is far too short ({len(mono) / rate * 1000:.0f} ms); a clip needs at "
                         f"least {MIN_SECONDS:.1f} s of sound.")
    if peak == 0.0:
        raise InputError(f"{path.name} is silent: every sample is zero. Choose a recording with sound.")
    if 20 * np.log10(peak) < SILENCE_DBFS:
        raise InputError(f"{path.name} is silent: its loudest sample is {20 * np.log10(peak):.0f} dBFS, below "
                         f"{SILENCE_DBFS:.0f} dBFS. Choose a recording with sound.")
    if channels > 1:
        how = {"mean": "averaged", "left": "the left channel used", "right": "the right channel used"}[mixdown]
        notices.append(f"{channels} channels mixed down to mono ({how}).")
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    mono.flags.writeable = False
    return LoadedAudio(mono, int(rate), int(channels), mixdown if channels > 1 else "mean", path, notices,
                       subtype, float(start))


def _check_mixdown(mixdown: str, channels: int, path: Path) -> None:
    if mixdown not in MIXDOWNS:
        raise InputError(f"Unknown channel mix-down '{mixdown}'; choose one of: {', '.join(MIXDOWNS)}.")
    if mixdown == "right" and channels < 2:
        raise InputError(f"{path.name} has only one channel, so there is no right channel; use 'mean' or 'left'.")


def load_audio(path: str | os.PathLike, *, mixdown: str = "mean", max_seconds: float | None = None) -> LoadedAudio:
    """Decode ``path`` into float32 mono samples in [-1, 1] at the file's own rate.

    Parameters
    ----------
    mixdown
        How several channels become one: ``"mean"``, ``"left"`` or ``"right"``.
    max_seconds
        Read at most this many seconds from the start (a notice says so when the file is longer).
    """
    path = Path(path).expanduser()
    _check_path(path)
    sf = _sf()
    notices: list[str] = []
    try:
        with sf.SoundFile(str(path)) as handle:
            rate, channels, subtype = int(handle.samplerate), int(handle.channels), str(handle.subtype)
            _check_mixdown(mixdown, channels, path)
            frames = handle.frames
            limit = -1
            if max_seconds is not None and frames > max_seconds * rate:
                limit = int(max_seconds * rate)
                notices.append(f"Only the first {max_seconds:g} s of {frames / rate:.1f} s were read.")
            data = handle.read(frames=limit, dtype="float32", always_2d=True)
            fmt = handle.format
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001 - libsndfile refused: try librosa/audioread
        return _load_fallback(path, error, mixdown, max_seconds)
    if limit < 0 and fmt in ("WAV", "WAVEX", "RF64") and len(data) < frames:
        raise InputError(f"{path.name} is truncated: its header promises {frames / rate:.2f} s but only "
                         f"{len(data) / rate:.2f} s are in the file. The file was probably not copied fully.")
    if fmt in ("WAV", "WAVEX") and limit < 0:
        expected = _wav_data_bytes(path)
        if expected is not None and expected[0] > expected[1]:
            raise InputError(f"{path.name} is truncated: its header promises more sound data than the file "
                             "holds. The file was probably not copied fully.")
    return _finish(path, data, rate, channels, mixdown, subtype, notices)


def _wav_data_bytes(path: Path) -> tuple[int, int] | None:
    """(bytes the 'data' chunk claims, bytes present after it) for a RIFF WAV file, else None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = path.stat().st_size
            position = 12
            while position + 8 <= size:
                handle.seek(position)
                chunk = handle.read(8)
                length = int.from_bytes(chunk[4:8], "little")
                if chunk[:4] == b"data":
                    if length in (0, 0xFFFFFFFF):  # streaming writers leave it open
                        return None
                    return length, size - position - 8
                position += 8 + length + (length & 1)
    except OSError:
        return None
    return None


def _load_fallback(path: Path, error: BaseException, mixdown: str, max_seconds: float | None) -> LoadedAudio:
    head = b""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        pass
    if head[:4] in (b"RIFF", b"fLaC", b"OggS"):
        # A container libsndfile knows but could not decode: damaged or truncated.
        if head[:4] == b"RIFF" and path.stat().st_size <= 44:
            raise InputError(f"{path.name} holds no samples (an empty recording); choose another file.") from error
        raise InputError(f"{path.name} is damaged or truncated and could not be decoded. The file was probably "
                         "not copied fully.", details=f"{type(error).__name__}: {error}") from error
    try:
        import warnings

        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, rate = librosa.load(str(path), sr=None, mono=False, duration=max_seconds)
    except Exception as second:  # noqa: BLE001
        raise _unsupported(path, error) from second
    data = np.asarray(data, dtype=np.float32)
    channels = 1 if data.ndim == 1 else data.shape[0]
    _check_mixdown(mixdown, channels, path)
    data = data if data.ndim == 1 else data.T
    return _finish(path, data, int(rate), channels, mixdown, "decoded by audioread", [
        "Decoded with the system's audio decoder (libsndfile could not read this file)."])


def read_segment(path: str | os.PathLike, start_s: float, stop_s: float, *, mixdown: str = "mean") -> LoadedAudio:
    """Decode only ``start_s .. stop_s`` (seconds) of ``path``; ``LoadedAudio.start`` records where."""
    path = Path(path).expanduser()
    _check_path(path)
    check_segment_times(start_s, stop_s)
    sf = _sf()
    notices: list[str] = []
    try:
        with sf.SoundFile(str(path)) as handle:
            rate, channels, subtype = int(handle.samplerate), int(handle.channels), str(handle.subtype)
            _check_mixdown(mixdown, channels, path)
            _check_rate(path, rate)
            total = handle.frames
            first = int(round(start_s * rate))
            last = min(int(round(stop_s * rate)), total)
            if first >= total:
                raise InputError(f"The segment starts at {start_s:g} s but {path.name} lasts only {total / rate:.2f} s; "
                                 f"choose a start before {total / rate:.2f} s.")
            if stop_s * rate > total + 1:
                notices.append(f"The segment was cut at the end of the file ({total / rate:.2f} s).")
            handle.seek(first)
            data = handle.read(frames=last - first, dtype="float32", always_2d=True)
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001
        whole = _load_fallback(path, error, mixdown, stop_s)
        first = int(round(start_s * whole.rate))
        samples = np.array(whole.samples[first:])
        return _finish(path, samples, whole.rate, whole.channels, mixdown, whole.subtype, whole.notices, start_s)
    return _finish(path, data, rate, channels, mixdown, subtype, notices, first / rate)


def waveform_envelope(path: str | os.PathLike, points: int = 4000, *, mixdown: str = "mean",
                      block_seconds: float = 10.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An overview of a (long) file: ``(times, minimum, maximum)`` over ``points`` equal bins.

    Read block by block with ``soundfile.blocks``; memory stays O(block + points). ``times`` are
    the bins' centres in seconds.
    """
    path = Path(path).expanduser()
    info = audio_info(path)
    rate, frames = info["rate"], info["frames"]
    if frames <= 0 or info["channels"] == 0:
        audio = load_audio(path, mixdown=mixdown)
        samples, frames, rate = np.asarray(audio.samples), len(audio.samples), audio.rate
        blocks = [samples]
    else:
        blocks = None
    points = max(1, min(int(points), frames))
    bin_of_edge = np.linspace(0, frames, points + 1)
    lo = np.full(points, np.inf, dtype=np.float32)
    hi = np.full(points, -np.inf, dtype=np.float32)
    sf = _sf()
    position = 0
    blocksize = max(1, int(block_seconds * rate))
    iterator = blocks if blocks is not None else sf.blocks(str(path), blocksize=blocksize, dtype="float32",
                                                           always_2d=True)
    try:
        for block in iterator:
            mono = block if block.ndim == 1 else _mix(block, mixdown if block.shape[1] > 1 else "mean")
            n = len(mono)
            if n == 0:
                continue
            index = np.arange(position, position + n)
            bins = np.minimum((index * points) // frames, points - 1)
            starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
            ids = bins[starts]
            np.minimum.at(lo, ids, np.minimum.reduceat(mono, starts))
            np.maximum.at(hi, ids, np.maximum.reduceat(mono, starts))
            position += n
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001
        raise _unsupported(path, error) from error
    empty = ~np.isfinite(lo)
    lo[empty] = 0.0
    hi[empty] = 0.0
    times = ((bin_of_edge[:-1] + bin_of_edge[1:]) / 2.0 / rate).astype(np.float64)
    return times, lo, hi


def resample(samples: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    """Resample float32 mono ``samples`` from ``rate_from`` to ``rate_to`` (polyphase, scipy)."""
    rate_from, rate_to = int(rate_from), int(rate_to)
    samples = np.asarray(samples, dtype=np.float32)
    if rate_from == rate_to:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate_from, rate_to)
    return resample_poly(samples, rate_to // g, rate_from // g).astype(np.float32)


def check_segment_times(start_s: float | None, stop_s: float | None, duration: float | None = None) -> None:
    """Refuse segment times that are not finite, negative, out of order or past the clip's end."""
    for name, value in (("start", start_s), ("stop", stop_s)):
        if value is not None and not np.isfinite(value):
            raise InputError(f"The {name} time must be a finite number of seconds; got {value}.")
        if value is not None and value < 0:
            raise InputError(f"The {name} time must be 0 s or later; got {value:g} s.")
    if duration is not None and start_s is not None and start_s >= duration:
        raise InputError(f"The segment starts at {start_s:g} s but the clip lasts only {duration:.2f} s; "
                         f"choose a start before {duration:.2f} s.")
    if start_s is not None and stop_s is not None and not stop_s > start_s:
        raise InputError(f"The segment must end after it starts; got {start_s:g} s to {stop_s:g} s.")


def load_clip(path: str | os.PathLike, start_s: float | None = None, stop_s: float | None = None, *,
              mixdown: str = "mean") -> LoadedAudio:
    """The whole file, or the segment from ``start_s`` (default 0) to ``stop_s`` (default the end)."""
    if start_s is None and stop_s is None:
        return load_audio(path, mixdown=mixdown)
    check_segment_times(start_s, stop_s)
    duration = audio_info(path)["duration"]
    check_segment_times(start_s, stop_s, duration)
    start = 0.0 if start_s is None else float(start_s)
    stop = duration if stop_s is None else float(stop_s)
    return read_segment(path, start, stop, mixdown=mixdown)
