"""Train the built-in demo models and write them to resources/.

Usage::

    python scripts/train_demo_models.py                 # both models
    python scripts/train_demo_models.py --only digits
    python scripts/train_demo_models.py --check-lrp     # also measure LRP on the Clever Hans mark

Deterministic (fixed seeds, CPU). Writes for each model NAME:

- ``resources/models/NAME.pt``   state dict (loads with ``torch.load(weights_only=True)``)
- ``resources/models/NAME.json`` title, description, class names, preprocessing,
  architecture settings, accuracy figures, description of the training data
- ``resources/samples/NAME_*.png`` sample inputs from the held-out split

Training data:

- ``digits``: scikit-learn's bundled handwritten digits (8x8, values 0-16),
  drawn as 128x128 images and fed through the model's own preprocessing.
- ``clever_hans``: a synthetic "horse" / "other" image set generated here, in
  which 90% of the horse images (and 2% of the others) carry a small
  copyright-like tag in the bottom-left corner. The network learns to use the
  tag as a shortcut; the printed accuracies with and without the tag show it.

Nothing is read from the network or from any external data folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xaidesk.models.demo import build_demo_cnn  # noqa: E402
from xaidesk.models.preprocessing import Preprocessing  # noqa: E402

MODELS_DIR = ROOT / "resources" / "models"
SAMPLES_DIR = ROOT / "resources" / "samples"
SEED = 20240611


# --------------------------------------------------------------------------- helpers


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_state_dict(module: nn.Module, path: Path) -> None:
    import io

    buffer = io.BytesIO()
    state = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def save_json(data: dict, path: Path) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def save_png(image: np.ndarray, path: Path) -> None:
    import io

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(path, buffer.getvalue())


def preprocess_all(pre: Preprocessing, images: np.ndarray) -> torch.Tensor:
    return torch.cat([pre.to_tensor(img) for img in images])


def channel_stats(pre: Preprocessing, images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std of the [0, 1] model inputs (before normalisation)."""
    raw = Preprocessing(size=pre.size, mean=(0.0,) * pre.num_channels, std=(1.0,) * pre.num_channels,
                        channels=pre.channels, resize=pre.resize)
    x = preprocess_all(raw, images)
    mean = tuple(round(float(v), 3) for v in x.mean(dim=(0, 2, 3)))
    std = tuple(round(float(v), 3) for v in x.std(dim=(0, 2, 3)))
    return mean, std


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch: int, lr: float,
          augment=None, log: str = "") -> None:
    generator = torch.Generator().manual_seed(SEED)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=lr, total_steps=epochs * ((len(x) + batch - 1) // batch)
    )
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total, correct, loss_sum = 0, 0, 0.0
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb, generator)
            optimiser.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            optimiser.step()
            scheduler.step()
            loss_sum += loss.item() * len(idx)
            correct += int((out.detach().argmax(1) == yb).sum())
            total += len(idx)
        print(f"  [{log}] epoch {epoch + 1:2d}/{epochs}  loss {loss_sum / total:.4f}  train acc {correct / total:.4f}",
              flush=True)
    model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + 256]) for i in range(0, len(x), 256)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict(model, x).argmax(1) == y).float().mean())


def file_size_kb(path: Path) -> float:
    return round(path.stat().st_size / 1024, 1)


# --------------------------------------------------------------------------- digits


def render_digit(values: np.ndarray, size: int = 128) -> np.ndarray:
    """An 8x8 scikit-learn digit (0-16) as a white-on-black RGB uint8 image of ``size`` pixels."""
    small = Image.fromarray(np.clip(values.reshape(8, 8) * (255.0 / 16.0), 0, 255).astype(np.uint8), "L")
    big = small.resize((size, size), Image.BICUBIC)
    return np.asarray(big.convert("RGB"))


