"""Machinery shared by the tabs that explain a model's prediction with a relevance map.

:class:`ExplainTabBase` holds what the Images and Audio tabs do the same way: the
model and method pickers (with the generated parameter form and its help), the
run / progress / cancel handling (cancelled iterative runs keep their partial
result), the results list with side-by-side comparison, the colour-map and
opacity controls, and the export helpers. A tab fills in the hooks at the end of
the class (which data kind it shows, which view holds the relevance, …).

This module also holds the small non-Qt helpers both tabs use for colour levels,
units and export paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QGuiApplication, QImage, QPalette, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
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
    QTreeWidget,
    QVBoxLayout,
    QWidget,
)

from ...core import render
from ..catalog import Catalog, family_title, input_title, sample_title
from ..formatting import class_text, map_shows_sign, method_explains_class, statistics_parts
from ..runner import JobFailure
from ..views.view_common import AUTOMATIC_COLORMAP, UNSIGNED_COLORMAP
from ..widgets import error_dialog
from ..widgets.param_form import ParamForm

#: What the explanation view shows before a run.
RUN_PLACEHOLDER = "Press Run to explain…"
#: Starting width of the results list beside the comparison views (the splitter between them moves).
RESULTS_LIST_WIDTH = 360

#: Method chosen for a transformer when the chosen method cannot explain the model.
TRANSFORMER_METHOD = "lrp.attention"
#: Finished results kept for comparison (each holds a full-size relevance map).
MAX_HISTORY = 16
#: ``Param.choices_from`` value of parameters that list the model's layers.
MODEL_LAYERS = "model_layers"
#: Colour map of uncertainty maps (sequential: 0 is "certain").
UNCERTAINTY_COLORMAP = "viridis" if "viridis" in render.SEQUENTIAL_COLORMAPS else render.SEQUENTIAL_COLORMAPS[0]


class JobChannelsMixin:
    """For a tab that keeps its running jobs in ``self._jobs`` (channel name -> job id or None).

    The job of :attr:`RUN_CHANNEL` (the tab's long computation) stays registered until the tab's
    finish handler has ended the run; every other channel is cleared as soon as its job ends.
    """

    RUN_CHANNEL = "explain"

    def _channel_of(self, job_id: int) -> str | None:
        for channel, current in self._jobs.items():
            if current == job_id:
                return channel
        return None

    def _on_finished(self, job_id: int, result: object) -> None:
        channel = self._channel_of(job_id)
        if channel is None:
            return
        if channel != self.RUN_CHANNEL:
            self._jobs[channel] = None
        self._finish_handlers()[channel](result)
        self._update_enabled()


def side_column(panel: QWidget, bottom: QWidget, min_width: int = 330, max_width: int = 420) -> QWidget:
    """The left column of a tab: ``panel`` in a vertical scroll area, ``bottom`` (the run area) under it."""
    scroll = QScrollArea()
    scroll.setWidget(panel)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    side = QWidget()
    side.setMinimumWidth(min_width)
    side.setMaximumWidth(max_width)
    side_layout = QVBoxLayout(side)
    side_layout.setContentsMargins(0, 0, 0, 0)
    side_layout.addWidget(scroll, 1)
    side_layout.addWidget(bottom)
    return side


def make_progress_bar() -> QProgressBar:
    """A run's progress bar: 0 to 1000 (tenths of a percent), no text."""
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setTextVisible(False)
    return bar


def split_results_area(tab) -> QSplitter:
    """Put the tab's results list and its comparison views on a splitter, the list at a readable width."""
    list_panel = tab.history_list.parentWidget()
    layout = tab.compare_box.layout()
    splitter = QSplitter(Qt.Orientation.Horizontal)
    for widget in (list_panel, tab.compare_container):
        layout.removeWidget(widget)
        splitter.addWidget(widget)
    list_panel.setMinimumWidth(200)
    list_panel.setMaximumWidth(16_777_215)
    splitter.setCollapsible(0, False)
    splitter.setStretchFactor(1, 1)
    splitter.setSizes([RESULTS_LIST_WIDTH, 3 * RESULTS_LIST_WIDTH])
    layout.addWidget(splitter)
    return splitter


def name_samples_plainly(tab, catalog: Catalog) -> None:
    """Show the tab's sample picker entries by their plain titles ("Tone then clicks"), the model in the tooltip."""
    models = {str(path): model for model in catalog.models(tab.DATA_KIND) for path in model.get("samples", [])}
    for index in range(tab.sample_combo.count()):
        model = models.get(str(tab.sample_combo.itemData(index)))
        if model is not None:
            tab.sample_combo.setItemText(index, sample_title(tab.sample_combo.itemData(index), model["spec"]))
            tab.sample_combo.setItemData(index, model.get("title", model["spec"]), Qt.ItemDataRole.ToolTipRole)


def open_sample_with_its_model(tab, path) -> None:
    """Open a demo model's sample in ``tab``, first loading that model when another one is in use.

    A sample scored by a model it does not belong to gives confident nonsense (a horse read as a digit).
    """
    owner = tab.catalog.sample_owner(path) if tab.catalog is not None else None
    loading = tab._pending_model_spec if tab._jobs.get("model") is not None else None
    current = loading or (tab.model.spec if tab.model is not None else None)
    if owner is None or owner["spec"] == current:
        tab._open_input(path)
        return
    tab.load_model(owner["spec"])
    note = f"Loaded {owner.get('title', owner['spec'])}, the demo model this sample belongs to."
    tab._waiting_sample = (path, note)


def open_waiting_sample(tab) -> bool:
    """Open the sample that waited for its model (see :func:`open_sample_with_its_model`); False if none."""
    waiting, tab._waiting_sample = tab._waiting_sample, None
    if waiting is None:
        return False
    path, tab._sample_note = waiting
    tab._open_input(path)
    return True


def opened_message(tab, path) -> str:
    """The status line for an opened input: the note of a sample that brought its model, else "Opened …"."""
    note, tab._sample_note = tab._sample_note, None
    return note or f"Opened {input_title(path, tab.catalog)}."


def show_class_choice(tab) -> None:
    """Grey out the class picker, with a tooltip saying why, while the chosen method explains no class."""
    if not hasattr(tab, "_class_tooltip"):
        tab._class_tooltip = tab.target_combo.toolTip()
    info = tab.method_info()
    explains_class = info is None or info.explains_class
    tab.target_combo.setEnabled(explains_class)
    tab.target_combo.setToolTip(tab._class_tooltip if explains_class else
                                f"{info.title} explains what the model's representation depends on, not one class.")


def running_text(info, model, target: int) -> str:
    """``"Running LRP on class 3 …"``; no class for a method that explains none."""
    if not info.explains_class:
        return f"Running {info.title} …"
    return f"Running {info.title} on {class_text(target, model.label(target))} …"


class ExplainTabBase(JobChannelsMixin, QWidget):
    """Base of the Images and Audio tabs (see the module docstring).

    A subclass defines the signals ``status_message``, ``hover_message`` and
    ``state_changed``, the widgets its ``_build`` makes (``model_combo``,
    ``sample_combo``, ``method_combo``, ``method_help``, ``param_form``,
    ``target_combo``, ``history_list`` …) and the hooks below.
    """

    #: Which catalog models and samples the tab offers ("image", "audio").
    DATA_KIND = ""
    #: Method chosen when the pickers are first filled.
    DEFAULT_METHOD = ""
    #: ``model_combo`` data of the built-in architecture entry and of the "Model file…" entry.
    BUILTIN_MODEL_ENTRY = ""
    BUILTIN_MODEL_TITLE = ""
    MODEL_FILE_ENTRY = ""
    #: Run-area texts and keyboard shortcuts (``None``: no shortcut).
    RUN_TOOLTIP = "Explain the chosen class with the chosen method."
    RUN_SHORTCUT: str | None = None
    CANCEL_TOOLTIP = "Stop the running explanation."
    CANCEL_SHORTCUT: str | None = None
    #: Whether the progress bar is explicitly set to 0 when built.
    PROGRESS_START_AT_ZERO = False

    # ------------------------------------------------------------------ hooks
    def _relevance_view(self):
        """The view that shows the current relevance map."""
        raise NotImplementedError

    def _catalog_models(self) -> list[dict]:
        return self.catalog.models(self.DATA_KIND) if self.catalog else []

    def _catalog_methods(self):
        return self.catalog.methods

    def _catalog_method(self, name: str):
        return self.catalog.method(name)

    def _form_defaults(self, name: str) -> dict | None:
        """Parameter values a method's form starts with before the user changed any."""
        return None

    def _has_input(self) -> bool:
        raise NotImplementedError

    def open_sample(self, path) -> None:
        """Open a demo sample, with the demo model it belongs to."""
        open_sample_with_its_model(self, path)

    def _open_sample(self, path) -> None:
        self.open_sample(path)

    def _choose_builtin_model(self) -> None:
        raise NotImplementedError

    def _load_trusted_model(self, spec: str) -> None:
        self.load_model(spec, trust=True)

    def _finish_handlers(self) -> dict:
        """Channel name -> what handles that channel's result."""
        raise NotImplementedError

    def _channel_failed(self, channel: str, failure) -> None:
        """A job of a channel other than model, layers and explain failed."""

    def _history_tooltip(self, entry) -> str:
        return entry.title

    def _update_extra_enabled(self) -> None:
        """Enable or disable the tab's own controls (called by ``_update_enabled``)."""

    def _connect_runner(self, runner) -> None:
        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)
        runner.stopped.connect(self._on_stopped)

    # ------------------------------------------------------------------ layout
    def _lay_out_tab(self, side: QWidget, top: QWidget, stretch: tuple[int, int], sizes: list[int]) -> None:
        """The tab's layout: ``side`` on the left; on the right ``top`` (the views) over the
        results and comparison area (``compare_box``), split with ``stretch`` and ``sizes``."""
        self.compare_box = self._build_compare_area()
        main_split = QSplitter(Qt.Orientation.Vertical)
        main_split.addWidget(top)
        main_split.addWidget(self.compare_box)
        main_split.setStretchFactor(0, stretch[0])
        main_split.setStretchFactor(1, stretch[1])
        main_split.setSizes(sizes)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(side)
        layout.addWidget(main_split, 1)

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

    def _build_prediction_box(self, tooltip: str, on_clicked, on_target_changed=None) -> QGroupBox:
        """The "Prediction" group: ``prediction_list`` (top classes) and ``target_combo``."""
        prediction_box = QGroupBox("Prediction")
        prediction_layout = QVBoxLayout(prediction_box)
        self.prediction_list = QTreeWidget()
        self.prediction_list.setColumnCount(2)
        self.prediction_list.setHeaderLabels(["Class", "Probability"])
        self.prediction_list.setRootIsDecorated(False)
        self.prediction_list.setUniformRowHeights(True)
        self.prediction_list.setToolTip(tooltip)
        self.prediction_list.setMaximumHeight(130)
        self.prediction_list.header().setStretchLastSection(False)
        self.prediction_list.header().setSectionResizeMode(0, self.prediction_list.header().ResizeMode.Stretch)
        self.prediction_list.header().setSectionResizeMode(1, self.prediction_list.header().ResizeMode.ResizeToContents)
        self.prediction_list.itemClicked.connect(on_clicked)
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("The class whose evidence is shown. The top prediction is chosen for you.")
        self.target_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target_combo.setMinimumContentsLength(12)
        if on_target_changed is not None:
            self.target_combo.currentIndexChanged.connect(on_target_changed)
        target_row = QFormLayout()
        target_row.addRow("Explain class", self.target_combo)
        prediction_layout.addWidget(self.prediction_list)
        prediction_layout.addLayout(target_row)
        return prediction_box

    def _build_method_box(self, on_reset=None) -> QGroupBox:
        """The "Method" group: ``method_combo``, ``method_help``, the generated ``param_form`` and
        a "Default settings" button (``on_reset``; by default the form's own reset)."""
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
        reset.clicked.connect(on_reset if on_reset is not None else self.param_form.reset)
        method_layout.addWidget(self.method_combo)
        method_layout.addWidget(self.method_help)
        method_layout.addWidget(self.param_form)
        method_layout.addWidget(reset, 0, Qt.AlignmentFlag.AlignRight)
        return method_box

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
        self.run_button.setToolTip(self.RUN_TOOLTIP)
        if self.RUN_SHORTCUT:
            self.run_button.setShortcut(self.RUN_SHORTCUT)
        self.run_button.clicked.connect(self.run_explanation)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setMinimumHeight(32)
        self.cancel_button.setToolTip(self.CANCEL_TOOLTIP)
        if self.CANCEL_SHORTCUT:
            self.cancel_button.setShortcut(self.CANCEL_SHORTCUT)
        self.cancel_button.clicked.connect(self.cancel_explanation)
        run_row.addWidget(self.run_button, 2)
        run_row.addWidget(self.cancel_button, 1)
        self.progress_bar = make_progress_bar()
        if self.PROGRESS_START_AT_ZERO:
            self.progress_bar.setValue(0)
        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)
        self.progress_label.setObjectName("notes")
        layout.addLayout(run_row)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        return area

    def _build_display_controls(self, opacity_tooltip: str) -> None:
        """The colour map picker, the opacity slider and its label, and "Same scale in comparison"."""
        self.colormap_combo = make_colormap_combo()
        self.colormap_combo.currentIndexChanged.connect(self._apply_display_settings)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(60)
        self.opacity_slider.setToolTip(opacity_tooltip)
        self.opacity_slider.setMinimumWidth(90)
        self.opacity_slider.valueChanged.connect(self._apply_display_settings)
        self.opacity_value = QLabel("60 %")
        self.opacity_value.setMinimumWidth(36)
        self.shared_levels_check = QCheckBox("Same scale in comparison")
        self.shared_levels_check.setToolTip(
            "Use one colour scale for all results side by side, so their strengths can be compared."
        )
        self.shared_levels_check.toggled.connect(self._rebuild_compare_views)

    def _add_display_controls(self, bar: QHBoxLayout) -> None:
        """Put the controls of :meth:`_build_display_controls` in a display bar, with their labels."""
        bar.addWidget(QLabel("Colours"))
        bar.addWidget(self.colormap_combo)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Opacity"))
        bar.addWidget(self.opacity_slider, 1)
        bar.addWidget(self.opacity_value)
        bar.addSpacing(8)
        bar.addWidget(self.shared_levels_check)

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

    # ------------------------------------------------------------ catalog & pickers
    def set_catalog(self, catalog: Catalog) -> None:
        """Fill the model, sample and method pickers."""
        self.catalog = catalog
        self._fill_model_combo()
        self.sample_combo.clear()
        self.sample_combo.addItem("Samples…")
        for model in catalog.models(self.DATA_KIND):
            for path in model.get("samples", []):
                self.sample_combo.addItem(f"{Path(path).stem} ({model.get('title', model['spec'])})", str(path))
        self.sample_combo.setEnabled(self.sample_combo.count() > 1)
        self._fill_method_combo()
        self._update_enabled()

    def _fill_model_combo(self) -> None:
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for model in self._catalog_models():
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

    def _fill_method_combo(self) -> None:
        model: QStandardItemModel = self.method_combo.model()
        previous = self.method_name()
        self.method_combo.blockSignals(True)
        model.clear()
        family = None
        for info in self._catalog_methods():
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
        self._mark_unavailable_methods()
        self.method_combo.blockSignals(False)
        self.select_method(previous or self.DEFAULT_METHOD)

    def _mark_unavailable_methods(self) -> dict[str, str]:
        """Grey the methods the current model cannot run in the picker, the reason in their tooltip.

        Returns method name -> reason for those methods (nothing without a model: the reasons need
        torch, which is imported only once a model exists).
        """
        picker: QStandardItemModel = self.method_combo.model()
        grey = self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        reasons: dict[str, str] = {}
        for row in range(picker.rowCount()):
            item = picker.item(row)
            name = item.data(Qt.ItemDataRole.UserRole)
            info = self._catalog_method(name) if (name and self.catalog) else None
            if info is None:
                continue
            reason = self._unavailable_reason(info)
            if reason:
                reasons[name] = reason
                item.setForeground(grey)
                item.setToolTip(f"{info.help}\n\nNot available for this model: {reason}")
            else:
                item.setData(None, Qt.ItemDataRole.ForegroundRole)
                item.setToolTip(info.help)
        return reasons

    def _available_method(self, current: str, unavailable: dict[str, str]) -> str | None:
        """The method to choose instead of ``current``, which the model cannot run: LRP for transformers
        where it can run, else one it can run of ``current``'s family (the tab's default first), else
        the first it can run in the list."""
        offered = [info for info in self._catalog_methods() if info.name not in unavailable]
        if any(info.name == TRANSFORMER_METHOD for info in offered):
            return TRANSFORMER_METHOD
        family = getattr(self._catalog_method(current), "family", None)
        same_family = sorted((info for info in offered if info.family == family),
                             key=lambda info: info.name != self.DEFAULT_METHOD)  # the tab's default first
        chosen = (same_family or offered or [None])[0]
        return chosen.name if chosen is not None else None

    def _check_methods_for_model(self) -> bool:
        """Once per model: mark the methods it cannot run and, when the chosen one is among them,
        choose one it can run (:meth:`_available_method`), noted in ``_method_switch_note``.

        Returns True when another method was chosen (its form is then already shown).
        """
        if self.model is getattr(self, "_methods_checked_for", None):
            return False
        self._methods_checked_for = self.model
        self._method_switch_note = ""
        unavailable = self._mark_unavailable_methods()
        current = self.method_name()
        if self.model is None or current not in unavailable:
            return False
        replacement = self._available_method(current, unavailable)
        if replacement is None or not self.select_method(replacement):
            return False
        self._method_switch_note = (f"{self._catalog_method(replacement).title} chosen: the previous method "
                                    "cannot explain this model.")
        return True

    def _model_ready_text(self, model, verb: str = "ready") -> str:
        """``"Model X ready."``, and which method was chosen instead of one the model cannot run."""
        note, self._method_switch_note = getattr(self, "_method_switch_note", ""), ""
        return f"Model {model.name} {verb}." + (f" {note}" if note else "")

    def method_name(self) -> str | None:
        return self.method_combo.currentData(Qt.ItemDataRole.UserRole)

    def method_info(self):
        name = self.method_name()
        return self._catalog_method(name) if (self.catalog and name) else None

    def _on_method_changed(self, *_args) -> None:
        if self._check_methods_for_model():
            return  # another method was chosen, and shown, for a new model
        if getattr(self, "_failure_shown", False):
            self._failure_shown = False
            self.status_message.emit("")  # "The explanation failed." was about the previous method
        info = self.method_info()
        if self._form_method is not None:
            self._params_by_method[self._form_method] = self.param_form.values()
        self._form_method = info.name if info else None
        if info is None:
            self.method_help.setText("")
            self.param_form.set_params(())
            show_class_choice(self)
            return
        help_text = info.help
        reason = self._unavailable_reason(info)
        if reason:
            help_text += f"\n\nNot available for this model: {reason}"
        self.method_help.setText(help_text)
        stored = self._params_by_method.get(info.name)
        self.param_form.set_params(info.params, stored if stored is not None else self._form_defaults(info.name))
        self._update_enabled()
        show_class_choice(self)

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

    def _on_sample_chosen(self, index: int) -> None:
        path = self.sample_combo.itemData(index)
        self.sample_combo.setCurrentIndex(0)
        if path:
            self._open_sample(path)

    def explain_after_prediction(self, target: int | None) -> None:
        """Make the next prediction select ``target`` instead of the top class (e.g. an item of a batch run)."""
        self._pending_target = None if target is None else int(target)

    def _predicted_target(self, top_class: int) -> int:
        """The class a fresh prediction selects: a pending target once, else the top class."""
        pending, self._pending_target = getattr(self, "_pending_target", None), None
        return top_class if pending is None or self.target_combo.findData(pending) < 0 else pending

    def set_target(self, index: int) -> None:
        """Choose the class to explain."""
        row = self.target_combo.findData(int(index))
        if row >= 0:
            self.target_combo.setCurrentIndex(row)

    def target(self) -> int | None:
        data = self.target_combo.currentData()
        return None if data is None else int(data)

    # ------------------------------------------------------------ run, progress, cancel
    def is_running(self) -> bool:
        return self._jobs["explain"] is not None

    def can_run(self) -> bool:
        info = self.method_info()
        return (
            self.model is not None
            and self._has_input()
            and info is not None
            and not self._unavailable_reason(info)
            and not self.is_running()
        )

    def _unavailable_reason(self, info) -> str | None:
        """Why the chosen method cannot explain the current model (None when it can)."""
        if self.model is None:
            return None
        from ...explain.image import unavailable_reason

        return unavailable_reason(info, self.model)

    def cancel_explanation(self) -> None:
        """Stop the running explanation; the interface is idle at once.

        Iterative methods leave what they computed so far: it arrives once the worker has
        stopped (within one batch) and is kept as a result labelled as partial.
        """
        job_id = self._jobs["explain"]
        if job_id is not None:
            if self._run is not None:
                self._cancelled_runs[job_id] = self._run
            self.runner.cancel(job_id)
            self._end_run(self._cancel_text(job_id))

    def _cancel_text(self, job_id: int) -> str:
        run = self._cancelled_runs.get(job_id)
        if run is not None and getattr(run.info, "iterative", False):
            return "Cancelled – keeping the partial result …"
        return "Cancelled."

    def _end_run(self, text: str) -> None:
        """Report the end of a run ("Done in 13 ms.") in the status bar only, not again under Run."""
        self._jobs["explain"] = None
        self.progress_bar.setValue(0)
        self.progress_label.setText("")
        self._update_enabled()
        self._failure_shown = False
        self.status_message.emit(text)

    def _explanation_failed(self, failure: JobFailure) -> None:
        self._end_run("The explanation failed.")
        self._failure_shown = True
        self._restore_current_view()
        error_dialog.show_error(self, "The explanation could not be computed", failure)

    def _on_failed(self, job_id: int, failure: object) -> None:
        channel = self._channel_of(job_id)
        if channel is None:
            return
        if channel != "explain":
            self._jobs[channel] = None
        self._update_enabled()
        if channel == "model":
            self._model_failed(failure)
        elif channel == "layers":
            # Layer parameters still offer "automatic"; a typed name is checked by the method.
            self.status_message.emit("The model's layers could not be listed.")
        elif channel == "explain":
            self._explanation_failed(failure)
        else:
            self._channel_failed(channel, failure)

    def _on_cancelled(self, job_id: int) -> None:
        channel = self._channel_of(job_id)
        if channel == "explain":
            run = self._cancelled_runs.get(job_id)
            self._end_run(self._cancel_text(job_id))
            if run is not None and run.shown_partial and getattr(run.info, "iterative", False):
                # Keep the last partial on screen until the worker hands over the final one.
                self._relevance_view().set_title(f"{run.method_title} · stopping …")
            else:
                self._restore_current_view()
        elif channel is not None:
            self._jobs[channel] = None
            self._update_enabled()

    def _partial_fits(self, run, relevance) -> bool:
        """Whether a stopped run's relevance has the shape of its input."""
        raise NotImplementedError

    def _is_current_input(self, run) -> bool:
        """Whether the run explained the input that is shown now."""
        raise NotImplementedError

    def _stopped_entry(self, explanation, run):
        """The history entry of a stopped run's partial result."""
        raise NotImplementedError

    def _kept_count_text(self, run, explanation) -> str:
        """`` (340 of 1000 masks)`` or "" for the "kept the partial result" message."""
        return ""

    def _on_stopped(self, job_id: int, result: object) -> None:
        """A cancelled run has stopped: keep its partial result, labelled with its N."""
        run = self._cancelled_runs.pop(job_id, None)
        if run is None:
            return
        relevance = getattr(result, "relevance", None)
        if relevance is None or not self._partial_fits(run, relevance):
            if not self.is_running():
                self._restore_current_view()
                self.progress_label.setText("Cancelled before a partial result was ready.")
            return
        explanation = result
        if not explanation.params:
            try:
                explanation = explanation.replace(params=run.info.resolve_params(run.params))
            except Exception:  # noqa: BLE001 - the parameters are informative only
                explanation = explanation.replace(params=dict(run.params))
        if not explanation.complete and not explanation.seconds:
            explanation = explanation.replace(seconds=self.runner.elapsed(job_id) or 0.0)
        entry = self._stopped_entry(explanation, run)
        self._add_history(entry)
        if not self.is_running() and self._is_current_input(run):
            self.show_entry(entry)
            text = "Cancelled – kept the partial result" + self._kept_count_text(run, explanation) + "."
            self.progress_label.setText(text)
            self.status_message.emit(text)

    # ------------------------------------------------------------ history & compare
    def _add_history(self, entry) -> None:
        self.history.insert(0, entry)
        item = QListWidgetItem(entry.title)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Unchecked)
        item.setToolTip(self._history_tooltip(entry))
        item.setData(Qt.ItemDataRole.UserRole, id(entry))
        self.history_list.blockSignals(True)
        self.history_list.insertItem(0, item)
        while len(self.history) > MAX_HISTORY:
            self.history.pop()
            self.history_list.takeItem(self.history_list.count() - 1)
        self.history_list.setCurrentItem(item)
        self.history_list.blockSignals(False)
        self._rebuild_compare_views()

    def _entry_of(self, item: QListWidgetItem):
        key = item.data(Qt.ItemDataRole.UserRole)
        return next((e for e in self.history if id(e) == key), None)

    def _on_history_clicked(self, item: QListWidgetItem) -> None:
        entry = self._entry_of(item)
        if entry is not None:
            self.show_entry(entry)

    def pinned_entries(self) -> list:
        """Results ticked for side-by-side comparison, oldest first."""
        pinned = []
        for row in range(self.history_list.count()):
            item = self.history_list.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                entry = self._entry_of(item)
                if entry is not None:
                    pinned.append(entry)
        return pinned[::-1]

    def pin(self, entry, pinned: bool = True) -> None:
        for row in range(self.history_list.count()):
            item = self.history_list.item(row)
            if self._entry_of(item) is entry:
                item.setCheckState(Qt.CheckState.Checked if pinned else Qt.CheckState.Unchecked)

    def compare_views(self) -> list:
        return list(self._compare_views)

    def _shared_levels(self, entries: list) -> dict[int, tuple[float, float]]:
        """With "Same scale in comparison": one scale per kind of map, by ``id(entry)``.

        Maps that say for and against share symmetric levels; maps that only say how much share
        the range of all of them (a symmetric scale would squeeze e.g. RELAX's 0.85-0.92 into one
        colour).
        """
        if not self.shared_levels_check.isChecked() or not entries:
            return {}
        how_much = {id(e): _shows_how_much(e.explanation) for e in entries}
        unsigned = [e for e in entries if how_much[id(e)]]
        signed = [e for e in entries if not how_much[id(e)]]
        shared: dict[int, tuple[float, float]] = {}
        if signed:
            high = max(render.symmetric_levels(e.explanation.relevance)[1] for e in signed)
            shared.update({id(e): (-high, high) for e in signed})
        if unsigned:
            ranges = [render.range_levels(e.explanation.relevance) for e in unsigned]
            low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
            shared.update({id(e): (low, high) for e in unsigned})
        return shared

    def _compare_view_group(self):
        """The ViewGroup that comparison views join (shared zoom and pan), or None."""
        return None

    def _make_compare_view(self, entry, levels):
        """A view of one pinned result for the comparison row (``levels``: the shared scale or None)."""
        raise NotImplementedError

    def _rebuild_compare_views(self, *_args) -> None:
        group = self._compare_view_group()
        for view in self._compare_views:
            if group is not None:
                group.remove(view)
            self.compare_layout.removeWidget(view)
            view.hide()
            view.deleteLater()
        self._compare_views = []
        entries = self.pinned_entries()
        self.compare_hint.setVisible(not entries)
        shared = self._shared_levels(entries)
        for entry in entries:
            view = self._make_compare_view(entry, shared.get(id(entry)))
            # Automatic colours resolve per map: a "how much" map beside a signed one keeps its own.
            view.set_colormap(self.colormap_combo.currentData())
            self.compare_layout.addWidget(view, 1)
            self._compare_views.append(view)
            if group is not None:
                group.add(view)

    def clear_history(self) -> None:
        self.history.clear()
        self.history_list.clear()
        self._rebuild_compare_views()

    # ------------------------------------------------------------ display settings
    def _apply_display_settings(self, *_args) -> None:
        name = self.colormap_combo.currentData()
        opacity = self.opacity_slider.value() / 100.0
        self.opacity_value.setText(f"{self.opacity_slider.value()} %")
        for view in [self._relevance_view(), *self._compare_views]:
            view.set_colormap(name)
            view.set_opacity(opacity)

    def set_colormap(self, name: str) -> None:
        """Pick a colour map by name (:data:`AUTOMATIC_COLORMAP`: let each map choose)."""
        self.colormap_combo.setCurrentIndex(self.colormap_combo.findData(name))

    # ------------------------------------------------------------ export
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

    # ------------------------------------------------------------ state
    def _update_enabled(self) -> None:
        running = self.is_running()
        self.run_button.setEnabled(self.can_run())
        self.cancel_button.setEnabled(running)
        loading_model = self._jobs["model"] is not None
        self.model_combo.setEnabled(self.catalog is not None and not loading_model)
        self._update_extra_enabled()
        self.state_changed.emit()

    def _last_folder(self) -> str:
        if self.settings is None:
            return ""
        return str(self.settings.value("last_folder", "") or "")

    def _remember_folder(self, path) -> None:
        if self.settings is not None:
            self.settings.setValue("last_folder", str(Path(path).parent))


