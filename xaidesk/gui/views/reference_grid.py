"""Reference samples as a grid of crops with captions, and one sample's whole image with its box.

:class:`ReferenceGrid` shows the crops of :class:`~xaidesk.gui.concept_dataset_jobs.ReferenceTile` items
(file and value under each); a click asks for the whole image, which :class:`SampleViewer` shows with
the box the crop was cut from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from ..formatting import format_value


def crop_pixmap(pixels: np.ndarray, size: int) -> QPixmap:
    """An RGB (h, w, 3) uint8 array as a pixmap whose longer side is ``size``: small crops are enlarged pixel by
    pixel (so they stay crisp), large ones shrunk smoothly."""
    array = np.ascontiguousarray(pixels[..., :3], dtype=np.uint8)
    height, width = array.shape[:2]
    image = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    smooth = max(height, width) > size
    mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
    return QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, mode)


def two_lines(text: str, metrics: QFontMetrics, width: int) -> str:
    """``text`` on at most two lines of ``width`` pixels: broken after the last ``_``, ``-`` or space (or before
    the last dot) that fits on the first line, the rest elided in the middle."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    cut = len(text)
    while cut > 1 and metrics.horizontalAdvance(text[:cut]) > width:
        cut -= 1
    breaks = [i + (c != ".") for i, c in enumerate(text[:cut]) if c in "_-. " and i > 0]
    cut = max(breaks) if breaks else cut
    return text[:cut] + "\n" + metrics.elidedText(text[cut:], Qt.TextElideMode.ElideMiddle, width)


class _Tile(QFrame):
    """One crop over its caption; a click emits ``clicked``."""

    clicked = Signal()

    def __init__(self, tile, size: int, value_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tile = tile
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(3, 3, 3, 3)
        layout.setSpacing(2)
        self.picture = QLabel()
        self.picture.setFixedSize(size, size)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setPixmap(crop_pixmap(tile.crop, size))
        self.caption = QLabel(two_lines(Path(tile.file).name, QFontMetrics(self.font()), size)
                              + "\n" + format_value(tile.value))
        self.caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.caption.setObjectName("notes")
        layout.addWidget(self.picture)
        layout.addWidget(self.caption)
        self.setToolTip(f"{tile.file}\n{value_name} {format_value(tile.value)}\n"
                        "Click to see the whole image and where the crop was cut.")

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit()
        super().mouseReleaseEvent(event)


class ReferenceGrid(QWidget):
    """A titled grid of reference crops (``columns`` per row) with a sentence when there are none.

    Signals
    -------
    sample_clicked(ReferenceTile)
        A crop was clicked.
    """

    sample_clicked = Signal(object)

    def __init__(self, title: str, value_name: str, size: int = 84, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value_name, self.size, self.columns = value_name, int(size), 8
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel(title)
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setObjectName("notes")
        holder = QWidget()
        self._grid = QGridLayout(holder)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(4)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.title)
        layout.addWidget(self.message)
        layout.addWidget(holder)
        self.tiles: list[_Tile] = []
        self.show_message("")

    def show_tiles(self, tiles, title: str | None = None) -> None:
        """Show ``tiles`` (ReferenceTile items) in order, left to right and top to bottom."""
        self._clear()
        if title is not None:
            self.title.setText(title)
        for tile in tiles:
            widget = _Tile(tile, self.size, self.value_name)
            widget.clicked.connect(lambda tile=tile: self.sample_clicked.emit(tile))
            self.tiles.append(widget)
        self._place()
        self.message.setVisible(not tiles)
        if not tiles:
            self.message.setText("No samples.")

    def show_message(self, text: str) -> None:
        """Show a sentence instead of crops (empty: nothing)."""
        self._clear()
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _place(self) -> None:
        """Put the crops in as many columns as the width holds."""
        tile_width = self.size + 6 + self._grid.spacing()
        self.columns = max(1, (self.width() + self._grid.spacing()) // tile_width)
        for index, widget in enumerate(self.tiles):
            self._grid.removeWidget(widget)
            self._grid.addWidget(widget, index // self.columns, index % self.columns)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        tile_width = self.size + 6 + self._grid.spacing()
        if self.tiles and max(1, (self.width() + self._grid.spacing()) // tile_width) != self.columns:
            self._place()

    def files(self) -> list[str]:
        """The files of the crops shown, in order."""
        return [widget.tile.file for widget in self.tiles]

    def _clear(self) -> None:
        for widget in self.tiles:
            self._grid.removeWidget(widget)
            widget.deleteLater()
        self.tiles = []


class SampleViewer(QDialog):
    """One reference sample's whole image with the box its crop was cut from."""

    LONGEST = 480

    def __init__(self, tile, pixels: np.ndarray, value_name: str = "value", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(Path(tile.file).name)
        height, width = pixels.shape[:2]
        scale = self.LONGEST / max(height, width)
        pixmap = crop_pixmap(pixels, self.LONGEST)
        top, left, bottom, right = tile.box
        painter = QPainter(pixmap)
        pen = QPen(QColor(255, 200, 0))
        pen.setWidth(3)
        painter.setPen(pen)
        painter.drawRect(QRect(int(left * scale), int(top * scale), max(1, int((right - left) * scale) - 1),
                               max(1, int((bottom - top) * scale) - 1)))
        painter.end()
        layout = QVBoxLayout(self)
        self.picture = QLabel()
        self.picture.setPixmap(pixmap)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel(f"{tile.file}\n{value_name} {format_value(tile.value)} · the box marks where it is at "
                           f"least half its peak in this image (rows {top}–{bottom}, columns {left}–{right}); "
                           "the crop adds a margin around it.")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(self.picture)
        layout.addWidget(self.text)
        layout.addWidget(buttons)


__all__ = ["ReferenceGrid", "SampleViewer", "crop_pixmap"]
