"""Counterfactual explanations: what would have to change in a row for the model to give the wanted outcome.

The search follows DiCE's formulation (R. K. Mothilal, A. Sharma, C. Tan, FAT* 2020): a few
counterfactuals that are *valid* (the model gives the wanted outcome), *close* to the row, *sparse*
(few features changed) and *diverse* (unlike each other); distances are L1 over features scaled by
their median absolute deviation, as in S. Wachter, B. Mittelstadt, C. Russell (Harvard JOLT 2017).
It is model-agnostic and calls only the model's predictions, in batches:

1. candidates are sampled around the row, changing random subsets of the free features, one
   feature first, then two, ... (values drawn uniformly within the bounds, near the row, or taken
   from rows the model already gives the wanted outcome);
2. each valid candidate is made sparser: changes that are not needed are reverted while it stays valid;
3. each remaining change is moved back toward the row by bisection as far as the outcome allows;
4. ``count`` are chosen greedily, trading closeness against distance to those already chosen
   (a changed feature set not yet shown counts as distance too);
5. each chosen one is predicted again; ``verified`` says the model really gives the wanted outcome.

Why not the ``dice-ml`` package: version 0.12 requires xgboost and lightgbm (xgboost pulls a
~350 MB NVIDIA NCCL wheel on Linux), and its search can neither be cancelled nor report progress.
``bench/bench_counterfactual.py`` runs dice-ml beside this search, from a separate environment.

Constraints: frozen features never change; explicit ranges bound the changed values (a row value
outside a free feature's range must change into it); otherwise values stay within the observed
range; values keep the column's decimals (whole numbers stay whole, up to 4 decimals); columns with at most :data:`FEW_VALUES` distinct values
take only observed values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..core import CancelToken, InputError, MethodError, ModelError, no_progress
from .models import FittedModel, check_features

#: Columns with at most this many distinct observed values take only those values.
FEW_VALUES = 10
#: Candidates sampled per batch, batches per number of changed features, and valid ones that suffice.
BATCH = 1000
BATCHES_PER_LEVEL = 3
MAX_COUNT = 20
#: Counterfactuals closer to each other than this (MAD-scaled L1) count as the same.
MIN_GAP = 0.25
#: Weight of the distance to those already chosen against the distance to the row, when choosing.
DIVERSITY = 0.5
_POOL_CAP = 300
_BISECTIONS = 10


@dataclass(frozen=True)
class Counterfactual:
    """One changed row: its values, the model's output and outcome, and the changes from the original.

    ``changes`` holds ``(feature, before, after)`` for each changed feature; ``distance`` is the L1
    distance to the row in median-absolute-deviation units; ``verified`` is True when predicting the
    values again gave the wanted outcome.
    """

    values: np.ndarray
    output: float
    outcome: str
    changes: tuple[tuple[str, float, float], ...]
    distance: float
    verified: bool

    @property
    def changed_features(self) -> list[str]:
        return [name for name, _, _ in self.changes]

    def to_dict(self, feature_names: Sequence[str]) -> dict:
        return {"values": dict(zip(feature_names, map(float, self.values))), "output": self.output,
                "outcome": self.outcome, "distance": self.distance, "verified": self.verified,
                "changes": [{"feature": f, "from": b, "to": a} for f, b, a in self.changes]}


@dataclass(frozen=True)
class CounterfactualResult:
    """The row, what the model gives it, what was wanted, the counterfactuals found and the constraints."""

    feature_names: tuple[str, ...]
    row: np.ndarray
    row_position: int | None
    output: float
    outcome: str
    output_name: str
    wanted: str
    task: str
    model: str
    counterfactuals: tuple[Counterfactual, ...]
    constraints: dict
    candidates: int
    seconds: float
    notes: tuple[str, ...] = field(default=())

    def table_rows(self) -> list[dict]:
        """One dict per counterfactual: number, every feature's value, output, outcome, verified, changed."""
        return [{"counterfactual": i + 1, **dict(zip(self.feature_names, map(float, cf.values))),
                 "output": cf.output, "outcome": cf.outcome, "verified": cf.verified,
                 "changed": "; ".join(cf.changed_features)} for i, cf in enumerate(self.counterfactuals)]

    def to_dict(self) -> dict:
        """Everything, JSON-safe."""
        return {"model": self.model, "task": self.task, "output_name": self.output_name,
                "row": {"position": self.row_position, "values": dict(zip(self.feature_names, map(float, self.row))),
                        "output": self.output, "outcome": self.outcome},
                "wanted": self.wanted, "constraints": self.constraints, "candidates_tried": self.candidates,
                "seconds": self.seconds, "notes": list(self.notes),
                "counterfactuals": [cf.to_dict(self.feature_names) for cf in self.counterfactuals]}


