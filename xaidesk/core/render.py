"""Colour maps, colour levels and overlays: rendering decisions made headless.

The GUI shows what these functions compute; the CLI writes the same pictures.
"""

from __future__ import annotations

import numpy as np


def _lut(stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """Linear interpolation of RGB control points into a (256, 3) uint8 table."""
    positions = np.array([p for p, _ in stops], dtype=np.float64)
    colours = np.array([c for _, c in stops], dtype=np.float64)
    grid = np.linspace(0.0, 1.0, 256)
    table = np.stack([np.interp(grid, positions, colours[:, k]) for k in range(3)], axis=1)
    return np.round(table).astype(np.uint8)


COLORMAPS: dict[str, np.ndarray] = {
    # zennit's "coldnhot": cyan-blue for negative, black at zero, red-yellow for positive.
    "coldnhot": _lut([(0.0, (0, 255, 255)), (0.25, (0, 0, 255)), (0.5, (0, 0, 0)), (0.75, (255, 0, 0)), (1.0, (255, 255, 0))]),
    "bwr": _lut([(0.0, (0, 0, 255)), (0.5, (255, 255, 255)), (1.0, (255, 0, 0))]),
    "seismic": _lut([(0.0, (0, 0, 77)), (0.25, (0, 0, 255)), (0.5, (255, 255, 255)), (0.75, (255, 0, 0)), (1.0, (128, 0, 0))]),
    "purple_green": _lut([(0.0, (64, 0, 75)), (0.25, (153, 112, 171)), (0.5, (247, 247, 247)), (0.75, (90, 174, 97)), (1.0, (0, 68, 27))]),
    "gray": _lut([(0.0, (0, 0, 0)), (1.0, (255, 255, 255))]),
    "hot": _lut([(0.0, (0, 0, 0)), (0.4, (230, 0, 0)), (0.8, (255, 210, 0)), (1.0, (255, 255, 255))]),
    "viridis": _lut([
        (0.0, (68, 1, 84)), (0.25, (59, 82, 139)), (0.5, (33, 145, 140)), (0.75, (94, 201, 98)), (1.0, (253, 231, 37)),
    ]),
}
DIVERGING_COLORMAPS = ("coldnhot", "bwr", "seismic", "purple_green")
SEQUENTIAL_COLORMAPS = ("viridis", "hot", "gray")
DEFAULT_COLORMAP = "bwr"
#: Sequential colour map of "how much" maps (RELAX importance, sensitivity, squared gradients):
#: black for little, yellow to white for much -- nothing in it reads as "against".
UNSIGNED_COLORMAP = "hot"


def _subsample(values: np.ndarray, max_samples: int | None) -> np.ndarray:
    flat = np.asarray(values).ravel()
    if max_samples is not None and flat.size > max_samples:
        flat = flat[:: int(np.ceil(flat.size / max_samples))]
    return flat


def symmetric_levels(relevance: np.ndarray, percentile: float = 99.5, max_samples: int | None = None) -> tuple[float, float]:
    """Levels (-m, m) centred on zero, m the ``percentile`` of |relevance|.

    A percentile rather than the maximum keeps one extreme pixel from washing
    out the map. ``max_samples`` estimates the percentile from an evenly
    strided subset (fast for live previews of large images). Returns (-1, 1)
    for an all-zero or non-finite map.
    """
    values = np.abs(_subsample(relevance, max_samples).astype(np.float64))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return -1.0, 1.0
    m = float(np.percentile(values, percentile)) if percentile < 100 else float(values.max())
    if m <= 0:
        m = float(values.max())
    if m <= 0:
        return -1.0, 1.0
    return -m, m


def range_levels(values: np.ndarray, percentile: float = 99.5, max_samples: int | None = None) -> tuple[float, float]:
    """Levels (low, high) for non-negative maps such as uncertainty."""
    values = _subsample(values, max_samples).astype(np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(np.percentile(values, 100 - percentile)), float(np.percentile(values, percentile))
    if high <= low:
        high = low + 1.0
    return low, high


def normalize(values: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    """Map ``values`` linearly so ``levels`` become 0 and 1, clipped."""
    low, high = levels
    span = high - low if high > low else 1.0
    out = (np.asarray(values, dtype=np.float64) - low) / span
    return np.clip(np.nan_to_num(out, nan=0.5), 0.0, 1.0)


def colorize(values: np.ndarray, levels: tuple[float, float] | None = None, cmap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """Colour a 2-D map with a LUT; returns (H, W, 3) uint8."""
    if cmap not in COLORMAPS:
        raise ValueError(f"unknown colour map {cmap!r}; choose one of {', '.join(COLORMAPS)}")
    if levels is None:
        levels = symmetric_levels(values)
    index = np.round(normalize(values, levels) * 255).astype(np.intp)
    return COLORMAPS[cmap][index]


def grayscale(image: np.ndarray) -> np.ndarray:
    """The grey (H, W, 3) uint8 version of an RGB image shown under heatmaps."""
    gray = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) if image.ndim == 3 else image.astype(np.float64)
    return np.repeat(np.clip(np.round(gray), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def automatic_colormap(signed: bool | None) -> str:
    """The colour map for a map that shows for and against (``signed``) or only how much."""
    return UNSIGNED_COLORMAP if signed is False else DEFAULT_COLORMAP


def automatic_levels(relevance: np.ndarray, signed: bool | None,
                     max_samples: int | None = None) -> tuple[float, float]:
    """Colour levels: the seen range of a "how much" map, symmetric around zero otherwise."""
    if signed is False:
        return range_levels(relevance, max_samples=max_samples)
    return symmetric_levels(relevance, max_samples=max_samples)


def blend_overlay(
    image: np.ndarray,
    relevance: np.ndarray,
    cmap: str = DEFAULT_COLORMAP,
    opacity: float = 0.6,
    levels: tuple[float, float] | None = None,
) -> np.ndarray:
    """Blend a coloured relevance map over an RGB uint8 image of the same size.

    The image is shown in grey underneath so the colours of the map stay readable.
    NaN marks pixels the model never saw: they stay plain grey, with no colour.
    """
    if image.shape[:2] != relevance.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and relevance {relevance.shape[:2]} differ in size")
    opacity = float(np.clip(opacity, 0.0, 1.0))
    base = grayscale(image).astype(np.float64)
    heat = colorize(relevance, levels, cmap).astype(np.float64)
    alpha = np.where(np.isnan(np.asarray(relevance, dtype=np.float64)), 0.0, opacity)[..., None]
    out = (1.0 - alpha) * base + alpha * heat
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def unseen_count(relevance: np.ndarray) -> int:
    """How many pixels of a map the model never saw (NaN by the pipeline's convention)."""
    return int(np.count_nonzero(np.isnan(np.asarray(relevance, dtype=np.float64))))


#: What the grey, uncoloured pixels of a map mean (said under views and figures).
UNSEEN_NOTE = "uncoloured: not seen by the model (cut off by its preprocessing)"

#: Plain words for each colour map's low end, middle and high end.
COLOUR_WORDS = {
    "coldnhot": ("blue to cyan", "black", "red to yellow"),
    "bwr": ("blue", "white", "red"),
    "seismic": ("blue", "white", "red"),
    "purple_green": ("purple", "white", "green"),
    "gray": ("black", "grey", "white"),
    "hot": ("black", "red", "yellow to white"),
    "viridis": ("dark purple", "green", "yellow"),
}


def colour_kind(minimum: float, levels: tuple[float, float], uncertainty: bool = False,
                signed: bool | None = None) -> str:
    """``"uncertainty"``, ``"signed"`` (a map with evidence for and against, shown around zero)
    or ``"unsigned"`` (only how much, e.g. RELAX's importance or squared gradients).

    ``signed`` is what the method's registry entry says (``MethodInfo.shows_sign``); ``None`` (unknown)
    decides from the map: signed when it holds negative values.
    """
    if uncertainty:
        return "uncertainty"
    if levels[0] >= 0 or signed is False:
        return "unsigned"
    return "signed" if signed or minimum < 0 else "unsigned"


def colour_meaning(kind: str, class_name: str = "", colormap: str = "bwr",
                   levels: tuple[float, float] = (-1.0, 1.0), unseen: bool = False) -> str:
    """What the colours of a colour bar mean, e.g. ``"red: evidence for 'cat' · blue: against"``.

    ``kind`` comes from :func:`colour_kind`; ``class_name`` names the explained class (empty for
    methods that explain no class); ``unseen`` adds that transparent pixels were not seen by the model.
    """
    low, middle, high = COLOUR_WORDS.get(colormap, ("the low end", "the middle", "the high end"))
    if kind == "uncertainty":
        text = f"{high}: less certain · {low}: more certain"
    elif kind == "signed":
        text = f"{high}: evidence for {class_phrase(class_name)} · {low}: against · {middle}: neither"
    else:
        # A diverging map's middle is zero: below it lies the other sign, not "less".
        less = middle if levels[0] < 0 and colormap in DIVERGING_COLORMAPS else low
        text = f"{high}: more important · {less}: less important"
    return text + (" · transparent: not seen by the model" if unseen else "")


def map_colour_meaning(relevance: np.ndarray, class_name: str = "", cmap: str = DEFAULT_COLORMAP,
                       signed: bool | None = None, levels: tuple[float, float] | None = None) -> str:
    """:func:`colour_meaning` for a whole map drawn with ``levels`` (default: :func:`automatic_levels`)."""
    seen = relevance[np.isfinite(relevance)]
    minimum = float(seen.min()) if seen.size else 0.0
    levels = automatic_levels(relevance, signed) if levels is None else levels
    return colour_meaning(colour_kind(minimum, levels, signed=signed), class_name, cmap, levels)


def class_phrase(class_name: str) -> str:
    """``"'tabby cat'"`` quoted, ``"class 3"`` as it is, ``"the class"`` when there is no name."""
    if not class_name:
        return "the class"
    return class_name if class_name.startswith("class ") else f"'{class_name}'"


def figure_bytes(
    image: np.ndarray,
    relevance: np.ndarray,
    *,
    title: str,
    colorbar_label: str,
    cmap: str = DEFAULT_COLORMAP,
    opacity: float = 0.6,
    levels: tuple[float, float] | None = None,
    decoration: np.ndarray | None = None,
    file_format: str = "png",
    dpi: int = 150,
) -> bytes:
    """A titled figure of the overlay with a labelled colour bar, drawn off-screen with matplotlib.

    Parameters
    ----------
    image, relevance
        The opened image (H, W, 3) uint8 and its map (H, W) in the same coordinates; NaN pixels
        (not seen by the model) stay grey and are explained under the picture.
    title
        The figure's title (method, class, model).
    colorbar_label
        What the colour bar measures and what its colours mean.
    cmap, opacity, levels
        As in :func:`blend_overlay`; ``levels`` default to :func:`symmetric_levels`.
    decoration
        An optional (H, W, 4) uint8 layer drawn over the overlay (e.g. superpixel borders).
    file_format
        ``"png"``, ``"pdf"`` or ``"svg"``.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.figure import Figure

    if file_format not in ("png", "pdf", "svg"):
        raise ValueError(f"unknown figure format {file_format!r}; choose png, pdf or svg")
    if levels is None:
        levels = symmetric_levels(relevance)
    picture = blend_overlay(image, relevance, cmap=cmap, opacity=opacity, levels=levels)
    if decoration is not None:
        alpha = decoration[..., 3:4].astype(np.float64) / 255.0
        picture = np.clip(np.round((1 - alpha) * picture + alpha * decoration[..., :3]), 0, 255).astype(np.uint8)
    height, width = picture.shape[:2]
    aspect = width / max(height, 1)
    figure = Figure(figsize=(min(max(4.0 * aspect, 3.0), 10.0) + 1.6, 4.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.imshow(picture, interpolation="nearest" if max(height, width) < 512 else "antialiased")
    axes.set_axis_off()
    axes.set_title(title, fontsize=10, wrap=True)
    mappable = ScalarMappable(Normalize(*levels), ListedColormap(COLORMAPS[cmap] / 255.0))
    bar = figure.colorbar(mappable, ax=axes, fraction=0.05, pad=0.02)
    bar.set_label(colorbar_label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    unseen = unseen_count(relevance)
    if unseen:
        axes.text(0.5, -0.02, f"{UNSEEN_NOTE.capitalize()}: {unseen} pixels.", transform=axes.transAxes,
                  ha="center", va="top", fontsize=7, wrap=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=file_format, dpi=dpi)
    return buffer.getvalue()


def save_figure(path, image: np.ndarray, relevance: np.ndarray, **options):
    """Write :func:`figure_bytes` to ``path`` atomically; the format follows the suffix (.png, .pdf, .svg)."""
    from pathlib import Path

    from .io import write_bytes_atomic

    path = Path(path)
    file_format = path.suffix.lower().lstrip(".") or "png"
    return write_bytes_atomic(path, figure_bytes(image, relevance, file_format=file_format, **options))


def figure_title(method_title: str, class_text: str, model_name: str) -> str:
    """The title of an exported figure: method, class and model, e.g. "LRP · class 3 · digits CNN".

    An empty ``class_text`` (a method that explains no class, RELAX) leaves the class out.
    """
    if not class_text:
        return f"{method_title} · {model_name}"
    target = class_text if class_text.startswith("class ") else f"class {class_text}"
    return f"{method_title} · {target} · {model_name}"


def relevance_stats(relevance: np.ndarray) -> dict:
    """Summary numbers shown beside a heatmap."""
    r = np.asarray(relevance, dtype=np.float64)
    finite = r[np.isfinite(r)]
    if finite.size == 0:
        return {"sum": 0.0, "min": 0.0, "max": 0.0, "positive_share": 0.0}
    positive = finite[finite > 0].sum()
    total_abs = np.abs(finite).sum()
    return {
        "sum": float(finite.sum()),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "positive_share": float(positive / total_abs) if total_abs > 0 else 0.0,
    }
