"""``xaidesk explain table --method tabular.readable``: Shapley values, ICE curves, pair maps and a row's waterfall."""

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xaidesk.cli import main
from xaidesk.data.tables import load_table
from xaidesk.explain.table import explain_table
from xaidesk.export.tabular_files import readable_files
from xaidesk.resources import resource_path
from xaidesk.tabular import load_builtin_methods

load_builtin_methods()

LOANS = resource_path("samples/loans.csv")
PARAMS = {"model": "tree", "explained_rows": 40, "tree_max_depth": 4}
ARGS = ["--method", "tabular.readable", "--target-column", "approved",
        *(f"--param={k}={v}" for k, v in PARAMS.items())]


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run with every option, the files it wrote, and the same analysis computed in the core."""
    out = tmp_path_factory.mktemp("cli") / "out"
    result = explain_table(load_table(LOANS), "tabular.readable", PARAMS, target="approved")
    explained = result.row_ids[result.extras["explained_positions"]]
    unexplained = int(next(r for r in result.row_ids if r not in set(explained)))
    code = main(["explain", "table", str(LOANS), *ARGS, "--ice", "income_k", "--ice", "postcode",
                 "--pd2d", "income_k, loan_amount_k", "--row", str(unexplained), "--out", str(out)])
    assert code == 0
    return out, result, unexplained


def test_every_file_is_written(run):
    out, result, row = run
    assert sorted(p.name for p in out.iterdir()) == sorted([
        "scores.csv", "relevance.csv", "summary.json", "shapley.csv", "shapley_summary.png",
        "ice_income_k.csv", "ice_income_k.png", "ice_postcode.csv", "ice_postcode.png",
        "pd2d_income_k_loan_amount_k.csv", "pd2d_income_k_loan_amount_k.png", f"waterfall_row{row}.png"])
    for png in out.glob("*.png"):
        picture = Image.open(png)
        assert picture.format == "PNG" and picture.width >= 500 and picture.height >= 250
    assert json.loads((out / "summary.json").read_text())["method"] == "tabular.readable"


def test_shapley_csv_agrees_with_the_core(run):
    out, result, _ = run
    shapley = result.extras["shapley"]
    lines = read_csv(out / "shapley.csv")
    assert [int(line["row"]) for line in lines] == list(result.row_ids[result.extras["explained_positions"]])
    written = np.array([[float(line[n]) for n in result.feature_names] for line in lines])
    np.testing.assert_allclose(written, shapley.values, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose([float(line["output"]) for line in lines], shapley.output, rtol=1e-11)
    base = [float(line["base_value"]) for line in lines]
    assert base == pytest.approx([shapley.base_value] * len(lines), rel=1e-11)
    assert max(abs(float(line["efficiency_gap"])) for line in lines) < 1e-6


def test_ice_csv_is_the_model_on_modified_rows(run):
    out, result, row = run
    fitted = result.extras["fitted"]
    lines = read_csv(out / "ice_income_k.csv")
    column = result.feature_names.index("income_k")
    rows = sorted({int(line["row"]) for line in lines if line["row"] != "partial dependence"})
    assert row in rows and len(rows) == 201  # 200 sampled rows and the highlighted one
    for probe in (rows[0], row):
        mine = [line for line in lines if line["row"] == str(probe)]
        changed = np.repeat(fitted.X[result.position_of(probe)][None], len(mine), axis=0)
        changed[:, column] = [float(line["income_k"]) for line in mine]
        np.testing.assert_allclose([float(line["output"]) for line in mine], fitted.predict_output(changed),
                                   rtol=1e-11, atol=1e-12)
    average = [line for line in lines if line["row"] == "partial dependence"]
    curves = np.array([[float(line["output"]) for line in lines if line["row"] == str(r)] for r in rows])
    np.testing.assert_allclose([float(line["output"]) for line in average], curves.mean(axis=0), rtol=1e-9)
    assert {line["outside_data"] for line in lines} == {"0"}


def test_pd2d_csv_is_the_average_over_rows(run):
    out, result, _ = run
    fitted = result.extras["fitted"]
    lines = read_csv(out / "pd2d_income_k_loan_amount_k.csv")
    assert list(lines[0]) == ["income_k", "loan_amount_k", "partial_dependence"]
    probe = lines[len(lines) // 2]
    files = readable_files(result, pd2d=[("income_k", "loan_amount_k")])
    assert files["pd2d_income_k_loan_amount_k.csv"] == (out / "pd2d_income_k_loan_amount_k.csv").read_bytes()
    rows = fitted.X[np.sort(np.random.default_rng(0).choice(len(fitted.X), 200, replace=False))].copy()
    rows[:, result.feature_names.index("income_k")] = float(probe["income_k"])
    rows[:, result.feature_names.index("loan_amount_k")] = float(probe["loan_amount_k"])
    assert float(probe["partial_dependence"]) == pytest.approx(fitted.predict_output(rows).mean(), rel=1e-9)


@pytest.mark.parametrize("extra, words", [
    (["--ice", "salary"], "no feature called 'salary'"),
    (["--pd2d", "income_k"], "two feature names separated by a comma"),
    (["--pd2d", "income_k,income_k"], "two different features"),
    (["--ice", "approved"], "no feature called 'approved'"),
    (["--row", "5000"], "Row 5000 is not part of the analysis"),
])
def test_bad_requests_are_refused_before_computing(tmp_path, capsys, monkeypatch, extra, words):
    import xaidesk.explain.table

    def never(*args, **kwargs):
        raise AssertionError("the analysis ran before the request was checked")

    monkeypatch.setattr(xaidesk.explain.table, "explain_table", never)
    out = tmp_path / "out"
    assert main(["explain", "table", str(LOANS), *ARGS, *extra, "--out", str(out)]) != 0
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra", [["--ice", "income_k"], ["--row", "3"], ["--pd2d", "age,income_k"]])
def test_other_methods_refuse_the_model_options(tmp_path, capsys, extra):
    out = tmp_path / "out"
    code = main(["explain", "table", str(LOANS), "--method", "supervised.linear", "--target-column", "approved",
                 *extra, "--out", str(out)])
    assert code != 0
    err = capsys.readouterr().err
    assert f"{extra[0]} need a fitted model" in err and "--method tabular.readable only" in err
    assert not out.exists()


def test_plain_readable_run_writes_the_shapley_files_only(tmp_path):
    out = tmp_path / "plain"
    assert main(["explain", "table", str(LOANS), *ARGS, "--param=model=lasso", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["relevance.csv", "scores.csv", "shapley.csv",
                                                     "shapley_summary.png", "summary.json"]
    header = next(csv.reader(io.StringIO((out / "shapley.csv").read_text())))
    assert header[:2] == ["row", "base_value"] and header[-2:] == ["output", "efficiency_gap"]


def test_a_folder_in_the_way_of_a_file_is_refused_before_computing(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "ice_income_k.png").mkdir(parents=True)
    assert main(["explain", "table", str(LOANS), *ARGS, "--ice", "income_k", "--out", str(out)]) != 0
    assert "is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["ice_income_k.png"]


def test_a_folder_where_the_waterfall_goes_is_refused_before_computing(tmp_path):
    from xaidesk.cli import main

    out = tmp_path / "out"
    (out / "waterfall_row3.png").mkdir(parents=True)
    loans = Path(__file__).resolve().parents[1] / "resources" / "samples" / "loans.csv"
    code = main(["explain", "table", str(loans), "--method", "tabular.readable", "--param", "explained_rows=5",
                 "--row", "3", "--out", str(out)])
    assert code != 0
    assert sorted(p.name for p in out.iterdir()) == ["waterfall_row3.png"]
