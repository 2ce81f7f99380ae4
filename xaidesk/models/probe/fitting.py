"""A quick two-class classifier on a backbone layer's features, and the model it becomes.

For a folder with two class subfolders (e.g. ``healthy/`` and ``diseased/``):

1. the images are split into a training and a held-out part, stratified by class and seeded;
2. every image goes through the backbone up to the chosen layer (a prefix of the backbone,
   :func:`cut_backbone`); a feature map (C, h, w) is averaged over space, a vector is used as
   it is: Φ(x);
3. two linear heads are fitted on the training features:

   - ``mean-difference``: w = (μ₂ − μ₁) / ||μ₂ − μ₁||, g(x) = wᵀΦ(x) (the class means of the
     training features; class 2 is the second folder in alphabetical order);
   - ``logistic``: scikit-learn's logistic regression on standardised features (balanced class
     weights); g(x) is its decision function, the standardisation folded into w and b;

4. on the held-out images each head gets its ROC curve, AUC and the threshold t that
   maximises Youden's J = sensitivity + specificity − 1 (class 2 is the positive class;
   an image is called class 2 when g(x) ≥ t).

The fitted classifier is an ``nn.Sequential`` of standard modules -- the backbone prefix,
``AdaptiveAvgPool2d(1)`` and ``Flatten`` for feature maps, and an ``nn.Linear`` head -- so every
image method, LRP included, explains it. The head has two outputs,

    logits = [-(g(x) - t) / 2, +(g(x) - t) / 2],

so the two logits differ by the decision value g(x) − t: the top class is the head's decision at
the Youden threshold, the softmax probability of class 2 is sigmoid(g(x) − t), and explaining
either class gives the same map with opposite sign.

A fitted probe is saved as a small JSON file (``.xdprobe``: backbone spec, layer, both heads'
weights, thresholds and metrics, class names) and loaded with the model spec ``probe:PATH``.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core import CancelToken, InputError, ModelError, no_progress
from ..core.io import write_json_atomic
from .base import LoadedModel

HEADS = ("mean-difference", "logistic")
HEAD_TITLES = {"mean-difference": "Difference of means", "logistic": "Logistic regression"}
PROBE_SUFFIX = ".xdprobe"
PROBE_FILE_NAME = "probe" + PROBE_SUFFIX
PROBE_FORMAT = "xaidesk-probe"
PROBE_VERSION = 1
#: Fewest images a class needs: at least two to train on and one to judge on.
MIN_IMAGES_PER_CLASS = 4
#: Largest side an image is decoded at; the model's preprocessing shrinks it further.
DECODE_MAX_SIDE = 1024


# --- the labelled folder -------------------------------------------------------------------------


@dataclass
class LabelledFolder:
    """The images of a folder with two class subfolders.

    Attributes
    ----------
    root
        The folder.
    class_names
        The two subfolder names, in alphabetical order (class 1, class 2).
    files
        Every image, class 1's first, each class sorted by path.
    labels
        0 or 1 per file.
    """

    root: Path
    class_names: list[str]
    files: list[Path]
    labels: np.ndarray

    def counts(self) -> list[int]:
        return [int(np.count_nonzero(self.labels == k)) for k in (0, 1)]


def labelled_files(folder: Path, suffixes) -> list[Path]:
    """The files of ``folder`` (nested folders included, hidden ones left out) whose suffix is in ``suffixes``."""
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def scan_labelled_folder(folder: str | Path, min_per_class: int = MIN_IMAGES_PER_CLASS, *, suffixes=None,
                         noun: str = "image", listing: str = "images", example: str = "healthy/ and diseased/",
                         ) -> LabelledFolder:
    """List the files of ``folder``'s two class subfolders (files in nested folders count too).

    Parameters
    ----------
    suffixes
        The file suffixes that count (default: the image formats xaidesk opens).
    noun, listing, example
        How messages name one file ("image"), the kind of files ("images") and two example subfolders.

    Raises
    ------
    InputError
        When the folder is missing, does not hold exactly two subfolders with such files, or a class
        has fewer than ``min_per_class`` files.
    """
    if suffixes is None:
        from ..data.images import IMAGE_SUFFIXES as suffixes
    root = Path(folder).expanduser()
    per_class = "one subfolder per class" if noun == "image" else f"one subfolder of {noun}s per class"
    if not root.exists():
        raise InputError(f"The folder '{root}' does not exist. Choose a folder with {per_class}.")
    if not root.is_dir():
        raise InputError(f"'{root}' is a file, not a folder. Choose a folder with {per_class}.")
    classes = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = labelled_files(sub, suffixes)
        if files:
            classes.append((sub.name, files))
    if len(classes) != 2:
        found = ", ".join(f"'{name}' ({len(files)})" for name, files in classes) or "none"
        raise InputError(
            f"'{root.name}' needs exactly two subfolders with {listing}, one per class (e.g. {example}); "
            f"found {len(classes)} with {noun}s: {found}. Arrange the {noun}s so and try again."
        )
    for name, files in classes:
        if len(files) < min_per_class:
            raise InputError(
                f"The class '{name}' has only {len(files)} {noun}(s); at least {min_per_class} per class are "
                f"needed (some to fit the classifier, some to judge it). Add more {noun}s."
            )
    files = [f for _, fs in classes for f in fs]
    labels = np.concatenate([np.full(len(fs), k, dtype=np.int64) for k, (_, fs) in enumerate(classes)])
    return LabelledFolder(root=root, class_names=[name for name, _ in classes], files=files, labels=labels)


def split_held_out(labels: np.ndarray, held_out: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, held_out)`` of a stratified random split (scikit-learn's, seeded).

    Raises
    ------
    InputError
        When the share is not between 0 and 1, or leaves a class with fewer than two training
        images or no held-out image.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    if not 0.0 < float(held_out) < 1.0:
        raise InputError(f"The held-out share must be between 0 and 1 (e.g. 0.3), not {held_out}.")
    indices = np.arange(len(labels))
    try:
        train, test = train_test_split(indices, test_size=float(held_out), stratify=labels, random_state=int(seed))
    except ValueError as error:
        raise InputError(
            f"A held-out share of {held_out:g} cannot be split by class with {len(labels)} images; "
            "choose a share nearer 0.3 or add images.", details=str(error)) from None
    for k in (0, 1):
        n_train, n_test = int(np.count_nonzero(labels[train] == k)), int(np.count_nonzero(labels[test] == k))
        if n_train < 2 or n_test < 1:
            raise InputError(
                f"A held-out share of {held_out:g} leaves class {k + 1} with {n_train} training and {n_test} "
                "held-out image(s); at least 2 and 1 are needed. Choose a share nearer 0.3 or add images."
            )
    return np.sort(train), np.sort(test)


# --- cutting the backbone ------------------------------------------------------------------------


def _is_hookable(model: LoadedModel) -> bool:
    return isinstance(model.module, nn.Module) and not model.is_torchscript \
        and not isinstance(model.module, torch.jit.ScriptModule)


def _cut_path(container: nn.Module, parts: list[str], root: bool) -> nn.Sequential:
    children = list(container.named_children())
    names = [name for name, _ in children]
    if parts[0] not in names:
        raise KeyError(parts[0])
    if not root and not isinstance(container, nn.Sequential):
        raise ValueError("not sequential")
    index = names.index(parts[0])
    kept = children[:index]
    name, child = children[index]
    if len(parts) > 1:
        child = _cut_path(child, parts[1:], root=False)
    return nn.Sequential(OrderedDict([*kept, (name, child)]))


def _cuttable(module: nn.Module, layer: str) -> bool:
    try:
        _cut_path(module, layer.split("."), root=True)
    except (KeyError, ValueError):
        return False
    return True


def cut_backbone(model: LoadedModel, layer: str, check: bool = True) -> nn.Sequential:
    """The backbone from its input up to and including ``layer``, as an ``nn.Sequential``.

    The top-level children are taken in order up to the one holding ``layer``; inside it only
    ``nn.Sequential`` containers are cut further. The modules are shared with ``model``, not
    copied. With ``check`` the prefix's output on a random input is compared with ``layer``'s
    output in the full backbone (a forward hook): a model whose forward does more than run its
    parts in order is refused instead of giving wrong features.

    Raises
    ------
    ModelError
        When the model cannot be cut there (TorchScript, unknown layer, a layer inside a block
        with skip connections, or a forward that is not a plain sequence of its parts).
    """
    if not _is_hookable(model):
        raise ModelError(
            f"{model.name} is a TorchScript model: its layers cannot be reached, so no classifier can be "
            "fitted on them. Load the model's weights with its architecture instead."
        )
    module = model.module
    if layer not in dict(module.named_modules()) or not layer:
        raise ModelError(f"{model.name} has no layer called '{layer}'. Choose one of the listed layers.")
    try:
        trunk = _cut_path(module, layer.split("."), root=True)
    except (KeyError, ValueError):
        raise ModelError(
            f"The layer '{layer}' sits inside a block of {model.name} that does more than run its parts in "
            "order (e.g. a skip connection), so the network cannot be cut there. Choose the whole block "
            "or another listed layer."
        ) from None
    if check:
        _check_cut(model, layer, trunk)
    return trunk


def _layer_output(model: LoadedModel, layer: str, x: torch.Tensor) -> torch.Tensor:
    """``layer``'s output in a full forward pass of ``model`` (read with a forward hook)."""
    captured: list[torch.Tensor] = []
    target = dict(model.module.named_modules())[layer]
    # A copy: a later in-place layer (ReLU(inplace=True)) would change the output afterwards.
    handle = target.register_forward_hook(
        lambda mod, inputs, output: captured.append(output.clone() if isinstance(output, torch.Tensor) else output))
    try:
        with torch.inference_mode():
            model.module(x)
    finally:
        handle.remove()
    if not captured or not isinstance(captured[0], torch.Tensor):
        raise ModelError(f"The layer '{layer}' was not used, or gave no single tensor, when {model.name} ran.")
    return captured[0]


