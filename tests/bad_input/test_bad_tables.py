"""Bad and awkward tables through ``xaidesk explain table``: refused plainly, or handled with a notice."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

FAST = ["--param", "gamma=1", "--param", "theta=none"]


def _rows(n: int = 12, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    values = rng.normal(10.0, 2.0, size=(n, 3))
    return [[f"{v:.4f}" for v in row] for row in values]


def _csv(header: str = "a,b,c", rows=None, sep: str = ",") -> str:
    rows = _rows() if rows is None else rows
    return "\n".join([header] + [sep.join(r) for r in rows]) + "\n"


def _replace(row: int, column: int, value: str) -> str:
    rows = _rows()
    rows[row][column] = value
    return _csv(rows=rows)


def _label_csv() -> str:
    rows = _rows()
    return _csv("a,b,c,label,kind", [r + [str(i % 3), "xy"[i % 2]] for i, r in enumerate(rows)])


def _write(tmp_path, name: str, content) -> "os.PathLike":
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _xlsx(tmp_path, name: str, header: list, rows: list) -> "os.PathLike":
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    path = tmp_path / name
    book.save(path)
    return path


def _complete(out) -> None:
    """scores.csv and relevance.csv exist and hold a finite number in every cell."""
    for name in ("scores.csv", "relevance.csv"):
        with open(out / name, encoding="utf-8") as handle:
            rows = list(csv.reader(handle))[1:]
        assert rows, name
        cells = np.array([[float(v) for v in row] for row in rows])  # an empty cell fails here
        assert np.all(np.isfinite(cells)), name


# --- refused: (file name, content, extra arguments, words the message must contain) ------------------------------

REFUSED = {
    "empty_file": ("t.csv", "", [], ["empty"]),
    "only_blank_lines": ("t.csv", "\n\n  \n", [], ["no text"]),
    "header_only": ("t.csv", "a,b,c\n", [], ["no data rows"]),
    "one_row": ("t.csv", "a,b,c\n1,2,3\n", [], ["only one data row", "at least 3"]),
    "two_rows": ("t.csv", "a,b,c\n1,2,3\n4,5,6\n", [], ["only 2 data rows", "at least 3"]),
    "fifty_thousand_columns": (
        "t.csv", ",".join(f"c{i}" for i in range(50_000)) + "\n" + "\n".join(",".join(["1"] * 50_000) for _ in range(3)),
        [], ["50,000 columns", "10,000"]),
    "binary_garbage": ("t.csv", bytes(range(256)) * 8, [], ["binary"]),
    "latin1_text": ("t.csv", "name,caf\xe9\n1,2\n3,4\n5,6\n".encode("latin-1"), [], ["not utf-8", "latin-1"]),
    "wrong_encoding_name": ("t.csv", _csv(), ["--encoding", "no-such-codec"], ["encoding"]),
    "zip_named_csv": ("t.csv", b"PK\x03\x04" + b"\x00" * 60, [], ["excel"]),
    "old_excel": ("t.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 60, [], ["old excel", "xlsx"]),
    "xlsx_garbage": ("t.xlsx", b"this is not a workbook at all", [], ["excel workbook"]),
    "no_separator": ("t.txt", "justoneword\nanother\nthird\nfourth\n", [], ["does not look like a table"]),
    "ragged_rows": ("t.csv", "a,b,c\n1,2,3\n4,5\n7,8,9\n1,1,1\n", [], ["different lengths", "line 3"]),
    "all_text": ("t.csv", "a,b\nx,y\nz,w\nq,r\ns,t\n", [], ["no numeric column"]),
    "all_constant": ("t.csv", "a,b\n5,1\n5,1\n5,1\n5,1\n", [], ["no numeric feature column", "same value", "--columns"]),
    "id_and_text_only": ("t.csv", "id,name\n1,x\n2,y\n3,z\n4,w\n5,v\n", [],
                         ["no numeric feature column", "'id'", "identifier", "--columns"]),
    "inf_cell": ("t.csv", _replace(3, 1, "inf"), FAST, ["'b'", "infinite", "row 3"]),
    "minus_inf_cell": ("t.csv", _replace(5, 0, "-inf"), FAST, ["'a'", "infinite"]),
    "huge_numbers_without_log": (
        "t.csv", _csv(rows=[[f"{float(r[0]) * 1e307:.4g}", r[1], r[2]] for r in _rows()]), FAST,
        ["too large", "'a'", "theta=auto"]),
    "empty_column_named": ("t.csv", _csv("a,b,c,d", [r + [""] for r in _rows()]), FAST + ["--columns", "d"],
                           ["no numeric feature column", "'d' has no values"]),
    "columns_names_missing_column": ("t.csv", _csv(), FAST + ["--columns", "a,zz"], ["no column 'zz'", "a, b, c"]),
    "columns_names_text_column": ("t.csv", _label_csv(), FAST + ["--columns", "kind"],
                                  ["no numeric feature column", "'kind' holds text"]),
    "target_column_missing": ("t.csv", _label_csv(), ["--target-column", "price"], ["no column 'price'"]),
    "target_is_a_feature": ("t.csv", _label_csv(), ["--target-column", "a", "--columns", "a,b"],
                            ["both a feature and the target"]),
    "supervised_without_target": ("t.csv", _csv(), [], ["target column"]),
    "text_target_for_regression": ("t.csv", _label_csv(), ["--target-column", "kind", "--param", "model=ridge"],
                                   ["holds text"]),
    "fractional_target_for_classes": ("t.csv", _label_csv(), ["--target-column", "a", "--param", "model=logistic"],
                                      ["not classes", "regression"]),
    "infinite_target": ("t.csv", _csv("a,b,c,y", [r + ["inf" if i == 2 else str(i)] for i, r in enumerate(_rows())]),
                        ["--target-column", "y"], ["target column 'y'", "infinite"]),
    "huge_target": ("t.csv", _csv("a,b,c,y", [r + [f"{(i + 1) * 1e299:.4g}"] for i, r in enumerate(_rows())]),
                    ["--target-column", "y"], ["target", "too large"]),
}
SUPERVISED = {"huge_target", "supervised_without_target", "target_column_missing", "target_is_a_feature",
              "text_target_for_regression", "fractional_target_for_classes", "infinite_target"}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_table(case, tmp_path, refused):
    name, content, extra, says = REFUSED[case]
    path = _write(tmp_path, name, content)
    method = "supervised.linear" if case in SUPERVISED else "neon.knn"
    refused(["explain", "table", path, "--method", method, *extra, "--out", tmp_path / "out"],
            inputs=[path], out=tmp_path / "out", says=says)


# --- refused: paths, methods and parameters ------------------------------------------------------------------------

BAD_ARGUMENTS = {
    "unknown_method": (["--method", "neon.nothing"], ["neon.nothing"]),
    "image_method_on_table": (["--method", "occlusion"], ["not a method for tables"]),
    "gamma_negative": (["--method", "neon.knn", "--param", "gamma=-1"], ["positive"]),
    "gamma_nan": (["--method", "neon.knn", "--param", "gamma=nan"], ["gamma"]),
    "gamma_text": (["--method", "neon.knn", "--param", "gamma=wide"], ["γ"]),
    "theta_text": (["--method", "neon.knn", "--param", "theta=sometimes"], ["theta"]),
    "clusters_too_many": (["--method", "neon.kmeans", "--param", "clusters=999"], ["clusters"]),
    "unknown_parameter": (["--method", "neon.knn", "--param", "speed=3"], ["speed"]),
    "lime_rows_text": (["--method", "supervised.mlp_lime", "--target-column", "label", "--param", "rows=first",
                        "--param", "epochs=1"], ["whole numbers"]),
}


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_refused_arguments(case, tmp_path, refused):
    path = _write(tmp_path, "t.csv", _label_csv())
    extra, says = BAD_ARGUMENTS[case]
    refused(["explain", "table", path, *extra, "--out", tmp_path / "out"], inputs=[path], out=tmp_path / "out",
            says=says)


def test_refused_missing_file(tmp_path, refused):
    refused(["explain", "table", tmp_path / "nothing.csv", "--method", "neon.knn", "--out", tmp_path / "out"],
            out=tmp_path / "out", says=["does not exist"])


def test_refused_folder(tmp_path, refused):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    refused(["explain", "table", folder, "--method", "neon.knn", "--out", tmp_path / "out"], out=tmp_path / "out",
            says=["folder"])


def test_refused_symlink_loop(tmp_path, refused):
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    result = refused(["explain", "table", loop, "--method", "neon.knn", "--out", tmp_path / "out"],
                     out=tmp_path / "out")
    assert "loop.csv" in result.err


# --- accepted, with a notice where something was changed or dropped -------------------------------------------------

def _wide_long_line() -> str:
    header = ",".join(f"a_rather_long_measurement_name_number_{i:04d}" for i in range(4000))  # 176 KB
    assert len(header) > 128 * 1024
    rows = [",".join(f"{(i * 7 + j * 3) % 11 + j / 1000:.6f}" for j in range(4000)) for i in range(4)]
    return "\n".join([header, *rows]) + "\n"


ACCEPTED = {
    "three_rows": ("t.csv", "a,b,c\n1,2,3\n4,5,7\n7,9,9\n", [], []),
    "three_rows_auto_gamma": ("t.csv", "a,b,c\n1,2,3\n4,5,7\n7,9,9\n", ["--param", "theta=none"], []),
    "line_over_128_kib": ("t.csv", _wide_long_line(), [], []),
    "long_text_cell": ("t.csv", _csv("a,b,c,note", [r + ["x" * 200_000 if i == 0 else "y"] for i, r in enumerate(_rows())]),
                       [], []),
    "utf8_bom": ("t.csv", "\ufeff" + _csv(), [], []),
    "utf16": ("t.csv", _csv().encode("utf-16"), [], []),
    "semicolon_decimal_comma": ("t.csv", _csv("a;b;c", [[v.replace(".", ",") for v in r] for r in _rows()], sep=";"),
                                [], []),
    "tab_separated": ("t.tsv", _csv("a\tb\tc", sep="\t"), [], []),
    "quoted_newline_in_header": ("t.csv", _csv('"first\nname",b,c'), [], []),
    "duplicate_column_names": ("t.csv", _csv("a,a,b"), [], ["'a' appears more than once"]),
    "no_header_row": ("t.csv", "\n".join(",".join(r) for r in _rows()) + "\n", [], ["first line holds numbers"]),
    "empty_column": ("t.csv", _csv("a,b,c,d", [r + [""] for r in _rows()]), [], ["'d' has no values"]),
    "all_missing_rows": ("t.csv", _csv(rows=[r if i % 4 else ["", "", ""] for i, r in enumerate(_rows())]), [],
                         ["3 of 12 rows were left out"]),
    "nan_word_cell": ("t.csv", _replace(2, 2, "NaN"), [], ["1 missing value", "1 of 12 rows"]),
    "constant_column": ("t.csv", _csv("a,b,c,k", [r + ["7"] for r in _rows()]), [], ["'k' has the same value"]),
    "huge_numbers_logged": ("t.csv", _csv(rows=[[f"{abs(float(r[0])) * 1e300:.4g}", r[1], r[2]] for r in _rows()]),
                            ["--param", "gamma=1", "--param", "theta=0"], []),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted_table(case, tmp_path, accepted):
    name, content, extra, says = ACCEPTED[case]
    path = _write(tmp_path, name, content)
    argv = extra if "gamma=1" in extra or "theta=none" in extra else FAST + extra
    accepted(["explain", "table", path, "--method", "neon.knn", *argv, "--out", tmp_path / "out"], inputs=[path],
             says=says)
    _complete(tmp_path / "out")


def test_accepted_xlsx_duplicate_names(tmp_path, accepted):
    rows = [[float(v) for v in r] for r in _rows()]
    path = _xlsx(tmp_path, "t.xlsx", ["a", "a", "b"], rows)
    accepted(["explain", "table", path, "--method", "neon.knn", *FAST, "--out", tmp_path / "out"], inputs=[path],
             says=["'a' appears more than once"])
    _complete(tmp_path / "out")


def test_refused_xlsx_two_rows(tmp_path, refused):
    path = _xlsx(tmp_path, "t.xlsx", ["a", "b"], [[1, 2], [3, 4]])
    refused(["explain", "table", path, "--method", "neon.knn", "--out", tmp_path / "out"], inputs=[path],
            out=tmp_path / "out", says=["only 2 data rows"])


def test_accepted_kmeans_on_three_rows(tmp_path, accepted):
    path = _write(tmp_path, "t.csv", "a,b,c\n1,2,3\n4,5,7\n7,9,9\n")
    accepted(["explain", "table", path, "--method", "neon.kmeans", "--param", "theta=none", "--out", tmp_path / "out"],
             inputs=[path])
    _complete(tmp_path / "out")
