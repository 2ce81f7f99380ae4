"""Benchmark: RELAX on the perturbation engine -- throughput, convergence, reference loop, memory.

Run with ``.venv/bin/python bench/bench_relax.py [--quick]``.

One run, one model: torchvision ResNet-18 with random weights (no download), a 224x224 input
(scikit-image's astronaut photo, ImageNet preprocessing), ``torch.set_num_threads(2)``. Ratios
are against baselines measured in the same run; timings are repeated and medians reported
(the machine is shared).

1. **Throughput**: masked samples/s of ``relax`` (registry call, default parameters) against the
   best plain batched inference throughput of the same model (batch sizes 8/16/32, contiguous
   and channels-last inputs). Target >= 0.95x.
2. **Convergence**: masks needed until the importance map reaches Pearson >= 0.95 (and stays
   there) against a reference run 10x longer than the longest run checked, antithetic pairs with
   the area control variate vs plain i.i.d. masks. Measured on random weights; on a trained
   network the pairs did not pay and are off by default since (bench/bench_sampling_faithfulness.py).
3. **Against the reference implementation**: a loop written like the official RELAX code
   (100 masks per batch, one random shift per batch, stack the masked inputs, forward, cosine
   similarity, per-sample Welford update) vs xaidesk; wall time to reach Pearson >= 0.95 against
   the same long reference. Target <= 0.5x.
4. **Memory**: peak RSS (``resource.getrusage`` maxrss) of ``relax`` at N=3000 minus N=300, each
   in a fresh subprocess. Target <= 50 MB.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xaidesk.core import CancelToken, get_method  # noqa: E402
from xaidesk.explain import relax as relax_module  # noqa: E402
from xaidesk.explain.relax_layers import layer_encoder  # noqa: E402
from xaidesk.explain.masks import GridMaskSampler  # noqa: E402
from xaidesk.models.base import LoadedModel  # noqa: E402
from xaidesk.models.preprocessing import IMAGENET  # noqa: E402

THRESHOLD = 0.95


def build() -> LoadedModel:
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval()
    return LoadedModel(spec="torchvision:resnet18", name="resnet18", module=net, preprocessing=IMAGENET,
                       class_names=[str(i) for i in range(1000)], architecture="resnet18")


def image_input(model: LoadedModel) -> torch.Tensor:
    try:
        from skimage import data
        image = data.astronaut()
    except Exception:  # pragma: no cover - scikit-image missing
        image = np.random.default_rng(0).integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    return model.preprocessing.to_tensor(image)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel().astype(np.float64) - a.mean()
    b = b.ravel().astype(np.float64) - b.mean()
    return float(a @ b / math.sqrt((a @ a) * (b @ b)))


def relax_call(model, x, **params):
    info = get_method("relax")
    return info.function(model, x, 0, params=info.resolve_params(params), token=CancelToken(),
                         progress=lambda *a, **k: None)


# --- 1. throughput -------------------------------------------------------------------------------------


def plain_throughput(model, x, batch_sizes, repeats):
    results = {}
    with torch.inference_mode():
        for fmt in ("contiguous", "channels_last"):
            for bs in batch_sizes:
                batch = x.expand(bs, -1, -1, -1).clone()
                if fmt == "channels_last":
                    batch = batch.contiguous(memory_format=torch.channels_last)
                model.module(batch[:2])  # warm-up
                rates = []
                for _ in range(repeats):
                    tick = time.perf_counter()
                    model.module(batch)
                    rates.append(bs / (time.perf_counter() - tick))
                results[(fmt, bs)] = statistics.median(rates)
    return results


def relax_throughput(model, x, n, repeats):
    rates = []
    for r in range(repeats):
        tick = time.perf_counter()
        result = relax_call(model, x, num_masks=n, seed=r)
        rates.append(n / (time.perf_counter() - tick))
    return statistics.median(rates), result.extras


# --- 2./3. convergence -----------------------------------------------------------------------------------


def traced_run(model, x, n, reference, antithetic, seed, control_variate=True):
    """xaidesk RELAX with a Pearson check after every batch; returns [(n, pearson, seconds)].

    ``seconds`` is the wall time of the computation up to that batch, without the checks.
    """
    trace = []
    excluded = 0.0
    start = time.perf_counter()

    def make_partial(acc):
        nonlocal excluded
        tick = time.perf_counter()
        trace.append((acc.count, pearson(acc.importance(), reference), tick - start - excluded))
        excluded += time.perf_counter() - tick
        return None

    with layer_encoder(model, "") as (encode, _, _):
        run = relax_module.run_relax(encode, x, num_masks=n, antithetic=antithetic, seed=seed,
                                     control_variate=control_variate,
                                     make_partial=make_partial, memory_format="auto",
                                     partial_every=1, partial_interval=0.0)
    end = time.perf_counter() - start - excluded
    trace.append((run.accumulator.count, pearson(run.accumulator.importance(), reference), end))
    return trace


def reference_loop(model, x, n, reference, seed, batch=100, cells=7, p=0.5, check_every=10):
    """The official RELAX code's way, written straightforwardly (100 masks per forward)."""
    torch.manual_seed(seed)
    h, w = x.shape[-2:]
    cell = (math.ceil(h / cells), math.ceil(w / cells))
    with layer_encoder(model, "") as (encode, _, _):
        with torch.no_grad():
            h_star = encode(x).reshape(1, -1)
        R = torch.zeros(h, w)
        U = torch.zeros(h, w)
        W = 1e-10 * torch.ones(h, w)
        trace, excluded, done = [], 0.0, 0
        start = time.perf_counter()
        while done < n:
            with torch.no_grad():
                grid = (torch.rand(batch, 1, cells, cells) < p).float()
                up = F.interpolate(grid, size=(h + cell[0], w + cell[1]), mode="bilinear", align_corners=False)
                dy, dx = np.random.randint(0, cell[0]), np.random.randint(0, cell[1])
                masks = up[:, :, dy:dy + h, dx:dx + w]
                feats = encode(x * masks).reshape(batch, -1)
                sims = F.cosine_similarity(h_star.expand(batch, -1), feats, dim=1)
                for si, mi in zip(sims, masks[:, 0]):
                    W += mi
                    r_prev = R.clone()
                    R = R + mi * (si - R) / W
                    U = U + (si - R) * (si - r_prev) * mi
                    done += 1
                    if done % check_every == 0:
                        tick = time.perf_counter()
                        trace.append((done, pearson(R.numpy(), reference), tick - start - excluded))
                        excluded += time.perf_counter() - tick
    return trace


