"""The records an explaining tab keeps, and the Qt-free rules for showing them.

:class:`RunRecord` is what a running explanation needs when its results come back;
:class:`HistoryRecord` is one finished (or partial) result kept for comparison and export.
The Images and Audio tabs extend both with what their input is (an image, a clip and its
spectrogram). The functions below decide colour levels and units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import render
from .formatting import EtaEstimator, class_text, map_shows_sign, method_explains_class, statistics_parts


@dataclass(kw_only=True)
class RunRecord:
    """A running explanation: the model and method it uses and how far it got."""

    spec: str
    name: str
    method_title: str
    info: object
    params: dict
    #: What the method counts ("masks") and how many it will do, once its progress said so.
    unit: str = ""
    total: int | None = None
    eta: EtaEstimator = field(default_factory=EtaEstimator)
    #: Whether a partial result of this run has been shown.
    shown_partial: bool = False


@dataclass(kw_only=True)
class HistoryRecord:
    """One finished (or partial) result, kept for comparison and export."""

    explanation: object
    model_spec: str
    model_name: str
    method_title: str
    title: str = ""
    #: Tab-specific marks (e.g. a LIME refit and the run it came from).
    extra: dict = field(default_factory=dict)


def shows_how_much(explanation) -> bool:
    """Whether a result's map only says how much (its method's ``shows_sign`` is False), or, for a
    method the registry does not know, is a non-negative map with an uncertainty."""
    signed = map_shows_sign(getattr(explanation, "method", ""), getattr(explanation, "params", None))
    if signed is not None:
        return not signed
    relevance = explanation.relevance
    return getattr(explanation, "uncertainty", None) is not None and float(np.nanmin(relevance)) >= 0


def levels_for(explanation, max_samples: int | None = None) -> tuple[float, float] | None:
    """Colour levels of a result: a map that only says how much (RELAX's importance, sensitivity,
    squared gradients) runs over the range of its seen pixels (:func:`render.range_levels`: its low
    to its high percentile); a map with evidence for and against keeps symmetric levels around
    zero (``None``: the view's default)."""
    how_much = shows_how_much(explanation)
    if how_much or max_samples is not None:
        return render.automatic_levels(explanation.relevance, not how_much, max_samples=max_samples)
    return None


def shared_levels(explanations: list) -> list[tuple[float, float]]:
    """One colour scale per kind of map for results shown side by side, in order: maps that say for
    and against share symmetric levels; maps that only say how much share the range of all of them
    (a symmetric scale would squeeze e.g. RELAX's 0.85-0.92 into one colour)."""
    how_much = [shows_how_much(e) for e in explanations]
    signed = [e for e, unsigned in zip(explanations, how_much) if not unsigned]
    unsigned = [e for e, unsigned in zip(explanations, how_much) if unsigned]
    signed_levels = unsigned_levels = None
    if signed:
        high = max(render.symmetric_levels(e.relevance)[1] for e in signed)
        signed_levels = (-high, high)
    if unsigned:
        ranges = [render.range_levels(e.relevance) for e in unsigned]
        unsigned_levels = (min(r[0] for r in ranges), max(r[1] for r in ranges))
    return [unsigned_levels if flag else signed_levels for flag in how_much]


def unit_of(explanation) -> str:
    """What the result's method counts while it runs (the registry's ``sample_unit``: "masks",
    "patches" …); "samples" for a method that does not say or is not registered."""
    from ..core import MethodError, get_method

    try:
        return get_method(getattr(explanation, "method", "")).sample_unit or "samples"
    except MethodError:
        return "samples"


def relevance_stats_parts(stats: dict, explanation, levels: tuple[float, float]) -> list[str]:
    """The first parts of a result's statistics line in plain words (see :func:`statistics_parts`)."""
    target = explanation.target
    return statistics_parts(stats, explanation.score, levels, class_text(target.index, target.label),
                            explanation.extras.get("r2"), map_shows_sign(explanation.method, explanation.params),
                            method_explains_class(explanation.method))


def first_sentence(text: str) -> str:
    """``text`` up to the end of its first sentence."""
    text = (text or "").strip()
    end = text.find(". ")
    return text[: end + 1] if end > 0 else text


def map_unit(explanation) -> str:
    """What a value of the result's map means (the registry's ``unit``: "relevance", "score drop" …)."""
    from ..core import MethodError, get_method

    try:
        return get_method(getattr(explanation, "method", "")).unit
    except MethodError:
        return "relevance"
