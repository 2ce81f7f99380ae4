"""The Model workflow's "Before and after": the figures of the original and the corrected model, the pictures,
the notes, and buttons to open the corrected model and its files."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..repair_jobs import RepairOutcome, method_title
from ..repair_wording import comparison_rows, picture_title

#: Background of a figure that improved, got worse, or stayed the same.
VERDICT_COLOURS = {"better": "#d7f0d2", "worse": "#f8d4d0", "same": "#eeeeee"}
VERDICT_WORDS = {"better": "better", "worse": "worse", "same": "about the same", "": "could not be compared"}
PICTURE_WIDTH = 420
#: The smallest height a picture is shrunk to (below it, the tab scrolls instead).
PICTURE_MIN_HEIGHT = 100


def picture_pixmap(pixels: np.ndarray, width: int = PICTURE_WIDTH) -> QPixmap:
    """An RGB uint8 picture as a pixmap no wider than ``width``."""
    pixels = np.ascontiguousarray(pixels[..., :3], dtype=np.uint8)
    height, columns = pixels.shape[:2]
    image = QImage(pixels.data, columns, height, 3 * columns, QImage.Format.Format_RGB888).copy()
    pixmap = QPixmap.fromImage(image)
    return pixmap.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation) if columns > width else pixmap


class RepairComparePanel(QGroupBox):
    """The result of one repair.

    Signals
    -------
    open_model_requested(str)
        ``file:PATH`` of the corrected model, to be loaded in the tab the dialog came from.
    """

    open_model_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("5. Before and after", parent)
        self.outcome: RepairOutcome | None = None
        self.summary = QLabel("Run a method: the original and the corrected model are compared here, figure by "
                              "figure (green: better, red: worse).")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Figure", "Before", "After"])
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(90)
        self.pictures = QWidget()
        self.pictures_layout = QVBoxLayout(self.pictures)
        self.pictures_layout.setContentsMargins(0, 0, 0, 0)
        self.notes = QLabel("")
        self.notes.setWordWrap(True)
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        extras = QWidget()
        extras_layout = QVBoxLayout(extras)
        extras_layout.setContentsMargins(0, 0, 0, 0)
        extras_layout.addWidget(self.pictures)
        extras_layout.addWidget(self.notes)
        extras_layout.addStretch(1)
        self.extras = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(extras)
        scroll.viewport().installEventFilter(self)  # pictures shrink to the tab's size
        self._pictures: list[tuple[QLabel, QLabel, QPixmap]] = []
        self.open_button = QPushButton("Open the corrected model")
        self.open_button.setToolTip("Load the corrected model in the tab this window was opened from.")
        self.open_button.clicked.connect(self.request_open)
        self.files_button = QPushButton("Show files")
        self.files_button.setToolTip("Open the output folder (model.safetensors, report.json, comparison.csv, "
                                     "pictures).")
        self.files_button.clicked.connect(self.show_files)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.files_button)
        buttons.addStretch(1)
        self.tabs = QTabWidget()  # each gets the whole height, so nothing is cut off in a small window
        self.tabs.addTab(self.table, "Figures")
        self.tabs.addTab(scroll, "Pictures and notes")
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(buttons)
        self.show_outcome(None)

    def show_outcome(self, outcome: RepairOutcome | None) -> None:
        """Fill the table, pictures and notes from ``outcome`` (``None`` empties them)."""
        self.outcome = outcome
        self.table.setRowCount(0)
        self._pictures = []
        while self.pictures_layout.count():
            widget = self.pictures_layout.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.notes.setText("")
        self.open_button.setEnabled(outcome is not None)
        self.files_button.setEnabled(outcome is not None)
        extras = outcome is not None and bool(outcome.result.images or outcome.result.notes)
        self.tabs.setTabVisible(1, extras)
        self.tabs.tabBar().setVisible(extras)  # no lone "Figures" tab
        self.tabs.setCurrentIndex(0)
        if outcome is None:
            return
        result = outcome.result
        rows = comparison_rows(result)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            tip = f"{row.label}: {VERDICT_WORDS[row.verdict]} after the repair."
            for c, text in enumerate((row.label, row.before, row.after)):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                if c and row.verdict and c == 2:
                    item.setBackground(QColor(VERDICT_COLOURS[row.verdict]))
                    item.setForeground(QColor("#111111"))
                self.table.setItem(r, c, item)
        made_by = f"{method_title(result.method)}, saved in {outcome.out.name}. "
        if rows:
            self.summary.setText(made_by + "Green: better after the repair, red: worse, grey: about the same; hover "
                                 "over a row for more.")
        else:
            self.summary.setText(made_by + "Nothing was measured before and after: choose labelled images under "
                                 "Data to compare the original and the corrected model.")
        for name in sorted(result.images):
            title = QLabel(picture_title(name))
            title.setObjectName("viewTitle")
            title.setWordWrap(True)
            picture = QLabel()
            picture.setToolTip(str(outcome.out / name))
            self.pictures_layout.addWidget(title)
            self.pictures_layout.addWidget(picture)
            self._pictures.append((title, picture, picture_pixmap(result.images[name], width=10_000)))
        self.fit_pictures()
        if result.notes:
            self.notes.setText("Notes:\n" + "\n".join(f"• {note}" for note in result.notes))
        self.tabs.setTabText(1, f"Pictures ({len(result.images)}) and notes" if result.images else "Notes")
        if not rows and self.tabs.isTabVisible(1):
            self.tabs.setCurrentIndex(1)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if watched is self.extras.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_pictures()
        return super().eventFilter(watched, event)

    def fit_pictures(self) -> None:
        """Show each picture as large as the tab allows (at most its own size and :data:`PICTURE_WIDTH` wide),
        with its title, so that a small window shows it whole rather than cut off."""
        view = self.extras.viewport().size()
        width = max(1, min(view.width() - 8, PICTURE_WIDTH))
        for title, label, pixmap in self._pictures:
            height = max(PICTURE_MIN_HEIGHT, view.height() - title.heightForWidth(view.width()) - 16)
            label.setPixmap(pixmap.scaled(min(width, pixmap.width()), min(height, pixmap.height()),
                                          Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))

    def verdicts(self) -> list[str]:
        """The verdict of each row (for tests and the status line)."""
        return [row.verdict for row in comparison_rows(self.outcome.result)] if self.outcome else []

    def request_open(self) -> str | None:
        if self.outcome is None:
            return None
        spec = self.outcome.model_spec
        self.open_model_requested.emit(spec)
        return spec

    def show_files(self) -> None:
        if self.outcome is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.outcome.out)))
