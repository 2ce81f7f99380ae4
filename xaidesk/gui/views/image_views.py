"""Image and heatmap views built on pyqtgraph ``ImageItem``.

:class:`ImageView` shows an RGB image; :class:`HeatmapView` shows a relevance
map over a grey copy of the image, as layers: the grey base, then the
relevance coloured by a look-up table at the chosen opacity. That is the same
picture :func:`xaidesk.core.render.blend_overlay` computes for exports, but
changing the opacity or colour map costs no re-rendering. Views can be linked
so that zoom and pan follow each other.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtWidgets import QWidget

from ...core import render
from ..formatting import format_signed, format_value
from ..overlays import composite, decoration_rgba, segment_at
from .view_common import (  # noqa: F401 - ElidedLabel and colormap_from_lut are re-exported
    ElidedLabel,
    RelevanceLayerMixin,
    TitledGraphicsWidget,
    colormap_from_lut,
)


def grey_base(pixels: np.ndarray) -> np.ndarray:
    """The grey image that :func:`render.blend_overlay` puts under the colours (H, W) uint8."""
    return np.ascontiguousarray(render.grayscale(pixels)[..., 0])


class ImageView(TitledGraphicsWidget):
    """A zoomable, pannable view of one image with an optional title.

    Signals
    -------
    hovered(str)
        A description of the pixel under the cursor (empty when outside).
    """

    hovered = Signal(str)

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._init_title_and_graphics(title)
        self.view_box: pg.ViewBox = self.graphics.addViewBox(row=0, col=0)
        self.view_box.setAspectLocked(True)
        self.view_box.invertY(True)
        self.view_box.setMenuEnabled(False)
        self.image_item = pg.ImageItem()
        self.image_item.setZValue(0)
        self.view_box.addItem(self.image_item)
        self.placeholder = pg.TextItem("", color="#bbbbbb", anchor=(0.5, 0.5))
        self.view_box.addItem(self.placeholder, ignoreBounds=True)
        self._pixels: np.ndarray | None = None
        self.view_box.sigRangeChanged.connect(self._centre_placeholder)
        self._lay_out_title_and_graphics()

    # -- content ------------------------------------------------------------
    def set_placeholder(self, text: str) -> None:
        """Text shown in the middle of an empty view."""
        self.placeholder.setText(text)
        self.placeholder.setVisible(bool(text))
        self._centre_placeholder()

    def _centre_placeholder(self, *_) -> None:
        """Keep the placeholder in the middle of what an empty view shows (its range starts as
        (0, 1) x (0, 1), so a fixed point could sit in a corner); with a picture, in its middle."""
        if self._pixels is not None:
            height, width = self._pixels.shape[:2]
            self.placeholder.setPos(width / 2, height / 2)
        else:
            (x0, x1), (y0, y1) = self.view_box.viewRange()
            self.placeholder.setPos((x0 + x1) / 2, (y0 + y1) / 2)

    def set_image(self, pixels: np.ndarray | None, reset_view: bool = True) -> None:
        """Show an RGB uint8 image (or clear the view with ``None``)."""
        self._pixels = pixels
        if pixels is None:
            self.image_item.clear()
            return
        self.placeholder.setVisible(False)
        self.image_item.setImage(pixels, levels=(0, 255), autoLevels=False)
        if reset_view:
            self.reset_zoom()

    def pixels(self) -> np.ndarray | None:
        return self._pixels

    def reset_zoom(self) -> None:
        """Fit the whole image in the view."""
        if self._pixels is not None:
            height, width = self._pixels.shape[:2]
            self.view_box.setRange(xRange=(0, width), yRange=(0, height), padding=0.02)

    # -- cursor -------------------------------------------------------------
    def pixel_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """Image (x, y) under a scene position, or ``None`` outside the image."""
        if self._pixels is None or not self.view_box.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.view_box.mapSceneToView(scene_pos)
        x, y = int(np.floor(point.x())), int(np.floor(point.y()))
        height, width = self._pixels.shape[:2]
        if 0 <= x < width and 0 <= y < height:
            return x, y
        return None

    def describe_pixel(self, x: int, y: int) -> str:
        r, g, b = (int(v) for v in self._pixels[y, x, :3])
        return f"x {x}, y {y}: RGB {r}, {g}, {b}"

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        pixel = self.pixel_at(scene_pos)
        self.hovered.emit("" if pixel is None else self.describe_pixel(*pixel))


class HeatmapView(RelevanceLayerMixin, ImageView):
    """A relevance map over a grey copy of the image, with a colour bar.

    The heatmap layer's look-up table comes from :data:`render.COLORMAPS`
    and its levels default to :func:`render.symmetric_levels` of the map.
    """

    def __init__(self, title: str = "", parent: QWidget | None = None, show_colorbar: bool = True) -> None:
        super().__init__(title, parent)
        self.heat_item = pg.ImageItem()
        self.heat_item.setZValue(1)
        self.view_box.addItem(self.heat_item)
        # Superpixel decorations (LIME): boundaries and dimming of non-top segments, drawn
        # over the heatmap as one RGBA layer.
        self.decoration_item = pg.ImageItem()
        self.decoration_item.setZValue(2)
        self.view_box.addItem(self.decoration_item)
        self._segments: np.ndarray | None = None
        self._segment_weights: list[float] = []
        self._highlight: list[int] = []
        self._show_boundaries = False
        self._top_only = False
        self._decoration: np.ndarray | None = None
        self._fixed_levels: tuple[float, float] | None = None
        self._init_relevance_layer(show_colorbar)

    # -- content ------------------------------------------------------------
    def set_image(self, pixels: np.ndarray | None, reset_view: bool = True) -> None:
        """Set the image under the map (shown in grey, as in exported overlays)."""
        self._pixels = pixels
        if pixels is None:
            self.image_item.clear()
            self.clear_relevance()
            return
        self.image_item.setImage(grey_base(pixels), levels=(0, 255), autoLevels=False)
        if self._relevance is not None and self._relevance.shape != pixels.shape[:2]:
            self.clear_relevance()
        self._show_placeholder_or_image()
        if reset_view:
            self.reset_zoom()

    def set_placeholder(self, text: str) -> None:
        """Text shown instead of the picture while there is no map (a plain copy of the input
        would look like a result)."""
        self.placeholder.setText(text)
        self._show_placeholder_or_image()

    def waiting(self) -> bool:
        """Whether the view shows its placeholder instead of a picture."""
        return self._relevance is None and bool(self.placeholder.textItem.toPlainText())

    def _show_placeholder_or_image(self) -> None:
        waiting = self.waiting()
        self.image_item.setVisible(not waiting)
        self.placeholder.setVisible(waiting)
        self._centre_placeholder()

    def set_relevance(self, relevance: np.ndarray | None, levels: tuple[float, float] | None = None) -> None:
        """Show a relevance map (H, W) in image coordinates.

        ``levels`` overrides the map's own symmetric levels (for shared scales).
        """
        self._relevance = relevance
        if relevance is None:
            self.clear_relevance()
            return
        self._fixed_levels = levels
        self._levels = levels if levels is not None else render.symmetric_levels(relevance)
        self.heat_item.setImage(np.asarray(relevance, dtype=np.float32), levels=self._levels, autoLevels=False)
        self.heat_item.setVisible(True)
        if self.colorbar is not None:
            self.colorbar.setLevels(self._levels)
            self.colorbar.setVisible(True)
        self._show_colour_meaning()
        self._show_placeholder_or_image()

    def clear_relevance(self) -> None:
        self._relevance = None
        self.heat_item.clear()
        self.heat_item.setVisible(False)
        if self.colorbar is not None:
            self.colorbar.setVisible(False)
        self._show_colour_meaning()
        self.set_segments(None)
        self._show_placeholder_or_image()

    # -- superpixels ----------------------------------------------------------
    def set_segments(self, segments: np.ndarray | None, weights=None, highlight=None) -> None:
        """Superpixel labels (H, W; -1 outside) with each segment's weight, and the top segments.

        The hover text then names the segment and its weight; boundaries and the dimming
        of non-top segments follow :meth:`set_show_boundaries` and :meth:`set_top_only`.
        """
        if segments is not None and self._pixels is not None and segments.shape != self._pixels.shape[:2]:
            segments = None
        self._segments = segments
        self._segment_weights = list(weights) if (segments is not None and weights is not None) else []
        self._highlight = list(highlight) if (segments is not None and highlight is not None) else []
        self._update_decoration()

    def segments(self) -> np.ndarray | None:
        return self._segments

    def set_show_boundaries(self, show: bool) -> None:
        self._show_boundaries = bool(show)
        self._update_decoration()

    def set_top_only(self, top_only: bool) -> None:
        self._top_only = bool(top_only)
        self._update_decoration()

    def decoration(self) -> np.ndarray | None:
        """The RGBA layer drawn over the heatmap (``None`` when nothing is drawn)."""
        return self._decoration

    def _update_decoration(self) -> None:
        self._decoration = decoration_rgba(
            self._segments,
            boundaries=self._show_boundaries,
            highlight=self._highlight if self._top_only else None,
        )
        if self._decoration is None:
            self.decoration_item.clear()
            self.decoration_item.setVisible(False)
        else:
            self.decoration_item.setImage(self._decoration, levels=(0, 255), autoLevels=False)
            self.decoration_item.setVisible(True)

    def set_levels(self, levels: tuple[float, float] | None) -> None:
        """Fix the levels (``None`` goes back to the map's own symmetric levels)."""
        if self._relevance is not None:
            self.set_relevance(self._relevance, levels)

    def rendered_overlay(self) -> np.ndarray | None:
        """The overlay as shown, rendered at the image's size by :func:`render.blend_overlay`."""
        if self._pixels is None or self._relevance is None:
            return None
        overlay = render.blend_overlay(
            self._pixels, self._relevance, cmap=self._colormap_name, opacity=self._opacity, levels=self._levels
        )
        return composite(overlay, self._decoration)

    value_name = "relevance"

    def describe_pixel(self, x: int, y: int) -> str:
        if self._relevance is None or self._relevance.shape[:2] != self._pixels.shape[:2]:
            return super().describe_pixel(x, y)
        segment = segment_at(self._segments, x, y)
        if segment is not None and segment < len(self._segment_weights):
            return f"x {x}, y {y}: segment {segment} · weight {format_signed(self._segment_weights[segment])}"
        value = float(self._relevance[y, x])
        if np.isnan(value):
            return f"x {x}, y {y}: not seen by the model (cut off by its preprocessing)"
        return f"x {x}, y {y}: {self.value_name} = {format_value(value)}"


class UncertaintyView(HeatmapView):
    """A non-negative map (RELAX's uncertainty) with a sequential colour map and its own colour bar.

    Levels run from the map's low to its high percentile (:func:`render.range_levels`), not
    symmetric around zero.
    """

    value_name = "uncertainty"

    def __init__(self, title: str = "", parent: QWidget | None = None, colormap: str = "viridis") -> None:
        super().__init__(title, parent)
        self.set_colormap(colormap)

    def set_relevance(self, relevance: np.ndarray | None, levels: tuple[float, float] | None = None) -> None:
        if relevance is not None and levels is None:
            levels = render.range_levels(relevance, max_samples=256 * 256)
        super().set_relevance(relevance, levels)

    def set_uncertainty(self, uncertainty: np.ndarray | None) -> None:
        self.set_relevance(uncertainty)

    def uncertainty(self) -> np.ndarray | None:
        return self.relevance()


class ViewGroup:
    """Views whose zoom and pan follow each other.

    The views share a camera rather than a range: when the person zooms or
    pans one view, the others show the same centre pixel at the same scale
    (image pixels per screen pixel). Unlike ``ViewBox.setXLink``/``setYLink``
    this keeps aspect-locked views of different shapes aligned. Only views of
    images of the same size follow each other: the same pixel of another
    picture means nothing.
    """

    def __init__(self) -> None:
        self._views: list[ImageView] = []
        self._slots: dict[int, object] = {}
        self._syncing = False

    def add(self, view: ImageView) -> None:
        self._views.append(view)

        def slot(*_args, source=view) -> None:
            self.follow(source)

        self._slots[id(view)] = slot
        view.view_box.sigRangeChangedManually.connect(slot)

    def remove(self, view: ImageView) -> None:
        if view in self._views:
            self._views.remove(view)
            slot = self._slots.pop(id(view), None)
            if slot is not None:
                try:
                    view.view_box.sigRangeChangedManually.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass

    def views(self) -> list[ImageView]:
        return list(self._views)

    def follow(self, source: ImageView) -> None:
        """Give every other view the centre and scale of ``source``."""
        if self._syncing:
            return
        self._syncing = True
        try:
            (x0, x1), (y0, y1) = source.view_box.viewRange()
            width = max(source.view_box.width(), 1.0)
            scale = (x1 - x0) / width
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            shape = source.pixels().shape[:2] if source.pixels() is not None else None
            for view in self._views:
                if view is source or view.pixels() is None or view.pixels().shape[:2] != shape:
                    continue
                half_w = scale * max(view.view_box.width(), 1.0) / 2
                half_h = scale * max(view.view_box.height(), 1.0) / 2
                view.view_box.setRange(xRange=(cx - half_w, cx + half_w), yRange=(cy - half_h, cy + half_h), padding=0)
        finally:
            self._syncing = False

    def fit_all(self) -> None:
        """Show each view's whole image."""
        for view in self._views:
            view.reset_zoom()


__all__ = ["ImageView", "HeatmapView", "UncertaintyView", "ViewGroup", "colormap_from_lut", "grey_base"]
