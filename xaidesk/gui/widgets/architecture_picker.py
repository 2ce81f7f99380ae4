"""The Open model dialog's architecture list: every torchvision and timm architecture, searchable.

Weights alone do not say which network they belong to; this box lists the architectures
(:class:`~xaidesk.models.sources.ArchitectureChoice`), preselects the one the weights were
recognised as, filters by search words, and emits :attr:`ArchitecturePicker.chosen` when the
person picks another. It lists the architectures in the background on the dialog's runner
(:meth:`ArchitecturePicker.list_architectures`: torchvision's at once, timm's too once weights ask
for a choice). The hint under the list comes from :func:`xaidesk.gui.open_model_logic.architecture_hint`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QGroupBox, QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from ..open_model_logic import architecture_hint, best_match, choices_job, found_source

#: The runner channels of the two lists (``"<owner>.<job>"``).
CHOICES, ALL_CHOICES = "open_model.choices", "open_model.all_choices"


class ArchitecturePicker(QGroupBox):
    """A search field, the list of architectures and a hint.

    Attributes
    ----------
    choices
        The listed ``ArchitectureChoice`` entries, in list order.
    guess
        What the chosen weights were recognised as (sets the preselection and the hint), or ``None``.

    Signals
    -------
    chosen
        The person chose an architecture (not emitted for a preselection).
    listed
        A list of architectures arrived and is shown.
    """

    chosen = Signal()
    listed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__("Architecture", parent)
        self.choices: list = []
        self.guess = None
        self._runner = None
        self._jobs: dict[str, int | None] = {}
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search, e.g. resnet50, vit small, convnext")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setToolTip("Type parts of the name; every word must appear.")
        self.search_edit.textChanged.connect(self.filter_choices)
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setUniformItemSizes(True)
        self.list.setMinimumHeight(220)
        self.list.setToolTip("The network the weights were trained with.")
        self.list.currentItemChanged.connect(lambda *_: self.chosen.emit())
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.hint.setObjectName("notes")
        layout = QVBoxLayout(self)
        layout.addWidget(self.search_edit)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.hint)

    def list_architectures(self, runner, *, with_timm: bool) -> None:
        """List the architectures on ``runner``: torchvision's (quick), or timm's too (asked for once)."""
        channel = ALL_CHOICES if with_timm else CHOICES
        if channel in self._jobs:
            return
        if self._runner is None:
            self._runner = runner
            runner.finished.connect(self._on_finished)
            runner.failed.connect(self._on_failed)
        self._jobs[channel] = runner.submit(choices_job(with_timm=with_timm), channel)

    def _channel_of(self, job_id: int) -> str | None:
        return next((c for c, current in self._jobs.items() if current == job_id), None)

    def _on_finished(self, job_id: int, choices) -> None:
        channel = self._channel_of(job_id)
        if channel is None:
            return
        self._jobs[channel] = None
        if channel == CHOICES and self.choices:
            return  # the full list came first
        self.fill(choices)
        self.show_hint()
        self.listed.emit()

    def _on_failed(self, job_id: int, failure) -> None:
        channel = self._channel_of(job_id)
        if channel is not None:
            self._jobs[channel] = None
            self.hint.setText("The list of architectures could not be made: " + failure.message)

    def architecture(self):
        """The chosen ``ArchitectureChoice``, or ``None``."""
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def fill(self, choices) -> None:
        """List ``choices``, keeping the chosen architecture (else preselecting the recognised one)."""
        chosen = self.architecture()
        self.choices = list(choices)
        self.list.blockSignals(True)
        self.list.clear()
        for choice in self.choices:
            item = QListWidgetItem(choice.title)
            item.setData(Qt.ItemDataRole.UserRole, choice)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.filter_choices()
        if chosen is not None:
            self.select_choice(chosen, announce=False)
        elif self.guess is not None and self.guess.architecture:
            self.preselect()

    def filter_choices(self, *_args) -> None:
        """Show the architectures that match the search (the chosen one stays in sight) and scroll to the best."""
        if not self.choices:
            return
        from xaidesk.models.sources import matching_choices

        text = self.search_edit.text()
        matches = matching_choices(self.choices, text)
        shown = set(matches)
        chosen = self.architecture()
        best = best_match(matches, text) if text.strip() else None
        best_item = chosen_item = None
        for row in range(self.list.count()):
            item = self.list.item(row)
            choice = item.data(Qt.ItemDataRole.UserRole)
            item.setHidden(choice not in shown and choice != chosen)
            if choice == best:
                best_item = item
            if choice == chosen:
                chosen_item = item
        target = best_item or chosen_item
        if target is not None:
            self.list.scrollToItem(target, QAbstractItemView.ScrollHint.PositionAtCenter)
        self.show_hint(len(shown))

    def show_hint(self, shown: int | None = None) -> None:
        """Say what was found and, while searching, how many architectures are shown."""
        if self.guess is None or not self.guess.chooses_architecture:
            return
        self.hint.setText(architecture_hint(self.guess, self.choices, shown))

    def select(self, name: str, source: str | None = None) -> bool:
        """Choose an architecture by name (and source); returns False if it is not listed."""
        for row in range(self.list.count()):
            choice = self.list.item(row).data(Qt.ItemDataRole.UserRole)
            if choice.name == name and (source is None or choice.source == source):
                self.select_choice(choice, announce=True)
                return True
        return False

    def select_choice(self, choice, announce: bool) -> None:
        """Make ``choice`` current and show it; ``announce``: emit :attr:`chosen`."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == choice:
                if not announce:
                    self.list.blockSignals(True)
                item.setHidden(False)
                self.list.setCurrentItem(item)
                self.list.scrollToItem(item, QAbstractItemView.ScrollHint.PositionAtCenter)
                self.list.blockSignals(False)
                return

    def preselect(self) -> None:
        """Choose the architecture the weights were recognised as, without announcing it."""
        for row in range(self.list.count()):
            choice = self.list.item(row).data(Qt.ItemDataRole.UserRole)
            if choice.source == found_source(self.guess) and choice.name == self.guess.architecture:
                self.select_choice(choice, announce=False)
                return

    def clear_choice(self) -> None:
        """Choose nothing, without announcing it."""
        if self.architecture() is not None:
            self.list.blockSignals(True)
            self.list.setCurrentItem(None)
            self.list.blockSignals(False)

    def scroll_to_current(self) -> None:
        """Show the chosen architecture in the middle of the list (once the list is laid out)."""
        item = self.list.currentItem()
        if item is not None and not item.isHidden():
            QTimer.singleShot(0, lambda: self.list.scrollToItem(item, QAbstractItemView.ScrollHint.PositionAtCenter))
