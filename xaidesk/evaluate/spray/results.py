"""SpRAy result folders: the pictures of the clusters, writing a result and reading it back."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ...core import InputError
from .analysis import SprayResult
from .run_heatmaps import RunHeatmaps, _as_int, read_run_index

#: Files of a SpRAy result folder.
RESULT_FILES = ("clusters.csv", "eigenvalues.csv", "cluster_means.npy", "cluster_means.png", "embedding.png",
                "summary.json")
#: Cluster colours of the embedding picture and the GUI (RGB), repeated when there are more clusters.
CLUSTER_COLORS = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)


def cluster_color(cluster: int) -> tuple[int, int, int]:
    return CLUSTER_COLORS[int(cluster) % len(CLUSTER_COLORS)]


def render_cluster_means(means: np.ndarray, cmap: str | None = None, cell: int = 128, gap: int = 6) -> np.ndarray:
    """The clusters' mean maps side by side (RGB uint8), each on its own symmetric colour levels
    (where a cluster looks matters, not how strongly: the maps were normalised)."""
    from ...core import render

    k, h, w = means.shape
    scale = max(1, cell // max(h, w))
    block = np.ones((scale, scale, 1), dtype=np.uint8)
    tiles = [np.kron(render.colorize(m, render.symmetric_levels(m, percentile=100), cmap or render.DEFAULT_COLORMAP),
                     block) for m in means]
    height, width = h * scale, w * scale
    out = np.full((height, k * width + (k - 1) * gap, 3), 255, dtype=np.uint8)
    for c, tile in enumerate(tiles):
        out[:, c * (width + gap) : c * (width + gap) + width] = tile
    return out


def render_embedding(embedding: np.ndarray, labels: np.ndarray, side: int = 480, radius: int = 4) -> np.ndarray:
    """A scatter picture of the 2D embedding, one colour per cluster (RGB uint8)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (side, side), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    margin = 3 * radius
    low, high = embedding.min(axis=0), embedding.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    xy = margin + (embedding - low) / span * (side - 2 * margin)
    xy[:, 1] = side - xy[:, 1]  # y grows upwards, as in the GUI's plot
    draw.rectangle([0, 0, side - 1, side - 1], outline=(180, 180, 180))
    for (x, y), label in zip(xy, labels):
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=cluster_color(label), outline=(40, 40, 40))
    return np.asarray(image)


# --------------------------------------------------------------------------- result folders


def write_spray_results(out: str | Path, result: SprayResult, heatmaps: RunHeatmaps, cmap: str | None = None) -> Path:
    """Write a SpRAy result as a set of files (see :data:`RESULT_FILES`) into the folder ``out``.

    ``clusters.csv`` has the columns ``file,cluster,x,y,relevance,thumbnail`` (paths
    relative to the run folder), ``eigenvalues.csv`` ``index,eigenvalue,gap`` (gap to
    the next eigenvalue), ``cluster_means.npy`` the (k, size, size) means, and
    ``summary.json`` the run, method, class, ``k``, eigengap, cluster sizes and parameters.
    """
    from ...core.io import csv_field, csv_number, save_npy_atomic, save_png_atomic, staged_folder, \
        write_bytes_atomic, write_json_atomic

    if len(heatmaps.rows) != len(result.labels):
        raise InputError("The SpRAy result and the run's items differ in number; run the analysis again.")
    clusters = ["file,cluster,x,y,relevance,thumbnail"] + [
        ",".join([csv_field(row["file"]), str(int(c)), csv_number(x), csv_number(y), csv_field(row["relevance"]),
                  csv_field(row.get("thumbnail", ""))])
        for row, c, (x, y) in zip(heatmaps.rows, result.labels, result.embedding)
    ]
    gaps = np.append(np.diff(result.eigenvalues), np.nan)
    eigen = ["index,eigenvalue,gap"] + [f"{i},{csv_number(v)},{csv_number(g)}"
                                        for i, (v, g) in enumerate(zip(result.eigenvalues, gaps))]
    summary = {
        "format": "xaidesk-spray/1",
        "run": str(heatmaps.run_dir.resolve()),
        "model": heatmaps.run.get("model"),
        "modality": heatmaps.run.get("modality"),
        "method": heatmaps.method,
        "target": heatmaps.target,
        "target_label": heatmaps.target_label,
        "n_maps": int(len(result.labels)),
        "n_clusters": int(result.n_clusters),
        "eigengap_k": int(result.eigengap_k),
        "eigengap": float(result.eigengap),
        "cluster_sizes": result.cluster_sizes,
        "params": result.params,
        "seconds": round(float(result.seconds), 3),
        "notices": heatmaps.notices,
    }
    with staged_folder(out) as folder:
        write_bytes_atomic(folder / "clusters.csv", ("\n".join(clusters) + "\n").encode("utf-8"))
        write_bytes_atomic(folder / "eigenvalues.csv", ("\n".join(eigen) + "\n").encode("utf-8"))
        save_npy_atomic(folder / "cluster_means.npy", result.cluster_means.astype(np.float32))
        save_png_atomic(folder / "cluster_means.png", render_cluster_means(result.cluster_means, cmap))
        save_png_atomic(folder / "embedding.png", render_embedding(result.embedding, result.labels))
        write_json_atomic(folder / "summary.json", summary)
    return Path(out)


