"""Benchmark: Shapley values for 1,000 rows x 20 features (issue 16).

Run with ``.venv/bin/python bench/bench_shapley.py [--kernel-rows N]``.

1. **TreeSHAP** on a gradient-boosted classifier (100 trees of depth 3), explaining the positive
   class's probability against a 100-row background: wall seconds for all 1,000 rows through
   :func:`xaidesk.tabular.shapley.shapley_values`, against ``shap.TreeExplainer`` called directly
   on the same rows (the wrapper's overhead) in the same run.
2. **KernelSHAP** on an MLP regressor (20-64-64-1) with a 100-row background and shap's default
   ``2d + 2048`` coalitions per row: KernelSHAP costs the same for every row, so only
   ``--kernel-rows`` rows (default 20) are explained and the per-row time is extrapolated to
   1,000 rows (printed as such). Baseline: ``shap.KernelExplainer`` directly on 10 of those rows.

Each figure is a single run (the machine is shared; expect a few per cent of noise).
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


def table(rows: int = 1000, features: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    logit = X[:, 0] - 0.8 * X[:, 1] + X[:, 2] * X[:, 3] + 0.5 * np.sin(3 * X[:, 4])
    return X, logit


def timed(work):
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel-rows", type=int, default=20, help="rows explained by KernelSHAP (extrapolated)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import shap
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.neural_network import MLPRegressor

    X, logit = table()
    background = background_sample(X, n=100, seed=0)
    print(f"data: {X.shape[0]} rows x {X.shape[1]} features; background: {background.description}")

    forest = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(X, logit > 0)
    approve = lambda rows: forest.predict_proba(rows)[:, 1]  # noqa: E731
    _, predict_s = timed(lambda: approve(X))
    ours, tree_s = timed(lambda: shapley_values(approve, X, background, estimator=forest))
    explainer = shap.TreeExplainer(forest, background.rows, model_output="probability",
                                   feature_perturbation="interventional")
    _, direct_s = timed(lambda: explainer.shap_values(X, check_additivity=False))
    print(f"TreeSHAP ({ours.method}), gradient boosting 100x depth 3, 1000 rows: {tree_s:.2f} s "
          f"(shap.TreeExplainer directly: {direct_s:.2f} s, ratio {tree_s / direct_s:.2f}, "
          "the wrapper's checks included; "
          f"one predict of 1000 rows: {predict_s * 1000:.1f} ms); efficiency gap {ours.efficiency_gap:.1e}")

    mlp = MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=300, random_state=0).fit(X, logit)
    rows = X[:args.kernel_rows]
    shapley_values(mlp.predict, X[-1:], background, method="kernel")  # warm-up of both paths
    kernel, kernel_s = timed(lambda: shapley_values(mlp.predict, rows, background, method="kernel"))
    per_row = kernel_s / len(rows)
    direct = shap.KernelExplainer(mlp.predict, background.rows)
    direct.shap_values(X[-1:], silent=True)
    baseline_rows = rows[:10]
    _, direct_s = timed(lambda: direct.shap_values(baseline_rows, silent=True))
    direct_per_row = direct_s / len(baseline_rows)
    print(f"KernelSHAP, MLP 20-64-64-1, {len(rows)} rows measured: {kernel_s:.1f} s, {per_row:.2f} s per row "
          f"(shap.KernelExplainer directly: {direct_per_row:.2f} s per row, "
          f"ratio {per_row / direct_per_row:.2f}); "
          f"efficiency gap {kernel.efficiency_gap:.1e}")
    if len(rows) < 1000:
        print(f"KernelSHAP, 1000 rows: about {per_row * 1000:.0f} s = {per_row * 1000 / 60:.1f} min "
              f"(EXTRAPOLATED from the {len(rows)} rows measured, per-row cost is constant)")


if __name__ == "__main__":
    main()
