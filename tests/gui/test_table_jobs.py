"""The Tables tab's worker jobs and view statistics, run headless (no Qt)."""

import subprocess
import sys

import numpy as np
import pytest

from xaidesk.core import default_method, list_methods
from xaidesk.core.registry import TAG_INTERCEPT_APART, TAG_LOCAL_SURROGATE, TAG_OUTLIER_SCORE, TAG_SUPERVISED
from xaidesk.data.tables import load_table
from xaidesk.gui import table_jobs


def _spending_table(tmp_path, rows: int = 40):
    """Three long-tailed spending columns and a shop category (metadata)."""
    rng = np.random.default_rng(5)
    spend = rng.lognormal(6.0, 0.8, size=(rows, 3)) + 1.0
    shops = ["north", "south"]
    lines = ["fresh,milk,grocery,shop"] + [f"{a:.2f},{b:.2f},{c:.2f},{shops[i % 2]}"
                                           for i, (a, b, c) in enumerate(spend)]
    path = tmp_path / "spend.csv"
    path.write_text("\n".join(lines) + "\n")
    return load_table(path)


def test_job_module_imports_neither_qt_nor_torch():
    code = ("import sys, xaidesk.gui.table_jobs; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'torch')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_table_methods_are_listed_outliers_first():
    names = [m.name for m in table_jobs.list_table_methods()]
    assert sorted(names) == sorted(m.name for m in list_methods("table"))
    assert names[:3] == ["neon.knn", "neon.kde", "neon.kmeans"]
    assert all(n.startswith(("supervised.", "tabular.")) for n in names[3:])
    assert names[0] == default_method("table")


def test_method_tags_say_how_a_result_reads():
    assert table_jobs.method_has("neon.kde", TAG_OUTLIER_SCORE) and not table_jobs.method_has("neon.kmeans", TAG_OUTLIER_SCORE)
    assert table_jobs.method_has("supervised.mlp_lrp", TAG_SUPERVISED) and not table_jobs.method_has("neon.knn", TAG_SUPERVISED)
    assert table_jobs.method_has("supervised.linear", TAG_INTERCEPT_APART)
    assert not table_jobs.method_has("supervised.mlp_lrp", TAG_INTERCEPT_APART)
    assert table_jobs.method_has("supervised.mlp_lime", TAG_LOCAL_SURROGATE)


def test_theta_per_column_follows_the_overrides():
    thetas = table_jobs.resolve_thetas(["a", "b", "c"], "auto", {"b": "none", "c": " 2.5 "})
    assert thetas == {"a": "auto", "b": None, "c": 2.5}
    assert table_jobs.resolve_thetas(["a"], "none", {"a": ""}) == {"a": None}


def test_preview_marks_one_chosen_theta_per_column_and_keeps_every_row(tmp_path):
    table = _spending_table(tmp_path)
    assert table.roles["shop"] == "metadata"
    preview = table_jobs.preview_preprocessing(table, dict(table.roles), {}, "auto", {"milk": "none"}, False)
    assert preview.names == ["fresh", "milk", "grocery"] and preview.rows == 40 and not preview.standardized
    assert preview.theta["milk"] is None and preview.theta["fresh"] is not None
    for name in preview.names:
        chosen = [r for r in preview.jb_rows if r["column"] == name and r["chosen"]]
        assert len(chosen) == 1
    milk = next(r for r in preview.jb_rows if r["column"] == "milk" and r["chosen"])
    assert not np.isfinite(milk["theta"])  # no log: the raw column is the one used
    assert all(counts.sum() == 40 for counts, _ in preview.before + preview.after)


def test_run_analysis_gives_back_the_raw_values_and_the_preprocessing(tmp_path):
    table = _spending_table(tmp_path)
    result = table_jobs.run_analysis(table, dict(table.roles), {}, "neon.knn", {"gamma": "1"}, "none", {}, True)
    assert result.feature_names == ["fresh", "milk", "grocery"]
    assert np.allclose(result.raw, table.frame[["fresh", "milk", "grocery"]].to_numpy(dtype=float))
    assert result.standardized and result.params["standardize"] is True
    assert result.params["theta"] == {"fresh": "none", "milk": "none", "grocery": "none"}
    assert np.allclose(result.relevance.sum(axis=1) + result.absorbed, result.scores, rtol=1e-6)
    assert set(result.metadata) == {"shop"}


def test_scores_are_grouped_by_metadata_or_by_cluster(tmp_path):
    table = _spending_table(tmp_path)
    result = table_jobs.run_analysis(table, dict(table.roles), {}, "neon.kmeans", {"clusters": 2}, "auto", {}, False)
    by_shop = table_jobs.score_groups(result, "shop")
    assert sorted(by_shop) == ["north", "south"] and sum(len(v) for v in by_shop.values()) == 40
    by_cluster = table_jobs.score_groups(result, "cluster")
    labels = np.asarray(result.extras["labels"])
    assert sorted(by_cluster) == ["0", "1"]
    assert np.array_equal(by_cluster["1"], result.scores[labels == 1])


def test_box_stats_use_tukey_whiskers_and_leave_out_missing_values():
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 100.0, np.nan])
    (box,) = table_jobs.box_stats({"all": values, "empty": [np.nan]})
    assert box.label == "all" and box.count == 6
    assert box.median == pytest.approx(3.5)
    assert (box.q1, box.q3) == (pytest.approx(2.25), pytest.approx(4.75))
    assert (box.low, box.high) == (1.0, 5.0)
    assert box.outliers.tolist() == [100.0]


def test_open_table_guesses_the_roles(tmp_path):
    path = _spending_table(tmp_path).path
    table = table_jobs.open_table(path)
    assert table.columns == ["fresh", "milk", "grocery", "shop"] and table.n_rows == 40
    assert table.roles == {"fresh": "feature", "milk": "feature", "grocery": "feature", "shop": "metadata"}
