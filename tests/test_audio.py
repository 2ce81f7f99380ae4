"""Audio: loaders, front-end, mask strategies, the windowed pipeline, resynthesis, CLI, models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from xaidesk.core import CancelToken, Cancelled, InputError, MethodError
from xaidesk.data.audio import audio_info, load_audio, read_segment, resample, waveform_envelope
from xaidesk.explain import explain_audio, predict_audio, resynthesize, spectrogram_of
from xaidesk.core.registry import get_method
from xaidesk.explain.audio import _input_offset, blend_weight, explanation_hop
from xaidesk.models.audio import window_bounds
from xaidesk.explain.lime import grid_segments
from xaidesk.explain.masks import make_sampler
from xaidesk.models import list_builtin_models, load_model
from xaidesk.models.audio import AudioFrontEnd, build_vggish
from xaidesk.models.base import LoadedModel

FSDD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fsdd"
RATE = 16000
FE = AudioFrontEnd()


def tone(seconds=1.0, freq=1000.0, rate=RATE, level=0.5, start=0.0, stop=None):
    t = np.arange(int(seconds * rate)) / rate
    y = level * np.sin(2 * np.pi * freq * t)
    stop = seconds if stop is None else stop
    y[(t < start) | (t >= stop)] = 0
    rng = np.random.default_rng(0)
    return (y + 0.001 * rng.standard_normal(len(y))).astype(np.float32)


def audio_of(samples, rate=RATE):
    from xaidesk.data.audio import LoadedAudio

    return LoadedAudio(np.asarray(samples, dtype=np.float32), rate)


def wrap(module, frontend=FE, classes=2, arch="unknown"):
    module.eval().requires_grad_(False)
    return LoadedModel("test", "test", module, frontend.preprocessing(), [f"c{i}" for i in range(classes)],
                       architecture=arch, modality="audio", frontend=frontend)


# --- loading ---------------------------------------------------------------------------------------

FORMATS = [("wav", "WAV", "PCM_U8", 1 / 64), ("wav", "WAV", "PCM_16", 1e-4), ("wav", "WAV", "PCM_24", 1e-6),
           ("wav", "WAV", "PCM_32", 1e-6), ("wav", "WAV", "FLOAT", 1e-7), ("flac", "FLAC", "PCM_16", 1e-4),
           ("flac", "FLAC", "PCM_24", 1e-6), ("ogg", "OGG", "VORBIS", None)]


@pytest.mark.parametrize("suffix,fmt,subtype,tol", FORMATS)
@pytest.mark.parametrize("channels", [1, 2])
def test_loaders_read_every_format_and_depth(tmp_path, suffix, fmt, subtype, tol, channels):
    y = tone(0.5, 440.0, level=0.6)
    data = y if channels == 1 else np.stack([y, 0.5 * y], axis=1)
    path = tmp_path / f"clip.{suffix}"
    sf.write(path, data, RATE, format=fmt, subtype=subtype)
    audio = load_audio(path)
    assert audio.rate == RATE and audio.channels == channels and audio.subtype == subtype
    assert audio.samples.dtype == np.float32 and not audio.samples.flags.writeable
    assert abs(audio.duration - 0.5) < 0.01
    expected = y if channels == 1 else 0.75 * y
    if tol is None:  # lossy: compare energy and correlation
        n = min(len(expected), len(audio.samples))
        assert np.corrcoef(expected[:n], audio.samples[:n])[0, 1] > 0.95
    else:
        assert np.max(np.abs(audio.samples - expected)) <= tol * 2
    info = audio_info(path)
    assert info["rate"] == RATE and info["channels"] == channels


def test_mixdown_choices_are_applied_and_recorded(tmp_path):
    left, right = tone(0.3, 440.0), tone(0.3, 880.0, level=0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), RATE, subtype="FLOAT")
    assert np.allclose(load_audio(path, mixdown="left").samples, left)
    assert np.allclose(load_audio(path, mixdown="right").samples, right)
    mean = load_audio(path)
    assert mean.mixdown == "mean" and np.allclose(mean.samples, (left + right) / 2, atol=1e-6)
    assert any("2 channels" in n for n in mean.notices)
    with pytest.raises(InputError, match="right channel"):
        load_audio(sf_mono(tmp_path), mixdown="right")


def sf_mono(tmp_path):
    path = tmp_path / "mono.wav"
    sf.write(path, tone(0.3), RATE)
    return path


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_other_rates_are_resampled_to_the_model_rate(tmp_path, rate):
    path = tmp_path / "r.wav"
    sf.write(path, tone(1.0, 1000.0, rate=rate), rate, subtype="PCM_16")
    audio = load_audio(path)
    assert audio.rate == rate
    log_mel, times, freqs = spectrogram_of(FE, audio)
    assert log_mel.shape == (64, 101)
    band = int(np.argmin(np.abs(freqs - 1000.0)))
    assert abs(int(np.argmax(log_mel[:, 50])) - band) <= 1
    assert len(resample(audio.samples, rate, RATE)) == RATE


def test_bad_files_get_clear_errors(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_audio(empty)
    header_only = tmp_path / "header.wav"
    sf.write(header_only, np.zeros(0, dtype=np.float32), RATE)
    with pytest.raises(InputError, match="no samples|empty"):
        load_audio(header_only)
    good = tmp_path / "good.wav"
    sf.write(good, tone(1.0), RATE, subtype="PCM_16")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[: 44 + 8000])
    with pytest.raises(InputError, match="truncated"):
        load_audio(truncated)
    text = tmp_path / "notes.wav"
    text.write_text("this is not a sound file\n" * 20)
    with pytest.raises(InputError, match="could not be read as audio"):
        load_audio(text)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(RATE, dtype=np.float32), RATE)
    with pytest.raises(InputError, match="silent: every sample is zero"):
        load_audio(silent)
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, tone(1.0, level=1e-5) * 0 + 1e-5 * np.sign(tone(1.0)), RATE, subtype="FLOAT")
    with pytest.raises(InputError, match="silent.*dBFS"):
        load_audio(quiet)
    short = tmp_path / "short.wav"
    sf.write(short, tone(0.05), RATE)
    with pytest.raises(InputError, match="far too short"):
        load_audio(short)
    with pytest.raises(InputError, match="no file"):
        load_audio(tmp_path / "missing.wav")


def test_segment_and_envelope_of_a_long_file(tmp_path):
    rng = np.random.default_rng(1)
    y = np.clip(0.2 * rng.standard_normal(RATE * 30), -1, 1).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, y, RATE, subtype="FLOAT")
    segment = read_segment(path, 10.0, 12.5)
    assert segment.start == 10.0 and np.allclose(segment.samples, y[10 * RATE: int(12.5 * RATE)])
    times, lo, hi = waveform_envelope(path, points=300, block_seconds=7.0)
    assert len(times) == 300
    bins = y.reshape(300, -1)
    assert np.allclose(lo, bins.min(1)) and np.allclose(hi, bins.max(1))
    log_mel, frame_times, _ = spectrogram_of(FE, segment)
    assert frame_times[0] == pytest.approx(10.0)
    with pytest.raises(InputError, match="lasts only"):
        read_segment(path, 40.0, 41.0)


# --- front-end -----------------------------------------------------------------------------------


def test_frontend_matches_librosa_and_round_trips():
    import librosa

    y = tone(1.3, 700.0) + 0.05 * np.random.default_rng(2).standard_normal(int(1.3 * RATE)).astype(np.float32)
    ours = FE.log_mel(y)
    ref = np.log(librosa.feature.melspectrogram(y=y, sr=RATE, n_fft=400, hop_length=160, n_mels=64, fmin=125.0,
                                                fmax=7500.0, htk=True, power=1.0) + 0.01)
    assert ours.shape == ref.shape and np.max(np.abs(ours - ref)) < 1e-4
    assert AudioFrontEnd.from_dict(FE.to_dict()) == FE
    assert FE.window_seconds == pytest.approx(0.96)
    low, high = FE.preprocessing().bounds()
    assert float(low) == pytest.approx(math.log(0.01)) and float(high) >= ours.max()


# --- mask strategies -------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["time", "frequency", "time_frequency"])
def test_band_strategies_mask_whole_columns_or_rows(strategy):
    sampler = make_sampler(strategy, (64, 96), seed=3, antithetic=True, keep_probability=0.5)
    masks = sampler.sample(0, 64)[:, 0].numpy()
    assert masks.shape == (64, 64, 96) and masks.min() >= 0 and masks.max() <= 1
    if strategy == "time":
        assert np.all(masks == masks[:, :1, :])            # constant over frequency
        assert masks.std(axis=2).mean() > 0.05
    elif strategy == "frequency":
        assert np.all(masks == masks[:, :, :1])            # constant over time
        assert masks.std(axis=1).mean() > 0.05
    else:  # the product of a frequency-band and a time-band mask: rank one
        for m in masks[:8]:
            assert np.linalg.matrix_rank(m, tol=1e-5) <= 1
    # the exact area expectation used by RELAX's control variate matches the sampled one
    many = sampler.sample(0, 4000)[:, 0].double()
    area = many.mean(dim=(1, 2))
    empirical = (many * area[:, None, None]).mean(0) / many.mean(0)
    assert np.max(np.abs(empirical.numpy() - sampler.area_expectation())) < 0.02
    # reproducible and independent of batching
    assert torch.equal(sampler.sample(10, 20), torch.cat([sampler.sample(10, 13), sampler.sample(13, 20)]))


def test_lime_grid_segments_are_rectangles():
    seg = grid_segments((64, 96), 8, 6)
    assert seg.max() + 1 == 48
    for label in range(48):
        rows, cols = np.nonzero(seg == label)
        assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)


# --- planted evidence --------------------------------------------------------------------------------


def planted_model(region):
    """A network that reacts only to energy in ``region`` (band slice, frame slice) of a window."""
    (b0, b1), (f0, f1) = region
    silence = math.log(FE.log_offset)
    first = nn.Conv2d(1, 4, kernel_size=(64, 96))  # a convolution over the whole window (box rule applies)
    weights = torch.zeros(4, 64, 96)
    half_b, half_f = (b0 + b1) // 2, (f0 + f1) // 2
    for unit, (bs, fs) in enumerate([((b0, half_b), (f0, half_f)), ((b0, half_b), (half_f, f1)),
                                     ((half_b, b1), (f0, half_f)), ((half_b, b1), (half_f, f1))]):
        weights[unit, bs[0]:bs[1], fs[0]:fs[1]] = 1.0 / ((bs[1] - bs[0]) * (fs[1] - fs[0]))
    first.weight.data = weights[:, None]
    first.bias.data = -silence * weights.reshape(4, -1).sum(1)  # each unit: mean of (x - silence)
    second = nn.Linear(4, 2)
    second.weight.data = torch.tensor([[1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0]])
    second.bias.data.zero_()
    return wrap(nn.Sequential(first, nn.ReLU(), nn.Flatten(), second))


def test_planted_tone_relax_and_lrp_find_it():
    freq = 2000.0
    band = int(np.argmin(np.abs(FE.mel_frequencies() - freq)))
    region = ((band - 3, band + 3), (40, 60))
    model = planted_model(region)
    y = tone(0.95, freq, start=0.40, stop=0.60) + tone(0.95, 400.0, level=0.3)  # a distractor tone
    audio = audio_of(y)
    inside = np.zeros((64, 96), bool)
    inside[region[0][0]:region[0][1], region[1][0]:region[1][1]] = True
    lrp = explain_audio(model, audio, "lrp.epsilon_gamma_box", target=0)
    assert lrp.relevance.shape == (64, 96)
    assert np.abs(lrp.relevance[~inside]).max() < 1e-6 * np.abs(lrp.relevance[inside]).max()
    assert lrp.relevance[inside].sum() > 0
    relax = explain_audio(model, audio, "relax", params={"num_masks": 600, "seed": 1})
    r = relax.relevance
    assert relax.uncertainty is not None and relax.uncertainty.shape == r.shape
    assert r[inside].mean() > r[~inside].mean() + 0.02
    top = np.argsort(r.ravel())[-40:]
    assert inside.ravel()[top].mean() > 0.8
    time_relax = explain_audio(model, audio, "relax", params={"num_masks": 300, "strategy": "time"})
    profile = time_relax.relevance.mean(0)
    assert np.all(time_relax.relevance == time_relax.relevance[:1])  # whole columns
    assert profile[40:60].mean() > profile[np.r_[0:35, 65:96]].mean() + 0.02
    freq_relax = explain_audio(model, audio, "relax", params={"num_masks": 300, "strategy": "frequency"})
    bands = freq_relax.relevance.mean(1)
    assert bands[band - 3:band + 3].mean() > np.delete(bands, np.s_[band - 8:band + 8]).mean() + 0.02


# --- stitching ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("hop", [96, 48, 40])
def test_stitching_matches_direct_computation(hop):
    frontend = AudioFrontEnd(window_hop_frames=hop)
    torch.manual_seed(0)
    linear = nn.Linear(64 * 96, 3)
    model = wrap(nn.Sequential(nn.Flatten(), linear), frontend, classes=3)
    y = tone(2.6, 900.0) + 0.05 * np.random.default_rng(4).standard_normal(int(2.6 * RATE)).astype(np.float32)
    audio = audio_of(y)
    result = explain_audio(model, audio, "gradient.input_x_gradient", target=1)
    log_mel = frontend.log_mel(y)
    total = log_mel.shape[1]
    w = linear.weight.detach()[1].reshape(64, 96).numpy()
    expected = np.zeros_like(log_mel, dtype=np.float64)
    weight_sum = np.zeros(total)
    bounds = window_bounds(total, frontend, explanation_hop(frontend))
    assert explanation_hop(frontend) == min(hop, 48)
    for a, b in bounds:
        expected[:, a:b] += log_mel[:, a:b] * w * blend_weight(96)
        weight_sum[a:b] += blend_weight(96)
    expected /= weight_sum
    assert result.relevance.shape == (64, total)
    assert np.allclose(result.relevance, expected, atol=1e-4)
    assert result.extras["windows"] == [[a, b] for a, b in bounds]
    assert bounds[-1][1] == total and len(result.extras["window_scores"]) == len(bounds)
    assert result.extras["frame_times"][-1] == pytest.approx((total - 1) * 0.01)
    assert len(result.extras["mel_frequencies"]) == 64


def test_windows_end_at_the_clip_end_instead_of_padding():
    assert window_bounds(250, FE) == [(0, 96), (96, 192), (154, 250)]
    assert window_bounds(96, FE) == [(0, 96)]
    assert window_bounds(40, FE) == [(0, 96)]  # shorter than a window: the only padded case
    weights = blend_weight(96)
    assert weights.min() > 0 and np.allclose(weights[:48] + weights[48:], 1.0)
    assert len(audio_of(tone(0.5)).samples) and any(
        "shorter than one model window" in note
        for note in explain_audio(planted_model(((20, 26), (10, 30))), audio_of(tone(0.5)),
                                  "gradient.sensitivity").extras["notes"])


def seam_model():
    """A small deterministic CNN on (16 bands, 32 frames) windows; its zero padding gives every
    window map its own border, which stitching must not turn into stripes."""
    frontend = AudioFrontEnd(n_mels=16, window_frames=32, window_hop_frames=32)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    return wrap(net, frontend)


SEAM_CASES = [("lrp.epsilon_plus_flat", {}), ("gradient.sensitivity", {}), ("gradient.input_x_gradient", {}),
              ("occlusion", {"patch_size": 4, "stride": 2}),
              ("lime", {"num_samples": 120, "segmentation": "grid", "grid_rows": 1, "grid_cols": 32, "hide": "mean"}),
              ("relax", {"num_masks": 150, "cells": 8})]


@pytest.mark.parametrize("method,params", SEAM_CASES, ids=[c[0] for c in SEAM_CASES])
def test_window_by_window_methods_leave_no_seams(method, params):
    """A steady sound over several windows: no column jump at a window boundary is more than a few
    times the map's typical column-to-column change (stitching side by side gave 6x to 150x)."""
    model = seam_model()
    rng = np.random.default_rng(0)
    y = tone(1.6, 1000.0, level=0.4) + 0.05 * rng.standard_normal(int(1.6 * RATE)).astype(np.float32)
    result = explain_audio(model, audio_of(y), method, target=0, params=params)
    total = result.relevance.shape[1]
    boundaries = sorted({b for window in result.extras["windows"] for b in window if 3 <= b <= total - 3})
    assert len(boundaries) >= 6
    maps = [result.relevance] + ([result.uncertainty] if result.uncertainty is not None else [])
    for values in maps:
        assert np.all(np.isfinite(values))
        steps = np.abs(np.diff(values.astype(np.float64).mean(0)))
        typical = np.median(steps[3:-3])
        worst = max(steps[b - 2:b + 1].max() for b in boundaries)
        assert worst <= 5 * typical, (method, worst / typical)


