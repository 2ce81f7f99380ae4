"""The Images tab: open an image, pick a model and a method, run, compare, export.

All computation (loading models and images, predicting, explaining) runs in the
:class:`~xaidesk.gui.runner.Runner` through the Qt-free :mod:`xaidesk.gui.image_jobs`;
this module lays the tab out, dispatches jobs and shows their results. The tab is composed
of the shared parts of :class:`~xaidesk.gui.tabs.explain_base.ExplainTabBase`, the
model handling of :mod:`.image_models`, the result display of :mod:`.image_results`,
the LIME segments panel (:mod:`xaidesk.gui.panels.segments_panel`) and the Concepts panel
(:mod:`xaidesk.gui.panels.concepts_panel`), which it places.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from .. import concept_jobs, image_jobs
from ..catalog import input_title
from ...core import step_of
from ..formatting import class_text, format_duration, progress_text, sample_progress_text
from ..overlays import samples_done
from ..panels.concepts_panel import ConceptsPanel
from ..panels.segments_panel import SegmentsPanel
from ..runner import JobFailure, Runner
from ..views.image_views import HeatmapView, ImageView, UncertaintyView, ViewGroup
from ..widgets import error_dialog
from ..panels.tab_pieces import faithfulness_box, show_faithfulness_dialog, side_column
from .explain_base import RUN_PLACEHOLDER, UNCERTAINTY_COLORMAP, ExplainTabBase
from .image_models import MODEL_FILE_ENTRY, OPEN_MODEL_ENTRY, ImageModelsMixin
from .image_results import HistoryEntry, ImageResultsMixin, ImageRun


class ImagesTab(ImageModelsMixin, ImageResultsMixin, ExplainTabBase):
    """Explain image classifiers.

    Signals
    -------
    image_opened(Path)
        An image file was opened (for the recent-files list); the others are
        :class:`~xaidesk.gui.tabs.explain_base.ExplainTabBase`'s.
    """

    image_opened = Signal(object)

    DATA_KIND = "image"
    BUILTIN_MODEL_ENTRY = OPEN_MODEL_ENTRY
    BUILTIN_MODEL_TITLE = "Open model (file or folder)…"
    MODEL_FILE_ENTRY = MODEL_FILE_ENTRY
    ACCURACY_ON = "images"
    RUN_TOOLTIP = "Explain the chosen class with the chosen method (Ctrl+R)."
    RUN_SHORTCUT = "Ctrl+R"
    CANCEL_TOOLTIP = "Stop the running explanation (Esc)."
    CANCEL_SHORTCUT = "Esc"
    PROGRESS_START_AT_ZERO = True
    EXPORT_STEM = "image"

    def __init__(self, runner: Runner, settings=None, parent: QWidget | None = None) -> None:
        super().__init__(runner, settings, channels=("image", "predict"), parent=parent)
        self._base_model = None
        self.image = None
        self.history: list[HistoryEntry] = []
        self.current_entry: HistoryEntry | None = None
        self._run: ImageRun | None = None
        self.last_refit_seconds: float | None = None
        self._running_method_title = ""
        #: The label file and hand-set preprocessing of the model being loaded (kept for a trusted reload).
        self._pending_model_options: dict = {}
        self.view_group = ViewGroup()
        self._finish_init()
        self._update_enabled()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.side_panel = self._build_side_panel()
        side = side_column(self.side_panel, self._build_run_area())

        self.input_view = ImageView("Input")
        self.input_view.set_placeholder("Open an image (File ▸ Open…)\nor drop an image file here")
        self.heatmap_view = HeatmapView("Explanation")
        self.heatmap_view.set_placeholder(RUN_PLACEHOLDER)
        self.uncertainty_view = UncertaintyView("Uncertainty", colormap=UNCERTAINTY_COLORMAP)
        self.uncertainty_view.setToolTip(
            "How much the evidence varies between random samples: bright areas are less certain."
        )
        self.uncertainty_view.setVisible(False)
        for view in (self.input_view, self.heatmap_view, self.uncertainty_view):
            self.view_group.add(view)
            view.hovered.connect(self.hover_message)
            view.graphics.setAcceptDrops(False)

        display_bar = self._build_display_bar(
            "How strongly the relevance colours cover the image.",
            "Show the whole image (zoom with the mouse wheel, pan by dragging).", self.view_group.fit_all)

        self.segment_panel = SegmentsPanel()
        self.segment_panel.display_changed.connect(self._apply_segment_display)
        self.segment_panel.setVisible(False)
        # The LIME details, by the names the tab has always given them.
        self.fidelity_label = self.segment_panel.fidelity_label
        self.boundaries_check = self.segment_panel.boundaries_check
        self.top_only_check = self.segment_panel.top_only_check
        self.segment_table = self.segment_panel.segment_table
        views = QSplitter(Qt.Orientation.Horizontal)
        views.addWidget(self.input_view)
        views.addWidget(self.heatmap_view)
        views.addWidget(self.uncertainty_view)
        views.addWidget(self.segment_panel)
        # Concepts (CRP) beside the heatmap; drag the splitter to the right edge to hide it.
        self.concepts_panel = ConceptsPanel(self.runner, self._concept_context, self.open_image, self.settings)
        self.view_group.add(self.concepts_panel.concept_view)
        self.concepts_panel.concept_view.hovered.connect(self.hover_message)
        views.addWidget(self.concepts_panel)
        views.setSizes([330, 400, 460, 230, 640])
        for index in range(4):
            views.setCollapsible(index, False)
        self.views_splitter = views

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(display_bar)
        top_layout.addWidget(views, 1)
        top_layout.addWidget(self._build_stats_label())

        self._lay_out_tab(side, top, stretch=(3, 2), sizes=[520, 300])
        # Result rows name their model and image: let them wrap instead of eliding.
        self.history_list.setWordWrap(True)
        self.history_list.setTextElideMode(Qt.TextElideMode.ElideNone)
        self._split_results_area()
        self.state_changed.connect(self.concepts_panel.refresh)
        self.target_combo.currentIndexChanged.connect(self.concepts_panel.refresh)

    def _concept_context(self):
        """What the Concepts panel explains: the model, image, class and method (None without model or image)."""
        if self.model is None or self.image is None:
            return None
        try:
            params = self.param_form.values()
        except Exception:  # noqa: BLE001 - an unfinished form: concepts use the method's defaults
            params = {}
        target = self.target() if self.target() is not None else (
            self.prediction.top_class if self.prediction is not None else None)
        path = getattr(self.image, "path", None)
        return concept_jobs.ConceptContext(self.model, self.image.pixels, target, self.method_name(), params,
                                           str(path) if path is not None else None)

    def _build_side_panel(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(4, 4, 8, 4)

        model_box = self._build_model_box()
        model_box.layout().addLayout(self._build_preparation_row())

        image_box = QGroupBox("Image")
        image_layout = QVBoxLayout(image_box)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open image…")
        self.open_button.clicked.connect(self.choose_image)
        self.sample_combo = self._build_sample_combo("Sample images that come with the demo models.")
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.sample_combo, 1)
        self.image_info = QLabel("No image yet.")
        self.image_info.setWordWrap(True)
        self.image_info.setObjectName("notes")
        image_layout.addLayout(buttons)
        image_layout.addWidget(self.image_info)

        prediction_box = self._build_prediction_box("The model's five most likely classes. Click one to explain it.")
        method_box = self._build_method_box()
        faithfulness = faithfulness_box(
            self, "Compare methods on this image: remove the most (and least) relevant parts first and "
                  "see how fast the class score falls, against random removal.")

        layout.addWidget(model_box)
        layout.addWidget(image_box)
        layout.addWidget(prediction_box)
        layout.addWidget(method_box)
        layout.addWidget(faithfulness)
        layout.addStretch(1)
        return panel

    # ------------------------------------------------------------ faithfulness
    def open_faithfulness(self):
        """Show the faithfulness window for the current image (created on first use); returns it."""
        return show_faithfulness_dialog(self, self.faithfulness_methods(), self._faithfulness_job,
                                        "Faithfulness of explanations", self.method_name())

    def _faithfulness_job(self, methods: list[str], settings):
        """A runner job comparing ``methods`` on the current image and class (the current method
        with the parameters in the form, the others with their defaults)."""
        from xaidesk.core import InputError

        if self.model is None or self.image is None:
            raise InputError("Open an image and a model first.")
        model, pixels, target, device = self.model, self.image.pixels, self.target(), self.device()
        params = {}
        current = self.method_name()
        if current in methods:
            try:
                params[current] = self.param_form.values()
            except Exception:  # noqa: BLE001 - an unfinished form: the method runs with its defaults
                pass

        def job(token, progress):
            return image_jobs.compare_methods(model, pixels, methods, target, params, settings, token, progress, device)

        return job

    # ------------------------------------------------------------ hooks of ExplainTabBase
    def _relevance_view(self) -> HeatmapView:
        return self.heatmap_view

    def _has_input(self) -> bool:
        return self.image is not None

    def _open_input(self, path) -> None:
        self.open_image(path)

    def _finish_handlers(self) -> dict:
        return {
            "model": self._model_ready,
            "image": self._image_ready,
            "predict": self._prediction_ready,
            "explain": self._explanation_ready,
            "layers": self._layers_ready,
        }

    def _channel_failed(self, channel: str, failure) -> None:
        if channel == "image":
            self.status_message.emit("The image could not be opened.")
            error_dialog.show_error(self, "Could not open the image", failure)
        elif channel == "predict":
            self._prediction_failed(failure)

    # ------------------------------------------------------------ demo samples
    def load_model(self, spec: str, trust: bool = False, labels=None, preprocessing=None) -> int:
        """Load a model in the background (see :meth:`ImageModelsMixin.load_model`).

        When the shown picture is a sample of the demo model in use and ``spec`` is another demo model,
        that model's first sample opens with it: a digit is never scored by the horse model. A picture
        the person opened themselves always stays.
        """
        job = super().load_model(spec, trust=trust, labels=labels, preprocessing=preprocessing)
        following = self._sample_following(spec)
        if following is not None:
            self._waiting_sample = following
        return job

    def _sample_following(self, spec: str) -> tuple[str, str] | None:
        """``(sample, status note)`` to open with the demo model ``spec``, or None to keep the picture."""
        if self.catalog is None or self.model is None or self.image is None or self._jobs.get("image") is not None:
            return None
        shown = getattr(self.image, "path", None)
        owner = self.catalog.sample_owner(shown) if shown is not None else None
        if owner is None or owner["spec"] != self.model.spec or owner["spec"] == spec:
            return None
        new = next((m for m in self.demo_models() if m["spec"] == spec and m.get("samples")), None)
        if new is None:
            return None
        title = new.get("title", spec)
        return str(new["samples"][0]), f"Loaded {title} and opened its sample in place of the previous demo's sample."

    # ------------------------------------------------------------ images
    def choose_image(self) -> None:
        from xaidesk.data.images import IMAGE_FILE_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open an image", self._last_folder(), IMAGE_FILE_FILTER)
        if path:
            self.open_image(path)

    def open_image(self, path) -> int:
        """Open an image file in the background; the current image stays until it is ready."""
        path = Path(path)
        self.status_message.emit(f"Opening {path.name} …")

        def job(token, progress):
            return image_jobs.open_image(path)

        return self._submit("image", job)

    def set_image(self, image) -> None:
        """Use an already opened image (a ``LoadedImage``)."""
        self._image_ready(image)

    def _image_ready(self, image, announce: bool = True) -> None:
        if self.is_running():
            self.cancel_explanation()
        self.image = image
        self.input_view.set_image(image.pixels)
        self.heatmap_view.set_image(image.pixels)
        self.uncertainty_view.set_image(image.pixels)
        self._clear_result_view()
        height, width = image.pixels.shape[:2]
        info = [f"{input_title(image.path, self.catalog)} — {width}x{height} pixels"]
        info += list(getattr(image, "notices", []) or [])
        self.image_info.setText("\n".join(info))
        self.image_info.setToolTip(str(image.path))
        if announce:
            self._remember_folder(image.path)
            self.status_message.emit(self._opened_message(image.path))
            self.image_opened.emit(image.path)
        self._predict()

    # ------------------------------------------------------------ prediction
    def _predict(self) -> None:
        self.prediction = None
        self.prediction_list.clear()
        if self.model is None or self.image is None:
            self._update_enabled()
            return
        model, pixels = self.model, self.image.pixels

        def job(token, progress):
            return image_jobs.predict(model, pixels)

        self._submit("predict", job)
        self._update_enabled()

    def _prediction_ready(self, prediction) -> None:
        self.prediction = prediction
        self._show_prediction(prediction)
        self._update_enabled()

    def _prediction_failed(self, failure: JobFailure) -> None:
        self.status_message.emit("The model could not classify this image.")
        error_dialog.show_error(self, "The model does not fit this image", failure)

    # ------------------------------------------------------------ explanation
    def run_explanation(self) -> int | None:
        """Start explaining the chosen class with the chosen method."""
        if not self.can_run():
            return None
        info = self.method_info()
        model, image = self.model, self.image
        method, target, params = info.name, self.target(), self.param_form.values()
        pixels, device = image.pixels, self.device()

        def job(token, progress):
            return image_jobs.explain(model, pixels, method, target, params, token, progress, device=device)

        target_index = target if target is not None else (self.prediction.top_class if self.prediction else 0)
        run = ImageRun(
            spec=model.spec, name=model.name, pixels=pixels, path=image.path, method_title=info.title, info=info,
            params=dict(params), target_text=class_text(target_index, model.label(target_index)),
            image=image, model=model, base_model=self._base_model, preparation=self.preparation(),
        )
        self._running_method_title = info.title
        return self._start_run(run, job, target)

    def _explanation_ready(self, explanation) -> None:
        entry = self._entry_of_run(explanation, self._run)
        self._end_run(f"Done in {format_duration(explanation.seconds)}.")
        self._add_history(entry)
        self.show_entry(entry)
        self.concepts_panel.explanation_finished(explanation)

    def _on_progress(self, job_id: int, fraction: float, message: str, partial: object) -> None:
        if self._channel_of(job_id) != "explain":
            return
        self.progress_bar.setValue(int(round(1000 * fraction)))
        elapsed = self.runner.elapsed(job_id)
        step = step_of(message)
        run = self._run
        if step is not None and step.done is not None and step.total and run is not None:
            done, total = step.done, step.total
            run.total, run.unit = total, step.unit or run.unit
            text = sample_progress_text(done, total, run.unit, run.eta.remaining(done, total, elapsed))
        else:
            text = progress_text(fraction, elapsed, message)
        self.progress_label.setText(text)
        if partial is not None:
            self._show_partial(partial)

    def _partial_fits(self, run: ImageRun, relevance) -> bool:
        return relevance.shape == run.pixels.shape[:2]

    def _is_current_input(self, run: ImageRun) -> bool:
        return self.image is not None and run.pixels is self.image.pixels

    def _stopped_entry(self, explanation, run: ImageRun) -> HistoryEntry:
        prediction = self.prediction
        if not np.isfinite(explanation.score) and prediction is not None and run.pixels is self.image.pixels:
            logits = getattr(prediction, "logits", None)
            index = explanation.target.index
            if logits is not None and 0 <= index < len(logits):
                explanation = explanation.replace(score=float(logits[index]))
        return self._entry_of_run(explanation, run)

    def _kept_count_text(self, run: ImageRun, explanation) -> str:
        done, total = samples_done(explanation, run.total)
        return (f" ({done} of {total} {run.unit})".replace(" )", ")") if done is not None and total else "")

    # ------------------------------------------------------------ display settings
    def _apply_display_settings(self, *_args) -> None:
        super()._apply_display_settings()
        # The uncertainty keeps its sequential colour map; it follows the opacity.
        self.uncertainty_view.set_opacity(self.opacity_slider.value() / 100.0)
