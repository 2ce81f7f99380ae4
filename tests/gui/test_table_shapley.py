"""The Tables tab's "Shapley values" page shows the core's values: waterfall, beeswarm, dependence, on demand."""

import csv
import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

import xaidesk.tabular.methods  # noqa: F401  (registers tabular.readable)
from xaidesk.explain.table import explain_table
from xaidesk.gui.formatting import format_value
from xaidesk.gui.panels.table_shapley import NO_COLOUR, TableShapleyPage
from xaidesk.gui.runner import Runner
from xaidesk.tabular.shapley import shapley_values

SEED = 5


def brute_force_shapley(predict, x, background):
    """Interventional Shapley values by averaging over every coalition (equally weighted background rows)."""
    width = len(x)

    def worth(coalition):
        rows = background.copy()
        rows[:, list(coalition)] = x[list(coalition)]
        return predict(rows).mean()

    values = np.zeros(width)
    for i in range(width):
        others = [j for j in range(width) if j != i]
        for size in range(width):
            weight = math.factorial(size) * math.factorial(width - size - 1) / math.factorial(width)
            for coalition in itertools.combinations(others, size):
                values[i] += weight * (worth(coalition + (i,)) - worth(coalition))
    return values


@pytest.fixture(scope="module")
def result():
    X = np.random.default_rng(1).normal(size=(120, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] - 0.5 * X[:, 0] * X[:, 2] > 0).astype(int)
    return explain_table(X, "tabular.readable", {"model": "tree", "explained_rows": 40, "seed": SEED,
                                                 "background_size": 30}, target=y)


@pytest.fixture
def page(qtbot):
    runner = Runner()
    widget = TableShapleyPage(runner)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    yield widget
    runner.shutdown()


def test_the_waterfall_runs_from_the_base_value_to_the_output_largest_first(page, result):
    positions = result.extras["explained_positions"]
    shapley, fitted = result.extras["shapley"], result.extras["fitted"]
    page.show_result(result)
    page.set_row(int(positions[3]))
    steps = page.waterfall.steps
    values = shapley.values[3]
    output = fitted.predict_output(fitted.X[positions[3]][None])[0]
    assert steps[-1].start == pytest.approx(shapley.base_value)
    assert steps[0].end == pytest.approx(output, abs=1e-6)
    assert all(steps[i].start == pytest.approx(steps[i + 1].end) for i in range(len(steps) - 1))
    sizes = np.array([s.end - s.start for s in steps])
    assert np.allclose(sorted(sizes, key=abs, reverse=True), sizes)
    assert np.allclose(sorted(sizes), sorted(values))
    j = steps[0].features[0]
    assert steps[0].label.startswith(f"{fitted.feature_names[j]} = ")
    text = page.check_label.text()
    assert format_value(shapley.base_value) in text and "40 explained rows" in text
    assert "TreeSHAP" in page.method_label.text() and shapley.background in page.method_label.text()
    assert page.plot_widget() is page.waterfall


def test_the_beeswarm_has_one_dot_per_explained_row_and_feature(page, result):
    shapley = result.extras["shapley"]
    page.show_result(result)
    page.tabs.setCurrentIndex(1)
    swarm = page.beeswarm
    assert page.plot_widget() is swarm
    assert len(swarm.points) == 40 * 4
    order = np.argsort(-np.abs(shapley.values).mean(axis=0))
    assert np.array_equal(swarm.order, order)
    for j in range(4):
        mine = swarm.point_features == j
        assert mine.sum() == 40
        assert np.allclose(swarm.points[mine, 0], shapley.values[swarm.point_rows[mine], j])
        rank = list(order).index(j)
        assert np.all(np.abs(swarm.points[mine, 1] - rank) <= 0.4)


def test_an_unexplained_row_is_explained_on_demand_and_adds_up(qtbot, page, result):
    fitted = result.extras["fitted"]
    position = int(np.setdiff1d(np.arange(120), result.extras["explained_positions"])[0])
    page.show_result(result)
    page.set_row(position)
    assert "not among the explained rows" in page.check_label.text()
    qtbot.waitUntil(lambda: position in page.on_demand and not page.waterfall_holder.showing_message(),
                    timeout=15_000)
    steps = page.waterfall.steps
    output = fitted.predict_output(fitted.X[position][None])[0]
    assert steps[-1].start == pytest.approx(result.extras["shapley"].base_value)
    assert steps[0].end == pytest.approx(output, abs=1e-6)
    direct = shapley_values(fitted.predict_output, fitted.X[[position]],
                            (result.extras["background_rows"], result.extras["background_weights"]),
                            estimator=fitted.estimator, method=result.extras["model"]["shapley_method"], seed=SEED)
    assert np.allclose(page.on_demand[position].values, direct.values)
    shown = np.zeros(4)
    for step in steps:
        shown[step.features[0]] = step.end - step.start
    naive = brute_force_shapley(fitted.predict_output, fitted.X[position], result.extras["background_rows"])
    assert np.allclose(shown, naive, atol=1e-6)
    assert "computed on demand" in page.check_label.text()


