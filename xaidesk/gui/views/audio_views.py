"""Views of sound on real axes: waveform, whole-file overview, log-mel spectrogram with relevance.

Every view's x axis is time in seconds *from the start of the file* (a segment that starts at
30 s shows 30 s to 40 s), so the overview, the waveform, the spectrogram and the relevance maps
line up and their x axes can be linked. Spectrogram views use mel-band indices as y
coordinates (band ``i`` covers ``i`` to ``i + 1``, low frequencies at the bottom); a
:class:`MelAxis` labels them in Hz at the mel-spaced positions where those frequencies lie.

Colour levels come from :mod:`xaidesk.core.render`, as for images.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QWidget

from ...core import render
from ..formatting import format_value
from .view_common import RelevanceLayerMixin, TitledGraphicsWidget

_PLAYHEAD_PEN = pg.mkPen("#ffd400", width=2)
_WAVE_PEN = pg.mkPen("#7fb8ff", width=1)
#: Colour map of the plain spectrogram (no relevance).
SPECTROGRAM_COLORMAP = "viridis"
#: Frequencies offered as tick labels, most important first within each list.
_MAJOR_HZ = (100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50)
_MINOR_HZ = (300, 700, 1500, 3000, 4000, 6000, 8000, 12000, 16000, 150, 400, 250, 20, 30)
#: Smallest distance between two tick labels on the frequency axis, in pixels.
_MIN_TICK_GAP = 18
#: Width of every time view's left axis, so that their plotting areas start at the same place.
LEFT_AXIS_WIDTH = 56
#: Bar and axis width of the relevance colour bars (see ``RelevanceLayerMixin``); views without
#: one keep an empty column this wide.
_COLORBAR_WIDTH = 14
_COLORBAR_AXIS_WIDTH = 48


def hz_label(hz: float) -> str:
    """``"840"``, ``"1k"``, ``"1.5k"``, ``"12k"``."""
    if hz >= 1000:
        return f"{hz / 1000:.3g}k"
    return f"{hz:.3g}" if hz < 100 else f"{round(hz):.0f}"


def band_centres(mel_frequencies, n_mels: int | None = None) -> np.ndarray:
    """The centre frequency (Hz) of each mel band.

    Accepts the band centres themselves or the ``n_mels + 2`` band edges of a mel filter bank.
    """
    freqs = np.asarray(mel_frequencies, dtype=np.float64).ravel()
    if n_mels is not None and freqs.size == n_mels + 2:
        freqs = freqs[1:-1]
    return freqs


class MelAxis(pg.AxisItem):
    """A frequency axis for mel-spaced bands: the ticks show Hz where those frequencies lie.

    View coordinates are band positions (band ``i`` spans ``i`` to ``i + 1``); the band
    centres' frequencies map positions to Hz (linear interpolation between centres).
    """

    def __init__(self, orientation: str = "left", **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self._freqs: np.ndarray | None = None
        self.enableAutoSIPrefix(False)
        self.setLabel("Hz (mel)")

    def set_frequencies(self, freqs) -> None:
        freqs = None if freqs is None else np.asarray(freqs, dtype=np.float64)
        self._freqs = freqs if freqs is not None and freqs.size >= 2 else None
        self.picture = None
        self.update()

    def frequencies(self) -> np.ndarray | None:
        return self._freqs

    def position_of(self, hz) -> np.ndarray:
        """Band position of a frequency (Hz)."""
        freqs = self._freqs
        return np.interp(hz, freqs, np.arange(freqs.size) + 0.5)

    def hz_at(self, position: float) -> float:
        """Frequency (Hz) at a band position."""
        freqs = self._freqs
        return float(np.interp(position - 0.5, np.arange(freqs.size), freqs))

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph override
        if self._freqs is None:
            return super().tickValues(minVal, maxVal, size)
        low, high = min(minVal, maxVal), max(minVal, maxVal)
        span = max(high - low, 1e-9)
        top = float(self._freqs[-1])
        chosen: list[float] = []
        levels = []
        for candidates in (_MAJOR_HZ, _MINOR_HZ):
            level = []
            for hz in candidates:
                if hz < self._freqs[0] * 0.999 or hz > top * 1.001:
                    continue
                pos = float(self.position_of(hz))
                if not (low <= pos <= high):
                    continue
                pixel = (pos - low) / span * size
                if all(abs(pixel - (c - low) / span * size) >= _MIN_TICK_GAP for c in chosen):
                    chosen.append(pos)
                    level.append(pos)
            levels.append(sorted(level))
        return [(1.0, levels[0]), (0.5, levels[1])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph override
        if self._freqs is None:
            return super().tickStrings(values, scale, spacing)
        labels = []
        for value in values:
            hz = self.hz_at(value)
            # Snap to the candidate that produced the tick (interpolation round-trips are inexact).
            nice = min(_MAJOR_HZ + _MINOR_HZ, key=lambda c: abs(c - hz))
            labels.append(hz_label(nice if abs(nice - hz) <= 0.02 * max(hz, 1.0) else hz))
        return labels


def _time_axis() -> pg.AxisItem:
    axis = pg.AxisItem("bottom")
    axis.setLabel("Time", units="s")
    axis.enableAutoSIPrefix(False)
    return axis


class _PlotView(TitledGraphicsWidget):
    """A titled pyqtgraph plot with a time axis, a playhead and click-to-seek.

    Signals
    -------
    hovered(str)
        The value under the cursor (empty outside the data).
    seek_requested(float)
        The person clicked at this time (seconds from the start of the file).
    """

    hovered = Signal(str)
    seek_requested = Signal(float)

    def __init__(self, title: str = "", left_axis: pg.AxisItem | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._init_title_and_graphics(title)
        axes = {"bottom": _time_axis()}
        if left_axis is not None:
            axes["left"] = left_axis
        self.plot: pg.PlotItem = self.graphics.addPlot(row=0, col=0, axisItems=axes)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.getViewBox().setMouseEnabled(x=True, y=False)
        self.view_box: pg.ViewBox = self.plot.getViewBox()
        self.playhead = pg.InfiniteLine(pos=0.0, angle=90, movable=False, pen=_PLAYHEAD_PEN)
        self.playhead.setZValue(10)
        self.playhead.setVisible(False)
        self.plot.addItem(self.playhead, ignoreBounds=True)
        self.placeholder = pg.TextItem("", color="#eeeeee", anchor=(0.5, 0.5), fill=pg.mkBrush(0, 0, 0, 140))
        self.placeholder.setZValue(20)
        self.plot.addItem(self.placeholder, ignoreBounds=True)
        self.placeholder.setVisible(False)
        # Keep the placeholder centred when the view's range changes (e.g. the first layout).
        self.view_box.sigRangeChanged.connect(
            lambda *_: self._place_placeholder(self.placeholder.isVisible()))
        self._lay_out_title_and_graphics()
        self.graphics.scene().sigMouseClicked.connect(self._mouse_clicked)

    def reserve_colorbar_space(self) -> None:
        """Keep an empty column as wide as a relevance view's colour bar, so that this plot is as
        wide as theirs and the same time sits at the same place on screen in every view."""
        if getattr(self, "colorbar", None) is not None or getattr(self, "_colorbar_space", None) is not None:
            return
        space = pg.ColorBarItem(values=(0.0, 1.0), width=_COLORBAR_WIDTH, interactive=False)
        space.getAxis("right").setWidth(_COLORBAR_AXIS_WIDTH)
        space.setOpacity(0.0)
        self.graphics.addItem(space, row=0, col=1)
        self._colorbar_space = space

    def plot_edges(self) -> tuple[float, float]:
        """Left and right edge of the plotting area in window coordinates (pixels)."""
        rect = self.view_box.sceneBoundingRect()
        left = self.graphics.mapTo(self.window(), self.graphics.mapFromScene(rect.topLeft()))
        right = self.graphics.mapTo(self.window(), self.graphics.mapFromScene(rect.topRight()))
        return float(left.x()), float(right.x())

    def set_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self._place_placeholder(bool(text))

    def _place_placeholder(self, visible: bool) -> None:
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        self.placeholder.setPos((x0 + x1) / 2, (y0 + y1) / 2)
        self.placeholder.setVisible(visible and bool(self.placeholder.textItem.toPlainText()))

    def show_time_label(self, show: bool) -> None:
        """Show or hide the "Time (s)" caption under the axis (the tick values stay)."""
        self.plot.getAxis("bottom").showLabel(show)

    def set_playhead(self, seconds: float | None) -> None:
        """Put the playhead at ``seconds`` (from the start of the file); ``None`` hides it."""
        if seconds is None:
            self.playhead.setVisible(False)
            return
        self.playhead.setValue(float(seconds))
        self.playhead.setVisible(True)

    def playhead_position(self) -> float | None:
        return float(self.playhead.value()) if self.playhead.isVisible() else None

    def point_at(self, scene_pos: QPointF) -> QPointF | None:
        if not self.view_box.sceneBoundingRect().contains(scene_pos):
            return None
        return self.view_box.mapSceneToView(scene_pos)

    def describe(self, x: float, y: float) -> str:
        return ""

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        point = self.point_at(scene_pos)
        self.hovered.emit("" if point is None else self.describe(point.x(), point.y()))

    def _mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        point = self.point_at(event.scenePos())
        if point is not None and self.has_data():
            self.seek_requested.emit(float(point.x()))

    def has_data(self) -> bool:
        return False


class WaveformView(_PlotView):
    """The samples of the analysed segment against time."""

    def __init__(self, title: str = "Waveform", parent: QWidget | None = None) -> None:
        super().__init__(title, parent=parent)
        self.plot.setLabel("left", "Amplitude")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
        self.curve = self.plot.plot(pen=_WAVE_PEN)
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        self._samples: np.ndarray | None = None
        self._rate = 1
        self._offset = 0.0

    def set_samples(self, samples: np.ndarray | None, rate: int = 1, offset: float = 0.0) -> None:
        self._samples = samples
        self._rate = int(rate)
        self._offset = float(offset)
        if samples is None or len(samples) == 0:
            self.curve.clear()
            return
        times = self._offset + np.arange(len(samples), dtype=np.float64) / self._rate
        self.curve.setData(times, np.asarray(samples, dtype=np.float32))
        peak = float(np.max(np.abs(samples))) if len(samples) else 1.0
        peak = peak if peak > 0 else 1.0
        self.view_box.setLimits(xMin=self._offset, xMax=self._offset + len(samples) / self._rate)
        self.plot.setYRange(-peak, peak, padding=0.05)
        self.plot.setXRange(self._offset, self._offset + len(samples) / self._rate, padding=0)
        self.placeholder.setVisible(False)

    def samples(self) -> np.ndarray | None:
        return self._samples

    def has_data(self) -> bool:
        return self._samples is not None

    def describe(self, x: float, y: float) -> str:
        if self._samples is None:
            return ""
        index = int(round((x - self._offset) * self._rate))
        if not 0 <= index < len(self._samples):
            return ""
        return f"{x:.2f} s: amplitude {format_value(float(self._samples[index]))}"


class OverviewView(_PlotView):
    """The whole file's waveform envelope, with a region that picks the segment to analyse.

    Signals
    -------
    region_changed(float, float)
        The person moved the region (start, stop in seconds), once the drag ended.
    """

    region_changed = Signal(float, float)

    def __init__(self, title: str = "Whole file", parent: QWidget | None = None) -> None:
        super().__init__(title, parent=parent)
        self.plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
        self.plot.getAxis("left").setStyle(showValues=False)
        self.plot.getAxis("bottom").setLabel("")
        self.view_box.setMouseEnabled(x=False, y=False)
        self.upper = self.plot.plot(pen=_WAVE_PEN)
        self.lower = self.plot.plot(pen=_WAVE_PEN)
        self.fill = pg.FillBetweenItem(self.upper, self.lower, brush=pg.mkBrush(127, 184, 255, 110))
        self.plot.addItem(self.fill)
        self.region = pg.LinearRegionItem(values=(0, 1), brush=pg.mkBrush(255, 212, 0, 50))
        self.region.setZValue(5)
        self.plot.addItem(self.region)
        self.region.sigRegionChangeFinished.connect(self._region_finished)
        self._duration = 0.0
        self._max_width: float | None = None

    def set_envelope(self, times, mins, maxs, duration: float) -> None:
        times = np.asarray(times, dtype=np.float64)
        self.upper.setData(times, np.asarray(maxs, dtype=np.float32))
        self.lower.setData(times, np.asarray(mins, dtype=np.float32))
        self._duration = float(duration)
        peak = float(max(np.max(np.abs(maxs)) if len(maxs) else 0, np.max(np.abs(mins)) if len(mins) else 0)) or 1.0
        self.plot.setXRange(0, self._duration, padding=0)
        self.plot.setYRange(-peak, peak, padding=0.05)
        self.region.setBounds((0, self._duration))

    def duration(self) -> float:
        return self._duration

    def set_max_width(self, seconds: float | None) -> None:
        self._max_width = seconds

    def set_region(self, start: float, stop: float) -> None:
        self.region.blockSignals(True)
        self.region.setRegion((start, stop))
        self.region.blockSignals(False)

    def segment(self) -> tuple[float, float]:
        start, stop = self.region.getRegion()
        return float(start), float(stop)

    def _region_finished(self, *_args) -> None:
        start, stop = self.segment()
        if self._max_width is not None and stop - start > self._max_width:
            stop = start + self._max_width
            self.set_region(start, stop)
        self.region_changed.emit(start, stop)

    def has_data(self) -> bool:
        return self._duration > 0

    def _mouse_clicked(self, event) -> None:
        # A click moves the region there (keeping its length); playback seeks stay in the segment.
        if event.button() != Qt.MouseButton.LeftButton or not self.has_data():
            return
        point = self.point_at(event.scenePos())
        if point is None:
            return
        start, stop = self.segment()
        width = stop - start
        begin = min(max(0.0, point.x() - width / 2), max(0.0, self._duration - width))
        self.set_region(begin, begin + width)
        self.region_changed.emit(begin, begin + width)

    def describe(self, x: float, y: float) -> str:
        if not self.has_data() or not 0 <= x <= self._duration:
            return ""
        return f"{x:.2f} s of {self._duration:.1f} s"


class SpectrogramView(RelevanceLayerMixin, _PlotView):
    """A log-mel spectrogram on real axes, optionally with a relevance map over it.

    Without relevance the spectrogram is shown in colour (:data:`SPECTROGRAM_COLORMAP`);
    with relevance it is shown in grey under the relevance colours, at the chosen
    opacity, with a colour bar — the same layers as the image heatmaps.
    """

    value_name = "relevance"

    def __init__(self, title: str = "", parent: QWidget | None = None, show_colorbar: bool = True,
                 grey_base: bool | None = None) -> None:
        self.mel_axis = MelAxis("left")
        # Views made for relevance show the spectrogram in grey under the colours; the plain
        # spectrogram view (no colour bar) shows it in colour until a map is laid over it.
        self._grey_base = show_colorbar if grey_base is None else grey_base
        super().__init__(title, left_axis=self.mel_axis, parent=parent)
        self.mel_axis.setWidth(LEFT_AXIS_WIDTH)
        self.base_item = pg.ImageItem()
        self.base_item.setZValue(0)
        self.heat_item = pg.ImageItem()
        self.heat_item.setZValue(1)
        self.heat_item.setVisible(False)
        self.plot.addItem(self.base_item)
        self.plot.addItem(self.heat_item)
        self._spectrogram: np.ndarray | None = None
        self._spectrogram_levels: tuple[float, float] = (0.0, 1.0)
        self._times: np.ndarray | None = None
        self._offset = 0.0
        self._step = 1.0
        self._init_relevance_layer(show_colorbar)
        self._show_colorbar(False)
        self._show_base_colours()

    # -- content ------------------------------------------------------------
    def set_spectrogram(self, log_mel: np.ndarray | None, frame_times=None, mel_frequencies=None,
                        offset: float = 0.0, reset_view: bool = True) -> None:
        """Show a log-mel spectrogram (n_mels, frames).

        ``frame_times`` are the frames' centres in seconds from the start of the clip; ``offset``
        is where the clip starts in the file; ``mel_frequencies`` the bands' centre frequencies.
        """
        self._spectrogram = None if log_mel is None else np.asarray(log_mel, dtype=np.float32)
        if self._spectrogram is None:
            self.base_item.clear()
            self.clear_relevance()
            self.mel_axis.set_frequencies(None)
            return
        n_mels, frames = self._spectrogram.shape
        times = np.arange(frames, dtype=np.float64) if frame_times is None else np.asarray(frame_times, np.float64)
        self._times = times
        self._offset = float(offset)
        self._step = float(times[1] - times[0]) if len(times) > 1 else 1.0
        self.mel_axis.set_frequencies(None if mel_frequencies is None else band_centres(mel_frequencies, n_mels))
        self._spectrogram_levels = render.range_levels(self._spectrogram, percentile=99.5, max_samples=256 * 256)
        self.base_item.setImage(self._spectrogram, levels=self._spectrogram_levels, autoLevels=False)
        rect = QRectF(self.x_start(), 0.0, frames * self._step, float(n_mels))
        self.base_item.setRect(rect)
        if self._relevance is not None and self._relevance.shape != self._spectrogram.shape:
            self.clear_relevance()
        elif self._relevance is not None:
            self.set_relevance(self._relevance, self._levels)
        self.view_box.setLimits(xMin=rect.left(), xMax=rect.right(), yMin=0, yMax=n_mels)
        if reset_view:
            self.reset_zoom()
        self._place_placeholder(self._relevance is None)

    def reset_zoom(self) -> None:
        if self._spectrogram is None:
            return
        n_mels, frames = self._spectrogram.shape
        self.plot.setXRange(self.x_start(), self.x_start() + frames * self._step, padding=0)
        self.plot.setYRange(0, n_mels, padding=0)

    def x_start(self) -> float:
        """Left edge of the first frame (seconds from the start of the file)."""
        first = float(self._times[0]) if self._times is not None and len(self._times) else 0.0
        return self._offset + first - self._step / 2

    def spectrogram(self) -> np.ndarray | None:
        return self._spectrogram

    def spectrogram_levels(self) -> tuple[float, float]:
        return self._spectrogram_levels

    def has_data(self) -> bool:
        return self._spectrogram is not None

    def set_relevance(self, relevance: np.ndarray | None, levels: tuple[float, float] | None = None) -> None:
        """Show a relevance map of the spectrogram's shape over it (``levels`` for shared scales)."""
        if relevance is None or self._spectrogram is None or np.shape(relevance) != self._spectrogram.shape:
            self.clear_relevance()
            return
        self._relevance = np.asarray(relevance, dtype=np.float32)
        self._levels = tuple(levels) if levels is not None else render.symmetric_levels(self._relevance)
        # Frames not explained yet (NaN columns of a partial result) stay uncoloured: only the
        # explained span is drawn.
        image, first, stop = self._relevance, 0, self._relevance.shape[1]
        finite = np.isfinite(self._relevance).all(axis=0)
        if not finite.all() and finite.any():
            columns = np.flatnonzero(finite)
            first, stop = int(columns[0]), int(columns[-1]) + 1
            image = np.nan_to_num(self._relevance[:, first:stop], nan=self._levels[0])
        self.heat_item.setImage(image, levels=self._levels, autoLevels=False)
        self.heat_item.setRect(QRectF(self.x_start() + first * self._step, 0.0, (stop - first) * self._step,
                                      float(self._relevance.shape[0])))
        self.heat_item.setVisible(bool(finite.any()))
        self._show_base_grey()
        self.placeholder.setVisible(False)
        self.base_item.setVisible(True)
        if self.colorbar is not None:
            self.colorbar.setLevels(self._levels)
        self._show_colorbar(True)
        self._show_colour_meaning()

    def _place_placeholder(self, visible: bool) -> None:
        """Show the placeholder instead of the spectrogram, not over it (a relevance view before a run)."""
        super()._place_placeholder(visible)
        if hasattr(self, "base_item"):
            self.base_item.setVisible(not self.placeholder.isVisible())

    def clear_relevance(self) -> None:
        self._relevance = None
        self.heat_item.clear()
        self.heat_item.setVisible(False)
        self._show_base_colours()
        self._place_placeholder(self._spectrogram is not None)
        self._show_colorbar(False)
        self._show_colour_meaning()

    def _show_colorbar(self, shown: bool) -> None:
        """Show or blank the colour bar; a blank one keeps its room, so the plot keeps its width."""
        if self.colorbar is not None:
            if not self.colorbar.isVisible():
                self.colorbar.setVisible(True)
                # An axis sized while hidden has no width; setting the levels sizes it again.
                self.colorbar.setLevels(self._levels)
            self.colorbar.setOpacity(1.0 if shown else 0.0)

    def colorbar_shown(self) -> bool:
        return self.colorbar is not None and self.colorbar.opacity() > 0

    def _show_base_grey(self) -> None:
        self.base_item.setLookupTable(render.COLORMAPS["gray"])

    def _show_base_colours(self) -> None:
        self.base_item.setLookupTable(render.COLORMAPS["gray" if self._grey_base else SPECTROGRAM_COLORMAP])

    # -- cursor -------------------------------------------------------------
    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(band, frame) under view coordinates, or ``None`` outside the spectrogram."""
        if self._spectrogram is None:
            return None
        n_mels, frames = self._spectrogram.shape
        frame = int(np.floor((x - self.x_start()) / self._step))
        band = int(np.floor(y))
        if 0 <= frame < frames and 0 <= band < n_mels:
            return band, frame
        return None

    def describe(self, x: float, y: float) -> str:
        cell = self.cell_at(x, y)
        if cell is None:
            return ""
        band, frame = cell
        hz = self.mel_axis.hz_at(band + 0.5) if self.mel_axis.frequencies() is not None else float(band)
        where = f"{x:.2f} s, {hz:.0f} Hz"
        if self._relevance is not None:
            return f"{where}: {self.value_name} = {format_value(float(self._relevance[band, frame]))}"
        return f"{where}: log-mel level {format_value(float(self._spectrogram[band, frame]))}"


class UncertaintySpectrogramView(SpectrogramView):
    """RELAX's uncertainty over the spectrogram, with a sequential colour map and range levels."""

    value_name = "uncertainty"

    def __init__(self, title: str = "", parent: QWidget | None = None, colormap: str = "viridis") -> None:
        super().__init__(title, parent)
        self.set_colormap(colormap)

    def set_relevance(self, relevance, levels=None) -> None:
        if relevance is not None and levels is None:
            levels = render.range_levels(relevance, max_samples=256 * 256)
        super().set_relevance(relevance, levels)

    def uncertainty(self) -> np.ndarray | None:
        return self.relevance()


