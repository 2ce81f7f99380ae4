"""Fitting the models the supervised table methods explain: linear models and a small MLP.

Linear models (sklearn ``LinearRegression``, ``Ridge``, ``LogisticRegression``)
    The prediction (for logistic regression: the decision value, the log-odds of
    the explained class) is Σ_i w_i x_i + b. The contribution of feature i is
    w_i x_i on the preprocessed features; the intercept b is shown apart, so
    ``contributions.sum(1) + intercept == prediction`` (tested).

MLP (torch, trained in the background by :func:`train_mlp`)
    Linear-ReLU-Linear-ReLU-Linear, trained with Adam on a train/validation split
    (fixed seed), with progress per epoch and the cancel token checked between
    epochs. Metrics on the validation part: R² and MAE (regression) or accuracy
    (classification). Inputs are standardised by the wrapper (mean and scale from
    the training part).

LRP-ε for the MLP is in :mod:`xaidesk.explain.table_lrp`; the registered methods in
:mod:`xaidesk.explain.supervised`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core import CancelToken, MethodError, Step, no_progress
from .table_lrp import lrp_epsilon


# --- linear models ----------------------------------------------------------------------------


@dataclass
class LinearResult:
    """A fitted linear model and its exact decomposition."""

    kind: str
    model: object
    coef: np.ndarray  # (F,) for the explained output
    intercept: float
    contributions: np.ndarray  # (N, F) w_i x_i
    prediction: np.ndarray  # (N,) Σ contributions + intercept (decision value for logistic)
    explained: str  # what `prediction` is, in words
    classes: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)


def fit_linear(
    X: np.ndarray, y: np.ndarray, kind: str = "linear", *, alpha: float = 1.0, target_class=None,
    validation: float = 0.2, seed: int = 0,
) -> LinearResult:
    """Fit ``linear`` / ``ridge`` / ``logistic`` on all rows; validation metrics from a held-out fit."""
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score
    from sklearn.model_selection import train_test_split

    X = np.asarray(X, dtype=np.float64)
    if kind not in ("linear", "ridge", "logistic"):
        raise MethodError("The linear model is 'linear', 'ridge' or 'logistic'.")

    def make():
        if kind == "linear":
            return LinearRegression()
        if kind == "ridge":
            return Ridge(alpha=alpha)
        return LogisticRegression(C=1.0 / max(alpha, 1e-12), max_iter=2000)

    if kind == "logistic":
        y = np.asarray(y)
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)  # class codes read as numbers: 1, 2 rather than 1.0, 2.0
        _check_classes(y)
        if len(np.unique(y)) < 2:
            raise MethodError("The target has only one class; logistic regression needs at least two.")
    else:
        y = _numeric_target(y)
    metrics = {}
    if validation and len(X) >= 10:
        strat = y if kind == "logistic" and min(np.unique(y, return_counts=True)[1]) >= 2 else None
        xa, xb, ya, yb = train_test_split(X, y, test_size=validation, random_state=seed, stratify=strat)
        held = make().fit(xa, ya)
        if kind == "logistic":
            metrics = {"validation_accuracy": float(accuracy_score(yb, held.predict(xb)))}
        else:
            pb = held.predict(xb)
            metrics = {"validation_r2": float(r2_score(yb, pb)), "validation_mae": float(mean_absolute_error(yb, pb))}
    model = make().fit(X, y)
    if kind == "logistic":
        classes = list(model.classes_)
        if len(classes) == 2:
            cls_index, coef, intercept = 1, model.coef_[0], float(model.intercept_[0])
            if target_class is not None and _same(target_class, classes[0]):
                cls_index, coef, intercept = 0, -coef, -intercept
            explained = f"log-odds of class {classes[cls_index]}"
        else:
            cls_index = classes.index(_match(target_class, classes)) if target_class is not None else None
            if cls_index is None:
                counts = np.bincount(np.searchsorted(classes, y))
                cls_index = int(np.argmax(counts))
            coef, intercept = model.coef_[cls_index], float(model.intercept_[cls_index])
            explained = f"decision value (multinomial logit) of class {classes[cls_index]}"
        metrics["train_accuracy"] = float(accuracy_score(y, model.predict(X)))
    else:
        classes = []
        coef, intercept = np.asarray(model.coef_, dtype=np.float64).ravel(), float(model.intercept_)
        explained = "predicted value"
        metrics["train_r2"] = float(r2_score(y, model.predict(X)))
    contributions = X * coef[None, :]
    prediction = contributions.sum(axis=1) + intercept
    return LinearResult(kind=kind, model=model, coef=np.asarray(coef, dtype=np.float64), intercept=intercept,
                        contributions=contributions, prediction=prediction, explained=explained,
                        classes=classes, metrics=metrics)


def _numeric_target(y) -> np.ndarray:
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise MethodError("The target column holds text; use logistic regression or a classification MLP.") from None
    if not np.all(np.isfinite(y)):
        raise MethodError("The target column has missing values; leave out those rows first.")
    return y


def _same(a, b) -> bool:
    return str(a) == str(b)


def _check_classes(y: np.ndarray) -> None:
    """Refuse a target of measured numbers (fractions) where classes are needed."""
    if y.dtype.kind == "f":
        raise MethodError(
            "The target column holds measured numbers (with fractions), not classes; predict it with "
            "regression (ridge or linear, or an MLP with task=regression)."
        )


def _match(value, classes):
    for c in classes:
        if _same(value, c):
            return c
    raise MethodError(f"'{value}' is not one of the classes: {', '.join(map(str, classes))}.")


# --- MLP ----------------------------------------------------------------------------------------


@dataclass
class TrainedMLP:
    """A trained MLP and what the supervised views show about it.

    ``network`` is a Linear/ReLU ``Sequential`` on standardised inputs
    (x - mean) / scale; :meth:`predict` and :meth:`output` take raw features.
    """

    network: torch.nn.Sequential
    mean: np.ndarray
    scale: np.ndarray
    task: str  # "regression" or "classification"
    classes: list
    metrics: dict
    history: list[dict]
    train_rows: np.ndarray
    validation_rows: np.ndarray
    y_mean: float = 0.0
    y_scale: float = 1.0

    def standardize(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.scale

    def output(self, X: np.ndarray) -> np.ndarray:
        """The raw network outputs (N, C): what LRP explains (standardised value, or logits)."""
        with torch.no_grad():
            return self.network(torch.as_tensor(self.standardize(X), dtype=torch.float32)).double().numpy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Regression: values (N,); classification: probabilities (N, C)."""
        out = self.output(X)
        if self.task == "regression":
            return out[:, 0] * self.y_scale + self.y_mean
        out = out - out.max(axis=1, keepdims=True)
        p = np.exp(out)
        return p / p.sum(axis=1, keepdims=True)

    def explain(self, X: np.ndarray, output: int | np.ndarray = 0, epsilon: float = 1e-6):
        """LRP-ε relevance of the explained output per feature: (relevance, absorbed, f).

        Relevance is computed on the standardised features; the diagonal
        standardisation passes each feature's relevance through unchanged.
        """
        return lrp_epsilon(self.network, self.standardize(X), output, epsilon)


