"""The ICE, partial dependence and Shapley files: CSV values read back exactly, PNG figures that open."""

import csv
import io

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression

from xaidesk.core import InputError
from xaidesk.export import tabular_files as tf
from xaidesk.tabular.dependence import IceResult, ice_curves, partial_dependence_2d
from xaidesk.tabular.shapley import shapley_values

NAMES = ["income, k€", "debt", "age"]


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    y = (X[:, 0] - 0.7 * X[:, 1] + 0.2 * rng.normal(size=150) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    return X, model, (lambda rows: model.predict_proba(rows)[:, 1])


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def written(x) -> float:
    """What a number becomes with 12 significant digits (the files' precision)."""
    return float(f"{float(x):.12g}")


def image(data: bytes) -> Image.Image:
    assert data[:8] == tf.PNG_SIGNATURE
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def test_ice_csv_reads_back_curves_average_and_extrapolation(fitted):
    X, model, predict = fitted
    ice = ice_curves(predict, X, 1, grid=[-9.0, -1.0, 0.0, 0.5, 9.0], rows=[3, 7, 40])
    row_ids = np.arange(len(X)) * 10 + 2
    lines = rows_of(tf.ice_csv(ice, row_ids, NAMES[1]))
    assert lines[0] == ["row", "debt", "output", "outside_data"]
    body = lines[1:]
    assert len(body) == (3 + 1) * 5
    for k, position in enumerate([3, 7, 40]):
        block = body[5 * k:5 * k + 5]
        assert {b[0] for b in block} == {str(row_ids[position])}
        assert [float(b[1]) for b in block] == [written(g) for g in ice.grid]
        assert [float(b[2]) for b in block] == [written(v) for v in ice.curves[k]]
        changed = X[position].copy()
        changed[1] = 0.5
        assert float(block[3][2]) == pytest.approx(predict(changed[None])[0], rel=1e-11)
    average = body[15:]
    assert {b[0] for b in average} == {"partial dependence"}
    assert [float(b[2]) for b in average] == [written(v) for v in ice.curves.mean(axis=0)]
    assert [b[3] for b in average] == ["1", "0", "0", "0", "1"]
    positions = rows_of(tf.ice_csv(ice, None, "debt"))
    assert positions[1][0] == "3"


def test_pd2d_csv_reads_back_the_grid(fitted):
    X, model, predict = fitted
    pd = partial_dependence_2d(predict, X, 0, 2, points=4, max_rows=50)
    lines = rows_of(tf.pd2d_csv(pd, [NAMES[0], NAMES[2]]))
    assert lines[0] == ["income, k€", "age", "partial_dependence"]
    assert len(lines) == 1 + pd.values.size
    for line in lines[1:]:
        i = [written(g) for g in pd.grid1].index(float(line[0]))
        j = [written(g) for g in pd.grid2].index(float(line[1]))
        assert float(line[2]) == written(pd.values[i, j])


def test_shapley_csv_reads_back_and_shows_the_efficiency_gap(fitted):
    X, model, predict = fitted
    result = shapley_values(predict, X[:6], X[50:90], method="exact", feature_names=NAMES)
    row_ids = np.array([4, 8, 15, 16, 23, 42])
    lines = rows_of(tf.shapley_csv(result.values, result.base_value, result.output, NAMES, row_ids))
    assert lines[0] == ["row", "base_value", *NAMES, "output", "efficiency_gap"]
    for line, row, phi, out in zip(lines[1:], row_ids, result.values, result.output):
        assert int(line[0]) == row
        assert float(line[1]) == written(result.base_value)
        assert [float(v) for v in line[2:5]] == [written(v) for v in phi]
        assert float(line[5]) == written(out)
        assert abs(float(line[6])) <= 1e-9
    off = tf.shapley_csv(result.values, result.base_value + 0.25, result.output, NAMES, row_ids)
    assert float(rows_of(off)[1][6]) == pytest.approx(0.25, abs=1e-9)


def test_non_finite_or_mismatched_inputs_are_refused(fitted):
    X, model, predict = fitted
    ice = ice_curves(predict, X, 0, rows=[1, 2], points=5)
    broken = IceResult(**{**ice.__dict__, "curves": np.where(ice.curves > 0.5, np.nan, ice.curves)})
    with pytest.raises(InputError, match="missing or infinite"):
        tf.ice_csv(broken, None, "x")
    with pytest.raises(InputError, match="missing or infinite"):
        tf.ice_png(broken, "x", "p")
    values = np.ones((2, 3))
    with pytest.raises(InputError, match="missing or infinite"):
        tf.shapley_csv(values, np.inf, [3.0, 3.0], NAMES, [0, 1])
    with pytest.raises(InputError, match="missing or infinite"):
        tf.beeswarm_png(values, np.array([[1, 2, np.nan], [1, 2, 3]]), NAMES)
    with pytest.raises(InputError, match="one of each"):
        tf.shapley_csv(values, 0.0, [3.0], NAMES, [0, 1])
    with pytest.raises(InputError, match="no ICE curve"):
        tf.ice_png(ice, "x", "p", highlight=77)
    with pytest.raises(InputError, match="no feature called"):
        tf.dependence_png(values, values, NAMES, "salary")
    with pytest.raises(InputError, match="not a PNG"):
        tf.write_png("/tmp/never-written.png", b"text")


def test_pngs_are_images_of_sensible_size(fitted, tmp_path):
    X, model, predict = fitted
    ice = ice_curves(predict, X, 0, grid=np.linspace(-5, 5, 12), rows=range(30))
    pd = partial_dependence_2d(predict, X, 0, 1, points=5, max_rows=40)
    result = shapley_values(predict, X[:40], X[50:80], method="exact", feature_names=NAMES)
    figures = {
        "ice": tf.ice_png(ice, NAMES[0], "probability", highlight=4, highlight_label="row 4"),
        "pd2d": tf.pd2d_png(pd, NAMES[:2], "probability"),
        "waterfall": tf.waterfall_png(result.values[0], result.base_value, result.output[0], NAMES, X[0], "row 0"),
        "beeswarm": tf.beeswarm_png(result.values, X[:40], NAMES, "probability"),
        "dependence": tf.dependence_png(result.values, X[:40], NAMES, NAMES[0], colour_by=NAMES[1]),
    }
    for name, data in figures.items():
        picture = image(data)
        assert picture.format == "PNG"
        assert 500 <= picture.width <= 1200 and 250 <= picture.height <= 1000, (name, picture.size)
        pixels = np.asarray(picture.convert("L"))
        assert pixels.std() > 10, name  # something was drawn
        path = tf.write_png(tmp_path / f"{name}.png", data)
        assert path.read_bytes() == data
    many = np.tile(result.values, (1, 10))
    tall = image(tf.beeswarm_png(many, np.tile(X[:40], (1, 10)), [f"f{k}" for k in range(30)], max_features=15))
    short = image(figures["beeswarm"])
    assert tall.height > short.height


def test_writers_are_atomic_files(fitted, tmp_path):
    X, model, predict = fitted
    ice = ice_curves(predict, X, 2, rows=[0], points=3)
    path = tf.write_ice_csv(tmp_path / "sub" / "ice.csv", ice, None, "age")
    assert path.read_bytes() == tf.ice_csv(ice, None, "age")
    pd = partial_dependence_2d(predict, X, 0, 1, points=3, max_rows=10)
    assert tf.write_pd2d_csv(tmp_path / "pd.csv", pd, NAMES[:2]).read_bytes() == tf.pd2d_csv(pd, NAMES[:2])
    shap_path = tf.write_shapley_csv(tmp_path / "s.csv", np.zeros((1, 3)), 0.5, [0.5], NAMES, [9])
    assert rows_of(shap_path.read_bytes())[1] == ["9", "0.5", "0", "0", "0", "0.5", "0"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["ice.csv", "pd.csv", "s.csv", "sub"]


def test_readable_files_for_a_regression_reuse_the_explained_rows_values():
    from xaidesk.explain.table import explain_table
    from xaidesk.tabular import load_builtin_methods

    load_builtin_methods()
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3))
    y = 2.0 * X[:, 0] - X[:, 2] + 0.1 * rng.normal(size=80)
    result = explain_table(X, "tabular.readable", {"model": "linear", "explained_rows": 20}, target=y)
    explained = result.extras["explained_positions"]
    row = int(result.row_ids[explained[3]])
    files = tf.readable_files(result, ice=[result.feature_names[0]], row=row)
    assert sorted(files) == sorted(["shapley.csv", "shapley_summary.png", "ice_feature_1.csv", "ice_feature_1.png",
                                    f"waterfall_row{row}.png"])
    shapley = result.extras["shapley"]
    expected = tf.waterfall_png(shapley.values[3], shapley.base_value, shapley.output[3], result.feature_names,
                                result.extras["fitted"].X[explained[3]],
                                f"Row {row}: why the predicted target is {shapley.output[3]:.4g}")
    assert files[f"waterfall_row{row}.png"] == expected
    lines = rows_of(files["ice_feature_1.csv"])
    assert len(lines) == 1 + (80 + 1) * len(set(line[1] for line in lines[1:]))  # every row (80 <= 200) and the PD
    with pytest.raises(InputError, match="no feature called 'nope'"):
        tf.readable_files(result, ice=["nope"])
    plain = explain_table(X, "supervised.linear", {}, target=y)
    with pytest.raises(InputError, match="tabular.readable"):
        tf.readable_files(plain)
