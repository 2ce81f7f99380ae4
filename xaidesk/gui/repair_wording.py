"""The Model workflow's wording, free of Qt (tested headless).

What the "What to remove" and "Data" sections say for each repair; the "Before and after" table
(:func:`comparison_rows`: accuracies and shares as percentages, parameter counts with thousands
separators, times in ms); the titles of the pictures a repair makes; and the status lines after a
run, after Cancel, under the output folder and on the Run button.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .repair_jobs import (
    MODEL_FILE,
    RepairOutcome,
    checkpoint_folder,
    measures_artefact,
    needs_artefact,
    needs_data,
    trains,
)

#: Plain titles of the pictures a repair writes (other pictures are titled after their file name).
PICTURE_TITLES = {
    "before_after.png": "Mean heatmap of the images with the artefact: original model (left), corrected (right)",
    "pruning_curve.png": "Held-out accuracy as more units are pruned: the longer a line stays high, the better "
                         "that way of choosing units",
}


@dataclass(frozen=True)
class CompareRow:
    """One row of the "Before and after" table: the figure, both values as text, and the verdict."""

    label: str
    before: str
    after: str
    verdict: str  # "better", "worse", "same" or "" (a value could not be measured)


def number_text(value: float) -> str:
    """A figure without a unit: three significant digits (whole numbers from 1000 on, with thousands
    separators), "not measured" for NaN."""
    value = float(value)
    if math.isnan(value):
        return "not measured"
    if abs(value) >= 1000 and math.isfinite(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def figure_kind(name: str, label: str = "") -> str:
    """How the figure ``name`` (a :class:`~xaidesk.repair.result.Comparison` key) is written: ``"percent"``
    (accuracies and shares, measured as fractions), ``"count"``, ``"ms"``, ``"index"`` (the adjusted Rand
    index, two decimals) or ``"number"``."""
    name = str(name)
    if name.startswith("accuracy") or "share" in name:
        return "percent"
    if name == "parameters":
        return "count"
    if name.endswith("_ms") or "(ms)" in str(label):
        return "ms"
    if name == "spray_ari":
        return "index"
    return "number"


def value_text(value: float, kind: str = "number") -> str:
    """``value`` written as a figure of ``kind`` (see :func:`figure_kind`): ``"75.4%"``, ``"126,418"``,
    ``"29.4 ms"``, ``"0.12"``; "not measured" for NaN."""
    value = float(value)
    if math.isnan(value):
        return "not measured"
    if kind == "percent":
        return f"{100 * value:.1f}%"
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "ms":
        return f"{value:,.1f} ms"
    if kind == "index":
        text = f"{value:.2f}"
        return "0.00" if text == "-0.00" else text
    return number_text(value)


def verdict(before: float, after: float, better: str) -> str:
    """``"better"``, ``"worse"`` or ``"same"`` for a change from ``before`` to ``after``; ``""`` if one is NaN."""
    before, after = float(before), float(after)
    if math.isnan(before) or math.isnan(after):
        return ""
    if math.isclose(before, after, rel_tol=1e-3, abs_tol=1e-6):
        return "same"
    return "better" if (after > before) == (better == "higher") else "worse"


def comparison_rows(result) -> list[CompareRow]:
    """The rows of the "Before and after" table for a :class:`~xaidesk.repair.result.RepairResult`.

    A change too small to show in the written figures (``"0.00"`` to ``"0.00"``) reads as "same".
    """
    rows = []
    for c in result.comparisons:
        kind = figure_kind(getattr(c, "name", ""), c.label)
        before, after = value_text(c.before, kind), value_text(c.after, kind)
        judged = verdict(c.before, c.after, c.better)
        rows.append(CompareRow(c.label, before, after, "same" if judged and before == after else judged))
    return rows


def picture_title(file_name: str) -> str:
    """The title shown above the picture ``file_name`` of a repair's output folder."""
    name = Path(file_name).name
    return PICTURE_TITLES.get(name) or Path(name).stem.replace("_", " ").capitalize()


def artefact_note(name: str) -> str:
    """What the "What to remove" section says for the repair ``name``."""
    if needs_artefact(name):
        return ("This method removes one artefact: choose it on one of the tabs below (the tab in front is used), "
                "and the class whose decisions it drives.")
    if measures_artefact(name):
        return ("Optional: this method trains on the whole image, but if you mark an artefact here, the share of "
                "relevance it draws is measured before and after.")
    return "This method needs no artefact: it changes the whole model, so nothing needs choosing here."


def data_note(name: str) -> str:
    """What the "Data" section says for the repair ``name``."""
    if trains(name):
        return ("This method trains on these images; the held-out share is kept apart to compare the model "
                "before and after.")
    if needs_data(name):
        return "This method scores the model on these images and compares it before and after on the held-out share."
    return ("Optional: labelled images to compare the model before and after on. Without them the model is "
            "corrected but not compared.")


def finished_text(outcome: RepairOutcome) -> str:
    """The status line after a repair."""
    return f"Done in {outcome.seconds:.1f} s. The corrected model is in {outcome.out}."


def cancelled_text(name: str, out) -> str:
    """The status line after Cancel: training says where its checkpoint is and that running again resumes."""
    if trains(name):
        return (f"Stopped; run again with the same settings and output folder to resume from the checkpoint in "
                f"{checkpoint_folder(out)}.")
    return "Cancelled; nothing was written."


def output_note(name: str, out) -> str:
    """Under the output folder: what goes there (and, for training, where the checkpoint is kept)."""
    text = f"Run writes the corrected model to {Path(out) / MODEL_FILE}, with report.json and comparison.csv."
    if trains(name):
        text += (f" While training, a checkpoint is kept in {checkpoint_folder(out)}; a stopped run resumes from "
                 "it and it is removed when the model is written.")
    return text


def run_tooltip(problems: list[str], title: str) -> str:
    """The Run button's tooltip: why it is disabled, or what it does."""
    if problems:
        return "Run is not available yet: " + " ".join(problems)
    return f"Run {title} on a copy of the model and compare it before and after."
