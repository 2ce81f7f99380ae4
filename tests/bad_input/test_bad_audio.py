"""Bad and awkward sound files and segment times through ``explain audio``."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

RATE = 16000
METHOD = ["--model", "demo:sounds", "--method", "gradient.sensitivity"]


def _tone(seconds=1.2, rate=RATE, level=0.4):
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


def _write(kind: str, path):
    """Write the awkward sound ``kind`` at ``path``."""
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "header_only":
        sf.write(path, _tone(), RATE)
        path.write_bytes(path.read_bytes()[:20])
    elif kind == "truncated_data":
        sf.write(path, _tone(), RATE)
        path.write_bytes(path.read_bytes()[:5000])
    elif kind == "text":
        path.write_text("hello, I am not a sound\n")
    elif kind == "garbage":
        path.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)))
    elif kind == "one_hertz":
        sf.write(path, _tone()[:30], 1)
    elif kind == "five_hundred_hertz":
        sf.write(path, _tone(2.0, 500), 500)
    elif kind == "no_frames":
        sf.write(path, np.zeros(0, dtype=np.float32), RATE)
    elif kind in ("nan", "inf", "minus_inf"):
        samples = _tone()
        samples[100] = {"nan": np.nan, "inf": np.inf, "minus_inf": -np.inf}[kind]
        sf.write(path, samples, RATE, subtype="FLOAT")
    elif kind == "silent":
        sf.write(path, np.zeros(RATE, dtype=np.float32), RATE)
    elif kind == "whisper":  # -110 dBFS: silence for any purpose
        sf.write(path, _tone(level=10 ** (-110 / 20)), RATE, subtype="FLOAT")
    elif kind == "blip":  # 50 ms
        sf.write(path, _tone(0.05), RATE)
    else:
        raise AssertionError(kind)


REFUSED_FILES = [
    ("empty.wav", "empty", ["empty"]),
    ("header_only.wav", "header_only", ["no samples"]),
    ("truncated.wav", "truncated_data", ["truncated"]),
    ("text.wav", "text", ["could not be read as audio"]),
    ("garbage.flac", "garbage", ["could not be read as audio"]),
    ("unknown.xyz", "garbage", ["could not be read as audio"]),
    ("one_hertz.wav", "one_hertz", ["1 Hz", "too low"]),
    ("five_hundred.wav", "five_hundred_hertz", ["500 Hz", "too low"]),
    ("no_frames.wav", "no_frames", ["no samples"]),
    ("nan.wav", "nan", ["not-a-number"]),
    ("inf.wav", "inf", ["infinity"]),
    ("minus_inf.wav", "minus_inf", ["infinity"]),
    ("silent.wav", "silent", ["silent"]),
    ("whisper.wav", "whisper", ["silent", "dBFS"]),
    ("blip.wav", "blip", ["too short"]),
]


@pytest.mark.parametrize("name,kind,says", REFUSED_FILES, ids=[c[0] for c in REFUSED_FILES])
def test_bad_sound_files_are_refused_plainly(refused, tmp_path, name, kind, says):
    path = tmp_path / name
    _write(kind, path)
    refused(["explain", "audio", path, *METHOD, "--out", tmp_path / "out"], inputs=[path],
            out=tmp_path / "out", says=says)


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, _tone(2.0), RATE)
    return path


SEGMENTS = [
    (["--start", "-1"], ["start time", "0 s or later"]),
    (["--stop", "-2"], ["stop time", "0 s or later"]),
    (["--stop", "inf"], ["stop time must be a finite number of seconds"]),
    (["--start", "inf"], ["start time must be a finite number of seconds"]),
    (["--start", "nan"], ["start time must be a finite number of seconds"]),
    (["--stop", "nan"], ["stop time must be a finite number of seconds"]),
    (["--start=-inf", "--stop", "1"], ["finite"]),
    (["--start", "5"], ["lasts only 2.00 s"]),
    (["--start", "5", "--stop", "6"], ["lasts only 2.00 s"]),
    (["--start", "1.5", "--stop", "1"], ["end after it starts"]),
    (["--start", "1", "--stop", "1"], ["end after it starts"]),
    (["--start", "0.5", "--stop", "0.55"], ["too short"]),
]


@pytest.mark.parametrize("times,says", SEGMENTS, ids=[" ".join(c[0]) for c in SEGMENTS])
def test_bad_segment_times_are_refused_plainly(refused, tmp_path, clip, times, says):
    refused(["explain", "audio", clip, *METHOD, *times, "--out", tmp_path / "out"], inputs=[clip],
            out=tmp_path / "out", says=says)


WRONG_USE = [
    (["--model", "demo:digits", "--method", "gradient.sensitivity"], ["image model"]),
    (["--model", "demo:no_such_model", "--method", "gradient.sensitivity"], ["no_such_model"]),
    (["--model", "demo:sounds", "--method", "no_such_method"], ["no_such_method"]),
    (["--model", "demo:sounds", "--method", "gradient.sensitivity", "--target", "99"], ["99"]),
    (["--model", "demo:sounds", "--method", "gradient.sensitivity", "--mixdown", "right"], ["only one channel"]),
]


@pytest.mark.parametrize("options,says", WRONG_USE, ids=[" ".join(c[0][1:]) for c in WRONG_USE])
def test_wrong_model_method_or_class_is_refused_plainly(refused, tmp_path, clip, options, says):
    refused(["explain", "audio", clip, *options, "--out", tmp_path / "out"], inputs=[clip],
            out=tmp_path / "out", says=says)


def test_a_folder_is_refused(refused, tmp_path):
    folder = tmp_path / "sounds"
    folder.mkdir()
    refused(["explain", "audio", folder, *METHOD, "--out", tmp_path / "out"], out=tmp_path / "out",
            says=["folder"])


def test_a_missing_file_is_refused(refused, tmp_path):
    refused(["explain", "audio", tmp_path / "nowhere.wav", *METHOD, "--out", tmp_path / "out"],
            out=tmp_path / "out", says=["no file"])


@pytest.mark.skipif(os.name == "nt", reason="symbolic links")
def test_a_symlink_loop_is_refused(refused, tmp_path):
    loop = tmp_path / "loop.wav"
    loop.symlink_to(tmp_path / "loop.wav")
    refused(["explain", "audio", loop, *METHOD, "--out", tmp_path / "out"], out=tmp_path / "out",
            says=["loop.wav", "leads nowhere"])


ACCEPTED = [
    ("u8.wav", dict(subtype="PCM_U8"), 1, []),
    ("s24.wav", dict(subtype="PCM_24"), 1, []),
    ("six.wav", dict(subtype="PCM_16"), 6, ["6 channels mixed down"]),
    ("loud.wav", dict(subtype="FLOAT", level=4.0), 1, ["beyond full scale", "scaled"]),
    ("clipped.wav", dict(subtype="PCM_16", level=1.0, clip=True), 1, []),
    ("short.wav", dict(subtype="PCM_16", seconds=0.4), 1, ["shorter than one model window"]),
    ("low_rate.wav", dict(subtype="PCM_16", rate=8000), 1, ["8000 Hz", "no sound above 4000 Hz"]),
    ("clip.flac", dict(subtype="PCM_16"), 1, []),
    ("clip.ogg", dict(subtype="VORBIS"), 1, []),
]


@pytest.mark.parametrize("name,how,channels,says", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_awkward_but_usable_sounds_are_explained(accepted, tmp_path, name, how, channels, says):
    rate = how.get("rate", RATE)
    samples = _tone(how.get("seconds", 1.2), rate, level=how.get("level", 0.4))
    if how.get("clip"):
        samples = np.clip(samples * 3, -1, 1)
    data = samples if channels == 1 else np.stack([samples * (0.2 + 0.1 * c) for c in range(channels)], axis=1)
    path = tmp_path / name
    sf.write(path, data, rate, subtype=how["subtype"])
    out = tmp_path / "out"
    accepted(["explain", "audio", path, *METHOD, "--out", out], inputs=[path], says=says)
    relevance = np.load(out / "relevance.npy")
    assert relevance.shape[0] == 64 and np.all(np.isfinite(relevance))


def test_a_stop_past_the_end_is_cut_and_said(accepted, tmp_path, clip):
    out = tmp_path / "out"
    accepted(["explain", "audio", clip, *METHOD, "--start", "0.5", "--stop", "30", "--out", out], inputs=[clip],
             says=["cut at the end"])
