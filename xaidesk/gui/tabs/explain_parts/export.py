"""The exports every result of an explaining tab has: overlay, maps, settings record, clipboard.

:class:`ResultExportMixin` writes the shown result (``current_entry``); the tab supplies the
overlay (``overlay_image``), what its input was (``_input_record``, ``_input_path``) and, if it
has any, how the result came about (``_result_record``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QGuiApplication, QImage


class ResultExportMixin:
    """``export_*``, ``settings_record``, ``copy_overlay`` and ``suggested_export_name``."""

    #: Fields a settings record starts with (after the version), e.g. ``{"modality": "audio"}``.
    RECORD_KIND: dict = {}
    #: File stem of exports of a result whose input has no file.
    EXPORT_STEM = "input"

    def has_result(self) -> bool:
        return self.current_entry is not None

    def export_overlay(self, path) -> Path:
        from xaidesk.core.io import save_png_atomic

        return save_png_atomic(path, self.overlay_image())

    def export_settings(self, path) -> Path:
        from xaidesk.core.io import write_json_atomic

        return write_json_atomic(path, self.settings_record())

    def copy_overlay(self) -> None:
        """Put the current overlay on the clipboard as an image."""
        rgb = np.ascontiguousarray(self.overlay_image())
        height, width = rgb.shape[:2]
        qimage = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
        QGuiApplication.clipboard().setImage(qimage)
        self.status_message.emit("Overlay copied to the clipboard.")

    def export_relevance(self, path) -> Path:
        """Write the relevance map; a result with uncertainty also gets ``uncertainty.npy`` beside it
        (:func:`xaidesk.export.images.write_relevance`, as ``xaidesk explain`` writes them).

        Pixels the model never saw (cut off by a centre crop) are NaN in the file."""
        from xaidesk.export.images import write_relevance

        return write_relevance(path, self.current_entry.explanation)

    def export_uncertainty(self, path) -> Path | None:
        """Write the current result's uncertainty map (``None`` when it has none)."""
        from xaidesk.export.images import write_uncertainty

        return write_uncertainty(path, self.current_entry.explanation) if self.current_entry else None

    def settings_record(self) -> dict:
        """Everything needed to reproduce the current result, as JSON-ready data."""
        import xaidesk

        from ...overlays import samples_done

        entry = self.current_entry
        explanation = entry.explanation
        done, total = samples_done(explanation)
        view = self._relevance_view()
        return {
            "xaidesk_version": xaidesk.__version__,
            **self.RECORD_KIND,
            "partial": not explanation.complete,
            "samples_done": done,
            "samples_total": total,
            **self._result_record(entry),
            "title": entry.title,
            "model": entry.model_spec,
            "model_name": entry.model_name,
            **self._input_record(entry),
            "method": explanation.method,
            "params": dict(explanation.params),
            "target": explanation.target.to_dict(),
            "display": {"colormap": view.colormap_name(), "opacity": view.opacity(), "levels": list(view.levels())},
            "summary": explanation.summary(),
        }

    def _result_record(self, entry) -> dict:
        """Settings-record fields about how the result came about (after the sample counts)."""
        return {}

    def suggested_export_name(self, suffix: str) -> str:
        entry = self.current_entry
        path = self._input_path(entry) if entry else None
        stem = path.stem if path else self.EXPORT_STEM
        method = entry.explanation.method.replace(".", "_") if entry else "explanation"
        return f"{stem}_{method}{suffix}"
