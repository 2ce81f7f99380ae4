"""What the image and audio views share: the pyqtgraph set-up, the titled graphics
widget, the elided title label, colour maps and the relevance layer's accessors."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

from ...core import render
from ...core.render import colour_kind, colour_meaning

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

BACKGROUND = "#2b2b2b"
#: ``set_colormap`` value that lets the map choose: :data:`render.DEFAULT_COLORMAP` (diverging) for
#: maps that say for and against, :data:`UNSIGNED_COLORMAP` for maps that only say how much.
AUTOMATIC_COLORMAP = ""
UNSIGNED_COLORMAP = render.UNSIGNED_COLORMAP
automatic_colormap = render.automatic_colormap


def colormap_from_lut(name: str) -> pg.ColorMap:
    """A pyqtgraph colour map from one of :data:`render.COLORMAPS`."""
    lut = render.COLORMAPS[name]
    return pg.ColorMap(pos=np.linspace(0.0, 1.0, len(lut)), color=lut, name=name)


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when it is too narrow; the full text is its tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setToolTip(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        rect = self.contentsRect()
        elided = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, int(self.alignment()), elided)


class WrappingLabel(QLabel):
    """A label that wraps its words onto more lines and never widens its parent; the text is its tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setToolTip(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setToolTip(text)


class TitledGraphicsWidget(QWidget):
    """A title line (``title_label``) over a pyqtgraph ``graphics`` area.

    A subclass calls :meth:`_init_title_and_graphics` first in its ``__init__``, adds its
    plot items to ``graphics``, then calls :meth:`_lay_out_title_and_graphics`.
    """

    def _init_title_and_graphics(self, title: str) -> None:
        self.title_label = ElidedLabel(title)
        self.title_label.setObjectName("viewTitle")
        self.title_label.setVisible(bool(title))
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(BACKGROUND)
        self.graphics.ci.layout.setContentsMargins(2, 2, 2, 2)
        #: Under the picture: what the colours of its colour bar mean (hidden until there is a map);
        #: it wraps onto a second line rather than cutting the sentence off.
        self.meaning_label = WrappingLabel("")
        self.meaning_label.setObjectName("colourMeaning")
        self.meaning_label.setVisible(False)

    def _lay_out_title_and_graphics(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title_label)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.meaning_label)
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)

    def set_title(self, title: str) -> None:
        self.title_label.setText(title)
        self.title_label.setVisible(bool(title))


