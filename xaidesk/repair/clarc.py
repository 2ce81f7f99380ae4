"""Class Artifact Compensation (ClArC, Anders et al. 2022): remove an artefact the model has learned to use.

- :func:`p_clarc` (projective ClArC) needs no training: at one layer it projects the artefact's
  concept direction out of the activations, setting each image's component along it to the clean
  images' mean. The corrected model is the original plus one projection module.
- :func:`a_clarc` (augmentative ClArC) fine-tunes: the artefact is pasted into a share of the
  other classes' training images, so that it stops telling the classes apart.
"""

from __future__ import annotations

import torch

from ..core import CancelToken, InputError, no_progress, sub_progress
from ..models.base import LoadedModel
from .artefact import Artefact
from .cav import CAV_KINDS, MIN_IMAGES, check_layer, default_clarc_layer, fit_cav, layer_activations
from .data import ImageSet
from .result import RepairResult, check_editable, working_copy
from .sources import check_class, check_counts
from .training import BatchContext, TrainingSettings, finetune
from .verify import check_artefact_fits, verify


def artefact_provenance(artefact: Artefact) -> dict:
    """Where the artefact came from, for the edited model's provenance."""
    return {"description": artefact.description, "origin": dict(artefact.origin),
            "area_share": round(artefact.area_share, 6), "has_source_image": artefact.source is not None}


def p_clarc(model: LoadedModel, artefact: Artefact, carrying: ImageSet, clean: ImageSet, *, layer: str | None = None,
            cav: str = "pattern", held_out: ImageSet | None = None, target: int, token: CancelToken | None = None,
            progress=no_progress) -> RepairResult:
    """Project the artefact's direction out of ``layer`` (default :func:`~.cav.default_clarc_layer`).

    The direction is fitted (:func:`~.cav.fit_cav`, ``cav`` kind) on the layer's activations of
    ``carrying`` against ``clean`` images; the reference it is set to is the clean images' mean
    component. With ``held_out`` images the result carries the figures of :func:`~.verify.verify`.
    """
    from ..models.edited import ConceptProjection, add_projection

    check_editable(model)
    target = check_class(model, target)
    if cav not in CAV_KINDS:
        raise InputError(f"Unknown kind of concept direction '{cav}'; choose one of: {', '.join(CAV_KINDS)}.")
    check_counts(len(carrying), len(clean))
    token = token or CancelToken()
    layer = layer or default_clarc_layer(model)
    check_layer(model, layer)
    progress(0.0, "Reading the layer's activations")
    artefact_acts = layer_activations(model, layer, carrying.inputs, token=token)
    clean_acts = layer_activations(model, layer, clean.inputs, token=token)
    direction, info = fit_cav(artefact_acts, clean_acts, cav)
    vector = torch.from_numpy(direction)
    reference = float((clean_acts @ vector).mean())
    edited = working_copy(model, f"{model.name}, corrected (P-ClArC)")
    add_projection(edited.module, layer, ConceptProjection(vector, reference))
    settings = {"layer": layer, "cav": cav, "carrying_images": len(carrying), "clean_images": len(clean),
                "target": target, "target_label": model.class_names[target]}
    edit = {"kind": "p-clarc",
            "summary": f"P-ClArC: the direction of {artefact.description or 'the artefact'} is projected out of "
                       f"layer '{layer}' ({cav} concept vector from {len(carrying)} images with it and "
                       f"{len(clean)} without; each image's component along it is set to the clean images' mean)",
            **settings, "reference": reference, "cav_info": info}
    result = RepairResult(model=edited, method="p-clarc", base_spec=model.spec, settings=settings, edits=[edit],
                          provenance={"artefact": artefact_provenance(artefact)})
    result.notes.append(f"The concept direction tells {info['separation_accuracy']:.0%} of the images with and "
                        f"without the artefact apart at layer '{layer}'.")
    if held_out is not None:
        spray_carrying, spray_clean = _spray_images(artefact, held_out, target, carrying, clean, result.notes)
        result.comparisons, result.images = verify(model, edited, artefact, held_out, target=target,
                                                   carrying=spray_carrying, clean=spray_clean, token=token,
                                                   progress=sub_progress(progress, 0.1, 1.0))
    progress(1.0, "Corrected")
    return result


