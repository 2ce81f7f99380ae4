"""The table pipeline and the registered table methods.

Whole-table analyses do not fit the image signature (one input, one class),
so tables have their own entry point, used alike by the GUI, the CLI and tests:

    explain_table(data, method, params=None, *, columns=None, target=None,
                  token=None, progress=None) -> TableResult

``data`` is a :class:`~xaidesk.data.tables.LoadedTable` (its roles and default
choices are applied by :func:`~xaidesk.data.tables.prepare_features`), a
:class:`~xaidesk.data.tables.FeatureMatrix` (choices already applied), or a
plain (N, F) array. The pipeline resolves ``params`` with the registry schema,
calls the registered function and wraps its :class:`~xaidesk.core.Explanation`
into a :class:`TableResult`.

The registered functions keep the registry contract

    function(model=None, x=FeatureMatrix | (N, F) array, target=None | (N,) values,
             *, params, token, progress) -> Explanation

with ``relevance`` the (N, F) feature relevance of each row's score, and
``extras`` holding ``scores`` (N,), ``absorbed`` (N,), ``transformed`` (the
preprocessed matrix), ``theta`` ({column: θ or None}), ``jb_table`` (list of
dicts), ``gamma`` and method-specific entries. Every table method first applies
the preprocessing of :mod:`xaidesk.data.transforms` (``theta``, ``standardize``);
relevance refers to the preprocessed features.

Methods (modality ``"table"``)
------------------------------
``neon.knn``      soft-min nearest-neighbour outlier score + NEON relevance.
``neon.kde``      kernel-density outlier score + NEON relevance with ε.
``neon.kmeans``   k-means + neuralised cluster explanation (score = cluster evidence).
``supervised.linear``   linear / ridge / logistic regression, contributions w_i x_i.
``supervised.mlp_lrp``  small torch MLP, LRP-ε relevance of each row's prediction.
``supervised.mlp_lime`` the same MLP, LIME for tables on selected rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..core import CancelToken, Explanation, InputError, MethodError, Param, Target, get_method, no_progress, register_method
from ..data.tables import FeatureMatrix, LoadedTable, feature_matrix_from_array, prepare_features
from ..data.transforms import parse_theta, preprocess
from . import kmeans as _kmeans
from . import neon as _neon
from . import supervised as _supervised

MODALITY = ("table",)
#: How to pick feature columns when a file is analysed directly (the command line).
CHOOSE_COLUMNS = "Name the numeric columns to analyse with --columns A,B,... (there must be at least one)."
#: Beyond this magnitude squared distances overflow; such columns must be rescaled or log-transformed.
LARGEST_VALUE = 1e150

THETA = Param(
    "theta", "str", "auto",
    "Log transform log(x + θ) per column: a number, 'auto' (the θ that makes each column most normal, "
    "by the Jarque-Bera test) or 'none' for no log transform.",
    label="log offset θ", choice_titles={"auto": "Automatic", "none": "No log transform"},
)
STANDARDIZE = Param("standardize", "bool", False,
                    "Rescale every column to mean 0 and standard deviation 1 (after the log transform).",
                    label="standardise columns")
GAMMA = Param(
    "gamma", "str", "auto",
    "Stiffness γ of the soft minimum: larger values look only at the nearest rows. "
    "A positive number, or 'auto' to choose it by bootstrap.",
    label="stiffness γ", choice_titles={"auto": "Automatic"},
)


# --- result -----------------------------------------------------------------------------------


@dataclass
class TableResult:
    """What a table analysis returns (plain arrays and strings; safe to pass between threads).

    Attributes
    ----------
    method
        Registry name.
    scores
        (N,) the explained value per row: outlier score (``neon.knn``/``neon.kde``),
        cluster evidence f_c (``neon.kmeans``), or the model output explained
        (``supervised.*``; ``nan`` for rows LIME did not explain).
    score_label
        What ``scores`` is, in words.
    relevance
        (N, F) feature relevance per row (``relevance.sum(1) + absorbed == scores``
        where the method conserves; see ``extras``).
    absorbed
        (N,) relevance not assigned to features (ε, biases, intercept).
    feature_names, row_ids
        F names; N 0-based row numbers in the file.
    raw, transformed
        (N, F) features as read and as analysed.
    theta, jb_table, standardized
        The preprocessing: θ per column, the Jarque-Bera table, standardisation on/off.
    gamma
        γ used (NEON outlier methods), else ``None``.
    params
        Resolved parameters (strings as given, e.g. ``gamma='auto'``).
    extras
        Method-specific: ``gamma_selection`` (dict for the curve), ``labels``,
        ``centroids``, ``cluster_relevance``, ``k_choice``, ``intercept``,
        ``metrics``, ``history``, ``lime_rows``, ...
    metadata
        Metadata columns of the kept rows (for box plots by Channel, Region, ...).
    notices
        Plain sentences about choices applied while preparing the table.
    """

    method: str
    scores: np.ndarray
    score_label: str
    relevance: np.ndarray
    absorbed: np.ndarray
    feature_names: list[str]
    row_ids: np.ndarray
    raw: np.ndarray
    transformed: np.ndarray
    theta: dict
    jb_table: list[dict]
    standardized: bool
    gamma: float | None
    params: dict
    extras: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def ranking(self) -> np.ndarray:
        """Positions (0..N-1) sorted by descending score (nan last)."""
        s = np.where(np.isfinite(self.scores), self.scores, -np.inf)
        return np.argsort(-s, kind="stable")

    def top_rows(self, k: int = 10) -> list[dict]:
        """The ``k`` highest-scoring rows: file row id, score and the most relevant feature."""
        out = []
        for pos in self.ranking()[:k]:
            if not np.isfinite(self.scores[pos]):
                break
            rel = self.relevance[pos]
            out.append({"row": int(self.row_ids[pos]), "score": float(self.scores[pos]),
                        "top_feature": self.feature_names[int(np.nanargmax(rel))] if np.isfinite(rel).any() else None})
        return out

    def normalised_relevance(self) -> np.ndarray:
        """Relevance divided by each row's sum of |relevance| (rows comparable in the heat map)."""
        total = np.abs(self.relevance).sum(axis=1, keepdims=True)
        return self.relevance / np.where(total > 0, total, 1.0)

    def global_importance(self) -> np.ndarray:
        """Mean |relevance| per feature over the explained rows."""
        finite = np.all(np.isfinite(self.relevance), axis=1)
        return _supervised.global_importance(self.relevance[finite]) if finite.any() else np.full(len(self.feature_names), np.nan)

    def column_means(self) -> np.ndarray:
        """Raw column averages, shown beside a row's values."""
        return self.raw.mean(axis=0)

    def position_of(self, row_id: int) -> int:
        hits = np.flatnonzero(self.row_ids == row_id)
        if not hits.size:
            raise InputError(f"Row {row_id} is not part of this analysis (it was left out or does not exist).")
        return int(hits[0])

    def explain_row(self, row_id: int, top: int = 10) -> "_neon.RowExplanation":
        """NEON explanation of one row by file row id, with its nearest neighbours (outlier methods only)."""
        if self.method not in ("neon.knn", "neon.kde"):
            raise MethodError("Per-row neighbour explanations exist for the outlier methods only.")
        explanation = _neon.explain_row(
            self.transformed, self.position_of(row_id), self.gamma,
            leave_one_out=bool(self.params.get("leave_one_out", True)),
            epsilon=float(self.params.get("epsilon", 0.0)), top=top,
        )
        explanation.neighbours = self.row_ids[explanation.neighbours]
        return explanation

    def scores_by(self, column: str) -> dict:
        """``{group value: scores}`` by a metadata column (for the box plots)."""
        if column not in self.metadata:
            raise InputError(f"'{column}' is not a metadata column; metadata columns: {', '.join(self.metadata) or 'none'}.")
        values = self.metadata[column]
        return {str(v): self.scores[values == v] for v in sorted(set(values.tolist()), key=str)}

    def summary(self, top: int = 10) -> dict:
        """JSON-serialisable summary (used for ``summary.json``)."""
        light = {k: v for k, v in self.extras.items() if not isinstance(v, np.ndarray) and k not in ("history",)}
        return {
            "method": self.method,
            "score": self.score_label,
            "rows": int(len(self.row_ids)),
            "features": list(self.feature_names),
            "theta": self.theta,
            "standardize": self.standardized,
            "gamma": self.gamma,
            "params": self.params,
            "seconds": round(float(self.seconds), 4),
            "top_rows": self.top_rows(top),
            "global_importance": dict(zip(self.feature_names, map(float, self.global_importance()))),
            "max_absorbed": float(np.nanmax(np.abs(self.absorbed))) if self.absorbed.size else 0.0,
            "jb_table": self.jb_table,
            "notices": list(self.notices),
            "extras": light,
        }


