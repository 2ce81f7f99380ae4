"""The Audio tab's playback bar: play, pause, stop, the position, and listening to the evidence.

:class:`AudioPlaybackBar` shows the controls of an :class:`~xaidesk.gui.audio_player.AudioPlayer`
(position, state, notices, whether sound can be played here at all), tells the tab where the
playhead is on the file's timeline, and asks the tab for the shown result's most relevant cells
(or the rest) to listen to; the tab resynthesises them and hands the sound back to
:meth:`AudioPlaybackBar.play_sound`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from ..audio_jobs import time_text
from ..audio_player import AudioPlayer


class AudioPlaybackBar(QWidget):
    """Play the shown clip (or the evidence) with ``player``; times are seconds in the file.

    Signals
    -------
    playhead_moved(float)
        Where playback is, in seconds from the start of the file (the clip's start included).
    evidence_requested(str)
        "Play evidence" (``"top"``) or "Play the rest" (``"rest"``) was pressed.
    message(str)
        A plain message for the status bar (e.g. why a sound could not be played).
    availability_changed(bool)
        Playback became possible or impossible (the notice under the bar says why).
    """

    playhead_moved = Signal(float)
    evidence_requested = Signal(str)
    message = Signal(str)
    availability_changed = Signal(bool)

    def __init__(self, player: AudioPlayer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.player = player
        self._clip = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 0, 4, 0)
        outer.setSpacing(2)
        outer.addLayout(self._build_position_row())
        outer.addLayout(self._build_listen_row())
        self.player_notice = QLabel("")
        self.player_notice.setObjectName("notes")
        self.player_notice.setWordWrap(True)
        self.player_notice.setVisible(False)
        outer.addWidget(self.player_notice)
        player.position_changed.connect(self._on_player_position)
        player.state_changed.connect(self._on_player_state)
        player.notice.connect(self._on_player_notice)
        player.availability_changed.connect(self._on_player_availability)
        if not player.available:
            self._on_player_availability(False)

    def _build_position_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.play_button = QPushButton("▶ Play")
        self.play_button.setToolTip("Play or pause the sound (Space). Click on the waveform or spectrogram to jump there.")
        self.play_button.setShortcut("Space")
        self.play_button.clicked.connect(self.toggle_playback)
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.clicked.connect(self.stop_playback)
        self.position_slider = QSlider(Qt.Orientation.Horizontal)
        self.position_slider.setRange(0, 1000)
        self.position_slider.setToolTip("Where playback is; drag to jump.")
        self.position_slider.sliderMoved.connect(self._on_slider_moved)
        self.position_label = QLabel("0:00.0 / 0:00.0")
        self.position_label.setMinimumWidth(110)
        self.source_label = QLabel("")
        self.source_label.setObjectName("notes")
        row.addWidget(self.play_button)
        row.addWidget(self.stop_button)
        row.addWidget(self.position_slider, 1)
        row.addWidget(self.position_label)
        row.addWidget(self.source_label)
        return row

    def _build_listen_row(self) -> QHBoxLayout:
        listen = QHBoxLayout()
        listen.addWidget(QLabel("Listen to the evidence:"))
        self.play_original_button = QPushButton("Original")
        self.play_original_button.setToolTip("Play the analysed sound as it is.")
        self.play_original_button.clicked.connect(self.play_original)
        self.play_evidence_button = QPushButton("Play evidence")
        self.play_evidence_button.setToolTip(
            "Play only the most relevant time-frequency cells of the shown result (the share set on the right)."
        )
        self.play_evidence_button.clicked.connect(lambda: self.evidence_requested.emit("top"))
        self.play_rest_button = QPushButton("Play the rest")
        self.play_rest_button.setToolTip("Play everything except the most relevant cells.")
        self.play_rest_button.clicked.connect(lambda: self.evidence_requested.emit("rest"))
        self.share_slider = QSlider(Qt.Orientation.Horizontal)
        self.share_slider.setRange(5, 50)
        self.share_slider.setValue(20)
        self.share_slider.setMaximumWidth(160)
        self.share_slider.setToolTip("Share of the time-frequency cells counted as evidence.")
        self.share_value = QLabel("20 %")
        self.share_value.setMinimumWidth(36)
        self.share_slider.valueChanged.connect(lambda v: self.share_value.setText(f"{v} %"))
        listen.addWidget(self.play_original_button)
        listen.addWidget(self.play_evidence_button)
        listen.addWidget(self.play_rest_button)
        listen.addWidget(QLabel("Share"))
        listen.addWidget(self.share_slider)
        listen.addWidget(self.share_value)
        listen.addStretch(1)
        return listen

    # ------------------------------------------------------------ what the tab tells the bar
    def set_clip(self, clip) -> None:
        """Play ``clip`` (an opened sound or segment) from now on; its start places it in the file."""
        self._clip = clip
        self.player.set_source(clip.samples, clip.rate, "clip")

    def rewind(self) -> None:
        """Show the position at the start of the clip, with no source named."""
        self.source_label.setText("")
        self._on_player_position(0.0)

    def set_actions(self, has_clip: bool, can_listen: bool) -> None:
        """Enable the buttons: playing needs a clip and sound output, listening a result of the shown clip."""
        playable = self.player.available
        for button in (self.play_button, self.stop_button, self.play_original_button):
            button.setEnabled(has_clip and playable)
        self.position_slider.setEnabled(has_clip)
        self.play_evidence_button.setEnabled(can_listen and playable)
        self.play_rest_button.setEnabled(can_listen and playable)
        for button in self.buttons():
            usual = button.property("usualToolTip")
            if usual is None:
                usual = button.toolTip()
                button.setProperty("usualToolTip", usual)
            button.setToolTip(usual if playable else f"{self.player.unavailable_reason} {self.player.unavailable_details}"
                              .strip())

    def share(self) -> float:
        """The share of time-frequency cells counted as evidence (0.05 to 0.5)."""
        return self.share_slider.value() / 100.0

    def play_sound(self, samples, rate: int, name: str, description: str) -> None:
        """Play resynthesised ``samples`` (``name`` is ``"evidence"`` or ``"rest"``), described beside the slider."""
        self.player.set_source(samples, rate, name)
        self.source_label.setText(description)
        self.player.play()

    def buttons(self) -> list[QPushButton]:
        """The buttons that play sound (all off where sound cannot be played)."""
        return [self.play_button, self.stop_button, self.play_original_button, self.play_evidence_button,
                self.play_rest_button]

    # ------------------------------------------------------------ playing
    def _playback_offset(self) -> float:
        return self._clip.start if self._clip is not None else 0.0

    def toggle_playback(self) -> None:
        if self.player.state() == "playing":
            self.player.pause()
        else:
            self.player.play()

    def stop_playback(self) -> None:
        self.player.stop()
        self.player.seek(0.0)

    def seek_file_time(self, seconds: float) -> None:
        """Jump to a time on the file's timeline (a click on a view)."""
        self.player.seek(seconds - self._playback_offset())

    def play_original(self) -> None:
        if self._clip is None:
            return
        if self.player.source_name() != "clip":
            self.player.set_source(self._clip.samples, self._clip.rate, "clip")
        self.source_label.setText("original")
        self.player.play()

    # ------------------------------------------------------------ following the player
    def _on_slider_moved(self, value: int) -> None:
        self.player.seek(self.player.duration() * value / 1000.0)

    def _on_player_position(self, seconds: float) -> None:
        self.playhead_moved.emit(self._playback_offset() + seconds)
        duration = self.player.duration()
        if not self.position_slider.isSliderDown():
            self.position_slider.blockSignals(True)
            self.position_slider.setValue(int(round(1000 * seconds / duration)) if duration > 0 else 0)
            self.position_slider.blockSignals(False)
        self.position_label.setText(f"{time_text(self._playback_offset() + seconds)} / "
                                    f"{time_text(self._playback_offset() + duration)}")

    def _on_player_state(self, state: str) -> None:
        self.play_button.setText("❚❚ Pause" if state == "playing" else "▶ Play")

    def _on_player_notice(self, text: str) -> None:
        self.player_notice.setText(text)
        self.player_notice.setVisible(True)
        self.message.emit(text)

    def _on_player_availability(self, available: bool) -> None:
        self.player_notice.setText("" if available else self.player.unavailable_reason)
        self.player_notice.setToolTip("" if available else self.player.unavailable_details)
        self.player_notice.setVisible(not available)
        self.availability_changed.emit(available)
