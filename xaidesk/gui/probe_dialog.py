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

import re
import time
from html import escape
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .runner import JobFailure, Runner
from .widgets import error_dialog

#: Combo data of the backbone entry that opens the Open model dialog instead of naming a model.
OPEN_MODEL_ENTRY = "__open_model__"
#: Plot colours of the heads.
HEAD_COLOURS = {"mean-difference": (31, 119, 180), "logistic": (214, 39, 40)}
HEAD_ORDER = ("mean-difference", "logistic")
HEAD_TITLES = {"mean-difference": "Difference of means", "logistic": "Logistic regression"}
#: Fewer held-out images per class than this get a warning that the AUC is not to be trusted.
MIN_HELD_OUT = 20
SUMMARY_COLUMNS = ("Head", "AUC", "Youden threshold", "Sensitivity", "Specificity", "Accuracy")


def probes_folder() -> Path:
    """Where probes are kept that were not saved by the person: ``<data dir>/probes``."""
    from xaidesk import userdirs

    return userdirs.data_dir() / "probes"


def held_out_warning(counts, class_names) -> str | None:
    """A plain warning when the held-out images are too few for the AUC to mean much, else None."""
    n1, n2 = (int(c) for c in counts)
    if min(n1, n2) >= MIN_HELD_OUT:
        return None
    first, second = class_names
    step = 1.0 / max(1, n1 * n2)
    return (f"Only {n1} '{first}' + {n2} '{second}' images were held out, so these figures say little: one image "
            f"ranked differently moves the AUC by up to {min(1.0, step * max(n1, n2)):.2f} (it comes in steps of "
            f"{step:.3g}), and even a perfect AUC is easily luck. Hold out at least {MIN_HELD_OUT} images per class "
            "(more images, or a larger held-out share) before trusting it.")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:40] or "probe"


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
        self.folder_edit = QLineEdit()
        self.folder_edit.setReadOnly(True)
        self.folder_edit.setFrame(False)  # shown, not typed: it reads as a label; Choose… sets it
        self.folder_edit.setStyleSheet("QLineEdit { background: transparent; }")
        self.folder_edit.setPlaceholderText("two subfolders of images")
        self.folder_edit.setToolTip("A folder with exactly two subfolders, one per class, holding its images.")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self.choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(choose)
        self.classes_label = QLabel("No folder chosen.")
        self.classes_label.setWordWrap(True)

        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The network whose layer provides the features (the backbone).")
        self.model_combo.activated.connect(self._on_model_activated)
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The backbone layer whose output (averaged over space) is the feature vector.")
        self.layer_combo.addItem("Loading the model…")
        self.layer_combo.setEnabled(False)
        self.head_combo = QComboBox()
        for name in HEAD_ORDER:
            self.head_combo.addItem(HEAD_TITLES[name], name)
        self.head_combo.currentIndexChanged.connect(lambda *_: self._show_save_place())
        self.head_combo.setToolTip(
            "Both heads are fitted and shown; this one becomes the classifier that is saved and explained.\n"
            "Difference of means: w = (μ₂ − μ₁)/||μ₂ − μ₁||.\n"
            "Logistic regression: scikit-learn, on standardised features.")
        self.held_out_spin = QDoubleSpinBox()
        self.held_out_spin.setRange(0.1, 0.9)
        self.held_out_spin.setSingleStep(0.05)
        self.held_out_spin.setDecimals(2)
        self.held_out_spin.setValue(0.3)
        self.held_out_spin.setToolTip("Share of each class kept aside to draw the ROC curve and set the threshold.")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.seed_spin.setToolTip("Seed of the random held-out split.")

        form = QFormLayout()
        form.addRow("Folder", folder_row)
        form.addRow("", self.classes_label)
        form.addRow("Backbone", self.model_combo)
        form.addRow("Layer", self.layer_combo)
        form.addRow("Classifier head", self.head_combo)
        form.addRow("Held-out share", self.held_out_spin)
        form.addRow("Seed", self.seed_spin)
        inputs = QGroupBox("Data and model")
        inputs.setLayout(form)

        self.fit_button = QPushButton("Fit")
        self.fit_button.setDefault(True)
        self.fit_button.clicked.connect(self.fit)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        run_row = QHBoxLayout()
        run_row.addWidget(self.fit_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress_bar, 1)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(inputs)
        left_layout.addLayout(run_row)
        left_layout.addWidget(self.status_label)
        left_layout.addStretch(1)

        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        item = self.plot.getPlotItem()
        item.setTitle("Held-out ROC", color="#333333", size="10pt")
        item.setLabel("bottom", "false positive rate (1 − specificity)")
        item.setLabel("left", "true positive rate (sensitivity)")
        item.showGrid(x=True, y=True, alpha=0.15)
        for name in ("left", "bottom"):
            item.getAxis(name).setPen(pg.mkPen("#666666"))
            item.getAxis(name).setTextPen(pg.mkPen("#333333"))
        item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.02)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        self.legend = item.addLegend(offset=(-10, -10), labelTextColor="#333333")
        self.plot.setMinimumSize(360, 300)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.youden_points: dict[str, pg.ScatterPlotItem] = {}
        self._reset_plot()

        self.summary_table = QTableWidget(0, len(SUMMARY_COLUMNS))
        self.summary_table.setHorizontalHeaderLabels(list(SUMMARY_COLUMNS))
        self.summary_table.verticalHeader().setVisible(False)
        self.summary_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.summary_table.setToolTip(
            "All figures are on the held-out images. The Youden threshold is chosen on those same images, so "
            "the sensitivity, specificity and accuracy at it are optimistic; the AUC does not depend on it.")
        self.summary_table.horizontalHeader().setStretchLastSection(True)
        self.summary_table.setMaximumHeight(96)
        self.counts_label = QLabel("")
        self.counts_label.setWordWrap(True)
        self.warning_label = QLabel("")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b00020;")
        self.warning_label.setVisible(False)
        self.save_label = QLabel("")
        self.save_label.setWordWrap(True)
        self.save_label.setObjectName("notes")
        self.save_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.plot, 1)
        right_layout.addWidget(self.summary_table)
        right_layout.addWidget(self.counts_label)
        right_layout.addWidget(self.warning_label)
        right_layout.addWidget(self.save_label)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
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

    def _reset_plot(self) -> None:
        item = self.plot.getPlotItem()
        item.clear()
        self.legend.clear()
        self.curves, self.youden_points = {}, {}
        item.plot([0, 1], [0, 1], pen=pg.mkPen("#aaaaaa", width=1, style=Qt.PenStyle.DashLine))

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
        self.backbone_spec = spec
        self.backbone = None
        self._select_backbone_in_combo()
        self.layer_combo.clear()
        self.layer_combo.addItem("Loading the model…")
        self.layer_combo.setEnabled(False)
        self.status_label.setText(f"Listing the layers of {model.name} …" if model is not None else f"Loading {spec} …")

        def job(token, progress):
            from xaidesk.models import load_model
            from xaidesk.models.probe import default_probe_layer, list_probe_layers

            from .catalog import configure_torch_threads

            configure_torch_threads()
            backbone = model if model is not None else load_model(spec)
            layers = list_probe_layers(backbone)
            return spec, backbone, layers, default_probe_layer(layers)

        self._jobs["model"] = self.runner.submit(job, "model")
        self._update_enabled()
        return self._jobs["model"]

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
        scan = self._scan

        def job(token, progress):
            data = scan(path)
            return path, dict(zip(data.class_names, data.counts()))

        self._jobs["folder"] = self.runner.submit(job, "folder")
        self._update_enabled()
        return self._jobs["folder"]

    def _folder_ready(self, result) -> None:
        path, counts = result
        if str(path) != self.folder_edit.text():
            return
        self.folder, self.folder_counts = path, counts
        (first, n1), (second, n2) = counts.items()
        self.classes_label.setText(
            f"Class 1: <b>{escape(first)}</b> ({n1} {self.FILE_NOUN})<br>"
            f"Class 2: <b>{escape(second)}</b> ({n2} {self.FILE_NOUN}), the positive class of the ROC curve")
        self._update_enabled()

    @staticmethod
    def _scan(path):
        """The labelled folder at ``path`` (runs on the worker)."""
        from xaidesk.models.probe import scan_labelled_folder

        return scan_labelled_folder(path)

    # ------------------------------------------------------------ fitting
    def can_fit(self) -> bool:
        return (self.folder is not None and self.backbone is not None and self.layer() is not None
                and not self.runner.is_busy("fit"))

    def fit(self) -> int | None:
        """Read the features and fit both heads in the background."""
        if not self.can_fit():
            return None
        folder, model, layer = self.folder, self.backbone, self.layer()
        held_out, seed = float(self.held_out_spin.value()), int(self.seed_spin.value())

        def job(token, progress):
            from xaidesk.models.probe import fit_probe

            return fit_probe(folder, model, layer, held_out=held_out, seed=seed, token=token, progress=progress)

        self.progress_bar.setValue(0)
        self.status_label.setText("Reading features …")
        self._jobs["fit"] = self.runner.submit(job, "fit")
        self._update_enabled()
        return self._jobs["fit"]

    def cancel(self) -> None:
        self.runner.cancel(channel="fit")

    def is_fitting(self) -> bool:
        return self.runner.is_busy("fit")

    def _fit_ready(self, result) -> None:
        self.result = result
        self.saved = None
        self.progress_bar.setValue(1000)
        self._show_result(result)
        skipped = f" {len(result.skipped)} unreadable file(s) were left out." if result.skipped else ""
        self.status_label.setText(f"Fitted in {result.seconds:.1f} s.{skipped}")
        self._show_save_place()
        self._update_enabled()

    def _show_result(self, result) -> None:
        self._reset_plot()
        item = self.plot.getPlotItem()
        self.summary_table.setRowCount(0)
        for name in HEAD_ORDER:
            head = result.heads.get(name)
            if head is None:
                continue
            colour = HEAD_COLOURS[name]
            self.curves[name] = item.plot(np.asarray(head.fpr), np.asarray(head.tpr), pen=pg.mkPen(colour, width=2),
                                          name=f"{head.title}: AUC {head.auc:.3f}")
            point = pg.ScatterPlotItem([1.0 - head.specificity], [head.sensitivity], size=12, symbol="o",
                                       brush=pg.mkBrush(255, 255, 255), pen=pg.mkPen(colour, width=2.5))
            point.setToolTip(f"Youden J = {head.youden_j:.3f} at threshold {head.threshold:.4g}")
            item.addItem(point)
            self.youden_points[name] = point
            row = self.summary_table.rowCount()
            self.summary_table.insertRow(row)
            cells = (head.title, f"{head.auc:.3f}", f"{head.threshold:.4g}", f"{head.sensitivity:.2f}",
                     f"{head.specificity:.2f}", f"{head.accuracy:.2f}")
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if column:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.summary_table.setItem(row, column, cell)
        sample = pg.ScatterPlotItem(size=10, brush=pg.mkBrush(255, 255, 255), pen=pg.mkPen("#555555", width=2))
        self.legend.addItem(sample, "Youden-J point")
        item.setTitle(f"Held-out ROC · positive class: {result.class_names[1]}", color="#333333", size="10pt")
        first, second = result.class_names
        self.counts_label.setText(
            f"Layer {result.layer} of {result.backbone_name} ({result.feature_dim} features). Trained on "
            f"{result.train_counts[0]} '{first}' + {result.train_counts[1]} '{second}' images, judged on "
            f"{result.held_out_counts[0]} + {result.held_out_counts[1]} held-out images. An image is called "
            f"'{second}' when its score reaches the threshold.")
        warning = held_out_warning(result.held_out_counts, result.class_names)
        self.warning_label.setText(warning or "")
        self.warning_label.setVisible(warning is not None)

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
        from xaidesk.models.probe import PROBE_SUFFIX

        return Path(self._start_folder or ".").resolve() / f"{_slug('_vs_'.join(self.result.class_names))}{PROBE_SUFFIX}"

    def _show_save_place(self) -> None:
        """Say where the classifier is (after saving) or where it will go (before)."""
        if self.saved is not None and self.saved[1] == self.head():
            self.save_label.setText(f"The classifier is saved in {self.saved[0]} (open it later in the "
                                    f"{self.TAB_NAME} tab as the model {self.SPEC_PREFIX}:{self.saved[0]}).")
        elif self.result is not None:
            self.save_label.setText(f"Not saved yet. Save… asks where to write it (suggested: "
                                    f"{self.default_save_path()}); Explain in {self.TAB_NAME} tab keeps a copy in "
                                    f"{probes_folder()}.")
        else:
            self.save_label.setText("")

    def save(self, path) -> Path | None:
        """Write the probe file for the current result and head; returns the path (None on failure)."""
        from xaidesk.core import XaideskError

        if self.result is None:
            return None
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            written = self._write(self.result, path, self.head())
        except (OSError, XaideskError) as error:
            error_dialog.show_error(self, "Could not save the classifier", error)
            return None
        self.saved = (Path(written), self.head())
        self.status_label.setText(f"Saved {Path(written).name}.")
        self._show_save_place()
        return Path(written)

    def _write(self, result, path, head) -> Path:
        from xaidesk.models.probe import save_probe

        return save_probe(result, path, head)

    def request_explain(self) -> str | None:
        """Emit :attr:`use_model_requested` with the saved classifier's spec (saving to the data folder if needed)."""
        if self.result is None:
            return None
        from xaidesk.models.probe import PROBE_SUFFIX

        if self.saved is None or self.saved[1] != self.head() or not self.saved[0].exists():
            name = f"{_slug('_vs_'.join(self.result.class_names))}_{_slug(self.result.layer)}_{self.head()}"
            path = probes_folder() / f"{name}_{time.strftime('%Y%m%d-%H%M%S')}{PROBE_SUFFIX}"
            if self.save(path) is None:
                return None
        spec = f"{self.SPEC_PREFIX}:{self.saved[0]}"
        self.use_model_requested.emit(spec)
        return spec

    # ------------------------------------------------------------ runner relays
    def _channel(self, job_id: int) -> str | None:
        return next((channel for channel, current in self._jobs.items() if current == job_id), None)

    def _on_progress(self, job_id: int, fraction: float, message: str, partial) -> None:
        if self._channel(job_id) == "fit":
            self.progress_bar.setValue(int(1000 * fraction))
            self.status_label.setText(message)

    def _on_finished(self, job_id: int, result) -> None:
        channel = self._channel(job_id)
        handler = {"model": self._backbone_ready, "folder": self._folder_ready, "fit": self._fit_ready}.get(channel)
        if handler is not None:
            handler(result)
        self._update_enabled()

    def _on_failed(self, job_id: int, failure: JobFailure) -> None:
        channel = self._channel(job_id)
        if channel == "folder":
            self.classes_label.setText(failure.message)
        elif channel == "model":
            self.layer_combo.clear()
            self.layer_combo.addItem("No model")
            self.layer_combo.setEnabled(False)
            self.status_label.setText("")
            error_dialog.show_error(self, "Could not load the backbone", failure)
        elif channel == "fit":
            self.progress_bar.setValue(0)
            self.status_label.setText("")
            error_dialog.show_error(self, "Could not fit the classifier", failure)
        self._update_enabled()

    def _on_cancelled(self, job_id: int) -> None:
        if self._channel(job_id) == "fit":
            self.progress_bar.setValue(0)
            self.status_label.setText("Cancelled.")
        self._update_enabled()

    def _update_enabled(self) -> None:
        fitting = self.runner.is_busy("fit")
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
