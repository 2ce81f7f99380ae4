"""The Concepts panel's reference samples: RelMax or ActMax crops of the concept shown, from the newest
reference run of the model and layer, or how to make one."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from .. import concept_jobs
from ..concept_jobs import ACTMAX, RELMAX
from ..views.concept_views import ReferenceStrip

#: How to get reference samples when none exist for the model and layer.
NO_REFERENCES = ("None yet for this model and layer. Make them once from a folder of images: Dataset tab ▸ "
                 "Reference samples…, or xaidesk concepts references FOLDER --model {spec} --layer {layer} --out RUN")


def concept_name(channel: int) -> str:
    """How a concept (a channel) is named in the panel."""
    return f"Concept {channel}"


class ReferenceSection(QWidget):
    """A heading, the kind of reference samples (RelMax or ActMax) and the strip of crops.

    Parameters
    ----------
    jobs
        The panel's :class:`~xaidesk.gui.widgets.panel_jobs.PanelJobs`.
    changed
        Called when the kind of samples changes (the panel loads them again for the concept shown).
    """

    def __init__(self, jobs, changed: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        heading = QLabel("Reference samples")
        heading.setObjectName("viewTitle")
        self.kind = QComboBox()
        self.kind.addItem("Most relevant (RelMax)", RELMAX)
        self.kind.addItem("Most active (ActMax)", ACTMAX)
        self.kind.setToolTip("RelMax: the samples where the concept mattered most for the prediction. "
                             "ActMax: the samples where the channel fired most strongly.")
        self.kind.currentIndexChanged.connect(lambda _index: changed())
        self.strip = ReferenceStrip()
        layout.addWidget(heading)
        layout.addWidget(self.kind)
        layout.addWidget(self.strip)

    def load(self, spec: str, layer: str, channel: int, still_shown: Callable[[], bool]) -> None:
        """Look for the reference samples of ``channel`` (in the runner) and show them while ``still_shown()``."""
        kind = self.kind.currentData()
        self.strip.set_message("Looking for reference samples…")

        def job(token, progress):
            runs = concept_jobs.reference_runs(spec, layer)
            if not runs:
                return None
            return concept_jobs.reference_crops(runs[0], channel, kind, token=token, progress=progress)

        def done(found) -> None:
            if not still_shown():
                return
            if found is None:
                self.strip.set_message(NO_REFERENCES.format(spec=spec, layer=layer))
                return
            what = "most relevant" if kind == RELMAX else "most active"
            partial = "" if found.finished else " (a run not finished yet)"
            self.strip.set_crops(
                found.crops, f"Where {concept_name(channel)} was {what} among {found.images} images of "
                             f"{found.source}{partial}." if found.crops else
                f"The reference run of {found.source} has no samples for {concept_name(channel)}.")

        def failed(failure) -> None:
            self.strip.set_message(failure.message)

        self.jobs.run("references", job, done, failed)


__all__ = ["NO_REFERENCES", "ReferenceSection", "concept_name"]