def test_the_dependence_plot_is_coloured_by_the_strongest_interaction_or_a_chosen_feature(page, result):
    from shap.utils import approximate_interactions

    shapley, fitted = result.extras["shapley"], result.extras["fitted"]
    rows = fitted.X[result.extras["explained_positions"]]
    page.show_result(result)
    page.tabs.setCurrentIndex(2)
    feature = int(page.feature_box.currentData())
    plot = page.dependence
    assert np.allclose(plot.points[:, 0], rows[:, feature]) and np.allclose(plot.points[:, 1],
                                                                           shapley.values[:, feature])
    strongest = [j for j in approximate_interactions(feature, shapley.values, rows) if j != feature][0]
    assert np.array_equal(plot.colour_values, rows[:, strongest])
    other = (feature + 1) % 4
    page.colour_box.setCurrentIndex(page.colour_box.findData(other))
    assert np.array_equal(plot.colour_values, rows[:, other])
    page.colour_box.setCurrentIndex(page.colour_box.findData(NO_COLOUR))
    assert plot.colour_values is None and not plot.colorbar.isVisible()


def test_the_rows_are_explained_again_against_k_means_summaries(qtbot, page, result):
    fitted = result.extras["fitted"]
    page.show_result(result)
    page.background_box.setCurrentIndex(page.background_box.findData("kmeans"))
    page.background_size.setValue(6)
    page.recompute_button.click()
    qtbot.waitUntil(lambda: len(page.explained.background_rows) == 6 and not page.jobs.busy, timeout=20_000)
    new = page.explained.shapley
    output = fitted.predict_output(fitted.X[page.explained.positions])
    assert np.allclose(new.base_value + new.values.sum(axis=1), output, atol=1e-6)
    assert "k-means" in page.method_label.text()
    table = page.background_table.table
    assert table.rowCount() == 6 and table.columnCount() == 5
    shares = [float(table.item(i, 0).text().rstrip(" %")) / 100 for i in range(6)]
    assert np.allclose(shares, page.explained.background_weights, atol=1e-3)
    assert "k-means" in page.background_table.words.text()
    assert page.beeswarm.points.shape[0] == 40 * 4


def test_a_waterfall_of_many_features_gathers_the_smallest_into_one_bar():
    from xaidesk.gui.tabular_page_jobs import waterfall_steps

    values = np.array([0.5, -0.01, 0.2, 0.03, -0.4, 0.002, 0.07, -0.05, 0.1, 0.0, 0.3, -0.2, 0.004, 0.06, -0.001])
    names = [f"f{j}" for j in range(15)]
    steps = waterfall_steps(values, 0.25, names, np.arange(15.0), max_bars=12)
    assert len(steps) == 12 and steps[-1].label == "4 other features"
    assert set(steps[-1].features) == {5, 9, 12, 14}
    assert steps[-1].start == 0.25 and steps[0].end == pytest.approx(0.25 + values.sum())
    assert steps[0].label == "f0 = 0" and steps[1].label == "f4 = 4"


def test_the_values_are_saved_as_csv(page, result, tmp_path):
    shapley = result.extras["shapley"]
    page.show_result(result)
    path = tmp_path / "shapley.csv"
    assert page.save_values_to(path)
    lines = list(csv.reader(path.open()))
    assert len(lines) == 41
    values = np.array([[float(v) for v in line[2:6]] for line in lines[1:]])
    assert np.allclose(values, shapley.values)
    assert [int(line[0]) for line in lines[1:]] == list(result.row_ids[result.extras["explained_positions"]])


def test_a_result_without_a_fitted_model_shows_the_placeholder(page, result):
    page.show_result(replace(result, extras={k: v for k, v in result.extras.items() if k != "fitted"}))
    assert page.placeholder.showing_message() and "fitted model" in page.placeholder.message.text()
    page.show_result(result)
    assert not page.placeholder.showing_message() and page.save_button.isEnabled()
    page.clear()
    assert page.placeholder.showing_message() and not page.save_button.isEnabled()


def test_a_hidden_page_explains_an_unexplained_row_once_it_is_shown(qtbot, page, result):
    position = int(np.setdiff1d(np.arange(120), result.extras["explained_positions"])[1])
    page.hide()
    page.show_result(result)
    page.set_row(position)
    assert not page.jobs.busy and position not in page.on_demand
    page.show()
    qtbot.waitUntil(lambda: position in page.on_demand, timeout=15_000)
