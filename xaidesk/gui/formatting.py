"""Qt-free text helpers used by the GUI (durations, ETA, result titles)."""

from __future__ import annotations

import math


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
    target = explanation.target
    label = class_text(target.index, target.label)
    name = method_title or explanation.method
    seconds = f" · {format_duration(explanation.seconds)}" if explanation.complete else " · running…"
    return f"{name} · {label}{seconds}"


def format_value(value: float) -> str:
    """Compact number formatting for the value under the cursor."""
    if value is None or not math.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e4 or magnitude < 1e-3:
        return f"{value:.3e}"
    return f"{value:.4g}"
