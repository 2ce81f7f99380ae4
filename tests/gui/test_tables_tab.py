"""The Tables workflow: open a table, check roles, run NEON, look at the views, fail gracefully."""

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

WHOLESALE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "wholesale_customers.csv"
SPENDING = ["Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen"]

needs_wholesale = pytest.mark.skipif(
    not WHOLESALE.exists(), reason=f"the Wholesale customers table is not at {WHOLESALE.resolve()}"
)



def _open(qtbot, tab, path):
    before = tab.table
    tab.open_table(path)
    qtbot.waitUntil(lambda: not tab.is_job_running("load"), timeout=10_000)
    return tab.table is not before


def _run(qtbot, tab, method, **params):
    assert tab.select_method(method)
    for name, value in params.items():
        if name in ("theta", "standardize"):
            continue
        tab.param_form.set_value(name, value)
    if "theta" in params:
        tab.preprocess_view.set_theta(None, str(params["theta"]))
    if "standardize" in params:
        tab.preprocess_view.standardize_check.setChecked(bool(params["standardize"]))
    previous = tab.result
    job = tab.run_analysis()
    assert job is not None
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=30_000)
    assert tab.result is not previous, tab.run_status.text()
    return tab.result


@needs_wholesale
def test_wholesale_outliers_end_to_end(qtbot, tables_window, error_dialogs, tmp_path):
    window, tab = tables_window
    assert "Tables" in [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert _open(qtbot, tab, WHOLESALE)
    table = tab.table
    assert table.n_rows == 440
    assert table.roles["Channel"] == "metadata" and table.roles["Region"] == "metadata"
    assert all(table.roles[c] == "feature" for c in SPENDING)
    # the role editor shows the guesses, with the reason as tooltip
    combo = tab.data_view.role_combo("Channel")
    assert combo.currentData() == "metadata" and "category" in combo.toolTip()
    assert "comma-separated" in tab.data_view.read_label.text()
    assert tab.data_view.preview_model.rowCount() == 200 and tab.data_view.preview_model.columnCount() == 8

    # preprocessing preview: the JB table marks the chosen θ, histograms before and after
    tab.preprocess_view.set_theta(None, "auto")
    qtbot.waitUntil(lambda: tab.preprocess_view.preview is not None and tab.preprocess_view.preview.theta.get("Grocery") is not None, timeout=10_000)
    assert tab.preprocess_view.jb_table.columnCount() == 6
    marked = [tab.preprocess_view.jb_table.item(r, c) for r in range(tab.preprocess_view.jb_table.rowCount()) for c in range(tab.preprocess_view.jb_table.columnCount())
              if tab.preprocess_view.jb_table.item(r, c) is not None and "used" in tab.preprocess_view.jb_table.item(r, c).text()]
    assert len(marked) == 6  # one chosen θ per column
    assert tab.preprocess_view.before_plot.counts.sum() == 440 and tab.preprocess_view.after_plot.counts.sum() == 440

    result = _run(qtbot, tab, "neon.knn", gamma="1", theta=100, standardize=False)
    assert error_dialogs == []
    assert result.theta == {c: 100.0 for c in SPENDING}
    assert tab.ranking_view.ranked_row_ids()[:2] == [183, 338]
    # the first row is selected: its bars sum to its score (relevance is conserved)
    tab.ranking_view.select_row(1)
    position = result.position_of(338)
    assert tab.ranking_view.row_bars.names == SPENDING
    assert tab.ranking_view.row_bars.values.sum() == pytest.approx(result.scores[position], rel=1e-6)
    assert tab.ranking_view.row_values.rowCount() == 6
    assert tab.ranking_view.row_values.item(0, 1).text() != ""
    # sorting by the score column ascending puts the most ordinary row first
    tab.ranking_view.ranked_view.sortByColumn(2, tab.ranking_view.ranked_view.horizontalHeader().sortIndicatorOrder().AscendingOrder)
    assert tab.ranking_view.ranked_row_ids()[-2:] == [338, 183]

    # heat map of the top-N rows
    tab.heatmap_view.top_n_spin.setValue(10)
    assert tab.heatmap_view.heatmap.matrix.shape == (10, 6)
    assert tab.heatmap_view.heatmap.row_ids[:2] == [183, 338]
    assert np.allclose(np.abs(tab.heatmap_view.heatmap.matrix).sum(axis=1), 1.0)

    # box plots by Channel: two boxes
    tab.groups_view.group_combo.setCurrentIndex(tab.groups_view.group_combo.findText("Channel"))
    assert [b.label for b in tab.groups_view.box_plot.boxes] == ["1", "2"]
    assert sum(b.count for b in tab.groups_view.box_plot.boxes) == 440

    # global view: mean |relevance| per feature
    assert tab.global_view.bars.values == pytest.approx(np.abs(result.relevance).mean(axis=0))

    # export: the same files as the CLI
    out = tab.export_results(tmp_path / "out")
    assert (out / "scores.csv").read_text().splitlines()[0] == "row,score"
    assert json.loads((out / "summary.json").read_text())["method"] == "neon.knn"
    tab.views.setCurrentIndex(3)
    png = tab.save_plot(tmp_path / "heat.png")
    assert png.stat().st_size > 0


@needs_wholesale
def test_gamma_auto_shows_the_bootstrap_curve(qtbot, tables_window):
    _, tab = tables_window
    assert _open(qtbot, tab, WHOLESALE)
    result = _run(qtbot, tab, "neon.knn", gamma="auto", theta=100)
    selection = result.extras["gamma_selection"]
    assert "mean score" in tab.gamma_view.plot.curves
    assert tab.gamma_view.plot.marker == pytest.approx(selection["chosen"])
    assert tab.gamma_view.separation_table.rowCount() == len(selection["gammas"])


@needs_wholesale
def test_kmeans_shows_k_helper_and_cluster_bars(qtbot, tables_window):
    _, tab = tables_window
    assert _open(qtbot, tab, WHOLESALE)
    result = _run(qtbot, tab, "neon.kmeans", clusters=0, theta=100)
    choice = result.extras["k_choice"]
    assert tab.clusters_view.silhouette_plot.marker == choice["suggested"]
    assert tab.clusters_view.cluster_combo.count() == result.extras["clusters"]
    assert tab.clusters_view.cluster_bars.values == pytest.approx(result.extras["cluster_relevance"][0])


@needs_wholesale
def test_bad_csv_keeps_the_previous_table(qtbot, tables_window, error_dialogs, tmp_path):
    _, tab = tables_window
    assert _open(qtbot, tab, WHOLESALE)
    bad = tmp_path / "header_only.csv"
    bad.write_text("a,b,c\n")
    assert not _open(qtbot, tab, bad)
    assert len(error_dialogs) == 1
    title, message = error_dialogs[0]
    assert title == "Could not open the table" and "header" in message.lower()
    assert tab.table.path == WHOLESALE and tab.data_view.preview_model.rowCount() == 200


def test_not_utf8_asks_to_read_as_latin1(qtbot, tables_window, monkeypatch, tmp_path):
    from xaidesk.gui.widgets import error_dialog

    _, tab = tables_window
    asked = []
    monkeypatch.setattr(error_dialog, "confirm", lambda *args, **kwargs: asked.append(args) or True)
    path = tmp_path / "latin.csv"
    path.write_bytes("Größe,Wert\n1,2\n3,4\n5,7\n".encode("latin-1"))
    tab.open_table(path)
    qtbot.waitUntil(lambda: tab.table is not None, timeout=10_000)
    assert asked and tab.table.settings.encoding == "latin-1"
    assert tab.table.columns[0] == "Größe"


def test_issues_are_listed_with_choices(qtbot, tables_window, tmp_path):
    _, tab = tables_window
    path = tmp_path / "gaps.csv"
    path.write_text("a,b,c\n1,2,5\n2,,5\n3,4,5\n4,5,5\n1,2,5\n")
    assert _open(qtbot, tab, path)
    keys = {i.key for i in tab.data_view.issues}
    assert {"missing:b", "constant:c", "duplicates"} <= keys
    combo = tab.data_view.issue_combo("missing:b")
    assert combo.currentData() == "drop_rows"
    combo.setCurrentIndex(combo.findData("impute_median"))
    assert tab.data_view.choices["missing:b"] == "impute_median"
    tab.update_preview()
    qtbot.waitUntil(lambda: not tab.is_job_running("preview"), timeout=10_000)
    assert tab.preprocess_view.preview.rows == 5
    assert any("median" in n for n in tab.preprocess_view.preview.notices)


@needs_wholesale
def test_supervised_linear_shows_the_intercept_apart(qtbot, tables_window, error_dialogs):
    _, tab = tables_window
    assert _open(qtbot, tab, WHOLESALE)
    assert tab.select_method("supervised.linear")
    assert tab.run_analysis() is None  # no target yet: a clear message, no run
    assert error_dialogs and "target" in error_dialogs[-1][1]
    tab.data_view.role_combo("Grocery").setCurrentIndex(tab.data_view.role_combo("Grocery").findData("target"))
    assert tab.target_column() == "Grocery"
    result = _run(qtbot, tab, "supervised.linear", model="ridge")
    intercept = result.extras["intercept"]
    assert "Grocery" not in result.feature_names and len(result.feature_names) == 5
    assert "Intercept" in tab.model_view.intercept_label.text()
    tab.ranking_view.select_row(0)
    position = tab.ranking_view.ranked_model.position(0)
    # the bars are w_i x_i only; bars + intercept = prediction
    assert tab.ranking_view.row_bars.values.sum() + intercept == pytest.approx(result.scores[position], rel=1e-9)
    assert "intercept" in tab.ranking_view.row_note.text()
    assert "validation" in tab.model_view.metrics_label.text()


@needs_wholesale
def test_mlp_trains_in_the_background_and_can_be_cancelled(qtbot, tables_window):
    window, tab = tables_window
    assert _open(qtbot, tab, WHOLESALE)
    tab.data_view.role_combo("Channel").setCurrentIndex(tab.data_view.role_combo("Channel").findData("target"))
    result = _run(qtbot, tab, "supervised.mlp_lrp", epochs=30)
    assert "training loss" in tab.model_view.history_plot.curves
    assert "accuracy" in tab.model_view.metrics_label.text()
    # a long run is cancelled: the previous result stays
    tab.param_form.set_value("epochs", 100000)
    job = tab.run_analysis()
    assert job is not None and tab.cancel_button.isEnabled()
    qtbot.wait(200)
    tab.cancel_run()
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=5_000)
    assert tab.result is result and "Cancelled" in window.status_text()
    qtbot.waitUntil(lambda: not tab.runner.is_busy("table_run"), timeout=10_000)


