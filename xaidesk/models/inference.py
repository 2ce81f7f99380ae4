"""How xaidesk runs a model: one forward pass with plain errors, and batched inference.

:func:`call_model` and :func:`forward_logits` run one forward pass and turn what goes wrong
(an input that does not fit, the model's own exception, a tuple instead of scores, NaN scores)
into plain :mod:`xaidesk.core` errors; :func:`model_failure` names the exception a model raised.

:func:`evaluate_perturbations` is a small engine that evaluates many perturbed copies of one
input, batch by batch. Occlusion, LIME, RELAX, the faithfulness curves and the quick classifier's
feature extraction use it. The caller describes the perturbations
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

Options added for RELAX (all keyword-only, defaults keep the behaviour above):

- ``outputs="features"`` accepts an encoder returning (B, D) features or (B, C, h, w) maps and
  flattens them to (B, D) (``"logits"``, the default, insists on (B, K) class scores);
- ``keep_outputs=False`` stores nothing: outputs only stream through ``on_batch`` and the call
  returns ``None``, so memory stays proportional to one batch, not to N;
- ``memory_format="channels_last"`` (or ``"auto"``: channels-last for 4-D inputs to a model with
  2-D convolutions, see :func:`preferred_memory_format`) hands the batch to the model in the
  channels-last layout. Only the input is converted; the model is never modified. On the
  development machine (2 CPU threads, oneDNN) this made ResNet-18 about 25 % faster;
  ``bench/bench_relax.py`` measures it;
- ``should_stop(done)`` is asked after every batch and ends the run early (adaptive stopping).

A module may name the smallest batch worth running as ``preferred_min_batch`` (the onnxruntime
wrapper of ONNX models does: its CPU throughput drops on small batches); automatic sizing then
never goes below it, memory permitting. A module with ``prefetch_batches = True`` (the same
wrapper: onnxruntime releases the GIL while it runs) gets the next batch built on a helper thread
while it evaluates the current one; ``make_batch`` is then called one call at a time, in order, but
not always on the caller's thread, and a new batch size takes effect one batch later.

Example::

    outputs = evaluate_perturbations(
        model.module, lambda a, b: masked_copies(x, masks[a:b]), len(masks),
        token=token, progress=progress)
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..core import Cancelled, CancelToken, InputError, MethodError, ModelError, Step, XaideskError, no_progress


# --- one forward pass ----------------------------------------------------------------------------


def as_logits(output: object, model_name: str = "the model") -> torch.Tensor:
    """Check that a forward pass returned one (B, K) tensor and return it."""
    if isinstance(output, (tuple, list)):
        raise MethodError(
            f"{model_name} returns {len(output)} outputs (a tuple); xaidesk explains models that "
            "return one tensor of class scores. Wrap the model so it returns only the scores."
        )
    if isinstance(output, dict):
        raise MethodError(
            f"{model_name} returns a dictionary; xaidesk explains models that return one tensor "
            "of class scores. Wrap the model so it returns only the scores."
        )
    if not isinstance(output, torch.Tensor):
        raise MethodError(f"{model_name} returned {type(output).__name__}, not a tensor of class scores.")
    if output.ndim == 1:
        output = output.unsqueeze(0)
    if output.ndim != 2:
        raise MethodError(
            f"{model_name} returns scores of shape {tuple(output.shape)}; expected (batch, classes)."
        )
    check_finite_scores(output, model_name)
    return output


def check_finite_scores(scores: torch.Tensor, model_name: str = "the model") -> None:
    """Refuse class scores that hold NaN or infinity (damaged weights or an overflowing model)."""
    if scores.is_floating_point() and not bool(torch.isfinite(scores.detach()).all()):
        raise ModelError(
            f"{model_name} gave invalid scores (NaN or infinity) for this input, so nothing it says can be "
            "explained. Its weights may be damaged; check the model file."
        )


#: Words in PyTorch's messages that mean the input's shape does not fit the network.
_SHAPE_WORDS = ("shape", "size", "channels", "dimension", "mat1", "expected input")


def call_model(module, x: torch.Tensor, model_name: str = "the model"):
    """``module(x)``, with a plain error when the input does not fit the model or the model fails."""
    try:
        return module(x)
    except (Cancelled, XaideskError, KeyboardInterrupt, MemoryError):
        raise
    except torch.cuda.OutOfMemoryError as error:
        raise InputError(f"The GPU ran out of memory running {model_name} on {len(x)} inputs at once. Lower the "
                         "batch size, or run on the CPU.", details=str(error)) from error
    except Exception as error:  # noqa: BLE001 - the model's own code may raise anything
        kind, reason = model_failure(error)
        if kind == "RuntimeError" and any(word in reason.lower() for word in _SHAPE_WORDS):
            raise MethodError(
                f"{model_name} could not process an input of shape {tuple(x.shape)}. "
                "The model probably expects a different input size or number of channels.",
                details=str(error),
            ) from error
        raise ModelError(f"The model failed on this input: {reason.rstrip('.')} ({model_name} raised {kind} "
                         "in its forward pass).", details=f"{type(error).__name__}: {error}") from error


def model_failure(error: BaseException) -> tuple[str, str]:
    """The kind of error a model's forward pass raised and its first plain line.

    A TorchScript model's error is unwrapped: its last line names the original exception.
    """
    kind, text = type(error).__name__, str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("The following operation failed in the TorchScript interpreter"):
        head, colon, tail = lines[-1].partition(": ")
        if colon and " " not in head:
            return head.rsplit(".", 1)[-1], tail[:200]
        return kind, lines[-1][:200]
    return kind, (lines[0][:200] if lines else "no reason given")


def forward_logits(module: torch.nn.Module, x: torch.Tensor, model_name: str = "the model") -> torch.Tensor:
    """Forward ``x`` and return finite (B, K) scores, with a plain error if shapes do not fit or the model fails."""
    return as_logits(call_model(module, x, model_name), model_name)


# --- many perturbed copies, batch by batch ----------------------------------------------------------

OUTPUT_KINDS = ("logits", "features")
MEMORY_FORMATS = ("contiguous", "channels_last", "auto")

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
    #: Samples evaluated (less than ``total`` after an early stop).
    samples: int = 0
    #: True when ``should_stop`` ended the run before ``total``.
    stopped_early: bool = False
    #: The memory format the batches were given in.
    memory_format: str = "contiguous"


def has_conv2d(module: Any) -> bool:
    """Whether ``module`` (an ``nn.Module`` or TorchScript module) contains a 2-D convolution."""
    modules = getattr(module, "modules", None)
    if modules is None:
        return False
    try:
        for sub in modules():
            if isinstance(sub, torch.nn.Conv2d) or getattr(sub, "original_name", "") == "Conv2d":
                return True
    except Exception:  # exotic scripted containers: be conservative
        return False
    return False


def preferred_memory_format(module: Any, sample: torch.Tensor | None = None) -> str:
    """``"channels_last"`` for 4-D inputs of convolutional models, else ``"contiguous"``.

    Measured with ``bench/bench_relax.py``: ResNet-18 at 224 px on 2 CPU threads ran about
    25 % faster with channels-last inputs (the model's own weights left as they are).
    """
    if sample is not None and sample.ndim not in (3, 4):
        return "contiguous"
    return "channels_last" if has_conv2d(module) else "contiguous"


def forward_features(module: Callable[[torch.Tensor], Any], x: torch.Tensor,
                     model_name: str = "the model") -> torch.Tensor:
    """Forward ``x`` through an encoder and return its output flattened to (B, D)."""
    output = call_model(module, x, model_name)
    if not isinstance(output, torch.Tensor):
        raise MethodError(
            f"{model_name} returned {type(output).__name__}, not one tensor; RELAX needs a single "
            "representation tensor. Choose another layer or wrap the model."
        )
    if output.ndim == 0 or output.shape[0] != x.shape[0]:
        raise MethodError(
            f"{model_name} returned a tensor of shape {tuple(output.shape)} for a batch of "
            f"{x.shape[0]}; expected one representation per input."
        )
    return output.reshape(output.shape[0], -1)


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
    unit: str = "",
    model_name: str = "the model",
    target_seconds: float = 0.4,
    partial_interval: float = 0.5,
    partial_every: int = 4,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    stats: BatchStats | None = None,
    outputs: str = "logits",
    keep_outputs: bool = True,
    memory_format: str = "contiguous",
    should_stop: Callable[[int], bool] | None = None,
    min_batch: int = 1,
) -> torch.Tensor | None:
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
    message, unit
        Progress is reported as a :class:`~xaidesk.core.Step` ``"message: done of total"`` counting
        ``unit`` (``"masks"``, ``"samples"`` ...).
    outputs
        ``"logits"``: the module returns (B, K) class scores (checked). ``"features"``: the module
        is an encoder returning (B, D) or (B, C, h, w); outputs are flattened to (B, D).
    keep_outputs
        If False nothing is stored and the function returns ``None`` (use ``on_batch``); memory
        then stays proportional to one batch.
    memory_format
        ``"contiguous"`` (default), ``"channels_last"`` (4-D batches are converted before the
        forward pass) or ``"auto"`` (:func:`preferred_memory_format` of ``module``).
    should_stop
        ``should_stop(done)`` is called after every batch; returning True ends the run early
        (``stats.stopped_early``) and the outputs of the samples done so far are returned.
    min_batch
        With automatic sizing, never use batches smaller than this (memory permitting). Small
        batches cost throughput, much more so when the CPU is shared (every parallel operation
        then waits for a time slice); throughput-bound callers (RELAX) pass 8.

    Returns
    -------
    torch.Tensor or None
        (done, K) float32 outputs on the CPU, in sample order (``done == total`` unless stopped
        early), or ``None`` with ``keep_outputs=False``.
    """
    if total <= 0:
        raise ValueError("nothing to evaluate")
    if outputs not in OUTPUT_KINDS:
        raise ValueError(f"outputs must be one of {OUTPUT_KINDS}")
    if memory_format not in MEMORY_FORMATS:
        raise ValueError(f"memory_format must be one of {MEMORY_FORMATS}")
    stats = stats if stats is not None else BatchStats()
    min_batch = max(int(min_batch), int(getattr(module, "preferred_min_batch", 0) or 0))
    channels_last: bool | None = None if memory_format == "auto" else memory_format == "channels_last"
    forward = forward_logits if outputs == "logits" else forward_features
    fixed = int(batch_size) > 0
    size = int(batch_size) if fixed else 0
    limit = MAX_BATCH
    stored: torch.Tensor | None = None
    start_time = last_partial = time.monotonic()
    done = 0
    since_partial = 0
    helper = (concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="xaidesk-batch")
              if getattr(module, "prefetch_batches", False) else None)
    ahead: tuple[int, concurrent.futures.Future] | None = None  # (stop, batch being built)
    try:
        while done < total:
            if token is not None:
                token.check()
            if not fixed and size == 0:
                # First batch: a small probe, limited by memory; later batches adapt to its timing.
                first = make_batch(done, done + 1)
                limit = memory_batch_limit(first[0], memory_budget)
                size = min(limit, max(4, int(min_batch)))
            if ahead is not None:
                stop, batch = ahead[0], ahead[1].result()
                ahead = None
            else:
                stop = min(total, done + size)
                batch = make_batch(done, stop)
            if helper is not None and stop < total:
                following = min(total, stop + size)
                ahead = (following, helper.submit(make_batch, stop, following))
            if channels_last is None:
                channels_last = preferred_memory_format(module, batch) == "channels_last"
                stats.memory_format = "channels_last" if channels_last else "contiguous"
            elif channels_last:
                stats.memory_format = "channels_last"
            if channels_last and batch.ndim == 4:
                batch = batch.contiguous(memory_format=torch.channels_last)
            tick = time.monotonic()
            with torch.inference_mode():
                scores = forward(module, batch, model_name).float().cpu()
            elapsed = time.monotonic() - tick
            if keep_outputs:
                if stored is None:
                    stored = torch.empty((total, scores.shape[1]), dtype=torch.float32)
                stored[done:stop] = scores
            stats.batches += 1
            stats.sizes.append(stop - done)
            if on_batch is not None:
                on_batch(done, stop, scores)
            if not fixed:
                per_sample = elapsed / max(1, stop - done)
                wanted = int(target_seconds / per_sample) if per_sample > 0 else limit
                size = max(1, min(limit, max(wanted, int(min_batch)), 2 * size))
            done = stop
            stats.samples = done
            if should_stop is not None and done < total and should_stop(done):
                stats.stopped_early = True
                progress(1.0, Step(f"{message}: stopped after {done} of {total}", done, total, unit), None)
                break
            now = time.monotonic()
            since_partial += 1
            result = None
            due = since_partial >= partial_every or now - last_partial >= partial_interval
            if partial is not None and done < total and due:
                result = partial()
                last_partial, since_partial = now, 0
            progress(done / total, Step.count(message, done, total, unit), result)
    finally:
        if helper is not None:
            if ahead is not None:
                ahead[1].cancel()
            helper.shutdown(wait=True)
    stats.seconds += time.monotonic() - start_time
    if not keep_outputs:
        return None
    assert stored is not None
    return stored[:done] if done < total else stored

