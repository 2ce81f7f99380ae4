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
from xaidesk.explain.lrp.concepts import record_concepts
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


def test_a_cancelled_reference_run_resumes_to_the_same_records_as_one_uninterrupted_run(folder, tmp_path):
    model = _model()
    token = CancelToken()

    def stop_after_some(fraction, message, partial=None):
        if partial is not None and partial.count >= 4:
            token.cancel()

    with pytest.raises(Cancelled):
        refs.compute_references(folder, model, "3", out=tmp_path / "run", batch_size=2, token=token,
                                progress=stop_after_some)
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
