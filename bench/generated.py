"""Generated inputs the benchmarks share: smooth random colour fields with noise, and interleaved blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_images(folder: Path, count: int, size: int = 224, seed: int = 0, cells: int = 7) -> None:
    """Write ``count`` PNG pictures ``img_0000.png`` … of ``size`` px: a ``cells``×``cells`` random colour
    grid enlarged bicubically, plus uniform noise of ±20."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        coarse = rng.integers(0, 256, size=(cells, cells, 3), dtype=np.uint8)
        field = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), dtype=np.int16)
        pixels = np.clip(field + rng.integers(-20, 21, size=field.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{i:04d}.png")


def split_into_blocks(files: list[Path], root: Path, size: int) -> list[Path]:
    """Move ``files`` into folders ``root/blocks/block_00`` … of ``size`` files each, so that contenders can
    take turns block by block and a changing load on the machine hits all of them alike."""
    blocks = []
    for k in range(0, len(files), size):
        block = root / "blocks" / f"block_{k // size:02d}"
        block.mkdir(parents=True)
        for path in files[k:k + size]:
            path.rename(block / path.name)
        blocks.append(block)
    return blocks
