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
   (a changed feature set not yet shown counts as distance too); an answer that only changes the
   same features further than one already shown is never picked;
5. each chosen one is predicted again; ``verified`` says the model really gives the wanted outcome.

"Valid" means *clearly* valid, by ``margin``: for classes the wanted class's probability must lead
every other class's by twice the margin (for two classes: reach 0.5 + margin; default 0.55), so
that an answer does not sit right on the boundary, where a slightly different model (retrained,
rounded) flips it back; DiCE's convention is 0.5. For a predicted value the prediction must lie the
margin (in the target's units; default 0) inside the wanted interval.

Why not the ``dice-ml`` package: version 0.12 requires xgboost and lightgbm (xgboost pulls a
~350 MB NVIDIA NCCL wheel on Linux), and its search can neither be cancelled nor report progress.
``bench/bench_counterfactual.py`` runs dice-ml beside this search, from a separate environment.

Constraints: frozen features never change; explicit ranges bound the changed values (a row value
outside a free feature's range must change into it); otherwise values stay within the observed
range; values keep the column's decimals (whole numbers stay whole, up to 4 decimals); columns with
at most :data:`FEW_VALUES` distinct values take only observed values.

This module holds the entry point, the checks of the settings and the results;
:mod:`.counterfactual_space` the wanted outcome and where values may go; :mod:`.counterfactual_search`
steps 1 to 5.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..core import CancelToken, InputError, MethodError, no_progress
from .counterfactual_search import MIN_GAP, candidate_pool, select_verified
from .counterfactual_space import DEFAULT_MARGIN, FEW_VALUES, Goal, Space, search_space
from .models import FittedModel, check_features

#: The most counterfactuals one search returns.
MAX_COUNT = 20

__all__ = ["Counterfactual", "CounterfactualResult", "check_settings", "DEFAULT_MARGIN", "FEW_VALUES", "MAX_COUNT", "MIN_GAP",
           "counterfactuals"]


@dataclass(frozen=True)
class Counterfactual:
    """One changed row: its values, the model's output and outcome, and the changes from the original.

    ``changes`` holds ``(feature, before, after)`` for each changed feature; ``distance`` is the L1
    distance to the row in median-absolute-deviation units; ``verified`` is True when predicting the
    values again gave the wanted outcome, clearly (by the margin).
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


def check_settings(names: Sequence[str], frozen: Sequence[str] | str = (), ranges: Mapping[str, tuple] | None = None,
                   count: int = 3, max_changes: int | None = None) -> list[str]:
    """Refuse unknown feature names and counts out of range before any model is fitted; the frozen names as a list."""
    names = list(names)
    frozen = [frozen] if isinstance(frozen, str) else [str(f) for f in frozen]
    _check_names(frozen, names, "freeze")
    _check_names(list(ranges or {}), names, "give a range")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= MAX_COUNT:
        raise InputError(f"The number of counterfactuals must be a whole number from 1 to {MAX_COUNT}; got {count}.")
    if max_changes is not None and (isinstance(max_changes, bool) or not isinstance(max_changes, (int, np.integer))
                                    or max_changes < 1):
        raise InputError(f"The most features to change must be a whole number of at least 1; got {max_changes}.")
    return frozen


def counterfactuals(model: FittedModel, row: Any, *, wanted: Any = None, count: int = 3, frozen: Sequence[str] = (),
                    ranges: Mapping[str, tuple] | None = None, max_changes: int | None = None,
                    margin: float | None = None, seed: int = 0, token: CancelToken | None = None,
                    progress=no_progress) -> CounterfactualResult:
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
    margin
        How clearly the wanted outcome must be reached. Classification: the wanted class's probability
        must exceed every other class's by ``2 * margin``, i.e. reach ``0.5 + margin`` for two classes
        (``None``: :data:`DEFAULT_MARGIN`, 0.55; 0 is DiCE's convention, right on the boundary).
        Regression: the prediction must lie at least ``margin`` (target units) inside the wanted
        interval (``None``: 0).
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
    frozen = check_settings(names, frozen, ranges, count, max_changes)
    goal = Goal(model, wanted, margin)
    space = search_space(model, x0, frozen, ranges, names)
    (output0,), (code0,), _ = goal.evaluate(x0[None])
    if goal.classes and goal.index is None:
        goal.index = 1 - int(code0)
    (reached0,) = goal.evaluate(x0[None])[2]
    outcome0 = goal.outcome_text(output0, code0)
    if reached0:
        raise InputError(f"The model already gives {goal.requirement()} for this row "
                         f"({model.output_name}: {output0:.3g}); choose another wanted outcome or another row.")
    if not space.changeable.any():
        raise InputError("Every feature is frozen or cannot change within its range; let at least one change.")
    n_forced = int(space.forced.sum())
    if max_changes is not None and n_forced > max_changes:
        raise InputError(f"{n_forced} features lie outside their ranges and must change, more than the "
                         f"{max_changes} allowed; widen the ranges or allow more changes.")
    pool, tried = candidate_pool(model, space, goal, max_changes, count, np.random.default_rng(seed), token, progress)
    chosen, notes = select_verified(model, space, goal, pool, count)
    cfs = [_counterfactual(space, goal, names, *found) for found in chosen]
    if not cfs:
        short = f" ({model.output_name}: {output0:.3g}; wanted: {goal.requirement()})" if goal.margin else ""
        raise MethodError(f"No counterfactual found: {_constraint_words(frozen, ranges, max_changes)}, the model "
                          f"still gives {outcome0} for this row{short}. Allow more features to change, widen the "
                          f"ranges{' or lower the margin' if goal.margin else ''}.")
    if len(cfs) < count:
        notes.append(f"Only {len(cfs)} of the {count} counterfactuals asked for were found within the constraints.")
    progress(1.0, f"Found {len(cfs)} counterfactuals")
    constraints = {"frozen": frozen, "ranges": {k: [_or_none(a), _or_none(b)] for k, (a, b) in (ranges or {}).items()},
                   "bounds": {n: [float(space.lo[j]), float(space.hi[j])] for j, n in enumerate(names)},
                   "max_changes": None if max_changes is None else int(max_changes), "count": int(count),
                   "margin": goal.margin, "requirement": goal.requirement(),
                   "seed": int(seed), "whole_numbers": [n for j, n in enumerate(names) if space.whole[j]],
                   "decimals": {n: int(space.decimals[j]) for j, n in enumerate(names) if space.decimals[j] > 0},
                   "observed_values_only": [n for j, n in enumerate(names) if space.allowed[j] is not None]}
    return CounterfactualResult(tuple(names), x0, position, float(output0), outcome0, model.output_name,
                                goal.description(), model.task, model.title, tuple(cfs), constraints, tried,
                                time.perf_counter() - start, tuple(notes))


def _counterfactual(space: Space, goal: Goal, names: list[str], values: np.ndarray, output: float,
                    code: int) -> Counterfactual:
    changes = tuple((names[j], float(space.x0[j]), float(values[j])) for j in np.flatnonzero(values != space.x0))
    return Counterfactual(values, output, goal.outcome_text(output, code), changes,
                          float((np.abs(values - space.x0) / space.scale).sum()), True)


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