def test_example_table_opens_and_its_outliers_are_explained(qtbot, tables_window):
    window, tab = tables_window
    tab.open_example()
    qtbot.waitUntil(lambda: not tab.is_job_running("load") and tab.table is not None, timeout=10_000)
    assert tab.table.path.name == "wine.csv"
    assert tab.table.roles["cultivar"] == "metadata"
    result = _run(qtbot, tab, "neon.knn", theta="none", standardize=True)
    assert len(result.scores) == 178
    row = int(result.ranking()[0])
    assert result.relevance[row].sum() + result.absorbed[row] == pytest.approx(result.scores[row], rel=1e-6)


def test_a_new_table_clears_every_result_view(qtbot, tables_window):
    _, tab = tables_window
    tab.open_example()
    qtbot.waitUntil(lambda: not tab.is_job_running("load") and tab.table is not None, timeout=10_000)
    _run(qtbot, tab, "neon.kmeans", clusters=3, theta="none")
    assert tab.clusters_view.cluster_combo.count() == 3
    assert tab.clusters_view.placeholder.currentWidget() is tab.clusters_view.placeholder.content
    first = tab.table
    tab.open_example()
    qtbot.waitUntil(lambda: not tab.is_job_running("load") and tab.table is not first, timeout=10_000)
    assert tab.result is None
    assert tab.ranking_view.row_bars.names == [] and tab.ranking_view.row_bars.title == ""
    assert tab.clusters_view.cluster_combo.count() == 0
    assert tab.clusters_view.placeholder.currentWidget() is tab.clusters_view.placeholder.message
    assert tab.gamma_view.placeholder.currentWidget() is tab.gamma_view.placeholder.message
    assert tab.gamma_view.separation_table.rowCount() == 0


