"""``python -m xaidesk spray``: find a model's strategies in one class of a batch run (SpRAy).

    python -m xaidesk spray RUN --method NAME [--class LABEL] [--true-class NAME] [--clusters K]
                            [--size 32] [--neighbors N] [--values abs|positive|signed]
                            [--embedding tsne|spectral] [--seed S] --out DIR
    python -m xaidesk spray --make-demo-folder DIR [--count 200] [--seed S]

The first form writes ``clusters.csv`` (file, cluster, x, y, relevance, thumbnail),
``eigenvalues.csv``, ``cluster_means.npy``, ``cluster_means.png`` (the clusters'
mean heatmaps left to right, cluster 0 the largest), ``embedding.png`` and
``summary.json`` into DIR, as a set. The second writes a folder of generated
horse pictures for the built-in ``demo:clever_hans`` model, half of them with
the spurious tag, and ``marks.csv`` saying which.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: The most pictures ``--make-demo-folder`` writes (they are generated in memory first).
MAX_DEMO_PICTURES = 10_000

HELP = "cluster one class's heatmaps of a batch run to find the model's strategies (SpRAy)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import output_folder
    parser.add_argument("run", type=Path, nargs="?", help="the batch run folder (with run.json and index.csv)")
    parser.add_argument("--method", default=None, help="method whose heatmaps to analyse (may be left out if the run used one)")
    parser.add_argument("--class", dest="target_class", default=None,
                        help="the explained class, by label or index (may be left out if there is one)")
    parser.add_argument("--true-class", default=None, help="only inputs from this class subfolder")
    parser.add_argument("--all-classes", action="store_true",
                        help="instead: SpRAy on every explained class, ranked by how clearly its heatmaps split "
                             "(Fisher criterion on the spectral embedding, and the eigengap); writes classes.csv")
    parser.add_argument("--min-heatmaps", type=int, default=10,
                        help="with --all-classes: classes with fewer heatmaps are left out (default 10)")
    parser.add_argument("--clusters", type=int, default=None, help="number of clusters (default: from the eigengap)")
    parser.add_argument("--max-clusters", type=int, default=10, help="largest number the eigengap may suggest (default 10)")
    parser.add_argument("--size", type=int, default=32, help="side of the downsampled heatmaps in cells (default 32)")
    parser.add_argument("--neighbors", type=int, default=None, help="neighbours per heatmap in the graph (default 10)")
    parser.add_argument("--values", default="abs", choices=("abs", "positive", "signed"),
                        help="compare |R| (abs, default), max(R, 0) (positive) or R (signed)")
    parser.add_argument("--normalize", default="max", choices=("max", "l2"),
                        help="divide each map by its largest |R| (max, default) or its norm (l2)")
    parser.add_argument("--embedding", default="tsne", choices=("tsne", "spectral"),
                        help="2D picture: t-SNE of the maps (default) or the spectral embedding")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clustering and t-SNE (or of the demo pictures)")
    parser.add_argument("--cmap", default=None, help="colour map of cluster_means.png")
    parser.add_argument("--out", type=output_folder, default=None, help="output folder")
    parser.add_argument("--make-demo-folder", type=Path, default=None, metavar="DIR",
                        help="instead: write generated horse pictures for demo:clever_hans, half with the tag, "
                             "and marks.csv into DIR")
    parser.add_argument("--count", type=int, default=200, help="pictures in the demo folder (default 200)")


def run(args: argparse.Namespace) -> int:
    from .common import cli_progress
    from ..core import CancelToken, InputError, render
    from ..core.io import check_output_folder

    if args.make_demo_folder is not None:
        check_output_folder(args.make_demo_folder)
        return _make_demo(args)
    if args.run is None:
        raise InputError("Give the batch run folder to analyse (or --make-demo-folder DIR to write demo pictures).")
    if args.out is None:
        raise InputError("Give an output folder with --out DIR.")
    check_output_folder(args.out)
    if args.cmap is not None and args.cmap not in render.COLORMAPS:
        raise InputError(f"Unknown colour map '{args.cmap}'; choose one of: {', '.join(render.COLORMAPS)}.")
    from ..evaluate.spray import load_run_heatmaps, spray, write_spray_results

    token = CancelToken()
    progress = cli_progress()
    if args.all_classes:
        return _rank_classes(args, token, progress)
    heatmaps = load_run_heatmaps(args.run, method=args.method, target_class=args.target_class,
                                 true_class=args.true_class, token=token, progress=progress)
    for notice in heatmaps.notices:
        print(f"\nxaidesk: note: {notice}", file=sys.stderr)
    result = spray(heatmaps.maps, size=args.size, n_neighbors=args.neighbors, n_clusters=args.clusters,
                   max_clusters=args.max_clusters, values=args.values, normalize=args.normalize, embedding=args.embedding,
                   seed=args.seed, token=token, progress=progress)
    progress.done()
    write_spray_results(args.out, result, heatmaps, cmap=args.cmap)
    sizes = ", ".join(str(s) for s in result.cluster_sizes)
    print(f"SpRAy on {len(result.labels)} {heatmaps.method} heatmaps of '{heatmaps.target_label}': the eigengap "
          f"suggests {result.eigengap_k} clusters (gap {result.eigengap:.3g}); {result.n_clusters} clusters of "
          f"sizes {sizes} in {result.seconds:.2f} s; results in {args.out}")
    if result.looks_like_one_strategy:
        print("note: the first eigengap is the largest: these heatmaps look alike, so the clusters likely split "
              "one strategy rather than separate several.")
    return 0


def _make_demo(args: argparse.Namespace) -> int:
    from .common import cli_progress
    from ..core import CancelToken, InputError
    from ..data.scenes import write_mark_demo_folder

    if not 2 <= args.count <= MAX_DEMO_PICTURES:
        raise InputError(f"--count must be between 2 and {MAX_DEMO_PICTURES} pictures; got {args.count}.")
    if not 0 <= args.seed < 2**32:
        raise InputError(f"--seed must be a whole number from 0 to {2**32 - 1}; got {args.seed}.")
    progress = cli_progress()
    folder = write_mark_demo_folder(args.make_demo_folder, n=args.count, seed=args.seed, token=CancelToken(),
                                    progress=progress)
    progress.done()
    print(f"Wrote {args.count} generated horse pictures ({args.count // 2} with the tag) and marks.csv to {folder}. "
          f"Explain them with demo:clever_hans (class horse) in a batch run, then run SpRAy on it.")
    return 0


def _rank_classes(args: argparse.Namespace, token, progress) -> int:
    from ..core import InputError
    from ..core.io import write_bytes_atomic
    from ..evaluate.spray.classes import classes_csv, rank_classes

    if args.min_heatmaps < 3:
        raise InputError(f"--min-heatmaps must be at least 3; got {args.min_heatmaps}.")
    ranked = rank_classes(args.run, method=args.method, min_heatmaps=args.min_heatmaps, size=args.size,
                          n_neighbors=args.neighbors, max_clusters=args.max_clusters, values=args.values,
                          normalize=args.normalize, seed=args.seed, token=token, progress=progress)
    progress.done()
    args.out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(args.out / "classes.csv", classes_csv(ranked))
    print(f"SpRAy on {len(ranked)} classes, most suspicious first (Fisher criterion on the spectral embedding):")
    for rank, suspicion in enumerate(ranked, start=1):
        print(f"  {rank}. {suspicion.label} ({suspicion.heatmaps} heatmaps): Fisher {suspicion.fisher:.3g}, "
              f"eigengap {suspicion.eigengap:.3g} at k = {suspicion.eigengap_k}, smallest cluster "
              f"{100 * suspicion.smallest_cluster_share:.0f} %")
    print(f"classes.csv written to {args.out}; open one class with --class to see its clusters.")
    return 0
