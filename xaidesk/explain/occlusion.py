"""Occlusion (Zeiler & Fergus 2014): slide a patch over the input and record the score drop.

The relevance of a pixel is the mean, over all patches covering it, of
``f_target(x) - f_target(x with the patch filled)``. Patches start every ``stride`` pixels; a last
row/column of patches is added flush with the border so every pixel is covered.

All outputs of all patches are kept in ``extras`` (``outputs`` (N, K), ``base_output`` (K,),
``patches`` (N, 4) as top, left, height, width), so :func:`drop_map` can explain any other
class without new forward passes.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core import Cancelled, Explanation, Param, Target, register_method
from ..models.inference import BatchStats, evaluate_perturbations, forward_logits
from .common import REFERENCE_KINDS, REFERENCE_TITLES, check_target, detached_copy, reference_input, scoring_module
from .fast_module import fast_copy

MODALITY = ("image", "audio")
REFERENCE_SIZE = 224  # patch size and stride are given for a 224-pixel input


def patch_positions(height: int, width: int, patch: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """(N, 4) int array of (top, left, patch height, patch width) covering the whole input."""
    ph, pw = min(patch[0], height), min(patch[1], width)

    def starts(size: int, p: int, s: int) -> list[int]:
        values = list(range(0, size - p + 1, s))
        if values[-1] != size - p:
            values.append(size - p)
        return values

    tops, lefts = starts(height, ph, stride[0]), starts(width, pw, stride[1])
    return np.array([(t, l, ph, pw) for t in tops for l in lefts], dtype=np.int64)


def effective_geometry(height: int, width: int, patch: int, stride: int, scale_to_input: bool) -> tuple[int, int]:
    """Patch size and stride in model-input pixels (scaled from a 224-pixel input if asked)."""
    if scale_to_input:
        factor = min(height, width) / REFERENCE_SIZE
        patch = max(1, round(patch * factor))
        stride = max(1, round(stride * factor))
    return max(1, min(patch, max(height, width))), max(1, stride)


def drop_map(
    outputs: np.ndarray, base_output: np.ndarray, patches: np.ndarray, shape: tuple[int, int], target: int
) -> np.ndarray:
    """The (H, W) occlusion map of class ``target`` from stored patch outputs."""
    drops = float(base_output[target]) - np.asarray(outputs)[:, target]
    total = np.zeros(shape, dtype=np.float64)
    count = np.zeros(shape, dtype=np.float64)
    for (t, l, h, w), d in zip(patches, drops):
        total[t : t + h, l : l + w] += d
        count[t : t + h, l : l + w] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


@register_method(
    "occlusion",
    unit="score drop", sample_unit="patches",
    modality=MODALITY,
    params=[
        Param("patch_size", "int", 16, "Side of the square patch that is covered, in pixels.", minimum=1, maximum=4096,
              label="patch size"),
        Param("stride", "int", 8, "Step between neighbouring patches, in pixels; smaller is finer but slower.",
              minimum=1, maximum=4096, label="step between patches"),
        Param("fill", "choice", "zero",
              "What a covered patch shows: zero (the data set's mean colour), black, a blurred copy, "
              "or the image's mean colour.",
              choices=REFERENCE_KINDS, label="covered patches show", choice_titles=REFERENCE_TITLES),
        Param("batch_size", "int", 0, "How many covered copies the model looks at in one go; Automatic picks what fits in memory.",
              minimum=0, maximum=1024, label="copies at once", minimum_text="Automatic"),
        Param("scale_to_input", "bool", True,
              "Treat patch size and step as pixels of a 224-pixel image and scale them to the model's input size.",
              label="sizes for 224 pixels"),
    ],
    title="Occlusion",
    help="Covers the image patch by patch and shows how much the score drops when each part is "
    "hidden; slow but easy to understand.",
    iterative=True,
    resample="value",
)
def occlusion(model, x, target, *, params, token, progress) -> Explanation:
    """Mean score drop over the patches covering each pixel."""
    token.check()
    x = detached_copy(x)
    height, width = x.shape[-2:]
    patch, stride = effective_geometry(height, width, int(params["patch_size"]), int(params["stride"]),
                                       bool(params["scale_to_input"]))
    positions = patch_positions(height, width, (patch, patch), (stride, stride))
    fill = reference_input(x, params["fill"], model.preprocessing)
    scorer = fast_copy(scoring_module(model), x, progress)
    with torch.inference_mode():
        base = forward_logits(scorer, x, model.name)[0].float().cpu()
    check_target(target, base.shape[0])
    base_score = float(base[target])

    def make_batch(start: int, stop: int) -> torch.Tensor:
        batch = x.expand(stop - start, -1, -1, -1).clone()
        for i, (t, l, h, w) in enumerate(positions[start:stop]):
            batch[i, :, t : t + h, l : l + w] = fill[0, :, t : t + h, l : l + w]
        return batch

    total = np.zeros((height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.float64)

    def on_batch(start: int, stop: int, outputs: torch.Tensor) -> None:
        drops = (base_score - outputs[:, target].double()).numpy()
        for (t, l, h, w), d in zip(positions[start:stop], drops):
            total[t : t + h, l : l + w] += d
            count[t : t + h, l : l + w] += 1

    def current() -> np.ndarray:
        return (total / np.maximum(count, 1)).astype(np.float32)

    def partial() -> Explanation:
        return Explanation(current(), "occlusion", Target(int(target), model.label(int(target))),
                           score=base_score, complete=False,
                           extras={"n_done": int(stats.samples), "num_samples": int(len(positions))})

    stats = BatchStats()
    try:
        outputs = evaluate_perturbations(
            scorer, make_batch, len(positions), token=token, progress=progress,
            batch_size=int(params["batch_size"]), on_batch=on_batch, partial=partial,
            message="Occlusion: patches", unit="patches", model_name=model.name, stats=stats, memory_format="auto",
        )
    except Cancelled as error:
        # Keep the scan so far: pixels no finished patch covered stay at zero.
        error.partial = partial() if stats.samples > 0 else None
        raise
    return Explanation(
        relevance=current(),
        method="occlusion",
        target=Target(int(target), model.label(int(target))),
        score=base_score,
        extras={
            "patch_size_px": patch,
            "stride_px": stride,
            "patches_evaluated": int(len(positions)),
            "batch_sizes": sorted(set(stats.sizes)),
            "outputs": outputs.numpy(),
            "base_output": base.numpy(),
            "patches": positions,
        },
    )
