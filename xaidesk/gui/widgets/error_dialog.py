"""Plain-language error and confirmation dialogs.

Tests replace :func:`show_error` and :func:`confirm` (call them through the
module, ``error_dialog.show_error(...)``, so a monkeypatch takes effect).
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def error_text(error) -> tuple[str, str | None]:
    """Message and details of an exception, a ``JobFailure`` or a string."""
    if isinstance(error, str):
        return error, None
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return message, getattr(error, "details", None)


def show_error(parent: QWidget | None, title: str, error) -> None:
    """Show a modal error with the plain message and expandable technical details.

    Parameters
    ----------
    parent
        Window the dialog belongs to.
    title
        What the person was doing, e.g. ``"Could not open the image"``.
    error
        An :class:`~xaidesk.core.XaideskError`, a ``JobFailure``, another
        exception, or a string.
    """
    message, details = error_text(error)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(title)
    box.setInformativeText(message)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.exec()


def confirm(parent: QWidget | None, title: str, text: str, informative: str = "", yes_text: str = "Yes") -> bool:
    """Ask a yes/no question; the safe answer (No) is the default."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(text)
    if informative:
        box.setInformativeText(informative)
    yes = box.addButton(yes_text, QMessageBox.ButtonRole.AcceptRole)
    no = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(no)
    box.exec()
    return box.clickedButton() is yes