@pytest.mark.parametrize("method,params", SEAM_CASES, ids=[c[0] for c in SEAM_CASES])
def test_a_one_window_clip_matches_a_single_window_run(method, params):
    model = seam_model()
    frontend = model.frontend
    y = tone(0.31, 1000.0, level=0.4)
    log_mel = frontend.log_mel(y)
    assert log_mel.shape[1] == frontend.window_frames
    result = explain_audio(model, audio_of(y), method, target=0, params=params)
    assert result.extras["windows"] == [[0, 32]]
    info = get_method(method)
    resolved = info.resolve_params(dict(params))
    shift = math.log(frontend.log_offset) if info.family == "relax" else 0.0
    x = torch.from_numpy(log_mel)[None, None] - shift
    with _input_offset(model.module, shift):
        direct = info.function(model, x, 0, params=resolved, token=CancelToken(), progress=lambda *a, **k: None)
    assert np.allclose(result.relevance, direct.relevance, rtol=1e-5, atol=1e-7)
    if direct.uncertainty is not None:
        assert np.allclose(result.uncertainty, direct.uncertainty, rtol=1e-5, atol=1e-7)


def test_progress_partials_and_cancel_keep_the_stitched_part():
    model = planted_model(((20, 26), (40, 60)))
    audio = audio_of(tone(2.5, 1500.0))
    token = CancelToken()
    seen = []

    def progress(fraction, message="", partial=None):
        if partial is not None:
            seen.append(partial)
            assert partial.relevance.shape == (64, 251) and not partial.complete
            if fraction > 0.4:
                token.cancel()

    with pytest.raises(Cancelled) as info:
        explain_audio(model, audio, "relax", params={"num_masks": 200, "batch_size": 20}, token=token,
                      progress=progress)
    partial = info.value.partial
    assert seen and partial is not None and not partial.complete
    assert partial.relevance.shape == (64, 251) and partial.uncertainty.shape == (64, 251)
    assert np.any(partial.relevance[:, :96] != 0)


