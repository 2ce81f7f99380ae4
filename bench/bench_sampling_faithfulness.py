"""Benchmark: LIME and RELAX on a trained model against ``lime`` and relax-xai; choosing their sampling defaults.

Run ``.venv/bin/python bench/bench_sampling_faithfulness.py [--quick] [--only relax|lime] [--more-lime]`` (and below).

Model: ResNet-18's layout (stride-2 stem and max pool, four stages of two basic blocks, average pool, linear) at
1/8 of its width, trained here on CPU (weights cached in the temporary folder) on generated 64x64 pictures: a
smooth random background, three squares of distractor colours and, in half of them, the red square that decides
the class (8x8; ``--square 14``: 14x14). Explained: held-out pictures with the square, called "red" with p > 0.9.

Round-robin on every picture and seed: RELAX -- xaidesk with opposite pairs and the area control variate each on
or off, and relax-xai's ``RELAX`` (batches of 100, 7 cells); with ``--cells``, xaidesk's default estimator at each
grid size instead, each with its own reference; LIME -- xaidesk's segmentations, samplers and fills,
and ``lime.lime_image.LimeImageExplainer`` at its defaults (quickshift, superpixel mean, batches of 10). Masks and
designs are reproducible prefixes of longer ones, so one run to the largest count gives every smaller count;
RELAX's time at n is read from the run, LIME's is its segmentation plus the sampling time scaled by n.

Per setting and count: seconds (median and best over all runs: the machine is shared), Pearson with a long run of
the same estimator, AOPC (:func:`aopc`), planted contrast and share (:func:`planted`); mean±sd over seeds of the
mean over pictures; ratios to the reference package of the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xaidesk.core import CancelToken, get_method  # noqa: E402
from xaidesk.explain.lime import display_image, fit_surrogate, paint, segment_image  # noqa: E402
from xaidesk.explain.masks import STRATEGIES, automatic_cells, make_sampler  # noqa: E402
from xaidesk.explain.relax import run_relax  # noqa: E402
from xaidesk.explain.common import scoring_module  # noqa: E402
from xaidesk.explain.relax_layers import layer_encoder  # noqa: E402
from xaidesk.models.base import LoadedModel  # noqa: E402
from xaidesk.models.inference import preferred_memory_format  # noqa: E402
from xaidesk.models.preprocessing import Preprocessing  # noqa: E402

SIDE, SQUARE = 64, 8
RED = (0.92, 0.08, 0.08)
DISTRACTORS = ((0.1, 0.2, 0.9), (0.1, 0.8, 0.2), (0.1, 0.8, 0.85), (0.08, 0.08, 0.08))
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
TARGET, PEARSON_TARGET = 1, 0.9
#: Pixel flipping: the most relevant FLIP_PIXELS pixels (1/8 of the picture) in FLIP_STEPS equal steps.
FLIP_PIXELS, FLIP_STEPS = 512, 16


def make_pictures(count: int, seed: int, side: int = SIDE):
    """``count`` RGB uint8 pictures, their labels (1: the red square is planted) and the red square's box."""
    rng = np.random.default_rng(seed)
    images, labels, boxes = [], [], []
    for index in range(count):
        coarse = torch.from_numpy(rng.uniform(0.3, 0.7, (1, 3, 6, 6)).astype(np.float32))
        image = F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False)[0].numpy()
        image = image.transpose(1, 2, 0) + rng.normal(0.0, 0.04, (side, side, 3))
        label = index % 2
        colours = [DISTRACTORS[i] for i in rng.choice(len(DISTRACTORS), 3)] + ([RED] if label else [])
        taken = np.zeros((side, side), dtype=bool)
        box = (0, 0, 0, 0)
        for colour in colours:
            while True:
                top, left = (int(v) for v in rng.integers(0, side - SQUARE + 1, 2))
                if not taken[max(0, top - 2):top + SQUARE + 2, max(0, left - 2):left + SQUARE + 2].any():
                    break
            taken[top:top + SQUARE, left:left + SQUARE] = True
            image[top:top + SQUARE, left:left + SQUARE] = colour
            box = (top, left, top + SQUARE, left + SQUARE)
        images.append(np.clip(image * 255, 0, 255).round().astype(np.uint8))
        labels.append(label)
        boxes.append(box)
    return np.stack(images), np.array(labels), boxes


