"""The registered supervised methods for tables (modality ``"table"``, run through
:func:`xaidesk.explain.table.explain_table`): ``supervised.linear``, ``supervised.mlp_lrp`` and
``supervised.mlp_lime``.

The models are fitted in :mod:`xaidesk.explain.table_fitting` (linear models, the MLP), the MLP is
explained by LRP-ε (:mod:`xaidesk.explain.table_lrp`) or LIME for tables (:mod:`xaidesk.explain.table_lime`).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ..core import Explanation, MethodError, Param, Target, register_method, sub_progress
from ..core.registry import TAG_INTERCEPT_APART, TAG_LOCAL_SURROGATE, TAG_SUPERVISED
from ..data.tables import FeatureMatrix
from .table import MODALITY, STANDARDIZE, THETA, preprocess_table, table_extras
from .table_lime import lime_tabular
from .table_fitting import TrainedMLP, fit_linear, train_mlp


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
          label="share held out", percent=True),
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
