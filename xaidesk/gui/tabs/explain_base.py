"""The base of the tabs that explain a model's prediction with a relevance map (Images, Audio).

:class:`ExplainTabBase` is composed of its parts (:mod:`xaidesk.gui.tabs.explain_parts`: model,
method, prediction, results, export) and holds the run itself: start, progress, cancel (cancelled
iterative runs keep their partial result), failure, and the exports every result has. Its
contract is declared in code: the annotated widgets a tab's ``_build`` must make (checked
once the tab is built, :meth:`ExplainTabBase._check_contract`) and the hooks in
:data:`ExplainTabBase.HOOKS` a tab must implement (checked when the class is defined).

Runner channels follow one convention: ``"<DATA_KIND>.<job>"`` (``"image.explain"``,
``"audio.model"``); ``self._jobs`` is keyed by the job part (``"explain"``).

"""

from __future__ import annotations

import typing
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QTreeWidget,
    QVBoxLayout,
    QWidget,
)

from ...core import render
from ..formatting import class_text
from ..panels.tab_pieces import make_progress_bar
from ..runner import JobFailure
from ..widgets import error_dialog
from ..widgets.param_form import ParamForm
from .explain_parts.export import ResultExportMixin
from .explain_parts.method import MethodPanelMixin
from .explain_parts.model import ModelPanelMixin
from .explain_parts.prediction import PredictionPanelMixin
from .explain_parts.results import ResultsPanelMixin

#: What the explanation view shows before a run.
RUN_PLACEHOLDER = "Press Run to explain…"
#: Colour map of uncertainty maps (sequential: 0 is "certain").
UNCERTAINTY_COLORMAP = "viridis" if "viridis" in render.SEQUENTIAL_COLORMAPS else render.SEQUENTIAL_COLORMAPS[0]


class JobChannelsMixin:
    """For a tab that keeps its running jobs in ``self._jobs`` (channel name -> job id or None).

    The job of :attr:`RUN_CHANNEL` (the tab's long computation) stays registered until the tab's
    finish handler has ended the run; every other channel is cleared as soon as its job ends.
    """

    RUN_CHANNEL = "explain"

    def is_job_running(self, job: str) -> bool:
        """Whether the tab's job ``job`` (``"load"``, ``"model"``, ``"explain"`` ...) is queued or running."""
        return self._jobs.get(job) is not None

    def is_busy(self) -> bool:
        """Whether any job of the tab is queued or running (and so may be using the model)."""
        return any(job is not None for job in self._jobs.values())

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


def running_text(info, model, target: int) -> str:
    """``"Running LRP on class 3 …"``; no class for a method that explains none."""
    if not info.explains_class:
        return f"Running {info.title} …"
    return f"Running {info.title} on {class_text(target, model.label(target))} …"


