"""The artefact a repair removes: where it lies in the picture, and the pixels that make it.

An artefact is a mask over the model input (height x width, values in [0, 1]) and, for
methods that paste it into other images (A-ClArC, verification), the model input it is copied
from. It is defined in one of three ways:

- a region drawn on one image (:func:`artefact_from_region`);
- a set of images that carry it, such as a SpRAy cluster or images the person ticked
  (:func:`artefact_from_samples`): the region is where the set's mean positive relevance
  lies above that of the other images;
- a mask given directly (tests, generated data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core import CancelToken, InputError
from ..models.base import LoadedModel

#: The LRP method that measures relevance shares unless another is chosen.
SHARE_METHOD = "lrp.epsilon_plus_flat"


@dataclass
class Artefact:
    """Where an artefact lies (``mask``, model-input height x width) and the input it is copied from (``source``).

    Attributes
    ----------
    mask
        (H, W) float32 in [0, 1]; 1 where the artefact is.
    source
        (C, H, W) model input that carries the artefact, or ``None`` (then it cannot be pasted).
    description
        Where it came from, in plain words (kept in the edited model's provenance).
    origin
        Plain JSON facts about its definition (kind, image, box, cluster, run, files).
    """

    mask: np.ndarray
    source: torch.Tensor | None = None
    description: str = ""
    origin: dict = field(default_factory=dict)

    def __post_init__(self):
        mask = np.asarray(self.mask, dtype=np.float32)
        if mask.ndim != 2 or not np.isfinite(mask).all():
            raise InputError("The artefact region must be a 2-D mask of finite values.")
        if not mask.any():
            raise InputError("The artefact region is empty; draw or choose a region that covers the artefact.")
        self.mask = np.clip(mask, 0.0, 1.0)

    @property
    def area_share(self) -> float:
        """The share of the picture the artefact covers."""
        return float(self.mask.mean())

    def mask_tensor(self) -> torch.Tensor:
        return torch.from_numpy(self.mask)[None, None]

    def paste(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs`` (N, C, H, W) with the artefact copied in from ``source`` (a new tensor)."""
        if self.source is None:
            raise InputError("This artefact has no source image to copy it from; define it by a region drawn on "
                             "an image that carries it.")
        mask = self.mask_tensor().to(inputs)
        return inputs * (1 - mask) + self.source.to(inputs)[None] * mask


def box_mask(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """A (H, W) mask that is 1 inside ``box`` = (top, left, height, width), clipped to the picture."""
    top, left, height, width = (int(v) for v in box)
    if height < 1 or width < 1:
        raise InputError("The region must be at least one pixel high and wide.")
    mask = np.zeros(shape, dtype=np.float32)
    mask[max(top, 0):max(top + height, 0), max(left, 0):max(left + width, 0)] = 1.0
    if not mask.any():
        raise InputError(f"The region {box} lies outside the {shape[0]}x{shape[1]} picture.")
    return mask


def artefact_from_region(source: torch.Tensor, box: tuple[int, int, int, int], *, description: str = "",
                         origin: dict | None = None) -> Artefact:
    """The artefact inside ``box`` (top, left, height, width in model-input pixels) of ``source`` (1 or C, H, W)."""
    source = source[0] if source.dim() == 4 else source
    mask = box_mask(tuple(source.shape[-2:]), box)
    return Artefact(mask, source.detach().clone(), description or f"the region {tuple(box)} of one image",
                    {"kind": "region", "box": [int(v) for v in box], **(origin or {})})


def relevance_maps(model: LoadedModel, inputs: torch.Tensor, targets, *, method: str = SHARE_METHOD,
                   token: CancelToken | None = None, batch_size: int = 64) -> torch.Tensor:
    """LRP relevance (N, H, W) of ``inputs`` for ``targets`` (one class per input), batch by batch."""
    from ..core.registry import get_method
    from ..runs.compute import batched_function

    info = get_method(method)
    batched = batched_function(method)
    token = token or CancelToken()
    params = info.defaults(model.modality)
    targets = [int(t) for t in targets]
    maps = []
    for start in range(0, inputs.shape[0], batch_size):
        token.check()
        batch = inputs[start:start + batch_size]
        if batched is not None:
            explanations = batched(model, batch, targets[start:start + batch_size], params=params, token=token)
        else:
            explanations = [info.function(model, batch[i:i + 1], targets[start + i], params=params, token=token,
                                          progress=lambda *a, **k: None) for i in range(batch.shape[0])]
        maps.extend(torch.as_tensor(np.asarray(e.relevance, dtype=np.float32)) for e in explanations)
    return torch.stack(maps)


def positive_share(maps: torch.Tensor, mask: np.ndarray) -> np.ndarray:
    """Per map (N, H, W): the share of its positive relevance inside ``mask`` (NaN where there is none)."""
    positive = maps.clamp(min=0).double()
    total = positive.flatten(1).sum(1)
    inside = (positive * torch.from_numpy(np.asarray(mask, dtype=np.float64))).flatten(1).sum(1)
    share = torch.where(total > 0, inside / total.clamp(min=1e-300), torch.full_like(total, float("nan")))
    return share.numpy()


def artefact_from_samples(model: LoadedModel, carrying: torch.Tensor, others: torch.Tensor, target: int, *,
                          description: str = "", origin: dict | None = None, keep: float = 0.05,
                          token: CancelToken | None = None) -> Artefact:
    """The artefact shared by ``carrying`` (N, C, H, W), located against ``others`` by relevance.

    The mask is the ``keep`` share of pixels where the mean positive relevance (for class ``target``) of the
    carrying images, each map scaled to sum 1, most exceeds that of the others; the source is the carrying image
    whose relevance is most concentrated there.
    """
    if carrying.shape[0] < 1 or others.shape[0] < 1:
        raise InputError("To locate the artefact, give at least one image that carries it and one that does not.")
    token = token or CancelToken()
    with_maps = relevance_maps(model, carrying, [target] * carrying.shape[0], token=token).clamp(min=0)
    without_maps = relevance_maps(model, others, [target] * others.shape[0], token=token).clamp(min=0)
    unit = lambda m: m / m.flatten(1).sum(1).clamp(min=1e-12)[:, None, None]  # noqa: E731
    difference = (unit(with_maps).mean(0) - unit(without_maps).mean(0)).numpy()
    count = max(1, int(round(keep * difference.size)))
    threshold = np.partition(difference.ravel(), -count)[-count]
    mask = (difference >= threshold) & (difference > 0)
    if not mask.any():
        raise InputError("The images that carry the artefact draw no more relevance anywhere than the others; "
                         "there is no region to remove. Draw the region by hand instead.")
    mask = _fill_box(mask)
    shares = positive_share(with_maps, mask)
    source = carrying[int(np.nanargmax(np.nan_to_num(shares, nan=-1.0)))]
    return Artefact(mask.astype(np.float32), source.detach().clone(),
                    description or f"the region where {carrying.shape[0]} chosen images draw extra relevance",
                    {"kind": "samples", "images": int(carrying.shape[0]), **(origin or {})})


def _fill_box(mask: np.ndarray) -> np.ndarray:
    """The bounding box of the largest connected part of ``mask``, so that pasting copies the whole artefact."""
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum(mask, labels, range(1, count + 1))
        mask = labels == (1 + int(np.argmax(sizes)))
    rows, cols = np.nonzero(mask)
    box = np.zeros_like(mask, dtype=bool)
    box[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
    return box
