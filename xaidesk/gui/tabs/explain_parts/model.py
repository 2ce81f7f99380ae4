"""The "Model" box of an explaining tab, and the demo samples that come with the models.

:class:`ModelPanelMixin` builds the model picker and its notes, fills it from the catalog,
loads what the person picks, describes a built-in model, lists the model's layers for layer
parameters, and opens a demo sample together with the model it belongs to.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QGroupBox, QLabel, QVBoxLayout

from ...catalog import Catalog, input_title, sample_title
from ...explain_records import first_sentence
from ...runner import JobFailure
from ...widgets import error_dialog
from ...widgets.param_form import AUTOMATIC_LAYER

#: ``Param.choices_from`` value of parameters that list the model's layers.
MODEL_LAYERS = "model_layers"


def name_samples_plainly(tab, catalog: Catalog) -> None:
    """Show the tab's sample picker entries by their plain titles ("Tone then clicks"), the model in the tooltip."""
    models = {str(path): model for model in catalog.models(tab.DATA_KIND) for path in model.get("samples", [])}
    for index in range(tab.sample_combo.count()):
        model = models.get(str(tab.sample_combo.itemData(index)))
        if model is not None:
            tab.sample_combo.setItemText(index, sample_title(tab.sample_combo.itemData(index), model["spec"]))
            tab.sample_combo.setItemData(index, model.get("title", model["spec"]), Qt.ItemDataRole.ToolTipRole)