class RelevanceLayerMixin:
    """Accessors of a relevance layer drawn by ``heat_item`` with an optional ``colorbar``.

    The class it is mixed into keeps ``_relevance``, ``_levels``, ``_colormap_name`` (the colour
    map drawn) and ``_opacity`` (set up by :meth:`_init_relevance_layer`).
    """

    def _init_relevance_layer(self, show_colorbar: bool) -> None:
        """No relevance yet, the automatic colour map at 60 % opacity, and (if asked for) a
        hidden colour bar to the right of the ``graphics`` area."""
        self._relevance: np.ndarray | None = None
        self._chosen_colormap = AUTOMATIC_COLORMAP
        self._colormap_name = render.DEFAULT_COLORMAP
        self._opacity = 0.6
        self._levels: tuple[float, float] = (-1.0, 1.0)
        self.colorbar: pg.ColorBarItem | None = None
        self._meaning_class = ""
        self._meaning_signed: bool | None = None
        self._meaning_kind: str | None = None
        self._meaning_unseen = False
        if show_colorbar:
            self.colorbar = pg.ColorBarItem(
                values=self._levels, width=14, interactive=False, colorMap=colormap_from_lut(self._colormap_name)
            )
            self.colorbar.getAxis("right").setWidth(48)
            self.graphics.addItem(self.colorbar, row=0, col=1)
            self.colorbar.setVisible(False)
        self.set_colormap(self._chosen_colormap)
        self.set_opacity(self._opacity)

    def relevance(self) -> np.ndarray | None:
        return self._relevance

    def levels(self) -> tuple[float, float]:
        """The colour levels (low, high) of the relevance layer."""
        return self._levels

    def colormap_name(self) -> str:
        """The colour map drawn (what :data:`AUTOMATIC_COLORMAP` resolved to, if that was chosen)."""
        return self._colormap_name

    def set_colormap(self, name: str) -> None:
        """Draw the relevance layer and its colour bar with one of :data:`render.COLORMAPS`, or with
        :data:`AUTOMATIC_COLORMAP`: diverging for signed maps, sequential for "how much" maps (as the
        last :meth:`set_meaning_class` said)."""
        self._chosen_colormap = name
        self._apply_colormap()

    def _apply_colormap(self) -> None:
        name = self._chosen_colormap or automatic_colormap(self._meaning_signed)
        self._colormap_name = name
        self.heat_item.setLookupTable(render.COLORMAPS[name])
        if self.colorbar is not None:
            self.colorbar.setColorMap(colormap_from_lut(name))
            if self._relevance is not None:
                self.colorbar.setLevels(self._levels)
        self._show_colour_meaning()

    def set_meaning_class(self, class_name: str, signed: bool | None = None) -> None:
        """Name the explained class in the colour caption ("red: evidence for '<class>' · …"), and say
        whether the method's maps are signed (:func:`~xaidesk.gui.formatting.map_shows_sign`;
        ``None``: decide from the map)."""
        self._meaning_class = class_name
        self._meaning_signed = signed
        self._apply_colormap()

    def colour_meaning(self, with_unseen: bool = True) -> str:
        """The caption under the picture: what the colours mean ("" when no map is shown); without
        ``with_unseen`` it leaves out the note on pixels the model never saw (figures say it apart)."""
        if self._meaning_kind is None or not self.meaning_label.isVisibleTo(self):
            return ""
        return self._caption(with_unseen)

    def _caption(self, with_unseen: bool) -> str:
        return colour_meaning(self._meaning_kind, self._meaning_class, self._colormap_name, self._levels,
                              with_unseen and self._meaning_unseen)

    def _show_colour_meaning(self) -> None:
        """Update the caption from the shown map, its levels and colour map (call after drawing)."""
        relevance = None if self._relevance is None else np.asarray(self._relevance)
        seen = None if relevance is None else np.isfinite(relevance)
        if self.colorbar is None or seen is None or not seen.any():
            self._meaning_kind = None
            self.meaning_label.setVisible(False)
            return
        self._meaning_kind = colour_kind(float(np.nanmin(relevance)), self._levels,
                                         getattr(self, "value_name", "") == "uncertainty", self._meaning_signed)
        self._meaning_unseen = not seen.all()
        self.meaning_label.setText(self._caption(with_unseen=True))
        self.meaning_label.setVisible(True)

    def opacity(self) -> float:
        return self._opacity

    def set_opacity(self, opacity: float) -> None:
        """Opacity of the relevance layer over the base picture, 0 to 1."""
        self._opacity = float(min(max(opacity, 0.0), 1.0))
        self.heat_item.setOpacity(self._opacity)


class Placeholder(QStackedWidget):
    """A view that shows a grey sentence saying what will fill it until it has something to show."""

    def __init__(self, content: QWidget, message: str, parent=None) -> None:
        super().__init__(parent)
        self.message = QLabel(message)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #777; font-size: 11pt; padding: 24px;")
        self.content = content
        self.addWidget(self.message)
        self.addWidget(content)

    def show_message(self, text: str | None = None) -> None:
        if text is not None:
            self.message.setText(text)
        self.setCurrentWidget(self.message)

    def show_content(self) -> None:
        self.setCurrentWidget(self.content)

    def showing_message(self) -> bool:
        return self.currentWidget() is self.message


class OneJobStatusMixin:
    """For a view that runs one runner job at a time (``self._job``) with a progress bar and a status line.

    The view provides ``runner``, ``progress_bar`` (0 to 1000), ``status_label``, the signal
    ``status_message`` and ``_update_enabled()``.
    """

    def _start_job(self, job, channel: str, text: str, status: str) -> int:
        """Submit ``job`` on ``channel``; ``text`` goes to the status line, ``status`` to the window's status bar."""
        self._job = self.runner.submit(job, channel)
        self.progress_bar.setValue(0)
        self.status_label.setText(text)
        self.status_message.emit(status)
        self._update_enabled()
        return self._job

    def cancel(self) -> None:
        if self._job is not None:
            self.runner.cancel(self._job)

    def _end(self, text: str) -> None:
        self._job = None
        self.progress_bar.setValue(0)
        self.status_label.setText(text)
        self.status_message.emit(text)
        self._update_enabled()

    def _on_progress(self, job_id: int, fraction: float, message: str, _partial: object) -> None:
        from ..formatting import progress_text

        if job_id == self._job:
            self.progress_bar.setValue(int(1000 * max(0.0, min(1.0, fraction))))
            self.status_label.setText(progress_text(fraction, self.runner.elapsed(job_id), message))