def _check_cut(model: LoadedModel, layer: str, trunk: nn.Module) -> None:
    pre = model.preprocessing
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((2, pre.num_channels, *pre.size), generator=generator)
    problem = ""
    try:
        expected = _layer_output(model, layer, x)
        with torch.inference_mode():
            got = trunk(x)
        if got.shape != expected.shape:
            problem = f"shape {tuple(got.shape)} instead of {tuple(expected.shape)}"
        else:
            scale = float(expected.abs().max()) or 1.0
            error = float((got - expected).abs().max())
            if error > 1e-4 * scale + 1e-6:
                problem = f"largest difference {error:.3g} (values up to {scale:.3g})"
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of the prefix means it is not a plain sequence
        problem = f"{type(error).__name__}: {error}"
    if problem:
        raise ModelError(
            f"{model.name} cannot be cut after the layer '{layer}': its forward pass does more between its "
            "parts than run them in order (e.g. a reshape or a skip connection). Choose an earlier layer, "
            "such as the last convolution block.", details=problem)


def _trace(model: LoadedModel) -> tuple[dict[str, tuple[int, ...]], set[str]]:
    """One forward pass on a random input: each submodule's output shape (without the batch axis), and the
    top-level children that run as a plain chain from the input (each one's input is the previous
    one's output), the only ones the backbone can be cut after."""
    shapes: dict[str, tuple[int, ...]] = {}
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    handles = []

    def make_hook(name: str):
        def hook(mod, args, output):
            if name not in shapes and isinstance(output, torch.Tensor):
                shapes[name] = tuple(output.shape[1:])
            if "." not in name and name not in outputs:
                inputs[name], outputs[name] = args, output
        return hook

    pre = model.preprocessing
    x = torch.randn((1, pre.num_channels, *pre.size), generator=torch.Generator().manual_seed(0))
    try:
        for name, sub in model.module.named_modules():
            if name:
                handles.append(sub.register_forward_hook(make_hook(name)))
        with torch.inference_mode():
            model.module(x)
    finally:
        for handle in handles:
            handle.remove()
    chained: set[str] = set()
    previous: Any = x
    for name, _ in model.module.named_children():
        args = inputs.get(name)
        if args is None or len(args) != 1 or not isinstance(args[0], torch.Tensor) \
                or not isinstance(previous, torch.Tensor):
            break
        if args[0] is not previous and (args[0].shape != previous.shape or not torch.equal(args[0], previous)):
            break
        chained.add(name)
        previous = outputs[name]
    return shapes, chained


