"""The Audio tab's source and segment panels: the "Sound" box and the whole-file overview.

:class:`AudioSourcePanel` is the "Sound" box (open, samples, what the file is, how its channels
are mixed to mono); :class:`SegmentOverview` is the overview of a long file with its segment
region and "Analyse this segment". Both only show and ask: the tab opens files and segments in
the worker (:mod:`xaidesk.gui.audio_jobs`) and tells the panels what came.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..audio_jobs import time_text
from ..views.audio_views import OverviewView

#: The longest segment that can be analysed at once.
MAX_SEGMENT_SECONDS = 60.0
MIXDOWN_TITLES = {"mean": "mean of the channels", "left": "left channel", "right": "right channel"}


class AudioSourcePanel(QGroupBox):
    """The "Sound" box: open button, the tab's ``sample_combo``, ``audio_info_label`` and the mixdown row.

    Signals
    -------
    open_requested()
        "Open audio…" was pressed.
    mixdown_chosen(str)
        The person picked how channels become mono (``"mean"``, ``"left"`` or ``"right"``).
    """

    open_requested = Signal()
    mixdown_chosen = Signal(str)

    def __init__(self, sample_combo: QComboBox, parent: QWidget | None = None) -> None:
        super().__init__("Sound", parent)
        sound_layout = QVBoxLayout(self)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open audio…")
        self.open_button.clicked.connect(self.open_requested)
        self.sample_combo = sample_combo
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
        self.mixdown_combo.activated.connect(lambda _index: self.mixdown_chosen.emit(self.mixdown()))
        self.mixdown_row = QWidget()
        mix_form = QFormLayout(self.mixdown_row)
        mix_form.setContentsMargins(0, 0, 0, 0)
        mix_form.addRow("Mono from", self.mixdown_combo)
        self.mixdown_row.setVisible(False)
        sound_layout.addLayout(buttons)
        sound_layout.addWidget(self.audio_info_label)
        sound_layout.addWidget(self.mixdown_row)

    def mixdown(self) -> str:
        """How channels are mixed to mono (``"mean"`` unless the person chose otherwise)."""
        return self.mixdown_combo.currentData() or "mean"

    def show_file(self, channels: int, mixdown: str) -> None:
        """Show the mixdown row for a file of several ``channels``, set to ``mixdown``."""
        self.mixdown_combo.setCurrentIndex(max(0, self.mixdown_combo.findData(mixdown)))
        self.mixdown_row.setVisible(channels > 1)

    def show_info(self, text: str, tooltip: str = "") -> None:
        """Describe the opened sound (name, length, rate, channels, notices)."""
        self.audio_info_label.setText(text)
        self.audio_info_label.setToolTip(tooltip)


class SegmentOverview(QWidget):
    """The whole-file ``overview_view``, the segment line and ``analyse_button`` (hidden until a long file opens).

    Signals
    -------
    analyse_requested()
        "Analyse this segment" was pressed.
    """

    analyse_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._analysed: tuple[float, float] | None = None
        self.overview_view = OverviewView("Whole file — drag the yellow region to choose the part to analyse")
        self.overview_view.set_max_width(MAX_SEGMENT_SECONDS)
        self.overview_view.region_changed.connect(lambda _start, _stop: self.update_segment_label())
        self.segment_label = QLabel("")
        self.segment_label.setObjectName("notes")
        self.analyse_button = QPushButton("Analyse this segment")
        self.analyse_button.setToolTip("Read the chosen part of the file and show its spectrogram and prediction.")
        self.analyse_button.clicked.connect(self.analyse_requested)
        overview_layout = QVBoxLayout(self)
        overview_layout.setContentsMargins(0, 0, 0, 0)
        overview_layout.setSpacing(2)
        overview_layout.addWidget(self.overview_view, 1)
        segment_row = QHBoxLayout()
        segment_row.addWidget(self.segment_label, 1)
        segment_row.addWidget(self.analyse_button)
        overview_layout.addLayout(segment_row)
        self.setVisible(False)

    def segment(self) -> tuple[float, float]:
        """The chosen part of the file (seconds), at most :data:`MAX_SEGMENT_SECONDS` long."""
        start, stop = self.overview_view.segment()
        return start, min(stop, start + MAX_SEGMENT_SECONDS)

    def set_analyse_enabled(self, enabled: bool) -> None:
        """Offer "Analyse this segment" (only while a file is open and no segment is being read)."""
        self.analyse_button.setEnabled(enabled)

    def show_envelope(self, envelope, duration: float) -> None:
        """Draw the whole file's envelope (``times, mins, maxs``) over ``duration`` seconds."""
        times, mins, maxs = envelope
        self.overview_view.set_envelope(times, mins, maxs, duration)

    def show_analysed(self, start: float, stop: float, move_region: bool = True) -> None:
        """The part now analysed (seconds in the file); the region moves to it unless ``move_region`` is false."""
        self._analysed = (start, stop)
        if move_region:
            self.overview_view.set_region(start, stop)

    def update_segment_label(self) -> None:
        """Say which part is chosen, and whether it differs from the part shown."""
        start, stop = self.overview_view.segment()
        shown = ""
        if self._analysed is not None:
            shown_start, shown_stop = self._analysed
            if abs(shown_start - start) > 1e-3 or abs(shown_stop - stop) > 1e-3:
                shown = (f" · showing {time_text(shown_start)}–{time_text(shown_stop)}; "
                         "press the button to analyse the new part")
        self.segment_label.setText(
            f"Segment {time_text(start)}–{time_text(stop)} ({stop - start:.1f} s) of "
            f"{time_text(self.overview_view.duration())}{shown}")
