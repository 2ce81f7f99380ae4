"""The counterfactual search itself (see :mod:`.counterfactual`): sampling, sparsifying, bisection, diverse choice.

Every step calls only the model's predictions, in batches, through a :class:`~.counterfactual_space.Goal`,
and keeps values admissible through a :class:`~.counterfactual_space.Space`.
"""

from __future__ import annotations

import numpy as np

from ..core import CancelToken
from .counterfactual_space import Goal, Space
from .models import FittedModel

#: Candidates sampled per batch, batches per number of changed features, and valid ones that suffice.
BATCH = 1000
BATCHES_PER_LEVEL = 3
#: Counterfactuals closer to each other than this (MAD-scaled L1) count as the same.
MIN_GAP = 0.25
#: Weight of the distance to those already chosen against the distance to the row, when choosing.
DIVERSITY = 0.5
_POOL_CAP = 300
_BISECTIONS = 10


def candidate_pool(model: FittedModel, space: Space, goal: Goal, max_changes: int | None, count: int,
                   rng: np.random.Generator, token: CancelToken, progress) -> tuple[np.ndarray, int]:
    """Valid candidates, sampled, made sparse and moved toward the row; and how many candidates were tried."""
    donors = donors_of(model, goal, rng)
    pool, tried = sample_valid(space, goal, donors, max_changes, count, rng, token, progress)
    if len(pool):
        token.check()
        progress(0.7, "Reverting changes that are not needed")
        sparse = sparsify(space, goal, pool, token)
        progress(0.8, "Moving changes back toward the row")
        pool = np.concatenate([shrink(space, goal, sparse, token), sparse])
    return pool, tried


def donors_of(model: FittedModel, goal: Goal, rng: np.random.Generator) -> np.ndarray:
    """Rows of the table that the model already gives the wanted outcome (values to borrow)."""
    rows = model.X if len(model.X) <= 2000 else model.X[rng.choice(len(model.X), 2000, replace=False)]
    return rows[goal.evaluate(rows)[2]]


def sample_valid(space: Space, goal: Goal, donors: np.ndarray, max_changes: int | None, count: int,
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
            reached = goal.evaluate(X)[2]
            tried += len(X)
            found.append(X[reached & np.any(X != space.x0, axis=1)])
        valid = np.concatenate(found)
        if len(valid) >= enough and len(np.unique(valid != space.x0, axis=0)) >= count:
            break
    pool = np.unique(np.concatenate(found), axis=0) if found else np.zeros((0, len(space.x0)))
    if len(pool) > _POOL_CAP:
        pool = pool[np.argsort(_score(space, pool), kind="stable")[:_POOL_CAP]]
    return pool, tried


def _propose(space: Space, columns: np.ndarray, forced: np.ndarray, k: int, donors: np.ndarray,
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


def _score(space: Space, X: np.ndarray) -> np.ndarray:
    """Closeness to the row: MAD-scaled L1 distance plus one per changed feature (DiCE's proximity + sparsity)."""
    return (np.abs(X - space.x0) / space.scale).sum(axis=1) + (X != space.x0).sum(axis=1)


def _slots(space: Space, X: np.ndarray) -> np.ndarray:
    """Per candidate, its changed (not forced) features from the smallest scaled change up; -1 pads."""
    change = np.abs(X - space.x0) / space.scale
    change = np.where((X != space.x0) & ~space.forced, change, np.inf)
    order = np.argsort(change, axis=1, kind="stable")
    return np.where(np.isfinite(np.take_along_axis(change, order, axis=1)), order, -1)


def sparsify(space: Space, goal: Goal, X: np.ndarray, token: CancelToken) -> np.ndarray:
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
        ok = goal.evaluate(trial)[2]
        X[rows[ok]] = trial[ok]
    return X


def shrink(space: Space, goal: Goal, X: np.ndarray, token: CancelToken) -> np.ndarray:
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
            ok = goal.evaluate(trial)[2]
            high, low = np.where(ok, t, high), np.where(ok, low, t)
        X[rows, cols] = np.where(high < 1, space.snap(anchor[cols] + high * (target - anchor[cols]), cols,
                                                      away_from=anchor[cols]), target)
    return X


def select_verified(model: FittedModel, space: Space, goal: Goal, pool: np.ndarray,
                    count: int) -> tuple[list[tuple[np.ndarray, float, int]], list[str]]:
    """Greedy diverse choice (closeness against distance to those chosen), each predicted again.

    A candidate dominated by one already chosen (see :func:`dominated_by`) is never chosen; when
    fewer than ``count`` remain for that reason, fewer are returned and a note says why.
    Returns ``(values, output, outcome code)`` of each chosen counterfactual, and notes.
    """
    notes: list[str] = []
    if not len(pool):
        return [], notes
    pool = np.unique(pool, axis=0)
    score = _score(space, pool)
    changed = pool != space.x0
    nearest = np.full(len(pool), np.inf)
    chosen: list[tuple[np.ndarray, float, int]] = []
    available = np.ones(len(pool), bool)
    dominated = np.zeros(len(pool), bool)
    while len(chosen) < count and available.any():
        gain = np.where(available, -score + DIVERSITY * np.where(np.isfinite(nearest), nearest, 0.0), -np.inf)
        i = int(np.argmax(gain))
        available[i] = False
        values = pool[i]
        output = float(model.predict_output(values[None])[0])
        _, (code,), (reached,) = goal.evaluate(values[None])
        verified = bool(reached) and np.all(values[~space.changeable] == space.x0[~space.changeable])
        if not verified:
            notes.append("A candidate the search found valid gave another outcome when predicted again; it was left out.")
            continue
        distance_to_i = (np.abs(pool - values) / space.scale).sum(axis=1) + (changed != changed[i]).sum(axis=1)
        nearest = np.minimum(nearest, distance_to_i)
        available &= nearest > MIN_GAP
        newly = available & dominated_by(space.x0, values, pool)
        dominated |= newly
        available &= ~newly
        chosen.append((values.copy(), output, int(code)))
    if len(chosen) < count and dominated.any():
        notes.append(f"{int(dominated.sum())} other answer{'s' if dominated.sum() > 1 else ''} found only changed "
                     "the same features further than an answer shown, so "
                     f"{'they were' if dominated.sum() > 1 else 'it was'} left out.")
    return chosen, notes


def dominated_by(x0: np.ndarray, chosen: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Which rows of ``X`` ask for more than ``chosen`` does: the same changes or more, each as far or further.

    A row is dominated when it changes every feature ``chosen`` changes (and maybe others), each in
    the same direction from ``x0`` and at least as far; it is then a worse answer than ``chosen``.
    """
    step = chosen - x0
    moved = step != 0
    delta = X[:, moved] - x0[moved]
    same_way = np.sign(delta) == np.sign(step[moved])
    further = np.abs(delta) >= np.abs(step[moved])
    return np.all(same_way & further, axis=1) & bool(moved.any())
