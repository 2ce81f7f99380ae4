"""Benchmark: the Dask cluster executor (``xaidesk.runs.cluster.run_on_cluster``) against the local
dataset mode (``xaidesk.runs.run_batch``) on one machine; the target is at most 10 ms overhead per file.

Run with ``.venv/bin/python bench/bench_cluster.py [--images 200] [--size 64] [--repeats 3]``.

Setup: torchvision ResNet-18 with random weights (a generated state dict saved to a temporary file,
``torchvision:resnet18:PATH``, 10 classes) with the preprocessing set by hand to ``--size`` px, so
that model compute does not hide the executor's cost; ``--images`` generated PNG images of that
size; input x gradient; batch size 16.

Two pairings, each measured in the same run, repeats interleaved (local, dask, local, dask, ...):

- ``1 worker x 1 thread``: a local cluster of one worker process with one thread, against
  ``run_batch`` here with one torch thread -- the same compute resources, so the difference is
  the executor's own cost: connecting a client, loading the model here to check the run and once
  per shard on the worker, sending the tasks, following the shards' indexes, merging;
- ``2 workers x 1 thread``: a local cluster of two worker processes (Dask starts each with one
  torch thread), against ``run_batch`` with ``--threads`` torch threads (default 2).

Each cluster is started once, before its repeats (an already-started cluster, as a user's
scheduler would be); its start and a first untimed run (the workers import torch and xaidesk) are
printed apart. Each timed dask run connects a client to the scheduler's address, as
``xaidesk batch --executor dask --address`` does. Printed: seconds (median and best), and the
overhead per file = (dask - local) / files, from the medians and from the bests.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generated import make_images  # noqa: E402
from xaidesk.models.preprocessing import Preprocessing  # noqa: E402
from xaidesk.runs import run_batch  # noqa: E402
from xaidesk.runs.cluster import run_on_cluster, shards_folder  # noqa: E402

METHOD = "gradient.input_x_gradient"


def fresh(out: Path) -> Path:
    for path in (out, shards_folder(out)):
        shutil.rmtree(path, ignore_errors=True)
    return out


def pairing(name, workers, local_threads, args, source, spec, preprocessing, work):
    import distributed

    started = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as client:
        client.wait_for_workers(workers)
    start_s = time.perf_counter() - started
    common = dict(batch_size=16, preprocessing=preprocessing)
    first = time.perf_counter()
    run_on_cluster(source, fresh(work / "warm"), spec, [METHOD], address=cluster.scheduler_address, **common)
    first_s = time.perf_counter() - first
    torch.set_num_threads(local_threads)
    run_batch(source, fresh(work / "local-warm"), spec, [METHOD], **common)
    times = {"local": [], "dask": []}
    for repeat in range(args.repeats):
        for contender in (("local", "dask") if repeat % 2 == 0 else ("dask", "local")):
            out = fresh(work / contender)
            tick = time.perf_counter()
            if contender == "local":
                result = run_batch(source, out, spec, [METHOD], **common)
            else:
                result = run_on_cluster(source, out, spec, [METHOD], address=cluster.scheduler_address, **common)
            times[contender].append(time.perf_counter() - tick)
            assert result.computed == args.images and result.finished
    cluster.close()
    files = args.images
    median = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    print(f"\n{name} (local run_batch with {local_threads} torch thread(s)); {len(times['dask'])} repeats")
    print(f"  cluster start {start_s:.2f} s; first run on it (workers import torch, xaidesk) {first_s:.2f} s")
    for key in ("local", "dask"):
        print(f"  {key:5s}  median {median[key]:6.2f} s  best {best[key]:6.2f} s  "
              f"({files / median[key]:.0f} files/s)  all: " + ", ".join(f"{t:.2f}" for t in times[key]))
    per_median = (median["dask"] - median["local"]) / files * 1000
    per_best = (best["dask"] - best["local"]) / files * 1000
    print(f"  overhead per file: {per_median:+.1f} ms (medians), {per_best:+.1f} ms (bests); target <= 10 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the local run in the 2-worker pairing")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xaidesk-bench-cluster-"))
    try:
        source = work / "images"
        make_images(source, args.images, args.size, cells=4)
        weights = work / "resnet18.pt"
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), weights)
        spec = f"torchvision:resnet18:{weights}"
        preprocessing = Preprocessing(size=(args.size, args.size), mean=(0.485, 0.456, 0.406),
                                      std=(0.229, 0.224, 0.225), channels="rgb")
        print(f"{args.images} images of {args.size} px, ResNet-18 (random weights, 10 classes), {METHOD}, "
              f"batch size 16, torch {torch.__version__}")
        pairing("1 worker x 1 thread", 1, 1, args, source, spec, preprocessing, work)
        pairing("2 workers x 1 thread", 2, args.threads, args, source, spec, preprocessing, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
