"""The Counterfactuals page: finds verified answers under the page's constraints, says so plainly otherwise, saves."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from xaidesk.gui.panels.table_counterfactual import HINT, PLACEHOLDER, TableCounterfactualView
from xaidesk.gui.runner import Runner
from xaidesk.tabular.models import fit_table_model

NAMES = ["income", "years", "flag", "age"]


def _fitted(task="classification"):
    rng = np.random.default_rng(0)
    n = 200
    income = np.round(rng.normal(50, 10, n), 1)
    years = rng.integers(0, 21, n).astype(float)
    flag = rng.integers(0, 2, n).astype(float)
    age = rng.integers(20, 70, n).astype(float)
    X = np.column_stack([income, years, flag, age])
    if task == "regression":
        return fit_table_model("linear", X, 2 * income + years, NAMES, target_name="price")
    y = (0.3 * (income - 50) + 0.25 * (years - 10) - 2 * flag + 1 > 0).astype(int)
    return fit_table_model("logistic", X, y, NAMES, target_name="approved")


def _result(fitted):
    return SimpleNamespace(extras={"fitted": fitted}, row_ids=np.arange(len(fitted.X)) + 100,
                           feature_names=list(fitted.feature_names))


@pytest.fixture
def page(qtbot):
    runner = Runner()
    view = TableCounterfactualView(runner)
    qtbot.addWidget(view)
    yield view
    view.jobs.cancel()
    runner.shutdown()


def _find(qtbot, page):
    page.find_button.click()
    qtbot.waitUntil(lambda: not page.jobs.busy, timeout=10000)


def test_without_a_fitted_model_the_page_says_what_to_do(page):
    page.show_result(SimpleNamespace(extras={}, row_ids=np.arange(3), feature_names=["a"]))
    assert page.stack.currentWidget() is page.placeholder
    assert "Target: readable model" in PLACEHOLDER
    page.set_row(2)  # nothing to show it for, and no error


def test_finds_verified_counterfactuals_that_keep_frozen_features_and_ranges(qtbot, page):
    fitted = _fitted()
    page.show_result(_result(fitted))
    row = int(np.flatnonzero(fitted.predict_output(fitted.X) < 0.2)[0])
    page.set_row(row)
    assert page.stack.currentWidget() is page.content
    assert f"Row {row + 100} of the table" in page.row_label.text() and "approved = 0" in page.row_label.text()
    assert page.wanted.classes.currentText() == "approved = 1"
    page.grid.free(NAMES.index("age")).setChecked(False)
    high = fitted.X[row, 0] + 10
    page.grid.bounds(0)[1].setValue(high)
    page.max_changes.setValue(2)
    settings = page.settings()
    assert settings["frozen"] == ["age"] and settings["ranges"] == {"income": (None, high)}
    assert settings["max_changes"] == 2 and settings["wanted"] == "1"
    assert settings["margin"] == pytest.approx(0.05) and page.margin.spin.text() == "55 %"
    _find(qtbot, page)
    result = page.result
    assert result is not None and page.answers.rowCount() == len(result.counterfactuals) >= 1
    for i, cf in enumerate(result.counterfactuals):
        assert cf.verified and fitted.estimator.predict_proba(cf.values[None])[0, 1] >= 0.55
        assert cf.values[3] == fitted.X[row, 3] and len(cf.changes) <= 2
        assert cf.values[0] <= high or cf.values[0] == fitted.X[row, 0]
        assert page.answers.item(i, 4).text().startswith("\u2713")
        assert cf.changes[0][0] in page.answers.item(i, 1).text()
    assert "ways to get approved = 1 with a probability of at least 0.55" in page.message.text()
    assert page.save_button.isEnabled()


def test_the_page_warns_that_the_search_knows_nothing_of_what_is_possible(page):
    page.show_result(_result(_fitted()))
    page.show()
    assert page.hint.isVisible() and HINT in page.hint.text() and "untick what cannot change" in HINT
    layout = page.content.layout()
    assert layout.indexOf(page.hint) < layout.indexOf(page.splitter) and page.splitter.widget(0) is page.grid


def test_a_clearer_answer_asked_for_is_given(qtbot, page):
    fitted = _fitted()
    page.show_result(_result(fitted))
    page.set_row(int(np.flatnonzero(fitted.predict_output(fitted.X) < 0.2)[0]))
    page.margin.spin.setValue(80)
    assert page.settings()["margin"] == pytest.approx(0.3)
    _find(qtbot, page)
    assert page.result is not None and page.result.constraints["margin"] == pytest.approx(0.3)
    for cf in page.result.counterfactuals:
        assert fitted.estimator.predict_proba(cf.values[None])[0, 1] >= 0.8


def test_the_margin_speaks_the_task_s_language(page):
    page.show_result(_result(_fitted("regression")))
    assert page.settings()["margin"] == 0.0 and "units of price" in page.margin.after.text()
    page.margin.spin.setValue(5)
    assert page.settings()["margin"] == 5.0
    X = np.random.default_rng(1).normal(size=(90, 2))
    three = fit_table_model("tree", X, np.digitize(X[:, 0], [-0.5, 0.5]), ["a", "b"], target_name="grade")
    page.show_result(_result(three))
    assert "ahead of every other" in page.margin.before.text() and page.margin.spin.value() == 10
    assert page.settings()["margin"] == pytest.approx(0.05)  # a lead of 10 points is twice 0.05


def test_when_nothing_flips_it_the_page_says_why_and_offers_nothing_to_save(qtbot, page):
    fitted = _fitted()
    page.show_result(_result(fitted))
    page.set_row(int(np.flatnonzero(fitted.predict_output(fitted.X) < 0.05)[0]))
    for j in range(3):
        page.grid.free(j).setChecked(False)
    _find(qtbot, page)
    assert page.result is None and not page.save_button.isEnabled()
    assert "No counterfactual found" in page.message.text() and "income, years, flag frozen" in page.message.text()


def test_a_new_row_forgets_the_old_answers(qtbot, page):
    fitted = _fitted()
    page.show_result(_result(fitted))
    rows = np.flatnonzero(fitted.predict_output(fitted.X) < 0.2)
    page.set_row(int(rows[0]))
    _find(qtbot, page)
    assert page.answers.rowCount() > 0
    page.set_row(int(rows[1]))
    assert page.result is None and page.answers.rowCount() == 0 and not page.save_button.isEnabled()


def test_a_predicted_value_gets_an_interval(qtbot, page):
    fitted = _fitted("regression")
    page.show_result(_result(fitted))
    page.set_row(0)
    now = float(fitted.predict_output(fitted.X[:1])[0])
    assert not page.wanted.at_least.isHidden() and page.wanted.classes.isHidden()
    low, high = page.settings()["wanted"]
    assert low > now and high is None
    _find(qtbot, page)
    assert page.result is not None
    for cf in page.result.counterfactuals:
        assert cf.verified and fitted.predict_output(cf.values[None])[0] >= low


def test_save_writes_the_three_files_and_reports_a_bad_folder(qtbot, page, tmp_path, monkeypatch, error_dialogs):
    fitted = _fitted()
    page.show_result(_result(fitted))
    row = int(np.flatnonzero(fitted.predict_output(fitted.X) < 0.2)[0])
    page.set_row(row)
    _find(qtbot, page)
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "saved"))
    page.save_button.click()
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["changes.csv", "counterfactuals.csv",
                                                                      "counterfactuals.json"]
    data = json.loads((tmp_path / "saved" / "counterfactuals.json").read_text())
    assert data["source"]["row"] == row + 100 and len(data["counterfactuals"]) == len(page.result.counterfactuals)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    page.save_to(blocker)
    assert error_dialogs and "exists and is a file" in error_dialogs[0][1]


# ---- the walkthrough of issue 16 ------------------------------------------------------------------------------

def _loans_like(seed=0):
    """A loan-like table with a five-digit postcode (that the outcome depends on) and one-decimal amounts."""
    rng = np.random.default_rng(seed)
    n = 240
    income = np.round(rng.normal(50, 12, n), 1)
    loan = np.round(rng.uniform(2, 60, n), 1)
    postcode = rng.integers(10000, 99999, n).astype(float)
    years = rng.integers(0, 30, n).astype(float)
    X = np.column_stack([income, loan, postcode, years])
    y = (0.2 * (income - 50) - 0.1 * (loan - 30) + 0.1 * (years - 15) + 5e-5 * (postcode - 55000) > 0).astype(int)
    return fit_table_model("logistic", X, y, ["income_k", "loan_amount_k", "postcode", "credit_history_years"],
                           target_name="approved")


def test_a_code_starts_frozen_with_a_reason_and_can_be_freed(qtbot, page):
    from xaidesk.gui.panels.table_counterfactual_inputs import CODE_TIP

    fitted = _loans_like()
    page.show_result(_result(fitted))
    code = page.grid.free(2)
    assert not code.isChecked() and code.toolTip() == CODE_TIP and "moving house" in CODE_TIP
    assert not page.grid.bounds(2)[0].isEnabled() and not page.grid.bounds(2)[1].isEnabled()
    assert all(page.grid.free(j).isChecked() for j in (0, 1, 3))
    assert page.settings()["frozen"] == ["postcode"]
    page.set_row(int(np.flatnonzero(fitted.predict_output(fitted.X) < 0.3)[0]))
    _find(qtbot, page)
    assert page.result is not None
    assert all("postcode" not in cf.changed_features for cf in page.result.counterfactuals)
    code.setChecked(True)
    assert page.settings()["frozen"] == [] and page.grid.bounds(2)[0].isEnabled()


def test_values_are_shown_exactly(qtbot, page):
    fitted = _loans_like()
    page.show_result(_result(fitted))
    row = int(np.flatnonzero(fitted.predict_output(fitted.X) < 0.3)[0])
    page.set_row(row)
    assert page.grid.item(2, 1).text() == str(int(fitted.X[row, 2]))  # five digits, not 4 significant ones
    assert page.grid.item(0, 1).text() == f"{fitted.X[row, 0]:.1f}".rstrip("0").rstrip(".")
    page.grid.free(2).setChecked(True)
    page.grid.free(0).setChecked(False)
    page.count.setValue(5)
    page.max_changes.setValue(1)
    _find(qtbot, page)
    result = page.result
    assert result is not None
    for i, cf in enumerate(result.counterfactuals):
        text = page.answers.item(i, 1).text()
        for feature, before, after in cf.changes:
            if feature in ("postcode", "credit_history_years"):
                assert after == round(after) and f"{feature}: {int(before)} \u2192 {int(after)}" in text.split("\n")
            else:
                line = f"{feature}: {before:.1f} \u2192 {after:.1f}".replace(".0 ", " ").replace(".0\u2192", "\u2192")
                shown = [t for t in text.split("\n") if t.startswith(feature)][0]
                b, a = shown.split(": ")[1].split(" \u2192 ")
                assert float(b) == before and float(a) == after, (line, shown)
    assert any("postcode" in cf.changed_features for cf in result.counterfactuals)


def test_a_new_result_resets_the_answers_and_their_headers(qtbot, page):
    fitted = _fitted()
    page.show_result(_result(fitted))
    page.set_row(int(np.flatnonzero(fitted.predict_output(fitted.X) < 0.2)[0]))
    _find(qtbot, page)
    assert page.answers.horizontalHeaderItem(2).text() == "Probability of approved = 1"
    regression = _fitted("regression")
    page.show_result(_result(regression))
    assert page.answers.rowCount() == 0 and page.answers.horizontalHeaderItem(2).text() == "Model's output"
    assert "approved" not in page.message.text() and "price" in page.row_label.text()
    _find(qtbot, page)
    assert page.answers.horizontalHeaderItem(2).text() == "Predicted price"
    page.clear()
    assert page.answers.rowCount() == 0 and page.answers.horizontalHeaderItem(2).text() == "Model's output"
    assert page.row_label.text() == "" and page.message.text() == "" and page.status.text() == ""


def test_the_page_fits_700_pixels_and_the_grid_has_the_room_until_answers_exist(qtbot, page):
    fitted = _loans_like()
    page.show_result(_result(fitted))
    page.resize(700, 560)
    page.show()
    qtbot.waitExposed(page)
    assert page.minimumSizeHint().width() <= 700
    assert page.answers.isHidden() and page.save_button.isHidden()
    grid_height, below_height = page.splitter.sizes()
    assert grid_height > 2 * below_height
    page.set_row(int(np.flatnonzero(fitted.predict_output(fitted.X) < 0.3)[0]))
    _find(qtbot, page)
    assert page.minimumSizeHint().width() <= 700
    assert not page.answers.isHidden() and page.save_button.isEnabled()
    assert page.splitter.sizes()[1] > below_height
    page.show_result(_result(_fitted("regression")))
    assert page.minimumSizeHint().width() <= 700


def test_save_starts_in_the_tab_s_folder_else_the_documents_folder(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QStandardPaths
    from PySide6.QtWidgets import QFileDialog, QVBoxLayout, QWidget

    class Tab(QWidget):
        remembered = []

        def _last_folder(self):
            return str(tmp_path / "exports")

        def _remember_folder(self, path):
            self.remembered.append(str(path))

    runner = Runner()
    try:
        tab = Tab()
        qtbot.addWidget(tab)
        view = TableCounterfactualView(runner)
        QVBoxLayout(tab).addWidget(view)
        fitted = _fitted()
        view.show_result(_result(fitted))
        view.set_row(int(np.flatnonzero(fitted.predict_output(fitted.X) < 0.2)[0]))
        _find(qtbot, view)
        asked = []
        monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                            lambda parent, title, start="": asked.append(start) or str(tmp_path / "out"))
        view.save_button.click()
        assert asked == [str(tmp_path / "exports")] and (tmp_path / "out" / "changes.csv").exists()
        assert Tab.remembered == [str(tmp_path / "out" / "counterfactuals.csv")]
        alone = TableCounterfactualView(runner)
        qtbot.addWidget(alone)
        documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        assert alone.start_folder() == documents and documents
        view.jobs.cancel()
    finally:
        runner.shutdown()


def test_nothing_found_reads_as_an_answer_not_an_error_and_the_title_keeps_its_capitals(qtbot, page):
    from xaidesk.gui.panels.table_counterfactual import NOTHING_FOUND

    fitted = _fitted()
    page.show_result(_result(fitted))
    row = int(np.flatnonzero(fitted.predict_output(fitted.X) < 0.05)[0])
    page.set_row(row)
    assert f"Model: {fitted.title}. It gives this row approved = 0" in page.row_label.text()
    assert fitted.title[0].isupper()
    for j in range(3):
        page.grid.free(j).setChecked(False)
    _find(qtbot, page)
    assert page.status.text() == NOTHING_FOUND and "error" not in page.status.text().lower()
    assert "No counterfactual found" in page.message.text()
