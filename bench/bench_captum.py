"""Benchmark: integrated gradients, SmoothGrad and occlusion against Captum, with the same results.

Run with ``.venv/bin/python bench/bench_captum.py [--repeats N] [--models vgg16 resnet50]
[--methods ig-trapezoid ig-midpoint smoothgrad occlusion]``.

For torchvision models with random weights (no download), one 224x224 input, batch 1, on the
CPU, every contender is called the way its users call it, so the whole call is timed: xaidesk
through the method registry (checks, target check, map post-processing, extras, progress
callbacks), Captum through its ``attribute``. The settings are matched so that both compute the
same map with the same number of model evaluations and the same number of inputs per forward
pass (equal batch memory):

- ``ig-trapezoid``: xaidesk ``rule="trapezoid"`` with ``steps=S-1`` (S points, both ends)
  against Captum ``method="riemann_trapezoid", n_steps=S``. Captum's trapezoid weights are 1/S
  (ends halved) on points spaced 1/(S-1), so its map is xaidesk's times (S-1)/S; the difference
  is taken after undoing that factor.
- ``ig-midpoint``: xaidesk ``rule="midpoint", steps=S`` against Captum
  ``method="riemann_middle", n_steps=S`` (the same S points and weights).
- ``ig-default``: what each library does by default at ``S`` steps: Captum's Gauss-Legendre
  rule on S points, all in one batch (``internal_batch_size=None``), and xaidesk's trapezoid
  with ``steps=S`` (S+1 points) in batches of ``--batch``; time only, as the maps differ by the
  quadrature error and the batch memory differs.
- ``smoothgrad``: xaidesk ``aggregation="gradient", noise_level=0.1`` against Captum
  ``NoiseTunnel(Saliency(net))`` with ``nt_type="smoothgrad", abs=False`` and
  ``stdevs = 0.1 * (max x - min x)`` (xaidesk's convention), ``nt_samples_batch_size`` equal to
  xaidesk's ``batch_size``. The timed Captum call draws its own noise; for the difference
  Captum is run once more with xaidesk's noise draws patched in.
- ``occlusion``: xaidesk ``patch_size=P, stride=T, fill="zero", scale_to_input=False`` against
  Captum ``Occlusion`` with ``sliding_window_shapes=(3, P, P), strides=(3, T, T), baselines=0``
  and ``perturbations_per_eval`` equal to xaidesk's ``batch_size``; (224 - P) must be a
  multiple of T so both use the same patches.

xaidesk builds its faster copy of the network (batch norms merged, channels-last weights) once
per model and caches it; that one-time cost is printed separately. Contenders run round-robin
after a warm-up; the median and the best of the repeats are printed with the ratio xaidesk /
Captum from the same run (the machine may be shared), the median of the ratios of the two
calls of each round (``paired``, the steadiest under changing load), and the largest absolute
difference of the maps relative to the largest absolute value of Captum's map. For scale, the
difference between one float32 and one float64 gradient map of the model is printed first:
random-weight VGG-16 and ResNet-50 have gradients with much cancellation at ReLU kinks, so
float32 rounding alone moves them by up to a few 1e-2 of their largest value, and any change in
the order of the sums (batching, memory layout, merged batch norms) shows up at that level.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xaidesk.core import CancelToken, get_method  # noqa: E402
from xaidesk.explain import load_builtin_methods  # noqa: E402
from xaidesk.explain.fast_module import fast_gradient_module  # noqa: E402
from xaidesk.models.base import LoadedModel  # noqa: E402
from xaidesk.models.preprocessing import IMAGENET  # noqa: E402

METHODS = ("ig-trapezoid", "ig-midpoint", "ig-default", "smoothgrad", "occlusion")


def build(arch: str) -> LoadedModel:
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None).eval()
    return LoadedModel(spec=f"torchvision:{arch}", name=arch, module=net, preprocessing=IMAGENET,
                       class_names=[str(i) for i in range(1000)], architecture=arch)


def xaidesk_call(name: str, **params):
    info = get_method(name)

    def call(model: LoadedModel, x: torch.Tensor, target: int) -> np.ndarray:
        result = info.function(model, x, target, params=info.defaults() | params, token=CancelToken(),
                               progress=lambda *a, **k: None)
        return np.asarray(result.relevance, dtype=np.float64)

    return call


def captum_ig(method: str, steps: int, batch: int, scale: float = 1.0):
    from captum.attr import IntegratedGradients

    def call(model: LoadedModel, x: torch.Tensor, target: int) -> np.ndarray:
        attr = IntegratedGradients(model.module).attribute(
            x, baselines=torch.zeros_like(x), target=target, n_steps=steps, method=method,
            internal_batch_size=batch)
        return attr.detach()[0].sum(0).double().numpy() * scale

    return call


def captum_smoothgrad(samples: int, batch: int, noise_level: float):
    from captum.attr import NoiseTunnel, Saliency

    def call(model: LoadedModel, x: torch.Tensor, target: int) -> np.ndarray:
        sigma = noise_level * float(x.max() - x.min())
        attr = NoiseTunnel(Saliency(model.module)).attribute(
            x, nt_type="smoothgrad", nt_samples=samples, nt_samples_batch_size=batch, stdevs=sigma,
            target=target, abs=False)
        return attr.detach()[0].sum(0).double().numpy()

    return call


def xaidesk_noise_in_captum(x: torch.Tensor, noise_level: float, seed: int):
    """A context that makes Captum's NoiseTunnel draw xaidesk's SmoothGrad noise (for the difference)."""
    from captum.attr import NoiseTunnel

    generator = torch.Generator().manual_seed(seed)
    sigma = noise_level * float(x.max() - x.min())

    def add_noise(inp, stdev, count):
        noise = torch.stack([torch.randn(inp.shape[1:], generator=generator) for _ in range(count)])
        return inp.repeat_interleave(count, dim=0) + sigma * noise

    class Patched:
        def __enter__(self):
            self.saved = NoiseTunnel.__dict__["_add_noise_to_input"]
            NoiseTunnel._add_noise_to_input = staticmethod(add_noise)

        def __exit__(self, *exc):
            NoiseTunnel._add_noise_to_input = self.saved

    return Patched()


def captum_occlusion(window: int, stride: int, batch: int):
    from captum.attr import Occlusion

    def call(model: LoadedModel, x: torch.Tensor, target: int) -> np.ndarray:
        attr = Occlusion(model.module).attribute(
            x, sliding_window_shapes=(3, window, window), strides=(3, stride, stride), baselines=0,
            target=target, perturbations_per_eval=batch)
        return attr.detach()[0, 0].double().numpy()

    return call


def contenders(method: str, args) -> tuple[dict, float]:
    """``({label: call}, scale)``: xaidesk's call first, then Captum's."""
    s, b = args.steps, args.batch
    if method == "ig-trapezoid":
        return {"xaidesk": xaidesk_call("gradient.integrated", steps=s - 1, rule="trapezoid", baseline="zero",
                                        batch_size=b),
                "captum": captum_ig("riemann_trapezoid", s, b, scale=s / (s - 1))}
    if method == "ig-midpoint":
        return {"xaidesk": xaidesk_call("gradient.integrated", steps=s, rule="midpoint", baseline="zero",
                                        batch_size=b),
                "captum": captum_ig("riemann_middle", s, b)}
    if method == "ig-default":
        return {"xaidesk": xaidesk_call("gradient.integrated", steps=s, rule="trapezoid", baseline="zero",
                                        batch_size=b),
                "captum": captum_ig("gausslegendre", s, None)}
    if method == "smoothgrad":
        return {"xaidesk": xaidesk_call("gradient.smoothgrad", samples=args.samples, batch_size=b,
                                        noise_level=args.noise, aggregation="gradient", seed=0),
                "captum": captum_smoothgrad(args.samples, b, args.noise)}
    if method == "occlusion":
        return {"xaidesk": xaidesk_call("occlusion", patch_size=args.window, stride=args.stride, fill="zero",
                                        batch_size=b, scale_to_input=False),
                "captum": captum_occlusion(args.window, args.stride, b)}
    raise SystemExit(f"unknown method {method}; choose from {', '.join(METHODS)}")


def timed(fn, *args) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def relative_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30))


def float32_rounding(model: LoadedModel, x: torch.Tensor, target: int) -> float:
    """How far one float32 gradient map (at x / 2) is from float64: the scale of float error for this model."""
    maps = []
    for net, xd in ((model.module, x), (copy.deepcopy(model.module).double(), x.double())):
        xg = (0.5 * xd).requires_grad_(True)
        (grad,) = torch.autograd.grad(net(xg)[0, target], xg)
        maps.append(grad[0].sum(0).double().numpy())
    return relative_difference(maps[0], maps[1])


def main() -> None:
    load_builtin_methods()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["vgg16", "resnet50"])
    parser.add_argument("--methods", nargs="+", default=["ig-trapezoid", "ig-midpoint", "smoothgrad", "occlusion"])
    parser.add_argument("--steps", type=int, default=50, help="IG evaluations (points on the path)")
    parser.add_argument("--samples", type=int, default=25, help="SmoothGrad noisy copies")
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--batch", type=int, default=8, help="inputs per forward pass, both libraries")
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--stride", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if (224 - args.window) % args.stride:
        raise SystemExit("(224 - window) must be a multiple of the stride, so both libraries use the same patches")
    torch.set_num_threads(args.threads)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, repeats={args.repeats}, batch={args.batch}, "
          f"IG points={args.steps}, SmoothGrad samples={args.samples}, occlusion {args.window}/{args.stride}, "
          f"load average {load}")
    print(f"{'model':9s} {'method':13s} {'xaidesk s':>10s} {'captum s':>9s} {'ratio':>6s} {'best x s':>9s} "
          f"{'best c s':>9s} {'best ratio':>10s} {'paired':>7s} {'max |diff| / max |captum|':>26s}")
    for arch in args.models:
        model = build(arch)
        torch.manual_seed(1)
        x = torch.randn(1, 3, 224, 224)
        with torch.no_grad():
            target = int(model.module(x).argmax())
        start = time.perf_counter()
        fast_gradient_module(model.module, x)
        print(f"{arch}: fast copy built once per model in {time.perf_counter() - start:.2f} s "
              "(cached, not in the times below); one float32 gradient map differs from float64 by "
              f"{float32_rounding(model, x, target):.1e} of its largest value", flush=True)
        for method in args.methods:
            runners = contenders(method, args)
            maps = {name: fn(model, x, target) for name, fn in runners.items()}  # warm-up
            if method == "smoothgrad":
                with xaidesk_noise_in_captum(x, args.noise, seed=0):
                    maps["captum"] = runners["captum"](model, x, target)
            diff = relative_difference(maps["xaidesk"], maps["captum"])
            times: dict[str, list[float]] = {name: [] for name in runners}
            for _ in range(args.repeats):
                for name, fn in runners.items():
                    times[name].append(timed(fn, model, x, target)[0])
            med = {name: statistics.median(v) for name, v in times.items()}
            best = {name: min(v) for name, v in times.items()}
            paired = statistics.median(a / b for a, b in zip(times["xaidesk"], times["captum"]))
            note = "" if method != "ig-default" else " (different rules: not comparable)"
            print(f"{arch:9s} {method:13s} {med['xaidesk']:10.2f} {med['captum']:9.2f} "
                  f"{med['xaidesk'] / med['captum']:6.2f} {best['xaidesk']:9.2f} {best['captum']:9.2f} "
                  f"{best['xaidesk'] / best['captum']:10.2f} {paired:7.2f} {diff:26.1e}{note}", flush=True)


if __name__ == "__main__":
    main()
