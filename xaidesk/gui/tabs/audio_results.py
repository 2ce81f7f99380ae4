"""How the Audio tab follows a run and shows its results: progress per model window, partial maps,
the explanation and uncertainty on the spectrogram, comparison views, and the exports.

:class:`AudioResultsMixin` is part of :class:`~xaidesk.gui.tabs.audio_tab.AudioTab`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize

from ...core import render, step_of
from ..audio_jobs import Spectrogram, frontend_dict, time_text, unfinished_as_blank
from ..formatting import (
    class_text,
    explained_class_text,
    explanation_title,
    format_value,
    map_shows_sign,
    partial_title,
    progress_text,
    sample_progress_text,
)
from ..overlays import samples_done
from ..views.audio_views import SpectrogramView
from ..explain_records import HistoryRecord, RunRecord, levels_for, relevance_stats_parts, unit_of

#: Cells sampled to choose the colour levels of a partial result.
PARTIAL_LEVELS_SAMPLES = 256 * 256


@dataclass(kw_only=True)
class AudioRun(RunRecord):
    """A running explanation of a clip."""

    clip: object
    spectrogram: Spectrogram
    frontend: object
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


@dataclass(kw_only=True)
class AudioHistoryEntry(HistoryRecord):
    """One finished (or partial) run of a clip, kept for comparison and export."""

    clip: object
    spectrogram: Spectrogram
    frontend: object
    #: For partial results: how far the run got ("window 2 of 7, 632 of 1000 masks").
    count: str = ""


class AudioResultsMixin:
    """Progress, partial and finished results, comparison and exports of the Audio tab."""

    def _on_progress(self, job_id: int, fraction: float, message: str, partial: object) -> None:
        if self._channel_of(job_id) != "explain":
            return
        self.progress_bar.setValue(int(round(1000 * fraction)))
        elapsed = self.runner.elapsed(job_id)
        run = self._run
        step = step_of(message)
        # A sound longer than the model's input is explained window by window: the step says which.
        window = step.window if step is not None else None
        if window is not None and run is not None:
            run.window = window
        if step is not None and step.done is not None and step.total and run is not None:
            done, total = step.done, step.total
            run.done, run.total, run.unit = done, total, step.unit or run.unit
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

    # ------------------------------------------------------------ entries
    def _entry_for(self, explanation, run: AudioRun) -> AudioHistoryEntry:
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
                entry.title = partial_title(run.method_title, target, done, total, run.unit or unit_of(explanation))
        return entry

    def _partial_fits(self, run: AudioRun, relevance) -> bool:
        return relevance.shape == run.spectrogram.log_mel.shape

    def _is_current_input(self, run: AudioRun) -> bool:
        return run.clip is self.clip

    def _stopped_entry(self, explanation, run: AudioRun) -> AudioHistoryEntry:
        return self._entry_for(explanation, run)

    def _kept_count_text(self, run: AudioRun, explanation) -> str:
        count = run.count_text()
        return f" ({count})" if count else ""

    def _history_tooltip(self, entry: AudioHistoryEntry) -> str:
        clip_path = getattr(entry.clip, "path", None)
        return (f"{entry.title}\nModel: {entry.model_name}\nSound: {clip_path.name if clip_path else 'sound'} "
                f"({time_text(entry.clip.start)}–{time_text(entry.clip.stop)})")

    # ------------------------------------------------------------ showing
    def _show_partial(self, partial) -> None:
        relevance = getattr(partial, "relevance", None)
        if relevance is None or self.spectrogram is None or relevance.shape != self.spectrogram.log_mel.shape:
            return
        partial = unfinished_as_blank(partial)
        self.relevance_view.set_meaning_class(class_text(partial.target.index, partial.target.label),
                                              map_shows_sign(partial.method, partial.params))
        self.relevance_view.set_relevance(partial.relevance, levels_for(partial, max_samples=PARTIAL_LEVELS_SAMPLES))
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

    def show_entry(self, entry: AudioHistoryEntry) -> None:
        """Show a result in the explanation view (switching to its clip's spectrogram if needed)."""
        self.current_entry = entry
        if entry.clip is not self.clip:
            # A result of another clip or segment: show it on its own spectrogram and sound.
            self.clip = entry.clip
            self.playback_bar.set_clip(entry.clip)
            self.segment_overview.show_analysed(entry.clip.start, entry.clip.stop, move_region=False)
            self.waveform_view.set_samples(entry.clip.samples, entry.clip.rate, entry.clip.start)
            self._set_spectrogram(entry.spectrogram)
            self.current_entry = entry
        explanation = entry.explanation
        shown = explanation if explanation.complete else unfinished_as_blank(explanation)
        self.relevance_view.set_meaning_class(class_text(explanation.target.index, explanation.target.label),
                                              map_shows_sign(explanation.method, explanation.params))
        self.relevance_view.set_relevance(shown.relevance, levels_for(shown))
        self.relevance_view.set_title(entry.title)
        self.relevance_view.title_label.setToolTip(self._history_tooltip(entry))
        self._show_uncertainty(shown, "Uncertainty" + ("" if explanation.complete else " · partial"))
        finite = np.isfinite(shown.relevance).all(axis=0)
        stats = render.relevance_stats(explanation.relevance[:, finite] if finite.any() else explanation.relevance)
        parts = relevance_stats_parts(stats, explanation, self.relevance_view.levels())
        extras = explanation.extras
        if explanation.uncertainty is not None:
            explained = explanation.uncertainty[:, finite] if finite.any() else explanation.uncertainty
            parts.append(f"average uncertainty {format_value(float(np.mean(explained)))}")
        windows = extras.get("windows")
        if explanation.complete and isinstance(windows, (list, tuple)) and len(windows) > 1:
            parts.append(f"explained in {len(windows)} overlapping windows of the model's length")
        if not explanation.complete:
            if self.is_running():
                parts.insert(0, "Still running" + (f": {entry.count} so far" if entry.count else ""))
            else:
                parts.insert(0, "Stopped" + (f" after {entry.count}" if entry.count else "") + ": a partial result")
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
        view.set_relevance(explanation.relevance, levels or levels_for(explanation))
        view.set_opacity(self.relevance_view.opacity())
        view.hovered.connect(self.hover_message)
        view.setMinimumSize(QSize(180, 120))
        return view

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

    def _input_record(self, entry: AudioHistoryEntry) -> dict:
        clip = entry.clip
        return {
            "audio": str(clip.path) if getattr(clip, "path", None) else None,
            "segment": {
                "start": float(clip.start), "stop": float(clip.stop), "rate": int(clip.rate),
                "channels": int(getattr(clip, "channels", 1)), "mixdown": getattr(clip, "mixdown", "mean"),
            },
            "frontend": frontend_dict(entry.frontend),
            "spectrogram_shape": list(entry.spectrogram.log_mel.shape),
        }

    def _input_path(self, entry: AudioHistoryEntry):
        return getattr(entry.clip, "path", None)
