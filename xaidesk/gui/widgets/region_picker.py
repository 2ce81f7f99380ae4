"""Draw a rectangle on a picture shown at the model's input size.

:class:`RegionPicker` shows an RGB picture (the model input, e.g. 64×64, scaled up to fill the
widget with sharp pixels) and lets the person drag a rectangle on it. The rectangle is kept in
picture pixels: :meth:`RegionPicker.box` gives ``(top, left, height, width)`` as
:func:`xaidesk.repair.artefact.box_mask` takes it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


class RegionPicker(QWidget):
    """A picture on which one rectangle is drawn by dragging the mouse.

    Signals
    -------
    region_changed(object)
        The new box ``(top, left, height, width)`` in picture pixels, or ``None`` when cleared.
    """

    region_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._pixels: np.ndarray | None = None
        self._box: tuple[int, int, int, int] | None = None
        self._anchor: tuple[int, int] | None = None
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Drag a rectangle over the artefact.")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(288, 288)

    # ------------------------------------------------------------ picture and box
    def set_picture(self, pixels: np.ndarray | None) -> None:
        """Show ``pixels`` (H, W, 3) uint8 and clear the box (``None`` shows nothing)."""
        self._box = None
        self._anchor = None
        if pixels is None:
            self._pixels, self._image = None, None
        else:
            self._pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
            height, width = self._pixels.shape[:2]
            self._image = QImage(self._pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
        self.update()
        self.region_changed.emit(None)

    def picture_size(self) -> tuple[int, int] | None:
        """``(height, width)`` of the picture, or ``None``."""
        return None if self._pixels is None else tuple(self._pixels.shape[:2])

    def box(self) -> tuple[int, int, int, int] | None:
        """The drawn rectangle as ``(top, left, height, width)`` in picture pixels, or ``None``."""
        return self._box

    def set_box(self, box: tuple[int, int, int, int] | None) -> None:
        """Draw ``box`` (clipped to the picture); ``None`` clears it."""
        size = self.picture_size()
        if box is None or size is None:
            self._box = None
        else:
            top, left, height, width = (int(v) for v in box)
            bottom, right = min(top + height, size[0]), min(left + width, size[1])
            top, left = max(top, 0), max(left, 0)
            self._box = (top, left, bottom - top, right - left) if bottom > top and right > left else None
        self.update()
        self.region_changed.emit(self._box)

    # ------------------------------------------------------------ geometry
    def picture_rect(self) -> QRectF:
        """Where the picture is drawn in the widget: as large as fits, centred, square pixels."""
        size = self.picture_size()
        if size is None:
            return QRectF()
        height, width = size
        scale = max(1e-6, min(self.width() / width, self.height() / height))
        drawn_w, drawn_h = width * scale, height * scale
        return QRectF((self.width() - drawn_w) / 2, (self.height() - drawn_h) / 2, drawn_w, drawn_h)

    def to_pixel(self, point: QPointF) -> tuple[int, int]:
        """The picture pixel ``(row, column)`` under a widget position (clamped to the picture)."""
        rect, (height, width) = self.picture_rect(), self.picture_size()
        column = int((point.x() - rect.left()) / rect.width() * width)
        row = int((point.y() - rect.top()) / rect.height() * height)
        return min(max(row, 0), height - 1), min(max(column, 0), width - 1)

    def _drag_box(self, end: tuple[int, int]) -> tuple[int, int, int, int]:
        (r0, c0), (r1, c1) = self._anchor, end
        top, left = min(r0, r1), min(c0, c1)
        return top, left, abs(r1 - r0) + 1, abs(c1 - c0) + 1

    # ------------------------------------------------------------ mouse
    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._pixels is None or event.button() != Qt.MouseButton.LeftButton:
            return
        self._anchor = self.to_pixel(event.position())
        self._box = self._drag_box(self._anchor)
        self.update()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._anchor is not None:
            self._box = self._drag_box(self.to_pixel(event.position()))
            self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._anchor is None:
            return
        self._box = self._drag_box(self.to_pixel(event.position()))
        self._anchor = None
        self.update()
        self.region_changed.emit(self._box)

    # ------------------------------------------------------------ drawing
    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#2b2b2b"))
        if self._image is None:
            painter.setPen(QColor("#aaaaaa"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             "Open an image that shows the artefact,\nthen drag a rectangle over it.")
            return
        rect = self.picture_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(rect, self._image)
        if self._box is not None:
            height, width = self.picture_size()
            top, left, box_h, box_w = self._box
            sx, sy = rect.width() / width, rect.height() / height
            drawn = QRectF(rect.left() + left * sx, rect.top() + top * sy, box_w * sx, box_h * sy)
            painter.setPen(QPen(QColor("#ffeb3b"), 2))
            painter.setBrush(QColor(255, 235, 59, 50))
            painter.drawRect(drawn)
