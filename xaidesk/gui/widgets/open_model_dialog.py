"""Open a model: choose a file or folder, see what it is, check it, then open it.

The dialog recognises what the person chose (:func:`xaidesk.models.sources.recognise`) and says it
in plain words. For weights alone it offers every torchvision and timm architecture in a search
list, the detected one chosen. An optional class-names file can be given. The model is then loaded
in the background (the dialog's own :class:`~xaidesk.gui.runner.Runner`, with a busy bar and Stop),
and its classes and preprocessing are shown; the preprocessing can be edited before "Open".
:meth:`OpenModelDialog.choice` hands the result to the tab: the spec, the label file, the
preprocessing set by hand and the loaded model.

A whole saved Python model (a pickle) is not loaded here: loading it runs code from the file, so it
goes to the tab, which asks the person to confirm first (or it is refused where nobody can confirm).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..runner import JobFailure, Runner
from .preprocessing_editor import PreprocessingEditor

#: How many class names the dialog lists before "…".
SHOWN_CLASSES = 8
#: Milliseconds between choosing an architecture and loading the weights into it.
CHOICE_DELAY_MS = 350
#: The dialog's width, and its height once an architecture list or the preprocessing form is shown.
DIALOG_WIDTH, FULL_HEIGHT = 980, 640
#: The sentence of a weights file's description that asks for the architecture (dropped once it is loaded).
ASK_FOR_ARCHITECTURE = "Choose the architecture they were trained with."
LABEL_FILE_FILTER = "Class names (*.txt *.json);;All files (*)"
MODEL_FILE_FILTER = ("Models (*.onnx *.safetensors *.pt *.pth *.bin *.ckpt *.tar *.ts *.pkl *.xdprobe);;"
                     "All files (*)")

def _escape(text: str) -> str:
    """``text`` for a rich-text label (quotes stay as they are: labels do not decode ``&#x27;``)."""
    return escape(str(text), quote=False)


#: Runners whose thread was still busy when their dialog closed; dropped once the thread ends.
_RETIRED: list[Runner] = []


def _retire(runner: Runner) -> None:
    """Stop ``runner`` without waiting for a load that cannot be interrupted (it ends on its own).

    Its thread is waited for when the application quits, so no thread outlives it.
    """
    if runner.shutdown(timeout_ms=50):
        return
    if not _RETIRED:
        from PySide6.QtCore import QCoreApplication

        app = QCoreApplication.instance()
        if app is not None and not getattr(app, "_xaidesk_waits_for_retired", False):
            app.aboutToQuit.connect(_wait_for_retired)
            app._xaidesk_waits_for_retired = True
    _RETIRED.append(runner)

    def sweep() -> None:
        for old in list(_RETIRED):
            if old.thread.isFinished():
                _RETIRED.remove(old)
        if _RETIRED:
            QTimer.singleShot(250, sweep)

    QTimer.singleShot(250, sweep)


def _wait_for_retired() -> None:
    for runner in list(_RETIRED):
        runner.thread.wait()
    _RETIRED.clear()


@dataclass
class OpenModelChoice:
    """What the person opened.

    Attributes
    ----------
    spec
        The model spec (``torchvision:mobilenet_v3_small:/data/w.pth``, ``hf:/models/vit``, ...).
    path
        The file or folder the person chose.
    labels
        The class-names file, or ``None``.
    preprocessing
        The preprocessing set by hand, or ``None`` when the model's own is kept.
    model
        The loaded model with the class names and the preprocessing applied; ``None`` for a file
        that runs code when loaded (the tab asks for trust and loads it).
    title
        A short name for pickers.
    needs_trust
        Loading runs code stored in the file.
    """

    spec: str
    path: Path
    labels: str | None = None
    preprocessing: object = None
    model: object = None
    title: str = ""
    needs_trust: bool = False


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
        self._busy_since = 0.0
        self._busy_text = ""
        self.guess = None
        self.model = None
        self._model_key: tuple | None = None
        self.failure: JobFailure | None = None
        #: The job whose failure ``failure`` is ("recognise", "inspect" or "check").
        self._failed_channel: str | None = None
        self._stopped = False
        self._choices: list = []
        self._result: OpenModelChoice | None = None
        self._build()
        self._choice_timer = QTimer(self)
        self._choice_timer.setSingleShot(True)
        self._choice_timer.setInterval(CHOICE_DELAY_MS)
        self._choice_timer.timeout.connect(self._inspect)
        self._clock = QTimer(self)
        self._clock.setInterval(500)
        self._clock.timeout.connect(self._show_busy_text)
        self._all_choices_requested = False
        self._recognised_text = ""
        self._request_choices()
        self._refresh()
        self.resize(DIALOG_WIDTH, self.sizeHint().height())

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        intro = QLabel(
            "Choose a model file or a model folder. xaidesk recognises ONNX files, Hugging Face and timm "
            "folders, PyTorch weights (.safetensors, .pt, .pth), TorchScript and saved models, and quick "
            "classifiers; nothing is downloaded.")
        intro.setWordWrap(True)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("a model file or folder")
        self.path_edit.setToolTip("The model file or folder; type or paste a path and press Enter, or choose one.")
        self.path_edit.editingFinished.connect(self._on_path_entered)
        self.file_button = QPushButton("File…")
        self.file_button.setToolTip("Choose a model file (.onnx, .safetensors, .pt, .pth, …).")
        self.file_button.clicked.connect(self.choose_file)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("Choose a model folder (Hugging Face or timm, with a config.json).")
        self.folder_button.clicked.connect(self.choose_folder)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.file_button)
        path_row.addWidget(self.folder_button)

        found_box = QGroupBox("What it is")
        self.found_label = QLabel("Nothing chosen yet.")
        self.found_label.setWordWrap(True)
        self.found_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        found_layout = QVBoxLayout(found_box)
        found_layout.addWidget(self.found_label)

        self.architecture_box = QGroupBox("Architecture")
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search, e.g. resnet50, vit small, convnext")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setToolTip("Type parts of the name; every word must appear.")
        self.search_edit.textChanged.connect(self._filter_choices)
        self.architecture_list = QListWidget()
        self.architecture_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.architecture_list.setUniformItemSizes(True)
        self.architecture_list.setMinimumHeight(220)
        self.architecture_list.setToolTip("The network the weights were trained with.")
        self.architecture_list.currentItemChanged.connect(self._on_architecture_chosen)
        self.architecture_hint = QLabel("")
        self.architecture_hint.setWordWrap(True)
        self.architecture_hint.setObjectName("notes")
        arch_layout = QVBoxLayout(self.architecture_box)
        arch_layout.addWidget(self.search_edit)
        arch_layout.addWidget(self.architecture_list, 1)
        arch_layout.addWidget(self.architecture_hint)

        labels_box = QGroupBox("Class names (optional)")
        self.labels_edit = QLineEdit()
        self.labels_edit.setPlaceholderText("a .txt or .json file")
        self.labels_edit.setToolTip("Names for the model's outputs, in order, replacing the names it came with.")
        self.labels_edit.editingFinished.connect(self._on_labels_entered)
        self.labels_edit.textChanged.connect(self._refresh)
        self.labels_button = QPushButton("Choose…")
        self.labels_button.clicked.connect(self.choose_labels)
        self.labels_clear = QPushButton("Clear")
        self.labels_clear.setToolTip("Use the class names the model came with.")
        self.labels_clear.clicked.connect(lambda: self.set_labels(""))
        labels_row = QHBoxLayout(labels_box)
        labels_row.addWidget(self.labels_edit, 1)
        labels_row.addWidget(self.labels_button)
        labels_row.addWidget(self.labels_clear)

        left = QVBoxLayout()
        left.addWidget(found_box)
        left.addWidget(self.architecture_box, 1)
        left.addWidget(labels_box)
        left.addStretch(0)

        classes_box = QGroupBox("Classes")
        self.classes_label = QLabel("Shown once the model is loaded.")
        self.classes_label.setWordWrap(True)
        self.classes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notes_label = QLabel("")
        self.notes_label.setWordWrap(True)
        self.notes_label.setObjectName("notes")
        classes_layout = QVBoxLayout(classes_box)
        classes_layout.addWidget(self.classes_label)
        classes_layout.addWidget(self.notes_label)
        pre_box = QGroupBox("Preprocessing")
        self.preprocessing_editor = PreprocessingEditor()
        self.preprocessing_editor.changed.connect(self._on_preprocessing_changed)
        pre_layout = QVBoxLayout(pre_box)
        pre_layout.addWidget(self.preprocessing_editor)
        right = QVBoxLayout()
        right.addWidget(classes_box)
        right.addWidget(pre_box)
        right.addStretch(1)

        # Each column keeps its share of the width whatever its texts say, so nothing jumps between steps.
        columns = QHBoxLayout()
        for column, share in ((left, 2), (right, 3)):
            holder = QWidget()
            holder.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            column.setContentsMargins(0, 0, 0, 0)
            holder.setLayout(column)
            columns.addWidget(holder, share)

        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumWidth(140)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop loading; the choices stay.")
        self.stop_button.clicked.connect(self._on_stop_or_retry)
        status_row = QHBoxLayout()
        status_row.addWidget(self.busy_bar)
        status_row.addWidget(self.status_label, 1)
        status_row.addWidget(self.stop_button)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setObjectName("problem")
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QPushButton("Details…")
        self.details_button.setToolTip("The technical details of the error.")
        self.details_button.clicked.connect(self._show_details)
        error_row = QHBoxLayout()
        error_row.addWidget(self.error_label, 1)
        error_row.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.open_button = self.buttons.button(QDialogButtonBox.StandardButton.Open)
        self.open_button.setToolTip("Use this model.")
        self.buttons.accepted.connect(self.open_model)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(path_row)
        layout.addLayout(columns, 1)
        layout.addLayout(status_row)
        layout.addLayout(error_row)
        layout.addWidget(self.buttons)

    # ------------------------------------------------------------------ choosing
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model file", self._start_folder, MODEL_FILE_FILTER)
        if path:
            self.set_path(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a model folder", self._start_folder)
        if path:
            self.set_path(path)

    def choose_labels(self) -> None:
        start = str(Path(self.path_edit.text()).parent) if self.path_edit.text().strip() else self._start_folder
        path, _ = QFileDialog.getOpenFileName(self, "Class names file", start, LABEL_FILE_FILTER)
        if path:
            self.set_labels(path)

    def set_path(self, path) -> int:
        """Recognise ``path`` in the background; returns the job id."""
        self.path_edit.setText(str(path))
        return self._recognise()

    def set_labels(self, path) -> None:
        """Use the class names in ``path`` (``""``: the model's own) and load the model again."""
        self.labels_edit.setText(str(path))
        self._inspect()

    def labels(self) -> str | None:
        text = self.labels_edit.text().strip()
        return text or None

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
        self.guess = None
        self._forget_model()
        self.failure = None
        self._stopped = False
        self.runner.cancel(channel="inspect")

        def job(token, progress):
            from xaidesk.models.sources import recognise

            from ..catalog import configure_torch_threads

            configure_torch_threads()
            return recognise(text)

        self.found_label.setText("Looking at it …")
        return self._submit("recognise", job, f"Looking at {Path(text).name or text} …")

    def _request_choices(self) -> None:
        """List torchvision's architectures now (quick); timm's once weights ask for a choice."""
        def torchvision_job(token, progress):
            from xaidesk.models.sources import torchvision_architecture_choices

            return torchvision_architecture_choices()

        self._jobs["choices"] = self.runner.submit(torchvision_job, "choices")

    def _request_all_choices(self) -> None:
        if self._all_choices_requested:
            return
        self._all_choices_requested = True

        def all_job(token, progress):
            from xaidesk.models.sources import architecture_choices

            return architecture_choices()

        self._jobs["all_choices"] = self.runner.submit(all_job, "all_choices")

    # ------------------------------------------------------------------ architectures
    def _fill_choices(self, choices) -> None:
        chosen = self.architecture()
        self._choices = list(choices)
        self.architecture_list.blockSignals(True)
        self.architecture_list.clear()
        for choice in self._choices:
            item = QListWidgetItem(choice.title)
            item.setData(Qt.ItemDataRole.UserRole, choice)
            self.architecture_list.addItem(item)
        self.architecture_list.blockSignals(False)
        self._filter_choices()
        if chosen is not None:
            self._select_choice(chosen, announce=False)
        elif self.guess is not None and self.guess.architecture:
            self._preselect()

    def _filter_choices(self, *_args) -> None:
        if not self._choices:
            return
        from xaidesk.models.sources import matching_choices

        text = self.search_edit.text()
        matches = matching_choices(self._choices, text)
        shown = set(matches)
        chosen = self.architecture()
        best = _best_match(matches, text) if text.strip() else None
        best_item = chosen_item = None
        for row in range(self.architecture_list.count()):
            item = self.architecture_list.item(row)
            choice = item.data(Qt.ItemDataRole.UserRole)
            item.setHidden(choice not in shown and choice != chosen)  # the chosen one stays in sight
            if choice == best:
                best_item = item
            if choice == chosen:
                chosen_item = item
        target = best_item or chosen_item
        if target is not None:
            self.architecture_list.scrollToItem(target, QAbstractItemView.ScrollHint.PositionAtCenter)
        self._show_architecture_hint(len(shown))

    def _show_architecture_hint(self, shown: int | None = None) -> None:
        if self.guess is None or not self.guess.chooses_architecture:
            return
        total = len(self._choices)
        timm_count = sum(1 for c in self._choices if c.source == "timm")
        listing = "" if timm_count else " Listing timm's architectures too …"
        if self.guess.architecture:
            text = (f"Found: {_found_source(self.guess)}'s {self.guess.architecture}. Choose another only if you "
                    f"know the weights belong to it.{listing}")
        else:
            text = "Choose the architecture the weights were trained with." + listing
        if shown is not None and shown < total:
            text = f"{shown} of {total} shown. " + text
        self.architecture_hint.setText(text)

    def architecture(self):
        """The chosen ``ArchitectureChoice``, or ``None``."""
        item = self.architecture_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def select_architecture(self, name: str, source: str | None = None) -> bool:
        """Choose an architecture by name (and source); returns False if it is not listed."""
        for row in range(self.architecture_list.count()):
            choice = self.architecture_list.item(row).data(Qt.ItemDataRole.UserRole)
            if choice.name == name and (source is None or choice.source == source):
                self._select_choice(choice, announce=True)
                return True
        return False

    def _select_choice(self, choice, announce: bool) -> None:
        for row in range(self.architecture_list.count()):
            item = self.architecture_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == choice:
                if not announce:
                    self.architecture_list.blockSignals(True)
                item.setHidden(False)
                self.architecture_list.setCurrentItem(item)
                self.architecture_list.scrollToItem(item, QAbstractItemView.ScrollHint.PositionAtCenter)
                self.architecture_list.blockSignals(False)
                return

    def _preselect(self) -> None:
        for row in range(self.architecture_list.count()):
            choice = self.architecture_list.item(row).data(Qt.ItemDataRole.UserRole)
            if choice.source == _found_source(self.guess) and choice.name == self.guess.architecture:
                self._select_choice(choice, announce=False)
                return

    def _on_architecture_chosen(self, *_args) -> None:
        self._forget_model()
        self.failure = None
        if self.guess is not None and not self.guess.needs_trust:
            self._describe_guess()
        self._filter_choices()  # an entry kept in sight only while chosen goes with the search
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
        self.preprocessing_editor.set_preprocessing(None)
        self.classes_label.setText("Shown once the model is loaded.")
        self.notes_label.setText("")

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
        spec, labels = key = self._key()
        if self.model is not None and self._model_key == key:
            return None
        self._forget_model()
        self.failure = None

        def job(token, progress):
            from xaidesk.models import load_model

            return key, load_model(spec, labels=labels)

        chosen = self.architecture()
        name = chosen.name if chosen is not None else (self.guess.architecture or Path(str(self.guess.path)).name)
        return self._submit("inspect", job, f"Loading {name} to read its classes and preprocessing …")

    def _submit(self, channel: str, job, text: str) -> int:
        self._jobs[channel] = self.runner.submit(job, channel)
        self._busy_since = time.monotonic()
        self._busy_text = text
        self._clock.start()
        self._refresh()
        return self._jobs[channel]

    def is_busy(self) -> bool:
        """Whether the dialog is looking at the path or loading the model."""
        return any(self._jobs.get(c) is not None for c in ("recognise", "inspect", "check"))

    # ------------------------------------------------------------------ runner relays
    def _channel_of(self, job_id: int) -> str | None:
        return next((c for c, current in self._jobs.items() if current == job_id), None)

    def _on_finished(self, job_id: int, result) -> None:
        channel = self._channel_of(job_id)
        if channel is None:
            return
        self._jobs[channel] = None
        if channel in ("choices", "all_choices"):
            if channel == "choices" and self._choices:
                return  # the full list came first
            self._fill_choices(result)
            self._show_architecture_hint()
        elif channel == "recognise":
            self._recognised(result)
        elif channel == "inspect":
            self._inspected(*result)
        elif channel == "check":
            self._accept_checked()
        self._refresh()
        if channel in ("choices", "all_choices", "recognise"):
            self._scroll_to_current()

    def _scroll_to_current(self) -> None:
        """Show the chosen architecture in the middle of the list (once the list is laid out)."""
        item = self.architecture_list.currentItem()
        if item is not None and not item.isHidden():
            QTimer.singleShot(0, lambda: self.architecture_list.scrollToItem(
                item, QAbstractItemView.ScrollHint.PositionAtCenter))

    def _on_failed(self, job_id: int, failure: JobFailure) -> None:
        channel = self._channel_of(job_id)
        if channel is None:
            return
        self._jobs[channel] = None
        if channel in ("choices", "all_choices"):
            self.architecture_hint.setText("The list of architectures could not be made: " + failure.message)
            return
        self._failed_channel = channel
        if channel == "inspect" and self.allow_untrusted and _needs_trust(failure.error):
            # Only now does the source say that it runs code (a Hugging Face folder with its own code, or
            # pickled weights): hand it to the same trust confirmation as a pickled model file.
            from dataclasses import replace

            self.guess = replace(self.guess, needs_trust=True, spec=self.spec())
            self.failure = None
            self.found_label.setText(self.found_label.text() + "<br><b>" + _escape(
                failure.message + " Press Open… to confirm that you trust it and load it.") + "</b>")
            self._refresh()
            return
        if isinstance(failure.error, ImportError):
            failure = JobFailure(failure.error, "This kind of model needs a library that is not installed here "
                                 f"({failure.error.name or failure.error}).", failure.details)
        self.failure = failure
        if channel == "recognise":
            self.found_label.setText("Not recognised: see the message below.")
        self._refresh()

    def _on_cancelled(self, job_id: int) -> None:
        channel = self._channel_of(job_id)
        if channel is None:
            return
        self._jobs[channel] = None
        if channel == "inspect":
            self._stopped = True
        self._refresh()

    def _recognised(self, guess) -> None:
        self.guess = guess
        self._describe_guess()
        if guess.chooses_architecture:
            if self.architecture() is not None:
                self.architecture_list.blockSignals(True)
                self.architecture_list.setCurrentItem(None)
                self.architecture_list.blockSignals(False)
            if guess.architecture:
                self._preselect()
            self._show_architecture_hint()
        self._inspect()
        if guess.chooses_architecture:
            self._request_all_choices()

    def _describe_guess(self, loaded_into=None) -> None:
        """Say what the chosen path is in "What it is"; once weights are loaded into ``loaded_into``
        (an architecture choice), say that instead of asking for the architecture."""
        guess = self.guess
        description = guess.description
        if loaded_into is not None:
            description = description.replace(ASK_FOR_ARCHITECTURE, "").strip()
            description += f" Loaded into {loaded_into.title.replace('  ', ' ')}."
        words = [_escape(description)] + [_escape(note) for note in guess.notes]
        other = guess.modality != self.modality
        if other:
            words.append("<b>" + _escape(self._other_modality_text(guess.modality)) + "</b>")
        elif guess.needs_trust:
            words.append(
                "<b>" + _escape("Its classes and preprocessing are shown once it is open." if self.allow_untrusted
                               else "Models that run code when loaded are not opened here. Save the model's "
                                    "weights (its state_dict) or a TorchScript version, and open that.") + "</b>")
        self.found_label.setText("<br>".join(words))
        self.found_label.setToolTip(str(guess.path))

    def _other_modality_text(self, modality: str) -> str:
        if modality == "audio":
            return "This is a model for sound: open it in the Audio tab."
        return f"This is a model for {modality} input, which cannot be used here."

    def _inspected(self, key: tuple, model) -> None:
        if key != self._key():
            return
        self.model = model
        self._model_key = key
        names = list(model.class_names)
        shown = ", ".join(names[:SHOWN_CLASSES]) + (", …" if len(names) > SHOWN_CLASSES else "")
        self.classes_label.setText(f"{len(names)} class{'es' if len(names) != 1 else ''}: {shown}")
        self.classes_label.setToolTip("\n".join(f"{i}: {n}" for i, n in enumerate(names[:200])))
        self.notes_label.setText("\n".join(model.notes))
        self.preprocessing_editor.set_preprocessing(model.preprocessing)
        if self.guess.chooses_architecture and not self.guess.needs_trust:
            self._describe_guess(loaded_into=self.architecture())

    # ------------------------------------------------------------------ state
    def _show_busy_text(self) -> None:
        seconds = time.monotonic() - self._busy_since
        suffix = f" ({seconds:.0f} s)" if seconds >= 2 else ""
        self.status_label.setText(self._busy_text + suffix)

    def _refresh(self, *_args) -> None:
        busy = self.is_busy()
        guess = self.guess
        self.busy_bar.setVisible(busy)
        if busy:
            self._show_busy_text()
        else:
            self._clock.stop()
            self.status_label.setText(self._idle_text())
        loading = self._jobs.get("inspect") is not None
        self.stop_button.setVisible(loading or self._can_retry())
        self.stop_button.setText("Stop" if loading else "Load again")
        self.architecture_box.setVisible(guess is not None and guess.chooses_architecture)
        self.preprocessing_editor.setEnabled(self.model is not None and not busy)
        message = self.failure.message if self.failure is not None else ""
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))
        self.details_button.setVisible(bool(self.failure is not None and self.failure.details))
        self.open_button.setEnabled(self.can_open())
        self.open_button.setText("Open…" if guess is not None and guess.needs_trust else "Open")
        self._grow_to_fit()

    def _grow_to_fit(self) -> None:
        """Start short (nothing to show yet) and grow to what is shown (an architecture list: ``FULL_HEIGHT``),
        staying on the screen."""
        wanted = FULL_HEIGHT if self.architecture_box.isVisibleTo(self) else self.sizeHint().height()
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
        if self.failure is not None and self._failed_channel == "check":
            self.failure = None
        self._refresh()

    def _idle_text(self) -> str:
        guess = self.guess
        if guess is None:
            return "" if self.failure is None else "Choose another file or folder."
        if guess.modality != self.modality or (guess.needs_trust and not self.allow_untrusted):
            return ""
        if guess.needs_trust:
            return "Press Open… to confirm and load it."
        if self.spec() is None:
            return "Choose the architecture to load the weights into."
        if self._stopped:
            return "Stopped. Press Load again to load the model."
        if self.failure is not None and self._failed_channel == "check":
            return "Change the preprocessing, or set it back with \"Use the model's own\"; then press Open."
        if self.failure is not None:
            retry = ", or press Load again" if self._can_retry() else ""
            return f"Change the choices above{retry}."
        if self.model is not None and self._model_key != self._key():
            return "The class names file changed: press Load again to use it."
        if self.model is not None:
            if self.preprocessing_editor.problem():
                return "Fix the preprocessing to open the model."
            edited = " with the preprocessing set by hand" if self.preprocessing_editor.is_edited() else ""
            return f"Ready: press Open to use {self.model.name}{edited}."
        return ""

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
        if self._jobs.get("inspect") is not None:
            self.runner.cancel(channel="inspect")
        else:
            self._model_key = None
            self._inspect()

    def _show_details(self) -> None:
        from . import error_dialog

        if self.failure is not None:
            error_dialog.show_error(self, "Could not open the model", self.failure)

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

        def job(token, progress):
            return _try_input(model, preprocessing)

        self._submit("check", job, "Trying the model on the new input size …")

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
        self._clock.stop()
        if not self.runner.closed:
            _retire(self.runner)
        super().done(result)

    def closeEvent(self, event) -> None:
        if not self.runner.closed:
            _retire(self.runner)
        super().closeEvent(event)


