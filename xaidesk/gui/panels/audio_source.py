"""The Audio tab's source and segment panel: the "Sound" box and the whole-file overview.

:class:`AudioSourceMixin` builds the "Sound" box (open, samples, what the file is, how its
channels are mixed to mono) and the overview of a long file with its segment region and
"Analyse this segment"; it opens files and segments in the worker
(:mod:`xaidesk.gui.audio_jobs`) and hands the opened clip to the tab's ``_show_clip``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .. import audio_jobs
from ..audio_jobs import OpenedAudio, time_text
from ..views.audio_views import OverviewView

#: The longest segment that can be analysed at once.
MAX_SEGMENT_SECONDS = 60.0
MIXDOWN_TITLES = {"mean": "mean of the channels", "left": "left channel", "right": "right channel"}


class AudioSourceMixin:
    """The opened file, its mixdown and the analysed segment (``path``, ``file_info``, ``envelope``)."""

    def _build_sound_box(self) -> QGroupBox:
        """The "Sound" group: open button, ``sample_combo``, ``audio_info_label`` and the mixdown row."""
        sound_box = QGroupBox("Sound")
        sound_layout = QVBoxLayout(sound_box)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open audio…")
        self.open_button.clicked.connect(self.choose_audio)
        self.sample_combo = self._build_sample_combo("Sample sounds that come with the demo models.")
        self.sample_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.sample_combo.setMinimumContentsLength(8)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.sample_combo, 1)
        self.audio_info_label = QLabel("No sound yet.")
        self.audio_info_label.setWordWrap(True)
        self.audio_info_label.setObjectName("notes")
        self.mixdown_combo = QComboBox()
        self.mixdown_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mixdown_combo.setMinimumContentsLength(10)
        for key, title in MIXDOWN_TITLES.items():
            self.mixdown_combo.addItem(title, key)
        self.mixdown_combo.setToolTip("How the channels of a stereo or multi-channel file become the one channel the model hears.")
        self.mixdown_combo.activated.connect(self._on_mixdown_chosen)
        self.mixdown_row = QWidget()
        mix_form = QFormLayout(self.mixdown_row)
        mix_form.setContentsMargins(0, 0, 0, 0)
        mix_form.addRow("Mono from", self.mixdown_combo)
        self.mixdown_row.setVisible(False)
        sound_layout.addLayout(buttons)
        sound_layout.addWidget(self.audio_info_label)
        sound_layout.addWidget(self.mixdown_row)
        return sound_box

    def _build_overview_box(self) -> QWidget:
        """The whole-file overview (``overview_view``), the segment line and "Analyse this segment"
        (hidden until a long file is opened)."""
        self.overview_view = OverviewView("Whole file — drag the yellow region to choose the part to analyse")
        self.overview_view.set_max_width(MAX_SEGMENT_SECONDS)
        self.overview_view.region_changed.connect(self._on_region_changed)
        self.segment_label = QLabel("")
        self.segment_label.setObjectName("notes")
        self.analyse_button = QPushButton("Analyse this segment")
        self.analyse_button.setToolTip("Read the chosen part of the file and show its spectrogram and prediction.")
        self.analyse_button.clicked.connect(lambda: self.analyse_segment())
        overview_box = QWidget()
        overview_layout = QVBoxLayout(overview_box)
        overview_layout.setContentsMargins(0, 0, 0, 0)
        overview_layout.setSpacing(2)
        overview_layout.addWidget(self.overview_view, 1)
        segment_row = QHBoxLayout()
        segment_row.addWidget(self.segment_label, 1)
        segment_row.addWidget(self.analyse_button)
        overview_layout.addLayout(segment_row)
        self.overview_box = overview_box
        self.overview_box.setVisible(False)
        return overview_box

    def choose_audio(self) -> None:
        from xaidesk.data.audio import AUDIO_FILE_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open a sound", self._last_folder(), AUDIO_FILE_FILTER)
        if path:
            self.open_audio(path)

    def mixdown(self) -> str:
        return self.mixdown_combo.currentData() or "mean"

    def _frontend_source(self):
        """What spectrograms are computed with: the model (its front-end), or the default front-end."""
        return self.model if self.model is not None else None

    def open_audio(self, path, mixdown: str | None = None) -> int:
        """Open a sound file in the background; the current one stays until it is ready.

        Files longer than :data:`~xaidesk.gui.audio_jobs.SEGMENT_SECONDS` open with a whole-file
        overview and their first seconds as the analysed segment.
        """
        path = Path(path)
        if mixdown is None:
            mixdown = self.mixdown() if (self.path is not None and path == self.path) else "mean"
        model = self._frontend_source()
        self.status_message.emit(f"Opening {path.name} …")
        self.ensure_model()

        def job(token, progress):
            return audio_jobs.open_audio(path, mixdown, model, token)

        return self._submit("open", job)

    def _on_mixdown_chosen(self, _index: int) -> None:
        if self.path is None or self.clip is None:
            return
        if self.envelope is not None:
            self.analyse_segment(reload_overview=True)
        else:
            self.open_audio(self.path, mixdown=self.mixdown())

    def _opened_ready(self, opened: OpenedAudio) -> None:
        if self.is_running():
            self.cancel_explanation()
        self.path = opened.path
        self.file_info = opened.info
        self.envelope = opened.envelope
        channels = int(opened.info.get("channels", 1) or 1)
        self.mixdown_combo.setCurrentIndex(max(0, self.mixdown_combo.findData(getattr(opened.clip, "mixdown", "mean"))))
        self.mixdown_row.setVisible(channels > 1)
        if opened.envelope is not None:
            times, mins, maxs = opened.envelope
            self.overview_view.set_envelope(times, mins, maxs, float(opened.info.get("duration", 0.0)))
            self.overview_view.set_region(opened.clip.start, opened.clip.stop)
            self.overview_box.setVisible(True)
        else:
            self.overview_box.setVisible(False)
        self._remember_folder(opened.path)
        self._show_clip(opened.clip, opened.spectrogram)
        self.status_message.emit(self._opened_message(opened.path))
        self.audio_opened.emit(opened.path)

    def analyse_segment(self, reload_overview: bool = False) -> int | None:
        """Read the segment chosen on the overview (with the chosen mixdown) and show it."""
        if self.path is None:
            return None
        start, stop = self.overview_view.segment()
        stop = min(stop, start + MAX_SEGMENT_SECONDS)
        path, mixdown, model, file_info = self.path, self.mixdown(), self._frontend_source(), self.file_info
        self.status_message.emit(f"Reading {time_text(start)} to {time_text(stop)} of {path.name} …")

        def job(token, progress):
            return audio_jobs.open_segment(path, start, stop, mixdown, model, file_info, reload_overview, token)

        return self._submit("segment", job)

    def _segment_ready(self, opened: OpenedAudio) -> None:
        if opened.path != self.path:
            return
        if self.is_running():
            self.cancel_explanation()
        if opened.envelope is not None:
            times, mins, maxs = opened.envelope
            self.envelope = opened.envelope
            self.overview_view.set_envelope(times, mins, maxs, float(opened.info.get("duration", 0.0)))
        self.overview_view.set_region(opened.clip.start, opened.clip.stop)
        self._show_clip(opened.clip, opened.spectrogram)
        self.status_message.emit(f"Analysing {time_text(opened.clip.start)} to {time_text(opened.clip.stop)}.")

    def _on_region_changed(self, start: float, stop: float) -> None:
        self._update_segment_label()

    def _update_segment_label(self) -> None:
        start, stop = self.overview_view.segment()
        shown = ""
        if self.clip is not None and (abs(self.clip.start - start) > 1e-3 or abs(self.clip.stop - stop) > 1e-3):
            shown = f" · showing {time_text(self.clip.start)}–{time_text(self.clip.stop)}; press the button to analyse the new part"
        self.segment_label.setText(
            f"Segment {time_text(start)}–{time_text(stop)} ({stop - start:.1f} s) of "
            f"{time_text(self.overview_view.duration())}{shown}")