# --- resynthesis -------------------------------------------------------------------------------------


def test_resynthesis_top_plus_rest_is_the_clip():
    y = tone(1.5, 600.0, level=0.3) + tone(1.5, 3000.0, level=0.3, start=0.5, stop=1.0)
    audio = audio_of(y)
    rng = np.random.default_rng(5)
    relevance = rng.standard_normal((64, FE.num_frames(len(y))))
    top = resynthesize(audio, FE, relevance, share=0.2, keep="top")
    rest = resynthesize(audio, FE, relevance, share=0.2, keep="rest")
    assert top.dtype == np.float32 and len(top) == len(y)
    assert np.max(np.abs(top + rest - y)) < 1e-4
    assert np.max(np.abs(resynthesize(audio, FE, relevance, share=1.0) - y)) < 1e-4
    energy = lambda s: float(np.sum(s.astype(np.float64) ** 2))  # noqa: E731
    assert energy(top) < 0.6 * energy(y)
    # keeping the cells where the high tone is keeps mostly the high tone
    band = int(np.argmin(np.abs(FE.mel_frequencies() - 3000.0)))
    planted = np.zeros_like(relevance)
    planted[band - 1: band + 2, 50:100] = 1.0
    kept = resynthesize(audio, FE, planted, share=planted.mean(), keep="top")
    high = tone(1.5, 3000.0, level=0.3, start=0.5, stop=1.0)
    assert np.corrcoef(kept, high)[0, 1] > 0.8


