"""A small engine that evaluates many perturbed copies of one input, batch by batch.

Occlusion uses it today; LIME and RELAX will share it. The caller describes the perturbations
with ``make_batch(start, stop)``, which builds the inputs of samples ``start..stop-1`` only when
they are needed (never all N at once). The engine

- chooses the batch size (``batch_size=0``): at most what fits a memory budget estimated from
  the input size, and adapted after every batch so that one batch takes about
  ``target_seconds`` -- short enough for smooth progress and quick cancellation, long enough to
  keep the model busy;
- evaluates each batch under ``torch.inference_mode()`` (no autograd state anywhere);
- checks the cancel token before every batch and reports progress after it;
- hands each batch's outputs to ``on_batch(start, stop, outputs)`` as they arrive (streaming),
  asks ``partial()`` for a partial :class:`~xaidesk.core.Explanation` at most every
  ``partial_interval`` seconds, and
- returns all outputs as one (N, K) float32 tensor, so other classes can be explained from the
  same forward passes.

Example::

    outputs = evaluate_perturbations(
        model.module, lambda a, b: masked_copies(x, masks[a:b]), len(masks),
        token=token, progress=progress)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..core import CancelToken, no_progress
from .common import forward_logits

#: Memory the engine allows one batch to use, in bytes (input copies and activations).
DEFAULT_MEMORY_BUDGET = 512 * 2**20
#: Rough ratio of a network's peak activation memory (inference) to its input size.
ACTIVATION_FACTOR = 32
#: Largest batch the engine ever uses.
MAX_BATCH = 128


def memory_batch_limit(sample: torch.Tensor, budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> int:
    """Largest batch size that fits ``budget_bytes`` for samples shaped like ``sample`` (C, H, W)."""
    per_sample = max(1, sample.numel() * sample.element_size() * ACTIVATION_FACTOR)
    return int(max(1, min(MAX_BATCH, budget_bytes // per_sample)))


@dataclass
class BatchStats:
    """What the engine did (useful in ``extras`` and for benchmarks)."""

    batches: int = 0
    sizes: list[int] = field(default_factory=list)
    seconds: float = 0.0


def evaluate_perturbations(
    module: Callable[[torch.Tensor], Any],
    make_batch: Callable[[int, int], torch.Tensor],
    total: int,
    *,
    token: CancelToken | None = None,
    progress=no_progress,
    batch_size: int = 0,
    on_batch: Callable[[int, int, torch.Tensor], None] | None = None,
    partial: Callable[[], Any] | None = None,
    message: str = "Evaluating perturbed inputs",
    model_name: str = "the model",
    target_seconds: float = 0.4,
    partial_interval: float = 0.5,
    partial_every: int = 4,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    stats: BatchStats | None = None,
) -> torch.Tensor:
    """Evaluate ``total`` perturbed inputs and return their (total, K) outputs.

    Parameters
    ----------
    module
        The model (an ``nn.Module``, TorchScript module or any callable returning (B, K) scores).
    make_batch
        ``make_batch(start, stop)`` returns the inputs of samples ``start .. stop-1``, shaped
        (stop - start, C, H, W).
    total
        Number of perturbed samples.
    token, progress
        Cancel token (checked before each batch; raises :class:`~xaidesk.core.Cancelled`) and
        progress callback.
    batch_size
        A fixed batch size, or 0 to choose automatically.
    on_batch
        Called with ``(start, stop, outputs)`` after every batch.
    partial
        Called after every ``partial_every`` batches or ``partial_interval`` seconds, whichever
        comes first (never after the last batch); its result, if not ``None``, is passed to
        ``progress`` as the partial result.

    Returns
    -------
    torch.Tensor
        (total, K) float32 outputs on the CPU, in sample order.
    """
    if total <= 0:
        raise ValueError("nothing to evaluate")
    stats = stats if stats is not None else BatchStats()
    fixed = int(batch_size) > 0
    size = int(batch_size) if fixed else 0
    limit = MAX_BATCH
    outputs: torch.Tensor | None = None
    start_time = last_partial = time.monotonic()
    done = 0
    since_partial = 0
    while done < total:
        if token is not None:
            token.check()
        if not fixed and size == 0:
            # First batch: a small probe, limited by memory; later batches adapt to its timing.
            first = make_batch(done, done + 1)
            limit = memory_batch_limit(first[0], memory_budget)
            size = min(limit, 4)
        stop = min(total, done + size)
        batch = make_batch(done, stop)
        tick = time.monotonic()
        with torch.inference_mode():
            scores = forward_logits(module, batch, model_name).float().cpu()
        elapsed = time.monotonic() - tick
        if outputs is None:
            outputs = torch.empty((total, scores.shape[1]), dtype=torch.float32)
        outputs[done:stop] = scores
        stats.batches += 1
        stats.sizes.append(stop - done)
        if on_batch is not None:
            on_batch(done, stop, scores)
        if not fixed:
            per_sample = elapsed / max(1, stop - done)
            wanted = int(target_seconds / per_sample) if per_sample > 0 else limit
            size = max(1, min(limit, wanted, 2 * size))
        done = stop
        now = time.monotonic()
        since_partial += 1
        result = None
        due = since_partial >= partial_every or now - last_partial >= partial_interval
        if partial is not None and done < total and due:
            result = partial()
            last_partial, since_partial = now, 0
        progress(done / total, f"{message}: {done} of {total}", result)
    stats.seconds += time.monotonic() - start_time
    assert outputs is not None
    return outputs

