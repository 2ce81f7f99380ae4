"""Perturbation curves shared by every input kind (Bach et al. 2015; Samek et al. 2017).

An explanation ranks the input's *units* (pixels, square patches, time-frequency patches of a
spectrogram, table features) by relevance. Removing the units in that order and recording the
explained score after each step gives a curve:

- **MoRF** (most relevant first): a faithful explanation makes the score fall fast;
- **LeRF** (least relevant first): the score should stay up as long as possible;
- **random**: the mean over several random orders, the baseline both are compared with.

Each curve has ``steps + 1`` points at removed fractions ``0, 1/steps, ..., 1`` (unit counts
rounded). Two numbers summarise a curve:

- ``auc``: the area under the curve over the fraction axis (trapezoid rule) divided by the
  unperturbed score's magnitude ``|f(x)|``, so 1.0 means "the score never moved" (raw area when
  ``|f(x)| < 1e-12``);
- ``aopc``: the area over the perturbation curve of Samek et al. (2017),
  ``1/(L+1) * sum_k (f(x) - f(x_k))`` over the ``L + 1 = steps + 1`` points, in score units.

Against the baseline: ``aopc_morf - aopc_random`` (higher is better: the ranking finds what
the model needs) and ``aopc_lerf - aopc_random`` (lower is better: what it calls irrelevant
is). Every perturbed input goes through one batched, cancellable
:func:`~xaidesk.models.inference.evaluate_perturbations` call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..core import CancelToken, InputError, no_progress
from ..models.inference import evaluate_perturbations

ORDERS = ("morf", "lerf", "random")
FILLS = ("mean", "blur", "black")
SCORE_KINDS = ("logit", "probability")


#: Upper bounds of :class:`FlipSettings`: the work grows with the random orders; seeds are 32-bit.
MAX_RANDOM_ORDERS = 100
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class FlipSettings:
    """How the input is perturbed.

    Attributes
    ----------
    orders
        Any of ``"morf"``, ``"lerf"``, ``"random"``.
    steps
        Removal steps after the unperturbed point (the curve has ``steps + 1`` points).
    patch
        Side of a removed square in input cells: 1 = pixel flipping (one pixel, or one
        spectrogram cell, at a time); larger = region perturbation; 0 = automatic (images:
        1/16 of the shorter side; spectrograms: 8). Ignored for tables (one feature per unit).
    fill
        What removed units show: ``"mean"`` (the input's mean; for tables the column mean),
        ``"blur"`` (a blurred copy) or ``"black"`` (zero intensity; silence on a spectrogram).
    random_orders, seed
        How many random orders form the baseline, and their seed.
    score
        The explained quantity: the target's ``"logit"`` or its softmax ``"probability"``
        (models with classes only).
    """

    orders: tuple[str, ...] = ORDERS
    steps: int = 20
    patch: int = 0
    fill: str = "mean"
    random_orders: int = 3
    seed: int = 0
    score: str = "logit"

    def checked(self) -> "FlipSettings":
        """These settings, validated (a plain :class:`InputError` names what is wrong)."""
        orders = tuple(dict.fromkeys(str(o).strip().lower() for o in self.orders if str(o).strip()))
        unknown = [o for o in orders if o not in ORDERS]
        if unknown or not orders:
            raise InputError(f"Unknown removal order {', '.join(unknown) or '(none)'}; choose from: {', '.join(ORDERS)}.")
        if self.fill not in FILLS:
            raise InputError(f"Unknown fill '{self.fill}'; choose one of: {', '.join(FILLS)}.")
        if self.score not in SCORE_KINDS:
            raise InputError(f"Unknown score '{self.score}'; choose one of: {', '.join(SCORE_KINDS)}.")
        if not 1 <= int(self.steps) <= 10000:
            raise InputError(f"The number of steps must be between 1 and 10000; got {self.steps}.")
        if int(self.patch) < 0:
            raise InputError(f"The patch size must be 0 (automatic) or a positive number of pixels; got {self.patch}.")
        if "random" in orders and int(self.random_orders) < 1:
            raise InputError("The random baseline needs at least one random order.")
        if int(self.random_orders) > MAX_RANDOM_ORDERS:
            raise InputError(f"At most {MAX_RANDOM_ORDERS} random orders can be averaged (each costs as much as one "
                             f"curve; the average hardly changes beyond a few dozen); got {self.random_orders}.")
        if not 0 <= int(self.seed) <= MAX_SEED:
            raise InputError(f"The seed must be a whole number from 0 to {MAX_SEED}; got {self.seed}.")
        return FlipSettings(orders, int(self.steps), int(self.patch), self.fill, int(self.random_orders),
                            int(self.seed), self.score)

    def to_dict(self) -> dict:
        return {"orders": list(self.orders), "steps": self.steps, "patch": self.patch, "fill": self.fill,
                "random_orders": self.random_orders, "seed": self.seed, "score": self.score}


def curve_auc(fractions: np.ndarray, scores: np.ndarray, reference: float) -> float:
    """Trapezoid area under ``scores`` over ``fractions``, divided by ``|reference|`` (see module doc)."""
    area = float(np.sum((scores[1:] + scores[:-1]) * np.diff(fractions)) / 2.0)
    return area / abs(reference) if abs(reference) > 1e-12 else area


def curve_aopc(scores: np.ndarray) -> float:
    """Area over the perturbation curve: mean over its points of ``scores[0] - scores[k]``."""
    return float(np.mean(scores[0] - scores))


@dataclass
class FaithfulnessResult:
    """One explanation's perturbation curves and their areas.

    Attributes
    ----------
    method
        The explanation method (registry name).
    target, target_label
        The explained class (index and name); for tables the explained score's name.
    score
        The unperturbed explained score f(x) (for tables: the mean over the evaluated rows).
    fractions
        (steps + 1,) share of the units removed at each point, 0 to 1.
    curves
        ``{order: (steps + 1,) scores}``; ``"random"`` is the mean over the random orders.
    random_spread
        (steps + 1,) standard deviation over the random orders (``None`` without them).
    units
        What was removed, in words (e.g. ``"8x8-pixel patches (16)"``).
    settings
        :meth:`FlipSettings.to_dict` plus the resolved patch size and unit count.
    seconds
        Time to explain and evaluate.
    """

    method: str
    target: int
    target_label: str
    score: float
    fractions: np.ndarray
    curves: dict[str, np.ndarray]
    random_spread: np.ndarray | None
    units: str
    settings: dict
    seconds: float = 0.0
    extras: dict = field(default_factory=dict)

    def auc(self, order: str) -> float:
        return curve_auc(self.fractions, self.curves[order], self.curves[order][0]) if order in self.curves else float("nan")

    def aopc(self, order: str) -> float:
        return curve_aopc(self.curves[order]) if order in self.curves else float("nan")

    def areas(self) -> dict[str, float]:
        """``auc_*`` and ``aopc_*`` per order, and the AOPCs against the random baseline."""
        out = {f"auc_{o}": self.auc(o) for o in ORDERS}
        out.update({f"aopc_{o}": self.aopc(o) for o in ORDERS})
        out["aopc_morf_minus_random"] = out["aopc_morf"] - out["aopc_random"]
        out["aopc_lerf_minus_random"] = out["aopc_lerf"] - out["aopc_random"]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "FaithfulnessResult":
        """The result :meth:`to_dict` wrote (areas are recomputed from the curves)."""
        spread = data.get("random_spread")
        return cls(
            method=str(data["method"]), target=int(data["target"]), target_label=str(data.get("target_label", "")),
            score=float(data["score"]), fractions=np.asarray(data["fractions"], dtype=np.float64),
            curves={str(o): np.asarray(c, dtype=np.float64) for o, c in data["curves"].items()},
            random_spread=None if spread is None else np.asarray(spread, dtype=np.float64),
            units=str(data.get("units", "")), settings=dict(data.get("settings", {})),
            seconds=float(data.get("seconds", 0.0)),
        )

    def to_dict(self) -> dict:
        """JSON-ready: everything, curves as lists (``nan`` areas of missing orders as ``None``)."""
        areas = {k: (None if not np.isfinite(v) else float(v)) for k, v in self.areas().items()}
        return {
            "method": self.method, "target": self.target, "target_label": self.target_label,
            "score": float(self.score), "units": self.units, "settings": dict(self.settings),
            "fractions": [float(f) for f in self.fractions],
            "curves": {o: [float(s) for s in c] for o, c in self.curves.items()},
            "random_spread": None if self.random_spread is None else [float(s) for s in self.random_spread],
            **areas, "seconds": round(float(self.seconds), 4),
        }


def removal_counts(n_units: int, steps: int) -> np.ndarray:
    """Units removed at each point, 0 to ``n_units`` in ``steps`` steps (rounded; at most one step per unit)."""
    steps = max(1, min(int(steps), int(n_units)))
    return np.round(np.linspace(0, n_units, steps + 1)).astype(int)


def removal_orders(unit_relevance: np.ndarray, settings: FlipSettings, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """``[(order name, permutation of the units)]``: MoRF, LeRF, then ``random_orders`` random ones.

    Ties keep the units' own order (stable sort), also for LeRF. Non-finite relevance ranks last
    for MoRF and first for LeRF (treated as unknown, i.e. least relevant).
    """
    rel = np.asarray(unit_relevance, dtype=np.float64).ravel()
    rel = np.where(np.isfinite(rel), rel, -np.inf)
    out = []
    if "morf" in settings.orders:
        out.append(("morf", np.argsort(-rel, kind="stable")))
    if "lerf" in settings.orders:
        out.append(("lerf", np.argsort(rel, kind="stable")))
    if "random" in settings.orders:
        out.extend(("random", rng.permutation(rel.size)) for _ in range(settings.random_orders))
    return out


def evaluate_jobs(
    module: Callable[[torch.Tensor], torch.Tensor],
    inputs_of: Callable[[int], torch.Tensor],
    n_jobs: int,
    *,
    per_job: int = 1,
    token: CancelToken | None = None,
    progress=no_progress,
    message: str = "Perturbation curves",
    model_name: str = "the model",
) -> torch.Tensor:
    """Outputs (n_jobs * per_job, K) of every perturbed input, through one batched engine call.

    ``inputs_of(job)`` returns that job's ``per_job`` model inputs (e.g. the windows of one
    perturbed spectrogram). The token is checked before every job's inputs are built, so a cancel
    takes effect within a batch's preparation.
    """
    token = token or CancelToken()
    cache: dict[int, torch.Tensor] = {}

    def job_inputs(job: int) -> torch.Tensor:
        if job not in cache:
            token.check()
            cache.clear()
            cache[job] = inputs_of(job)
        return cache[job]

    def make_batch(start: int, stop: int) -> torch.Tensor:
        parts, sample = [], start
        while sample < stop:
            job, offset = divmod(sample, per_job)
            take = min(stop - sample, per_job - offset)
            parts.append(job_inputs(job)[offset:offset + take])
            sample += take
        return torch.cat(parts)

    return evaluate_perturbations(module, make_batch, n_jobs * per_job, token=token, progress=progress,
                                  message=message, model_name=model_name)


def explained_scores(outputs: torch.Tensor, target: int, kind: str) -> np.ndarray:
    """The target's logits or softmax probabilities from (N, K) outputs, float64."""
    if kind == "probability":
        return torch.softmax(outputs.double(), dim=1)[:, int(target)].numpy()
    return outputs[:, int(target)].double().numpy()


def assemble(
    method: str, target: int, target_label: str, orders: list[tuple[str, np.ndarray]], counts: np.ndarray,
    n_units: int, scores: np.ndarray, units: str, settings: FlipSettings, **extra_settings,
) -> FaithfulnessResult:
    """Build the result from job scores laid out as (len(orders), len(counts))."""
    names = [name for name, _ in orders]
    table = np.asarray(scores, dtype=np.float64).reshape(len(orders), len(counts))
    curves: dict[str, np.ndarray] = {}
    for order in ORDERS:
        rows = [i for i, n in enumerate(names) if n == order]
        if rows:
            curves[order] = table[rows].mean(axis=0)
    random_rows = [i for i, n in enumerate(names) if n == "random"]
    spread = table[random_rows].std(axis=0) if random_rows else None
    return FaithfulnessResult(
        method=method, target=int(target), target_label=str(target_label), score=float(table[0, 0]),
        fractions=counts / max(n_units, 1), curves=curves, random_spread=spread, units=units,
        settings={**settings.to_dict(), "units": int(n_units), "steps_used": len(counts) - 1, **extra_settings},
    )