# --- models, fsdd end to end -------------------------------------------------------------------------


def test_demo_sounds_is_listed_and_classifies_its_samples():
    entries = [e for e in list_builtin_models() if e["spec"] == "demo:sounds"]
    assert entries and entries[0]["modality"] == "audio"
    assert all(e["modality"] == "image" for e in list_builtin_models("image"))
    entry = entries[0]
    assert entry["accuracy"]["held_out"] >= 0.9 and len(entry["samples"]) >= 3
    model = load_model("demo:sounds")
    assert model.modality == "audio" and model.frontend == FE and model.preprocessing.size == (64, 96)
    correct = 0
    for path, label in zip(entry["samples"], entry["sample_labels"]):
        audio = load_audio(path)
        prediction = predict_audio(model, audio)
        correct += prediction.top_class == label
        assert len(prediction.window_top) == len(prediction.windows)
    assert correct >= len(entry["samples"]) - 1
    assert max(load_audio(p).duration for p in entry["samples"]) > FE.window_seconds


def fsdd_files(count=3):
    if not FSDD.is_dir():
        pytest.skip("../shared/data/fsdd is not available")
    return sorted(FSDD.glob("*.wav"))[:: 997][:count]


def test_fsdd_recordings_run_with_the_demo_model():
    model = load_model("demo:sounds")
    for path in fsdd_files():
        audio = load_audio(path)
        assert audio.rate == 8000
        prediction = predict_audio(model, audio)
        assert np.isclose(prediction.probabilities.sum(), 1.0, atol=1e-4)
        for method, params in [("relax", {"num_masks": 40, "strategy": "time_frequency"}),
                               ("lrp.epsilon_plus_flat", {}), ("lime", {"num_samples": 40})]:
            result = explain_audio(model, audio, method, params=params)
            frames = FE.num_frames(len(resample(audio.samples, 8000, RATE)))
            assert result.relevance.shape == (64, frames) and np.all(np.isfinite(result.relevance))
        assert result.params["segmentation"] == "grid"