def samples_to_reach(trace, threshold=THRESHOLD):
    """First (n, seconds) after which Pearson stays >= threshold; None if never."""
    for i, (n, r, seconds) in enumerate(trace):
        if all(rr >= threshold for _, rr, _ in trace[i:]):
            return n, seconds
    return None


# --- 4. memory ------------------------------------------------------------------------------------------


def child_memory(n: int) -> None:
    torch.set_num_threads(2)
    model = build()
    x = image_input(model)
    tick = time.perf_counter()
    result = relax_call(model, x, num_masks=n)
    seconds = time.perf_counter() - tick
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": n, "maxrss_mb": maxrss_kb / 1024, "seconds": seconds,
                      "n_used": result.extras["n_used"]}))


def memory_of(n: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child-memory", str(n)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- main -----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller N for a smoke run")
    parser.add_argument("--check", type=int, default=0, help="longest convergence run (reference is 10x)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--only", choices=("throughput", "convergence", "memory"),
                        help="run one part only (e.g. to repeat throughput when the machine is quiet)")
    parser.add_argument("--child-memory", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        child_memory(args.child_memory)
        return
    torch.set_num_threads(2)
    quick = args.quick
    n_check = args.check or (120 if quick else 600)
    n_throughput = 64 if quick else 300
    repeats = 2 if quick else 3
    model = build()
    x = image_input(model)
    t0 = time.perf_counter()
    print(f"ResNet-18 (random weights), input {tuple(x.shape)}, threads {torch.get_num_threads()}, "
          f"{'quick' if quick else 'full'} run", flush=True)

    # 1. throughput (plain baseline measured before and after RELAX; best of each, median)
    if args.only in (None, "throughput"):
        throughput_section(model, x, n_throughput, repeats)
    if args.only in (None, "convergence"):
        convergence_section(model, x, n_check, quick)
    if args.only in (None, "memory") and not args.skip_memory:
        memory_section(quick)
    print(f"\ntotal bench time {time.perf_counter() - t0:.0f} s")


def throughput_section(model, x, n_throughput, repeats):
    plain_before = plain_throughput(model, x, (8, 16, 32), repeats)
    relax_rate, extras = relax_throughput(model, x, n_throughput, repeats)
    plain_after = plain_throughput(model, x, (8, 16, 32), repeats)
    plain = {k: statistics.median([plain_before[k], plain_after[k]]) for k in plain_before}
    best_key = max(plain, key=plain.get)
    best_contig = max(v for (fmt, _), v in plain.items() if fmt == "contiguous")
    best_cl = max(v for (fmt, _), v in plain.items() if fmt == "channels_last")
    print("\n[1] throughput (images/s, median of repeats; plain = median of before/after)")
    for (fmt, bs), v in sorted(plain.items()):
        print(f"    plain {fmt:13s} batch {bs:3d}: {v:6.1f}")
    print(f"    channels_last vs contiguous (best of each): {best_cl / best_contig:.2f}x")
    print(f"    RELAX ({n_throughput} masks, auto batch {extras['batch_sizes']}, {extras['memory_format']}): "
          f"{relax_rate:.1f} masked samples/s")
    print(f"    ratio vs best plain ({best_key[0]}, batch {best_key[1]}: {plain[best_key]:.1f}/s): "
          f"{relax_rate / plain[best_key]:.2f}x  (target >= 0.95)", flush=True)
    print(f"    ratio vs best plain contiguous ({best_contig:.1f}/s): {relax_rate / best_contig:.2f}x", flush=True)



def convergence_section(model, x, n_check, quick):
    n_ref = 10 * n_check
    tick = time.perf_counter()
    with layer_encoder(model, "") as (encode, _, _):
        ref_run = relax_module.run_relax(encode, x, num_masks=n_ref, antithetic=True, seed=999,
                                         memory_format="auto")
    reference = ref_run.accumulator.importance()
    print(f"\n[2] convergence: reference run of {n_ref} antithetic masks (seed 999) took "
          f"{time.perf_counter() - tick:.0f} s; its standard error {ref_run.accumulator.standard_error():.2e}, "
          f"map spread (std over pixels) {reference.std():.2e}", flush=True)
    seeds = (1,)
    reached = {"antithetic": [], "iid": []}
    traces = {}
    for seed in seeds:
        for name, anti in (("antithetic", True), ("iid", False)):
            # "antithetic" = antithetic pairs + area control variate (the earlier default);
            # "iid" = plain RELAX sampling (i.i.d. masks, no control variate).
            trace = traced_run(model, x, n_check, reference, anti, seed, control_variate=anti)
            traces[(name, seed)] = trace
            hit = samples_to_reach(trace)
            reached[name].append(hit)
            final = trace[-1]
            print(f"    {name:10s} seed {seed}: Pearson at n={final[0]}: {final[1]:.3f}; "
                  f"reaches {THRESHOLD}: {'n=%d (%.1f s)' % hit if hit else 'not within %d' % n_check}",
                  flush=True)
    ns = {k: [h[0] if h else math.inf for h in v] for k, v in reached.items()}
    med_a, med_i = statistics.median(ns["antithetic"]), statistics.median(ns["iid"])
    if math.isfinite(med_i):
        print(f"    samples needed, antithetic / iid (median over seeds): {med_a:.0f} / {med_i:.0f} = "
              f"{med_a / med_i:.2f}x  (target <= 0.5)")
    else:
        print(f"    samples needed, antithetic / iid: {med_a} / >{n_check} (iid did not reach it)")
    for probe in (n_check // 8, n_check // 4, n_check // 2, n_check):
        row = []
        for name in ("antithetic", "iid"):
            vals = [max((r for n, r, _ in traces[(name, s)] if n <= probe), default=float("nan")) for s in seeds]
            row.append(f"{name} {statistics.median(vals):.3f}")
        print(f"      Pearson at n<={probe}: " + ", ".join(row))

    # 2b. the same comparison through the noise of the map itself: independent runs of n masks,
    # variance across runs of the centred importance maps (what Pearson is sensitive to). For a
    # fixed fidelity the samples needed scale with this variance, so its ratio is the samples ratio.
    n_noise, runs = (48, 3) if quick else (96, 4)
    noise = {}
    with layer_encoder(model, "") as (encode, _, _):
        for anti in (True, False):
            for r in range(runs):
                run = relax_module.run_relax(encode, x, num_masks=n_noise, antithetic=anti, seed=100 + r,
                                             memory_format="auto")
                for cv in (False, True):
                    imp = run.accumulator.importance(control_variate=cv).astype(np.float64)
                    noise.setdefault((anti, cv), []).append(imp - imp.mean())
    var = {k: float(np.stack(v).var(axis=0, ddof=1).mean()) for k, v in noise.items()}
    base = var[(False, False)]
    print(f"\n[2b] map noise (variance across {runs} independent runs of {n_noise} masks, centred maps; "
          "ratio = samples needed for equal fidelity vs plain i.i.d.)")
    for (anti, cv), v in sorted(var.items()):
        label = ("antithetic" if anti else "iid") + (" + area control variate" if cv else "")
        print(f"    {label:38s} {v:.3e}  ratio {v / base:.2f}x")
    print(f"    xaidesk default (antithetic + control variate) vs plain i.i.d.: "
          f"{var[(True, True)] / base:.2f}x  (target <= 0.5)", flush=True)

    # 3. reference loop
    ref_times = []
    for seed in seeds:
        trace = reference_loop(model, x, n_check, reference, seed)
        hit = samples_to_reach(trace)
        ref_times.append(hit[1] if hit else math.inf)
        print(f"\n[3] reference loop seed {seed}: Pearson at n={trace[-1][0]}: {trace[-1][1]:.3f}; reaches "
              f"{THRESHOLD}: {'n=%d after %.1f s' % hit if hit else 'not within %d' % n_check}", flush=True)
    ours = [h[1] if h else math.inf for h in reached["antithetic"]]
    t_ours, t_ref = statistics.median(ours), statistics.median(ref_times)
    ref_rate = trace[-1][0] / trace[-1][2]
    ours_rate = traces[("antithetic", 1)][-1][0] / traces[("antithetic", 1)][-1][2]
    print(f"    throughput: reference loop {ref_rate:.1f} masks/s, xaidesk {ours_rate:.1f} masks/s")
    if math.isfinite(t_ref):
        print(f"    wall time to Pearson {THRESHOLD}: xaidesk {t_ours:.1f} s vs reference loop {t_ref:.1f} s = "
              f"{t_ours / t_ref:.2f}x  (target <= 0.5)", flush=True)
    if math.isfinite(t_ours):
        # The reference loop samples plain i.i.d. masks: it needs 1/ratio(2b) times our masks.
        n_ours = reached["antithetic"][0][0]
        predicted = n_ours * base / var[(True, True)] / ref_rate
        print(f"    predicted from [2b] (xaidesk needed n={n_ours}; the reference loop needs "
              f"{base / var[(True, True)]:.1f}x as many masks at {ref_rate:.1f}/s): "
              f"{t_ours:.1f} s vs {predicted:.1f} s = {t_ours / predicted:.2f}x  (target <= 0.5)", flush=True)



def memory_section(quick):
    small, large = (300, 3000) if not quick else (60, 600)
    low, high = memory_of(small), memory_of(large)
    print(f"\n[4] memory: peak RSS N={small}: {low['maxrss_mb']:.1f} MB ({low['seconds']:.0f} s), "
          f"N={large}: {high['maxrss_mb']:.1f} MB ({high['seconds']:.0f} s); difference "
          f"{high['maxrss_mb'] - low['maxrss_mb']:.1f} MB (target <= 50); "
          f"N={large} ran at {large / high['seconds']:.1f} masks/s")


if __name__ == "__main__":
    main()
