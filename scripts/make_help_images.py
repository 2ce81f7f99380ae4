"""Draw the illustrations of the Help ▸ Guide into ``resources/help/``.

Each picture is a real result of the bundled demo models, drawn with the colours the
application uses: a heatmap with its colour bar, a RELAX importance map (the sequential
colours of "how much" maps) beside its uncertainty, and the MoRF / LeRF / random curves of a faithfulness check.

Run from the repository root:  python scripts/make_help_images.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure

from xaidesk.core import render
from xaidesk.data.images import load_image
from xaidesk.evaluate.faithfulness import FlipSettings
from xaidesk.evaluate.pixel_flipping import image_faithfulness
from xaidesk.explain.image import explain_image
from xaidesk.gui.formatting import colour_meaning
from xaidesk.gui.views.view_common import UNSIGNED_COLORMAP
from xaidesk.models import load_model

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
OUT = ROOT / "resources" / "help"
DPI = 100


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, name: str) -> None:
    figure.savefig(OUT / name, format="png", facecolor="white")
    print(f"wrote {OUT / name}")


def _map_panel(figure, axes, image, values, levels, cmap, title, caption, nan_note=False):
    shown = render.blend_overlay(image, np.nan_to_num(values, nan=0.0), cmap=cmap, opacity=0.7, levels=levels)
    axes.imshow(shown, interpolation="nearest")
    axes.set_title(title, fontsize=10)
    axes.set_xticks([])
    axes.set_yticks([])
    bar = ScalarMappable(Normalize(*levels), ListedColormap(render.COLORMAPS[cmap] / 255.0))
    colorbar = figure.colorbar(bar, ax=axes, fraction=0.046, pad=0.03)
    colorbar.ax.tick_params(labelsize=7)
    axes.set_xlabel(caption, fontsize=8, wrap=True)


def heatmap_picture(model, pixels: np.ndarray) -> None:
    explanation = explain_image(model, pixels, "lrp.epsilon_plus_flat", target=0)
    relevance = explanation.relevance
    levels = render.symmetric_levels(relevance)
    label = model.label(0)
    figure = _figure(6.4, 3.2)
    left, right = figure.subplots(1, 2)
    left.imshow(pixels, interpolation="nearest")
    left.set_title("The input", fontsize=10)
    left.set_xticks([])
    left.set_yticks([])
    left.set_xlabel("a horse with a small tag bottom left", fontsize=8)
    caption = colour_meaning("signed", label, "bwr", levels).replace(" · ", "\n", 1)
    _map_panel(figure, right, pixels, relevance, levels, "bwr", f"LRP: why '{label}'?", caption)
    figure.tight_layout()
    _save(figure, "heatmap.png")


def uncertainty_picture(model, pixels: np.ndarray) -> None:
    explanation = explain_image(model, pixels, "relax", params={"num_masks": 1500, "seed": 0})
    importance, uncertainty = explanation.relevance, explanation.uncertainty
    figure = _figure(6.4, 3.2)
    left, right = figure.subplots(1, 2)
    levels = render.range_levels(importance)
    caption = colour_meaning("unsigned", "", UNSIGNED_COLORMAP, levels).replace(" · ", "\n", 1)
    _map_panel(figure, left, pixels, importance, levels, UNSIGNED_COLORMAP, "RELAX importance", caption)
    levels = render.range_levels(uncertainty)
    caption = colour_meaning("uncertainty", "", "viridis", levels).replace(" · ", "\n", 1)
    _map_panel(figure, right, pixels, uncertainty, levels, "viridis", "RELAX uncertainty", caption)
    figure.tight_layout()
    _save(figure, "uncertainty.png")


def faithfulness_picture(model, pixels: np.ndarray) -> None:
    explanation = explain_image(model, pixels, "lrp.epsilon_plus_flat", target=0)
    settings = FlipSettings(steps=16, random_orders=8, seed=0)
    result = image_faithfulness(model, pixels, explanation.relevance, 0, settings, method="LRP")
    fractions = result.fractions
    figure = _figure(6.4, 3.9)
    axes = figure.add_subplot(1, 1, 1)
    morf, lerf, random = (result.curves[o] for o in ("morf", "lerf", "random"))
    axes.fill_between(fractions, morf, morf[0], color="#d62728", alpha=0.15,
                      label=f"AOPC (MoRF) = {result.aopc('morf'):.2f}: the area above the curve")
    axes.plot(fractions, morf, color="#d62728", linewidth=2.2, label="MoRF: most relevant parts removed first")
    axes.plot(fractions, lerf, color="#1f77b4", linewidth=2.0, linestyle="--",
              label="LeRF: least relevant parts removed first")
    axes.plot(fractions, random, color="0.5", linewidth=1.5, label="random order (baseline)")
    axes.set_xlabel("share of the picture removed", fontsize=9)
    axes.set_ylabel(f"score for '{model.label(0)}'", fontsize=9)
    axes.set_xlim(0.0, 1.0)
    axes.grid(True, alpha=0.3)
    axes.tick_params(labelsize=8)
    axes.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    figure.tight_layout()
    _save(figure, "faithfulness.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    model = load_model("demo:clever_hans")
    pixels = load_image(SAMPLES / "clever_hans_horse_tagged_1.png").pixels
    heatmap_picture(model, pixels)
    uncertainty_picture(model, pixels)
    faithfulness_picture(model, pixels)


if __name__ == "__main__":
    main()
