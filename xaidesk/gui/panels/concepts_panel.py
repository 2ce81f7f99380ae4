"""The Images tab's Concepts panel: which learned features (channels of a layer) a prediction used, and where.

The panel asks its tab for a :class:`~xaidesk.gui.concept_jobs.ConceptContext` (model, image, class, method)
through a callable, and computes in the window's runner (:class:`~xaidesk.gui.widgets.panel_jobs.PanelJobs`):
the top concepts of the chosen layer with their conditional heatmaps (one batched pass), for the chosen
concept the concepts of the layer below that feed it (one pass for all the concepts listed), and its
reference samples when a reference run exists for the model and layer. Heatmaps stay in model-input
pixels; the one shown is mapped onto the image (in the runner for large images) and the last few are kept.

"Open saved…" shows the concepts ``xaidesk concepts image`` wrote, without computing them again;
"Compare with prototypes…" says how typical the reasoning is for a class's prototypes (PCX).

The panel composes its parts: the controls (:mod:`.concept_controls`), the "Fed by" page
(:mod:`.concept_feeding`), the reference samples (:mod:`.concept_references`), the Typicality page
(:mod:`.concept_typicality`) and the opening of saved concepts (:mod:`.concept_saved`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget

from .. import concept_jobs
from ..concept_jobs import ConceptContext
from ..formatting import class_text, format_duration
from ..views.concept_views import WARNING_STYLE, ShareList, share_text
from ..views.image_views import HeatmapView
from ..widgets import error_dialog
from ..widgets.panel_jobs import PanelJobs, job_controls
from .concept_controls import ConceptControls
from .concept_feeding import FeedingSection
from .concept_references import NO_REFERENCES, ReferenceSection, concept_name
from .concept_saved import SavedConceptsMixin
from .concept_typicality import TypicalitySection

#: What the panel says before the first run.
FIND_FIRST = "Press Find concepts to split the explanation into the concepts of the chosen layer."
#: Images with more pixels than this have their concept heatmap mapped in the runner, not while the GUI waits.
MAP_IN_GUI_PIXELS = 1_000_000
#: Concept heatmaps kept on the image's size (the last ones shown).
HEATMAPS_KEPT = 4


def _same_input(first: ConceptContext | None, second: ConceptContext | None) -> bool:
    """Whether two contexts explain the same class of the same image with the same model."""
    return (first is not None and second is not None and first.model is second.model
            and first.pixels is second.pixels and first.target == second.target)


class ConceptsPanel(SavedConceptsMixin, QWidget):
    """Top concepts with shares, a concept's heatmap over the input, its reference samples and the concepts
    below that feed it, for one layer chosen in a picker.

    Parameters
    ----------
    runner
        The window's :class:`~xaidesk.gui.runner.Runner`.
    context_source
        Returns the tab's current :class:`ConceptContext`, or None while it has no model or image.
    open_image
        Opens an image file in the tab (for saved concepts whose input is not the image shown); optional.
    settings
        The application's settings (remembers the folders chosen), or None.
    """

    def __init__(self, runner, context_source: Callable[[], ConceptContext | None],
                 open_image: Callable[[object], object] | None = None, settings=None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = context_source
        self._open_image = open_image
        self.settings = settings
        #: Concepts read from a folder: shown (``saved``), or waiting for their image to open (``_pending``).
        self.saved = None
        self._pending = None
        self._heatmaps: OrderedDict[int, object] = OrderedDict()
        self.jobs = PanelJobs(runner, "image.concepts", self)
        self.context: ConceptContext | None = None
        self.setup: concept_jobs.ConceptSetup | None = None
        self.ranking: concept_jobs.ConceptRanking | None = None
        self._include: int | None = None
        self._engaged = False
        self._build()
        self.refresh()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 0, 2, 0)
        title = QLabel("Concepts")
        title.setObjectName("viewTitle")
        title.setToolTip("Concept relevance propagation: the explanation split by the channels of one layer. "
                         "Each channel is a feature the network learned (a concept); its share says how much of "
                         "the layer's relevance for the class passed through it.")
        self.refusal_label = QLabel("")
        self.refusal_label.setWordWrap(True)
        self.refusal_label.setVisible(False)

        self.controls = ConceptControls()
        self.layer_combo, self.top_spin = self.controls.layer_combo, self.controls.top_spin
        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.open_saved_button = QPushButton("Open saved…")
        self.open_saved_button.setToolTip("Show concepts saved by xaidesk concepts image (a folder with concepts.json),"
                                          " without computing them again.")
        self.open_saved_button.clicked.connect(lambda _checked=False: self.open_saved())
        job_row, self.run_button = job_controls(self.jobs, "Find concepts", self.run)
        self.run_button.setToolTip("Split the explanation of the chosen class into the top concepts of the layer.")
        self.cancel_button = next(b for b in job_row.findChildren(QPushButton) if b.text() == "Cancel")
        self.job_status = job_row.findChildren(QLabel)[0]
        job_row.layout().insertWidget(1, self.open_saved_button)
        self.summary_label = QLabel(FIND_FIRST)
        self.summary_label.setWordWrap(True)
        self.summary_label.setObjectName("notes")
        self.warning_label = QLabel("")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet(WARNING_STYLE)
        self.warning_label.setVisible(False)

        self.concept_list = ShareList("Concept", "Share")
        self.concept_list.setToolTip("The concepts of the layer with the largest relevance for the class. "
                                     "Click one to see where it is in the image.")
        self.concept_list.concept_chosen.connect(self._show_concept)
        self.concept_view = HeatmapView("Concept heatmap")
        self.concept_view.set_placeholder("Click a concept\nto see where it is")
        self.concept_view.graphics.setAcceptDrops(False)
        self.absorbed_label = QLabel("")
        self.absorbed_label.setWordWrap(True)
        self.absorbed_label.setObjectName("notes")
        self.absorbed_label.setToolTip("Biases and stabilisers below the layer keep part of the concept's relevance "
                                       "from reaching the pixels; the heatmap adds up to the rest.")

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.concept_list)
        self.typical = TypicalitySection(self.jobs, lambda: self.ranking, self.settings)
        self.typical.concept_chosen.connect(self._show_differing)
        self.feeding_section = FeedingSection(self.jobs, lambda: self.ranking, self.concept_list.current_channel)
        self.feeding_label, self.feeding_list = self.feeding_section.label, self.feeding_section.share_list
        self.feeding_list.concept_chosen.connect(self.open_lower_concept)
        # What feeds the concept and how typical the reasoning is share the space under the list.
        self.details_tabs = QTabWidget()
        self.details_tabs.setDocumentMode(True)
        self.details_tabs.addTab(self.feeding_section, "Fed by")
        self.details_tabs.addTab(self.typical, "Typicality")
        self.details_tabs.setTabToolTip(0, "The concepts of the layer below that pass relevance to the chosen "
                                           "concept (its attribution graph).")
        self.details_tabs.setTabToolTip(1, self.typical.toolTip())
        left.addWidget(self.details_tabs)
        left.setSizes([170, 300])
        left.setMinimumWidth(210)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.concept_view, 1)
        right_layout.addWidget(self.absorbed_label)
        self.reference_section = ReferenceSection(self.jobs, self._load_references)
        self.reference_kind, self.references = self.reference_section.kind, self.reference_section.strip
        right_layout.addWidget(self.reference_section)
        right.setMinimumWidth(190)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for index, widget in enumerate((left, right)):
            self.splitter.addWidget(widget)
            self.splitter.setCollapsible(index, False)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([240, 330])

        layout.addWidget(title)
        layout.addWidget(self.refusal_label)
        layout.addWidget(self.controls)
        layout.addWidget(job_row)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.warning_label)
        layout.addWidget(self.splitter, 1)

    # ------------------------------------------------------------------ context
    def refresh(self, *_args) -> None:
        """Read the tab's context again: a new model fills the layer picker (or refuses, in one sentence); a new
        model, image or class clears the concepts shown (saved ones stay while their image does)."""
        context = self._source()
        old = self.context
        self.context = context
        if context is None:
            self._set_available(False, "")
            self._clear("Open an image and a model to find the concepts it uses.")
            return
        if old is None or old.model is not context.model:
            self._fill_layers(context.model)
        refused = self.setup is not None and bool(self.setup.refusal)
        self._set_available(not refused, self.setup.refusal if refused else "")
        if self._pending is not None and self._pending_opened(context):
            pending, self._pending = self._pending, None
            self._show_saved(pending, context)
            return
        if self._pending is not None and old is not None and context.pixels is not old.pixels:
            self._pending = None  # another image came first: the saved concepts are not for it
        if self.saved is not None and old is not None and context.pixels is old.pixels:
            self._warn_model(self.saved, context)
        elif refused:
            self._clear("")
        elif not _same_input(old, context):
            self.jobs.cancel()
            self._clear(FIND_FIRST)

    def _fill_layers(self, model) -> None:
        self.setup = concept_jobs.concept_setup(model)
        self.controls.fill(self.setup)
        self.refusal_label.setToolTip(self.setup.details)

    def _set_available(self, available: bool, sentence: str) -> None:
        if not available:
            self.job_status.setText("")
        self.refusal_label.setText(sentence)
        self.refusal_label.setVisible(bool(sentence))
        for widget in (self.controls, self.run_button):
            widget.setEnabled(available)
        # Saved concepts are shown without the model, so the lists stay usable with an image.
        self.splitter.setEnabled(available or self.context is not None)
        self.open_saved_button.setEnabled(self.context is not None)

    def _clear(self, message: str) -> None:
        self.ranking, self.saved = None, None
        self._heatmaps.clear()
        self.concept_list.set_items([])
        self.concept_view.clear_relevance()
        self.concept_view.set_title("Concept heatmap")
        self.absorbed_label.setText("")
        self.summary_label.setText(message)
        self.summary_label.setVisible(bool(message))
        self.warning_label.setVisible(False)
        self.feeding_section.clear()
        self.references.set_message("")
        self.typical.update_result()

    def layer(self) -> str | None:
        return self.layer_combo.currentData()

    def is_available(self) -> bool:
        return self.context is not None and self.setup is not None and not self.setup.refusal

    # ------------------------------------------------------------------ running
    def run(self) -> int | None:
        """Find the top concepts of the chosen layer for the tab's class (in the runner); the job's id."""
        self.refresh()
        if not self.is_available() or self.layer() is None:
            return None
        self._engaged = True
        self._pending = None
        context, layer, top, include = self.context, self.layer(), self.top_spin.value(), self._include
        self._include = None

        def job(token, progress):
            return concept_jobs.rank_concepts(context, layer, top, include=include, token=token, progress=progress)

        return self.jobs.run("rank", job, lambda ranking: self._ranking_ready(ranking, context, include),
                             self._failed("Could not find the concepts"), self._cancelled)

    def explanation_finished(self, explanation) -> None:
        """After an LRP explanation of the tab: find the concepts again when the person has used the panel."""
        if self._engaged and concept_jobs.uses_lrp(getattr(explanation, "method", None)):
            self.run()

    def _on_layer_changed(self, _index: int) -> None:
        if self.is_available():
            self.run()

    def _failed(self, title: str):
        def show(failure) -> None:
            self.summary_label.setVisible(True)
            self.summary_label.setText(failure.message)
            error_dialog.show_error(self, title, failure)
        return show

    def _cancelled(self) -> None:
        if self.saved is not None or self._pending is not None:
            return  # cancelled to show saved concepts, which say what they are
        self.summary_label.setVisible(True)
        self.summary_label.setText("Cancelled: " + ("the concepts shown are still those of the last run."
                                                    if self.ranking is not None else FIND_FIRST[0].lower() +
                                                    FIND_FIRST[1:]))

    def _ranking_ready(self, ranking, context: ConceptContext, include: int | None) -> None:
        if not _same_input(context, self.context):
            return
        self._clear("")
        self._set_ranking(ranking, f"{len(ranking.concepts)} concepts of layer {ranking.layer_title} for "
                                   f"{class_text(ranking.target, ranking.target_label)}, with {ranking.method_title},"
                                   f" in {format_duration(ranking.seconds)}.")
        self.concept_list.select_channel(include if include is not None else ranking.concepts[0].channel)

    def _set_ranking(self, ranking, summary: str) -> None:
        self.ranking = ranking
        self.concept_list.set_items([(c.channel, c.share, concept_name(c.channel)) for c in ranking.concepts])
        self.summary_label.setVisible(True)
        self.summary_label.setText(summary)
        self.concept_view.set_meaning_class(class_text(ranking.target, ranking.target_label), True)
        self.typical.update_result()

    # ------------------------------------------------------------------ typical reasoning
    @property
    def prototypes(self):
        """The prototypes compared with (None until chosen)."""
        return self.typical.prototypes

    def choose_prototypes(self, folder=None) -> int | None:
        """Compare the concepts shown with the prototypes in ``folder`` (:meth:`TypicalitySection.choose`)."""
        return self.typical.choose(folder)

    def _show_differing(self, channel: int) -> None:
        """A concept that differs from the prototype: shown when listed, else found with the others."""
        if self.concept_list.select_channel(channel):
            return
        if self.saved is None and self.is_available() and self.ranking is not None:
            self._include = int(channel)
            self.run()

    # ------------------------------------------------------------------ one concept
    def _show_concept(self, channel: int) -> None:
        ranking, context = self.ranking, self.context
        concept = ranking.concept(channel) if ranking is not None else None
        if concept is None or context is None:
            return
        view = self.concept_view
        if view.pixels() is not context.pixels:
            view.set_image(context.pixels, reset_view=view.pixels() is None
                           or view.pixels().shape != context.pixels.shape)
        view.set_title(f"{concept_name(channel)} of layer {ranking.layer} · {share_text(concept.share)}")
        self.absorbed_label.setText(f"Absorbed below the layer: {100 * concept.absorbed_share:.1f} % of its relevance")
        self._show_heatmap(ranking, channel)
        self._load_feeding(channel)
        self._load_references()

    def _show_heatmap(self, ranking, channel: int) -> None:
        """Map the concept's heatmap onto the image (kept for the last few; in the runner for large images)."""
        def show(heatmap) -> None:
            self._heatmaps[channel] = heatmap
            self._heatmaps.move_to_end(channel)
            while len(self._heatmaps) > HEATMAPS_KEPT:
                self._heatmaps.popitem(last=False)
            if self.ranking is ranking and self.concept_list.current_channel() == channel:
                self.concept_view.set_relevance(heatmap)

        if channel in self._heatmaps:
            show(self._heatmaps[channel])
            return
        height, width = ranking.image_shape or (0, 0)
        if ranking.preprocessing is None or height * width <= MAP_IN_GUI_PIXELS:
            show(ranking.heatmap(channel))
            return
        self.concept_view.clear_relevance()
        self.jobs.run("heatmap", lambda token, progress: ranking.heatmap(channel), show,
                      lambda failure: self.absorbed_label.setText(failure.message))

    def _still_shown(self, ranking, channel: int) -> bool:
        """Whether ``channel`` of ``ranking`` is the concept shown now."""
        return self.ranking is ranking and self.concept_list.current_channel() == channel

    def open_lower_concept(self, channel: int) -> int | None:
        """Open ``channel`` of the layer below (from the attribution graph): its layer is chosen and its concepts
        found, with this one among them and shown."""
        feeding = self.feeding_section.feeding
        if feeding is None or feeding.lower_layer is None or not self.controls.select_layer(feeding.lower_layer):
            return None
        self._include = int(channel)
        return self.run()

    def _load_feeding(self, channel: int) -> None:
        self.feeding_section.load(self.context, self.ranking, channel, self.top_spin.value(), self.saved is not None)

    def _load_references(self) -> None:
        ranking, context = self.ranking, self.context
        channel = self.concept_list.current_channel()
        if ranking is None or context is None or channel is None:
            return
        self.reference_section.load(ranking.model_spec or context.model.spec, ranking.layer, channel,
                                    lambda: self._still_shown(ranking, channel))


__all__ = ["ConceptsPanel", "FIND_FIRST", "HEATMAPS_KEPT", "MAP_IN_GUI_PIXELS", "NO_REFERENCES"]
