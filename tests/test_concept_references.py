"""Reference samples: the concept records of a run, resume after a cancel, shards, the cache and the files."""

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import loaded
from xaidesk.concepts import references as refs
from xaidesk.concepts.files import read_image_concepts, write_image_concepts, write_references
from xaidesk.concepts.image import explain_concepts
from xaidesk.core import CancelToken, Cancelled, InputError, MethodError
from xaidesk.explain.lrp.cnn import build_composite
from xaidesk.explain.lrp.concept_records import record_concepts
from xaidesk.runs.merge import merge_runs


def _model():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 5, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(5, 3),
    )
    return loaded(net, 16)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(12):
        sub = tmp_path / "src" / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (16 + i, 20, 3), dtype=np.uint8)).save(sub / f"{i:02d}.png")
    return tmp_path / "src"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(refs, "references_root", lambda: tmp_path / "cache" / "concepts")


def _cancel_after_four(folder, model, out):
    """Start a reference run into ``out`` and cancel it once at least four images are done."""
    token = CancelToken()

    def stop_after_some(fraction, message, partial=None):
        if partial is not None and partial.count >= 4:
            token.cancel()

    with pytest.raises(Cancelled):
        refs.compute_references(folder, model, "3", out=out, batch_size=2, token=token, progress=stop_after_some)


def test_a_cancelled_reference_run_resumes_to_the_same_records_as_one_uninterrupted_run(folder, tmp_path):
    model = _model()
    _cancel_after_four(folder, model, tmp_path / "run")
    partial = refs.open_references(tmp_path / "run")
    assert 4 <= len(partial.files) < 12 and not partial.finished
    resumed = refs.compute_references(folder, model, "3", out=tmp_path / "run", batch_size=2)
    whole = refs.compute_references(folder, model, "3", out=tmp_path / "whole", batch_size=5)
    assert resumed.files == whole.files and len(whole.files) == 12 and resumed.finished
    np.testing.assert_allclose(resumed.relevance, whole.relevance, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(resumed.activation_box, whole.activation_box)
    assert [s.file for s in resumed.relmax(1, 3)] == [s.file for s in whole.relmax(1, 3)]


def test_the_records_are_those_of_one_pass_per_image_and_the_boxes_lie_inside_each_image(folder, tmp_path):
    model = _model()
    result = refs.compute_references(folder, model, "3", out=tmp_path / "run", batch_size=4)
    composite = build_composite("epsilon_plus_flat", {"epsilon": 1e-6}, model)
    from xaidesk.data.images import load_image

    for row in (0, 7):
        pixels = load_image(folder / result.files[row]).pixels
        alone = record_concepts(model, model.preprocessing.to_tensor(pixels), None, composite, "3")
        np.testing.assert_allclose(result.relevance[row], alone.relevance[0].numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(result.activation[row], alone.activation[0].numpy(), rtol=1e-4, atol=1e-6)
        boxes = result.relevance_box[row]
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= pixels.shape[0]).all()
        assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= pixels.shape[1]).all()
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    ranked = result.relmax(2, 5)
    values = [s.value for s in ranked]
    assert values == sorted(values, reverse=True) and values[0] == pytest.approx(result.relevance[:, 2].max())


def test_shards_merge_with_their_concept_records(folder, tmp_path):
    from xaidesk.runs.execute import run_batch

    model = _model()
    for i in range(2):
        run_batch(folder, tmp_path / f"shard{i}", model, ["lrp.epsilon_plus_flat"], shard=(i, 2), batch_size=3,
                  concept_layer="3")
    merge_runs([tmp_path / "shard0", tmp_path / "shard1"], tmp_path / "merged")
    merged = refs.open_references(tmp_path / "merged")
    whole = refs.compute_references(folder, model, "3", out=tmp_path / "whole")
    assert merged.files == whole.files
    np.testing.assert_allclose(merged.relevance, whole.relevance, rtol=1e-5, atol=1e-7)


def test_the_cache_reuses_a_finished_run_and_finds_it(folder):
    model = _model()
    first = refs.compute_references(folder, model, "3")
    assert refs.find_references(model.spec, "3") == [first.run_dir]
    assert refs.find_references(model.spec, "0") == []
    again = refs.compute_references(folder, model, "3", progress=lambda *a: pytest.fail("ran again"))
    assert again.run_dir == first.run_dir


