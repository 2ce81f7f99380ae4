"""Open image files safely: any common format and mode becomes RGB uint8.

Modes are normalised (16-bit, grayscale, palette, alpha, CMYK), EXIF rotation
is applied, very large images are downscaled while decoding where the format
allows it, and every problem becomes an :class:`~xaidesk.core.InputError`
that says what was wrong and what to do. The file itself is only read.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core import InputError
from ..core.io import missing_path_message

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
IMAGE_FILE_FILTER = "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ");;All files (*)"

MIN_SIDE = 8
MAX_SIDE = 4096
MAX_PIXELS = 400_000_000


@dataclass
class LoadedImage:
    """An opened image.

    Attributes
    ----------
    pixels
        RGB uint8 array (H, W, 3). Treat as read-only.
    path
        Where it came from.
    notices
        Plain-language notes about what was done to it (downscaled, rotated, ...).
    original_size
        (width, height) as stored in the file, before rotation or downscaling.
    mode
        The file's original PIL mode, e.g. ``"RGB"``, ``"I;16"``, ``"P"``.
    """

    pixels: np.ndarray
    path: Path
    notices: list[str] = field(default_factory=list)
    original_size: tuple[int, int] = (0, 0)
    mode: str = "RGB"

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def load_image(path: str | Path, max_side: int = MAX_SIDE) -> LoadedImage:
    """Open ``path`` as an RGB uint8 image.

    Raises
    ------
    InputError
        When the file is missing, not an image, truncated, too small or too large.
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise InputError(missing_path_message(path, "file"))
    if path.is_dir():
        raise InputError(f"'{path}' is a folder, not an image file. Choose an image file inside it.")
    if path.stat().st_size == 0:
        raise InputError(f"'{name}' is empty (0 bytes). Choose another image file.")
    notices: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            previous_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                with Image.open(path) as image:
                    pixels, original_size, mode = _decode(image, name, max_side, notices)
            finally:
                Image.MAX_IMAGE_PIXELS = previous_limit
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(
            f"'{name}' is not an image that can be read (its contents are not PNG, JPEG, BMP, GIF, "
            "TIFF or WebP, whatever its name says). Choose a real image file."
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        message = str(error)
        if "truncated" in message.lower() or "broken" in message.lower() or isinstance(error, SyntaxError):
            raise InputError(
                f"'{name}' is damaged or incomplete (the image data ends too early). "
                "Copy or download the file again.",
                details=message,
            ) from None
        raise InputError(f"'{name}' could not be read as an image.", details=message) from None
    except MemoryError:
        raise InputError(f"'{name}' is too large to open on this computer. Reduce its size first.") from None
    return LoadedImage(pixels=pixels, path=path, notices=notices, original_size=original_size, mode=mode)


def _decode(image: Image.Image, name: str, max_side: int, notices: list[str]) -> tuple[np.ndarray, tuple[int, int], str]:
    original_size = image.size
    mode = image.mode
    width, height = original_size
    if width * height > MAX_PIXELS:
        raise InputError(
            f"'{name}' is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), too large to open. "
            f"Reduce it to at most {MAX_PIXELS // 1_000_000} megapixels in an image editor."
        )
    if min(width, height) < MIN_SIDE:
        raise InputError(
            f"'{name}' is only {width}x{height} pixels; explanations need at least {MIN_SIDE}x{MIN_SIDE}. "
            "Choose a larger image."
        )
    shrunk_side = round(min(width, height) * min(1.0, max_side / max(width, height)))
    if shrunk_side < MIN_SIDE:
        raise InputError(
            f"'{name}' is {width}x{height} pixels, too elongated: shrunk to at most {max_side} pixels on the longer "
            f"side it would be {shrunk_side} pixel(s) across, below the {MIN_SIDE}x{MIN_SIDE} that explanations "
            "need. Crop it to a less elongated part first."
        )
    if getattr(image, "n_frames", 1) > 1:
        notices.append(f"The file has {image.n_frames} frames; the first one is used.")
    if max(width, height) > max_side and image.format == "JPEG":
        # Decode at a reduced scale directly: no full-size buffer is ever allocated.
        image.draft("RGB", (max_side, max_side))
    image.load()
    if _has_rotation(image):
        notices.append("Rotated upright as its camera orientation tag says.")
    image = ImageOps.exif_transpose(image)
    image = _to_rgb(image, notices, name)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        notices.append(
            f"Downscaled from {original_size[0]}x{original_size[1]} to {image.size[0]}x{image.size[1]} pixels "
            f"(at most {max_side} on the longer side) to keep memory in check."
        )
    elif image.size != original_size and image.size[::-1] != original_size:
        notices.append(
            f"Decoded at reduced size {image.size[0]}x{image.size[1]} from {original_size[0]}x{original_size[1]}."
        )
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise InputError(f"'{name}' has an image layout that could not be converted to colour.")
    pixels = np.ascontiguousarray(pixels)
    pixels.setflags(write=False)
    return pixels, original_size, mode


def _has_rotation(image: Image.Image) -> bool:
    try:
        return image.getexif().get(0x0112, 1) not in (1, None)
    except Exception:
        return False


def _to_rgb(image: Image.Image, notices: list[str], name: str) -> Image.Image:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        invalid = int(np.count_nonzero(~np.isfinite(values)))
        if invalid:
            raise InputError(
                f"'{name}' holds {invalid} pixel value(s) that are not numbers (NaN) or infinite, which cannot be "
                "shown or explained. Replace them with real values (e.g. in the program that wrote the file)."
            )
        if mode.startswith("I;16"):
            scaled = values / 257.0
            notices.append("16-bit image reduced to 8 bits per channel for display and the model.")
        elif mode == "I" and values.max(initial=0) <= 65535 and values.min(initial=0) >= 0:
            scaled = values / 257.0 if values.max(initial=0) > 255 else values
            if values.max(initial=0) > 255:
                notices.append("16-bit image reduced to 8 bits per channel for display and the model.")
        else:
            low, high = float(values.min()), float(values.max())
            if high > low:
                scaled = (values - low) / (high - low) * 255.0
                notices.append(f"High-dynamic-range values ({low:g} to {high:g}) stretched to 0-255.")
            else:
                scaled = np.full_like(values, 128.0)
                notices.append(f"Every pixel has the value {low:g}: shown as plain grey.")
        gray = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3]
        if alpha.min() < 255:
            notices.append("Transparent areas are shown on white.")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "RGB":
        return image
    return image.convert("RGB")
