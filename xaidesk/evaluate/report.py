"""Faithfulness results as files: curves and areas as CSV text, the curves as a PNG picture.

Used by ``python -m xaidesk evaluate`` and by the GUI's export buttons.

- ``curves.csv``: ``method,order,fraction,score`` (one line per point; ``random`` is the mean over
  the random orders);
- ``areas.csv``: one line per method with the explained class and score, ``auc_*`` and
  ``aopc_*`` per order, ``aopc_morf_minus_random``, ``aopc_lerf_minus_random`` and seconds
  (empty cells for orders not computed);
- ``curves.png``: all curves on one plot (MoRF solid and LeRF dashed, one colour per method;
  random grey), drawn with matplotlib's Agg canvas.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from ..core import InputError
from ..core.io import csv_field, csv_number
from .faithfulness import ORDERS, FaithfulnessResult

AREA_COLUMNS = ("auc_morf", "auc_lerf", "auc_random", "aopc_morf", "aopc_lerf", "aopc_random",
                "aopc_morf_minus_random", "aopc_lerf_minus_random")
#: One colour per method, in order (colour-blind-safe Okabe-Ito palette).
METHOD_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def curves_csv(results: list[FaithfulnessResult]) -> str:
    """``method,order,fraction,score`` lines (with a header and a final newline)."""
    lines = ["method,order,fraction,score"]
    for result in results:
        for order in ORDERS:
            if order in result.curves:
                lines += [f"{csv_field(result.method)},{order},{csv_number(f)},{csv_number(s)}"
                          for f, s in zip(result.fractions, result.curves[order])]
    return "\n".join(lines) + "\n"


def areas_csv(results: list[FaithfulnessResult]) -> str:
    """One line per method: target, score, the areas (see the module doc) and seconds."""
    lines = [",".join(("method", "target", "target_label", "score") + AREA_COLUMNS + ("seconds",))]
    for result in results:
        areas = result.areas()
        cells = [csv_field(result.method), str(result.target), csv_field(result.target_label), csv_number(result.score)]
        cells += [csv_number(areas[c]) for c in AREA_COLUMNS] + [csv_number(round(result.seconds, 4))]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def curves_png(results: list[FaithfulnessResult], title: str = "") -> bytes:
    """The curves as PNG bytes (drawn with matplotlib's Agg canvas, no GUI toolkit)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.8), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    random_drawn = False
    for k, result in enumerate(results):
        color = METHOD_COLORS[k % len(METHOD_COLORS)]
        if "morf" in result.curves:
            axes.plot(result.fractions, result.curves["morf"], color=color, linewidth=2.0,
                      label=f"{result.method} MoRF")
        if "lerf" in result.curves:
            axes.plot(result.fractions, result.curves["lerf"], color=color, linewidth=1.6, linestyle="--",
                      label=f"{result.method} LeRF")
        if "random" in result.curves:
            axes.plot(result.fractions, result.curves["random"], color="0.55", linewidth=1.4,
                      label=None if random_drawn else "random (baseline)")
            random_drawn = True
    score = results[0].settings.get("score", "logit") if results else "logit"
    units = results[0].units if results else ""
    axes.set_xlabel(f"fraction removed ({units})" if units else "fraction removed")
    axes.set_ylabel(f"explained score ({score})")
    axes.set_xlim(0.0, 1.0)
    axes.grid(True, alpha=0.3)
    if title:
        axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8, loc="best")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def read_results(folder) -> list[FaithfulnessResult]:
    """The results an ``evaluate`` output folder holds (its ``summary.json``), to show them again."""
    path = Path(folder) / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        return [FaithfulnessResult.from_dict(item) for item in summary["results"]]
    except FileNotFoundError:
        raise InputError(f"{Path(folder).name} holds no summary.json; choose a folder written by "
                         "'python -m xaidesk evaluate'.") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path} is not a faithfulness summary xaidesk can read ({error}).") from None