def test_faithfulness_compares_table_analyses_with_the_tab_preprocessing(qtbot, tables_window):
    from xaidesk.evaluate import table_faithfulness
    from xaidesk.gui import table_jobs

    window, tab = tables_window
    tab.open_example()
    qtbot.waitUntil(lambda: tab.table is not None and not tab.is_job_running("load"), timeout=10_000)
    dialog = tab.open_faithfulness()
    panel = dialog.panel
    names = [panel.method_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(panel.method_list.count())]
    assert "neon.knn" in names and "neon.kmeans" in names
    assert not panel.patch_spin.isVisible()  # tables remove one feature per step
    panel.set_checked(["neon.knn", "neon.kmeans"])
    panel.steps_spin.setValue(5)
    with qtbot.waitSignal(panel.evaluated, timeout=60_000) as blocker:
        assert panel.evaluate() is not None
    results = blocker.args[0]
    assert [r.method for r in results] == ["neon.knn", "neon.kmeans"]
    assert panel.table.rowCount() == 2
    # the same curve as evaluating the tab's own analysis directly
    roles, choices, theta, overrides, standardize = tab._current_settings()
    analysed = table_jobs.run_analysis(tab.table, roles, choices, "neon.knn", {}, theta, overrides, standardize)
    direct = table_faithfulness(analysed, panel.settings().checked())
    assert np.allclose(results[0].curves["morf"], direct.curves["morf"])
    # a faithful outlier explanation: removing the most relevant features first lowers the score fastest
    assert results[0].aopc("morf") > results[0].aopc("random") > results[0].aopc("lerf")
    dialog.close()


