"""SpRAy across classes: the Fisher criterion on the spectral embedding ranks a planted shortcut first."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from helpers import make_run, planted_maps
from xaidesk.core import InputError
from xaidesk.evaluate.spray.classes import (
    CLASS_COLUMNS,
    class_suspicion,
    classes_csv,
    fisher_criterion,
    rank_classes,
)


def _naive_fisher_2d(points, labels, angles=20_000):
    """max over unit directions w of wᵀS_b w / wᵀS_w w, by trying many directions (2-D points only)."""
    mean = points.mean(axis=0)
    between = np.zeros((2, 2))
    within = np.zeros((2, 2))
    for group in np.unique(labels):
        members = points[labels == group]
        centre = members.mean(axis=0)
        between += len(members) * np.outer(centre - mean, centre - mean)
        within += (members - centre).T @ (members - centre)
    theta = np.linspace(0, np.pi, angles)
    w = np.stack([np.cos(theta), np.sin(theta)])
    return float(np.max(np.einsum("in,ij,jn->n", w, between, w) / np.einsum("in,ij,jn->n", w, within, w)))


@pytest.mark.parametrize("groups", [2, 3])
def test_fisher_criterion_is_the_best_direction_found_by_search(groups):
    rng = np.random.default_rng(groups)
    labels = np.repeat(np.arange(groups), 30)
    centres = rng.normal(0, 2.0, (groups, 2))
    points = centres[labels] + rng.normal(0, 1.0, (len(labels), 2)) * np.array([1.0, 0.3])
    assert fisher_criterion(points, labels) == pytest.approx(_naive_fisher_2d(points, labels), rel=1e-4)


def test_fisher_criterion_grows_with_separation_and_ignores_a_single_group():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1.0, (60, 3))
    labels = np.repeat([0, 1], 30)
    apart = [fisher_criterion(noise + np.outer(labels, [d, 0, 0]), labels) for d in (0.0, 1.0, 4.0)]
    assert apart[0] < apart[1] < apart[2]
    assert fisher_criterion(noise, np.zeros(60, dtype=int)) == 0.0


def _one_strategy(rng, count=42, side=40):
    """Heatmaps that all look at the centre (jittered, random strength, noise): no shortcut."""
    yy, xx = np.mgrid[0:side, 0:side]
    maps = []
    for _ in range(count):
        cy, cx = np.array([20, 20]) + rng.integers(-3, 4, 2)
        maps.append(rng.uniform(0.5, 3.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 40.0)
                    + rng.normal(0, 0.05, (side, side)))
    return np.array(maps)


def test_a_class_with_a_planted_shortcut_scores_above_classes_without_one():
    rng = np.random.default_rng(5)
    shortcut, _ = planted_maps(rng, sizes=(30, 12))
    clean = [_one_strategy(np.random.default_rng(seed)) for seed in (1, 2)]
    scores = [class_suspicion(0, "shortcut", shortcut, seed=0)] + [
        class_suspicion(i + 1, f"clean {i}", maps, seed=0) for i, maps in enumerate(clean)]
    assert scores[0].fisher > 10 * max(s.fisher for s in scores[1:])
    # the shortcut's heatmaps form a graph in two pieces: a second zero eigenvalue, and k = 2 from the eigengap
    assert scores[0].eigengap_k == 2
    assert scores[0].result.eigenvalues[1] < 1e-9 < min(s.result.eigenvalues[1] for s in scores[1:])
    assert scores[0].smallest_cluster_share == pytest.approx(12 / 42)


def test_rank_classes_reads_a_run_and_puts_the_suspect_first(tmp_path):
    rng = np.random.default_rng(3)
    shortcut, _ = planted_maps(rng, sizes=(30, 12))
    clean = _one_strategy(np.random.default_rng(4))
    maps = list(shortcut) + list(clean)
    targets = [0] * len(shortcut) + [1] * len(clean)
    run = make_run(tmp_path / "run", maps, targets=targets)
    ranked = rank_classes(run, seed=0)
    assert [c.label for c in ranked] == ["horse", "other"]
    assert ranked[0].heatmaps == 42 and ranked[0].fisher > ranked[1].fisher
    rows = list(csv.DictReader(io.StringIO(classes_csv(ranked).decode("utf-8"))))
    assert tuple(rows[0]) == CLASS_COLUMNS
    assert [r["label"] for r in rows] == ["horse", "other"] and rows[0]["rank"] == "1"
    assert float(rows[0]["fisher"]) == pytest.approx(ranked[0].fisher, rel=1e-6)


def test_classes_with_too_few_heatmaps_are_left_out_or_refused(tmp_path):
    rng = np.random.default_rng(0)
    maps, _ = planted_maps(rng, sizes=(6, 4))
    run = make_run(tmp_path / "run", list(maps))
    with pytest.raises(InputError, match="at least that many per class"):
        rank_classes(run, min_heatmaps=11)
    assert [c.heatmaps for c in rank_classes(run, min_heatmaps=10, seed=0)] == [10]


def test_cli_all_classes_writes_the_ranking(tmp_path, capsys):
    from xaidesk.cli import main

    rng = np.random.default_rng(3)
    shortcut, _ = planted_maps(rng, sizes=(30, 12))
    clean = _one_strategy(np.random.default_rng(4))
    run = make_run(tmp_path / "run", list(shortcut) + list(clean), targets=[0] * 42 + [1] * 42)
    assert main(["spray", str(run), "--all-classes", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "1. horse (42 heatmaps)" in out and "2. other" in out
    rows = list(csv.DictReader((tmp_path / "out" / "classes.csv").open()))
    assert [r["label"] for r in rows] == ["horse", "other"]
    assert main(["spray", str(run), "--all-classes", "--min-heatmaps", "50", "--out", str(tmp_path / "o2")]) == 1
    assert "at least that many per class" in capsys.readouterr().err
    assert not (tmp_path / "o2" / "classes.csv").exists()