class ExplainTabBase(ModelPanelMixin, MethodPanelMixin, PredictionPanelMixin, ResultsPanelMixin,
                     ResultExportMixin, JobChannelsMixin, QWidget):
    """Base of the Images and Audio tabs (see the module docstring).

    Signals
    -------
    status_message(str)
        Text for the window's status bar.
    hover_message(str)
        The value under the cursor ("x 3, y 5: relevance = 0.012").
    model_loaded(str)
        A model was loaded; its spec string.
    state_changed()
        Something that enables or disables actions changed.
    """

    status_message = Signal(str)
    hover_message = Signal(str)
    model_loaded = Signal(str)
    state_changed = Signal()

    # ------------------------------------------------------------------ contract: widgets
    # Made by the builders of the parts (:mod:`.explain_parts`, placed by the tab's ``_build``) or by the tab itself.
    model_combo: QComboBox
    model_notes: QLabel
    sample_combo: QComboBox
    method_combo: QComboBox
    method_help: QLabel
    param_form: ParamForm
    prediction_list: QTreeWidget
    target_combo: QComboBox
    faithfulness_button: QPushButton
    run_button: QPushButton
    cancel_button: QPushButton
    progress_bar: QProgressBar
    progress_label: QLabel
    colormap_combo: QComboBox
    opacity_slider: QSlider
    stats_label: QLabel
    history_list: QListWidget
    compare_box: QWidget

    #: Hooks a tab implements (``__init_subclass__`` refuses a tab class that lacks one).
    HOOKS = (
        "_build", "_relevance_view", "_has_input", "_open_input", "_choose_builtin_model", "choose_model_file",
        "load_model", "_finish_handlers", "_on_progress", "run_explanation", "show_entry", "_show_partial",
        "_restore_current_view", "_make_compare_view", "_partial_fits", "_is_current_input", "_stopped_entry",
        "overlay_image", "_input_record", "_input_path", "open_faithfulness",
    )

    #: Which catalog models, samples and methods the tab offers ("image", "audio").
    DATA_KIND = ""
    #: Run-area texts and keyboard shortcuts (``None``: no shortcut).
    RUN_TOOLTIP = "Explain the chosen class with the chosen method."
    RUN_SHORTCUT: str | None = None
    CANCEL_TOOLTIP = "Stop the running explanation."
    CANCEL_SHORTCUT: str | None = None
    #: Whether the progress bar is explicitly set to 0 when built.
    PROGRESS_START_AT_ZERO = False

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        missing = [hook for hook in cls.HOOKS if getattr(cls, hook, None) is getattr(ExplainTabBase, hook, None)]
        if missing:
            raise TypeError(f"{cls.__name__} lacks the hooks of ExplainTabBase: {', '.join(missing)}")

    @classmethod
    def contract_widgets(cls) -> dict[str, type]:
        """The widgets a built tab has, by attribute name and type (the annotations above)."""
        hints = typing.get_type_hints(ExplainTabBase)
        return {name: kind for name, kind in hints.items() if isinstance(kind, type) and issubclass(kind, QWidget)}

    def _check_contract(self) -> None:
        """Refuse a tab whose ``_build`` did not make every widget of the contract."""
        wrong = [name for name, kind in self.contract_widgets().items() if not isinstance(getattr(self, name, None), kind)]
        if wrong:
            raise TypeError(f"{type(self).__name__} does not provide the widgets {', '.join(wrong)}")

    def __init__(self, runner, settings=None, channels: tuple[str, ...] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.settings = settings
        self.catalog = None
        self.model = None
        self.prediction = None
        self.history: list = []
        self.current_entry = None
        self._jobs: dict[str, int | None] = {name: None for name in ("model", "explain", "layers", *channels)}
        self._run = None
        self._cancelled_runs: dict[int, object] = {}
        self._params_by_method: dict[str, dict] = {}
        self._form_method: str | None = None
        self._pending_model_spec: str | None = None
        self._waiting_sample: tuple | None = None
        self._sample_note: str | None = None
        self._compare_views: list = []
        self._faithfulness_dialog = None

    def _finish_init(self) -> None:
        """After the tab's own set-up: build, check the contract, listen to the runner."""
        self._build()
        self._check_contract()
        runner = self.runner
        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)
        runner.stopped.connect(self._on_stopped)

    # ------------------------------------------------------------------ hooks with a default
    def _channel_failed(self, channel: str, failure) -> None:
        """A job of a channel other than model, layers and explain failed."""

    def _history_tooltip(self, entry) -> str:
        return entry.title

    def _update_extra_enabled(self) -> None:
        """Enable or disable the tab's own controls (called by ``_update_enabled``)."""

    def _kept_count_text(self, run, explanation) -> str:
        """`` (340 of 1000 masks)`` or "" for the "kept the partial result" message."""
        return ""

    # ------------------------------------------------------------------ runner channels
    def channel(self, name: str) -> str:
        """The runner channel of this tab's job ``name``: ``"<DATA_KIND>.<name>"``."""
        return f"{self.DATA_KIND}.{name}"

    def _submit(self, name: str, job) -> int:
        """Run ``job`` on this tab's channel ``name``; its id is kept in ``self._jobs[name]``."""
        self._jobs[name] = self.runner.submit(job, self.channel(name))
        return self._jobs[name]

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

    def _build_stats_label(self) -> QLabel:
        """The line under the views that describes the shown result (selectable, wraps)."""
        self.stats_label = QLabel("")
        self.stats_label.setObjectName("statsLabel")
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats_label.setWordWrap(True)  # a long line wraps instead of widening the window
        return self.stats_label

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

    def _start_run(self, run, job, target_text_index: int) -> int:
        """Submit the explanation ``job`` of ``run`` and say that it runs."""
        info = run.info
        self._run = run
        self._submit("explain", job)
        self.progress_bar.setValue(0)
        self.progress_label.setText(f"Running {info.title} …")
        self.stats_label.setText(running_text(info, self.model, target_text_index))
        self.status_message.emit(f"Running {info.title} …")
        self._update_enabled()
        return self._jobs["explain"]

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
