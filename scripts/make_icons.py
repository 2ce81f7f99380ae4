"""Draw the application icon (a heatmap over a tile) into resources/icons/.

Run once after changing the design: ``python scripts/make_icons.py``.
"""

from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "resources" / "icons"


def draw(size: int = 512) -> Image.Image:
    y, x = np.mgrid[0:size, 0:size] / size
    hot = np.exp(-((x - 0.62) ** 2 + (y - 0.38) ** 2) / 0.02)
    cold = np.exp(-((x - 0.35) ** 2 + (y - 0.68) ** 2) / 0.015)
    field = hot - 0.8 * cold
    rgb = np.zeros((size, size, 3))
    rgb[..., 0] = 0.93 - 0.55 * np.clip(-field, 0, 1)
    rgb[..., 1] = 0.93 - 0.75 * np.abs(field)
    rgb[..., 2] = 0.93 - 0.55 * np.clip(field, 0, 1)
    border = 0.07
    radius = 0.16
    inside = np.ones((size, size), bool)
    dx = np.clip(np.maximum(border + radius - x, x - (1 - border - radius)), 0, None)
    dy = np.clip(np.maximum(border + radius - y, y - (1 - border - radius)), 0, None)
    inside &= dx**2 + dy**2 <= radius**2
    inside &= (x > border) & (x < 1 - border) & (y > border) & (y < 1 - border)
    alpha = inside.astype(float)
    frame = inside & ((x < border + 0.02) | (x > 1 - border - 0.02) | (y < border + 0.02) | (y > 1 - border - 0.02))
    rgb[frame] = (0.15, 0.2, 0.3)
    rgba = np.dstack([rgb, alpha])
    return Image.fromarray(np.round(rgba * 255).astype(np.uint8), "RGBA")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    icon = draw()
    icon.resize((256, 256), Image.Resampling.LANCZOS).save(OUT / "xaidesk.png")
    icon.save(OUT / "xaidesk.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    try:
        icon.save(OUT / "xaidesk.icns")
    except (OSError, ValueError, KeyError) as error:  # Pillow may not write ICNS on every platform
        print(f"skipped .icns: {error}")
    print(f"wrote icons to {OUT}")


if __name__ == "__main__":
    main()