def test_fsdd_with_a_random_vggish_from_a_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "vggish.pt"
    torch.save(build_vggish().state_dict(), path)
    model = load_model(f"vggish:{path}")
    assert model.embedding_only and model.modality == "audio" and len(model.class_names) == 128
    audio = load_audio(fsdd_files(1)[0])
    with pytest.raises(MethodError, match="no classifier head"):
        explain_audio(model, audio, "gradient.sensitivity")
    with pytest.raises(MethodError, match="no classifier head"):
        predict_audio(model, audio)
    result = explain_audio(model, audio, "relax", params={"num_masks": 16, "batch_size": 8})
    assert result.extras["window_details"][0]["layer"] == "embeddings"
    assert np.all(np.isfinite(result.relevance))
    head_path = tmp_path / "vggish_head.pt"
    torch.save(build_vggish(num_classes=10).state_dict(), head_path)
    headed = load_model(f"vggish:{head_path}")
    assert headed.num_classes == 10 and not headed.embedding_only
    result = explain_audio(headed, audio, "gradient.sensitivity", target=3)
    assert result.target.index == 3 and result.relevance.shape[0] == 64


def test_file_audio_model_with_sidecar(tmp_path):
    frontend = AudioFrontEnd(n_mels=32, window_frames=48, window_hop_frames=24)
    module = nn.Sequential(nn.Flatten(), nn.Linear(32 * 48, 3)).eval()
    path = tmp_path / "tiny.pt"
    torch.jit.save(torch.jit.script(module), path)
    (tmp_path / "tiny.pt.json").write_text(json.dumps(
        {"modality": "audio", "frontend": frontend.to_dict(), "class_names": ["a", "b", "c"]}))
    model = load_model(f"file:{path}")
    assert model.modality == "audio" and model.is_torchscript and model.class_names == ["a", "b", "c"]
    assert model.frontend == frontend
    result = explain_audio(model, audio_of(tone(1.0)), "gradient.sensitivity")
    assert result.relevance.shape == (32, 101)
    with pytest.raises(MethodError, match="TorchScript"):
        explain_audio(model, audio_of(tone(1.0)), "lrp.epsilon_plus_flat")


