"""An editable choice of a few titled words or a typed number (e.g. θ: Automatic, None or 0.5)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from .param_form import ComboBox


class WordOrNumberEdit(ComboBox):
    """Shows each code word by its title; :meth:`text` gives back the code word or the typed text.

    Signals
    -------
    editingFinished()
        A word was picked or typing was finished (as ``QLineEdit.editingFinished``).
    """

    editingFinished = Signal()  # noqa: N815 - the QLineEdit name it stands in for

    def __init__(self, words: dict[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._words = dict(words)
        self.setEditable(True)
        for word, title in self._words.items():
            self.addItem(title, word)
        self.lineEdit().editingFinished.connect(self.editingFinished)
        self.activated.connect(lambda _index: self.editingFinished.emit())

    def text(self) -> str:
        """The code word of a picked title, otherwise what was typed (stripped)."""
        typed = self.currentText().strip()
        return next((word for word, title in self._words.items() if typed == title), typed)

    def setText(self, text: str) -> None:  # noqa: N802 - the QLineEdit name it stands in for
        """Show ``text``: a code word by its title, anything else as typed."""
        index = self.findData(text)
        if index >= 0:
            self.setCurrentIndex(index)
        else:
            self.setEditText(text)
