"""Fitting a probe: features of a labelled folder at a backbone layer, both heads fitted and judged on
held-out files, and the fitted classifier as a :class:`~xaidesk.models.base.LoadedModel`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...core import CancelToken, InputError, ModelError, no_progress
from ..base import LoadedModel
from .backbone import cut_backbone, feature_extractor, layer_shapes
from .folder import LabelledFolder, scan_labelled_folder, split_held_out
from .heads import HEADS, HeadResult, evaluate_head, logistic_head, mean_difference_direction, probe_module, probe_notes

DECODE_MAX_SIDE = 1024


@dataclass
class ProbeResult:
    """A fitted probe: both heads, their held-out ROC figures, and what they were fitted on."""

    backbone: str
    backbone_name: str
    layer: str
    layer_shape: tuple[int, ...]
    class_names: list[str]
    folder: str
    held_out_share: float
    seed: int
    train_counts: list[int]
    held_out_counts: list[int]
    heads: dict[str, HeadResult]
    held_out_files: list[str] = field(default_factory=list)
    held_out_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    backbone_label_file: str | None = None
    backbone_preprocessing: dict | None = None

    @property
    def feature_dim(self) -> int:
        return int(len(next(iter(self.heads.values())).weight))

    @property
    def pooling(self) -> str:
        return "global-average" if len(self.layer_shape) == 3 else "none"

    def to_dict(self, curves: bool = False) -> dict[str, Any]:
        """A JSON-ready summary (with ``curves`` also each head's ROC points)."""
        return {
            "backbone": self.backbone,
            "backbone_name": self.backbone_name,
            "layer": self.layer,
            "layer_shape": list(self.layer_shape),
            "pooling": self.pooling,
            "feature_dim": self.feature_dim,
            "class_names": list(self.class_names),
            "positive_class": self.class_names[1],
            "folder": self.folder,
            "held_out_share": self.held_out_share,
            "seed": self.seed,
            "counts": {
                "train": dict(zip(self.class_names, self.train_counts)),
                "held_out": dict(zip(self.class_names, self.held_out_counts)),
            },
            "heads": {name: head.to_dict(curve=curves) for name, head in self.heads.items()},
            "skipped": [{"file": f, "reason": r} for f, r in self.skipped],
            "seconds": self.seconds,
        }


def extract_features(
    model: LoadedModel,
    layer: str,
    files: list[Path],
    *,
    token: CancelToken | None = None,
    progress=no_progress,
    trunk: nn.Module | None = None,
) -> tuple[np.ndarray, list[tuple[int, str]], tuple[int, ...]]:
    """Pooled features Φ of ``files`` at ``layer``: ``(features (N, D), failed, layer_shape)``.

    Images are opened batch by batch (never all at once) and evaluated with the batched,
    cancellable engine of :mod:`xaidesk.models.inference`. ``failed`` lists ``(index,
    reason)`` of files that could not be opened; their rows are zeros.
    """
    from ...data.images import load_image
    from ..inference import evaluate_perturbations

    token = token or CancelToken()
    progress = progress or no_progress
    trunk = trunk if trunk is not None else cut_backbone(model, layer)
    shape = layer_shapes(model).get(layer)
    if shape is None:
        raise ModelError(f"The layer '{layer}' was not used when {model.name} processed an image; choose another.")
    extractor = feature_extractor(trunk, shape).eval()
    pre = model.preprocessing
    failed: dict[int, str] = {}

    def make_batch(start: int, stop: int) -> torch.Tensor:
        tensors = []
        for index in range(start, stop):
            try:
                pixels = load_image(files[index], max_side=DECODE_MAX_SIDE).pixels
                tensors.append(pre.to_tensor(pixels))
            except InputError as error:
                failed[index] = error.message
                tensors.append(torch.zeros((1, pre.num_channels, *pre.size)))
        return torch.cat(tensors)

    features = evaluate_perturbations(
        extractor, make_batch, len(files), token=token, progress=progress, outputs="features",
        message="Reading features", model_name=model.name, min_batch=8,
    )
    return features.numpy().astype(np.float64), sorted(failed.items()), tuple(shape)


def fit_probe(
    folder: str | Path,
    model: LoadedModel,
    layer: str,
    *,
    held_out: float = 0.3,
    seed: int = 0,
    token: CancelToken | None = None,
    progress=no_progress,
) -> ProbeResult:
    """Fit both heads on ``model``'s ``layer`` features of a two-class folder and judge them.

    Parameters
    ----------
    folder
        A folder with exactly two subfolders of images; their names are the class names.
    model
        The backbone (any image model that :func:`cut_backbone` can cut at ``layer``).
    layer
        A name from :func:`list_probe_layers`.
    held_out
        Share of each class kept aside to judge the heads (ROC, AUC, Youden threshold).
    seed
        Seed of the split (and of the logistic regression's solver).
    token, progress
        Cancel token (checked between batches) and progress callback.

    Raises
    ------
    InputError
        For an unsuitable folder or split (see :func:`scan_labelled_folder`, :func:`split_held_out`).
    ModelError
        When the model cannot be cut at ``layer``.
    """
    start = time.perf_counter()
    token = token or CancelToken()
    progress = progress or no_progress
    if model.modality != "image":
        raise ModelError(f"{model.name} is not an image model; choose an image model as the backbone.")
    data = scan_labelled_folder(folder)
    train, test = split_held_out(data.labels, held_out, seed)
    progress(0.0, "Preparing the backbone")
    trunk = cut_backbone(model, layer)
    token.check()

    def feature_progress(fraction: float, message: str = "", partial=None) -> None:
        progress(0.95 * fraction, message)

    features, failed, shape = extract_features(model, layer, data.files, token=token, progress=feature_progress,
                                               trunk=trunk)
    token.check()
    progress(0.96, "Fitting the classifiers")
    fitted = fit_heads(data, features, failed, train, test, seed,
                       too_few="Too few images of '{name}' could be opened ({n_train} to train on, {n_test} to "
                               "judge on; {failed} file(s) in the folder are not readable images). Replace the "
                               "damaged files.")
    progress(1.0, "Done")
    return ProbeResult(
        backbone=portable_spec(model.spec),
        backbone_name=model.name,
        backbone_label_file=model.label_file,
        backbone_preprocessing=model.preprocessing.to_dict() if model.preprocessing_set_by_hand else None,
        layer=layer,
        layer_shape=shape,
        held_out_share=float(held_out),
        seconds=time.perf_counter() - start,
        **fitted,
    )


def fit_heads(data: LabelledFolder, features: np.ndarray, failed, train, test, seed: int,
              too_few: str) -> dict[str, Any]:
    """Both heads fitted on the readable part of ``train`` and judged on the readable part of ``test``.

    Parameters
    ----------
    failed
        ``(index, reason)`` of the files that could not be read; they leave both parts.
    too_few
        The message when a class keeps fewer than two training or one held-out file, with the
        fields ``name``, ``n_train``, ``n_test`` and ``failed``.

    Returns
    -------
    dict
        The :class:`ProbeResult` fields that describe the folder, the split and the heads.
    """
    bad = {index for index, _ in failed}
    train = np.array([i for i in train if i not in bad], dtype=np.int64)
    test = np.array([i for i in test if i not in bad], dtype=np.int64)
    labels = data.labels
    for k, name in enumerate(data.class_names):
        n_train, n_test = int(np.sum(labels[train] == k)), int(np.sum(labels[test] == k))
        if n_train < 2 or n_test < 1:
            raise InputError(too_few.format(name=name, n_train=n_train, n_test=n_test, failed=len(failed)))
    w_mean = mean_difference_direction(features[train], labels[train])
    w_logistic, b_logistic = logistic_head(features[train], labels[train], seed=seed)
    return {
        "class_names": list(data.class_names),
        "folder": str(data.root),
        "seed": int(seed),
        "train_counts": [int(np.sum(labels[train] == k)) for k in (0, 1)],
        "held_out_counts": [int(np.sum(labels[test] == k)) for k in (0, 1)],
        "heads": {
            "mean-difference": evaluate_head("mean-difference", w_mean, 0.0, features[test], labels[test]),
            "logistic": evaluate_head("logistic", w_logistic, b_logistic, features[test], labels[test]),
        },
        "held_out_files": [str(data.files[i]) for i in test],
        "held_out_labels": labels[test].copy(),
        "skipped": [(str(data.files[i]), reason) for i, reason in failed],
    }


def portable_spec(spec: str) -> str:
    """``spec`` with its file path made absolute, so a saved probe finds its backbone from anywhere."""
    prefix, sep, rest = spec.partition(":")
    kind = prefix.strip().lower()
    if not sep or kind == "demo":
        return spec
    if kind == "torchvision":
        arch, sep2, path = rest.partition(":")
        if sep2 and path.strip():
            return f"{prefix}:{arch}:{Path(path.strip()).expanduser().resolve()}"
        return spec
    if kind in ("file", "probe") and rest.strip():
        return f"{prefix}:{Path(rest.strip()).expanduser().resolve()}"
    return spec


def build_probe_model(backbone: LoadedModel, result: ProbeResult, head: str = "mean-difference",
                      spec: str | None = None) -> LoadedModel:
    """The fitted classifier (``backbone`` up to the layer + pooling + ``head``) as a :class:`LoadedModel`."""
    if head not in result.heads:
        raise ModelError(f"Unknown head '{head}'; choose one of: {', '.join(HEADS)}.")
    fitted = result.heads[head]
    trunk = cut_backbone(backbone, result.layer)
    module = probe_module(trunk, result.layer_shape, fitted.weight, fitted.bias, fitted.threshold)
    return LoadedModel(
        spec=spec or "probe:<not saved>",
        name=f"{result.class_names[0]} vs {result.class_names[1]} ({backbone.name}, {result.layer})",
        module=module,
        preprocessing=backbone.preprocessing,
        class_names=list(result.class_names),
        architecture=backbone.architecture,
        notes=probe_notes(result.class_names, head, fitted.auc, fitted.threshold),
    )
