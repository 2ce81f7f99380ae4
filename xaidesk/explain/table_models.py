"""Explained supervised models on tables: linear models, a small MLP with LRP, and LIME for tables.

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

LRP-ε for the MLP (:func:`lrp_epsilon`)
    Plain numpy: R_j = Σ_k a_j w_jk / (z_k + ε sign(z_k)) R_k, z_k = Σ_j a_j w_jk + b_k,
    starting from the explained output (the regression value or the logit of the
    explained class). The parts the biases and ε take are accumulated as
    ``absorbed``, so ``relevance.sum(1) + absorbed == output`` exactly. It agrees with
    zennit's ``Epsilon`` rule (:func:`lrp_epsilon_zennit`, tested). The network
    sees standardised inputs (x - mean) / scale; relevance is computed on those,
    one value per feature (the diagonal standardisation passes it through).

LIME for tables (:func:`lime_tabular`)
    The same algorithm as ``lime.lime_tabular.LimeTabularExplainer`` with
    ``discretize_continuous=False``, ``feature_selection="none"`` and the default
    Ridge(alpha=1): samples x' = instance + N(0, 1) · σ_train (``sample_around_instance=True``)
    or mean + N(0, 1) · σ_train (the package's default); the first sample is the
    instance itself; the samples are scaled by (x' - mean) / σ; the kernel is
    sqrt(exp(-d² / width²)) with width = 0.75 √F on the Euclidean distance of the
    scaled samples to the scaled instance; a weighted Ridge is fitted on the scaled
    samples. With the same ``numpy.random.RandomState(seed)`` both draw the same
    samples in the same order (one ``normal(0, 1, S·F)`` call), so coefficients
    agree to rounding (tested against the package). ``coefficients`` are
    the Ridge coefficients on the scaled features (what the package reports);
    ``contributions`` = coefficient · (x - mean) / σ, which add up with the
    intercept to the surrogate's prediction at the instance.

Registered methods (modality ``"table"``, through :func:`xaidesk.explain.table.explain_table`):
``supervised.linear``, ``supervised.mlp_lrp`` and ``supervised.mlp_lime``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..core import CancelToken, Explanation, MethodError, Param, Step, Target, no_progress, register_method
from ..core.registry import TAG_INTERCEPT_APART, TAG_LOCAL_SURROGATE, TAG_SUPERVISED
from ..data.tables import FeatureMatrix
from .table import MODALITY, STANDARDIZE, THETA, preprocess_table, sub_progress, table_extras


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


def _linear_layers(model: torch.nn.Sequential) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """(W, b, relu_after) for each Linear of a Linear/ReLU Sequential, in float64."""
    layers = []
    modules = list(model)
    for i, m in enumerate(modules):
        if isinstance(m, torch.nn.Linear):
            relu = i + 1 < len(modules) and isinstance(modules[i + 1], torch.nn.ReLU)
            bias = m.bias.detach().double().numpy() if m.bias is not None else np.zeros(m.out_features)
            layers.append((m.weight.detach().double().numpy(), bias, relu))
        elif not isinstance(m, torch.nn.ReLU):
            raise MethodError(f"LRP here covers Linear and ReLU layers only; the model has {type(m).__name__}.")
    return layers


def lrp_epsilon(model: torch.nn.Sequential, X: np.ndarray, output: np.ndarray | int = 0, epsilon: float = 1e-6):
    """LRP-ε through a Linear/ReLU MLP in float64. Returns (relevance (N, F), absorbed (N,), f (N,)).

    ``output`` is the explained output unit (one index, or one per row).
    ``relevance.sum(1) + absorbed == f`` holds exactly (biases and ε take ``absorbed``).
    """
    X = np.asarray(X, dtype=np.float64)
    layers = _linear_layers(model)
    activations = [X]
    a = X
    for w, b, relu in layers:
        a = a @ w.T + b
        if relu:
            a = np.maximum(a, 0.0)
        activations.append(a)
    out = activations[-1]
    idx = np.broadcast_to(np.asarray(output), (len(X),))
    f = out[np.arange(len(X)), idx]
    r = np.zeros_like(out)
    r[np.arange(len(X)), idx] = f
    absorbed = np.zeros(len(X))
    for (w, b, _), a in zip(reversed(layers), reversed(activations[:-1])):
        z = a @ w.T + b
        denom = z + epsilon * np.where(z >= 0, 1.0, -1.0)
        s = r / denom
        new = a * (s @ w)
        absorbed += r.sum(axis=1) - new.sum(axis=1)
        r = new
    return r, absorbed, f


def lrp_epsilon_zennit(model: torch.nn.Sequential, X: np.ndarray, output: int = 0, epsilon: float = 1e-6) -> np.ndarray:
    """The same with zennit's Epsilon rule on every Linear (float64 copy of the model)."""
    import copy

    from zennit.attribution import Gradient
    from zennit.composites import LayerMapComposite
    from zennit.rules import Epsilon, Pass

    net = copy.deepcopy(model).double()
    composite = LayerMapComposite(layer_map=[(torch.nn.ReLU, Pass()), (torch.nn.Linear, Epsilon(epsilon=epsilon))])
    x = torch.as_tensor(np.asarray(X, dtype=np.float64)).requires_grad_(True)
    with torch.enable_grad(), Gradient(model=net, composite=composite) as attributor:
        out = net(x)
        grad_out = torch.zeros_like(out)
        grad_out[:, output] = out[:, output].detach()
        _, relevance = attributor(x, grad_out)
    return relevance.detach().numpy()