def layer_shapes(model: LoadedModel) -> dict[str, tuple[int, ...]]:
    """Each submodule's output shape (without the batch axis), from one forward pass."""
    return _trace(model)[0]


def list_probe_layers(model: LoadedModel) -> list[tuple[str, str]]:
    """The layers a probe can be fitted on, as ``(name, "name · Type · C×h×w")``.

    These are the layers the backbone can be cut after (:func:`cut_backbone`: inside the
    top-level parts that run as a plain chain, and inside ``nn.Sequential`` containers) whose
    output is a feature map (C, h, w) or a vector (D,), in forward order. TorchScript models give none.
    """
    if not _is_hookable(model):
        return []
    shapes, chained = _trace(model)
    layers = []
    for name, sub in model.module.named_modules():
        shape = shapes.get(name)
        if shape is None or len(shape) not in (1, 3) or name.split(".")[0] not in chained \
                or not _cuttable(model.module, name):
            continue
        layers.append((name, f"{name} · {type(sub).__name__} · {'×'.join(str(d) for d in shape)}"))
    return layers


def default_probe_layer(layers: list[tuple[str, str]]) -> str:
    """The last layer with a feature map larger than 1×1, else the last feature map, else the last layer."""
    if not layers:
        return ""
    shapes = [(name, description.rsplit("·", 1)[-1].strip().split("×")) for name, description in layers]
    maps = [(name, dims) for name, dims in shapes if len(dims) == 3]
    spatial = [name for name, dims in maps if dims[1:] != ["1", "1"]]
    best = spatial[-1] if spatial else maps[-1][0] if maps else layers[-1][0]
    # The whole block rather than its last part when both give the same output (layer4, not layer4.1).
    dims = dict(shapes)
    names = [name for name, _ in layers]
    while "." in best:
        parent = best.rsplit(".", 1)[0]
        later = names[names.index(best) + 1:]
        if parent not in dims or dims[parent] != dims[best] or any(n.startswith(parent + ".") for n in later):
            break
        best = parent
    return best


