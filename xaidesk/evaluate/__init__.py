"""Qt-free faithfulness metrics for explanations (perturbation curves, see :mod:`.faithfulness`).

The names below are imported on first use, so that ``xaidesk.evaluate.spray`` (numpy and
scikit-learn only) can be imported without loading torch through ``compare``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "compare_audio_methods": "compare", "compare_image_methods": "compare", "compare_methods": "compare",
    "compare_table_methods": "compare",
    "FILLS": "faithfulness", "ORDERS": "faithfulness", "FaithfulnessResult": "faithfulness",
    "FlipSettings": "faithfulness", "curve_aopc": "faithfulness", "curve_auc": "faithfulness",
    "image_faithfulness": "pixel_flipping", "patch_scores": "pixel_flipping",
    "audio_faithfulness": "spectrogram",
    "TABLE_METHODS": "tables", "table_faithfulness": "tables",
    "RunHeatmaps": "spray", "SprayResult": "spray", "load_run_heatmaps": "spray",
    "read_spray_results": "spray", "write_spray_results": "spray",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