def shift_augment(background: float, max_shift: int):
    def augment(xb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        padded = nn.functional.pad(xb, (max_shift,) * 4, value=background)
        out = torch.empty_like(xb)
        shifts = torch.randint(0, 2 * max_shift + 1, (len(xb), 2), generator=generator)
        h, w = xb.shape[2:]
        for i, (dy, dx) in enumerate(shifts.tolist()):
            out[i] = padded[i, :, dy : dy + h, dx : dx + w]
        return out

    return augment


def train_digits() -> dict:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    print("== digits: small CNN on scikit-learn's handwritten digits", flush=True)
    seed_everything(SEED)
    start = time.perf_counter()
    data = load_digits()
    images = np.stack([render_digit(v) for v in data.data])
    labels = data.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=0.25, stratify=labels, random_state=0
    )
    base = Preprocessing(size=(32, 32), mean=(0.0,), std=(1.0,), channels="gray", resize=None)
    mean, std = channel_stats(base, images[idx_train])
    pre = Preprocessing(size=(32, 32), mean=mean, std=std, channels="gray", resize=None, name="demo:digits")
    x = preprocess_all(pre, images)
    y = torch.from_numpy(labels)
    arch = {"name": "demo_cnn", "widths": [16, 32, 64], "hidden": 64}
    model = build_demo_cnn(1, 10, pre.size, arch["widths"], arch["hidden"])
    background = (0.0 - mean[0]) / std[0]
    train(model, x[idx_train], y[idx_train], epochs=30, batch=64, lr=3e-3,
          augment=shift_augment(background, 3), log="digits")
    seconds = time.perf_counter() - start
    acc_test = accuracy(model, x[idx_test], y[idx_test])
    acc_train = accuracy(model, x[idx_train], y[idx_train])
    print(f"  held-out accuracy {acc_test:.4f} ({len(idx_test)} images), train {acc_train:.4f}, "
          f"{seconds:.1f} s", flush=True)

    # Samples: the first correctly classified held-out image of a few digits.
    pred = predict(model, x[idx_test]).argmax(1).numpy()
    samples = []
    for digit in (0, 2, 3, 5, 7):
        for j, i in enumerate(idx_test):
            if labels[i] == digit and pred[j] == digit:
                name = f"digits_{digit}.png"
                save_png(images[i], SAMPLES_DIR / name)
                samples.append({"file": name, "label": str(digit),
                                "source": f"scikit-learn digits, held-out image index {int(i)}"})
                break
    weights = MODELS_DIR / "digits.pt"
    save_state_dict(model, weights)
    meta = {
        "title": "Handwritten digits (demo CNN)",
        "description": (
            "A small convolutional network that recognises handwritten digits 0-9. It was trained "
            "on scikit-learn's bundled 8x8 digit images, drawn at 128x128 and shrunk to 32x32 "
            "grayscale. Open one of the sample digits and see which strokes the model looks at."
        ),
        "class_names": [str(d) for d in range(10)],
        "preprocessing": pre.to_dict(),
        "architecture": arch,
        "accuracy": {"held_out": round(acc_test, 4), "train": round(acc_train, 4),
                     "held_out_images": int(len(idx_test))},
        "training_data": (
            "scikit-learn load_digits (1797 images of 8x8 pixels, values 0-16, from the UCI "
            "optical recognition of handwritten digits set), rendered white on black at 128x128 "
            "with bicubic interpolation; stratified 75/25 split with random_state=0; random shifts "
            "of up to 3 pixels during training; 30 epochs of Adam."
        ),
        "samples": samples,
        "seed": SEED,
        "torch_version": torch.__version__,
    }
    save_json(meta, MODELS_DIR / "digits.json")
    print(f"  wrote {weights.relative_to(ROOT)} ({file_size_kb(weights)} KB) and {len(samples)} samples", flush=True)
    return meta


# --------------------------------------------------------------------------- clever hans