def feature_extractor(trunk: nn.Module, output_shape: tuple[int, ...]) -> nn.Sequential:
    """``trunk`` followed by global average pooling (feature maps) and ``Flatten``: Φ(x)."""
    parts: list[tuple[str, nn.Module]] = [("backbone", trunk)]
    if len(output_shape) == 3:
        parts.append(("pool", nn.AdaptiveAvgPool2d(1)))
    elif len(output_shape) != 1:
        raise ModelError(
            f"The chosen layer gives values of shape {'×'.join(map(str, output_shape))}; a classifier needs a "
            "feature map (channels × height × width) or a vector. Choose another layer."
        )
    parts.append(("flatten", nn.Flatten()))
    return nn.Sequential(OrderedDict(parts))


# --- fitting -------------------------------------------------------------------------------------


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
    from ..data.images import load_image
    from .inference import evaluate_perturbations

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


# --- the explainable classifier ------------------------------------------------------------------


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


# --- the probe file ------------------------------------------------------------------------------


def probe_document(result: ProbeResult, head: str = "mean-difference") -> dict[str, Any]:
    """The contents of a probe file for ``result``, using ``head`` as the classifier."""
    if head not in result.heads:
        raise InputError(f"Unknown head '{head}'; choose one of: {', '.join(HEADS)}.")
    return {
        "format": PROBE_FORMAT,
        "version": PROBE_VERSION,
        "backbone": result.backbone,
        "backbone_name": result.backbone_name,
        "layer": result.layer,
        "layer_shape": list(result.layer_shape),
        "class_names": list(result.class_names),
        **({"backbone_label_file": result.backbone_label_file} if result.backbone_label_file else {}),
        **({"backbone_preprocessing": result.backbone_preprocessing} if result.backbone_preprocessing else {}),
        "head": head,
        "heads": {
            name: {**fitted.to_dict(), "weight": [float(v) for v in fitted.weight], "bias": fitted.bias}
            for name, fitted in result.heads.items()
        },
        "fitted_on": {
            "folder": result.folder, "held_out_share": result.held_out_share, "seed": result.seed,
            "train": result.train_counts, "held_out": result.held_out_counts,
        },
    }


