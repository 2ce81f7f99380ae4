"""NEON outlier scores and explanations, neuralised k-means, explained supervised models, the table pipeline."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp

from xaidesk.core import Cancelled, CancelToken, MethodError, list_methods
from xaidesk.data.tables import load_table, prepare_features
from xaidesk.data.transforms import preprocess
from xaidesk.explain import kmeans as km
from xaidesk.explain import neon_gamma, neon_outliers, table_fitting, table_lime, table_lrp
from xaidesk.explain.table import explain_table

WHOLESALE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "wholesale_customers.csv"
needs_wholesale = pytest.mark.skipif(not WHOLESALE.exists(), reason="shared wholesale data not present")


def naive(X, gamma, leave_one_out=True, epsilon=0.0):
    """Independent float64 reference: full difference tensor, scipy logsumexp, direct NEON formulas."""
    X = np.asarray(X, dtype=np.float64)
    n, f = X.shape
    diff2 = (X[:, None, :] - X[None, :, :]) ** 2
    z = diff2.sum(-1)
    if leave_one_out:
        z = z + np.diag(np.full(n, np.inf))
    count = n - 1 if leave_one_out else n
    y = -(logsumexp(-gamma * z, axis=1) - np.log(count)) / gamma
    p = np.exp(-gamma * z - logsumexp(-gamma * z, axis=1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = diff2 / (epsilon + z)[..., None]
    share = np.nan_to_num(share, nan=0.0, posinf=0.0)
    relevance = np.einsum("jk,jki->ji", p * y[:, None], share)
    return y, relevance


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (60, 4)), rng.normal(4, 0.5, (40, 4)), rng.normal(0, 6, (3, 4))])
    return X + 10.0  # away from the origin, as raw data are


@pytest.mark.parametrize("chunk", [None, 1, 7, 64, 103, 500])
def test_softmin_matches_naive_for_any_chunking(blobs, chunk):
    y, relevance = naive(blobs, 0.7)
    result = neon_outliers.outlier_scores(blobs, 0.7, chunk=chunk)
    np.testing.assert_allclose(result.scores, y, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.relevance, relevance, rtol=1e-7, atol=1e-9)


def test_neon_relevance_is_conserved(blobs):
    for gamma in (0.05, 1.0, 20.0):
        result = neon_outliers.outlier_scores(blobs, gamma, chunk=11)
        np.testing.assert_allclose(result.relevance.sum(1), result.scores, rtol=1e-6)
        assert np.all(result.absorbed == 0)


def test_stiff_gamma_is_stable_and_tends_to_the_nearest_neighbour(blobs):
    result = neon_outliers.outlier_scores(blobs, 1e4, explain=False)
    z = ((blobs[:, None] - blobs[None]) ** 2).sum(-1) + np.diag(np.full(len(blobs), np.inf))
    assert np.all(np.isfinite(result.scores))
    np.testing.assert_allclose(result.scores, z.min(1) + np.log(len(blobs) - 1) / 1e4, rtol=1e-6)


def test_duplicates_keep_conservation():
    X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 2.0], [3.0, 1.0], [0.5, 0.1]])
    result = neon_outliers.outlier_scores(X, 1.0)
    np.testing.assert_allclose(result.relevance.sum(1), result.scores, rtol=1e-9)
    one = neon_outliers.explain_row(X, 0, 1.0)
    np.testing.assert_allclose(one.relevance, result.relevance[0], rtol=1e-9)


def test_explain_row_matches_all_rows_and_lists_neighbours(blobs):
    result = neon_outliers.outlier_scores(blobs, 0.5)
    for row in (0, 50, 102):
        one = neon_outliers.explain_row(blobs, row, 0.5, top=5)
        assert one.score == pytest.approx(result.scores[row], rel=1e-10)
        np.testing.assert_allclose(one.relevance, result.relevance[row], rtol=1e-7, atol=1e-10)
        assert row not in one.neighbours and np.all(np.diff(one.neighbour_relevance) <= 0)


def test_kde_relevance_conservation_and_leave_one_out(blobs):
    y, relevance = naive(blobs, 0.3, leave_one_out=True, epsilon=0.05)
    result = neon_outliers.outlier_scores(blobs, 0.3, epsilon=0.05)
    np.testing.assert_allclose(result.scores, y, rtol=1e-10)
    np.testing.assert_allclose(result.relevance, relevance, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(result.relevance.sum(1) + result.absorbed, result.scores, rtol=1e-9)
    assert np.all(result.absorbed > 0)
    exact = neon_outliers.outlier_scores(blobs, 0.3, epsilon=0.0)
    np.testing.assert_allclose(exact.relevance.sum(1), exact.scores, rtol=1e-6)
    # the density of the full sample (own kernel included): the own term absorbs, nothing is lost
    full = neon_outliers.outlier_scores(blobs, 0.3, leave_one_out=False, epsilon=0.05)
    y_full, rel_full = naive(blobs, 0.3, leave_one_out=False, epsilon=0.05)
    np.testing.assert_allclose(full.scores, y_full, rtol=1e-10)
    np.testing.assert_allclose(full.relevance, rel_full, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(full.relevance.sum(1) + full.absorbed, full.scores, rtol=1e-9)
    # a new point scored against all rows
    point = blobs[:2] + 0.1
    q = neon_outliers.outlier_scores(blobs, 0.3, query=point, epsilon=0.05)
    single = neon_outliers.explain_row(blobs, None, 0.3, point=point[1], epsilon=0.05)
    assert q.scores[1] == pytest.approx(single.score, rel=1e-10)
    np.testing.assert_allclose(q.relevance[1], single.relevance, rtol=1e-7)


def test_cancel_between_chunks(blobs):
    token = CancelToken()
    seen = []

    def progress(fraction, message="", partial=None):
        seen.append(fraction)
        token.cancel()

    with pytest.raises(Cancelled):
        neon_outliers.outlier_scores(blobs, 1.0, chunk=10, token=token, progress=progress)
    assert seen == [10 / len(blobs)]


def test_gamma_selection_reports_curve_and_separation(blobs):
    selection = neon_gamma.select_gamma(blobs, resamples=5)
    assert selection.chosen in selection.gammas
    assert len(selection.mean) == len(selection.spread) == len(selection.separation) == len(selection.gammas)
    rel = selection.relative_spread
    assert rel[list(selection.gammas).index(selection.chosen)] <= neon_gamma.SPREAD_TOLERANCE * rel.min() + 1e-12
    for entry in selection.separation:
        assert set(entry) >= {"calinski_harabasz", "dunn", "agreement"}


def test_dunn_index_by_hand():
    X = np.array([[0.0], [1.0], [10.0], [12.0]])
    assert neon_gamma.dunn_index(X, np.array([0, 0, 1, 1])) == pytest.approx(9.0 / 2.0)


@needs_wholesale
def test_wholesale_seed_findings():
    fm = prepare_features(load_table(WHOLESALE))
    result = explain_table(fm, "neon.knn", {"theta": "100", "gamma": "1"})
    top = result.ranking()[:10]
    assert result.row_ids[top[:2]].tolist() == [183, 338]
    np.testing.assert_allclose(result.relevance.sum(1), result.scores, rtol=1e-6)
    # normalised contributions of the top-10 outliers: Frozen is the most frequent strongest feature
    strongest = Counter(result.feature_names[i] for i in result.normalised_relevance()[top].argmax(axis=1))
    assert strongest.most_common(1)[0][0] == "Frozen"
    assert strongest["Frozen"] > max(c for name, c in strongest.items() if name != "Frozen")


def test_neuralised_kmeans_logit_and_conservation(blobs):
    fitted = km.fit_kmeans(blobs, 3)
    d = ((blobs[:, None, :] - fitted.cluster_centers_[None]) ** 2).sum(-1)
    for beta in (0.01, 0.03, 1.0, 3.0):
        result = km.explain_clusters(blobs, fitted.cluster_centers_, beta=beta, chunk=17)
        rows = np.arange(len(blobs))
        if beta < 0.1:  # memberships not saturated: log(p / (1 - p)) directly
            p = result.membership[rows, result.labels]
            assert p.max() < 1 - 1e-6
            np.testing.assert_allclose(beta * result.evidence, np.log(p / (1 - p)), rtol=1e-7, atol=1e-9)
        others = np.where(np.eye(3, dtype=bool)[result.labels], -np.inf, -beta * d)
        stable = -beta * d[rows, result.labels] - logsumexp(others, axis=1)  # log p_c - log(1 - p_c)
        np.testing.assert_allclose(result.logit, stable, rtol=1e-9)
        np.testing.assert_allclose(result.relevance.sum(1), result.evidence, rtol=1e-6, atol=1e-9)
        assert np.all(result.absorbed == 0)
    eps = km.explain_clusters(blobs, fitted.cluster_centers_, rule="epsilon")
    np.testing.assert_allclose(eps.relevance.sum(1) + eps.absorbed, eps.evidence, rtol=1e-9, atol=1e-9)
    assert eps.cluster_relevance.shape == (3, blobs.shape[1]) and eps.sizes.sum() == len(blobs)


def test_choose_k_finds_the_blobs():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.3, (40, 2)) for c in ((0, 0), (5, 0), (0, 5))])
    choice = km.choose_k(X, range(2, 6))
    assert choice.suggested == 3 and len(choice.inertia) == 4


def test_linear_contributions_add_up():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = X @ np.array([1.0, -2.0, 0.0, 0.5]) + 3 + 0.1 * rng.normal(size=120)
    for kind in ("linear", "ridge"):
        fit = table_fitting.fit_linear(X, y, kind)
        np.testing.assert_allclose(fit.contributions.sum(1) + fit.intercept, fit.model.predict(X), rtol=1e-10)
    labels = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    fit = table_fitting.fit_linear(X, labels, "logistic")
    np.testing.assert_allclose(fit.contributions.sum(1) + fit.intercept, fit.model.decision_function(X), rtol=1e-10)
    three = np.digitize(X[:, 0], [-0.5, 0.5])
    fit = table_fitting.fit_linear(X, three, "logistic", target_class=2)
    np.testing.assert_allclose(fit.prediction, fit.model.decision_function(X)[:, 2], rtol=1e-10)


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)) * [1, 10, 0.1, 1] + [0, 50, 0, 0]
    y = X[:, 0] + 0.1 * X[:, 1] + np.sin(3 * X[:, 3])
    return X, y, table_fitting.train_mlp(X, y, epochs=30, hidden=(16, 8))


def test_mlp_lrp_conservation_and_zennit(trained):
    X, y, mlp = trained
    assert set(mlp.metrics) >= {"train_r2", "validation_r2", "validation_mae"}
    relevance, absorbed, f = mlp.explain(X[:20])
    np.testing.assert_allclose(relevance.sum(1) + absorbed, f, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(f, mlp.output(X[:20])[:, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(relevance, table_lrp.lrp_epsilon_zennit(mlp.network, mlp.standardize(X[:20])),
                               rtol=1e-6, atol=1e-9)
    # without biases LRP-0 conserves exactly
    import copy

    import torch

    net = copy.deepcopy(mlp.network)
    for m in net:
        if isinstance(m, torch.nn.Linear):
            m.bias.data.zero_()
    relevance, absorbed, f = table_lrp.lrp_epsilon(net, mlp.standardize(X[:20]), epsilon=0.0)
    np.testing.assert_allclose(relevance.sum(1), f, rtol=1e-6, atol=1e-9)


def test_lime_tabular_agrees_with_the_lime_package(trained):
    lime_tabular = pytest.importorskip("lime.lime_tabular")
    X, y, mlp = trained

    def predict(samples):
        return mlp.output(samples)[:, 0]

    for seed, around in ((3, False), (7, True)):
        explainer = lime_tabular.LimeTabularExplainer(
            X, mode="regression", discretize_continuous=False, feature_selection="none", random_state=seed,
            sample_around_instance=around)
        reference = explainer.explain_instance(X[5], predict, num_features=4, num_samples=800)
        ours = table_lime.lime_tabular(predict, X[5], X, num_samples=800, seed=seed, sample_around_instance=around)
        coef = dict(reference.local_exp[1])
        np.testing.assert_allclose(ours.coefficients, [coef[i] for i in range(4)], rtol=1e-8, atol=1e-10)
        assert ours.intercept == pytest.approx(reference.intercept[1], rel=1e-8)
        assert ours.score == pytest.approx(reference.score, rel=1e-8)
        assert ours.local_prediction == pytest.approx(float(np.ravel(reference.local_pred)[0]), rel=1e-8)
        assert ours.contributions.sum() + ours.intercept == pytest.approx(ours.local_prediction, rel=1e-9)


def test_registry_lists_the_table_methods_with_params():
    methods = {m.name: m for m in list_methods("table")}
    assert {"neon.knn", "neon.kde", "neon.kmeans", "supervised.linear", "supervised.mlp_lrp",
            "supervised.mlp_lime"} <= set(methods)
    for name in ("neon.knn", "neon.kde", "neon.kmeans"):
        params = {p.name: p for p in methods[name].params}
        assert {"theta", "standardize"} <= set(params)
        assert params["theta"].kind == "str"
    assert {p.name for p in methods["neon.kmeans"].params} >= {"clusters"}
    assert methods["neon.knn"].resolve_params({})["gamma"] == "auto"
    assert not any("table" in m.modality for m in list_methods("image"))


def test_pipeline_on_an_array_with_every_method(blobs):
    y = blobs[:, 0] * 2 + blobs[:, 1]
    for method, params in (
        ("neon.knn", {"gamma": "auto", "theta": "none"}),
        ("neon.kde", {"gamma": "0.5", "theta": "none"}),
        ("neon.kmeans", {"clusters": "0", "theta": "none"}),
        ("supervised.linear", {"model": "linear"}),
        ("supervised.mlp_lrp", {"epochs": "5"}),
        ("supervised.mlp_lime", {"epochs": "5", "rows": "0,4", "samples": "100"}),
    ):
        result = explain_table(blobs, method, params, target=y)
        assert result.relevance.shape == blobs.shape and result.scores.shape == (len(blobs),)
        finite = np.isfinite(result.scores)
        np.testing.assert_allclose(result.relevance[finite].sum(1) + result.absorbed[finite], result.scores[finite],
                                   rtol=1e-6, atol=1e-9, err_msg=method)
        assert result.summary()["method"] == method
    with pytest.raises(MethodError, match="target"):
        explain_table(blobs, "supervised.linear", {})
    with pytest.raises(MethodError, match="gamma"):
        explain_table(blobs, "neon.knn", {"gamma": "soft"})


@needs_wholesale
def test_pipeline_row_view_and_groups():
    result = explain_table(load_table(WHOLESALE), "neon.knn", {"theta": "100", "gamma": "1"})
    row = result.explain_row(183)
    assert row.score == pytest.approx(result.scores[183]) and row.neighbours.size == 10
    groups = result.scores_by("Channel")
    assert set(groups) == {"1", "2"} and sum(len(v) for v in groups.values()) == 440


def test_table_modules_import_no_qt():
    code = (
        "import sys, json\n"
        "import xaidesk.data.tables, xaidesk.data.transforms, xaidesk.explain.table\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6','shiboken6','pyqtgraph'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_float32_precision_is_close(blobs):
    exact = neon_outliers.outlier_scores(blobs, 0.7)
    fast = neon_outliers.outlier_scores(blobs, 0.7, precision="float32", chunk=9)
    np.testing.assert_allclose(fast.scores, exact.scores, rtol=1e-5)
    np.testing.assert_allclose(fast.relevance.sum(1), fast.scores, rtol=1e-4)
    np.testing.assert_allclose(fast.relevance, exact.relevance, rtol=1e-3, atol=1e-4 * exact.relevance.max())


def test_separation_check_on_three_rows_says_why_it_is_not_rated():
    from xaidesk.explain.neon_gamma import separation_check

    rated = separation_check(np.array([[1.0, 2.0], [4.0, 5.0], [7.0, 9.0]]), np.array([0.1, 0.5, 0.9]))
    assert rated["calinski_harabasz"] is None and rated["dunn"] is None
    assert "3 rows are too few" in rated["note"]
