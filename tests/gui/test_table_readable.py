"""The Readable model page shows the core's numbers: metrics, rules, tree, lasso path, EBM terms, votes, neighbours."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import norm

import xaidesk.tabular
from xaidesk.explain.table import explain_table
from xaidesk.gui.panels.table_readable import TableReadablePage
from xaidesk.gui.readable_jobs import WEAK_AUC, WEAK_R2, compare_models, form_settings, weak_fit_warning
from xaidesk.gui.runner import Runner
from xaidesk.gui.views.tree_drawing import PATH_COLOUR
from xaidesk.tabular import readable
from xaidesk.tabular.models import fit_table_model, list_table_models

xaidesk.tabular.load_builtin_methods()

#: Quick settings for the slow models (the form holds every model's settings; "Compare models" uses them).
QUICK = {"ebm_max_rounds": 60, "ebm_outer_bags": 1, "ebm_interactions": 2, "mlp_max_iter": 60, "mlp_hidden": 8,
         "lasso_folds": 3}


def _table(task: str = "classification"):
    X = np.random.default_rng(0).normal(size=(120, 4))
    if task == "classification":
        return X, (X[:, 0] + 0.5 * X[:, 1] + np.random.default_rng(2).normal(size=120) > 0).astype(int)
    return X, 3.0 * X[:, 0] - X[:, 1] + 0.1 * np.random.default_rng(1).normal(size=120)


_RESULTS: dict = {}


def result_of(model: str, task: str = "classification", **params):
    """A real ``tabular.readable`` result (cached per model, task and settings for the module)."""
    key = (model, task, tuple(sorted(params.items())))
    if key not in _RESULTS:
        X, y = _table(task)
        settings = {"model": model, "explained_rows": 8, "background_size": 20, **QUICK, **params}
        if model != "tree":
            settings.setdefault("shapley", "kernel")  # the exact explainer compiles for a long while on first use
        _RESULTS[key] = explain_table(X, "tabular.readable", settings, target=y)
    return _RESULTS[key]


@pytest.fixture
def page(qtbot):
    runner = Runner()
    shown = TableReadablePage(runner)
    qtbot.addWidget(shown)
    shown.resize(1200, 800)
    shown.show()
    yield shown
    shown.jobs.cancel()
    runner.shutdown()


def test_the_header_states_the_held_out_metrics(page):
    result = result_of("tree")
    fitted = result.extras["fitted"]
    page.show_result(result)
    assert page.metrics == fitted.metrics
    text = page.metrics_label.text()
    assert f"{len(fitted.held_out_rows)} held-out rows" in text
    assert f"{100 * fitted.metrics['accuracy']:.1f}%" in text
    assert f"{100 * fitted.metrics['balanced_accuracy']:.1f}%" in text
    assert f"AUC {fitted.metrics['roc_auc']:.3f}" in text
    assert "Decision tree" in page.title_label.text() and "probability of" in page.title_label.text()

    regression = result_of("tree", "regression")
    page.show_result(regression)
    m = regression.extras["fitted"].metrics
    text = page.metrics_label.text()
    assert page.metrics == m and f"{m['mae']:.4g}" in text and f"{m['rmse']:.4g}" in text
    assert f"R² {m['r2']:.3f}" in text


def test_the_tree_shows_one_rule_per_leaf_and_highlights_the_rows_path(page):
    result = result_of("tree", tree_max_depth=3, tree_min_samples_leaf=3)
    fitted = result.extras["fitted"]
    page.show_result(result)
    view = page.views["tree"]
    nodes = readable.tree_structure(fitted)
    leaves = [n.id for n in nodes if n.feature is None]
    assert view.rules_list.count() == len(leaves) == len(readable.tree_rules(fitted))
    assert sorted(view.rules_list.leaves) == sorted(leaves)
    assert sorted(view.drawing.boxes) == [n.id for n in nodes]
    assert page.plot_widget() is view.drawing

    seen_leaves = set()
    for position in range(0, 120, 7):
        page.set_row(position)
        x = fitted.X[position]
        leaf = readable.tree_leaf(fitted, x)
        seen_leaves.add(leaf)
        path = [s.node for s in readable.decision_path(fitted, x)] + [leaf]
        assert view.rules_list.highlighted_leaf == leaf
        rule = next(r for r in readable.tree_rules(fitted) if r.leaf == leaf)
        assert view.rules_list.highlighted_text().endswith(rule.text)
        assert view.drawing.highlighted == path
        lit = [n for n, box in view.drawing.boxes.items() if box.pen().color() == PATH_COLOUR]
        assert sorted(lit) == sorted(path)
        lit_edges = [e for e, line in view.drawing.edges.items() if line.pen().color() == PATH_COLOUR]
        assert sorted(lit_edges) == sorted(zip(path[:-1], path[1:]))
    assert len(seen_leaves) > 1  # the highlight really moves with the row

    root = nodes[0]
    question = view.drawing.texts[root.id][0]
    assert question.startswith(f"{root.feature} ≤ ")
    written = question.split("≤ ")[1].rstrip(" ?")
    assert any(f"{root.feature} <= {written}" in r.text for r in readable.tree_rules(fitted))


def test_a_deep_tree_is_drawn_at_a_readable_size(page):
    result = result_of("tree", tree_max_depth=5, tree_min_samples_leaf=1)
    page.show_result(result)
    drawing = page.views["tree"].drawing
    assert len(drawing.boxes) == len(readable.tree_structure(result.extras["fitted"]))
    assert drawing.transform().m11() >= 0.8 - 1e-9
    rects = [box.rect() for box in drawing.boxes.values()]
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])
    page.set_row(0)
    leaf = drawing.boxes[drawing.highlighted[-1]]
    assert drawing.viewport().rect().contains(drawing.mapFromScene(leaf.sceneBoundingRect()).boundingRect())
    drawing.show_whole()
    assert drawing.viewport().rect().adjusted(-2, -2, 2, 2).contains(
        drawing.mapFromScene(drawing.scene().sceneRect()).boundingRect())
    drawing.zoom_to_fit()
    assert drawing.transform().m11() >= 0.8 - 1e-9


def test_the_linear_views_show_the_weights_and_the_lasso_path_with_the_chosen_lambda(page, qtbot):
    result = result_of("lasso")
    fitted = result.extras["fitted"]
    page.show_result(result)
    view = page.views["linear"]
    c = readable.coefficients(fitted)
    assert np.allclose(view.bars.values, c.standardised[view.order])
    assert list(np.abs(view.bars.values)) == sorted(np.abs(c.standardised), reverse=True)
    qtbot.waitUntil(lambda: view.path is not None, timeout=20_000)
    expected = readable.lasso_path(fitted.X[fitted.train_rows], fitted.y[fitted.train_rows], "classification",
                                   positive=fitted.positive)
    assert list(view.path_plot.curves) == fitted.feature_names
    for j, name in enumerate(fitted.feature_names):
        lambdas, weights = view.path_plot.curves[name]
        assert np.allclose(lambdas, expected.lambdas)
        assert np.allclose(weights, expected.coefs[:, j], rtol=1e-3, atol=1e-3)  # saga samples at random
    assert view.path_plot.marker == pytest.approx(1.0 / (np.ravel(fitted.final.C_)[0] * len(fitted.train_rows)))
    assert view.path_plot.marker == readable.lasso_lambda(fitted)
    assert page.plot_widget() is view.path_plot

    logistic = result_of("logistic")
    page.show_result(logistic)
    assert not view.path_area.isVisibleTo(view) and page.plot_widget() is view.bars
    assert np.allclose(view.bars.values, readable.coefficients(logistic.extras["fitted"]).standardised[view.order])


def test_a_lasso_path_that_cannot_be_drawn_says_why_in_its_place(page, qtbot):
    X, y = _table("regression")
    X = np.column_stack([X, np.ones(len(X))])  # a constant column: the model fits, the path refuses it
    result = explain_table(X, "tabular.readable", {"model": "lasso", "explained_rows": 4, "background_size": 10,
                                                   "shapley": "kernel", **QUICK}, target=y)
    page.show_result(result)
    view = page.views["linear"]
    qtbot.waitUntil(lambda: not page.jobs.busy, timeout=10_000)
    assert view.path is None and view.path_area.showing_message()
    assert "could not be drawn" in view.path_area.message.text() and "constant" in view.path_area.message.text()
    assert page.plot_widget() is view.bars


def test_a_tree_without_a_question_is_one_rule_and_one_box(page):
    result = result_of("tree", tree_min_samples_leaf=80)
    fitted = result.extras["fitted"]
    page.show_result(result)
    page.set_row(5)
    view = page.views["tree"]
    assert view.rules_list.count() == 1 and list(view.drawing.boxes) == [0] and view.drawing.highlighted == [0]
    assert view.rules_list.highlighted_text().endswith(readable.tree_rules(fitted)[0].text)
    assert "no question" in view.sentence.text()


def test_naive_bayes_bars_are_each_columns_log_likelihood_vote(page):
    result = result_of("naive_bayes")
    fitted = result.extras["fitted"]
    page.show_result(result)
    view = page.views["naive_bayes"]
    for position in (3, 50):
        page.set_row(position)
        x = fitted.X[position]
        expected = readable.naive_bayes_contributions(fitted, x)
        assert np.allclose(view.bars.values, expected.contributions[0])
        nb, c = fitted.final, fitted.positive
        other = 1 - c
        naive = (norm.logpdf(x, nb.theta_[c], np.sqrt(nb.var_[c]))
                 - norm.logpdf(x, nb.theta_[other], np.sqrt(nb.var_[other])))
        assert np.allclose(view.bars.values, naive)
        assert f"(the model says {fitted.predict_output(x)[0]:.3f})" in view.sentence.text()
        assert f"adds {float(expected.prior_log_ratio[0]):+.3g}" in view.sentence.text()


def test_knn_lists_the_neighbours_behind_the_prediction(page):
    result = result_of("knn")
    fitted = result.extras["fitted"]
    page.show_result(result)
    view = page.views["knn"]
    position = 11
    page.set_row(position)
    found = readable.neighbours(fitted, fitted.X[position])
    scaler = fitted.estimator[0]
    distances = np.linalg.norm(scaler.transform(fitted.X[fitted.train_rows]) - scaler.transform(fitted.X[[position]]),
                               axis=1)
    nearest = fitted.train_rows[np.argsort(distances, kind="stable")[:fitted.final.n_neighbors]]
    cells = view.table.cells
    assert len(cells) == 1 + len(found.rows) == 1 + fitted.final.n_neighbors
    assert cells[0][0] == f"{result.row_ids[position]} (selected)"
    assert [row[0] for row in cells[1:]] == [int(result.row_ids[r]) for r in found.rows] == \
        [int(result.row_ids[r]) for r in nearest]
    assert np.allclose([row[1] for row in cells[1:]], np.sort(distances)[:len(nearest)])
    assert [row[2] for row in cells[1:]] == [fitted.class_names[int(t)] for t in found.targets]
    assert np.allclose([row[3:] for row in cells[1:]], fitted.X[found.rows])
    assert f"probability of {fitted.predict_output(fitted.X[[position]])[0]:.3f}" in view.sentence.text()
    assert view.table.rowCount() == len(cells)


def test_the_ebm_lists_its_terms_by_importance_and_draws_shapes_and_pairs(page):
    result = result_of("ebm")
    fitted = result.extras["fitted"]
    page.show_result(result)
    page.set_row(4)
    view = page.views["ebm"]
    shapes = readable.ebm_shapes(fitted)
    assert view.picker.count() == len(shapes.terms)
    importances = [shapes.terms[t].importance for t in view.order]
    assert importances == sorted(importances, reverse=True)
    first = shapes.terms[view.order[0]]
    assert not first.is_pair and page.plot_widget() is view.shape_plot
    assert np.allclose(view.shape_plot.scores, first.scores) and np.allclose(view.shape_plot.edges, first.edges[0])
    assert view.shape_plot.marker == fitted.X[4, first.columns[0]]
    pair_index = next(i for i, t in enumerate(view.order) if shapes.terms[t].is_pair)
    view.picker.setCurrentIndex(pair_index)
    pair = shapes.terms[view.order[pair_index]]
    assert page.plot_widget() is view.pair_plot and np.allclose(view.pair_plot.scores, pair.scores)
    assert view.pair_plot.marker == tuple(fitted.X[4, pair.columns])
    score = readable.ebm_term_contributions(fitted, fitted.X[4])[0][0, view.order[pair_index]]
    assert f"{score:+.3g} from this term" in view.sentence.text()


def test_compare_lists_every_model_for_the_task_with_its_held_out_accuracy(page, qtbot):
    result = result_of("tree")
    fitted = result.extras["fitted"]
    page.show_result(result)
    assert not page.compare_table.isVisibleTo(page)
    page.compare_button.click()
    qtbot.waitUntil(lambda: page.compared != [], timeout=25_000)
    table = page.compare_table
    models = list_table_models("classification")
    assert table.isVisibleTo(page) and table.rowCount() == len(models)
    assert sorted(table.shown_titles()) == sorted(m.title for m in models)
    for row in page.compared:
        assert row.error == ""
    by_name = {row.name: row for row in page.compared}
    assert by_name["tree"].metrics == fitted.metrics and by_name["tree"].current
    X, y = _table()
    logistic = fit_table_model("logistic", X, y, fitted.feature_names, held_out=0.25, seed=0)
    assert by_name["logistic"].metrics == pytest.approx(logistic.metrics)
    shown = {table.shown_titles()[r]: table.item(r, 1).text() for r in range(table.rowCount())}
    assert shown["Logistic regression"] == f"{100 * logistic.metrics['accuracy']:.1f}%"
    assert [table.item(r, 4).text() for r in range(table.rowCount())].count("if-then rules") == 1
    table.sortItems(3)  # AUC, ascending
    aucs = [table.item(r, 3).value for r in range(table.rowCount())]
    assert aucs == sorted(aucs)


def test_compare_models_keeps_the_split_and_reports_a_model_that_cannot_fit():
    result = result_of("tree", "regression")
    fitted = result.extras["fitted"]
    rows = compare_models(fitted, 0.25, 0, form_settings(result.params), progress=lambda *_: None)
    assert [r.name for r in rows] == [m.name for m in list_table_models("regression")]
    assert all(set(r.metrics) == {"mae", "rmse", "r2"} for r in rows)
    X, y = _table("regression")
    knn = fit_table_model("knn", X, y, fitted.feature_names, task="regression", held_out=0.25, seed=0)
    assert next(r for r in rows if r.name == "knn").metrics == pytest.approx(knn.metrics)
    assert all(np.array_equal(fit_table_model(r.name, X, y, fitted.feature_names, task="regression",
                                              held_out=0.25, seed=0).held_out_rows, fitted.held_out_rows)
               for r in rows if r.name in ("linear", "knn"))

    too_many = form_settings(result.params)
    too_many["knn"]["k"] = 200  # more neighbours than fitting rows
    rows = compare_models(fitted, 0.25, 0, too_many)
    failed = next(r for r in rows if r.name == "knn")
    assert failed.error and failed.metrics == {}
    assert all(not r.error and r.metrics for r in rows if r.name != "knn")


def test_without_a_fitted_model_the_page_shows_its_placeholder(page):
    result = result_of("tree")
    bare = replace(result, extras={k: v for k, v in result.extras.items() if k != "fitted"})
    page.show_result(result)
    page.show_result(bare)
    assert page.body.showing_message() and "Nothing to show yet" in page.body.message.text()
    assert page.plot_widget() is page.body and not page.compare_button.isEnabled()
    assert page.views["tree"].drawing.boxes == {}
    page.set_row(3)  # no model: nothing to follow, no error


def test_switching_from_a_tree_to_a_network_leaves_no_stale_drawing(page, qtbot):
    page.show_result(result_of("tree"))
    page.set_row(2)
    assert page.views["tree"].drawing.boxes
    page.show_result(result_of("mlp"))
    tree = page.views["tree"]
    assert tree.drawing.boxes == {} and tree.drawing.scene().items() == [] and tree.rules_list.count() == 0
    assert page.body.showing_message() and "not readable by itself" in page.body.message.text()
    assert page.plot_widget() is page.body and page.compare_button.isEnabled()
    page.clear()
    assert page.body.showing_message() and page.title_label.text() == ""


def test_a_cancelled_comparison_shows_nothing_and_a_new_result_drops_a_running_one(page, qtbot):
    page.show_result(result_of("tree"))
    page.compare()
    page.jobs.cancel()
    qtbot.waitUntil(lambda: not page.jobs.busy, timeout=25_000)
    assert page.compared == [] and not page.compare_table.isVisibleTo(page)
    page.compare()
    page.show_result(result_of("naive_bayes"))
    qtbot.waitUntil(lambda: not page.jobs.busy, timeout=25_000)
    qtbot.wait(50)
    assert page.compared == [] and not page.compare_table.isVisibleTo(page)


def _noise_result(task: str):
    """A linear model fitted to a target that is pure noise: its held-out fit is no better than a guess."""
    X = np.random.default_rng(0).normal(size=(200, 3))
    noise = np.random.default_rng(5).normal(size=200)
    y = (noise > 0).astype(int) if task == "classification" else noise
    model = "logistic" if task == "classification" else "linear"
    return explain_table(X, "tabular.readable", {"model": model, "explained_rows": 4, "background_size": 10,
                                                 "shapley": "kernel"}, target=y)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_a_model_no_better_than_a_guess_gets_an_orange_warning(page, task):
    weak = _noise_result(task).extras["fitted"]
    m = weak.metrics
    if task == "regression":
        assert m["r2"] <= WEAK_R2
        measured = f"R² {m['r2']:.2f}".replace("-", "\u2212")
    else:
        assert m["roc_auc"] <= WEAK_AUC
        measured = f"AUC {m['roc_auc']:.2f}"
    warning = weak_fit_warning(weak)
    assert warning.startswith(f"This model predicts the held-out rows no better than a guess ({measured}")
    assert "describe what it does, not why" in warning
    page.show_result(_noise_result(task))
    assert page.warning_label.isVisible() and page.warning_label.text() == warning
    assert "#c05a00" in page.warning_label.styleSheet()
    good = result_of("tree", task)  # a target the features explain: no warning
    assert weak_fit_warning(good.extras["fitted"]) == ""
    page.show_result(good)
    assert not page.warning_label.isVisible() and page.warning_label.text() == ""


def test_the_weak_fit_rule_reads_the_balanced_accuracy_without_an_auc_and_stops_at_its_thresholds():
    fitted = result_of("tree").extras["fitted"]

    def warning(**metrics):
        return weak_fit_warning(replace(fitted, metrics=metrics))

    assert warning(roc_auc=0.55) and not warning(roc_auc=0.56)
    assert warning(balanced_accuracy=0.52) and not warning(balanced_accuracy=0.53)  # 2 classes: a guess is 50%
    assert "guessing among 2 classes gets 50%" in warning(balanced_accuracy=0.5)
    three = replace(fitted, class_names=["a", "b", "c"])
    assert weak_fit_warning(replace(three, metrics={"balanced_accuracy": 0.35})) != ""
    assert weak_fit_warning(replace(three, metrics={"balanced_accuracy": 0.36})) == ""
    assert warning(roc_auc=float("nan"), balanced_accuracy=0.9) == ""
    regression = result_of("tree", "regression").extras["fitted"]
    assert weak_fit_warning(replace(regression, metrics={"r2": 0.05})) != ""
    assert weak_fit_warning(replace(regression, metrics={"r2": 0.06})) == ""
    assert "R² \u22120.04" in weak_fit_warning(replace(regression, metrics={"r2": -0.04}))


