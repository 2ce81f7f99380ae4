"""The Trust page shows the core's numbers: stability, consistency, certainty, fidelity and LIME measured."""

import dataclasses
import functools

import numpy as np
import pytest

import xaidesk.tabular
from xaidesk.explain.table import explain_table
from xaidesk.gui import trust_jobs
from xaidesk.gui.panels.table_trust import (
    PLACEHOLDER,
    CertaintyCheck,
    ComparisonCheck,
    ConsistencyCheck,
    FidelityCheck,
    StabilityCheck,
    TableTrustPage,
)
from xaidesk.gui.runner import Runner
from xaidesk.gui.views.table_items import table_number
from xaidesk.gui.views.trust_views import VERDICT_COLOURS, GroupedBars
from xaidesk.tabular import trust
from xaidesk.tabular.shapley import Background


@functools.lru_cache(maxsize=1)
def logistic_result():
    """A logistic regression (a smooth model) on 160 rows of 4 features, 40 rows explained."""
    xaidesk.tabular.load_builtin_methods()
    X = np.random.default_rng(0).normal(size=(160, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] > 0).astype(int)
    return explain_table(X, "tabular.readable", {"model": "logistic", "explained_rows": 40}, target=y)


@pytest.fixture
def page(qtbot, error_dialogs):
    runner = Runner()
    widget = TableTrustPage(runner)
    qtbot.addWidget(widget)
    widget.resize(1100, 750)
    yield widget
    runner.shutdown()


def background(result):
    return Background(result.extras["background_rows"], result.extras["background_weights"], "")


def run(qtbot, check):
    check.run_button.click()
    qtbot.waitUntil(lambda: not check.jobs.busy, timeout=60_000)
    assert not check.result_area.showing_message()


def cells(table):
    return [[table.item(i, j).text() for j in range(table.columnCount())] for i in range(table.rowCount())]


def test_a_result_without_a_fitted_model_shows_the_placeholder(page):
    result = logistic_result()
    page.show_result(dataclasses.replace(result, extras={k: v for k, v in result.extras.items() if k != "fitted"}))
    assert page.placeholder.showing_message() and page.placeholder.message.text() == PLACEHOLDER
    assert page.plot_widget() is page
    page.show_result(result)
    assert not page.placeholder.showing_message()
    assert "Logistic regression" in page.about.text()
    page.clear()
    assert page.placeholder.showing_message() and page.result is None


def test_stability_table_equals_the_core_and_tells_stable_shapley_from_unstable_lime(qtbot, page, error_dialogs):
    result = logistic_result()
    page.show_result(result)
    page.set_row(3)
    check = page.check(StabilityCheck)
    check.methods.boxes["lime_package"].setChecked(False)
    check.methods.spins["lime_ours"].setValue(15)
    check.mode.setCurrentIndex(check.mode.findData("noise"))
    check.count.setValue(6)
    check.noise.setValue(1.0)
    run(qtbot, check)
    assert error_dialogs == []
    fitted = result.extras["fitted"]
    explainers = {"Shapley values": trust.shapley_explainer(fitted.predict_output, background(result),
                                                            estimator=fitted.estimator,
                                                            method=result.extras["model"]["shapley_method"]),
                  "LIME (xaidesk)": trust.lime_explainer(fitted.predict_output, fitted.X, num_samples=15)}
    direct = {name: trust.stability(e, fitted.X, 3, neighbours=6, noise=0.01, seed=0) for name, e in explainers.items()}
    shown = cells(check.view.table)
    assert [row[0] for row in shown] == list(direct)
    for row, (name, want) in zip(shown, direct.items()):
        assert row[2:] == [table_number(want.mean), table_number(want.spread), want.verdict]
    assert shown[0][4] == "stable" and shown[1][4] == "unstable"
    assert shown[0][1] == result.extras["model"]["shapley_method"] and shown[1][1] == "15"
    label, means, spreads = check.view.plot.series[0]
    np.testing.assert_allclose(means, [d.mean for d in direct.values()])
    np.testing.assert_allclose(spreads, [d.spread for d in direct.values()])
    # The whiskers are the spread, cut where a rank correlation ends (1 and -1).
    left, right = check.view.plot.whiskers[0]
    np.testing.assert_allclose(left, np.minimum(spreads, means + 1))
    np.testing.assert_allclose(right, np.minimum(spreads, 1 - means))
    assert np.all(means + right <= 1 + 1e-12) and np.all(means - left >= -1 - 1e-12)
    assert "spread" in check.view.plot.plot_item.titleLabel.text
    assert "Row" in check.view.sentence.text() and "6 copies" in check.view.sentence.text()
    assert check.plot_widget() is check.view.plot
    # Another row: the result for row 3 is forgotten.
    page.set_row(4)
    assert check.result_area.showing_message() and "row" in check.result_area.message.text()


