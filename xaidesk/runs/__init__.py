"""Dataset mode: a whole folder explained into one run folder, resumable, shardable, mergeable.

- :mod:`~xaidesk.runs.format`: the run folder (``run.json``, ``index.csv``, ``items/``, ``skipped.csv``);
- :mod:`~xaidesk.runs.scan`: the inputs of a folder, their order and shards;
- :mod:`~xaidesk.runs.execute`: :func:`run_batch`, a run with progress, cancel and resume;
- :mod:`~xaidesk.runs.compute` and :mod:`~xaidesk.runs.workers`: methods and devices, reading and saving;
- :mod:`~xaidesk.runs.thumbnails`, :mod:`~xaidesk.runs.merge` (joining shards) and
  :mod:`~xaidesk.runs.browse` (opening a run, sorting and filtering its rows).
"""

from .browse import SORT_KEYS, RunInfo, filter_rows, read_run, row_classes, sort_rows
from .compute import (available_devices, batched_function, call_on_device, model_on_device, resolve_device,
                      resolve_methods)
from .execute import DEFAULT_BATCH_SIZE, BatchResult, BatchStatus, format_seconds, run_batch
from .format import INDEX_COLUMNS, RUN_FORMAT, THUMBNAIL_SIZE, IndexRow, MethodRequest, read_index
from .merge import MergeResult, merge_runs
from .scan import FolderScan, detect_modality, item_stems, parse_shard, scan_folder, shard_files
from .thumbnails import audio_thumbnail, image_thumbnail

__all__ = [
    "BatchResult", "BatchStatus", "DEFAULT_BATCH_SIZE", "FolderScan", "INDEX_COLUMNS", "IndexRow", "MergeResult",
    "MethodRequest", "RUN_FORMAT", "RunInfo", "SORT_KEYS", "THUMBNAIL_SIZE", "audio_thumbnail", "available_devices",
    "batched_function", "call_on_device", "detect_modality", "filter_rows", "format_seconds", "image_thumbnail",
    "item_stems", "merge_runs", "model_on_device", "parse_shard", "read_index", "read_run", "resolve_device",
    "resolve_methods", "row_classes", "run_batch", "scan_folder", "shard_files", "sort_rows",
]
