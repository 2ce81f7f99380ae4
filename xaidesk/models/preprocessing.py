"""Preprocessing presets and the geometry that maps results back to the input.

An image goes: RGB uint8 (H0, W0, 3) -> optional grayscale -> resize (shorter
side to ``resize``, or straight to ``size``) -> centre crop to ``size`` ->
scale to [0, 1] -> normalise with ``mean``/``std``. The resize resamples with
``interpolation`` (bilinear, bicubic, both antialiased, or nearest). :meth:`Preprocessing.to_original`
undoes the geometric part for a relevance map; pixels the centre crop removed
come back as NaN (not seen by the model). :meth:`Preprocessing.whole_image`
drops the crop so that every pixel is seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class Preprocessing:
    """How a model wants its input.

    Parameters
    ----------
    size
        Model input (height, width).
    mean, std
        Per-channel normalisation applied after scaling to [0, 1].
    channels
        ``"rgb"`` or ``"gray"``.
    resize
        If set, the shorter side is first resized to this length and the
        result centre-cropped to ``size`` (the ImageNet convention, 256 -> 224).
        If ``None`` the image is resized straight to ``size``.
    interpolation
        How the resize resamples: ``"bilinear"`` or ``"bicubic"`` (both antialiased when
        shrinking, as torchvision and timm do) or ``"nearest"``.
    """

    size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: str = "rgb"
    resize: int | None = None
    name: str = "custom"
    interpolation: str = "bilinear"

    def __post_init__(self):
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {self.interpolation!r}"
            )

    @classmethod
    def from_crop_pct(
        cls,
        size: int | tuple[int, int],
        crop_pct: float,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        interpolation: str = "bilinear",
        channels: str = "rgb",
        name: str = "custom",
    ) -> "Preprocessing":
        """The preprocessing timm describes by an input size and a crop fraction.

        The shorter side is resized to ``floor(size / crop_pct)`` and the centre
        ``size`` cropped, as ``timm.data.create_transform`` does for evaluation. For a
        non-square ``size`` the resize follows the height (timm's ``crop_mode="center"``
        resizes to a rectangle; here the shorter side keeps the image's aspect ratio).
        """
        height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        if not 0.0 < float(crop_pct) <= 1.0:
            raise ValueError(f"crop_pct must lie in (0, 1], not {crop_pct!r}")
        return cls(size=(height, width), mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std),
                   channels=channels, resize=math.floor(height / float(crop_pct)), name=name,
                   interpolation=interpolation)

    @property
    def num_channels(self) -> int:
        return 1 if self.channels == "gray" else 3

    def bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Lowest and highest normalised input value per channel, shaped (1, C, 1, 1).

        These are the pixel bounds l and h of the z^B (box) rule.
        """
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return (0.0 - mean) / std, (1.0 - mean) / std

    def _resized_shape(self, height: int, width: int) -> tuple[int, int]:
        if self.resize is None:
            return self.size
        # As torchvision's Resize: the shorter side becomes ``resize``, the longer one is truncated.
        if height <= width:
            resized = (self.resize, int(self.resize * width / height))
        else:
            resized = (int(self.resize * height / width), self.resize)
        return max(self.size[0], resized[0]), max(self.size[1], resized[1])

    def _crop_box(self, resized: tuple[int, int]) -> tuple[int, int]:
        # As torchvision's CenterCrop (Python's round, halves to even).
        top = int(round((resized[0] - self.size[0]) / 2.0))
        left = int(round((resized[1] - self.size[1]) / 2.0))
        return top, left

    def to_tensor(self, image: np.ndarray) -> torch.Tensor:
        """Turn an RGB uint8 image (H0, W0, 3) into a normalised (1, C, H, W) tensor."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError("expected an RGB uint8 array of shape (H, W, 3)")
        array = np.ascontiguousarray(image)
        if not array.flags.writeable:  # e.g. np.asarray(PIL image); torch warns on read-only memory
            array = array.copy()
        x = torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0)
        if self.channels == "gray":
            weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
            x = (x * weights).sum(0, keepdim=True)
        x = x.unsqueeze(0)
        resized = self._resized_shape(image.shape[0], image.shape[1])
        if resized != tuple(image.shape[:2]):
            if self.interpolation == "nearest":
                x = F.interpolate(x, size=resized, mode="nearest-exact")
            else:
                x = F.interpolate(x, size=resized, mode=self.interpolation, align_corners=False, antialias=True)
        top, left = self._crop_box(resized)
        x = x[:, :, top : top + self.size[0], left : left + self.size[1]]
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return ((x.clamp(0.0, 1.0) - mean) / std).contiguous()

    def _place_in_canvas(self, array: np.ndarray, original_shape: tuple[int, int], fill) -> tuple[np.ndarray, tuple[int, int]]:
        if array.shape != tuple(self.size):
            raise ValueError(f"map shape {array.shape} does not match model input {self.size}")
        height, width = int(original_shape[0]), int(original_shape[1])
        resized = self._resized_shape(height, width)
        top, left = self._crop_box(resized)
        canvas = np.full(resized, fill, dtype=array.dtype)
        canvas[top : top + self.size[0], left : left + self.size[1]] = array
        return canvas, (height, width)

    def seen_mask(self, original_shape: tuple[int, int]) -> np.ndarray:
        """Boolean (H0, W0) map of the original pixels the model sees (False: cropped away).

        A pixel is seen when its centre falls inside the centre crop of the resized image.
        """
        height, width = int(original_shape[0]), int(original_shape[1])
        resized = self._resized_shape(height, width)
        top, left = self._crop_box(resized)
        rows = (np.arange(height) + 0.5) * resized[0] / height
        cols = (np.arange(width) + 0.5) * resized[1] / width
        rows_seen = (rows >= top) & (rows < top + self.size[0])
        cols_seen = (cols >= left) & (cols < left + self.size[1])
        return rows_seen[:, None] & cols_seen[None, :]

    def whole_image(self) -> "Preprocessing":
        """The same preprocessing without the centre crop: the whole image is resized to ``size``.

        Every pixel of the opened image is then seen by the model (the aspect ratio may change).
        """
        if self.resize is None:
            return self
        return replace(self, resize=None, name=f"{self.name} (whole image)")

    def to_original(
        self, relevance: np.ndarray, original_shape: tuple[int, int], preserve: str = "sum"
    ) -> np.ndarray:
        """Map a (H, W) map in model-input coordinates onto the original image.

        Pixels the model never saw (cropped away) are NaN: they carry no
        evidence either way (see :meth:`seen_mask`). The map is resampled
        bilinearly. With ``preserve="sum"`` it is rescaled so its sum over the
        seen pixels is unchanged (for additive quantities such as LRP
        relevance, which is conserved); with ``preserve="value"`` each pixel
        keeps the value of the place it came from (for intensive quantities
        such as an occlusion score drop or a LIME segment weight).
        """
        if preserve not in ("sum", "value"):
            raise ValueError("preserve must be 'sum' or 'value'")
        array = np.asarray(relevance, dtype=np.float32)
        if array.shape != tuple(self.size):
            raise ValueError(f"map shape {array.shape} does not match model input {self.size}")
        height, width = int(original_shape[0]), int(original_shape[1])
        resized = self._resized_shape(height, width)
        top, left = self._crop_box(resized)
        # Edge values fill the cropped-away border, so resampling does not fade the seen edge.
        pad = ((top, resized[0] - top - self.size[0]), (left, resized[1] - left - self.size[1]))
        canvas = np.pad(array, pad, mode="edge") if any(any(p) for p in pad) else array
        if canvas.shape == (height, width):
            out = canvas.copy()
        else:
            t = torch.from_numpy(np.ascontiguousarray(canvas))[None, None]
            out = F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)[0, 0].numpy().copy()
        seen = self.seen_mask((height, width))
        out[~seen] = np.nan
        if preserve == "sum" and out.shape != array.shape:
            total, new_total = float(array.sum()), float(out[seen].sum())
            if abs(new_total) > 1e-12 and abs(total) > 1e-12:
                out[seen] *= total / new_total
            else:
                out[seen] *= array.size / max(int(seen.sum()), 1)
        return out.astype(np.float32)

    def boxes_to_original(self, boxes: np.ndarray, original_shape: tuple[int, int]) -> np.ndarray:
        """Map boxes ``(..., 4)`` ``(top, left, bottom, right)`` in model-input pixels onto the original image.

        Bottom and right are exclusive; the result is clipped to the image and is at least one pixel.
        """
        boxes = np.asarray(boxes, dtype=np.float64)
        height, width = int(original_shape[0]), int(original_shape[1])
        resized = self._resized_shape(height, width)
        top, left = self._crop_box(resized)
        scale_rows, scale_cols = height / resized[0], width / resized[1]
        rows = (boxes[..., [0, 2]] + top) * scale_rows
        cols = (boxes[..., [1, 3]] + left) * scale_cols
        out = np.stack([np.floor(rows[..., 0]), np.floor(cols[..., 0]), np.ceil(rows[..., 1]), np.ceil(cols[..., 1])], -1)
        out[..., [0, 2]] = np.clip(out[..., [0, 2]], 0, height)
        out[..., [1, 3]] = np.clip(out[..., [1, 3]], 0, width)
        out[..., 2] = np.maximum(out[..., 2], np.minimum(out[..., 0] + 1, height))
        out[..., 3] = np.maximum(out[..., 3], np.minimum(out[..., 1] + 1, width))
        return out.astype(np.int32)

    def labels_to_original(self, labels: np.ndarray, original_shape: tuple[int, int]) -> np.ndarray:
        """Map an integer label map (e.g. superpixels) onto the original image.

        Nearest-neighbour resampling keeps labels intact; cropped-away areas get -1.
        """
        canvas, (height, width) = self._place_in_canvas(np.asarray(labels, dtype=np.int64), original_shape, -1)
        if canvas.shape == (height, width):
            return canvas
        rows = np.minimum((np.arange(height) + 0.5) * canvas.shape[0] / height, canvas.shape[0] - 1).astype(np.intp)
        cols = np.minimum((np.arange(width) + 0.5) * canvas.shape[1] / width, canvas.shape[1] - 1).astype(np.intp)
        return canvas[rows[:, None], cols[None, :]]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "size": list(self.size),
            "resize": self.resize,
            "mean": list(self.mean),
            "std": list(self.std),
            "channels": self.channels,
            "interpolation": self.interpolation,
        }


def preprocessing_from_dict(data: dict[str, Any], name: str = "custom") -> Preprocessing:
    """Build a :class:`Preprocessing` from its JSON form (as written by ``Preprocessing.to_dict``).

    Files written before ``interpolation`` existed have no such entry and read as bilinear.
    """
    channels = str(data.get("channels", "rgb")).lower()
    if channels in ("grey", "grayscale", "greyscale", "l"):
        channels = "gray"
    if channels not in ("rgb", "gray"):
        raise ValueError(f"channels must be 'rgb' or 'gray', not {channels!r}")
    count = 1 if channels == "gray" else 3
    size = data.get("size", (224, 224))
    if isinstance(size, (int, float)):
        size = (int(size), int(size))
    size = tuple(int(v) for v in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be [height, width], not {data.get('size')!r}")
    default_mean = (0.485, 0.456, 0.406) if count == 3 else (0.5,)
    default_std = (0.229, 0.224, 0.225) if count == 3 else (0.5,)
    mean = tuple(float(v) for v in data.get("mean", default_mean))
    std = tuple(float(v) for v in data.get("std", default_std))
    if len(mean) == 1 and count == 3:
        mean = mean * 3
    if len(std) == 1 and count == 3:
        std = std * 3
    if len(mean) != count or len(std) != count:
        raise ValueError(f"mean and std need {count} value(s) for {channels} input")
    if any(s <= 0 for s in std):
        raise ValueError("std values must be positive")
    resize = data.get("resize")
    resize = None if resize is None else int(resize)
    interpolation = str(data.get("interpolation") or "bilinear").lower()
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {interpolation!r}")
    return Preprocessing(
        size=(size[0], size[1]),
        mean=mean,
        std=std,
        channels=channels,
        resize=resize,
        name=str(data.get("name", name)),
        interpolation=interpolation,
    )


IMAGENET = Preprocessing(
    size=(224, 224),
    resize=256,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    channels="rgb",
    name="imagenet",
)
