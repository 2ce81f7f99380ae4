"""Feature removal on tables (see :mod:`.faithfulness` for the curves).

A table analysis (:func:`~xaidesk.explain.table.explain_table`) explains one score per row --
an outlier score, a cluster evidence, or a model's output -- by one relevance per feature.
For each evaluated row the features are removed in the row's own relevance order (MoRF, LeRF,
random), a removed feature taking its **column mean** in the analysed (preprocessed) features,
and the row's score is recomputed after every step; the curves are averaged over the rows. The
scores are recomputed exactly as the method defines them:

- ``neon.knn`` / ``neon.kde``: the soft-min outlier score of the perturbed row against the
  other rows of the table (the row itself left out, as in the analysis; ``neon.kde`` with
  ``leave_one_out=False`` keeps it), with the analysis' γ;
- ``neon.kmeans``: the evidence for the row's cluster against the others (same centroids, β);
- ``supervised.linear``: the fitted model's decision value (coefficients and intercept);
- ``supervised.mlp_lrp`` / ``supervised.mlp_lime``: the network's explained output. The result
  does not keep the network, so it is trained again with the same parameters and seed, and the
  retrained network must reproduce the analysis' outputs (else a plain error);
- ``tabular.readable``: the fitted readable model's explained output (it rides in the result).

Every perturbed row goes through one batched, cancellable
:func:`~xaidesk.models.inference.evaluate_perturbations` call; at most ``max_rows`` rows are
evaluated (an even spread over the table, in file order).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..core import CancelToken, MethodError, no_progress
from ..explain import kmeans as _kmeans
from ..explain.table import TableResult
from ..explain.table_fitting import TrainedMLP, train_mlp
from .faithfulness import FaithfulnessResult, FlipSettings, assemble, evaluate_jobs, removal_counts, removal_orders

#: Table methods whose explained score can be recomputed for a perturbed row.
TABLE_METHODS = ("neon.knn", "neon.kde", "neon.kmeans", "supervised.linear", "supervised.mlp_lrp",
                 "supervised.mlp_lime", "tabular.readable")
MAX_ROWS = 200


class _RowScorer:
    """Callable for the engine: (B, F + 1) perturbed rows with their row position last -> (B, 1) scores."""

    def __init__(self, score_rows):
        self.score_rows = score_rows

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        values = batch[:, :-1].double().numpy()
        positions = batch[:, -1].long().numpy()
        return torch.from_numpy(np.asarray(self.score_rows(values, positions), dtype=np.float64)[:, None])


def softmin_scores(reference: np.ndarray, rows: np.ndarray, positions: np.ndarray, gamma: float,
                   leave_one_out: bool) -> np.ndarray:
    """Soft-min outlier score ``-(1/γ) log mean_k exp(-γ ||row - x_k||²)`` of each row against ``reference``.

    With ``leave_one_out`` the reference row at ``positions[i]`` is left out of row i's sum.
    """
    ref = torch.from_numpy(np.asarray(reference, dtype=np.float64))
    q = torch.from_numpy(np.asarray(rows, dtype=np.float64))
    d = torch.cdist(q, ref).square_()
    count = ref.shape[0]
    if leave_one_out:
        d[torch.arange(len(q)), torch.from_numpy(np.asarray(positions, dtype=np.int64))] = float("inf")
        count -= 1
    y = -(torch.logsumexp(-gamma * d, dim=1) - np.log(count)) / gamma
    return y.numpy()


def _retrained_mlp(result: TableResult, target_values) -> TrainedMLP:
    if target_values is None:
        raise MethodError("Evaluating a neural-network analysis trains the network again: give the target values too.")
    params = result.params
    try:
        hidden = tuple(int(h) for h in str(params["hidden"]).replace(" ", "").split(",") if h)
    except ValueError:
        raise MethodError(f"Hidden layer sizes are whole numbers separated by commas; got '{params['hidden']}'.") from None
    return train_mlp(result.transformed, np.asarray(target_values), task=params["task"], hidden=hidden,
                                 epochs=int(params["epochs"]), learning_rate=float(params["learning_rate"]),
                                 validation=float(params["validation"]), seed=int(params["seed"]))


def row_score_function(result: TableResult, target_values=None):
    """``score(rows (B, F), positions (B,)) -> (B,)``: the method's explained score of perturbed rows.

    ``positions`` index the rows of ``result`` (0..N-1) the perturbed rows come from.
    """
    method, X, extras = result.method, result.transformed, result.extras
    if method in ("neon.knn", "neon.kde"):
        leave_one_out = method == "neon.knn" or bool(result.params.get("leave_one_out", True))
        gamma = float(result.gamma)
        return lambda rows, pos: softmin_scores(X, rows, pos, gamma, leave_one_out)
    if method == "neon.kmeans":
        centroids, labels = np.asarray(extras["centroids"]), np.asarray(extras["labels"])
        beta = float(result.params["beta"])
        return lambda rows, pos: _kmeans.explain_clusters(rows, centroids, labels=labels[pos], beta=beta).evidence
    if extras.get("fitted") is not None:  # a readable model rides in its result (tabular.readable)
        fitted = extras["fitted"]
        return lambda rows, pos: fitted.predict_output(rows)
    if method == "supervised.linear":
        coef, intercept = np.asarray(extras["coefficients"], dtype=np.float64), float(extras["intercept"])
        return lambda rows, pos: rows @ coef + intercept
    if method in ("supervised.mlp_lrp", "supervised.mlp_lime"):
        trained = _retrained_mlp(result, target_values)
        out = trained.output(X)
        units = np.zeros(len(X), dtype=int) if trained.task == "regression" else out.argmax(axis=1)
        if method == "supervised.mlp_lrp":
            expected, rows_checked = result.scores, np.arange(len(X))
        else:
            rows_checked = np.array([result.position_of(d["row"]) for d in extras.get("lime_rows", [])], dtype=int)
            expected = np.array([d["model_output"] for d in extras.get("lime_rows", [])])
        got = out[rows_checked, units[rows_checked]]
        if not np.allclose(got, expected[: len(got)] if method == "supervised.mlp_lime" else expected[rows_checked],
                           rtol=1e-4, atol=1e-5):
            raise MethodError("Training the network again did not reproduce the analysis' outputs, so its "
                              "explanation cannot be evaluated; run the analysis and the evaluation together.")
        return lambda rows, pos: trained.output(rows)[np.arange(len(rows)), units[pos]]
    raise MethodError(f"Faithfulness cannot be measured for {method}; table methods that can: {', '.join(TABLE_METHODS)}.")


def evaluated_positions(result: TableResult, max_rows: int = MAX_ROWS) -> np.ndarray:
    """Rows (positions) with a complete explanation, at most ``max_rows`` spread evenly over the table."""
    usable = np.flatnonzero(np.all(np.isfinite(result.relevance), axis=1) & np.isfinite(result.scores))
    if not usable.size:
        raise MethodError("No row of this analysis has a complete explanation to evaluate.")
    if usable.size > max_rows:
        usable = usable[np.unique(np.linspace(0, usable.size - 1, max_rows).round().astype(int))]
    return usable


def table_faithfulness(
    result: TableResult,
    settings: FlipSettings = FlipSettings(),
    *,
    target_values=None,
    max_rows: int = MAX_ROWS,
    token: CancelToken | None = None,
    progress=no_progress,
) -> FaithfulnessResult:
    """Feature-removal curves of a table analysis, averaged over its rows (see the module doc).

    ``settings.steps`` is capped at the number of features (one feature per step);
    ``settings.patch`` and ``settings.fill`` do not apply (removed features take the column
    mean); ``settings.score`` must be ``"logit"`` (the method's own score).
    """
    start = time.perf_counter()
    settings = settings.checked()
    score_rows = row_score_function(result, target_values)
    X = np.asarray(result.transformed, dtype=np.float64)
    n_features = X.shape[1]
    positions = evaluated_positions(result, max_rows)
    steps = min(settings.steps, n_features)
    counts = removal_counts(n_features, steps)
    means = X.mean(axis=0)
    rng = np.random.default_rng(settings.seed)
    per_row = [removal_orders(result.relevance[p], settings, rng) for p in positions]
    n_orders = len(per_row[0])
    jobs_per_row = n_orders * len(counts)

    def inputs_of(job: int) -> torch.Tensor:
        row, rest = divmod(job, jobs_per_row)
        order, count = divmod(rest, len(counts))
        values = X[positions[row]].copy()
        removed = per_row[row][order][1][: counts[count]]
        values[removed] = means[removed]
        return torch.from_numpy(np.append(values, positions[row]))[None]

    outputs = evaluate_jobs(_RowScorer(score_rows), inputs_of, len(positions) * jobs_per_row, token=token,
                            progress=progress, message="Feature removal: rows")
    scores = outputs[:, 0].double().numpy().reshape(len(positions), n_orders * len(counts)).mean(axis=0)
    used = FlipSettings(settings.orders, steps, 1, "mean", settings.random_orders, settings.seed, "logit")
    out = assemble(result.method, 0, result.score_label, per_row[0], counts, n_features, scores,
                   f"features ({n_features}), column mean, {len(positions)} rows", used,
                   rows=int(len(positions)))
    out.extras["rows"] = [int(result.row_ids[p]) for p in positions]
    out.seconds = time.perf_counter() - start
    return out
