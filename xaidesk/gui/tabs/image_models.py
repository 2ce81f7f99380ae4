"""How the Images tab opens models: the Open model dialog, loading by spec, the image preparation
(the model's own crop or the whole image) and the notes under the model picker.

:class:`ImageModelsMixin` is part of :class:`~xaidesk.gui.tabs.images_tab.ImagesTab`.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFormLayout

from .. import image_jobs
from ..image_jobs import PREPARATION_MODEL, PREPARATION_WHOLE, prepared_model
from ..explain_records import first_sentence

OPEN_MODEL_ENTRY = "__open_model__"
MODEL_FILE_ENTRY = "__file__"


def first_clause(note: str) -> str:
    """``note`` up to its first sentence or clause end ("." or ";"), for a short line."""
    ends = [i for i in (note.find(". "), note.find("; ")) if i > 0]
    return note[: min(ends)].rstrip(".") + "." if ends else note


class ImageModelsMixin:
    """Opening, preparing and describing the Images tab's model."""

    def _build_preparation_row(self) -> QFormLayout:
        """The "Preparation" row of the model box (``preparation_combo``); the notes get a "More…" link."""
        self.model_notes.setTextFormat(Qt.TextFormat.RichText)
        self.model_notes.linkActivated.connect(lambda link: self._expand_model_notes(link == "more"))
        self.preparation_combo = QComboBox()
        self.preparation_combo.addItem("Model's own (may crop the border)", PREPARATION_MODEL)
        self.preparation_combo.addItem("Whole image (no crop)", PREPARATION_WHOLE)
        self.preparation_combo.setToolTip(
            "How the opened image is fitted to the model's input. The model's own preparation may cut "
            "off the border (a centre crop): those pixels are not seen and stay uncoloured. "
            "\"Whole image\" resizes the whole picture instead, so every pixel is explained "
            "(the picture may be squeezed)."
        )
        self.preparation_combo.activated.connect(self._on_preparation_changed)
        preparation_row = QFormLayout()
        preparation_row.addRow("Preparation", self.preparation_combo)
        return preparation_row

    def _fill_model_combo(self) -> None:
        """The model picker: built-in models, the model in use, and one "Open model (file or folder)…" entry."""
        super()._fill_model_combo()
        self.model_combo.blockSignals(True)
        index = self.model_combo.findData(MODEL_FILE_ENTRY)
        if index >= 0:
            self.model_combo.removeItem(index)
        self.model_combo.setItemData(
            self.model_combo.findData(OPEN_MODEL_ENTRY),
            "Your own model: an ONNX file, a Hugging Face or timm folder, PyTorch weights, TorchScript, a saved "
            "model or a quick classifier.", Qt.ItemDataRole.ToolTipRole)
        self.model_combo.blockSignals(False)

    def _choose_builtin_model(self) -> None:
        self.open_model_dialog()

    def choose_model_file(self) -> None:
        """Open a model of any kind (the Model menu's entries and the picker's "Open model (file or folder)…")."""
        self.open_model_dialog()

    choose_torchvision_model = choose_model_file

    def open_model_dialog(self):
        """Let the person choose, check and open a model (:class:`OpenModelDialog`); returns its choice."""
        from ..widgets.open_model_dialog import OpenModelDialog

        dialog = OpenModelDialog(self._last_folder(), modality="image", allow_untrusted=True, parent=self)
        try:
            choice = dialog.choice() if dialog.exec() else None
        finally:
            dialog.deleteLater()
        if choice is not None:
            self._remember_folder(choice.path)
            self.use_opened_model(choice)
        return choice

    def use_opened_model(self, choice) -> None:
        """Use what the Open model dialog opened: its loaded model, or (a pickle) load it after asking for trust."""
        if choice.model is None:
            self.load_model(choice.spec, labels=choice.labels, preprocessing=choice.preprocessing)
            return
        if self._jobs.get("model") is not None:
            self.runner.cancel(channel=self.channel("model"))
        self._pending_model_spec = choice.spec
        self._pending_model_options = {}
        self._waiting_sample = None
        self._model_ready(choice.model)

    def load_model(self, spec: str, trust: bool = False, labels=None, preprocessing=None) -> int:
        """Load a model in the background; the current one stays until it is ready.

        ``labels`` (a class-names file) and ``preprocessing`` (set by hand) are applied as
        :func:`xaidesk.models.load_model` does, also when the load waits for the person's trust.
        """
        self.status_message.emit(f"Loading model {spec} …")
        self._pending_model_spec = spec
        self._pending_model_options = {"labels": labels, "preprocessing": preprocessing}
        self._waiting_sample = None

        def job(token, progress):
            return image_jobs.load_image_model(spec, trust=trust, labels=labels, preprocessing=preprocessing)

        self._submit("model", job)
        self._update_enabled()
        return self._jobs["model"]

    def _load_trusted_model(self, spec: str) -> None:
        self.load_model(spec, trust=True, **self._pending_model_options)

    def model_record(self, model=None) -> dict:
        """How the model was opened, for settings and run records: spec, label file, preprocessing."""
        model = model if model is not None else self.model
        if model is None:
            return {}
        return {
            "model": model.spec,
            "label_file": getattr(model, "label_file", None),
            "preprocessing_set_by_hand": bool(getattr(model, "preprocessing_set_by_hand", False)),
            "preprocessing": model.preprocessing.to_dict(),
        }

    def set_model(self, model) -> None:
        """Use an already loaded model (a ``LoadedModel``)."""
        self._model_ready(model)

    def _model_ready(self, model) -> None:
        self._base_model = model
        self._use_model(prepared_model(model, self.preparation()))
        self._open_waiting_sample()

    # ------------------------------------------------------------ preparation
    def preparation(self) -> str:
        """The chosen image preparation (``PREPARATION_MODEL`` or ``PREPARATION_WHOLE``)."""
        return self.preparation_combo.currentData() or PREPARATION_MODEL

    def set_preparation(self, preparation: str) -> None:
        """Choose the image preparation; the model then predicts again."""
        self.preparation_combo.setCurrentIndex(max(0, self.preparation_combo.findData(preparation)))
        self._on_preparation_changed()

    def _on_preparation_changed(self, *_args) -> None:
        if self._base_model is not None:
            model = prepared_model(self._base_model, self.preparation())
            if model is not self.model:
                self._use_model(model)

    def _show_preparation(self, base_model) -> None:
        crops = base_model is not None and base_model.preprocessing.resize is not None
        self.preparation_combo.setEnabled(crops)
        self.preparation_combo.setItemText(
            0, "Model's own (centre crop)" if crops else "Whole image (model's own)")

    def _use_model(self, model) -> None:
        if self.is_running():
            self.cancel_explanation()
        if self.current_entry is not None and self.current_entry.model is not model:
            self._clear_result_view()
        self.model = model
        self._show_preparation(self._base_model)
        if self.catalog is not None:
            self._fill_model_combo()
        self._show_model_notes(model, self._model_description(model), list(getattr(model, "notes", []) or []))
        self._fill_classes(model)
        self._reset_layer_choices()
        self._on_method_changed()
        self._list_layers()
        self.status_message.emit(self._model_ready_text(model))
        self.model_loaded.emit(model.spec)
        self._predict()

    # ------------------------------------------------------------ notes
    def _show_model_notes(self, model, description: str, notes: list[str]) -> None:
        """Under the model picker: what the model is, its classes and input (the preprocessing said once),
        and its notes cut to their first clause; "More…" shows them whole (all of it is the tooltip too)."""
        from xaidesk.models.base import PREPROCESSING, note_kind

        pre = model.preprocessing
        crop = (f"; the shorter side is resized to {pre.resize} pixels and the centre cut out: the border is "
                "not seen") if pre.resize is not None else ""
        by_hand = " Preprocessing set by hand." if getattr(model, "preprocessing_set_by_hand", False) else ""
        shape = f"{model.num_classes} classes, input {pre.size[1]}x{pre.size[0]}{crop}.{by_hand}"
        short = [first_sentence(description), shape] if description else [shape]
        whole = [description, shape] if description else [shape]
        for note in notes:
            kind, note = note_kind(note), note.strip()
            if not note or kind == PREPROCESSING:
                if note not in shape:
                    whole.append(note)  # what the shape line says already, with its source: under "More…"
                continue
            short.append(first_clause(note))
            whole.append(note)
        self._model_notes_text = (short, [line for line in whole if line])
        self.model_notes.setToolTip("\n".join(self._model_notes_text[1]))
        self._expand_model_notes(False)

    def _expand_model_notes(self, expanded: bool) -> None:
        short, whole = getattr(self, "_model_notes_text", ([], []))
        lines = whole if expanded else short
        html = "<br>".join(escape(line, quote=False) for line in lines if line)
        if whole != short:
            html += ' <a href="less">Less</a>' if expanded else ' <a href="more">More…</a>'
        self.model_notes.setText(html)