# --- the pipeline -----------------------------------------------------------------------------


def as_feature_matrix(data, columns: list[str] | None = None, target: str | None = None) -> FeatureMatrix:
    """LoadedTable / FeatureMatrix / array -> FeatureMatrix (applying roles, default choices, ``columns``, ``target``)."""
    if isinstance(data, LoadedTable):
        roles = {}
        if target is not None:
            if target not in data.columns:
                raise InputError(f"The table has no column '{target}'; its columns are: {', '.join(data.columns)}.")
            roles = {c: ("ignore" if r == "target" else r) for c, r in data.roles.items()}
            roles[target] = "target"
        if columns is not None and target in columns:
            raise InputError(f"'{target}' cannot be both a feature and the target.")
        return prepare_features(data, roles=roles or None, columns=columns, how_to_choose=CHOOSE_COLUMNS)
    if isinstance(data, FeatureMatrix):
        if columns is not None:
            missing = [c for c in columns if c not in data.names]
            if missing:
                raise InputError(f"There is no feature column {', '.join(missing)}.")
            idx = [data.names.index(c) for c in columns]
            return FeatureMatrix(values=data.values[:, idx], names=list(columns), row_ids=data.row_ids,
                                 target=data.target, target_name=data.target_name, metadata=data.metadata,
                                 notices=data.notices, choices=data.choices)
        return data
    return feature_matrix_from_array(np.asarray(data, dtype=np.float64))


