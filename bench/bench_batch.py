"""Benchmark: dataset mode (``xaidesk.runs.run_batch``) against a naive per-file loop.

Run with ``.venv/bin/python bench/bench_batch.py [--arch resnet50] [--images 200] [--batch-size 16] [--threads 2]``.

Setup: a torchvision architecture (``--arch``, ResNet-50 by default) with random weights (a generated
state dict saved to a temporary file and loaded as ``torchvision:ARCH:PATH``, 1000 classes), ``--images`` generated 224x224
PNG images (smooth random colour fields with noise) in a temporary folder, LRP
epsilon-plus-flat, the CPU with ``--threads`` threads. The model is loaded once and shared.

Measured in the same run, after a warm-up on a few images, interleaved: the images are split
into blocks of ``--block`` files and each block is done by every contender in turn (the order
alternating from block to block), so that a changing load on the machine hits all alike:

- ``naive``: for each file ``load_image`` -> ``explain_image`` -> save the relevance (``.npy``)
  and a 128 px overlay thumbnail (``.png``), both atomically -- what a short script does;
- ``batch, batch size 1``: ``run_batch`` with one image per pass (the dataset mode's own
  pipeline without batching: one forward pass per image instead of two, read-ahead thread,
  index, resumable writes);
- ``batch``: ``run_batch`` with ``--batch-size`` images per forward/backward pass.

Printed: seconds, explanations per second, the ratio to the naive loop, and the overhead per
file -- everything except model compute, i.e. the total time minus the time spent inside the
explanation call (forward and backward passes with the LRP rules attached); for the naive loop
the same split around ``explain_image``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generated import make_images, split_into_blocks  # noqa: E402
from xaidesk.runs import image_thumbnail, run_batch  # noqa: E402
from xaidesk.core.io import save_npy_atomic, save_png_atomic  # noqa: E402
from xaidesk.data.images import load_image  # noqa: E402
from xaidesk.explain import explain_image  # noqa: E402
from xaidesk.models import load_model  # noqa: E402

METHOD = "lrp.epsilon_plus_flat"


def make_model(folder: Path, classes: int, arch: str = "resnet18"):
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None, num_classes=classes).eval()
    path = folder / f"{arch}_random.pth"
    torch.save(net.state_dict(), path)
    return load_model(f"torchvision:{arch}:{path}")


def naive_loop(model, files: list[Path], out: Path) -> tuple[float, float]:
    """``(total seconds, seconds inside explain_image)``."""
    compute = 0.0
    start = time.perf_counter()
    for path in files:
        pixels = load_image(path).pixels
        t0 = time.perf_counter()
        explanation = explain_image(model, pixels, METHOD)
        compute += time.perf_counter() - t0
        save_npy_atomic(out / f"{path.stem}.npy", explanation.relevance)
        save_png_atomic(out / f"{path.stem}.png", image_thumbnail(pixels, explanation.relevance))
    return time.perf_counter() - start, compute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--arch", default="resnet50", help="torchvision architecture (default resnet50)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--block", type=int, default=40, help="images per interleaved block")
    parser.add_argument("--skip-batch1", action="store_true", help="leave out the batch-size-1 run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="xaidesk-bench-batch-"))
    try:
        images = work / "images"
        make_images(images, args.images)
        model = make_model(work, args.classes, args.arch)
        files = sorted(images.glob("*.png"))
        blocks = split_into_blocks(files, work, args.block)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.arch} (random weights, "
              f"{args.classes} classes), {len(files)} images of 224x224 in {len(blocks)} interleaved blocks, {METHOD}")

        warm = work / "warm"
        warm.mkdir()
        naive_loop(model, sorted(blocks[0].glob("*.png"))[:2], warm)
        run_batch(blocks[0], work / "warm-run", model, [METHOD], batch_size=args.batch_size,
                  shard=(0, max(1, args.block // args.batch_size)))

        contenders = {"naive": None}
        if not args.skip_batch1:
            contenders["batch, batch size 1"] = 1
        contenders[f"batch, batch size {args.batch_size}"] = args.batch_size
        totals = {name: [0.0, 0.0] for name in contenders}
        for k, block in enumerate(blocks):
            order = list(contenders) if k % 2 == 0 else list(contenders)[::-1]
            for name in order:
                size = contenders[name]
                if size is None:
                    out = work / "naive" / block.name
                    out.mkdir(parents=True)
                    seconds, compute = naive_loop(model, sorted(block.glob("*.png")), out)
                else:
                    result = run_batch(block, work / f"run{size}" / block.name, model, [METHOD], batch_size=size)
                    assert result.computed == len(list(block.glob("*.png")))
                    seconds, compute = result.seconds, result.compute_seconds
                totals[name][0] += seconds
                totals[name][1] += compute

        base = len(files) / totals["naive"][0]
        print(f"{'':24s} {'seconds':>8s} {'expl/s':>8s} {'vs naive':>9s} {'compute s':>10s} {'overhead/file':>14s}")
        for name, (seconds, compute) in totals.items():
            rate = len(files) / seconds
            overhead = (seconds - compute) / len(files)
            print(f"{name:24s} {seconds:8.2f} {rate:8.2f} {rate / base:8.2f}x {compute:10.2f} {1000 * overhead:11.1f} ms")
        # the batched relevance is the per-file relevance
        sample = sorted(blocks[-1].glob("*.png"))[-1].stem
        a = np.load(work / "naive" / blocks[-1].name / f"{sample}.npy")
        b = np.load(work / f"run{args.batch_size}" / blocks[-1].name / "items" / METHOD / f"{sample}.npy")
        # NaN marks the pixels the centre crop cut off; they must agree too.
        same_unseen = bool(np.array_equal(np.isnan(a), np.isnan(b)))
        print(f"max |batched - per-file| relevance on {sample}: {np.nanmax(np.abs(a - b)):.3g} "
              f"(max |relevance| {np.nanmax(np.abs(a)):.3g}; same unseen pixels: {same_unseen})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