# --- LIME for tables ----------------------------------------------------------------------------


@dataclass
class LimeTabularResult:
    """One row's LIME explanation (see the module doc for the algorithm)."""

    coefficients: np.ndarray  # (F,) Ridge coefficients on the scaled features
    contributions: np.ndarray  # (F,) coefficient * scaled instance value
    intercept: float
    local_prediction: float
    score: float  # weighted R² of the surrogate
    samples: np.ndarray  # (S, F) the perturbed samples (original units), first = instance
    weights: np.ndarray  # (S,) kernel weights
    predictions: np.ndarray  # (S,) model outputs explained


def lime_tabular(
    predict_fn,
    instance: np.ndarray,
    training: np.ndarray,
    *,
    num_samples: int = 5000,
    kernel_width: float | None = None,
    sample_around_instance: bool = False,
    seed: int = 0,
    samples: np.ndarray | None = None,
) -> LimeTabularResult:
    """LIME for one row; ``predict_fn(samples) -> (S,)`` returns the explained output.

    ``samples`` may be given (first row = instance) to explain on exactly those.
    """
    from sklearn.linear_model import Ridge

    training = np.asarray(training, dtype=np.float64)
    instance = np.asarray(instance, dtype=np.float64)
    f = training.shape[1]
    mean = training.mean(axis=0)
    scale = training.std(axis=0)
    scale[scale == 0] = 1.0
    if samples is None:
        rng = np.random.RandomState(seed)
        samples = rng.normal(0, 1, num_samples * f).reshape(num_samples, f)
        samples = samples * scale + (instance if sample_around_instance else mean)
        samples[0] = instance
    samples = np.asarray(samples, dtype=np.float64)
    scaled = (samples - mean) / scale
    distances = np.sqrt(((scaled - scaled[0]) ** 2).sum(axis=1))
    width = float(kernel_width) if kernel_width is not None else float(np.sqrt(f) * 0.75)
    weights = np.sqrt(np.exp(-(distances ** 2) / width ** 2))
    predictions = np.asarray(predict_fn(samples), dtype=np.float64).reshape(-1)
    surrogate = Ridge(alpha=1, fit_intercept=True, random_state=np.random.RandomState(seed))
    surrogate.fit(scaled, predictions, sample_weight=weights)
    score = float(surrogate.score(scaled, predictions, sample_weight=weights))
    local = float(surrogate.predict(scaled[:1])[0])
    coef = np.asarray(surrogate.coef_, dtype=np.float64)
    return LimeTabularResult(
        coefficients=coef, contributions=coef * scaled[0], intercept=float(surrogate.intercept_),
        local_prediction=local, score=score, samples=samples, weights=weights, predictions=predictions,
    )


def global_importance(relevance: np.ndarray) -> np.ndarray:
    """Mean absolute relevance per feature (the global view)."""
    return np.abs(np.asarray(relevance, dtype=np.float64)).mean(axis=0)


# --- the registered methods (modality "table") -------------------------------------------------