class _Goal:
    """The model's outcome on rows, and whether it is the wanted one."""

    def __init__(self, model: FittedModel, wanted: Any):
        self.model = model
        self.classes = model.task == "classification"
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
        low, high = (None if v is None else _finite(v, "The wanted interval's ends") for v in wanted)
        if low is None and high is None:
            raise InputError("Give at least one end of the wanted interval (at least, at most, or both).")
        if low is not None and high is not None and low > high:
            raise InputError(f"The wanted interval is empty: at least {low:g} but at most {high:g}.")
        self.low, self.high = low, high

    def evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(output per row, outcome code per row): a class index, or 1/0 for inside/outside the interval."""
        outputs, codes = [], []
        for start in range(0, len(X), 8192):
            chunk = X[start:start + 8192]
            if self.classes:
                proba = np.asarray(self.model.estimator.predict_proba(chunk), dtype=float)
                outputs.append(proba[:, self.model.positive])
                codes.append(np.asarray(self.model.estimator.classes_)[np.argmax(proba, axis=1)].astype(int))
            else:
                value = np.asarray(self.model.estimator.predict(chunk), dtype=float).reshape(-1)
                outputs.append(value)
                codes.append(self.inside(value).astype(int))
        output = np.concatenate(outputs) if outputs else np.zeros(0)
        if not np.all(np.isfinite(output)):
            raise ModelError("The model gave missing or infinite outputs on changed rows; it cannot be searched.")
        return output, np.concatenate(codes) if codes else np.zeros(0, int)

    def inside(self, value: np.ndarray) -> np.ndarray:
        ok = np.ones(len(value), bool)
        if self.low is not None:
            ok &= value >= self.low
        if self.high is not None:
            ok &= value <= self.high
        return ok

    @property
    def wanted_code(self) -> int:
        return self.index if self.classes else 1

    def outcome_text(self, output: float, code: int) -> str:
        return self.model.class_names[code] if self.classes else f"{output:.6g}"

    def description(self) -> str:
        target = self.model.target_name
        if self.classes:
            return f"{target} = {self.model.class_names[self.index]}"
        ends = ([f"at least {self.low:g}"] if self.low is not None else []) + \
               ([f"at most {self.high:g}"] if self.high is not None else [])
        return f"predicted {target} {' and '.join(ends)}"


def _finite(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numbers; got '{value}'.") from None
    if not np.isfinite(number):
        raise InputError(f"{what} must be finite numbers; got {value}.")
    return number


@dataclass
class _Space:
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


def _space(model: FittedModel, x0: np.ndarray, frozen: Sequence[str], ranges: Mapping | None,
           names: list[str]) -> _Space:
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
        low, high = (None if v is None else _finite(v, f"The range of {name}") for v in bounds)
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
    return _Space(x0, lo, hi, scale, decimals, allowed, free & room, forced)


def _row_vector(model: FittedModel, row: Any) -> tuple[np.ndarray, int | None]:
    if isinstance(row, (int, np.integer)):
        if not 0 <= row < len(model.X):
            raise InputError(f"Row {row} does not exist: the model's table has rows 0 to {len(model.X) - 1}.")
        return model.X[int(row)].copy(), int(row)
    if np.ndim(row) != 1:
        raise InputError("Give the row as its position in the table or as one row of feature values.")
    return check_features(np.asarray(row).reshape(1, -1), len(model.feature_names))[0], None


def _check_names(names: Sequence[str], known: list[str], what: str) -> None:
    unknown = [str(n) for n in names if n not in known]
    if unknown:
        raise InputError(f"There is no feature {', '.join(map(repr, unknown))} to {what}; the features are "
                         f"{', '.join(known)}.")


def counterfactuals(model: FittedModel, row: Any, *, wanted: Any = None, count: int = 3, frozen: Sequence[str] = (),
                    ranges: Mapping[str, tuple] | None = None, max_changes: int | None = None, seed: int = 0,
                    token: CancelToken | None = None, progress=no_progress) -> CounterfactualResult:
    """Find up to ``count`` diverse counterfactuals for one row (see the module doc).

    Parameters
    ----------
    model
        A fitted readable model (:func:`~xaidesk.tabular.models.fit_table_model`).
    row
        A position into ``model.X``, or one row of feature values.
    wanted
        Classification: the wanted class's name (default: for two classes, the one the row does not
        get). Regression: ``(low, high)`` for the predicted value, either end ``None``.
    count
        How many counterfactuals to return (1 to :data:`MAX_COUNT`).
    frozen
        Features that must not change.
    ranges
        ``{feature: (low, high)}`` bounding the changed values; either end ``None`` (the observed end).
    max_changes
        Most features one counterfactual may change (``None``: any number).
    seed
        Seed of the sampling; the result is the same for the same seed.

    Raises
    ------
    InputError
        For unusable settings, or a row that already gets the wanted outcome.
    MethodError
        When no counterfactual is found within the constraints.
    """
    start = time.perf_counter()
    token = token or CancelToken()
    names = list(model.feature_names)
    x0, position = _row_vector(model, row)
    frozen = [frozen] if isinstance(frozen, str) else [str(f) for f in frozen]
    _check_names(frozen, names, "freeze")
    _check_names(list(ranges or {}), names, "give a range")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= MAX_COUNT:
        raise InputError(f"The number of counterfactuals must be a whole number from 1 to {MAX_COUNT}; got {count}.")
    if max_changes is not None and (isinstance(max_changes, bool) or not isinstance(max_changes, (int, np.integer))
                                    or max_changes < 1):
        raise InputError(f"The most features to change must be a whole number of at least 1; got {max_changes}.")
    goal = _Goal(model, wanted)
    space = _space(model, x0, frozen, ranges, names)
    (output0,), (code0,) = goal.evaluate(x0[None])
    if goal.classes and goal.index is None:
        goal.index = 1 - int(code0)
    outcome0 = goal.outcome_text(output0, code0)
    if code0 == goal.wanted_code:
        raise InputError(f"The model already gives {goal.description()} for this row ({model.output_name}: "
                         f"{output0:.3g}); "
                         "choose another wanted outcome or another row.")
    if not space.changeable.any():
        raise InputError("Every feature is frozen or cannot change within its range; let at least one change.")
    n_forced = int(space.forced.sum())
    if max_changes is not None and n_forced > max_changes:
        raise InputError(f"{n_forced} features lie outside their ranges and must change, more than the "
                         f"{max_changes} allowed; widen the ranges or allow more changes.")
    rng = np.random.default_rng(seed)
    donors = _donors(model, goal, rng)
    pool, tried = _sample_valid(space, goal, donors, max_changes, count, rng, token, progress)
    if len(pool):
        token.check()
        progress(0.7, "Reverting changes that are not needed")
        sparse = _sparsify(space, goal, pool, token)
        progress(0.8, "Moving changes back toward the row")
        pool = np.concatenate([_shrink(space, goal, sparse, token), sparse])
    cfs, notes = _select_verified(model, space, goal, pool, count, names)
    if not cfs:
        raise MethodError(f"No counterfactual found: {_constraint_words(frozen, ranges, max_changes)}, the model "
                          f"still gives {outcome0} for this row. Allow more features to change or widen the ranges.")
    if len(cfs) < count:
        notes.append(f"Only {len(cfs)} of the {count} counterfactuals asked for were found within the constraints.")
    progress(1.0, f"Found {len(cfs)} counterfactuals")
    constraints = {"frozen": frozen, "ranges": {k: [_or_none(a), _or_none(b)] for k, (a, b) in (ranges or {}).items()},
                   "bounds": {n: [float(space.lo[j]), float(space.hi[j])] for j, n in enumerate(names)},
                   "max_changes": None if max_changes is None else int(max_changes), "count": int(count),
                   "seed": int(seed), "whole_numbers": [n for j, n in enumerate(names) if space.whole[j]],
                   "decimals": {n: int(space.decimals[j]) for j, n in enumerate(names) if space.decimals[j] > 0},
                   "observed_values_only": [n for j, n in enumerate(names) if space.allowed[j] is not None]}
    return CounterfactualResult(tuple(names), x0, position, float(output0), outcome0, model.output_name,
                                goal.description(), model.task, model.title, tuple(cfs), constraints, tried,
                                time.perf_counter() - start, tuple(notes))


def _or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _constraint_words(frozen: Sequence[str], ranges: Mapping | None, max_changes: int | None) -> str:
    parts = [f"{', '.join(frozen)} frozen"] if frozen else []
    for name, (low, high) in (ranges or {}).items():
        parts.append(f"{name} from {float(low):g} to {float(high):g}" if low is not None and high is not None
                     else f"{name} at least {float(low):g}" if low is not None else f"{name} at most {float(high):g}")
    if max_changes is not None:
        parts.append(f"at most {max_changes} feature{'s' if max_changes != 1 else ''} changed")
    if not parts:
        return "with every feature free within its observed range"
    return "with " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])


def _donors(model: FittedModel, goal: _Goal, rng: np.random.Generator) -> np.ndarray:
    """Rows of the table that the model already gives the wanted outcome (values to borrow)."""
    rows = model.X if len(model.X) <= 2000 else model.X[rng.choice(len(model.X), 2000, replace=False)]
    _, codes = goal.evaluate(rows)
    return rows[codes == goal.wanted_code]


def _sample_valid(space: _Space, goal: _Goal, donors: np.ndarray, max_changes: int | None, count: int,
                  rng: np.random.Generator, token: CancelToken, progress) -> tuple[np.ndarray, int]:
    """Valid candidates, sampled changing one feature, then two, ... until enough are found."""
    columns = np.flatnonzero(space.changeable & ~space.forced)
    forced = np.flatnonzero(space.forced)
    most = len(columns) + len(forced) if max_changes is None else min(max_changes, len(columns) + len(forced))
    levels = list(range(max(1, len(forced)), most + 1))
    enough = max(60, 20 * count)
    found, tried = [], 0
    for li, k in enumerate(levels):
        for b in range(BATCHES_PER_LEVEL):
            token.check()
            progress(0.7 * (li * BATCHES_PER_LEVEL + b) / (len(levels) * BATCHES_PER_LEVEL),
                     f"Trying changes of {k} feature{'s' if k > 1 else ''}")
            X = _propose(space, columns, forced, k, donors, rng)
            _, codes = goal.evaluate(X)
            tried += len(X)
            found.append(X[(codes == goal.wanted_code) & np.any(X != space.x0, axis=1)])
        valid = np.concatenate(found)
        if len(valid) >= enough and len(np.unique(valid != space.x0, axis=0)) >= count:
            break
    pool = np.unique(np.concatenate(found), axis=0) if found else np.zeros((0, len(space.x0)))
    if len(pool) > _POOL_CAP:
        pool = pool[np.argsort(_score(space, pool), kind="stable")[:_POOL_CAP]]
    return pool, tried


def _propose(space: _Space, columns: np.ndarray, forced: np.ndarray, k: int, donors: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    n, width = BATCH, len(space.x0)
    mask = np.zeros((n, width), bool)
    mask[:, forced] = True
    extra = min(k - len(forced), len(columns))
    if extra > 0:
        picked = np.argsort(rng.random((n, len(columns))), axis=1)[:, :extra]
        mask[np.arange(n)[:, None], columns[picked]] = True
    uniform = space.lo + rng.random((n, width)) * (space.hi - space.lo)
    radius = rng.choice([0.5, 1.0, 2.0, 4.0], size=(n, 1))
    local = space.x0 + rng.normal(size=(n, width)) * space.scale * radius
    source = rng.integers(0, 3 if len(donors) else 2, size=(n, 1))
    proposal = np.where(source == 0, uniform, local)
    if len(donors):
        proposal = np.where(source == 2, donors[rng.integers(0, len(donors), n)], proposal)
    X = np.repeat(space.x0[None], n, axis=0)
    rows, cols = np.nonzero(mask)
    X[rows, cols] = space.snap(proposal[rows, cols], cols)
    return X


def _score(space: _Space, X: np.ndarray) -> np.ndarray:
    """Closeness to the row: MAD-scaled L1 distance plus one per changed feature (DiCE's proximity + sparsity)."""
    return (np.abs(X - space.x0) / space.scale).sum(axis=1) + (X != space.x0).sum(axis=1)


def _slots(space: _Space, X: np.ndarray) -> np.ndarray:
    """Per candidate, its changed (not forced) features from the smallest scaled change up; -1 pads."""
    change = np.abs(X - space.x0) / space.scale
    change = np.where((X != space.x0) & ~space.forced, change, np.inf)
    order = np.argsort(change, axis=1, kind="stable")
    return np.where(np.isfinite(np.take_along_axis(change, order, axis=1)), order, -1)


def _sparsify(space: _Space, goal: _Goal, X: np.ndarray, token: CancelToken) -> np.ndarray:
    """Revert each change that the outcome does not need, smallest first."""
    X = X.copy()
    slots = _slots(space, X)
    for s in range(slots.shape[1]):
        token.check()
        rows = np.flatnonzero(slots[:, s] >= 0)
        if not len(rows):
            break
        trial = X[rows].copy()
        cols = slots[rows, s]
        trial[np.arange(len(rows)), cols] = space.x0[cols]
        if not np.any(trial != space.x0, axis=1).all():
            keep = np.any(trial != space.x0, axis=1)
            rows, cols, trial = rows[keep], cols[keep], trial[keep]
        _, codes = goal.evaluate(trial)
        ok = codes == goal.wanted_code
        X[rows[ok]] = trial[ok]
    return X


def _shrink(space: _Space, goal: _Goal, X: np.ndarray, token: CancelToken) -> np.ndarray:
    """Move each change back toward the row by bisection while the outcome stays the wanted one."""
    X = X.copy()
    slots = _slots(space, X)
    anchor = space.anchor
    for s in range(slots.shape[1]):
        rows = np.flatnonzero(slots[:, s] >= 0)
        if not len(rows):
            break
        cols = slots[rows, s]
        target = X[rows, cols].copy()
        low, high = np.zeros(len(rows)), np.ones(len(rows))
        for _ in range(_BISECTIONS):
            token.check()
            t = (low + high) / 2
            trial = X[rows].copy()
            trial[np.arange(len(rows)), cols] = space.snap(anchor[cols] + t * (target - anchor[cols]), cols,
                                                           away_from=anchor[cols])
            _, codes = goal.evaluate(trial)
            ok = codes == goal.wanted_code
            high, low = np.where(ok, t, high), np.where(ok, low, t)
        X[rows, cols] = np.where(high < 1, space.snap(anchor[cols] + high * (target - anchor[cols]), cols,
                                                      away_from=anchor[cols]), target)
    return X


def _select_verified(model: FittedModel, space: _Space, goal: _Goal, pool: np.ndarray, count: int,
                     names: list[str]) -> tuple[list[Counterfactual], list[str]]:
    """Greedy diverse choice (closeness against distance to those chosen), each predicted again."""
    notes: list[str] = []
    if not len(pool):
        return [], notes
    pool = np.unique(pool, axis=0)
    score = _score(space, pool)
    changed = pool != space.x0
    chosen: list[int] = []
    nearest = np.full(len(pool), np.inf)
    cfs: list[Counterfactual] = []
    available = np.ones(len(pool), bool)
    while len(cfs) < count and available.any():
        gain = np.where(available, -score + DIVERSITY * np.where(np.isfinite(nearest), nearest, 0.0), -np.inf)
        i = int(np.argmax(gain))
        available[i] = False
        values = pool[i]
        output = float(model.predict_output(values[None])[0])
        _, (code,) = goal.evaluate(values[None])
        verified = bool(code == goal.wanted_code) and np.all(values[~space.changeable] == space.x0[~space.changeable])
        if not verified:
            notes.append("A candidate the search found valid gave another outcome when predicted again; it was left out.")
            continue
        chosen.append(i)
        distance_to_i = (np.abs(pool - values) / space.scale).sum(axis=1) + (changed != changed[i]).sum(axis=1)
        nearest = np.minimum(nearest, distance_to_i)
        available &= nearest > MIN_GAP
        changes = tuple((names[j], float(space.x0[j]), float(values[j])) for j in np.flatnonzero(changed[i]))
        cfs.append(Counterfactual(values.copy(), output, goal.outcome_text(output, code), changes,
                                  float((np.abs(values - space.x0) / space.scale).sum()), True))
    return cfs, notes
