"""The readable models as a table method: ``tabular.readable`` (modality ``"table"``).

It fits one of the readable models of :mod:`xaidesk.tabular.models` on the target column, measures
it on held-out rows, and explains each row's output (the probability of the explained class, or
the predicted value) with Shapley values (:mod:`xaidesk.tabular.shapley`). The fitted model rides
along in the result (``extras["fitted"]``), so that the Tables tab's model pages (rules, what-if
curves, Shapley views, counterfactuals, trust) and the command line work on the very model that
was measured.

Each model's own settings appear in the form as ``<model>_<setting>`` (``tree_max_depth``,
``knn_k``), shown only while that model is chosen.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ..core import Explanation, MethodError, Param, Target, register_method, sub_progress
from ..core.registry import register_family
from ..core.registry import TAG_BASE_VALUE, TAG_SUPERVISED
from ..explain.table import MODALITY, STANDARDIZE, THETA, preprocess_table, table_extras
from .models import TASKS, fit_table_model, get_table_model, list_table_models
from .shapley import METHODS as SHAPLEY_METHODS
from .shapley import Background, background_kmeans, background_sample, choose_method, model_calls_per_row, shapley_values

METHOD_NAME = "tabular.readable"
#: Rows explained by default: enough for the summary views, quick for every Shapley method.
DEFAULT_EXPLAINED_ROWS = 200
#: Fewest k-means summaries a background is shrunk to, to keep a slow model within its time budget.
MIN_SUMMARIES = 5


register_family(
    "tabular", title="Readable model", order=12,
    guide_title="Tables: readable models and Shapley values",
    guide="This method fits a model a person can read (weights, if-then rules, shape curves, votes or "
          "neighbours) on the target column, measures it on rows it did not see, and splits each prediction "
          "into Shapley values: how much each column moved it away from the average prediction. The Tables "
          "tab's model pages then show the model itself, what-if curves, counterfactuals and how far the "
          "explanation can be trusted.")


def model_setting_name(model: str, setting: str) -> str:
    """The form name of a model's own setting: ``tree`` + ``max_depth`` -> ``tree_max_depth``."""
    return f"{model}_{setting}"


def _model_params() -> list[Param]:
    params = []
    for info in list_table_models():
        for p in info.params:
            params.append(replace(p, name=model_setting_name(info.name, p.name), label=p.label or p.name.replace("_", " "),
                                  shown_when={"model": (info.name,)}))
    return params


def _params() -> list[Param]:
    models = list_table_models()
    return [
        Param("model", "choice", "tree", "The model fitted on the target column. Linear models, trees, "
              "naive Bayes and neighbours can be read directly; the others through their Shapley values.",
              choices=tuple(m.name for m in models), label="model",
              choice_titles={m.name: m.title for m in models}),
        *_model_params(),
        Param("task", "choice", "auto", "Classification (classes) or regression (numbers); 'auto' decides "
              "from the target column.", choices=("auto", *TASKS), label="task",
              choice_titles={"auto": "Automatic (from the target)", "classification": "Classification (classes)",
                             "regression": "Regression (numbers)"}),
        Param("positive", "str", "", "The class whose probability is explained; empty: the second of two "
              "classes, else the most frequent.", label="class explained", choice_titles={"": "Automatic"}),
        Param("held_out", "float", 0.25, "Share of rows kept apart to measure the model.", minimum=0.05,
              maximum=0.9, label="share held out", percent=True),
        Param("shapley", "choice", "auto", "How Shapley values are computed: exact for few columns, TreeSHAP "
              "for trees, else sampled permutations (KernelSHAP on request).", choices=SHAPLEY_METHODS,
              label="Shapley method", choice_titles={"auto": "Automatic", "exact": "Exact (every coalition)",
                                                     "tree": "TreeSHAP", "kernel": "KernelSHAP (sampled)",
                                                     "permutation": "Permutations (sampled)"}),
        Param("background", "choice", "sample", "The rows a feature is 'removed' towards: a random sample of "
              "the table, or k-means summaries weighted by cluster size.", choices=("sample", "kmeans"),
              label="background", choice_titles={"sample": "A random sample of rows",
                                                 "kmeans": "k-means summaries"}),
        Param("background_size", "int", 100, "Rows in the background sample, or k-means summaries.",
              minimum=1, maximum=2000, label="background rows"),
        Param("explained_rows", "int", DEFAULT_EXPLAINED_ROWS, "Rows explained with Shapley values (a seeded "
              "random choice); 0 explains every row.", minimum=0, maximum=1_000_000,
              label="rows explained (0: all)"),
        Param("time_budget", "float", 30.0, "Seconds the Shapley values should take at most. A model slow to "
              "evaluate (k-nearest neighbours, for one) gets its background summarised by fewer k-means centres "
              "to stay near this, and the result says so; 0: no limit.", minimum=0.0, maximum=1e6,
              label="time for Shapley values (s; 0: no limit)"),
        Param("seed", "int", 0, "Start value of the random choices (split, background, sampled Shapley values); "
              "the same seed gives the same result.", minimum=0, maximum=2**31 - 1,
              label="random seed (same seed, same result)"),
        replace(THETA, default="none", help="Must stay 'none': readable models work on the columns as read, so "
                "that rules, curves and counterfactuals are in the table's own units."),
        replace(STANDARDIZE, default=False, help="Must stay off: the models that need standardised columns "
                "standardise inside themselves, and everything shown stays in the table's own units."),
    ]