def _money_table(tmp_path, rows: int = 30):
    rng = np.random.default_rng(3)
    spend = rng.lognormal(9.0, 0.6, size=(rows, 3)) + 0.5
    path = tmp_path / "spend.csv"
    path.write_text("Fresh,Milk,Grocery\n" + "\n".join(",".join(f"{v:.1f}" for v in r) for r in spend) + "\n")
    return path


def test_ranking_keeps_the_scores_on_screen_and_writes_money_plainly(qtbot, tables_window, error_dialogs, tmp_path):
    _, tab = tables_window
    from xaidesk.gui.views.table_items import table_number

    assert _open(qtbot, tab, _money_table(tmp_path))
    result = _run(qtbot, tab, "neon.knn", gamma="auto", theta="none")
    assert error_dialogs == []
    header = tab.ranking_view.ranked_model.headerData(2, Qt.Orientation.Horizontal)
    assert header == "Score"  # the long score label pushed the numbers out of view
    assert tab.ranking_view.ranked_model.headerData(2, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) == result.score_label
    tab.ranking_view.select_row(0)
    raw = tab.ranking_view.row_values.item(0, 1).text()
    assert "e+" not in raw and "," in raw  # 12,669.5, not 1.267e+04
    # the γ curve is labelled at its grid points only, not with piles of log-axis minor ticks
    gammas = result.extras["gamma_selection"]["gammas"]
    assert tab.gamma_view.plot.tick_labels == [table_number(g) for g in gammas]


def test_heatmap_colours_follow_the_sign_and_say_what_they_mean(qtbot):
    from xaidesk.gui.views.table_views import RelevanceHeatmap

    heatmap = RelevanceHeatmap()
    qtbot.addWidget(heatmap)
    names = ["a very long feature name", "another long feature name", "short"]
    heatmap.set_matrix(np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]]), names, [7, 3], score="outlier score")
    assert heatmap.levels == (0.0, pytest.approx(0.6))  # not -0.6 … 0.6 when nothing is negative
    assert "raises the outlier score" in heatmap.meaning and "lowers" not in heatmap.meaning
    # feature names run down the left axis (one line each), so they cannot overlap
    ticks = heatmap.plot_item.getAxis("left")._tickLevels[0]
    assert [label for _, label in ticks] == names
    heatmap.set_matrix(np.array([[0.5, -0.5, 0.0], [0.2, 0.3, -0.5]]), names, [7, 3], score="outlier score")
    assert heatmap.levels == (-0.5, 0.5)
    assert "lowers" in heatmap.meaning