def _spray_images(artefact: Artefact, held_out: ImageSet, target: int, carrying: ImageSet, clean: ImageSet,
                  notes: list) -> tuple[ImageSet, ImageSet]:
    """The images of the SpRAy re-run: held-out images of ``target`` with and without the artefact pasted in, else
    (no image to paste from, or too few such images) the images the direction was fitted on, said in ``notes``."""
    own = held_out.of_class(target)
    if artefact.source is not None and len(own) >= MIN_IMAGES:
        notes.append(f"The SpRAy figures are on {len(own)} held-out images of the class, with and without the "
                     "artefact pasted in.")
        return ImageSet(artefact.paste(own.inputs), own.labels, own.files), own
    notes.append("The SpRAy figures are on the images the concept direction was fitted on, not on held-out ones, "
                 "so they may look better than on new images.")
    return carrying, clean


def artefact_paste_loss(artefact: Artefact, target: int, paste_share: float):
    """Cross-entropy on batches where the artefact is pasted into a seeded random ``paste_share`` of the images
    that are not of class ``target`` (the A-ClArC loss)."""

    def loss(module, inputs: torch.Tensor, labels: torch.Tensor, context: BatchContext):
        draw = torch.rand(len(labels), generator=context.generator)
        pick = (labels != target) & (draw < paste_share)
        if bool(pick.any()):
            inputs = torch.where(pick[:, None, None, None], artefact.paste(inputs), inputs)
        value = torch.nn.functional.cross_entropy(module(inputs), labels)
        return value, {"pasted_share": pick.float().mean()}

    return loss


def a_clarc(model: LoadedModel, artefact: Artefact, train: ImageSet, *, target: int, settings: TrainingSettings,
            paste_share: float = 0.5, held_out: ImageSet | None = None, checkpoint_dir=None,
            token: CancelToken | None = None, progress=no_progress) -> RepairResult:
    """Fine-tune a copy of ``model`` on ``train`` with the artefact pasted into ``paste_share`` of the other
    classes' images in every batch (:func:`artefact_paste_loss`), so that it no longer points to ``target``."""
    check_editable(model)
    target = check_class(model, target)
    settings.check()
    if artefact.source is None:
        raise InputError("A-ClArC pastes the artefact into training images, so it needs an image to copy it from. "
                         "Define the artefact by a region drawn on an image, or by images that carry it.")
    if not 0.0 < float(paste_share) <= 1.0:
        raise InputError(f"The share of images to paste the artefact into must be above 0 and at most 1 "
                         f"(not {paste_share}).")
    if bool((train.labels < 0).any()) or bool((train.labels >= len(model.class_names)).any()):
        raise InputError("Every training image needs a class of the model; put them in one subfolder per class.")
    if int((train.labels != target).sum()) == 0:
        raise InputError(f"A-ClArC pastes the artefact into images of classes other than "
                         f"'{model.class_names[target]}', and the training images have none.")
    check_artefact_fits(artefact, train.inputs)
    token = token or CancelToken()
    edited = working_copy(model, f"{model.name}, corrected (A-ClArC)")
    identity = {"method": "a-clarc", "target": target, "paste_share": float(paste_share), "images": len(train),
                "artefact": artefact.origin, "base": model.spec}
    train_end = 0.6 if held_out is not None else 1.0
    history = finetune(edited.module, train, artefact_paste_loss(artefact, target, float(paste_share)), settings,
                       checkpoint_dir=checkpoint_dir, identity=identity, token=token,
                       progress=sub_progress(progress, 0.0, train_end))
    options = {"epochs": settings.epochs, "batch_size": settings.batch_size, "learning_rate": settings.learning_rate,
               "seed": settings.seed, "train_batch_norm": settings.train_batch_norm, "paste_share": float(paste_share),
               "training_images": len(train), "target": target, "target_label": model.class_names[target]}
    edit = {"kind": "a-clarc",
            "summary": f"A-ClArC: fine-tuned for {settings.epochs} epoch(s) on {len(train)} images with "
                       f"{artefact.description or 'the artefact'} pasted into {paste_share:.0%} of the images not of "
                       f"class '{model.class_names[target]}', so that it no longer points to that class",
            **options}
    result = RepairResult(model=edited, method="a-clarc", base_spec=model.spec, settings=options, edits=[edit],
                          provenance={"artefact": artefact_provenance(artefact), "training": history.to_dict()},
                          tables=[history.table()])
    if history.resumed_from is not None:
        result.notes.append(f"Resumed from a checkpoint at epoch {history.resumed_from[0] + 1}, "
                            f"batch {history.resumed_from[1] + 1}.")
    if held_out is not None:
        carrying = ImageSet(artefact.paste(held_out.inputs), held_out.labels, held_out.files)
        result.comparisons, result.images = verify(model, edited, artefact, held_out, target=target,
                                                   carrying=carrying.of_class(target), clean=held_out.of_class(target),
                                                   token=token, progress=sub_progress(progress, train_end, 1.0))
    progress(1.0, "Corrected")
    return result