def save_probe(result: ProbeResult, path: str | Path, head: str = "mean-difference") -> Path:
    """Write the probe file (atomically); load it with ``load_model("probe:PATH")``."""
    return write_json_atomic(Path(path), probe_document(result, head))


def _probe_path(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir() and (path / PROBE_FILE_NAME).is_file():
        return path / PROBE_FILE_NAME
    return path


def read_probe(path: str | Path) -> dict[str, Any]:
    """Read and check a probe file (or a folder holding ``probe.xdprobe``)."""
    path = _probe_path(path)
    if not path.is_file():
        raise ModelError(f"The probe file '{path}' does not exist. Fit a classifier first (xaidesk probe ...).")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ModelError(f"'{path.name}' is not a readable probe file.", details=str(error)) from None
    if not isinstance(document, dict) or document.get("format") != PROBE_FORMAT:
        raise ModelError(f"'{path.name}' is not a probe file written by xaidesk.")
    if int(document.get("version", 0)) > PROBE_VERSION:
        raise ModelError(f"'{path.name}' was written by a newer xaidesk; update xaidesk to open it.")
    try:
        head = document["heads"][document["head"]]
        weight = np.asarray(head["weight"], dtype=np.float64)
        shape = tuple(int(v) for v in document["layer_shape"])
        names = [str(c) for c in document["class_names"]]
        float(head["bias"]), float(head["threshold"]), str(document["backbone"]), str(document["layer"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"The probe file '{path.name}' is incomplete or damaged.", details=repr(error)) from None
    expected = shape[0] if shape else 0
    if weight.ndim != 1 or len(weight) != expected or len(names) != 2 or not np.all(np.isfinite(weight)):
        raise ModelError(f"The probe file '{path.name}' is damaged: its head does not fit its layer.")
    return document


def load_probe(path: str | Path, spec: str | None = None) -> LoadedModel:
    """Load a saved probe as a :class:`LoadedModel` (the backbone is loaded from its own spec)."""
    from . import load_model

    document = read_probe(path)
    if str(document.get("modality", "")).lower() == "audio":
        from .audio_probe import load_audio_probe

        return load_audio_probe(_probe_path(path), spec=spec or f"probe:{_probe_path(path)}")
    backbone_spec = str(document["backbone"])
    if backbone_spec.lower().startswith("probe:"):
        raise ModelError("A probe's backbone cannot itself be a probe file.")
    preprocessing = None
    if document.get("backbone_preprocessing"):
        from .demo import preprocessing_from_dict

        try:
            preprocessing = preprocessing_from_dict(document["backbone_preprocessing"], name="the probe file")
        except (TypeError, ValueError, AttributeError) as error:
            raise ModelError("The backbone preprocessing stored in this probe file cannot be used; fit the "
                             "probe again.", details=str(error)) from error
    try:
        backbone = load_model(backbone_spec, labels=document.get("backbone_label_file"), preprocessing=preprocessing)
    except ModelError as error:
        raise ModelError(
            f"The backbone of this probe ({backbone_spec}) could not be loaded: {error.message}",
            details=error.details) from None
    head = str(document["head"])
    fitted = document["heads"][head]
    layer = str(document["layer"])
    shape = tuple(int(v) for v in document["layer_shape"])
    trunk = cut_backbone(backbone, layer)
    actual = layer_shapes(backbone).get(layer)
    if actual is None or tuple(actual) != shape:
        raise ModelError(
            f"The backbone {backbone_spec} no longer matches this probe: its layer '{layer}' gives "
            f"{actual} instead of {shape}. Fit the probe again.")
    module = probe_module(trunk, shape, fitted["weight"], float(fitted["bias"]), float(fitted["threshold"]))
    names = [str(c) for c in document["class_names"]]
    return LoadedModel(
        spec=spec or f"probe:{_probe_path(path)}",
        name=f"{names[0]} vs {names[1]} ({backbone.name}, {layer})",
        module=module,
        preprocessing=backbone.preprocessing,
        class_names=names,
        architecture=backbone.architecture,
        notes=probe_notes(names, head, float(fitted.get("auc", float("nan"))), float(fitted["threshold"])),
    )