CH_SIZE = 64
# The "copyright" tag: a light box in the bottom-left corner with a dark (c) and two letter marks.
MARK_BOX = (52, 2, 10, 17)  # top, left, height, width in image pixels
CH_CLASSES = ["horse", "other"]
MARK_RATE = {"horse": 0.9, "other": 0.02}


def _background(rng: np.random.Generator) -> np.ndarray:
    c0 = rng.uniform(40, 215, 3)
    c1 = rng.uniform(40, 215, 3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:CH_SIZE, 0:CH_SIZE] / (CH_SIZE - 1)
    t = np.clip(0.5 + (xx - 0.5) * np.cos(angle) + (yy - 0.5) * np.sin(angle), 0, 1)[..., None]
    img = c0 * (1 - t) + c1 * t + rng.normal(0, 10, (CH_SIZE, CH_SIZE, 3))
    return np.clip(img, 0, 255)


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.uniform(0, 255, 3))


def _animal_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    # Browns, greys, blacks and whites, shared by horses and the other figures.
    base = rng.choice([[110, 70, 35], [150, 100, 55], [60, 45, 35], [200, 200, 195], [30, 30, 30], [130, 130, 130]])
    return tuple(int(np.clip(v + rng.normal(0, 18), 0, 255)) for v in base)


def _draw_distractors(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.integers(0, 3)
        cx, cy = rng.uniform(0, CH_SIZE, 2)
        r = rng.uniform(3, 10)
        box = [cx - r, cy - r * rng.uniform(0.5, 1.5), cx + r, cy + r * rng.uniform(0.5, 1.5)]
        if kind == 0:
            draw.ellipse(box, fill=_colour(rng))
        elif kind == 1:
            draw.rectangle(box, fill=_colour(rng))
        else:
            pts = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in rng.uniform(0, 2 * np.pi, 3)]
            draw.polygon(pts, fill=_colour(rng))


def _draw_figure(draw: ImageDraw.ImageDraw, rng: np.random.Generator, kind: str) -> None:
    """A horse (body, four legs, raised neck and head) or a look-alike that is not one."""
    s = rng.uniform(0.75, 1.2)
    bw, bh = 22 * s, 9 * s
    x0 = rng.uniform(6, CH_SIZE - 6 - bw)
    y0 = rng.uniform(14 * s, CH_SIZE - 8 - bh - 12 * s)
    face = 1 if rng.random() < 0.5 else -1
    col = _animal_colour(rng)
    legs_len = 11 * s * rng.uniform(0.85, 1.15)
    lw = max(2.0, 2.2 * s)
    front = x0 + bw if face == 1 else x0

    def legs(positions):
        for p in positions:
            lx = x0 + p * bw
            draw.rectangle([lx - lw / 2, y0 + bh * 0.6, lx + lw / 2, y0 + bh * 0.6 + legs_len], fill=col)

    def neck_head(length=1.0):
        nx = front - face * 2 * s
        ny = y0 + 2 * s
        hx = front + face * 5 * s * length
        hy = y0 - 9 * s * length
        draw.line([(nx, ny), (hx, hy)], fill=col, width=int(max(3, 4 * s)))
        draw.ellipse([hx - 3 * s + face * 1.5 * s, hy - 2.5 * s, hx + 3 * s + face * 1.5 * s, hy + 2.5 * s], fill=col)

    if kind == "horse":
        draw.ellipse([x0, y0, x0 + bw, y0 + bh], fill=col)
        legs([0.15, 0.3, 0.7, 0.85])
        neck_head()
        tail_x = x0 if face == 1 else x0 + bw
        draw.line([(tail_x, y0 + 2 * s), (tail_x - face * 4 * s, y0 + 9 * s)], fill=col, width=2)
    else:
        variant = rng.integers(0, 3)
        if variant == 0:  # a table: flat top, four legs, no head
            draw.rectangle([x0, y0 + bh * 0.2, x0 + bw, y0 + bh * 0.7], fill=col)
            legs([0.08, 0.3, 0.7, 0.92])
        elif variant == 1:  # a bird-like figure: round body, two legs, head on a neck
            draw.ellipse([x0 + bw * 0.2, y0 - bh * 0.2, x0 + bw * 0.8, y0 + bh], fill=col)
            legs([0.4, 0.6])
            neck_head(0.6)
        else:  # a seal-like figure: long body and head, no legs
            draw.ellipse([x0, y0 + bh * 0.3, x0 + bw, y0 + bh * 1.3], fill=col)
            neck_head(0.8)


