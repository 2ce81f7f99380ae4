"""The Images tab: open an image, pick a model and a method, run, compare, export.

All computation (loading models and images, predicting, explaining) runs in
the :class:`~xaidesk.gui.runner.Runner`; this module only dispatches jobs and
shows their results. Torch-backed packages are imported inside the jobs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from html import escape
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core import render
from .. import image_jobs
from ..catalog import Catalog, input_title
from ..image_jobs import PREPARATION_MODEL, PREPARATION_WHOLE, prepared_model
from ..formatting import (
    EtaEstimator,
    class_text,
    explained_class_text,
    explanation_title,
    format_duration,
    format_signed,
    format_value,
    map_shows_sign,
    parse_count,
    partial_title,
    probability_text,
    progress_text,
    sample_progress_text,
)
from ..overlays import highlighted_segments, samples_done, top_segment_rows
from ..runner import JobFailure, Runner
from ..views.image_views import HeatmapView, ImageView, UncertaintyView, ViewGroup
from ..widgets import error_dialog
from ..widgets.param_form import AUTOMATIC_LAYER
from .explain_base import (  # noqa: F401 - MAX_HISTORY and the helpers are re-exported
    MAX_HISTORY,
    MODEL_LAYERS,
    RUN_PLACEHOLDER,
    name_samples_plainly,
    open_waiting_sample,
    opened_message,
    running_text,
    split_results_area,
    UNCERTAINTY_COLORMAP,
    ExplainTabBase,
    faithfulness_box,
    _first_sentence,
    _levels_for,
    _unit_of,
    relevance_stats_parts,
    show_faithfulness_dialog,
    side_column,
    uncertainty_path_for,
)

OPEN_MODEL_ENTRY = "__open_model__"
MODEL_FILE_ENTRY = "__file__"
#: Pixels sampled to choose the colour levels of a partial result.
PARTIAL_LEVELS_SAMPLES = 256 * 256
TOP_K = 5


@dataclass
class _Run:
    """What a running explanation needs when its results come back."""

    spec: str
    name: str
    pixels: np.ndarray
    path: Path | None
    method_title: str
    info: object
    params: dict
    target_text: str
    image: object = None
    model: object = None
    base_model: object = None
    preparation: str = PREPARATION_MODEL
    unit: str = ""
    total: int | None = None
    eta: EtaEstimator = field(default_factory=EtaEstimator)
    shown_partial: bool = False


@dataclass
class HistoryEntry:
    """One finished run, kept for comparison and export.

    It carries its own input: the opened image (``image``, a ``LoadedImage``), the model as it
    ran (``model``, with the chosen preparation), the model as loaded (``base_model``) and the
    preparation choice, so that showing it can bring back exactly what it explained.
    """

    explanation: object
    pixels: np.ndarray
    image_path: Path | None
    model_spec: str
    model_name: str
    method_title: str
    title: str = ""
    extra: dict = field(default_factory=dict)
    image: object = None
    model: object = None
    base_model: object = None
    preparation: str = PREPARATION_MODEL


class ImagesTab(ExplainTabBase):
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

    DATA_KIND = "image"
    DEFAULT_METHOD = "lrp.epsilon_plus_flat"
    BUILTIN_MODEL_ENTRY = OPEN_MODEL_ENTRY
    BUILTIN_MODEL_TITLE = "Open model (file or folder)…"
    MODEL_FILE_ENTRY = MODEL_FILE_ENTRY
    RUN_TOOLTIP = "Explain the chosen class with the chosen method (Ctrl+R)."
    RUN_SHORTCUT = "Ctrl+R"
    CANCEL_TOOLTIP = "Stop the running explanation (Esc)."
    CANCEL_SHORTCUT = "Esc"
    PROGRESS_START_AT_ZERO = True

    def __init__(self, runner: Runner, settings=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.settings = settings
        self.catalog: Catalog | None = None
        self.model = None
        self._base_model = None
        self.image = None
        self.prediction = None
        self.history: list[HistoryEntry] = []
        self.current_entry: HistoryEntry | None = None
        self._jobs: dict[str, int | None] = {
            "model": None, "image": None, "predict": None, "explain": None, "layers": None,
        }
        self._run: _Run | None = None
        self._cancelled_runs: dict[int, _Run] = {}
        self._suppress_refit = False
        self.last_refit_seconds: float | None = None
        self._running_method_title = ""
        self._params_by_method: dict[str, dict] = {}
        self._pending_model_spec: str | None = None
        #: The label file and hand-set preprocessing of the model being loaded (kept for a trusted reload).
        self._pending_model_options: dict = {}
        self._waiting_sample: tuple | None = None
        self._sample_note: str | None = None
        self._form_method: str | None = None
        self._compare_views: list[HeatmapView] = []
        self._faithfulness_dialog = None
        self.view_group = ViewGroup()
        self._build()
        self._connect_runner(runner)
        self._update_enabled()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.side_panel = self._build_side_panel()
        side = side_column(self.side_panel, self._build_run_area())

        self.input_view = ImageView("Input")
        self.input_view.set_placeholder("Open an image (File ▸ Open…)\nor drop an image file here")
        self.heatmap_view = HeatmapView("Explanation")
        self.heatmap_view.set_placeholder(RUN_PLACEHOLDER)
        self.uncertainty_view = UncertaintyView("Uncertainty", colormap=UNCERTAINTY_COLORMAP)
        self.uncertainty_view.setToolTip(
            "How much the evidence varies between random samples: bright areas are less certain."
        )
        self.uncertainty_view.setVisible(False)
        for view in (self.input_view, self.heatmap_view, self.uncertainty_view):
            self.view_group.add(view)
            view.hovered.connect(self.hover_message)
            view.graphics.setAcceptDrops(False)

        display_bar = QWidget()
        bar = QHBoxLayout(display_bar)
        bar.setContentsMargins(4, 0, 4, 0)
        self._build_display_controls("How strongly the relevance colours cover the image.")
        reset_zoom = QToolButton()
        reset_zoom.setText("Fit")
        reset_zoom.setToolTip("Show the whole image (zoom with the mouse wheel, pan by dragging).")
        reset_zoom.clicked.connect(self.view_group.fit_all)
        self._add_display_controls(bar)
        bar.addWidget(reset_zoom)

        self.stats_label = QLabel("")
        self.stats_label.setObjectName("statsLabel")
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats_label.setWordWrap(True)  # a long line wraps instead of widening the window

        self.segment_panel = self._build_segment_panel()
        self.segment_panel.setVisible(False)
        views = QSplitter(Qt.Orientation.Horizontal)
        views.addWidget(self.input_view)
        views.addWidget(self.heatmap_view)
        views.addWidget(self.uncertainty_view)
        views.addWidget(self.segment_panel)
        views.setSizes([400, 460, 460, 230])
        for index in range(4):
            views.setCollapsible(index, False)
        self.views_splitter = views

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(display_bar)
        top_layout.addWidget(views, 1)
        top_layout.addWidget(self.stats_label)

        self._lay_out_tab(side, top, stretch=(3, 2), sizes=[520, 300])
        # Result rows name their model and image: let them wrap instead of eliding.
        self.history_list.setWordWrap(True)
        self.history_list.setTextElideMode(Qt.TextElideMode.ElideNone)
        split_results_area(self)

    def _build_side_panel(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(4, 4, 8, 4)

        model_box = self._build_model_box()
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
        model_box.layout().addLayout(preparation_row)

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

        prediction_box = self._build_prediction_box(
            "The model's five most likely classes. Click one to explain it.", self._on_prediction_clicked,
            self._on_target_changed,
        )

        method_box = self._build_method_box()

        faithfulness = faithfulness_box(
            self, "Compare methods on this image: remove the most (and least) relevant parts first and "
                  "see how fast the class score falls, against random removal.")

        layout.addWidget(model_box)
        layout.addWidget(image_box)
        layout.addWidget(prediction_box)
        layout.addWidget(method_box)
        layout.addWidget(faithfulness)
        layout.addStretch(1)
        return panel

    # ------------------------------------------------------------ faithfulness
    def open_faithfulness(self):
        """Show the faithfulness window for the current image (created on first use); returns it."""
        from xaidesk.core import list_methods

        methods = [(m.name, m.title) for m in list_methods("image") if m.name != "lrp.custom"]
        return show_faithfulness_dialog(self, methods, self._faithfulness_job, "Faithfulness of explanations",
                                        self.method_name())

    def _faithfulness_job(self, methods: list[str], settings):
        """A runner job comparing ``methods`` on the current image and class (the current method
        with the parameters in the form, the others with their defaults)."""
        from xaidesk.core import InputError

        if self.model is None or self.image is None:
            raise InputError("Open an image and a model first.")
        model, pixels, target = self.model, self.image.pixels, self.target()
        params = {}
        current = self.method_name()
        if current in methods:
            try:
                params[current] = self.param_form.values()
            except Exception:  # noqa: BLE001 - an unfinished form: the method runs with its defaults
                pass

        def job(token, progress):
            return image_jobs.compare_methods(model, pixels, methods, target, params, settings, token, progress)

        return job

    def _build_segment_panel(self) -> QWidget:
        """LIME details: local fidelity, boundary and top-segment toggles, the top segments."""
        panel = QWidget()
        panel.setMinimumWidth(190)
        panel.setMaximumWidth(280)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(2, 0, 2, 0)
        title = QLabel("Superpixels")
        title.setObjectName("viewTitle")
        self.fidelity_label = QLabel("")
        self.fidelity_label.setWordWrap(True)
        self.fidelity_label.setToolTip(
            "How well the simple linear model behind LIME reproduces the network on the random samples "
            "(1 = perfectly, 0 = not at all). Low values mean the picture should be read with care."
        )
        self.boundaries_check = QCheckBox("Segment boundaries")
        self.boundaries_check.setToolTip("Draw the borders of the superpixels LIME switched on and off.")
        self.boundaries_check.setChecked(True)
        self.boundaries_check.toggled.connect(self._apply_segment_display)
        self.top_only_check = QCheckBox("Show only top segments")
        self.top_only_check.setToolTip("Dim every superpixel except the strongest positive and negative ones.")
        self.top_only_check.toggled.connect(self._apply_segment_display)
        self.segment_table = QTreeWidget()
        self.segment_table.setColumnCount(2)
        self.segment_table.setHeaderLabels(["Segment", "Weight"])
        self.segment_table.setRootIsDecorated(False)
        self.segment_table.setUniformRowHeights(True)
        self.segment_table.setToolTip(
            "The superpixels with the largest positive (for the class) and negative (against it) weights."
        )
        self.segment_table.header().setStretchLastSection(False)
        self.segment_table.header().setSectionResizeMode(0, self.segment_table.header().ResizeMode.Stretch)
        self.segment_table.header().setSectionResizeMode(1, self.segment_table.header().ResizeMode.ResizeToContents)
        layout.addWidget(title)
        layout.addWidget(self.fidelity_label)
        layout.addWidget(self.boundaries_check)
        layout.addWidget(self.top_only_check)
        layout.addWidget(self.segment_table, 1)
        return panel

    # ------------------------------------------------------------ hooks of ExplainTabBase
    def set_catalog(self, catalog: Catalog) -> None:
        """Fill the model, sample and method pickers."""
        super().set_catalog(catalog)
        name_samples_plainly(self, catalog)

    def _relevance_view(self) -> HeatmapView:
        return self.heatmap_view

    def _has_input(self) -> bool:
        return self.image is not None

    def _open_input(self, path) -> None:
        self.open_image(path)

    def _choose_builtin_model(self) -> None:
        self.open_model_dialog()

    # ------------------------------------------------------------ catalogue
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

    # ------------------------------------------------------------ models
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
            self.runner.cancel(channel="model")
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

        self._jobs["model"] = self.runner.submit(job, "model")
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
        open_waiting_sample(self)

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
        self._show_model_notes(model, description, notes)
        self._suppress_refit = True
        try:
            self.target_combo.clear()
            for index, name in enumerate(model.class_names):
                self.target_combo.addItem(class_text(index, name), index)
        finally:
            self._suppress_refit = False
        self.param_form.set_dynamic_choices(MODEL_LAYERS, [AUTOMATIC_LAYER])
        self._on_method_changed()
        self._list_layers()
        self.status_message.emit(self._model_ready_text(model))
        self.model_loaded.emit(model.spec)
        self._predict()

    def _show_model_notes(self, model, description: str, notes: list[str]) -> None:
        """Under the model picker: what the model is, its classes and input (the preprocessing said once),
        and its notes cut to their first clause; "More…" shows them whole (all of it is the tooltip too)."""
        from xaidesk.models.base import PREPROCESSING, note_kind

        pre = model.preprocessing
        crop = (f"; the shorter side is resized to {pre.resize} pixels and the centre cut out: the border is "
                "not seen") if pre.resize is not None else ""
        by_hand = " Preprocessing set by hand." if getattr(model, "preprocessing_set_by_hand", False) else ""
        shape = f"{model.num_classes} classes, input {pre.size[1]}x{pre.size[0]}{crop}.{by_hand}"
        short = [_first_sentence(description), shape] if description else [shape]
        whole = [description, shape] if description else [shape]
        for note in notes:
            kind, note = note_kind(note), note.strip()
            if not note or kind == PREPROCESSING:
                if note not in shape:
                    whole.append(note)  # what the shape line says already, with its source: under "More…"
                continue
            short.append(_first_clause(note))
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

    def _clear_result_view(self) -> None:
        """Show no result (a new input or model): the explanation views wait for Run."""
        self.heatmap_view.clear_relevance()
        self.heatmap_view.set_placeholder(RUN_PLACEHOLDER)
        self.heatmap_view.set_title("Explanation")
        self._show_uncertainty(None)
        self._show_details(None)
        self.stats_label.setText("")
        self.current_entry = None
        self.history_list.clearSelection()
        self.history_list.setCurrentItem(None)

    def _list_layers(self) -> None:
        """List the model's layers in the worker (one forward pass) for layer parameters."""
        uses_layers = any(
            p.choices_from == MODEL_LAYERS for info in (self.catalog.methods if self.catalog else []) for p in info.params
        )
        if self.model is None or not uses_layers:
            return
        model = self.model

        def job(token, progress):
            return image_jobs.model_layers(model)

        self._jobs["layers"] = self.runner.submit(job, "layers")

    def _layers_ready(self, result) -> None:
        spec, layers = result
        if self.model is None or spec != self.model.spec:
            return
        choices = [AUTOMATIC_LAYER, *[(name, description) for name, description in layers]]
        known = {value for value, _ in choices}
        for info in self.catalog.methods if self.catalog else []:
            stored = self._params_by_method.get(info.name)
            for p in info.params:
                if stored is not None and p.choices_from == MODEL_LAYERS and stored.get(p.name) not in known:
                    stored[p.name] = p.default
        self.param_form.set_dynamic_choices(MODEL_LAYERS, choices)

    def layer_choices(self) -> list[tuple[str, str]]:
        """The layers offered for layer parameters, as ``(name, description)``."""
        return self.param_form.dynamic_choices(MODEL_LAYERS)

    # ------------------------------------------------------------ images
    def choose_image(self) -> None:
        from xaidesk.data.images import IMAGE_FILE_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open an image", self._last_folder(), IMAGE_FILE_FILTER)
        if path:
            self.open_image(path)

    def open_image(self, path) -> int:
        """Open an image file in the background; the current image stays until it is ready."""
        path = Path(path)
        self.status_message.emit(f"Opening {path.name} …")

        def job(token, progress):
            return image_jobs.open_image(path)

        self._jobs["image"] = self.runner.submit(job, "image")
        return self._jobs["image"]

    def set_image(self, image) -> None:
        """Use an already opened image (a ``LoadedImage``)."""
        self._image_ready(image)

    def _image_ready(self, image, announce: bool = True) -> None:
        if self.is_running():
            self.cancel_explanation()
        self.image = image
        self.input_view.set_image(image.pixels)
        self.heatmap_view.set_image(image.pixels)
        self.uncertainty_view.set_image(image.pixels)
        self._clear_result_view()
        height, width = image.pixels.shape[:2]
        info = [f"{input_title(image.path, self.catalog)} — {width}x{height} pixels"]
        info += list(getattr(image, "notices", []) or [])
        self.image_info.setText("\n".join(info))
        self.image_info.setToolTip(str(image.path))
        if announce:
            self._remember_folder(image.path)
            self.status_message.emit(opened_message(self, image.path))
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
            return image_jobs.predict(model, pixels)

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
        self._suppress_refit = True
        try:
            self.set_target(self._predicted_target(prediction.top_class))
        finally:
            self._suppress_refit = False
        if self.prediction_list.topLevelItemCount():
            self.prediction_list.setCurrentItem(self.prediction_list.topLevelItem(0))
        self._update_enabled()

    def _prediction_failed(self, failure: JobFailure) -> None:
        self.status_message.emit("The model could not classify this image.")
        error_dialog.show_error(self, "The model does not fit this image", failure)

    def _on_prediction_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        self.set_target(item.data(0, Qt.ItemDataRole.UserRole))

    # ------------------------------------------------------------ explanation
    def run_explanation(self) -> int | None:
        """Start explaining the chosen class with the chosen method."""
        if not self.can_run():
            return None
        info = self.method_info()
        model, image = self.model, self.image
        method, target, params = info.name, self.target(), self.param_form.values()
        pixels = image.pixels

        def job(token, progress):
            return image_jobs.explain(model, pixels, method, target, params, token, progress)

        target_index = target if target is not None else (self.prediction.top_class if self.prediction else 0)
        self._run = _Run(
            spec=model.spec, name=model.name, pixels=pixels, path=image.path, method_title=info.title, info=info,
            params=dict(params), target_text=class_text(target_index, model.label(target_index)),
            image=image, model=model, base_model=self._base_model, preparation=self.preparation(),
        )
        self._running_method_title = info.title
        self._jobs["explain"] = self.runner.submit(job, "explain")
        self.progress_bar.setValue(0)
        self.progress_label.setText(f"Running {info.title} …")
        self.stats_label.setText(running_text(info, model, target))
        self.status_message.emit(f"Running {info.title} …")
        self._update_enabled()
        return self._jobs["explain"]

    def _explanation_ready(self, explanation) -> None:
        run = self._run
        entry = self._entry_of_run(explanation, run)
        if explanation.method == "lime":
            entry.extra["lime_source"] = id(explanation)
        entry.title = self._entry_title(entry, run.unit)
        self._end_run(f"Done in {format_duration(explanation.seconds)}.")
        self._add_history(entry)
        self.show_entry(entry)

    def _entry_title(self, entry: HistoryEntry, unit: str = "") -> str:
        explanation = entry.explanation
        target = explained_class_text(explanation)
        if not explanation.complete:
            done, total = samples_done(explanation)
            title = partial_title(entry.method_title, target, done, total, unit or _unit_of(explanation))
        else:
            title = explanation_title(explanation, entry.method_title)
        if entry.extra.get("refit"):
            title = f"{entry.method_title} · {target} · refit, no new samples" + (
                " (partial)" if not explanation.complete else "")
        return f"{title} · {self._input_text(entry)}"

    def _short_title(self, entry: HistoryEntry) -> str:
        """The result's title without its model and image (those are in the tooltip)."""
        suffix = f" · {self._input_text(entry)}"
        return entry.title[: -len(suffix)] if entry.title.endswith(suffix) else entry.title

    def _title_view(self, view, entry: HistoryEntry) -> None:
        view.set_title(self._short_title(entry))
        view.title_label.setToolTip(self._history_tooltip(entry))

    @staticmethod
    def _input_text(entry: HistoryEntry) -> str:
        """The model and image a result explains, e.g. "Handwritten digits (demo CNN) on digits_3.png"."""
        model = entry.model_name + (", whole image" if entry.preparation == PREPARATION_WHOLE else "")
        return f"{model} on {entry.image_path.name if entry.image_path else 'an image'}"

    def _show_partial(self, partial) -> None:
        relevance = getattr(partial, "relevance", None)
        if relevance is None or self.image is None or relevance.shape != self.image.pixels.shape[:2]:
            return
        # Levels of a partial map come from a subsample: np.percentile over a
        # full-size photo would stall the GUI thread on every refinement.
        levels = _levels_for(partial, max_samples=PARTIAL_LEVELS_SAMPLES)
        self.heatmap_view.set_meaning_class(class_text(partial.target.index, partial.target.label),
                                            map_shows_sign(partial.method, partial.params))
        self.heatmap_view.set_relevance(relevance, levels)
        run = self._run
        done, total = samples_done(partial, run.total if run else None)
        unit = (run.unit if run else "") or _unit_of(partial)
        running = f"{self._running_method_title} · running"
        if done is not None and total:
            running += f", {done} of {total}" + (f" {unit}" if unit else "")
        self.heatmap_view.set_title(running + " …")
        self._show_uncertainty(partial, title="Uncertainty · running …")
        self._show_details(partial)
        if run is not None:
            run.shown_partial = True

    def _show_uncertainty(self, explanation, title: str = "Uncertainty") -> None:
        """Show the result's uncertainty beside the importance map (hidden when it has none)."""
        uncertainty = getattr(explanation, "uncertainty", None) if explanation is not None else None
        view = self.uncertainty_view
        if uncertainty is None or self.heatmap_view.pixels() is None or (
                uncertainty.shape != self.heatmap_view.pixels().shape[:2]):
            view.clear_relevance()
            view.setVisible(False)
            return
        if view.pixels() is not self.heatmap_view.pixels():
            view.set_image(self.heatmap_view.pixels(), reset_view=False)
        view.set_relevance(uncertainty)
        view.set_title(title)
        view.set_opacity(self.heatmap_view.opacity())
        if not view.isVisible():
            view.setVisible(True)
            # The views' sizes change only after the layout ran: then fit every view again.
            QTimer.singleShot(0, self.view_group.fit_all)

    def _show_details(self, explanation) -> None:
        """LIME details: superpixels on the heatmap, fidelity and the top segments."""
        extras = getattr(explanation, "extras", None) or {}
        segments = extras.get("segments")
        pixels = self.heatmap_view.pixels()
        if not isinstance(segments, np.ndarray) or pixels is None or segments.shape != pixels.shape[:2]:
            self.heatmap_view.set_segments(None)
            self.segment_panel.setVisible(False)
            return
        weights = extras.get("segment_weights") or []
        self.heatmap_view.set_segments(segments, weights, highlighted_segments(extras))
        self._apply_segment_display()
        r2 = extras.get("r2")
        fidelity = f"local fidelity R² = {r2:.2f}" if isinstance(r2, float) and np.isfinite(r2) else "local fidelity R² = –"
        count = extras.get("num_segments", len(weights))
        self.fidelity_label.setText(f"{fidelity}\n{count} superpixels · {extras.get('n_used', '?')} samples")
        k = max(len(extras.get("top_positive") or []), len(extras.get("top_negative") or []))
        self.top_only_check.setText(f"Show only top segments ({k} + / {k} −)" if k else "Show only top segments")
        self.segment_table.clear()
        for label, weight, kind in top_segment_rows(extras):
            item = QTreeWidgetItem([f"segment {label}", format_signed(weight)])
            item.setData(0, Qt.ItemDataRole.UserRole, label)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            colour = QColor("#d04040") if kind == "positive" else QColor("#3c6fd0")
            item.setForeground(1, QBrush(colour))
            item.setToolTip(0, f"Segment {label}: {kind} evidence for the class (weight {format_signed(weight)}).")
            self.segment_table.addTopLevelItem(item)
        self.segment_panel.setVisible(True)

    def _apply_segment_display(self, *_args) -> None:
        boundaries, top_only = self.boundaries_check.isChecked(), self.top_only_check.isChecked()
        for view in [self.heatmap_view, *self._compare_views]:
            view.set_show_boundaries(boundaries)
            view.set_top_only(top_only)

    def _restore_current_view(self) -> None:
        if self.current_entry is not None:
            self.show_entry(self.current_entry)
        else:
            self._clear_result_view()

    # ------------------------------------------------------------ target switching (LIME refit)
    def _on_target_changed(self, *_args) -> None:
        if self._suppress_refit:
            return
        target = self.target()
        entry = self.current_entry
        if target is None or entry is None or self.is_running() or not self._can_refit(entry):
            return
        if target != entry.explanation.target.index:
            self.refit(target)

    def _can_refit(self, entry: HistoryEntry) -> bool:
        extras = entry.explanation.extras
        return (
            entry.explanation.method == "lime"
            and all(key in extras for key in ("design", "sample_weights", "outputs", "segments"))
            and self.image is not None
            and entry.pixels is self.image.pixels
            and self.model is not None
            and entry.model_spec == self.model.spec
            and (entry.model is None or entry.model is self.model)
        )

    def refit(self, target: int) -> HistoryEntry | None:
        """Explain another class from the current LIME result's samples (no forward pass).

        Shows an earlier result of the same run for that class if there is one, otherwise
        adds a new result titled "… refit, no new samples".
        """
        entry = self.current_entry
        if entry is None or not self._can_refit(entry):
            return None
        source = entry.extra.get("lime_source", id(entry.explanation))
        for other in self.history:
            if other.extra.get("lime_source") == source and other.explanation.target.index == int(target):
                self._select_history(other)
                self.show_entry(other)
                return other
        from xaidesk.explain.lime import refit_lime

        start = time.perf_counter()
        try:
            explanation = refit_lime(entry.explanation, int(target), class_label=self.model.label(int(target)))
        except Exception as error:  # noqa: BLE001 - shown to the person, the state stays as it was
            error_dialog.show_error(self, "Could not explain this class from the stored samples",
                                    JobFailure.from_exception(error))
            return None
        self.last_refit_seconds = time.perf_counter() - start
        explanation = explanation.replace(seconds=self.last_refit_seconds)
        new = replace(entry, explanation=explanation, extra={"refit": True, "lime_source": source})
        new.title = self._entry_title(new)
        self._add_history(new)
        self.show_entry(new)
        self.status_message.emit(
            f"Explained {class_text(explanation.target.index, explanation.target.label)} from the same "
            f"{explanation.extras.get('n_used', '')} samples in {format_duration(self.last_refit_seconds)} (no new samples)."
        )
        return new

    # ------------------------------------------------------------ runner relays
    def _finish_handlers(self) -> dict:
        return {
            "model": self._model_ready,
            "image": self._image_ready,
            "predict": self._prediction_ready,
            "explain": self._explanation_ready,
            "layers": self._layers_ready,
        }

    def _channel_failed(self, channel: str, failure) -> None:
        if channel == "image":
            self.status_message.emit("The image could not be opened.")
            error_dialog.show_error(self, "Could not open the image", failure)
        elif channel == "predict":
            self._prediction_failed(failure)

    def _on_progress(self, job_id: int, fraction: float, message: str, partial: object) -> None:
        if self._channel_of(job_id) != "explain":
            return
        self.progress_bar.setValue(int(round(1000 * fraction)))
        elapsed = self.runner.elapsed(job_id)
        count = parse_count(message)
        run = self._run
        if count is not None and run is not None:
            done, total, unit = count
            run.total, run.unit = total, unit or run.unit
            text = sample_progress_text(done, total, run.unit, run.eta.remaining(done, total, elapsed))
        else:
            text = progress_text(fraction, elapsed, message)
        self.progress_label.setText(text)
        if partial is not None:
            self._show_partial(partial)

    def _partial_fits(self, run: _Run, relevance) -> bool:
        return relevance.shape == run.pixels.shape[:2]

    def _is_current_input(self, run: _Run) -> bool:
        return self.image is not None and run.pixels is self.image.pixels

    def _stopped_entry(self, explanation, run: _Run) -> HistoryEntry:
        prediction = self.prediction
        if not np.isfinite(explanation.score) and prediction is not None and run.pixels is self.image.pixels:
            logits = getattr(prediction, "logits", None)
            index = explanation.target.index
            if logits is not None and 0 <= index < len(logits):
                explanation = explanation.replace(score=float(logits[index]))
        entry = self._entry_of_run(explanation, run)
        if explanation.method == "lime":
            entry.extra["lime_source"] = id(explanation)
        entry.title = self._entry_title(entry, run.unit)
        return entry

    def _entry_of_run(self, explanation, run: _Run) -> HistoryEntry:
        return HistoryEntry(
            explanation=explanation, pixels=run.pixels, image_path=run.path, model_spec=run.spec,
            model_name=run.name, method_title=run.method_title, image=run.image, model=run.model,
            base_model=run.base_model, preparation=run.preparation,
        )

    def _kept_count_text(self, run: _Run, explanation) -> str:
        done, total = samples_done(explanation, run.total)
        return (f" ({done} of {total} {run.unit})".replace(" )", ")") if done is not None and total else "")

    # ------------------------------------------------------------ history & compare
    def _history_tooltip(self, entry: HistoryEntry) -> str:
        path = str(entry.image_path) if entry.image_path else "image"
        return f"{entry.title}\nModel: {entry.model_name} ({entry.model_spec})\nImage: {path}"

    def _is_other_input(self, entry: HistoryEntry) -> bool:
        """Whether ``entry`` explains another image, model or preparation than the one open now."""
        other_image = self.image is None or entry.pixels is not self.image.pixels
        other_model = entry.model is not None and entry.model is not self.model
        return other_image or other_model

    def _bring_back_input(self, entry: HistoryEntry) -> bool:
        """Open ``entry``'s own image and model again (they are kept with the result).

        Returns False, with a status message, when that cannot happen now (a run is going on,
        or the result does not carry its input).
        """
        if self.is_running():
            self.status_message.emit("That result explains another image or model: wait for the run to finish "
                                     "or cancel it, then click the result again.")
            return False
        if entry.image is None or (entry.model is None and entry.model_spec != getattr(self.model, "spec", None)):
            self.status_message.emit("That result cannot be shown: its image or model is no longer known.")
            return False
        self.explain_after_prediction(entry.explanation.target.index)
        if entry.model is not None and entry.model is not self.model:
            self._base_model = entry.base_model or entry.model
            self.preparation_combo.setCurrentIndex(max(0, self.preparation_combo.findData(entry.preparation)))
            self._use_model(entry.model)
        if self.image is None or entry.pixels is not self.image.pixels:
            self._image_ready(entry.image, announce=False)
        self.status_message.emit(f"Showing a result of {self._input_text(entry)}: that image and model are open again.")
        return True

    def _select_history(self, entry: HistoryEntry | None) -> None:
        """Highlight ``entry``'s row (no row for ``None``), without showing it again."""
        if entry is None:
            self.history_list.blockSignals(True)
            self.history_list.setCurrentItem(None)
            self.history_list.clearSelection()
            self.history_list.blockSignals(False)
            return
        for row in range(self.history_list.count()):
            item = self.history_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == id(entry):
                self.history_list.blockSignals(True)
                self.history_list.setCurrentItem(item)
                self.history_list.blockSignals(False)

    def show_entry(self, entry: HistoryEntry) -> None:
        """Show a finished result in the main explanation view, with its own input.

        A result of another image or model brings that image and model back (the input view,
        the prediction and the class then match what is shown); while a run is going on it is
        refused with a status message instead.
        """
        if self._is_other_input(entry) and not self._bring_back_input(entry):
            self._select_history(self.current_entry)
            return
        self.current_entry = entry
        self._select_history(entry)
        view = self.heatmap_view
        if view.pixels() is not entry.pixels:
            size_changed = view.pixels() is None or view.pixels().shape != entry.pixels.shape
            view.set_image(entry.pixels, reset_view=size_changed)
        view.set_meaning_class(class_text(entry.explanation.target.index, entry.explanation.target.label),
                               map_shows_sign(entry.explanation.method, entry.explanation.params))
        view.set_relevance(entry.explanation.relevance, _levels_for(entry.explanation))
        self._title_view(view, entry)
        view.set_placeholder("")
        explanation = entry.explanation
        self._show_uncertainty(explanation, "Uncertainty" + ("" if explanation.complete else " · partial"))
        self._show_details(explanation)
        stats = render.relevance_stats(explanation.relevance)
        levels = view.levels()
        parts = relevance_stats_parts(stats, explanation, levels)
        extras = explanation.extras
        if explanation.uncertainty is not None:
            parts.append(f"average uncertainty {format_value(float(np.nanmean(explanation.uncertainty)))}")
        unseen = render.unseen_count(explanation.relevance)
        if unseen:
            parts.append(f"{unseen} pixels not seen by the model (uncoloured)")
        if extras.get("layer"):
            parts.append(f"shown at layer {extras['layer']}")
        if not explanation.complete:
            done, total = samples_done(explanation)
            parts.insert(0, f"Still running: {done} of {total} {_unit_of(explanation)} so far".replace("  ", " "))
        self.stats_label.setText(" · ".join(parts))
        if self._can_refit(entry) and self.target() != explanation.target.index:
            self._suppress_refit = True
            try:
                self.set_target(explanation.target.index)
            finally:
                self._suppress_refit = False
        self.state_changed.emit()

    def _compare_view_group(self) -> ViewGroup:
        return self.view_group

    def _make_compare_view(self, entry: HistoryEntry, levels) -> HeatmapView:
        view = HeatmapView()
        self._title_view(view, entry)
        view.graphics.setAcceptDrops(False)
        view.set_image(entry.pixels, reset_view=False)
        view.set_meaning_class(class_text(entry.explanation.target.index, entry.explanation.target.label),
                               map_shows_sign(entry.explanation.method, entry.explanation.params))
        view.set_relevance(entry.explanation.relevance, levels or _levels_for(entry.explanation))
        view.set_opacity(self.heatmap_view.opacity())
        extras = entry.explanation.extras
        if isinstance(extras.get("segments"), np.ndarray):
            view.set_segments(extras["segments"], extras.get("segment_weights"), highlighted_segments(extras))
            view.set_show_boundaries(self.boundaries_check.isChecked())
            view.set_top_only(self.top_only_check.isChecked())
        view.hovered.connect(self.hover_message)
        view.setMinimumSize(QSize(160, 140))
        return view

    # ------------------------------------------------------------ display settings
    def _apply_display_settings(self, *_args) -> None:
        super()._apply_display_settings()
        # The uncertainty keeps its sequential colour map; it follows the opacity.
        self.uncertainty_view.set_opacity(self.opacity_slider.value() / 100.0)

    # ------------------------------------------------------------ export
    def overlay_image(self) -> np.ndarray | None:
        """The current result as an overlay at the original image size (what exports contain)."""
        entry = self.current_entry
        if entry is None:
            return None
        from ..overlays import composite

        overlay = render.blend_overlay(
            entry.pixels,
            entry.explanation.relevance,
            cmap=self.heatmap_view.colormap_name(),
            opacity=self.heatmap_view.opacity(),
            levels=self.heatmap_view.levels(),
        )
        # Superpixel boundaries and dimming, as shown.
        return composite(overlay, self.heatmap_view.decoration())

    def figure_labels(self) -> tuple[str, str]:
        """The current result's figure title (method, class, model) and colour-bar label."""
        entry = self.current_entry
        # The colour bar says what the view's caption says; unseen pixels get their own note in the figure.
        meaning = self.heatmap_view.colour_meaning(with_unseen=False)
        model = entry.model_name + (" (whole image)" if entry.preparation == PREPARATION_WHOLE else "")
        title = render.figure_title(entry.method_title, explained_class_text(entry.explanation), model)
        return title, f"relevance · {meaning}"

    def export_figure(self, path) -> Path:
        """Write the current result as a figure with a title and a labelled colour bar (PNG, PDF or SVG
        by the suffix), at the opened image's full resolution, as shown."""
        entry = self.current_entry
        title, label = self.figure_labels()
        return render.save_figure(
            path, entry.pixels, entry.explanation.relevance, title=title, colorbar_label=label,
            cmap=self.heatmap_view.colormap_name(), opacity=self.heatmap_view.opacity(),
            levels=self.heatmap_view.levels(), decoration=self.heatmap_view.decoration(),
        )

    def export_relevance(self, path) -> Path:
        """Write the relevance map; a result with uncertainty also gets ``uncertainty.npy`` beside it.

        Pixels the model never saw (cut off by a centre crop) are NaN in the file."""
        from xaidesk.core.io import save_npy_atomic

        path = save_npy_atomic(path, self.current_entry.explanation.relevance)
        if self.current_entry.explanation.uncertainty is not None:
            self.export_uncertainty(uncertainty_path_for(path))
        return path

    def export_uncertainty(self, path) -> Path | None:
        """Write the current result's uncertainty map (``None`` when it has none)."""
        from xaidesk.core.io import save_npy_atomic

        uncertainty = self.current_entry.explanation.uncertainty if self.current_entry else None
        if uncertainty is None:
            return None
        return save_npy_atomic(path, uncertainty)

    def settings_record(self) -> dict:
        """Everything needed to reproduce the current result, as JSON-ready data."""
        import xaidesk

        entry = self.current_entry
        explanation = entry.explanation
        done, total = samples_done(explanation)
        return {
            "xaidesk_version": xaidesk.__version__,
            "partial": not explanation.complete,
            "samples_done": done,
            "samples_total": total,
            "refit": bool(entry.extra.get("refit", False)),
            "title": entry.title,
            "model": entry.model_spec,
            "model_name": entry.model_name,
            "label_file": getattr(entry.model, "label_file", None),
            "preprocessing_set_by_hand": bool(getattr(entry.model, "preprocessing_set_by_hand", False)),
            "image": str(entry.image_path) if entry.image_path else None,
            "image_size": [int(entry.pixels.shape[1]), int(entry.pixels.shape[0])],
            "preprocessing": entry.model.preprocessing.to_dict() if entry.model is not None else None,
            "unseen_pixels": render.unseen_count(explanation.relevance),
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

    def suggested_export_name(self, suffix: str) -> str:
        entry = self.current_entry
        stem = entry.image_path.stem if entry and entry.image_path else "image"
        method = entry.explanation.method.replace(".", "_") if entry else "explanation"
        return f"{stem}_{method}{suffix}"


def _first_clause(note: str) -> str:
    """``note`` up to its first sentence or clause end ("." or ";"), for a short line."""
    ends = [i for i in (note.find(". "), note.find("; ")) if i > 0]
    return note[: min(ends)].rstrip(".") + "." if ends else note
