"""Counterfactuals flip the prediction, respect frozen features and ranges, and say plainly when none exists."""

import json

import numpy as np
import pytest

from xaidesk.core import CancelToken, Cancelled, InputError, MethodError
from xaidesk.core.io import json_text
from xaidesk.tabular.counterfactual import DEFAULT_MARGIN, MIN_GAP, counterfactuals
from xaidesk.tabular.models import fit_table_model

NAMES = ["score", "years", "flag", "noise"]


def _table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    score = np.round(rng.normal(50, 10, n), 1)
    years = rng.integers(0, 21, n).astype(float)
    flag = rng.integers(0, 2, n).astype(float)
    noise = np.round(rng.normal(0, 1, n), 2)
    logit = 0.3 * (score - 50) + 0.25 * (years - 10) - 2.0 * flag + 1.0
    y = (logit + rng.logistic(size=n) * 0.3 > 0).astype(int)
    return np.column_stack([score, years, flag, noise]), y


@pytest.fixture(scope="module")
def logistic():
    X, y = _table()
    return fit_table_model("logistic", X, y, NAMES, target_name="approved")


@pytest.fixture(scope="module")
def tree():
    X, y = _table()
    return fit_table_model("tree", X, y, NAMES, target_name="approved", params={"max_depth": 3})


def _declined(model, k=0):
    return int(np.flatnonzero(model.predict_output(model.X) < 0.3)[k])


def _classes(model, values):
    return model.estimator.predict(np.atleast_2d(values))


def test_counterfactuals_flip_the_prediction_and_are_verified(logistic, tree):
    for model in (logistic, tree):
        row = _declined(model)
        result = counterfactuals(model, row)
        assert result.outcome == "0" and result.wanted == "approved = 1" and len(result.counterfactuals) == 3
        for cf in result.counterfactuals:
            assert cf.verified and cf.outcome == "1"
            assert _classes(model, cf.values)[0] == 1  # the estimator itself, not the search's bookkeeping
            assert cf.output == pytest.approx(model.predict_output(cf.values[None])[0])
            assert cf.output >= 0.5 + DEFAULT_MARGIN  # clearly approved, not on the boundary
            assert [(f, b, a) for f, b, a in cf.changes] == [
                (NAMES[j], model.X[row, j], cf.values[j]) for j in np.flatnonzero(cf.values != model.X[row])]


@pytest.mark.parametrize("margin", [0.0, 0.05, 0.2])
def test_the_change_of_one_free_feature_matches_the_linear_boundary(logistic, margin):
    row = _declined(logistic)
    result = counterfactuals(logistic, row, frozen=["years", "flag", "noise"], count=1, margin=margin)
    (cf,) = result.counterfactuals
    assert cf.changed_features == ["score"]
    scaler, fit = logistic.estimator[0], logistic.estimator[-1]
    w = fit.coef_[0] / scaler.scale_
    b = fit.intercept_[0] - np.sum(fit.coef_[0] * scaler.mean_ / scaler.scale_)
    x = logistic.X[row]
    logit = np.log((0.5 + margin) / (0.5 - margin))
    boundary = (logit - (b + w @ x - w[0] * x[0])) / w[0]  # the score at which the probability is 0.5 + margin
    assert boundary <= cf.values[0] <= boundary + 0.1 + 1e-9  # the smallest one-decimal value past it


def test_frozen_features_and_ranges_are_respected(logistic):
    row = _declined(logistic)
    x = logistic.X[row].copy()
    ranges = {"score": (None, x[0] + 8), "years": (x[1], 20)}
    result = counterfactuals(logistic, row, frozen=["flag"], ranges=ranges, count=4)
    assert result.counterfactuals
    for cf in result.counterfactuals:
        assert cf.values[2] == x[2]
        assert "flag" not in cf.changed_features
        if cf.values[0] != x[0]:
            assert cf.values[0] <= x[0] + 8
        if cf.values[1] != x[1]:
            assert x[1] <= cf.values[1] <= 20
    assert result.constraints["frozen"] == ["flag"] and result.constraints["ranges"]["score"] == [None, x[0] + 8]