def _found_source(guess) -> str:
    """Whose architecture the recognised one is (``"torchvision"`` or ``"timm"``)."""
    return getattr(guess, "architecture_source", None) or "torchvision"


def _best_match(matches: list, text: str):
    """The match a search for ``text`` most likely means: the name typed exactly (torchvision first),
    else a name that starts with it, else the shortest name."""
    wanted = text.strip().lower().replace("-", "_").replace(" ", "_")

    def rank(choice) -> tuple:
        name = choice.name.lower()
        return (name != wanted, not name.startswith(wanted), len(name), choice.source != "torchvision", name)

    return min(matches, key=rank, default=None)


def _needs_trust(error: BaseException) -> bool:
    """Whether loading failed only because the source runs code (the model was loaded, so torch is)."""
    from xaidesk.models.files import UntrustedModelError

    return isinstance(error, UntrustedModelError)


def _try_input(model, preprocessing) -> bool:
    """Run ``model`` on one blank input prepared as ``preprocessing``; a plain ``ModelError`` if it fails."""
    import torch

    from xaidesk.core import ModelError

    shape = (1, preprocessing.num_channels, *preprocessing.size)
    text = f"{shape[1]}×{shape[2]}×{shape[3]} (channels × height × width)"
    # An ONNX model scores in onnxruntime and explains gradients through its conversion: both must take it.
    modules = [model.scoring_module] + ([model.module] if model.module is not model.scoring_module else [])
    for module in modules:
        try:
            with torch.no_grad():
                out = module(torch.zeros(shape))
        except Exception as error:  # noqa: BLE001 - any failure of the forward pass
            raise ModelError(
                f"The model does not accept an input of {text}. Set the preprocessing back with \"Use the model's "
                "own\", or choose a size the model was made for.",
                details=f"{type(error).__name__}: {getattr(error, 'message', error)}",
            ) from error
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, model.num_classes):
            raise ModelError(
                f"With an input of {text} the model does not give its {model.num_classes} class scores. Set the "
                "preprocessing back with \"Use the model's own\".")
        if not bool(torch.isfinite(out).all()):
            raise ModelError(f"With an input of {text} the model gives invalid scores (NaN or infinity).")
    return True
