"""Benchmark: LRP on modern CNNs (ConvNeXt-Tiny, EfficientNet-B0) against a plain gradient.

Run with ``.venv/bin/python bench/bench_lrp_cnn.py [--repeats N] [--models convnext_tiny efficientnet_b0]``.

For torchvision models with random weights (no download), one 224x224 input, batch 1, on the
CPU, it times

- ``gradient``: one forward and one backward pass of the target logit to the input (plain
  ``torch.autograd.grad``), the baseline of the ratios;
- ``lrp``: ``lrp.epsilon_plus_flat`` called through the method registry (coverage check,
  canonizers chosen by block type, composite, relevance map and extras included).

Both are measured round-robin after a warm-up; the median of the repeats is printed with the
ratio to the gradient of the same run (and the best of the repeats, steadier on a shared
machine), and the explained logit and conservation of the last LRP run. With torchvision's
random initialisation EfficientNet's logits are tiny (about 1e-14: the squeeze-and-excitation
gates roughly halve the signal and the fan-out initialisation shrinks it in every depthwise
convolution), so the 1e-6 stabilisers swallow the relevance there: its conservation column
is only meaningful with trained weights.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xaidesk.core import CancelToken, get_method  # noqa: E402
from xaidesk.explain import load_builtin_methods  # noqa: E402
from xaidesk.models.base import LoadedModel  # noqa: E402
from xaidesk.models.preprocessing import IMAGENET  # noqa: E402


def build(arch: str) -> LoadedModel:
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None).eval()
    return LoadedModel(spec=f"torchvision:{arch}", name=arch, module=net, preprocessing=IMAGENET,
                       class_names=[str(i) for i in range(1000)], architecture=arch)


def plain_gradient(model: LoadedModel, x: torch.Tensor, target: int) -> None:
    xg = x.clone().requires_grad_(True)
    torch.autograd.grad(model.module(xg)[0, target], xg)


def lrp_run(model: LoadedModel, x: torch.Tensor, target: int):
    info = get_method("lrp.epsilon_plus_flat")
    return info.function(model, x, target, params=info.defaults(), token=CancelToken(),
                         progress=lambda *a, **k: None)


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    with torch.enable_grad():
        result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    load_builtin_methods()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["convnext_tiny", "efficientnet_b0"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, repeats={args.repeats} (median), "
          f"load average {Path('/proc/loadavg').read_text().split()[0] if Path('/proc/loadavg').exists() else '?'}")
    print(f"{'model':16s} {'gradient s':>11s} {'lrp s':>8s} {'lrp/grad':>9s} {'best grad s':>12s} {'best lrp s':>11s} "
          f"{'best ratio':>11s} {'logit':>10s} {'conservation':>13s}  canonizers")
    for arch in args.models:
        model = build(arch)
        x = torch.randn(1, 3, 224, 224)
        target = 3
        runners = {"gradient": plain_gradient, "lrp": lrp_run}
        for fn in runners.values():  # warm-up
            timed(fn, model, x, target)
        times: dict[str, list[float]] = {name: [] for name in runners}
        last = None
        for _ in range(args.repeats):
            for name, fn in runners.items():
                seconds, result = timed(fn, model, x, target)
                times[name].append(seconds)
                if name == "lrp":
                    last = result
        med = {name: statistics.median(values) for name, values in times.items()}
        best = {name: min(values) for name, values in times.items()}
        print(f"{arch:16s} {med['gradient']:11.3f} {med['lrp']:8.3f} {med['lrp'] / med['gradient']:9.2f} "
              f"{best['gradient']:12.3f} {best['lrp']:11.3f} {best['lrp'] / best['gradient']:11.2f} "
              f"{last.extras['logit']:10.3g} {last.extras['conservation']:13.3f}  "
              f"{', '.join(last.extras['canonizers'])}")


if __name__ == "__main__":
    main()