def explained_positions(n_rows: int, count: int, seed: int) -> np.ndarray:
    """Sorted positions of the rows to explain: all of them, or ``count`` chosen at random (seeded)."""
    if count <= 0 or count >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, count, replace=False))


def seconds_per_prediction(fitted, rows: np.ndarray, probe_rows: int = 2000) -> float:
    """The model's time per predicted row, timed on ``probe_rows`` copies of ``rows`` (best of two)."""
    probe = np.resize(rows, (probe_rows, rows.shape[1]))
    best = np.inf
    for _ in range(2):
        start = time.perf_counter()
        fitted.predict_output(probe)
        best = min(best, time.perf_counter() - start)
    return best / probe_rows


def affordable_background(fitted, train: np.ndarray, background: Background, method: str, rows: int,
                          budget: float, seed: int) -> tuple[Background, list[str], float]:
    """``background``, or fewer k-means summaries of ``train`` when ``method`` would overrun ``budget`` seconds.

    Returns the background to use, the sentences that say what was changed and why, and the
    seconds the Shapley values are expected to take with it (0 for TreeSHAP, which is quick).
    """
    calls = model_calls_per_row(method, train.shape[1]) * rows
    if calls == 0:
        return background, [], 0.0
    per_row = seconds_per_prediction(fitted, train)
    estimate = calls * len(background.rows) * per_row
    if budget <= 0 or estimate <= budget:
        return background, [], estimate
    k = max(MIN_SUMMARIES, int(budget / (calls * per_row)))
    if k >= len(background.rows):
        return background, [], estimate
    summary = background_kmeans(train, k, seed)
    return summary, [f"{fitted.title} takes {per_row * 1e6:.1f} µs per prediction, so {method} Shapley values of "
                     f"{rows} rows against {len(background.rows)} background rows would take about {estimate:.0f} s. "
                     f"The background was summarised by {len(summary.rows)} k-means centres (weighted by cluster size) "
                     f"to stay near the {budget:.0f} s set. Explain fewer rows, or raise the time, for a larger "
                     "background."], calls * len(summary.rows) * per_row


def training_history(fitted) -> list[dict]:
    """The loss per training epoch of a model trained over epochs (the MLP), for the Model view; else empty."""
    curve = getattr(fitted.final, "loss_curve_", None)
    return [{"epoch": i + 1, "train_loss": float(v)} for i, v in enumerate(curve or [])]


def _model_settings(model: str, params: dict) -> dict:
    info = get_table_model(model)
    return {p.name: params[model_setting_name(model, p.name)] for p in info.params}


