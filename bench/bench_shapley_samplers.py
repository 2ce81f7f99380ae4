"""Benchmark: which sampled Shapley estimator ``"auto"`` should use beyond the exact limit (issue 16).

Run with ``.venv/bin/python bench/bench_shapley_samplers.py [--rows 20]``.

A trained MLP classifier (20 features, an interaction and a non-linear term; held-out accuracy
printed) is explained for ``--rows`` held-out rows against a 100-row background by KernelSHAP
(shap's default ``2d + 2048`` coalitions) and by antithetic permutation sampling (shap's
``Permutation`` at the default ``max(500, 10(2d + 1))`` evaluations, and at 1,000). Each is compared
with a long reference run (permutation sampling at 8,000 evaluations, another seed): the relative
RMS error of the values, their mean per-row Pearson correlation, and the seconds per row, measured
in the same run. Both estimators are unbiased and satisfy efficiency; the question is error per
second on a trained model.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xaidesk.tabular.shapley import background_sample, shapley_values  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20, help="held-out rows explained (default 20)")
    args = parser.parse_args()
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(0)
    n, d = 3000, 20
    X = rng.normal(size=(n, d))
    logit = 1.5 * X[:, 0] - X[:, 1] + 0.8 * X[:, 2] * X[:, 3] + 0.5 * np.sin(2 * X[:, 4]) + 0.3 * X[:, 5]
    y = (logit + 0.3 * rng.normal(size=n) > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier((32,), max_iter=300, random_state=0).fit(X[:2000], y[:2000])
    print(f"MLP classifier, {d} features: held-out accuracy {model.score(X[2000:], y[2000:]):.3f} "
          "(2 cores, no GPU; single run)")

    def predict(Z):
        return model.predict_proba(Z)[:, 1]

    background = background_sample(X[:2000], 100, 0)
    rows = X[2000:2000 + args.rows]
    start = time.perf_counter()
    reference = shapley_values(predict, rows, background, method="permutation", nsamples=8000, seed=1).values
    print(f"reference: permutation sampling, 8,000 evaluations a row, {time.perf_counter() - start:.1f} s")
    print(f"{'estimator':<34}{'s / row':>9}{'rel. error':>12}{'correlation':>13}")
    timings = {}
    for name, method, samples in (("KernelSHAP, 2d + 2048 coalitions", "kernel", None),
                                  ("permutation, default evaluations", "permutation", None),
                                  ("permutation, 1,000 evaluations", "permutation", 1000)):
        start = time.perf_counter()
        values = shapley_values(predict, rows, background, method=method, nsamples=samples, seed=0).values
        seconds = (time.perf_counter() - start) / len(rows)
        timings[name] = seconds
        error = np.sqrt(np.mean((values - reference) ** 2)) / np.sqrt(np.mean(reference ** 2))
        correlation = np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(values, reference)])
        print(f"{name:<34}{seconds:>9.3f}{error:>12.3f}{correlation:>13.4f}")
    kernel = timings["KernelSHAP, 2d + 2048 coalitions"]
    for name, seconds in timings.items():
        print(f"  {name}: {seconds / kernel:.2f}x KernelSHAP's time")


if __name__ == "__main__":
    main()