def faithfulness_box(owner, tooltip: str) -> QGroupBox:
    """The "Faithfulness" box of a tab: one button, ``owner.faithfulness_button``, that calls
    ``owner.open_faithfulness``."""
    box = QGroupBox("Faithfulness")
    layout = QVBoxLayout(box)
    owner.faithfulness_button = QPushButton("Evaluate faithfulness…")
    owner.faithfulness_button.setToolTip(tooltip)
    owner.faithfulness_button.clicked.connect(owner.open_faithfulness)
    layout.addWidget(owner.faithfulness_button)
    return box


def show_faithfulness_dialog(owner, methods: list[tuple[str, str]], make_job, title: str,
                             current: str | None = None, **panel_options):
    """Show ``owner``'s faithfulness window, made on first use (kept in ``owner._faithfulness_dialog``).

    ``methods`` are (name, title) pairs offered for comparison, ``make_job`` builds the runner job
    (see :class:`~xaidesk.gui.views.faithfulness_views.FaithfulnessPanel`), ``current`` is ticked.
    """
    from ..views.faithfulness_views import FaithfulnessDialog, FaithfulnessPanel  # imports torch: on first use

    dialog = getattr(owner, "_faithfulness_dialog", None)
    if dialog is None:
        panel = FaithfulnessPanel(owner.runner, methods, make_job, **panel_options)
        panel.set_checked([current] if current else [])
        dialog = owner._faithfulness_dialog = FaithfulnessDialog(panel, title, owner)
    dialog.show()
    dialog.raise_()
    return dialog