def test_small_values_on_plot_axes_are_written_out(qtbot):
    from xaidesk.gui.views.table_views import CurvePlot

    plot = CurvePlot("Mean silhouette")
    qtbot.addWidget(plot)
    plot.reset("Mean silhouette", x_label="k", y_label="silhouette")
    plot.add_curve("silhouette", [2, 3, 4], [0.0011, 0.0013, 0.0012])
    plot.plot_item.setYRange(0.001, 0.0014)
    qtbot.wait(20)
    axis = plot.plot_item.getAxis("left")
    assert "x0.001" not in axis.labelString()
    assert axis.tickStrings([0.0011], axis.autoSIPrefixScale * axis.scale, 0.0001) == ["0.0011"]
    assert plot.tick_labels == ["2", "3", "4"]


def test_table_numbers_use_thousands_separators():
    from xaidesk.gui.views.table_items import table_number

    assert table_number(12669.5) == "12,669.5"
    assert table_number(1234567.0) == "1,234,567"
    assert table_number(0.25) == "0.25"
    assert table_number(float("nan")) == "–"


def test_three_row_table_shows_unrated_separation(qtbot, tables_window, error_dialogs, tmp_path):
    _, tab = tables_window
    path = tmp_path / "three.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,7\n7,9,9\n")
    assert _open(qtbot, tab, path)
    _run(qtbot, tab, "neon.knn", gamma="auto", theta="none")
    assert error_dialogs == []
    item = tab.gamma_view.separation_table.item(0, 3)
    assert item.text() == "–" and "too few" in item.toolTip()


def test_repeated_column_names_are_listed_under_the_problems(qtbot, tables_window, tmp_path):
    _, tab = tables_window
    path = tmp_path / "repeated.csv"
    path.write_text("a,a,b\n" + "\n".join(f"{i},{i * i % 7},{i % 5 + 0.5}" for i in range(12)) + "\n")
    assert _open(qtbot, tab, path)
    assert tab.table.columns == ["a", "a (2)", "b"]  # not pandas' silent 'a.1'
    qtbot.waitUntil(lambda: "appears more than once" in tab.data_view.notices_label.text(), timeout=10_000)


def test_views_say_what_fills_them_and_results_are_worded_plainly(qtbot, tables_window):
    from xaidesk.core import get_method

    _, tab = tables_window
    assert tab.clusters_view.placeholder.showing_message() and "press Run" in tab.clusters_view.placeholder.message.text()
    assert tab.gamma_view.placeholder.showing_message() and "'Automatic'" in tab.gamma_view.placeholder.message.text()
    assert "'auto'" not in tab.gamma_view.placeholder.message.text() and tab.gamma_view.note.text() == ""  # said once
    tab.open_example()
    qtbot.waitUntil(lambda: not tab.is_job_running("load") and tab.table is not None, timeout=10_000)
    _run(qtbot, tab, "neon.knn", gamma="auto", theta="auto")
    title = tab.ranking_view.title.text()
    assert "178 rows, highest" in title and "θ" not in title and "γ" not in title and "alcohol" not in title
    assert tab.ranking_view.details.isHidden() and tab.ranking_view.details_button.isVisibleTo(tab)
    tab.ranking_view.details_button.click()
    assert tab.ranking_view.details.isVisibleTo(tab)
    details = tab.ranking_view.details.text()
    assert "Stiffness γ = " in details and "log(x + θ)" in details and "alcohol" in details
    assert not tab.gamma_view.placeholder.showing_message() and tab.clusters_view.placeholder.showing_message()
    assert "standard deviation" not in tab.gamma_view.note.text() and "steady" in tab.gamma_view.note.text()
    headers = [tab.gamma_view.separation_table.horizontalHeaderItem(c) for c in range(tab.gamma_view.separation_table.columnCount())]
    assert not any("Calinski" in h.text() or "Dunn" in h.text() for h in headers)
    assert "Calinski–Harabasz" in headers[3].toolTip() and "Dunn" in headers[4].toolTip()
    _run(qtbot, tab, "neon.kmeans", clusters=3)
    assert not tab.clusters_view.placeholder.showing_message() and tab.clusters_view.cluster_combo.count() == 3

    combo = tab.method_combo
    full = get_method("neon.knn").title
    assert tab.select_method("neon.knn") and combo.currentText() == full
    combo.setFixedWidth(140)
    qtbot.wait(10)
    assert combo.shown_text().endswith("…") and len(combo.shown_text()) < len(full)
    assert combo.toolTip().startswith(full)


