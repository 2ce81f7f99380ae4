"""Benchmark: audio -- RELAX on VGGish windows, its throughput, and opening a 10-minute file.

Run with ``.venv/bin/python bench/bench_audio.py [--quick]``.

``torch.set_num_threads(2)``; the machine is shared, so timings are repeated and medians reported.

1. **RELAX N=1000 on a 5 s clip** with the VGGish architecture (random weights, no classifier
   head: RELAX explains the 128-d embedding): wall seconds of ``explain_audio`` (6 windows of
   0.96 s, so 6 x N masked forward passes). ``--quick`` uses N=100.
2. **Throughput**: masked windows per second inside that run against plain batched inference of
   VGGish windows (batches of 16/32/64 random log-mel windows, best median). Target >= 0.95x.
3. **Opening a 10-minute file** (16 kHz, 16-bit WAV written with soundfile) until its spectrogram
   data are ready for the screen: header (``audio_info``) + overview envelope
   (``waveform_envelope(points=4000)``) + the first visible segment (10 s, ``read_segment``) and
   its log-mel (``spectrogram_of``). Measured in a fresh interpreter (imports included) and warm.
   Target <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xaidesk.data.audio import LoadedAudio  # noqa: E402
from xaidesk.explain import explain_audio  # noqa: E402
from xaidesk.models.audio import AudioFrontEnd, build_vggish  # noqa: E402
from xaidesk.models.base import LoadedModel  # noqa: E402

FE = AudioFrontEnd()


def vggish_model() -> LoadedModel:
    torch.manual_seed(0)
    module = build_vggish().eval().requires_grad_(False)
    return LoadedModel("vggish:random", "VGGish (random)", module, FE.preprocessing(),
                       [f"embedding {i}" for i in range(128)], architecture="vggish", modality="audio",
                       frontend=FE, embedding_only=True)


def clip(seconds: float = 5.0) -> LoadedAudio:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 16000)) / 16000
    y = 0.3 * np.sin(2 * np.pi * 880 * t) * (np.sin(2 * np.pi * 1.5 * t) > 0) + 0.05 * rng.standard_normal(len(t))
    return LoadedAudio(y.astype(np.float32), 16000)


def plain_throughput(model: LoadedModel, repeats: int) -> tuple[float, int]:
    best, best_batch = 0.0, 0
    x_all = torch.randn(64, 1, 64, 96) - 2.0
    for batch in (16, 32, 64):
        x = x_all[:batch].contiguous()
        with torch.inference_mode():
            model.module(x)  # warm-up
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                model.module(x)
                times.append(time.perf_counter() - start)
        rate = batch / statistics.median(times)
        if rate > best:
            best, best_batch = rate, batch
    return best, best_batch


def open_long_file(path: str) -> dict:
    t0 = time.perf_counter()
    from xaidesk.data.audio import audio_info, read_segment, waveform_envelope
    from xaidesk.explain.audio import spectrogram_of

    t_import = time.perf_counter()
    info = audio_info(path)
    times, lo, hi = waveform_envelope(path, points=4000)
    t_env = time.perf_counter()
    segment = read_segment(path, 0.0, 10.0)
    log_mel, frame_times, freqs = spectrogram_of(FE, segment)
    t_done = time.perf_counter()
    return {"imports_s": t_import - t0, "envelope_s": t_env - t_import, "segment_logmel_s": t_done - t_env,
            "total_s": t_done - t0, "duration_s": info["duration"], "log_mel_shape": list(log_mel.shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=100 and fewer repeats")
    parser.add_argument("--child-open", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.child_open:
        print(json.dumps(open_long_file(args.child_open)))
        return
    n = 100 if args.quick else 1000
    repeats = 3 if args.quick else 5
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {'quick' if args.quick else 'full'} run",
          flush=True)

    # 3. the 10-minute file first (cheap)
    with tempfile.TemporaryDirectory() as folder:
        import soundfile as sf

        path = Path(folder) / "ten_minutes.wav"
        rng = np.random.default_rng(1)
        with sf.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as handle:
            for _ in range(60):
                handle.write((0.1 * rng.standard_normal(160000)).astype(np.float32))
        cold = []
        for _ in range(3):
            out = subprocess.run([sys.executable, __file__, "--child-open", str(path)], capture_output=True,
                                 text=True, check=True)
            cold.append(json.loads(out.stdout.strip().splitlines()[-1]))
        warm = [open_long_file(str(path)) for _ in range(3)]
    print("10-minute file -> overview + first 10 s log-mel ready:")
    print(f"  fresh interpreter: median {statistics.median(c['total_s'] for c in cold):.2f} s "
          f"(imports {statistics.median(c['imports_s'] for c in cold):.2f} s, envelope "
          f"{statistics.median(c['envelope_s'] for c in cold):.2f} s, segment+log-mel "
          f"{statistics.median(c['segment_logmel_s'] for c in cold):.3f} s)  target <= 2 s")
    print(f"  warm: median {statistics.median(w['total_s'] for w in warm):.2f} s", flush=True)

    # 2. plain throughput
    model = vggish_model()
    plain, plain_batch = plain_throughput(model, repeats)
    print(f"plain VGGish inference: {plain:.1f} windows/s (batch {plain_batch})", flush=True)

    # 1. RELAX
    audio = clip(5.0)
    runs = []
    for _ in range(1 if not args.quick else 2):
        start = time.perf_counter()
        result = explain_audio(model, audio, "relax", params={"num_masks": n})
        runs.append(time.perf_counter() - start)
    seconds = statistics.median(runs)
    windows = len(result.extras["windows"])
    rate = windows * n / seconds
    print(f"RELAX N={n} on a 5 s clip ({windows} windows, {windows * n} masked forwards): median {seconds:.1f} s")
    print(f"RELAX throughput {rate:.1f} windows/s = {rate / plain:.2f}x plain batched inference (target >= 0.95x)")


if __name__ == "__main__":
    main()
