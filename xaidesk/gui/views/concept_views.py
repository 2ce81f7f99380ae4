"""Views of the Concepts panel: a list of concepts with share bars, a strip of reference samples, and how
typical the reasoning is.

:class:`ShareList` lists concepts (channels of a layer) with each one's share of the layer's relevance
as a bar: warm for concepts that speak for the class, cold for those against it. :class:`ReferenceStrip`
shows small crops of the samples where a concept was most relevant or most active. :class:`TypicalityView`
shows the nearest prototype of a class's reasoning (PCX), the typicality in words and the concepts that
differ most.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: Bar colours: for the class (the warm end of the heatmap colours) and against it (the cold end).
FOR_COLOUR, AGAINST_COLOUR = QColor(215, 48, 31), QColor(43, 140, 190)
#: The item role that holds a row's share (a float).
SHARE_ROLE = Qt.ItemDataRole.UserRole + 1
#: The colour of a warning (an unusual reasoning, concepts made with another model).
WARNING_STYLE = "color: #c25e00; font-weight: bold;"
#: The item role that holds a row's channel (an int).
CHANNEL_ROLE = Qt.ItemDataRole.UserRole


def share_text(share: float) -> str:
    """A share as a signed percentage: ``"+23.4 %"``, ``"-1.2 %"``, ``"<0.1 %"``."""
    percent = 100.0 * float(share)
    if 0 < abs(percent) < 0.1:
        return ("+" if percent > 0 else "-") + "<0.1 %"
    return f"{percent:+.1f} %"


class ShareBarDelegate(QStyledItemDelegate):
    """Draws a row's share as a bar scaled to the largest |share| in the list, with the percentage over it."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        share = index.data(SHARE_ROLE)
        if share is None:
            super().paint(painter, option, index)
            return
        widget = option.widget
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, widget)
        largest = index.model().property("largest_share") or abs(float(share)) or 1.0
        rect = option.rect.adjusted(3, 4, -3, -4)
        text_width = option.fontMetrics.horizontalAdvance("+100.0 %") + 6
        bar = rect.adjusted(0, 0, -text_width, 0)
        width = int(round(bar.width() * min(1.0, abs(float(share)) / float(largest))))
        painter.save()
        painter.fillRect(QRect(bar.left(), bar.top(), max(1, width), bar.height()),
                         FOR_COLOUR if float(share) >= 0 else AGAINST_COLOUR)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.setPen(option.palette.highlightedText().color() if selected else option.palette.text().color())
        painter.drawText(QRect(bar.right() + 4, rect.top(), text_width - 4, rect.height()),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, share_text(float(share)))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index) -> QSize:
        hint = super().sizeHint(option, index)
        return QSize(max(hint.width(), 160), max(hint.height(), 22))


