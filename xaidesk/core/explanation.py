"""The result type every explanation method returns."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Target:
    """The explained output: a class index and its human-readable label."""

    index: int
    label: str = ""

    def to_dict(self) -> dict:
        return {"index": int(self.index), "label": self.label}


@dataclass
class Explanation:
    """What a method returns.

    Attributes
    ----------
    relevance
        Relevance map as a float numpy array. Methods return it in model-input
        coordinates; the pipeline maps it to the coordinates of the original
        input before anyone else sees it.
    method
        Registry name of the method, e.g. ``"lrp.epsilon_plus_flat"``.
    target
        The explained output.
    score
        Value of the explained output (logit) on the unperturbed input.
    params
        The parameter values used (after defaults were filled in).
    uncertainty
        Optional per-element uncertainty, same shape as ``relevance``.
    seconds
        Wall-clock time of the computation.
    extras
        Free-form method-specific results (e.g. superpixel labels, R^2).
    complete
        False for partial results reported while a method is still running.
    """

    relevance: np.ndarray
    method: str
    target: Target
    score: float = float("nan")
    params: dict = field(default_factory=dict)
    uncertainty: np.ndarray | None = None
    seconds: float = 0.0
    extras: dict = field(default_factory=dict)
    complete: bool = True

    def replace(self, **changes: Any) -> "Explanation":
        return dataclasses.replace(self, **changes)

    def summary(self) -> dict:
        """A JSON-serialisable summary (no arrays)."""
        extras = {k: v for k, v in self.extras.items() if _is_jsonable(v)}
        return {
            "method": self.method,
            "target": self.target.to_dict(),
            "score": float(self.score),
            "params": dict(self.params),
            "seconds": round(float(self.seconds), 4),
            "relevance_shape": list(self.relevance.shape),
            "relevance_sum": float(np.nansum(self.relevance)),  # NaN marks pixels the model never saw
            "has_uncertainty": self.uncertainty is not None,
            "extras": extras,
        }


def _is_jsonable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None))) or (
        isinstance(value, (list, tuple, dict)) and len(str(value)) < 10_000
    )
