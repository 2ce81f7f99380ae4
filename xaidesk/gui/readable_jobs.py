"""What the Readable model page computes and says, without Qt: metrics in words, the model comparison, the lasso path.

The page (:mod:`xaidesk.gui.panels.table_readable`) runs :func:`compare_models` and
:func:`lasso_path_of` in the window's runner and draws what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from typing import TYPE_CHECKING

from ..core import CancelToken, Cancelled, XaideskError, no_progress, sub_progress

if TYPE_CHECKING:  # the tabular core loads scikit-learn (and its methods torch): imported when a job runs
    from ..tabular.models import FittedModel
    from ..tabular.readable import LassoPath

#: How each kind of model can be read, in a few words.
HOW_READ = {
    "linear": "weights",
    "logistic": "weights",
    "lasso": "weights (unhelpful columns at zero)",
    "tree": "if-then rules",
    "ebm": "shape curves",
    "naive_bayes": "per-column votes",
    "knn": "neighbours",
    "mlp": "Shapley values only",
}

#: The metric columns of the comparison per task: (key in ``metrics``, column title, higher is better).
METRIC_COLUMNS = {
    "classification": (("accuracy", "accuracy", True), ("balanced_accuracy", "balanced accuracy", True),
                       ("roc_auc", "AUC", True)),
    "regression": (("mae", "mean abs. error", False), ("rmse", "RMSE", False), ("r2", "R²", True)),
}


def how_read(kind: str) -> str:
    """How a model of ``kind`` is read by a person ("if-then rules", "Shapley values only")."""
    return HOW_READ.get(kind, "Shapley values only")


def number(value: float) -> str:
    """A metric or weight with four significant digits, '–' where there is none."""
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.4g}"


def metric_text(key: str, value: float | None) -> str:
    """One metric as people write it: shares in per cent, AUC and R² as numbers, errors as numbers."""
    if value is None or not np.isfinite(value):
        return "–"
    if key in ("accuracy", "balanced_accuracy"):
        return f"{100 * value:.1f}%"
    if key in ("roc_auc", "r2", "log_loss"):
        return f"{value:.3f}"
    return number(value)


def metrics_sentence(model: FittedModel) -> str:
    """The held-out metrics in plain words, with the number of rows they were measured on."""
    m, rows = model.metrics, len(model.held_out_rows)
    start = f"Measured on {rows} held-out rows the model never saw: "
    if model.task == "classification":
        parts = [f"right for {metric_text('accuracy', m.get('accuracy'))} of them",
                 f"balanced accuracy {metric_text('balanced_accuracy', m.get('balanced_accuracy'))} "
                 "(the classes weighed equally)"]
        if "roc_auc" in m:
            parts.append(f"AUC {metric_text('roc_auc', m['roc_auc'])} (1 ranks perfectly, 0.5 is guessing)")
        return start + "; ".join(parts) + "."
    unit = f"in the units of {model.target_name}"
    return (start + f"off by {metric_text('mae', m.get('mae'))} on average ({unit}; RMSE "
            f"{metric_text('rmse', m.get('rmse'))}); R² {metric_text('r2', m.get('r2'))} "
            "(1 is perfect, 0 is no better than the average).")


#: A held-out fit at or below these is no better than a guess: R² (regression), ROC AUC (classification).
WEAK_R2 = 0.05
WEAK_AUC = 0.55
#: Without an AUC: a balanced accuracy within this of 1 / number of classes is no better than a guess.
WEAK_BALANCED_MARGIN = 0.02


def signed(value: float, decimals: int = 2) -> str:
    """``value`` with a real minus sign (−0.04), as people write it."""
    return f"{value:.{decimals}f}".replace("-", "\u2212")


def weak_fit_warning(model: FittedModel) -> str:
    """A warning when the held-out fit is no better than a guess, else ``""``.

    Regression: R² at most :data:`WEAK_R2`. Classification: ROC AUC at most :data:`WEAK_AUC`, or, without
    an AUC, a balanced accuracy at most :data:`WEAK_BALANCED_MARGIN` above 1 / number of classes.
    """
    m = model.metrics
    if model.task == "regression":
        r2 = m.get("r2")
        if r2 is None or not np.isfinite(r2) or r2 > WEAK_R2:
            return ""
        measured, why = f"R² {signed(r2)}", "why the values are what they are"
    else:
        auc, balanced = m.get("roc_auc"), m.get("balanced_accuracy")
        if auc is not None and np.isfinite(auc):
            if auc > WEAK_AUC:
                return ""
            measured = f"AUC {auc:.2f}, where 0.5 is guessing"
        elif balanced is not None and np.isfinite(balanced):
            chance = 1 / max(1, len(model.class_names))
            if balanced > chance + WEAK_BALANCED_MARGIN:
                return ""
            measured = (f"balanced accuracy {100 * balanced:.1f}%, where guessing among {len(model.class_names)} "
                        f"classes gets {100 * chance:.0f}%")
        else:
            return ""
        why = f"why the rows have the {model.target_name} they have"
    return (f"This model predicts the held-out rows no better than a guess ({measured}): its explanations describe "
            f"what it does, not {why}.")


def model_sentence(model: FittedModel) -> str:
    """What the model is, what it does and what its output means."""
    if model.task == "classification":
        task = f"classifies {model.target_name} ({', '.join(model.class_names)})"
    else:
        task = f"predicts {model.target_name} (a number)"
    return f"{model.title}: {task}. Its output here is the {model.output_name}."


@dataclass
class ComparedModel:
    """One model of the comparison: its held-out metrics, or why it could not be fitted."""

    name: str
    title: str
    how_read: str
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""
    current: bool = False


def form_settings(params: dict) -> dict[str, dict]:
    """Each model's own settings as the method's form holds them.

    ``{"tree_max_depth": 4, ...}`` becomes ``{"tree": {"max_depth": 4, ...}, ...}``.
    """
    from ..tabular.methods import model_setting_name
    from ..tabular.models import list_table_models

    settings = {}
    for info in list_table_models():
        names = {p.name: model_setting_name(info.name, p.name) for p in info.params}
        settings[info.name] = {name: params[key] for name, key in names.items() if key in params}
    return settings


def compare_models(model: FittedModel, held_out: float, seed: int, settings: dict[str, dict] | None = None,
                   token: CancelToken | None = None, progress=no_progress) -> list[ComparedModel]:
    """Fit every registered model for ``model``'s task on its data, split and seed, and measure each.

    ``settings`` holds each model's own settings by name (default: the models' defaults). The model
    already fitted is not fitted again (its own metrics are used). A model that cannot be fitted on
    this table is listed with the reason; cancelling stops the whole comparison.
    """
    from ..tabular.models import fit_table_model, list_table_models

    settings = settings or {}
    infos = list_table_models(model.task)
    positive = model.positive if model.task == "classification" else None
    rows: list[ComparedModel] = []
    for i, info in enumerate(infos):
        if token is not None:
            token.check()
        progress(i / len(infos), f"Fitting {info.title} ({i + 1} of {len(infos)})")
        row = ComparedModel(info.name, info.title, how_read(info.name), current=info.name == model.kind)
        if row.current:
            row.metrics = dict(model.metrics)
        else:
            try:
                other = fit_table_model(info.name, model.X, model.y, model.feature_names, task=model.task,
                                        params=settings.get(info.name), held_out=held_out, seed=seed, positive=positive,
                                        target_name=model.target_name, token=token,
                                        progress=sub_progress(progress, i / len(infos), (i + 1) / len(infos)))
            except Cancelled:
                raise
            except XaideskError as error:
                row.error = error.message
            except Exception as error:  # one model failing must not lose the others' measures
                row.error = f"It could not be fitted on this table ({type(error).__name__}: {error})."
            else:
                if not np.array_equal(other.held_out_rows, model.held_out_rows):
                    row.error = "This model was measured on other rows; its numbers are not comparable."
                row.metrics = dict(other.metrics)
        rows.append(row)
    progress(1.0, f"Compared {len(rows)} models")
    return rows


def lasso_path_of(model: FittedModel, token: CancelToken | None = None, progress=no_progress) -> LassoPath:
    """The lasso path of ``model`` on the rows it was fitted on, with the λ it chose marked."""
    from ..tabular.readable import lasso_lambda, lasso_path

    rows = model.train_rows
    return lasso_path(model.X[rows], model.y[rows], model.task, feature_names=list(model.feature_names),
                      positive=model.positive if model.task == "classification" else None,
                      chosen=lasso_lambda(model), token=token, progress=progress,
                      output=None if model.task == "regression" else
                      f"log-odds of {model.target_name} = {model.positive_name}")


__all__ = ["ComparedModel", "HOW_READ", "METRIC_COLUMNS", "compare_models", "form_settings", "how_read",
           "lasso_path_of",
           "metric_text", "metrics_sentence", "model_sentence", "number", "weak_fit_warning"]
