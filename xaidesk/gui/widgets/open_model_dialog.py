"""Open a model: choose a file or folder, see what it is, check it, then open it.

The dialog recognises what the person chose (:func:`xaidesk.models.sources.recognise`) and says it
in plain words. For weights alone it offers every torchvision and timm architecture in a search
list (:class:`~xaidesk.gui.widgets.architecture_picker.ArchitecturePicker`), the detected one chosen.
An optional class-names file can be given. The model is then loaded in the background (the dialog's
own :class:`~xaidesk.gui.runner.Runner`, with a busy bar and Stop), and its classes and preprocessing
are shown (:class:`~xaidesk.gui.widgets.model_preview.ModelPreview`); the preprocessing can be edited
before "Open". :meth:`OpenModelDialog.choice` hands the result to the tab
(:class:`~xaidesk.gui.open_model_logic.OpenModelChoice`): the spec, the label file, the preprocessing
set by hand and the loaded model. What the dialog says and decides is in :mod:`xaidesk.gui.open_model_logic`.

A whole saved Python model (a pickle) is not loaded here: loading it runs code from the file, so it
goes to the tab, which asks the person to confirm first (or it is refused where nobody can confirm).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..open_model_logic import (
    OpenModelChoice,
    guess_html,
    idle_text,
    inspect_job,
    loading_text,
    missing_library_text,
    needs_trust,
    recognise_job,
    trust_asked_html,
    try_input,
)
from ..runner import JobFailure, Runner
from .architecture_picker import ArchitecturePicker
from .load_status import LoadStatus
from .model_preview import ModelPreview
from .model_source_fields import LabelFileBox, ModelPathRow
from .retired_runners import retire

#: Milliseconds between choosing an architecture and loading the weights into it.
CHOICE_DELAY_MS = 350
#: The dialog's width, and its height once an architecture list or the preprocessing form is shown.
DIALOG_WIDTH, FULL_HEIGHT = 980, 640
#: The runner channels of the dialog's jobs (``"<owner>.<job>"``).
RECOGNISE, INSPECT, CHECK = "open_model.recognise", "open_model.inspect", "open_model.check"


class OpenModelDialog(QDialog):
    """Choose, recognise, check and open a model (see the module docstring).

    Parameters
    ----------
    start_folder
        Where the file choosers start.
    modality
        The kind of model the caller can use (``"image"``); a model of another kind is refused with a note.
    allow_untrusted
        Whether a pickled model may be handed to the caller, which then asks the person for trust.
    """

    def __init__(self, start_folder: str = "", *, modality: str = "image", allow_untrusted: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a model")
        self.modality = modality
        self.allow_untrusted = allow_untrusted
        self._start_folder = start_folder
        self.runner = Runner()  # no parent: a load still running when the dialog goes must not take it along
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self._jobs: dict[str, int | None] = {}
        self.guess = None
        self.model = None
        self._model_key: tuple | None = None
        self.failure: JobFailure | None = None
        #: The channel of the job whose failure ``failure`` is (RECOGNISE, INSPECT or CHECK).
        self._failed_channel: str | None = None
        self._stopped = False
        self._result: OpenModelChoice | None = None
        self._build()
        self._choice_timer = QTimer(self)
        self._choice_timer.setSingleShot(True)
        self._choice_timer.setInterval(CHOICE_DELAY_MS)
        self._choice_timer.timeout.connect(self._inspect)
        self._recognised_text = ""
        self.picker.list_architectures(self.runner, with_timm=False)
        self._refresh()
        self.resize(DIALOG_WIDTH, self.sizeHint().height())

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        intro = QLabel(
            "Choose a model file or a model folder. xaidesk recognises ONNX files, Hugging Face and timm "
            "folders, PyTorch weights (.safetensors, .pt, .pth), TorchScript and saved models, and quick "
            "classifiers; nothing is downloaded.")
        intro.setWordWrap(True)
        self.path_row = ModelPathRow(self._start_folder)
        self.path_row.chosen.connect(self.set_path)
        self.path_edit = self.path_row.path_edit
        self.path_edit.editingFinished.connect(self._on_path_entered)

        found_box = QGroupBox("What it is")
        self.found_label = QLabel("Nothing chosen yet.")
        self.found_label.setWordWrap(True)
        self.found_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        found_layout = QVBoxLayout(found_box)
        found_layout.addWidget(self.found_label)

        self.picker = ArchitecturePicker()
        self.picker.chosen.connect(self._on_architecture_chosen)
        self.picker.listed.connect(self._on_listed)
        self.architecture_box = self.picker
        self.architecture_list = self.picker.list
        self.search_edit = self.picker.search_edit

        self.labels_box = labels_box = LabelFileBox(self.path_row)
        labels_box.chosen.connect(self.set_labels)
        self.labels_edit = labels_box.labels_edit
        self.labels_edit.editingFinished.connect(self._on_labels_entered)
        self.labels_edit.textChanged.connect(self._refresh)

        # Each column keeps its share of the width whatever its texts say, so nothing jumps between steps.
        left = QWidget()
        left.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(found_box)
        left_layout.addWidget(self.picker, 1)
        left_layout.addWidget(labels_box)
        left_layout.addStretch(0)
        self.preview = ModelPreview()
        self.classes_label = self.preview.classes_label
        self.preprocessing_editor = self.preview.preprocessing_editor
        self.preprocessing_editor.changed.connect(self._on_preprocessing_changed)
        columns = QHBoxLayout()
        columns.addWidget(left, 2)
        columns.addWidget(self.preview, 3)

        self.load_status = LoadStatus()
        self.load_status.stop_or_retry.connect(self._on_stop_or_retry)
        self.status_label = self.load_status.status_label
        self.stop_button = self.load_status.stop_button
        self.error_label = self.load_status.error_label

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.open_button = self.buttons.button(QDialogButtonBox.StandardButton.Open)
        self.open_button.setToolTip("Use this model.")
        self.buttons.accepted.connect(self.open_model)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.path_row)
        layout.addLayout(columns, 1)
        layout.addWidget(self.load_status)
        layout.addWidget(self.buttons)

    # ------------------------------------------------------------------ choosing
    def set_path(self, path) -> int:
        """Recognise ``path`` in the background; returns the job id."""
        self.path_edit.setText(str(path))
        return self._recognise()

    def set_labels(self, path) -> None:
        """Use the class names in ``path`` (``""``: the model's own) and load the model again."""
        self.labels_edit.setText(str(path))
        self._inspect()

    def labels(self) -> str | None:
        """The class-names file, or ``None`` for the model's own names."""
        return self.labels_box.labels()

    def _on_path_entered(self) -> None:
        """A typed path is looked at when Enter is pressed or the field is left, if it changed."""
        if self.path_edit.text().strip() != self._recognised_text:
            self._recognise()

    def _on_labels_entered(self) -> None:
        if self._model_key is None or self._model_key[1] != self.labels():
            self._inspect()

    def _recognise(self) -> int:
        text = self.path_edit.text().strip()
        self._recognised_text = text
        self.guess = self.picker.guess = None
        self._forget_model()
        self.failure = None
        self._stopped = False
        self.runner.cancel(channel=INSPECT)
        self.found_label.setText("Looking at it …")
        return self._submit(RECOGNISE, recognise_job(text), f"Looking at {Path(text).name or text} …")

    # ------------------------------------------------------------------ architectures
    def architecture(self):
        """The chosen ``ArchitectureChoice``, or ``None``."""
        return self.picker.architecture()

    def select_architecture(self, name: str, source: str | None = None) -> bool:
        """Choose an architecture by name (and source); returns False if it is not listed."""
        return self.picker.select(name, source)

    def _on_listed(self) -> None:
        self._refresh()
        self.picker.scroll_to_current()

    def _on_architecture_chosen(self) -> None:
        self._forget_model()
        self.failure = None
        if self.guess is not None and not self.guess.needs_trust:
            self._describe_guess()
        self.picker.filter_choices()  # an entry kept in sight only while chosen goes with the search
        self._refresh()
        self._choice_timer.start()

    # ------------------------------------------------------------------ the model
    def spec(self) -> str | None:
        """The spec of the current choices, or ``None`` while something is missing."""
        if self.guess is None:
            return None
        if not self.guess.chooses_architecture:
            return self.guess.spec
        return self.guess.spec_with(self.architecture())

    def _key(self) -> tuple:
        return self.spec(), self.labels()

    def _forget_model(self) -> None:
        self.model = None
        self._model_key = None
        self.preview.clear()

    def _can_inspect(self) -> bool:
        guess = self.guess
        return (guess is not None and self.spec() is not None and not guess.needs_trust
                and guess.modality == self.modality)

    def _inspect(self) -> int | None:
        """Load the model of the current choices in the background (to show classes and preprocessing)."""
        self._choice_timer.stop()
        self._stopped = False
        if not self._can_inspect():
            self._refresh()
            return None
        key = self._key()
        if self.model is not None and self._model_key == key:
            return None
        self._forget_model()
        self.failure = None
        return self._submit(INSPECT, inspect_job(key), loading_text(self.guess, self.architecture()))

    def _submit(self, channel: str, job, text: str) -> int:
        self._jobs[channel] = self.runner.submit(job, channel)
        self.load_status.start(text)
        self._refresh()
        return self._jobs[channel]

    def is_busy(self) -> bool:
        """Whether the dialog is looking at the path or loading the model."""
        return any(self._jobs.get(c) is not None for c in (RECOGNISE, INSPECT, CHECK))

    def is_loading(self) -> bool:
        """Whether the model is being loaded (Stop stops it)."""
        return self._jobs.get(INSPECT) is not None

    # ------------------------------------------------------------------ runner relays
    def _channel_of(self, job_id: int) -> str | None:
        return next((c for c, current in self._jobs.items() if current == job_id), None)

    def _on_finished(self, job_id: int, result) -> None:
        channel = self._channel_of(job_id)
        if channel is None:
            return
        self._jobs[channel] = None
        if channel == RECOGNISE:
            self._recognised(result)
        elif channel == INSPECT:
            self._inspected(*result)
        elif channel == CHECK:
            self._accept_checked()
        self._refresh()
        if channel == RECOGNISE:
            self.picker.scroll_to_current()

    def _on_failed(self, job_id: int, failure: JobFailure) -> None:
        channel = self._channel_of(job_id)
        if channel is None:
            return
        self._jobs[channel] = None
        self._failed_channel = channel
        if channel == INSPECT and self.allow_untrusted and needs_trust(failure.error):
            # Only now does the source say that it runs code (a Hugging Face folder with its own code, or
            # pickled weights): hand it to the same trust confirmation as a pickled model file.
            self.guess = self.picker.guess = replace(self.guess, needs_trust=True, spec=self.spec())
            self.failure = None
            self.found_label.setText(self.found_label.text() + trust_asked_html(failure.message))
            self._refresh()
            return
        if isinstance(failure.error, ImportError):
            failure = JobFailure(failure.error, missing_library_text(failure.error), failure.details)
        self.failure = failure
        if channel == RECOGNISE:
            self.found_label.setText("Not recognised: see the message below.")
        self._refresh()

    def _on_cancelled(self, job_id: int) -> None:
        channel = self._channel_of(job_id)
        if channel is None:
            return
        self._jobs[channel] = None
        if channel == INSPECT:
            self._stopped = True
        self._refresh()

    def _recognised(self, guess) -> None:
        self.guess = self.picker.guess = guess
        self._describe_guess()
        if guess.chooses_architecture:
            self.picker.clear_choice()
            if guess.architecture:
                self.picker.preselect()
            self.picker.show_hint()
        self._inspect()
        if guess.chooses_architecture:
            self.picker.list_architectures(self.runner, with_timm=True)

    def _describe_guess(self, loaded_into=None) -> None:
        """Say what the chosen path is in "What it is"; once weights are loaded into ``loaded_into``
        (an architecture choice), say that instead of asking for the architecture."""
        self.found_label.setText(guess_html(self.guess, modality=self.modality, allow_untrusted=self.allow_untrusted,
                                            loaded_into=loaded_into))
        self.found_label.setToolTip(str(self.guess.path))

    def _inspected(self, key: tuple, model) -> None:
        if key != self._key():
            return
        self.model = model
        self._model_key = key
        self.preview.show_model(model)
        if self.guess.chooses_architecture and not self.guess.needs_trust:
            self._describe_guess(loaded_into=self.architecture())

    # ------------------------------------------------------------------ state
    def _refresh(self, *_args) -> None:
        busy = self.is_busy()
        guess = self.guess
        self.load_status.show_state(busy=busy, idle_text="" if busy else self._idle_text(), loading=self.is_loading(),
                                    can_retry=self._can_retry(), failure=self.failure)
        self.picker.setVisible(guess is not None and guess.chooses_architecture)
        self.preprocessing_editor.setEnabled(self.model is not None and not busy)
        self.open_button.setEnabled(self.can_open())
        self.open_button.setText("Open…" if guess is not None and guess.needs_trust else "Open")
        self._grow_to_fit()

    def _grow_to_fit(self) -> None:
        """Start short (nothing to show yet) and grow to what is shown (an architecture list: ``FULL_HEIGHT``),
        staying on the screen."""
        wanted = FULL_HEIGHT if self.picker.isVisibleTo(self) else self.sizeHint().height()
        if self.height() >= wanted:
            return
        self.resize(self.width(), wanted)
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None and self.isVisible() and self.frameGeometry().bottom() > screen.bottom():
            self.move(self.x(), max(screen.top(), screen.bottom() - self.frameGeometry().height()))

    def _can_retry(self) -> bool:
        """Whether "Load again" may be pressed: the model was not loaded (stopped or failed) or is stale."""
        if self.is_busy() or not self._can_inspect():
            return False
        stale = self.model is not None and self._model_key != self._key()
        return stale or (self.model is None and (self._stopped or self.failure is not None))

    def _on_preprocessing_changed(self) -> None:
        """An edit of the preprocessing answers a failed check of it: its message goes."""
        if self.failure is not None and self._failed_channel == CHECK:
            self.failure = None
        self._refresh()

    def _idle_text(self) -> str:
        failed = self.failure is not None
        editor = self.preprocessing_editor
        loaded = self.model is not None
        return idle_text(
            self.guess, modality=self.modality, allow_untrusted=self.allow_untrusted,
            spec=self.spec() if self.guess is not None else None, stopped=self._stopped, failed=failed,
            check_failed=failed and self._failed_channel == CHECK, can_retry=failed and self._can_retry(),
            model_name=self.model.name if loaded else None, stale=loaded and self._model_key != self._key(),
            preprocessing_problem=loaded and bool(editor.problem()), preprocessing_edited=loaded and editor.is_edited())

    def can_open(self) -> bool:
        """Whether Open may be pressed now."""
        guess = self.guess
        if guess is None or self.is_busy() or guess.modality != self.modality:
            return False
        if guess.needs_trust:
            return self.allow_untrusted and guess.spec is not None
        return (self.model is not None and self._model_key == self._key()
                and self.preprocessing_editor.problem() is None)

    def _on_stop_or_retry(self) -> None:
        if self.is_loading():
            self.runner.cancel(channel=INSPECT)
        else:
            self._model_key = None
            self._inspect()

    # ------------------------------------------------------------------ open
    def open_model(self) -> None:
        """Open with the current choices; with edited preprocessing the model is first tried on it."""
        if not self.can_open():
            return
        guess = self.guess
        if guess.needs_trust:
            self._result = OpenModelChoice(spec=guess.spec, path=Path(self.path_edit.text().strip()),
                                           labels=self.labels(), title=Path(str(guess.path)).name,
                                           needs_trust=True)
            self.accept()
            return
        if not self.preprocessing_editor.is_edited():
            self._accept_checked()
            return
        model, preprocessing = self.model, self.preprocessing_editor.preprocessing()
        self.failure = None
        self._submit(CHECK, lambda token, progress: try_input(model, preprocessing),
                     "Trying the model on the new input size …")

    def _accept_checked(self) -> None:
        model, preprocessing = self.model, None
        if self.preprocessing_editor.is_edited():
            preprocessing = self.preprocessing_editor.preprocessing()
            model = model.with_preprocessing(preprocessing)
        self._result = OpenModelChoice(spec=self.spec(), path=Path(self.path_edit.text().strip()),
                                       labels=self.labels(), preprocessing=preprocessing, model=model,
                                       title=model.name)
        self.accept()

    def keyPressEvent(self, event) -> None:
        """Enter in a text field acts on that field (recognise, load), never presses Open by surprise."""
        fields = (self.path_edit, self.labels_edit, self.search_edit)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and any(f.hasFocus() for f in fields):
            event.accept()
            return
        super().keyPressEvent(event)

    def choice(self) -> OpenModelChoice | None:
        """What was opened (after the dialog was accepted), else ``None``."""
        return self._result

    def done(self, result: int) -> None:
        self._choice_timer.stop()
        self.load_status.stop_clock()
        if not self.runner.closed:
            retire(self.runner)
        super().done(result)

    def closeEvent(self, event) -> None:
        if not self.runner.closed:
            retire(self.runner)
        super().closeEvent(event)
