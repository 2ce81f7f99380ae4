"""Readable table models: fitting, held-out metrics, and each model's readable form against its library."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import norm
from sklearn.linear_model import LinearRegression
from sklearn.linear_model import lasso_path as sk_lasso_path

from xaidesk.core import CancelToken, Cancelled, InputError, MethodError
from xaidesk.data.loans import NO_EFFECT, TARGET, TRUE_EFFECTS
from xaidesk.resources import resource_path
from xaidesk.tabular import readable
from xaidesk.tabular.models import fit_table_model, get_table_model, guess_task, list_table_models

FAST_EBM = {"max_rounds": 300, "outer_bags": 1, "max_bins": 32, "interactions": 2}


def planted(n=240, seed=0, classes=2):
    """Five columns; the target depends on the first three only."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)) * [1.0, 3.0, 0.5, 2.0, 1.0] + [0.0, 10.0, -2.0, 0.0, 5.0]
    logit = 1.5 * X[:, 0] - 0.6 * (X[:, 1] - 10) + 2.0 * (X[:, 2] + 2)
    if classes == 2:
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    else:
        y = np.digitize(logit + rng.normal(0, 0.5, n), np.quantile(logit, np.linspace(0, 1, classes + 1)[1:-1]))
    value = logit + rng.normal(0, 0.3, n)
    return X, y, value, [f"c{j}" for j in range(5)]


@pytest.fixture(scope="module")
def loans():
    table = pd.read_csv(resource_path("samples", "loans.csv"))
    names = [c for c in table.columns if c != TARGET]
    return table[names].to_numpy(float), table[TARGET].to_numpy(), names


def test_registry_lists_the_readable_models_with_their_tasks():
    names = [m.name for m in list_table_models()]
    assert names == ["linear", "logistic", "lasso", "tree", "ebm", "naive_bayes", "knn", "mlp"]
    assert "naive_bayes" not in [m.name for m in list_table_models("regression")]
    assert get_table_model("tree").resolve_params() == {"max_depth": 4, "min_samples_leaf": 5}
    with pytest.raises(MethodError, match="no table model"):
        get_table_model("forest")
    with pytest.raises(MethodError, match="no setting depth"):
        get_table_model("tree").resolve_params({"depth": 3})


def test_bad_tables_are_refused_in_plain_words():
    X, y, value, names = planted(40)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InputError, match="missing or infinite"):
        fit_table_model("tree", bad, y, names)
    with pytest.raises(InputError, match="missing or infinite"):
        fit_table_model("linear", X, np.where(np.arange(40) == 5, np.inf, value), names)
    with pytest.raises(InputError, match="one value only"):
        fit_table_model("tree", X, np.ones(40), names)
    with pytest.raises(InputError, match="at least 10 rows"):
        fit_table_model("tree", X[:9], y[:9], names)
    with pytest.raises(InputError, match="feature names"):
        fit_table_model("tree", X, y, names[:4])
    with pytest.raises(MethodError, match="does not do regression"):
        fit_table_model("naive_bayes", X, value, names)
    with pytest.raises(MethodError, match="at least 1"):
        fit_table_model("tree", X, y, names, params={"max_depth": 0})
    with pytest.raises(InputError, match="only one row"):
        fit_table_model("tree", X, np.where(np.arange(40) == 0, 2, y), names)
    with pytest.raises(InputError, match="no class 'yes'"):
        fit_table_model("tree", X, y, names, positive="yes")
    with pytest.raises(InputError, match="classification only"):
        fit_table_model("tree", X, value, names, positive="1")
    assert guess_task(y.astype(float)) == "classification" and guess_task(value) == "regression"


def test_fit_splits_measures_and_explains_the_positive_class():
    X, y, value, names = planted()
    X_before = X.copy()
    model = fit_table_model("logistic", X, y, names, seed=3)
    np.testing.assert_array_equal(X, X_before)
    assert model.task == "classification" and model.class_names == ["0", "1"] and model.positive == 1
    assert len(model.held_out_rows) == 60 and not set(model.train_rows) & set(model.held_out_rows)
    held = model.held_out_rows
    assert abs(np.mean(y[held]) - np.mean(y[model.train_rows])) < 0.02  # stratified
    proba = model.predict_output(X[held])
    np.testing.assert_allclose(proba, model.estimator.predict_proba(X[held])[:, 1])
    assert model.metrics["accuracy"] == pytest.approx(np.mean((proba > 0.5) == y[held]))
    assert model.metrics["roc_auc"] > 0.8
    negative = fit_table_model("logistic", X, y, names, seed=3, positive="0")
    np.testing.assert_allclose(negative.predict_output(X[:5]), 1 - model.predict_output(X[:5]))
    three = fit_table_model("naive_bayes", X, np.where(y == 1, 2, np.arange(len(y)) % 2), names)
    assert three.positive == int(np.argmax(np.bincount(three.y[three.train_rows])))
    assert set(three.metrics) == {"accuracy", "balanced_accuracy", "roc_auc", "log_loss"}
    with pytest.raises(InputError, match="missing or infinite"):
        model.predict_output(np.full((1, 5), np.nan))