def make_colormap_combo() -> QComboBox:
    """A colour map picker: "automatic" (chosen), then the diverging maps, then the others."""
    combo = QComboBox()
    combo.setToolTip(
        f"Colours of the relevance map. Automatic: {render.DEFAULT_COLORMAP} for maps that show evidence for "
        f"and against, {UNSIGNED_COLORMAP} (brighter: more important) for maps that only say how much. "
        "Diverging maps show positive and negative evidence."
    )
    combo.addItem("automatic", AUTOMATIC_COLORMAP)
    for name in render.DIVERGING_COLORMAPS:
        combo.addItem(name, name)
    for name in render.COLORMAPS:
        if name not in render.DIVERGING_COLORMAPS:
            combo.addItem(name, name)
    combo.setCurrentIndex(0)
    return combo


def relevance_stats_parts(stats: dict, explanation, levels: tuple[float, float]) -> list[str]:
    """The first parts of a result's statistics line in plain words (see :func:`statistics_parts`)."""
    target = explanation.target
    return statistics_parts(stats, explanation.score, levels, class_text(target.index, target.label),
                            explanation.extras.get("r2"), map_shows_sign(explanation.method, explanation.params),
                            method_explains_class(explanation.method))


def _shows_how_much(explanation) -> bool:
    """Whether a result's map only says how much (its method's ``shows_sign`` is False), or, for a
    method the registry does not know, is a non-negative map with an uncertainty."""
    signed = map_shows_sign(getattr(explanation, "method", ""), getattr(explanation, "params", None))
    if signed is not None:
        return not signed
    relevance = explanation.relevance
    return getattr(explanation, "uncertainty", None) is not None and float(np.nanmin(relevance)) >= 0