def read_spray_results(folder: str | Path) -> tuple[SprayResult, RunHeatmaps]:
    """Read a folder written by :func:`write_spray_results` back.

    The run's items are matched by file name; when the run folder has moved or gone the
    rows come from ``clusters.csv`` alone (no thumbnails).
    """
    folder = Path(folder)
    missing = [name for name in ("clusters.csv", "eigenvalues.csv", "cluster_means.npy", "summary.json")
               if not (folder / name).is_file()]
    if missing:
        raise InputError(f"'{folder}' is not a SpRAy result folder (it lacks {', '.join(missing)}).")
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        clusters = list(csv.DictReader(io.StringIO((folder / "clusters.csv").read_text(encoding="utf-8"))))
        eigen = list(csv.DictReader(io.StringIO((folder / "eigenvalues.csv").read_text(encoding="utf-8"))))
        means = np.load(folder / "cluster_means.npy", allow_pickle=False)
        labels = np.array([int(r["cluster"]) for r in clusters], dtype=np.int64)
        coords = np.array([[float(r["x"]), float(r["y"])] for r in clusters], dtype=np.float64).reshape(-1, 2)
        eigenvalues = np.array([float(r["eigenvalue"]) for r in eigen], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"The SpRAy results in '{folder}' could not be read ({error}).") from error
    k = int(summary.get("n_clusters", means.shape[0]))
    if means.ndim != 3 or means.shape[0] != k or (len(labels) and labels.max() >= k):
        raise InputError(f"The SpRAy results in '{folder}' do not fit together (clusters and means differ).")
    result = SprayResult(maps=None, eigenvalues=eigenvalues, eigengap_k=int(summary.get("eigengap_k", k)),
                         eigengap=float(summary.get("eigengap", float("nan"))), labels=labels, n_clusters=k,
                         embedding=coords, cluster_means=means, params=dict(summary.get("params", {})),
                         seconds=float(summary.get("seconds", 0.0)))
    run_dir = Path(summary.get("run", ""))
    run, by_file = {}, {}
    try:
        run, rows = read_run_index(run_dir)
        by_file = {row["file"]: row for row in rows if row["method"] == summary.get("method")
                   and _as_int(row["target"]) == int(summary.get("target", -1))}
    except InputError:
        pass
    notices = [] if by_file else [f"The run folder '{run_dir}' was not found; thumbnails are not available."]
    rows = [by_file.get(r["file"]) or {"file": r["file"], "relevance": r.get("relevance", ""),
                                       "thumbnail": r.get("thumbnail", "") if by_file else "",
                                       "target": str(summary.get("target", "")),
                                       "target_label": summary.get("target_label", ""),
                                       "method": summary.get("method", "")}
            for r in clusters]
    if not run:
        run = {"model": summary.get("model"), "modality": summary.get("modality")}
    heatmaps = RunHeatmaps(run_dir=run_dir, run=run, method=summary.get("method", ""),
                           target=int(summary.get("target", -1)), target_label=str(summary.get("target_label", "")),
                           rows=rows, maps=[], notices=notices)
    return result, heatmaps
