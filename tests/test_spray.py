"""SpRAy: downsampling, the Laplacian spectrum against a naive computation, clustering of
planted groups, reading batch runs, the result folder, the CLI and the demo pictures."""

import csv
import json

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import adjusted_rand_score

from xaidesk.core import CancelToken, Cancelled, InputError
from xaidesk.evaluate import spray as spray_module
from xaidesk.evaluate.spray import (
    affinity_graph,
    downsample,
    eigengap,
    load_run_heatmaps,
    normalize_maps,
    read_spray_results,
    spray,
    write_spray_results,
)

from helpers import SPRAY_METHOD as METHOD, make_run, planted_maps


# --------------------------------------------------------------------------- steps


def test_downsample_is_area_averaging():
    from skimage.transform import downscale_local_mean

    rng = np.random.default_rng(0)
    heatmap = rng.normal(size=(64, 48))
    np.testing.assert_allclose(downsample(heatmap, 16), downscale_local_mean(heatmap, (4, 3)), atol=1e-12)
    # Sizes that do not divide: still every pixel counted once in total (sum preserved up to cell area).
    odd = rng.normal(size=(37, 23))
    small = downsample(odd, 8)
    assert small.shape == (8, 8)
    np.testing.assert_allclose(small.sum() * (37 * 23) / 64, odd.sum(), rtol=1e-10)


def test_normalize_maps():
    maps = np.stack([np.full((3, 3), -4.0), np.zeros((3, 3)), np.arange(9.0).reshape(3, 3)])
    by_max = normalize_maps(maps, "max")
    assert np.abs(by_max[0]).max() == 1 and np.abs(by_max[2]).max() == 1
    assert np.all(by_max[1] == 0)
    by_l2 = normalize_maps(maps, "l2")
    np.testing.assert_allclose(np.linalg.norm(by_l2[[0, 2]].reshape(2, -1), axis=1), 1.0)
    with pytest.raises(InputError):
        normalize_maps(maps, "sum")