def test_a_free_feature_outside_its_range_must_move_into_it(logistic):
    row = _declined(logistic)
    x = logistic.X[row]
    low = float(np.ceil(x[1])) + 3
    for cf in counterfactuals(logistic, row, ranges={"years": (low, 20)}).counterfactuals:
        assert low <= cf.values[1] <= 20


def test_values_stay_whole_keep_their_decimals_and_observed_levels(tree, logistic):
    for model in (tree, logistic):
        for cf in counterfactuals(model, _declined(model, 1), count=5).counterfactuals:
            assert cf.values[1] == round(cf.values[1])
            assert cf.values[2] in (0.0, 1.0)
            assert cf.values[0] == pytest.approx(round(cf.values[0], 1), abs=1e-9)
            assert np.all(cf.values >= model.X.min(axis=0)) and np.all(cf.values <= model.X.max(axis=0))


def test_sparsity_no_change_can_be_undone_and_max_changes_holds(logistic):
    row = _declined(logistic)
    x = logistic.X[row]
    for cf in counterfactuals(logistic, row, count=5).counterfactuals:
        for j in np.flatnonzero(cf.values != x):
            reverted = cf.values.copy()
            reverted[j] = x[j]
            assert _classes(logistic, reverted)[0] == 0, "a change that is not needed was kept"
    one = counterfactuals(logistic, row, max_changes=1, count=3, frozen=["score"])
    two = counterfactuals(logistic, row, max_changes=2, count=3, frozen=["score"], ranges={"years": (None, x[1] + 4)},
                          margin=0.0)
    assert all(len(cf.changes) <= 1 for cf in one.counterfactuals)
    assert all(len(cf.changes) <= 2 for cf in two.counterfactuals)
    assert max(len(cf.changes) for cf in two.counterfactuals) == 2  # years alone may not rise enough
    with pytest.raises(MethodError, match="at most 1 feature changed"):
        counterfactuals(logistic, row, max_changes=1, frozen=["score"], ranges={"years": (None, x[1] + 4)})


def test_counterfactuals_are_diverse(logistic):
    result = counterfactuals(logistic, _declined(logistic), count=4)
    values = np.array([cf.values for cf in result.counterfactuals])
    scale = np.median(np.abs(logistic.X - np.median(logistic.X, axis=0)), axis=0)
    scale = np.where(scale > 0, scale, logistic.X.std(axis=0))
    for i in range(len(values)):
        for j in range(i):
            assert np.abs((values[i] - values[j]) / scale).sum() > MIN_GAP
    assert len({tuple(cf.changed_features) for cf in result.counterfactuals}) >= 2


def test_a_regression_target_interval():
    X, _ = _table()
    value = 2.0 * X[:, 0] + 3.0 * X[:, 1]
    model = fit_table_model("linear", X, value, NAMES, target_name="price")
    row = int(np.argmin(value))
    now = model.predict_output(model.X[row][None])[0]
    result = counterfactuals(model, row, wanted=(now + 20, now + 40))
    assert result.wanted == f"predicted price at least {now + 20:g} and at most {now + 40:g}"
    for cf in result.counterfactuals:
        assert cf.verified and now + 20 <= model.predict_output(cf.values[None])[0] <= now + 40
    with pytest.raises(InputError, match="already gives"):
        counterfactuals(model, row, wanted=(None, now + 1))
    with pytest.raises(InputError, match="interval"):
        counterfactuals(model, row)


def test_a_plain_error_when_nothing_can_flip_it(tree):
    row = _declined(tree)
    used = {tree.feature_names[j] for j in tree.estimator.tree_.feature if j >= 0}
    unused = [n for n in NAMES if n not in used]
    if not unused:
        pytest.skip("the tree uses every feature")
    with pytest.raises(MethodError, match=r"No counterfactual found: with .*frozen.*still gives 0.*widen the ranges"):
        counterfactuals(tree, row, frozen=[n for n in NAMES if n != unused[0]])


def test_the_same_seed_gives_the_same_counterfactuals(tree):
    row = _declined(tree)
    a = counterfactuals(tree, row, seed=3)
    b = counterfactuals(tree, row, seed=3)
    assert [cf.values.tolist() for cf in a.counterfactuals] == [cf.values.tolist() for cf in b.counterfactuals]


