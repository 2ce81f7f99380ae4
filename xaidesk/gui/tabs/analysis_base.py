"""What the analysis tabs (Tables, Molecules) share: one long run with progress and Cancel, plot and file exports.

An analysis tab keeps its background jobs in ``self._jobs`` (channel name ->
job id or None, see :class:`~xaidesk.gui.tabs.explain_base.JobChannelsMixin`);
one channel, :attr:`AnalysisTabMixin.RUN_CHANNEL`, is the long computation the
Run (or Train) button starts, shows in the progress bar and Cancel stops. The
other channels (loading, previews) finish silently into their handlers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..formatting import progress_text
from ..widgets import error_dialog
from ..panels.tab_pieces import make_progress_bar
from .explain_base import JobChannelsMixin


def widget_rgb(widget: QWidget) -> np.ndarray:
    """What ``widget`` shows, as an (H, W, 3) uint8 array."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(height, image.bytesPerLine())
    return buffer[:, : 3 * width].reshape(height, width, 3).copy()


class AnalysisTabMixin(JobChannelsMixin):
    """Run, progress, Cancel and exports of a tab whose result is one long computation.

    The tab (a ``QWidget``) defines the signals ``status_message(str)`` and
    ``state_changed()``, the attributes ``runner``, ``settings`` and ``_jobs``
    (holding :attr:`RUN_CHANNEL`), and:

    ``_finish_handlers()``
        ``{channel: callable(result)}`` for every channel.
    ``_failure_handlers()``
        ``{channel: callable(failure)}`` for every channel.
    ``_update_enabled()``
        Enables the buttons for the current state (and emits ``state_changed``).
    ``has_result()``, ``current_plot_widget()``
        Whether there is a result to export, and the plot a 'Save plot' saves.
    ``choose_results_export()`` and :attr:`RESULTS_EXPORT_TEXT`
        The tab's main export (a dialog) and its menu text (File ▸ Export).
    """

    RUN_CHANNEL = "run"
    #: Settings key of the folder the tab's dialogs start in.
    FOLDER_SETTING = "last_folder"
    #: File name a 'Save plot' suggests.
    PLOT_NAME = "plot.png"
    RESULTS_EXPORT_TEXT = "Export results…"
    #: Why the File menu's 'Export settings JSON' is off while the tab is shown.
    SETTINGS_EXPORT_NOTE = "This tab has no settings file to export."

    def _connect_runner(self) -> None:
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)

    def _build_run_area(self, run_text: str, run_slot) -> QWidget:
        """The Run/Cancel buttons, the progress bar and the status line under the side panel."""
        area = QWidget()
        layout = QVBoxLayout(area)
        buttons = QHBoxLayout()
        self.run_button = QPushButton(run_text)
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(lambda _checked=False: run_slot())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_run)
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.progress_bar = make_progress_bar()
        layout.addWidget(self.progress_bar)
        self.run_status = QLabel("")
        self.run_status.setWordWrap(True)
        # Room for three lines, so that a longer progress message never moves Run and Cancel.
        self.run_status.setMinimumHeight(3 * self.run_status.fontMetrics().lineSpacing())
        self.run_status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.run_status)
        return area

    # ------------------------------------------------------------------ the run
    def is_running(self) -> bool:
        return self._jobs[self.RUN_CHANNEL] is not None

    def _submit_run(self, job, name: str, text: str) -> int:
        """Start ``job`` in the runner as the tab's run; ``text`` goes to the status line."""
        self._jobs[self.RUN_CHANNEL] = self.runner.submit(job, name)
        self.progress_bar.setValue(0)
        self.run_status.setText(text)
        self.status_message.emit(text)
        self._update_enabled()
        return self._jobs[self.RUN_CHANNEL]

    def cancel_run(self) -> None:
        """Ask the running job to stop; the previous result stays."""
        job_id = self._jobs[self.RUN_CHANNEL]
        if job_id is not None:
            self.runner.cancel(job_id)

    def _end_run(self, text: str) -> None:
        """Report the end of a run in the status bar only (like the Images tab), not again under Run."""
        self._jobs[self.RUN_CHANNEL] = None
        self.progress_bar.setValue(0)
        self.run_status.setText("")
        self.status_message.emit(text)
        self._update_enabled()

    # ------------------------------------------------------------------ runner relays
    def _on_progress(self, job_id: int, fraction: float, message: str, partial: object) -> None:
        if self._channel_of(job_id) != self.RUN_CHANNEL:
            return
        self.progress_bar.setValue(int(1000 * max(0.0, min(1.0, fraction))))
        self.run_status.setText(progress_text(fraction, self.runner.elapsed(job_id), message))

    def _on_failed(self, job_id: int, failure: object) -> None:
        channel = self._channel_of(job_id)
        if channel is None:
            return
        if channel != self.RUN_CHANNEL:
            self._jobs[channel] = None
            self._update_enabled()
        self._failure_handlers()[channel](failure)

    def _on_cancelled(self, job_id: int) -> None:
        channel = self._channel_of(job_id)
        if channel == self.RUN_CHANNEL:
            self._end_run("Cancelled; the previous results are still shown." if self.has_result() else "Cancelled.")
        elif channel is not None:
            self._jobs[channel] = None
            self._update_enabled()

    # ------------------------------------------------------------------ exports
    def can_save_plot(self) -> bool:
        return self.save_plot_button.isEnabled()

    def save_plot(self, path) -> Path:
        """Write the current view's plot as a PNG (atomically)."""
        from xaidesk.core.io import save_png_atomic

        return save_png_atomic(path, widget_rgb(self.current_plot_widget()))

    def copy_plot(self) -> None:
        """Put the current view's plot on the clipboard."""
        QGuiApplication.clipboard().setImage(self.current_plot_widget().grab().toImage())
        self.status_message.emit("Copied the plot to the clipboard.")

    def _ask_save_path(self, title: str, name: str, file_filter: str, suffix: str) -> Path | None:
        """A save dialog in the tab's folder; the answer gets ``suffix`` if it has another one."""
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path(self._last_folder()) / name), file_filter)
        if not path:
            return None
        path = Path(path)
        if path.suffix.lower() != suffix:
            path = path.with_name(path.name + suffix)
        return path

    def _save_as(self, title: str, name: str, file_filter: str, suffix: str, write) -> Path | None:
        """Ask where, ``write(path)``, and say so (or say plainly why it could not be written)."""
        path = self._ask_save_path(title, name, file_filter, suffix)
        if path is None:
            return None
        try:
            write(path)
        except OSError as error:
            error_dialog.show_error(self, "Could not save the file", f"{path} could not be written: {error.strerror or error}.")
            return None
        self._remember_folder(path)
        self.status_message.emit(f"Saved {path}.")
        return path

    def choose_plot_file(self) -> None:
        self._save_as("Save plot", self.PLOT_NAME, "PNG image (*.png)", ".png", self.save_plot)

    def _last_folder(self) -> str:
        """Where the tab's file dialogs start: the last folder used, else the person's documents folder."""
        remembered = "" if self.settings is None else \
            str(self.settings.value(self.FOLDER_SETTING, "") or self.settings.value("last_folder", "") or "")
        return remembered or QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation) \
            or str(Path.home())

    def _remember_folder(self, path) -> None:
        if self.settings is not None:
            self.settings.setValue(self.FOLDER_SETTING, str(Path(path).parent))


__all__ = ["AnalysisTabMixin", "widget_rgb"]
