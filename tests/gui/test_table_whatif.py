"""The Tables tab's "What if" page draws the core's ICE curves, partial dependence and 2-D map of the fitted model."""

import csv
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import Qt

import xaidesk.tabular.methods  # noqa: F401  (registers tabular.readable)
from xaidesk.explain.table import explain_table
from xaidesk.gui.panels.table_whatif import TableWhatIfPage
from xaidesk.gui.runner import Runner
from xaidesk.gui.tabular_page_jobs import extended_grid
from xaidesk.gui.views.table_items import table_number
from xaidesk.tabular.dependence import ice_curves, partial_dependence_2d

SEED = 3


@pytest.fixture(scope="module")
def result():
    X = np.random.default_rng(0).normal(size=(120, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return explain_table(X, "tabular.readable", {"model": "tree", "explained_rows": 40, "seed": SEED}, target=y)


@pytest.fixture
def page(qtbot):
    runner = Runner()
    widget = TableWhatIfPage(runner)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    yield widget
    runner.shutdown()


def shown(qtbot, page, result, position=None):
    page.show_result(result)
    if position is not None:
        page.set_row(position)
    qtbot.waitUntil(lambda: page.ice_view is not None and not page.jobs.busy, timeout=15_000)


def test_the_curves_are_the_cores_and_the_selected_row_is_the_model_called_directly(qtbot, page, result):
    fitted = result.extras["fitted"]
    position = 7
    shown(qtbot, page, result, position)
    plot, feature = page.ice_plot, page.feature()
    X = fitted.X
    grid = extended_grid(X[:, feature], 0.0)
    core = ice_curves(fitted.predict_output, X, feature, grid=grid, seed=SEED)
    assert np.array_equal(plot.grid, core.grid)
    assert np.allclose(plot.curves, core.curves) and plot.curves.shape == (120, len(grid))
    assert np.allclose(plot.average, core.average) and np.allclose(plot.average, plot.curves.mean(axis=0))
    probe = np.repeat(X[position][None], len(grid), axis=0)
    probe[:, feature] = grid
    assert np.allclose(plot.row_outputs, fitted.predict_output(probe), rtol=0, atol=1e-12)
    assert plot.row_point == pytest.approx((X[position, feature], fitted.predict_output(X[position:position + 1])[0]))
    assert np.array_equal(np.sort(plot.rug_values), np.sort(X[:, feature]))
    assert not plot.extrapolated.any()
    assert plot.plot_item.getAxis("left").labelText == fitted.output_name
    assert plot.plot_item.getAxis("bottom").labelText == fitted.feature_names[feature]
    assert "partial dependence" in plot.caption.text() and page.source_label.text()
    assert f"the selected row (row {result.row_ids[position]})" in plot.caption.text()
    i = len(grid) // 2
    assert plot.readout(grid[i]).startswith(f"at {table_number(grid[i])}: average {table_number(core.average[i])}")
    # the most important feature by mean |Shapley value| is chosen first
    assert feature == int(np.argmax(np.mean(np.abs(result.extras["shapley"].values), axis=0)))

    page.set_row(11)
    qtbot.waitUntil(lambda: plot.row_point is not None and plot.row_point[0] == X[11, feature], timeout=10_000)
    probe = np.repeat(X[11][None], len(grid), axis=0)
    probe[:, feature] = grid
    assert np.allclose(plot.row_outputs, fitted.predict_output(probe), rtol=0, atol=1e-12)


def test_a_grid_beyond_the_data_is_marked_as_extrapolation(qtbot, page, result):
    shown(qtbot, page, result, 0)
    page.extend_box.setCurrentIndex(page.extend_box.findData(0.25))
    qtbot.waitUntil(lambda: page.ice_view is not None and page.ice_view.extend == 0.25 and not page.jobs.busy,
                    timeout=15_000)
    plot, feature = page.ice_plot, page.feature()
    column = result.extras["fitted"].X[:, feature]
    low, high = column.min(), column.max()
    assert plot.grid.min() == pytest.approx(low - 0.25 * (high - low))
    assert plot.grid.max() == pytest.approx(high + 0.25 * (high - low))
    assert np.array_equal(plot.extrapolated, (plot.grid < low) | (plot.grid > high))
    assert plot.extrapolated[0] and plot.extrapolated[-1] and not plot.extrapolated.all()
    assert plot.observed_range == (low, high)
    dashed = [item for item in plot.plot_item.listDataItems()
              if item.opts["pen"] is not None and item.opts["pen"].style() == Qt.PenStyle.DashLine]
    xs = [x for item in dashed for x in item.getData()[0] if np.isfinite(x)]
    assert dashed and min(xs) < low and max(xs) > high
    assert all(x <= low or x >= high for x in xs)
    assert "extrapolation" in plot.caption.text()


def test_the_heat_map_holds_the_cores_two_feature_partial_dependence(qtbot, page, result):
    shown(qtbot, page, result)
    fitted = result.extras["fitted"]
    first = page.feature()
    second = next(j for j in range(4) if j != first)
    page.second_box.setCurrentIndex(second)
    page.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: page.pair_view is not None and page.pair_view.features == (first, second)
                    and not page.jobs.busy, timeout=15_000)
    heat = page.pair_plot
    grids = (extended_grid(fitted.X[:, first], 0.0, 10), extended_grid(fitted.X[:, second], 0.0, 10))
    core = partial_dependence_2d(fitted.predict_output, fitted.X, first, second, grid=grids, seed=SEED)
    assert np.allclose(heat.values, core.values) and np.array_equal(heat.grid1, core.grid1)
    assert heat.value_at(core.grid1[2], core.grid2[3]) == pytest.approx(core.values[2, 3])
    assert heat.colorbar.levels() == pytest.approx((core.values.min(), core.values.max()))
    assert heat.plot_item.getAxis("bottom").labelText == fitted.feature_names[first]
    assert heat.plot_item.getAxis("left").labelText == fitted.feature_names[second]
    assert page.plot_widget() is heat
    page.set_row(9)
    assert heat.marked == (fitted.X[9, first], fitted.X[9, second])


def test_the_values_are_saved_as_csv(qtbot, page, result, tmp_path):
    shown(qtbot, page, result)
    assert page.save_button.isEnabled() and page.plot_widget() is page.ice_plot
    path = tmp_path / "ice.csv"
    assert page.save_values_to(path)
    lines = list(csv.reader(path.open()))
    plot = page.ice_plot
    assert len(lines) == 1 + (plot.curves.shape[0] + 1) * len(plot.grid)
    average = [float(line[2]) for line in lines if line[0] == "partial dependence"]
    assert np.allclose(average, plot.average)
    assert str(path) in page.saved_label.text()


def test_a_result_without_a_fitted_model_shows_the_placeholder(qtbot, page, result):
    page.show_result(replace(result, extras={k: v for k, v in result.extras.items() if k != "fitted"}))
    assert page.placeholder.showing_message() and "fitted model" in page.placeholder.message.text()
    shown(qtbot, page, result)
    assert not page.placeholder.showing_message()
    page.clear()
    assert page.placeholder.showing_message() and not page.save_button.isEnabled()


def test_a_hidden_page_computes_only_once_it_is_shown(qtbot, page, result):
    page.hide()
    page.show_result(result)
    page.set_row(4)
    assert not page.jobs.busy and page.ice_view is None
    page.show()
    qtbot.waitUntil(lambda: page.ice_plot.row_point is not None and not page.jobs.busy, timeout=15_000)
    assert page.ice_view.row.position == 4


def test_a_regression_model_gets_curves_of_its_predicted_value(qtbot, page):
    X = np.random.default_rng(2).normal(size=(80, 3))
    y = 2.0 * X[:, 0] - X[:, 1] + 0.1 * X[:, 2]
    regression = explain_table(X, "tabular.readable", {"model": "tree", "explained_rows": 10}, target=y)
    shown(qtbot, page, regression, 2)
    fitted = regression.extras["fitted"]
    plot = page.ice_plot
    assert regression.extras["task"] == "regression" and page.feature() == 0
    assert plot.plot_item.getAxis("left").labelText == fitted.output_name == "predicted target"
    naive = []
    for value in plot.grid:  # partial dependence by hand: every row with the feature set to the value
        changed = X.copy()
        changed[:, 0] = value
        naive.append(fitted.predict_output(changed).mean())
    assert np.allclose(plot.average, naive)


def test_a_newer_result_replaces_the_curves_of_an_older_one(qtbot, page, result):
    X = np.random.default_rng(4).normal(size=(60, 2)) * 10
    newer = explain_table(X, "tabular.readable", {"model": "tree", "explained_rows": 5}, target=(X[:, 1] > 0))
    page.show_result(result)
    page.show_result(newer)
    qtbot.waitUntil(lambda: page.ice_view is not None and not page.jobs.busy, timeout=15_000)
    qtbot.wait(50)
    feature = page.feature()
    assert page.ice_view.ice.data_range == (X[:, feature].min(), X[:, feature].max())
    assert np.array_equal(np.sort(page.ice_plot.rug_values), np.sort(X[:, feature]))


def test_a_constant_feature_is_explained_in_words_not_drawn(qtbot, page):
    X = np.random.default_rng(5).normal(size=(60, 3))
    X[:, 2] = 4.0
    constant = explain_table(X, "tabular.readable", {"model": "tree", "explained_rows": 5}, target=(X[:, 0] > 0))
    shown(qtbot, page, constant)
    page.feature_box.setCurrentIndex(2)
    qtbot.waitUntil(lambda: not page.jobs.busy and "same value" in page.ice_holder.message.text(), timeout=15_000)
    assert page.ice_holder.showing_message() and "4" in page.ice_holder.message.text()
    assert not page.save_button.isEnabled()
