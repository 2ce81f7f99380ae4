"""The Trust page's jobs (Qt-free): stability, consistency, certainty, fidelity and LIME's measured stability.

Each job composes :mod:`xaidesk.tabular.trust` on the fitted model of a ``tabular.readable`` result
(``extras["fitted"]``), with the result's Shapley background, Shapley method and seed, so that the
page measures the explanations the person is looking at. The defaults are sized to take seconds on
the loan demo (2000 rows, 10 features) on two cores.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..core import InputError, Step, no_progress, sub_progress
from ..tabular import trust

if TYPE_CHECKING:  # the models load scikit-learn: imported when a job runs, not while the window opens
    from ..tabular.models import FittedModel
from ..tabular.shapley import Background, shapley_values

#: The import name of the reference LIME package.
LIME_PACKAGE = "lime.lime_tabular"
#: The explainers a person can measure, in the page's order: key -> plain name.
EXPLAINERS = {"shapley": "Shapley values", "lime_ours": "LIME (xaidesk)", "lime_package": "LIME (lime package)",
              "kernel": "KernelSHAP (sampled)"}
#: Explainers whose row ``i`` is drawn with seed ``seed + i`` (so they can be run, and cancelled, row by row).
ROW_SEEDED = ("lime_ours", "lime_package")
#: Shapley methods that do not sample: row by row they give the very values of one call.
DETERMINISTIC_SHAPLEY = ("exact", "tree")
#: Sampled explainers: their explanation changes with the seed.
SAMPLED = ("lime_ours", "lime_package", "kernel")
#: Default samples per explained row of the sampled explainers.
DEFAULT_SAMPLES = {"lime_ours": 1000, "lime_package": 1000, "kernel": 500}
DEFAULT_NEIGHBOURS = 10
DEFAULT_NOISE = 0.05
DEFAULT_SEEDS = 10
DEFAULT_CONSISTENCY_ROWS = 10
DEFAULT_FIDELITY_SAMPLES = 1000
DEFAULT_COMPARISON = {"rows": 3, "samples": 500, "seeds": 5, "neighbours": 5}


def lime_package_available() -> bool:
    """Whether the ``lime`` package can be imported."""
    return importlib.util.find_spec(LIME_PACKAGE) is not None


@dataclass(frozen=True)
class TrustContext:
    """What the checks need from a result: the fitted model, its table and the Shapley settings it used."""

    fitted: FittedModel
    X: np.ndarray
    background: Background
    shapley_method: str
    seed: int
    held_out: float
    explained: np.ndarray
    efficiency_gap: float

    @property
    def feature_names(self) -> list[str]:
        return list(self.fitted.feature_names)


def trust_context(result) -> TrustContext | None:
    """The context of a ``tabular.readable`` result, or ``None`` when it carries no fitted model."""
    extras = getattr(result, "extras", None) or {}
    fitted = extras.get("fitted")
    if fitted is None:
        return None
    summary = extras.get("model") or {}
    rows = np.asarray(extras["background_rows"], dtype=float)
    weights = np.asarray(extras["background_weights"], dtype=float)
    params = getattr(result, "params", None) or {}
    explained = np.asarray(extras.get("explained_positions", np.arange(len(fitted.X))), dtype=int)
    return TrustContext(fitted, np.asarray(fitted.X, dtype=float),
                        Background(rows, weights, str(summary.get("background", ""))),
                        str(summary.get("shapley_method", "auto")), int(params.get("seed", 0)),
                        float(params.get("held_out", 0.25)), explained, float(summary.get("efficiency_gap", np.nan)))


def make_explainer(context: TrustContext, key: str, samples: int | None = None,
                   fitted: FittedModel | None = None) -> trust.Explainer:
    """The explainer ``key`` (see :data:`EXPLAINERS`) of ``fitted`` (default: the result's model)."""
    model = fitted or context.fitted
    predict = model.predict_output
    samples = int(samples or DEFAULT_SAMPLES.get(key, 0)) or None
    if key == "shapley":
        method = context.shapley_method if model is context.fitted else "auto"
        return trust.shapley_explainer(predict, context.background, estimator=model.estimator, method=method)
    if key == "kernel":
        return trust.shapley_explainer(predict, context.background, method="kernel", nsamples=samples)
    if key == "lime_ours":
        return trust.lime_explainer(predict, context.X, num_samples=samples)
    if key == "lime_package":
        return trust.lime_package_explainer(predict, context.X, num_samples=samples)
    raise InputError(f"There is no explainer called '{key}'; choose one of {', '.join(EXPLAINERS)}.")


def cancellable(explainer: trust.Explainer, by_row: str | None, token, progress=no_progress,
                label: str = "Explained") -> trust.Explainer:
    """``explainer`` checking ``token`` before each call.

    With ``by_row`` it runs row by row, reporting progress, and gives the numbers of one call:
    ``"seed + i"`` for explainers that draw row ``i`` with that seed (LIME), ``"same seed"`` for
    explainers that do not sample (exact and tree Shapley values).
    """
    def explain(rows: np.ndarray, seed: int) -> np.ndarray:
        if by_row is None:
            token.check()
            return explainer(rows, seed)
        out = []
        for i in range(len(rows)):
            token.check()
            progress(i / len(rows), Step.count(label, i, len(rows), "rows"))
            out.append(explainer(rows[i:i + 1], seed + i if by_row == "seed + i" else seed))
        return np.vstack(out)
    return explain


def row_by_row(context: TrustContext, key: str) -> str | None:
    """How the explainer ``key`` can run row by row (see :func:`cancellable`), or ``None``."""
    if key in ROW_SEEDED:
        return "seed + i"
    if key == "shapley" and context.shapley_method in DETERMINISTIC_SHAPLEY:
        return "same seed"
    return None


@dataclass(frozen=True)
class Measured:
    """One explainer's measure: its plain name, key, samples (0: not sampled) and the core's result."""

    name: str
    key: str
    samples: int
    result: object


def run_stability(context: TrustContext, row: int, choices: Sequence[tuple[str, int]], *,
                  neighbours: int = DEFAULT_NEIGHBOURS, noise: float | None = None, token,
                  progress=no_progress) -> list[Measured]:
    """:func:`~xaidesk.tabular.trust.stability` of row ``row`` for each ``(explainer key, samples)``."""
    if not choices:
        raise InputError("Choose at least one explanation method to measure.")
    out = []
    for i, (key, samples) in enumerate(choices):
        part = sub_progress(progress, i / len(choices), (i + 1) / len(choices))
        explainer = cancellable(make_explainer(context, key, samples), row_by_row(context, key), token, part,
                                EXPLAINERS[key])
        result = trust.stability(explainer, context.X, int(row), neighbours=neighbours, noise=noise,
                                 seed=context.seed, token=token)  # the explainer reports the progress, row by row
        out.append(Measured(EXPLAINERS[key], key, int(samples) if key in SAMPLED else 0, result))
    return out


def second_models(task: str) -> list[tuple[str, str]]:
    """``(name, title)`` of the registered table models for ``task``."""
    from ..tabular.models import list_table_models

    return [(m.name, m.title) for m in list_table_models(task)]


def fit_second_model(context: TrustContext, name: str, token, progress=no_progress) -> FittedModel:
    """Fit the model ``name`` on the result's rows, split and seed, explaining the same class."""
    fitted = context.fitted
    positive = fitted.positive if fitted.task == "classification" else None
    from ..tabular.models import fit_table_model

    return fit_table_model(name, context.X, fitted.y, fitted.feature_names, task=fitted.task,
                           held_out=context.held_out, seed=context.seed, positive=positive,
                           target_name=fitted.target_name, token=token, progress=progress)


@dataclass(frozen=True)
class ConsistencyOutcome:
    """Two models' Shapley values on the same rows: the models' titles, the rows and the core's result."""

    title_a: str
    title_b: str
    positions: np.ndarray
    result: trust.ConsistencyResult
    same_split: bool

    def mean_abs(self) -> tuple[np.ndarray, np.ndarray]:
        """Per feature, the mean |Shapley value| under each model."""
        return np.abs(self.result.explanations_a).mean(axis=0), np.abs(self.result.explanations_b).mean(axis=0)


def consistency_positions(context: TrustContext, row: int, count: int) -> np.ndarray:
    """``row`` and the first other explained rows, ``count`` in all (sorted)."""
    others = [int(p) for p in context.explained if int(p) != int(row)]
    return np.sort(np.array([int(row), *others[:max(0, count - 1)]], dtype=int))


def run_consistency(context: TrustContext, name: str, row: int, count: int = DEFAULT_CONSISTENCY_ROWS, *,
                    token, progress=no_progress) -> ConsistencyOutcome:
    """Fit the second model ``name`` and compare both models' Shapley values on ``count`` rows around ``row``."""
    second = fit_second_model(context, name, token, sub_progress(progress, 0.0, 0.2))
    positions = consistency_positions(context, row, count)

    def shapley_of(model: FittedModel, method: str, start: float, end: float) -> trust.Explainer:
        # trust.shapley_explainer's values, cancellable and with progress
        return lambda rows, seed: shapley_values(model.predict_output, rows, context.background,
                                                 estimator=model.estimator, method=method, seed=seed, token=token,
                                                 progress=sub_progress(progress, start, end)).values

    result = trust.consistency(shapley_of(context.fitted, context.shapley_method, 0.2, 0.6),
                               shapley_of(second, "auto", 0.6, 1.0), context.X[positions], seed=context.seed)
    same = np.array_equal(np.sort(second.train_rows), np.sort(context.fitted.train_rows))
    return ConsistencyOutcome(context.fitted.title, second.title, positions, result, same)


def run_certainty(context: TrustContext, row: int, choices: Sequence[tuple[str, int]], seeds: int = DEFAULT_SEEDS,
                  *, token, progress=no_progress) -> list[Measured]:
    """:func:`~xaidesk.tabular.trust.certainty` of row ``row`` over ``seeds`` seeds for each sampled explainer."""
    if not choices:
        raise InputError("Choose at least one sampled method (LIME or KernelSHAP) to measure.")
    if seeds < 2:
        raise InputError("Certainty needs at least two seeds to measure a spread.")
    out = []
    for i, (key, samples) in enumerate(choices):
        token.check()
        progress(i / len(choices), Step.count("Methods measured", i, len(choices), "methods"))
        explainer = cancellable(make_explainer(context, key, samples), None, token)
        result = trust.certainty(explainer, context.X[int(row)], range(context.seed, context.seed + seeds))
        out.append(Measured(EXPLAINERS[key], key, int(samples), result))
    progress(1.0, Step.count("Methods measured", len(choices), len(choices), "methods"))
    return out


def run_fidelity(context: TrustContext, row: int, lime_samples: int = DEFAULT_FIDELITY_SAMPLES, *, token,
                 progress=no_progress) -> trust.Fidelity:
    """LIME's local R² and the Shapley efficiency gap for row ``row`` (the result's Shapley method)."""
    token.check()
    progress(0.0, "Fitting LIME's local line and the Shapley values")
    fitted = context.fitted
    return trust.fidelity(fitted.predict_output, context.X[int(row):int(row) + 1], context.X, context.background,
                          estimator=fitted.estimator, shapley_method=context.shapley_method,
                          lime_samples=lime_samples, seed=context.seed + int(row), token=token, progress=progress)


def comparison_rows(context: TrustContext, row: int, count: int) -> list[int]:
    """``row`` and the explained rows after it (wrapping round), ``count`` in all."""
    explained = [int(p) for p in context.explained if int(p) != int(row)]
    after = [p for p in explained if p > row] + [p for p in explained if p < row]
    return [int(row), *after[:max(0, count - 1)]]


#: How the comparison's Shapley reference is computed, in the table's samples column (it draws no LIME samples).
SHAPLEY_METHOD_WORDS = {"exact": "exact", "tree": "exact (TreeSHAP)", "permutation": "sampled permutations",
                        "kernel": "KernelSHAP, sampled"}
#: The comparison's columns of agreement (index in a row, plain name), each read against the verdict's bands.
AGREEMENT_COLUMNS = ((2, "across seeds"), (4, "under small noise"), (5, "over the nearest rows"))
PACKAGE_BINS, PACKAGE_CONTINUOUS, OURS = ("lime package (quartile", "lime package (continuous", "xaidesk LIME")


def comparison_shapley_method(width: int) -> str:
    """The Shapley method the comparison's reference runs on ``width`` features (it passes no estimator)."""
    from ..tabular.shapley import choose_method

    return choose_method("auto", None, int(width), (np.empty((0, width)), np.empty(0)))


def run_lime_comparison(context: TrustContext, row: int, *, rows: int = DEFAULT_COMPARISON["rows"],
                        samples: int = DEFAULT_COMPARISON["samples"], seeds: int = DEFAULT_COMPARISON["seeds"],
                        neighbours: int = DEFAULT_COMPARISON["neighbours"], noise: float = DEFAULT_NOISE,
                        token, progress=no_progress) -> trust.ComparisonTable:
    """:func:`~xaidesk.tabular.trust.lime_stability_comparison` on ``rows`` rows from ``row``, with Shapley values
    on the result's background as the reference; the reference's samples column names its method instead."""
    table = trust.lime_stability_comparison(
        context.fitted.predict_output, context.X, comparison_rows(context, row, rows), num_samples=samples,
        seeds=range(seeds), neighbours=neighbours, noise=noise, background=context.background, token=token,
        progress=progress)
    method = SHAPLEY_METHOD_WORDS.get(comparison_shapley_method(context.X.shape[1]), "")
    return trust.ComparisonTable(table.header, [(r[0], method, *r[2:]) if r[0].startswith("Shapley") and method
                                                else r for r in table.rows])


def _row(table: trust.ComparisonTable, start: str):
    return next((r for r in table.rows if r[0].startswith(start)), None)


def same_numbers(a: Sequence, b: Sequence) -> bool:
    """Whether two comparison rows measured the same numbers (to rounding) in every measured column."""
    return np.allclose(np.asarray(a[2:6], dtype=float), np.asarray(b[2:6], dtype=float), rtol=1e-9, atol=1e-12)


def read_comparison(table: trust.ComparisonTable) -> str:
    """Plain sentences reading the comparison: which method agreed with itself across seeds, whether the lime
    package without bins matched xaidesk's LIME, and where a verdict across seeds would mislead for another column."""
    package, continuous, ours = _row(table, PACKAGE_BINS), _row(table, PACKAGE_CONTINUOUS), _row(table, OURS)
    if package is None or ours is None:
        return ""
    words = (f"With {package[1]} samples per row, the lime package with its default bins gave explanations that "
             f"agreed with themselves across seeds at {package[2]:.3f} ({package[6]}); xaidesk's LIME at "
             f"{ours[2]:.3f} ({ours[6]}).")
    if package[2] < ours[2] - 0.05:
        words += " The package's default sampling is the less stable of the two: run it with more samples, or read " \
                 "its explanation with care."
    elif ours[2] < package[2] - 0.05:
        words += " Here xaidesk's LIME is the less stable: give it more samples."
    else:
        words += " Both are about as stable here."
    if continuous is not None:
        if same_numbers(continuous, ours):
            words += (" Without its bins the lime package is the same algorithm as xaidesk's LIME: identical numbers "
                      "(the same samples drawn from the same seeds).")
        else:
            gap = float(np.max(np.abs(np.asarray(continuous[2:6], float) - np.asarray(ours[2:6], float))))
            words += (f" Without its bins the lime package should match xaidesk's LIME, yet here they differ by up "
                      f"to {gap:.3g}.")
    return words + "\n" + read_verdicts(table)


#: The verdicts from the lowest band up.
BANDS = ("unstable", "somewhat stable", "stable")


def read_verdicts(table: trust.ComparisonTable) -> str:
    """Which column the verdict reads, and each method whose other agreements fall in a lower band than it."""
    words = ["The verdict reads the agreement across seeds only; each agreement is coloured by its own band."]
    nearest = False
    for r in table.rows:
        own = trust.verdict(float(r[2]))
        lower = [(i, name) for i, name in AGREEMENT_COLUMNS[1:]
                 if BANDS.index(trust.verdict(float(r[i]))) < BANDS.index(own)]
        if lower:
            nearest = nearest or any(i == AGREEMENT_COLUMNS[-1][0] for i, _ in lower)
            parts = [f"{trust.verdict(float(r[i]))} {name} ({float(r[i]):.2f})" for i, name in lower]
            words.append(f"{r[0]}: {own} across seeds, but {' and '.join(parts)}.")
    if nearest:
        words.append("The nearest rows really differ, so even an exact method scores below 1 over them: that "
                     "column shows how fast the explanation changes from row to row.")
    return " ".join(words)


__all__ = ["EXPLAINERS", "SAMPLED", "DEFAULT_SAMPLES", "TrustContext", "trust_context", "make_explainer",
           "Measured", "run_stability", "second_models", "run_consistency", "ConsistencyOutcome", "run_certainty",
           "run_fidelity", "run_lime_comparison", "read_comparison", "read_verdicts", "comparison_shapley_method",
           "comparison_rows", "consistency_positions", "lime_package_available", "same_numbers"]
