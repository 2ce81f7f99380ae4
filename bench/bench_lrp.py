"""Benchmark: LRP against a plain forward+backward and against zennit used directly.

Run with ``.venv/bin/python bench/bench_lrp.py [--repeats N] [--models vgg16 resnet50 vit_b_16]``.

For torchvision VGG-16, ResNet-50 (and ResNet-18 on request) with random weights (no download),
one 224x224 input, batch 1, on the CPU with 2 threads, it times

- ``gradient``: one forward and one backward pass of the target logit to the input (plain
  ``torch.autograd.grad``, the baseline the ratios use);
- ``backward``: the same with ``.backward()``, which also computes every weight's gradient (the
  heavier baseline a training-style loop pays; printed for orientation);
- ``xaidesk``: ``lrp.epsilon_plus_flat`` called through the method registry (coverage check,
  canonizers, composite, relevance map and extras included);
- ``zennit``: zennit's ``Gradient`` attributor with ``EpsilonPlusFlat`` and the same canonizer.

For ``vit_b_16`` (torchvision, random weights, the zero-initialised head drawn at random)
``xaidesk`` is ``lrp.attention`` (AttnLRP) through the registry; zennit has no transformer rules,
so that row has no zennit column.

All contenders are measured round-robin after a warm-up; the median and the best of the repeats
are reported with the ratios to the plain gradient of the same run (``best`` ratios divide the
best times, steadier on a loaded machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision
from zennit.attribution import Gradient
from zennit.composites import EpsilonPlusFlat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xaidesk.core import CancelToken, get_method  # noqa: E402
from xaidesk.explain import load_builtin_methods  # noqa: E402
from xaidesk.explain.lrp import cnn as lrp  # noqa: E402
from xaidesk.models.base import LoadedModel  # noqa: E402
from xaidesk.models.preprocessing import IMAGENET  # noqa: E402


def build(arch: str) -> LoadedModel:
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None).eval()
    if arch.startswith("vit"):
        torch.nn.init.normal_(net.heads.head.weight, std=0.02)  # torchvision initialises the head to zeros
    return LoadedModel(spec=f"torchvision:{arch}", name=arch, module=net, preprocessing=IMAGENET,
                       class_names=[str(i) for i in range(1000)], architecture=arch)


def plain_gradient(model: LoadedModel, x: torch.Tensor, target: int) -> None:
    xg = x.clone().requires_grad_(True)
    out = model.module(xg)
    torch.autograd.grad(out[0, target], xg)


def full_backward(model: LoadedModel, x: torch.Tensor, target: int) -> None:
    xg = x.clone().requires_grad_(True)
    model.module.zero_grad(set_to_none=True)
    model.module(xg)[0, target].backward()


def ours(model: LoadedModel, x: torch.Tensor, target: int) -> None:
    info = get_method("lrp.attention" if model.architecture.startswith("vit") else "lrp.epsilon_plus_flat")
    info.function(model, x, target, params=info.defaults(), token=CancelToken(), progress=lambda *a, **k: None)


def zennit_direct(model: LoadedModel, x: torch.Tensor, target: int) -> None:
    composite = EpsilonPlusFlat(canonizers=lrp.choose_canonizers(model.architecture))
    one_hot = torch.zeros(1, 1000)
    one_hot[0, target] = 1.0
    with Gradient(model=model.module, composite=composite) as attributor:
        attributor(x.clone(), lambda out: one_hot * out.detach())


def timed(fn, *args) -> float:
    start = time.perf_counter()
    with torch.enable_grad():
        fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", nargs="+", default=["vgg16", "resnet50", "vit_b_16"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_builtin_methods()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.repeats} repeats, "
          f"1-minute load average {load:.1f} at the start")
    print(f"{'model':9s} {'gradient s':>10s} {'backward s':>10s} {'xaidesk s':>9s} {'zennit s':>8s} "
          f"{'xaidesk/grad':>14s} {'zennit/grad':>14s} {'xaidesk/zennit':>15s}   (median, best)")
    for arch in args.models:
        model = build(arch)
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
        target = 3
        runners = {"gradient": plain_gradient, "backward": full_backward, "xaidesk": ours}
        if not arch.startswith("vit"):
            runners["zennit"] = zennit_direct
        for fn in runners.values():  # warm-up
            timed(fn, model, x, target)
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.repeats):
            for name, fn in runners.items():
                times[name].append(timed(fn, model, x, target))
        med = {name: statistics.median(values) for name, values in times.items()}
        best = {name: min(values) for name, values in times.items()}

        def ratio(a: str, b: str) -> str:
            if a not in med or b not in med:
                return "-"
            return f"{med[a] / med[b]:.2f}, {best[a] / best[b]:.2f}"

        zennit = f"{med['zennit']:8.3f}" if "zennit" in med else f"{'-':>8s}"
        print(f"{arch:9s} {med['gradient']:10.3f} {med['backward']:10.3f} {med['xaidesk']:9.3f} {zennit} "
              f"{ratio('xaidesk', 'gradient'):>14s} {ratio('zennit', 'gradient'):>14s} {ratio('xaidesk', 'zennit'):>15s}",
              flush=True)


if __name__ == "__main__":
    main()