def train_mlp(
    X: np.ndarray,
    y: np.ndarray,
    *,
    task: str = "auto",
    hidden: tuple[int, ...] = (32, 16),
    epochs: int = 200,
    learning_rate: float = 1e-2,
    weight_decay: float = 1e-4,
    validation: float = 0.2,
    batch_size: int = 256,
    seed: int = 0,
    token: CancelToken | None = None,
    progress=None,
) -> TrainedMLP:
    """Train a small MLP (Adam, fixed seed) with a train/validation split; reports metrics per epoch."""
    from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score
    from sklearn.model_selection import train_test_split

    token = token or CancelToken()
    progress = progress or no_progress
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if task == "auto":
        task = "classification" if y.dtype.kind in "OUSb" or (
            np.issubdtype(y.dtype, np.number) and np.all(y == np.round(y)) and len(np.unique(y)) <= 10
        ) else "regression"
    if task not in ("regression", "classification"):
        raise MethodError("The task is 'regression' or 'classification'.")
    n, f = X.shape
    rows = np.arange(n)
    if task == "classification":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        _check_classes(y)
        classes = sorted(np.unique(y).tolist(), key=str)
        target = np.array([classes.index(v) for v in y.tolist()])
        if len(classes) < 2:
            raise MethodError("The target has only one class.")
        counts = np.bincount(target)
        strat = target if counts.min() >= 2 else None
    else:
        classes = []
        target = _numeric_target(y)
        strat = None
    train_rows, val_rows = train_test_split(rows, test_size=validation, random_state=seed, stratify=strat) \
        if validation and n >= 10 else (rows, rows[:0])
    mean = X[train_rows].mean(axis=0)
    scale = X[train_rows].std(axis=0)
    scale[scale == 0] = 1.0
    y_mean, y_scale = 0.0, 1.0
    if task == "regression":
        y_mean = float(target[train_rows].mean())
        y_scale = float(target[train_rows].std()) or 1.0
    torch.manual_seed(seed)
    outputs = len(classes) if task == "classification" else 1
    layers: list[torch.nn.Module] = []
    width = f
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    layers.append(torch.nn.Linear(width, outputs))
    model = torch.nn.Sequential(*layers)
    xt = torch.as_tensor((X - mean) / scale, dtype=torch.float32)
    if task == "classification":
        yt = torch.as_tensor(target, dtype=torch.long)
        loss_fn = torch.nn.CrossEntropyLoss()
    else:
        yt = torch.as_tensor((target - y_mean) / y_scale, dtype=torch.float32)[:, None]
        loss_fn = torch.nn.MSELoss()
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate,
                                 weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history = []
    train_index = torch.as_tensor(train_rows)
    with torch.enable_grad():
        for epoch in range(epochs):
            token.check()
            model.train()
            order = train_index[torch.randperm(len(train_index), generator=generator)]
            total = 0.0
            for start in range(0, len(order), batch_size):
                batch = order[start:start + batch_size]
                optimiser.zero_grad()
                loss = loss_fn(model(xt[batch]), yt[batch])
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            entry = {"epoch": epoch + 1, "train_loss": total / max(len(order), 1)}
            if len(val_rows) and ((epoch + 1) % 10 == 0 or epoch + 1 == epochs):
                with torch.no_grad():
                    entry["validation_loss"] = float(loss_fn(model(xt[val_rows]), yt[val_rows]))
            history.append(entry)
            progress((epoch + 1) / epochs, Step(f"epoch {epoch + 1} of {epochs}, loss {entry['train_loss']:.4g}", epoch + 1, epochs, "epochs"))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    trained = TrainedMLP(network=model, mean=mean, scale=scale, task=task, classes=classes, metrics={}, history=history,
                         train_rows=np.asarray(train_rows), validation_rows=np.asarray(val_rows),
                         y_mean=y_mean, y_scale=y_scale)
    metrics = {}
    for part, idx in (("train", train_rows), ("validation", val_rows)):
        if len(idx) == 0:
            continue
        pred = trained.predict(X[idx])
        if task == "regression":
            metrics[f"{part}_r2"] = float(r2_score(target[idx], pred))
            metrics[f"{part}_mae"] = float(mean_absolute_error(target[idx], pred))
        else:
            metrics[f"{part}_accuracy"] = float(accuracy_score(target[idx], pred.argmax(axis=1)))
    trained.metrics = metrics
    return trained
