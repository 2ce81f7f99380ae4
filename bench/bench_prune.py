"""Benchmark: pruning by explaining on ``demo:clever_hans`` with generated scenes.

Run with ``.venv/bin/python bench/bench_prune.py``.

``torch.set_num_threads(2)``; the machine is shared, so timings are repeated and medians reported.

1. **Relevance collection**: the LRP relevance of every unit for the reference images (10 per class,
   20 in all) in one batched pass against the naive loop of one LRP pass per image (the same
   scores, checked). Target: batched >= 2x faster.
2. **One-shot pruning at 30 %** (relevance criterion, no fine-tuning): wall seconds of
   :func:`xaidesk.repair.prune.prune` (scoring, pruning, accuracy and timing before and after),
   with its comparisons (accuracy, parameters, forward time of 32 images).
3. **Accuracy against pruned share** for all four criteria (one shot, held-out scenes with the
   tags as in training), printed as the table ``pruning_curve.csv`` holds it.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xaidesk.explain import load_builtin_methods  # noqa: E402
from xaidesk.models import load_model  # noqa: E402
from xaidesk.repair.data import generated_clever_hans_set, split_held_out  # noqa: E402
from xaidesk.repair.prune import prune, pruning_curve  # noqa: E402
from xaidesk.repair.prune_scores import reference_samples, unit_scores  # noqa: E402
from xaidesk.repair.prune_surgery import prunable_layers  # noqa: E402

REPEATS = 3


def median_seconds(function, repeats: int = REPEATS) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def main() -> int:
    torch.set_num_threads(2)
    load_builtin_methods()
    model = load_model("demo:clever_hans")
    images = generated_clever_hans_set(model, 300, seed=0, marked="as-in-training")
    train, held_out = split_held_out(images, 0.3, seed=0)
    samples = reference_samples(train, per_class=10, seed=0)
    layers = prunable_layers(model.module, (1, 3, *model.preprocessing.size))
    print(f"demo:clever_hans, {len(samples)} reference images, {len(held_out)} held-out scenes, "
          f"{sum(layer.units for layer in layers)} prunable units in {len(layers)} layers, torch threads 2")

    unit_scores(model, samples, "relevance", layers=layers)  # warm-up
    batched_s, batched = median_seconds(lambda: unit_scores(model, samples, "relevance", layers=layers))
    naive_s, naive = median_seconds(lambda: unit_scores(model, samples, "relevance", batched=False, layers=layers))
    difference = max(float(np.abs(batched[k] - naive[k]).max()) for k in batched)
    print("\n1. relevance of every unit (LRP epsilon-plus-flat, true class)")
    print(f"   batched (one pass per 32 images): {batched_s:.3f} s")
    print(f"   per-image loop (naive baseline):  {naive_s:.3f} s")
    print(f"   ratio: {naive_s / batched_s:.1f}x faster (target >= 2x); largest score difference {difference:.2e}")

    began = time.perf_counter()
    result = prune(model, samples, held_out, criterion="relevance", share=0.3)
    seconds = time.perf_counter() - began
    print(f"\n2. one-shot pruning at 30 % by relevance: {seconds:.2f} s")
    for comparison in result.comparisons:
        print(f"   {comparison.label}: {comparison.before:.4g} -> {comparison.after:.4g}")
    print(f"   {result.edits[0]['summary']}")

    began = time.perf_counter()
    table, _ = pruning_curve(model, samples, held_out)
    print(f"\n3. accuracy against pruned share, one shot ({time.perf_counter() - began:.1f} s)")
    shares = sorted({row[1] for row in table.rows})
    print("   criterion  " + "".join(f"{share:>7.0%}" for share in shares))
    for criterion in dict.fromkeys(row[0] for row in table.rows):
        values = [row[2] for row in table.rows if row[0] == criterion]
        print(f"   {criterion:<10} " + "".join(f"{100 * v:>6.1f}%" for v in values))
    parameters = [row[3] for row in table.rows if row[0] == "relevance"]
    print("   parameters " + "".join(f"{p / 1000:>6.1f}k" for p in parameters) + "  (relevance)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
