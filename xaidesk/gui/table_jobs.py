"""Qt-free work behind the Tables tab: list the methods, preview the preprocessing, run an analysis.

These functions run in the :class:`~xaidesk.gui.runner.Runner` (they only compose the
core: :mod:`xaidesk.data.tables`, :mod:`xaidesk.data.transforms`,
:mod:`xaidesk.explain.table`) and return plain dataclasses, so that nothing Qt
crosses threads. They are kept free of Qt so they can be tested headless.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Parameters of the table methods that the preprocessing panel owns (not the method form).
PREPROCESSING_PARAMS = ("theta", "standardize")


def list_table_methods(token=None, progress=None) -> list:
    """The registered table methods in the registry's order (run in the worker: it imports torch)."""
    from xaidesk.core import list_methods
    from xaidesk.tabular import load_builtin_methods

    load_builtin_methods()
    return list_methods("table")


def open_table(path, encoding: str | None = None):
    """Read the table at ``path`` (guessing separator, decimal mark and column roles)."""
    from xaidesk.data.tables import load_table

    return load_table(path, encoding=encoding)


def method_has(name: str, tag: str) -> bool:
    """Whether the registered method ``name`` carries ``tag`` (a ``TAG_*`` constant of the registry)."""
    from xaidesk.core import get_method

    return get_method(name).has(tag)


@dataclass
class PreprocessPreview:
    """What the preprocessing view shows before a run.

    Attributes
    ----------
    names
        Feature names (after roles and choices).
    theta
        ``{column: θ used or None}``.
    jb_rows
        Jarque-Bera rows (dicts with column, theta, jb, p, chosen) for every column:
        the raw column (θ = nan), each candidate θ and, for a θ set by hand, that θ.
    before, after
        Per column ``(counts, edges)`` histograms of the raw and the transformed values.
    notices
        Plain sentences about the choices applied while preparing the features.
    rows
        Rows that enter the analysis.
    """

    names: list[str]
    theta: dict
    jb_rows: list[dict]
    before: list[tuple[np.ndarray, np.ndarray]]
    after: list[tuple[np.ndarray, np.ndarray]]
    notices: list[str] = field(default_factory=list)
    rows: int = 0
    standardized: bool = False


def resolve_thetas(names: list[str], default, overrides: dict[str, str]) -> dict:
    """``{column: "auto" | number | None}`` from the default θ text and the per-column texts ('' = default)."""
    from xaidesk.data.transforms import parse_theta

    default = parse_theta(default)
    out = {}
    for name in names:
        text = str(overrides.get(name, "") or "").strip()
        out[name] = parse_theta(text) if text else default
    return out


def preview_preprocessing(table, roles: dict, choices: dict, default_theta, overrides: dict, standardize: bool,
                          bins: int = 30) -> PreprocessPreview:
    """Apply roles, choices and the log transform as a run would, and list the Jarque-Bera table."""
    from xaidesk.data.tables import prepare_features
    from xaidesk.data.transforms import choose_theta, histograms, preprocess, theta_candidates

    fm = prepare_features(table, roles=roles, choices=choices)
    thetas = resolve_thetas(fm.names, default_theta, overrides)
    pre = preprocess(fm.values, fm.names, theta=thetas, standardize=standardize)
    jb_rows: list[dict] = [r.to_dict() for r in pre.jb_table]
    auto_columns = {r["column"] for r in jb_rows}
    for j, name in enumerate(fm.names):
        if name in auto_columns:
            continue
        column = fm.values[:, j]
        candidates = theta_candidates(column)
        used = pre.theta.get(name)
        if used is not None and not any(np.isclose(used, c) for c in candidates):
            candidates = sorted(candidates + [used])
        try:
            _, rows = choose_theta(column, candidates, name)
        except Exception:  # noqa: BLE001 - a constant column has no table; the run will say why
            continue
        for r in rows:
            r.chosen = used is not None and np.isfinite(r.theta) and bool(np.isclose(r.theta, used))
            if used is None and not np.isfinite(r.theta):
                r.chosen = True
        jb_rows.extend(r.to_dict() for r in rows)
    return PreprocessPreview(
        names=list(fm.names), theta=dict(pre.theta), jb_rows=jb_rows,
        before=histograms(fm.values, bins), after=histograms(pre.values, bins),
        notices=list(fm.notices), rows=fm.n_rows, standardized=bool(standardize),
    )


