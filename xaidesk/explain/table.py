"""The table pipeline: a table in, a :class:`TableResult` out.

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
dicts), ``gamma``, optionally ``notices`` (sentences for the person, added to the result's) and method-specific entries. Every table method first applies
the preprocessing of :mod:`xaidesk.data.transforms` (``theta``, ``standardize``);
relevance refers to the preprocessed features.

Methods (modality ``"table"``), registered next to their algorithms
-------------------------------------------------------------------
``neon.knn``      soft-min nearest-neighbour outlier score + NEON relevance (:mod:`xaidesk.explain.neon`).
``neon.kde``      kernel-density outlier score + NEON relevance with ε (:mod:`xaidesk.explain.neon`).
``neon.kmeans``   k-means + neuralised cluster explanation (score = cluster evidence;
                  :mod:`xaidesk.explain.neon`, clustering in :mod:`xaidesk.explain.kmeans`).
``supervised.linear``   linear / ridge / logistic regression, contributions w_i x_i (:mod:`xaidesk.explain.supervised`).
``supervised.mlp_lrp``  small torch MLP, LRP-ε relevance of each row's prediction.
``supervised.mlp_lime`` the same MLP, LIME for tables on selected rows.

The parameters and helpers those methods share are here: :data:`THETA`, :data:`STANDARDIZE`,
:func:`preprocess_table` and :func:`table_extras` (stages report through :func:`xaidesk.core.sub_progress`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..core import CancelToken, InputError, MethodError, Param, get_method, no_progress
from ..data.tables import FeatureMatrix, LoadedTable, feature_matrix_from_array, prepare_features
from ..data.transforms import parse_theta, preprocess

if TYPE_CHECKING:
    from .neon_outliers import RowExplanation

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
        if not finite.any():
            return np.full(len(self.feature_names), np.nan)
        return np.abs(self.relevance[finite].astype(np.float64)).mean(axis=0)

    def column_means(self) -> np.ndarray:
        """Raw column averages, shown beside a row's values."""
        return self.raw.mean(axis=0)

    def position_of(self, row_id: int) -> int:
        hits = np.flatnonzero(self.row_ids == row_id)
        if not hits.size:
            raise InputError(f"Row {row_id} is not part of this analysis (it was left out or does not exist).")
        return int(hits[0])

    def explain_row(self, row_id: int, top: int = 10) -> RowExplanation:
        """NEON explanation of one row by file row id, with its nearest neighbours (outlier methods only)."""
        if self.method not in ("neon.knn", "neon.kde"):
            raise MethodError("Per-row neighbour explanations exist for the outlier methods only.")
        from .neon_outliers import explain_row

        explanation = explain_row(
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
        light = {k: v for k, v in self.extras.items() if _json_like(v) and k not in ("history",)}
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


def _json_like(value) -> bool:
    """Whether ``value`` is plain data for ``summary.json`` (not an array, a fitted model or a result object)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return True
    if isinstance(value, (list, tuple)):
        return all(_json_like(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_like(v) for k, v in value.items())
    return False


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
        notices=list(fm.notices) + list(extras.pop("notices", [])),
        seconds=time.perf_counter() - start,
    )
    _check_finite(result, info.title)
    return result


def _check_finite(result: TableResult, title: str) -> None:
    """Refuse infinite or NaN values where a row was explained; say which rows were left unexplained.

    A row is explained when all its relevance is finite; its score must then be finite too. A row
    left unexplained (LIME's unchosen rows, a readable model's rows outside its Shapley sample) has
    no relevance, and either no score or the model's output.
    """
    relevance_finite = np.isfinite(result.relevance)
    explained = relevance_finite.all(axis=1)
    partly = relevance_finite.any(axis=1) & ~explained
    broken = (np.isinf(result.scores) | np.isinf(result.relevance).any(axis=1) | partly
              | (explained & ~np.isfinite(result.scores)))
    if broken.any() or not explained.any():
        rows = ", ".join(str(int(r)) for r in result.row_ids[broken][:5]) or "all"
        raise MethodError(
            f"{title} gave invalid values (NaN or infinity) for rows {rows}. Try the log transform "
            "(theta=auto) or standardize=true, or leave out columns with extreme values."
        )
    if not explained.all():
        scored = np.isfinite(result.scores[~explained]).all()
        result.notices.append(
            f"{int(explained.sum())} of {len(explained)} rows were explained (rows "
            f"{', '.join(str(int(r)) for r in result.row_ids[explained][:20])}"
            f"{', …' if explained.sum() > 20 else ''}); the others have "
            f"{'a score but no relevance' if scored else 'no score or relevance'}."
        )


def _unpack(x) -> tuple[np.ndarray, list[str]]:
    if isinstance(x, FeatureMatrix):
        return x.values, list(x.names)
    values = np.asarray(x, dtype=np.float64)
    if values.ndim != 2:
        raise InputError(f"A table must be two-dimensional (rows x columns); got shape {values.shape}.")
    return values, [f"feature {i + 1}" for i in range(values.shape[1])]


def preprocess_table(x, params: dict):
    """``(raw values, column names, preprocessed)``: the ``theta`` and ``standardize`` transforms applied,
    refusing missing, infinite and too large values."""
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


def table_extras(pre, scores, absorbed, label: str, **more) -> dict:
    """The ``extras`` every table method returns (see the module notes), plus the method's own ``more``."""
    return {
        "scores": scores, "absorbed": absorbed, "score_label": label, "transformed": pre.values,
        "theta": pre.theta, "jb_table": pre.jb_rows(), **more,
    }