# --- command line and self-test ----------------------------------------------------------------------


def test_cli_explain_audio_end_to_end(tmp_path, capsys):
    from xaidesk.cli import main

    sample = next(e for e in list_builtin_models() if e["spec"] == "demo:sounds")["samples"][0]
    out = tmp_path / "out"
    code = main(["explain", "audio", str(sample), "--model", "demo:sounds", "--method", "relax",
                 "--param", "strategy=time", "--param", "num_masks=40", "--start", "0.5", "--stop", "2.5",
                 "--out", str(out)])
    notes = capsys.readouterr().err
    assert code == 0, notes
    assert "xaidesk: note: RELAX hides time-frequency cells" in notes
    assert sorted(p.name for p in out.iterdir()) == ["overlay.png", "relevance.npy", "summary.json", "uncertainty.npy"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frontend"]["n_mels"] == 64 and summary["segment"]["start"] == pytest.approx(0.5)
    assert summary["segment"]["stop"] == pytest.approx(2.5) and summary["params"]["strategy"] == "time"
    relevance = np.load(out / "relevance.npy")
    assert relevance.shape == (64, 201)
    from PIL import Image

    assert Image.open(out / "overlay.png").size == (201 * 2, 64 * 4)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    out2 = tmp_path / "out2"
    code = main(["explain", "audio", str(bad), "--model", "demo:sounds", "--method", "relax", "--out", str(out2)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "could not be read as audio" in err and not out2.exists()


def test_self_test_has_an_audio_check():
    from xaidesk.selftest import checks

    audio = [check for name, check in checks() if name.startswith("audio")]
    assert audio
    for check in audio:
        assert "predicted" in check()


def test_a_clip_below_the_models_lowest_band_is_refused_and_a_low_rate_is_noted():
    frontend = AudioFrontEnd(fmin=600.0)
    model = wrap(nn.Sequential(nn.Flatten(), nn.Linear(64 * 96, 2)), frontend)
    low = audio_of(tone(1.0, 300.0, rate=1000), rate=1000)
    with pytest.raises(InputError, match="1000 Hz.*nothing above 500 Hz.*from 600 Hz"):
        explain_audio(model, low, "gradient.sensitivity")
    with pytest.raises(InputError, match="from 600 Hz"):
        predict_audio(model, low)
    result = explain_audio(model, audio_of(tone(1.0, 1000.0, rate=8000), rate=8000), "gradient.sensitivity")
    assert any("recorded at 8000 Hz" in note and "no sound above 4000 Hz" in note for note in result.extras["notes"])


class _NanGradient(nn.Module):
    """Finite scores whose gradient is NaN (0 * d sqrt(x)/dx at x = 0)."""

    def forward(self, logits):
        return logits + 0.0 * torch.sqrt(logits * 0.0)


def test_a_window_map_with_nan_is_refused_not_blended():
    torch.manual_seed(0)
    model = wrap(nn.Sequential(nn.Flatten(), nn.Linear(64 * 96, 2), _NanGradient()))
    with pytest.raises(MethodError, match="invalid relevance map .*window 1 of"):
        explain_audio(model, audio_of(tone(2.0)), "gradient.sensitivity", target=0)
