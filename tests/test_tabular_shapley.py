"""Shapley values through shap: a brute-force average over all coalitions, efficiency, ground truth, stability."""

import functools
import itertools
import math

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from xaidesk.core import CancelToken, Cancelled, InputError, MethodError
from xaidesk.data.loans import NO_EFFECT, TARGET, TRUE_EFFECTS, make_loan_table
from xaidesk.tabular.shapley import (
    Background, background_kmeans, background_sample, choose_method, shapley_values,
)


def brute_force_shapley(predict, x, rows, weights):
    """Every coalition's interventional value E_b[f(x_S, b_rest)], combined with the Shapley weights."""
    d = len(x)
    value = {}
    for size in range(d + 1):
        for coalition in itertools.combinations(range(d), size):
            mixed = rows.copy()
            mixed[:, list(coalition)] = x[list(coalition)]
            value[coalition] = float(np.dot(weights, predict(mixed)))
    phi = np.zeros(d)
    for i in range(d):
        others = [j for j in range(d) if j != i]
        for size in range(d):
            share = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
            for coalition in itertools.combinations(others, size):
                with_i = tuple(sorted(coalition + (i,)))
                phi[i] += share * (value[with_i] - value[coalition])
    return phi, value[()]


@functools.lru_cache(maxsize=1)
def five_feature_model():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5))
    y = np.tanh(X[:, 0] * X[:, 1]) + X[:, 2] ** 2 - 0.5 * X[:, 3] + 0.1 * rng.normal(size=300)
    return X, MLPRegressor(hidden_layer_sizes=(16,), max_iter=2000, tol=1e-5, random_state=0).fit(X, y)


@pytest.mark.parametrize("weighted", [False, True])
def test_exact_equals_brute_force_over_all_coalitions(weighted):
    X, model = five_feature_model()
    background = background_kmeans(X, k=6, seed=0) if weighted else background_sample(X, n=12, seed=0)
    explain = X[:3].copy()
    result = shapley_values(model.predict, explain, background, method="auto")
    assert result.method == "exact"
    assert np.array_equal(explain, X[:3])
    for row, values in zip(explain, result.values):
        phi, base = brute_force_shapley(model.predict, row, background.rows, background.weights)
        assert np.allclose(values, phi, atol=1e-8)
        assert result.base_value == pytest.approx(base, abs=1e-10)
    assert result.efficiency_gap < 1e-8


@pytest.mark.parametrize("weighted", [False, True])
def test_sampled_methods_add_up_and_approach_the_exact_values(weighted):
    X, model = five_feature_model()
    background = background_kmeans(X, k=8) if weighted else background_sample(X, n=20)
    exact = shapley_values(model.predict, X[:4], background, method="exact")
    for method in ("kernel", "permutation"):
        sampled = shapley_values(model.predict, X[:4], background, method=method, seed=2)
        assert sampled.method == method and sampled.efficiency_gap < 1e-6
        assert np.abs(sampled.values - exact.values).max() < 0.05 * np.abs(exact.values).max()


@pytest.fixture(scope="module")
def loans():
    table = make_loan_table(n=1200, seed=0)
    names = [c for c in table if c != TARGET]
    X = np.column_stack([table[c] for c in names]).astype(float)
    model = GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0).fit(X, table[TARGET])
    return names, X, model


def test_tree_shap_on_the_loan_table_ranks_the_true_effects_first(loans):
    names, X, model = loans
    approve = lambda rows: model.predict_proba(rows)[:, 1]  # noqa: E731
    result = shapley_values(approve, X[:150], background_sample(X, 80), estimator=model, method="tree",
                            feature_names=names)
    assert result.method == "tree" and result.efficiency_gap < 1e-6
    importance = dict(zip(names, np.abs(result.values).mean(axis=0)))
    strongest_true = sorted((importance[c] for c in TRUE_EFFECTS), reverse=True)[:4]
    assert min(strongest_true) > max(importance[c] for c in NO_EFFECT)
    assert max(importance, key=importance.get) in TRUE_EFFECTS


def test_tree_shap_explains_the_same_class_as_predict(loans):
    names, X, model = loans
    decline = lambda rows: model.predict_proba(rows)[:, 0]  # noqa: E731
    background = background_kmeans(X, k=5)
    tree = shapley_values(decline, X[:6], background, estimator=model, method="tree")
    assert shapley_values(decline, X[:2], background, estimator=model).method == "exact"
    assert tree.method == "tree" and tree.efficiency_gap < 1e-6
    assert np.allclose(tree.output, decline(X[:6]))
    exact = shapley_values(decline, X[:6], background, method="exact")
    assert tree.base_value == pytest.approx(exact.base_value, abs=1e-6)
    # Boosting's probability is a sigmoid of a sum of trees: shap spreads it per reference row, close to exact.
    assert np.abs(tree.values - exact.values).max() < 0.15 * np.abs(exact.values).max()
    assert np.corrcoef(tree.values.ravel(), exact.values.ravel())[0, 1] > 0.98