class ShareList(QTreeWidget):
    """Concepts as rows: a name and a share bar. Emits :attr:`concept_chosen` with the channel of a clicked row.

    Signals
    -------
    concept_chosen(int)
        The person chose a row (click or keyboard); its channel.
    """

    concept_chosen = Signal(int)

    def __init__(self, first_column: str = "Concept", share_column: str = "Share", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderLabels([first_column, share_column])
        self.headerItem().setToolTip(1, "Each concept's relevance over the total |relevance| of its layer (or, below "
                                        "a concept, of what reaches the layer below from it): warm bars speak for "
                                        "the class, cold ones against it.")
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setItemDelegateForColumn(1, ShareBarDelegate(self))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.header()
        header.setMinimumSectionSize(40)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, header.ResizeMode.ResizeToContents)
        self.currentItemChanged.connect(self._on_current)

    def set_items(self, rows: list[tuple[int, float, str]]) -> None:
        """Show ``(channel, share, name)`` rows in the given order; nothing is chosen."""
        self.blockSignals(True)
        self.clear()
        self.model().setProperty("largest_share", max((abs(s) for _, s, _ in rows), default=1.0) or 1.0)
        for channel, share, name in rows:
            item = QTreeWidgetItem([name, ""])
            item.setData(0, CHANNEL_ROLE, int(channel))
            item.setData(1, SHARE_ROLE, float(share))
            item.setToolTip(1, f"{name}: {share_text(share)} of the layer's relevance "
                               f"({'for' if share >= 0 else 'against'} the class)")
            self.addTopLevelItem(item)
        self.setCurrentItem(None)
        self.blockSignals(False)

    def rows(self) -> list[tuple[int, float]]:
        """``(channel, share)`` of every row, top to bottom."""
        return [(int(self.topLevelItem(i).data(0, CHANNEL_ROLE)), float(self.topLevelItem(i).data(1, SHARE_ROLE)))
                for i in range(self.topLevelItemCount())]

    def select_channel(self, channel: int, notify: bool = True) -> bool:
        """Choose the row of ``channel`` (emitting :attr:`concept_chosen` when ``notify``); False if absent."""
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if int(item.data(0, CHANNEL_ROLE)) == int(channel):
                self.blockSignals(not notify)
                self.setCurrentItem(item)
                self.blockSignals(False)
                return True
        return False

    def current_channel(self) -> int | None:
        item = self.currentItem()
        return None if item is None else int(item.data(0, CHANNEL_ROLE))

    def _on_current(self, current, _previous) -> None:
        if current is not None:
            self.concept_chosen.emit(int(current.data(0, CHANNEL_ROLE)))


def pixmap_of(pixels: np.ndarray, size: int) -> QPixmap:
    """An RGB (h, w, 3) uint8 array as a pixmap whose longer side is ``size`` (nearest, so small crops stay crisp)."""
    array = np.ascontiguousarray(pixels[..., :3] if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, 2),
                                 dtype=np.uint8)
    height, width = array.shape[:2]
    image = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.FastTransformation)


class ReferenceStrip(QWidget):
    """A row of up to eight reference crops, or a sentence in their place."""

    THUMBNAIL = 56

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setObjectName("notes")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A long model path must not widen the panel: the text wraps in the width it is given.
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row = QWidget()
        self._row = QHBoxLayout(row)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(3)
        self._row.addStretch(1)
        self.thumbnails: list[QLabel] = []
        layout.addWidget(row)
        layout.addWidget(self.message)

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setToolTip(text)

    def set_crops(self, crops, note: str = "") -> None:
        """Show ``crops`` (each with ``pixels``, ``value`` and ``file``) and ``note`` under them."""
        self._clear()
        for crop in crops:
            label = QLabel()
            label.setPixmap(pixmap_of(crop.pixels, self.THUMBNAIL))
            label.setFixedSize(self.THUMBNAIL, self.THUMBNAIL)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setToolTip(f"{crop.file}\nvalue {crop.value:.4g}")
            label.setFrameShape(QLabel.Shape.Box)
            self._row.insertWidget(self._row.count() - 1, label)
            self.thumbnails.append(label)
        self._say(note)

    def set_message(self, text: str) -> None:
        """No crops, only ``text``."""
        self._clear()
        self._say(text)

    def _clear(self) -> None:
        for label in self.thumbnails:
            self._row.removeWidget(label)
            label.deleteLater()
        self.thumbnails = []


def typicality_text(percentile: float) -> str:
    """A typicality percentile in words: ``"More typical than 34 % of the class's images."``"""
    percent = float(percentile)
    if percent <= 0:
        return "Less typical than every one of the class's images."
    amount = "<1" if percent < 1 else f"{percent:.0f}"
    return f"More typical than {amount} % of the class's images."