@register_method(
    METHOD_NAME, modality=MODALITY, title="Target: readable model and Shapley values", unit="Shapley value",
    tags=[TAG_SUPERVISED, TAG_BASE_VALUE], order=3, params=_params(),
)
def explain_readable(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Fit a readable model on the target and explain rows with Shapley values of its output."""
    start = time.perf_counter()
    if target is None:
        raise MethodError("This method predicts a target: choose the target column first.")
    _, names, pre = preprocess_table(x, params)
    logged = [name for name, theta in pre.theta.items() if theta is not None]
    if logged or params["standardize"]:
        changed = f"the log transform of {', '.join(logged)}" if logged else "standardisation"
        raise MethodError(f"Readable models work on the columns as read, so that their rules, curves and "
                          f"counterfactuals speak in the table's own units; {changed} is switched on. Set the log "
                          "offset θ to 'none' and turn standardisation off (Preprocessing view, or --param "
                          "theta=none --param standardize=false).")
    y = np.asarray(target)
    if len(y) != len(pre.values):
        raise MethodError(f"The target has {len(y)} values for {len(pre.values)} rows.")
    seed = int(params["seed"])
    fitted = fit_table_model(
        params["model"], pre.values, y, names, task=None if params["task"] == "auto" else params["task"],
        params=_model_settings(params["model"], params), held_out=float(params["held_out"]), seed=seed,
        positive=str(params["positive"]).strip() or None, target_name=getattr(x, "target_name", None) or "target",
        token=token, progress=sub_progress(progress, 0.0, 0.1))
    token.check()
    output = fitted.predict_output(pre.values)
    if not np.all(np.isfinite(output)):
        raise MethodError(f"{fitted.title} gave missing or infinite outputs for some rows; check the table's values "
                          "(extreme numbers?) or choose another model.")
    train = pre.values[fitted.train_rows]
    size = int(params["background_size"])
    background = (background_kmeans(train, size, seed) if params["background"] == "kmeans"
                  else background_sample(train, size, seed))
    positions = explained_positions(len(pre.values), int(params["explained_rows"]), seed)
    probe = pre.values[positions[:50]]
    method = choose_method(params["shapley"], fitted.estimator, len(names), (probe, fitted.predict_output(probe)))
    background, notices, expected = affordable_background(fitted, train, background, method, len(positions),
                                                          float(params["time_budget"]), seed)
    token.check()
    if expected > 10:
        progress(0.1, f"Shapley values of {len(positions)} rows: about {expected:.0f} s expected")
    shapley = shapley_values(fitted.predict_output, pre.values[positions], background, estimator=fitted.estimator,
                             method=params["shapley"], seed=seed, feature_names=names, token=token,
                             progress=sub_progress(progress, 0.1, 1.0))
    # Every row gets the model's output (its score, for the ranking); the sampled rows also get their values.
    relevance = np.full(pre.values.shape, np.nan)
    relevance[positions] = shapley.values
    scores = output.copy()
    absorbed = np.full(len(pre.values), shapley.base_value)
    progress(1.0, "explained")
    summary = {"kind": fitted.kind, "title": fitted.title, "task": fitted.task, "output": fitted.output_name,
               "classes": list(fitted.class_names), "settings": dict(fitted.params),
               "shapley_method": shapley.method, "background": shapley.background,
               "base_value": shapley.base_value, "efficiency_gap": shapley.efficiency_gap}
    return Explanation(
        relevance=relevance, method=METHOD_NAME, target=Target(0, fitted.output_name),
        score=float(np.mean(shapley.output)), params=dict(params), seconds=time.perf_counter() - start,
        extras=table_extras(pre, scores, absorbed, fitted.output_name, metrics=dict(fitted.metrics), model=summary,
                            task=fitted.task, classes=list(fitted.class_names), fitted=fitted, shapley=shapley,
                            explained_positions=positions, output=output, background_rows=background.rows,
                            background_weights=background.weights, notices=notices, history=training_history(fitted)),
    )


__all__ = ["METHOD_NAME", "explain_readable", "explained_positions", "model_setting_name"]
