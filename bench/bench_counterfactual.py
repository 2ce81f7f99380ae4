"""Benchmark: seconds to 3 diverse counterfactuals for one declined loan row (issue 16).

Run with ``.venv/bin/python bench/bench_counterfactual.py [--rows 5] [--margin 0.05] [--dice-python /tmp/dice/bin/python]``.

On the demo loan table (2,000 rows, 10 features, age frozen), a decision tree, logistic
regression and the small MLP of :mod:`xaidesk.tabular.models` are fitted; for each model the first
``--rows`` rows it declines are given 3 counterfactuals by :func:`xaidesk.tabular.counterfactual.
counterfactuals` with ``--margin`` (default: the search's own, 0.05, i.e. a probability of at
least 0.55). Printed per model: the median seconds, and over all counterfactuals the validity (the
model, called here, gives "approved"), the lowest probability of "approved" (how clearly), the
sparsity (features changed), the proximity (MAD-scaled L1 distance to the row) and the diversity
(mean MAD-scaled L1 distance between the 3).

dice-ml is not a dependency of xaidesk (see the module doc of :mod:`xaidesk.tabular.counterfactual`).
When ``--dice-python`` names the python of an environment with dice-ml 0.12 (e.g. made by
``python3.11 -m venv /tmp/dice && /tmp/dice/bin/pip install dice-ml scikit-learn pandas``), the
same fitted models (pickled; the environments must share scikit-learn's version) and rows are
given to dice-ml's random and genetic methods in a subprocess (``stopping_threshold`` 0.5 + margin,
the same requirement), measured the same way, and the
ratio of median seconds is printed. Each figure is one run on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xaidesk.data.tables import load_table  # noqa: E402
from xaidesk.explain.table import as_feature_matrix  # noqa: E402
from xaidesk.resources import resource_path  # noqa: E402
from xaidesk.tabular.counterfactual import DEFAULT_MARGIN, counterfactuals  # noqa: E402
from xaidesk.tabular.models import fit_table_model  # noqa: E402

MODELS = ("tree", "logistic", "mlp")
FROZEN = ("age",)

#: Run by the dice-ml environment's python: reads models and rows, writes counterfactuals and seconds.
DICE_WORKER = r'''
import json, pickle, sys, time, warnings
import numpy as np, pandas as pd
warnings.filterwarnings("ignore")
import dice_ml

job = pickle.load(open(sys.argv[1], "rb"))
names, frame = job["names"], pd.DataFrame(job["X"], columns=job["names"])
frame["approved"] = job["y"]
data = dice_ml.Data(dataframe=frame, continuous_features=names, outcome_name="approved")

class Numeric:  # the models were fitted on arrays: give them arrays
    def __init__(self, estimator): self.estimator = estimator
    def predict_proba(self, X): return self.estimator.predict_proba(np.asarray(X, dtype=float))
    def predict(self, X): return self.estimator.predict(np.asarray(X, dtype=float))

out = {}
for name, estimator in job["models"].items():
    model = dice_ml.Model(model=Numeric(estimator), backend="sklearn")
    for method in ("random", "genetic"):
        start = time.perf_counter()
        explainer = dice_ml.Dice(data, model, method=method)
        setup = time.perf_counter() - start
        runs = []
        for row in job["rows"][name]:
            query = frame[names].iloc[[row]]
            np.random.seed(0)
            start = time.perf_counter()
            try:
                kwargs = {"random_seed": 0} if method == "random" else {}
                kwargs["stopping_threshold"] = 0.5 + job["margin"]
                found = explainer.generate_counterfactuals(query, total_CFs=3, desired_class="opposite",
                                                           features_to_vary=job["vary"], verbose=False, **kwargs)
                cfs = found.cf_examples_list[0].final_cfs_df
                values = [] if cfs is None else cfs[names].to_numpy(float).tolist()
                error = None
            except Exception as failure:
                values, error = [], f"{type(failure).__name__}: {failure}"
            runs.append({"row": row, "seconds": time.perf_counter() - start, "values": values, "error": error})
        out[f"{name}/{method}"] = {"setup": setup, "runs": runs}
json.dump(out, open(sys.argv[2], "w"))
'''


def quality(model, x0: np.ndarray, found: list[np.ndarray], scale: np.ndarray) -> dict:
    """Validity, features changed, MAD-L1 distance to the row, and between the counterfactuals; computed here."""
    if not found:
        return {"found": 0, "valid": 0, "changed": [], "distance": [], "diversity": [], "probability": []}
    values = np.asarray(found, dtype=float)
    valid = model.estimator.predict(values) == 1
    probability = model.estimator.predict_proba(values)[:, 1]
    between = [np.abs((a - b) / scale).sum() for i, a in enumerate(values) for b in values[:i]]
    return {"found": len(values), "valid": int(valid.sum()),
            "changed": list((np.abs(values - x0) > 1e-9).sum(axis=1)),
            "distance": list((np.abs(values - x0) / scale).sum(axis=1)), "diversity": between,
            "probability": list(probability)}


def summary_line(label: str, seconds: list[float], measures: list[dict]) -> str:
    found = sum(m["found"] for m in measures)
    valid = sum(m["valid"] for m in measures)
    pooled = {k: [v for m in measures for v in m[k]] for k in ("changed", "distance", "diversity")}
    mean = {k: (f"{np.mean(v):.2f}" if v else "-") for k, v in pooled.items()}
    lowest = [p for m in measures for p in m["probability"]]
    lowest = f"{min(lowest):.3f}" if lowest else "-"
    return (f"  {label:<22} median {statistics.median(seconds):7.3f} s/row   found {found:2d}, valid {valid:2d}   "
            f"lowest p {lowest:>5}   "
            f"changed {mean['changed']:>5}   distance {mean['distance']:>6}   diversity {mean['diversity']:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5, help="declined rows per model (default 5)")
    parser.add_argument("--dice-python", default=None, help="python of an environment with dice-ml installed")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help=f"how clearly: probability of approved at least 0.5 + MARGIN (default {DEFAULT_MARGIN})")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    table = load_table(resource_path("samples", "loans.csv"))
    features = as_feature_matrix(table, [c for c in table.columns if c != "approved"], "approved")
    X, y, names = features.values, features.target, features.names
    scale = np.median(np.abs(X - np.median(X, axis=0)), axis=0)
    scale = np.where(scale > 0, scale, np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0))
    print(f"data: loans.csv, {X.shape[0]} rows x {X.shape[1]} features; frozen: {', '.join(FROZEN)}; "
          f"{args.rows} declined rows per model, 3 counterfactuals each, probability of approved at least "
          f"{0.5 + args.margin:.3g} (margin {args.margin:g})")
    models, rows, ours = {}, {}, {}
    for name in MODELS:
        model = fit_table_model(name, X, y, names, target_name="approved")
        models[name] = model
        rows[name] = [int(r) for r in np.flatnonzero(model.estimator.predict(X) == 0)[:args.rows]]
        counterfactuals(model, rows[name][0], frozen=FROZEN, margin=args.margin)  # warm-up
        seconds, measures = [], []
        for row in rows[name]:
            start = time.perf_counter()
            result = counterfactuals(model, row, frozen=FROZEN, count=3, seed=0, margin=args.margin)
            seconds.append(time.perf_counter() - start)
            measures.append(quality(model, X[row], [cf.values for cf in result.counterfactuals], scale))
        ours[name] = seconds
        print(f"{model.title} (held-out accuracy {model.metrics['accuracy']:.3f})")
        print(summary_line("xaidesk", seconds, measures))
    if not args.dice_python:
        print("dice-ml: not run (give --dice-python PATH, the python of an environment with dice-ml).")
        return
    with tempfile.TemporaryDirectory() as folder:
        job, answer = Path(folder) / "job.pkl", Path(folder) / "answer.json"
        job.write_bytes(pickle.dumps({"names": names, "X": X, "y": y, "rows": rows,
                                      "models": {n: m.estimator for n, m in models.items()},
                                      "vary": [n for n in names if n not in FROZEN], "margin": args.margin}))
        done = subprocess.run([args.dice_python, "-c", DICE_WORKER, str(job), str(answer)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            print(f"dice-ml: could not run ({done.stderr.strip().splitlines()[-1] if done.stderr.strip() else '?'})")
            return
        dice = json.loads(answer.read_text())
    version = subprocess.run([args.dice_python, "-c", "from importlib.metadata import version; print(version('dice-ml'))"],
                             capture_output=True, text=True).stdout.strip()
    print(f"dice-ml {version}, same models and rows (setup = building its explainer, not counted per row):")
    for name in MODELS:
        print(f"{models[name].title}")
        for method in ("random", "genetic"):
            entry = dice[f"{name}/{method}"]
            seconds = [r["seconds"] for r in entry["runs"]]
            measures = [quality(models[name], X[r["row"]], r["values"], scale) for r in entry["runs"]]
            errors = [r["error"] for r in entry["runs"] if r["error"]]
            print(summary_line(f"dice-ml {method}", seconds, measures)
                  + f"   setup {entry['setup']:.2f} s   dice/xaidesk {statistics.median(seconds) / statistics.median(ours[name]):.1f}x"
                  + (f"   {len(errors)} failed: {errors[0][:80]}" if errors else ""))


if __name__ == "__main__":
    main()
