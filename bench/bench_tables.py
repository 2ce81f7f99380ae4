"""Table benchmarks: soft-min outlier scores at scale, and one row's explanation.

    .venv/bin/python bench/bench_tables.py [--quick] [--runs 3] [--threads 2]

(1) Outlier scores (neon.knn, γ = 1, scores only and scores + NEON relevance of
    every row) for N x 20 random features, each in a fresh subprocess:
    seconds (median of --runs) and peak memory (ru_maxrss of the child).
    The N x N distance matrix is never held: rows are processed in chunks of
    at most 4 M distances (32 MB per float64 buffer); the chunk size is printed.
    Targets at N = 100,000: <= 60 s and <= 2 GB.
(2) Scaling from 10k to 100k rows: the time ratio (about 100x expected for O(N^2)).
(3) The NEON explanation of one row at N = 100,000: median seconds over 20 rows
    (target <= 0.5 s).

--quick uses N = 5,000 and 20,000 (ratio ~16x expected) and one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads({threads})
from xaidesk.explain.neon_outliers import outlier_scores, explain_row, chunk_rows
n, f, explain, rows = {n}, 20, {explain}, {rows}
X = np.random.default_rng(0).lognormal(0.0, 1.0, size=(n, f))
X = np.log(X + 1.0)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
if rows:
    times = []
    for j in range(rows):
        s = time.perf_counter(); e = explain_row(X, j * 997 % n, 1.0); times.append(time.perf_counter() - s)
        assert abs(e.relevance.sum() - e.score) <= 1e-6 * abs(e.score)
    seconds = float(np.median(times))
else:
    r = outlier_scores(X, 1.0, explain=explain)
    seconds = time.perf_counter() - t
    if explain:
        assert np.allclose(r.relevance.sum(1), r.scores, rtol=1e-6)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": seconds, "peak_mb": peak / 1024, "before_mb": base / 1024, "chunk": chunk_rows(n)}}))
"""


def run(n: int, explain: bool, threads: int, rows: int = 0) -> dict:
    code = CHILD.format(n=n, explain=explain, threads=threads, rows=rows)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (on a busy shared machine 1 was faster than 2)")
    args = parser.parse_args()
    small, large = (5_000, 20_000) if args.quick else (10_000, 100_000)
    runs = 1 if args.quick else args.runs
    print(f"soft-min outlier scores, 20 features, gamma = 1, torch threads = {args.threads}, median of {runs} run(s)")
    results = {}
    for explain in (False, True):
        for n in (small, large):
            measured = [run(n, explain, args.threads) for _ in range(runs)]
            seconds = statistics.median(m["seconds"] for m in measured)
            peak = max(m["peak_mb"] for m in measured)
            results[(n, explain)] = seconds
            label = "scores + relevance" if explain else "scores only       "
            print(f"  N = {n:>7,}  {label}  {seconds:8.2f} s   peak {peak:7.0f} MB "
                  f"(interpreter + data before: {measured[0]['before_mb']:.0f} MB)   chunk {measured[0]['chunk']} rows")
        ratio = results[(large, explain)] / results[(small, explain)]
        print(f"  scaling {small:,} -> {large:,} rows: x{ratio:.1f} (O(N^2) predicts x{(large / small) ** 2:.0f})")
    one = run(large, False, args.threads, rows=20)
    print(f"one row's NEON explanation at N = {large:,}: median {one['seconds'] * 1000:.1f} ms over 20 rows "
          f"(target <= 500 ms)")


if __name__ == "__main__":
    main()