class RangeLink:
    """Keep one axis' data range equal across plots (0: x, time; 1: y, mel bands).

    Unlike ``PlotItem.setXLink``, which lines the views up by their position on screen (and
    so shifts views that sit side by side or have colour bars), the linked views show the same
    range of data.
    """

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis
        self._views: list = []
        self._slots: dict[int, object] = {}
        self._syncing = False

    def add(self, view) -> None:
        if view in self._views:
            return
        self._views.append(view)

        def slot(*_args, source=view) -> None:
            self.follow(source)

        self._slots[id(view)] = slot
        view.view_box.sigRangeChanged.connect(slot)
        if len(self._views) > 1:
            self._apply(view, self._views[0].view_box.viewRange()[self.axis])

    def remove(self, view) -> None:
        if view in self._views:
            self._views.remove(view)
            slot = self._slots.pop(id(view), None)
            try:
                view.view_box.sigRangeChanged.disconnect(slot)
            except (RuntimeError, TypeError):
                pass

    def views(self) -> list:
        return list(self._views)

    def _apply(self, view, span) -> None:
        if self.axis == 0:
            view.view_box.setXRange(*span, padding=0)
        else:
            view.view_box.setYRange(*span, padding=0)

    def follow(self, source) -> None:
        """Give every view the source's range; where a view's limits cut it (the waveform ends where
        the sound ends, the spectrogram half a frame later), all take the range they can all show."""
        if self._syncing:
            return
        self._syncing = True
        try:
            span = source.view_box.viewRange()[self.axis]
            for _attempt in range(3):
                for view in self._views:
                    if view.view_box.viewRange()[self.axis] != list(span):
                        self._apply(view, span)
                shown = [view.view_box.viewRange()[self.axis] for view in self._views]
                common = (max(low for low, _ in shown), min(high for _, high in shown))
                if common[1] <= common[0] or all(
                        abs(low - common[0]) < 1e-9 and abs(high - common[1]) < 1e-9 for low, high in shown):
                    break
                span = common
        finally:
            self._syncing = False


def link_time_axes(views) -> RangeLink:
    """Link the views' time axes (same range in seconds); returns the link."""
    link = RangeLink(0)
    for view in views:
        link.add(view)
    return link


__all__ = [
    "MelAxis", "OverviewView", "RangeLink", "SpectrogramView", "UncertaintySpectrogramView", "WaveformView",
    "band_centres", "hz_label", "link_time_axes",
]
