"""ICE curves and partial dependence against naive loops and scikit-learn's own partial dependence."""

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.inspection import partial_dependence

from xaidesk.core import CancelToken, Cancelled, InputError, ModelError
from xaidesk.tabular.dependence import default_grid, ice_curves, partial_dependence_2d


def data(n=300, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[:, 3] = rng.integers(0, 3, n)
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * X[:, 3]
    return X, y


@pytest.fixture(scope="module")
def regressor():
    X, y = data()
    return X, GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0).fit(X, y)


def test_ice_curves_equal_predictions_on_modified_rows(regressor):
    X, model = regressor
    before = X.copy()
    result = ice_curves(model.predict, X, 0, rows=[0, 5, 17], grid=[-1.0, 0.0, 0.5, 9.0])
    for i, row in enumerate(result.rows):
        for j, value in enumerate(result.grid):
            changed = X[row].copy()
            changed[0] = value
            assert result.curves[i, j] == pytest.approx(model.predict(changed[None])[0], abs=1e-12)
    assert np.array_equal(X, before)
    assert result.source == "model calls"
    assert result.extrapolated.tolist() == [False, False, False, True]
    assert result.data_range == (X[:, 0].min(), X[:, 0].max())
    assert np.allclose(result.average, result.curves.mean(axis=0))


def test_average_equals_sklearn_partial_dependence(regressor):
    X, model = regressor
    grid = default_grid(X[:, 1], 12)
    ours = ice_curves(model.predict, X, 1, grid=grid, max_rows=1000)
    reference = partial_dependence(model, X, [1], kind="average", custom_values={1: grid}, method="brute")
    assert np.allclose(ours.average, reference["average"][0], atol=1e-10)
    assert len(ours.rows) == len(X)


def test_sklearn_path_matches_callable_path_for_the_explained_class():
    X, y = data()
    model = RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0).fit(X, y > 0)
    negative = lambda rows: model.predict_proba(rows)[:, 0]  # noqa: E731
    via_sklearn = ice_curves(negative, X, 2, estimator=model, max_rows=40, seed=3)
    by_calls = ice_curves(negative, X, 2, max_rows=40, seed=3)
    assert via_sklearn.source == "scikit-learn" and by_calls.source == "model calls"
    assert np.allclose(via_sklearn.curves, by_calls.curves, atol=1e-9)
    not_probability = lambda rows: np.log(model.predict_proba(rows)[:, 1] + 0.1)  # noqa: E731
    assert ice_curves(not_probability, X, 2, estimator=model, max_rows=10).source == "model calls"


def test_default_grid_spans_the_data_and_sampling_is_seeded(regressor):
    X, model = regressor
    grid = default_grid(X[:, 0], 20)
    assert grid[0] == X[:, 0].min() and grid[-1] == X[:, 0].max() and len(grid) == 22
    assert default_grid(X[:, 3], 20).tolist() == [0.0, 1.0, 2.0]
    a = ice_curves(model.predict, X, 0, max_rows=30, seed=1)
    b = ice_curves(model.predict, X, 0, max_rows=30, seed=1)
    assert np.array_equal(a.rows, b.rows) and len(a.rows) == 30 and not a.extrapolated.any()


def test_two_feature_partial_dependence_equals_a_naive_loop(regressor):
    X, model = regressor
    g1, g2, values = partial_dependence_2d(model.predict, X, 1, 2, grid=([-1.0, 0.0, 1.0], [-0.5, 0.5]), max_rows=1000)
    for i, a in enumerate(g1):
        for j, b in enumerate(g2):
            changed = X.copy()
            changed[:, 1], changed[:, 2] = a, b
            assert values[i, j] == pytest.approx(model.predict(changed).mean(), abs=1e-12)
    # The planted interaction x1*x2 shows: the surface is not additive.
    assert abs((values[2, 1] - values[2, 0]) - (values[0, 1] - values[0, 0])) > 0.3


def test_bad_input_and_cancellation(regressor):
    X, model = regressor
    with pytest.raises(InputError):
        ice_curves(model.predict, X, 7)
    with pytest.raises(InputError):
        ice_curves(model.predict, X, "age", feature_names=["a", "b", "c", "d"])
    with pytest.raises(InputError):
        partial_dependence_2d(model.predict, X, 1, 1)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError):
        ice_curves(model.predict, bad, 0)
    with pytest.raises(ModelError):
        ice_curves(lambda rows: np.full(len(rows), np.inf), X, 0)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        ice_curves(model.predict, X, 0, token=token)
