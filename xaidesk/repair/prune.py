"""Pruning by explaining (Yeom et al. 2021): remove the least relevant filters and units of a network.

:func:`prune` scores every prunable unit (:mod:`xaidesk.repair.prune_scores`), removes the least
important share across all layers -- in one shot, or in ``steps`` steps with an optional
fine-tune after each -- and returns a :class:`~xaidesk.repair.result.RepairResult` with the
accuracy, parameter count and forward time before and after. Units are removed physically where
the graph allows and masked (a constant 0) elsewhere (:mod:`xaidesk.repair.prune_surgery`).
:func:`pruning_curve` measures the held-out accuracy against the pruned share for each criterion.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from ..core import CancelToken, InputError, no_progress, sub_progress
from ..core.cancel import Step
from ..models.base import LoadedModel
from .data import ImageSet
from .prune_scores import CRITERIA, prunable_layers_of, reference_samples, unit_scores
from .prune_surgery import (
    PrunableLayer, apply_pruning, check_masked_silent, mask_units, masked_parameter_count, parameter_count,
)
from .result import Comparison, RepairResult, Table, working_copy
from .training import TrainingSettings, accuracy, cross_entropy_loss, finetune

MAX_SHARE = 0.95
CURVE_FILE = "pruning_curve.csv"
CURVE_PICTURE = "pruning_curve.png"
#: Forward passes timed per model (after two untimed ones, the models taking turns); the fastest is reported.
TIMING_REPEATS = 15
TIMING_BATCH = 32
#: The shares of the criteria comparison ``prune(..., compare=True)`` measures (the chosen share is added).
COMPARE_SHARES = (0.0, 0.15, 0.3, 0.5)

__all__ = ["CRITERIA", "check_share", "forward_seconds", "prune", "pruning_curve", "reference_samples",
           "select_units", "unit_scores"]


def check_share(share: float) -> float:
    """Refuse a pruned share outside [0, 0.95] in plain words."""
    value = float(share)
    if not (0.0 <= value <= MAX_SHARE):
        raise InputError(f"The share of units to prune must be between 0 and {MAX_SHARE} (e.g. 0.3 for 30 %), "
                         f"not {share}. Pruning every unit would leave no network.")
    return value


def _layers(model: LoadedModel) -> list[PrunableLayer]:
    return prunable_layers_of(model)


def select_units(scores: dict[str, np.ndarray], count: int, excluded: dict[str, set] | None = None) -> dict[str, np.ndarray]:
    """The ``count`` lowest-scoring units across all layers, keeping at least one live unit in every layer.

    ``excluded`` holds units already pruned (masked) that are neither chosen nor counted as live.
    """
    excluded = excluded or {}
    live = {name: len(values) - len(excluded.get(name, ())) for name, values in scores.items()}
    ranking = sorted((float(value), name, unit) for name, values in scores.items() for unit, value in enumerate(values)
                     if unit not in excluded.get(name, ()))
    chosen: dict[str, list[int]] = {name: [] for name in scores}
    for _, name, unit in ranking:
        if count <= 0:
            break
        if live[name] <= 1:
            continue
        chosen[name].append(unit)
        live[name] -= 1
        count -= 1
    return {name: np.asarray(sorted(units), dtype=np.int64) for name, units in chosen.items()}


def forward_seconds(modules: list[torch.nn.Module], inputs: torch.Tensor, repeats: int | None = None) -> list[float]:
    """The fastest wall time of one forward pass over ``inputs`` for each module, of ``repeats`` timed passes.

    The modules take turns (after two untimed rounds), in alternating order, so a machine busy with other work
    slows them alike; the minimum is the time least disturbed by that work.
    """
    repeats = TIMING_REPEATS if repeats is None else int(repeats)
    times: list[list[float]] = [[] for _ in modules]
    with torch.no_grad():
        for i in range(repeats + 2):
            order = list(zip(modules, times))
            for module, kept in (order if i % 2 == 0 else order[::-1]):
                began = time.perf_counter()
                module(inputs)
                if i >= 2:
                    kept.append(time.perf_counter() - began)
    return [float(min(kept)) for kept in times]


def _timing_batch(*sets: ImageSet) -> torch.Tensor:
    inputs = torch.cat([s.inputs for s in sets if len(s)])
    return inputs[:TIMING_BATCH]


def _effective_parameters(module, layers, masked) -> int:
    return parameter_count(module) - masked_parameter_count(module, layers, masked)


def prune(model: LoadedModel, samples: ImageSet, held_out: ImageSet, *, criterion: str = "relevance",
          share: float = 0.3, steps: int = 1, train: ImageSet | None = None, settings: TrainingSettings | None = None,
          checkpoint_dir=None, token: CancelToken | None = None, progress=no_progress,
          extra_held_out: dict[str, tuple[str, ImageSet]] | None = None, seed: int = 0,
          compare: bool = False) -> RepairResult:
    """Prune ``share`` of the prunable units of ``model``, least important by ``criterion`` first.

    Parameters
    ----------
    model
        The network (left untouched; a copy is pruned).
    samples
        The labelled reference images the scores come from (a few per class).
    held_out
        Labelled images the accuracy is measured on, before and after.
    criterion
        ``"relevance"`` (Yeom et al.), ``"taylor"``, ``"magnitude"`` or ``"random"``.
    share
        The share of prunable units removed, in [0, 0.95].
    steps
        Prune in this many equal steps, scoring again before each (and fine-tuning after each when
        ``train`` and ``settings`` are given).
    train, settings, checkpoint_dir
        Fine-tuning after each step (:func:`xaidesk.repair.training.finetune`) when ``settings`` is
        given, resumable from ``checkpoint_dir/step-K``; without ``settings`` no fine-tuning is done.
    extra_held_out
        Further held-out sets, ``key -> (plain label, images)``, compared before and after.
    seed
        Seed of the random criterion.
    compare
        Also measure the held-out accuracy against the pruned share for every criterion (one shot, no
        fine-tuning; :func:`pruning_curve` at :data:`COMPARE_SHARES` and ``share``) on the same reference and
        held-out images, and add its table and picture to the result.
    """
    token = token or CancelToken()
    share = check_share(share)
    if int(steps) < 1:
        raise InputError(f"Prune in at least 1 step (not {steps}).")
    if criterion not in CRITERIA:
        raise InputError(f"Unknown pruning criterion '{criterion}'; choose one of: {', '.join(CRITERIA)}.")
    if settings is not None and (train is None or len(train) == 0):
        raise InputError("Fine-tuning after pruning needs labelled training images; give a folder to train on, "
                         "or prune without fine-tuning.")
    if settings is None:
        train = None  # images without settings: prune without fine-tuning
    edited = working_copy(model, f"{model.name} (pruned {share:.0%} by {criterion})")
    layers = _layers(edited)
    total_units = sum(layer.units for layer in layers)
    timing = _timing_batch(held_out, samples)
    before = {"accuracy": accuracy(model.module, held_out), "parameters": parameter_count(model.module)}
    extras_before = {key: accuracy(model.module, images) for key, (_, images) in (extra_held_out or {}).items()}

    masked: dict[str, set] = {}
    removed: dict[str, int] = {layer.name: 0 for layer in layers}
    histories = []
    pruned_so_far = 0
    pruning_part = 0.7 if compare else 0.9
    for step in range(int(steps)):
        token.check()
        layers = _layers(edited)
        part = sub_progress(progress, pruning_part * step / int(steps), pruning_part * (step + 1) / int(steps))
        scores = unit_scores(edited, samples, criterion, token=token, seed=seed + step, layers=layers,
                             progress=sub_progress(part, 0.0, 0.5 if train is not None else 1.0))
        target = int(round(share * total_units * (step + 1) / int(steps)))
        plan = select_units(scores, target - pruned_so_far, masked)
        for layer in layers:
            count = len(plan.get(layer.name, []))
            removed[layer.name] = removed.get(layer.name, 0) + count
            pruned_so_far += count
            if count and not layer.physical:
                masked.setdefault(layer.name, set()).update(int(u) for u in plan[layer.name])
        apply_pruning(edited.module, layers, plan)
        if train is not None:
            folder = Path(checkpoint_dir) / f"step-{step + 1}" if checkpoint_dir is not None else None
            identity = {"method": "prune", "base": model.spec, "criterion": criterion, "share": share,
                        "steps": int(steps), "step": step, "seed": seed}
            history = finetune(edited.module, train, cross_entropy_loss, settings, checkpoint_dir=folder,
                               identity=identity, after_step=_masker(_layers(edited), masked), token=token,
                               progress=sub_progress(part, 0.5, 1.0))
            histories.append(history.to_dict())
    edited.module.eval()
    layers = _layers(edited)
    check_masked_silent(edited.module, layers, masked, timing)
    after = {"accuracy": accuracy(edited.module, held_out),
             "parameters": _effective_parameters(edited.module, layers, masked)}
    before["seconds"], after["seconds"] = forward_seconds([model.module, edited.module], timing)
    progress(pruning_part + 0.05, Step.count("Pruned", pruned_so_far, total_units, "units"))
    result = _result(model, edited, layers, criterion, share, steps, settings, samples, held_out, before, after,
                     removed, masked, pruned_so_far, total_units, histories, extras_before, extra_held_out)
    result.settings["compare_criteria"] = bool(compare)
    if compare:
        shares = tuple(sorted({*COMPARE_SHARES, share}))
        table, picture = pruning_curve(model, samples, held_out, shares=shares, token=token, seed=seed,
                                       progress=sub_progress(progress, pruning_part + 0.05, 1.0))
        result.tables.append(table)
        result.images[CURVE_PICTURE] = picture
        result.notes.append(f"{CURVE_FILE} compares the criteria: held-out accuracy after one-shot pruning (no "
                            f"fine-tuning) of {', '.join(f'{s:.0%}' for s in shares)} of the units.")
    progress(1.0, Step.count("Pruned", pruned_so_far, total_units, "units"))
    return result


def _masker(layers: list[PrunableLayer], masked: dict[str, set]):
    """Zero the masked units again (run after every optimiser step, so fine-tuning never revives them)."""
    by_name = {layer.name: layer for layer in layers}
    plan = {name: sorted(units) for name, units in masked.items() if units}

    def keep_masked(module: torch.nn.Module) -> None:
        for name, units in plan.items():
            mask_units(module, by_name[name], units)

    return keep_masked


def _result(model, edited, layers, criterion, share, steps, settings, samples, held_out, before, after, removed,
            masked, pruned, total_units, histories, extras_before, extra_held_out) -> RepairResult:
    physical = [layer.name for layer in layers if layer.physical and removed.get(layer.name)]
    masked_layers = {layer.name: layer.reason for layer in layers if masked.get(layer.name)}
    how = {"relevance": "LRP relevance (Yeom et al. 2021)", "taylor": "Taylor (activation × gradient)",
           "magnitude": "weight magnitude (L1)", "random": "random choice"}[criterion]
    summary = (f"Pruned {pruned} of {total_units} units ({pruned / total_units:.0%}) of the convolution and hidden "
               f"dense layers, least important by {how} first" + (f", in {steps} steps" if steps > 1 else "")
               + (", fine-tuned after each step" if histories else "") + ".")
    edit = {"kind": "prune", "summary": summary, "criterion": criterion, "share": share, "steps": int(steps),
            "removed": {k: int(v) for k, v in removed.items() if v}, "physically_removed": physical,
            "masked": {name: sorted(int(u) for u in units) for name, units in masked.items() if units}}
    comparisons = [
        Comparison("accuracy", "held-out accuracy", before["accuracy"], after["accuracy"]),
        Comparison("parameters", "parameters (masked units not counted)", before["parameters"], after["parameters"],
                   better="lower"),
        Comparison("forward_ms", f"forward time of {TIMING_BATCH} images, fastest of {TIMING_REPEATS} interleaved "
                                 f"runs (ms)", 1000 * before["seconds"], 1000 * after["seconds"], better="lower"),
    ]
    for key, (label, images) in (extra_held_out or {}).items():
        comparisons.append(Comparison(f"accuracy_{key}", label, extras_before[key], accuracy(edited.module, images)))
    notes = [f"Units were ranked across layers after dividing each layer's scores by its mean absolute score; "
             f"{len(samples)} reference images were scored. At least one unit stays in every layer."]
    if physical:
        notes.append(f"Removed physically (the model file is smaller): layers {', '.join(physical)}.")
    for name, reason in masked_layers.items():
        notes.append(f"Layer '{name}': pruned units are masked (set to a constant 0, still stored) because {reason}.")
    settings_doc = {"criterion": criterion, "share": share, "steps": int(steps), "reference_images": len(samples),
                    "held_out_images": len(held_out), "training": asdict(settings) if settings else None}
    provenance = {"training_history": histories} if histories else {}
    return RepairResult(model=edited, method="prune", base_spec=model.spec, settings=settings_doc, edits=[edit],
                        provenance=provenance, comparisons=comparisons, notes=notes)


def pruning_curve(model: LoadedModel, samples: ImageSet, held_out: ImageSet, *,
                  shares=(0, .1, .2, .3, .4, .5, .6, .7), criteria=CRITERIA, token: CancelToken | None = None,
                  progress=no_progress, seed: int = 0) -> tuple[Table, np.ndarray]:
    """Held-out accuracy against the pruned share for each criterion (one-shot, no fine-tuning).

    Returns the table ``pruning_curve.csv`` (criterion, share, accuracy, parameters) and its picture (RGB uint8).
    """
    token = token or CancelToken()
    for share in shares:
        check_share(share)
    for criterion in criteria:
        if criterion not in CRITERIA:
            raise InputError(f"Unknown pruning criterion '{criterion}'; choose one of: {', '.join(CRITERIA)}.")
    check = working_copy(model, model.name)
    layers = _layers(check)
    total_units = sum(layer.units for layer in layers)
    rows = []
    jobs = len(criteria) * (len(shares) + 1)
    done = 0
    for criterion in criteria:
        scores = unit_scores(model, samples, criterion, token=token, seed=seed, layers=layers)
        done += 1
        for share in shares:
            token.check()
            copy_ = replace(check, module=copy.deepcopy(model.module))
            plan = select_units(scores, int(round(float(share) * total_units)))
            apply_pruning(copy_.module, layers, plan)
            masked = {layer.name: set(plan.get(layer.name, []).tolist()) for layer in layers if not layer.physical}
            rows.append([criterion, float(share), accuracy(copy_.module, held_out),
                         _effective_parameters(copy_.module, _layers(copy_), masked)])
            done += 1
            progress(done / jobs, Step.count("Pruning curve", done, jobs, "steps"))
    table = Table(CURVE_FILE, ["criterion", "share", "accuracy", "parameters"], rows)
    return table, curve_picture(table)


def curve_picture(table: Table) -> np.ndarray:
    """The accuracy-against-share lines of a pruning curve table, one per criterion (RGB uint8, matplotlib)."""
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = Figure(figsize=(6, 4), dpi=100)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for criterion in dict.fromkeys(row[0] for row in table.rows):
        points = sorted((row[1], row[2]) for row in table.rows if row[0] == criterion)
        axes.plot([100 * p[0] for p in points], [100 * p[1] for p in points], marker="o", label=criterion)
    axes.set_xlabel("pruned units (%)")
    axes.set_ylabel("held-out accuracy (%)")
    axes.set_ylim(0, 100)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
