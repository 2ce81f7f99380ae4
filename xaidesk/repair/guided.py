"""Fine-tuning with explanations: "right for the right reasons" (RRR) and LRP-weighted features (Sun et al.).

- :func:`rrr_finetune` (Ross, Hughes & Doshi-Velez 2017) penalises the model's input gradient inside a
  region the person marks as irrelevant, so that the model stops looking there.
- :func:`sun_finetune` (Sun et al. 2020, "Explanation-guided training for cross-domain few-shot
  classification") trains the prediction made from the classifier's input features weighted by their own
  LRP relevance alongside the ordinary prediction.

Both train a copy of the model with :func:`xaidesk.repair.training.finetune` (progress, cancel,
checkpoints that resume) and report held-out accuracy and the relevance share in the marked region,
before and after (with the mean heatmaps before | after as ``before_after.png`` when a region is given),
as a :class:`~xaidesk.repair.result.RepairResult`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict

import numpy as np
import torch

from ..core import CancelToken, InputError, ModelError, no_progress, sub_progress
from ..models.base import LoadedModel
from .artefact import Artefact, positive_share, relevance_maps
from .data import ImageSet
from .guided_losses import (calibrated_weight, check_head, head_after, linear_feature_layers, rrr_loss,
                            sun_loss)
from .result import Comparison, RepairResult, working_copy
from .training import TrainingSettings, accuracy, finetune
from .verify import BEFORE_AFTER_FILE, before_after_picture

#: Images the "auto" RRR weight is calibrated on.
CALIBRATION_IMAGES = 64


def feature_layers(model: LoadedModel) -> list[str]:
    """The Linear layers of ``model`` whose input can be weighted by its relevance (for a picker; last = default)."""
    return linear_feature_layers(model.module)


def _check_mask(mask, data: ImageSet) -> np.ndarray:
    if mask is None:
        raise InputError("Mark the region the model should not use (the artefact) before training.")
    region = Artefact(np.asarray(mask, dtype=np.float32)).mask
    size = tuple(data.inputs.shape[-2:])
    if region.shape != size:
        raise InputError(f"The region is a {region.shape[0]}x{region.shape[1]} mask, but the model's inputs are "
                         f"{size[0]}x{size[1]} pixels. Mark the region on the model input.")
    return region


def _check_number(name: str, value, *, low: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number (not {value!r}).") from None
    if not math.isfinite(number) or number < low:
        raise InputError(f"{name} must be a finite number of at least {low:g} (not {value}).")
    return number


def _check_inputs(model: LoadedModel, train: ImageSet, settings: TrainingSettings, held_out, share_images) -> None:
    settings.check()
    if len(train) < 1:
        raise InputError("There are no training images.")
    if bool((train.labels < 0).any()) or bool((train.labels >= len(model.class_names)).any()):
        raise InputError("Every training image needs a class of the model; some have none.")
    for what, images in (("training", train), ("held-out", held_out), ("share", share_images)):
        if images is not None and not torch.isfinite(images.inputs).all():
            raise InputError(f"Some {what} images hold non-finite values; reload them.")


def _digest(*arrays) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(np.asarray(array)).tobytes())
    return digest.hexdigest()[:16]


def _share_maps(model: LoadedModel, images: ImageSet | None, mask: np.ndarray | None, token) -> torch.Tensor | None:
    """The relevance maps of ``images`` for their true classes (or the predicted one where unlabelled)."""
    if images is None or mask is None or len(images) == 0:
        return None
    targets = images.labels.clone()
    if bool((targets < 0).any()):  # unlabelled images are explained for the class the model predicts
        with torch.no_grad():
            predicted = torch.cat([model.module(images.inputs[i:i + 256]).argmax(1)
                                   for i in range(0, len(images), 256)])
        targets = torch.where(targets < 0, predicted, targets)
    return relevance_maps(model, images.inputs, targets.tolist(), token=token)


def _measure(model: LoadedModel, held_out, share_images, mask, token) -> dict:
    maps = _share_maps(model, share_images, mask, token)
    share = float("nan")
    if maps is not None:
        shares = positive_share(maps, mask)
        share = float(np.nanmean(shares)) if np.isfinite(shares).any() else float("nan")
    return {"accuracy": accuracy(model.module, held_out) if held_out is not None else float("nan"),
            "share": share, "maps": maps}


def _run(model, train, loss, settings, *, method, title, options, summary, mask, held_out, share_images,
         checkpoint_dir, token, progress, notes, derived=None) -> RepairResult:
    """Measure, fine-tune a working copy with ``loss``, measure again, and gather the result.

    ``options`` identify the run (with the model, the images and the region) so that a checkpoint of
    another run is refused; ``derived`` are settings computed from them (reported, not compared).
    """
    token = token or CancelToken()
    share_images = share_images if share_images is not None else held_out
    progress(0.0, "Measuring the model before training")
    before = _measure(model, held_out, share_images, mask, token)
    edited = working_copy(model, title)
    identity = {"method": method, **options, "base": model.spec, "images": _digest(train.inputs, train.labels),
                "region": _digest(mask) if mask is not None else None}
    history = finetune(edited.module, train, loss, settings, checkpoint_dir=checkpoint_dir, identity=identity,
                       token=token, progress=sub_progress(progress, 0.05, 0.9))
    progress(0.9, "Measuring the model after training")
    after = _measure(edited, held_out, share_images, mask, token)
    comparisons = []
    if held_out is not None:
        comparisons.append(Comparison("accuracy_held_out", f"held-out accuracy ({len(held_out)} images)",
                                      before["accuracy"], after["accuracy"], "higher"))
    if mask is not None and share_images is not None:
        comparisons.append(Comparison("relevance_share_region",
                                      f"share of positive relevance in the marked region ({len(share_images)} images)",
                                      before["share"], after["share"], "lower"))
    settings_dict = {**asdict(settings), **options, **(derived or {})}
    edit = {"kind": "finetune", "method": method, "summary": summary, **settings_dict}
    provenance = {"training_images": len(train), "held_out_images": len(held_out) if held_out is not None else 0,
                  "region_pixels": int(np.count_nonzero(mask)) if mask is not None else 0,
                  "training_seconds": history.seconds, "resumed_from": history.resumed_from}
    images = {}
    if before["maps"] is not None and after["maps"] is not None:
        images[BEFORE_AFTER_FILE] = before_after_picture(before["maps"], after["maps"])
    progress(1.0, "Done")
    return RepairResult(edited, method, model.spec, settings_dict, [edit], provenance, comparisons,
                        [history.table()], images, notes)


def rrr_finetune(model: LoadedModel, train: ImageSet, mask: np.ndarray, *, weight: float | str = "auto",
                 settings: TrainingSettings, held_out: ImageSet | None = None, share_images: ImageSet | None = None,
                 checkpoint_dir=None, token: CancelToken | None = None, progress=no_progress) -> RepairResult:
    """Fine-tune a copy of ``model`` to be right for the right reasons (Ross et al. 2017).

    The loss is ``CE(y, p) + weight * mean_n sum_{mask, channels} (d sum_k log softmax(p_n)_k / d x_n)^2``:
    the model is taught that its summed log-probabilities must not change with the pixels inside ``mask``.

    Parameters
    ----------
    model
        The model to correct (never changed).
    train
        Labelled training images.
    mask
        (H, W) at model-input size, 1 where the irrelevant region (the artefact) is.
    weight
        The penalty's weight (a number, or text holding one), or ``"auto"``: on 64 training images the
        penalty term starts ten times as large as the cross-entropy of guessing (see
        :func:`~xaidesk.repair.guided_losses.calibrated_weight`; about 85 on the Clever Hans demo). Weights that only balance the two terms (about 1 there) barely
        move a model that already fits its training images off a shortcut.
    settings
        Epochs, batch size, learning rate, seed.
    held_out
        Images to measure accuracy on, before and after.
    share_images
        Images to measure the relevance share in ``mask`` on (for their true classes); default ``held_out``.
    checkpoint_dir
        Where checkpoints are kept; a later call with the same folder and settings resumes.
    """
    _check_inputs(model, train, settings, held_out, share_images)
    region = _check_mask(mask, train)
    if isinstance(weight, str) and weight.strip().lower() == "auto":
        calibrate = train.subset(torch.randperm(len(train), generator=torch.Generator().manual_seed(
            int(settings.seed)))[:CALIBRATION_IMAGES].tolist())
        value = calibrated_weight(working_copy(model, model.name).module, calibrate.inputs, calibrate.labels, region,
                                  len(model.class_names))
        chosen = "auto"
    else:
        try:
            value = _check_number("The weight", weight)
        except InputError:
            raise InputError(f"The weight must be a finite, non-negative number or 'auto' (not '{weight}').") from None
        chosen = value
    options = {"weight": chosen}
    summary = (f"Fine-tuned for {settings.epochs} epoch(s) on {len(train)} images to be right for the right reasons: "
               f"its input gradient inside a marked region of {int(np.count_nonzero(region))} pixels was penalised "
               f"(weight {value:.3g}), so that it stops using that region.")
    return _run(model, train, rrr_loss(region, value), settings, method="rrr",
                title=f"{model.name} (right for the right reasons)", options=options, summary=summary, mask=region,
                held_out=held_out, share_images=share_images, checkpoint_dir=checkpoint_dir, token=token,
                progress=progress, notes=[], derived={"weight_value": value})


def sun_finetune(model: LoadedModel, train: ImageSet, *, xi: float = 1.0, lam: float = 1.0,
                 feature_layer: str | None = None, settings: TrainingSettings, held_out: ImageSet | None = None,
                 mask: np.ndarray | None = None, share_images: ImageSet | None = None, checkpoint_dir=None,
                 token: CancelToken | None = None, progress=no_progress, explain: str = "softmax",
                 epsilon: float = 1e-6) -> RepairResult:
    """Fine-tune a copy of ``model`` with LRP-weighted features (Sun et al. 2020).

    With ``f`` the features entering the Linear layer ``feature_layer`` (default: the last one) and
    ``head`` the layers from there to the logits ``p``:

    1. ``R(f)`` is the LRP-epsilon relevance of ``f``, propagated through the head (ReLU passes relevance
       unchanged). Sun et al. explain the prediction rather than the label; here the relevance at the logits
       is ``softmax(p)_k * p_k`` for every class ``k``, so ``R(f)`` is the probability-weighted sum of the
       explanations of each class logit (``explain="label"`` explains the true class's logit only).
    2. ``R`` is divided by its largest absolute value per image and held constant (no gradient).
    3. ``w = 1 + R``, ``p_lrp = head(w * f)``, and the loss is ``xi * CE(y, p) + lam * CE(y, p_lrp)``.

    The relevance share in ``mask`` is measured only when a region is given.
    """
    _check_inputs(model, train, settings, held_out, share_images)
    xi = _check_number("xi (the weight of the ordinary cross-entropy)", xi)
    lam = _check_number("lambda (the weight of the LRP-weighted cross-entropy)", lam)
    epsilon = _check_number("epsilon", epsilon)
    if xi + lam <= 0:
        raise InputError("xi and lambda are both 0, so there is nothing to train; give at least one a positive value.")
    if explain not in ("softmax", "label"):
        raise InputError(f"explain must be 'softmax' or 'label' (not '{explain}').")
    region = _check_mask(mask, train) if mask is not None else None
    layers = feature_layers(model)
    if not layers:
        raise ModelError(f"{model.name} has no Linear classifier head whose input features could be weighted; "
                         "LRP-weighted training needs one.")
    layer = feature_layer if feature_layer is not None else layers[-1]
    if layer not in layers:
        raise InputError(f"'{layer}' is not a Linear layer before the prediction; choose one of: {', '.join(layers)}.")
    edited_check = working_copy(model, model.name)
    check_head(edited_check.module, head_after(edited_check.module, layer), train.inputs[:4])
    options = {"xi": xi, "lam": lam, "feature_layer": layer, "explain": explain, "epsilon": epsilon}
    summary = (f"Fine-tuned for {settings.epochs} epoch(s) on {len(train)} images with LRP-weighted features "
               f"(Sun et al. 2020): the input of layer '{layer}' was also weighted by 1 + its relevance and "
               f"classified again (weights {xi:g} and {lam:g} for the two cross-entropies).")

    def loss(module, inputs, labels, context):
        head = head_after(module, layer)
        return sun_loss(head, xi=xi, lam=lam, explain=explain, epsilon=epsilon)(module, inputs, labels, context)

    notes = [] if region is not None else ["No region was marked, so the relevance share was not measured."]
    return _run(model, train, loss, settings, method="sun", title=f"{model.name} (LRP-weighted fine-tuning)",
                options=options, summary=summary, mask=region, held_out=held_out, share_images=share_images,
                checkpoint_dir=checkpoint_dir, token=token, progress=progress, notes=notes)