def test_tiny_table_numbers_are_written_without_e_notation():
    from xaidesk.gui.views.table_items import table_number

    assert table_number(2.379e-05) == "0.0000238"
    assert table_number(-3.2e-9) == "-3.2 × 10⁻⁹"
    assert table_number(12669.5) == "12,669.5"
    assert "e" not in table_number(4.2e17)


def test_log_offset_reads_automatic_and_none_but_keeps_its_words(qtbot, tables_window):
    _window, tab = tables_window
    edit = tab.preprocess_view.theta_edit
    assert edit.currentText() == "Automatic" and edit.text() == "auto"
    tab.preprocess_view.set_theta(None, "none")
    assert edit.currentText() == "No log transform" and edit.text() == "none"
    tab.preprocess_view.set_theta(None, "0.5")
    assert edit.currentText() == "0.5" and edit.text() == "0.5"
    assert [edit.itemText(i) for i in range(edit.count())] == ["Automatic", "No log transform"]


def test_example_numbers_are_plain_and_said_once(qtbot, tables_window):
    """The Preprocessing grid writes p and θ without e-notation and explains JB; "Done" is said only in the
    status bar; the Model view says what fills it; marks are labelled in the title, off the curves."""
    import re

    from xaidesk.gui.panels.table_prepare import JB_TOOLTIP

    window, tab = tables_window
    assert tab.model_view.placeholder.showing_message() and "target" in tab.model_view.placeholder.message.text()
    assert tab.model_view.note.text() == ""
    tab.open_example()
    qtbot.waitUntil(lambda: not tab.is_job_running("load") and tab.table is not None, timeout=10_000)
    qtbot.waitUntil(lambda: tab.preprocess_view.jb_table.rowCount() > 1, timeout=20_000)
    grid = tab.preprocess_view.jb_table
    texts = [grid.item(r, c).text() for r in range(grid.rowCount()) for c in range(grid.columnCount())
             if grid.item(r, c) is not None]
    texts += [grid.verticalHeaderItem(r).text() for r in range(grid.rowCount())]
    assert texts and not [t for t in texts if re.search(r"\de[-+]?\d", t)]
    assert not [t for t in texts if t.startswith("JB")]
    assert "θ = 0.00001" in texts
    assert "Bell-curve misfit (JB)" in tab.preprocess_view.jb_heading.text()
    assert "Jarque–Bera" in JB_TOOLTIP and JB_TOOLTIP in grid.horizontalHeaderItem(0).toolTip()

    _run(qtbot, tab, "neon.knn", gamma="auto", theta="auto")
    assert tab.run_status.text() == "" and " in " in window.status_text()
    assert tab.gamma_view.plot.mark_line is not None and getattr(tab.gamma_view.plot.mark_line, "label", None) is None
    assert tab.gamma_view.plot.mark_text.startswith("chosen γ = ")
    assert tab.gamma_view.plot.mark_text in tab.gamma_view.plot.plot_item.titleLabel.text
    assert "e-" not in tab.gamma_view.plot.mark_text
    assert tab.model_view.placeholder.showing_message()
    _run(qtbot, tab, "neon.kmeans", clusters=0)
    plot = tab.clusters_view.silhouette_plot
    assert getattr(plot.mark_line, "label", None) is None and plot.mark_text.startswith("suggested k = ")
    assert plot.mark_text in plot.plot_item.titleLabel.text


def test_gamma_grid_ticks_are_written_without_e_notation(qtbot):
    from xaidesk.gui.views.table_views import CurvePlot

    plot = CurvePlot("γ")
    qtbot.addWidget(plot)
    plot.reset("γ", x_label="γ (log scale)", y_label="score", log_x=True)
    plot.add_curve("mean score", [1e-5, 1e-3, 0.1, 10], [1, 2, 3, 4])
    assert plot.tick_labels == ["0.00001", "0.001", "0.1", "10"]