def _need_target(target, n: int) -> np.ndarray:
    if target is None:
        raise MethodError("This method predicts a target: choose the target column first.")
    y = np.asarray(target)
    if len(y) != n:
        raise MethodError(f"The target has {len(y)} values for {n} rows.")
    return y


@register_method(
    "supervised.linear", modality=MODALITY, title="Target: linear model contributions",
    unit="contribution", tags=[TAG_SUPERVISED, TAG_INTERCEPT_APART], order=0,
    params=[
        Param("model", "choice", "ridge", "Linear regression, ridge regression (regularised), or logistic regression (classes).",
              choices=("linear", "ridge", "logistic"), label="model",
              choice_titles={"linear": "Linear regression", "ridge": "Ridge regression (regularised)",
                             "logistic": "Logistic regression (classes)"}),
        Param("alpha", "float", 1.0, "Regularisation strength (ridge and logistic).", minimum=0.0, maximum=1e9,
              label="regularisation strength", shown_when={"model": ("ridge", "logistic")}),
        replace(THETA, default="none"),
        replace(STANDARDIZE, default=True, help=STANDARDIZE.help + " Contributions are then relative to the average row."),
    ],
)
def explain_linear(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Fit a linear model and split each prediction into contributions w_i x_i plus the intercept."""
    start = time.perf_counter()
    _, names, pre = preprocess_table(x, params)
    y = _need_target(target, len(pre.values))
    token.check()
    fit = fit_linear(pre.values, y, params["model"], alpha=float(params["alpha"]))
    progress(1.0, "fitted")
    absorbed = np.full(len(pre.values), fit.intercept)
    return Explanation(
        relevance=fit.contributions, method="supervised.linear", target=Target(0, fit.explained),
        score=float(np.mean(fit.prediction)), params=dict(params), seconds=time.perf_counter() - start,
        extras=table_extras(pre, fit.prediction, absorbed, fit.explained, intercept=fit.intercept,
                              coefficients=fit.coef.tolist(), metrics=fit.metrics, classes=[str(c) for c in fit.classes]),
    )


_MLP_PARAMS = [
    Param("task", "choice", "auto", "Regression (numbers) or classification (classes); 'auto' decides from the target.",
          choices=("auto", "regression", "classification"), label="task",
          choice_titles={"auto": "Automatic (from the target)", "regression": "Regression (numbers)",
                         "classification": "Classification (classes)"}),
    Param("hidden", "str", "32,16", "Sizes of the hidden layers, separated by commas.", label="hidden layer sizes"),
    Param("epochs", "int", 200, "Training passes over the data.", minimum=1, maximum=100000, label="training passes"),
    Param("learning_rate", "float", 0.01, "Step size of the optimiser.", minimum=1e-6, maximum=1.0, label="learning rate"),
    Param("validation", "float", 0.2, "Share of rows held out to measure the model.", minimum=0.0, maximum=0.9,
          label="share held out"),
    Param("seed", "int", 0, "Start value of the random choices (split, initialisation, batches); the same seed "
          "gives the same model.", minimum=0, maximum=2**31 - 1, label="random seed (same seed, same result)"),
    replace(THETA, default="none"),
    replace(STANDARDIZE, help="Standardise the features before the model sees them (the network standardises anyway)."),
]


def _train(pre, y, params, token, progress) -> "TrainedMLP":
    try:
        hidden = tuple(int(h) for h in str(params["hidden"]).replace(" ", "").split(",") if h)
    except ValueError:
        raise MethodError(f"Hidden layer sizes are whole numbers separated by commas; got '{params['hidden']}'.") from None
    if not hidden or min(hidden) < 1:
        raise MethodError("Give at least one hidden layer size of 1 or more.")
    return train_mlp(pre.values, y, task=params["task"], hidden=hidden, epochs=int(params["epochs"]),
                                 learning_rate=float(params["learning_rate"]), validation=float(params["validation"]),
                                 seed=int(params["seed"]), token=token, progress=progress)


def _mlp_outputs(trained, X):
    """Explained output per row: the regression value (standardised) or the logit of the predicted class."""
    out = trained.output(X)
    if trained.task == "regression":
        return np.zeros(len(X), dtype=int), "predicted value (standardised network output)"
    return out.argmax(axis=1), "logit of the predicted class"


@register_method(
    "supervised.mlp_lrp", modality=MODALITY, title="Target: neural network explained by LRP",
    tags=[TAG_SUPERVISED], order=1,
    params=_MLP_PARAMS + [Param("epsilon", "float", 1e-6, "Stabiliser ε of LRP-ε.", minimum=0.0, maximum=100.0,
                                label="stabiliser (ε)")],
)
def explain_mlp_lrp(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Train a small neural network on the target and explain every prediction per feature with LRP-ε."""
    start = time.perf_counter()
    _, names, pre = preprocess_table(x, params)
    y = _need_target(target, len(pre.values))
    trained = _train(pre, y, params, token, sub_progress(progress, 0.0, 0.95))
    outputs, label = _mlp_outputs(trained, pre.values)
    relevance, absorbed, f = trained.explain(pre.values, outputs, float(params["epsilon"]))
    progress(1.0, "explained")
    return Explanation(
        relevance=relevance, method="supervised.mlp_lrp", target=Target(0, label), score=float(np.mean(f)),
        params=dict(params), seconds=time.perf_counter() - start,
        extras=table_extras(pre, f, absorbed, label, metrics=trained.metrics, task=trained.task,
                              classes=[str(c) for c in trained.classes], explained_output=outputs,
                              history=trained.history),
    )


@register_method(
    "supervised.mlp_lime", modality=MODALITY, title="Target: neural network explained by LIME",
    unit="weight", tags=[TAG_SUPERVISED, TAG_LOCAL_SURROGATE], order=2,
    params=_MLP_PARAMS + [
        Param("samples", "int", 1000, "Perturbed samples per explained row.", minimum=10, maximum=100000,
              label="random copies per row"),
        Param("rows", "str", "", "Rows to explain (0-based file rows, separated by commas); empty: the first 20.",
              label="rows to explain", choice_titles={"": "The first 20"}),
    ],
)
def explain_mlp_lime(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Train a small neural network on the target and explain chosen rows with LIME for tables."""
    start = time.perf_counter()
    _, names, pre = preprocess_table(x, params)
    y = _need_target(target, len(pre.values))
    trained = _train(pre, y, params, token, sub_progress(progress, 0.0, 0.5))
    row_ids = x.row_ids if isinstance(x, FeatureMatrix) else np.arange(len(pre.values))
    text = str(params["rows"]).strip()
    if text:
        try:
            wanted = [int(r) for r in text.replace(" ", "").split(",") if r]
        except ValueError:
            raise MethodError(f"Rows are whole numbers separated by commas; got '{text}'.") from None
        positions = []
        for r in wanted:
            hits = np.flatnonzero(row_ids == r)
            if not hits.size:
                raise MethodError(f"Row {r} is not in the analysed table.")
            positions.append(int(hits[0]))
    else:
        positions = list(range(min(20, len(pre.values))))
    outputs, label = _mlp_outputs(trained, pre.values)
    n, f = pre.values.shape
    relevance = np.full((n, f), np.nan)
    scores = np.full(n, np.nan)
    absorbed = np.full(n, np.nan)
    details = []
    for i, pos in enumerate(positions):
        token.check()
        unit = int(outputs[pos])
        result = lime_tabular(lambda s: trained.output(s)[:, unit], pre.values[pos], pre.values,
                                          num_samples=int(params["samples"]), seed=int(params["seed"]))
        relevance[pos] = result.contributions
        scores[pos] = result.local_prediction
        absorbed[pos] = result.intercept
        details.append({"row": int(row_ids[pos]), "intercept": result.intercept, "r2": result.score,
                        "local_prediction": result.local_prediction,
                        "model_output": float(result.predictions[0]), "coefficients": result.coefficients.tolist()})
        progress(0.5 + 0.5 * (i + 1) / len(positions), f"LIME row {i + 1} of {len(positions)}")
    return Explanation(
        relevance=relevance, method="supervised.mlp_lime", target=Target(0, label), score=float(np.nanmean(scores)),
        params=dict(params), seconds=time.perf_counter() - start,
        extras=table_extras(pre, scores, absorbed, f"LIME surrogate of the {label}", metrics=trained.metrics,
                              task=trained.task, classes=[str(c) for c in trained.classes], lime_rows=details,
                              history=trained.history),
    )