def test_tree_shap_equals_exact_shapley_values_of_a_forests_probability(loans):
    names, X, _ = loans
    forest = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(X[:400], X[:400, 1] > 40)
    approve = lambda rows: forest.predict_proba(rows)[:, 1]  # noqa: E731
    background = background_kmeans(X[:400], k=4)
    tree = shapley_values(approve, X[:5], background, estimator=forest)
    exact = shapley_values(approve, X[:5], background, method="exact")
    assert tree.method == "tree" and np.allclose(tree.values, exact.values, atol=1e-6)


def test_auto_falls_back_when_trees_cannot_explain_the_output(loans):
    names, X, model = loans
    probe = (X[:5], model.predict_proba(X[:5])[:, 1])
    assert choose_method("auto", model, X.shape[1], probe) == "exact"  # a boosted classifier: exact is affordable
    assert choose_method("tree", model, X.shape[1], probe) == "tree"
    logit = (X[:5], np.log(probe[1]))
    assert choose_method("auto", model, X.shape[1], logit) == "exact"
    with pytest.raises(MethodError):
        choose_method("tree", model, X.shape[1], logit)
    pipeline = make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=3)).fit(X, X[:, 1] > 40)
    piped = (X[:5], pipeline.predict_proba(X[:5])[:, 1])
    assert choose_method("auto", pipeline, X.shape[1], piped) == "exact"
    assert choose_method("auto", None, 20, (np.zeros((1, 20)), np.zeros(1))) == "permutation"
    with pytest.raises(MethodError):
        choose_method("exact", None, 30, (np.zeros((1, 30)), np.zeros(1)))


def test_auto_falls_back_when_shap_refuses_the_tree_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 12))
    three_classes = np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5])
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, three_classes)
    middle = lambda rows: model.predict_proba(rows)[:, 1]  # noqa: E731
    result = shapley_values(middle, X[:2], X[:10], estimator=model, nsamples=300)
    assert result.method == "permutation" and result.efficiency_gap < 1e-8
    with pytest.raises(MethodError):
        shapley_values(middle, X[:2], X[:10], estimator=model, method="tree")


def test_near_identical_rows_of_a_smooth_model_get_near_identical_values():
    X, model = five_feature_model()
    background = background_sample(X, n=15)
    rng = np.random.default_rng(3)
    row = X[7]
    neighbours = row + 1e-4 * rng.normal(size=(4, 5))
    values = shapley_values(model.predict, np.vstack([row, neighbours]), background).values
    far = shapley_values(model.predict, X[8:9], background).values
    assert np.abs(values[1:] - values[0]).max() < 1e-2 * np.abs(values[0]).max()
    assert np.abs(far[0] - values[0]).max() > 0.1 * np.abs(values[0]).max()


def test_tree_shap_regressor_and_background_descriptions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 12))
    y = X[:, 0] * 2 + X[:, 5] ** 2
    model = RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0).fit(X, y)
    background = background_kmeans(X, k=8, seed=1)
    assert len(background.rows) == 8 and background.weights.sum() == pytest.approx(1.0)
    assert "k-means" in background.description
    assert "sampled" in background_sample(X, 50).description
    result = shapley_values(model.predict, X[:20], background, estimator=model)
    assert result.method == "tree" and result.efficiency_gap < 1e-6
    assert set(np.argsort(np.abs(result.values).mean(axis=0))[-2:]) == {0, 5}


def test_bad_input_cancellation_and_progress():
    X, model = five_feature_model()
    with pytest.raises(InputError):
        shapley_values(model.predict, X[:2], X[:10, :4])
    with pytest.raises(InputError):
        shapley_values(model.predict, X[:2], (X[:3], [1.0, -1.0, 1.0]))
    bad = X[:2].copy()
    bad[0, 0] = np.inf
    with pytest.raises(InputError):
        shapley_values(model.predict, bad, X[:10])
    with pytest.raises(MethodError):
        shapley_values(model.predict, X[:2], X[:10], method="lime")
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        shapley_values(model.predict, X[:2], X[:10], token=token)
    steps = []
    shapley_values(model.predict, X[:6], Background(X[:5], np.full(5, 0.2), "five"), batch_rows=2,
                   progress=lambda fraction, message="", partial=None: steps.append(message))
    assert [(s.done, s.total) for s in steps] == [(2, 6), (4, 6), (6, 6)]