def test_regression_metrics_equal_the_naive_formulas():
    X, _, value, names = planted()
    model = fit_table_model("knn", X, value, names)
    held = model.held_out_rows
    error = model.predict_output(X[held]) - value[held]
    assert model.metrics["mae"] == pytest.approx(np.mean(np.abs(error)))
    assert model.metrics["rmse"] == pytest.approx(np.sqrt(np.mean(error ** 2)))
    total = np.sum((value[held] - value[held].mean()) ** 2)
    assert model.metrics["r2"] == pytest.approx(1 - np.sum(error ** 2) / total)


def test_every_model_fits_both_tasks_it_offers():
    X, y, value, names = planted(120)
    for info in list_table_models():
        for task in info.tasks:
            params = FAST_EBM if info.name == "ebm" else {"max_iter": 50} if info.name == "mlp" else None
            model = fit_table_model(info.name, X, y if task == "classification" else value, names, params=params)
            assert model.task == task and all(np.isfinite(v) for v in model.metrics.values())
            assert model.predict_output(X[:3]).shape == (3,)


def test_coefficients_in_original_units_reproduce_the_model():
    X, y, value, names = planted()
    model = fit_table_model("linear", X, value, names)
    c = readable.coefficients(model)
    independent = LinearRegression().fit(X[model.train_rows], value[model.train_rows])
    np.testing.assert_allclose(c.weights, independent.coef_, rtol=1e-8)
    assert c.intercept == pytest.approx(independent.intercept_)
    np.testing.assert_allclose(c.standardised, c.weights * X[model.train_rows].std(axis=0), rtol=1e-8)
    for positive in ("1", "0"):
        logistic = fit_table_model("logistic", X, y, names, positive=positive)
        c = readable.coefficients(logistic)
        p = logistic.predict_output(X)
        np.testing.assert_allclose(X @ c.weights + c.intercept, np.log(p / (1 - p)), atol=1e-8)
    with pytest.raises(MethodError, match="Linear regression, Logistic regression or Lasso"):
        readable.coefficients(fit_table_model("tree", X, y, names))


def test_lasso_path_matches_scikit_learn_and_the_optimality_conditions():
    X, _, value, names = planted()
    model = fit_table_model("lasso", X, value, names)
    chosen = readable.lasso_lambda(model)
    path = readable.lasso_path(X, value, "regression", feature_names=names, chosen=chosen, n_lambdas=20)
    Xs = (X - X.mean(0)) / X.std(0)
    yc = value - value.mean()
    alphas, coefs, _ = sk_lasso_path(Xs, yc, alphas=path.lambdas)
    np.testing.assert_allclose(path.coefs, coefs.T, atol=1e-10)
    assert path.chosen == chosen and np.all(path.coefs[0] == 0) and np.all(path.coefs[-1] != 0)
    for lam, w in zip(path.lambdas, path.coefs):  # naive KKT: |gradient| <= λ, = λ where the weight is not 0
        gradient = Xs.T @ (yc - Xs @ w) / len(X)
        assert np.all(np.abs(gradient) <= lam * (1 + 1e-3))
        np.testing.assert_allclose(np.abs(gradient[w != 0]), lam, rtol=1e-2)


def test_long_work_can_be_cancelled_and_reports_progress():
    X, y, _, names = planted()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        readable.lasso_path(X, y, "classification", token=token)
    with pytest.raises(Cancelled):
        fit_table_model("tree", X, y, names, token=token)
    token = CancelToken()
    started = time.perf_counter()
    with pytest.raises(Cancelled):  # cancelled while the EBM boosts: it stops at the next round
        fit_table_model("ebm", X, y, names, token=token, params={"outer_bags": 8},
                        progress=lambda fraction, message: token.cancel())
    assert time.perf_counter() - started < 1.5  # a full fit takes several seconds
    steps = []
    readable.lasso_path(X, y, "classification", n_lambdas=4, progress=lambda f, m: steps.append((f, m)))
    assert [m.done for _, m in steps] == [0, 1, 2, 3] and steps[-1][1].total == 4


