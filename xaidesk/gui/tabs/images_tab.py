"""The Images tab: open an image, pick a model and a method, run, compare, export.

All computation (loading models and images, predicting, explaining) runs in
the :class:`~xaidesk.gui.runner.Runner`; this module only dispatches jobs and
shows their results. Torch-backed packages are imported inside the jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont, QGuiApplication, QImage, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSplitter,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core import render
from ..catalog import Catalog, family_title
from ..formatting import (
    class_text,
    explanation_title,
    format_duration,
    format_value,
    probability_text,
    progress_text,
)
from ..runner import JobFailure, Runner
from ..views.image_views import HeatmapView, ImageView, ViewGroup
from ..widgets import error_dialog
from ..widgets.param_form import ParamForm

TORCHVISION_ENTRY = "__torchvision__"
MODEL_FILE_ENTRY = "__file__"
#: Finished results kept for comparison (each holds a full-size relevance map).
MAX_HISTORY = 16
#: Pixels sampled to choose the colour levels of a partial result.
PARTIAL_LEVELS_SAMPLES = 256 * 256
TOP_K = 5


@dataclass
class HistoryEntry:
    """One finished run, kept for comparison and export."""

    explanation: object
    pixels: np.ndarray
    image_path: Path | None
    model_spec: str
    model_name: str
    method_title: str
    title: str = ""
    extra: dict = field(default_factory=dict)


class ImagesTab(QWidget):
    """Explain image classifiers.

    Signals
    -------
    status_message(str)
        Text for the window's status bar.
    hover_message(str)
        The value under the cursor ("x 3, y 5: relevance = 0.012").
    image_opened(Path)
        An image file was opened (for the recent-files list).
    model_loaded(str)
        A model was loaded; its spec string.
    state_changed()
        Something that enables or disables actions changed.
    """

    status_message = Signal(str)
    hover_message = Signal(str)
    image_opened = Signal(object)
    model_loaded = Signal(str)
    state_changed = Signal()

    def __init__(self, runner: Runner, settings=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.settings = settings
        self.catalog: Catalog | None = None
        self.model = None
        self.image = None
        self.prediction = None
        self.history: list[HistoryEntry] = []
        self.current_entry: HistoryEntry | None = None
        self._jobs: dict[str, int | None] = {"model": None, "image": None, "predict": None, "explain": None}
        self._running_method_title = ""
        self._params_by_method: dict[str, dict] = {}
        self._pending_model_spec: str | None = None
        self._form_method: str | None = None
        self._compare_views: list[HeatmapView] = []
        self.view_group = ViewGroup()
        self._build()
        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)
        self._update_enabled()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.side_panel = self._build_side_panel()
        scroll = QScrollArea()
        scroll.setWidget(self.side_panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        side = QWidget()
        side.setMinimumWidth(330)
        side.setMaximumWidth(420)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(scroll, 1)
        side_layout.addWidget(self._build_run_area())

        self.input_view = ImageView("Input")
        self.input_view.set_placeholder("Open an image (File ▸ Open image…)\nor drop an image file here")
        self.heatmap_view = HeatmapView("Explanation")
        self.heatmap_view.set_placeholder("Press Run to explain the prediction")
        for view in (self.input_view, self.heatmap_view):
            self.view_group.add(view)
            view.hovered.connect(self.hover_message)
            view.graphics.setAcceptDrops(False)

        display_bar = QWidget()
        bar = QHBoxLayout(display_bar)
        bar.setContentsMargins(4, 0, 4, 0)
        self.colormap_combo = QComboBox()
        self.colormap_combo.setToolTip("Colours of the relevance map. Diverging maps show positive and negative evidence.")
        for name in render.DIVERGING_COLORMAPS:
            self.colormap_combo.addItem(name, name)
        for name in render.COLORMAPS:
            if name not in render.DIVERGING_COLORMAPS:
                self.colormap_combo.addItem(name, name)
        self.colormap_combo.setCurrentIndex(max(0, self.colormap_combo.findData(render.DEFAULT_COLORMAP)))
        self.colormap_combo.currentIndexChanged.connect(self._apply_display_settings)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(60)
        self.opacity_slider.setToolTip("How strongly the relevance colours cover the image.")
        self.opacity_slider.setMinimumWidth(90)
        self.opacity_slider.valueChanged.connect(self._apply_display_settings)
        self.opacity_value = QLabel("60 %")
        self.opacity_value.setMinimumWidth(36)
        self.shared_levels_check = QCheckBox("Same scale in comparison")
        self.shared_levels_check.setToolTip(
            "Use one colour scale for all results side by side, so their strengths can be compared."
        )
        self.shared_levels_check.toggled.connect(self._rebuild_compare_views)
        reset_zoom = QToolButton()
        reset_zoom.setText("Fit")
        reset_zoom.setToolTip("Show the whole image (zoom with the mouse wheel, pan by dragging).")
        reset_zoom.clicked.connect(self.view_group.fit_all)
        bar.addWidget(QLabel("Colours"))
        bar.addWidget(self.colormap_combo)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Opacity"))
        bar.addWidget(self.opacity_slider, 1)
        bar.addWidget(self.opacity_value)
        bar.addSpacing(8)
        bar.addWidget(self.shared_levels_check)
        bar.addWidget(reset_zoom)

        self.stats_label = QLabel("")
        self.stats_label.setObjectName("statsLabel")
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        views = QSplitter(Qt.Orientation.Horizontal)
        views.addWidget(self.input_view)
        views.addWidget(self.heatmap_view)
        views.setSizes([500, 560])

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(display_bar)
        top_layout.addWidget(views, 1)
        top_layout.addWidget(self.stats_label)

        self.compare_box = self._build_compare_area()
        main_split = QSplitter(Qt.Orientation.Vertical)
        main_split.addWidget(top)
        main_split.addWidget(self.compare_box)
        main_split.setStretchFactor(0, 3)
        main_split.setStretchFactor(1, 2)
        main_split.setSizes([520, 300])

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(side)
        layout.addWidget(main_split, 1)

    def _build_side_panel(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(4, 4, 8, 4)

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

        image_box = QGroupBox("Image")
        image_layout = QVBoxLayout(image_box)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open image…")
        self.open_button.clicked.connect(self.choose_image)
        self.sample_combo = QComboBox()
        self.sample_combo.setToolTip("Sample images that come with the demo models.")
        self.sample_combo.addItem("Samples…")
        self.sample_combo.activated.connect(self._on_sample_chosen)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.sample_combo, 1)
        self.image_info = QLabel("No image yet.")
        self.image_info.setWordWrap(True)
        self.image_info.setObjectName("notes")
        image_layout.addLayout(buttons)
        image_layout.addWidget(self.image_info)

        prediction_box = QGroupBox("Prediction")
        prediction_layout = QVBoxLayout(prediction_box)
        self.prediction_list = QTreeWidget()
        self.prediction_list.setColumnCount(2)
        self.prediction_list.setHeaderLabels(["Class", "Probability"])
        self.prediction_list.setRootIsDecorated(False)
        self.prediction_list.setUniformRowHeights(True)
        self.prediction_list.setToolTip("The model's five most likely classes. Click one to explain it.")
        self.prediction_list.setMaximumHeight(130)
        self.prediction_list.header().setStretchLastSection(False)
        self.prediction_list.header().setSectionResizeMode(0, self.prediction_list.header().ResizeMode.Stretch)
        self.prediction_list.header().setSectionResizeMode(1, self.prediction_list.header().ResizeMode.ResizeToContents)
        self.prediction_list.itemClicked.connect(self._on_prediction_clicked)
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("The class whose evidence is shown. The top prediction is chosen for you.")
        self.target_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target_combo.setMinimumContentsLength(12)
        target_row = QFormLayout()
        target_row.addRow("Explain class", self.target_combo)
        prediction_layout.addWidget(self.prediction_list)
        prediction_layout.addLayout(target_row)

        method_box = QGroupBox("Method")
        method_layout = QVBoxLayout(method_box)
        self.method_combo = QComboBox()
        self.method_combo.setModel(QStandardItemModel(self.method_combo))
        self.method_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.method_combo.setMinimumContentsLength(16)
        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
        self.method_help = QLabel("")
        self.method_help.setWordWrap(True)
        self.method_help.setObjectName("notes")
        self.param_form = ParamForm()
        reset = QPushButton("Default settings")
        reset.setFlat(True)
        reset.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        reset.clicked.connect(self.param_form.reset)
        method_layout.addWidget(self.method_combo)
        method_layout.addWidget(self.method_help)
        method_layout.addWidget(self.param_form)
        method_layout.addWidget(reset, 0, Qt.AlignmentFlag.AlignRight)

        layout.addWidget(model_box)
        layout.addWidget(image_box)
        layout.addWidget(prediction_box)
        layout.addWidget(method_box)
        layout.addStretch(1)
        return panel

    def _build_run_area(self) -> QWidget:
        area = QWidget()
        layout = QVBoxLayout(area)
        layout.setContentsMargins(4, 4, 8, 4)
        run_row = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.setMinimumHeight(32)
        font = self.run_button.font()
        font.setBold(True)
        self.run_button.setFont(font)
        self.run_button.setToolTip("Explain the chosen class with the chosen method (Ctrl+R).")
        self.run_button.setShortcut("Ctrl+R")
        self.run_button.clicked.connect(self.run_explanation)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setMinimumHeight(32)
        self.cancel_button.setToolTip("Stop the running explanation (Esc).")
        self.cancel_button.setShortcut("Esc")
        self.cancel_button.clicked.connect(self.cancel_explanation)
        run_row.addWidget(self.run_button, 2)
        run_row.addWidget(self.cancel_button, 1)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)
        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)
        self.progress_label.setObjectName("notes")

        layout.addLayout(run_row)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        return area

    def _build_compare_area(self) -> QWidget:
        box = QGroupBox("Results and comparison")
        layout = QHBoxLayout(box)
        layout.setContentsMargins(4, 4, 4, 4)
        left = QVBoxLayout()
        hint = QLabel("Click a result to show it above; tick results to compare them side by side.")
        hint.setWordWrap(True)
        hint.setObjectName("notes")
        self.history_list = QListWidget()
        self.history_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.history_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.history_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.history_list.itemClicked.connect(self._on_history_clicked)
        self.history_list.itemChanged.connect(self._rebuild_compare_views)
        clear = QPushButton("Clear results")
        clear.clicked.connect(self.clear_history)
        left.addWidget(hint)
        left.addWidget(self.history_list, 1)
        left.addWidget(clear, 0, Qt.AlignmentFlag.AlignLeft)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setMaximumWidth(330)
        left_widget.setMinimumWidth(230)
        self.compare_container = QWidget()
        self.compare_layout = QHBoxLayout(self.compare_container)
        self.compare_layout.setContentsMargins(0, 0, 0, 0)
        self.compare_hint = QLabel("Tick two or more results in the list to see them side by side.")
        self.compare_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.compare_hint.setEnabled(False)
        self.compare_layout.addWidget(self.compare_hint)
        layout.addWidget(left_widget)
        layout.addWidget(self.compare_container, 1)
        return box

    # ------------------------------------------------------------ catalogue
    def set_catalog(self, catalog: Catalog) -> None:
        """Fill the model, sample and method pickers."""
        self.catalog = catalog
        self._fill_model_combo()
        self.sample_combo.clear()
        self.sample_combo.addItem("Samples…")
        for model in catalog.builtin_models:
            for path in model.get("samples", []):
                self.sample_combo.addItem(f"{Path(path).stem} ({model.get('title', model['spec'])})", str(path))
        self.sample_combo.setEnabled(self.sample_combo.count() > 1)
        self._fill_method_combo()
        self._update_enabled()

    def _fill_model_combo(self) -> None:
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for model in self.catalog.builtin_models if self.catalog else []:
            self.model_combo.addItem(model.get("title", model["spec"]), model["spec"])
            index = self.model_combo.count() - 1
            self.model_combo.setItemData(index, model.get("description", ""), Qt.ItemDataRole.ToolTipRole)
        if self.model is not None and self.model_combo.findData(self.model.spec) < 0:
            self.model_combo.addItem(self.model.name, self.model.spec)
        self.model_combo.insertSeparator(self.model_combo.count())
        self.model_combo.addItem("Torchvision architecture…", TORCHVISION_ENTRY)
        self.model_combo.addItem("Model file…", MODEL_FILE_ENTRY)
        self._select_model_in_combo()
        self.model_combo.blockSignals(False)

    def _select_model_in_combo(self) -> None:
        spec = self.model.spec if self.model is not None else None
        index = self.model_combo.findData(spec) if spec else -1
        self.model_combo.setCurrentIndex(index)

    def _fill_method_combo(self) -> None:
        model: QStandardItemModel = self.method_combo.model()
        previous = self.method_name()
        self.method_combo.blockSignals(True)
        model.clear()
        family = None
        for info in self.catalog.methods:
            if info.family != family:
                family = info.family
                header = QStandardItem(family_title(family))
                header.setFlags(Qt.ItemFlag.NoItemFlags)
                bold = QFont()
                bold.setBold(True)
                header.setFont(bold)
                model.appendRow(header)
            item = QStandardItem("    " + info.title)
            item.setData(info.name, Qt.ItemDataRole.UserRole)
            item.setToolTip(info.help)
            model.appendRow(item)
        self.method_combo.blockSignals(False)
        self.select_method(previous or "lrp.epsilon_plus_flat")

    def select_method(self, name: str) -> bool:
        """Choose a method by registry name; returns False if it is not offered."""
        for row in range(self.method_combo.count()):
            if self.method_combo.itemData(row, Qt.ItemDataRole.UserRole) == name:
                self.method_combo.setCurrentIndex(row)
                self._on_method_changed()
                return True
        for row in range(self.method_combo.count()):
            if self.method_combo.itemData(row, Qt.ItemDataRole.UserRole):
                self.method_combo.setCurrentIndex(row)
                self._on_method_changed()
                break
        return False

    def method_name(self) -> str | None:
        return self.method_combo.currentData(Qt.ItemDataRole.UserRole)

    def method_info(self):
        name = self.method_name()
        return self.catalog.method(name) if (self.catalog and name) else None

    def _on_method_changed(self, *_args) -> None:
        info = self.method_info()
        if self._form_method is not None:
            self._params_by_method[self._form_method] = self.param_form.values()
        self._form_method = info.name if info else None
        if info is None:
            self.method_help.setText("")
            self.param_form.set_params(())
            return
        help_text = info.help
        if info.needs_module and self.model is not None and self.model.is_torchscript:
            help_text += "\n\nNot available for this model: it is a TorchScript file."
        self.method_help.setText(help_text)
        self.param_form.set_params(info.params, self._params_by_method.get(info.name))
        self._update_enabled()

    # ------------------------------------------------------------ models
    def _on_model_combo_activated(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if data == TORCHVISION_ENTRY:
            self._select_model_in_combo()
            self.choose_torchvision_model()
        elif data == MODEL_FILE_ENTRY:
            self._select_model_in_combo()
            self.choose_model_file()
        elif data and (self.model is None or data != self.model.spec):
            self.load_model(data)

    def choose_model_file(self) -> None:
        start = self._last_folder()
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a model file", start, "PyTorch models (*.pt *.pth *.ts *.pth.tar);;All files (*)"
        )
        if path:
            self._remember_folder(path)
            self.load_model(f"file:{path}")

    def choose_torchvision_model(self) -> None:
        from ..widgets.torchvision_dialog import TorchvisionDialog

        architectures = self.catalog.architectures if self.catalog else []
        dialog = TorchvisionDialog(architectures, self._last_folder(), self)
        if dialog.exec():
            spec = dialog.spec()
            if dialog.weights_path():
                self._remember_folder(dialog.weights_path())
            self.load_model(spec)

    def load_model(self, spec: str, trust: bool = False) -> int:
        """Load a model in the background; the current one stays until it is ready."""
        self.status_message.emit(f"Loading model {spec} …")
        self._pending_model_spec = spec

        def job(token, progress):
            from ..catalog import configure_torch_threads
            from xaidesk.models import load_model

            configure_torch_threads()
            return load_model(spec, trust=trust)

        self._jobs["model"] = self.runner.submit(job, "model")
        self._update_enabled()
        return self._jobs["model"]

    def set_model(self, model) -> None:
        """Use an already loaded model (a ``LoadedModel``)."""
        self._model_ready(model)

    def _model_ready(self, model) -> None:
        if self.is_running():
            self.cancel_explanation()
        self.model = model
        if self.catalog is not None:
            self._fill_model_combo()
        notes = list(getattr(model, "notes", []) or [])
        description = ""
        for builtin in self.catalog.builtin_models if self.catalog else []:
            if builtin["spec"] == model.spec:
                description = builtin.get("description", "")
                accuracy = builtin.get("accuracy")
                if isinstance(accuracy, dict):
                    accuracy = accuracy.get("held_out", accuracy.get("test"))
                if isinstance(accuracy, (int, float)):
                    description = _first_sentence(description) + f" Accuracy on held-out images: {100 * accuracy:.1f} %."
        self.model_notes.setToolTip(description)
        description = _first_sentence(description)
        lines = [description] if description else []
        lines.append(f"{model.num_classes} classes, input {model.preprocessing.size[1]}x{model.preprocessing.size[0]}.")
        lines += notes
        self.model_notes.setText("\n".join(line.strip() for line in lines if line))
        self.target_combo.clear()
        for index, name in enumerate(model.class_names):
            self.target_combo.addItem(class_text(index, name), index)
        self._on_method_changed()
        self.status_message.emit(f"Model {model.name} loaded.")
        self.model_loaded.emit(model.spec)
        self._predict()

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
                self.load_model(spec, trust=True)
                return
            self._select_model_in_combo()
            self.status_message.emit("Model not loaded.")
            return
        self._select_model_in_combo()
        self.status_message.emit("The model could not be loaded.")
        error_dialog.show_error(self, "Could not load the model", failure)

    # ------------------------------------------------------------ images
    def choose_image(self) -> None:
        from xaidesk.data.images import IMAGE_FILE_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open an image", self._last_folder(), IMAGE_FILE_FILTER)
        if path:
            self.open_image(path)

    def _on_sample_chosen(self, index: int) -> None:
        path = self.sample_combo.itemData(index)
        self.sample_combo.setCurrentIndex(0)
        if path:
            self.open_image(path)

    def open_image(self, path) -> int:
        """Open an image file in the background; the current image stays until it is ready."""
        path = Path(path)
        self.status_message.emit(f"Opening {path.name} …")

        def job(token, progress):
            from xaidesk.data.images import load_image

            return load_image(path)

        self._jobs["image"] = self.runner.submit(job, "image")
        return self._jobs["image"]

    def set_image(self, image) -> None:
        """Use an already opened image (a ``LoadedImage``)."""
        self._image_ready(image)

    def _image_ready(self, image) -> None:
        if self.is_running():
            self.cancel_explanation()
        self.image = image
        self._remember_folder(image.path)
        self.input_view.set_image(image.pixels)
        self.heatmap_view.set_image(image.pixels)
        self.heatmap_view.clear_relevance()
        self.heatmap_view.set_placeholder("")
        self.heatmap_view.set_title("Explanation")
        self.stats_label.setText("")
        self.current_entry = None
        self.history_list.clearSelection()
        height, width = image.pixels.shape[:2]
        info = [f"{image.path.name} — {width}x{height} pixels"]
        info += list(getattr(image, "notices", []) or [])
        self.image_info.setText("\n".join(info))
        self.image_info.setToolTip(str(image.path))
        self.status_message.emit(f"Opened {image.path.name}.")
        self.image_opened.emit(image.path)
        self._predict()

    # ------------------------------------------------------------ prediction
    def _predict(self) -> None:
        self.prediction = None
        self.prediction_list.clear()
        if self.model is None or self.image is None:
            self._update_enabled()
            return
        model, pixels = self.model, self.image.pixels

        def job(token, progress):
            from xaidesk.explain import predict_image

            return predict_image(model, pixels)

        self._jobs["predict"] = self.runner.submit(job, "predict")
        self._update_enabled()

    def _prediction_ready(self, prediction) -> None:
        self.prediction = prediction
        self.prediction_list.clear()
        for index, label, probability in prediction.top(TOP_K):
            item = QTreeWidgetItem([class_text(index, label), probability_text(probability)])
            item.setData(0, Qt.ItemDataRole.UserRole, index)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.prediction_list.addTopLevelItem(item)
        self.set_target(prediction.top_class)
        if self.prediction_list.topLevelItemCount():
            self.prediction_list.setCurrentItem(self.prediction_list.topLevelItem(0))
        self._update_enabled()

    def _prediction_failed(self, failure: JobFailure) -> None:
        self.status_message.emit("The model could not classify this image.")
        error_dialog.show_error(self, "The model does not fit this image", failure)

    def _on_prediction_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        self.set_target(item.data(0, Qt.ItemDataRole.UserRole))

    def set_target(self, index: int) -> None:
        """Choose the class to explain."""
        row = self.target_combo.findData(int(index))
        if row >= 0:
            self.target_combo.setCurrentIndex(row)

    def target(self) -> int | None:
        data = self.target_combo.currentData()
        return None if data is None else int(data)

    # ------------------------------------------------------------ explanation
    def is_running(self) -> bool:
        return self._jobs["explain"] is not None

    def can_run(self) -> bool:
        info = self.method_info()
        return (
            self.model is not None
            and self.image is not None
            and info is not None
            and not (info.needs_module and self.model.is_torchscript)
            and not self.is_running()
        )

    def run_explanation(self) -> int | None:
        """Start explaining the chosen class with the chosen method."""
        if not self.can_run():
            return None
        info = self.method_info()
        model, image = self.model, self.image
        method, target, params = info.name, self.target(), self.param_form.values()
        pixels = image.pixels

        def job(token, progress):
            from xaidesk.explain import explain_image

            return explain_image(model, pixels, method, target=target, params=params, token=token, progress=progress)

        self._running_method_title = info.title
        self._running_context = (model.spec, model.name, pixels, image.path)
        self._jobs["explain"] = self.runner.submit(job, "explain")
        self.progress_bar.setValue(0)
        self.progress_label.setText(f"Running {info.title} …")
        self.stats_label.setText(f"Running {info.title} on {class_text(target, model.label(target))} …")
        self.status_message.emit(f"Running {info.title} …")
        self._update_enabled()
        return self._jobs["explain"]

    def cancel_explanation(self) -> None:
        """Stop the running explanation; the interface is idle at once."""
        job_id = self._jobs["explain"]
        if job_id is not None:
            self.runner.cancel(job_id)
            self._end_run("Cancelled.")

    def _end_run(self, text: str) -> None:
        self._jobs["explain"] = None
        self.progress_bar.setValue(0)
        self.progress_label.setText(text)
        self._update_enabled()
        self.status_message.emit(text)

    def _explanation_ready(self, explanation) -> None:
        spec, name, pixels, path = self._running_context
        entry = HistoryEntry(
            explanation=explanation,
            pixels=pixels,
            image_path=path,
            model_spec=spec,
            model_name=name,
            method_title=self._running_method_title,
        )
        entry.title = explanation_title(explanation, entry.method_title)
        self._end_run(f"Done in {format_duration(explanation.seconds)}.")
        self._add_history(entry)
        self.show_entry(entry)

    def _explanation_failed(self, failure: JobFailure) -> None:
        self._end_run("The explanation failed.")
        self._restore_current_view()
        error_dialog.show_error(self, "The explanation could not be computed", failure)

    def _show_partial(self, partial) -> None:
        relevance = getattr(partial, "relevance", None)
        if relevance is None or self.image is None or relevance.shape != self.image.pixels.shape[:2]:
            return
        # Levels of a partial map come from a subsample: np.percentile over a
        # full-size photo would stall the GUI thread on every refinement.
        levels = render.symmetric_levels(relevance, max_samples=PARTIAL_LEVELS_SAMPLES)
        self.heatmap_view.set_relevance(relevance, levels)
        self.heatmap_view.set_title(f"{self._running_method_title} · running…")

    def _restore_current_view(self) -> None:
        if self.current_entry is not None:
            self.show_entry(self.current_entry)
        else:
            self.heatmap_view.clear_relevance()
            self.heatmap_view.set_title("Explanation")
            self.stats_label.setText("")

    # ------------------------------------------------------------ runner relays
    def _channel_of(self, job_id: int) -> str | None:
        for channel, current in self._jobs.items():
            if current == job_id:
                return channel
        return None

    def _on_progress(self, job_id: int, fraction: float, message: str, partial: object) -> None:
        if self._channel_of(job_id) != "explain":
            return
        self.progress_bar.setValue(int(round(1000 * fraction)))
        self.progress_label.setText(progress_text(fraction, self.runner.elapsed(job_id), message))
        if partial is not None:
            self._show_partial(partial)

    def _on_finished(self, job_id: int, result: object) -> None:
        channel = self._channel_of(job_id)
        if channel is None:
            return
        if channel != "explain":
            self._jobs[channel] = None
        {
            "model": self._model_ready,
            "image": self._image_ready,
            "predict": self._prediction_ready,
            "explain": self._explanation_ready,
        }[channel](result)
        self._update_enabled()

    def _on_failed(self, job_id: int, failure: object) -> None:
        channel = self._channel_of(job_id)
        if channel is None:
            return
        if channel != "explain":
            self._jobs[channel] = None
        self._update_enabled()
        if channel == "model":
            self._model_failed(failure)
        elif channel == "image":
            self.status_message.emit("The image could not be opened.")
            error_dialog.show_error(self, "Could not open the image", failure)
        elif channel == "predict":
            self._prediction_failed(failure)
        else:
            self._explanation_failed(failure)

    def _on_cancelled(self, job_id: int) -> None:
        channel = self._channel_of(job_id)
        if channel == "explain":
            self._end_run("Cancelled.")
            self._restore_current_view()
        elif channel is not None:
            self._jobs[channel] = None
            self._update_enabled()

    # ------------------------------------------------------------ history & compare
    def _add_history(self, entry: HistoryEntry) -> None:
        self.history.insert(0, entry)
        item = QListWidgetItem(entry.title)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Unchecked)
        path = entry.image_path.name if entry.image_path else "image"
        item.setToolTip(f"{entry.title}\nModel: {entry.model_name}\nImage: {path}")
        item.setData(Qt.ItemDataRole.UserRole, id(entry))
        self.history_list.blockSignals(True)
        self.history_list.insertItem(0, item)
        while len(self.history) > MAX_HISTORY:
            self.history.pop()
            self.history_list.takeItem(self.history_list.count() - 1)
        self.history_list.setCurrentItem(item)
        self.history_list.blockSignals(False)
        self._rebuild_compare_views()

    def _entry_of(self, item: QListWidgetItem) -> HistoryEntry | None:
        key = item.data(Qt.ItemDataRole.UserRole)
        return next((e for e in self.history if id(e) == key), None)

    def _on_history_clicked(self, item: QListWidgetItem) -> None:
        entry = self._entry_of(item)
        if entry is not None:
            self.show_entry(entry)

    def show_entry(self, entry: HistoryEntry) -> None:
        """Show a finished result in the main explanation view."""
        self.current_entry = entry
        view = self.heatmap_view
        if view.pixels() is not entry.pixels:
            view.set_image(entry.pixels, reset_view=False)
        view.set_relevance(entry.explanation.relevance)
        view.set_title(entry.title)
        view.set_placeholder("")
        stats = render.relevance_stats(entry.explanation.relevance)
        levels = view.levels()
        self.stats_label.setText(
            f"Sum {format_value(stats['sum'])} · min {format_value(stats['min'])} · "
            f"max {format_value(stats['max'])} · positive share {100 * stats['positive_share']:.0f} % · "
            f"score {format_value(entry.explanation.score)} · colour scale ±{format_value(levels[1])}"
        )
        self.state_changed.emit()

    def pinned_entries(self) -> list[HistoryEntry]:
        """Results ticked for side-by-side comparison, oldest first."""
        pinned = []
        for row in range(self.history_list.count()):
            item = self.history_list.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                entry = self._entry_of(item)
                if entry is not None:
                    pinned.append(entry)
        return pinned[::-1]

    def pin(self, entry: HistoryEntry, pinned: bool = True) -> None:
        for row in range(self.history_list.count()):
            item = self.history_list.item(row)
            if self._entry_of(item) is entry:
                item.setCheckState(Qt.CheckState.Checked if pinned else Qt.CheckState.Unchecked)

    def compare_views(self) -> list[HeatmapView]:
        return list(self._compare_views)

    def _shared_levels(self, entries: list[HistoryEntry]) -> tuple[float, float] | None:
        if not self.shared_levels_check.isChecked() or not entries:
            return None
        high = max(render.symmetric_levels(e.explanation.relevance)[1] for e in entries)
        return -high, high

    def _rebuild_compare_views(self, *_args) -> None:
        for view in self._compare_views:
            self.view_group.remove(view)
            self.compare_layout.removeWidget(view)
            view.deleteLater()
        self._compare_views = []
        entries = self.pinned_entries()
        self.compare_hint.setVisible(not entries)
        levels = self._shared_levels(entries)
        for entry in entries:
            view = HeatmapView(entry.title)
            view.graphics.setAcceptDrops(False)
            view.set_image(entry.pixels, reset_view=False)
            view.set_relevance(entry.explanation.relevance, levels)
            view.set_colormap(self.heatmap_view.colormap_name())
            view.set_opacity(self.heatmap_view.opacity())
            view.hovered.connect(self.hover_message)
            view.setMinimumSize(QSize(160, 140))
            self.compare_layout.addWidget(view, 1)
            self._compare_views.append(view)
            self.view_group.add(view)

    def clear_history(self) -> None:
        self.history.clear()
        self.history_list.clear()
        self._rebuild_compare_views()

    # ------------------------------------------------------------ display settings
    def _apply_display_settings(self, *_args) -> None:
        name = self.colormap_combo.currentData()
        opacity = self.opacity_slider.value() / 100.0
        self.opacity_value.setText(f"{self.opacity_slider.value()} %")
        for view in [self.heatmap_view, *self._compare_views]:
            view.set_colormap(name)
            view.set_opacity(opacity)

    def set_colormap(self, name: str) -> None:
        self.colormap_combo.setCurrentIndex(self.colormap_combo.findData(name))

    # ------------------------------------------------------------ export
    def has_result(self) -> bool:
        return self.current_entry is not None

    def overlay_image(self) -> np.ndarray | None:
        """The current result as an overlay at the original image size (what exports contain)."""
        entry = self.current_entry
        if entry is None:
            return None
        return render.blend_overlay(
            entry.pixels,
            entry.explanation.relevance,
            cmap=self.heatmap_view.colormap_name(),
            opacity=self.heatmap_view.opacity(),
            levels=self.heatmap_view.levels(),
        )

    def export_overlay(self, path) -> Path:
        from xaidesk.core.io import save_png_atomic

        return save_png_atomic(path, self.overlay_image())

    def export_relevance(self, path) -> Path:
        from xaidesk.core.io import save_npy_atomic

        return save_npy_atomic(path, self.current_entry.explanation.relevance)

    def settings_record(self) -> dict:
        """Everything needed to reproduce the current result, as JSON-ready data."""
        import xaidesk

        entry = self.current_entry
        explanation = entry.explanation
        return {
            "xaidesk_version": xaidesk.__version__,
            "model": entry.model_spec,
            "model_name": entry.model_name,
            "image": str(entry.image_path) if entry.image_path else None,
            "method": explanation.method,
            "params": dict(explanation.params),
            "target": explanation.target.to_dict(),
            "display": {
                "colormap": self.heatmap_view.colormap_name(),
                "opacity": self.heatmap_view.opacity(),
                "levels": list(self.heatmap_view.levels()),
            },
            "summary": explanation.summary(),
        }

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

    def suggested_export_name(self, suffix: str) -> str:
        entry = self.current_entry
        stem = entry.image_path.stem if entry and entry.image_path else "image"
        method = entry.explanation.method.replace(".", "_") if entry else "explanation"
        return f"{stem}_{method}{suffix}"

    # ------------------------------------------------------------ state
    def _update_enabled(self) -> None:
        running = self.is_running()
        self.run_button.setEnabled(self.can_run())
        self.cancel_button.setEnabled(running)
        loading_model = self._jobs["model"] is not None
        self.model_combo.setEnabled(self.catalog is not None and not loading_model)
        self.state_changed.emit()

    def _last_folder(self) -> str:
        if self.settings is None:
            return ""
        return str(self.settings.value("last_folder", "") or "")

    def _remember_folder(self, path) -> None:
        if self.settings is not None:
            folder = Path(path).parent
            self.settings.setValue("last_folder", str(folder))


def _first_sentence(text: str) -> str:
    text = (text or "").strip()
    end = text.find(". ")
    return text[: end + 1] if end > 0 else text