class Block(nn.Module):
    def __init__(self, inp: int, out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.shortcut = (nn.Sequential() if stride == 1 and inp == out else
                         nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out)))

    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


class PlantedResNet(nn.Module):
    """ResNet-18's layout (stem, four stages of two basic blocks, average pool, linear) at 1/8 of its width."""

    def __init__(self, widths=(8, 16, 32, 64)) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        blocks, inp = [], widths[0]
        for stage, width in enumerate(widths):
            blocks += [Block(inp, width, 1 if stage == 0 else 2), Block(width, width, 1)]
            inp = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(inp, 2)

    def encode(self, x):
        return self.pool(self.blocks(self.stem(x)))

    def forward(self, x):
        return self.fc(self.encode(x))


def to_input(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) pictures, uint8 or float in [0, 1], as the model's input."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    x = x / 255.0 if images.dtype == np.uint8 else x
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def trained_model() -> LoadedModel:
    """Train (about 30 s on two cores) or load the cached weights; checks held-out accuracy >= 0.95."""
    source = "".join(inspect.getsource(f) for f in (make_pictures, Block, PlantedResNet, trained_model))
    key = hashlib.sha256(f"{source}{SQUARE}".encode()).hexdigest()
    cache = Path(tempfile.gettempdir()) / f"xaidesk_bench_planted_resnet_{key[:12]}.pt"
    images, labels, _ = make_pictures(1400, seed=0)
    x, y = to_input(images), torch.from_numpy(labels)
    torch.manual_seed(0)
    net = PlantedResNet()
    if cache.exists():
        net.load_state_dict(torch.load(cache))
    else:
        optimiser = torch.optim.Adam(net.parameters(), 2e-3)
        generator = torch.Generator().manual_seed(0)
        for _ in range(3):
            net.train()
            order = torch.randperm(1200, generator=generator)
            for start in range(0, 1200, 64):
                chosen = order[start:start + 64]
                optimiser.zero_grad()
                F.cross_entropy(net(x[chosen]), y[chosen]).backward()
                optimiser.step()
        partial = cache.with_suffix(".part")
        torch.save(net.state_dict(), partial)
        partial.replace(cache)
    net.eval()
    with torch.no_grad():
        accuracy = float((net(x[1200:]).argmax(1) == y[1200:]).float().mean())
    if accuracy < 0.95:
        raise RuntimeError(f"the planted-square model reached only {accuracy:.2f} held-out accuracy")
    print(f"model: held-out accuracy {accuracy:.3f} (weights {cache})")
    return LoadedModel(spec="bench:planted", name="planted-resnet", module=net,
                       preprocessing=Preprocessing(size=(SIDE, SIDE), mean=MEAN, std=STD),
                       class_names=["no red", "red"], architecture="resnet")


def explained_pictures(model: LoadedModel, count: int):
    images, labels, boxes = make_pictures(8 * count, seed=7)
    with torch.no_grad():
        probability = torch.softmax(model.module(to_input(images)), 1)[:, TARGET].numpy()
    chosen = [i for i in range(len(images)) if labels[i] == TARGET and probability[i] > 0.9][:count]
    return [(images[i], boxes[i]) for i in chosen]


def pearson(a, b) -> float:
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b) + 1e-300))


def planted(relevance: np.ndarray, box) -> tuple[float, float]:
    """(contrast, share): (mean in - mean out) / sd out; share of positive (map - median) inside the square."""
    inside = np.zeros(relevance.shape, dtype=bool)
    inside[box[0]:box[2], box[1]:box[3]] = True
    out = relevance[~inside]
    contrast = (relevance[inside].mean() - out.mean()) / max(out.std(), 1e-12)
    positive = np.maximum(relevance - np.median(relevance), 0.0)
    total = positive.sum()
    return float(contrast), float(positive[inside].sum() / total) if total > 0 else float("nan")