def explain_table(
    data,
    method: str,
    params: dict | None = None,
    *,
    columns: list[str] | None = None,
    target: str | np.ndarray | None = None,
    token: CancelToken | None = None,
    progress=None,
) -> TableResult:
    """Run a registered table method on a table; see the module doc.

    ``target`` is a column name (with a :class:`LoadedTable`) or an array of
    N values; supervised methods need one, unsupervised ones ignore it.
    """
    info = get_method(method)
    if "table" not in info.modality:
        raise MethodError(f"'{method}' is not a method for tables; run 'python -m xaidesk methods --modality table'.")
    resolved = info.resolve_params(params)
    fm = as_feature_matrix(data, columns, target if isinstance(target, str) else None)
    y = fm.target if target is None or isinstance(target, str) else np.asarray(target)
    if y is not None and len(y) != fm.n_rows:
        raise InputError(f"The target has {len(y)} values but the table has {fm.n_rows} rows.")
    if y is not None and np.asarray(y).dtype.kind in "fiu":
        biggest = float(np.nanmax(np.abs(np.asarray(y, dtype=np.float64)), initial=0.0))
        if not biggest < LARGEST_VALUE:
            raise InputError(f"The target's values are too large to compute with (up to {biggest:.3g}). "
                             "Rescale the target column in the file (e.g. to thousands).")
    start = time.perf_counter()
    explanation = info.function(None, fm, y, params=resolved, token=token or CancelToken(),
                                progress=progress or no_progress)
    extras = dict(explanation.extras)
    result = TableResult(
        method=method,
        scores=np.asarray(extras.pop("scores"), dtype=np.float64),
        score_label=str(extras.pop("score_label", "score")),
        relevance=np.asarray(explanation.relevance, dtype=np.float64),
        absorbed=np.asarray(extras.pop("absorbed"), dtype=np.float64),
        feature_names=list(fm.names),
        row_ids=np.asarray(fm.row_ids),
        raw=fm.values,
        transformed=np.asarray(extras.pop("transformed"), dtype=np.float64),
        theta=extras.pop("theta"),
        jb_table=extras.pop("jb_table"),
        standardized=bool(resolved.get("standardize", False)),
        gamma=extras.pop("gamma", None),
        params=resolved,
        extras=extras,
        metadata=dict(fm.metadata),
        notices=list(fm.notices),
        seconds=time.perf_counter() - start,
    )
    _check_finite(result, info.title)
    return result


