"""The Concepts panel's Typicality page: "Compare with prototypes…" and how typical the reasoning behind the
concepts shown is for a class's prototypes (PCX)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QFileDialog, QWidget

from .. import concept_saved_jobs
from ..views.concept_views import TypicalityView
from ..widgets import error_dialog

#: Settings key: the prototypes folder compared with last.
PROTOTYPES_SETTING = "concepts/last_prototypes_folder"


def remembered(settings, key: str) -> str:
    """The folder remembered under ``key`` ("" without settings or a folder)."""
    return str(settings.value(key, "") or "") if settings is not None else ""


def remember(settings, key: str, value: str) -> None:
    """Remember ``value`` under ``key`` (nothing without settings)."""
    if settings is not None:
        settings.setValue(key, value)


class TypicalitySection(TypicalityView):
    """A :class:`TypicalityView` whose button chooses a prototypes folder (read in the panel's jobs), compared
    with the concepts shown whenever they change.

    Parameters
    ----------
    jobs
        The panel's :class:`~xaidesk.gui.widgets.panel_jobs.PanelJobs`.
    ranking_source
        Returns the :class:`~xaidesk.gui.concept_jobs.ConceptRanking` shown, or None.
    settings
        The application's settings (remembers the folder chosen), or None.
    """

    def __init__(self, jobs, ranking_source: Callable[[], object], settings=None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self._ranking_source = ranking_source
        self.settings = settings
        self.prototypes = None
        self.folder: Path | None = None
        self.choose_button.clicked.connect(lambda _checked=False: self.choose())

    def choose(self, folder=None) -> int | None:
        """Compare the concepts shown with the prototypes in ``folder`` (asked for when None; the last one is
        remembered). A folder without prototypes gets an error dialog and changes nothing."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Prototypes of a class (a folder of Prototypes…)",
                                                      remembered(self.settings, PROTOTYPES_SETTING))
            if not folder:
                return None

        def job(token, progress):
            return concept_saved_jobs.open_prototypes(folder, token=token, progress=progress)

        def done(prototypes) -> None:
            self.prototypes, self.folder = prototypes, Path(folder)
            remember(self.settings, PROTOTYPES_SETTING, str(folder))
            self.update_result()

        return self.jobs.run("prototypes", job, done,
                             lambda failure: error_dialog.show_error(self, "Could not open the prototypes", failure))

    def update_result(self) -> None:
        """Compare the concepts shown with the prototypes chosen, or say what is missing."""
        prototypes = self.prototypes
        if prototypes is None:
            self.set_source("")
            self.set_message("Choose the prototypes of a class (Dataset tab ▸ Prototypes…) to see whether this "
                             "prediction is decided the way the class usually is.")
            return
        settings = prototypes.settings
        described = ", ".join(part for part in (
            f"class {settings['class_index']}" if settings.get("class_index") is not None else "",
            f"layer {settings['layer']}" if settings.get("layer") is not None else "",
            f"{prototypes.count} prototype{'s' if prototypes.count != 1 else ''}") if part)
        self.set_source(f"{self.folder.name}: {described}.")
        self.source_label.setToolTip(f"Prototypes in {self.folder}: {described}.")
        ranking = self._ranking_source()
        if ranking is None:
            self.set_message("Find or open concepts to compare them with the prototypes.")
            return
        try:
            result = concept_saved_jobs.compare_with_prototypes(prototypes, ranking)
        except Exception as error:  # noqa: BLE001 - an InputError of the comparison is said in place
            self.set_message(str(error))
            return
        self.show_result(result, concept_saved_jobs.UNUSUAL_PERCENTILE)


__all__ = ["PROTOTYPES_SETTING", "TypicalitySection", "remember", "remembered"]