def aopc(model, image, relevance) -> float:
    """AOPC (Samek et al. 2017) of p(red) over the start of the most-relevant-first curve: the mean over k = 0..16
    of p(x) - p(x with the top 32 k pixels set to the mean colour). (The whole curve of
    :mod:`xaidesk.evaluate.pixel_flipping` removes 8 squares' area per step: every good map would tie.)"""
    order = np.argsort(-np.asarray(relevance, np.float64).ravel(), kind="stable")
    flat = image.reshape(-1, 3)
    fill = flat.mean(0).round().astype(np.uint8)
    batch = []
    for k in range(FLIP_STEPS + 1):
        flipped = flat.copy()
        flipped[order[: k * FLIP_PIXELS // FLIP_STEPS]] = fill
        batch.append(flipped.reshape(image.shape))
    with torch.no_grad():
        p = torch.softmax(model.module(to_input(np.stack(batch))), 1)[:, TARGET].numpy()
    return float(np.mean(p[0] - p))


def xaidesk_relax(model, x, n, seed, antithetic, control_variate, every, cells=0):
    """[(n, importance, seconds)] at multiples of ``every``; as the registered method samples its masks."""
    trace, excluded = [], 0.0
    sampler = make_sampler(STRATEGIES["random"], tuple(x.shape[-2:]), seed=seed, antithetic=antithetic,
                           cells=cells or automatic_cells(*x.shape[-2:]), keep_probability=0.5)
    start = time.perf_counter()

    def snapshot(acc):
        nonlocal excluded
        tick = time.perf_counter()
        if acc.count % every == 0:
            trace.append((acc.count, acc.importance(), tick - start - excluded))
        excluded += time.perf_counter() - tick

    with layer_encoder(model, "", example=x) as (encode, _, _):
        run = run_relax(encode, x, num_masks=n, sampler=sampler, control_variate=control_variate, batch_size=every,
                        make_partial=snapshot, memory_format=preferred_memory_format(scoring_module(model), x),
                        partial_every=1, partial_interval=0.0)
    trace.append((run.accumulator.count, run.accumulator.importance(), time.perf_counter() - start - excluded))
    return trace


def official_relax(model, x, n, seed, every=100):
    """relax-xai's RELAX in batches of 100 masks, one batch per call, snapshots between calls."""
    from relax_xai.relax import RELAX

    torch.manual_seed(seed)
    trace, elapsed = [], 0.0
    with torch.no_grad():
        tick = time.perf_counter()
        encoder = nn.Sequential(model.module.stem, model.module.blocks, model.module.pool)
        relax = RELAX(x, encoder, batch_size=every, num_batches=1)
        for done in range(every, n + 1, every):
            relax.forward(num_cells=7, probablity_of_drop=0.5)
            elapsed += time.perf_counter() - tick
            trace.append((done, relax.importance.numpy().copy(), elapsed))
            tick = time.perf_counter()
    return trace


SEGMENTATION_PARAMS = {"slic": {}, "quickshift": {}, "felzenszwalb": {}, "grid": {"grid_rows": 8, "grid_cols": 8}}


def xaidesk_lime(model, x, n, seed, segmentation, sampling, hide):
    """(segments, design, weights, probabilities, setup seconds, total seconds) of one registry run."""
    info = get_method("lime")
    params = info.resolve_params({"num_samples": n, "seed": seed, "segmentation": segmentation, "hide": hide,
                                  "sampling": sampling, **SEGMENTATION_PARAMS[segmentation]})
    tick = time.perf_counter()
    segment_image(display_image(x, model.preprocessing), params)
    setup = time.perf_counter() - tick
    tick = time.perf_counter()
    result = info.function(model, x, TARGET, params=params, token=CancelToken(), progress=lambda *a, **k: None)
    total = time.perf_counter() - tick
    e = result.extras
    return e["segments"], e["design"], e["sample_weights"], e["outputs"][:, TARGET], setup, total


def xaidesk_lime_map(run, n, alpha=1.0) -> np.ndarray:
    segments, design, weights, outputs = run[:4]
    return paint(segments, fit_surrogate(design[:n], outputs[:n], weights[:n], alpha)[0])


def package_lime(model, image, n, seed):
    """``lime`` at its defaults: (refit(count) -> map from lime's own fit on the first samples, segmentation
    seconds, total seconds, segments)."""
    from lime import lime_image
    from lime.wrappers.scikit_image import SegmentationAlgorithm
    from sklearn.metrics import pairwise_distances

    picture = image.astype(np.float64) / 255.0
    tick = time.perf_counter()
    SegmentationAlgorithm("quickshift", kernel_size=4, max_dist=200, ratio=0.2)(picture)
    setup = time.perf_counter() - tick
    lime_image.tqdm = iter  # no progress bar
    explainer = lime_image.LimeImageExplainer(random_state=seed)
    captured = {}
    original = explainer.data_labels

    def data_labels(*args, **kwargs):
        captured["segments"] = args[2]
        captured["data"], captured["labels"] = original(*args, **kwargs)
        return captured["data"], captured["labels"]

    def classify(batch):
        with torch.no_grad():
            return torch.softmax(model.module(to_input(batch)), 1).numpy()

    explainer.data_labels = data_labels
    tick = time.perf_counter()
    explanation = explainer.explain_instance(picture, classify, labels=(TARGET,), top_labels=None, num_samples=n)
    total = time.perf_counter() - tick
    segments = captured["segments"]

    def refit(count):
        weights = dict(explanation.local_exp[TARGET])
        if count < n:
            data, labels = captured["data"][:count], captured["labels"][:count]
            distances = pairwise_distances(data, data[0].reshape(1, -1), metric="cosine").ravel()
            weights = dict(explainer.base.explain_instance_with_data(data, labels, distances, TARGET, 100000)[1])
        return paint(segments, np.array([weights.get(s, 0.0) for s in range(int(segments.max()) + 1)]))

    return refit, setup, total, segments


RELAX_SETTINGS = {"xaidesk antithetic+cv": (True, True, 0), "xaidesk antithetic": (True, False, 0),  # pairs, cv,
                  "xaidesk cv": (False, True, 0), "xaidesk plain": (False, False, 0)}  # cells (0: automatic)
RELAX_PACKAGE, LIME_PACKAGE = "relax-xai", "lime (quickshift)"
LIME_SETTINGS = {f"xaidesk {'/'.join(v)}".replace("/lime/", "/iid/"): v for v in (  # segmentation, sampling, fill
    ("slic", "orthogonal", "mean"), ("slic", "lime", "mean"), ("slic", "orthogonal", "black"),
    ("quickshift", "orthogonal", "mean"), ("grid", "orthogonal", "mean"))}
MORE_LIME_SETTINGS = {f"xaidesk {'/'.join(v)}": v for v in (("felzenszwalb", "orthogonal", "mean"),
                                                           ("slic", "orthogonal", "blur"))}


class Records:
    """Per setting, seed and picture: checkpoints (n, seconds, pearson, map); measures computed once."""

    def __init__(self, model, pictures):
        self.model, self.pictures = model, pictures
        self.runs: dict[str, dict[tuple[int, int], list]] = {}
        self._cache: dict = {}

    def put(self, setting, seed, picture, checkpoints, reference):
        """Store [(n, seconds, map)] with each map's Pearson to ``reference``."""
        runs = self.runs.setdefault(setting, {})
        runs[(seed, picture)] = [(n, t, pearson(m, reference), m) for n, t, m in checkpoints]

    def measures(self, setting, seed, picture, index):
        key = (setting, seed, picture, index)
        if key not in self._cache:
            n, seconds, r, relevance = self.runs[setting][(seed, picture)][index]
            image, box = self.pictures[picture]
            self._cache[key] = (n, seconds, r, aopc(self.model, image, relevance), *planted(relevance, box))
        return self._cache[key]

    def at_count(self, setting, seed, picture, n):
        checkpoints = self.runs[setting][(seed, picture)]
        return self.measures(setting, seed, picture, [c[0] for c in checkpoints].index(n))

    def seconds(self, setting, n) -> tuple[float, float]:
        """Median and best wall time to ``n`` over every seed and picture (the machine is shared)."""
        times = [c[1] for run in self.runs[setting].values() for c in run if c[0] == n]
        return float(np.median(times)), float(np.min(times))

    def reached(self, setting, budget) -> int | None:
        """Largest count whose median time is within ``budget``."""
        counts = [c[0] for c in next(iter(self.runs[setting].values()))]
        within = [n for n in counts if self.seconds(setting, n)[0] <= budget]
        return within[-1] if within else None

    def needed(self, setting, seed):
        """First count from which the mean Pearson over pictures stays >= the target (inf if never)."""
        runs = [self.runs[setting][(seed, p)] for p in range(len(self.pictures))]
        counts = [c[0] for c in runs[0]]
        mean_r = [np.mean([run[i][2] for run in runs]) for i in range(len(counts))]
        for i in range(len(counts)):
            if all(r >= PEARSON_TARGET for r in mean_r[i:]):
                return counts[i]
        return float("inf")


def fmt(pair, digits=3) -> str:
    mean, sd = pair
    return "n/a" if not np.isfinite(mean) else f"{mean:.{digits}f}±{sd:.{digits}f}"


def per_seed(records, seeds, setting, pick, column):
    """Mean±sd over seeds of the mean over pictures of one column of :meth:`Records.measures`."""
    values = [float(np.mean([pick(setting, seed, p)[column] for p in range(len(records.pictures))])) for seed in seeds]
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def print_tables(title, records, seeds, settings, package, counts):
    rows, at = [*settings, package], records.at_count
    head = f"{'setting':34s} {'n':>5s}"
    print(f"\n== {title} at equal counts: seconds median (best) over all runs; the rest mean±sd over {len(seeds)} "
          f"seeds of the mean over {len(records.pictures)} pictures ==\n{head} {'seconds':>12s} {'t/pkg':>6s} "
          f"{'pearson':>12s} {'AOPC':>12s} {'contrast':>11s} {'c/pkg':>6s} {'share':>12s}")
    for n in counts:
        pkg_t = records.seconds(package, n)[0]
        pkg_c = per_seed(records, seeds, package, lambda s, seed, p: at(s, seed, p, n), 4)[0]
        for setting in rows:
            median, best = records.seconds(setting, n)
            c = [per_seed(records, seeds, setting, lambda s, seed, p: at(s, seed, p, n), k) for k in (2, 3, 4, 5)]
            print(f"{setting:34s} {n:5d} {f'{median:.2f} ({best:.2f})':>12s} {median / pkg_t:6.2f} {fmt(c[0]):>12s} "
                  f"{fmt(c[1]):>12s} {fmt(c[2], 2):>11s} {c[2][0] / pkg_c:6.2f} {fmt(c[3]):>12s}")
    print(f"\n== {title}: count to reach Pearson >= {PEARSON_TARGET} (mean over pictures) per seed, median seconds "
          f"to it ==\n{'setting':34s} {'n per seed':>16s} {'seconds per seed':>20s} {'t/pkg':>6s}")
    pkg_t = None
    for setting in [package, *settings]:
        needed = [records.needed(setting, seed) for seed in seeds]
        times = [records.seconds(setting, n)[0] if np.isfinite(n) else np.inf for n in needed]
        pkg_t = pkg_t or np.mean(times)
        ratio = np.mean(times) / pkg_t if np.isfinite(pkg_t) else np.nan
        print(f"{setting:34s} {' '.join(str(n) if np.isfinite(n) else '>max' for n in needed):>16s} "
              f"{' '.join(f'{t:.2f}' for t in times):>20s} {ratio:6.2f}")
    print(f"\n== {title} at equal wall time: each setting at its largest count whose median time is within the "
          f"package's at n ==\n{head} {'budget s':>8s} {'pearson':>12s} {'AOPC':>12s} {'contrast':>11s} {'share':>12s}")
    for n in counts:
        budget = records.seconds(package, n)[0]
        for setting in rows:
            got = records.reached(setting, budget)
            c = [per_seed(records, seeds, setting, lambda s, seed, p: at(s, seed, p, got), k) for k in (2, 3, 4, 5)
                 ] if got else [(np.nan, np.nan)] * 4
            print(f"{setting:34s} {got or 0:5d} {budget:8.2f} {fmt(c[0]):>12s} {fmt(c[1]):>12s} {fmt(c[2], 2):>11s} "
                  f"{fmt(c[3]):>12s}")


def run_relax_comparison(model, pictures, seeds, n_max, reference, settings):
    records = Records(model, pictures)
    for p, (image, box) in enumerate(pictures):
        x = model.preprocessing.to_tensor(image)
        ref_pkg = official_relax(model, x, reference, 10_000)[-1][1]
        refs = {c: xaidesk_relax(model, x, reference, 10_000, True, True, 100, c)[-1][1]
                for c in sorted({s[2] for s in settings.values()})}  # the limit depends on the grid only
        print(f"picture {p}: RELAX references ({reference} masks) vs relax-xai's: " + "; ".join(
            f"{c or 'auto'} cells Pearson {pearson(m, ref_pkg):.3f} contrast {planted(m, box)[0]:.2f}"
            for c, m in refs.items()) + f"; relax-xai contrast {planted(ref_pkg, box)[0]:.2f}", flush=True)
        for seed in seeds:
            for setting, (antithetic, cv, cells) in settings.items():
                trace = xaidesk_relax(model, x, n_max, seed, antithetic, cv, 100, cells)
                records.put(setting, seed, p, [(n, t, m) for n, m, t in trace], refs[cells])
            trace = official_relax(model, x, n_max, seed)
            records.put(RELAX_PACKAGE, seed, p, [(n, t, m) for n, m, t in trace], ref_pkg)
    return records


def run_lime_comparison(model, pictures, seeds, n_max, reference, step, settings):
    records = Records(model, pictures)
    counts = list(range(step, n_max + 1, step))
    for p, (image, box) in enumerate(pictures):
        x = model.preprocessing.to_tensor(image)
        refs = {(seg, hide): xaidesk_lime_map(xaidesk_lime(model, x, reference, 10_000, seg, "lime", hide), reference)
                for seg, _, hide in settings.values()}
        refs.setdefault(("quickshift", "mean"), xaidesk_lime_map(
            xaidesk_lime(model, x, reference, 10_000, "quickshift", "lime", "mean"), reference))
        for seed in seeds:
            for setting, (segmentation, sampling, hide) in settings.items():
                run = xaidesk_lime(model, x, n_max, seed, segmentation, sampling, hide)
                setup, total = run[4], run[5]
                records.put(setting, seed, p, [(n, setup + (total - setup) * n / n_max, xaidesk_lime_map(run, n))
                                               for n in counts], refs[(segmentation, hide)])
            refit, setup, total, segments = package_lime(model, image, n_max, seed)
            if "package" not in refs:  # the same estimator as xaidesk's when the superpixels are the same
                same = np.array_equal(segments, segment_image(display_image(x, model.preprocessing),
                                                              {"segmentation": "quickshift"}))
                refs["package"] = refs[("quickshift", "mean")] if same else package_lime(model, image, reference,
                                                                                          10_000)[0](reference)
                print(f"picture {p}: lime's {int(segments.max()) + 1} superpixels equal xaidesk's: {same}", flush=True)
            records.put(LIME_PACKAGE, seed, p, [(n, setup + (total - setup) * n / n_max, refit(n)) for n in counts],
                        refs["package"])
        print(f"picture {p}: LIME done", flush=True)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 pictures, 1 seed, short runs (a smoke run)")
    for name, default in (("pictures", 3), ("seeds", 3), ("relax-max", 400), ("lime-max", 1000),
                          ("relax-reference", 3000), ("lime-reference", 1500)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--only", choices=("relax", "lime"), default=None)
    parser.add_argument("--more-lime", action="store_true", help="LIME: also Felzenszwalb and blurred hiding")
    parser.add_argument("--cells", type=int, nargs="+", help="RELAX: xaidesk's default at these grid sizes")
    parser.add_argument("--square", type=int, default=SQUARE, help="side of the planted squares in pixels")
    args = parser.parse_args()
    globals()["SQUARE"] = args.square  # read by make_pictures; the trained weights are cached per size
    if args.quick:
        args.pictures, args.seeds, args.relax_max, args.lime_max, args.relax_reference, args.lime_reference = \
            2, 1, 200, 250, 800, 1000
    torch.set_num_threads(2)
    start = time.perf_counter()
    model = trained_model()
    pictures = explained_pictures(model, args.pictures)
    seeds = list(range(args.seeds))
    print(f"{len(pictures)} pictures {SIDE}x{SIDE}, {SQUARE}-pixel squares, seeds {seeds}, torch {torch.__version__}")
    if args.only in (None, "relax"):
        settings = {f"xaidesk {c} cells": (False, True, c) for c in args.cells} if args.cells else RELAX_SETTINGS
        records = run_relax_comparison(model, pictures, seeds, args.relax_max, args.relax_reference, settings)
        counts = [n for n in (100, 200, 400, 800) if n <= args.relax_max]
        print_tables("RELAX", records, seeds, list(settings), RELAX_PACKAGE, counts)
    if args.only in (None, "lime"):
        settings = {**LIME_SETTINGS, **(MORE_LIME_SETTINGS if args.more_lime else {})}
        records = run_lime_comparison(model, pictures, seeds, args.lime_max, args.lime_reference, 50, settings)
        counts = [n for n in (250, 500, 1000) if n <= args.lime_max]
        print_tables("LIME", records, seeds, list(settings), LIME_PACKAGE, counts)
    print(f"\ntotal {time.perf_counter() - start:.0f} s; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
