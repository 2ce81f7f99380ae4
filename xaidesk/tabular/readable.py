"""What makes each readable model readable: weights, paths, rules, shape functions, votes and neighbours.

Every function takes a :class:`~xaidesk.tabular.models.FittedModel` (or a table) and returns plain
numbers and dataclasses; the Tables tab draws them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from xaidesk.core import CancelToken, InputError, MethodError, Step, no_progress

from .models import FittedModel, check_features, get_table_model


def _require(model: FittedModel, *kinds: str) -> None:
    if model.kind not in kinds:
        titles = [get_table_model(kind).title for kind in kinds]
        wanted = ", ".join(titles[:-1]) + " or " + titles[-1] if len(titles) > 1 else titles[0]
        raise MethodError(f"This view needs a model of the kind {wanted}; this model is a {model.title}.")


def _row(model: FittedModel, row: Any) -> np.ndarray:
    return check_features(np.asarray(row, dtype=float).reshape(1, -1), len(model.feature_names))


# ---- linear models -----------------------------------------------------------------------------------------

@dataclass
class Coefficients:
    """Per-feature weights of a linear model of the explained output (log-odds for classifiers).

    ``weights`` are per unit of each column, ``standardised`` per standard deviation (comparable
    across columns); ``intercept`` is the output when every column is 0.
    """

    feature_names: list[str]
    weights: np.ndarray
    standardised: np.ndarray
    intercept: float
    output: str


def coefficients(model: FittedModel) -> Coefficients:
    """The weights of a linear, logistic or lasso model, in the columns' units and standardised."""
    _require(model, "linear", "logistic", "lasso")
    scaler, final = model.estimator[0], model.estimator[-1]
    coef = np.atleast_2d(np.asarray(final.coef_, dtype=float))
    intercept = np.atleast_1d(np.asarray(final.intercept_, dtype=float))
    if model.task == "regression":
        std_weights, std_intercept, output = coef[0], intercept[0], f"predicted {model.target_name}"
    elif len(model.class_names) == 2:
        sign = 1.0 if model.positive == 1 else -1.0
        std_weights, std_intercept = sign * coef[0], sign * intercept[0]
        output = f"log-odds of {model.target_name} = {model.positive_name}"
    else:
        std_weights, std_intercept = coef[model.positive], intercept[model.positive]
        output = f"softmax score of {model.target_name} = {model.positive_name}"
    weights = std_weights / scaler.scale_
    return Coefficients(list(model.feature_names), weights, std_weights.copy(),
                        float(std_intercept - np.sum(weights * scaler.mean_)), output)


@dataclass
class LassoPath:
    """Standardised coefficients against the penalty λ (``coefs[i]`` at ``lambdas[i]``, λ decreasing)."""

    feature_names: list[str]
    lambdas: np.ndarray
    coefs: np.ndarray
    chosen: float | None
    output: str


def lasso_lambda(model: FittedModel) -> float:
    """The penalty λ a fitted lasso chose by cross-validation (for classifiers λ = 1 / (C · rows))."""
    _require(model, "lasso")
    final = model.final
    if model.task == "regression":
        return float(final.alpha_)
    return float(1.0 / (np.ravel(final.C_)[0] * len(model.train_rows)))