def test_consistency_of_a_model_with_itself_is_one(qtbot, page, error_dialogs):
    result = logistic_result()
    page.show_result(result)
    explained = [int(p) for p in result.extras["explained_positions"]]
    page.set_row(explained[3])
    check = page.check(ConsistencyCheck)
    assert check.model.currentData() != "logistic"  # another model is proposed first
    check.model.setCurrentIndex(check.model.findData("logistic"))
    check.count.setValue(5)
    run(qtbot, check)
    assert error_dialogs == []
    outcome = check.view.outcome
    np.testing.assert_allclose(outcome.result.correlations, 1.0)
    assert outcome.same_split and len(outcome.positions) == 5 and explained[3] in outcome.positions
    assert "alike at 1.000" in check.view.sentence.text() and "stable" in check.view.sentence.text()
    (_, a, _), (label_b, b, _) = check.view.plot.series
    np.testing.assert_allclose(a, b)
    # The first model's Shapley values are the result's own.
    shown = [explained.index(p) for p in outcome.positions]
    np.testing.assert_allclose(a, np.abs(result.extras["shapley"].values[shown]).mean(0), atol=1e-9)
    assert label_b.endswith("(refitted)")


def test_consistency_with_another_model_matches_the_core(qtbot, page, error_dialogs):
    result = logistic_result()
    page.show_result(result)
    check = page.check(ConsistencyCheck)
    check.model.setCurrentIndex(check.model.findData("tree"))
    check.count.setValue(4)
    run(qtbot, check)
    context = trust_jobs.trust_context(result)
    tree = trust_jobs.fit_second_model(context, "tree", token=None)
    rows = context.X[check.view.outcome.positions]
    want = trust.consistency(trust_jobs.make_explainer(context, "shapley"),
                             trust_jobs.make_explainer(context, "shapley", fitted=tree), rows)
    np.testing.assert_allclose(check.view.outcome.result.correlations, want.correlations)
    np.testing.assert_allclose(check.view.plot.series[1][1], np.abs(want.explanations_b).mean(0))
    assert want.mean < 1


def test_certainty_error_bars_are_the_cores_spread(qtbot, page, error_dialogs):
    result = logistic_result()
    page.show_result(result)
    page.set_row(2)
    check = page.check(CertaintyCheck)
    check.methods.boxes["lime_package"].setChecked(False)
    check.methods.spins["lime_ours"].setValue(40)
    check.methods.spins["kernel"].setValue(30)
    check.seeds.setValue(3)
    run(qtbot, check)
    assert error_dialogs == []
    fitted = result.extras["fitted"]
    lime = trust.certainty(trust.lime_explainer(fitted.predict_output, fitted.X, num_samples=40), fitted.X[2], range(3))
    kernel = trust.certainty(trust.shapley_explainer(fitted.predict_output, background(result), method="kernel",
                                                     nsamples=30), fitted.X[2], range(3))
    for (label, mean, std), item, want in zip(check.view.plot.series, check.view.plot.error_items, (lime, kernel)):
        np.testing.assert_allclose(mean, want.mean)
        np.testing.assert_allclose(std, want.std)
        np.testing.assert_allclose(item.opts["left"], want.std)
    assert lime.std.max() > 0  # LIME samples; KernelSHAP enumerates all 16 coalitions of 4 features: no spread
    shown = cells(check.view.table)
    assert shown[0][2:] == [table_number(lime.seed_agreement), table_number(lime.relative_spread), lime.verdict]
    assert shown[1][2:] == [table_number(kernel.seed_agreement), table_number(kernel.relative_spread),
                            kernel.verdict]


def test_fidelity_shows_the_cores_numbers_and_asks_for_the_deletion_curve(qtbot, page, error_dialogs):
    result = logistic_result()
    page.show_result(result)
    page.set_row(5)
    check = page.check(FidelityCheck)
    check.samples.setValue(300)
    run(qtbot, check)
    fitted = result.extras["fitted"]
    want = trust.fidelity(fitted.predict_output, fitted.X[5:6], fitted.X, background(result),
                          estimator=fitted.estimator, shapley_method=result.extras["model"]["shapley_method"],
                          lime_samples=300, seed=5)
    assert f"R² = {want.local_r2[0]:.3f}" in check.view.lime.text()
    assert table_number(want.efficiency_gap) in check.view.shapley.text()
    assert table_number(result.extras["model"]["efficiency_gap"]) in check.view.shapley.text()
    with qtbot.waitSignal(page.faithfulness_requested, timeout=1000):
        check.deletion.click()