def test_l1_logistic_path_meets_the_optimality_conditions():
    X, y, _, names = planted()
    path = readable.lasso_path(X, y, "classification", feature_names=names, n_lambdas=8)
    Xs = (X - X.mean(0)) / X.std(0)
    assert np.all(path.coefs[0] == 0) and np.count_nonzero(path.coefs[-1]) >= 3
    for lam, w in zip(path.lambdas[1:], path.coefs[1:]):
        active = w != 0
        # the intercept is free: refit it, then check the gradient of the mean log loss
        b = brentq(lambda b: np.mean(1 / (1 + np.exp(-(Xs @ w + b))) - y), -20, 20)
        gradient = Xs.T @ (y - 1 / (1 + np.exp(-(Xs @ w + b)))) / len(X)
        assert np.all(np.abs(gradient) <= lam * 1.05 + 1e-6)
        np.testing.assert_allclose(np.abs(gradient[active]), lam, rtol=0.05, atol=1e-6)


def _rule_holds(text: str, row: dict) -> bool:
    conditions = text[3:].split(" then ")[0].split(" and ")
    for condition in conditions:
        for op in (" <= ", " > "):
            if op in condition:
                feature, number = condition.split(op)
                if not (row[feature] <= float(number) if op == " <= " else row[feature] > float(number)):
                    return False
    return True


def _check_rules_reproduce_the_tree(model, X, names):
    rules = readable.tree_rules(model)
    leaves = model.final.apply(X)
    predicted = model.estimator.predict(X)
    for i, x in enumerate(X):
        holding = [r for r in rules if _rule_holds(r.text, dict(zip(names, x)))]
        assert len(holding) == 1 and holding[0].leaf == leaves[i]
        assert holding[0].outcome == model.class_names[predicted[i]]
        assert holding[0].text.endswith(f"approved = {holding[0].outcome} "
                                        f"({holding[0].share:.0%} of {holding[0].samples} rows)")
    assert sum(r.samples for r in rules) == len(model.train_rows)
    return rules


def test_tree_rules_text_reproduces_every_prediction():
    X, y, _, names = planted()
    model = fit_table_model("tree", X, y, names, target_name="approved", params={"max_depth": 3})
    _check_rules_reproduce_the_tree(model, X, names)


def test_tree_structure_and_decision_path_follow_the_tree():
    X, _, value, names = planted()
    model = fit_table_model("tree", X, value, names)
    nodes = readable.tree_structure(model)
    for node in nodes:
        if node.feature is not None:
            assert nodes[node.left].samples + nodes[node.right].samples == node.samples
            assert nodes[node.left].depth == node.depth + 1
    for row in X[:20]:
        steps = readable.decision_path(model, row)
        node = 0
        for step in steps:
            assert step.node == node and step.went_left == (step.value <= step.threshold)
            node = nodes[node].left if step.went_left else nodes[node].right
        assert node == readable.tree_leaf(model, row)
        assert nodes[node].value == pytest.approx(model.predict_output(row[None])[0])


def test_ebm_shapes_add_up_to_the_decision_function():
    X, y, value, names = planted()
    for target, positive in ((y, "1"), (y, "0"), (value, None)):
        model = fit_table_model("ebm", X, target, names, params=FAST_EBM, positive=positive)
        contributions, shapes = readable.ebm_term_contributions(model, X)
        assert sum(t.is_pair for t in shapes.terms) == 2 and len(shapes.terms) == 7
        assert all(len(t.edges[0]) == t.scores.shape[0] + 1 for t in shapes.terms)
        total = contributions.sum(1) + shapes.intercept
        if model.task == "regression":
            np.testing.assert_allclose(total, model.predict_output(X), atol=1e-9)
        else:
            p = model.predict_output(X)
            np.testing.assert_allclose(total, np.log(p / (1 - p)), atol=1e-7)
        strongest = {t.features[0] for t in sorted(shapes.terms, key=lambda t: -t.importance)[:3] if not t.is_pair}
        assert strongest <= {"c0", "c1", "c2"}


