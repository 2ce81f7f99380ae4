"""RELAX: representation-learning explainability (Wickström et al., IJCV 2023).

RELAX explains a *representation* h = f(x), not a class score. It draws N random masks M(n),
encodes each masked input, h̄_n = f(x ⊙ M(n)), and measures the cosine similarity
s_n = <h, h̄_n> / (||h|| ||h̄_n||). Pixels whose presence keeps the representation close to the
unmasked one are important:

- importance  R_ij = Σ_n s_n M_ij(n) / Σ_n M_ij(n)
- uncertainty U_ij = Σ_n M_ij(n) (s_n − R_ij)² / Σ_n M_ij(n)

Both are normalised by the accumulated mask weight W_ij = Σ_n M_ij(n), as in the reference code
(the paper writes 1/N; with keep probability p the two differ by the factor W_ij / N → p).

How R, U and their standard error are streamed (the normalisation of U, the weighted parallel
update, the area control variate, the Monte-Carlo standard error) is described in
:mod:`xaidesk.explain.relax_estimators`; which layer is read, in :mod:`xaidesk.explain.relax_layers`.
``extras["standard_error"]`` is the mean over pixels of the standard error of R; ``adaptive_stop`` ends the
run once it falls below ``tolerance`` (after at least :data:`MIN_MASKS_BEFORE_STOP` masks).

**Cancel keeps the partial result.** On cancel, :class:`~xaidesk.core.Cancelled` is raised with
the result so far attached as ``error.partial`` (an :class:`~xaidesk.core.Explanation` with
``complete=False`` and ``extras["n_done"]``, in model-input coordinates), or ``None`` when no
batch had finished: ``getattr(error, "partial", None)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from ..core import Cancelled, Explanation, MethodError, Param, Target, register_method
from ..core import no_progress
from ..models.inference import BatchStats, evaluate_perturbations, forward_features, preferred_memory_format
from .common import detached_copy, scoring_module
from .masks import STRATEGIES, GridMaskSampler, MaskSampler, automatic_cells, make_sampler
from .relax_estimators import RelaxAccumulator, cosine_to, u_relax
from .relax_layers import layer_encoder

MODALITY = ("image", "audio")
OUTPUTS = ("importance", "u_relax")
#: Adaptive stopping never happens before this many masks.
MIN_MASKS_BEFORE_STOP = 100
DEFAULT_TOLERANCE = 0.002
# --- the streaming run (encoder-agnostic) ------------------------------------------------------------


@dataclass
class RelaxRun:
    """What :func:`run_relax` computed."""

    accumulator: RelaxAccumulator
    stats: BatchStats
    sampler: MaskSampler
    notes: list[str] = field(default_factory=list)

    @property
    def n_used(self) -> int:
        return self.accumulator.count


def run_relax(
    encode: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    num_masks: int = 3000,
    sampler: MaskSampler | None = None,
    cells: int = 0,
    keep_probability: float = 0.5,
    antithetic: bool = False,
    control_variate: bool = True,
    seed: int = 0,
    batch_size: int = 0,
    adaptive_stop: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    token=None,
    progress=no_progress,
    make_partial: Callable[[RelaxAccumulator], object] | None = None,
    memory_format: str = "contiguous",
    model_name: str = "the model",
    partial_every: int = 4,
    partial_interval: float = 0.5,
    target_seconds: float = 3.0,
    min_batch: int = 8,
) -> RelaxRun:
    """Run RELAX with the encoder ``encode`` ((B, C, H, W) -> (B, D) or (B, C', h, w)) on ``x``.

    Batches are sized for throughput: at least ``min_batch`` and as large as the engine's memory
    budget allows, as long as one batch takes at most ``target_seconds`` (the cancel latency).
    Larger batches matter most when the CPU is shared.

    On cancel, :class:`Cancelled` is raised with ``error.partial = make_partial(accumulator)``
    (or ``None`` when no batch had finished or ``make_partial`` is not given).
    """
    x = detached_copy(x)
    if x.ndim != 4 or x.shape[0] != 1:
        raise MethodError(f"RELAX explains one input shaped (1, C, H, W); got {tuple(x.shape)}.")
    height, width = x.shape[-2:]
    if sampler is None:
        sampler = GridMaskSampler((height, width), seed=seed, antithetic=antithetic,
                                  cells=cells or automatic_cells(height, width), keep_probability=keep_probability)
    with torch.inference_mode():
        reference = forward_features(encode, x, model_name)[0].double()
    if not torch.isfinite(reference).all() or float(reference.norm()) == 0.0:
        raise MethodError(
            f"The representation of this input at the chosen layer of {model_name} is all zeros "
            "(or not finite), so similarities to it are undefined. Choose another layer."
        )
    accumulator = RelaxAccumulator((height, width), group=2 if sampler.antithetic else 1,
                                   area_expectation=sampler.area_expectation() if control_variate else None)
    last: dict[tuple[int, int], torch.Tensor] = {}

    if memory_format == "auto":
        memory_format = preferred_memory_format(encode, x)
    channels_last = memory_format == "channels_last"

    def make_batch(start: int, stop: int) -> torch.Tensor:
        # The engine may build the next batch (on a helper thread) before this one's outputs arrive,
        # so masks are kept per batch until on_batch has used them.
        masks = sampler.sample(start, stop)
        last[(start, stop)] = masks
        if channels_last:  # write the product straight into the layout the model runs fastest in
            out = torch.empty((stop - start, *x.shape[1:]), dtype=x.dtype, memory_format=torch.channels_last)
            return torch.mul(x, masks, out=out)
        return x * masks

    def on_batch(start: int, stop: int, features: torch.Tensor) -> None:
        masks = last.pop((start, stop), None)
        if masks is None:
            masks = sampler.sample(start, stop)
        accumulator.update(masks[:, 0], cosine_to(reference, features), start)

    def should_stop(done: int) -> bool:
        return done >= MIN_MASKS_BEFORE_STOP and accumulator.standard_error() < tolerance

    def partial():
        return make_partial(accumulator) if make_partial is not None else None

    stats = BatchStats()
    try:
        evaluate_perturbations(
            encode, make_batch, int(num_masks), token=token, progress=progress,
            batch_size=int(batch_size), on_batch=on_batch, partial=partial,
            message="RELAX: masks", unit="masks", model_name=model_name, stats=stats, outputs="features",
            keep_outputs=False, memory_format=memory_format,
            should_stop=should_stop if adaptive_stop else None,
            partial_every=partial_every, partial_interval=partial_interval,
            target_seconds=target_seconds, min_batch=min_batch,
        )
    except Cancelled as error:
        error.partial = make_partial(accumulator) if (make_partial and accumulator.count) else None
        raise error
    return RelaxRun(accumulator, stats, sampler, list(sampler.notes))

# --- the registered method -------------------------------------------------------------------------

U_HELP = ("Uncertainty is the mask-weighted variance of the similarity among the masks that keep a "
          "pixel (divided by the total mask weight, not left as a raw sum), so it does not grow with "
          "the number of masks and partial, stopped and finished runs are comparable.")


@register_method(
    "relax",
    unit="similarity", sample_unit="masks", default_for=("audio",),
    modality_defaults={"audio": {"cells": 8}},
    modality=MODALITY,
    params=[
        Param("layer", "str", "",
              "Layer whose output is the representation to explain; empty means the representation "
              "right before the classifier (the input of the last linear layer).",
              choices_from="model_layers", label="layer compared"),
        Param("strategy", "choice", "random",
              "How parts of the input are hidden: random grid cells (RELAX's masks), whole time bands "
              "(columns), whole frequency bands (rows), or both (a time-band mask times a frequency-band "
              "mask). On spectrograms there is no single right way to hide sound, so compare them.",
              choices=tuple(STRATEGIES), label="how parts are hidden",
              choice_titles={"random": "Random grid cells", "time": "Whole time bands",
                             "frequency": "Whole frequency bands", "time_frequency": "Time and frequency bands"}),
        Param("num_masks", "int", 3000, "How many random masks hide parts of the input; more gives a smoother, "
              "more reliable map but takes longer.",
              minimum=2, maximum=1_000_000, label="random masks"),
        Param("cells", "int", 0,
              "How coarse the random masks are: cells per side of the mask grid (or bands per axis for the band "
              "strategies). Automatic: 8 for inputs up to 224 pixels, more for larger ones (8 bands for the band strategies).",
              minimum=0, maximum=1024, label="mask grid size", minimum_text="Automatic"),
        Param("keep_probability", "float", 0.5, "Chance that a grid cell stays visible in a mask.",
              minimum=0.01, maximum=0.99, label="share kept visible", percent=True),
        Param("antithetic", "bool", False,
              "Also show the model the opposite of each mask (what one hides, the other shows). Off by default: on "
              "a trained network that looks at a small part of the picture the pairs made the map noisier, not "
              "steadier. Only used when half is kept visible (0.5).",
              label="opposite pairs"),
        Param("control_variate", "bool", True,
              "Take into account how much of the input each random mask happened to show: a little less noise for "
              "the same number of masks, the same final result.",
              label="coverage correction"),
        Param("batch_size", "int", 0, "How many masked copies the model looks at in one go; Automatic picks "
              "what fits in memory.",
              minimum=0, maximum=1024, label="copies at once", minimum_text="Automatic"),
        Param("seed", "int", 0, "Start value of the random masks; the same seed gives the same masks and the same result.",
              minimum=0, maximum=2**31 - 1, label="random seed (same seed, same result)"),
        Param("adaptive_stop", "bool", False,
              "Stop early once the importance map is precise enough (see the next setting).",
              label="stop when precise enough"),
        Param("tolerance", "float", DEFAULT_TOLERANCE,
              "With early stop: stop when the typical error of the importance (in units of "
              "cosine similarity) falls below this.",
              minimum=1e-6, maximum=1.0, label="precision to stop at", shown_when={"adaptive_stop": (True,)}),
        Param("output", "choice", "importance",
              "What the map shows: importance, or U-RELAX (importance only where the uncertainty is at "
              "or below its median). " + U_HELP,
              choices=OUTPUTS, label="map shows",
              choice_titles={"importance": "Importance", "u_relax": "Importance where certain (U-RELAX)"}),
    ],
    title="RELAX",
    help="Hides random parts of the input and measures how similar the model's internal "
    "representation stays; shows what matters to the model and how certain that is, without needing a class.",
    iterative=True,
    resample="value",
    signed=False,
    explains_class=False,
)
def relax(model, x, target, *, params, token, progress) -> Explanation:
    """RELAX importance and uncertainty of the chosen layer's representation (label-free).

    U is divided by the accumulated mask weight (:mod:`xaidesk.explain.relax_estimators` says why). On cancel,
    ``Cancelled`` carries the partial result as ``error.partial``.
    """
    token.check()
    target_info = Target(int(target), model.label(int(target)))
    output = params["output"]
    label_note = ("RELAX explains the representation and does not use a class; the target is "
                  "recorded but has no effect.")

    with layer_encoder(model, params["layer"], example=x) as (encode, layer_name, layer_notes):
        memory_format = preferred_memory_format(scoring_module(model), x)
        strategy = params.get("strategy", "random")
        cells = int(params["cells"]) or (automatic_cells(*x.shape[-2:]) if strategy == "random" else 0)
        sampler = make_sampler(STRATEGIES[strategy], tuple(x.shape[-2:]), seed=int(params["seed"]),
                               antithetic=bool(params["antithetic"]), cells=cells,
                               keep_probability=float(params["keep_probability"]))
        notes = [label_note, *layer_notes, *sampler.notes]

        def build(acc: RelaxAccumulator, complete: bool, extra: dict | None = None) -> Explanation:
            importance, uncertainty = acc.importance(), acc.uncertainty()
            relevance = u_relax(importance, uncertainty) if output == "u_relax" else importance
            extras = {
                "n_done": acc.count,
                "n_used": acc.count,
                "layer": layer_name,
                "cells": sampler.cells,
                "strategy": strategy,
                "antithetic": sampler.antithetic,
                "keep_probability": sampler.keep_probability,
                "standard_error": acc.standard_error(),
                "similarity_mean": acc.similarity_mean,
                "control_variate": acc.uses_control_variate,
                "area_beta": acc.area_beta,
                "output": output,
                "notes": list(notes),
            }
            extras.update(extra or {})
            return Explanation(relevance, "relax", target_info, params=dict(params),
                               uncertainty=uncertainty, extras=extras, complete=complete)

        run = run_relax(
            encode, x, num_masks=int(params["num_masks"]), sampler=sampler,
            control_variate=bool(params["control_variate"]),
            batch_size=int(params["batch_size"]), adaptive_stop=bool(params["adaptive_stop"]),
            tolerance=float(params["tolerance"]), token=token, progress=progress,
            make_partial=lambda acc: build(acc, complete=False), memory_format=memory_format,
            model_name=model.name,
        )
    return build(run.accumulator, complete=True, extra={
        "stopped_early": run.stats.stopped_early,
        "batch_sizes": sorted(set(run.stats.sizes)),
        "memory_format": run.stats.memory_format,
        "num_masks": int(params["num_masks"]),
    })
