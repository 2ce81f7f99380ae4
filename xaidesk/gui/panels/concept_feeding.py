"""The Concepts panel's "Fed by" page: the concepts of the layer below that feed the concept shown (its
attribution graph), found in one pass for all the concepts listed, or read from saved concepts."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .. import concept_jobs
from ..views.concept_views import ShareList
from .concept_references import concept_name


class FeedingSection(QWidget):
    """A sentence and the list of the concepts below that feed the concept shown (clicking one is the panel's).

    Parameters
    ----------
    jobs
        The panel's :class:`~xaidesk.gui.widgets.panel_jobs.PanelJobs`.
    ranking_source
        Returns the :class:`~xaidesk.gui.concept_jobs.ConceptRanking` shown, or None.
    current_channel
        Returns the channel of the concept shown, or None.
    """

    def __init__(self, jobs, ranking_source: Callable[[], object], current_channel: Callable[[], int | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self._ranking_source = ranking_source
        self._current_channel = current_channel
        #: What feeds each concept of the ranking shown (``{channel: FeedingConcepts}``), once found.
        self.found: dict[int, concept_jobs.FeedingConcepts] = {}
        #: What feeds the concept shown (None when unknown).
        self.feeding: concept_jobs.FeedingConcepts | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setObjectName("notes")
        self.share_list = ShareList("Concept below", "Share")
        self.share_list.setToolTip("The concepts of the layer below that pass relevance to the chosen concept. "
                             "Click one to open it in its own layer.")
        layout.addWidget(self.label)
        layout.addWidget(self.share_list, 1)

    def clear(self) -> None:
        """Forget what was found and show nothing."""
        self.feeding, self.found = None, {}
        self.share_list.set_items([])
        self.label.setText("")

    def load(self, context, ranking, channel: int, top: int, saved: bool) -> None:
        """Show what feeds ``channel`` of ``ranking``: known already (or ``saved``: only what was saved), else
        found in the runner for every concept of the ranking at once."""
        layer = ranking.layer
        self.share_list.set_items([])
        if channel in self.found or saved:
            self.show_feeding(channel, self.found.get(channel))
            return
        self.label.setText("Finding the concepts below that feed them…")
        channels = [c.channel for c in ranking.concepts]

        def job(token, progress):
            return concept_jobs.feeding_concepts(context, layer, channels, top, token=token, progress=progress)

        def done(found) -> None:
            if self._ranking_source() is not ranking:
                return
            self.found = {feeding.channel: feeding for feeding in found}
            current = self._current_channel()
            if current is not None:
                self.show_feeding(current, self.found.get(current))

        def failed(failure) -> None:
            self.label.setText(failure.message)

        self.jobs.run("graph", job, done, failed)

    def show_feeding(self, channel: int, feeding) -> None:
        """Show ``feeding`` (None: the saved concepts do not say) for ``channel``."""
        self.feeding = feeding
        if feeding is None:
            self.share_list.set_items([])
            self.label.setText(f"The saved concepts do not say what feeds {concept_name(channel)}.")
            return
        if feeding.lower_layer is None:
            self.label.setText(feeding.note)
            self.share_list.set_items([])
            return
        self.label.setText(f"Concepts of layer {feeding.lower_layer} passing the most relevance to "
                           f"{concept_name(channel)}:")
        self.share_list.set_items([(c, s, concept_name(c)) for c, s in feeding.items])


__all__ = ["FeedingSection"]
