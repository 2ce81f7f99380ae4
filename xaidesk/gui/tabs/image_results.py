"""How the Images tab shows its results: the explanation view, the uncertainty, LIME's segments,
result titles, bringing back a result's own image and model, the LIME refit, and the exports.

:class:`ImageResultsMixin` is part of :class:`~xaidesk.gui.tabs.images_tab.ImagesTab`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, QTimer

from ...core import render
from ..formatting import (
    class_text,
    explained_class_text,
    explanation_title,
    format_duration,
    format_value,
    map_shows_sign,
    partial_title,
)
from ..image_jobs import PREPARATION_MODEL, PREPARATION_WHOLE
from ..overlays import highlighted_segments, samples_done
from ..runner import JobFailure
from ..views.image_views import HeatmapView
from ..widgets import error_dialog
from ..explain_records import HistoryRecord, RunRecord, levels_for, map_unit, relevance_stats_parts, unit_of

#: Pixels sampled to choose the colour levels of a partial result.
PARTIAL_LEVELS_SAMPLES = 256 * 256


@dataclass(kw_only=True)
class ImageRun(RunRecord):
    """A running explanation of an image."""

    pixels: np.ndarray
    path: Path | None
    target_text: str
    image: object = None
    model: object = None
    base_model: object = None
    preparation: str = PREPARATION_MODEL


@dataclass(kw_only=True)
class HistoryEntry(HistoryRecord):
    """One finished run, kept for comparison and export.

    It carries its own input: the opened image (``image``, a ``LoadedImage``), the model as it
    ran (``model``, with the chosen preparation), the model as loaded (``base_model``) and the
    preparation choice, so that showing it can bring back exactly what it explained.
    """

    pixels: np.ndarray
    image_path: Path | None
    image: object = None
    model: object = None
    base_model: object = None
    preparation: str = PREPARATION_MODEL


class ImageResultsMixin:
    """Showing, titling, refitting and exporting the Images tab's results."""

    # ------------------------------------------------------------ entries and titles
    def _entry_of_run(self, explanation, run: ImageRun) -> HistoryEntry:
        entry = HistoryEntry(
            explanation=explanation, pixels=run.pixels, image_path=run.path, model_spec=run.spec,
            model_name=run.name, method_title=run.method_title, image=run.image, model=run.model,
            base_model=run.base_model, preparation=run.preparation,
        )
        if self._refit_of(explanation) is not None:
            entry.extra["refit_source"] = id(explanation)
        entry.title = self._entry_title(entry, run.unit)
        return entry

    def _entry_title(self, entry: HistoryEntry, unit: str = "") -> str:
        explanation = entry.explanation
        target = explained_class_text(explanation)
        if not explanation.complete:
            done, total = samples_done(explanation)
            title = partial_title(entry.method_title, target, done, total, unit or unit_of(explanation))
        else:
            title = explanation_title(explanation, entry.method_title)
        if entry.extra.get("refit"):
            title = f"{entry.method_title} · {target} · refit, no new samples" + (
                " (partial)" if not explanation.complete else "")
        return f"{title} · {self._input_text(entry)}"

    def _short_title(self, entry: HistoryEntry) -> str:
        """The result's title without its model and image (those are in the tooltip)."""
        suffix = f" · {self._input_text(entry)}"
        return entry.title[: -len(suffix)] if entry.title.endswith(suffix) else entry.title

    def _title_view(self, view, entry: HistoryEntry) -> None:
        view.set_title(self._short_title(entry))
        view.title_label.setToolTip(self._history_tooltip(entry))

    @staticmethod
    def _input_text(entry: HistoryEntry) -> str:
        """The model and image a result explains, e.g. "Handwritten digits (demo CNN) on digits_3.png"."""
        model = entry.model_name + (", whole image" if entry.preparation == PREPARATION_WHOLE else "")
        return f"{model} on {entry.image_path.name if entry.image_path else 'an image'}"

    def _history_tooltip(self, entry: HistoryEntry) -> str:
        path = str(entry.image_path) if entry.image_path else "image"
        return f"{entry.title}\nModel: {entry.model_name} ({entry.model_spec})\nImage: {path}"

    # ------------------------------------------------------------ a result's own input
    def _is_other_input(self, entry: HistoryEntry) -> bool:
        """Whether ``entry`` explains another image, model or preparation than the one open now."""
        other_image = self.image is None or entry.pixels is not self.image.pixels
        other_model = entry.model is not None and entry.model is not self.model
        return other_image or other_model

    def _bring_back_input(self, entry: HistoryEntry) -> bool:
        """Open ``entry``'s own image and model again (they are kept with the result).

        Returns False, with a status message, when that cannot happen now (a run is going on,
        or the result does not carry its input).
        """
        if self.is_running():
            self.status_message.emit("That result explains another image or model: wait for the run to finish "
                                     "or cancel it, then click the result again.")
            return False
        if entry.image is None or (entry.model is None and entry.model_spec != getattr(self.model, "spec", None)):
            self.status_message.emit("That result cannot be shown: its image or model is no longer known.")
            return False
        self.explain_after_prediction(entry.explanation.target.index)
        if entry.model is not None and entry.model is not self.model:
            self._base_model = entry.base_model or entry.model
            self.preparation_combo.setCurrentIndex(max(0, self.preparation_combo.findData(entry.preparation)))
            self._use_model(entry.model)
        if self.image is None or entry.pixels is not self.image.pixels:
            self._image_ready(entry.image, announce=False)
        self.status_message.emit(f"Showing a result of {self._input_text(entry)}: that image and model are open again.")
        return True

    # ------------------------------------------------------------ showing
    def show_entry(self, entry: HistoryEntry) -> None:
        """Show a finished result in the main explanation view, with its own input.

        A result of another image or model brings that image and model back (the input view,
        the prediction and the class then match what is shown); while a run is going on it is
        refused with a status message instead.
        """
        if self._is_other_input(entry) and not self._bring_back_input(entry):
            self._select_history(self.current_entry)
            return
        self.current_entry = entry
        self._select_history(entry)
        view = self.heatmap_view
        if view.pixels() is not entry.pixels:
            size_changed = view.pixels() is None or view.pixels().shape != entry.pixels.shape
            view.set_image(entry.pixels, reset_view=size_changed)
        view.set_meaning_class(class_text(entry.explanation.target.index, entry.explanation.target.label),
                               map_shows_sign(entry.explanation.method, entry.explanation.params))
        view.set_relevance(entry.explanation.relevance, levels_for(entry.explanation))
        self._title_view(view, entry)
        view.set_placeholder("")
        explanation = entry.explanation
        self._show_uncertainty(explanation, "Uncertainty" + ("" if explanation.complete else " · partial"))
        self._show_details(explanation)
        stats = render.relevance_stats(explanation.relevance)
        parts = relevance_stats_parts(stats, explanation, view.levels())
        extras = explanation.extras
        if explanation.uncertainty is not None:
            parts.append(f"average uncertainty {format_value(float(np.nanmean(explanation.uncertainty)))}")
        unseen = render.unseen_count(explanation.relevance)
        if unseen:
            parts.append(f"{unseen} pixels not seen by the model (uncoloured)")
        if extras.get("layer"):
            parts.append(f"shown at layer {extras['layer']}")
        if not explanation.complete:
            done, total = samples_done(explanation)
            count = f"{done} of {total} {unit_of(explanation)}".replace("  ", " ")
            parts.insert(0, f"Still running: {count} so far" if self.is_running()
                         else f"Stopped after {count}: a partial result")
        self.stats_label.setText(" · ".join(parts))
        if self._can_refit(entry) and self.target() != explanation.target.index:
            with self._target_set_by_tab():
                self.set_target(explanation.target.index)
        self.state_changed.emit()

    def _compare_view_group(self):
        return self.view_group

    def _make_compare_view(self, entry: HistoryEntry, levels) -> HeatmapView:
        view = HeatmapView()
        self._title_view(view, entry)
        view.graphics.setAcceptDrops(False)
        view.set_image(entry.pixels, reset_view=False)
        view.set_meaning_class(class_text(entry.explanation.target.index, entry.explanation.target.label),
                               map_shows_sign(entry.explanation.method, entry.explanation.params))
        view.set_relevance(entry.explanation.relevance, levels or levels_for(entry.explanation))
        view.set_opacity(self.heatmap_view.opacity())
        extras = entry.explanation.extras
        if isinstance(extras.get("segments"), np.ndarray):
            view.set_segments(extras["segments"], extras.get("segment_weights"), highlighted_segments(extras))
            view.set_show_boundaries(self.segment_panel.show_boundaries())
            view.set_top_only(self.segment_panel.top_only())
        view.hovered.connect(self.hover_message)
        view.setMinimumSize(QSize(160, 140))
        return view

    def _show_partial(self, partial) -> None:
        relevance = getattr(partial, "relevance", None)
        if relevance is None or self.image is None or relevance.shape != self.image.pixels.shape[:2]:
            return
        # Levels of a partial map come from a subsample: np.percentile over a
        # full-size photo would stall the GUI thread on every refinement.
        levels = levels_for(partial, max_samples=PARTIAL_LEVELS_SAMPLES)
        self.heatmap_view.set_meaning_class(class_text(partial.target.index, partial.target.label),
                                            map_shows_sign(partial.method, partial.params))
        self.heatmap_view.set_relevance(relevance, levels)
        run = self._run
        done, total = samples_done(partial, run.total if run else None)
        unit = (run.unit if run else "") or unit_of(partial)
        running = f"{self._running_method_title} · running"
        if done is not None and total:
            running += f", {done} of {total}" + (f" {unit}" if unit else "")
        self.heatmap_view.set_title(running + " …")
        self._show_uncertainty(partial, title="Uncertainty · running …")
        self._show_details(partial)
        if run is not None:
            run.shown_partial = True

    def _show_uncertainty(self, explanation, title: str = "Uncertainty") -> None:
        """Show the result's uncertainty beside the importance map (hidden when it has none)."""
        uncertainty = getattr(explanation, "uncertainty", None) if explanation is not None else None
        view = self.uncertainty_view
        if uncertainty is None or self.heatmap_view.pixels() is None or (
                uncertainty.shape != self.heatmap_view.pixels().shape[:2]):
            view.clear_relevance()
            view.setVisible(False)
            return
        if view.pixels() is not self.heatmap_view.pixels():
            view.set_image(self.heatmap_view.pixels(), reset_view=False)
        view.set_relevance(uncertainty)
        view.set_title(title)
        view.set_opacity(self.heatmap_view.opacity())
        if not view.isVisible():
            view.setVisible(True)
            # The views' sizes change only after the layout ran: then fit every view again.
            QTimer.singleShot(0, self.view_group.fit_all)

    def _show_details(self, explanation) -> None:
        """LIME details: superpixels on the heatmap, fidelity and the top segments."""
        extras = getattr(explanation, "extras", None) or {}
        segments = extras.get("segments")
        pixels = self.heatmap_view.pixels()
        if not isinstance(segments, np.ndarray) or pixels is None or segments.shape != pixels.shape[:2]:
            self.heatmap_view.set_segments(None)
            self.segment_panel.setVisible(False)
            return
        self.heatmap_view.set_segments(segments, extras.get("segment_weights") or [], highlighted_segments(extras))
        self._apply_segment_display()
        self.segment_panel.show_extras(extras)
        self.segment_panel.setVisible(True)

    def _apply_segment_display(self, *_args) -> None:
        boundaries, top_only = self.segment_panel.show_boundaries(), self.segment_panel.top_only()
        for view in [self.heatmap_view, *self._compare_views]:
            view.set_show_boundaries(boundaries)
            view.set_top_only(top_only)

    def _clear_result_view(self) -> None:
        """Show no result (a new input or model): the explanation views wait for Run."""
        from .explain_base import RUN_PLACEHOLDER

        self.heatmap_view.clear_relevance()
        self.heatmap_view.set_placeholder(RUN_PLACEHOLDER)
        self.heatmap_view.set_title("Explanation")
        self._show_uncertainty(None)
        self._show_details(None)
        self.stats_label.setText("")
        self.current_entry = None
        self.history_list.clearSelection()
        self.history_list.setCurrentItem(None)

    def _restore_current_view(self) -> None:
        if self.current_entry is not None:
            self.show_entry(self.current_entry)
        else:
            self._clear_result_view()

    # ------------------------------------------------------------ target switching (LIME refit)
    def _on_target_changed(self, *_args) -> None:
        if self._choosing_target:
            return
        target = self.target()
        entry = self.current_entry
        if target is None or entry is None or self.is_running() or not self._can_refit(entry):
            return
        if target != entry.explanation.target.index:
            self.refit(target)

    def _refit_of(self, explanation):
        """The registry's refit function of the result's method (LIME's), or None."""
        info = self._catalog_method(explanation.method)
        return info.refit if info is not None else None

    def _can_refit(self, entry: HistoryEntry) -> bool:
        extras = entry.explanation.extras
        return (
            self._refit_of(entry.explanation) is not None
            and all(key in extras for key in ("design", "sample_weights", "outputs", "segments"))
            and self.image is not None
            and entry.pixels is self.image.pixels
            and self.model is not None
            and entry.model_spec == self.model.spec
            and (entry.model is None or entry.model is self.model)
        )

    def refit(self, target: int) -> HistoryEntry | None:
        """Explain another class from the current LIME result's samples (no forward pass).

        Shows an earlier result of the same run for that class if there is one, otherwise
        adds a new result titled "… refit, no new samples".
        """
        entry = self.current_entry
        if entry is None or not self._can_refit(entry):
            return None
        source = entry.extra.get("refit_source", id(entry.explanation))
        for other in self.history:
            if other.extra.get("refit_source") == source and other.explanation.target.index == int(target):
                self._select_history(other)
                self.show_entry(other)
                return other
        refit = self._refit_of(entry.explanation)
        start = time.perf_counter()
        try:
            explanation = refit(entry.explanation, int(target), class_label=self.model.label(int(target)))
        except Exception as error:  # noqa: BLE001 - shown to the person, the state stays as it was
            error_dialog.show_error(self, "Could not explain this class from the stored samples",
                                    JobFailure.from_exception(error))
            return None
        self.last_refit_seconds = time.perf_counter() - start
        explanation = explanation.replace(seconds=self.last_refit_seconds)
        new = replace(entry, explanation=explanation, extra={"refit": True, "refit_source": source})
        new.title = self._entry_title(new)
        self._add_history(new)
        self.show_entry(new)
        self.status_message.emit(
            f"Explained {class_text(explanation.target.index, explanation.target.label)} from the same "
            f"{explanation.extras.get('n_used', '')} samples in {format_duration(self.last_refit_seconds)} (no new samples)."
        )
        return new

    # ------------------------------------------------------------ export
    def overlay_image(self) -> np.ndarray | None:
        """The current result as an overlay at the original image size (what exports contain)."""
        entry = self.current_entry
        if entry is None:
            return None
        from ..overlays import composite

        overlay = render.blend_overlay(
            entry.pixels,
            entry.explanation.relevance,
            cmap=self.heatmap_view.colormap_name(),
            opacity=self.heatmap_view.opacity(),
            levels=self.heatmap_view.levels(),
        )
        # Superpixel boundaries and dimming, as shown.
        return composite(overlay, self.heatmap_view.decoration())

    def figure_labels(self) -> tuple[str, str]:
        """The current result's figure title (method, class, model) and colour-bar label."""
        entry = self.current_entry
        # The colour bar says what the view's caption says; unseen pixels get their own note in the figure.
        meaning = self.heatmap_view.colour_meaning(with_unseen=False)
        model = entry.model_name + (" (whole image)" if entry.preparation == PREPARATION_WHOLE else "")
        title = render.figure_title(entry.method_title, explained_class_text(entry.explanation), model)
        return title, f"{map_unit(entry.explanation)} · {meaning}"

    def export_figure(self, path) -> Path:
        """Write the current result as a figure with a title and a labelled colour bar (PNG, PDF or SVG
        by the suffix), at the opened image's full resolution, as shown."""
        entry = self.current_entry
        title, label = self.figure_labels()
        return render.save_figure(
            path, entry.pixels, entry.explanation.relevance, title=title, colorbar_label=label,
            cmap=self.heatmap_view.colormap_name(), opacity=self.heatmap_view.opacity(),
            levels=self.heatmap_view.levels(), decoration=self.heatmap_view.decoration(),
        )

    def _result_record(self, entry: HistoryEntry) -> dict:
        return {"refit": bool(entry.extra.get("refit", False))}

    def _input_record(self, entry: HistoryEntry) -> dict:
        return {
            "label_file": getattr(entry.model, "label_file", None),
            "preprocessing_set_by_hand": bool(getattr(entry.model, "preprocessing_set_by_hand", False)),
            "image": str(entry.image_path) if entry.image_path else None,
            "image_size": [int(entry.pixels.shape[1]), int(entry.pixels.shape[0])],
            "preprocessing": entry.model.preprocessing.to_dict() if entry.model is not None else None,
            "unseen_pixels": render.unseen_count(entry.explanation.relevance),
        }

    def _input_path(self, entry: HistoryEntry):
        return entry.image_path