def lasso_path(X: Any, y: Any, task: str, *, feature_names: list[str] | None = None, positive: Any = None,
               n_lambdas: int = 40, eps: float = 1e-3, chosen: float | None = None, output: str | None = None,
               token: CancelToken | None = None, progress=no_progress) -> LassoPath:
    """The lasso's coefficients against λ on standardised columns, with the chosen λ marked.

    ``output`` names what the weights act on (default: "predicted value", or "log-odds of <positive>").

    Regression uses :func:`sklearn.linear_model.lasso_path` (objective ``‖y − Xw‖² / 2n + λ‖w‖₁``);
    classification fits an L1 logistic model of ``positive`` against the rest along the same kind
    of grid, with λ = 1 / (C · rows). The grid runs from the smallest λ that zeroes every weight
    down to ``eps`` times it. ``chosen`` (e.g. :func:`lasso_lambda`) is marked as given.
    """
    X = check_features(X)
    y = np.asarray(y).reshape(-1)
    if len(y) != len(X):
        raise InputError(f"The target has {len(y)} values but the table has {len(X)} rows.")
    spread = X.std(axis=0)
    if np.any(spread == 0):
        raise InputError("A column is constant; drop it before drawing the lasso path.")
    Xs = (X - X.mean(axis=0)) / spread
    names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(X.shape[1])]
    n = len(X)
    if task == "regression":
        from sklearn.linear_model import lasso_path as sk_lasso_path
        target = y.astype(float) - y.astype(float).mean()
        top = np.max(np.abs(Xs.T @ target)) / n  # the smallest λ that zeroes every weight
        lambdas = np.geomspace(top, top * eps, n_lambdas)
        with warnings.catch_warnings():  # the smallest penalties may stop short of convergence; the path still shows
            warnings.simplefilter("ignore", ConvergenceWarning)
            lambdas, coefs, _ = sk_lasso_path(Xs, target, alphas=lambdas)
        return LassoPath(names, lambdas, coefs.T, chosen, output or "predicted value")
    if task != "classification":
        raise InputError(f"The task must be classification or regression; got '{task}'.")
    from sklearn.linear_model import LogisticRegression
    values = np.unique(y)
    positive = values[-1] if positive is None else positive
    target = (y == positive).astype(float) if np.any(y == positive) else None
    if target is None or target.min() == target.max():
        raise InputError(f"The class '{positive}' must be present and not the only class.")
    top = np.max(np.abs(Xs.T @ (target - target.mean()))) / n
    lambdas = np.geomspace(top, top * eps, n_lambdas)
    fit = LogisticRegression(l1_ratio=1.0, solver="saga", warm_start=True, max_iter=5000, tol=1e-6)
    coefs = np.zeros((len(lambdas), X.shape[1]))
    for i, lam in enumerate(lambdas):
        if token is not None:
            token.check()
        progress(i / len(lambdas), Step.count("Lasso path", i, len(lambdas), "penalties"))
        fit.set_params(C=1.0 / (lam * n))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            coefs[i] = fit.fit(Xs, target).coef_[0]
    return LassoPath(names, lambdas, coefs + 0.0, chosen, output or f"log-odds of {positive}")


# ---- decision trees ----------------------------------------------------------------------------------------

@dataclass
class TreeNode:
    """One node of a fitted tree; ``feature`` is ``None`` at a leaf.

    ``value`` is the explained output at the node (probability of the positive class, or the
    mean target), ``distribution`` the class shares (classification), ``samples`` its training rows.
    Rows with ``column <= threshold`` go to ``left``.
    """

    id: int
    depth: int
    feature: str | None
    threshold: float | None
    left: int | None
    right: int | None
    value: float
    samples: int
    distribution: np.ndarray | None


class Condition(NamedTuple):
    """One question of a rule: ``feature operator threshold``, with the threshold as the rule writes it."""

    feature: str
    operator: str  # "<=" or ">"
    threshold: float
    text: str


@dataclass
class Rule:
    """The if-then rule of one leaf (conditions joined by "and")."""

    leaf: int
    conditions: list[Condition]
    outcome: str
    value: float
    share: float | None
    samples: int
    text: str


class PathStep(NamedTuple):
    """One question on a row's way from the root: ``went_left`` means ``value <= threshold``."""

    feature: str
    threshold: float
    went_left: bool
    value: float
    node: int


def tree_structure(model: FittedModel) -> list[TreeNode]:
    """The tree's nodes, root first, with children, questions, outputs and row counts."""
    _require(model, "tree")
    tree = model.final.tree_
    nodes, depth = [], {0: 0}
    for node in range(tree.node_count):
        leaf = tree.children_left[node] == -1
        if not leaf:
            depth[tree.children_left[node]] = depth[tree.children_right[node]] = depth[node] + 1
        distribution = None
        if model.task == "classification":
            distribution = tree.value[node, 0] / tree.value[node, 0].sum()
            value = float(distribution[model.positive])
        else:
            value = float(tree.value[node, 0, 0])
        nodes.append(TreeNode(node, depth[node], None if leaf else model.feature_names[tree.feature[node]],
                              None if leaf else float(tree.threshold[node]),
                              None if leaf else int(tree.children_left[node]),
                              None if leaf else int(tree.children_right[node]),
                              value, int(tree.n_node_samples[node]), distribution))
    return nodes


def _threshold_text(threshold: float, column: np.ndarray) -> str:
    """The shortest number that splits the table's column as the tree does (which compares float32)."""
    goes_left = column.astype(np.float32) <= threshold
    for decimals in range(0, 18):
        for number in (np.floor(threshold * 10.0 ** decimals) / 10.0 ** decimals, threshold):
            text = f"{number:.{decimals}f}"
            if np.array_equal(column <= float(text), goes_left):
                return text
    return repr(threshold)