def naive_normalised_laplacian_eigenvalues(features, k):
    """Independent dense computation: kNN by sorting distances, A = (C + C^T)/2, L = I - D^-1/2 A D^-1/2."""
    n = len(features)
    distances = np.sqrt(((features[:, None, :] - features[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(distances, np.inf)
    connectivity = np.zeros((n, n))
    for i in range(n):
        connectivity[i, np.argsort(distances[i])[:k]] = 1.0
    affinity = (connectivity + connectivity.T) / 2
    d = affinity.sum(1)
    laplacian = np.eye(n) - affinity / np.sqrt(np.outer(d, d))
    return np.linalg.eigvalsh(laplacian)


@pytest.mark.parametrize("dense_limit", [10_000, 0])
def test_eigenvalues_match_a_naive_dense_computation(monkeypatch, dense_limit):
    monkeypatch.setattr("xaidesk.evaluate.spray.spectral.DENSE_LIMIT", dense_limit)  # 0: the sparse eigsh path
    rng = np.random.default_rng(1)
    maps, _ = planted_maps(rng, sizes=(15, 12, 9), side=20)
    result = spray(maps, size=10, n_neighbors=6, embedding="spectral")
    features = normalize_maps(np.stack([downsample(np.abs(m), 10) for m in maps]), "max").reshape(len(maps), -1)
    expected = naive_normalised_laplacian_eigenvalues(features, 6)
    assert len(result.eigenvalues) == 20
    np.testing.assert_allclose(result.eigenvalues, expected[:20], atol=1e-7)


def test_affinity_graph_is_symmetric_with_halves_for_one_sided_neighbours():
    points = np.array([[0.0], [1.0], [1.5], [10.0]])
    graph = affinity_graph(points, 1).toarray()
    np.testing.assert_array_equal(graph, graph.T)
    # 0 -> 1, 1 -> 2, 2 -> 1, 3 -> 2: (1,2) mutual (1.0), the others one-sided (0.5).
    assert graph[1, 2] == 1.0 and graph[0, 1] == 0.5 and graph[2, 3] == 0.5 and graph[0, 3] == 0


def test_eigengap_picks_the_largest_jump_from_two_clusters_on():
    values = np.array([0.0, 0.01, 0.02, 0.5, 0.55, 0.6, 0.62])
    assert eigengap(values, 5) == (3, pytest.approx(0.48))
    # A larger first gap (k = 1) is not a choice; the maximum is searched from k = 2.
    assert eigengap(np.array([0.0, 0.9, 0.95, 1.3, 1.35]), 4)[0] == 3
    # max_clusters caps the search.
    assert eigengap(values, 2)[0] == 2


# --------------------------------------------------------------------------- the analysis


@pytest.mark.parametrize("embedding", ["tsne", "spectral"])
def test_planted_groups_are_recovered(embedding):
    rng = np.random.default_rng(2)
    maps, truth = planted_maps(rng)
    reports = []
    result = spray(maps, size=16, embedding=embedding, seed=0,
                   progress=lambda f, m="", p=None: reports.append(f))
    assert result.eigengap_k == 3 and result.n_clusters == 3
    assert adjusted_rand_score(truth, result.labels) > 0.95
    assert result.cluster_sizes == [24, 16, 10]  # numbered by size, largest first
    assert result.embedding.shape == (len(maps), 2) and np.all(np.isfinite(result.embedding))
    assert result.cluster_means.shape == (3, 16, 16)
    # Each mean peaks where its group's blob is (cluster 0 = group 0 at (6, 6) -> cell (2, 2) of 16).
    peak = np.unravel_index(np.argmax(result.cluster_means[0]), (16, 16))
    assert abs(peak[0] - 2) <= 1 and abs(peak[1] - 2) <= 1
    assert reports == sorted(reports) and reports[-1] == 1.0
    # Points of one cluster lie closer to each other than to the other clusters in the embedding.
    centres = np.stack([result.embedding[result.labels == c].mean(0) for c in range(3)])
    own = np.linalg.norm(result.embedding - centres[result.labels], axis=1).mean()
    assert own < 0.5 * min(np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3))
    payload = result.to_dict()
    assert payload["eigengap_k"] == 3 and payload["cluster_sizes"] == [24, 16, 10]
    json.dumps(payload)


def test_maps_of_different_sizes_and_a_fixed_number_of_clusters():
    rng = np.random.default_rng(3)
    maps, truth = planted_maps(rng)
    mixed = [m if i % 2 else np.kron(m, np.ones((2, 2))) for i, m in enumerate(maps)]  # 40x40 and 80x80
    result = spray(mixed, size=20, n_clusters=4, embedding="spectral")
    assert result.n_clusters == 4 and result.eigengap_k == 3
    assert sorted(set(result.labels)) == [0, 1, 2, 3]
    assert adjusted_rand_score(truth, result.labels) > 0.6
    assert result.params["n_clusters"] == 4 and result.params["size"] == 20


def test_signed_values_differ_from_absolute_ones():
    # Two groups that differ only in the sign of the same blob: |R| cannot tell them apart, R can.
    rng = np.random.default_rng(4)
    maps, _ = planted_maps(rng, sizes=(20,), side=24)
    signed = np.concatenate([maps, -maps])
    truth = np.repeat([0, 1], 20)
    assert adjusted_rand_score(truth, spray(signed, size=12, values="signed", n_clusters=2).labels) == 1.0
    assert adjusted_rand_score(truth, spray(signed, size=12, values="abs", n_clusters=2).labels) < 0.2


@pytest.mark.parametrize("kwargs, words", [
    ({"heatmaps": np.zeros((2, 5, 5))}, "at least 3"),
    ({"heatmaps": np.zeros((5, 5))}, "(N, H, W)"),
    ({"heatmaps": [np.zeros((5, 5)), np.zeros(5), np.zeros((5, 5))]}, "Heatmap 1"),
    ({"heatmaps": np.full((4, 5, 5), np.nan)}, "non-finite"),
    ({"n_neighbors": 6}, "neighbours"),
    ({"n_clusters": 1}, "clusters"),
    ({"n_clusters": 6}, "clusters"),
    ({"size": 1}, "size"),
    ({"values": "square"}, "values"),
    ({"embedding": "umap"}, "embedding"),
])
def test_bad_input_is_refused_in_words(kwargs, words):
    args = {"heatmaps": np.random.default_rng(0).normal(size=(6, 8, 8)), **kwargs}
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        spray(args.pop("heatmaps"), **args)


def test_cancel_stops_the_analysis():
    token = CancelToken()

    def progress(fraction, message="", partial=None):
        if fraction >= 0.3:
            token.cancel()

    with pytest.raises(Cancelled):
        spray(np.random.default_rng(0).normal(size=(30, 8, 8)), token=token, progress=progress)


# --------------------------------------------------------------------------- run folders


def test_load_run_heatmaps_selects_one_method_and_class(tmp_path):
    rng = np.random.default_rng(5)
    maps = [rng.normal(size=(12, 12)) for _ in range(8)]
    run = make_run(tmp_path / "run", maps, targets=[0, 0, 0, 1, 0, 0, 1, 0],
                   methods=[METHOD] * 6 + ["gradients.saliency"] * 2)
    with pytest.raises(InputError, match="several methods"):
        load_run_heatmaps(run)
    with pytest.raises(InputError, match="several classes"):
        load_run_heatmaps(run, method=METHOD)
    horse = load_run_heatmaps(run, method=METHOD, target_class="horse")
    assert horse.files == [f"horse/img_{i:03d}.png" for i in (0, 1, 2, 4, 5)]
    assert horse.target == 0 and horse.target_label == "horse" and horse.method == METHOD
    np.testing.assert_array_equal(horse.maps[3], maps[4].astype(np.float32))
    assert horse.thumbnail_path(0).is_file()
    assert horse.source_path(0) == tmp_path / "run" / "inputs" / "horse" / "img_000.png"
    by_index = load_run_heatmaps(run, method=METHOD, target_class=1)
    assert by_index.files == ["horse/img_003.png"] and by_index.target_label == "other"
    with pytest.raises(InputError, match="no results of method"):
        load_run_heatmaps(run, method="occlusion")
    with pytest.raises(InputError, match="explained classes"):
        load_run_heatmaps(run, method=METHOD, target_class="zebra")
    with pytest.raises(InputError, match="No input of class"):
        load_run_heatmaps(run, method=METHOD, target_class="horse", true_class="other")
    rows_only = load_run_heatmaps(run, method=METHOD, target_class="horse", load_maps=False)
    assert rows_only.maps == [] and len(rows_only.rows) == 5


def test_load_run_heatmaps_skips_missing_partial_and_escaping_rows(tmp_path):
    rng = np.random.default_rng(6)
    run = make_run(tmp_path / "run", [rng.normal(size=(8, 8)) for _ in range(4)])
    (run / "items" / METHOD / "horse" / "img_001.npy").unlink()
    index = run / "index.csv"
    text = index.read_text()
    text = text.replace(f"items/{METHOD}/horse/img_002.npy", "../../outside.npy")
    np.save(tmp_path / "outside.npy", np.ones((8, 8)))
    index.write_text(text + "horse/img_009.png,horse,0,horse,1.0,0")  # a row still being written
    loaded = load_run_heatmaps(run)
    assert loaded.files == ["horse/img_000.png", "horse/img_003.png"]
    assert len(loaded.notices) == 2 and "missing" in loaded.notices[0]
    with pytest.raises(InputError, match="not a batch run folder"):
        load_run_heatmaps(tmp_path)
    (run / "index.csv").unlink()
    with pytest.raises(InputError, match="it has no index.csv"):
        load_run_heatmaps(run)


def test_results_folder_round_trip(tmp_path):
    rng = np.random.default_rng(7)
    maps, _ = planted_maps(rng, sizes=(8, 6), side=16)
    run = make_run(tmp_path / "run", list(maps))
    heatmaps = load_run_heatmaps(run)
    result = spray(heatmaps.maps, size=8, n_neighbors=4)
    out = write_spray_results(tmp_path / "out", result, heatmaps)
    assert sorted(p.name for p in out.iterdir()) == sorted(spray_module.RESULT_FILES)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    with (out / "clusters.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["file"] for r in rows] == heatmaps.files
    assert [int(r["cluster"]) for r in rows] == result.labels.tolist()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_clusters"] == result.n_clusters and summary["cluster_sizes"] == result.cluster_sizes
    means_png = np.asarray(Image.open(out / "cluster_means.png"))
    assert means_png.shape[1] > means_png.shape[0] * (result.n_clusters - 0.5)  # a row of k squares
    again, rows_again = read_spray_results(out)
    np.testing.assert_array_equal(again.labels, result.labels)
    np.testing.assert_allclose(again.embedding, result.embedding, rtol=1e-10)
    np.testing.assert_allclose(again.eigenvalues, result.eigenvalues, rtol=1e-10)
    np.testing.assert_allclose(again.cluster_means, result.cluster_means, rtol=1e-6)
    assert again.eigengap_k == result.eigengap_k and again.params == result.params
    assert rows_again.files == heatmaps.files and rows_again.thumbnail_path(0).is_file()
    assert rows_again.run["model"] == "demo:clever_hans"
    with pytest.raises(InputError, match="not a SpRAy result folder"):
        read_spray_results(run)


# --------------------------------------------------------------------------- CLI and demo pictures


def test_cli_spray_writes_the_result_set(tmp_path, capsys):
    from xaidesk.cli import main

    rng = np.random.default_rng(8)
    maps, _ = planted_maps(rng, sizes=(10, 8), side=20)
    run = make_run(tmp_path / "run", list(maps))
    out = tmp_path / "spray"
    assert main(["spray", str(run), "--method", METHOD, "--class", "horse", "--size", "10", "--neighbors", "5",
                 "--out", str(out)]) == 0
    assert "eigengap suggests 2 clusters" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cluster_sizes"] == [10, 8] and summary["params"]["n_neighbors"] == 5
    assert summary["method"] == METHOD and summary["target_label"] == "horse"
    assert main(["spray", str(run), "--clusters", "40", "--out", str(tmp_path / "bad")]) == 1
    assert "clusters" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main(["spray", "--out", str(tmp_path / "bad")]) == 1
    assert "batch run folder" in capsys.readouterr().err


def test_mark_demo_pictures(tmp_path, capsys):
    from xaidesk.cli import main
    from xaidesk.data.scenes import MARK_BOX, make_mark_demo_set, read_marks

    folder = tmp_path / "demo"
    assert main(["spray", "--make-demo-folder", str(folder), "--count", "6", "--seed", "3"]) == 0
    marks = read_marks(folder)
    assert sorted(marks) == [f"horse/{i:04d}.png" for i in range(6)] and sum(marks.values()) == 3
    images, marked = make_mark_demo_set(6, seed=3)
    assert marked.tolist() == [marks[f"horse/{i:04d}.png"] for i in range(6)]
    top, left, h, w = MARK_BOX
    for i in range(6):
        saved = np.asarray(Image.open(folder / f"horse/{i:04d}.png"))
        np.testing.assert_array_equal(saved, images[i])
        corner = saved[top + 1, left + 10]  # inside the tag's light box, between two ink strokes
        assert (corner.min() >= 235) == bool(marked[i])
    assert main(["spray", "--make-demo-folder", str(folder)]) == 1
    assert "not an empty folder" in capsys.readouterr().err


def test_scene_mark_only_touches_its_box():
    from xaidesk.data.scenes import CH_SIZE, MARK_BOX, add_mark, make_clever_hans_set, with_marks

    images, labels, marked = make_clever_hans_set(10, seed=11)
    again = make_clever_hans_set(10, seed=11)
    np.testing.assert_array_equal(images, again[0])  # the same seed gives the same pictures
    assert images.shape == (10, CH_SIZE, CH_SIZE, 3) and set(labels) == {0, 1}
    tagged = add_mark(images[0])
    top, left, h, w = MARK_BOX
    outside = np.ones((CH_SIZE, CH_SIZE), bool)
    outside[top : top + h, left : left + w] = False
    np.testing.assert_array_equal(tagged[outside], images[0][outside])
    assert not np.array_equal(tagged, images[0])
    both = with_marks(images, np.arange(10) < 2)
    np.testing.assert_array_equal(both[1], add_mark(images[1]))
    np.testing.assert_array_equal(both[5], images[5])


def test_alike_heatmaps_are_flagged_as_one_strategy_and_planted_groups_are_not():
    from xaidesk.evaluate.spray import spray as run_spray

    rng = np.random.default_rng(0)
    base = rng.random((16, 16))
    alike = [base + 0.01 * rng.standard_normal((16, 16)) for _ in range(12)]
    assert run_spray(alike, size=8, embedding="spectral").looks_like_one_strategy
    groups = []
    for g in range(3):
        centre = np.zeros((16, 16))
        centre[g * 5:g * 5 + 4, g * 5:g * 5 + 4] = 1.0
        groups += [centre + 0.01 * rng.standard_normal((16, 16)) for _ in range(10)]
    result = run_spray(groups, size=8, n_neighbors=5, embedding="spectral")
    assert result.eigengap_k == 3 and not result.looks_like_one_strategy


def test_spray_reads_what_the_run_writer_writes_with_the_one_list_of_columns(tmp_path):
    from pathlib import Path

    import xaidesk
    from xaidesk.runs.format import INDEX_COLUMNS, IndexRow, MethodRequest, run_meta, write_index

    run = tmp_path / "run"
    (run / "items" / METHOD / "horse").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps(run_meta(tmp_path, "image", "demo:clever_hans",
                                                      [MethodRequest(METHOD)], "cpu", None)))
    rng = np.random.default_rng(8)
    rows = []
    for i in range(3):
        relevance, thumbnail = f"items/{METHOD}/horse/{i}.npy", f"items/{METHOD}/horse/{i}.png"
        np.save(run / relevance, rng.normal(size=(8, 8)).astype(np.float32))
        rows.append(IndexRow(f"horse/{i}.png", "horse", 0, "horse", 1.25, 0, "horse", METHOD, relevance, thumbnail,
                             0.5))
    write_index(run, rows)
    loaded = load_run_heatmaps(run)
    assert [tuple(row) for row in loaded.rows] == [INDEX_COLUMNS] * 3
    assert [IndexRow.from_record(row) for row in loaded.rows] == rows
    assert loaded.files == [r.file for r in rows] and len(loaded.maps) == 3
    # the column names are written out once, in the run format
    listing = '"file", "true_class", "predicted"'
    holders = [p.relative_to(Path(xaidesk.__file__).parent).as_posix()
               for p in Path(xaidesk.__file__).parent.rglob("*.py") if listing in p.read_text(encoding="utf-8")]
    assert holders == ["runs/format.py"]