def test_naive_bayes_contributions_add_up_to_the_log_odds():
    X, y, _, names = planted()
    model = fit_table_model("naive_bayes", X, y, names)
    nb = readable.naive_bayes_contributions(model, X)
    log_p = model.final.predict_log_proba(X)
    np.testing.assert_allclose(nb.contributions.sum(1) + nb.prior_log_ratio, log_p[:, 1] - log_p[:, 0], atol=1e-9)
    theta, sigma = model.final.theta_, np.sqrt(model.final.var_)
    naive = norm.logpdf(X[:, 2], theta[1, 2], sigma[1, 2]) - norm.logpdf(X[:, 2], theta[0, 2], sigma[0, 2])
    np.testing.assert_allclose(nb.contributions[:, 2], naive, atol=1e-9)
    _, y3, _, _ = planted(classes=3)
    three = fit_table_model("naive_bayes", X, y3, names, positive="1")
    nb3 = readable.naive_bayes_contributions(three, X)
    log_p = three.final.predict_log_proba(X)
    against = np.array([three.class_names.index(a) for a in nb3.against])
    assert not np.any(against == 1)
    np.testing.assert_allclose(nb3.contributions.sum(1) + nb3.prior_log_ratio,
                               log_p[:, 1] - log_p[np.arange(len(X)), against], atol=1e-9)


def test_neighbours_are_the_nearest_training_rows_in_standardised_units():
    X, y, _, names = planted()
    model = fit_table_model("knn", X, y, names, params={"k": 7})
    train = X[model.train_rows]
    mean, spread = train.mean(0), train.std(0)
    for row in X[model.held_out_rows[:5]]:
        found = readable.neighbours(model, row)
        distance = np.sqrt((((train - row) / spread) ** 2).sum(1))
        order = np.argsort(distance, kind="stable")[:7]
        np.testing.assert_array_equal(found.rows, model.train_rows[order])
        np.testing.assert_allclose(found.distances, distance[order], atol=1e-9)
        assert np.mean(found.targets == model.positive) == pytest.approx(model.predict_output(row[None])[0])
        np.testing.assert_array_equal(found.values, X[found.rows])
    assert len(readable.neighbours(model, X[0], k=3).rows) == 3
    with pytest.raises(InputError, match="neighbours"):
        readable.neighbours(model, X[0], k=0)


def test_on_the_loan_table_the_ground_truth_columns_come_first(loans):
    X, y, names = loans
    tree = fit_table_model("tree", X, y, names, target_name=TARGET)
    assert readable.tree_structure(tree)[0].feature in TRUE_EFFECTS
    rules = _check_rules_reproduce_the_tree(tree, X, names)
    assert all(len(c.text.partition(".")[2]) <= 3 for rule in rules for c in rule.conditions)  # short numbers
    assert readable.decision_path(tree, X[0])[0].feature in TRUE_EFFECTS
    lasso = fit_table_model("lasso", X, y, names, params={"folds": 3})
    weights = dict(zip(names, np.abs(readable.coefficients(lasso).standardised)))
    top = sorted(weights, key=weights.get, reverse=True)[:3]
    assert set(top) <= set(TRUE_EFFECTS)
    assert max(weights[name] for name in NO_EFFECT) < min(weights[name] for name in top)
    assert lasso.metrics["roc_auc"] > 0.75


def test_settings_the_data_cannot_support_are_refused_in_plain_words():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(MethodError, match="could not be fitted on 30 rows"):
        fit_table_model("knn", X, y, ["a", "b", "c"], params={"k": 100})


def test_a_multiclass_ebm_says_its_shapes_are_class_scores():
    from xaidesk.tabular.readable import ebm_shapes

    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 2))
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    model = fit_table_model("ebm", X, y, ["a", "b"], params={"interactions": 0, "max_rounds": 50, "outer_bags": 1})
    assert "softmax" in ebm_shapes(model).output and "log-odds" not in ebm_shapes(model).output


def test_the_lasso_path_of_named_classes_is_labelled_with_the_class_name():
    from xaidesk.gui.readable_jobs import lasso_path_of

    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 3))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=120) > 0, "yes", "no")
    model = fit_table_model("lasso", X, y, ["a", "b", "c"], params={"folds": 3}, target_name="decision")
    path = lasso_path_of(model)
    assert path.output == "log-odds of decision = yes"
