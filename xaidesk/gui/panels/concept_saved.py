"""The Concepts panel's "Open saved…": the concepts ``xaidesk concepts image`` wrote, shown without computing
them again, over their own image (opened in the tab when it is not the one shown)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from .. import concept_saved_jobs
from ..concept_jobs import ConceptContext
from ..formatting import class_text
from ..widgets import error_dialog
from .concept_typicality import remember, remembered

#: Settings key: the folder the last saved concepts were opened from.
SAVED_SETTING = "concepts/last_saved_folder"


def same_path(first, second) -> bool:
    """Whether two paths name the same file (False when one is None or cannot be resolved)."""
    try:
        return first is not None and second is not None and Path(first).resolve() == Path(second).resolve()
    except OSError:
        return False


class SavedConceptsMixin:
    """Opening saved concepts, for :class:`~xaidesk.gui.panels.concepts_panel.ConceptsPanel`.

    The panel holds the concepts shown (``saved``) and those waiting for their image to open (``_pending``);
    it calls :meth:`_pending_opened` and :meth:`_show_saved` when the tab's image changes, and
    :meth:`_warn_model` when its model does.
    """

    saved: concept_saved_jobs.SavedConcepts | None
    _pending: concept_saved_jobs.SavedConcepts | None

    def open_saved(self, folder=None) -> int | None:
        """Show the concepts ``xaidesk concepts image`` saved in ``folder`` (asked for when None), without
        computing them; their input image is opened in the tab when it is not the one shown. A folder that is
        not such a folder gets an error dialog and changes nothing."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Open saved concepts (a folder of xaidesk concepts image)",
                                                      remembered(self.settings, SAVED_SETTING))
            if not folder:
                return None
        remember(self.settings, SAVED_SETTING, str(Path(folder).parent))

        def job(token, progress):
            return concept_saved_jobs.open_saved_concepts(folder, token=token, progress=progress)

        def failed(failure) -> None:
            error_dialog.show_error(self, "Could not open the saved concepts", failure)

        return self.jobs.run("saved", job, self._saved_ready, failed)

    def _saved_ready(self, saved) -> None:
        context = self._source()
        if saved.input_path is not None and context is not None and same_path(saved.input_path, context.image_path):
            self._show_saved(saved, context)
        elif saved.input_path is not None and self._open_image is not None:
            self.jobs.cancel()
            self._pending = saved
            self.summary_label.setVisible(True)
            self.summary_label.setText(f"Opening {saved.input_path.name}, the image these concepts were made for…")
            self._open_image(saved.input_path)
        elif context is not None and tuple(context.pixels.shape[:2]) == saved.image_shape:
            self._show_saved(saved, context, f"Their image {saved.meta.get('input') or '(not named)'} is not found; "
                                             "they are shown over the current image, which has the same size.")
        else:
            height, width = saved.image_shape
            error_dialog.show_error(self, "Could not show the saved concepts", (
                f"The image these concepts were made for ({saved.meta.get('input') or 'not named'}) is not found, "
                f"and the image shown is not {width}×{height} pixels like them. Open that image, then open the "
                "saved concepts again."))

    def _pending_opened(self, context: ConceptContext) -> bool:
        pending = self._pending
        return (same_path(pending.input_path, context.image_path)
                and tuple(context.pixels.shape[:2]) == pending.image_shape)

    def _show_saved(self, saved, context: ConceptContext, note: str = "") -> None:
        self.jobs.cancel()
        self._clear("")
        self.saved = saved
        self.feeding_section.found = dict(saved.feeding)
        ranking = saved.ranking
        meta = saved.meta
        self.controls.select_layer(ranking.layer)
        self._set_ranking(ranking, (
            f"Saved concepts from {saved.folder.name}: made with the model {meta.get('model') or '(not named)'}, "
            f"layer {ranking.layer}, for {class_text(ranking.target, ranking.target_label)}, with "
            f"{ranking.method_title}. " + note).strip())
        self.summary_label.setToolTip(str(saved.folder))
        self._warn_model(saved, context)
        self.concept_list.select_channel(ranking.concepts[0].channel)

    def _warn_model(self, saved, context: ConceptContext) -> None:
        spec = str(getattr(context.model, "spec", ""))
        made_with = str(saved.meta.get("model") or "")
        differs = bool(made_with) and spec != made_with
        self.warning_label.setText(f"The tab's model is {spec}, not {made_with}: these saved concepts do not "
                                   "describe it. Find concepts computes them for the tab's model." if differs else "")
        self.warning_label.setVisible(differs)


__all__ = ["SAVED_SETTING", "SavedConceptsMixin", "same_path"]
