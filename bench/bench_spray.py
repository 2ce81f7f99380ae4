"""SpRAy on the Clever Hans demo: does it separate tag-driven from horse-driven predictions?

Usage::

    python bench/bench_spray.py                  # three sets of 200 pictures (seeds 0 1 2), in /tmp
    python bench/bench_spray.py --seeds 0 --work DIR --run RUN   # reuse a batch run of DIR/seed-0/pictures

Steps:

1. ``python -m xaidesk spray --make-demo-folder DIR``: generated horse pictures, half of
   them with the tag that ``demo:clever_hans`` learned as a shortcut, and ``marks.csv``.
2. ``python -m xaidesk batch DIR --model demo:clever_hans --methods lrp.epsilon_plus_flat
   --target 0``: LRP of class ``horse`` on every picture, into a batch run folder.
   ``--run`` reads an existing run of the first set's pictures instead.
3. SpRAy (:func:`xaidesk.evaluate.spray.spray`) on the horse heatmaps: default settings
   (|R| maps, number of clusters from the eigengap), 2 clusters, and signed maps.

Prints, against the ground truth of ``marks.csv``: the adjusted Rand index, the purity
(share of pictures in the majority mark group of their cluster), the eigengap's k, and
for each cluster its size, its share of tagged pictures and the share of its positive
relevance inside the tag box. Also writes the ``python -m xaidesk spray`` result folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xaidesk.core.io import write_json_atomic  # noqa: E402
from xaidesk.data.scenes import MARK_BOX, read_marks, write_mark_demo_folder  # noqa: E402

METHOD = "lrp.epsilon_plus_flat"
MODEL = "demo:clever_hans"
HORSE = 0


def explain_folder(source: Path, run_dir: Path) -> None:
    """LRP of class 'horse' on every picture: ``python -m xaidesk batch`` into ``run_dir``."""
    from xaidesk.cli import main as cli_main

    status = cli_main(["batch", str(source), "--model", MODEL, "--methods", METHOD, "--target", str(HORSE),
                       "--out", str(run_dir)])
    if status != 0:
        raise SystemExit(f"the batch run failed (exit status {status})")


def purity(labels: np.ndarray, truth: np.ndarray) -> float:
    return float(sum(np.bincount(truth[labels == c]).max() for c in np.unique(labels)) / len(labels))


def tag_share(relevance: np.ndarray) -> float:
    """Share of the positive relevance inside the tag box."""
    top, left, h, w = MARK_BOX
    positive = np.clip(relevance, 0, None)
    return float(positive[top : top + h, left : left + w].sum() / max(positive.sum(), 1e-12))


def describe(name: str, result, truth: np.ndarray, shares: np.ndarray) -> dict:
    from sklearn.metrics import adjusted_rand_score

    ari = adjusted_rand_score(truth, result.labels)
    pure = purity(result.labels, truth)
    tag_clusters = [c for c in range(result.n_clusters) if truth[result.labels == c].mean() > 0.5]
    in_tag = np.isin(result.labels, tag_clusters)
    recall = float(truth[in_tag].sum() / max(truth.sum(), 1))
    precision = float(truth[in_tag].mean()) if in_tag.any() else float("nan")
    print(f"{name}: {result.n_clusters} clusters (eigengap suggests {result.eigengap_k}, gap {result.eigengap:.3f}); "
          f"ARI {ari:.3f}, purity {pure:.3f}; {len(tag_clusters)} mostly-tagged cluster(s) hold {recall:.1%} of the "
          f"tagged pictures, {precision:.1%} of their members tagged")
    clusters = []
    for c in range(result.n_clusters):
        members = result.labels == c
        clusters.append({"cluster": c, "size": int(members.sum()), "tagged_share": float(truth[members].mean()),
                         "tag_box_relevance_share": float(shares[members].mean())})
        print(f"  cluster {c}: {members.sum():3d} pictures, {truth[members].mean():6.1%} tagged, "
              f"{shares[members].mean():6.1%} of positive relevance in the tag box")
    return {"n_clusters": result.n_clusters, "eigengap_k": result.eigengap_k, "eigengap": result.eigengap,
            "adjusted_rand_index": ari, "purity": pure, "clusters": clusters,
            "tag_clusters": tag_clusters, "tag_cluster_recall": recall, "tag_cluster_precision": precision,
            "eigenvalues": [round(float(v), 5) for v in result.eigenvalues[:8]], "seconds": result.seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="pictures per set (default 200)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds of the picture sets, one set each (default 0 1 2)")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a new temporary folder)")
    parser.add_argument("--run", type=Path, default=None,
                        help="an existing batch run of the first set's pictures (WORK/seed-S/pictures)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    args = parser.parse_args(argv)
    import torch

    from xaidesk.evaluate.spray import load_run_heatmaps, spray, write_spray_results

    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="spray_demo_"))
    reports = []
    for n, seed in enumerate(args.seeds):
        folder = work / f"seed-{seed}"
        pictures = folder / "pictures"
        if not (pictures / "marks.csv").is_file():
            write_mark_demo_folder(pictures, n=args.count, seed=seed)
        run_dir = args.run if (args.run and n == 0) else folder / "run"
        if not (run_dir / "index.csv").is_file():
            explain_folder(pictures, run_dir)
        heatmaps = load_run_heatmaps(run_dir, method=METHOD, target_class="horse")
        marks = read_marks(pictures)
        truth = np.array([marks[f] for f in heatmaps.files], dtype=np.int64)
        shares = np.array([tag_share(m) for m in heatmaps.maps])
        predicted_horse = np.array([row["predicted_label"] == "horse" for row in heatmaps.rows])
        print(f"== seed {seed}: {len(truth)} horse pictures, {truth.sum()} tagged; the model calls "
              f"{predicted_horse[truth == 1].mean():.1%} of the tagged and {predicted_horse[truth == 0].mean():.1%} "
              "of the untagged ones 'horse'")
        auto = spray(heatmaps.maps, seed=seed)
        report = {"seed": seed, "pictures": int(len(truth)), "tagged": int(truth.sum()), "params": auto.params,
                  "predicted_horse_tagged": float(predicted_horse[truth == 1].mean()),
                  "predicted_horse_untagged": float(predicted_horse[truth == 0].mean()),
                  "default": describe("default settings (|R|, eigengap k)", auto, truth, shares),
                  "two": describe("k = 2", spray(heatmaps.maps, n_clusters=2, seed=seed), truth, shares),
                  "signed": describe("signed maps (eigengap k)", spray(heatmaps.maps, values="signed", seed=seed),
                                     truth, shares)}
        write_spray_results(folder / "spray", auto, heatmaps)
        reports.append(report)
    summary = {"method": METHOD, "model": MODEL, "count": args.count, "sets": reports}
    for key in ("default", "two", "signed"):
        ari = [r[key]["adjusted_rand_index"] for r in reports]
        pure = [r[key]["purity"] for r in reports]
        ks = [r[key]["eigengap_k"] for r in reports]
        recall = [r[key]["tag_cluster_recall"] for r in reports]
        precision = [r[key]["tag_cluster_precision"] for r in reports]
        summary[key] = {"adjusted_rand_index": ari, "purity": pure, "eigengap_k": ks,
                        "tag_cluster_recall": recall, "tag_cluster_precision": precision}
        print(f"{key:>8}: ARI {', '.join(f'{a:.3f}' for a in ari)}; purity {', '.join(f'{p:.3f}' for p in pure)}; "
              f"eigengap k {', '.join(map(str, ks))}; tag clusters: recall "
              f"{', '.join(f'{a:.3f}' for a in recall)}, precision {', '.join(f'{a:.3f}' for a in precision)}")
    write_json_atomic(work / "spray_demo_report.json", summary)
    print(f"SpRAy result folders in {work}/seed-*/spray; report {work / 'spray_demo_report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
