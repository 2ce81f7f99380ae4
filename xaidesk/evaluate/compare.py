"""Compare explanation methods on one input by faithfulness.

Each function explains the input with every chosen method (the same pipelines the GUI and
``explain`` use), evaluates each explanation's perturbation curves, and returns one
:class:`~xaidesk.evaluate.faithfulness.FaithfulnessResult` per method, in the given order.
Progress runs over the methods (each method's share split between explaining and evaluating);
the token is checked throughout, so a cancel stops within the current batch.
"""

from __future__ import annotations

import time

import numpy as np

from ..core import CancelToken, InputError, no_progress, step_of
from ..data.audio import LoadedAudio
from ..models.base import LoadedModel
from .faithfulness import FaithfulnessResult, FlipSettings
from .pixel_flipping import image_faithfulness
from .spectrogram import audio_faithfulness
from .tables import MAX_ROWS, table_faithfulness


def _check_methods(methods) -> list[str]:
    names = list(dict.fromkeys(m.strip() for m in methods if m and m.strip()))
    if not names:
        raise InputError("Choose at least one method to evaluate.")
    return names


def _span(progress, lo: float, hi: float, prefix: str):
    def report(fraction: float, message: str = "", partial=None) -> None:
        step = step_of(message)
        text = step.prefixed(prefix) if step is not None else (f"{prefix}: {message}" if message else prefix)
        progress(lo + (hi - lo) * min(max(fraction, 0.0), 1.0), text, None)
    return report


def compare_methods(methods, explain, evaluate, token=None, progress=no_progress) -> list[FaithfulnessResult]:
    """Run ``explain(name, token, progress)`` then ``evaluate(name, explanation, token, progress)`` per method.

    The building block of the functions below, for callers with their own way to explain
    (e.g. the Tables tab's preprocessing).
    """
    names = _check_methods(methods)
    token = token or CancelToken()
    results = []
    for i, name in enumerate(names):
        token.check()
        lo, hi = i / len(names), (i + 1) / len(names)
        mid = lo + 0.4 * (hi - lo)
        begin = time.perf_counter()
        explanation = explain(name, token, _span(progress, lo, mid, f"{name} ({i + 1} of {len(names)}): explaining"))
        result = evaluate(name, explanation, token, _span(progress, mid, hi, f"{name} ({i + 1} of {len(names)})"))
        result.seconds = time.perf_counter() - begin
        result.extras["explain_seconds"] = float(getattr(explanation, "seconds", 0.0))
        results.append(result)
    progress(1.0, "done", None)
    return results


def compare_image_methods(
    model: LoadedModel, image: np.ndarray, methods, *, target: int | None = None, params: dict | None = None,
    settings: FlipSettings = FlipSettings(), token: CancelToken | None = None, progress=no_progress,
) -> list[FaithfulnessResult]:
    """Explain ``image`` with each of ``methods`` (``params``: {method: {name: value}}) and evaluate each.

    All methods explain the same class: ``target``, or the model's top class.
    """
    from ..explain import explain_image, predict_image

    settings = settings.checked()
    params = params or {}
    target = predict_image(model, image).top_class if target is None else int(target)

    def explain(name, tok, prog):
        return explain_image(model, image, name, target=target, params=params.get(name), token=tok, progress=prog)

    def evaluate(name, explanation, tok, prog):
        return image_faithfulness(model, image, explanation.relevance, explanation.target.index, settings,
                                  method=name, token=tok, progress=prog)

    return compare_methods(methods, explain, evaluate, token, progress)


def compare_audio_methods(
    model: LoadedModel, audio: LoadedAudio, methods, *, target: int | None = None, params: dict | None = None,
    settings: FlipSettings = FlipSettings(), token: CancelToken | None = None, progress=no_progress,
) -> list[FaithfulnessResult]:
    """Explain the clip with each method on its spectrogram and evaluate each (same class for all)."""
    from ..explain.audio import explain_audio, predict_audio

    settings = settings.checked()
    params = params or {}
    if target is None:
        target = predict_audio(model, audio).top_class

    def explain(name, tok, prog):
        return explain_audio(model, audio, name, target=int(target), params=params.get(name), token=tok, progress=prog)

    def evaluate(name, explanation, tok, prog):
        return audio_faithfulness(model, audio, explanation.relevance, explanation.target.index, settings,
                                  method=name, token=tok, progress=prog)

    return compare_methods(methods, explain, evaluate, token, progress)


def compare_table_methods(
    data, methods, *, columns: list[str] | None = None, target: str | None = None, params: dict | None = None,
    settings: FlipSettings = FlipSettings(), max_rows: int = MAX_ROWS, token: CancelToken | None = None,
    progress=no_progress,
) -> list[FaithfulnessResult]:
    """Run each table method (``target``: the column supervised methods predict) and evaluate it by feature removal."""
    from ..explain.table import as_feature_matrix, explain_table

    params = params or {}
    matrix = as_feature_matrix(data, columns, target)
    y = matrix.target

    def explain(name, tok, prog):
        return explain_table(matrix, name, params.get(name), target=y, token=tok, progress=prog)

    def evaluate(name, result, tok, prog):
        return table_faithfulness(result, settings, target_values=y, max_rows=max_rows, token=tok, progress=prog)

    return compare_methods(methods, explain, evaluate, token, progress)
