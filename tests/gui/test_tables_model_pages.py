"""The Tables tab with a readable model: the loan example, the model pages, and the row they follow."""

import numpy as np
import pytest


@pytest.fixture
def tables_window(qtbot, make_window):
    window = make_window()
    tab = window.tables_tab
    qtbot.waitUntil(lambda: bool(tab.methods), timeout=20_000)
    window.tabs.setCurrentWidget(tab)
    return window, tab


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
