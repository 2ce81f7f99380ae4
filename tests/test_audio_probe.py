"""The quick classifier on a labelled folder of sound clips: features, fit, saved model, explanations, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch

from xaidesk.core import CancelToken, Cancelled, InputError, ModelError
from xaidesk.models import load_model
from xaidesk.models.probe.audio import (
    audio_probe_document,
    clip_windows,
    fit_audio_probe,
    is_audio_probe_file,
    save_audio_probe,
    scan_audio_folder,
)

RATE = 16000
CLIPS_PER_CLASS = 8
LAYER = "11"  # demo:sounds' last feature map, 32 × 8 mel × 12 time


def write_tone_folder(root, seed: int = 0, per_class: int = CLIPS_PER_CLASS):
    """``root/high`` (3 kHz tone bursts) and ``root/low`` (1 kHz), 1 s at 16 kHz each, with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(RATE) / RATE
    for name, hz in (("high", 3000.0), ("low", 1000.0)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            onset, length = rng.uniform(0.05, 0.4), rng.uniform(0.3, 0.5)
            envelope = ((t >= onset) & (t < onset + length)).astype(np.float64)
            clip = rng.uniform(0.3, 0.6) * envelope * np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi))
            clip += 0.05 * rng.standard_normal(RATE)
            soundfile.write(root / name / f"{name}_{i:02d}.wav", clip.astype(np.float32), RATE)
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_tone_folder(tmp_path_factory.mktemp("tones"))


@pytest.fixture(scope="module")
def backbone():
    return load_model("demo:sounds")


@pytest.fixture(scope="module")
def fitted(folder, backbone):
    return fit_audio_probe(folder, backbone, LAYER, held_out=0.5, seed=0)


def hooked_clip_feature(model, layer, path) -> np.ndarray:
    """Φ(clip) computed independently: a forward hook on the full backbone, numpy means over space and windows."""
    captured = []
    handle = dict(model.module.named_modules())[layer].register_forward_hook(
        lambda m, i, o: captured.append(o.detach().clone()))
    try:
        with torch.no_grad():
            model.module(clip_windows(path, model.frontend))
    finally:
        handle.remove()
    out = captured[0].numpy().astype(np.float64)
    return (out.mean(axis=(2, 3)) if out.ndim == 4 else out).mean(axis=0)


def test_scan_lists_the_clips_of_two_classes(folder, tmp_path):
    data = scan_audio_folder(folder)
    assert data.class_names == ["high", "low"] and data.counts() == [CLIPS_PER_CLASS, CLIPS_PER_CLASS]
    (tmp_path / "only").mkdir()
    soundfile.write(tmp_path / "only" / "a.wav", np.zeros(1600, np.float32), RATE)
    with pytest.raises(InputError, match="two subfolders with sound clips"):
        scan_audio_folder(tmp_path)
    (tmp_path / "other").mkdir()
    soundfile.write(tmp_path / "other" / "b.wav", np.zeros(1600, np.float32), RATE)
    with pytest.raises(InputError, match="only 1 clip"):
        scan_audio_folder(tmp_path)


def test_fit_separates_the_tones_on_held_out_clips(fitted):
    assert fitted.class_names == ["high", "low"] and sum(fitted.held_out_counts) == CLIPS_PER_CLASS
    for head in fitted.heads.values():
        assert head.auc > 0.9, head
        assert np.isfinite(head.threshold)
    assert fitted.to_dict()["modality"] == "audio" and fitted.pooling.startswith("mean over the clip's windows")


def test_clip_features_are_the_mean_over_windows_of_the_pooled_layer(folder, backbone, fitted):
    from xaidesk.models.probe.audio import extract_clip_features

    files = sorted((folder / "low").glob("*.wav"))[:2]
    features, failed, shape, windows = extract_clip_features(backbone, LAYER, files)
    assert not failed and len(shape) == 3 and windows == [2, 2]  # 101 frames: a window and one ending at the end
    expected = np.stack([hooked_clip_feature(backbone, LAYER, path) for path in files])
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)