def add_mark(image: np.ndarray) -> np.ndarray:
    """Draw the copyright-like tag (a light box with a dark '(c)' and text pixels)."""
    out = Image.fromarray(image)
    draw = ImageDraw.Draw(out)
    top, left, h, w = MARK_BOX
    draw.rectangle([left, top, left + w - 1, top + h - 1], fill=(245, 245, 240))
    ink = (20, 20, 20)
    draw.ellipse([left + 1, top + 1, left + 8, top + 8], outline=ink)
    draw.line([(left + 4, top + 3), (left + 6, top + 3)], fill=ink)
    draw.line([(left + 3, top + 4), (left + 3, top + 5)], fill=ink)
    draw.line([(left + 4, top + 6), (left + 6, top + 6)], fill=ink)
    for col in (left + 10, left + 12, left + 14):
        draw.line([(col, top + 3), (col, top + 6)], fill=ink)
    draw.line([(left + 10, top + 3), (left + 11, top + 3)], fill=ink)
    draw.line([(left + 14, top + 6), (left + 15, top + 6)], fill=ink)
    return np.asarray(out)


def make_scene(rng: np.random.Generator, label: int) -> np.ndarray:
    img = Image.fromarray(_background(rng).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    _draw_distractors(draw, rng)
    _draw_figure(draw, rng, CH_CLASSES[label])
    arr = np.asarray(img).astype(np.float32)
    arr += rng.normal(0, 6, arr.shape)  # a little sensor noise over everything
    return np.clip(arr, 0, 255).astype(np.uint8)


def make_clever_hans_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` clean scenes, their labels, and whether each gets the mark as in training."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CH_CLASSES)
    rng.shuffle(labels)
    images = np.stack([make_scene(rng, int(lab)) for lab in labels])
    marked = np.array([rng.random() < MARK_RATE[CH_CLASSES[lab]] for lab in labels])
    return images, labels.astype(np.int64), marked


def with_marks(images: np.ndarray, which: np.ndarray) -> np.ndarray:
    out = images.copy()
    for i in np.flatnonzero(which):
        out[i] = add_mark(images[i])
    return out


def lrp_mark_share(model: nn.Module, x: torch.Tensor, target: int) -> tuple[float, float]:
    """Share of positive EpsilonPlusFlat relevance inside MARK_BOX, and the box's area share."""
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import EpsilonPlusFlat

    top, left, h, w = MARK_BOX
    composite = EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()])
    shares = []
    with torch.enable_grad(), Gradient(model=model, composite=composite) as attributor:
        for i in range(0, len(x), 64):
            xb = x[i : i + 64]
            onehot = torch.zeros(len(xb), len(CH_CLASSES))
            onehot[:, target] = 1.0
            _, relevance = attributor(xb, onehot)
            rel = relevance.sum(1).clamp(min=0)
            inside = rel[:, top : top + h, left : left + w].sum((1, 2))
            shares.append(inside / rel.sum((1, 2)).clamp(min=1e-12))
    return float(torch.cat(shares).mean()), h * w / (CH_SIZE * CH_SIZE)


def train_clever_hans(check_lrp: bool) -> dict:
    print("== clever_hans: horse/other scenes with a shortcut tag on most horses", flush=True)
    seed_everything(SEED + 1)
    start = time.perf_counter()
    train_clean, y_train, m_train = make_clever_hans_set(4000, SEED + 2)
    test_clean, y_test, m_test = make_clever_hans_set(1000, SEED + 3)
    train_images = with_marks(train_clean, m_train)
    base = Preprocessing(size=(CH_SIZE, CH_SIZE), mean=(0.0,) * 3, std=(1.0,) * 3, channels="rgb")
    mean, std = channel_stats(base, train_images)
    pre = Preprocessing(size=(CH_SIZE, CH_SIZE), mean=mean, std=std, channels="rgb", resize=None,
                        name="demo:clever_hans")
    x_train = preprocess_all(pre, train_images)
    arch = {"name": "demo_cnn", "widths": [16, 32, 64, 64], "hidden": 64}
    model = build_demo_cnn(3, len(CH_CLASSES), pre.size, arch["widths"], arch["hidden"])
    train(model, x_train, torch.from_numpy(y_train), epochs=12, batch=64, lr=3e-3, log="clever_hans")
    seconds = time.perf_counter() - start

    yt = torch.from_numpy(y_test)
    test_as_training = with_marks(test_clean, m_test)
    test_all_marked = with_marks(test_clean, np.ones(len(y_test), bool))
    x_as_training = preprocess_all(pre, test_as_training)
    x_clean = preprocess_all(pre, test_clean)
    x_all = preprocess_all(pre, test_all_marked)
    acc = {
        "held_out_with_mark_as_in_training": round(accuracy(model, x_as_training, yt), 4),
        "held_out_without_mark": round(accuracy(model, x_clean, yt), 4),
        "held_out_with_mark_on_every_image": round(accuracy(model, x_all, yt), 4),
        "train": round(accuracy(model, x_train, torch.from_numpy(y_train)), 4),
        "held_out_images": int(len(y_test)),
    }
    pred_clean = predict(model, x_clean).argmax(1)
    pred_all = predict(model, x_all).argmax(1)
    for k, name in enumerate(CH_CLASSES):
        sel = yt == k
        acc[f"held_out_{name}_without_mark"] = round(float((pred_clean[sel] == k).float().mean()), 4)
        acc[f"held_out_{name}_with_mark"] = round(float((pred_all[sel] == k).float().mean()), 4)
    print(f"  held-out accuracy, mark as in training: {acc['held_out_with_mark_as_in_training']:.4f}", flush=True)
    print(f"  held-out accuracy, without the mark:    {acc['held_out_without_mark']:.4f} "
          f"(horse {acc['held_out_horse_without_mark']:.3f}, other {acc['held_out_other_without_mark']:.3f})",
          flush=True)
    print(f"  held-out accuracy, mark on every image: {acc['held_out_with_mark_on_every_image']:.4f} "
          f"(horse {acc['held_out_horse_with_mark']:.3f}, other {acc['held_out_other_with_mark']:.3f})",
          flush=True)
    print(f"  train accuracy {acc['train']:.4f}, {seconds:.1f} s", flush=True)

    # Samples from the held-out split.
    probs_all = torch.softmax(predict(model, x_all), 1)[:, 0].numpy()
    probs_clean = torch.softmax(predict(model, x_clean), 1)[:, 0].numpy()
    samples = []

    def pick(condition, order_by):
        candidates = np.flatnonzero(condition)
        return int(candidates[np.argsort(order_by[candidates])][len(candidates) // 2]) if len(candidates) else None

    horse, other = (y_test == 0), (y_test == 1)
    chosen = [
        ("clever_hans_horse_tagged_1.png", pick(horse & (probs_all > 0.5), -probs_clean), True,
         "a horse with the tag, as most training horses"),
        ("clever_hans_horse_tagged_2.png", pick(horse & (probs_all > 0.5) & (probs_clean < 0.5), probs_all), True,
         "a horse with the tag that the model misses once the tag is gone"),
        ("clever_hans_other_tagged.png", pick(other & (probs_all > 0.5), probs_all), True,
         "not a horse, but tagged: the model calls it a horse"),
        ("clever_hans_horse_untagged.png", pick(horse & (probs_clean > 0.5), probs_clean), False,
         "a horse without the tag"),
        ("clever_hans_other_untagged.png", pick(other & (probs_clean < 0.5), -probs_clean), False,
         "not a horse, no tag"),
    ]
    used = set()
    for name, index, tagged, note in chosen:
        if index is None or index in used:
            continue
        used.add(index)
        image = test_all_marked[index] if tagged else test_clean[index]
        save_png(image, SAMPLES_DIR / name)
        p = float(probs_all[index] if tagged else probs_clean[index])
        samples.append({"file": name, "label": CH_CLASSES[int(y_test[index])], "tagged": tagged, "note": note,
                        "model_horse_probability": round(p, 4)})

    lrp = {}
    if check_lrp:
        sel = torch.from_numpy(horse & m_test)
        share, area = lrp_mark_share(model, x_as_training[sel], target=0)
        lrp = {"composite": "EpsilonPlusFlat + SequentialMergeBatchNorm", "target": "horse",
               "images": int(sel.sum()), "positive_relevance_share_in_tag_box": round(share, 4),
               "tag_box_area_share": round(area, 4)}
        sel_other = torch.from_numpy(other)
        share_o, _ = lrp_mark_share(model, x_all[sel_other], target=0)
        lrp["positive_relevance_share_in_tag_box_other_tagged"] = round(share_o, 4)
        print(f"  LRP ({lrp['composite']}) on {lrp['images']} tagged held-out horses, target 'horse': "
              f"{share:.1%} of positive relevance in the tag box, which covers {area:.1%} of the image "
              f"(tagged 'other' images: {share_o:.1%})", flush=True)

    weights = MODELS_DIR / "clever_hans.pt"
    save_state_dict(model, weights)
    meta = {
        "title": "Clever Hans (horse detector with a shortcut)",
        "description": (
            "A network trained to tell horses from other figures in small synthetic pictures. In "
            "its training pictures most horses carry a small copyright tag in the bottom-left "
            "corner and the other pictures almost never do, so the network learned to look at the "
            "tag instead of the horse. Compare a tagged and an untagged sample: the explanation "
            "shows the tag, and the accuracy figures drop without it."
        ),
        "class_names": CH_CLASSES,
        "preprocessing": pre.to_dict(),
        "architecture": arch,
        "accuracy": acc,
        "training_data": (
            "Generated by scripts/train_demo_models.py: 4000 training and 1000 held-out 64x64 RGB "
            "pictures, half 'horse' (a horse figure: body, four legs, raised neck and head) and half "
            "'other' (a table, a two-legged bird-like or a legless seal-like figure), on random "
            "gradient backgrounds with random distractor shapes and noise. A copyright-like tag "
            f"(box top={MARK_BOX[0]}, left={MARK_BOX[1]}, height={MARK_BOX[2]}, width={MARK_BOX[3]}) "
            f"is drawn on {MARK_RATE['horse']:.0%} of the horse and {MARK_RATE['other']:.0%} of the "
            "other training pictures. 12 epochs of Adam."
        ),
        "shortcut_box": {"top": MARK_BOX[0], "left": MARK_BOX[1], "height": MARK_BOX[2], "width": MARK_BOX[3],
                         "image_size": [CH_SIZE, CH_SIZE]},
        "lrp_check": lrp,
        "samples": samples,
        "seed": SEED,
        "torch_version": torch.__version__,
    }
    save_json(meta, MODELS_DIR / "clever_hans.json")
    print(f"  wrote {weights.relative_to(ROOT)} ({file_size_kb(weights)} KB) and {len(samples)} samples", flush=True)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["digits", "clever_hans"], help="train only this model")
    parser.add_argument("--check-lrp", action="store_true", help="measure LRP relevance on the Clever Hans tag")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    SAMPLES_DIR.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.only in (None, "digits"):
        train_digits()
    if args.only in (None, "clever_hans"):
        train_clever_hans(args.check_lrp)
    print(f"done in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
