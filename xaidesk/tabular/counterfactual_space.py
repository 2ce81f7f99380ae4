"""Where a counterfactual may go and what counts as the wanted outcome (see :mod:`.counterfactual`).

:class:`Goal` predicts rows in batches and says which reach the wanted outcome; :class:`Space` holds,
per feature, the bounds, the scale of distances, the decimals kept, the observed values allowed and
whether it may change; :func:`search_space` builds it from the model's table and the constraints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..core import InputError, ModelError
from .models import FittedModel

#: Columns with at most this many distinct observed values take only those values.
FEW_VALUES = 10
#: For classes, how clearly the wanted class must win by default: a probability of at least 0.55
#: for two classes, so that a counterfactual does not sit on the boundary, where a slightly
#: different model flips it back.
DEFAULT_MARGIN = 0.05


def checked_margin(margin: Any, classes: bool) -> float:
    """The margin as a number (``None``: :data:`DEFAULT_MARGIN` for classes, 0 for values), or a plain refusal."""
    if margin is None:
        return DEFAULT_MARGIN if classes else 0.0
    try:
        value = float(margin)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value):
        raise InputError(f"The margin must be a finite number; got '{margin}'.")
    if classes and not 0 <= value < 0.5:
        raise InputError(f"For classes the margin is a probability from 0 to below 0.5 (0.05: the wanted class "
                         f"needs at least 55 % for two classes); got {value:g}.")
    if value < 0:
        raise InputError(f"The margin must be 0 or more, in the target's units; got {value:g}.")
    return value


class Goal:
    """The model's outcome on rows, and whether it is the wanted one, clearly (by ``margin``).

    Classification: the wanted class must be the model's answer and its probability must exceed every
    other class's by ``2 * margin`` (for two classes: reach ``0.5 + margin``); ``margin`` lies in [0, 0.5).
    Regression: the prediction must lie inside the wanted interval, at least ``margin`` (in the
    target's units) from each given end.
    """

    def __init__(self, model: FittedModel, wanted: Any, margin: Any = None):
        self.model = model
        self.classes = model.task == "classification"
        self.margin = self._margin(margin)
        if self.classes:
            names = list(model.class_names)
            if wanted is None:
                if len(names) != 2:
                    raise InputError(f"Choose the wanted class: the model has {len(names)} classes "
                                     f"({', '.join(names)}).")
                self.index = None  # "the other class", set once the row's class is known
            else:
                if str(wanted) not in names:
                    raise InputError(f"There is no class '{wanted}'; the classes are {', '.join(names)}.")
                self.index = names.index(str(wanted))
            return
        if wanted is None or isinstance(wanted, (str, bytes)) or len(tuple(wanted)) != 2:
            raise InputError("For a predicted value, give the wanted interval as (low, high); either end may "
                             "be left open.")
        low, high = (None if v is None else finite_number(v, "The wanted interval's ends") for v in wanted)
        if low is None and high is None:
            raise InputError("Give at least one end of the wanted interval (at least, at most, or both).")
        if low is not None and high is not None and low > high:
            raise InputError(f"The wanted interval is empty: at least {low:g} but at most {high:g}.")
        if low is not None and high is not None and high - low < 2 * self.margin:
            raise InputError(f"The wanted interval from {low:g} to {high:g} is narrower than twice the margin "
                             f"({self.margin:g}): widen the interval or lower the margin.")
        self.low, self.high = low, high

    def _margin(self, margin: Any) -> float:
        return checked_margin(margin, bool(self.classes))

    def evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: the output, the outcome code (a class index, or 1/0 for inside/outside the interval),
        and whether the wanted outcome is reached with the margin."""
        outputs, codes, reached = [], [], []
        for start in range(0, len(X), 8192):
            chunk = X[start:start + 8192]
            if self.classes:
                proba = np.asarray(self.model.estimator.predict_proba(chunk), dtype=float)
                classes = np.asarray(self.model.estimator.classes_)
                code = classes[np.argmax(proba, axis=1)].astype(int)
                outputs.append(proba[:, self.model.positive])
                codes.append(code)
                reached.append(np.zeros(len(code), bool) if self.index is None else
                               (code == self.index) & (self._lead(proba, classes) >= 2 * self.margin))
            else:
                value = np.asarray(self.model.estimator.predict(chunk), dtype=float).reshape(-1)
                outputs.append(value)
                codes.append(self.inside(value).astype(int))
                reached.append(self.inside(value, self.margin))
        output = np.concatenate(outputs) if outputs else np.zeros(0)
        if not np.all(np.isfinite(output)):
            raise ModelError("The model gave missing or infinite outputs on changed rows; it cannot be searched.")
        if not outputs:
            return output, np.zeros(0, int), np.zeros(0, bool)
        return output, np.concatenate(codes), np.concatenate(reached)

    def _lead(self, proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """How far the wanted class's probability exceeds the highest other one (1 with a single class)."""
        column = int(np.flatnonzero(classes == self.index)[0])
        others = np.delete(proba, column, axis=1)
        return proba[:, column] - (others.max(axis=1) if others.shape[1] else 0.0)

    def inside(self, value: np.ndarray, margin: float = 0.0) -> np.ndarray:
        ok = np.ones(len(value), bool)
        if self.low is not None:
            ok &= value >= self.low + margin
        if self.high is not None:
            ok &= value <= self.high - margin
        return ok

    def outcome_text(self, output: float, code: int) -> str:
        return self.model.class_names[code] if self.classes else f"{output:.6g}"

    def description(self) -> str:
        target = self.model.target_name
        if self.classes:
            return f"{target} = {self.model.class_names[self.index]}"
        ends = ([f"at least {self.low:g}"] if self.low is not None else []) + \
               ([f"at most {self.high:g}"] if self.high is not None else [])
        return f"predicted {target} {' and '.join(ends)}"

    def requirement(self) -> str:
        """The wanted outcome with its margin, in words: what "clearly" means here."""
        if not self.margin:
            return self.description()
        if self.classes:
            if len(self.model.class_names) == 2:
                return f"{self.description()} with a probability of at least {0.5 + self.margin:.3g}"
            return (f"{self.description()} with a probability ahead of every other class's by at least "
                    f"{2 * self.margin:.3g}")
        return f"{self.description()}, with a margin of {self.margin:g}"


def finite_number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numbers; got '{value}'.") from None
    if not np.isfinite(number):
        raise InputError(f"{what} must be finite numbers; got {value}.")
    return number


@dataclass
class Space:
    """Where each feature may go: bounds, scale, whole numbers, observed values, and which may change."""

    x0: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    scale: np.ndarray
    decimals: np.ndarray
    allowed: list
    changeable: np.ndarray
    forced: np.ndarray

    @property
    def anchor(self) -> np.ndarray:
        """The row moved into the bounds: where a change starts from."""
        return np.clip(self.x0, self.lo, self.hi)

    def snap(self, values: np.ndarray, columns: np.ndarray, away_from: np.ndarray | None = None) -> np.ndarray:
        """Values made admissible for ``columns`` (nearest; or the next one away from ``away_from``)."""
        out = np.clip(values, self.lo[columns], self.hi[columns])
        for j in np.unique(columns):
            at = columns == j
            v = out[at]
            direction = None if away_from is None else np.sign(v - away_from[at])
            if self.allowed[j] is not None:
                grid = self.allowed[j]
                i = np.clip(np.searchsorted(grid, v), 0, len(grid) - 1)
                below = grid[np.maximum(i - 1, 0)]
                above = grid[i]
                if direction is None:
                    out[at] = np.where(np.abs(v - below) <= np.abs(above - v), below, above)
                else:
                    exact = np.isclose(grid[i], v)
                    out[at] = np.where(exact, grid[i], np.where(direction > 0, above, below))
            elif self.decimals[j] >= 0:
                d = int(self.decimals[j])
                units = np.round(v * 10.0 ** d, 9)
                units = np.round(units) if direction is None else np.where(direction > 0, np.ceil(units),
                                                                             np.floor(units))
                out[at] = np.clip(np.round(units / 10.0 ** d, d), self.lo[j], self.hi[j])
        return out

    @property
    def whole(self) -> np.ndarray:
        return self.decimals == 0


def _decimals(data: np.ndarray, most: int = 4) -> np.ndarray:
    """Per column, the fewest decimals (up to ``most``) that write every observed value exactly; -1 if none do."""
    out = np.full(data.shape[1], -1)
    for d in range(most, -1, -1):
        scaled = data * 10.0 ** d
        exact = np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled)), axis=0)
        out = np.where(exact, d, out)
    return out


