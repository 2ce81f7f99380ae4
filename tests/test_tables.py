"""Table loading, issues and choices, preprocessing (θ by Jarque-Bera), and the CLI on the wholesale data."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xaidesk.cli import main
from xaidesk.core import InputError
from xaidesk.data.tables import TableEncodingError, load_table, prepare_features
from xaidesk.data.transforms import choose_theta, preprocess, theta_candidates

WHOLESALE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "wholesale_customers.csv"
SPENDING = ["Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen"]
needs_wholesale = pytest.mark.skipif(not WHOLESALE.exists(), reason="shared wholesale data not present")


def _write(tmp_path, name, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# --- bad files: one clear error each ------------------------------------------------------------

BAD = {
    "empty": (b"", "empty"),
    "header_only": ("a,b,c\n", "no data rows"),
    "one_row": ("a,b\n1,2\n", "only one data row"),
    "all_text": ("name,city\nann,oslo\nbob,rome\ncid,nice\n", "no numeric column"),
    "ragged": ("a,b,c\n1,2,3\n4,5\n6,7,8\n", "line 3 has 2 values"),
    "not_utf8": (b"a;b\n1;2\n3;4\ncaf\xe9;5\n", "not UTF-8"),
    "blank_lines": ("\n\n  \n", "no text"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_give_one_clear_error(tmp_path, case):
    data, phrase = BAD[case]
    path = _write(tmp_path, f"{case}.csv", data)
    with pytest.raises(InputError) as info:
        load_table(path)
    message = str(info.value)
    assert phrase in message
    assert path.name in message
    assert "\n" not in message and "Traceback" not in message


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_table(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="folder"):
        load_table(tmp_path)


def test_not_utf8_offers_latin1_and_reads_with_a_notice(tmp_path):
    path = _write(tmp_path, "latin.csv", "name;x;y\ncaf\xe9;1;2\nbar;3;5\nbaz;4;4\n".encode("latin-1"))
    with pytest.raises(TableEncodingError) as info:
        load_table(path)
    assert info.value.suggested_encoding == "latin-1" and "Latin-1" in str(info.value)
    table = load_table(path, encoding=info.value.suggested_encoding)
    assert table.frame["name"].tolist()[0] == "café"
    assert any("latin-1" in n for n in table.notices)


# --- sniffing and roles -------------------------------------------------------------------------


def test_semicolon_with_decimal_comma_and_thousands(tmp_path):
    path = _write(tmp_path, "de.csv", "Nr;Wert;Menge\n1;1.234,5;3\n2;2,25;4\n3;7,1;5\n4;10,0;6\n")
    table = load_table(path)
    assert table.settings.delimiter == ";" and table.settings.decimal == ","
    assert table.frame["Wert"].tolist() == [1234.5, 2.25, 7.1, 10.0]
    assert table.roles["Nr"] == "ignore"  # a running number


def test_tabs_and_no_header(tmp_path):
    path = _write(tmp_path, "t.tsv", "1.5\t2\t7\n2.5\t3\t8\n3.5\t1\t9\n")
    table = load_table(path)
    assert table.settings.delimiter == "\t" and not table.settings.header
    assert table.columns == ["column 1", "column 2", "column 3"]
    assert any("column 1" in n for n in table.notices)


@needs_wholesale
def test_wholesale_roles_are_guessed():
    table = load_table(WHOLESALE)
    assert table.n_rows == 440
    assert table.roles["Channel"] == "metadata" and table.roles["Region"] == "metadata"
    assert [c for c, r in table.roles.items() if r == "feature"] == SPENDING
    assert table.issues() == []
    fm = prepare_features(table)
    assert fm.values.shape == (440, 6) and fm.names == SPENDING
    assert fm.row_ids.tolist() == list(range(440))
    assert set(fm.metadata) == {"Channel", "Region"}


def test_issues_and_choices(tmp_path):
    text = "id,a,b,c,d,label\n" + "\n".join([
        "1,1.0,5,x1,7,u", "2,2.0,,x2,7,v", "3,3.0,6,3,7,u", "4,1.0,5,x1,7,u", "5,4.0,8,5,7,v", "6,5.0,9,6,7,u",
    ]) + "\n"
    table = load_table(_write(tmp_path, "issues.csv", text))
    table.set_role("c", "feature")
    issues = {i.key: i for i in table.issues()}
    assert set(issues) == {"non_numeric:c", "missing:b", "constant:d", "duplicates"}
    for issue in issues.values():
        assert issue.message and issue.default in issue.choice_keys()
    # defaults: text column ignored, rows with missing dropped, constant dropped, duplicates kept -- each reported
    fm = prepare_features(table, roles={"c": "feature"})
    assert fm.names == ["a", "b"]
    assert fm.row_ids.tolist() == [0, 2, 3, 4, 5]
    assert len(fm.notices) >= 4 and all("Default applied" in n for n in fm.notices[:4])
    # other choices
    fm = prepare_features(table, roles={"c": "feature"}, choices={
        "missing:b": "impute_median", "constant:d": "keep", "duplicates": "drop", "non_numeric:c": "metadata",
    })
    assert fm.names == ["a", "b", "d"] and "c" in fm.metadata
    assert fm.row_ids.tolist() == [0, 1, 2, 4, 5]  # row 3 repeats row 0
    assert fm.values[1, 1] == np.median([5, 6, 5, 8, 9])
    # text cells treated as missing: those rows go (the missing-value default)
    fm = prepare_features(table, roles={"c": "feature"}, choices={"non_numeric:c": "as_missing", "missing:b": "impute_median"})
    assert "c" in fm.names and fm.row_ids.tolist() == [2, 4, 5]
    with pytest.raises(InputError, match="not an option"):
        prepare_features(table, choices={"missing:b": "shrug"})


def test_columns_selection_errors_on_unknown(tmp_path):
    table = load_table(_write(tmp_path, "x.csv", "a,b\n1,2\n3,5\n4,4\n"))
    assert prepare_features(table, columns=["b"]).names == ["b"]
    with pytest.raises(InputError, match="no column 'zz'"):
        prepare_features(table, columns=["zz"])


def test_xlsx_roundtrip(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("openpyxl")
    path = tmp_path / "t.xlsx"
    pd.DataFrame({"a": [1.5, 2.5, 3.0], "b": [4, 5, 7]}).to_excel(path, index=False)
    table = load_table(path)
    assert table.settings.kind == "xlsx" and table.frame["a"].tolist() == [1.5, 2.5, 3.0]


# --- preprocessing --------------------------------------------------------------------------------


def test_theta_selection_minimises_jarque_bera_on_lognormal():
    from scipy.stats import jarque_bera

    rng = np.random.default_rng(0)
    column = np.exp(rng.normal(6.0, 0.5, size=3000)) - 100.0  # log(x + 100) is exactly normal
    candidates = [30.0, 60.0, 100.0, 300.0, 1000.0]
    assert np.any(column + 30.0 <= 0)  # an undefined candidate is skipped, not chosen
    theta, table = choose_theta(column, candidates)
    candidates = candidates[1:]
    brute = {t: jarque_bera(np.log(column + t)).statistic for t in candidates}
    assert theta == min(brute, key=brute.get) == 100.0
    rows = {r.theta: r for r in table if np.isfinite(r.theta)}
    assert set(rows) == set(candidates) and [t for t, r in rows.items() if r.chosen] == [100.0]
    for t, r in rows.items():
        assert r.statistic == pytest.approx(brute[t], rel=1e-12)
    assert rows[100.0].pvalue > 0.01
    # automatic candidates (powers of ten around the scale) pick their JB minimum too
    auto_theta, auto_table = choose_theta(column)
    finite = [r for r in auto_table if np.isfinite(r.theta)]
    assert auto_theta == min(finite, key=lambda r: r.statistic).theta


def test_theta_candidates_follow_the_column_scale():
    assert theta_candidates(np.array([1000.0, 5000.0, 9000.0])) == [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]
    assert all(c > 2.0 for c in theta_candidates(np.array([-2.0, 1.0, 3.0])))


@needs_wholesale
def test_wholesale_grocery_jarque_bera_matches_the_seed_study():
    fm = prepare_features(load_table(WHOLESALE))
    pre = preprocess(fm.values, fm.names, theta="auto", candidates=[1, 10, 100, 1000, 10000])
    grocery = {r.theta: r for r in pre.jb_table if r.column == "Grocery"}
    assert grocery[1].statistic == pytest.approx(210.8, abs=0.05)
    assert grocery[100].statistic == pytest.approx(1.17, abs=0.005)
    assert grocery[100].pvalue == pytest.approx(0.56, abs=0.005)
    assert grocery[100].chosen and pre.theta["Grocery"] == 100


def test_manual_theta_undefined_is_an_input_error():
    with pytest.raises(InputError, match="undefined"):
        preprocess(np.array([[-5.0], [1.0], [2.0]]), ["x"], theta=1)
    pre = preprocess(np.array([[1.0], [2.0], [4.0]]), ["x"], theta="none", standardize=True)
    assert pre.theta == {"x": None} and abs(pre.values.mean()) < 1e-12


# --- CLI ------------------------------------------------------------------------------------------


@needs_wholesale
def test_cli_table_end_to_end(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["explain", "table", str(WHOLESALE), "--method", "neon.knn", "--param", "theta=100",
                 "--param", "gamma=1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    with open(out / "scores.csv", newline="") as handle:
        scores = list(csv.DictReader(handle))
    assert list(scores[0]) == ["row", "score"] and len(scores) == 440
    assert [int(r["row"]) for r in scores] == list(range(440))
    with open(out / "relevance.csv", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    assert header == ["row"] + SPENDING and len(rows) == 440
    relevance_sum = np.array([[float(v) for v in r[1:]] for r in rows]).sum(axis=1)
    np.testing.assert_allclose(relevance_sum, [float(r["score"]) for r in scores], rtol=1e-9)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "neon.knn" and summary["gamma"] == 1.0
    assert summary["theta"] == {c: 100.0 for c in SPENDING}
    assert [t["row"] for t in summary["top_rows"][:2]] == [183, 338]
    assert summary["seconds"] >= 0 and summary["params"]["gamma"] == "1"


@needs_wholesale
def test_cli_table_errors_are_one_sentence_and_write_nothing(tmp_path):
    out = tmp_path / "out"
    for args in (
        ["--method", "neon.knn", "--columns", "Fresh,Nope"],
        ["--method", "supervised.linear"],
        ["--method", "neon.knn", "--param", "gamma=-1"],
        ["--method", "lrp.epsilon_plus_flat"],
    ):
        result = subprocess.run([sys.executable, "-m", "xaidesk", "explain", "table", str(WHOLESALE), *args,
                                 "--out", str(out)], capture_output=True, text=True, timeout=120)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("xaidesk: ") and "Traceback" not in result.stderr
        assert not out.exists()


@needs_wholesale
def test_cli_supervised_linear_with_target(tmp_path):
    out = tmp_path / "lin"
    code = main(["explain", "table", str(WHOLESALE), "--method", "supervised.linear", "--target-column", "Channel",
                 "--param", "model=logistic", "--param", "theta=100", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target_column"] == "Channel" and summary["extras"]["metrics"]["validation_accuracy"] > 0.8
    assert summary["features"] == SPENDING


def test_no_feature_left_says_why_per_column_in_the_tab_words(tmp_path):
    table = load_table(_write(tmp_path, "t.csv", "id,a,name\n1,5,x\n2,5,y\n3,5,z\n4,5,w\n"))
    with pytest.raises(InputError) as error:
        prepare_features(table)
    message = error.value.message
    assert "'a' has the same value in every row" in message and "'id' is left out" in message
    assert "--columns" not in message and "role" in message


def test_lime_says_which_rows_it_explained(tmp_path):
    from xaidesk.explain.table import explain_table

    rng = np.random.default_rng(0)
    rows = "\n".join(f"{a:.3f},{b:.3f},{a + 2 * b:.3f}" for a, b in rng.normal(size=(15, 2)))
    table = load_table(_write(tmp_path, "t.csv", "a,b,y\n" + rows + "\n"))
    result = explain_table(table, "supervised.mlp_lime", {"epochs": 2, "samples": 10, "rows": "0,3"}, target="y")
    assert any("2 of 15 rows were explained (rows 0, 3)" in n for n in result.notices)
