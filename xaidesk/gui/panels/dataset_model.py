"""The Dataset tab's Model box: the built-in models of the folder's kind, models opened by hand, and what they run with."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QGroupBox, QVBoxLayout, QWidget

OPEN_MODEL_ENTRY = "__open_model__"
MODEL_FILE_ENTRY = "__file__"


class DatasetModelBox(QGroupBox):
    """Pick the network a run explains; an image model can be opened with a label file and its own preprocessing.

    Signals
    -------
    model_changed()
        Another model was chosen (the tab refills the class picker).
    """

    model_changed = Signal()

    def __init__(self, last_folder=lambda: "", parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self._last_folder = last_folder
        self._models: list[dict] = []
        self.modality = "image"
        self._extra_models: list[tuple[str, str]] = []
        #: Per opened model spec: its label file, hand-set preprocessing and class names (Open model dialog).
        self._model_options: dict[str, dict] = {}
        #: Class names read from edited model files, keyed by (path, modification time).
        self._names_in_files: dict[tuple[str, int], list[str]] = {}
        layout = QVBoxLayout(self)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The network whose decisions are explained.")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(16)
        self.model_combo.activated.connect(self._on_model_activated)
        layout.addWidget(self.model_combo)

    def fill(self, models: list[dict], modality: str, select: str | None = None) -> None:
        """List the built-in ``models`` (catalog entries) of ``modality`` and those opened by hand; keep the choice."""
        previous = select or self.model_spec()
        self._models, self.modality = list(models), modality
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for model in self._models:
            self.model_combo.addItem(model.get("title", model["spec"]), model["spec"])
            self.model_combo.setItemData(self.model_combo.count() - 1, model.get("description", ""),
                                         Qt.ItemDataRole.ToolTipRole)
        for title, spec in self._extra_models:
            if self.model_combo.findData(spec) < 0:
                self.model_combo.addItem(title, spec)
        self.model_combo.insertSeparator(self.model_combo.count())
        if self.modality == "image":
            self.model_combo.addItem("Open model (file or folder)…", OPEN_MODEL_ENTRY)
        else:
            self.model_combo.addItem("Model file…", MODEL_FILE_ENTRY)
        index = self.model_combo.findData(previous) if previous else -1
        self.model_combo.setCurrentIndex(index if index >= 0 else (0 if self.model_combo.count() > 2 else -1))
        self.model_combo.blockSignals(False)

    def model_spec(self) -> str | None:
        data = self.model_combo.currentData()
        return None if data in (None, OPEN_MODEL_ENTRY, MODEL_FILE_ENTRY) else str(data)

    def set_model_spec(self, spec: str, title: str | None = None) -> None:
        """Choose a model by spec, adding it to the picker when it is not a built-in one."""
        if self.model_combo.findData(spec) < 0:
            self._extra_models.append((title or spec, spec))
            self.fill(self._models, self.modality, select=spec)
        self.model_combo.setCurrentIndex(self.model_combo.findData(spec))
        self.model_changed.emit()

    def class_names(self) -> list[str]:
        """The chosen model's class names: the catalog's, else those the Open model dialog found, else those an
        edited model file (a corrected, pruned or fine-tuned model) records; [] if unknown."""
        spec = self.model_spec()
        entry = next((m for m in self._models if m["spec"] == spec), None)
        names = list(entry.get("class_names", [])) if entry else []
        if not names and spec in self._model_options:
            names = list(self._model_options[spec].get("class_names") or [])
        if not names and spec and spec.startswith("file:"):
            names = self._class_names_in_file(Path(spec[len("file:"):]))
        return names

    def _class_names_in_file(self, path: Path) -> list[str]:
        """The class names an edited model file records in its description (read without loading the network)."""
        try:
            key = (str(path), path.stat().st_mtime_ns)
        except OSError:
            return []
        if key not in self._names_in_files:
            from xaidesk.core import ModelError
            from xaidesk.models.edited_document import read_edited_document

            try:
                document = read_edited_document(path) or {}
            except ModelError:
                document = {}  # a damaged file says so when the run loads it
            self._names_in_files[key] = [str(name) for name in document.get("class_names") or []]
        return list(self._names_in_files[key])

    def _on_model_activated(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if data == OPEN_MODEL_ENTRY:
            if self.open_model_dialog() is None:
                self.fill(self._models, self.modality)
        elif data == MODEL_FILE_ENTRY:
            path, _ = QFileDialog.getOpenFileName(self, "Open a model file", self._last_folder(),
                                                  "PyTorch models (*.pt *.pth *.ts *.pth.tar *.json);;All files (*)")
            if path:
                self.set_model_spec(f"file:{path}", Path(path).name)
            else:
                self.fill(self._models, self.modality)
        self.model_changed.emit()

    def open_model_dialog(self):
        """Choose and check an image model (:class:`OpenModelDialog`) and use it for the run; returns the choice.

        A model that runs code when loaded is refused there: a batch run never asks for trust.
        """
        from ..widgets.open_model_dialog import OpenModelDialog

        dialog = OpenModelDialog(self._last_folder(), modality="image", allow_untrusted=False, parent=self)
        try:
            choice = dialog.choice() if dialog.exec() else None
        finally:
            dialog.deleteLater()
        if choice is not None:
            self.use_opened_model(choice)
        return choice

    def use_opened_model(self, choice) -> None:
        """Run with what the Open model dialog opened: its spec, label file and hand-set preprocessing."""
        self._model_options[choice.spec] = {
            "labels": choice.labels, "preprocessing": choice.preprocessing,
            "class_names": list(choice.model.class_names) if choice.model is not None else None,
        }
        self.set_model_spec(choice.spec, choice.title or None)

    def use_run_model(self, info) -> None:
        """Choose a run's model with the label file and preprocessing it was run with."""
        known = self._model_options.get(info.model, {})
        self._model_options[info.model] = {"labels": info.labels, "preprocessing": info.preprocessing,
                                           "class_names": known.get("class_names")}
        self.set_model_spec(info.model)

    def model_options(self, spec: str | None = None) -> dict:
        """The label file and hand-set preprocessing the chosen model (or ``spec``) is run with."""
        options = self._model_options.get(spec or self.model_spec() or "", {})
        return {"labels": options.get("labels"), "preprocessing": options.get("preprocessing")}


__all__ = ["MODEL_FILE_ENTRY", "OPEN_MODEL_ENTRY", "DatasetModelBox"]
