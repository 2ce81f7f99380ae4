"""Benchmark: concept-conditional relevance (CRP) and the reference-sample pass (issue 17).

Run with ``.venv/bin/python bench/bench_concepts.py [--repeats 3] [--layers features.28 features.21]
[--images 1000] [--size 224] [--parts heatmaps references] [--resnet50]``.

Part 1, conditional heatmaps for ``--concepts`` (8) concepts: VGG-16 (torchvision, random weights, no
download), one 224x224 input, the CPU with ``--threads`` threads, LRP epsilon-plus-flat with the
canonizers :func:`choose_canonizers` picks. For each layer (by default the default concept layer,
``features.28``, and a middle one, ``features.21``) and the 8 channels of largest relevance there:

- ``gradient``: one plain forward and backward pass to the input (context);
- ``lrp``: one unconditional LRP pass (``lrp_attribution``; context);
- ``8 x lrp, one channel``: 8 separate LRP passes (our own fast ``_propagate``), each with a hook
  that masks the relevance at the layer to one channel -- the baseline of the ratio;
- ``8 x crp, one channel``: 8 separate ``conditional_relevance`` calls with one channel each;
- ``lrp, 8 copies``: one LRP pass over a batch of 8 copies of the input, copy k masked to concept k
  (what ``conditional_relevance`` did before it shared the pass above the layer; for comparison);
- ``crp, 8 channels``: one ``conditional_relevance`` call with the 8 channels (one forward pass and
  one backward pass above the layer shared, the gradients below the layer batched).

All are timed round-robin after one warm-up (each builds its own fresh composite inside the timed
call); printed are the median and the best wall time of the repeats and the median CPU time of
this process (steadier than wall time on a machine shared with other work), with the speed-up of
each over the baseline by each measure. The heatmaps are checked against the masked LRP passes
(max |difference| relative to the max |relevance|). With ``--stages`` the batched call is also
split by hand, in each round: the forward pass with the rules attached, the backward pass above
the layer, the batched backward pass below it (``is_grads_batched``) and, for comparison, the
same below the layer as one plain ``torch.autograd.grad`` per concept.

Where the time goes (CPU, torch 2.14, VGG-16 at features.28): the backward pass below the layer is
about 88% of the batched call. ``torch.autograd.grad(..., is_grads_batched=True)`` runs on the
legacy vmap prototype (``torch._vmap_internals``), which has no batching rule for
``aten::convolution_backward`` (``torch._C._debug_only_display_vmap_fallback_warnings(True)`` shows
the warning): each convolution's backward runs once per concept and the results are stacked. The
batched call saves the forward pass, the rules' own forward passes (computed once) and the pass
above the layer; each concept still costs its transposed convolutions and the rules' elementwise
work, about 30% of a whole LRP pass, which bounds the speed-up for 8 concepts near 2.5-3x.

Part 2, the reference-sample pass: ``--images`` generated ``--size`` px PNGs in a temporary folder,
ResNet-18 (random weights, 1000 classes, input ``--size`` px), ``--batch-size`` 16. Interleaved in
blocks of ``--block`` images (the order alternating), so that a changing load hits both alike:

- ``batch LRP``: ``run_batch(block, out, model, ["lrp.epsilon_plus_flat"])`` (the dataset mode);
- ``references``: ``compute_references(block, model, layer, out=...)`` at the default concept layer
  (the same LRP pass, and every channel's relevance and activation recorded).

Printed: wall seconds, images per second and the ratio of the reference pass to the batch mode,
and the same by the CPU time of this process (steadier on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generated import make_images, split_into_blocks  # noqa: E402
from xaidesk.explain.common import one_hot_like  # noqa: E402
from xaidesk.explain.lrp.cnn import _propagate, build_composite, lrp_attribution  # noqa: E402
from xaidesk.explain.lrp.composites import choose_canonizers  # noqa: E402
from xaidesk.explain.lrp.concepts import (  # noqa: E402
    _forward, _start, concept_layers, conditional_relevance, default_layer,
)
from xaidesk.models.base import LoadedModel  # noqa: E402
from xaidesk.models.preprocessing import IMAGENET  # noqa: E402

METHOD = "lrp.epsilon_plus_flat"
PARAMS = {"epsilon": 1e-6}


def machine() -> str:
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, load average {load}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")


# --- part 1: conditional heatmaps -----------------------------------------------------------------


def build(arch: str, size: int = 224) -> LoadedModel:
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None).eval()
    return LoadedModel(spec=f"torchvision:{arch}", name=arch, module=net,
                       preprocessing=replace(IMAGENET, size=(size, size)),
                       class_names=[str(i) for i in range(1000)], architecture=arch)


def composite(model: LoadedModel, x: torch.Tensor):
    canonizers = choose_canonizers(model.architecture, model.module)
    return build_composite("epsilon_plus_flat", PARAMS, model, canonizers, input_shape=tuple(x.shape))


def plain_gradient(model, x, target, layer, channels):
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model.module(xg)[0, target], xg)
    return grad


def lrp_once(model, x, target, layer, channels):
    return lrp_attribution(model, x, target, composite(model, x))[1]


def lrp_masked(model: LoadedModel, x: torch.Tensor, target: int, layer: str, channels) -> torch.Tensor:
    """The input relevance of one LRP pass over ``len(channels)`` copies of ``x`` whose relevance at ``layer``
    is masked, copy ``k`` to ``channels[k]`` (one channel: one plain masked pass)."""

    def attach(module: torch.nn.Module) -> list:
        def on_output(_module, _inputs, output):
            mask = torch.zeros((len(channels), output.shape[1]) + (1,) * (output.dim() - 2), dtype=output.dtype)
            mask[torch.arange(len(channels)), torch.as_tensor(list(channels))] = 1.0
            output.register_hook(lambda grad: grad * mask)

        return [module.get_submodule(layer).register_forward_hook(on_output)]

    def start(output: torch.Tensor) -> torch.Tensor:
        return one_hot_like(output, target) * output.detach()

    copies = x.repeat(len(channels), *([1] * (x.dim() - 1)))
    return _propagate(model, copies, start, composite(model, x), None, None, True, attach=attach)[1]


def lrp_per_channel(model, x, target, layer, channels):
    return torch.cat([lrp_masked(model, x, target, layer, [c]) for c in channels])


def lrp_copies(model, x, target, layer, channels):
    return lrp_masked(model, x, target, layer, channels)


def crp_per_channel(model, x, target, layer, channels):
    return torch.cat([conditional_relevance(model, x, target, composite(model, x), layer, [c]).heatmaps
                      for c in channels])


def crp_batched(model, x, target, layer, channels):
    return conditional_relevance(model, x, target, composite(model, x), layer, channels).heatmaps


def stages(model: LoadedModel, x: torch.Tensor, target: int, layer: str, channels) -> dict[str, float]:
    """The batched call split by hand: the forward pass, the backward pass above the layer, the batched
    backward pass below it (``is_grads_batched``), and for comparison the same below the layer as one plain
    ``torch.autograd.grad`` per channel."""
    from xaidesk.explain.lrp.concepts import _below, _masked

    with _forward(model, x, composite(model, x), [layer], True, None) as (inp, logits, (out,), _info):
        t0 = time.perf_counter()
        (at_layer,) = torch.autograd.grad(logits, out, grad_outputs=_start(logits, [target]), retain_graph=True)
        t1 = time.perf_counter()
        _below(out, inp, at_layer.detach(), list(channels), 16, None)
        t2 = time.perf_counter()
        for grads in _masked(at_layer.detach(), list(channels)):
            torch.autograd.grad(out, inp, grad_outputs=grads, retain_graph=True)
        t3 = time.perf_counter()
    t4 = time.perf_counter()
    with _forward(model, x, composite(model, x), [layer], True, None):
        t5 = time.perf_counter()
    return {"forward": t5 - t4, "above the layer": t1 - t0,
            f"below, batched ({len(channels)})": t2 - t1, f"below, one by one ({len(channels)})": t3 - t2}


def timed(fn, *args) -> tuple[float, float, object]:
    """``(wall seconds, CPU seconds of this process, result)``."""
    start, cpu = time.perf_counter(), time.process_time()
    with torch.enable_grad():
        result = fn(*args)
    return time.perf_counter() - start, time.process_time() - cpu, result


def heatmaps_part(args) -> None:
    for arch in ["vgg16"] + (["resnet50"] if args.resnet50 else []):
        model = build(arch)
        torch.manual_seed(1)
        x = torch.randn(1, 3, 224, 224)
        with torch.no_grad():
            target = int(model.module(x).argmax(1))
        layers = concept_layers(model)
        chosen_layers = args.layers if arch == "vgg16" else [default_layer(layers)]
        print(f"\n{arch}, random weights, one 224x224 input, class {target}, {METHOD}, "
              f"canonizers {', '.join(type(c).__name__ for c in choose_canonizers(arch, model.module))}; "
              f"default concept layer {default_layer(layers)}")
        for layer in chosen_layers:
            ranking = conditional_relevance(model, x, target, composite(model, x), layer, [0])
            channels = [c for c, _ in ranking.top(args.concepts)]
            runners = {"gradient": plain_gradient, "lrp": lrp_once,
                       f"{len(channels)} x lrp, one channel": lrp_per_channel,
                       f"{len(channels)} x crp, one channel": crp_per_channel,
                       f"lrp, {len(channels)} copies": lrp_copies,
                       f"crp, {len(channels)} channels": crp_batched}
            results = {name: timed(fn, model, x, target, layer, channels)[2] for name, fn in runners.items()}
            if args.stages:
                with torch.enable_grad():
                    stages(model, x, target, layer, channels)  # warm-up
            wall: dict[str, list[float]] = {name: [] for name in runners}
            cpu: dict[str, list[float]] = {name: [] for name in runners}
            split = []
            for _ in range(args.repeats):
                for name, fn in runners.items():
                    seconds, cpu_seconds, results[name] = timed(fn, model, x, target, layer, channels)
                    wall[name].append(seconds)
                    cpu[name].append(cpu_seconds)
                if args.stages:
                    with torch.enable_grad():
                        split.append(stages(model, x, target, layer, channels))
            med = {name: statistics.median(values) for name, values in wall.items()}
            best = {name: min(values) for name, values in wall.items()}
            med_cpu = {name: statistics.median(values) for name, values in cpu.items()}
            base = f"{len(channels)} x lrp, one channel"
            print(f"\nlayer {layer} ({ranking.channel_relevance.numel()} channels), concepts {channels}; "
                  f"{args.repeats} repeats after a warm-up")
            print(f"{'':24s} {'median s':>9s} {'best s':>7s} {'CPU s':>7s}   speed-up: {'median':>7s} {'best':>7s} "
                  f"{'CPU':>7s}")
            for name in runners:
                ratios = (med[base] / med[name], best[base] / best[name], med_cpu[base] / med_cpu[name])
                print(f"{name:24s} {med[name]:9.3f} {best[name]:7.3f} {med_cpu[name]:7.3f}             "
                      + " ".join(f"{ratio:6.2f}x" for ratio in ratios))
            reference = results[base]
            scale = float(reference.abs().max())
            for name in (f"{len(channels)} x crp, one channel", f"lrp, {len(channels)} copies",
                         f"crp, {len(channels)} channels"):
                difference = float((results[name] - reference).abs().max())
                print(f"max |{name} - masked lrp| / max |relevance|: {difference / scale:.2e}")
            print(f"(the {len(channels)} concepts' heatmaps add up to "
                  f"{float(results[base].sum()) / float(results['lrp'].sum()):.3f} of the heatmap's sum)")
            if split:
                print("stages of the batched call, wall s (median, best): " + "; ".join(
                    f"{key} {statistics.median(s[key] for s in split):.3f}, {min(s[key] for s in split):.3f}"
                    for key in split[0]))


# --- part 2: the reference-sample pass ---------------------------------------------------------------


def make_model(folder: Path, size: int) -> LoadedModel:
    from xaidesk.models import load_model

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval()
    path = folder / "resnet18_random.pth"
    torch.save(net.state_dict(), path)
    model = load_model(f"torchvision:resnet18:{path}")
    # the images are generated at the input size: no resize and crop
    model.preprocessing = replace(model.preprocessing, size=(size, size), resize=None)
    return model


def references_part(args) -> None:
    try:
        from xaidesk.concepts.references import compute_references
    except ImportError as error:
        print(f"\nreference-sample pass: not measured ({error}).")
        return
    from xaidesk.runs.execute import run_batch

    work = Path(tempfile.mkdtemp(prefix="xaidesk-bench-concepts-"))
    home = os.environ.get("XAIDESK_HOME")
    os.environ["XAIDESK_HOME"] = str(work / "home")  # compute_references remembers its runs there
    try:
        images = work / "images"
        t0 = time.perf_counter()
        make_images(images, args.images, args.size)
        model = make_model(work, args.size)
        layer = default_layer(concept_layers(model))
        files = sorted(images.glob("*.png"))
        blocks = split_into_blocks(files, work, args.block)
        print(f"\nreference-sample pass: ResNet-18 (random weights, 1000 classes), {len(files)} images of "
              f"{args.size}x{args.size} (made in {time.perf_counter() - t0:.1f} s) in {len(blocks)} interleaved "
              f"blocks, batch size {args.batch_size}, {METHOD}, layer {layer}")

        warm = work / "warm"
        warm.mkdir()
        for path in files[:args.batch_size]:
            shutil.copy(blocks[0] / path.name, warm / path.name)
        run_batch(warm, work / "warm-batch", model, [METHOD], batch_size=args.batch_size)
        compute_references(warm, model, layer, out=work / "warm-references", method=METHOD,
                           batch_size=args.batch_size)

        contenders = {
            "batch LRP": lambda block, out: run_batch(block, out, model, [METHOD], batch_size=args.batch_size),
            "references": lambda block, out: compute_references(block, model, layer, out=out, method=METHOD,
                                                                batch_size=args.batch_size),
        }
        totals = {name: [0.0, 0.0] for name in contenders}
        for k, block in enumerate(blocks):
            for name in (list(contenders) if k % 2 == 0 else list(contenders)[::-1]):
                start, cpu = time.perf_counter(), time.process_time()
                contenders[name](block, work / name.replace(" ", "-") / block.name)
                totals[name][0] += time.perf_counter() - start
                totals[name][1] += time.process_time() - cpu
        rate = {name: len(files) / seconds for name, (seconds, _) in totals.items()}
        cpu_rate = {name: len(files) / cpu_seconds for name, (_, cpu_seconds) in totals.items()}
        print(f"{'':12s} {'seconds':>8s} {'images/s':>9s} {'vs batch LRP':>13s} {'CPU s':>8s} {'per CPU s':>10s} "
              f"{'vs batch LRP':>13s}")
        for name, (seconds, cpu_seconds) in totals.items():
            print(f"{name:12s} {seconds:8.2f} {rate[name]:9.2f} {rate[name] / rate['batch LRP']:12.2f}x "
                  f"{cpu_seconds:8.2f} {cpu_rate[name]:10.2f} {cpu_rate[name] / cpu_rate['batch LRP']:12.2f}x")
    finally:
        if home is None:
            os.environ.pop("XAIDESK_HOME", None)
        else:
            os.environ["XAIDESK_HOME"] = home
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", choices=["heatmaps", "references"], default=["heatmaps", "references"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concepts", type=int, default=8)
    parser.add_argument("--layers", nargs="+", default=["features.28", "features.21"], help="VGG-16 layers")
    parser.add_argument("--resnet50", action="store_true", help="also ResNet-50 at its default concept layer")
    parser.add_argument("--stages", action="store_true", help="split the batched call's time by stage")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=224, help="image and input size of part 2")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--block", type=int, default=250, help="images per interleaved block (part 2)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine())
    if "heatmaps" in args.parts:
        heatmaps_part(args)
    if "references" in args.parts:
        references_part(args)


if __name__ == "__main__":
    main()