def _check_finite(result: TableResult, title: str) -> None:
    """Refuse a result with infinite or NaN scores or relevance; say which rows were left unexplained (LIME)."""
    explained = np.isfinite(result.scores)
    broken = np.isinf(result.scores) | (explained & ~np.all(np.isfinite(result.relevance), axis=1))
    if broken.any() or not explained.any():
        rows = ", ".join(str(int(r)) for r in result.row_ids[broken][:5]) or "all"
        raise MethodError(
            f"{title} gave invalid values (NaN or infinity) for rows {rows}. Try the log transform "
            "(theta=auto) or standardize=true, or leave out columns with extreme values."
        )
    if not explained.all():
        result.notices.append(
            f"{int(explained.sum())} of {len(explained)} rows were explained (rows "
            f"{', '.join(str(int(r)) for r in result.row_ids[explained][:20])}); the others have no score or relevance."
        )


def _unpack(x) -> tuple[np.ndarray, list[str]]:
    if isinstance(x, FeatureMatrix):
        return x.values, list(x.names)
    values = np.asarray(x, dtype=np.float64)
    if values.ndim != 2:
        raise InputError(f"A table must be two-dimensional (rows x columns); got shape {values.shape}.")
    return values, [f"feature {i + 1}" for i in range(values.shape[1])]


def _preprocess(x, params: dict):
    values, names = _unpack(x)
    if not np.all(np.isfinite(values)):
        raise InputError("The table contains missing or infinite values; choose how to handle them first.")
    with np.errstate(over="ignore", invalid="ignore"):
        pre = preprocess(values, names, theta=parse_theta(params.get("theta", "none")),
                         standardize=bool(params.get("standardize", False)))
    too_large = ~np.all(np.isfinite(pre.values) & (np.abs(pre.values) < LARGEST_VALUE), axis=0)
    if too_large.any():
        bad = ", ".join(f"'{n}'" for n, big in zip(names, too_large) if big)
        raise InputError(
            f"The values of {bad} are too large to compute with (up to {np.abs(values).max():.3g}). Rescale the "
            "column in the file (e.g. to thousands) or use the log transform (theta=auto)."
        )
    return values, names, pre


def _parse_gamma(value) -> float | str:
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    try:
        gamma = float(text)
    except ValueError:
        raise MethodError(f"γ (gamma) must be a positive number or 'auto'; got '{value}'.") from None
    if not (gamma > 0 and np.isfinite(gamma)):
        raise MethodError(f"γ (gamma) must be a positive number; got '{value}'.")
    return gamma


def _sub(progress, lo: float, hi: float):
    def report(fraction: float, message: str = "", partial=None) -> None:
        progress(lo + (hi - lo) * fraction, message, partial)
    return report


def _common_extras(pre, scores, absorbed, label: str, **more) -> dict:
    return {
        "scores": scores, "absorbed": absorbed, "score_label": label, "transformed": pre.values,
        "theta": pre.theta, "jb_table": pre.jb_rows(), **more,
    }


# --- NEON outlier methods -----------------------------------------------------------------------


