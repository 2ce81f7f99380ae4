"""How far to trust an explanation: stability, consistency, certainty and fidelity on the loan table."""

import functools

import numpy as np
import pytest
from scipy.stats import spearmanr

from xaidesk.core import InputError, MethodError
from xaidesk.data.loans import TARGET, make_loan_table
from xaidesk.tabular import trust
from xaidesk.tabular.models import fit_table_model
from xaidesk.tabular.shapley import background_sample


@functools.lru_cache(maxsize=1)
def loans():
    """A logistic regression (a smooth model) fitted on 600 generated loans."""
    table = make_loan_table(600, seed=0)
    names = [c for c in table if c != TARGET]
    X = np.column_stack([table[c] for c in names]).astype(float)
    return X, fit_table_model("logistic", X, table[TARGET], names, seed=0)


def shapley(model, X):
    return trust.shapley_explainer(model.predict_output, background_sample(X, 20, seed=0))


def test_rank_agreement_matches_scipy_spearmanr():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=8)
    others = rng.normal(size=(6, 8))
    others[0] = reference * 3 + 1  # same ranking
    others[1] = -reference  # reversed
    others[2, :4] = others[2, 4:]  # ties
    ties = np.round(reference, 0)
    got = trust.rank_agreement(reference, others)
    want = [spearmanr(reference, row).statistic for row in others]
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert got[0] == pytest.approx(1.0) and got[1] == pytest.approx(-1.0)
    assert trust.rank_agreement(ties, others[2:3])[0] == pytest.approx(spearmanr(ties, others[2]).statistic)
    # Constant vectors have no ranking: 1 against another constant, 0 against a ranking, never missing.
    np.testing.assert_array_equal(trust.rank_agreement(np.zeros(8), [np.zeros(8), reference]), [1.0, 0.0])
    with pytest.raises(InputError, match="finite"):
        trust.rank_agreement(reference, np.where(others > 1, np.nan, others))


def test_near_identical_rows_get_near_identical_shapley_values_and_are_called_stable():
    X, model = loans()
    before = X.copy()
    result = trust.stability(shapley(model, X), X, 7, neighbours=6, noise=0.01, seed=1)
    assert np.array_equal(X, before)
    assert result.mode == "noise" and result.compared.shape == (6, X.shape[1])
    spread = np.abs(result.explanation).max()
    assert np.abs(result.compared_explanations - result.explanation).max() < 0.05 * spread
    assert result.mean >= trust.STABLE_FROM and result.verdict == "stable"
    # The Shapley values are the model's: exact, so they add up to the output.
    assert np.allclose(result.explanation.sum() + model.predict_output(background_sample(X, 20, seed=0).rows).mean(),
                       model.predict_output(X[7:8])[0], atol=1e-9)


def test_neighbours_are_the_nearest_rows_in_standardised_distance():
    X, model = loans()
    explainer = trust.linear_explainer(model.estimator, X)
    result = trust.stability(explainer, X, 3, neighbours=4)
    z = (X - X.mean(0)) / X.std(0)
    distance = np.linalg.norm(z - z[3], axis=1)
    distance[3] = np.inf
    assert set(result.neighbours) == set(np.argsort(distance)[:4])
    np.testing.assert_allclose(result.compared, X[result.neighbours])
    assert result.correlations.shape == (4,) and result.verdict == trust.verdict(result.mean)


def test_lime_with_few_samples_is_reported_unstable():
    X, model = loans()
    rows = range(5)
    few = trust.lime_explainer(model.predict_output, X, num_samples=15)
    many = trust.lime_explainer(model.predict_output, X, num_samples=3000)
    sampled = [trust.certainty(few, X[r], seeds=range(8)) for r in rows]
    assert np.mean([c.seed_agreement for c in sampled]) < trust.SOMEWHAT_STABLE_FROM
    assert min(c.relative_spread for c in sampled) > 0.3
    assert trust.certainty(many, X[0], seeds=range(3)).relative_spread < 0.05
    lime_stability = np.mean([trust.stability(few, X, r, neighbours=6, noise=0.01).mean for r in rows])
    shapley_stability = np.mean([trust.stability(shapley(model, X), X, r, neighbours=6, noise=0.01).mean
                                 for r in rows[:2]])
    assert trust.verdict(lime_stability) == "unstable"
    assert lime_stability < shapley_stability - 0.1
    # Exact Shapley values do not depend on the seed: no spread at all.
    exact = trust.certainty(shapley(model, X), X[0], seeds=range(2))
    assert exact.relative_spread < 1e-12 and exact.seed_agreement == 1.0 and exact.verdict == "stable"


