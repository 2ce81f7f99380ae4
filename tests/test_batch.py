"""Dataset mode: folder scans, run folders, resume, crash safety, shards, batched methods, CLI."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from xaidesk.core import CancelToken, Cancelled, InputError, MethodError, get_method
from xaidesk.data.images import load_image
from xaidesk.explain import explain_image, predict_image
from xaidesk.models import load_model
from xaidesk.resources import resource_path
from xaidesk import runs
from xaidesk.runs import (
    INDEX_COLUMNS,
    BatchStatus,
    batched_function,
    merge_runs,
    parse_shard,
    read_index,
    read_run,
    run_batch,
    scan_folder,
    shard_files,
)
from xaidesk.runs import execute, workers

SAMPLES = ["digits_0.png", "digits_2.png", "digits_3.png", "digits_5.png", "digits_7.png"]
LRP = "lrp.epsilon_plus_flat"
GRAD = "gradient.input_x_gradient"


@pytest.fixture(scope="module")
def digits():
    return load_model("demo:digits")


def noisy_copy(source, target, seed):
    """The image with a little noise: flat areas would give max pooling ties, whose gradient
    may go to either of the tied pixels (differently in a batch and alone)."""
    from PIL import Image

    pixels = np.asarray(Image.open(source).convert("RGB")).astype(np.int16)
    noise = np.random.default_rng(seed).integers(-6, 7, size=pixels.shape)
    Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8)).save(target)


@pytest.fixture
def folder(tmp_path):
    """Five digit images in class folders ``low`` and ``high``, a notes file and a hidden file."""
    root = tmp_path / "data"
    for k, name in enumerate(SAMPLES):
        cls = "low" if int(name[7]) < 4 else "high"
        (root / cls).mkdir(parents=True, exist_ok=True)
        noisy_copy(resource_path("samples", name), root / cls / name, k)
    (root / "notes.txt").write_text("not an image")
    (root / "low" / ".hidden.png").write_bytes(b"x")
    return root


def _index_records(run):
    with open(run / "index.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == INDEX_COLUMNS
        return list(reader)


# --- scanning -------------------------------------------------------------------------------------


def test_scan_finds_images_in_class_folders(folder, tmp_path):
    scan = scan_folder(folder)
    assert scan.modality == "image"
    assert scan.files == sorted(["low/digits_0.png", "low/digits_2.png", "low/digits_3.png",
                                 "high/digits_5.png", "high/digits_7.png"])
    assert scan.classes == ["high", "low"]
    assert scan.other_files == 1  # notes.txt; the hidden file is not counted
    assert "5 images in 2 class folders" in scan.describe()
    # a run folder inside the source is never scanned as input
    run = folder / "run"
    run_batch(folder, run, "demo:digits", [GRAD])
    assert scan_folder(folder).files == scan.files


def test_empty_and_unsupported_folders_are_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="is empty"):
        scan_folder(empty)
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("a")
    with pytest.raises(InputError, match="no image files"):
        scan_folder(texts)
    with pytest.raises(InputError, match="does not exist"):
        scan_folder(tmp_path / "missing")
    with pytest.raises(InputError, match="no image files"):
        run_batch(texts, tmp_path / "run", "demo:digits", [LRP])
    assert not (tmp_path / "run" / "index.csv").exists() or read_index(tmp_path / "run") == []


def test_audio_folders_are_detected(tmp_path):
    root = tmp_path / "sounds"
    root.mkdir()
    shutil.copy(resource_path("samples", "sounds_beeps.wav"), root)
    assert scan_folder(root).modality == "audio"


# --- a run and its folder -----------------------------------------------------------------------


def test_run_writes_the_index_items_and_thumbnails(folder, tmp_path, digits):
    (folder / "high" / "broken.png").write_bytes(b"not a png")
    run = tmp_path / "run"
    result = run_batch(folder, run, digits, [LRP, GRAD], batch_size=2)
    assert result.finished and result.computed == 10 and result.already_done == 0
    assert [f for f, _ in result.skipped] == ["high/broken.png"]
    assert "not an image" in result.skipped[0][1]
    records = _index_records(run)
    assert len(records) == 10
    assert {(r["file"], r["method"]) for r in records} == {
        (f, m) for f in scan_folder(folder).files if "broken" not in f for m in (LRP, GRAD)}
    meta = json.loads((run / "run.json").read_text())
    assert meta["format"] == "xaidesk-batch/1" and meta["model"] == "demo:digits"
    assert meta["source"] == str(folder.resolve()) and meta["modality"] == "image"
    assert [m["name"] for m in meta["methods"]] == [LRP, GRAD]
    assert meta["methods"][0]["params"] == {"epsilon": 1e-6}
    assert meta["finished"] and meta["shard"] is None and meta["device"] == "cpu"
    with open(run / "skipped.csv", newline="") as handle:
        assert [r["file"] for r in csv.DictReader(handle)] == ["high/broken.png"]
    for record in records:
        image = load_image(folder / record["file"]).pixels
        assert record["true_class"] == record["file"].split("/")[0]
        assert record["relevance"] == f"items/{record['method']}/{record['file'][:-4]}.npy"
        relevance = np.load(run / record["relevance"])
        assert relevance.dtype == np.float32 and relevance.shape == image.shape[:2]
        from PIL import Image

        with Image.open(run / record["thumbnail"]) as thumb:
            assert max(thumb.size) == 128
        prediction = predict_image(digits, image)
        assert int(record["predicted"]) == prediction.top_class == int(record["target"])
        assert record["predicted_label"] == digits.label(prediction.top_class)
        assert float(record["score"]) == pytest.approx(prediction.logits[prediction.top_class], rel=1e-4)
        # the batched path gives the per-file result
        expected = explain_image(digits, image, record["method"])
        np.testing.assert_allclose(relevance, expected.relevance, rtol=1e-4, atol=1e-6 * np.abs(expected.relevance).max())
    info = read_run(run)
    assert info.finished and len(info.rows) == 10 and info.skipped[0][0] == "high/broken.png"


def test_per_file_methods_and_a_fixed_target(folder, tmp_path, digits):
    run = tmp_path / "run"
    run_batch(folder, run, digits, [("occlusion", {"patch_size": 32, "stride": 32})], target=3)
    rows = read_index(run)
    assert len(rows) == 5 and {r.target for r in rows} == {3}
    row = next(r for r in rows if r.file == "low/digits_0.png")
    image = load_image(folder / row.file).pixels
    assert row.predicted == predict_image(digits, image).top_class == 0
    expected = explain_image(digits, image, "occlusion", target=3, params={"patch_size": 32, "stride": 32})
    # Both score the merged-batch-norm copy (xaidesk/explain/fast_module.py), a run in its own batches:
    # equal up to float32 rounding.
    np.testing.assert_allclose(np.load(run / row.relevance), expected.relevance, rtol=1e-4,
                               atol=1e-4 * np.nanmax(np.abs(expected.relevance)))
    assert row.score == pytest.approx(expected.score, rel=1e-5)


def test_same_stem_with_different_suffixes_gets_separate_items(tmp_path, digits):
    root = tmp_path / "data"
    root.mkdir()
    shutil.copy(resource_path("samples", "digits_0.png"), root / "a.png")
    from PIL import Image

    Image.open(resource_path("samples", "digits_2.png")).convert("RGB").save(root / "a.bmp")
    run_batch(root, tmp_path / "run", digits, [GRAD])
    rows = read_index(tmp_path / "run")
    assert sorted(r.relevance for r in rows) == [f"items/{GRAD}/a.bmp.npy", f"items/{GRAD}/a.png.npy"]


# --- resume, cancel, crashes ----------------------------------------------------------------------


def test_cancel_midway_then_resume_does_the_rest_once(folder, tmp_path, digits):
    run = tmp_path / "run"
    token = CancelToken()
    seen = []

    def progress(fraction, message="", partial=None):
        if isinstance(partial, BatchStatus):
            seen.append(partial.count)
            if partial.count >= 3:
                token.cancel()

    with pytest.raises(Cancelled):
        run_batch(folder, run, digits, [LRP, GRAD], batch_size=1, token=token, progress=progress)
    first = read_index(run)
    assert 3 <= len(first) < 10
    assert json.loads((run / "run.json").read_text())["finished"] is None
    before = {r.key: (run / r.relevance).stat().st_mtime_ns for r in first}

    result = run_batch(folder, run, digits, [LRP, GRAD], batch_size=1)
    assert result.already_done == len(first) and result.computed == 10 - len(first)
    rows = read_index(run)
    assert len(rows) == len({r.key for r in rows}) == 10
    assert {r.key: (run / r.relevance).stat().st_mtime_ns for r in rows if r.key in before} == before
    assert json.loads((run / "run.json").read_text())["finished"]
    again = run_batch(folder, run, digits, [LRP, GRAD])
    assert again.computed == 0 and again.already_done == 10


def test_a_failure_mid_run_leaves_only_complete_items(folder, tmp_path, digits, monkeypatch):
    run = tmp_path / "run"
    calls = {"n": 0}
    failed = []
    real = workers.save_png_atomic

    def failing_png(path, rgb):
        calls["n"] += 1
        if calls["n"] == 4:
            failed.append(Path(path).relative_to(run).as_posix())
            raise OSError("disk full")
        return real(path, rgb)

    monkeypatch.setattr(workers, "save_png_atomic", failing_png)
    with pytest.raises(OSError, match="disk full"):
        run_batch(folder, run, digits, [LRP], batch_size=2)
    rows = read_index(run)
    # the items saved before the failure (and any saved while it was reported) are indexed, complete
    assert 3 <= len(rows) <= 4
    assert all((run / r.relevance).is_file() and (run / r.thumbnail).is_file() for r in rows)
    # the failed item's relevance was written, but without its thumbnail it is not in the index
    assert failed and failed[0] not in {r.thumbnail for r in rows}
    assert (run / failed[0]).with_suffix(".npy").is_file()
    assert not list(run.rglob("*.tmp"))
    monkeypatch.setattr(workers, "save_png_atomic", real)
    result = run_batch(folder, run, digits, [LRP], batch_size=2)
    assert result.already_done == len(rows) and result.computed == 5 - len(rows)
    assert len(read_index(run)) == 5


def test_an_exception_in_the_method_stops_the_run_and_resume_finishes_it(folder, tmp_path, digits, monkeypatch):
    run = tmp_path / "run"
    real = batched_function(LRP)
    calls = {"n": 0}

    def flaky(model, x, targets, *, params, token):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash")
        return real(model, x, targets, params=params, token=token)

    monkeypatch.setattr(execute, "batched_function", lambda name: flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_batch(folder, run, digits, [LRP], batch_size=2)
    assert len(read_index(run)) == 2
    # a torn last line (an append cut short by a power loss) is dropped on resume
    with open(run / "index.csv", "a") as handle:
        handle.write("low/digits_3.png,low,3,3,1.0")
    assert len(read_index(run)) == 2
    monkeypatch.undo()
    result = run_batch(folder, run, digits, [LRP], batch_size=2)
    assert result.computed == 3 and len(read_index(run)) == 5
    assert (run / "index.csv").read_text().endswith("\n")


def test_a_different_run_in_the_folder_is_refused(folder, tmp_path, digits):
    run = tmp_path / "run"
    run_batch(folder, run, digits, [GRAD])
    with pytest.raises(InputError, match="different methods"):
        run_batch(folder, run, digits, [LRP])
    with pytest.raises(InputError, match="different methods"):
        run_batch(folder, run, digits, [(GRAD, {}), (LRP, {"epsilon": 0.5})])
    with pytest.raises(InputError, match="different shard"):
        run_batch(folder, run, digits, [GRAD], shard=(0, 2))
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        run_batch(folder, other, digits, [GRAD])
    assert (other / "keep.txt").read_text() == "mine"


# --- shards and merging -----------------------------------------------------------------------------


def test_shards_partition_the_sorted_files():
    files = [f"f{i:02d}.png" for i in range(11)][::-1]
    parts = [shard_files(files, (i, 3)) for i in range(3)]
    assert sorted(sum(parts, [])) == sorted(files)
    assert sum(len(p) for p in parts) == len(files)
    assert parts[0] == ["f00.png", "f03.png", "f06.png", "f09.png"]
    assert parse_shard("2/4") == (2, 4) and parse_shard(None) is None
    for bad, message in (("4/4", "numbered from 0"), ("a/b", "written i/n"), ("1/0", "at least 1")):
        with pytest.raises(InputError, match=message):
            parse_shard(bad)


def test_merged_shards_equal_an_unsharded_run(folder, tmp_path, digits):
    whole = tmp_path / "whole"
    run_batch(folder, whole, digits, [LRP, GRAD])
    shards = [tmp_path / f"shard{i}" for i in range(2)]
    for i, run in enumerate(shards):
        run_batch(folder, run, digits, [LRP, GRAD], shard=(i, 2))
        assert json.loads((run / "run.json").read_text())["shard"] == f"{i}/2"
    assert not {r.file for r in read_index(shards[0])} & {r.file for r in read_index(shards[1])}
    merged = tmp_path / "merged"
    result = merge_runs(shards, merged)
    assert result.rows == 10 and result.missing_shards == [] and result.duplicates == 0
    expected = [(r.file, r.method, r.predicted, r.relevance) for r in read_index(whole)]
    assert [(r.file, r.method, r.predicted, r.relevance) for r in read_index(merged)] == expected
    for row in read_index(merged):
        np.testing.assert_allclose(np.load(merged / row.relevance), np.load(whole / row.relevance), rtol=1e-4, atol=1e-7)
    meta = json.loads((merged / "run.json").read_text())
    assert meta["finished"] and meta["shard"] is None and len(meta["merged_from"]) == 2
    # one shard alone: the merge says which one is missing
    assert merge_runs(shards[:1], tmp_path / "half").missing_shards == [1]
    with pytest.raises(InputError, match="not empty"):
        merge_runs(shards, merged)
    different = tmp_path / "different"
    run_batch(folder, different, digits, [GRAD])
    with pytest.raises(InputError, match="different methods"):
        merge_runs([shards[0], different], tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


# --- batched methods equal per-input results -------------------------------------------------------


def _inputs(model, names):
    x = torch.cat([model.preprocessing.to_tensor(load_image(resource_path("samples", n)).pixels) for n in names])
    # noise breaks max pooling ties (see noisy_copy)
    return x + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("method", [
    "lrp.epsilon_plus_flat", "lrp.epsilon_gamma_box", "lrp.epsilon_alpha2_beta1", "lrp.custom",
    "gradient.sensitivity", "gradient.input_x_gradient", "gradient.robust"])
def test_batched_methods_equal_one_input_at_a_time(method, digits):
    x = _inputs(digits, SAMPLES)
    info = get_method(method)
    params = info.resolve_params({})
    targets = [1, 2, 3, 4, 9]
    batched = batched_function(method)(digits, x, targets, params=params, token=CancelToken())
    top = batched_function(method)(digits, x, None, params=params, token=CancelToken())
    # the robust gradient divides by biased pre-activations, which amplifies float rounding
    rtol = 1e-3 if method == "gradient.robust" else 1e-4
    for i, target in enumerate(targets):
        single = info.function(digits, x[i:i + 1], target, params=params, token=CancelToken(), progress=lambda *a, **k: None)
        scale = np.abs(single.relevance).max()
        np.testing.assert_allclose(batched[i].relevance, single.relevance, rtol=rtol, atol=1e-5 * scale)
        assert batched[i].target.index == target and batched[i].score == pytest.approx(single.score, rel=1e-5)
        assert batched[i].method == single.method
    assert [e.target.index for e in top] == [0, 2, 3, 5, 7]


def test_batched_lrp_on_a_resnet_equals_one_input_at_a_time():
    import torchvision

    from xaidesk.explain.lrp import cnn as lrp
    from xaidesk.models.base import LoadedModel
    from xaidesk.models.preprocessing import IMAGENET

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=4).eval()
    model = LoadedModel(spec="torchvision:resnet18", name="resnet18", module=net, preprocessing=IMAGENET,
                        class_names=list("abcd"), architecture="resnet18")
    x = torch.randn(3, 3, 32, 32)
    params = {"epsilon": 1e-6}
    batched = lrp.run_lrp_batch("epsilon_plus_flat", model, x, [0, 1, 3], params=params, token=CancelToken())
    for i, target in enumerate([0, 1, 3]):
        single = lrp.run_lrp("epsilon_plus_flat", model, x[i:i + 1], target, params, CancelToken(), lambda *a, **k: None)
        np.testing.assert_allclose(batched[i].relevance, single.relevance, rtol=1e-4,
                                   atol=1e-5 * np.abs(single.relevance).max())
        assert batched[i].extras["conservation"] == pytest.approx(single.extras["conservation"], rel=1e-4)
    # the model is left as it was: no hooks, no canonizer changes
    assert all(not m._forward_hooks and not m._backward_hooks for m in net.modules())


def test_batched_targets_are_checked(digits):
    x = _inputs(digits, SAMPLES[:2])
    with pytest.raises(MethodError, match="does not exist"):
        batched_function(LRP)(digits, x, [0, 10], params={"epsilon": 1e-6}, token=CancelToken())
    with pytest.raises(MethodError, match="2 inputs"):
        batched_function(GRAD)(digits, x, [0], params={}, token=CancelToken())


# --- devices, sorting, CLI ------------------------------------------------------------------------------


def test_cuda_is_refused_plainly_without_a_gpu(folder, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(InputError, match="no CUDA GPU"):
        run_batch(folder, tmp_path / "run", "demo:digits", [LRP], device="cuda")
    assert runs.available_devices() == ["cpu"]


def test_filter_and_sort_rows(folder, tmp_path, digits):
    run = tmp_path / "run"
    run_batch(folder, run, digits, [LRP, GRAD])
    rows = read_index(run)
    assert {r.true_class for r in runs.filter_rows(rows, true_class="low")} == {"low"}
    assert len(runs.filter_rows(rows, method=LRP)) == 5
    assert len(runs.filter_rows(rows, predicted="7")) == 2
    scores = [r.score for r in runs.sort_rows(rows, "score_desc")]
    assert scores == sorted(scores, reverse=True)
    assert [r.method for r in runs.sort_rows(rows, "method")] == [GRAD] * 5 + [LRP] * 5
    assert [r.true_class for r in runs.sort_rows(rows, "class")] == ["high"] * 4 + ["low"] * 6
    assert runs.row_classes(rows) == (["high", "low"], ["0", "2", "3", "5", "7"])


def test_cli_round_trip(folder, tmp_path, capsys):
    from xaidesk.cli import main

    run = tmp_path / "run"
    args = ["batch", str(folder), "--model", "demo:digits", "--methods", f"{LRP},{GRAD}",
            "--param", "epsilon=0.01", "--batch-size", "2", "--out", str(run)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "10 explanation(s) of 5 file(s)" in out
    meta = json.loads((run / "run.json").read_text())
    assert meta["methods"][0]["params"] == {"epsilon": 0.01}
    assert main(args) == 0
    assert "10 already done" in capsys.readouterr().out
    # shards and merge through the CLI
    for i in range(2):
        assert main(["batch", str(folder), "--model", "demo:digits", "--methods", GRAD, "--shard", f"{i}/2",
                     "--out", str(tmp_path / f"s{i}")]) == 0
    assert main(["batch", "--merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "m")]) == 0
    assert len(read_index(tmp_path / "m")) == 5
    capsys.readouterr()
    # errors are one plain sentence
    assert main(["batch", str(folder), "--methods", GRAD, "--out", str(tmp_path / "x")]) == 1
    assert "needs an input folder, --model and --methods" in capsys.readouterr().err
    assert main(["batch", str(folder), "--model", "demo:digits", "--methods", GRAD, "--param", "nothing=1",
                 "--out", str(tmp_path / "x")]) == 1
    assert "has a parameter nothing" in capsys.readouterr().err
    assert main(["batch", str(folder), "--model", "demo:digits", "--methods", LRP, "--out", str(run)]) == 1
    assert "different methods" in capsys.readouterr().err


def test_audio_folder_run(tmp_path):
    from xaidesk.data.audio import load_audio
    from xaidesk.explain import explain_audio

    root = tmp_path / "sounds"
    (root / "beeps").mkdir(parents=True)
    shutil.copy(resource_path("samples", "sounds_beeps.wav"), root / "beeps")
    shutil.copy(resource_path("samples", "sounds_chirp.wav"), root)
    (root / "broken.wav").write_bytes(b"RIFF0000WAVE")
    model = load_model("demo:sounds")
    run = tmp_path / "run"
    result = run_batch(root, run, model, [GRAD])
    assert [f for f, _ in result.skipped] == ["broken.wav"]
    rows = read_index(run)
    assert [(r.file, r.true_class) for r in rows] == [("beeps/sounds_beeps.wav", "beeps"), ("sounds_chirp.wav", "")]
    assert json.loads((run / "run.json").read_text())["modality"] == "audio"
    expected = explain_audio(model, load_audio(root / rows[0].file), GRAD)
    relevance = np.load(run / rows[0].relevance)
    assert relevance.shape == expected.relevance.shape == (model.frontend.n_mels, expected.relevance.shape[1])
    np.testing.assert_allclose(relevance, expected.relevance, rtol=1e-5, atol=1e-7)
    assert rows[0].predicted == rows[0].target == expected.target.index
    from PIL import Image

    with Image.open(run / rows[0].thumbnail) as thumb:
        assert max(thumb.size) == 128


def test_the_batch_modules_import_no_qt():
    import subprocess
    import sys

    code = ("import sys, xaidesk.runs, xaidesk.commands.batch\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_item_paths_never_clash():
    from xaidesk.runs import item_stems

    files = ["x.png", "x.jpg", "x.png.png", "a/b.png", "a/b.jpg", "c.png"]
    stems = item_stems(files)
    assert len(set(stems.values())) == len(files)
    assert stems["c.png"] == "c" and stems["x.png.png"] == "x.png.png"


def test_a_merge_keeps_the_explained_class(folder, tmp_path, digits):
    shards = [tmp_path / f"shard{i}" for i in range(2)]
    for i, run in enumerate(shards):
        run_batch(folder, run, digits, [GRAD], shard=(i, 2), target=3)
    merged = merge_runs(shards, tmp_path / "merged").run_dir
    assert json.loads((merged / "run.json").read_text())["target"] == 3
    assert {row.target for row in read_index(merged)} == {3}
    late = tmp_path / "late"
    run_batch(folder, late, digits, [GRAD], shard=(0, 2), target=4)
    with pytest.raises(InputError, match="explained class"):
        merge_runs([merged, late], tmp_path / "bad")


def test_a_batch_run_explains_a_vision_transformer_in_batches(tmp_path, monkeypatch):
    from PIL import Image
    from torchvision.models.vision_transformer import VisionTransformer

    from xaidesk.explain.lrp import attention as attnlrp
    from xaidesk.models.base import LoadedModel
    from xaidesk.models.preprocessing import Preprocessing

    torch.manual_seed(0)
    net = VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
                            num_classes=3).eval()
    model = LoadedModel(spec="test:vit", name="tiny ViT", module=net, class_names=list("abc"),
                        preprocessing=Preprocessing(size=(32, 32), mean=(0.5,) * 3, std=(0.5,) * 3))
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    calls = []
    batched = attnlrp.BATCHED_METHODS["lrp.attention"]
    monkeypatch.setitem(attnlrp.BATCHED_METHODS, "lrp.attention",
                        lambda model, x, *a, **k: calls.append(len(x)) or batched(model, x, *a, **k))
    result = run_batch(folder, tmp_path / "run", model, ["lrp.attention"], target=1, batch_size=2)
    assert result.computed == 3 and calls == [2, 1]
    info = get_method("lrp.attention")
    params = info.resolve_params({})
    for row in read_index(result.run_dir):
        x = model.preprocessing.to_tensor(load_image(folder / row.file).pixels)
        single = info.function(model, x, 1, params=params, token=CancelToken(), progress=lambda *a, **k: None)
        saved = np.load(result.run_dir / row.relevance)
        np.testing.assert_allclose(saved, single.relevance, rtol=1e-4, atol=1e-5 * np.abs(single.relevance).max())