def tree_rules(model: FittedModel) -> list[Rule]:
    """One readable if-then rule per leaf, e.g. ``if income_k > 41.2 and ... then approved = 1 (87% of 120 rows)``.

    Conditions on the same column are merged into the tightest bound of each direction. A
    threshold is written with the fewest decimals that split the table's rows as the tree does.
    """
    nodes = tree_structure(model)
    tree = model.final.tree_
    rules: list[Rule] = []

    def visit(node: int, bounds: dict) -> None:
        item = nodes[node]
        if item.feature is None:
            rules.append(_rule(model, item, bounds))
            return
        j = tree.feature[node]
        for child, op in ((item.left, "<="), (item.right, ">")):
            inner = dict(bounds)
            old = inner.get((j, op))
            if old is None or (op == "<=" and item.threshold < old) or (op == ">" and item.threshold > old):
                inner[(j, op)] = item.threshold
            visit(child, inner)

    visit(0, {})
    return rules


def _rule(model: FittedModel, leaf: TreeNode, bounds: dict) -> Rule:
    conditions = [Condition(model.feature_names[j], op, t, _threshold_text(t, model.X[:, j]))
                  for (j, op), t in bounds.items()]  # in the order the tree first asks about them
    if model.task == "classification":
        best = int(np.argmax(leaf.distribution))
        outcome, share = model.class_names[best], float(leaf.distribution[best])
        tail = f"then {model.target_name} = {outcome} ({share:.0%} of {leaf.samples} rows)"
    else:
        outcome, share = f"{leaf.value:.4g}", None
        tail = f"then {model.target_name} ≈ {outcome} (mean of {leaf.samples} rows)"
    condition_text = " and ".join(f"{c.feature} {c.operator} {c.text}" for c in conditions)
    text = f"if {condition_text} {tail}" if conditions else f"always {tail[5:]}"
    return Rule(leaf.id, conditions, outcome, leaf.value, share, leaf.samples, text)


def decision_path(model: FittedModel, row: Any) -> list[PathStep]:
    """The questions the tree asks of ``row`` from the root to its leaf (last node: ``tree_leaf``)."""
    _require(model, "tree")
    x = _row(model, row)
    tree = model.final.tree_
    nodes = model.final.decision_path(x).indices
    steps = []
    for node in nodes:
        if tree.children_left[node] == -1:
            continue
        j, threshold = tree.feature[node], float(tree.threshold[node])
        steps.append(PathStep(model.feature_names[j], threshold, bool(np.float32(x[0, j]) <= threshold),
                              float(x[0, j]), int(node)))
    return steps


def tree_leaf(model: FittedModel, row: Any) -> int:
    """The leaf ``row`` ends in (a :class:`TreeNode` id, matching :attr:`Rule.leaf`)."""
    _require(model, "tree")
    return int(model.final.apply(_row(model, row))[0])


# ---- explainable boosting machines --------------------------------------------------------------------------

@dataclass
class ShapeTerm:
    """One term of an EBM: a curve over one column's bins, or a surface over a pair's bins.

    ``edges[i]`` are the bin edges of the i-th column (lowest value seen, cuts, highest value seen),
    ``centers[i]`` the bins' midpoints; ``scores`` has one value per bin (a matrix for a pair), added
    to the explained output's log-odds (or value). ``importance`` is the mean absolute score on the
    training rows.
    """

    features: list[str]
    columns: list[int]
    edges: list[np.ndarray]
    centers: list[np.ndarray]
    scores: np.ndarray
    importance: float

    @property
    def is_pair(self) -> bool:
        return len(self.columns) == 2


@dataclass
class EBMShapes:
    """An EBM as its terms: ``intercept`` plus each term's score is the explained output."""

    intercept: float
    terms: list[ShapeTerm]
    output: str


def _ebm_class_axis(model: FittedModel) -> tuple[float, int | None]:
    """Sign and class index that turn the EBM's scores into those of the positive class."""
    if model.task == "regression":
        return 1.0, None
    if len(model.class_names) == 2:
        return (1.0 if model.positive == 1 else -1.0), None
    return 1.0, model.positive


