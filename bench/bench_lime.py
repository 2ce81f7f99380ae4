"""Benchmark: LIME against the ``lime`` package, plain inference and plain i.i.d. sampling.

Run with ``.venv/bin/python bench/bench_lime.py [--quick]``.

Model: torchvision ResNet-18 with random weights (no download), one 224x224 input (the
astronaut photo from scikit-image, ImageNet preprocessing), CPU, 2 threads. The explained class
is the model's top class. All baselines are measured in the same run; ratios are printed against
them.

1. **Throughput.** Plain batched inference of the unperturbed input at several batch sizes (best
   one is the baseline) against masked samples per second inside ``lime`` runs (segmentation,
   masking, softmax, partial refits included; from the engine's own timing and from wall time).
2. **Convergence.** A long reference run (i.i.d. ``lime`` sampling, ``--ref-samples``, default
   10x the 500-sample convergence runs) defines the "true" superpixel weights. Runs with several seeds
   of each sampling scheme are refitted on their first n samples; the samples needed to reach
   Pearson >= 0.95 with the reference (and to stay there on the grid) are compared against
   plain i.i.d. sampling (``sampling="lime"``, lime's own scheme).
3. **Against the reference implementation.** ``lime.lime_image.LimeImageExplainer`` at its
   defaults (1000 samples, quickshift(kernel_size=4, max_dist=200, ratio=0.2), batch_size=10,
   hide colour = superpixel mean) on the same image and model, wall time; its fidelity is the
   Pearson of its weights with the reference. xaidesk runs with the same segmentation and the
   default (variance-reduced) sampling, with the number of samples it needs for Pearson >= 0.95
   (and, separately, for lime's own fidelity), timed end to end.

Timings are medians of the repeats (the machine is shared).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xaidesk.core import CancelToken, get_method  # noqa: E402
from xaidesk.explain.lime import DEFAULT_SAMPLING, fit_surrogate  # noqa: E402
from xaidesk.models.base import LoadedModel  # noqa: E402
from xaidesk.models.preprocessing import IMAGENET  # noqa: E402

THRESHOLD = 0.95
SEGMENTATION = {"segmentation": "quickshift", "kernel_size": 4.0, "max_dist": 200.0, "ratio": 0.2}


def build() -> LoadedModel:
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval()
    return LoadedModel(spec="torchvision:resnet18", name="resnet18", module=net, preprocessing=IMAGENET,
                       class_names=[str(i) for i in range(1000)], architecture="resnet18")


def ours(model, x, target, **params):
    info = get_method("lime")
    resolved = info.resolve_params({**SEGMENTATION, **params})
    return info.function(model, x, target, params=resolved, token=CancelToken(), progress=lambda *a, **k: None)


def weights_at(explanation, n, target):
    e = explanation.extras
    return fit_surrogate(e["design"][:n], e["outputs"][:n, target], e["sample_weights"][:n], e["alpha"])[0]


def pearson(a, b) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def samples_needed(curve: list[tuple[int, float]]) -> float:
    """Smallest n of the grid from which on Pearson stays >= THRESHOLD (inf if never)."""
    needed = float("inf")
    for n, p in reversed(curve):
        if p < THRESHOLD:
            break
        needed = n
    return needed


def plain_throughput(model, x, batch_sizes, seconds=4.0) -> dict[int, float]:
    rates = {}
    with torch.inference_mode():
        for b in batch_sizes:
            batch = x.expand(b, -1, -1, -1).clone()
            model.module(batch)  # warm-up
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds or done < 2 * b:
                torch.softmax(model.module(batch), 1)
                done += b
            rates[b] = done / (time.perf_counter() - start)
    return rates


def lime_package(model, image224, target, num_samples=1000, seed=0):
    from lime import lime_image

    mean = torch.tensor(IMAGENET.mean).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET.std).view(1, 3, 1, 1)

    def classifier_fn(images):
        batch = torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2).float().div(255.0)
        with torch.inference_mode():
            return torch.softmax(model.module((batch - mean) / std), 1).numpy()

    explainer = lime_image.LimeImageExplainer(random_state=seed)  # kernel_width 0.25, feature_selection auto
    start = time.perf_counter()
    result = explainer.explain_instance(image224, classifier_fn, labels=(target,), top_labels=None,
                                        num_samples=num_samples, random_seed=seed)  # defaults otherwise
    seconds = time.perf_counter() - start
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and repeats (about 3-4 minutes)")
    parser.add_argument("--ref-samples", type=int, default=0, help="reference run length (default 5000, 10x the convergence runs; quick 3000)")
    parser.add_argument("--seeds", type=int, default=0, help="seeds per sampling scheme (default 4; quick 2)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    ref_n = args.ref_samples or (3000 if args.quick else 5000)
    seeds = args.seeds or (2 if args.quick else 4)
    repeats = 1 if args.quick else 2
    conv_n = 300 if args.quick else 500
    grid = [g for g in (20, 30, 40, 50, 60, 75, 90, 100, 125, 150, 200, 250, 300, 400, 500) if g <= conv_n]
    bench_start = time.perf_counter()

    from skimage import data

    model = build()
    photo = data.astronaut()
    x = IMAGENET.to_tensor(photo)
    # The 224x224 displayed image (what lime gets; our segmentation sees the same pixels).
    image224 = np.round(
        (x[0] * torch.tensor(IMAGENET.std).view(3, 1, 1) + torch.tensor(IMAGENET.mean).view(3, 1, 1))
        .clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    x = IMAGENET.to_tensor(image224)  # exactly the pixels lime sees
    with torch.inference_mode():
        probabilities = torch.softmax(model.module(x), 1)[0]
    target = int(probabilities.argmax())
    print(f"ResNet-18 (random weights), 224x224, 2 threads; target class {target} "
          f"(p = {float(probabilities[target]):.4f})")

    # 1. plain inference throughput -----------------------------------------------------------------
    rates = plain_throughput(model, x, (8, 16, 32, 64), seconds=2.0 if args.quick else 4.0)
    best_b = max(rates, key=rates.get)
    print("\n[throughput] plain batched inference: " + ", ".join(f"b={b}: {r:.1f}/s" for b, r in rates.items()))

    # 2. reference run and convergence ----------------------------------------------------------------
    start = time.perf_counter()
    reference = ours(model, x, target, num_samples=ref_n, sampling="lime", seed=10_000)
    ref_seconds = time.perf_counter() - start
    w_ref = np.asarray(reference.extras["segment_weights"])
    num_segments = reference.extras["num_segments"]
    masked_rates = [ref_n / ref_seconds]
    print(f"\n[reference] {ref_n} i.i.d. samples, {num_segments} superpixels, R^2 = {reference.extras['r2']:.3f}, "
          f"{ref_seconds:.1f} s ({ref_n / ref_seconds:.1f} samples/s, batches {reference.extras['batch_sizes']})")

    curves: dict[str, list[list[tuple[int, float]]]] = {}
    for sampling in ("lime", "orthogonal", "antithetic", "stratified"):
        curves[sampling] = []
        for seed in range(seeds):
            start = time.perf_counter()
            run = ours(model, x, target, num_samples=conv_n, sampling=sampling, seed=seed)
            if seed == 0 and sampling == "lime":
                print(f"  (a {conv_n}-sample run: batches {run.extras['batch_sizes']})")
            masked_rates.append(conv_n / (time.perf_counter() - start))
            curves[sampling].append([(n, pearson(weights_at(run, n, target), w_ref)) for n in grid])
    print(f"\n[convergence] Pearson with the reference (median over {seeds} seeds) at n samples:")
    print("  n:          " + " ".join(f"{n:6d}" for n in grid))
    needed = {}
    for sampling, runs in curves.items():
        medians = [statistics.median(r[i][1] for r in runs) for i in range(len(grid))]
        print(f"  {sampling:11s} " + " ".join(f"{p:6.3f}" for p in medians))
        needed[sampling] = statistics.median(samples_needed(r) for r in runs)
    base = needed["lime"]
    for sampling, n in needed.items():
        ratio = n / base if np.isfinite(base) and np.isfinite(n) else float("nan")
        print(f"  samples for Pearson >= {THRESHOLD}: {sampling:11s} {n:>6}  ({ratio:.2f}x i.i.d.)")
    print(f"  target <= 0.5x i.i.d. for the default ({DEFAULT_SAMPLING}): "
          f"{'met' if needed[DEFAULT_SAMPLING] <= 0.5 * base else 'NOT met'}")

    # 3. against the lime package ------------------------------------------------------------------
    lime_times, lime_fidelity = [], []
    for repeat in range(repeats):
        result, seconds = lime_package(model, image224, target, seed=repeat)
        lime_times.append(seconds)
        same = np.array_equal(result.segments, reference.extras["segments"])
        theirs = np.zeros(num_segments)
        for feature, weight in result.local_exp[target]:
            theirs[feature] = weight
        lime_fidelity.append(pearson(theirs, w_ref) if same else float("nan"))
        if not same:
            print(f"  note: lime's quickshift gave {len(np.unique(result.segments))} superpixels, ours "
                  f"{num_segments}; same label on {np.mean(result.segments == reference.extras['segments']):.0%} "
                  "of pixels (lime segments the uint8 image, we the de-normalised float one)")
    lime_seconds = statistics.median(lime_times)
    lime_p = statistics.median(lime_fidelity)
    print(f"\n[lime package] LimeImageExplainer defaults, 1000 samples: {lime_seconds:.1f} s "
          f"(median of {repeats}; {1000 / lime_seconds:.1f} samples/s); Pearson with the reference {lime_p:.3f}"
          f"{'' if np.isfinite(lime_p) else ' (segmentation differs from ours)'}")

    def samples_for(level: float) -> int:
        runs = curves[DEFAULT_SAMPLING]
        per_seed = []
        for r in runs:
            n_ok = float("inf")
            for n, p in reversed(r):
                if p < level:
                    break
                n_ok = n
            per_seed.append(n_ok)
        n = statistics.median(per_seed)
        return int(n) if np.isfinite(n) else conv_n

    for label, level in ((f"Pearson >= {THRESHOLD}", THRESHOLD), (f"lime's own fidelity ({lime_p:.3f})", lime_p)):
        if not np.isfinite(level):
            continue
        n = samples_for(level)
        times = []
        for repeat in range(repeats + 1):
            start = time.perf_counter()
            ours(model, x, target, num_samples=n, seed=100 + repeat)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        ratio = seconds / lime_seconds
        print(f"[xaidesk] {DEFAULT_SAMPLING}, {n} samples (enough for {label}): {seconds:.1f} s -> "
              f"{ratio:.2f}x the lime package (target <= 0.5x: {'met' if ratio <= 0.5 else 'NOT met'})")

    # throughput summary ---------------------------------------------------------------------------
    masked = statistics.median(masked_rates)
    print(f"\n[throughput] masked samples/s in xaidesk lime runs (median of the {len(masked_rates)} runs of "
          f">= {conv_n} samples, wall time, segmentation and refits included): {masked:.1f}/s = {masked / rates[best_b]:.2f}x the best plain "
          f"inference ({rates[best_b]:.1f}/s at b={best_b}); target >= 0.95x: "
          f"{'met' if masked >= 0.95 * rates[best_b] else 'NOT met'}")
    print(f"\ntotal bench time {time.perf_counter() - bench_start:.0f} s")


if __name__ == "__main__":
    main()
