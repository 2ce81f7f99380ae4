"""Generated scenes of the built-in Clever Hans demo: horses, look-alikes and a shortcut tag.

The ``demo:clever_hans`` model was trained on these pictures (see
``scripts/train_demo_models.py``): 64x64 RGB scenes with a gradient background,
random distractor shapes and one figure, either a horse or a figure that is not
one. A small copyright-like tag in the bottom-left corner (``MARK_BOX``) marks
90 % of the training horses, so the model learned the tag as a shortcut.

:func:`write_mark_demo_folder` writes a folder of horse pictures, half of them
tagged, with a ground-truth CSV: the demo set on which SpRAy separates
tag-driven from horse-driven predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..core import CancelToken, InputError, no_progress

CH_SIZE = 64
#: The "copyright" tag: a light box in the bottom-left corner with a dark (c) and two letter marks.
MARK_BOX = (52, 2, 10, 17)  # top, left, height, width in image pixels
CH_CLASSES = ["horse", "other"]
MARK_RATE = {"horse": 0.9, "other": 0.02}
#: Name of the ground-truth file written by :func:`write_mark_demo_folder`.
MARKS_CSV = "marks.csv"


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
    """The image with the copyright-like tag drawn in (a light box with a dark '(c)' and text pixels).

    ``image`` is a (64, 64, 3) uint8 scene; a new array is returned.
    """
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
    """One clean (64, 64, 3) uint8 scene of class ``label`` (0 horse, 1 other), drawn from ``rng``."""
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
    """A copy of ``images`` (N, 64, 64, 3) with the mark drawn on the images where ``which`` is true."""
    out = images.copy()
    for i in np.flatnonzero(which):
        out[i] = add_mark(images[i])
    return out


def make_mark_demo_set(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` horse scenes, exactly half of them (rounded down) carrying the mark, in shuffled order.

    Returns the images (n, 64, 64, 3) uint8 and the boolean mark flags (n,).
    """
    if n < 2:
        raise InputError("The demo set needs at least 2 pictures (one with the mark, one without).")
    rng = np.random.default_rng(seed)
    images = np.stack([make_scene(rng, 0) for _ in range(n)])
    marked = np.zeros(n, dtype=bool)
    marked[rng.permutation(n)[: n // 2]] = True
    return with_marks(images, marked), marked


def write_mark_demo_folder(folder: str | Path, n: int = 200, seed: int = 0, *, token: CancelToken | None = None,
                           progress=None) -> Path:
    """Write ``n`` generated horse pictures, half with the mark, and their ground truth.

    The folder receives ``horse/NNNN.png`` (the class subfolder makes a batch run
    record ``true_class = horse``) and ``marks.csv`` with the columns
    ``file,mark`` (``file`` relative to the folder, forward slashes; ``mark`` 1
    where the picture carries the tag, else 0). The files are written as a set:
    nothing is left behind if writing fails or is cancelled.

    Parameters
    ----------
    folder
        A new or empty folder.
    n, seed
        Number of pictures and the seed of the generator (the same seed gives the same pictures).
    """
    from ..core.io import save_png_atomic, staged_folder, write_bytes_atomic

    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"'{folder}' already exists and is not an empty folder; choose a new folder for the demo set.")
    token = token or CancelToken()
    progress = progress or no_progress
    images, marked = make_mark_demo_set(n, seed)
    rows = ["file,mark"]
    with staged_folder(folder) as staging:
        for i, (image, mark) in enumerate(zip(images, marked)):
            token.check()
            name = f"horse/{i:04d}.png"
            save_png_atomic(staging / name, image)
            rows.append(f"{name},{int(mark)}")
            progress((i + 1) / n, f"picture {i + 1} of {n}")
        write_bytes_atomic(staging / MARKS_CSV, ("\n".join(rows) + "\n").encode("utf-8"))
    return folder


def read_marks(folder_or_csv: str | Path) -> dict[str, bool]:
    """The ground truth of a demo folder: file (relative, forward slashes) -> carries the mark."""
    import csv

    path = Path(folder_or_csv)
    if path.is_dir():
        path = path / MARKS_CSV
    if not path.is_file():
        raise InputError(f"'{path}' was not found; give a folder written by write_mark_demo_folder or its {MARKS_CSV}.")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"file", "mark"} <= set(reader.fieldnames):
            raise InputError(f"'{path}' must have the columns 'file' and 'mark'.")
        return {row["file"]: row["mark"].strip() in ("1", "true", "True") for row in reader}
