"""Benchmark: occlusion, LIME and RELAX on an ONNX model run by onnxruntime, against raw inference.

Run with ``.venv/bin/python bench/bench_onnx.py [--quick]``.

The model is torchvision's ResNet-18 with random weights (no download), exported to ONNX at
224x224 with a dynamic batch axis and loaded with ``load_model("onnx:PATH")``. For each method
the masked samples per second of the registered function (called as the pipeline calls it, on
the preprocessed input) are set against raw batched inference of the same onnxruntime session on
ready-made inputs (batch 16, no masks to build), measured right before and right after the method
in the same run; the ratio uses the mean of the two. Target: >= 0.95x. Timings are repeated and
the best ratio of the repeats is reported as well as the median (the machine may be shared).
Wall-clock rates are what a person sees; on a machine shared with other work they swing by tens of
per cent between measurements, so the ratio of samples per CPU second of this process
(``time.process_time``, all threads; onnxruntime's threads do not spin) is printed too.

LIME's superpixel segmentation is a fixed cost per image, independent of the number of samples;
its time is reported and the ratio is given both with and without it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xaidesk.core import CancelToken, get_method, no_progress  # noqa: E402
from xaidesk.models import load_model  # noqa: E402

BATCH = 16


def export(folder: Path) -> Path:
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval()
    path = folder / "resnet18.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 224, 224),), str(path), input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": {0: "b"}, "logits": {0: "b"}}, dynamo=False)
    return path


def raw_rate(model, inputs: np.ndarray) -> tuple[float, float]:
    """Samples per wall second and per CPU second of the bare session on ready-made inputs, batch :data:`BATCH`."""
    session, name = model.scoring_module.session, model.scoring_module.input_name
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(inputs), BATCH):
        session.run(None, {name: inputs[i:i + BATCH]})
    return len(inputs) / (time.perf_counter() - start), len(inputs) / (time.process_time() - cpu)


def method_rate(model, x, method: str, params: dict) -> tuple[float, float, int, float]:
    """``(samples per second, seconds, samples, samples per CPU second)``; samples count every forward
    pass of one input."""
    info = get_method(method)
    resolved = info.resolve_params(params)
    start, cpu = time.perf_counter(), time.process_time()
    result = info.function(model, x, 0, params=resolved, token=CancelToken(), progress=no_progress)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    samples = {"occlusion": lambda: result.extras["patches_evaluated"] + 1,  # + the unoccluded input
               "lime": lambda: result.extras["num_samples"],
               "relax": lambda: result.extras["n_done"] + 1}[method]()  # + the unmasked reference
    return samples / seconds, seconds, samples, samples / cpu_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and repeats")
    args = parser.parse_args()
    torch.set_num_threads(2)
    repeats = 1 if args.quick else 3
    samples = 48 if args.quick else 128
    with tempfile.TemporaryDirectory() as folder:
        model = load_model(f"onnx:{export(Path(folder))}")
    print(f"model: ResNet-18 (random weights) as ONNX, 224x224; onnxruntime threads: "
          f"{model.scoring_module.session.get_session_options().intra_op_num_threads}; torch threads: "
          f"{torch.get_num_threads()}")
    print("notes:", " | ".join(model.notes))
    rng = np.random.default_rng(0)
    image = (rng.random((224, 224, 3)) * 255).astype(np.uint8)
    x = model.preprocessing.to_tensor(image)
    inputs = np.ascontiguousarray(np.repeat(x.numpy(), samples, axis=0)
                                  * (rng.random((samples, 1, 224, 224)) > 0.5).astype(np.float32))
    raw_rate(model, inputs[:BATCH])  # warm-up
    # Occlusion: patch 64, stride 32 on 224 px gives 6 x 6 = 36 patches; 32/24 gives 81.
    methods = {
        "occlusion": {"patch_size": 64, "stride": 32} if args.quick else {"patch_size": 48, "stride": 24},
        "lime": {"num_samples": samples, "seed": 0},
        "relax": {"num_masks": samples, "seed": 0},
    }
    from xaidesk.explain.lime import display_image, segment_image

    start = time.perf_counter()
    segment_image(display_image(x, model.preprocessing), get_method("lime").resolve_params({}))
    segmentation = time.perf_counter() - start
    for method, params in methods.items():
        walls, cpus, rates, raws = [], [], [], []
        for _ in range(repeats):
            before = raw_rate(model, inputs)
            rate, seconds, count, cpu_rate = method_rate(model, x, method, params)
            after = raw_rate(model, inputs)
            raw, raw_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
            rates.append(rate)
            raws.append(raw)
            walls.append(rate / raw)
            cpus.append(cpu_rate / raw_cpu)
        line = (f"{method:9s} {count} samples: {statistics.median(rates):6.1f}/s vs raw {statistics.median(raws):6.1f}/s"
                f" -> wall ratio median {statistics.median(walls):.3f} (best {max(walls):.3f}), CPU-time ratio "
                f"median {statistics.median(cpus):.3f}")
        if method == "lime":
            line += f"; the superpixel segmentation (once per image) took {segmentation:.2f} s"
        print(line)


if __name__ == "__main__":
    main()
