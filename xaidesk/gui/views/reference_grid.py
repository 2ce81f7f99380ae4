"""Reference samples as a grid of crops with captions, the concepts of a reference run beside them, and one
sample's whole image with its box.

:class:`ReferenceGrid` shows the crops of :class:`~xaidesk.gui.concept_dataset_jobs.ReferenceTile` items
(file and value under each); a click asks for the whole image, which :class:`SampleViewer` shows with
the box the crop was cut from. :class:`ConceptBrowser` lists a reference run's concepts and shows the
RelMax and ActMax grids of the chosen one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFrame, QGridLayout,
                               QHeaderView, QLabel, QScrollArea, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from ..concept_dataset_jobs import BY_INDEX, BY_RELEVANCE, concept_rows
from ..formatting import format_value
from ..wording import plural


def crop_pixmap(pixels: np.ndarray, size: int) -> QPixmap:
    """An RGB (h, w, 3) or grey (h, w) uint8 array as a pixmap whose longer side is ``size``: small crops are
    enlarged pixel by pixel (so they stay crisp), large images shrunk smoothly (so they do not alias)."""
    array = np.ascontiguousarray(pixels[..., :3] if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, 2),
                                 dtype=np.uint8)
    height, width = array.shape[:2]
    image = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    smooth = max(height, width) > size
    mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
    return QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, mode)


def percent_text(value: float) -> str:
    return f"{value:.0f} %"


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

    def __init__(self, tile, size: int, value_name: str, value_text, parent: QWidget | None = None) -> None:
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
                              + "\n" + value_text(tile.value))
        self.caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.caption.setObjectName("notes")
        layout.addWidget(self.picture)
        layout.addWidget(self.caption)
        self.setToolTip(f"{tile.file}\n{value_name} {value_text(tile.value)}\nClick to see the whole image"
                        + (" and where the crop was cut." if tile.box is not None else "."))

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

    def __init__(self, title: str, value_name: str, size: int = 84, percent: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value_name, self.size, self.columns = value_name, int(size), 8
        self.value_text = percent_text if percent else format_value
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
        holder.setMinimumWidth(self.size + 12)  # narrower than its columns: the crops flow into more rows
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
            widget = _Tile(tile, self.size, self.value_name, self.value_text)
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


def _item(text: str, value: float, right: bool = True) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    item.setData(Qt.ItemDataRole.UserRole, float(value))
    side = Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft
    item.setTextAlignment(side | Qt.AlignmentFlag.AlignVCenter)
    return item


class ConceptBrowser(QSplitter):
    """A reference run's concepts (most relevant over the folder first, or by channel) beside the RelMax and
    ActMax grids of the chosen one.

    Signals
    -------
    concept_chosen(int)
        A concept (channel) was chosen; its grids are to be filled (:meth:`show_tiles`).
    sample_clicked(ReferenceTile, str)
        A crop was clicked; the second value names what its value is (relevance, activation).
    """

    concept_chosen = Signal(int)
    sample_clicked = Signal(object, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.references = None
        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        self.browse_label = QLabel("Concepts")
        self.browse_label.setWordWrap(True)
        self.order_combo = QComboBox()
        self.order_combo.addItem("Most relevant over the folder first", BY_RELEVANCE)
        self.order_combo.addItem("By channel number", BY_INDEX)
        self.order_combo.currentIndexChanged.connect(self._fill)
        self.concept_table = QTableWidget(0, 3)
        self.concept_table.setHorizontalHeaderLabels(["Concept", "Relevance", "Share"])
        self.concept_table.horizontalHeaderItem(1).setToolTip("The concept's relevance summed over the folder.")
        self.concept_table.horizontalHeaderItem(2).setToolTip(
            "Its relevance over the summed |relevance| of all the layer's concepts (negative: it spoke against).")
        self.concept_table.verticalHeader().hide()
        self.concept_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.concept_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.concept_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.concept_table.currentCellChanged.connect(lambda row, *_: self._on_row(row))
        layout.addWidget(self.browse_label)
        layout.addWidget(self.order_combo)
        layout.addWidget(self.concept_table, 1)
        holder = QWidget()
        grids = QVBoxLayout(holder)
        self.relmax_grid = ReferenceGrid("Most relevant (RelMax)", "relevance")
        self.actmax_grid = ReferenceGrid("Most active (ActMax)", "activation")
        for grid in (self.relmax_grid, self.actmax_grid):
            grid.sample_clicked.connect(lambda tile, grid=grid: self.sample_clicked.emit(tile, grid.value_name))
            grids.addWidget(grid)
        note = QLabel("Each crop is cut around where the concept is at least half its peak in that image (with a "
                      "margin); the number under it is the concept's relevance or activation there. Click a crop to "
                      "see the whole image.")
        note.setObjectName("notes")
        note.setWordWrap(True)
        grids.addWidget(note)
        grids.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(holder)
        scroll.setWidgetResizable(True)
        self.addWidget(side)
        self.addWidget(scroll)
        self.setStretchFactor(1, 1)
        self.setSizes([300, 760])

    def show_references(self, references) -> None:
        """List the concepts of ``references`` (a ConceptReferences) and choose the first."""
        self.references = references
        state = "" if references.finished else " (unfinished: press Run to complete it)"
        self.browse_label.setText(f"{references.channels} concepts of layer {references.layer} over "
                                  f"{plural(len(references.files), 'image')} of {references.source.name}{state}")
        self._fill()

    def _fill(self, *_args) -> None:
        if self.references is None:
            return
        rows = concept_rows(self.references, self.order_combo.currentData())
        self.concept_table.blockSignals(True)
        self.concept_table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            self.concept_table.setItem(index, 0, _item(f"concept {row.channel}", row.channel, right=False))
            self.concept_table.setItem(index, 1, _item(format_value(row.total), row.total))
            self.concept_table.setItem(index, 2, _item(f"{100 * row.share:.1f} %", row.share))
        self.concept_table.setCurrentCell(0, 0)
        self.concept_table.blockSignals(False)
        self._on_row(0)

    def _on_row(self, row: int) -> None:
        if self.references is not None and 0 <= row < self.concept_table.rowCount():
            self.concept_chosen.emit(self.concepts_shown()[row])

    def concepts_shown(self) -> list[int]:
        """The channels in the concept list, top to bottom."""
        return [int(self.concept_table.item(r, 0).data(Qt.ItemDataRole.UserRole))
                for r in range(self.concept_table.rowCount())]

    def select_concept(self, channel: int) -> bool:
        """Choose concept ``channel`` in the list (its grids follow)."""
        channels = self.concepts_shown()
        if int(channel) not in channels:
            return False
        self.concept_table.setCurrentCell(channels.index(int(channel)), 0)
        return True

    def show_tiles(self, channel: int, relmax, actmax) -> None:
        """Show the RelMax and ActMax samples of concept ``channel``."""
        self.relmax_grid.show_tiles(relmax, f"Concept {channel}: where it was most relevant (RelMax)")
        self.actmax_grid.show_tiles(actmax, f"Concept {channel}: where it was most active (ActMax)")

    def clear(self, message: str) -> None:
        """No run to browse: ``message`` says why."""
        self.references = None
        self.concept_table.setRowCount(0)
        self.browse_label.setText(message)
        self.relmax_grid.show_message("")
        self.actmax_grid.show_message("")


class SampleViewer(QDialog):
    """One reference sample's whole image with the box its crop was cut from."""

    LONGEST = 480

    def __init__(self, tile, pixels: np.ndarray, value_name: str = "value", value_text=format_value,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(Path(tile.file).name)
        pixmap = crop_pixmap(pixels, self.LONGEST)
        text = f"{tile.file}\n{value_name} {value_text(tile.value)}"
        if tile.box is not None:
            scale = self.LONGEST / max(pixels.shape[:2])
            top, left, bottom, right = tile.box
            painter = QPainter(pixmap)
            pen = QPen(QColor(255, 200, 0))
            pen.setWidth(3)
            painter.setPen(pen)
            painter.drawRect(QRect(int(left * scale), int(top * scale), max(1, int((right - left) * scale) - 1),
                                   max(1, int((bottom - top) * scale) - 1)))
            painter.end()
            text += (f" · the box marks where it is at least half its peak in this image (rows {top}–{bottom}, "
                     f"columns {left}–{right}); the crop adds a margin around it.")
        layout = QVBoxLayout(self)
        self.picture = QLabel()
        self.picture.setPixmap(pixmap)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel(text)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(self.picture)
        layout.addWidget(self.text)
        layout.addWidget(buttons)


__all__ = ["ConceptBrowser", "ReferenceGrid", "SampleViewer", "crop_pixmap", "percent_text", "two_lines"]
