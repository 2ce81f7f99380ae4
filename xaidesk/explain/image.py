"""The image pipeline: from an opened image to an explanation in the image's own coordinates.

Also what the other pipelines share: :func:`method_for` (the registered method, refused with a
plain reason where it cannot run) and :class:`Prediction`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..core import Cancelled, CancelToken, Explanation, MethodError, Target, no_progress
from ..models.base import LoadedModel
from ..models.inference import forward_logits
from .common import check_finite_result, check_target, method_for, scoring_module


#: ``Explanation.extras`` entries holding integer label maps in model-input coordinates
#: (e.g. LIME's superpixels); the pipeline maps them to the input with nearest neighbours.
LABEL_MAP_KEYS = ("segments",)


def paint_segments(segments: np.ndarray, weights) -> np.ndarray:
    """A map that gives each pixel its segment's weight (label -1, outside the model's view: NaN)."""
    table = np.append(np.asarray(weights, dtype=np.float32), np.float32(np.nan))
    return table[np.where(segments >= 0, segments, len(table) - 1)]


@dataclass
class Prediction:
    """Class scores for one input."""

    logits: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]

    @property
    def top_class(self) -> int:
        return int(np.argmax(self.logits))

    def top(self, k: int = 5) -> list[tuple[int, str, float]]:
        """The ``k`` most probable classes as (index, label, probability)."""
        order = np.argsort(-self.probabilities)[:k]
        return [(int(i), self._label(int(i)), float(self.probabilities[i])) for i in order]

    def _label(self, index: int) -> str:
        return self.class_names[index] if index < len(self.class_names) else f"class {index}"


def predict_tensor(model: LoadedModel, x: torch.Tensor) -> Prediction:
    """Class scores of a preprocessed (1, C, H, W) tensor (from onnxruntime for ONNX models)."""
    with torch.inference_mode():
        logits = forward_logits(scoring_module(model), x, model.name)[0].float()
    if logits.numel() != len(model.class_names):
        raise MethodError(
            f"{model.name} produced {logits.numel()} scores but has {len(model.class_names)} class names."
        )
    probabilities = torch.softmax(logits, 0)
    return Prediction(logits.numpy().copy(), probabilities.numpy().copy(), list(model.class_names))


def check_image_model(model: LoadedModel) -> None:
    """Refuse a model made for another kind of input (e.g. a sound model given a picture)."""
    if getattr(model, "modality", "image") != "image":
        raise MethodError(f"{model.name} is a model for {model.modality}, not for images; "
                          "choose an image model to explain a picture.")


def predict_image(model: LoadedModel, image: np.ndarray) -> Prediction:
    """Class scores of an RGB uint8 image."""
    check_image_model(model)
    return predict_tensor(model, model.preprocessing.to_tensor(image))


def explain_image(
    model: LoadedModel,
    image: np.ndarray,
    method: str,
    target: int | None = None,
    params: dict | None = None,
    token: CancelToken | None = None,
    progress=None,
) -> Explanation:
    """Run a registered method on an RGB uint8 image.

    Parameters
    ----------
    model
        The loaded model (its preprocessing maps the image to model input).
    image
        The opened image, (H0, W0, 3) uint8. Never modified.
    method
        Registry name, e.g. ``"lrp.epsilon_plus_flat"``.
    target
        Class to explain; ``None`` explains the top class.
    params
        Parameter values (strings are converted by the schema); defaults fill the rest.
    token, progress
        Cancel token and progress callback; partial results are mapped to
        image coordinates before they are passed on, and so is the partial
        result an iterative method attaches to :class:`~xaidesk.core.Cancelled`
        (``error.partial``, with ``complete=False``).

    Returns
    -------
    Explanation
        ``relevance`` has shape (H0, W0): the coordinates of ``image``. Pixels the
        model never saw (cut off by the preprocessing's centre crop) are NaN, and
        ``extras["unseen_pixels"]`` counts them.
    """
    check_image_model(model)
    info = method_for(method, "image", model)
    resolved = info.resolve_params(params)
    token = token or CancelToken()
    progress = progress or no_progress
    x = model.preprocessing.to_tensor(image)
    prediction = predict_tensor(model, x)
    if target is None:
        target = prediction.top_class
    check_target(int(target), len(model.class_names))
    target_info = Target(int(target), model.label(int(target)))
    original_shape = image.shape[:2]

    def to_original(explanation: Explanation) -> Explanation:
        pre = model.preprocessing
        relevance = pre.to_original(explanation.relevance, original_shape, preserve=info.resample)
        uncertainty = explanation.uncertainty
        if uncertainty is not None:
            uncertainty = pre.to_original(uncertainty, original_shape, preserve=info.resample)
        extras = dict(explanation.extras)
        for key in LABEL_MAP_KEYS:
            if isinstance(extras.get(key), np.ndarray) and extras[key].shape == tuple(pre.size):
                extras[key] = pre.labels_to_original(extras[key], original_shape)
        segments, weights = extras.get("segments"), extras.get("segment_weights")
        if isinstance(segments, np.ndarray) and weights is not None and segments.shape == tuple(original_shape):
            # A per-segment map is painted anew on the mapped labels: crisp borders, exact weights.
            relevance = paint_segments(segments, weights)
        return explanation.replace(relevance=relevance, uncertainty=uncertainty, target=target_info, extras=extras)

    start = time.perf_counter()

    def finished(explanation: Explanation, complete: bool) -> Explanation:
        return to_original(explanation).replace(
            method=method,
            params=resolved,
            seconds=time.perf_counter() - start,
            score=float(prediction.logits[int(target)]),
            complete=complete,
        )

    def forward_progress(fraction: float, message: str = "", partial=None) -> None:
        progress(fraction, message, finished(partial, False) if partial is not None else None)

    token.check()
    try:
        result = info.function(model, x, int(target), params=resolved, token=token, progress=forward_progress)
    except Cancelled as error:
        # Iterative methods attach what they had computed; it is mapped like any partial.
        partial = getattr(error, "partial", None)
        if partial is not None:
            error.partial = finished(partial, False)
        raise
    check_finite_result(result, info.title)
    result = finished(result, True)
    result.extras.setdefault("model_input_shape", list(model.preprocessing.size))
    # Pixels the model never saw (e.g. cut off by a centre crop) are NaN on purpose; say how many.
    result.extras["unseen_pixels"] = int(np.count_nonzero(~model.preprocessing.seen_mask(original_shape)))
    return result