class TypicalityView(QWidget):
    """Typical reasoning: a button to choose prototypes, which ones are used, the nearest prototype with the
    typicality in words, an orange note for an unusual reasoning, and the concepts that differ most.

    Signals
    -------
    concept_chosen(int)
        The person clicked a concept among those that differ most; its channel.
    """

    concept_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        self.setToolTip("Prototypes (PCX) summarise the typical ways the model decides for a class. Compare this "
                        "prediction's concepts with them: the nearest prototype, how typical the reasoning is, "
                        "and which concepts differ most.")
        self.choose_button = QPushButton("Compare with prototypes…")
        self.choose_button.setToolTip("Choose a prototypes folder (Dataset tab ▸ Prototypes…, or xaidesk concepts "
                                      "prototypes) of the same layer and class.")
        row = QHBoxLayout()
        row.addWidget(self.choose_button)
        row.addStretch(1)
        self.source_label = self._label()
        self.result_label = self._label()
        self.result_label.setObjectName("")
        self.unusual_label = self._label()
        self.unusual_label.setObjectName("")
        self.unusual_label.setStyleSheet(WARNING_STYLE)
        self.unusual_label.setVisible(False)
        self.differences = ShareList("Differs most", "vs. prototype")
        self.differences.headerItem().setToolTip(1, "This prediction's share of the concept minus the nearest "
                                                    "prototype's mean share: warm = more than the prototype uses, "
                                                    "cold = less. Click one to see it.")
        self.differences.concept_chosen.connect(self.concept_chosen)
        self.differences.setVisible(False)
        layout.addLayout(row)
        layout.addWidget(self.source_label)
        layout.addWidget(self.result_label)
        layout.addWidget(self.unusual_label)
        layout.addWidget(self.differences, 1)
        layout.addStretch(0)  # takes the room of the list while it is hidden, so the sentences stay together
        self._layout = layout
        self.set_message("No prototypes chosen.")

    @staticmethod
    def _label() -> QLabel:
        label = QLabel("")
        label.setWordWrap(True)
        label.setObjectName("notes")
        label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def set_source(self, text: str) -> None:
        """Which prototypes are used (a sentence)."""
        self.source_label.setText(text)

    def set_message(self, text: str) -> None:
        """No comparison, only ``text`` (why, or what to do)."""
        self.result_label.setText(text)
        self.unusual_label.setVisible(False)
        self.differences.set_items([])
        self._show_list(False)

    def _show_list(self, shown: bool) -> None:
        self.differences.setVisible(shown)
        self._layout.setStretch(self._layout.count() - 1, 0 if shown else 1)

    def show_result(self, result, unusual_below: float) -> None:
        """Show a :class:`~xaidesk.gui.concept_saved_jobs.TypicalReasoning` (its ``mismatch`` sentence when it has one)."""
        if result.mismatch:
            self.set_message(result.mismatch)
            return
        text = (f"Nearest prototype: {result.prototype} (weight {100 * result.weight:.0f} %). "
                f"{typicality_text(result.percentile)}")
        self.result_label.setToolTip("The percentage of the images the prototypes were fitted on whose reasoning was "
                                     "less likely under the prototypes than this prediction's.")
        self.result_label.setText(text + (f" {result.note}" if result.note else ""))
        self.unusual_label.setText("Unusual reasoning for this class.")
        self.unusual_label.setToolTip("Fewer than 5 % of the images the prototypes were fitted on were less typical. "
                                      "The concepts below differ most from the nearest prototype.")
        self.unusual_label.setVisible(result.percentile < unusual_below)
        self.differences.set_items([(c, d, f"Concept {c}") for c, d in result.differences])
        for i in range(self.differences.topLevelItemCount()):
            item = self.differences.topLevelItem(i)
            channel, difference = result.differences[i]
            item.setToolTip(1, f"Concept {channel}: {share_text(difference)} of the layer's relevance compared "
                               "with the nearest prototype")
        self._show_list(bool(result.differences))


__all__ = ["ReferenceStrip", "ShareBarDelegate", "ShareList", "TypicalityView", "WARNING_STYLE", "pixmap_of",
           "share_text", "typicality_text"]
