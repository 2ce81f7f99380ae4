"""The two background threads of a run: inputs are decoded one chunk ahead of the computation,
and finished items are written while the next chunk is computed.

Crash safety: each item's two files are written atomically first; only then is its index row
appended with a single write and flushed to disk, so an item appears in the index only when it
is complete.
"""

from __future__ import annotations

import collections
import concurrent.futures
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core import XaideskError, get_method
from ..core.io import save_npy_atomic, save_npz_atomic, save_png_atomic
from .format import ITEMS_FOLDER, IndexAppender, IndexRow, sidecar_path
from .scan import true_class_of
from .thumbnails import audio_thumbnail, image_thumbnail


@dataclass
class ReadInput:
    """One input as read for the run: its pixels and tensor, or its audio, or why it could not be read."""

    file: str
    pixels: np.ndarray | None = None
    tensor: Any = None
    audio: Any = None
    error: str | None = None
    seconds: float = 0.0


def read_input(root: Path, file: str, modality: str, model) -> ReadInput:
    """Read and preprocess one input file; a failure is kept in ``error``, not raised."""
    start = time.perf_counter()
    item = ReadInput(file)
    try:
        if modality == "image":
            from ..data.images import load_image

            item.pixels = load_image(root / file).pixels
            item.tensor = model.preprocessing.to_tensor(item.pixels)
        else:
            from ..data.audio import load_audio

            item.audio = load_audio(root / file)
    except XaideskError as error:
        item.error = error.message
    except (OSError, ValueError, MemoryError) as error:
        item.error = f"could not be read ({type(error).__name__}: {error})"
    item.seconds = time.perf_counter() - start
    return item


class Prefetcher:
    """Reads the next chunks of inputs on a background thread while the current one is explained."""

    def __init__(self, root: Path, chunks: list[list[str]], modality: str, model, ahead: int = 1) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="xaidesk-read")
        self._read = lambda files: [read_input(root, f, modality, model) for f in files]
        self._chunks = chunks
        self._futures: dict[int, concurrent.futures.Future] = {}
        self._ahead = ahead

    def get(self, k: int) -> list[ReadInput]:
        for j in range(k, min(len(self._chunks), k + self._ahead + 1)):
            if j not in self._futures:
                self._futures[j] = self._executor.submit(self._read, self._chunks[j])
        return self._futures.pop(k).result()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class Saver:
    """Writes finished items (thumbnail, relevance, thumbnail PNG) on a background thread while the
    next batch is computed. Their index rows are appended by the calling thread, in order, and
    only for items whose files are both written."""

    def __init__(self, out: Path, model, stems: dict, appender: IndexAppender, on_row, report,
                 limit: int = 2) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="xaidesk-save")
        self._pending: collections.deque = collections.deque()
        self._out, self._model, self._stems = out, model, stems
        self._appender, self._on_row, self._report = appender, on_row, report
        self._limit = limit

    def submit(self, items: list, results: list, method: str) -> None:
        while len(self._pending) >= self._limit:
            self._collect_one()
        self._pending.append((method, self._executor.submit(self._save_all, items, results, method)))
        while self._pending and self._pending[0][1].done():
            self._collect_one()

    def _save_all(self, items, results, method):
        rows: list[IndexRow] = []
        try:
            for item, (explanation, predicted, seconds) in zip(items, results):
                rows.append(save_item(self._out, self._model, item, explanation, predicted, method,
                                       self._stems[item.file], seconds))
        except BaseException as error:  # noqa: BLE001 - handed to the calling thread with the rows done
            return rows, error
        return rows, None

    def _collect_one(self) -> None:
        method, future = self._pending.popleft()
        rows, error = future.result()
        for row in rows:
            self._appender.append(row)
            self._on_row(row)
        self._appender.sync()
        if error is not None:
            raise error
        self._report(method)

    def finish(self) -> None:
        """Wait for every item handed over and index it."""
        while self._pending:
            self._collect_one()

    def abandon(self) -> None:
        """Drop what is still waiting to be written and index nothing more (a save under way completes)."""
        while self._pending:
            self._pending.popleft()[1].cancel()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)



def save_item(out: Path, model, item: ReadInput, explanation, predicted: int, method: str, stem: str,
               seconds: float) -> IndexRow:
    """Write an item's relevance and thumbnail atomically and return its index row.

    Arrays a method recorded (``extras["item_arrays"]``: name -> arrays) go first, into sidecars
    (:func:`~xaidesk.runs.format.sidecar_path`), so an indexed item always has them.
    """
    start = time.perf_counter()
    relevance = np.asarray(explanation.relevance, dtype=np.float32)
    base = Path(ITEMS_FOLDER) / method / stem
    npy, png = base.with_name(base.name + ".npy"), base.with_name(base.name + ".png")
    signed = get_method(method).shows_sign(explanation.params)
    if item.pixels is not None:
        thumbnail = image_thumbnail(item.pixels, relevance, signed=signed)
    else:
        thumbnail = audio_thumbnail(explanation.extras["spectrogram"], relevance, signed=signed)
    for name, arrays in (explanation.extras.get("item_arrays") or {}).items():
        save_npz_atomic(out / sidecar_path(npy.as_posix(), name), arrays)
    save_npy_atomic(out / npy, relevance)
    save_png_atomic(out / png, thumbnail)
    return IndexRow(
        file=item.file, true_class=true_class_of(item.file), predicted=int(predicted),
        predicted_label=model.label(int(predicted)), score=float(explanation.score),
        target=int(explanation.target.index), target_label=explanation.target.label or model.label(explanation.target.index),
        method=method, relevance=npy.as_posix(), thumbnail=png.as_posix(),
        seconds=seconds + time.perf_counter() - start,
    )



__all__ = ["Prefetcher", "ReadInput", "Saver", "read_input", "save_item"]