def test_consistency_of_two_identical_models_is_one_and_of_different_models_less():
    X, model = loans()
    y = model.y
    twin = fit_table_model("logistic", X, y, model.feature_names, seed=0)
    same = trust.consistency(trust.linear_explainer(model.estimator, X), trust.linear_explainer(twin.estimator, X),
                             X[:6])
    np.testing.assert_allclose(same.correlations, 1.0)
    assert same.mean == pytest.approx(1.0)
    tree = fit_table_model("tree", X, y, model.feature_names, seed=0)
    other = trust.consistency(shapley(model, X), shapley(tree, X), X[:4])
    assert other.correlations.shape == (4,) and other.mean < 0.95


def test_linear_coefficients_times_offset_equal_the_log_odds_difference():
    X, model = loans()
    values = trust.linear_explainer(model.estimator, X)(X[:3], 0)
    logit = model.estimator.decision_function(X[:3])
    mean_logit = model.estimator.decision_function(X.mean(0, keepdims=True))[0]
    np.testing.assert_allclose(values.sum(1), logit - mean_logit, atol=1e-9)
    flipped = trust.linear_explainer(model.estimator, X, positive=0)(X[:3], 0)
    np.testing.assert_allclose(flipped, -values)


def test_fidelity_reports_lime_r2_and_the_efficiency_gap():
    X, model = loans()
    result = trust.fidelity(model.predict_output, X[:2], X, background_sample(X, 20), lime_samples=500)
    assert result.local_r2.shape == (2,) and np.all((result.local_r2 > 0.5) & (result.local_r2 <= 1.0))
    assert result.shapley_method == "exact" and result.efficiency_gap < 1e-9


def test_the_lime_package_without_bins_matches_ours_and_the_comparison_table():
    pytest.importorskip("lime.lime_tabular")
    X, model = loans()
    ours = trust.lime_explainer(model.predict_output, X, num_samples=200)(X[:2], 4)
    theirs = trust.lime_package_explainer(model.predict_output, X, num_samples=200, discretize=False)(X[:2], 4)
    np.testing.assert_allclose(theirs, ours, rtol=1e-8, atol=1e-12)
    table = trust.lime_stability_comparison(model.predict_output, X, [0, 1], num_samples=100, seeds=range(3),
                                            neighbours=3, background=background_sample(X, 10, seed=0))
    assert len(table.rows) == 4 and all(len(r) == len(table.header) == 7 for r in table.rows)
    by_name = {r[0]: r for r in table.rows}
    assert by_name["lime package (continuous)"][2:6] == pytest.approx(by_name["xaidesk LIME"][2:6])
    reference = by_name["Shapley values (reference)"]
    assert reference[2] == 1.0 and reference[3] < 1e-12 and reference[4] > trust.STABLE_FROM
    for row in table.rows:
        assert -1 <= row[2] <= 1 and row[3] >= 0 and -1 <= row[4] <= 1 and -1 <= row[5] <= 1
        assert row[6] == trust.verdict(row[2])
        assert row is reference or (row[2] < 1 and row[3] > 0 and row[4] < reference[4])


def test_bad_input_is_refused_plainly():
    X, model = loans()
    explainer = trust.linear_explainer(model.estimator, X)
    with pytest.raises(InputError, match="not in the table"):
        trust.stability(explainer, X, len(X))
    with pytest.raises(InputError, match="not in the table"):
        trust.stability(explainer, X, -1)
    with pytest.raises(InputError, match="at most that many neighbours"):
        trust.stability(explainer, X[:5], 0, neighbours=5)
    with pytest.raises(InputError, match="positive share"):
        trust.stability(explainer, X, 0, noise=-0.1)
    with pytest.raises(InputError, match="two seeds"):
        trust.certainty(explainer, X[0], seeds=[0])
    with pytest.raises(InputError, match="missing or infinite"):
        trust.consistency(explainer, explainer, np.where(np.eye(3, X.shape[1]) > 0, np.nan, X[:3]))
    with pytest.raises(MethodError, match="one importance per feature"):
        trust.stability(lambda rows, seed: rows[:, :2], X, 0, neighbours=2)
    with pytest.raises(MethodError, match="missing or infinite importances"):
        trust.certainty(lambda rows, seed: rows * np.nan, X[0], seeds=[0, 1])
    tree = fit_table_model("tree", X, model.y, model.feature_names, seed=0)
    with pytest.raises(MethodError, match="linear model"):
        trust.linear_explainer(tree.estimator, X)
    with pytest.raises(InputError, match="between 0 and"):
        trust.lime_stability_comparison(model.predict_output, X, [len(X)])