def search_space(model: FittedModel, x0: np.ndarray, frozen: Sequence[str], ranges: Mapping | None,
           names: list[str]) -> Space:
    data = model.X
    lo, hi = data.min(axis=0), data.max(axis=0)
    median = np.median(data, axis=0)
    scale = np.median(np.abs(data - median), axis=0)
    std = data.std(axis=0)
    scale = np.where(scale > 0, scale, np.where(std > 0, std, 1.0))
    decimals = _decimals(data)
    lo, hi = np.minimum(lo, x0), np.maximum(hi, x0)
    for name, bounds in (ranges or {}).items():
        j = names.index(name)
        if isinstance(bounds, (str, bytes)) or len(tuple(bounds)) != 2:
            raise InputError(f"The range of {name} must be two numbers (low, high); either may be left open.")
        low, high = (None if v is None else finite_number(v, f"The range of {name}") for v in bounds)
        if low is not None and high is not None and low > high:
            raise InputError(f"The range of {name} is empty: from {low:g} to {high:g}. Put the smaller end first.")
        lo[j] = low if low is not None else min(data[:, j].min(), high)
        hi[j] = high if high is not None else max(data[:, j].max(), low)
        if name in frozen and not lo[j] <= x0[j] <= hi[j]:
            raise InputError(f"{name} is frozen at {x0[j]:g}, outside its range {lo[j]:g} to {hi[j]:g}; "
                             "unfreeze it or change the range.")
    step = np.where(decimals >= 0, 10.0 ** -np.maximum(decimals, 0), 0.0)
    lo = np.where(step > 0, np.round(np.ceil(np.round(lo / np.where(step > 0, step, 1), 9)) * step, 9), lo)
    hi = np.where(step > 0, np.round(np.floor(np.round(hi / np.where(step > 0, step, 1), 9)) * step, 9), hi)
    allowed = []
    for j in range(len(names)):
        distinct = np.unique(data[:, j])
        allowed.append(distinct[(distinct >= lo[j]) & (distinct <= hi[j])] if len(distinct) <= FEW_VALUES else None)
    free = np.array([n not in frozen for n in names])
    outside = (x0 < lo) | (x0 > hi)
    room = np.array([(len(a) > 0 and np.any(a != x0[j])) if a is not None else hi[j] > lo[j] or outside[j]
                     for j, a in enumerate(allowed)]) & (lo <= hi)
    forced = free & outside
    for j in np.flatnonzero(forced & ~room):
        raise InputError(f"{names[j]} must change into its range {lo[j]:g} to {hi[j]:g}, but no allowed value "
                         "lies there; widen the range.")
    return Space(x0, lo, hi, scale, decimals, allowed, free & room, forced)

