"""Did the correction work? Figures measured on the model before and after removing an artefact.

- accuracy on held-out images as given, on those of the artefact's class, with the artefact pasted
  into every image, and on the other classes' images with the artefact pasted in (a model that
  uses the artefact as a shortcut calls them the artefact's class);
- the share of positive LRP relevance that falls on the artefact, on held-out images of the
  artefact's class that carry it (pasted in);
- a SpRAy re-run: the heatmaps of the images that carry the artefact and of clean ones, clustered
  into two groups with the existing SpRAy code, scored by how well the clusters follow
  carrying/clean (adjusted Rand index) and by the Fisher criterion of that grouping on the spectral
  embedding. A corrected model's heatmaps split less by the artefact.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core import CancelToken, InputError, no_progress, sub_progress
from ..core.cancel import Step
from ..models.base import LoadedModel
from .artefact import Artefact, positive_share, relevance_maps
from .data import ImageSet
from .result import Comparison
from .sources import check_class
from .training import accuracy

#: The most held-out images whose relevance is computed for the share on the artefact.
MAX_SHARE_IMAGES = 500
#: The most images of each group (carrying, clean) in the SpRAy re-run.
MAX_SPRAY_IMAGES = 150
BEFORE_AFTER_FILE = "before_after.png"


def verify(before: LoadedModel, after: LoadedModel, artefact: Artefact, held_out: ImageSet, *, target: int,
           carrying: ImageSet | None = None, clean: ImageSet | None = None, token: CancelToken | None = None,
           progress=no_progress) -> tuple[list[Comparison], dict[str, np.ndarray]]:
    """The figures of :mod:`this module <xaidesk.repair.verify>`, before and after, and ``before_after.png``.

    Parameters
    ----------
    before, after
        The original and the corrected model.
    artefact
        What was removed (pasted in where it has a source image).
    held_out
        Labelled images the models were not corrected on.
    target
        The class whose decisions the artefact drives.
    carrying, clean
        Images with and without the artefact for the SpRAy re-run (left out when not given).
    """
    token = token or CancelToken()
    if len(held_out) == 0:
        raise InputError("There are no held-out images to verify the correction on.")
    check_artefact_fits(artefact, held_out.inputs)
    name = before.class_names[check_class(before, target)]
    comparisons = []

    def both(function):
        return function(before), function(after)

    progress(0.0, "Measuring accuracy")
    comparisons.append(Comparison("accuracy", "held-out accuracy, images as given",
                                  *both(lambda m: accuracy(m.module, held_out))))
    own, others = held_out.of_class(target), held_out.subset(
        torch.nonzero((held_out.labels != target) & (held_out.labels >= 0)).flatten().tolist())
    if len(own):
        comparisons.append(Comparison("accuracy_target", f"held-out accuracy on '{name}' images, as given",
                                      *both(lambda m: accuracy(m.module, own))))
    pasted_source = artefact.source is not None
    if pasted_source:
        with_artefact = ImageSet(artefact.paste(held_out.inputs), held_out.labels, held_out.files)
        comparisons.append(Comparison("accuracy_pasted", "held-out accuracy, artefact pasted into every image",
                                      *both(lambda m: accuracy(m.module, with_artefact))))
        if len(others):
            others_pasted = ImageSet(artefact.paste(others.inputs), others.labels, others.files)
            comparisons.append(Comparison(
                "accuracy_others_pasted", f"held-out accuracy on the other classes' images, artefact pasted in "
                f"(a shortcut makes them '{name}')", *both(lambda m: accuracy(m.module, others_pasted))))
    token.check()
    share_inputs = _share_inputs(artefact, own, carrying, target)
    images = {}
    if share_inputs is not None:
        label, inputs = share_inputs
        maps = []
        for i, model in enumerate((before, after)):
            progress(0.1 + 0.35 * i, Step.count("Relevance on the artefact", i, 2, "models"))
            maps.append(relevance_maps(model, inputs, [target] * inputs.shape[0], token=token))
        comparisons.append(Comparison("artefact_relevance_share", label,
                                      *(_finite_mean(positive_share(m, artefact.mask)) for m in maps), better="lower"))
        images[BEFORE_AFTER_FILE] = before_after_picture(*maps)
    if carrying is not None and clean is not None:
        comparisons += spray_comparisons(before, after, carrying, clean, target, token=token,
                                         progress=sub_progress(progress, 0.8, 1.0))
    progress(1.0, "Verified")
    return comparisons, images


def check_artefact_fits(artefact: Artefact, inputs: torch.Tensor) -> None:
    """Refuse an artefact drawn for pictures of another size than the model's inputs."""
    if tuple(artefact.mask.shape) != tuple(inputs.shape[-2:]):
        raise InputError(f"The artefact was marked on {artefact.mask.shape[0]}x{artefact.mask.shape[1]} pictures, "
                         f"but the model sees {inputs.shape[-2]}x{inputs.shape[-1]}; mark it again for this model.")


