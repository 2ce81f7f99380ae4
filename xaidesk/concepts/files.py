"""The files of concepts, one writer per set, used by ``xaidesk concepts`` and the GUI.

One image (:func:`write_image_concepts`), a folder ``DIR``:

- ``concepts.csv``: ``rank, channel, relevance, share, absorbed`` of the explained concepts;
- ``feeding.csv``: ``channel, lower_layer, lower_channel, share``: the concepts below that feed each one;
- ``heatmaps.npy``: ``(K, H, W)`` float32 conditional heatmaps in the image's pixels (NaN: not seen), in
  the order of ``concepts.csv``; ``channel_relevance.npy``: every channel's relevance;
- ``concept_<channel>.png``: each heatmap over the image;
- ``concepts.json``: model, layer, method and settings, class, logit; with prototypes, ``typicality``
  (nearest prototype, percentile, the concepts that differ most).

Reference samples (:func:`write_references`), the folder ``RUN/references`` of a reference run:

- ``references.csv``: ``channel, kind (relmax|actmax), rank, file, value, top, left, bottom, right, target``;
- ``relevance.npy`` and ``activation.npy``: ``(files, channels)``, rows in the order of ``files.csv``
  (``row, file, target, predicted, true_class``);
- ``concept_<channel>.png``: the channel's RelMax crops above its ActMax crops.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..core.io import csv_number, save_npy_atomic, save_png_atomic, staged_folder, write_bytes_atomic

REFERENCES_FOLDER = "references"
TILE = 72


def _csv(rows: list[list], header: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _number(value) -> str:
    return csv_number(float(value))


def concept_png_name(channel: int) -> str:
    return f"concept_{int(channel):04d}.png"


def write_image_concepts(out, concepts, pixels: np.ndarray, *, source: str = "", typicality: dict | None = None) -> Path:
    """Write one image's concepts (:class:`~xaidesk.concepts.image.ImageConcepts`) into ``out`` as a whole;
    ``typicality`` (compared with a class's prototypes) goes into ``concepts.json``."""
    from ..core import render

    out = Path(out)
    with staged_folder(out, stale=("concept_*.png",)) as staging:
        rows = [[rank, channel, _number(concepts.channel_relevance[channel]), _number(share), _number(absorbed)]
                for rank, (channel, share, absorbed) in enumerate(
                    zip(concepts.channels, concepts.shares, concepts.absorbed), start=1)]
        write_bytes_atomic(staging / "concepts.csv",
                           _csv(rows, ["rank", "channel", "relevance", "share", "absorbed"]))
        feeding = [[channel, concepts.lower_layer, lower, _number(share)]
                   for channel in concepts.channels for lower, share in concepts.feeding.get(channel, [])]
        write_bytes_atomic(staging / "feeding.csv", _csv(feeding, ["channel", "lower_layer", "lower_channel", "share"]))
        heatmaps = np.stack([concepts.heatmap(k) for k in range(len(concepts.channels))]).astype(np.float32)
        save_npy_atomic(staging / "heatmaps.npy", heatmaps)
        save_npy_atomic(staging / "channel_relevance.npy", concepts.channel_relevance.astype(np.float64))
        for channel, heatmap in zip(concepts.channels, heatmaps):
            levels = render.symmetric_levels(heatmap)
            save_png_atomic(staging / concept_png_name(channel),
                            render.blend_overlay(pixels, heatmap, cmap="bwr", levels=levels))
        meta = {"input": source, "model": concepts.model_spec, "layer": concepts.layer, "method": concepts.method,
                "params": concepts.params, "target": concepts.target, "target_label": concepts.target_label,
                "logit": concepts.logit, "channels": len(concepts.channel_relevance),
                "lower_layer": concepts.lower_layer}
        if typicality is not None:
            meta["typicality"] = typicality
        write_bytes_atomic(staging / "concepts.json", json.dumps(meta, indent=2, default=str).encode("utf-8"))
    return out


def read_image_concepts(folder) -> dict:
    """What :func:`write_image_concepts` wrote: ``meta``, ``rows`` (concepts.csv records), ``heatmaps``,
    ``channel_relevance`` (every channel's) and ``feeding`` (feeding.csv records)."""
    from ..core import InputError

    folder = Path(folder)
    try:
        meta = json.loads((folder / "concepts.json").read_text("utf-8"))
        with open(folder / "concepts.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        heatmaps = np.load(folder / "heatmaps.npy", allow_pickle=False)
        channel_relevance = np.load(folder / "channel_relevance.npy", allow_pickle=False)
        with open(folder / "feeding.csv", newline="", encoding="utf-8") as handle:
            feeding = list(csv.DictReader(handle))
    except (OSError, ValueError) as error:
        raise InputError(f"'{folder}' does not hold the files of `xaidesk concepts image` (concepts.json, "
                         "concepts.csv, feeding.csv, heatmaps.npy, channel_relevance.npy).", details=str(error)) from None
    if len(rows) != len(heatmaps):
        raise InputError(f"'{folder}' is incomplete: concepts.csv and heatmaps.npy disagree; write it again.")
    if not np.isfinite(channel_relevance).all():
        raise InputError(f"'{folder}' holds relevance that is not a finite number; write it again.")
    return {"meta": meta, "rows": rows, "heatmaps": heatmaps, "channel_relevance": channel_relevance,
            "feeding": feeding}


def _tile(pixels: np.ndarray) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(pixels))
    image.thumbnail((TILE, TILE))
    tile = np.full((TILE, TILE, 3), 255, dtype=np.uint8)
    array = np.asarray(image.convert("RGB"))
    top, left = (TILE - array.shape[0]) // 2, (TILE - array.shape[1]) // 2
    tile[top:top + array.shape[0], left:left + array.shape[1]] = array
    return tile


def reference_sheet(rows_of_crops: list[list[np.ndarray]], columns: int) -> np.ndarray:
    """Rows of crops as one picture of ``TILE`` px tiles, 4 px apart, on white."""
    gap = 4
    height = len(rows_of_crops) * (TILE + gap) + gap
    width = columns * (TILE + gap) + gap
    sheet = np.full((height, width, 3), 255, dtype=np.uint8)
    for r, crops in enumerate(rows_of_crops):
        for c, crop in enumerate(crops[:columns]):
            top, left = gap + r * (TILE + gap), gap + c * (TILE + gap)
            sheet[top:top + TILE, left:left + TILE] = _tile(crop)
    return sheet


def write_references(references, *, per_concept: int = 8, channels=None, token=None, progress=None) -> Path:
    """Write ``RUN/references`` for a :class:`~xaidesk.concepts.references.ConceptReferences` as a whole."""
    from ..core import CancelToken, no_progress
    from ..data.images import load_image
    from .references import crop

    token, progress = token or CancelToken(), progress or no_progress
    if int(per_concept) < 1:
        from ..core import InputError

        raise InputError(f"Ask for at least one reference sample per concept (got {per_concept}).")
    channels = range(references.channels) if channels is None else [int(c) for c in channels]
    out = references.run_dir / REFERENCES_FOLDER
    images: dict[str, np.ndarray] = {}

    def pixels_of(sample) -> np.ndarray:
        if sample.file not in images:
            if len(images) >= 64:  # a folder of photos must not all stay in memory
                images.pop(next(iter(images)))
            images[sample.file] = load_image(sample.path).pixels
        return images[sample.file]

    with staged_folder(out, stale=("concept_*.png",)) as staging:
        rows = []
        for k, channel in enumerate(channels):
            if k % 16 == 0:
                token.check()
                progress(k / max(1, len(channels)), f"Reference samples of concept {channel}")
            sheet_rows = []
            for kind, samples in (("relmax", references.relmax(channel, per_concept)),
                                  ("actmax", references.actmax(channel, per_concept))):
                rows += [[channel, kind, rank, s.file, _number(s.value), *s.box, s.target]
                         for rank, s in enumerate(samples, start=1)]
                sheet_rows.append([crop(pixels_of(s), s.box) for s in samples])
            save_png_atomic(staging / concept_png_name(channel), reference_sheet(sheet_rows, per_concept))
        write_bytes_atomic(staging / "references.csv", _csv(rows, ["channel", "kind", "rank", "file", "value", "top",
                                                                   "left", "bottom", "right", "target"]))
        files = [[i, f, int(t), int(p), c] for i, (f, t, p, c) in enumerate(
            zip(references.files, references.targets, references.predicted, references.true_class))]
        write_bytes_atomic(staging / "files.csv", _csv(files, ["row", "file", "target", "predicted", "true_class"]))
        save_npy_atomic(staging / "relevance.npy", references.relevance)
        save_npy_atomic(staging / "activation.npy", references.activation)
    progress(1.0, "Reference samples written")
    return out


__all__ = ["REFERENCES_FOLDER", "concept_png_name", "read_image_concepts", "reference_sheet", "write_image_concepts",
           "write_references"]