def _levels_for(explanation, max_samples: int | None = None) -> tuple[float, float] | None:
    """Colour levels of a result: a map that only says how much (RELAX's importance, sensitivity,
    squared gradients) runs over the range of its seen pixels (:func:`render.range_levels`: its low
    to its high percentile); a map with evidence for and against keeps symmetric levels around
    zero (``None``: the view's default)."""
    how_much = _shows_how_much(explanation)
    if how_much or max_samples is not None:
        return render.automatic_levels(explanation.relevance, not how_much, max_samples=max_samples)
    return None


def _unit_of(explanation) -> str:
    """What a perturbation method counts: masks (RELAX), samples (LIME and others)."""
    method = getattr(explanation, "method", "")
    if method == "relax":
        return "masks"
    if method == "occlusion":
        return "patches"
    return "samples"


def uncertainty_path_for(path) -> Path:
    """``relevance.npy`` -> ``uncertainty.npy``; ``x_relevance.npy`` -> ``x_uncertainty.npy``; else ``x_uncertainty.npy``."""
    path = Path(path)
    stem = path.stem
    if "relevance" in stem:
        return path.with_name(stem.replace("relevance", "uncertainty") + path.suffix)
    return path.with_name(stem + "_uncertainty" + path.suffix)


def _first_sentence(text: str) -> str:
    text = (text or "").strip()
    end = text.find(". ")
    return text[: end + 1] if end > 0 else text