def ebm_shapes(model: FittedModel) -> EBMShapes:
    """The EBM's shape function per column and its pairwise interaction surfaces, with importances."""
    _require(model, "ebm")
    ebm = model.final
    sign, k = _ebm_class_axis(model)
    importances = ebm.term_importances()
    terms = []
    for t, columns in enumerate(ebm.term_features_):
        scores = np.asarray(ebm.term_scores_[t], dtype=float)
        scores = scores[(slice(1, -1),) * len(columns)]  # drop the missing and unseen bins
        scores = sign * (scores if k is None else scores[..., k])
        edges, centers = [], []
        for j in columns:
            cuts = np.asarray(_ebm_cuts(ebm, j, len(columns)), dtype=float)
            low, high = ebm.feature_bounds_[j]
            edge = np.concatenate([[min(low, cuts[0]) if len(cuts) else low], cuts,
                                   [max(high, cuts[-1]) if len(cuts) else high]])
            edges.append(edge)
            centers.append((edge[:-1] + edge[1:]) / 2)
        terms.append(ShapeTerm([model.feature_names[j] for j in columns], list(columns), edges, centers,
                               scores, float(importances[t])))
    intercept = np.atleast_1d(np.asarray(ebm.intercept_, dtype=float))
    intercept = sign * float(intercept[0] if k is None else intercept[k])
    if model.task == "regression":
        output = "predicted " + model.target_name
    elif k is None:
        output = f"log-odds of {model.target_name} = {model.positive_name}"
    else:
        output = (f"score of {model.target_name} = {model.positive_name} (each class has a score; the "
                  "probabilities are their softmax)")
    return EBMShapes(intercept, terms, output)


def _ebm_cuts(ebm: Any, column: int, order: int) -> np.ndarray:
    levels = ebm.bins_[column]
    return levels[min(order, len(levels)) - 1]


def ebm_term_contributions(model: FittedModel, X: Any) -> tuple[np.ndarray, EBMShapes]:
    """Each term's score per row ((rows, terms)), read from :func:`ebm_shapes`; their sum + intercept is the output."""
    X = check_features(X, len(model.feature_names))
    shapes = ebm_shapes(model)
    out = np.zeros((len(X), len(shapes.terms)))
    for t, term in enumerate(shapes.terms):
        # A value equal to a cut falls in the bin above it; outside the seen range, the end bins hold.
        index = tuple(np.searchsorted(edge[1:-1], X[:, j], side="right")
                      for edge, j in zip(term.edges, term.columns))
        out[:, t] = term.scores[index]
    return out, shapes


# ---- naive Bayes -----------------------------------------------------------------------------------------------

@dataclass
class NaiveBayesContributions:
    """Per row and column: log p(x_j | explained class) − log p(x_j | other class).

    ``contributions.sum(1) + prior_log_ratio`` is the log-odds of the explained class against
    ``against`` (the other class; with more classes, the most probable other class of each row).
    """

    feature_names: list[str]
    contributions: np.ndarray
    prior_log_ratio: np.ndarray
    against: list[str]
    explained: str


def naive_bayes_contributions(model: FittedModel, X: Any) -> NaiveBayesContributions:
    """Each column's log-likelihood vote for the explained class against the other (see the class)."""
    _require(model, "naive_bayes")
    X = check_features(X, len(model.feature_names))
    nb = model.final
    log_like = -0.5 * (np.log(2 * np.pi * nb.var_)[None] + (X[:, None, :] - nb.theta_[None]) ** 2 / nb.var_[None])
    c = model.positive
    if len(model.class_names) == 2:
        other = np.full(len(X), 1 - c)
    else:
        log_post = np.asarray(nb.predict_joint_log_proba(X))
        log_post[:, c] = -np.inf
        other = np.argmax(log_post, axis=1)
    rows = np.arange(len(X))
    log_prior = np.log(nb.class_prior_)
    return NaiveBayesContributions(list(model.feature_names), log_like[:, c, :] - log_like[rows, other, :],
                                   log_prior[c] - log_prior[other], [model.class_names[o] for o in other],
                                   model.class_names[c])


# ---- k-nearest neighbours -----------------------------------------------------------------------------------

@dataclass
class Neighbours:
    """The training rows behind a kNN prediction: table row indices, standardised distances, targets, values."""

    rows: np.ndarray
    distances: np.ndarray
    targets: np.ndarray
    values: np.ndarray


def neighbours(model: FittedModel, row: Any, k: int | None = None) -> Neighbours:
    """The ``k`` training rows nearest ``row`` (default: the model's k), closest first."""
    _require(model, "knn")
    if not isinstance(model.estimator, Pipeline):
        raise MethodError("This kNN model has no standardising step; refit it.")
    scaler, knn = model.estimator[0], model.estimator[-1]
    k = knn.n_neighbors if k is None else int(k)
    if not 1 <= k <= len(model.train_rows):
        raise InputError(f"Ask for between 1 and {len(model.train_rows)} neighbours; got {k}.")
    distances, index = knn.kneighbors(scaler.transform(_row(model, row)), n_neighbors=k)
    rows = model.train_rows[index[0]]
    return Neighbours(rows, distances[0], model.y[rows].copy(), model.X[rows].copy())