def test_lime_comparison_table_is_the_cores(qtbot, page, error_dialogs):
    pytest.importorskip("lime.lime_tabular")
    result = logistic_result()
    page.show_result(result)
    page.set_row(1)
    check = page.check(ComparisonCheck)
    check.rows.setValue(2)
    check.samples.setValue(100)
    check.seeds.setValue(2)
    check.neighbours.setValue(2)
    run(qtbot, check)
    assert error_dialogs == []
    fitted = result.extras["fitted"]
    rows = trust_jobs.comparison_rows(trust_jobs.trust_context(result), 1, 2)
    assert rows[0] == 1 and len(rows) == 2
    want = trust.lime_stability_comparison(fitted.predict_output, fitted.X, rows, num_samples=100, seeds=range(2),
                                           neighbours=2, background=background(result))
    shown = cells(check.view.table)
    assert [r[0] for r in shown] == [r[0] for r in want.rows]
    for row, wanted in zip(shown, want.rows):
        assert row[2:] == [table_number(v) for v in wanted[2:6]] + [wanted[6]]
    # Samples: the LIME rows' count; the Shapley reference's method (4 features: exact), not a count.
    assert [r[1] for r in shown] == ["100", "100", "100", "exact"]
    assert check.view.table.horizontalHeaderItem(6).text() == "Verdict (across seeds)"
    reading = check.view.reading.text()
    assert "lime package" in reading and reading.count("at ") >= 2
    # The package without bins and xaidesk's LIME are two implementations of one algorithm: identical numbers.
    continuous, ours = want.rows[1], want.rows[2]
    assert continuous[0].startswith("lime package (continuous") and ours[0] == "xaidesk LIME"
    np.testing.assert_allclose(continuous[2:6], ours[2:6], rtol=1e-9)
    assert "the same algorithm as xaidesk's LIME: identical numbers" in reading
    # Each agreement has its own band: a cell's colour is the verdict of its value.
    for i, wanted in enumerate(want.rows):
        for j in (2, 4, 5):
            colour = check.view.table.item(i, j).background().color().getRgb()[:3]
            assert colour == VERDICT_COLOURS[trust.verdict(wanted[j])]
    assert "The verdict reads the agreement across seeds only" in reading


def test_the_comparison_reading_names_a_measure_that_contradicts_the_verdict_and_two_implementations_that_differ():
    header = ("method", "samples", "agreement across seeds", "relative spread", "stability under noise (0.05 sd)",
              "stability over neighbours", "verdict across seeds")
    rows = [("lime package (quartile bins, its default)", 500, 0.70, 0.3, 0.72, 0.50, "unstable"),
            ("lime package (continuous)", 500, 0.90, 0.1, 0.91, 0.60, "somewhat stable"),
            ("xaidesk LIME", 500, 0.90, 0.1, 0.91, 0.60, "somewhat stable"),
            ("Shapley values (reference)", "exact", 1.0, 0.0, 0.99, 0.54, "stable")]
    reading = trust_jobs.read_comparison(trust.ComparisonTable(header, rows))
    assert "identical numbers" in reading
    assert "Shapley values (reference): stable across seeds, but unstable over the nearest rows (0.54)." in reading
    rows[2] = ("xaidesk LIME", 500, 0.93, 0.1, 0.91, 0.60, "somewhat stable")
    reading = trust_jobs.read_comparison(trust.ComparisonTable(header, rows))
    assert "identical" not in reading and "differ by up to 0.03" in reading
    # Other agreements above the verdict's band need no warning, nor does a row without a low nearest-rows agreement.
    rows = [(name, samples, 0.5, 0.4, 0.9, 0.85, "unstable") for name, samples, *_ in rows]
    reading = trust_jobs.read_comparison(trust.ComparisonTable(header, rows))
    assert "but" not in reading.split("\n")[1] and "nearest rows really differ" not in reading


def test_the_stability_whiskers_stop_at_one(qtbot):
    bars = GroupedBars()
    qtbot.addWidget(bars)
    bars.set_bars(["a", "b"], [("mean", [0.9, -0.8], [0.3, 0.5])], clip=(-1.0, 1.0))
    left, right = bars.whiskers[0]
    np.testing.assert_allclose(left, [0.3, 0.2])
    np.testing.assert_allclose(right, [0.1, 0.5])
    np.testing.assert_allclose(bars.series[0][2], [0.3, 0.5])  # the spreads as given, for the table


def test_a_running_check_can_be_cancelled_and_shows_nothing(qtbot, page, error_dialogs):
    page.show_result(logistic_result())
    check = page.check(StabilityCheck)
    check.methods.boxes["shapley"].setChecked(False)
    check.methods.spins["lime_ours"].setValue(100_000)
    check.count.setValue(200)
    check.run_button.click()
    assert check.jobs.busy
    qtbot.waitUntil(lambda: check.jobs._progress_bar.value() > 0 or "of" in check.jobs._status.text(), timeout=20_000)
    check.jobs.cancel()
    qtbot.waitUntil(lambda: not check.jobs.busy, timeout=20_000)
    assert check.result_area.showing_message() and check.jobs._status.text() == "Cancelled."
    assert error_dialogs == []