def _outliers(x, params, token, progress, *, epsilon: float, leave_one_out: bool, name: str) -> Explanation:
    start = time.perf_counter()
    _, names, pre = _preprocess(x, params)
    gamma = _parse_gamma(params["gamma"])
    extras = {}
    lo = 0.0
    if gamma == "auto":
        selection = _neon.select_gamma(pre.values, token=token, progress=_sub(progress, 0.0, 0.3))
        gamma = selection.chosen
        extras["gamma_selection"] = selection.to_dict()
        lo = 0.3
    result = _neon.outlier_scores(pre.values, gamma, explain=True, leave_one_out=leave_one_out, epsilon=epsilon,
                                  token=token, progress=_sub(progress, lo, 1.0))
    label = "outlier score (soft-min distance)" if name == "neon.knn" else "outlier score (-log density / γ)"
    return Explanation(
        relevance=result.relevance, method=name, target=Target(0, "outlier score"),
        score=float(result.scores.max()), params=dict(params), seconds=time.perf_counter() - start,
        extras=_common_extras(pre, result.scores, result.absorbed, label, gamma=float(gamma), **extras),
    )


@register_method(
    "neon.knn", modality=MODALITY, title="Outliers: soft-min nearest neighbours (NEON)",
    params=[GAMMA, THETA, STANDARDIZE],
)
def explain_knn(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Score every row by its soft-min squared distance to the other rows and explain the score per feature (NEON)."""
    return _outliers(x, params, token, progress, epsilon=0.0, leave_one_out=True, name="neon.knn")


@register_method(
    "neon.kde", modality=MODALITY, title="Outliers: kernel density (NEON)",
    params=[
        GAMMA, THETA, STANDARDIZE,
        Param("epsilon", "float", 0.01, "Stabiliser ε of the relevance rule; the relevance it absorbs is reported.",
              minimum=0.0, maximum=1e6, label="stabiliser (ε)"),
        Param("leave_one_out", "bool", True, "Estimate each row's density from the other rows (recommended).",
              label="leave the row out"),
    ],
)
def explain_kde(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Score every row by minus the log of a Gaussian kernel density at it and explain the score per feature (NEON)."""
    return _outliers(x, params, token, progress, epsilon=float(params["epsilon"]),
                     leave_one_out=bool(params["leave_one_out"]), name="neon.kde")


@register_method(
    "neon.kmeans", modality=MODALITY, title="Clusters: k-means, neuralised (NEON)",
    params=[
        Param("clusters", "int", 0, "Number of clusters; Automatic (0) chooses it by the silhouette (k = 2 to 10).",
              minimum=0, maximum=50, minimum_text="Automatic", label="number of clusters"),
        Param("beta", "float", 1.0, "Stiffness β of the soft minimum over the competing clusters: larger values "
              "compare each row only with its nearest competing cluster.", minimum=1e-6, maximum=1e6,
              label="focus on the nearest rival cluster (β)"),
        Param("rule", "choice", "midpoint",
              "How relevance reaches the features: 'midpoint' (conserved exactly) or 'epsilon' (LRP-ε, biases absorb some).",
              choices=("midpoint", "epsilon"), label="relevance rule",
              choice_titles={"midpoint": "Midpoint (adds up exactly)", "epsilon": "LRP-ε (biases absorb some)"}),
        THETA, STANDARDIZE,
        Param("seed", "int", 0, "Start value of k-means' random choices; the same seed gives the same clusters.",
              minimum=0, maximum=2**31 - 1, label="random seed (same seed, same result)"),
    ],
)
def explain_kmeans(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Cluster the rows with k-means and explain each row's cluster membership per feature (neuralised k-means)."""
    start = time.perf_counter()
    _, names, pre = _preprocess(x, params)
    extras = {}
    k = int(params["clusters"])
    seed = int(params["seed"])
    lo = 0.0
    if k == 0:
        choice = _kmeans.choose_k(pre.values, seed=seed, token=token, progress=_sub(progress, 0.0, 0.5))
        k = choice.suggested
        extras["k_choice"] = choice.to_dict()
        lo = 0.5
    token.check()
    fitted = _kmeans.fit_kmeans(pre.values, k, seed)
    result = _kmeans.explain_clusters(pre.values, fitted.cluster_centers_, labels=fitted.labels_,
                                      beta=float(params["beta"]), rule=params["rule"], token=token,
                                      progress=_sub(progress, lo, 1.0))
    extras.update(
        clusters=k, labels=result.labels, centroids=result.centroids, membership=result.membership,
        logit=result.logit, cluster_relevance=result.cluster_relevance.tolist(), cluster_sizes=result.sizes.tolist(),
        inertia=float(fitted.inertia_),
    )
    return Explanation(
        relevance=result.relevance, method="neon.kmeans", target=Target(0, "cluster evidence"),
        score=float(np.mean(result.evidence)), params=dict(params), seconds=time.perf_counter() - start,
        extras=_common_extras(pre, result.evidence, result.absorbed,
                              "cluster evidence (soft-min margin to the other clusters)", **extras),
    )


# --- supervised -------------------------------------------------------------------------------


def _need_target(target, n: int) -> np.ndarray:
    if target is None:
        raise MethodError("This method predicts a target: choose the target column first.")
    y = np.asarray(target)
    if len(y) != n:
        raise MethodError(f"The target has {len(y)} values for {n} rows.")
    return y


@register_method(
    "supervised.linear", modality=MODALITY, title="Target: linear model contributions",
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
    _, names, pre = _preprocess(x, params)
    y = _need_target(target, len(pre.values))
    token.check()
    fit = _supervised.fit_linear(pre.values, y, params["model"], alpha=float(params["alpha"]))
    progress(1.0, "fitted")
    absorbed = np.full(len(pre.values), fit.intercept)
    return Explanation(
        relevance=fit.contributions, method="supervised.linear", target=Target(0, fit.explained),
        score=float(np.mean(fit.prediction)), params=dict(params), seconds=time.perf_counter() - start,
        extras=_common_extras(pre, fit.prediction, absorbed, fit.explained, intercept=fit.intercept,
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


def _train(pre, y, params, token, progress) -> "_supervised.TrainedMLP":
    try:
        hidden = tuple(int(h) for h in str(params["hidden"]).replace(" ", "").split(",") if h)
    except ValueError:
        raise MethodError(f"Hidden layer sizes are whole numbers separated by commas; got '{params['hidden']}'.") from None
    if not hidden or min(hidden) < 1:
        raise MethodError("Give at least one hidden layer size of 1 or more.")
    return _supervised.train_mlp(pre.values, y, task=params["task"], hidden=hidden, epochs=int(params["epochs"]),
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
    params=_MLP_PARAMS + [Param("epsilon", "float", 1e-6, "Stabiliser ε of LRP-ε.", minimum=0.0, maximum=100.0,
                                label="stabiliser (ε)")],
)
def explain_mlp_lrp(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Train a small neural network on the target and explain every prediction per feature with LRP-ε."""
    start = time.perf_counter()
    _, names, pre = _preprocess(x, params)
    y = _need_target(target, len(pre.values))
    trained = _train(pre, y, params, token, _sub(progress, 0.0, 0.95))
    outputs, label = _mlp_outputs(trained, pre.values)
    relevance, absorbed, f = trained.explain(pre.values, outputs, float(params["epsilon"]))
    progress(1.0, "explained")
    return Explanation(
        relevance=relevance, method="supervised.mlp_lrp", target=Target(0, label), score=float(np.mean(f)),
        params=dict(params), seconds=time.perf_counter() - start,
        extras=_common_extras(pre, f, absorbed, label, metrics=trained.metrics, task=trained.task,
                              classes=[str(c) for c in trained.classes], explained_output=outputs,
                              history=trained.history),
    )


@register_method(
    "supervised.mlp_lime", modality=MODALITY, title="Target: neural network explained by LIME",
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
    _, names, pre = _preprocess(x, params)
    y = _need_target(target, len(pre.values))
    trained = _train(pre, y, params, token, _sub(progress, 0.0, 0.5))
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
        result = _supervised.lime_tabular(lambda s: trained.output(s)[:, unit], pre.values[pos], pre.values,
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
        extras=_common_extras(pre, scores, absorbed, f"LIME surrogate of the {label}", metrics=trained.metrics,
                              task=trained.task, classes=[str(c) for c in trained.classes], lime_rows=details,
                              history=trained.history),
    )
