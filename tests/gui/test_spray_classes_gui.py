"""The SpRAy panel's Classes page: every class ranked in the runner, a sortable table with the
planted shortcut first, a double-click opens the class in the Clusters page, refusals in plain words."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from helpers import make_run, planted_maps


def _one_strategy(rng, count=42, side=40):
    """Heatmaps that all look at the centre (jittered, random strength, noise): no shortcut."""
    yy, xx = np.mgrid[0:side, 0:side]
    return [rng.uniform(0.5, 3.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 40.0)
            + rng.normal(0, 0.05, (side, side))
            for cy, cx in (np.array([20, 20]) + rng.integers(-3, 4, (count, 2)))]


@pytest.fixture
def panel(qtbot, error_dialogs):
    from xaidesk.gui.runner import Runner
    from xaidesk.gui.views.spray_views import SprayPanel

    runner = Runner()
    widget = SprayPanel(runner)
    qtbot.addWidget(widget)
    widget.resize(1100, 760)
    widget.show()
    yield widget
    runner.shutdown()


@pytest.fixture
def run(tmp_path):
    """Class 0 ('horse') uses one strategy; class 1 ('other') has a planted shortcut (a second, small group)."""
    clean = _one_strategy(np.random.default_rng(4))
    shortcut, _ = planted_maps(np.random.default_rng(3), sizes=(30, 12))
    return make_run(tmp_path / "run", clean + list(shortcut), targets=[0] * 42 + [1] * 42,
                    true_classes=["horse"] * 42 + ["other"] * 42)


def _rank(qtbot, panel):
    assert panel.rank_classes() is not None
    view = panel.classes_view
    assert panel.pages.currentWidget() is view and view.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not view.is_running(), timeout=60_000)
    return view


def _column(view, column):
    return [view.proxy.index(row, column).data() for row in range(view.proxy.rowCount())]


def test_ranking_lists_the_shortcut_first_sorts_and_opens_a_class(qtbot, panel, run, error_dialogs):
    from xaidesk.gui.formatting import format_value

    panel.set_run(run)
    view = panel.classes_view
    assert view.views.showing_message() and "Rank all classes" in view.views.message.text()
    assert panel.rank_button.isEnabled()
    _rank(qtbot, panel)
    assert not error_dialogs and not view.views.showing_message()
    assert _column(view, 1) == ["other", "horse"]  # the planted shortcut is the top suspect
    assert _column(view, 0) == ["1", "2"] and _column(view, 2) == ["42", "42"]
    top = view.ranked[0]
    assert top.label == "other" and top.fisher > view.ranked[1].fisher
    assert _column(view, 3)[0] == format_value(top.fisher)
    assert _column(view, 4)[0] == f"{format_value(top.eigengap)} ({top.eigengap_k})"
    assert "ranked" in view.status_label.text() and "'other'" in view.status_label.text()
    headers = view.model.horizontalHeaderItem
    assert "shortcut" in headers(3).toolTip() and "small" in headers(5).toolTip()

    # Sorting by a column: by class name, then by the Fisher criterion smallest first.
    view.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    assert _column(view, 1) == ["horse", "other"] and _column(view, 0) == ["2", "1"]
    view.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    assert _column(view, 1) == ["other", "horse"]
    view.table.sortByColumn(3, Qt.SortOrder.AscendingOrder)
    assert _column(view, 1) == ["horse", "other"]

    # A double-click on the (sorted) row of 'other' opens it in the Clusters page.
    row = _column(view, 1).index("other")
    view.table.doubleClicked.emit(view.proxy.index(row, 3))
    assert panel.pages.currentWidget() is panel.views and panel.class_combo.currentData() == "other"
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30_000)
    assert panel.result is not None and panel.heatmaps.target_label == "other"
    assert len(panel.result.labels) == 42 and panel.result.n_clusters == top.clusters
    assert sorted(panel.result.cluster_sizes) == sorted(top.result.cluster_sizes)

    # Opening the same run again keeps the ranking; another run clears it.
    panel.set_run(run)
    assert view.model.rowCount() == 2
    panel.set_run(make_run(run.parent / "another", list(planted_maps(np.random.default_rng(5), sizes=(6, 6))[0])))
    assert view.model.rowCount() == 0 and view.views.showing_message()


def test_a_run_without_enough_heatmaps_is_refused_in_plain_words(qtbot, panel, tmp_path, error_dialogs):
    maps, _ = planted_maps(np.random.default_rng(0), sizes=(5, 3))
    panel.set_run(make_run(tmp_path / "small", list(maps)))
    view = _rank(qtbot, panel)
    assert not error_dialogs and view.ranked == [] and view.model.rowCount() == 0
    assert view.views.showing_message() and "at least that many per class" in view.views.message.text()
    assert "could not be ranked" in view.status_label.text() and not view.open_button.isEnabled()


def test_ranking_can_be_cancelled(qtbot, panel, run):
    panel.set_run(run)
    panel.rank_classes()
    view = panel.classes_view
    view.cancel()
    assert not view.is_running() and view.status_label.text() == "Cancelled."
    assert not view.cancel_button.isEnabled()


def test_classes_with_too_few_heatmaps_are_named_as_left_out(qtbot, panel, tmp_path, error_dialogs):
    maps, _ = planted_maps(np.random.default_rng(1), sizes=(8, 4, 3))
    panel.set_run(make_run(tmp_path / "mixed", list(maps), targets=[0] * 12 + [1] * 3,
                           true_classes=["horse"] * 12 + ["other"] * 3))
    view = _rank(qtbot, panel)
    assert not error_dialogs and _column(view, 1) == ["horse"]
    text = view.status_label.text()
    assert text.startswith("1 class ranked;") and "fewer than 11 heatmaps: other." in text