def run_analysis(table, roles: dict, choices: dict, method: str, params: dict, default_theta, overrides: dict,
                 standardize: bool, *, token=None, progress=None):
    """Prepare the features with the person's roles and choices, apply θ per column, run ``method``.

    The method receives the already transformed matrix (θ 'none', no standardisation), and
    the result is given back the raw values and the preprocessing that was applied, so it
    reads exactly as if the method had done the preprocessing itself.
    """
    from xaidesk.data.tables import FeatureMatrix, prepare_features
    from xaidesk.data.transforms import preprocess
    from xaidesk.explain.table import explain_table

    fm = prepare_features(table, roles=roles, choices=choices)
    thetas = resolve_thetas(fm.names, default_theta, overrides)
    pre = preprocess(fm.values, fm.names, theta=thetas, standardize=standardize)
    transformed = FeatureMatrix(values=pre.values, names=list(fm.names), row_ids=fm.row_ids, target=fm.target,
                                target_name=fm.target_name, metadata=fm.metadata, notices=fm.notices,
                                choices=fm.choices)
    inner = {k: v for k, v in params.items() if k not in PREPROCESSING_PARAMS}
    inner.update(theta="none", standardize=False)
    result = explain_table(transformed, method, inner, token=token, progress=progress)
    result.raw = fm.values
    result.theta = dict(pre.theta)
    result.jb_table = pre.jb_rows()
    result.standardized = bool(standardize)
    thetas_text = {k: ("none" if v is None else v) for k, v in thetas.items()}
    result.params = {**result.params, "theta": thetas_text, "standardize": bool(standardize)}
    if fm.target_name is not None:
        result.extras.setdefault("target_column", fm.target_name)
    return result


def compare_faithfulness(table, roles: dict, choices: dict, methods, params: dict, default_theta, overrides: dict,
                         standardize: bool, settings, *, token=None, progress=None) -> list:
    """Run each table method as :func:`run_analysis` does and evaluate it by feature removal.

    ``params`` maps a method to its parameter values (others run with their defaults).
    """
    from xaidesk.core import no_progress
    from xaidesk.data.tables import prepare_features
    from xaidesk.evaluate import compare_methods, table_faithfulness

    target_values = prepare_features(table, roles=roles, choices=choices).target

    def explain(name, tok, prog):
        return run_analysis(table, roles, choices, name, dict(params.get(name, {})), default_theta, overrides,
                            standardize, token=tok, progress=prog)

    def evaluate(name, result, tok, prog):
        return table_faithfulness(result, settings, target_values=target_values, token=tok, progress=prog)

    return compare_methods(methods, explain, evaluate, token, progress or no_progress)


# --- statistics for the views -----------------------------------------------------------------


@dataclass
class BoxStats:
    """Five-number summary of one group (Tukey whiskers: furthest points within 1.5 IQR)."""

    label: str
    count: int
    q1: float
    median: float
    q3: float
    low: float
    high: float
    outliers: np.ndarray


def score_groups(result, name: str) -> dict:
    """``{group: scores}`` of ``result``'s rows grouped by the metadata column ``name``, or by k-means
    cluster when ``name`` is ``"cluster"`` and no metadata column has that name."""
    if name == "cluster" and name not in result.metadata:
        labels = np.asarray(result.extras["labels"])
        return {str(c): result.scores[labels == c] for c in sorted(set(labels.tolist()))}
    return result.scores_by(name)


def box_stats(groups: dict) -> list[BoxStats]:
    """Box-plot numbers per group of ``{label: values}`` (nan values left out)."""
    out = []
    for label, values in groups.items():
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        if not values.size:
            continue
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        iqr = q3 - q1
        inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
        low, high = (float(inside.min()), float(inside.max())) if inside.size else (float(q1), float(q3))
        outliers = values[(values < low) | (values > high)]
        out.append(BoxStats(str(label), int(values.size), float(q1), float(median), float(q3), low, high, outliers))
    return out
