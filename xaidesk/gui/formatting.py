"""Qt-free text helpers used by the GUI (durations, ETA, result titles)."""

from __future__ import annotations

import math

from ..core.render import class_phrase


def format_duration(seconds: float) -> str:
    """Format a duration for people: ``"0.4 s"``, ``"12 s"``, ``"3 min 05 s"``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    if seconds < 0.1:
        return f"{1000 * seconds:.0f} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def estimate_remaining(elapsed: float, fraction: float) -> float | None:
    """Seconds left, extrapolated linearly from ``elapsed`` and ``fraction`` done.

    Returns ``None`` while too little is done to say (under 1 % or 0.3 s).
    """
    if fraction <= 0.01 or elapsed < 0.3:
        return None
    if fraction >= 1.0:
        return 0.0
    return elapsed * (1.0 - fraction) / fraction


def progress_text(fraction: float, elapsed: float, message: str = "") -> str:
    """One line for the status area: ``"message – 42 % – about 8 s left"``."""
    parts = [message] if message else []
    parts.append(f"{100 * max(0.0, min(1.0, fraction)):.0f} %")
    remaining = estimate_remaining(elapsed, fraction)
    if remaining is not None:
        parts.append(f"about {format_duration(remaining)} left")
    return " – ".join(parts)


def class_text(index: int, label: str = "") -> str:
    """``"class 3"`` when the label is just the number, else ``"281: tabby cat"``."""
    if not label or label == str(index) or label == f"class {index}":
        return f"class {index}"
    return f"{index}: {label}"


def probability_text(probability: float) -> str:
    """``"97.3 %"``, or ``"<0.1 %"`` for tiny probabilities."""
    percent = 100.0 * probability
    return "<0.1 %" if 0 < percent < 0.05 else f"{percent:.1f} %"


def explanation_title(explanation, method_title: str | None = None) -> str:
    """A short title: method, target and time, e.g. ``"LRP ε+ flat · class 3 · 0.2 s"``."""
    name = method_title or explanation.method
    seconds = f" · {format_duration(explanation.seconds)}" if explanation.complete else " · running…"
    return f"{name}{target_part(explanation)}{seconds}"


def method_explains_class(method: str) -> bool:
    """Whether the registered ``method`` explains one class (False for RELAX; True when unknown)."""
    from xaidesk.core.errors import XaideskError
    from xaidesk.core.registry import get_method

    try:
        return bool(get_method(method).explains_class)
    except (XaideskError, KeyError, TypeError, ValueError):
        return True


def explained_class_text(explanation) -> str:
    """The explained class as people read it (``"class 3"``), or "" when the method explains no class."""
    if not method_explains_class(explanation.method):
        return ""
    return class_text(explanation.target.index, explanation.target.label)


def target_part(explanation) -> str:
    """``" · class 3"`` for a title, nothing for a method that explains no class."""
    text = explained_class_text(explanation)
    return f" · {text}" if text else ""


def format_value(value: float) -> str:
    """A number as a person writes it: 3 significant figures, ``"0.00429"``, ``"17.6"``, ``"12300"``.

    Magnitudes from 1e-4 up to 1e6 are written out; a tiny value is written out too while that stays
    short (``"0.0000844"``), otherwise, like a huge one, as ``"8.44 × 10⁻⁶"`` (never ``"8.44e-06"``).
    """
    if value is None or not math.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    rounded = float(f"{value:.3g}")
    exponent = math.floor(math.log10(abs(rounded)))
    plain = f"{rounded:.{max(0, 2 - exponent)}f}"
    if "." in plain:
        plain = plain.rstrip("0").rstrip(".")
    if -4 <= exponent < 6 or (exponent < -4 and len(plain.lstrip("-")) <= 9):
        return plain
    mantissa = f"{rounded / 10 ** exponent:.3g}"
    return f"{mantissa} × 10{str(exponent).translate(_SUPERSCRIPTS)}"


def format_signed(value: float) -> str:
    """:func:`format_value` with a plus sign on positive values: ``"+0.00238"``, ``"-8.44 × 10⁻⁶"``."""
    text = format_value(value)
    return f"+{text}" if value is not None and math.isfinite(value) and value > 0 else text


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


class EtaEstimator:
    """Seconds left of a sampling run, from the rate of samples since the first count.

    Start-up work (segmentation, choosing a batch size) happens before the first count and
    would make a purely fraction-based estimate too pessimistic; the rate is measured from
    the first report that carries a count.
    """

    def __init__(self) -> None:
        self._first: tuple[float, int] | None = None

    def reset(self) -> None:
        self._first = None

    def remaining(self, done: int, total: int, elapsed: float) -> float | None:
        if self._first is None or done < self._first[1]:
            self._first = (elapsed, done)
            return None
        t0, d0 = self._first
        if done <= d0 or elapsed - t0 < 0.3:
            return None
        rate = (done - d0) / (elapsed - t0)
        return max(0.0, (total - done) / rate)


def sample_progress_text(done: int, total: int, unit: str, remaining: float | None) -> str:
    """``"840 of 3000 masks · about 1 min 20 s left"`` (``"· 3 %"`` until there is an estimate)."""
    text = f"{done} of {total}" + (f" {unit}" if unit else "")
    if remaining is not None and done < total:
        text += f" · about {format_duration(remaining)} left"
    elif done < total:  # no estimate yet (the first batches)
        text += f" · {100 * done / max(total, 1):.0f} %"
    return text


def partial_title(method_title: str, target_text: str, done: int | None, total: int | None, unit: str) -> str:
    """``"LIME · class 1 · partial, 840 of 3000 samples"``; no class part when ``target_text`` is ""."""
    count = f"{done} of {total}" if done is not None and total else (f"{done}" if done is not None else "?")
    unit = f" {unit}" if unit else ""
    target = f" · {target_text}" if target_text else ""
    return f"{method_title}{target} · partial, {count}{unit}"


def statistics_parts(stats: dict, score: float, levels: tuple[float, float], target_text: str = "",
                     r2: float | None = None, signed: bool | None = None,
                     explains_class: bool = True) -> list[str]:
    """A result's statistics line in plain words, as parts to join with " · ".

    ``stats`` comes from :func:`xaidesk.core.render.relevance_stats`, ``score`` is the model's raw
    score for the explained class (NaN when the method explains no class), ``levels`` are the
    colour levels, ``target_text`` names the class and ``r2`` is LIME's local fit, if any. Maps that
    only say how much (``signed`` False, e.g. RELAX's similarities) are not summed. A method that
    explains no class (``explains_class`` False, RELAX) gets no class share and no class score.
    """
    if stats["min"] == 0 == stats["max"]:
        return ["The map is zero everywhere: nothing in the input moves what this method measures (a model "
                "with untrained weights, or a score of about zero, often does this)"]
    parts = [] if signed is False else [f"The map adds up to {format_value(stats['sum'])}"]
    parts.append(f"values from {format_value(stats['min'])} to {format_value(stats['max'])}")
    if explains_class and stats["min"] < 0 < stats["max"]:
        parts.append(f"{100 * stats['positive_share']:.0f} % of the evidence is for {class_phrase(target_text)}")
    if explains_class and score is not None and math.isfinite(score):
        parts.append(f"model's score for the class {format_value(score)}")
    low, high = levels
    parts.append(f"full colour at ±{format_value(high)}" if low == -high
                 else f"colours span {format_value(low)} to {format_value(high)}")
    if isinstance(r2, float) and math.isfinite(r2):
        parts.append(f"LIME's simple model matches the model nearby with R² = {r2:.2f} (1 is perfect)")
    return parts


#: What the low end, the middle and the high end of each colour map look like, in words.
def map_shows_sign(method: str, params: dict | None = None) -> bool | None:
    """Whether the registered ``method`` with ``params`` draws evidence for and against (``None``: unknown).

    Call it once a result exists (the methods are registered by then; before, the answer is ``None``).
    """
    from xaidesk.core.errors import XaideskError
    from xaidesk.core.registry import get_method

    try:
        return get_method(method).shows_sign(params)
    except (XaideskError, KeyError, TypeError, ValueError):
        return None
