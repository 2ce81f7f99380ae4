"""The Images tab's Concepts panel: which learned features (channels of a layer) a prediction used, and where.

The panel asks its tab for a :class:`~xaidesk.gui.concept_jobs.ConceptContext` (model, image, class, method)
through a callable, and computes in the window's runner (:class:`~xaidesk.gui.widgets.panel_jobs.PanelJobs`):
the top concepts of the chosen layer with their conditional heatmaps (one batched pass), for the chosen
concept the concepts of the layer below that feed it, and its reference samples when a reference run
exists for the model and layer.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .. import concept_jobs
from ..concept_jobs import ACTMAX, DEFAULT_TOP, RELMAX, ConceptContext
from ..formatting import class_text, format_duration
from ..views.concept_views import ReferenceStrip, ShareList, share_text
from ..views.image_views import HeatmapView
from ..widgets import error_dialog
from ..widgets.panel_jobs import PanelJobs, job_controls

#: How to get reference samples when none exist for the model and layer.
NO_REFERENCES = ("None yet for this model and layer. Make them once from a folder of images: Dataset tab ▸ "
                 "Reference samples…, or xaidesk concepts references FOLDER --model {spec} --layer {layer}")
#: What the panel says before the first run.
FIND_FIRST = "Press Find concepts to split the explanation into the concepts of the chosen layer."


def _concept_name(channel: int) -> str:
    return f"Concept {channel}"


def _same_input(first: ConceptContext | None, second: ConceptContext | None) -> bool:
    """Whether two contexts explain the same class of the same image with the same model."""
    return (first is not None and second is not None and first.model is second.model
            and first.pixels is second.pixels and first.target == second.target)


class ConceptsPanel(QWidget):
    """Top concepts with shares, a concept's heatmap over the input, its reference samples and the concepts
    below that feed it, for one layer chosen in a picker.

    Parameters
    ----------
    runner
        The window's :class:`~xaidesk.gui.runner.Runner`.
    context_source
        Returns the tab's current :class:`ConceptContext`, or None while it has no model or image.
    """

    def __init__(self, runner, context_source: Callable[[], ConceptContext | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = context_source
        self.jobs = PanelJobs(runner, "image.concepts", self)
        self.context: ConceptContext | None = None
        self.setup: concept_jobs.ConceptSetup | None = None
        self.ranking: concept_jobs.ConceptRanking | None = None
        self.feeding: concept_jobs.FeedingConcepts | None = None
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

        self.controls = QWidget()
        controls = QHBoxLayout(self.controls)
        controls.setContentsMargins(0, 0, 0, 0)
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The layer whose channels are read as concepts; later layers hold more "
                                    "composite concepts.")
        self.layer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(12)
        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.top_spin = QSpinBox()
        self.top_spin.setRange(1, 64)
        self.top_spin.setValue(DEFAULT_TOP)
        self.top_spin.setToolTip("How many concepts to list (their heatmaps are computed together).")
        controls.addWidget(QLabel("Layer"))
        controls.addWidget(self.layer_combo, 1)
        controls.addWidget(QLabel("Top"))
        controls.addWidget(self.top_spin)
        job_row, self.run_button = job_controls(self.jobs, "Find concepts", self.run)
        self.run_button.setToolTip("Split the explanation of the chosen class into the top concepts of the layer.")
        self.cancel_button = next(b for b in job_row.findChildren(QPushButton) if b.text() == "Cancel")
        self.job_status = job_row.findChildren(QLabel)[0]
        self.summary_label = QLabel(FIND_FIRST)
        self.summary_label.setWordWrap(True)
        self.summary_label.setObjectName("notes")

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
        left.addWidget(self._build_feeding())
        left.setSizes([220, 160])
        left.setMinimumWidth(210)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.concept_view, 1)
        right_layout.addWidget(self.absorbed_label)
        right_layout.addWidget(self._build_references())
        right.setMinimumWidth(190)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for index, widget in enumerate((left, right)):
            self.splitter.addWidget(widget)
            self.splitter.setCollapsible(index, False)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)

        layout.addWidget(title)
        layout.addWidget(self.refusal_label)
        layout.addWidget(self.controls)
        layout.addWidget(job_row)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.splitter, 1)

    def _build_references(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 4, 0, 0)
        heading = QLabel("Reference samples")
        heading.setObjectName("viewTitle")
        self.reference_kind = QComboBox()
        self.reference_kind.addItem("Most relevant (RelMax)", RELMAX)
        self.reference_kind.addItem("Most active (ActMax)", ACTMAX)
        self.reference_kind.setToolTip("RelMax: the samples where the concept mattered most for the prediction. "
                                       "ActMax: the samples where the channel fired most strongly.")
        self.reference_kind.currentIndexChanged.connect(lambda _index: self._load_references())
        self.references = ReferenceStrip()
        layout.addWidget(heading)
        layout.addWidget(self.reference_kind)
        layout.addWidget(self.references)
        return page

    def _build_feeding(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 4, 0, 0)
        heading = QLabel("Fed by (the layer below)")
        heading.setObjectName("viewTitle")
        self.feeding_label = QLabel("")
        self.feeding_label.setWordWrap(True)
        self.feeding_label.setObjectName("notes")
        self.feeding_list = ShareList("Concept below", "Share")
        self.feeding_list.setToolTip("The concepts of the layer below that pass relevance to the chosen concept. "
                                     "Click one to open it in its own layer.")
        self.feeding_list.concept_chosen.connect(self.open_lower_concept)
        layout.addWidget(heading)
        layout.addWidget(self.feeding_label)
        layout.addWidget(self.feeding_list, 1)
        return page

    # ------------------------------------------------------------------ context
    def refresh(self, *_args) -> None:
        """Read the tab's context again: a new model fills the layer picker (or refuses, in one sentence); a new
        model, image or class clears the concepts shown."""
        context = self._source()
        old = self.context
        self.context = context
        if context is None:
            self._set_available(False, "")
            self._clear("Open an image and a model to find the concepts it uses.")
            return
        if old is None or old.model is not context.model:
            self._fill_layers(context.model)
        if self.setup is not None and self.setup.refusal:
            self._set_available(False, self.setup.refusal)
            self._clear("")
            return
        self._set_available(True, "")
        if not _same_input(old, context):
            self.jobs.cancel()
            self._clear(FIND_FIRST)

    def _fill_layers(self, model) -> None:
        self.setup = concept_jobs.concept_setup(model)
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for layer in self.setup.layers:
            self.layer_combo.addItem(layer.title, layer.name)
        self.layer_combo.setCurrentIndex(max(0, self.layer_combo.findData(self.setup.default)))
        self.layer_combo.blockSignals(False)
        self.refusal_label.setToolTip(self.setup.details)

    def _set_available(self, available: bool, sentence: str) -> None:
        if not available:
            self.job_status.setText("")
        self.refusal_label.setText(sentence)
        self.refusal_label.setVisible(bool(sentence))
        for widget in (self.controls, self.run_button, self.splitter):
            widget.setEnabled(available)

    def _clear(self, message: str) -> None:
        self.ranking, self.feeding = None, None
        self.concept_list.set_items([])
        self.concept_view.clear_relevance()
        self.concept_view.set_title("Concept heatmap")
        self.absorbed_label.setText("")
        self.summary_label.setText(message)
        self.summary_label.setVisible(bool(message))
        self.feeding_list.set_items([])
        self.feeding_label.setText("")
        self.references.set_message("")

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
        self.summary_label.setVisible(True)
        self.summary_label.setText("Cancelled: " + ("the concepts shown are still those of the last run."
                                                    if self.ranking is not None else FIND_FIRST[0].lower() +
                                                    FIND_FIRST[1:]))

    def _ranking_ready(self, ranking, context: ConceptContext, include: int | None) -> None:
        if not _same_input(context, self.context):
            return
        self.ranking = ranking
        self.concept_list.set_items([(c.channel, c.share, _concept_name(c.channel)) for c in ranking.concepts])
        self.summary_label.setVisible(True)
        self.summary_label.setText(
            f"{len(ranking.concepts)} concepts of layer {ranking.layer_title} for "
            f"{class_text(ranking.target, ranking.target_label)}, with {ranking.method_title}, in "
            f"{format_duration(ranking.seconds)}.")
        self.concept_view.set_meaning_class(class_text(ranking.target, ranking.target_label), True)
        self.concept_list.select_channel(include if include is not None else ranking.concepts[0].channel)

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
        view.set_relevance(concept.heatmap)
        view.set_title(f"{_concept_name(channel)} of layer {ranking.layer} · {share_text(concept.share)}")
        self.absorbed_label.setText(f"Absorbed below the layer: {100 * concept.absorbed_share:.1f} % of its relevance")
        self._load_feeding(channel)
        self._load_references()

    def _load_feeding(self, channel: int) -> None:
        context, layer = self.context, self.ranking.layer
        self.feeding_list.set_items([])
        self.feeding_label.setText("Finding the concepts below that feed it…")
        top = self.top_spin.value()

        def job(token, progress):
            return concept_jobs.feeding_concepts(context, layer, channel, top, token=token, progress=progress)

        def done(feeding) -> None:
            if not self._still_shown(context, layer, channel):
                return
            self.feeding = feeding
            if feeding.lower_layer is None:
                self.feeding_label.setText(feeding.note)
                return
            self.feeding_label.setText(f"Concepts of layer {feeding.lower_layer} passing the most relevance to "
                                       f"{_concept_name(channel)}:")
            self.feeding_list.set_items([(c, s, _concept_name(c)) for c, s in feeding.items])

        def failed(failure) -> None:
            self.feeding_label.setText(failure.message)

        self.jobs.run("graph", job, done, failed)

    def _still_shown(self, context: ConceptContext, layer: str, channel: int) -> bool:
        """Whether ``channel`` of ``layer`` for ``context``'s input is the concept shown now."""
        return (_same_input(context, self.context) and self.ranking is not None and self.ranking.layer == layer
                and self.concept_list.current_channel() == channel)

    def open_lower_concept(self, channel: int) -> int | None:
        """Open ``channel`` of the layer below (from the attribution graph): its layer is chosen and its concepts
        found, with this one among them and shown."""
        feeding = self.feeding
        if feeding is None or feeding.lower_layer is None:
            return None
        self._include = int(channel)
        self.layer_combo.blockSignals(True)
        self.layer_combo.setCurrentIndex(self.layer_combo.findData(feeding.lower_layer))
        self.layer_combo.blockSignals(False)
        return self.run()

    def _load_references(self) -> None:
        ranking, context = self.ranking, self.context
        channel = self.concept_list.current_channel()
        if ranking is None or context is None or channel is None:
            return
        spec, layer, kind = context.model.spec, ranking.layer, self.reference_kind.currentData()
        self.references.set_message("Looking for reference samples…")

        def job(token, progress):
            runs = concept_jobs.reference_runs(spec, layer)
            if not runs:
                return None
            return concept_jobs.reference_crops(runs[0], channel, kind, token=token, progress=progress)

        def done(found) -> None:
            if not self._still_shown(context, layer, channel):
                return
            if found is None:
                self.references.set_message(NO_REFERENCES.format(spec=spec, layer=layer))
                return
            what = "most relevant" if kind == RELMAX else "most active"
            partial = "" if found.finished else " (a run not finished yet)"
            self.references.set_crops(
                found.crops, f"Where {_concept_name(channel)} was {what} among {found.images} images of "
                             f"{found.source}{partial}." if found.crops else
                f"The reference run of {found.source} has no samples for {_concept_name(channel)}.")

        def failed(failure) -> None:
            self.references.set_message(failure.message)

        self.jobs.run("references", job, done, failed)


__all__ = ["ConceptsPanel", "FIND_FIRST", "NO_REFERENCES"]
