"""``xaidesk counterfactual``: three files written as a set; bad arguments give one plain sentence and write nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from xaidesk.cli import main
from xaidesk.commands.counterfactual import parse_range
from xaidesk.core import InputError
from xaidesk.export.counterfactuals import FILES


@pytest.fixture(scope="module")
def loans(tmp_path_factory):
    """The first 400 rows of the demo loan table (enough for a model, fast to fit)."""
    from xaidesk.resources import resource_path

    lines = resource_path("samples", "loans.csv").read_text().splitlines()[:401]
    path = tmp_path_factory.mktemp("table") / "loans.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _declined_row(loans) -> int:
    rows = list(csv.DictReader(loans.open()))
    return next(i for i, r in enumerate(rows) if r["approved"] == "0" and float(r["income_k"]) < 25)


def test_writes_the_three_files_and_says_what_changes(loans, tmp_path, capsys):
    row = _declined_row(loans)
    out = tmp_path / "out"
    code = main(["counterfactual", str(loans), "--row", str(row), "--target-column", "approved", "--target", "1",
                 "--freeze", "age,children", "--range", "income_k=:80", "--count", "3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    summary = json.loads((out / "counterfactuals.json").read_text())
    assert summary["source"]["row"] == row and summary["wanted"] == "approved = 1"
    assert summary["constraints"]["frozen"] == ["age", "children"]
    assert summary["constraints"]["ranges"] == {"income_k": [None, 80.0]}
    lines = list(csv.DictReader((out / "counterfactuals.csv").open()))
    changes = list(csv.DictReader((out / "changes.csv").open()))
    assert len(lines) == len(summary["counterfactuals"]) >= 1
    original = summary["row"]["values"]
    for line, cf in zip(lines, summary["counterfactuals"]):
        assert line["verified"] == "yes" and line["outcome"] == "1" and cf["verified"]
        assert float(line["age"]) == original["age"] and float(line["children"]) == original["children"]
        assert float(line["income_k"]) <= 80 or float(line["income_k"]) == original["income_k"]
        changed = [c for c in changes if c["counterfactual"] == line["counterfactual"]]
        assert line["changed"] == "; ".join(c["feature"] for c in changed)
        for c in changed:
            assert float(c["from"]) == original[c["feature"]] and float(c["to"]) == float(line[c["feature"]])
    assert f"row {row}" in printed and "verified" in printed and str(out) in printed


def test_the_margin_is_applied_recorded_and_printed(loans, tmp_path, capsys):
    row = _declined_row(loans)
    out = tmp_path / "out"
    code = main(["counterfactual", str(loans), "--row", str(row), "--target-column", "approved",
                 "--freeze", "age", "--margin", "0.2", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    summary = json.loads((out / "counterfactuals.json").read_text())
    assert summary["constraints"]["margin"] == 0.2
    assert summary["constraints"]["requirement"] == "approved = 1 with a probability of at least 0.7"
    assert "Wanted: approved = 1 with a probability of at least 0.7." in printed
    lines = list(csv.DictReader((out / "counterfactuals.csv").open()))
    assert lines and all(float(line["output"]) >= 0.7 for line in lines)


@pytest.mark.parametrize("extra, message", [
    (["--freeze", "height"], "no feature 'height' to freeze"),
    (["--range", "income_k=80:20"], "range of income_k is empty"),
    (["--range", "income_k"], "FEATURE=LOW:HIGH"),
    (["--range", "income_k=a:b"], "must be numbers"),
    (["--target", "maybe"], "no class 'maybe'"),
    (["--at-least", "3"], "for a numeric target"),
    (["--count", "0"], "from 1 to"),
    (["--margin", "0.6"], "the margin is a probability from 0 to below 0.5"),
    (["--model", "forest"], "no table model called 'forest'"),
    (["--param", "max_depth=3"], "has no setting max_depth"),
])
def test_bad_arguments_give_a_plain_error_and_write_nothing(loans, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    code = main(["counterfactual", str(loans), "--row", str(_declined_row(loans)), "--target-column", "approved",
                 *extra, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_row_that_is_not_in_the_table_and_an_unwritable_output(loans, tmp_path, capsys):
    assert main(["counterfactual", str(loans), "--row", "400", "--target-column", "approved",
                 "--out", str(tmp_path / "out")]) == 1
    assert "Row 400 is not among the analysed rows" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["counterfactual", str(loans), "--row", "0", "--target-column", "approved",
                 "--out", str(blocker)]) == 1
    assert "exists and is a file" in capsys.readouterr().err
    taken = tmp_path / "taken"
    (taken / "changes.csv").mkdir(parents=True)
    assert main(["counterfactual", str(loans), "--row", "0", "--target-column", "approved",
                 "--out", str(taken)]) == 1
    assert "is not a file" in capsys.readouterr().err


def test_no_counterfactual_within_the_constraints_is_one_plain_sentence(loans, tmp_path, capsys):
    columns = "age,income_k,loan_amount_k,children"
    code = main(["counterfactual", str(loans), "--row", str(_declined_row(loans)), "--target-column", "approved",
                 "--columns", columns, "--model", "tree", "--param", "max_depth=2", "--freeze", "income_k,loan_amount_k",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "No counterfactual found: with income_k, loan_amount_k frozen" in err
    assert not (tmp_path / "out").exists()


def test_parse_range():
    assert parse_range("income_k=20:80") == ("income_k", (20.0, 80.0))
    assert parse_range(" age = :60") == ("age", (None, 60.0))
    assert parse_range("x=1.5:") == ("x", (1.5, None))
    for bad in ("x=:", "=1:2", "x=1", "x"):
        with pytest.raises(InputError):
            parse_range(bad)
    assert np.isfinite(parse_range("x=-3:3")[1][0])


def test_settings_are_checked_before_the_model_is_fitted(tmp_path, monkeypatch):
    import xaidesk.tabular.models as models
    from xaidesk.cli import main

    fitted = []
    real = models.fit_table_model
    monkeypatch.setattr(models, "fit_table_model", lambda *a, **k: fitted.append(True) or real(*a, **k))
    loans = Path(__file__).resolve().parents[1] / "resources" / "samples" / "loans.csv"
    bad = [["--freeze", "nonexistent"], ["--range", "nope=1:2"], ["--count", "0"], ["--max-changes", "0"],
           ["--target", "maybe"], ["--margin", "0.7"], ["--param", "C=-1"]]
    for extra in bad:
        out = tmp_path / f"out{len(fitted)}_{extra[0][2:]}"
        code = main(["counterfactual", str(loans), "--row", "1", "--target-column", "approved", *extra, "--out", str(out)])
        assert code != 0, extra
        assert not out.exists()
    assert fitted == []
