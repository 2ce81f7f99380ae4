"""The Tables tab with a readable model: the loan example, the model pages, and the row they follow."""

import numpy as np



def _open_loans(qtbot, tab):
    tab.open_example("loans")
    qtbot.waitUntil(lambda: tab.table is not None and tab.table.path.name == "loans.csv", timeout=15_000)


def test_the_loan_example_opens_with_its_target_and_the_readable_model_chosen(qtbot, tables_window):
    _, tab = tables_window
    titles = [a.text() for a in tab.example_button.menu().actions()]
    assert any("Wines" in t for t in titles) and any("Loans" in t for t in titles)
    _open_loans(qtbot, tab)
    assert tab.target_column() == "approved"
    assert tab.method_name() == "tabular.readable"
    assert "approved" in tab.target_label.text()


def _run(qtbot, tab, method, **params):
    assert tab.select_method(method)
    for name, value in params.items():
        tab.param_form.set_value(name, value)
    previous = tab.result
    assert tab.run_analysis() is not None
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=60_000)
    assert tab.result is not previous, tab.run_status.text()
    return tab.result


def _visible_titles(tab):
    return [tab.views.tabText(i) for i in range(tab.views.count()) if tab.views.isTabVisible(i)]


def test_the_model_pages_show_with_a_fitted_model_follow_the_row_and_hide_again(qtbot, tables_window):
    from xaidesk.gui.panels.table_model_pages import PAGE_CLASSES

    _, tab = tables_window
    titles = [cls.TITLE for cls in PAGE_CLASSES]
    _open_loans(qtbot, tab)
    assert not set(titles) & set(_visible_titles(tab))
    result = _run(qtbot, tab, "tabular.readable", model="tree", explained_rows=40)
    assert result.extras["fitted"].kind == "tree"
    assert set(titles) <= set(_visible_titles(tab))
    assert "γ choice" not in _visible_titles(tab) and "Clusters" not in _visible_titles(tab)
    # The result's notes (which rows were explained) are on screen, not only in the exported summary.
    assert tab.ranking_view.notes.isVisibleTo(tab) and "40 of 2000 rows were explained" in tab.ranking_view.notes.text()
    # Every row is ranked by the model's output, explained or not; every page follows the chosen one.
    assert np.isfinite(result.scores).all() and tab.ranking_view.ranked_model.rowCount() == 2000
    tab.ranking_view.select_row(2)
    position = tab.ranking_view.ranked_model.position(2)
    pages = tab.model_pages.pages
    for page in pages:
        assert getattr(page, "position", None) == position, type(page).__name__
    # Another kind of result hides the pages and clears them.
    tab.select_method("neon.knn")
    _run(qtbot, tab, "neon.knn")
    assert not set(titles) & set(_visible_titles(tab))
    assert "γ choice" in _visible_titles(tab) and "Clusters" not in _visible_titles(tab)


def test_the_trust_page_opens_the_tabs_deletion_curves(qtbot, tables_window):
    from xaidesk.gui.panels.table_trust import TableTrustPage

    _, tab = tables_window
    assert getattr(tab, "_faithfulness_dialog", None) is None
    tab.model_pages.page(TableTrustPage).faithfulness_requested.emit()
    dialog = tab._faithfulness_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.close()

def test_sorting_the_ranking_keeps_the_chosen_row_chosen(qtbot, tables_window):
    from PySide6.QtCore import Qt

    _, tab = tables_window
    _open_loans(qtbot, tab)
    _run(qtbot, tab, "tabular.readable", model="tree", explained_rows=20)
    view = tab.ranking_view
    view.select_row(5)
    chosen = view.ranked_model.position(5)
    shown = view.row_title.text()
    view.ranked_view.sortByColumn(1, Qt.SortOrder.AscendingOrder)  # by file row
    current = view.ranked_view.currentIndex().row()
    assert view.ranked_model.position(current) == chosen
    assert view.row_title.text() == shown


def test_an_example_table_does_not_send_save_dialogs_into_the_program_folder(qtbot, tables_window):
    from xaidesk.resources import resources_root

    _, tab = tables_window
    _open_loans(qtbot, tab)
    start = tab._last_folder()
    assert start and not str(start).startswith(str(resources_root()))


def test_a_smaller_table_after_a_high_row_was_chosen_shows_on_every_page(qtbot, tables_window, tmp_path):
    import pandas as pd

    _, tab = tables_window
    _open_loans(qtbot, tab)
    _run(qtbot, tab, "tabular.readable", model="tree", explained_rows=20)
    last = tab.ranking_view.ranked_model.rowCount() - 1
    tab.ranking_view.select_row(last)
    small = tmp_path / "small.csv"
    pd.read_csv(tab.table.path).head(300).to_csv(small, index=False)
    tab.open_table(small)
    qtbot.waitUntil(lambda: tab.table is not None and tab.table.path == small, timeout=15_000)
    _run(qtbot, tab, "tabular.readable", model="tree", explained_rows=20)
    from xaidesk.gui.panels.table_model_pages import PAGE_CLASSES

    assert {cls.TITLE for cls in PAGE_CLASSES} <= set(_visible_titles(tab))
    for page in tab.model_pages.pages:
        shown = getattr(page, "fitted", None) or getattr(page, "result", None)
        assert shown is not None and len(shown.feature_names) == 10, type(page).__name__
