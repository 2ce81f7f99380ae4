"""The Audio tab: open a sound, pick a model and a method, run, look, listen, compare, export.

All computation (decoding, the whole-file overview, spectrograms, predictions, explanations,
resynthesis of the evidence) runs in the :class:`~xaidesk.gui.runner.Runner` through the
Qt-free :mod:`xaidesk.gui.audio_jobs`; this module lays the tab out, dispatches jobs, shows
their results and plays sound. The tab is composed of the shared parts of
:class:`~xaidesk.gui.tabs.explain_base.ExplainTabBase`, the source and segment panel
(:mod:`xaidesk.gui.panels.audio_source`), the playback bar
(:mod:`xaidesk.gui.panels.audio_playback`), which it places and talks to through their methods
and signals, the model handling of :mod:`.audio_models` and
the result display of :mod:`.audio_results`.

Time on every view is seconds from the start of the *file*: a segment picked on the
overview of a long recording keeps its place on the file's timeline.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QPushButton, QScrollArea, QSplitter, QTreeWidgetItem, QVBoxLayout, QWidget

from .. import audio_jobs
from ..audio_jobs import OpenedAudio, Spectrogram, frontend_dict, time_text
from ..audio_player import AudioPlayer
from ..catalog import Catalog, input_title
from ..formatting import format_duration
from ..panels.audio_playback import AudioPlaybackBar
from ..panels.audio_source import MIXDOWN_TITLES, AudioSourcePanel, SegmentOverview
from ..runner import Runner
from ..views.audio_views import RangeLink, SpectrogramView, UncertaintySpectrogramView, WaveformView, link_time_axes
from ..widgets import error_dialog
from ..panels.tab_pieces import faithfulness_box, show_faithfulness_dialog, side_column
from .audio_models import MODEL_FILE_ENTRY, VGGISH_ENTRY, AudioModelsMixin
from .audio_results import AudioHistoryEntry, AudioResultsMixin, AudioRun
from .explain_base import RUN_PLACEHOLDER, UNCERTAINTY_COLORMAP, ExplainTabBase

#: Smallest plot height of the waveform, spectrogram, explanation and uncertainty views (pixels).
TIME_VIEW_MIN_HEIGHT = 120
OVERVIEW_MIN_HEIGHT = 70


class AudioTab(AudioModelsMixin, AudioResultsMixin, ExplainTabBase):
    """Explain sound classifiers on their spectrograms, and listen to the evidence.

    Signals
    -------
    audio_opened(Path)
        A sound file was opened (for the recent-files list); the others are
        :class:`~xaidesk.gui.tabs.explain_base.ExplainTabBase`'s.
    """

    audio_opened = Signal(object)

    DATA_KIND = "audio"
    BUILTIN_MODEL_ENTRY = VGGISH_ENTRY
    BUILTIN_MODEL_TITLE = "VGGish + weights file…"
    MODEL_FILE_ENTRY = MODEL_FILE_ENTRY
    ACCURACY_ON = "clips"
    CANCEL_TOOLTIP = "Stop the running explanation; what is done so far is kept."
    RECORD_KIND = {"modality": "audio"}
    EXPORT_STEM = "sound"

    def __init__(self, runner: Runner, settings=None, parent: QWidget | None = None) -> None:
        super().__init__(runner, settings, channels=("open", "segment", "analyse", "listen"), parent=parent)
        self.clip = None
        self.path: Path | None = None
        self.file_info: dict | None = None
        self.envelope = None
        self.spectrogram: Spectrogram | None = None
        self.history: list[AudioHistoryEntry] = []
        self.current_entry: AudioHistoryEntry | None = None
        self._run: AudioRun | None = None
        self._pending_frontend: dict | None = None
        self.player = AudioPlayer(self)
        self._finish_init()
        self._update_enabled()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        side = side_column(self._build_side_panel(), self._build_run_area())

        self.segment_overview = SegmentOverview()
        self.segment_overview.analyse_requested.connect(lambda: self.analyse_segment())
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
        for view in [*self.time_views, self.segment_overview.overview_view]:
            view.hovered.connect(self.hover_message)
            view.graphics.setAcceptDrops(False)
        self.playback_bar = AudioPlaybackBar(self.player)
        self.playback_bar.playhead_moved.connect(self._move_playheads)
        self.playback_bar.evidence_requested.connect(self.play_evidence)
        self.playback_bar.message.connect(self.status_message)
        self.playback_bar.availability_changed.connect(lambda _available: self._update_enabled())
        for view in self.time_views:
            view.seek_requested.connect(self.playback_bar.seek_file_time)

        # One column: every time view spans the same width, with the same left axis and colour-bar
        # column, so a moment sits at the same place on screen in the waveform, the spectrogram,
        # the explanation and the uncertainty.
        self.waveform_view.reserve_colorbar_space()
        self.spectrogram_view.reserve_colorbar_space()
        views = QSplitter(Qt.Orientation.Vertical)
        views.addWidget(self.segment_overview)
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
        self.segment_overview.overview_view.graphics.setMinimumHeight(OVERVIEW_MIN_HEIGHT)
        self.views_splitter = views
        self.views_scroll = QScrollArea()
        self.views_scroll.setWidgetResizable(True)
        self.views_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.views_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.views_scroll.setWidget(views)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self._build_display_bar(
            "How strongly the relevance colours cover the spectrogram.",
            "Show the whole segment (zoom in time with the mouse wheel, pan by dragging).", self.fit_views))
        top_layout.addWidget(self.playback_bar)
        top_layout.addWidget(self.views_scroll, 1)
        top_layout.addWidget(self._build_stats_label())

        self._lay_out_tab(side, top, stretch=(4, 1), sizes=[640, 200])
        self.history_list.setWordWrap(True)
        self._split_results_area()

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

        prediction_box = self._build_prediction_box(
            "The model's five most likely classes for this sound. Click one to explain it.")
        method_box = self._build_method_box()
        faithfulness = faithfulness_box(
            self, "Compare methods on this sound: remove the most (and least) relevant time-frequency patches "
                  "of the spectrogram first and see how fast the class score falls, against random removal.")

        layout.addWidget(model_box)
        self.sample_combo = self._build_sample_combo("Sample sounds that come with the demo models.")
        self.sound_panel = AudioSourcePanel(self.sample_combo)
        self.sound_panel.open_requested.connect(self.choose_audio)
        self.sound_panel.mixdown_chosen.connect(self._on_mixdown_chosen)
        layout.addWidget(self.sound_panel)
        layout.addWidget(prediction_box)
        layout.addWidget(method_box)
        layout.addWidget(faithfulness)
        layout.addStretch(1)
        return panel

    # ------------------------------------------------------------ the sound file and its segment
    def choose_audio(self) -> None:
        from xaidesk.data.audio import AUDIO_FILE_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open a sound", self._last_folder(), AUDIO_FILE_FILTER)
        if path:
            self.open_audio(path)

    def open_audio(self, path, mixdown: str | None = None) -> int:
        """Open a sound file in the background; the current one stays until it is ready.

        Files longer than :data:`~xaidesk.gui.audio_jobs.SEGMENT_SECONDS` open with a whole-file
        overview and their first seconds as the analysed segment.
        """
        path = Path(path)
        if mixdown is None:
            mixdown = self.sound_panel.mixdown() if (self.path is not None and path == self.path) else "mean"
        model = self.model
        self.status_message.emit(f"Opening {path.name} …")
        self.ensure_model()

        def job(token, progress):
            return audio_jobs.open_audio(path, mixdown, model, token)

        return self._submit("open", job)

    def _on_mixdown_chosen(self, mixdown: str) -> None:
        if self.path is None or self.clip is None:
            return
        if self.envelope is not None:
            self.analyse_segment(reload_overview=True)
        else:
            self.open_audio(self.path, mixdown=mixdown)

    def _opened_ready(self, opened: OpenedAudio) -> None:
        if self.is_running():
            self.cancel_explanation()
        self.path = opened.path
        self.file_info = opened.info
        self.envelope = opened.envelope
        self.sound_panel.show_file(int(opened.info.get("channels", 1) or 1), getattr(opened.clip, "mixdown", "mean"))
        if opened.envelope is not None:
            self.segment_overview.show_envelope(opened.envelope, float(opened.info.get("duration", 0.0)))
            self.segment_overview.show_analysed(opened.clip.start, opened.clip.stop)
            self.segment_overview.setVisible(True)
        else:
            self.segment_overview.setVisible(False)
        self._remember_folder(opened.path)
        self._show_clip(opened.clip, opened.spectrogram)
        self.status_message.emit(self._opened_message(opened.path))
        self.audio_opened.emit(opened.path)

    def analyse_segment(self, reload_overview: bool = False) -> int | None:
        """Read the segment chosen on the overview (with the chosen mixdown) and show it."""
        if self.path is None:
            return None
        start, stop = self.segment_overview.segment()
        path, mixdown, model, file_info = self.path, self.sound_panel.mixdown(), self.model, self.file_info
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
            self.envelope = opened.envelope
            self.segment_overview.show_envelope(opened.envelope, float(opened.info.get("duration", 0.0)))
        self.segment_overview.show_analysed(opened.clip.start, opened.clip.stop)
        self._show_clip(opened.clip, opened.spectrogram)
        self.status_message.emit(f"Analysing {time_text(opened.clip.start)} to {time_text(opened.clip.stop)}.")

    # ------------------------------------------------------------ playback
    def _move_playheads(self, file_seconds: float) -> None:
        for view in self.time_views:
            view.set_playhead(file_seconds)
        for view in self._compare_views:
            view.set_playhead(None)

    def play_evidence(self, keep: str = "top") -> int | None:
        """Resynthesise the shown result's top cells (``"top"``) or the rest (``"rest"``) and play it."""
        entry = self.current_entry
        if entry is None or self.clip is None or entry.clip is not self.clip:
            return None
        share = self.playback_bar.share()
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
        text = (f"evidence: the top {100 * share:.0f} % of cells" if keep == "top"
                else f"the rest: without the top {100 * share:.0f} % of cells")
        self.status_message.emit(f"Playing {text}.")
        self.playback_bar.play_sound(samples, rate, "evidence" if keep == "top" else "rest", text)

    def shutdown(self) -> None:
        """Stop playback and remove the temporary sound file."""
        self.player.close()

    # ------------------------------------------------------------ faithfulness
    def open_faithfulness(self):
        """Show the faithfulness window for the current sound (created on first use); returns it."""
        return show_faithfulness_dialog(
            self, self.faithfulness_methods(), self._faithfulness_job, "Faithfulness of explanations (sound)",
            self.method_name(),
            patch_help="Side of a removed time-frequency square in mel bands and frames: 1 = one cell at a "
                       "time; automatic = 8.")

    def _faithfulness_job(self, methods: list[str], settings):
        """A runner job comparing ``methods`` on the current clip and class (defaults for every method
        but the current one, which uses the form's parameters)."""
        from xaidesk.core import InputError

        if self.model is None or self.clip is None:
            raise InputError("Open a sound and an audio model first.")
        model, clip, target, device = self.model, self.clip, self.target(), self.device()
        params = {}
        info = self.method_info()
        if info is not None and info.name in methods:
            params[info.name] = self._changed_params(info, self.param_form.values())

        def job(token, progress):
            return audio_jobs.compare_methods(model, clip, methods, target, params, settings, token, progress, device)

        return job

    def _changed_params(self, info, values: dict) -> dict:
        """The values that differ from the registry defaults: the others are left to ``explain_audio``,
        which picks spectrogram defaults for them (e.g. RELAX's grid cells)."""
        defaults = info.defaults()
        return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}

    # ------------------------------------------------------------ hooks of ExplainTabBase
    def set_catalog(self, catalog: Catalog) -> None:
        """Fill the model, sample and method pickers; load a model once the tab is in use."""
        super().set_catalog(catalog)
        if self.clip is not None or self.isVisible():
            self.ensure_model()

    def _relevance_view(self) -> SpectrogramView:
        return self.relevance_view

    def _has_input(self) -> bool:
        return self.clip is not None and self.spectrogram is not None

    def _open_input(self, path) -> None:
        self.open_audio(path)

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

    def _update_extra_enabled(self) -> None:
        can_listen = (self.current_entry is not None and self.current_entry.clip is self.clip
                      and self._jobs["listen"] is None)
        self.playback_bar.set_actions(self.clip is not None, can_listen)
        self.segment_overview.set_analyse_enabled(self.path is not None and self._jobs["segment"] is None)

    # ------------------------------------------------------------ the shown clip
    def _show_clip(self, clip, spectrogram: Spectrogram | None) -> None:
        """Show a newly opened clip or segment: waveform, spectrogram, player; clear old results."""
        self.clip = clip
        self.playback_bar.set_clip(clip)
        self.segment_overview.show_analysed(clip.start, clip.stop, move_region=False)
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
        self.playback_bar.rewind()
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
        self.sound_panel.show_info("\n".join(lines), str(self.path) if self.path else "")
        if self.segment_overview.isVisible():
            self.segment_overview.update_segment_label()
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

        self._submit("analyse", job)
        self._update_enabled()

    def _analysis_ready(self, result) -> None:
        clip, spectrogram, prediction = result
        if clip is not self.clip:
            return
        if spectrogram is not None:
            self._set_spectrogram(spectrogram)
        self.prediction = prediction
        if prediction is None:
            self.prediction_list.clear()
            item = QTreeWidgetItem(["No classes: the model outputs an embedding", ""])
            item.setToolTip(0, "This model has no classifier head. RELAX explains its embedding.")
            self.prediction_list.addTopLevelItem(item)
        else:
            self._show_prediction(prediction)
        self._update_enabled()

    # ------------------------------------------------------------ explanation
    def run_explanation(self) -> int | None:
        """Start explaining the chosen class with the chosen method."""
        if not self.can_run():
            return None
        info = self.method_info()
        model, clip = self.model, self.clip
        method, target, device = info.name, self.target(), self.device()
        params = self._changed_params(info, self.param_form.values())

        def job(token, progress):
            return audio_jobs.explain(model, clip, method, target, params, token, progress, device=device)

        run = AudioRun(
            spec=model.spec, name=model.name, clip=clip, spectrogram=self.spectrogram, frontend=model.frontend,
            method_title=info.title, info=info, params=dict(params),
        )
        return self._start_run(run, job, target if target is not None else 0)

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