def test_bad_layers_methods_and_folders_are_refused_plainly(folder, tmp_path):
    model = _model()
    with pytest.raises(InputError, match="not a concept layer"):
        refs.compute_references(folder, model, "7", out=tmp_path / "a")
    with pytest.raises(MethodError, match="one LRP method"):
        refs.compute_references(folder, model, "3", out=tmp_path / "b", method="gradient.sensitivity")
    with pytest.raises(InputError, match="without concepts"):
        from xaidesk.runs.execute import run_batch

        run_batch(folder, tmp_path / "plain", model, ["lrp.epsilon_plus_flat"])
        refs.open_references(tmp_path / "plain")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_reference_files_and_the_image_files_are_written_whole_and_read_back(folder, tmp_path):
    model = _model()
    result = refs.compute_references(folder, model, "3", out=tmp_path / "run")
    out = write_references(result, per_concept=3)
    assert sorted(p.name for p in out.glob("concept_*.png")) == [f"concept_{c:04d}.png" for c in range(5)]
    rows = (out / "references.csv").read_text().splitlines()
    assert rows[0].startswith("channel,kind,rank,file") and len(rows) == 1 + 5 * 2 * 3
    np.testing.assert_array_equal(np.load(out / "relevance.npy"), result.relevance)

    from xaidesk.data.images import load_image

    pixels = load_image(folder / "a" / "01.png").pixels
    concepts = explain_concepts(model, pixels, "3", top=3)
    write_image_concepts(tmp_path / "image", concepts, pixels, source="01.png")
    back = read_image_concepts(tmp_path / "image")
    assert [int(r["channel"]) for r in back["rows"]] == concepts.channels
    assert back["heatmaps"].shape == (3, *pixels.shape[:2])
    assert back["meta"]["layer"] == "3"
    assert concepts.lower_layer == "0" and all(len(v) > 0 for v in concepts.feeding.values())


def test_boxes_map_through_a_resize_and_centre_crop_like_the_maps_do():
    from xaidesk.models.preprocessing import Preprocessing

    prep = Preprocessing(size=(4, 4), resize=4, mean=(0.0,) * 3, std=(1.0,) * 3)
    # a 4x8 image is resized to 4x8 and its centre 4x4 (columns 2..5) is seen
    assert prep.boxes_to_original(np.array([[0, 0, 4, 4]]), (4, 8)).tolist() == [[0, 2, 4, 6]]
    # an 8x16 image: the same, twice as large
    assert prep.boxes_to_original(np.array([[1, 1, 2, 2]]), (8, 16)).tolist() == [[2, 6, 4, 8]]
    # a box of the maps' coordinates agrees with where to_original puts a one-cell map
    cell = np.zeros((4, 4), dtype=np.float32)
    cell[1, 1] = 1.0
    mapped = prep.to_original(cell, (8, 16), preserve="value")
    rows, cols = np.nonzero(np.nan_to_num(mapped) > 0.5)
    top, left, bottom, right = prep.boxes_to_original(np.array([[1, 1, 2, 2]]), (8, 16))[0]
    assert top <= rows.min() and rows.max() < bottom and left <= cols.min() and cols.max() < right


def test_a_merge_refuses_shards_of_another_concept_layer_and_finds_sidecars_of_odd_names(tmp_path):
    from xaidesk.runs.execute import run_batch
    from xaidesk.runs.format import read_index, sidecar_files

    model = _model()
    source = tmp_path / "odd"
    source.mkdir()
    rng = np.random.default_rng(1)
    for name in ("img[1].png", "a b.png", "c.d.png", "e.png"):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(source / name)
    run_batch(source, tmp_path / "s0", model, ["lrp.epsilon_plus_flat"], shard=(0, 2), concept_layer="3")
    run_batch(source, tmp_path / "s1", model, ["lrp.epsilon_plus_flat"], shard=(1, 2), concept_layer="0")
    for row in read_index(tmp_path / "s0"):
        assert sidecar_files(tmp_path / "s0", row) == [row.relevance[:-4] + ".concepts.npz"]
    with pytest.raises(InputError, match="concept layer"):
        merge_runs([tmp_path / "s0", tmp_path / "s1"], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_the_cache_keeps_runs_for_different_explained_classes_apart(folder):
    model = _model()
    predicted = refs.compute_references(folder, model, "3")
    fixed = refs.compute_references(folder, model, "3", target=2)
    assert fixed.run_dir != predicted.run_dir and set(fixed.targets) == {2}


def test_a_reference_run_of_a_vision_transformer_records_its_block_concepts(folder, tmp_path):
    from test_attnlrp import loaded as loaded_vit
    from test_attnlrp import tiny_vit

    model = loaded_vit(tiny_vit())
    result = refs.compute_references(folder, model, "encoder.layers.encoder_layer_1", out=tmp_path / "vit",
                                     method="lrp.attention", batch_size=5)
    assert len(result.files) == 12 and result.relevance.shape == (12, 32) and np.isfinite(result.relevance).all()
    # token layers have no grid: the box is the whole image
    first = result.relmax(0, 1)[0]
    from xaidesk.data.images import load_image

    assert first.box == (0, 0, *load_image(first.path).pixels.shape[:2])


def test_reading_a_run_again_is_free_until_it_changes(folder, tmp_path):
    model = _model()
    _cancel_after_four(folder, model, tmp_path / "run")
    first = refs.open_references(tmp_path / "run")
    assert refs.open_references(tmp_path / "run") is first
    resumed = refs.compute_references(folder, model, "3", out=tmp_path / "run", batch_size=2)
    assert resumed is not first and len(resumed.files) == 12 > len(first.files)
