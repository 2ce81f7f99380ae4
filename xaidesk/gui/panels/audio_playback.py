"""The Audio tab's playback bar: play, pause, stop, the position, and listening to the evidence.

:class:`AudioPlaybackMixin` builds the bar (``play_button`` … ``player_notice``), follows the
:class:`~xaidesk.gui.audio_player.AudioPlayer` (position, state, notices, whether sound can be
played here at all), moves the playhead of the tab's time views, and resynthesises the shown
result's most relevant cells (or the rest) to listen to.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from .. import audio_jobs
from ..audio_jobs import time_text


class AudioPlaybackMixin:
    """The playback bar of the Audio tab and what it does (``self.player`` plays, ``self.clip`` is shown)."""

    def _build_playback_bar(self) -> QWidget:
        widget = QWidget()
        outer = QVBoxLayout(widget)
        outer.setContentsMargins(4, 0, 4, 0)
        outer.setSpacing(2)
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
        listen = QHBoxLayout()
        listen.addWidget(QLabel("Listen to the evidence:"))
        self.play_original_button = QPushButton("Original")
        self.play_original_button.setToolTip("Play the analysed sound as it is.")
        self.play_original_button.clicked.connect(self.play_original)
        self.play_evidence_button = QPushButton("Play evidence")
        self.play_evidence_button.setToolTip(
            "Play only the most relevant time-frequency cells of the shown result (the share set on the right)."
        )
        self.play_evidence_button.clicked.connect(lambda: self.play_evidence("top"))
        self.play_rest_button = QPushButton("Play the rest")
        self.play_rest_button.setToolTip("Play everything except the most relevant cells.")
        self.play_rest_button.clicked.connect(lambda: self.play_evidence("rest"))
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
        self.player_notice = QLabel("")
        self.player_notice.setObjectName("notes")
        self.player_notice.setWordWrap(True)
        self.player_notice.setVisible(False)
        outer.addLayout(row)
        outer.addLayout(listen)
        outer.addWidget(self.player_notice)
        return widget

    def _connect_player(self) -> None:
        self.player.position_changed.connect(self._on_player_position)
        self.player.state_changed.connect(self._on_player_state)
        self.player.notice.connect(self._on_player_notice)
        self.player.availability_changed.connect(self._on_player_availability)
        if not self.player.available:
            self._on_player_availability(False)

    def _playback_buttons(self) -> list:
        return [self.play_button, self.stop_button, self.play_original_button, self.play_evidence_button,
                self.play_rest_button]

    def _update_playback_enabled(self) -> None:
        has_clip = self.clip is not None
        playable = self.player.available
        for button in (self.play_button, self.stop_button, self.play_original_button):
            button.setEnabled(has_clip and playable)
        self.position_slider.setEnabled(has_clip)
        can_listen = (self.current_entry is not None and self.current_entry.clip is self.clip
                      and self._jobs["listen"] is None)
        self.play_evidence_button.setEnabled(can_listen and playable)
        self.play_rest_button.setEnabled(can_listen and playable)
        for button in self._playback_buttons():
            usual = button.property("usualToolTip")
            if usual is None:
                usual = button.toolTip()
                button.setProperty("usualToolTip", usual)
            button.setToolTip(usual if playable else f"{self.player.unavailable_reason} {self.player.unavailable_details}"
                              .strip())

    def _on_player_availability(self, available: bool) -> None:
        self.player_notice.setText("" if available else self.player.unavailable_reason)
        self.player_notice.setToolTip("" if available else self.player.unavailable_details)
        self.player_notice.setVisible(not available)
        self._update_enabled()

    def _playback_offset(self) -> float:
        return self.clip.start if self.clip is not None else 0.0

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

    def _on_slider_moved(self, value: int) -> None:
        self.player.seek(self.player.duration() * value / 1000.0)

    def _on_player_position(self, seconds: float) -> None:
        for view in self.time_views:
            view.set_playhead(self._playback_offset() + seconds)
        for view in self._compare_views:
            view.set_playhead(None)
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
        self.status_message.emit(text)

    def play_original(self) -> None:
        if self.clip is None:
            return
        if self.player.source_name() != "clip":
            self.player.set_source(self.clip.samples, self.clip.rate, "clip")
        self.source_label.setText("original")
        self.player.play()

    def play_evidence(self, keep: str = "top") -> int | None:
        """Resynthesise the shown result's top cells (``"top"``) or the rest (``"rest"``) and play it."""
        entry = self.current_entry
        if entry is None or self.clip is None or entry.clip is not self.clip:
            return None
        share = self.share_slider.value() / 100.0
        clip, frontend, relevance = entry.clip, entry.frontend, entry.explanation.relevance
        self.status_message.emit("Preparing the evidence to listen to …" if keep == "top" else "Preparing the rest …")

        def job(token, progress):
            return audio_jobs.resynthesize_evidence(clip, frontend, relevance, share, keep)

        self._submit("listen", job)
        self._update_enabled()
        return self._jobs["listen"]

    def _listen_ready(self, result) -> None:
        clip, keep, share, samples, rate = result
        if clip is not self.clip:
            return
        name = "evidence" if keep == "top" else "rest"
        self.player.set_source(samples, rate, name)
        text = (f"evidence: the top {100 * share:.0f} % of cells" if keep == "top"
                else f"the rest: without the top {100 * share:.0f} % of cells")
        self.source_label.setText(text)
        self.status_message.emit(f"Playing {text}.")
        self.player.play()

    def shutdown(self) -> None:
        """Stop playback and remove the temporary sound file."""
        self.player.close()
