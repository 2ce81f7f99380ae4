"""Plots of the Molecules tab: element energies, pair potentials and a molecule's decomposition."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from xaidesk.core import render

from .view_common import colormap_from_lut

#: Diverging colour map of contributions (negative blue, zero white, positive red).
CONTRIBUTION_COLORMAP = "bwr" if "bwr" in render.COLORMAPS else render.DIVERGING_COLORMAPS[0]
BOND_STYLES = {"single": Qt.PenStyle.DashLine, "double": Qt.PenStyle.DashDotLine, "triple": Qt.PenStyle.DotLine}
BOND_COLORS = {"single": (60, 60, 60), "double": (200, 90, 20), "triple": (150, 30, 150)}
PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


class _WhitePlot(pg.PlotWidget):
    """A plot on white without pyqtgraph's context menu; ``plot_item`` is its plot."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent=parent, background="w")
        self.setMenuEnabled(False)
        self.plot_item = self.getPlotItem()


class ElementBars(_WhitePlot):
    """Atom-count model: one bar per element, its energy per atom."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.plot_item.showGrid(x=False, y=True, alpha=0.2)
        self.values: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        self.plot_item.clear()
        self.values = {}
        self.plot_item.setTitle("Energy per atom of each element (train the atom-count model to see it)",
                                color="#333333", size="10pt")

    def set_energies(self, energies: dict[str, float], unit: str) -> None:
        self.reset()
        self.plot_item.setTitle("Energy per atom of each element", color="#333333", size="10pt")
        self.values = dict(energies)
        names = list(energies)
        heights = np.array([energies[n] for n in names], dtype=np.float64)
        brushes = [pg.mkBrush(214, 39, 40) if h > 0 else pg.mkBrush(31, 119, 180) for h in heights]
        bars = pg.BarGraphItem(x=np.arange(len(names)), height=heights, width=0.6, brushes=brushes)
        self.plot_item.addItem(bars)
        self.plot_item.getAxis("bottom").setTicks([list(enumerate(names))])
        self.plot_item.setLabel("left", f"energy per atom ({unit})")
        self.plot_item.setLabel("bottom", "element")


class PotentialPlot(_WhitePlot):
    """Pair model: energy contribution against distance, with reference bond lengths."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.plot_item.showGrid(x=True, y=True, alpha=0.2)
        self.legend = self.plot_item.addLegend(offset=(-10, 10), labelTextColor="#333333")
        self.curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.reference_lines: list[tuple[str, str, float]] = []  # (pair, bond, position)
        self.support = None
        self.y_range: tuple[float, float] | None = None
        self.reset()

    def reset(self) -> None:
        self.plot_item.clear()
        self.legend.clear()
        self.curves = {}
        self.reference_lines = []
        self.support = None
        self.y_range = None
        self.plot_item.setTitle("Pair potentials: train the pair-potential model to see them", color="#333333",
                                size="10pt")

    def show_curves(self, distances, curves: dict[str, np.ndarray], references: dict[str, list] | None,
                    length_unit: str, energy_unit: str, support: dict[str, np.ndarray] | None = None) -> None:
        """``distances`` already in ``length_unit``; ``references`` maps a pair to (bond, position) pairs.

        ``support`` marks, per curve, where training pairs back it; elsewhere the curve is drawn
        faint and dotted (an extrapolation of the model, not something it learned). The energy
        axis spans the backed parts only, so a wild extrapolation is cut off at the plot's edge
        instead of squashing the curves the data support.
        """
        self.reset()
        x = np.asarray(distances, dtype=np.float64)
        self.plot_item.enableAutoRange(x=False, y=False)
        for k, (label, y) in enumerate(curves.items()):
            color = PALETTE[k % len(PALETTE)]
            y = np.asarray(y, dtype=np.float64)
            self.curves[label] = (x, y)
            backed = np.ones_like(y, dtype=bool) if support is None else np.asarray(support[label], dtype=bool)
            # Both pieces overlap by one point at each boundary so the line stays continuous.
            grown = backed | np.r_[backed[1:], False] | np.r_[False, backed[:-1]]
            self.plot_item.plot(x, np.where(grown, y, np.nan), pen=pg.mkPen(color, width=2), name=label,
                                connect="finite")
            if not backed.all():
                faint = pg.mkPen((*pg.mkColor(color).getRgb()[:3], 110), width=1.5, style=Qt.PenStyle.DotLine)
                self.plot_item.plot(x, np.where(~backed | ~grown, y, np.nan), pen=faint, connect="finite")
        self.support = support
        for pair, refs in (references or {}).items():
            for bond, position in refs:
                line = pg.InfiniteLine(
                    pos=float(position), angle=90,
                    pen=pg.mkPen(BOND_COLORS.get(bond, (60, 60, 60)), width=1.5, style=BOND_STYLES.get(bond, Qt.PenStyle.DashLine)),
                    label=f"{pair} {bond}", labelOpts={"position": 0.92 - 0.08 * len(self.reference_lines) % 0.6,
                                                       "color": BOND_COLORS.get(bond, (60, 60, 60)), "rotateAxis": (1, 0)},
                )
                self.plot_item.addItem(line)
                self.reference_lines.append((pair, bond, float(position)))
        self.plot_item.addLine(y=0, pen=pg.mkPen((150, 150, 150), width=1))
        title = "Pair potential" + ("s" if len(curves) > 1 else "")
        caption = f"{title}: energy contribution of one pair against its distance"
        if support is not None and not all(np.all(v) for v in support.values()):
            caption += " · dotted: fewer than 5 training pairs within ±σ (extrapolated)"
        self.plot_item.setTitle(caption, color="#333333", size="10pt")
        self.plot_item.setLabel("bottom", f"distance ({length_unit})")
        self.plot_item.setLabel("left", f"energy ({energy_unit})")
        if len(x):
            self.plot_item.setXRange(float(x.min()), float(x.max()), padding=0.02)
        self.y_range = supported_range(curves, support)
        self.plot_item.setYRange(*self.y_range, padding=0)