class ModelPanelMixin:
    """The model picker (``model_combo``, ``model_notes``), the sample picker's entries and layer listing."""

    #: ``model_combo`` data of the built-in architecture entry and of the "Model file…" entry.
    BUILTIN_MODEL_ENTRY = ""
    BUILTIN_MODEL_TITLE = ""
    MODEL_FILE_ENTRY = ""
    #: What a built-in model's held-out accuracy was measured on ("images", "clips").
    ACCURACY_ON = "inputs"

    def _build_model_box(self) -> QGroupBox:
        """The "Model" group: ``model_combo`` and ``model_notes``."""
        model_box = QGroupBox("Model")
        model_layout = QVBoxLayout(model_box)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The network whose decision is explained.")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(16)
        self.model_combo.addItem("Loading…")
        self.model_combo.activated.connect(self._on_model_combo_activated)
        self.model_notes = QLabel("")
        self.model_notes.setWordWrap(True)
        self.model_notes.setObjectName("notes")
        model_layout.addWidget(self.model_combo)
        model_layout.addWidget(self.model_notes)
        return model_box

    def _build_sample_combo(self, tooltip: str) -> QComboBox:
        """The "Samples…" picker of the demo models' sample inputs (filled by :meth:`set_catalog`)."""
        combo = QComboBox()
        combo.setToolTip(tooltip)
        combo.addItem("Samples…")
        combo.activated.connect(self._on_sample_chosen)
        return combo

    # ------------------------------------------------------------ catalog
    def set_catalog(self, catalog: Catalog) -> None:
        """Fill the model, sample and method pickers."""
        self.catalog = catalog
        self.device_picker.set_devices(catalog.devices)
        self._fill_model_combo()
        self.sample_combo.clear()
        self.sample_combo.addItem("Samples…")
        for model in catalog.models(self.DATA_KIND):
            for path in model.get("samples", []):
                self.sample_combo.addItem(f"{Path(path).stem} ({model.get('title', model['spec'])})", str(path))
        self.sample_combo.setEnabled(self.sample_combo.count() > 1)
        self._fill_method_combo()
        self._update_enabled()
        name_samples_plainly(self, catalog)

    def demo_models(self) -> list[dict]:
        """The catalog's built-in models of this tab's kind."""
        return self.catalog.models(self.DATA_KIND) if self.catalog else []

    def _fill_model_combo(self) -> None:
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for model in self.demo_models():
            self.model_combo.addItem(model.get("title", model["spec"]), model["spec"])
            index = self.model_combo.count() - 1
            self.model_combo.setItemData(index, model.get("description", ""), Qt.ItemDataRole.ToolTipRole)
        if self.model is not None and self.model_combo.findData(self.model.spec) < 0:
            self.model_combo.addItem(self.model.name, self.model.spec)
        self.model_combo.insertSeparator(self.model_combo.count())
        self.model_combo.addItem(self.BUILTIN_MODEL_TITLE, self.BUILTIN_MODEL_ENTRY)
        self.model_combo.addItem("Model file…", self.MODEL_FILE_ENTRY)
        self._select_model_in_combo()
        self.model_combo.blockSignals(False)

    def _select_model_in_combo(self) -> None:
        spec = self.model.spec if self.model is not None else None
        index = self.model_combo.findData(spec) if spec else -1
        self.model_combo.setCurrentIndex(index)

    def _on_model_combo_activated(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if data == self.BUILTIN_MODEL_ENTRY:
            self._select_model_in_combo()
            self._choose_builtin_model()
        elif data == self.MODEL_FILE_ENTRY:
            self._select_model_in_combo()
            self.choose_model_file()
        elif data and (self.model is None or data != self.model.spec):
            self.load_model(data)

    def _load_trusted_model(self, spec: str) -> None:
        self.load_model(spec, trust=True)

    def _model_failed(self, failure: JobFailure) -> None:
        if type(failure.error).__name__ == "UntrustedModelError":
            spec = self._pending_model_spec
            trusted = error_dialog.confirm(
                self,
                "Run code from this model file?",
                "This file holds a whole pickled model, not only its weights. "
                "Loading it runs code stored inside the file, which could do anything a program can do "
                "on this computer.",
                "Only continue if you trust the source of the file. " + failure.message,
                yes_text="Load and run it",
            )
            if trusted and spec:
                self._load_trusted_model(spec)
                return
            self._select_model_in_combo()
            self.status_message.emit("Model not loaded.")
            return
        self._select_model_in_combo()
        self.status_message.emit("The model could not be loaded.")
        error_dialog.show_error(self, "Could not load the model", failure)

    def _model_description(self, model) -> str:
        """A built-in model's description, with its held-out accuracy when known ("" for other models)."""
        description = ""
        for builtin in self.demo_models():
            if builtin["spec"] == model.spec:
                description = builtin.get("description", "")
                accuracy = builtin.get("accuracy")
                if isinstance(accuracy, dict):
                    accuracy = accuracy.get("held_out", accuracy.get("test"))
                if isinstance(accuracy, (int, float)):
                    description = (first_sentence(description)
                                   + f" Accuracy on held-out {self.ACCURACY_ON}: {100 * accuracy:.1f} %.")
        return description

    # ------------------------------------------------------------ layers
    def _list_layers(self) -> None:
        """List the model's layers in the worker (one forward pass) for layer parameters."""
        uses_layers = any(p.choices_from == MODEL_LAYERS for info in self._catalog_methods() for p in info.params)
        if self.model is None or not uses_layers:
            return
        model = self.model

        def job(token, progress):
            from ...image_jobs import model_layers

            return model_layers(model)

        self._submit("layers", job)

    def _layers_ready(self, result) -> None:
        spec, layers = result
        if self.model is None or spec != self.model.spec:
            return
        choices = [AUTOMATIC_LAYER, *[(name, description) for name, description in layers]]
        known = {value for value, _ in choices}
        for name, stored in self._params_by_method.items():
            info = self._catalog_method(name) if self.catalog else None
            for p in info.params if info else ():
                if p.choices_from == MODEL_LAYERS and stored.get(p.name) not in known:
                    stored[p.name] = p.default
        self.param_form.set_dynamic_choices(MODEL_LAYERS, choices)

    def _reset_layer_choices(self) -> None:
        """Offer only "automatic" for layer parameters until the new model's layers are listed."""
        self.param_form.set_dynamic_choices(MODEL_LAYERS, [AUTOMATIC_LAYER])

    def layer_choices(self) -> list[tuple[str, str]]:
        """The layers offered for layer parameters, as ``(name, description)``."""
        return self.param_form.dynamic_choices(MODEL_LAYERS)

    # ------------------------------------------------------------ samples
    def open_sample(self, path) -> None:
        """Open a demo sample, first loading the demo model it belongs to when another one is in use.

        A sample scored by a model it does not belong to gives confident nonsense (a horse read as a digit).
        """
        owner = self.catalog.sample_owner(path) if self.catalog is not None else None
        loading = self._pending_model_spec if self._jobs.get("model") is not None else None
        current = loading or (self.model.spec if self.model is not None else None)
        if owner is None or owner["spec"] == current:
            self._open_input(path)
            return
        self.load_model(owner["spec"])
        note = f"Loaded {owner.get('title', owner['spec'])}, the demo model this sample belongs to."
        self._waiting_sample = (path, note)

    def _open_waiting_sample(self) -> bool:
        """Open the sample that waited for its model (see :meth:`open_sample`); False if none."""
        waiting, self._waiting_sample = self._waiting_sample, None
        if waiting is None:
            return False
        path, self._sample_note = waiting
        self._open_input(path)
        return True

    def _opened_message(self, path) -> str:
        """The status line for an opened input: the note of a sample that brought its model, else "Opened …"."""
        note, self._sample_note = self._sample_note, None
        return note or f"Opened {input_title(path, self.catalog)}."

    def _on_sample_chosen(self, index: int) -> None:
        path = self.sample_combo.itemData(index)
        self.sample_combo.setCurrentIndex(0)
        if path:
            self.open_sample(path)
