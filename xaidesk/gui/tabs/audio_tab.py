"""The Audio tab: open a sound, pick a model and a method, run, look, listen, compare, export.

All computation (decoding, the whole-file overview, spectrograms, predictions, explanations,
resynthesis of the evidence) runs in the :class:`~xaidesk.gui.runner.Runner`; this module
dispatches jobs, shows their results and plays sound. Torch-backed packages are imported
inside the jobs.

Time on every view is seconds from the start of the *file*: a segment picked on the
overview of a long recording keeps its place on the file's timeline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QToolButton,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core import render
from .. import audio_jobs, image_jobs
from ..audio_jobs import (
    SEGMENT_SECONDS,
    OpenedAudio,
    Spectrogram,
    default_frontend,
    frontend_dict,
    time_text,
    unfinished_as_blank,
)
from ..audio_player import AudioPlayer
from ..catalog import Catalog, input_title
from ..formatting import (
    EtaEstimator,
    class_text,
    explained_class_text,
    explanation_title,
    format_duration,
    format_value,
    map_shows_sign,
    parse_count,
    partial_title,
    probability_text,
    progress_text,
    sample_progress_text,
)
from ..overlays import samples_done
from ..runner import JobFailure, Runner
from ..views.audio_views import (
    OverviewView,
    RangeLink,
    SpectrogramView,
    UncertaintySpectrogramView,
    WaveformView,
    link_time_axes,
)
from ..widgets import error_dialog, frontend_dialog
from ..widgets.param_form import AUTOMATIC_LAYER
from .explain_base import (  # noqa: F401 - MAX_HISTORY is re-exported
    MAX_HISTORY,
    MODEL_LAYERS,
    RUN_PLACEHOLDER,
    name_samples_plainly,
    open_waiting_sample,
    opened_message,
    running_text,
    split_results_area,
    UNCERTAINTY_COLORMAP,
    ExplainTabBase,
    faithfulness_box,
    _first_sentence,
    _levels_for,
    _unit_of,
    relevance_stats_parts,
    show_faithfulness_dialog,
    side_column,
    uncertainty_path_for,
)

VGGISH_ENTRY = "__vggish__"
MODEL_FILE_ENTRY = "__audio_file__"
#: The longest segment that can be analysed at once.
MAX_SEGMENT_SECONDS = 60.0
TOP_K = 5
PARTIAL_LEVELS_SAMPLES = 256 * 256
#: Smallest plot height of the waveform, spectrogram, explanation and uncertainty views (pixels).
TIME_VIEW_MIN_HEIGHT = 120
OVERVIEW_MIN_HEIGHT = 70
MIXDOWN_TITLES = {"mean": "mean of the channels", "left": "left channel", "right": "right channel"}
#: Form values that differ from a method's registry defaults on spectrograms (what
#: ``explain_audio`` itself uses when the value is not given).
AUDIO_FORM_DEFAULTS = {"lime": {"segmentation": "grid"}}
#: Channels of this tab's jobs in the shared runner (distinct from the Images tab's).
CHANNELS = ("model", "open", "segment", "analyse", "explain", "listen", "layers")


def _channel(name: str) -> str:
    return f"audio.{name}"


@dataclass
class _Run:
    spec: str
    name: str
    clip: object
    spectrogram: Spectrogram
    frontend: object
    method_title: str
    info: object
    params: dict
    unit: str = ""
    total: int | None = None
    eta: EtaEstimator = field(default_factory=EtaEstimator)
    shown_partial: bool = False
    #: The last count reported ("340 of 1000 masks") and the model window it belongs to.
    done: int | None = None
    window: tuple[int, int] | None = None

    def count_text(self) -> str:
        parts = []
        if self.window is not None and self.window[1] > 1:
            parts.append(f"window {self.window[0]} of {self.window[1]}")
        if self.done is not None and self.total:
            parts.append(f"{self.done} of {self.total}" + (f" {self.unit}" if self.unit else ""))
        return ", ".join(parts)


_WINDOW_PATTERN = None


def parse_window(message: str) -> tuple[int, int] | None:
    """``(k, n)`` from an audio progress message that starts with ``"window k of n"``."""
    global _WINDOW_PATTERN
    import re

    if _WINDOW_PATTERN is None:
        _WINDOW_PATTERN = re.compile(r"^window (\d+) of (\d+)")
    match = _WINDOW_PATTERN.match(message or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass
class AudioHistoryEntry:
    """One finished (or partial) run, kept for comparison and export."""

    explanation: object
    clip: object
    spectrogram: Spectrogram
    frontend: object
    model_spec: str
    model_name: str
    method_title: str
    title: str = ""
    #: For partial results: how far the run got ("window 2 of 7, 632 of 1000 masks").
    count: str = ""


class AudioTab(ExplainTabBase):
    """Explain sound classifiers on their spectrograms, and listen to the evidence.

    Signals
    -------
    status_message(str), hover_message(str), audio_opened(Path), model_loaded(str), state_changed()
        As for the Images tab.
    """

    status_message = Signal(str)
    hover_message = Signal(str)
    audio_opened = Signal(object)
    model_loaded = Signal(str)
    state_changed = Signal()

    DATA_KIND = "audio"
    DEFAULT_METHOD = "relax"
    BUILTIN_MODEL_ENTRY = VGGISH_ENTRY
    BUILTIN_MODEL_TITLE = "VGGish + weights file…"
    MODEL_FILE_ENTRY = MODEL_FILE_ENTRY
    CANCEL_TOOLTIP = "Stop the running explanation; what is done so far is kept."

    def __init__(self, runner: Runner, settings=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.settings = settings
        self.catalog: Catalog | None = None
        self.model = None
        self.clip = None
        self.path: Path | None = None
        self.file_info: dict | None = None
        self.envelope = None
        self.spectrogram: Spectrogram | None = None
        self.prediction = None
        self.history: list[AudioHistoryEntry] = []
        self.current_entry: AudioHistoryEntry | None = None
        self._jobs: dict[str, int | None] = {name: None for name in CHANNELS}
        self._run: _Run | None = None
        self._cancelled_runs: dict[int, _Run] = {}
        self._params_by_method: dict[str, dict] = {}
        self._form_method: str | None = None
        self._pending_model_spec: str | None = None
        self._pending_frontend: dict | None = None
        self._waiting_sample: tuple | None = None
        self._sample_note: str | None = None
        self._compare_views: list[SpectrogramView] = []
        self._faithfulness_dialog = None
        self._listen_request: tuple[str, float] | None = None
        self.player = AudioPlayer(self)
        self._build()
        self.player.position_changed.connect(self._on_player_position)
        self.player.state_changed.connect(self._on_player_state)
        self.player.notice.connect(self._on_player_notice)
        self.player.availability_changed.connect(self._on_player_availability)
        if not self.player.available:
            self._on_player_availability(False)
        self._connect_runner(runner)
        self._update_enabled()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        side = side_column(self._build_side_panel(), self._build_run_area())

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

        self.waveform_view = WaveformView("Waveform")
        self.waveform_view.set_placeholder("Open a sound (File ▸ Open audio…) or drop an audio file here")
        self.spectrogram_view = SpectrogramView("Log-mel spectrogram", show_colorbar=False)
        self.relevance_view = SpectrogramView("Explanation")
        self.relevance_view.set_placeholder(RUN_PLACEHOLDER)
        self.uncertainty_view = UncertaintySpectrogramView("Uncertainty", colormap=UNCERTAINTY_COLORMAP)
        self.uncertainty_view.setToolTip(
            "How much the evidence varies between random masks: bright areas are less certain."
        )
        self.uncertainty_view.setVisible(False)
        self.time_views = [self.waveform_view, self.spectrogram_view, self.relevance_view, self.uncertainty_view]
        self.time_link = link_time_axes(self.time_views)
        self.band_link = RangeLink(1)
        for view in (self.spectrogram_view, self.relevance_view, self.uncertainty_view):
            self.band_link.add(view)
        self.waveform_view.show_time_label(False)
        self.spectrogram_view.show_time_label(False)
        for view in [*self.time_views, self.overview_view]:
            view.hovered.connect(self.hover_message)
            view.graphics.setAcceptDrops(False)
        for view in self.time_views:
            view.seek_requested.connect(self.seek_file_time)

        # One column: every time view spans the same width, with the same left axis and colour-bar
        # column, so a moment sits at the same place on screen in the waveform, the spectrogram,
        # the explanation and the uncertainty.
        self.waveform_view.reserve_colorbar_space()
        self.spectrogram_view.reserve_colorbar_space()
        views = QSplitter(Qt.Orientation.Vertical)
        views.addWidget(self.overview_box)
        views.addWidget(self.waveform_view)
        views.addWidget(self.spectrogram_view)
        views.addWidget(self.relevance_view)
        views.addWidget(self.uncertainty_view)
        views.setSizes([110, 100, 150, 200, 170])
        for index in range(5):
            views.setCollapsible(index, False)
        # Each view keeps a readable height; when the window is too low for all of them, they scroll.
        for view in self.time_views:
            view.graphics.setMinimumHeight(TIME_VIEW_MIN_HEIGHT)
        self.overview_view.graphics.setMinimumHeight(OVERVIEW_MIN_HEIGHT)
        self.views_splitter = views
        self.views_scroll = QScrollArea()
        self.views_scroll.setWidgetResizable(True)
        self.views_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.views_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.views_scroll.setWidget(views)

        self.stats_label = QLabel("")
        self.stats_label.setObjectName("statsLabel")
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats_label.setWordWrap(True)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self._build_display_bar())
        top_layout.addWidget(self._build_playback_bar())
        top_layout.addWidget(self.views_scroll, 1)
        top_layout.addWidget(self.stats_label)

        self._lay_out_tab(side, top, stretch=(4, 1), sizes=[640, 200])
        self.history_list.setWordWrap(True)
        split_results_area(self)

    def _build_display_bar(self) -> QWidget:
        bar_widget = QWidget()
        bar = QHBoxLayout(bar_widget)
        bar.setContentsMargins(4, 0, 4, 0)
        self._build_display_controls("How strongly the relevance colours cover the spectrogram.")
        fit = QToolButton()
        fit.setText("Fit")
        fit.setToolTip("Show the whole segment (zoom in time with the mouse wheel, pan by dragging).")
        fit.clicked.connect(self.fit_views)
        self._add_display_controls(bar)
        bar.addWidget(fit)
        return bar_widget

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

    def _build_side_panel(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(4, 4, 8, 4)

        model_box = self._build_model_box()
        self.probe_button = QPushButton("Train a quick classifier…")
        self.probe_button.setToolTip("Fit a two-class classifier on a folder of labelled clips (one subfolder per "
                                     "class) on a layer of an audio model, see its ROC, and explain it here.")
        self.probe_button.clicked.connect(self.open_probe_dialog)
        model_box.layout().addWidget(self.probe_button)

        sound_box = QGroupBox("Sound")
        sound_layout = QVBoxLayout(sound_box)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open audio…")
        self.open_button.clicked.connect(self.choose_audio)
        self.sample_combo = QComboBox()
        self.sample_combo.setToolTip("Sample sounds that come with the demo models.")
        self.sample_combo.addItem("Samples…")
        self.sample_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.sample_combo.setMinimumContentsLength(8)
        self.sample_combo.activated.connect(self._on_sample_chosen)
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

        prediction_box = self._build_prediction_box(
            "The model's five most likely classes for this sound. Click one to explain it.",
            lambda item, _c: self.set_target(item.data(0, Qt.ItemDataRole.UserRole)),
        )

        method_box = self._build_method_box(self.reset_params)

        faithfulness = faithfulness_box(
            self, "Compare methods on this sound: remove the most (and least) relevant time-frequency patches "
                  "of the spectrogram first and see how fast the class score falls, against random removal.")

        layout.addWidget(model_box)
        layout.addWidget(sound_box)
        layout.addWidget(prediction_box)
        layout.addWidget(method_box)
        layout.addWidget(faithfulness)
        layout.addStretch(1)
        return panel

    # ------------------------------------------------------------ faithfulness
    def open_faithfulness(self):
        """Show the faithfulness window for the current sound (created on first use); returns it."""
        from xaidesk.core import list_methods

        methods = [(m.name, m.title) for m in list_methods("audio") if m.name != "lrp.custom"]
        return show_faithfulness_dialog(
            self, methods, self._faithfulness_job, "Faithfulness of explanations (sound)", self.method_name(),
            patch_help="Side of a removed time-frequency square in mel bands and frames: 1 = one cell at a "
                       "time; automatic = 8.")

    def _faithfulness_job(self, methods: list[str], settings):
        """A runner job comparing ``methods`` on the current clip and class (defaults for every method
        but the current one, which uses the form's parameters)."""
        from xaidesk.core import InputError

        if self.model is None or self.clip is None:
            raise InputError("Open a sound and an audio model first.")
        model, clip, target = self.model, self.clip, self.target()
        params = {}
        info = self.method_info()
        if info is not None and info.name in methods:
            params[info.name] = self._changed_params(info, self.param_form.values())

        def job(token, progress):
            return audio_jobs.compare_methods(model, clip, methods, target, params, settings, token, progress)

        return job

    # ------------------------------------------------------------ catalogue
    def set_catalog(self, catalog: Catalog) -> None:
        """Fill the model, sample and method pickers."""
        super().set_catalog(catalog)
        name_samples_plainly(self, catalog)
        if self.clip is not None or self.isVisible():
            self.ensure_model()

    def demo_models(self) -> list[dict]:
        return self.catalog.models("audio") if self.catalog else []

    # ------------------------------------------------------------ hooks of ExplainTabBase
    def _relevance_view(self) -> SpectrogramView:
        return self.relevance_view

    def _catalog_models(self) -> list[dict]:
        return self.demo_models()

    def _catalog_methods(self):
        return self.catalog.audio_methods if self.catalog else []

    def _catalog_method(self, name: str):
        return self.catalog.audio_method(name)

    def _form_defaults(self, name: str) -> dict | None:
        return AUDIO_FORM_DEFAULTS.get(name)

    def _has_input(self) -> bool:
        return self.clip is not None and self.spectrogram is not None

    def _open_input(self, path) -> None:
        self.open_audio(path)

    def _choose_builtin_model(self) -> None:
        self.choose_vggish_weights()

    def _load_trusted_model(self, spec: str) -> None:
        self.load_model(spec, trust=True, frontend=getattr(self, "_pending_frontend", None))

    def _finish_handlers(self) -> dict:
        return {
            "model": self._model_job_ready,
            "open": self._opened_ready,
            "segment": self._segment_ready,
            "analyse": self._analysis_ready,
            "explain": self._explanation_ready,
            "listen": self._listen_ready,
            "layers": self._layers_ready,
        }

    def _channel_failed(self, channel: str, failure) -> None:
        if channel in ("open", "segment"):
            self.status_message.emit("The sound could not be opened.")
            error_dialog.show_error(self, "Could not open the sound", failure)
        elif channel == "analyse":
            self.status_message.emit("The model could not classify this sound.")
            error_dialog.show_error(self, "The model does not fit this sound", failure)
        elif channel == "listen":
            self.status_message.emit("The evidence could not be turned into sound.")
            error_dialog.show_error(self, "Could not prepare the evidence for listening", failure)

    def _history_tooltip(self, entry: AudioHistoryEntry) -> str:
        clip_path = getattr(entry.clip, "path", None)
        return (f"{entry.title}\nModel: {entry.model_name}\nSound: {clip_path.name if clip_path else 'sound'} "
                f"({time_text(entry.clip.start)}–{time_text(entry.clip.stop)})")

    def _playback_buttons(self) -> list:
        return [self.play_button, self.stop_button, self.play_original_button, self.play_evidence_button,
                self.play_rest_button]

    def _update_extra_enabled(self) -> None:
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
        self.analyse_button.setEnabled(self.path is not None and self._jobs["segment"] is None)

    def _on_player_availability(self, available: bool) -> None:
        self.player_notice.setText("" if available else self.player.unavailable_reason)
        self.player_notice.setToolTip("" if available else self.player.unavailable_details)
        self.player_notice.setVisible(not available)
        self._update_enabled()

    def ensure_model(self) -> None:
        """Load the first audio demo model if none is loaded or loading (e.g. when the tab is shown)."""
        if self.model is None and self._jobs["model"] is None and self.demo_models():
            remembered = str(self.settings.value("last_audio_model", "") or "") if self.settings is not None else ""
            known = {m["spec"] for m in self.demo_models()}
            self.load_model(remembered if remembered in known else self.demo_models()[0]["spec"])

    def select_method(self, name: str) -> bool:
        """Choose a method by registry name; returns False if it is not offered."""
        rows = [r for r in range(self.method_combo.count()) if self.method_combo.itemData(r, Qt.ItemDataRole.UserRole)]
        match = [r for r in rows if self.method_combo.itemData(r, Qt.ItemDataRole.UserRole) == name]
        row = match[0] if match else (rows[0] if rows else -1)
        if row >= 0:
            self.method_combo.setCurrentIndex(row)
            self._on_method_changed()
        return bool(match)

    def reset_params(self) -> None:
        """Put the method's settings back to their defaults for sound."""
        self.param_form.reset()
        name = self.method_name()
        for key, value in AUDIO_FORM_DEFAULTS.get(name or "", {}).items():
            self.param_form.set_value(key, value)

    def _changed_params(self, info, values: dict) -> dict:
        """The values that differ from the registry defaults: the others are left to ``explain_audio``,
        which picks spectrogram defaults for them (e.g. RELAX's grid cells)."""
        defaults = info.defaults()
        return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}

    # ------------------------------------------------------------ models
    def choose_vggish_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open VGGish weights (xaidesk, torchvggish or TensorFlow names)", self._last_folder(),
            "VGGish weights (*.pt *.pth *.pth.tar *.safetensors *.npz);;All files (*)")
        if path:
            self._remember_folder(path)
            self.load_model(f"vggish:{path}")

    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open an audio model file", self._last_folder(),
            "Audio models (*.pt *.pth *.ts *.pth.tar *.xdprobe);;All files (*)")
        if not path:
            return
        self._remember_folder(path)
        from xaidesk.models.audio import is_audio_sidecar

        frontend = None
        if not is_audio_sidecar(path):
            # No description file beside the model: ask how it turns sound into a spectrogram.
            values = frontend_dialog.ask_frontend(self, frontend_dict(default_frontend()), Path(path).name)
            if values is None:
                self.status_message.emit("Model not loaded: it needs its spectrogram settings.")
                return
            frontend = values
        self.load_model(f"file:{path}", frontend=frontend)

    def open_probe_dialog(self):
        """Open the quick classifier for sounds (:mod:`xaidesk.gui.audio_probe_dialog`); its classifier loads here."""
        from ..audio_probe_dialog import AudioProbeDialog

        dialog = AudioProbeDialog(self.catalog, self, start_folder=self._last_folder(), current_model=self.model)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.use_model_requested.connect(self.load_model)
        dialog.show()
        return dialog

    def load_model(self, spec: str, trust: bool = False, frontend: dict | None = None) -> int:
        """Load a model in the background; the current one stays until it is ready.

        ``frontend`` (an ``AudioFrontEnd.to_dict()``) gives the spectrogram settings of a
        ``file:`` model that has no description file beside it.
        """
        self.status_message.emit(f"Loading model {spec} …")
        self._pending_model_spec = spec
        self._pending_frontend = frontend
        self._waiting_sample = None

        def job(token, progress):
            return audio_jobs.load_audio_model(spec, trust=trust, frontend=frontend)

        self._jobs["model"] = self.runner.submit(job, _channel("model"))
        self._update_enabled()
        return self._jobs["model"]

    def _model_job_ready(self, result) -> None:
        model, defaults = result
        if getattr(model, "frontend", None) is None:
            # A user file without its front-end beside it: ask for it (saved with the results).
            values = frontend_dialog.ask_frontend(self, defaults or {}, getattr(model, "name", ""))
            if values is None:
                self._select_model_in_combo()
                self.status_message.emit("Model not loaded: it needs its spectrogram settings.")
                return
            try:
                from xaidesk.models.audio import AudioFrontEnd

                frontend = AudioFrontEnd.from_dict(values)
            except Exception as error:  # noqa: BLE001 - a plain message for bad settings
                self._select_model_in_combo()
                error_dialog.show_error(self, "These spectrogram settings do not work", JobFailure.from_exception(error))
                return
            model = dataclasses.replace(model, frontend=frontend, modality="audio")
        self.set_model(model)

    def set_model(self, model) -> None:
        """Use an already loaded audio model (a ``LoadedModel`` with a front-end)."""
        if self.is_running():
            self.cancel_explanation()
        self.model = model
        if self.catalog is not None:
            self._fill_model_combo()
        description = ""
        for builtin in self.demo_models():
            if builtin["spec"] == model.spec:
                description = builtin.get("description", "")
                accuracy = builtin.get("accuracy")
                if isinstance(accuracy, dict):
                    accuracy = accuracy.get("held_out", accuracy.get("test"))
                if isinstance(accuracy, (int, float)):
                    description = _first_sentence(description) + f" Accuracy on held-out clips: {100 * accuracy:.1f} %."
        self.model_notes.setToolTip(description)
        frontend = model.frontend
        lines = [_first_sentence(description)] if description else []
        fe = frontend_dict(frontend) or {}
        if fe:
            lines.append(
                f"{model.num_classes} classes · {fe.get('sample_rate', '?')} Hz, {fe.get('n_mels', '?')} mel bands, "
                f"{getattr(frontend, 'window_seconds', 0) or 0:.2f} s windows."
            )
        lines += list(getattr(model, "notes", []) or [])
        self.model_notes.setText("\n".join(line.strip() for line in lines if line))
        self.target_combo.clear()
        for index, name in enumerate(model.class_names):
            self.target_combo.addItem(class_text(index, name), index)
        self.param_form.set_dynamic_choices(MODEL_LAYERS, [AUTOMATIC_LAYER])
        self._on_method_changed()
        self._list_layers()
        self.status_message.emit(self._model_ready_text(model, "loaded"))
        self.model_loaded.emit(model.spec)
        if open_waiting_sample(self):
            pass
        elif self.clip is not None:
            self._analyse_clip()
        elif self.path is None and self._jobs["open"] is None and self._jobs["segment"] is None:
            # Like the Images tab's demo, a built-in model opens with one of its own sample sounds.
            samples = next((m.get("samples", []) for m in self.demo_models() if m["spec"] == model.spec), [])
            if samples:
                self.open_audio(samples[0])
        self._update_enabled()

    def _list_layers(self) -> None:
        """List the model's layers in the worker (one forward pass) for RELAX's layer parameter."""
        model = self.model

        def job(token, progress):
            return image_jobs.model_layers(model)

        self._jobs["layers"] = self.runner.submit(job, _channel("layers"))

    def _layers_ready(self, result) -> None:
        spec, layers = result
        if self.model is None or spec != self.model.spec:
            return
        choices = [AUTOMATIC_LAYER, *[(name, description) for name, description in layers]]
        known = {value for value, _ in choices}
        for name, stored in self._params_by_method.items():
            info = self.catalog.audio_method(name) if self.catalog else None
            for p in info.params if info else ():
                if p.choices_from == MODEL_LAYERS and stored.get(p.name) not in known:
                    stored[p.name] = p.default
        self.param_form.set_dynamic_choices(MODEL_LAYERS, choices)

    def layer_choices(self) -> list[tuple[str, str]]:
        return self.param_form.dynamic_choices(MODEL_LAYERS)

    # ------------------------------------------------------------ opening sound
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

        Files longer than :data:`SEGMENT_SECONDS` open with a whole-file overview and their first
        :data:`SEGMENT_SECONDS` as the analysed segment.
        """
        path = Path(path)
        if mixdown is None:
            mixdown = self.mixdown() if (self.path is not None and path == self.path) else "mean"
        model = self._frontend_source()
        self.status_message.emit(f"Opening {path.name} …")
        self.ensure_model()

        def job(token, progress):
            return audio_jobs.open_audio(path, mixdown, model, token)

        self._jobs["open"] = self.runner.submit(job, _channel("open"))
        return self._jobs["open"]

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
        self.status_message.emit(opened_message(self, opened.path))
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

        self._jobs["segment"] = self.runner.submit(job, _channel("segment"))
        return self._jobs["segment"]

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

    def _show_clip(self, clip, spectrogram: Spectrogram | None) -> None:
        """Show a newly opened clip or segment: waveform, spectrogram, player; clear old results."""
        self.clip = clip
        self.player.set_source(clip.samples, clip.rate, "clip")
        self.source_label.setText("")
        self.waveform_view.set_samples(clip.samples, clip.rate, clip.start)
        self._set_spectrogram(spectrogram)
        self.relevance_view.set_title("Explanation")
        self.relevance_view.set_placeholder(RUN_PLACEHOLDER)
        self._show_uncertainty(None)
        self.stats_label.setText("")
        self.current_entry = None
        self.history_list.clearSelection()
        for view in self.time_views:
            view.set_playhead(clip.start)
        self._on_player_position(0.0)
        info = self.file_info or {}
        path = clip.path if getattr(clip, "path", None) else self.path
        name = input_title(path, self.catalog) if path else "sound"
        channels = int(info.get("channels", getattr(clip, "channels", 1)) or 1)
        lines = [f"{name} — {time_text(float(info.get('duration', clip.duration)))}, {info.get('rate', clip.rate)} Hz, "
                 + ("mono" if channels == 1 else f"{channels} channels (mixed: {MIXDOWN_TITLES.get(clip.mixdown, clip.mixdown)})")]
        if self.envelope is not None:
            lines.append(f"Analysing {time_text(clip.start)}–{time_text(clip.stop)} ({clip.duration:.1f} s).")
        if getattr(info, "get", None) and info.get("subtype"):
            lines[0] += f", {info['subtype']}"
        lines += list(getattr(clip, "notices", []) or [])
        rate = frontend_dict(getattr(self.model, "frontend", None) or None) or {}
        if rate.get("sample_rate") and int(rate["sample_rate"]) != int(clip.rate):
            lines.append(f"Resampled from {clip.rate} Hz to the model's {rate['sample_rate']} Hz for the model.")
        self.audio_info_label.setText("\n".join(lines))
        self.audio_info_label.setToolTip(str(self.path) if self.path else "")
        if self.overview_box.isVisible():
            self._update_segment_label()
        # The spectrogram fits when it was computed with the current model's front-end.
        ready = (spectrogram is not None and self.model is not None
                 and spectrogram.frontend == frontend_dict(self.model.frontend))
        self._analyse_clip(spectrogram_ready=ready)

    def _set_spectrogram(self, spectrogram: Spectrogram | None) -> None:
        self.spectrogram = spectrogram
        # The frame times are already seconds in the file (a segment's start included).
        for view in (self.spectrogram_view, self.relevance_view, self.uncertainty_view):
            if spectrogram is None:
                view.set_spectrogram(None)
            else:
                view.set_spectrogram(spectrogram.log_mel, spectrogram.frame_times, spectrogram.mel_frequencies)
        self.relevance_view.clear_relevance()
        self.waveform_view.plot.setXRange(*self._clip_range(), padding=0)

    def _clip_range(self) -> tuple[float, float]:
        if self.clip is None:
            return 0.0, 1.0
        return self.clip.start, self.clip.stop

    def fit_views(self) -> None:
        self.waveform_view.plot.setXRange(*self._clip_range(), padding=0)
        self.spectrogram_view.reset_zoom()
        self.waveform_view.plot.setXRange(*self._clip_range(), padding=0)

    # ------------------------------------------------------------ spectrogram & prediction
    def _analyse_clip(self, spectrogram_ready: bool = False) -> None:
        """Predict the clip with the current model (and recompute its spectrogram with the model's front-end)."""
        self.prediction = None
        self.prediction_list.clear()
        if self.model is None or self.clip is None:
            self._update_enabled()
            return
        model, clip = self.model, self.clip
        recompute = not spectrogram_ready

        def job(token, progress):
            return audio_jobs.analyse(model, clip, recompute, token)

        self._jobs["analyse"] = self.runner.submit(job, _channel("analyse"))
        self._update_enabled()

    def _analysis_ready(self, result) -> None:
        clip, spectrogram, prediction = result
        if clip is not self.clip:
            return
        if spectrogram is not None:
            self._set_spectrogram(spectrogram)
        self.prediction = prediction
        self.prediction_list.clear()
        if prediction is None:
            item = QTreeWidgetItem(["No classes: the model outputs an embedding", ""])
            item.setToolTip(0, "This model has no classifier head. RELAX explains its embedding.")
            self.prediction_list.addTopLevelItem(item)
            self._update_enabled()
            return
        for index, label, probability in prediction.top(TOP_K):
            item = QTreeWidgetItem([class_text(index, label), probability_text(probability)])
            item.setData(0, Qt.ItemDataRole.UserRole, index)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.prediction_list.addTopLevelItem(item)
        self.set_target(self._predicted_target(prediction.top_class))
        if self.prediction_list.topLevelItemCount():
            self.prediction_list.setCurrentItem(self.prediction_list.topLevelItem(0))
        self._update_enabled()

    # ------------------------------------------------------------ explanation
    def run_explanation(self) -> int | None:
        """Start explaining the chosen class with the chosen method."""
        if not self.can_run():
            return None
        info = self.method_info()
        model, clip = self.model, self.clip
        method, target = info.name, self.target()
        params = self._changed_params(info, self.param_form.values())

        def job(token, progress):
            return audio_jobs.explain(model, clip, method, target, params, token, progress)

        self._run = _Run(
            spec=model.spec, name=model.name, clip=clip, spectrogram=self.spectrogram, frontend=model.frontend,
            method_title=info.title, info=info, params=dict(params),
        )
        self._jobs["explain"] = self.runner.submit(job, _channel("explain"))
        self.progress_bar.setValue(0)
        self.progress_label.setText(f"Running {info.title} …")
        target_index = target if target is not None else 0
        self.stats_label.setText(running_text(info, model, target_index))
        self.status_message.emit(f"Running {info.title} …")
        self._update_enabled()
        return self._jobs["explain"]

    def _entry_for(self, explanation, run: _Run) -> AudioHistoryEntry:
        entry = AudioHistoryEntry(
            explanation=explanation, clip=run.clip, spectrogram=run.spectrogram, frontend=run.frontend,
            model_spec=run.spec, model_name=run.name, method_title=run.method_title,
        )
        target = explained_class_text(explanation)
        if explanation.complete:
            entry.title = explanation_title(explanation, run.method_title)
        else:
            count = run.count_text()
            entry.count = count
            if count:
                entry.title = f"{run.method_title}{f' · {target}' if target else ''} · partial, {count}"
            else:
                done, total = samples_done(explanation, run.total)
                entry.title = partial_title(run.method_title, target, done, total, run.unit or _unit_of(explanation))
        return entry

    def _explanation_ready(self, explanation) -> None:
        run = self._run
        if explanation.relevance.shape != run.spectrogram.log_mel.shape:
            self._end_run("The explanation does not fit the spectrogram.")
            error_dialog.show_error(
                self, "The explanation could not be shown",
                f"The method returned a map of shape {explanation.relevance.shape}, "
                f"but the spectrogram has {run.spectrogram.log_mel.shape}.")
            return
        entry = self._entry_for(explanation, run)
        self._end_run(f"Done in {format_duration(explanation.seconds)}.")
        self._add_history(entry)
        self.show_entry(entry)
        # A low window scrolls to the new map, once the uncertainty view it may bring is laid out.
        QTimer.singleShot(0, lambda: self.views_scroll.ensureWidgetVisible(self.relevance_view, 0, 0))

    def _show_partial(self, partial) -> None:
        relevance = getattr(partial, "relevance", None)
        if relevance is None or self.spectrogram is None or relevance.shape != self.spectrogram.log_mel.shape:
            return
        partial = unfinished_as_blank(partial)
        self.relevance_view.set_meaning_class(class_text(partial.target.index, partial.target.label),
                                              map_shows_sign(partial.method, partial.params))
        self.relevance_view.set_relevance(partial.relevance, _levels_for(partial, max_samples=PARTIAL_LEVELS_SAMPLES))
        run = self._run
        title = f"{run.method_title if run else ''} · running"
        count = run.count_text() if run else ""
        self.relevance_view.set_title(title + (f", {count}" if count else "") + " …")
        self._show_uncertainty(partial, "Uncertainty · running …")
        if run is not None:
            run.shown_partial = True

    def _show_uncertainty(self, explanation, title: str = "Uncertainty") -> None:
        uncertainty = getattr(explanation, "uncertainty", None) if explanation is not None else None
        view = self.uncertainty_view
        if uncertainty is None or self.spectrogram is None or uncertainty.shape != self.spectrogram.log_mel.shape:
            view.clear_relevance()
            view.setVisible(False)
            return
        view.set_relevance(uncertainty)
        view.set_title(title)
        view.set_opacity(max(self.relevance_view.opacity(), 0.85))
        view.setVisible(True)

    def _restore_current_view(self) -> None:
        if self.current_entry is not None and self.current_entry.clip is self.clip:
            self.show_entry(self.current_entry)
        else:
            self.relevance_view.clear_relevance()
            self.relevance_view.set_title("Explanation")
            self._show_uncertainty(None)
            self.stats_label.setText("")

    def _partial_fits(self, run: _Run, relevance) -> bool:
        return relevance.shape == run.spectrogram.log_mel.shape

    def _is_current_input(self, run: _Run) -> bool:
        return run.clip is self.clip

    def _stopped_entry(self, explanation, run: _Run) -> AudioHistoryEntry:
        return self._entry_for(explanation, run)

    def _kept_count_text(self, run: _Run, explanation) -> str:
        count = run.count_text()
        return f" ({count})" if count else ""

    # ------------------------------------------------------------ history & compare
    def show_entry(self, entry: AudioHistoryEntry) -> None:
        """Show a result in the explanation view (switching to its clip's spectrogram if needed)."""
        self.current_entry = entry
        if entry.clip is not self.clip:
            # A result of another clip or segment: show it on its own spectrogram and sound.
            self.clip = entry.clip
            self.player.set_source(entry.clip.samples, entry.clip.rate, "clip")
            self.waveform_view.set_samples(entry.clip.samples, entry.clip.rate, entry.clip.start)
            self._set_spectrogram(entry.spectrogram)
            self.current_entry = entry
        explanation = entry.explanation
        shown = explanation if explanation.complete else unfinished_as_blank(explanation)
        self.relevance_view.set_meaning_class(class_text(explanation.target.index, explanation.target.label),
                                              map_shows_sign(explanation.method, explanation.params))
        self.relevance_view.set_relevance(shown.relevance, _levels_for(shown))
        self.relevance_view.set_title(entry.title)
        self.relevance_view.title_label.setToolTip(self._history_tooltip(entry))
        self._show_uncertainty(shown, "Uncertainty" + ("" if explanation.complete else " · partial"))
        finite = np.isfinite(shown.relevance).all(axis=0)
        stats = render.relevance_stats(explanation.relevance[:, finite] if finite.any() else explanation.relevance)
        levels = self.relevance_view.levels()
        parts = relevance_stats_parts(stats, explanation, levels)
        extras = explanation.extras
        if explanation.uncertainty is not None:
            explained = explanation.uncertainty[:, finite] if finite.any() else explanation.uncertainty
            parts.append(f"average uncertainty {format_value(float(np.mean(explained)))}")
        windows = extras.get("windows")
        if explanation.complete and isinstance(windows, (list, tuple)) and len(windows) > 1:
            parts.append(f"explained in {len(windows)} overlapping windows of the model's length")
        if not explanation.complete:
            parts.insert(0, "Still running" + (f": {entry.count} so far" if entry.count else ""))
        self.stats_label.setText(" · ".join(parts))
        self._update_enabled()

    def _make_compare_view(self, entry: AudioHistoryEntry, levels) -> SpectrogramView:
        view = SpectrogramView(entry.title)
        view.title_label.setToolTip(self._history_tooltip(entry))
        view.graphics.setAcceptDrops(False)
        spec = entry.spectrogram
        view.set_spectrogram(spec.log_mel, spec.frame_times, spec.mel_frequencies)
        explanation = entry.explanation
        view.set_meaning_class(class_text(explanation.target.index, explanation.target.label),
                               map_shows_sign(explanation.method, explanation.params))
        view.set_relevance(explanation.relevance, levels or _levels_for(explanation))
        view.set_opacity(self.relevance_view.opacity())
        view.hovered.connect(self.hover_message)
        view.setMinimumSize(QSize(180, 120))
        return view

    # ------------------------------------------------------------ playback
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

        self._jobs["listen"] = self.runner.submit(job, _channel("listen"))
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

    # ------------------------------------------------------------ export
    def overlay_image(self) -> np.ndarray | None:
        """The spectrogram with the relevance over it, low frequencies at the bottom (what exports contain)."""
        entry = self.current_entry
        if entry is None:
            return None
        log_mel = entry.spectrogram.log_mel
        grey = np.round(255 * render.normalize(log_mel, render.range_levels(log_mel))).astype(np.uint8)
        rows = max(1, 256 // max(1, log_mel.shape[0]))
        pixels = np.repeat(np.flipud(grey), rows, axis=0)
        relevance = np.repeat(np.flipud(entry.explanation.relevance), rows, axis=0)
        pixels = np.ascontiguousarray(np.stack([pixels] * 3, axis=-1))
        return render.blend_overlay(
            pixels, relevance, cmap=self.relevance_view.colormap_name(),
            opacity=self.relevance_view.opacity(), levels=self.relevance_view.levels(),
        )

    def export_relevance(self, path) -> Path:
        """Write the relevance map (n_mels, frames); a result with uncertainty also gets ``uncertainty.npy``."""
        from xaidesk.core.io import save_npy_atomic

        path = save_npy_atomic(path, self.current_entry.explanation.relevance)
        if self.current_entry.explanation.uncertainty is not None:
            save_npy_atomic(uncertainty_path_for(path), self.current_entry.explanation.uncertainty)
        return path

    def settings_record(self) -> dict:
        """Everything needed to reproduce the current result, including front-end and segment."""
        import xaidesk

        entry = self.current_entry
        explanation = entry.explanation
        done, total = samples_done(explanation)
        clip = entry.clip
        return {
            "xaidesk_version": xaidesk.__version__,
            "modality": "audio",
            "partial": not explanation.complete,
            "samples_done": done,
            "samples_total": total,
            "title": entry.title,
            "model": entry.model_spec,
            "model_name": entry.model_name,
            "audio": str(clip.path) if getattr(clip, "path", None) else None,
            "segment": {
                "start": float(clip.start), "stop": float(clip.stop), "rate": int(clip.rate),
                "channels": int(getattr(clip, "channels", 1)), "mixdown": getattr(clip, "mixdown", "mean"),
            },
            "frontend": frontend_dict(entry.frontend),
            "spectrogram_shape": list(entry.spectrogram.log_mel.shape),
            "method": explanation.method,
            "params": dict(explanation.params),
            "target": explanation.target.to_dict(),
            "display": {
                "colormap": self.relevance_view.colormap_name(),
                "opacity": self.relevance_view.opacity(),
                "levels": list(self.relevance_view.levels()),
            },
            "summary": explanation.summary(),
        }

    def suggested_export_name(self, suffix: str) -> str:
        entry = self.current_entry
        path = getattr(entry.clip, "path", None) if entry else None
        stem = path.stem if path else "sound"
        method = entry.explanation.method.replace(".", "_") if entry else "explanation"
        return f"{stem}_{method}{suffix}"

    # ------------------------------------------------------------ runner relays
    def _on_progress(self, job_id: int, fraction: float, message: str, partial: object) -> None:
        if self._channel_of(job_id) != "explain":
            return
        self.progress_bar.setValue(int(round(1000 * fraction)))
        elapsed = self.runner.elapsed(job_id)
        run = self._run
        window = parse_window(message)
        rest = message
        if window is not None:
            # "window 2 of 5: RELAX: masks: 340 of 1000" -> the method's own message after the window.
            rest = message.split(":", 1)[1].strip() if ":" in message else ""
            if run is not None:
                run.window = window
        count = parse_count(rest)
        if count is not None and run is not None:
            done, total, unit = count
            run.done, run.total, run.unit = done, total, unit or run.unit
            if run.window is not None and run.window[1] > 1:
                # Several model windows: the count is per window; the time left is for all of them.
                remaining = progress_text(fraction, elapsed).partition(" – ")[2]
                text = run.count_text() + (f" · {remaining}" if remaining else "")
            else:
                text = sample_progress_text(done, total, run.unit, run.eta.remaining(done, total, elapsed))
        elif window is not None:
            text = progress_text(fraction, elapsed, f"window {window[0]} of {window[1]}")
        else:
            text = progress_text(fraction, elapsed, message)
        self.progress_label.setText(text)
        if partial is not None:
            self._show_partial(partial)

    # ------------------------------------------------------------ state
    def shutdown(self) -> None:
        """Stop playback and remove the temporary sound file."""
        self.player.close()


__all__ = ["AudioTab", "AudioHistoryEntry", "OpenedAudio", "Spectrogram", "SEGMENT_SECONDS"]