def _share_inputs(artefact: Artefact, own: ImageSet, carrying: ImageSet | None, target: int):
    """The images to measure the relevance share on, and its label: held-out images of the class with the
    artefact pasted in, else the carrying images as given."""
    if artefact.source is not None and len(own):
        return ("share of positive relevance on the artefact (held-out images of the class, artefact pasted in)",
                artefact.paste(own.inputs[:MAX_SHARE_IMAGES]))
    if carrying is not None and len(carrying):
        return ("share of positive relevance on the artefact (the images that carry it)",
                carrying.inputs[:MAX_SHARE_IMAGES])
    return None


def _finite_mean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def spray_comparisons(before: LoadedModel, after: LoadedModel, carrying: ImageSet, clean: ImageSet, target: int, *,
                      token: CancelToken | None = None, progress=no_progress) -> list[Comparison]:
    """SpRAy on the heatmaps of ``carrying`` + ``clean`` images before and after: adjusted Rand index of the two
    clusters against carrying/clean, and the Fisher criterion of carrying/clean on the spectral embedding."""
    from sklearn.metrics import adjusted_rand_score

    from ..evaluate.spray.analysis import spray
    from ..evaluate.spray.classes import fisher_criterion
    from ..evaluate.spray.spectral import affinity_graph, laplacian_spectrum, spectral_embedding

    token = token or CancelToken()
    a, c = carrying.inputs[:MAX_SPRAY_IMAGES], clean.inputs[:MAX_SPRAY_IMAGES]
    if len(a) < 2 or len(c) < 2:
        return []
    inputs = torch.cat([a, c])
    truth = np.r_[np.ones(len(a), dtype=int), np.zeros(len(c), dtype=int)]
    scores = {"ari": [], "fisher": []}
    for i, model in enumerate((before, after)):
        progress(0.5 * i, Step.count("SpRAy on the heatmaps", i, 2, "models"))
        maps = relevance_maps(model, inputs, [target] * len(inputs), token=token).numpy()
        token.check()
        result = spray(maps, n_clusters=2, embedding="spectral", seed=0, token=token)
        affinity = affinity_graph(result.maps.reshape(len(maps), -1), result.params["n_neighbors"])
        _, vectors = laplacian_spectrum(affinity, min(len(maps), 3))
        scores["ari"].append(float(adjusted_rand_score(truth, result.labels)))
        scores["fisher"].append(fisher_criterion(spectral_embedding(vectors, affinity, 2), truth))
    return [
        Comparison("spray_ari", "SpRAy: how well two clusters of the heatmaps follow the artefact "
                   "(adjusted Rand index; 1 = exactly, 0 = chance)", *scores["ari"], better="lower"),
        Comparison("spray_fisher", "SpRAy: separation of the heatmaps with and without the artefact "
                   "(Fisher criterion on the spectral embedding)", *scores["fisher"], better="lower"),
    ]


def before_after_picture(before_maps: torch.Tensor, after_maps: torch.Tensor, cell: int = 192,
                         gap: int = 8) -> np.ndarray:
    """The mean heatmap of the same images before | after (RGB uint8), each map scaled to total |relevance| 1,
    both on the same colour levels so that strengths compare."""
    from ..core import render

    def mean_map(maps: torch.Tensor) -> np.ndarray:
        maps = maps.double()
        total = maps.abs().flatten(1).sum(1).clamp(min=1e-300)
        return (maps / total[:, None, None]).mean(0).numpy()

    means = [mean_map(before_maps), mean_map(after_maps)]
    levels = render.symmetric_levels(np.stack(means), percentile=99)
    h, w = means[0].shape
    scale = max(1, cell // max(h, w))
    block = np.ones((scale, scale, 1), dtype=np.uint8)
    tiles = [np.kron(render.colorize(m, levels), block) for m in means]
    caption = 18
    out = np.full((h * scale + caption, 2 * w * scale + gap, 3), 255, dtype=np.uint8)
    out[caption:, :w * scale] = tiles[0]
    out[caption:, w * scale + gap:] = tiles[1]
    return _captioned(out, [(0, "before (original model)"), (w * scale + gap, "after (corrected model)")])


def _captioned(picture: np.ndarray, captions: list[tuple[int, str]]) -> np.ndarray:
    """``picture`` with each caption written at its column in the top strip (PIL's built-in font)."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(picture)
    draw = ImageDraw.Draw(image)
    for column, text in captions:
        draw.text((column + 2, 3), text, fill=(40, 40, 40))
    return np.asarray(image).copy()
