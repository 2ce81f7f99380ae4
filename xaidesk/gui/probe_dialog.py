""""Train a quick classifier…": fit a two-class probe on a backbone layer and judge it by ROC.

The person chooses a folder with two class subfolders, a backbone model, one of its layers, the
head the classifier uses and the held-out share, and presses Fit. The features are read and both
heads fitted in the background (:func:`xaidesk.models.probe.fit_probe`, with progress and Cancel);
the dialog then shows both held-out ROC curves with their AUC and Youden-J point, and a summary
table. "Save…" writes the probe file; "Explain in Images tab" emits :attr:`ProbeDialog.use_model_requested`
with ``probe:PATH`` (saving the probe in the person's data folder first if needed).

The dialog owns its own :class:`~xaidesk.gui.runner.Runner`, so a long fit never holds up the tabs.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .probe_jobs import (
    backbone_job,
    classes_html,
    counts_text,
    fit_job,
    fitted_text,
    folder_job,
    held_out_warning,
    kept_copy_path,
    save_file_name,
    save_place_text,
    write_probe,
)
from .probe_inputs import ProbeInputs
from .probe_result_view import ProbeResultView
from .runner import JobFailure, Runner
from .widgets import error_dialog

#: Combo data of the backbone entry that opens the Open model dialog instead of naming a model.
OPEN_MODEL_ENTRY = "__open_model__"
#: The runner channels of the dialog's jobs (``"<owner>.<job>"``).
MODEL, FOLDER, FIT = "probe.model", "probe.folder", "probe.fit"


class ProbeDialog(QDialog):
    """Fit a two-class classifier on a backbone layer of a labelled folder and show its ROC.

    Signals
    -------
    use_model_requested(spec)
        ``probe:PATH`` of the saved classifier, to be loaded in the Images tab.
    """

    use_model_requested = Signal(str)
    #: The tab that explains the classifier, and the spec prefix that opens the saved file there.
    TAB_NAME = "Images"
    SPEC_PREFIX = "probe"
    #: What the class subfolders hold, in words.
    FILE_NOUN = "images"
    #: The modality of the backbones offered.
    MODALITY = "image"
    #: The folder holds sound clips and the probe is an audio probe.
    AUDIO = False

    def __init__(self, catalog=None, parent: QWidget | None = None, start_folder: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a quick classifier")
        self.catalog = catalog
        self.runner = Runner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self._jobs: dict[str, int] = {}
        self._start_folder = start_folder
        self.folder: Path | None = None
        self.folder_counts: dict[str, int] = {}
        self.backbone = None
        self.backbone_spec: str | None = None
        self.result = None
        self.saved: tuple[Path, str] | None = None
        self._build()
        self._fill_backbones()
        self._update_enabled()
        self.resize(980, 720)
        if self.model_combo.count() and self.model_combo.itemData(0) != OPEN_MODEL_ENTRY:
            self.load_backbone(self.model_combo.itemData(0))

    # ------------------------------------------------------------ layout
    def _build(self) -> None:
        self.inputs = inputs = ProbeInputs()
        inputs.choose_button.clicked.connect(self.choose_folder)
        inputs.model_combo.activated.connect(self._on_model_activated)
        inputs.head_combo.currentIndexChanged.connect(lambda *_: self._show_save_place())
        self.folder_edit, self.classes_label = inputs.folder_edit, inputs.classes_label
        self.model_combo, self.layer_combo, self.head_combo = inputs.model_combo, inputs.layer_combo, inputs.head_combo
        self.held_out_spin, self.seed_spin = inputs.held_out_spin, inputs.seed_spin

        self.fit_button, self.cancel_button = inputs.fit_button, inputs.cancel_button
        self.fit_button.clicked.connect(self.fit)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar, self.status_label = inputs.progress_bar, inputs.status_label

        self.result_view = right = ProbeResultView()
        self.summary_table = right.summary_table
        self.counts_label = right.counts_label
        self.warning_label = right.warning_label
        self.save_label = right.save_label
        self.curves, self.youden_points = right.curves, right.youden_points

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(inputs)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 600])

        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Write the classifier to a probe file (open it later as a model: probe:PATH).")
        self.save_button.clicked.connect(self.choose_save_path)
        self.explain_button = QPushButton("Explain in Images tab")
        self.explain_button.setToolTip("Load the classifier (backbone + chosen head) in the Images tab.")
        self.explain_button.clicked.connect(self.request_explain)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.explain_button)
        buttons.addWidget(close)

        self.intro_label = QLabel(
            "Trains a two-class classifier: choose a folder with two subfolders of images, one per class. "
            "A backbone model's layer gives the features, a simple head separates the two classes, and the "
            "held-out images show how well it does.")
        self.intro_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.intro_label)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)

    # ------------------------------------------------------------ backbones
    def _builtin_models(self) -> list[dict]:
        if self.catalog is not None:
            return list(self.catalog.models(self.MODALITY))
        from xaidesk.models import list_builtin_models

        return list_builtin_models(self.MODALITY)

    def _fill_backbones(self) -> None:
        self.model_combo.clear()
        for model in self._builtin_models():
            self.model_combo.addItem(model.get("title", model["spec"]), model["spec"])
            self.model_combo.setItemData(self.model_combo.count() - 1, model.get("description", ""),
                                         Qt.ItemDataRole.ToolTipRole)
        self.model_combo.insertSeparator(self.model_combo.count())
        self.model_combo.addItem("Open model (file or folder)…", OPEN_MODEL_ENTRY)

    def _on_model_activated(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if data == OPEN_MODEL_ENTRY:
            if self.open_model_dialog() is None:
                self._select_backbone_in_combo()
            return
        if data:
            self.load_backbone(data)

    def open_model_dialog(self):
        """Choose and check a backbone (:class:`OpenModelDialog`) and use it; returns the choice or ``None``.

        A model that runs code when loaded is refused there (the saved probe reloads its backbone unasked).
        """
        from .widgets.open_model_dialog import OpenModelDialog

        dialog = OpenModelDialog(self._start_folder, modality="image", allow_untrusted=False, parent=self)
        try:
            choice = dialog.choice() if dialog.exec() else None
        finally:
            dialog.deleteLater()
        if choice is not None:
            self.load_backbone(choice.spec, model=choice.model)
        return choice

    def _select_backbone_in_combo(self) -> None:
        if self.backbone_spec is None:
            return
        index = self.model_combo.findData(self.backbone_spec)
        if index < 0:
            self.model_combo.insertItem(0, self.backbone_spec.split(":", 1)[-1][-40:], self.backbone_spec)
            index = 0
        self.model_combo.setCurrentIndex(index)

    def load_backbone(self, spec: str, model=None) -> int:
        """Load the backbone ``spec`` (or use the already loaded ``model``) in the background and list its layers."""
        text = f"Listing the layers of {model.name} …" if model is not None else f"Loading {spec} …"
        return self._start_backbone(spec, backbone_job(spec, model=model), text)

    def _start_backbone(self, spec: str, job, text: str) -> int:
        """Forget the backbone, say ``text`` and run ``job`` (which loads ``spec`` and lists its layers)."""
        self.backbone_spec = spec
        self.backbone = None
        self._select_backbone_in_combo()
        self.layer_combo.clear()
        self.layer_combo.addItem("Loading the model…")
        self.layer_combo.setEnabled(False)
        self.status_label.setText(text)
        self._jobs[MODEL] = self.runner.submit(job, MODEL)
        self._update_enabled()
        return self._jobs[MODEL]

    def _backbone_ready(self, result) -> None:
        spec, model, layers, default = result
        if spec != self.backbone_spec:
            return
        self.layer_combo.clear()
        if not layers:
            self.layer_combo.addItem("No layer can be used")
            self.status_label.setText(
                f"{model.name} has no layers a classifier can be fitted on; choose another model.")
            self._update_enabled()
            return
        self.backbone = model
        for name, description in layers:
            self.layer_combo.addItem(description, name)
        self.layer_combo.setCurrentIndex(max(0, self.layer_combo.findData(default)))
        self.layer_combo.setEnabled(True)
        self.status_label.setText(f"{model.name} loaded: {len(layers)} layers to choose from.")
        self._update_enabled()

    def layer(self) -> str | None:
        return self.layer_combo.currentData() if self.layer_combo.isEnabled() else None

    def set_layer(self, name: str) -> bool:
        index = self.layer_combo.findData(name)
        if index >= 0:
            self.layer_combo.setCurrentIndex(index)
        return index >= 0

    # ------------------------------------------------------------ folder
    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder with one subfolder per class", self._start_folder)
        if path:
            self.set_folder(path)

    def set_folder(self, path) -> int:
        """Check ``path`` in the background: its two classes and how many files each holds."""
        path = Path(path)
        self.folder = None
        self.folder_counts = {}
        self.folder_edit.setText(str(path))
        self.classes_label.setText(f"Looking for {self.FILE_NOUN} …")
        self._start_folder = str(path.parent)
        self._jobs[FOLDER] = self.runner.submit(folder_job(path, audio=self.AUDIO), FOLDER)
        self._update_enabled()
        return self._jobs[FOLDER]

    def _folder_ready(self, result) -> None:
        path, counts = result
        if str(path) != self.folder_edit.text():
            return
        self.folder, self.folder_counts = path, counts
        self.classes_label.setText(classes_html(counts, self.FILE_NOUN))
        self._update_enabled()

    # ------------------------------------------------------------ fitting
    def can_fit(self) -> bool:
        return (self.folder is not None and self.backbone is not None and self.layer() is not None
                and not self.runner.is_busy(FIT))

    def fit(self) -> int | None:
        """Read the features and fit both heads in the background."""
        if not self.can_fit():
            return None
        folder, model, layer = self.folder, self.backbone, self.layer()
        held_out, seed = float(self.held_out_spin.value()), int(self.seed_spin.value())

        job = fit_job(folder, model, layer, held_out=held_out, seed=seed, audio=self.AUDIO)
        self.progress_bar.setValue(0)
        self.status_label.setText("Reading features …")
        self._jobs[FIT] = self.runner.submit(job, FIT)
        self._update_enabled()
        return self._jobs[FIT]

    def cancel(self) -> None:
        self.runner.cancel(channel=FIT)

    def is_fitting(self) -> bool:
        return self.runner.is_busy(FIT)

    def _fit_ready(self, result) -> None:
        self.result = result
        self.saved = None
        self.progress_bar.setValue(1000)
        self.result_view.show_result(result, *self._result_texts(result))
        self.status_label.setText(fitted_text(result))
        self._show_save_place()
        self._update_enabled()

    def _result_texts(self, result) -> tuple[str, str | None]:
        """What the probe was trained and judged on, and the warning about too few held-out files."""
        return counts_text(result), held_out_warning(result.held_out_counts, result.class_names)

    def head(self) -> str:
        return self.head_combo.currentData()

    # ------------------------------------------------------------ saving and explaining
    def choose_save_path(self) -> None:
        if self.result is None:
            return
        from xaidesk.models.probe import PROBE_SUFFIX

        default = str(self.default_save_path())
        path, _ = QFileDialog.getSaveFileName(self, "Save the classifier", default,
                                              f"Probe files (*{PROBE_SUFFIX});;All files (*)")
        if path:
            if not path.endswith(PROBE_SUFFIX) and not Path(path).suffix:
                path += PROBE_SUFFIX
            self.save(path)

    def default_save_path(self) -> Path:
        """Where Save… suggests writing the classifier (beside the folder it was fitted on)."""
        return Path(self._start_folder or ".").resolve() / save_file_name(self.result.class_names)

    def _show_save_place(self) -> None:
        """Say where the classifier is (after saving) or where it will go (before)."""
        saved = self.saved[0] if self.saved is not None and self.saved[1] == self.head() else None
        suggested = self.default_save_path() if saved is None and self.result is not None else None
        self.save_label.setText(save_place_text(saved_path=saved, suggested=suggested, tab=self.TAB_NAME,
                                                prefix=self.SPEC_PREFIX))

    def save(self, path) -> Path | None:
        """Write the probe file for the current result and head; returns the path (None on failure)."""
        from xaidesk.core import XaideskError

        if self.result is None:
            return None
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            written = write_probe(self.result, path, self.head(), audio=self.AUDIO)
        except (OSError, XaideskError) as error:
            error_dialog.show_error(self, "Could not save the classifier", error)
            return None
        self.saved = (Path(written), self.head())
        self.status_label.setText(f"Saved {Path(written).name}.")
        self._show_save_place()
        return Path(written)

    def request_explain(self) -> str | None:
        """Emit :attr:`use_model_requested` with the saved classifier's spec (saving to the data folder if needed)."""
        if self.result is None:
            return None
        if self.saved is None or self.saved[1] != self.head() or not self.saved[0].exists():
            if self.save(kept_copy_path(self.result, self.head())) is None:
                return None
        spec = f"{self.SPEC_PREFIX}:{self.saved[0]}"
        self.use_model_requested.emit(spec)
        return spec

    # ------------------------------------------------------------ runner relays
    def _channel(self, job_id: int) -> str | None:
        return next((channel for channel, current in self._jobs.items() if current == job_id), None)

    def _on_progress(self, job_id: int, fraction: float, message: str, partial) -> None:
        if self._channel(job_id) == FIT:
            self.progress_bar.setValue(int(1000 * fraction))
            self.status_label.setText(message)

    def _on_finished(self, job_id: int, result) -> None:
        channel = self._channel(job_id)
        handler = {MODEL: self._backbone_ready, FOLDER: self._folder_ready, FIT: self._fit_ready}.get(channel)
        if handler is not None:
            handler(result)
        self._update_enabled()

    def _on_failed(self, job_id: int, failure: JobFailure) -> None:
        channel = self._channel(job_id)
        if channel == FOLDER:
            self.classes_label.setText(failure.message)
        elif channel == MODEL:
            self.layer_combo.clear()
            self.layer_combo.addItem("No model")
            self.layer_combo.setEnabled(False)
            self.status_label.setText("")
            error_dialog.show_error(self, "Could not load the backbone", failure)
        elif channel == FIT:
            self.progress_bar.setValue(0)
            self.status_label.setText("")
            error_dialog.show_error(self, "Could not fit the classifier", failure)
        self._update_enabled()

    def _on_cancelled(self, job_id: int) -> None:
        if self._channel(job_id) == FIT:
            self.progress_bar.setValue(0)
            self.status_label.setText("Cancelled.")
        self._update_enabled()

    def _update_enabled(self) -> None:
        fitting = self.runner.is_busy(FIT)
        self.fit_button.setEnabled(self.can_fit())
        self.cancel_button.setEnabled(fitting)
        has_result = self.result is not None and not fitting
        self.save_button.setEnabled(has_result)
        self.explain_button.setEnabled(has_result)

    # ------------------------------------------------------------ closing
    def done(self, result: int) -> None:
        self.runner.shutdown()
        super().done(result)

    def closeEvent(self, event) -> None:
        self.runner.shutdown()
        super().closeEvent(event)
