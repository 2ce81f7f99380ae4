"""The two linear heads (difference of means, logistic regression), their held-out ROC figures, and the
classifier module a head becomes (backbone prefix, pooling and an ``nn.Linear`` with two outputs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ...core import InputError
from .backbone import feature_extractor

HEADS = ("mean-difference", "logistic")
HEAD_TITLES = {"mean-difference": "Difference of means", "logistic": "Logistic regression"}


@dataclass
class HeadResult:
    """One linear head g(x) = wᵀΦ(x) + b and how it did on the held-out images.

    ``threshold`` is the Youden-J threshold t (class 2 when g(x) ≥ t); ``sensitivity`` is the
    share of held-out class-2 images called class 2 at t, ``specificity`` that of class-1 images
    called class 1. ``fpr``, ``tpr``, ``thresholds`` are scikit-learn's ROC curve (first point at
    threshold +inf) and ``scores`` are g on the held-out images.
    """

    name: str
    weight: np.ndarray
    bias: float
    threshold: float
    auc: float
    youden_j: float
    sensitivity: float
    specificity: float
    accuracy: float
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    scores: np.ndarray

    @property
    def title(self) -> str:
        return HEAD_TITLES.get(self.name, self.name)

    def decision(self, features: np.ndarray) -> np.ndarray:
        """g(x) for rows of features."""
        return np.asarray(features, dtype=np.float64) @ self.weight + self.bias

    def to_dict(self, curve: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "head": self.name, "auc": self.auc, "threshold": self.threshold, "youden_j": self.youden_j,
            "sensitivity": self.sensitivity, "specificity": self.specificity, "accuracy": self.accuracy,
        }
        if curve:
            data["roc"] = {"fpr": self.fpr.tolist(), "tpr": self.tpr.tolist(),
                           "threshold": [float(t) for t in self.thresholds]}
        return data


def youden_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, int, np.ndarray, np.ndarray, np.ndarray]:
    """Threshold maximising Youden's J on the ROC curve: ``(t, index, fpr, tpr, thresholds)``.

    Positive means label 1 and ``score >= t``; the curve's first point (t = +inf, nothing
    positive) is never chosen. ``t`` lies halfway between the ROC point's score and the next
    lower score (below all scores at the last point), so it makes the same calls as that point
    while no image sits exactly on the decision boundary.
    """
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    j = tpr[1:] - fpr[1:]
    index = 1 + int(np.argmax(j))
    upper = float(thresholds[index])
    if index + 1 < len(thresholds):
        lower = float(thresholds[index + 1])
    else:
        spread = float(np.ptp(scores)) if len(scores) > 1 else 0.0
        lower = upper - max(spread, abs(upper), 1.0)
    return (upper + lower) / 2.0, index, fpr, tpr, thresholds


def evaluate_head(name: str, weight: np.ndarray, bias: float, features: np.ndarray, labels: np.ndarray) -> HeadResult:
    """ROC, AUC and Youden-J threshold of g(x) = wᵀΦ(x) + b on held-out features."""
    from sklearn.metrics import roc_auc_score

    weight = np.asarray(weight, dtype=np.float64)
    scores = np.asarray(features, dtype=np.float64) @ weight + float(bias)
    threshold, index, fpr, tpr, thresholds = youden_threshold(labels, scores)
    called = scores >= threshold
    return HeadResult(
        name=name, weight=weight, bias=float(bias), threshold=threshold,
        auc=float(roc_auc_score(labels, scores)),
        youden_j=float(tpr[index] - fpr[index]),
        sensitivity=float(tpr[index]), specificity=float(1.0 - fpr[index]),
        accuracy=float(np.mean(called == (labels == 1))),
        fpr=fpr, tpr=tpr, thresholds=thresholds, scores=scores,
    )


def mean_difference_direction(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """w = (μ₂ − μ₁) / ||μ₂ − μ₁|| of the class means of ``features`` (labels 0 and 1)."""
    features = np.asarray(features, dtype=np.float64)
    difference = features[labels == 1].mean(axis=0) - features[labels == 0].mean(axis=0)
    norm = float(np.linalg.norm(difference))
    if not np.isfinite(norm) or norm == 0.0:
        raise InputError(
            "The two classes have the same mean features at this layer, so no direction separates them. "
            "Choose another layer or check that the two folders hold different images."
        )
    return difference / norm


def logistic_head(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, float]:
    """Weights and bias of a logistic regression on standardised features, in raw-feature units.

    scikit-learn's ``StandardScaler`` + ``LogisticRegression`` (L2, C = 1, balanced class
    weights); the scaling is folded in, so ``features @ w + b`` is the pipeline's decision function.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features, dtype=np.float64)
    pipeline = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000, random_state=int(seed)),
    )
    pipeline.fit(features, labels)
    scaler, regression = pipeline[0], pipeline[1]
    coef = regression.coef_[0] / scaler.scale_
    bias = float(regression.intercept_[0] - np.dot(coef, scaler.mean_))
    return coef, bias


def probe_module(trunk: nn.Module, layer_shape: tuple[int, ...], weight, bias: float,
                 threshold: float) -> nn.Sequential:
    """backbone prefix → pool → flatten → ``nn.Linear(D, 2)`` with logits ±(wᵀΦ(x) + b − t)/2."""
    module = feature_extractor(trunk, layer_shape)
    weight = torch.as_tensor(np.asarray(weight, dtype=np.float64), dtype=torch.float64)
    offset = float(bias) - float(threshold)
    head = nn.Linear(weight.numel(), 2, bias=True)
    with torch.no_grad():
        head.weight.copy_(torch.stack([-weight / 2, weight / 2]).float())
        head.bias.copy_(torch.tensor([-offset / 2, offset / 2], dtype=torch.float32))
    module.add_module("head", head)
    module.eval()
    module.requires_grad_(False)
    return module


def probe_notes(class_names: list[str], head: str, auc: float, threshold: float) -> list[str]:
    return [
        f"A two-class probe ({HEAD_TITLES.get(head, head).lower()}, held-out AUC {auc:.3f}): "
        f"'{class_names[1]}' when its score g(x) ≥ {threshold:.4g}. The two outputs are ∓(g(x) − t)/2, "
        "so explaining either class shows the same evidence with opposite sign. LRP shares out wᵀΦ(x)/2; "
        "the bias and the threshold stay with the head."
    ]
