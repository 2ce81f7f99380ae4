"""Benchmark: LRP (epsilon-plus-flat) against a plain gradient and against zennit used directly.

Run with ``.venv/bin/python bench/bench_lrp.py [--repeats N] [--models vgg16 resnet18]``.

For torchvision VGG-16 and ResNet-18 with random weights (no download), one 224x224 input,
batch 1, on the CPU with 2 threads, it times

- ``gradient``: one forward and one backward pass of the target logit to the input (plain
  ``torch.autograd.grad``, the baseline the ratios use);
- ``backward``: the same with ``.backward()``, which also computes every weight's gradient (the
  heavier baseline a training-style loop pays; printed for orientation);
- ``xaidesk``: ``lrp.epsilon_plus_flat`` called through the method registry (coverage check,
  canonizers, composite, relevance map and extras included);
- ``zennit``: zennit's ``Gradient`` attributor with ``EpsilonPlusFlat`` and the same canonizer.

The three are measured round-robin after a warm-up, and the median of the repeats is reported
together with the ratio to the plain gradient of the same run.
"""

from __future__ import annotations

import argparse
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
from xaidesk.explain.lrp import cnn as lrp  # noqa: E402
from xaidesk.models.base import LoadedModel  # noqa: E402
from xaidesk.models.preprocessing import IMAGENET  # noqa: E402


def build(arch: str) -> LoadedModel:
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None).eval()
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
    info = get_method("lrp.epsilon_plus_flat")
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
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["vgg16", "resnet18"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, repeats={args.repeats} (median)")
    print(f"{'model':10s} {'gradient s':>11s} {'backward s':>11s} {'xaidesk s':>10s} {'zennit s':>9s} "
          f"{'xaidesk/grad':>13s} {'zennit/grad':>12s} {'xaidesk/backward':>17s} {'xaidesk/zennit':>15s}")
    for arch in args.models:
        model = build(arch)
        x = torch.randn(1, 3, 224, 224)
        target = 3
        runners = {"gradient": plain_gradient, "backward": full_backward, "xaidesk": ours, "zennit": zennit_direct}
        for fn in runners.values():  # warm-up
            timed(fn, model, x, target)
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.repeats):
            for name, fn in runners.items():
                times[name].append(timed(fn, model, x, target))
        med = {name: statistics.median(values) for name, values in times.items()}
        print(f"{arch:10s} {med['gradient']:11.3f} {med['backward']:11.3f} {med['xaidesk']:10.3f} {med['zennit']:9.3f} "
              f"{med['xaidesk'] / med['gradient']:13.2f} {med['zennit'] / med['gradient']:12.2f} "
              f"{med['xaidesk'] / med['backward']:17.2f} {med['xaidesk'] / med['zennit']:15.3f}")


if __name__ == "__main__":
    main()
