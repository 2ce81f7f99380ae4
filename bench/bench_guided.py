"""Explanation-guided fine-tuning on the Clever Hans demo: does it unlearn the tag shortcut?

Usage::

    python bench/bench_guided.py                          # plain CE, RRR (auto and 1), Sun, 2 epochs
    python bench/bench_guided.py --weights auto 1 10 --epochs 3 --train 1000

``demo:clever_hans`` learned a copyright-like tag (``MARK_BOX``) as a shortcut for "horse". Each
method fine-tunes it on generated scenes with the tags as in training (the shortcut still pays off
there), with the tag box as the irrelevant region. Printed before and after, for each method:

- held-out accuracy on tag-free scenes (the horses without the tag that the shortcut misses),
- held-out accuracy on scenes that all carry the tag,
- the share of positive LRP relevance (``lrp.epsilon_plus_flat``, class horse) inside the tag box on
  tagged horses,
- the training wall time and its ratio to the plain cross-entropy fine-tune of the same run (the
  baseline: same images, settings and seed), and the wall time with the measurements;
- last, the cost of one training step of each loss, interleaved and the median taken (steadier than
  the whole runs on a machine shared with other work).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xaidesk.data.scenes import MARK_BOX  # noqa: E402
from xaidesk.explain import load_builtin_methods  # noqa: E402
from xaidesk.models import load_model  # noqa: E402
from xaidesk.repair.artefact import box_mask  # noqa: E402
from xaidesk.repair.data import generated_clever_hans_set  # noqa: E402
from xaidesk.repair.guided import _run, rrr_finetune, sun_finetune  # noqa: E402
from xaidesk.repair.training import TrainingSettings, accuracy, cross_entropy_loss  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1000, help="training scenes (default 1000)")
    parser.add_argument("--held-out", type=int, default=300, help="held-out scenes per kind (default 300)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--weights", nargs="+", default=["auto", "1"], help="RRR weights to try (numbers or auto)")
    parser.add_argument("--lams", nargs="+", type=float, default=[1.0], help="Sun lambdas to try")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_builtin_methods()
    model = load_model("demo:clever_hans")
    train = generated_clever_hans_set(model, args.train, seed=1)
    free = generated_clever_hans_set(model, args.held_out, seed=2, marked="none")
    tagged = generated_clever_hans_set(model, args.held_out, seed=2, marked="all")
    tagged_horses = tagged.of_class(0)
    mask = box_mask(tuple(train.inputs.shape[-2:]), MARK_BOX)
    settings = TrainingSettings(epochs=args.epochs, batch_size=32, learning_rate=args.learning_rate, seed=0)
    print(f"{args.train} training scenes (tags as in training), {len(free)} tag-free and {len(tagged)} tagged "
          f"held-out scenes, {args.epochs} epochs, learning rate {args.learning_rate:g}, {args.threads} threads")
    runs = [("plain CE (baseline)", lambda: _run(
        model, train, cross_entropy_loss, settings, method="ce", title="ce", options={}, summary="", mask=mask,
        held_out=free, share_images=tagged_horses, checkpoint_dir=None, token=None, progress=lambda *a: None,
        notes=[]))]
    for weight in args.weights:
        value = weight if weight == "auto" else float(weight)
        runs.append((f"RRR weight {weight}", lambda value=value: rrr_finetune(
            model, train, mask, weight=value, settings=settings, held_out=free, share_images=tagged_horses)))
    for lam in args.lams:
        runs.append((f"Sun lambda {lam:g}", lambda lam=lam: sun_finetune(
            model, train, lam=lam, settings=settings, held_out=free, mask=mask, share_images=tagged_horses)))
    baseline_seconds = None
    print(f"{'method':<22} {'acc tag-free':>15} {'acc tagged':>15} {'tag-box share':>17} {'train s':>8} {'ratio':>6} {'all s':>6}")
    for name, call in runs:
        began = time.monotonic()
        result = call()
        seconds = time.monotonic() - began
        training = result.provenance["training_seconds"]
        baseline_seconds = baseline_seconds or training
        acc, share = result.comparison("accuracy_held_out"), result.comparison("relevance_share_region")
        tagged_before, tagged_after = accuracy(model.module, tagged), accuracy(result.model.module, tagged)
        extra = f" (weight {result.settings['weight_value']:.3g})" if "weight_value" in result.settings else ""
        print(f"{name:<22} {acc.before:6.3f} -> {acc.after:5.3f} {tagged_before:6.3f} -> {tagged_after:5.3f} "
              f"{share.before:7.3f} -> {share.after:6.3f} {training:8.1f} {training / baseline_seconds:6.2f} {seconds:6.1f}{extra}")
        history = result.tables[0]
        print("    per-epoch losses: " + "; ".join(
            ", ".join(f"{h}={v:.4g}" for h, v in zip(history.header, row)) for row in history.rows))
    per_batch_costs(model, train, mask)
    return 0


def per_batch_costs(model, train, mask, rounds: int = 11) -> None:
    """Seconds per training step (loss and backward, batch 32), the losses interleaved, median of ``rounds``.

    Less exposed to other work on a shared machine than the whole runs above.
    """
    import copy

    from xaidesk.repair.guided_losses import head_after, rrr_loss, sun_loss

    module = copy.deepcopy(model.module).eval().requires_grad_(True)
    losses = {"plain CE": cross_entropy_loss, "RRR": rrr_loss(mask, 80.0), "Sun": sun_loss(head_after(module, "19"))}
    x, y = train.inputs[:32], train.labels[:32]
    times = {name: [] for name in losses}
    for _ in range(rounds):
        for name, loss in losses.items():
            began = time.perf_counter()
            value, _ = loss(module, x, y, None)
            value.backward()
            times[name].append(time.perf_counter() - began)
    base = float(np.median(times["plain CE"]))
    print("per step (median of %d): " % rounds + ", ".join(
        f"{name} {np.median(t) * 1000:.0f} ms ({np.median(t) / base:.2f}x)" for name, t in times.items()))


if __name__ == "__main__":
    sys.exit(main())
