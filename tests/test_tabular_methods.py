"""The readable models as a table method: fitted, measured, explained with Shapley values that add up."""

import json

import numpy as np
import pytest

from xaidesk.core import MethodError, get_method
from xaidesk.data.tables import load_table
from xaidesk.explain.table import explain_table
from xaidesk.resources import resource_path
from xaidesk.tabular.methods import METHOD_NAME, explained_positions  # its import registers the method


def _table(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


def test_every_model_setting_is_in_the_form_and_reaches_the_model():
    info = get_method(METHOD_NAME)
    names = {p.name for p in info.params}
    assert {"tree_max_depth", "knn_k", "ebm_interactions", "logistic_C"} <= names
    X, y = _table()
    result = explain_table(X, METHOD_NAME, {"model": "tree", "tree_max_depth": 2, "explained_rows": 0}, target=y)
    assert result.extras["fitted"].final.get_depth() <= 2
    assert result.extras["model"]["settings"]["max_depth"] == 2


def test_shapley_values_add_up_to_the_model_output_on_explained_rows_only():
    X, y = _table()
    result = explain_table(X, METHOD_NAME, {"model": "logistic", "explained_rows": 30, "seed": 3}, target=y)
    explained = result.extras["explained_positions"]
    assert len(explained) == 30 and np.array_equal(explained, explained_positions(len(X), 30, 3))
    fitted = result.extras["fitted"]
    output = fitted.predict_output(X)
    rel = result.relevance[explained]
    assert np.allclose(rel.sum(axis=1) + result.absorbed[explained], output[explained], atol=1e-6)
    others = np.setdiff1d(np.arange(len(X)), explained)
    assert np.isnan(result.relevance[others]).all()
    assert np.allclose(result.scores, output)  # every row is scored, so the ranking holds them all
    assert any("30 of 120 rows were explained" in n and "a score but no relevance" in n for n in result.notices)
    summary = json.loads(json.dumps(result.summary()))
    assert summary["extras"]["model"]["kind"] == "logistic" and "fitted" not in summary["extras"]
    assert summary["extras"]["metrics"]["accuracy"] > 0.8


def test_a_regression_target_is_explained_and_a_missing_target_is_refused():
    X, _ = _table()
    y = 2.0 * X[:, 2] - X[:, 3]
    result = explain_table(X, METHOD_NAME, {"model": "lasso", "explained_rows": 20}, target=y)
    assert result.extras["task"] == "regression"
    top = np.argsort(-np.nanmean(np.abs(result.relevance), axis=0))[:2]
    assert set(top) == {2, 3}
    with pytest.raises(MethodError, match="target"):
        explain_table(X, METHOD_NAME, {"model": "lasso"})


def test_on_the_loan_demo_shapley_values_put_the_ground_truth_first():
    table = load_table(resource_path("samples", "loans.csv"))
    truth = json.loads(resource_path("samples", "loans.json").read_text())
    result = explain_table(table, METHOD_NAME, {"model": "tree", "explained_rows": 300}, target="approved")
    importance = np.nanmean(np.abs(result.relevance), axis=0)
    top = [result.feature_names[i] for i in np.argsort(-importance)[:3]]
    assert set(top) <= set(truth["true_effects"])
    no_effect = [importance[result.feature_names.index(c)] for c in truth["no_effect"]]
    assert max(no_effect) < min(importance[result.feature_names.index(c)] for c in top)


def test_a_model_slow_to_evaluate_gets_a_summarised_background_and_says_so():
    X, y = _table(150)
    result = explain_table(X, METHOD_NAME, {"model": "knn", "explained_rows": 10, "background_size": 60,
                                            "shapley": "exact", "time_budget": 1e-4}, target=y)
    assert len(result.extras["background_rows"]) == 5
    assert "k-means" in result.extras["model"]["background"]
    assert any("summarised by 5 k-means centres" in n for n in result.notices)
    rel = result.relevance[result.extras["explained_positions"]]
    assert np.allclose(rel.sum(axis=1) + result.absorbed[result.extras["explained_positions"]],
                       result.extras["output"][result.extras["explained_positions"]], atol=1e-6)
    unlimited = explain_table(X, METHOD_NAME, {"model": "knn", "explained_rows": 10, "background_size": 60,
                                               "shapley": "exact", "time_budget": 0}, target=y)
    assert len(unlimited.extras["background_rows"]) == 60
    assert not any("k-means centres" in n for n in unlimited.notices)


def test_transformed_columns_are_refused_so_everything_stays_in_the_tables_units():
    X, y = _table()
    X = np.abs(X) + 1.0
    for params in ({"theta": "auto"}, {"standardize": True}):
        with pytest.raises(MethodError, match="own units"):
            explain_table(X, METHOD_NAME, {"model": "tree", **params}, target=y)


def test_the_mlp_brings_its_loss_per_epoch_and_the_others_none():
    X, y = _table()
    mlp = explain_table(X, METHOD_NAME, {"model": "mlp", "mlp_max_iter": 30, "explained_rows": 5}, target=y)
    curve = mlp.extras["fitted"].final.loss_curve_
    assert [h["train_loss"] for h in mlp.extras["history"]] == pytest.approx(curve) and len(curve) > 1
    assert explain_table(X, METHOD_NAME, {"model": "tree", "explained_rows": 5}, target=y).extras["history"] == []
