"""The Open model dialog's status lines: a busy bar with the time taken, Stop / Load again, the error.

:class:`LoadStatus` only shows what the dialog tells it (:meth:`LoadStatus.show_state`); the
sentences come from :mod:`xaidesk.gui.open_model_logic`.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


class LoadStatus(QWidget):
    """Busy bar, status line and Stop / Load again button; below them the error with its details.

    Signals
    -------
    stop_or_retry
        Stop (while loading) or Load again was pressed.
    """

    stop_or_retry = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._busy_since = 0.0
        self._busy_text = ""
        self._failure = None
        self._clock = QTimer(self)
        self._clock.setInterval(500)
        self._clock.timeout.connect(self._show_busy_text)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumWidth(140)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop loading; the choices stay.")
        self.stop_button.clicked.connect(self.stop_or_retry)
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
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(status_row)
        layout.addLayout(error_row)

    def start(self, text: str) -> None:
        """A job starts: show ``text`` with the seconds it takes."""
        self._busy_since = time.monotonic()
        self._busy_text = text
        self._clock.start()

    def stop_clock(self) -> None:
        self._clock.stop()

    def show_state(self, *, busy: bool, idle_text: str, loading: bool, can_retry: bool, failure) -> None:
        """Show the busy bar (or ``idle_text``), Stop while ``loading`` (Load again if ``can_retry``) and
        ``failure`` (a :class:`~xaidesk.gui.runner.JobFailure` or ``None``)."""
        self.busy_bar.setVisible(busy)
        if busy:
            self._show_busy_text()
        else:
            self._clock.stop()
            self.status_label.setText(idle_text)
        self.stop_button.setVisible(loading or can_retry)
        self.stop_button.setText("Stop" if loading else "Load again")
        self._failure = failure
        message = failure.message if failure is not None else ""
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))
        self.details_button.setVisible(bool(failure is not None and failure.details))

    def _show_busy_text(self) -> None:
        seconds = time.monotonic() - self._busy_since
        suffix = f" ({seconds:.0f} s)" if seconds >= 2 else ""
        self.status_label.setText(self._busy_text + suffix)

    def _show_details(self) -> None:
        from . import error_dialog

        if self._failure is not None:
            error_dialog.show_error(self.window(), "Could not open the model", self._failure)
