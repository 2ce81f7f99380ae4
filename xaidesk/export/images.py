"""The files of an image or sound explanation.

One writer per export, called by ``xaidesk explain image|audio`` and by the Images and Audio
tabs. :func:`write_explanation` fills an output folder, as a set (the folder appears only when
every file is written):

- ``relevance.npy``: the relevance map in the input's coordinates (an image's pixels the model
  never saw, cut off by a centre crop, are NaN; a sound's map is (mel bands, frames));
- ``uncertainty.npy``: the map's uncertainty, for methods that give one (RELAX, SmoothGrad);
- ``segments.npy`` (int32 labels) and ``segments.csv`` (``segment,weight,cells``), for methods
  that weigh segments (LIME);
- ``pixel_flipping.csv`` (``fraction_removed,score,random_order_score``), when a faithfulness
  curve is given;
- ``overlay.png``, ``figure.png`` (when given) and ``summary.json``.

:func:`write_relevance` writes one ``.npy`` map (and its uncertainty beside it, named by
:func:`uncertainty_path_for`), as the tabs' "Export relevance" does.
"""

from __future__ import annotations

from pathlib import Path


def uncertainty_path_for(path) -> Path:
    """``relevance.npy`` -> ``uncertainty.npy``; ``x_relevance.npy`` -> ``x_uncertainty.npy``; else ``x_uncertainty.npy``."""
    path = Path(path)
    stem = path.stem
    if "relevance" in stem:
        return path.with_name(stem.replace("relevance", "uncertainty") + path.suffix)
    return path.with_name(stem + "_uncertainty" + path.suffix)


def write_uncertainty(path, explanation) -> Path | None:
    """Write the explanation's uncertainty map to ``path`` (``None``, nothing written, when it has none)."""
    from ..core.io import save_npy_atomic

    if explanation.uncertainty is None:
        return None
    return save_npy_atomic(path, explanation.uncertainty)


def write_relevance(path, explanation) -> Path:
    """Write the relevance map to ``path``; a result with uncertainty also gets its map beside it
    (:func:`uncertainty_path_for`). Returns the relevance file's path."""
    from ..core.io import save_npy_atomic

    path = save_npy_atomic(path, explanation.relevance)
    write_uncertainty(uncertainty_path_for(path), explanation)
    return path


def segments_csv(segments, weights) -> bytes:
    """``segments.csv``: ``segment,weight,cells`` (cells: how many map cells the segment covers)."""
    import numpy as np

    rows = ["segment,weight,cells"] + [
        f"{label},{float(weight):.9g},{int(np.count_nonzero(segments == label))}" for label, weight in enumerate(weights)
    ]
    return ("\n".join(rows) + "\n").encode("utf-8")


def pixel_flipping_csv(curve) -> bytes:
    """``pixel_flipping.csv``: the most-relevant-first curve against a random order."""
    rows = ["fraction_removed,score,random_order_score"] + [
        f"{f:.6g},{a:.9g},{b:.9g}" for f, a, b in zip(curve.fractions, curve.curves["morf"], curve.curves["random"])
    ]
    return ("\n".join(rows) + "\n").encode("utf-8")


def write_explanation(out, explanation, overlay, summary: dict, curve=None, figure: bytes | None = None) -> Path:
    """Write an image or sound explanation's files into ``out`` as a set (see the module docstring).

    Parameters
    ----------
    out
        The output folder.
    explanation
        The :class:`~xaidesk.core.explanation.Explanation`.
    overlay
        The (H, W, 3) uint8 picture written as ``overlay.png``.
    summary
        What ``summary.json`` holds.
    curve
        A faithfulness curve with ``morf`` and ``random`` orders, written as ``pixel_flipping.csv``.
    figure
        A PNG written as ``figure.png``.

    Returns
    -------
    Path
        ``out``.
    """
    import numpy as np

    from ..core.io import save_npy_atomic, save_png_atomic, staged_folder, write_bytes_atomic, write_json_atomic

    with staged_folder(out) as folder:
        save_npy_atomic(folder / "relevance.npy", explanation.relevance)
        write_uncertainty(folder / "uncertainty.npy", explanation)
        segments = explanation.extras.get("segments")
        if isinstance(segments, np.ndarray):
            save_npy_atomic(folder / "segments.npy", segments.astype(np.int32))
            weights = explanation.extras.get("segment_weights")
            if weights is not None:
                write_bytes_atomic(folder / "segments.csv", segments_csv(segments, weights))
        if curve is not None:
            write_bytes_atomic(folder / "pixel_flipping.csv", pixel_flipping_csv(curve))
        save_png_atomic(folder / "overlay.png", overlay)
        if figure is not None:
            write_bytes_atomic(folder / "figure.png", figure)
        write_json_atomic(folder / "summary.json", summary)
    return Path(out)
