"""Models a person can read, fitted on a table with held-out metrics.

A small registry (:func:`register_table_model`) lists the readable models; :func:`fit_table_model`
splits the rows, fits one and measures it on the rows it did not see, so that interpretability
and accuracy can be traded off knowingly. :mod:`xaidesk.tabular.readable` turns each fitted model
into what a person reads (coefficients, rules, shape functions, neighbours).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from sklearn import metrics as skm
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from ..core import CancelToken, InputError, MethodError, Param, no_progress
from ..core.registry import resolve_param_values

TASKS = ("classification", "regression")
MIN_ROWS = 10


@dataclass(frozen=True)
class TableModelInfo:
    """A registered readable model: its builder, what it is called and what it can learn."""

    name: str
    build: Callable[[str, dict, int], Any]
    title: str
    help: str
    tasks: tuple[str, ...]
    params: tuple[Param, ...]

    def resolve_params(self, values: dict | None = None) -> dict:
        """Fill defaults and check the given values against the schema."""
        return resolve_param_values(self.params, values, f"The model {self.title}")


_MODELS: dict[str, TableModelInfo] = {}


def register_table_model(name: str, *, title: str, help: str, tasks: Sequence[str],
                         params: Sequence[Param] = ()) -> Callable:
    """Register ``build(task, params, seed) -> unfitted estimator`` as the readable model ``name``."""
    if set(tasks) - set(TASKS) or not tasks:
        raise ValueError(f"{name}: tasks must be among {TASKS}")

    def decorator(build: Callable) -> Callable:
        if name in _MODELS:
            raise ValueError(f"table model {name!r} registered twice")
        _MODELS[name] = TableModelInfo(name, build, title, help, tuple(tasks), tuple(params))
        return build

    return decorator


def list_table_models(task: str | None = None) -> list[TableModelInfo]:
    """The registered readable models, in registration order, optionally only those for ``task``."""
    return [m for m in _MODELS.values() if task is None or task in m.tasks]


def get_table_model(name: str) -> TableModelInfo:
    """The readable model ``name``, with a helpful error."""
    try:
        return _MODELS[name]
    except KeyError:
        raise MethodError(f"There is no table model called '{name}'; choose one of: "
                          f"{', '.join(_MODELS)}.") from None


@dataclass
class FittedModel:
    """A readable model fitted on a table, with its held-out metrics.

    Attributes
    ----------
    kind, title
        Registry name and plain title.
    task
        ``"classification"`` or ``"regression"``.
    estimator
        The fitted scikit-learn (or interpret) estimator; a Pipeline where inputs are standardised.
    feature_names, class_names
        Column names; class names as text (classification only, in the estimator's order).
    positive
        Index into ``class_names`` of the class whose probability is explained.
    metrics
        Held-out measures (accuracy, balanced_accuracy, roc_auc, log_loss; or mae, rmse, r2).
    X, y, train_rows, held_out_rows
        Copies of the table the model was fitted on (for classification ``y`` holds each row's class
        index into ``class_names``), and which rows trained and which measured it.
    target_name, params
        The target column's name and the settings used.
    """

    kind: str
    title: str
    task: str
    estimator: Any
    feature_names: list[str]
    class_names: list[str]
    positive: int
    metrics: dict[str, float]
    X: np.ndarray
    y: np.ndarray
    train_rows: np.ndarray
    held_out_rows: np.ndarray
    target_name: str = "target"
    params: dict = field(default_factory=dict)

    @property
    def final(self) -> Any:
        """The last step of the estimator (the model itself, without its scaler)."""
        return self.estimator[-1] if isinstance(self.estimator, Pipeline) else self.estimator

    @property
    def positive_name(self) -> str:
        return self.class_names[self.positive] if self.task == "classification" else self.target_name

    @property
    def output_name(self) -> str:
        """What :meth:`predict_output` gives, in words."""
        if self.task == "classification":
            return f"probability of {self.target_name} = {self.positive_name}"
        return f"predicted {self.target_name}"

    def predict_output(self, X: np.ndarray) -> np.ndarray:
        """The explained output per row: the probability of the positive class, or the predicted value."""
        X = check_features(X, len(self.feature_names))
        if self.task == "classification":
            return np.asarray(self.estimator.predict_proba(X), dtype=float)[:, self.positive]
        return np.asarray(self.estimator.predict(X), dtype=float).reshape(-1)


def check_features(X: Any, n_features: int | None = None) -> np.ndarray:
    """``X`` as a finite float matrix (a copy), or a plain :class:`InputError`."""
    try:
        X = np.array(X, dtype=float)
    except (TypeError, ValueError):
        raise InputError("The table's feature columns must be numbers; convert text columns first.") from None
    if X.ndim == 1 and n_features is not None and X.size == n_features:
        X = X.reshape(1, -1)
    if X.ndim != 2:
        raise InputError(f"The features must be a table of rows and columns; got an array of {X.ndim} dimensions.")
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(f"The model was fitted on {n_features} columns; these rows have {X.shape[1]}.")
    if not np.isfinite(X).all():
        rows = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise InputError(f"The features have missing or infinite values (rows {', '.join(map(str, rows[:5]))}"
                         f"{' ...' if len(rows) > 5 else ''}); fill or drop them first.")
    return X


def guess_task(y: np.ndarray) -> str:
    """``"classification"`` for text or at most 10 distinct whole-number values, else ``"regression"``."""
    if y.dtype.kind not in "biuf":
        return "classification"
    values = np.unique(y)
    return "classification" if len(values) <= 10 and np.all(values == np.round(values)) else "regression"


def _check_target(y: Any, n_rows: int, task: str | None) -> tuple[np.ndarray, str]:
    y = np.array(y).reshape(-1)
    if len(y) != n_rows:
        raise InputError(f"The target has {len(y)} values but the table has {n_rows} rows.")
    if y.dtype.kind in "biuf":
        y = y.astype(float)
        if not np.isfinite(y).all():
            raise InputError("The target column has missing or infinite values; drop those rows first.")
    elif y.dtype.kind in "UO":
        y = y.astype(str)
    else:
        raise InputError("The target column must hold numbers or class names.")
    if len(np.unique(y)) < 2:
        raise InputError("The target column has one value only; there is nothing to predict.")
    task = task or guess_task(y)
    if task not in TASKS:
        raise InputError(f"The task must be classification or regression; got '{task}'.")
    if task == "regression" and y.dtype.kind != "f":
        raise InputError("A regression needs a numeric target; this one holds text.")
    return y, task


def _split(y: np.ndarray, task: str, held_out: float, seed: int,
           class_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < held_out < 1.0:
        raise InputError(f"The held-out share must be between 0 and 1; got {held_out}.")
    rows = np.arange(len(y))
    n_test = int(np.ceil(held_out * len(y)))
    if n_test < 2 or len(y) - n_test < 5:
        raise InputError(f"A held-out share of {held_out} leaves too few rows to fit on or to measure with; "
                         "change the share or use a larger table.")
    stratify = None
    if task == "classification":
        values, counts = np.unique(y, return_counts=True)
        if counts.min() < 2:
            raise InputError(f"The class '{class_names[values[counts.argmin()]]}' has only one row; each class "
                             "needs at least two rows for a held-out measure.")
        if n_test < len(values) or len(y) - n_test < len(values):
            raise InputError("The table has too few rows for every class to appear in both the fitting and "
                             "the held-out rows; use a larger table or a larger held-out share.")
        stratify = y
    train, test = train_test_split(rows, test_size=n_test, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(test)


def _class_text(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def class_names_of(y: Any) -> list[str]:
    """The classes of a target column as the fitted models name them (``1.0`` reads ``"1"``), sorted."""
    return [_class_text(v) for v in np.unique(np.asarray(y))]


def fit_table_model(name: str, X: Any, y: Any, feature_names: Sequence[str], *, task: str | None = None,
                    params: dict | None = None, held_out: float = 0.25, seed: int = 0,
                    positive: Any = None, target_name: str = "target", token: CancelToken | None = None,
                    progress=no_progress) -> FittedModel:
    """Fit the readable model ``name`` on a split of the rows and measure it on the held-out rows.

    Parameters
    ----------
    name
        A registered model (:func:`list_table_models`).
    X, y
        Feature matrix (rows x columns, finite numbers) and target column; neither is modified.
    feature_names
        One name per column.
    task
        ``"classification"`` or ``"regression"``; guessed when ``None`` (at most 10 distinct
        whole-number values, or text, is a classification).
    params
        Model settings (see the model's ``params``).
    held_out, seed
        Share of rows kept apart for the metrics (stratified by class) and the seed of the split.
    positive
        The class whose probability is explained (a class value or its name); by default the
        last class for two classes, else the most frequent.
    target_name
        The target column's name, used in rule text and titles.
    """
    info = get_table_model(name)
    X = check_features(X)
    if len(X) < MIN_ROWS:
        raise InputError(f"A model needs at least {MIN_ROWS} rows to fit and measure; the table has {len(X)}.")
    feature_names = [str(f) for f in feature_names]
    if len(feature_names) != X.shape[1]:
        raise InputError(f"There are {len(feature_names)} feature names for {X.shape[1]} columns.")
    y, task = _check_target(y, len(X), task)
    if task not in info.tasks:
        raise MethodError(f"{info.title} does not do {task}; choose a model that does "
                          f"({', '.join(m.name for m in list_table_models(task))}).")
    settings = info.resolve_params(params)
    class_names: list[str] = []
    if task == "classification":
        class_values, y = np.unique(y, return_inverse=True)
        class_names = [_class_text(v) for v in class_values]
    train, test = _split(y, task, held_out, seed, class_names)
    positive_index = 0
    if task == "regression" and positive is not None:
        raise InputError("A positive class applies to classification only; this target is a regression.")
    if task == "classification":
        positive_index = _positive_index(list(class_values), class_names, y[train], positive)
    if token is not None:
        token.check()
    progress(0.0, f"Fitting {info.title} on {len(train)} rows")
    estimator = info.build(task, settings, seed)
    stoppable = token is not None and "callback" in estimator.get_params()  # EBMs stop boosting when asked
    if stoppable:
        estimator.set_params(callback=lambda *_: token.cancelled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # interpret's own dashboard cannot draw multiclass pairs; ours reads them from the model.
        warnings.filterwarnings("ignore", message="For multiclass we cannot currently visualize pairs")
        model = FittedModel(name, info.title, task, estimator, feature_names, class_names, positive_index, {},
                            X, y, train, test, str(target_name), settings)
        try:
            estimator.fit(X[train], y[train])
            if token is not None:
                token.check()
            model.metrics = held_out_metrics(model)
        except ValueError as error:  # settings the data cannot support, e.g. more neighbours than rows
            raise MethodError(f"{info.title} could not be fitted on {len(train)} rows with these settings: "
                              f"{error} Change the model's settings or use more rows.") from None
    if stoppable:
        estimator.set_params(callback=None)
    progress(1.0, f"Fitted {info.title}")
    return model


def _positive_index(classes: list, names: list[str], y_train: np.ndarray, positive: Any) -> int:
    if positive is not None:
        for i, (value, text) in enumerate(zip(classes, names)):
            if str(positive) == text or positive == value:
                return i
        raise InputError(f"There is no class '{positive}'; the classes are {', '.join(names)}.")
    if len(classes) == 2:
        return 1
    return int(np.argmax(np.bincount(y_train, minlength=len(classes))))


def held_out_metrics(model: FittedModel) -> dict[str, float]:
    """Accuracy, balanced accuracy, ROC AUC and log loss; or MAE, RMSE and R², on the held-out rows."""
    X, y = model.X[model.held_out_rows], model.y[model.held_out_rows]
    if model.task == "regression":
        predicted = model.predict_output(X)
        return {"mae": float(skm.mean_absolute_error(y, predicted)),
                "rmse": float(np.sqrt(skm.mean_squared_error(y, predicted))),
                "r2": float(skm.r2_score(y, predicted))}
    classes = model.estimator.classes_
    proba = np.asarray(model.estimator.predict_proba(X), dtype=float)
    predicted = classes[np.argmax(proba, axis=1)]
    values = {"accuracy": float(skm.accuracy_score(y, predicted)),
              "balanced_accuracy": float(skm.balanced_accuracy_score(y, predicted)),
              "log_loss": float(skm.log_loss(y, np.clip(proba, 1e-15, 1.0), labels=classes))}
    if len(classes) == 2:
        values["roc_auc"] = float(skm.roc_auc_score(y == classes[1], proba[:, 1]))
    elif set(np.unique(y)) == set(classes):
        values["roc_auc"] = float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    return values


# ---- the readable models ------------------------------------------------------------------------------------

def _scaled(estimator: Any) -> Pipeline:
    return make_pipeline(StandardScaler(), estimator)


@register_table_model("linear", title="Linear regression", tasks=("regression",),
                      help="A weight per column: the prediction moves by the weight for each unit of the column.")
def _linear(task: str, p: dict, seed: int):
    from sklearn.linear_model import LinearRegression
    return _scaled(LinearRegression())


@register_table_model("logistic", title="Logistic regression", tasks=("classification",),
                      help="A weight per column on the log-odds of the class.",
                      params=(Param("C", "float", 1.0, "Inverse strength of the penalty on large weights.",
                                    minimum=1e-6, maximum=1e6),))
def _logistic(task: str, p: dict, seed: int):
    from sklearn.linear_model import LogisticRegression
    return _scaled(LogisticRegression(C=p["C"], max_iter=2000))


@register_table_model("lasso", title="Lasso", tasks=TASKS,
                      help="A linear model that sets the weights of unhelpful columns to zero; the penalty λ "
                           "is chosen by cross-validation.",
                      params=(Param("folds", "int", 5, "Cross-validation folds used to choose λ.",
                                    minimum=2, maximum=20),))
def _lasso(task: str, p: dict, seed: int):
    from sklearn.linear_model import LassoCV, LogisticRegressionCV
    from sklearn.model_selection import KFold, StratifiedKFold
    if task == "regression":
        return _scaled(LassoCV(cv=KFold(p["folds"], shuffle=True, random_state=seed), random_state=seed))
    return _scaled(LogisticRegressionCV(
        Cs=10, l1_ratios=(1.0,), solver="saga", scoring="neg_log_loss", max_iter=2000, random_state=seed,
        cv=StratifiedKFold(p["folds"], shuffle=True, random_state=seed), use_legacy_attributes=False))


@register_table_model("tree", title="Decision tree", tasks=TASKS,
                      help="If-then rules, read from the root to a leaf.",
                      params=(Param("max_depth", "int", 4, "How many questions a rule may ask at most.",
                                    minimum=1, maximum=20),
                              Param("min_samples_leaf", "int", 5, "Fewest rows a leaf may hold.",
                                    minimum=1, maximum=10_000)))
def _tree(task: str, p: dict, seed: int):
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    cls = DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor
    return cls(max_depth=p["max_depth"], min_samples_leaf=p["min_samples_leaf"], random_state=seed)


@register_table_model("ebm", title="Explainable boosting machine", tasks=TASKS,
                      help="A sum of one curve per column and a few pairwise interaction surfaces.",
                      params=(Param("interactions", "int", 5, "Pairwise interaction terms to learn.",
                                    minimum=0, maximum=100),
                              Param("max_rounds", "int", 5000, "Most boosting rounds.", minimum=10,
                                    maximum=100_000),
                              Param("max_bins", "int", 256, "Most bins per column.", minimum=4, maximum=1024),
                              Param("outer_bags", "int", 8, "Bagged fits averaged together.", minimum=1,
                                    maximum=50)))
def _ebm(task: str, p: dict, seed: int):
    from interpret.glassbox import ExplainableBoostingClassifier, ExplainableBoostingRegressor
    cls = ExplainableBoostingClassifier if task == "classification" else ExplainableBoostingRegressor
    # The features arrive as floats, which interpret bins as continuous: shape functions keep the column's units.
    return cls(interactions=p["interactions"], max_rounds=p["max_rounds"], max_bins=p["max_bins"],
               outer_bags=p["outer_bags"], random_state=seed, n_jobs=1)


@register_table_model("naive_bayes", title="Naive Bayes", tasks=("classification",),
                      help="Each column votes for a class on its own, by how likely its value is in that class.",
                      params=(Param("var_smoothing", "float", 1e-9, "Share of the largest variance added to "
                                    "every variance, for stability.", minimum=0.0, maximum=1.0),))
def _naive_bayes(task: str, p: dict, seed: int):
    from sklearn.naive_bayes import GaussianNB
    return GaussianNB(var_smoothing=p["var_smoothing"])


@register_table_model("knn", title="k-nearest neighbours", tasks=TASKS,
                      help="A row is predicted from the most similar training rows (standardised columns).",
                      params=(Param("k", "int", 5, "Neighbours consulted.", minimum=1, maximum=500),
                              Param("weights", "choice", "uniform", "How neighbours are weighed.",
                                    choices=("uniform", "distance"),
                                    choice_titles={"uniform": "Equally", "distance": "Closer counts more"})))
def _knn(task: str, p: dict, seed: int):
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    cls = KNeighborsClassifier if task == "classification" else KNeighborsRegressor
    return _scaled(cls(n_neighbors=p["k"], weights=p["weights"]))


@register_table_model("mlp", title="Small neural network (MLP)", tasks=TASKS,
                      help="A small multi-layer perceptron: accurate, not readable by itself.",
                      params=(Param("hidden", "int", 32, "Units in each hidden layer.", minimum=1, maximum=1024),
                              Param("layers", "int", 1, "Hidden layers.", minimum=1, maximum=5),
                              Param("alpha", "float", 1e-4, "Weight penalty.", minimum=0.0, maximum=10.0),
                              Param("max_iter", "int", 500, "Most training epochs.", minimum=10, maximum=10_000)))
def _mlp(task: str, p: dict, seed: int):
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    cls = MLPClassifier if task == "classification" else MLPRegressor
    return _scaled(cls(hidden_layer_sizes=(p["hidden"],) * p["layers"], alpha=p["alpha"], max_iter=p["max_iter"],
                       random_state=seed))