def test_cancelling_stops_the_search(logistic):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        counterfactuals(logistic, _declined(logistic), token=token)
    token, seen = CancelToken(), []

    def progress(fraction, message="", partial=None):
        seen.append(message)
        token.cancel()

    with pytest.raises(Cancelled):
        counterfactuals(logistic, _declined(logistic), token=token, progress=progress)
    assert seen and "feature" in seen[0]


def test_inputs_are_not_modified(logistic):
    X = logistic.X.copy()
    row = logistic.X[_declined(logistic)].copy()
    given = row.copy()
    ranges = {"score": (None, 90.0)}
    frozen = ["flag"]
    result = counterfactuals(logistic, given, ranges=ranges, frozen=frozen)
    assert np.array_equal(given, row) and np.array_equal(logistic.X, X)
    assert ranges == {"score": (None, 90.0)} and frozen == ["flag"] and result.row_position is None


def test_bad_settings_are_refused_plainly(logistic):
    row = _declined(logistic)
    x = logistic.X[row]
    cases = [
        (dict(frozen=["height"]), "no feature 'height' to freeze"),
        (dict(ranges={"height": (1, 2)}), "no feature 'height' to give a range"),
        (dict(ranges={"score": (60, 40)}), "range of score is empty"),
        (dict(ranges={"score": (float("nan"), 40)}), "finite"),
        (dict(ranges={"score": (1, 2, 3)}), "two numbers"),
        (dict(frozen=["score"], ranges={"score": (x[0] + 1, None)}), "frozen at"),
        (dict(count=0), "from 1 to"),
        (dict(max_changes=0), "at least 1"),
        (dict(wanted="maybe"), "no class 'maybe'"),
        (dict(wanted="0"), "already gives approved = 0"),
        (dict(frozen=NAMES), "Every feature is frozen"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InputError, match=message):
            counterfactuals(logistic, row, **kwargs)
    with pytest.raises(InputError, match="does not exist"):
        counterfactuals(logistic, len(logistic.X))
    with pytest.raises(InputError, match="missing or infinite"):
        counterfactuals(logistic, np.array([np.nan, 1, 0, 0]))


def test_a_multiclass_model_needs_the_wanted_class():
    X, _ = _table()
    y = np.digitize(X[:, 0], [45, 55])
    model = fit_table_model("tree", X, y, NAMES)
    row = int(np.flatnonzero(model.estimator.predict(X) == 0)[0])
    with pytest.raises(InputError, match="Choose the wanted class"):
        counterfactuals(model, row)
    result = counterfactuals(model, row, wanted="2")
    assert all(cf.outcome == "2" and cf.verified for cf in result.counterfactuals)


def test_the_result_writes_to_json_and_rows(logistic):
    result = counterfactuals(logistic, _declined(logistic))
    data = json.loads(json_text(result.to_dict()))
    assert data["row"]["outcome"] == "0" and len(data["counterfactuals"]) == 3
    assert data["constraints"]["whole_numbers"] == ["years", "flag"]
    rows = result.table_rows()
    assert [r["counterfactual"] for r in rows] == [1, 2, 3]
    assert rows[0]["changed"] == "; ".join(result.counterfactuals[0].changed_features)


def test_a_declined_loan_gets_verified_counterfactuals_that_leave_age_alone():
    from xaidesk.data.tables import load_table
    from xaidesk.explain.table import as_feature_matrix
    from xaidesk.resources import resource_path

    table = load_table(resource_path("samples", "loans.csv"))
    columns = [c for c in table.columns if c != "approved"]
    features = as_feature_matrix(table, columns, "approved")
    model = fit_table_model("logistic", features.values, features.target, features.names, target_name="approved")
    row = int(np.flatnonzero(model.predict_output(model.X) < 0.3)[0])
    result = counterfactuals(model, row, frozen=["age", "children", "postcode"])
    age = features.names.index("age")
    changed = set()
    for cf in result.counterfactuals:
        assert cf.verified and model.estimator.predict(cf.values[None])[0] == 1
        assert cf.values[age] == model.X[row, age]
        changed |= set(cf.changed_features)
    assert changed & {"income_k", "loan_amount_k", "credit_history_years", "previous_defaults"}
    assert not changed & {"age", "children", "postcode"}


def _lead(model, values, wanted):
    """The wanted class's probability minus the highest other one, from the estimator itself."""
    proba = model.estimator.predict_proba(np.atleast_2d(values))
    others = np.delete(proba, wanted, axis=1)
    return proba[:, wanted] - others.max(axis=1)


@pytest.mark.parametrize("margin", [0.05, 0.2, 0.35])
def test_every_counterfactual_clears_the_margin(logistic, tree, margin):
    for model in (logistic, tree):
        result = counterfactuals(model, _declined(model), margin=margin)
        assert result.counterfactuals and result.constraints["margin"] == margin
        assert f"at least {0.5 + margin:.3g}" in result.constraints["requirement"]
        for cf in result.counterfactuals:
            assert model.estimator.predict_proba(cf.values[None])[0, 1] >= 0.5 + margin - 1e-12
        data = json.loads(json_text(result.to_dict()))
        assert data["constraints"]["margin"] == margin


def test_a_larger_margin_never_brings_the_closest_counterfactual_nearer(logistic):
    mlp = fit_table_model("mlp", *_table(), NAMES, target_name="approved")
    for model in (logistic, mlp):
        for k in range(2):
            row = _declined(model, k)
            closest = [min(cf.distance for cf in counterfactuals(model, row, margin=m).counterfactuals)
                       for m in (0.0, 0.05, 0.15, 0.3)]
            assert all(a <= b + 1e-9 for a, b in zip(closest, closest[1:])), closest
            assert closest[-1] > closest[0]  # a smooth model: a clearer answer lies farther away


def test_a_row_that_gets_the_wanted_class_only_narrowly_is_moved_clear_of_the_boundary(logistic):
    p = logistic.predict_output(logistic.X)
    row = int(np.flatnonzero((p > 0.5) & (p < 0.55))[0])
    with pytest.raises(InputError, match="already gives approved = 1"):
        counterfactuals(logistic, row, wanted="1", margin=0.0)
    result = counterfactuals(logistic, row, wanted="1", margin=0.05)
    assert result.outcome == "1" and result.counterfactuals
    assert all(cf.output >= 0.55 for cf in result.counterfactuals)
    with pytest.raises(InputError, match="with a probability of at least 0.55"):
        counterfactuals(logistic, int(np.argmax(p)), wanted="1")


def test_with_more_classes_the_wanted_one_leads_the_next_by_twice_the_margin():
    X, _ = _table()
    y = np.digitize(X[:, 0] + 2 * X[:, 1], [60, 80])
    model = fit_table_model("logistic", X, y, NAMES)
    row = int(np.flatnonzero(model.estimator.predict(X) == 0)[0])
    result = counterfactuals(model, row, wanted="2", margin=0.1)
    assert "ahead of every other class's by at least 0.2" in result.constraints["requirement"]
    assert result.counterfactuals
    for cf in result.counterfactuals:
        assert cf.outcome == "2" and _lead(model, cf.values, 2)[0] >= 0.2 - 1e-12


def test_a_regression_margin_keeps_the_prediction_inside_the_interval():
    X, _ = _table()
    model = fit_table_model("linear", X, 2.0 * X[:, 0] + 3.0 * X[:, 1], NAMES, target_name="price")
    row = int(np.argmin(model.predict_output(model.X)))
    now = model.predict_output(model.X[row][None])[0]
    plain = counterfactuals(model, row, wanted=(now + 20, now + 40))
    assert plain.constraints["margin"] == 0.0  # no default margin in the target's units
    clear = counterfactuals(model, row, wanted=(now + 20, now + 40), margin=5)
    assert clear.counterfactuals and clear.constraints["requirement"].endswith("with a margin of 5")
    for cf in clear.counterfactuals:
        assert now + 25 <= model.predict_output(cf.values[None])[0] <= now + 35
    assert min(cf.distance for cf in clear.counterfactuals) >= min(cf.distance for cf in plain.counterfactuals)
    with pytest.raises(InputError, match="narrower than twice the margin"):
        counterfactuals(model, row, wanted=(now + 20, now + 25), margin=3)
    with pytest.raises(InputError, match="0 or more"):
        counterfactuals(model, row, wanted=(now + 20, None), margin=-1)


@pytest.mark.parametrize("margin", [-0.1, 0.5, float("nan"), "clearly"])
def test_a_bad_margin_is_refused_plainly(logistic, margin):
    with pytest.raises(InputError, match="margin"):
        counterfactuals(logistic, _declined(logistic), margin=margin)


def _naively_dominated(x0, better, worse):
    """Whether ``worse`` changes every feature ``better`` changes, each the same way and at least as far."""
    for j in range(len(x0)):
        if better[j] == x0[j]:
            continue
        if worse[j] == x0[j] or np.sign(worse[j] - x0[j]) != np.sign(better[j] - x0[j]):
            return False
        if abs(worse[j] - x0[j]) < abs(better[j] - x0[j]):
            return False
    return True


def test_dominated_by_matches_a_naive_check():
    from xaidesk.tabular.counterfactual_search import dominated_by

    rng = np.random.default_rng(3)
    x0 = np.array([1.0, 5.0, 0.0, -2.0])
    X = x0 + rng.choice([-2.0, -1.0, 0.0, 0.0, 1.0, 2.0], size=(400, 4))
    for chosen in X[:40]:
        if np.all(chosen == x0):
            continue
        naive = [_naively_dominated(x0, chosen, x) for x in X]
        assert dominated_by(x0, chosen, X).tolist() == naive
    # the tester's case: loan 42.1 -> 6.8 shown, loan 42.1 -> 5.5 is only a larger cut
    assert dominated_by(np.array([42.1, 3.0]), np.array([6.8, 3.0]), np.array([[5.5, 3.0], [7.0, 3.0], [5.5, 4.0],
                                                                                [50.0, 3.0]])).tolist() == [
        True, False, True, False]


@pytest.mark.parametrize("count", [3, 6])
def test_no_answer_is_dominated_by_another(logistic, tree, count):
    for model in (logistic, tree):
        for k in range(3):
            row = _declined(model, k)
            result = counterfactuals(model, row, count=count)
            x0 = model.X[row]
            cfs = [cf.values for cf in result.counterfactuals]
            for i, a in enumerate(cfs):
                for j, b in enumerate(cfs):
                    assert i == j or not _naively_dominated(x0, a, b), (model.kind, row, a, b)


def test_dominated_candidates_are_skipped_and_fewer_answers_are_said_so(logistic):
    from xaidesk.tabular.counterfactual_search import select_verified
    from xaidesk.tabular.counterfactual_space import Goal, search_space

    row = _declined(logistic)
    x0 = logistic.X[row].copy()
    goal = Goal(logistic, "1", None)
    space = search_space(logistic, x0, [], None, NAMES)
    # raise the score alone until the model clearly approves, then ask for more of the same, further
    steps = np.arange(0.1, 60.0, 0.1)
    trial = np.repeat(x0[None], len(steps), axis=0)
    trial[:, 0] = np.round(x0[0] + steps, 1)
    reached = goal.evaluate(trial)[2]
    first = trial[np.flatnonzero(reached)[0]]
    further = [first.copy() for _ in range(3)]
    for i, f in enumerate(further):
        f[0] = np.round(first[0] + 5.0 * (i + 1), 1)
    pool = np.array([first, *further])
    assert goal.evaluate(pool)[2].all()
    chosen, notes = select_verified(logistic, space, goal, pool, 3)
    assert len(chosen) == 1 and np.array_equal(chosen[0][0], first)
    assert any("3 other answers found only changed the same features further" in n for n in notes)
    # one that raises the score less but also years is no larger cut of the same change: it may be shown
    other = first.copy()
    other[0], other[1] = np.round((x0[0] + first[0]) / 2, 1), 20.0
    assert goal.evaluate(other[None])[2][0]
    chosen, _ = select_verified(logistic, space, goal, np.array([first, *further, other]), 3)
    assert len(chosen) == 2 and any(np.array_equal(c[0], other) for c in chosen)