def supported_range(curves: dict[str, np.ndarray], support: dict[str, np.ndarray] | None,
                    margin: float = 0.1) -> tuple[float, float]:
    """The energy range of the backed parts of ``curves`` (all of them without ``support``), with 0 in it.

    Falls back to every finite value when no part is backed; ``margin`` is a share of the span added
    on both sides.
    """
    backed = [np.asarray(y, dtype=np.float64)[np.asarray(support[label], dtype=bool)] if support is not None
              else np.asarray(y, dtype=np.float64) for label, y in curves.items()]
    values = np.concatenate(backed + [np.zeros(1)])
    if len(values) == 1:
        values = np.concatenate([np.asarray(y, dtype=np.float64) for y in curves.values()] + [np.zeros(1)])
    values = values[np.isfinite(values)]
    low, high = float(values.min()), float(values.max())
    span = high - low if high > low else 1.0
    return low - margin * span, high + margin * span


def pca_2d(positions: np.ndarray) -> np.ndarray:
    """Project 3D coordinates on their two principal axes (centred)."""
    positions = np.asarray(positions, dtype=np.float64)
    centred = positions - positions.mean(0)
    if len(positions) < 2:
        return np.zeros((len(positions), 2))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    out = centred @ axes.T
    if out.shape[1] < 2:
        out = np.column_stack([out, np.zeros(len(out))])
    return out


def atom_size(z: int) -> float:
    return 10.0 + 4.0 * float(np.sqrt(z))


class MoleculeView(_WhitePlot):
    """A molecule in 2D (PCA of its coordinates): pairs and atoms coloured by contribution."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.plot_item.setAspectLocked(True)
        self.plot_item.hideAxis("left")
        self.plot_item.hideAxis("bottom")
        self.cmap = colormap_from_lut(CONTRIBUTION_COLORMAP)
        self.projected: np.ndarray | None = None
        self.n_lines = 0
        self.atom_labels: list[str] = []

    def reset(self) -> None:
        self.plot_item.clear()
        self.projected = None
        self.n_lines = 0
        self.atom_labels = []

    def _color(self, value: float, scale: float):
        t = 0.5 + 0.5 * float(np.clip(value / scale, -1, 1)) if scale > 0 else 0.5
        return self.cmap.map(t, mode="qcolor")

    def show_decomposition(self, decomposition, symbols: list[str]) -> None:
        self.reset()
        xy = pca_2d(decomposition.positions)
        self.projected = xy
        parts = np.asarray(decomposition.parts, dtype=np.float64)
        scale = float(np.abs(parts).max()) if len(parts) else 0.0
        if decomposition.kind == "pairs" and len(parts):
            for k in np.argsort(np.abs(parts)):  # strongest on top
                a, b = int(decomposition.i[k]), int(decomposition.j[k])
                weight = abs(parts[k]) / scale if scale > 0 else 0.0
                pen = pg.mkPen(self._color(parts[k], scale), width=1 + 5 * weight)
                self.plot_item.plot(xy[[a, b], 0], xy[[a, b], 1], pen=pen)
                self.n_lines += 1
        atoms = np.asarray(decomposition.atom_contributions, dtype=np.float64)
        atom_scale = float(np.abs(atoms).max()) if len(atoms) else 0.0
        spots = [{"pos": (float(xy[n, 0]), float(xy[n, 1])), "size": atom_size(int(z)),
                  "brush": pg.mkBrush(self._color(atoms[n], atom_scale)), "pen": pg.mkPen((40, 40, 40), width=1.2)}
                 for n, z in enumerate(decomposition.numbers)]
        self.scatter = pg.ScatterPlotItem(spots=spots, pxMode=True)
        self.plot_item.addItem(self.scatter)
        self.atom_labels = [f"{label}{n + 1}" for n, label in enumerate(symbols)]  # as in the table: C1–H3
        for n, label in enumerate(self.atom_labels):
            # Above the atoms and on a light backing, so that a label stays readable over a large atom.
            text = pg.TextItem(label, color=(20, 20, 20), anchor=(-0.2, 1.0), fill=pg.mkBrush(255, 255, 255, 170))
            text.setZValue(10)
            text.setPos(float(xy[n, 0]), float(xy[n, 1]))
            self.plot_item.addItem(text)
        self.plot_item.setTitle(f"{decomposition.name}: red raises the energy, blue lowers it", color="#333333", size="10pt")
        self.plot_item.autoRange(padding=0.15)


__all__ = ["ElementBars", "PotentialPlot", "MoleculeView", "pca_2d", "supported_range", "CONTRIBUTION_COLORMAP"]