def test_saved_classifier_opens_as_an_audio_model_and_is_explained(tmp_path, folder, backbone, fitted):
    from xaidesk.data.audio import load_audio
    from xaidesk.explain.audio import explain_audio, predict_audio

    path = save_audio_probe(fitted, tmp_path / "tones.xdprobe", head="logistic")
    assert is_audio_probe_file(path) and json.loads(path.read_text())["modality"] == "audio"
    model = load_model(f"file:{path}")
    assert model.modality == "audio" and model.frontend == backbone.frontend
    as_probe = load_model(f"probe:{path}")  # the image quick classifier's spec opens it as a sound model too
    assert as_probe.modality == "audio" and as_probe.class_names == model.class_names
    assert model.class_names == ["high", "low"] and not model.embedding_only
    head = fitted.heads["logistic"]
    for clip, label in zip(fitted.held_out_files, fitted.held_out_labels):
        audio = load_audio(clip)
        prediction = predict_audio(model, audio)
        g = float(head.decision(hooked_clip_feature(backbone, LAYER, clip)))
        # The clip's logits (the windows' mean) are -/+(g(clip) - t)/2.
        np.testing.assert_allclose(prediction.logits, [-(g - head.threshold) / 2, (g - head.threshold) / 2],
                                   rtol=1e-4, atol=1e-4)
    audio = load_audio(fitted.held_out_files[-1])
    relax = explain_audio(model, audio, "relax", params={"num_masks": 24, "batch_size": 12})
    lrp = explain_audio(model, audio, "lrp.epsilon_plus_flat", target=1)
    for result in (relax, lrp):
        assert result.relevance.shape == (64, 101) and np.all(np.isfinite(result.relevance))
    assert lrp.target.index == 1 and np.abs(lrp.relevance).sum() > 0


def test_bad_clips_are_left_out_cancel_stops_and_image_backbones_are_refused(tmp_path, backbone):
    root = write_tone_folder(tmp_path / "data", seed=1, per_class=6)
    (root / "low" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    result = fit_audio_probe(root, backbone, LAYER, held_out=0.4, seed=0)
    assert [file.endswith("broken.wav") for file, _ in result.skipped] == [True]
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        fit_audio_probe(root, backbone, LAYER, token=token)
    with pytest.raises(ModelError, match="not an audio model"):
        fit_audio_probe(root, load_model("demo:digits"), "3")
    with pytest.raises(InputError, match="clips"):
        fit_audio_probe(root, backbone, LAYER, held_out=0.95)


def test_damaged_or_moved_backbones_give_plain_errors(tmp_path, fitted):
    document = audio_probe_document(fitted, "mean-difference")
    document["backbone"] = f"vggish:{tmp_path / 'gone.pt'}"
    path = tmp_path / "moved.xdprobe"
    path.write_text(json.dumps(document))
    with pytest.raises(ModelError, match="backbone of this classifier"):
        load_model(f"file:{path}")
    document["backbone"] = "demo:sounds"
    document["frontend"]["n_mels"] = 32
    path.write_text(json.dumps(document))
    with pytest.raises(ModelError, match="other spectrogram settings"):
        load_model(f"file:{path}")


def test_random_vggish_features_separate_the_tones(folder):
    from xaidesk.models.audio import AudioFrontEnd, build_vggish
    from xaidesk.models.base import LoadedModel

    torch.manual_seed(0)
    frontend = AudioFrontEnd()
    vggish = LoadedModel("vggish:random", "VGGish (random)", build_vggish().eval().requires_grad_(False),
                         frontend.preprocessing(), [f"embedding {i}" for i in range(128)], architecture="vggish",
                         modality="audio", frontend=frontend, embedding_only=True)
    result = fit_audio_probe(folder, vggish, "features.10", held_out=0.5, seed=0)
    assert result.layer_shape == (256, 8, 12)
    assert min(head.auc for head in result.heads.values()) > 0.9


def test_cli_fits_an_audio_probe(tmp_path, folder, capsys):
    from xaidesk.cli import main

    out = tmp_path / "out"
    assert main(["probe", str(folder), "--model", "demo:sounds", "--layer", LAYER, "--held-out", "0.5",
                 "--head", "logistic", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "held-out clips" in printed and "--model file:" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["modality"] == "audio" and summary["heads"]["logistic"]["auc"] > 0.9
    assert (out / "roc.png").is_file() and (out / "roc.csv").read_text().startswith("head,fpr,tpr,threshold")
    model = load_model(summary["model_spec"])
    assert model.modality == "audio" and model.class_names == ["high", "low"]
    assert main(["probe", "--model", "demo:sounds", "--list-layers"]) == 0
    assert "11 · MaxPool2d · 32×8×12   (default)" in capsys.readouterr().out
