"""Train the built-in demo audio model ``demo:sounds`` and write it to resources/.

Usage::

    python scripts/train_demo_audio_model.py

Deterministic (fixed seeds, CPU, about a minute). The training data are synthesised here: five
classes of sound events -- ``tone`` (a steady tone with harmonics), ``chirp`` (a frequency
sweep), ``clicks`` (a train of short clicks), ``noise band`` (band-limited noise) and ``beeps``
(a tone switched on and off) -- each placed at a random time and level in a 0.96 s clip at
16 kHz over background noise of random colour and level. Nothing is read from the network or
from any data folder.

The network is the small demo CNN (``build_demo_cnn``: conv-BN-ReLU-pool x3, two linear layers)
on the VGGish log-mel front-end (64 mel bands x 96 frames of 10 ms). Writes:

- ``resources/models/sounds.pt``   state dict (loads with ``torch.load(weights_only=True)``)
- ``resources/models/sounds.json`` modality, front-end, class names, architecture, accuracy
- ``resources/samples/sounds_*.wav`` sample clips of a few seconds (16-bit WAV)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xaidesk.models.audio import AudioFrontEnd  # noqa: E402
from xaidesk.models.demo import build_demo_cnn  # noqa: E402

MODELS_DIR = ROOT / "resources" / "models"
SAMPLES_DIR = ROOT / "resources" / "samples"
SEED = 20240905
RATE = 16000
CLASSES = ["tone", "chirp", "clicks", "noise band", "beeps"]
FRONTEND = AudioFrontEnd()
CLIP = (FRONTEND.window_frames - 1) * FRONTEND.hop_length  # exactly one 96-frame window
WIDTHS, HIDDEN = (8, 16, 32), 32
TRAIN_PER_CLASS, TEST_PER_CLASS, EPOCHS = 400, 100, 14


def background(rng: np.random.Generator, n: int) -> np.ndarray:
    white = rng.standard_normal(n)
    if rng.random() < 0.5:  # brown-ish noise
        white = np.cumsum(white)
        white -= np.linspace(white[0], white[-1], n)
    white /= np.max(np.abs(white)) + 1e-9
    return white * 10 ** rng.uniform(-3.0, -1.6)


def envelope(n: int, attack: int = 80) -> np.ndarray:
    env = np.ones(n)
    a = min(attack, n // 2)
    env[:a] = np.linspace(0, 1, a)
    env[n - a:] = np.linspace(1, 0, a)
    return env


def event(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n) / RATE
    if kind == "tone":
        f = rng.uniform(300, 3000)
        y = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * k * f * t + rng.uniform(0, 6)) for k in (1, 2, 3)
                if k * f < 7000)
    elif kind == "chirp":
        f0, f1 = rng.uniform(250, 900), rng.uniform(2000, 6000)
        if rng.random() < 0.5:
            f0, f1 = f1, f0
        freq = f0 * (f1 / f0) ** (t / t[-1])
        y = np.sin(2 * np.pi * np.cumsum(freq) / RATE)
    elif kind == "clicks":
        y = np.zeros(n)
        period = int(RATE / rng.uniform(6, 25))
        decay = np.exp(-np.arange(120) / rng.uniform(8, 30))
        for start in range(int(rng.integers(0, period)), n - 120, period):
            y[start:start + 120] += rng.standard_normal(120) * decay
    elif kind == "noise band":
        centre, width = rng.uniform(500, 5000), rng.uniform(200, 1500)
        spectrum = np.fft.rfft(rng.standard_normal(n))
        freqs = np.fft.rfftfreq(n, 1 / RATE)
        spectrum[np.abs(freqs - centre) > width / 2] = 0
        y = np.fft.irfft(spectrum, n)
    elif kind == "beeps":
        f = rng.uniform(400, 3000)
        on = int(rng.uniform(0.04, 0.1) * RATE)
        off = int(rng.uniform(0.04, 0.12) * RATE)
        gate = (np.arange(n) % (on + off)) < on
        y = np.sin(2 * np.pi * f * t) * gate
    else:  # pragma: no cover
        raise ValueError(kind)
    y = y * envelope(n)
    return y / (np.max(np.abs(y)) + 1e-9)


def make_clip(kind: str, rng: np.random.Generator, n: int = CLIP) -> np.ndarray:
    length = int(rng.uniform(0.35, 0.9) * n)
    start = int(rng.integers(0, n - length + 1))
    clip = background(rng, n)
    clip[start:start + length] += event(kind, rng, length) * 10 ** rng.uniform(-1.2, -0.1)
    return np.clip(clip, -1, 1).astype(np.float32)


def make_set(per_class: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for label, kind in enumerate(CLASSES):
        for _ in range(per_class):
            xs.append(FRONTEND.log_mel(make_clip(kind, rng))[:, : FRONTEND.window_frames])
            ys.append(label)
    return torch.from_numpy(np.stack(xs)[:, None]), torch.tensor(ys)


def write_samples(rng: np.random.Generator) -> list[dict]:
    import soundfile as sf

    SAMPLES_DIR.mkdir(parents=True, exist_ok=True)
    plans = [
        ("sounds_tone_then_clicks.wav", "tone", [("tone", 0.4, 0.8), ("clicks", 1.9, 0.7)], 3.0),
        ("sounds_chirp.wav", "chirp", [("chirp", 0.3, 0.9), ("chirp", 1.3, 0.9)], 2.4),
        ("sounds_noise_band.wav", "noise band", [("noise band", 0.2, 1.6)], 2.0),
        ("sounds_beeps.wav", "beeps", [("beeps", 0.15, 2.7)], 3.0),
    ]
    samples = []
    for name, label, events, seconds in plans:
        n = int(seconds * RATE)
        clip = background(rng, n) * 0.5
        for kind, at, length in events:
            m = int(length * RATE)
            start = int(at * RATE)
            clip[start:start + m] += event(kind, rng, m) * 0.5
        clip = np.clip(clip, -1, 1).astype(np.float32)
        sf.write(SAMPLES_DIR / name, clip, RATE, subtype="PCM_16")
        samples.append({"file": name, "label": CLASSES.index(label),
                        "events": [{"class": k, "start": a, "stop": a + length} for k, a, length in events]})
    return samples


def main() -> None:
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(SEED)
    start = time.time()
    x_train, y_train = make_set(TRAIN_PER_CLASS, rng)
    x_test, y_test = make_set(TEST_PER_CLASS, rng)
    print(f"data: {len(x_train)} train, {len(x_test)} held-out clips in {time.time() - start:.1f} s", flush=True)
    model = build_demo_cnn(1, len(CLASSES), FRONTEND.input_size, widths=WIDTHS, hidden=HIDDEN)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, EPOCHS)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total = 0.0
        for i in range(0, len(order), 64):
            batch = order[i:i + 64]
            optimiser.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimiser.step()
            total += float(loss) * len(batch)
        schedule.step()
        model.eval()
        with torch.no_grad():
            accuracy = float((model(x_test).argmax(1) == y_test).float().mean())
        print(f"epoch {epoch + 1}: loss {total / len(x_train):.3f}, held-out accuracy {accuracy:.3f}", flush=True)
    model.eval()
    with torch.no_grad():
        predicted = model(x_test).argmax(1)
        train_accuracy = float((model(x_train).argmax(1) == y_train).float().mean())
    accuracy = float((predicted == y_test).float().mean())
    per_class = {c: float((predicted[y_test == k] == k).float().mean()) for k, c in enumerate(CLASSES)}
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), MODELS_DIR / "sounds.pt")
    samples = write_samples(np.random.default_rng(SEED + 1))
    meta = {
        "title": "Synthetic sounds (demo)",
        "description": "A small CNN on log-mel spectrograms (VGGish front-end: 64 mel bands x 0.96 s) that tells "
                       "five synthesised sound events apart: " + ", ".join(CLASSES) + ".",
        "modality": "audio",
        "class_names": CLASSES,
        "frontend": FRONTEND.to_dict(),
        "architecture": {"widths": list(WIDTHS), "hidden": HIDDEN, "linear_bias": True},
        "accuracy": {"held_out": round(accuracy, 4), "train": round(train_accuracy, 4),
                     "per_class_held_out": {k: round(v, 4) for k, v in per_class.items()},
                     "held_out_clips": len(y_test)},
        "training_data": f"{TRAIN_PER_CLASS} synthesised 0.96 s clips per class (random frequency, timing, "
                         "level and background noise); held-out: a separate draw of "
                         f"{TEST_PER_CLASS} per class. Written by scripts/train_demo_audio_model.py.",
        "samples": samples,
        "notes": ["Trained on synthesised sounds only; it knows nothing about speech, music or real recordings."],
    }
    (MODELS_DIR / "sounds.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    size = (MODELS_DIR / "sounds.pt").stat().st_size
    print(f"held-out accuracy {accuracy:.3f} (train {train_accuracy:.3f}); per class {per_class}; "
          f"weights {size / 1024:.0f} KB; {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
