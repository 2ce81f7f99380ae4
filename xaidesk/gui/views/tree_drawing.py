"""A decision tree drawn as boxes and edges, with one row's way from the root to its leaf highlighted.

The drawing keeps what it shows (``boxes``, ``edges``, ``texts``, ``highlighted``) so that tests can
check it. Scroll to move around; Ctrl + wheel (or the +/− keys) zooms.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsLineItem, QGraphicsRectItem, QGraphicsScene, QGraphicsTextItem, QGraphicsView

#: Boxes are as wide as their longest line, within these bounds (longer lines wrap).
NARROWEST_BOX, WIDEST_BOX = 110.0, 220.0
GAP_X, GAP_Y = 14.0, 40.0
FONT_POINTS = 9
#: The drawing is first shown at most this much smaller than life (then the person scrolls or zooms).
SMALLEST_START_SCALE = 0.8
LOW, HIGH, WHITE = (50, 100, 200), (200, 60, 50), (255, 255, 255)
PATH_COLOUR = QColor(230, 130, 0)
EDGE_COLOUR = QColor(150, 150, 150)


@dataclass
class DrawnNode:
    """One node to draw: its children (``None`` at a leaf), its lines of text and, for colour, a shade 0…1."""

    id: int
    left: int | None
    right: int | None
    lines: list[str]
    shade: float | None = None


def shade_colour(shade: float | None) -> QColor:
    """Light grey without a shade; else blue (0) through white (0.5) to red (1), pale enough for text."""
    if shade is None:
        return QColor(240, 240, 240)
    shade = min(max(float(shade), 0.0), 1.0)
    end = HIGH if shade >= 0.5 else LOW
    strength = 0.55 * abs(2 * shade - 1)
    return QColor(*(round(w + (e - w) * strength) for w, e in zip(WHITE, end)))


class TreeDrawing(QGraphicsView):
    """Boxes (questions, rows, prediction) joined by edges ("yes" to the left, "no" to the right)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setBackgroundBrush(QBrush(QColor("white")))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.boxes: dict[int, QGraphicsRectItem] = {}
        self.edges: dict[tuple[int, int], QGraphicsLineItem] = {}
        self.texts: dict[int, list[str]] = {}
        self.highlighted: list[int] = []
        self._nodes: dict[int, DrawnNode] = {}
        self._box_height = 40.0
        self._box_width = NARROWEST_BOX

    # ---- building ----------------------------------------------------------------------------------

    def clear_tree(self) -> None:
        """No tree at all."""
        self.scene().clear()
        self.boxes, self.edges, self.texts, self.highlighted, self._nodes = {}, {}, {}, [], {}

    def set_tree(self, nodes: list[DrawnNode]) -> None:
        """Draw ``nodes`` (root first); leaves side by side, each parent centred over its children."""
        self.clear_tree()
        if not nodes:
            return
        self._nodes = {n.id: n for n in nodes}
        texts = {n.id: self._text_item(n) for n in nodes}
        natural = max(t.document().idealWidth() for t in texts.values()) + 10
        self._box_width = min(max(natural, NARROWEST_BOX), WIDEST_BOX)
        for text in texts.values():
            text.setTextWidth(self._box_width)
        self._box_height = max(t.boundingRect().height() for t in texts.values()) + 8
        places = self._place(nodes[0].id)
        for parent in nodes:
            for child, answer in ((parent.left, "yes"), (parent.right, "no")):
                if child is not None:
                    self._add_edge(parent.id, child, answer, places)
        for node in nodes:
            self._add_box(node, places[node.id], texts[node.id])
        self.scene().setSceneRect(self.scene().itemsBoundingRect().adjusted(-12, -12, 12, 12))
        self.zoom_to_fit()

    def _place(self, root: int) -> dict[int, tuple[float, float]]:
        places: dict[int, tuple[float, float]] = {}
        next_leaf = [0]
        stack = [(root, 0, False)]
        while stack:  # post-order without recursion: children are placed before their parent
            node_id, depth, visited = stack.pop()
            node = self._nodes[node_id]
            if node.left is None:
                places[node_id] = (next_leaf[0] * (self._box_width + GAP_X), depth * (self._box_height + GAP_Y))
                next_leaf[0] += 1
            elif visited:
                x = (places[node.left][0] + places[node.right][0]) / 2
                places[node_id] = (x, depth * (self._box_height + GAP_Y))
            else:
                stack += [(node_id, depth, True), (node.right, depth + 1, False), (node.left, depth + 1, False)]
        return places

    def _text_item(self, node: DrawnNode) -> QGraphicsTextItem:
        text = QGraphicsTextItem()
        text.setZValue(2)
        text.setFont(QFont(self.font().family(), FONT_POINTS))
        first, rest = node.lines[0], node.lines[1:]
        text.setHtml(f"<div align='center'><b>{_html(first)}</b><br>{'<br>'.join(_html(r) for r in rest)}</div>")
        return text

    def _add_box(self, node: DrawnNode, place: tuple[float, float], text: QGraphicsTextItem) -> None:
        box = QGraphicsRectItem(QRectF(place[0], place[1], self._box_width, self._box_height))
        box.setBrush(QBrush(shade_colour(node.shade)))
        box.setPen(QPen(EDGE_COLOUR, 1))
        box.setZValue(1)
        box.setToolTip("\n".join(node.lines))
        self.scene().addItem(box)
        text.setPos(place[0], place[1] + (self._box_height - text.boundingRect().height()) / 2)
        text.setToolTip(box.toolTip())
        self.scene().addItem(text)
        self.boxes[node.id] = box
        self.texts[node.id] = list(node.lines)

    def _add_edge(self, parent: int, child: int, answer: str, places: dict) -> None:
        (px, py), (cx, cy) = places[parent], places[child]
        line = QGraphicsLineItem(px + self._box_width / 2, py + self._box_height, cx + self._box_width / 2, cy)
        line.setPen(QPen(EDGE_COLOUR, 1.2))
        self.scene().addItem(line)
        label = QGraphicsTextItem(answer)
        label.setFont(QFont(self.font().family(), FONT_POINTS - 1))
        label.setDefaultTextColor(QColor(110, 110, 110))
        middle_x, middle_y = (px + cx + self._box_width) / 2, (py + self._box_height + cy) / 2
        shift = -label.boundingRect().width() - 2 if answer == "yes" else 2
        label.setPos(middle_x + shift, middle_y - label.boundingRect().height() / 2)
        self.scene().addItem(label)
        self.edges[(parent, child)] = line

    # ---- the row's path ----------------------------------------------------------------------------

    def highlight(self, node_ids: list[int]) -> None:
        """Outline the boxes of ``node_ids`` (root to leaf) and the edges between them; the rest plainly."""
        self.highlighted = [int(n) for n in node_ids if int(n) in self.boxes]
        on_path = set(self.highlighted)
        for node_id, box in self.boxes.items():
            box.setPen(QPen(PATH_COLOUR, 3.5) if node_id in on_path else QPen(EDGE_COLOUR, 1))
        for (parent, child), line in self.edges.items():
            lit = parent in on_path and child in on_path
            line.setPen(QPen(PATH_COLOUR, 3.5) if lit else QPen(EDGE_COLOUR, 1.2))
            line.setZValue(0.5 if lit else 0)
        self.show_path()

    def show_path(self) -> None:
        """Scroll so that the highlighted path shows: all of it, or its leaf and as many questions above as fit."""
        if not self.highlighted:
            return
        room = self.viewport().rect().adjusted(20, 20, -20, -20)
        shown = QRectF()
        for node_id in reversed(self.highlighted):
            wider = shown.united(self.boxes[node_id].sceneBoundingRect())
            size = self.mapFromScene(wider).boundingRect()
            if not shown.isNull() and (size.width() > room.width() or size.height() > room.height()):
                break
            shown = wider
        self.ensureVisible(shown, 10, 10)

    # ---- zoom --------------------------------------------------------------------------------------

    def zoom_to_fit(self) -> None:
        """Show the whole tree, but never smaller than :data:`SMALLEST_START_SCALE` (then scroll)."""
        rect = self.scene().sceneRect()
        if rect.isEmpty():
            return
        view = self.viewport().rect()
        scale = min(view.width() / rect.width(), view.height() / rect.height(), 1.0)
        self.resetTransform()
        self.scale(max(scale, SMALLEST_START_SCALE), max(scale, SMALLEST_START_SCALE))
        self.centerOn(rect.center().x(), rect.top())
        self.show_path()

    def show_whole(self) -> None:
        """Shrink or grow the drawing so that the whole tree shows at once (an overview; text may get small)."""
        if self.boxes:
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        factor = min(max(current * factor, 0.15), 3.0) / current
        self.scale(factor, factor)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(1.15 if event.angleDelta().y() > 0 else 1 / 1.15)
        else:
            super().wheelEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1.15)
        elif event.key() == Qt.Key.Key_Minus:
            self.zoom(1 / 1.15)
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.boxes and event.oldSize().width() <= 0:
            self.zoom_to_fit()


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["DrawnNode", "TreeDrawing", "shade_colour"]
