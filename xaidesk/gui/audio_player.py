"""Play a clip (or its resynthesised evidence) through QtMultimedia.

The samples are written as a temporary 16-bit WAV file into the person's cache folder and
played by a ``QMediaPlayer`` with a ``QAudioOutput``. A timer reads the position while
playing so that the playheads move smoothly.

QtMultimedia is optional at run time: if it cannot be imported (a missing system audio
library), the computer has no audio output (offscreen test runs, servers) or the player reports
an error, :attr:`AudioPlayer.available` is false, ``unavailable_reason`` says why
("No audio output found; playback unavailable.") and ``availability_changed`` tells the tab,
which disables its play buttons; everything else keeps working: seeking still moves the
playheads. When outputs appear or disappear later, availability follows.
"""

from __future__ import annotations

import itertools
import os
import wave
from pathlib import Path

import numpy as np
from PySide6.QtCore import QLoggingCategory, QObject, QTimer, QUrl, Signal

#: Shown when there is nothing to play through.
UNAVAILABLE_NOTICE = "No audio output found; playback unavailable."
#: Milliseconds between playhead updates while playing.
POSITION_INTERVAL_MS = 40

_counter = itertools.count(1)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Write mono float samples as 16-bit PCM (peaks above full scale are scaled down, not clipped)."""
    samples = np.asarray(samples, dtype=np.float64).ravel()
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 1.0:
        samples = samples / peak
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with wave.open(str(tmp), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(int(rate))
        handle.writeframes(pcm.tobytes())
    os.replace(tmp, path)
    return path


def playback_folder() -> Path:
    from ..userdirs import cache_dir

    return cache_dir() / "playback"


class AudioPlayer(QObject):
    """Play, pause and seek one source at a time.

    Positions are seconds from the start of the source. Sources are plain numpy samples.

    Signals
    -------
    position_changed(float)
        While playing (about 25 times a second) and after a seek.
    state_changed(str)
        ``"playing"``, ``"paused"`` or ``"stopped"``.
    notice(str)
        A plain message for the person (playback unavailable, could not play).
    availability_changed(bool)
        Playback became possible (True) or impossible (False; ``unavailable_reason`` says why).
    """

    position_changed = Signal(float)
    state_changed = Signal(str)
    notice = Signal(str)
    availability_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, folder: Path | None = None) -> None:
        super().__init__(parent)
        self._folder = folder
        self._samples: np.ndarray | None = None
        self._rate = 1
        self._name = ""
        self._file: Path | None = None
        self._position = 0.0
        self._state = "stopped"
        self._player = None
        self._output = None
        self.unavailable_reason = ""
        #: Technical details of why there is no playback (for a tooltip).
        self.unavailable_details = ""
        self._timer = QTimer(self)
        self._timer.setInterval(POSITION_INTERVAL_MS)
        self._timer.timeout.connect(self._poll)
        self._set_up()

    # -- set-up ---------------------------------------------------------------
    @staticmethod
    def audio_outputs() -> list:
        """The computer's audio outputs (``QMediaDevices.audioOutputs()``)."""
        from PySide6.QtMultimedia import QMediaDevices

        return list(QMediaDevices.audioOutputs())

    def _set_up(self) -> None:
        # Qt's multimedia back-end lists every optional codec library it did not find; a person
        # starting the app from a terminal should not read that as an error.
        QLoggingCategory.setFilterRules("qt.multimedia*=false")
        try:
            from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer
        except (ImportError, OSError) as error:  # e.g. a missing libpulse
            self.unavailable_reason = UNAVAILABLE_NOTICE
            self.unavailable_details = f"Qt Multimedia could not be loaded: {error}"
            return
        self._QMediaPlayer, self._QAudioOutput, self._QMediaDevices = QMediaPlayer, QAudioOutput, QMediaDevices
        try:
            self._devices = QMediaDevices(self)
            self._devices.audioOutputsChanged.connect(self._outputs_changed)
        except Exception:  # noqa: BLE001 - without change notices the first look stands
            self._devices = None
        self._open_output()

    def _open_output(self) -> None:
        try:
            outputs = self.audio_outputs()
        except Exception as error:  # noqa: BLE001 - any backend failure means no playback
            self.unavailable_reason = UNAVAILABLE_NOTICE
            self.unavailable_details = str(error)
            return
        if not outputs:
            self.unavailable_reason = UNAVAILABLE_NOTICE
            self.unavailable_details = "This computer reports no sound output device."
            return
        self.unavailable_reason = self.unavailable_details = ""
        self._output = self._QAudioOutput(self._QMediaDevices.defaultAudioOutput(), self)
        self._player = self._QMediaPlayer(self)
        self._player.setAudioOutput(self._output)
        self._player.playbackStateChanged.connect(self._on_state)
        self._player.mediaStatusChanged.connect(self._on_media_status)
        self._player.errorOccurred.connect(self._on_error)

    def _close_output(self, reason: str, details: str = "") -> None:
        self.stop()
        self._forget_file()
        if self._player is not None:
            self._player.deleteLater()
        self._player = None
        self._output = None
        self.unavailable_reason = reason
        self.unavailable_details = details

    def _outputs_changed(self) -> None:
        was = self.available
        if was:
            try:
                still = bool(self.audio_outputs())
            except Exception:  # noqa: BLE001
                still = False
            if not still:
                self._close_output(UNAVAILABLE_NOTICE, "The sound output device was removed.")
        else:
            self._open_output()
        if self.available != was:
            self.availability_changed.emit(self.available)

    @property
    def available(self) -> bool:
        """Whether sound can be played on this computer."""
        return self._player is not None

    # -- source -----------------------------------------------------------------
    def set_source(self, samples: np.ndarray | None, rate: int, name: str = "clip") -> None:
        """Use new samples (at ``rate`` Hz); playback stops and the position goes back to 0."""
        self.stop()
        self._samples = None if samples is None else np.asarray(samples, dtype=np.float32)
        self._rate = int(rate)
        self._name = name
        self._forget_file()
        self._set_position(0.0)

    def source_name(self) -> str:
        return self._name

    def has_source(self) -> bool:
        return self._samples is not None and len(self._samples) > 0

    def samples(self) -> np.ndarray | None:
        return self._samples

    def rate(self) -> int:
        return self._rate

    def duration(self) -> float:
        return 0.0 if self._samples is None else len(self._samples) / max(self._rate, 1)

    def _forget_file(self) -> None:
        if self._player is not None:
            self._player.setSource(QUrl())
        if self._file is not None:
            try:
                self._file.unlink()
            except OSError:
                pass
            self._file = None

    def _ensure_file(self) -> bool:
        if self._file is not None:
            return True
        folder = self._folder or playback_folder()
        path = folder / f"{os.getpid()}_{next(_counter)}_{self._name}.wav"
        try:
            self._file = write_wav(path, self._samples, self._rate)
        except OSError as error:
            self.notice.emit(f"Could not prepare the sound for playback: {error.strerror or error}.")
            return False
        self._player.setSource(QUrl.fromLocalFile(str(self._file)))
        return True

    # -- transport ----------------------------------------------------------------
    def state(self) -> str:
        return self._state

    def position(self) -> float:
        return self._position

    def play(self) -> bool:
        """Start or resume playback; returns whether it started."""
        if not self.has_source():
            return False
        if not self.available:
            self.notice.emit(self.unavailable_reason or UNAVAILABLE_NOTICE)
            return False
        if not self._ensure_file():
            return False
        if self._position >= self.duration() - 1e-3:
            self._position = 0.0
        self._player.setPosition(int(round(1000 * self._position)))
        self._player.play()
        self._set_state("playing")
        self._timer.start()
        return True

    def pause(self) -> None:
        if self._player is not None and self._state == "playing":
            self._player.pause()
            self._position = self._player.position() / 1000.0
        self._timer.stop()
        if self._state == "playing":
            self._set_state("paused")

    def toggle(self) -> None:
        if self._state == "playing":
            self.pause()
        else:
            self.play()

    def stop(self) -> None:
        self._timer.stop()
        if self._player is not None:
            self._player.stop()
        if self._state != "stopped":
            self._set_state("stopped")

    def seek(self, seconds: float) -> None:
        """Move to ``seconds`` (clamped to the source); playing continues from there."""
        seconds = float(min(max(seconds, 0.0), self.duration()))
        if self._player is not None and self._file is not None:
            self._player.setPosition(int(round(1000 * seconds)))
        self._set_position(seconds)

    def close(self) -> None:
        self.stop()
        self._forget_file()

    # -- internals ----------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    def _set_position(self, seconds: float) -> None:
        self._position = float(seconds)
        self.position_changed.emit(self._position)

    def _poll(self) -> None:
        if self._player is not None and self._state == "playing":
            self._set_position(self._player.position() / 1000.0)

    def _on_state(self, state) -> None:
        QMediaPlayer = self._QMediaPlayer
        if state == QMediaPlayer.PlaybackState.StoppedState and self._state == "playing":
            self._timer.stop()
            self._set_state("stopped")

    def _on_media_status(self, status) -> None:
        if status == self._QMediaPlayer.MediaStatus.EndOfMedia:
            self._timer.stop()
            self._set_position(self.duration())
            self._set_state("stopped")

    def _on_error(self, _error, text: str = "") -> None:
        # The files played are WAV files this player wrote, so an error is the audio system's.
        self._timer.stop()
        self._set_state("stopped")
        message = f"The sound could not be played: {text or 'the audio system reported an error'}."
        self._close_output("Playback is off: the audio system reported an error.", text)
        self.notice.emit(message)
        self.availability_changed.emit(False)


__all__ = ["AudioPlayer", "UNAVAILABLE_NOTICE", "write_wav"]
