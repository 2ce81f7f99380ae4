"""RELAX: representation-learning explainability (Wickström et al., IJCV 2023).

RELAX explains a *representation* h = f(x), not a class score. It draws N random masks M(n),
encodes each masked input, h̄_n = f(x ⊙ M(n)), and measures the cosine similarity
s_n = <h, h̄_n> / (||h|| ||h̄_n||). Pixels whose presence keeps the representation close to the
unmasked one are important:

- importance  R_ij = Σ_n s_n M_ij(n) / Σ_n M_ij(n)
- uncertainty U_ij = Σ_n M_ij(n) (s_n − R_ij)² / Σ_n M_ij(n)

Both are normalised by the accumulated mask weight W_ij = Σ_n M_ij(n), as in the reference code
(the paper writes 1/N; with keep probability p the two differ by the factor W_ij / N → p).

**Normalisation of U.** xaidesk divides U by the weight sum W_ij, so U is the mask-weighted
*variance* of the similarity among the masks that keep the pixel. The raw accumulator
Σ M (s − R)² grows linearly with the number of masks, so its size would depend on N: partial
results, a run stopped early (cancel or adaptive stop) and runs with different N would not be
comparable, and the colour scale would drift while the picture refines. Divided by W it
converges to a fixed value, has the units of a squared similarity, and is comparable across
runs. (The reference code divides by W − 1, an unbiased-variance correction that is not
defined for fractional weights: it is negative where W < 1, i.e. early in a run.)

**Streaming.** R and U are updated batch by batch with the weighted parallel (Chan/Welford)
update: a batch's weighted mean and centred sum of squares are merged into the running ones
with the correction term δ² W_a W_b / (W_a + W_b). Every term is non-negative, so U never is,
and memory is O(H·W) whatever N is (masks exist one batch at a time, outputs are not kept).

**Area control variate** (default on). For a random, untrained or texture-driven network the
similarity depends strongly on how much of the input a mask happens to show (its mean a);
that variation says little about any particular pixel but adds noise to every pixel's average
(on ResNet-18 with random weights it explained about half of the variance of s). With A = Σ M a / Σ M (streamed like R) and its exact
expectation A* (:meth:`~xaidesk.explain.masks.GridMaskSampler.area_expectation`),
R_cv = R − β (A − A*), β the least-squares slope of s on a. Because A − A* → 0 the limit is
unchanged (β is estimated from the same samples, a bias of order 1/N). U is left as defined
above; the standard error reported (and used by the adaptive stop) is that of the plain R,
which is conservative when the control helps.

**Monte-Carlo standard error.** The standard error of R_ij is that of a ratio estimator over
independent units (single masks, or antithetic pairs, see :mod:`xaidesk.explain.masks`):
SE² = Σ_u (a_u − R b_u)² / (Σ_u b_u)², with a_u = Σ_{n∈u} s_n M(n) and b_u = Σ_{n∈u} M(n).
``extras["standard_error"]`` is its mean over pixels; ``adaptive_stop`` ends the run once it
falls below ``tolerance`` (after at least :data:`MIN_MASKS_BEFORE_STOP` masks).

**Cancel keeps the partial result.** On cancel, :class:`~xaidesk.core.Cancelled` is raised with
the result so far attached as ``error.partial`` (an :class:`~xaidesk.core.Explanation` with
``complete=False`` and ``extras["n_done"]``, in model-input coordinates), or ``None`` when no
batch had finished: ``getattr(error, "partial", None)``.

**Layers.** The encoder is a named layer's output, read with a forward hook on
``dict(model.module.named_modules())[name]`` (the first call of that module in a forward pass;
the rest of the forward pass is skipped). The default ``layer=""`` reads the input of the last
``nn.Linear`` -- the representation right before the classifier head. :func:`list_layers` lists
the choices. TorchScript models cannot be hooked: their final output is used. Models that run in
onnxruntime (ONNX files) are not hooked either: the default is the model output, and the layers are
the graph's further outputs (intermediate tensors the export made outputs), read from the same
session run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from ..core import Cancelled, Explanation, MethodError, Param, Target, register_method
from ..core import no_progress
from ..models.inference import BatchStats, evaluate_perturbations, forward_features, preferred_memory_format
from .common import detached_copy, scoring_module
from .masks import STRATEGIES, GridMaskSampler, MaskSampler, make_sampler

MODALITY = ("image", "audio")
OUTPUTS = ("importance", "u_relax")
#: Adaptive stopping never happens before this many masks.
MIN_MASKS_BEFORE_STOP = 100
DEFAULT_TOLERANCE = 0.002


# --- streaming accumulation ------------------------------------------------------------------------


class RelaxAccumulator:
    """Streaming weighted importance, uncertainty and standard error, memory O(H·W).

    Parameters
    ----------
    shape
        (H, W) of the masks.
    group
        Masks per independent unit for the standard error: 2 for antithetic pairs (mask ``2k``
        and ``2k+1``), 1 for i.i.d. masks.

    Each batch costs one matrix product (its weighted moments and unit sums, against the masks)
    and a few O(H·W) numpy operations: few operations matter more than their size when the CPU
    is shared. Similarities are centred on the first one (R and U do not change under a shift),
    which keeps the moment formulas well conditioned.
    """

    def __init__(self, shape: tuple[int, int], group: int = 1,
                 area_expectation: np.ndarray | None = None) -> None:
        self.shape = tuple(int(v) for v in shape)
        self.group = int(group)
        size = self.shape[0] * self.shape[1]
        zeros = lambda: np.zeros(size, dtype=np.float64)  # noqa: E731
        self.weight = zeros()      # W  = Σ M
        self.mean = zeros()        # R − shift = Σ M (s − shift) / W
        self.m2 = zeros()          # Σ M (s − R)²
        self.s_aa = zeros()        # Σ_u a_u²   over complete units (a, b: see module docstring)
        self.s_ab = zeros()        # Σ_u a_u b_u
        self.s_bb = zeros()        # Σ_u b_u²
        self.s_b = zeros()         # Σ_u b_u
        self.area_mean = zeros()   # A = Σ M a / W, a = the mask's mean (visible area)
        self.area_target = (None if area_expectation is None
                            else np.asarray(area_expectation, dtype=np.float64).reshape(-1))
        self._scalars = np.zeros(4)  # Σ a, Σ a², Σ s, Σ s a  (s centred on ``shift``)
        self.units = 0
        self.count = 0
        self.shift: float | None = None
        self.similarity_sum = 0.0
        self._pending: tuple[int, np.ndarray, np.ndarray] | None = None

    def update(self, masks: torch.Tensor, sims: torch.Tensor, start: int) -> None:
        """Add masks ``start .. start+B-1``: ``masks`` (B, H, W) or (B, 1, H, W), ``sims`` (B,)."""
        b = masks.shape[0]
        s = np.asarray(sims.detach().double().cpu().numpy(), dtype=np.float64).reshape(-1)
        if self.shift is None:
            self.shift = float(s[0])
        s = s - self.shift
        g = self.group
        unit = np.arange(start, start + b) // g
        first = int(unit[0])
        n_units = int(unit[-1]) - first + 1
        onehot = np.zeros((n_units, b))
        onehot[unit - first, np.arange(b)] = 1.0
        m = masks.reshape(b, -1).to(torch.float64)
        area = m.mean(dim=1).numpy()
        self._scalars += (area.sum(), (area * area).sum(), s.sum(), (s * area).sum())
        coef = np.concatenate([np.ones((1, b)), s[None], (s * s)[None], area[None], onehot * s[None], onehot])
        moments = (torch.from_numpy(coef) @ m).numpy()       # one matrix product per batch
        w_b, sum_b, sq_b, area_b = moments[0], moments[1], moments[2], moments[3]
        a_u, b_u = moments[4 : 4 + n_units], moments[4 + n_units :]
        # Weighted mean and centred sum of squares of the batch, merged (Chan et al.) into the
        # running ones; every term is >= 0, so U never is negative.
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_b = np.where(w_b > 0, sum_b / w_b, 0.0)
            m2_b = np.maximum(sq_b - mean_b * sum_b, 0.0)
            total = self.weight + w_b
            delta = mean_b - self.mean
            ratio = np.where(total > 0, w_b / total, 0.0)
            self.mean += delta * ratio
            self.area_mean += (np.where(w_b > 0, area_b / w_b, 0.0) - self.area_mean) * ratio
            self.m2 += m2_b + delta * delta * self.weight * ratio
        self.weight = total
        self.count += b
        self.similarity_sum += float(s.sum()) + b * self.shift
        self._update_units(a_u, b_u, first, (start + b) % g != 0)

    def _update_units(self, a_u: np.ndarray, b_u: np.ndarray, first: int, last_open: bool) -> None:
        a_u, b_u = a_u.copy(), b_u.copy()
        if self._pending is not None:
            unit, pa, pb = self._pending
            if unit == first:
                a_u[0] += pa
                b_u[0] += pb
            self._pending = None
        if last_open:  # the last unit is not complete yet: keep it for the next batch
            self._pending = (first + a_u.shape[0] - 1, a_u[-1].copy(), b_u[-1].copy())
            a_u, b_u = a_u[:-1], b_u[:-1]
        if a_u.shape[0]:
            self.s_aa += np.einsum("uk,uk->k", a_u, a_u)
            self.s_ab += np.einsum("uk,uk->k", a_u, b_u)
            self.s_bb += np.einsum("uk,uk->k", b_u, b_u)
            self.s_b += b_u.sum(0)
            self.units += a_u.shape[0]

    # -- results ---------------------------------------------------------------------------------
    @property
    def area_beta(self) -> float:
        """Least-squares slope of the similarity on the visible area (0 if undefined)."""
        n = self.count
        if n < 3:
            return 0.0
        sum_a, sum_aa, sum_s, sum_sa = self._scalars
        var = sum_aa - sum_a * sum_a / n
        if var <= 1e-12 * max(sum_aa, 1e-300):
            return 0.0
        return float((sum_sa - sum_s * sum_a / n) / var)

    @property
    def uses_control_variate(self) -> bool:
        return self.area_target is not None

    def importance(self, control_variate: bool = True) -> np.ndarray:
        """R = Σ M s / Σ M (the first similarity where no mask kept the pixel yet).

        With a known area expectation A* (and ``control_variate``), the area control variate is
        applied: R_cv = R − β (A − A*), A = Σ M a / Σ M, β the slope of s on a. A − A* → 0, so
        the limit is RELAX's; the part of the noise explained by how much of the input a mask
        happened to show is removed.
        """
        r = self.mean + (self.shift or 0.0)
        if control_variate and self.area_target is not None:
            r = r - self.area_beta * (self.area_mean - self.area_target)
        return r.reshape(self.shape).astype(np.float32)

    def uncertainty(self) -> np.ndarray:
        """U = Σ M (s − R)² / Σ M (0 where no mask kept the pixel); never negative."""
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(self.weight > 0, self.m2 / self.weight, 0.0)
        return np.maximum(u, 0.0).reshape(self.shape).astype(np.float32)

    def standard_error_map(self) -> np.ndarray:
        """Per-pixel Monte-Carlo standard error of R over complete units (``inf`` before two)."""
        if self.units < 2:
            return np.full(self.shape, np.inf, dtype=np.float32)
        r = self.mean  # a_u are centred on the same shift, so (a_u − R b_u) is shift-free
        var = np.maximum(self.s_aa - 2 * r * self.s_ab + r * r * self.s_bb, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            se = np.where(self.s_b > 0, np.sqrt(var) / self.s_b, np.inf)
        return se.reshape(self.shape).astype(np.float32)

    def standard_error(self) -> float:
        """Mean over pixels of :meth:`standard_error_map`."""
        return float(np.mean(self.standard_error_map()))

    @property
    def similarity_mean(self) -> float:
        return self.similarity_sum / self.count if self.count else float("nan")


def u_relax(importance: np.ndarray, uncertainty: np.ndarray) -> np.ndarray:
    """U-RELAX: importance where the uncertainty is at or below its median, else 0."""
    return np.where(uncertainty <= np.median(uncertainty), importance, 0.0).astype(np.float32)


def cosine_to(reference: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each row of ``features`` (B, D) with ``reference`` (D,)."""
    features = features.double()
    reference = reference.double().reshape(-1)
    norms = features.norm(dim=1).clamp_min(1e-12) * reference.norm().clamp_min(1e-12)
    return features @ reference / norms


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
    antithetic: bool = True,
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
        sampler = GridMaskSampler((height, width), seed=seed, antithetic=antithetic, cells=cells,
                                  keep_probability=keep_probability)
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


# --- layers and hooks ------------------------------------------------------------------------------


class _StopForward(Exception):
    """Raised by the capture hook to skip the rest of a forward pass."""


def _is_scripted(model) -> bool:
    return bool(getattr(model, "is_torchscript", False)) or isinstance(model.module, torch.jit.ScriptModule)


def _onnx_scorer(model):
    """The onnxruntime wrapper of a model that runs in onnxruntime, else ``None``."""
    if getattr(model, "runtime", "torch") != "onnxruntime":
        return None
    return scoring_module(model)


def last_linear(module: torch.nn.Module) -> str | None:
    """Name of the last ``nn.Linear`` in ``module`` (registration order), or ``None``."""
    name = None
    for sub_name, sub in module.named_modules():
        if isinstance(sub, torch.nn.Linear):
            name = sub_name
    return name


def classifier_input_description(module: torch.nn.Module, linear_name: str, example: torch.Tensor | None) -> str:
    """Name the representation fed to the classifier ``linear_name`` as the layer list names layers.

    One forward pass on ``example`` finds the submodule whose output *is* the classifier's input
    (e.g. ``"14 · ReLU (before the classifier)"``); without one (an input computed in ``forward``,
    or no example) it is ``"the input of <name> (before the classifier)"``.
    """
    fallback = f"the input of {linear_name} (before the classifier)"
    if example is None:
        return fallback
    modules = dict(module.named_modules())
    outputs: list[tuple[str, torch.Tensor]] = []
    fed: list[torch.Tensor] = []

    def record(name: str):
        return lambda mod, inputs, output: outputs.append((name, output))

    def stop(mod, inputs):
        fed.append(inputs[0] if isinstance(inputs, (tuple, list)) and inputs else inputs)
        raise _StopForward()

    handles = [sub.register_forward_hook(record(name)) for name, sub in modules.items()
               if name and sub is not modules[linear_name]]
    handles.append(modules[linear_name].register_forward_pre_hook(stop))
    try:
        with torch.inference_mode():
            module(example)
    except _StopForward:
        pass
    except Exception:  # noqa: BLE001 - only a name is at stake; the run itself reports the model's error
        return fallback
    finally:
        for handle in handles:
            handle.remove()
    # A container's output is its last child's: the first producer recorded is the innermost one.
    producer = next((name for name, value in outputs if fed and value is fed[0]), None)
    if producer is None:
        return fallback
    return f"{producer} · {type(modules[producer]).__name__} (before the classifier)"


@contextlib.contextmanager
def layer_encoder(model, layer: str = "", example: torch.Tensor | None = None
                  ) -> Iterator[tuple[Callable[[torch.Tensor], torch.Tensor], str, list[str]]]:
    """Yield ``(encode, layer_description, notes)``; hooks are removed on the way out.

    ``layer=""`` reads the input of the last ``nn.Linear`` (described with
    :func:`classifier_input_description`, which needs the ``example`` input); otherwise the output
    of the named submodule. For TorchScript models (no hooks) the model's own output is the
    representation.
    """
    module = model.module
    notes: list[str] = []
    scorer = _onnx_scorer(model)
    if scorer is not None:
        if not layer:
            extra = (f" Its graph also outputs {', '.join(scorer.output_names[1:])}: choose one as the layer to "
                     "compare an intermediate representation." if len(scorer.output_names) > 1 else "")
            notes.append("This model runs in onnxruntime: RELAX uses the model output as the representation." + extra)
            yield scorer, "model output", notes
            return
        if layer not in scorer.output_names[1:]:
            offered = ", ".join(scorer.output_names[1:]) or "none (the graph has one output)"
            raise MethodError(f"{model.name} has no output called '{layer}'. RELAX can compare the graph's further "
                              f"outputs: {offered}; leave the layer empty for the model output.")
        yield scorer.output_encoder(layer), layer, notes
        return
    if _is_scripted(model):
        notes.append("This is a TorchScript model: only its final output is available, so RELAX "
                     "uses the model output as the representation" + (f" (layer '{layer}' ignored)." if layer else "."))
        yield module, "model output", notes
        return
    modules = dict(module.named_modules())
    if layer:
        if layer not in modules:
            raise MethodError(f"{model.name} has no layer called '{layer}'. Choose one of the listed layers, "
                              "or leave the layer empty for the representation before the classifier.")
        target, use_input, description = modules[layer], False, layer
    else:
        name = last_linear(module)
        if name is None:
            notes.append(f"{model.name} has no linear classifier layer, so RELAX uses the model output "
                         "as the representation.")
            yield module, "model output", notes
            return
        target, use_input = modules[name], True
        description = classifier_input_description(module, name, example)
    captured: list[torch.Tensor] = []

    def capture(value) -> None:
        if isinstance(value, (tuple, list)) and len(value) == 1:
            value = value[0]
        if not isinstance(value, torch.Tensor):
            raise MethodError(f"The layer '{description}' does not produce one tensor; choose another layer.")
        captured.append(value)
        raise _StopForward()

    if use_input:
        handle = target.register_forward_pre_hook(lambda mod, inputs: capture(inputs))
    else:
        handle = target.register_forward_hook(lambda mod, inputs, output: capture(output))

    def encode(batch: torch.Tensor) -> torch.Tensor:
        captured.clear()
        try:
            module(batch)
        except _StopForward:
            pass
        if not captured:
            raise MethodError(f"The layer '{description}' was not used when {model.name} processed the input; "
                              "choose another layer.")
        value = captured[0]
        captured.clear()
        return value

    try:
        yield encode, description, notes
    finally:
        handle.remove()


def list_layers(model) -> list[tuple[str, str]]:
    """The model's layers as ``(name, "name · Type · C×h×w")``, in forward-registration order.

    Shapes come from one forward pass on a zero input of the model's input size. TorchScript
    models cannot be hooked and give an empty list (RELAX then uses the model output); models that
    run in onnxruntime list the graph's outputs after the first (see :meth:`OnnxRuntimeModule.layers`).
    """
    scorer = _onnx_scorer(model)
    if scorer is not None:
        return scorer.layers()
    if _is_scripted(model):
        return []
    module = model.module
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []

    def make_hook(name: str):
        def hook(mod, inputs, output):
            if name not in shapes and isinstance(output, torch.Tensor):
                shapes[name] = tuple(output.shape[1:])
        return hook

    try:
        for name, sub in module.named_modules():
            if name:
                handles.append(sub.register_forward_hook(make_hook(name)))
        pre = model.preprocessing
        x = torch.zeros((1, pre.num_channels, *pre.size))
        with torch.inference_mode():
            module(x)
    finally:
        for handle in handles:
            handle.remove()
    layers = []
    for name, sub in module.named_modules():
        if name in shapes:
            shape = "×".join(str(d) for d in shapes[name]) or "scalar"
            layers.append((name, f"{name} · {type(sub).__name__} · {shape}"))
    return layers


# --- the registered method -------------------------------------------------------------------------

U_HELP = ("Uncertainty is the mask-weighted variance of the similarity among the masks that keep a "
          "pixel (divided by the total mask weight, not left as a raw sum), so it does not grow with "
          "the number of masks and partial, stopped and finished runs are comparable.")


@register_method(
    "relax",
    unit="similarity", sample_unit="masks", default_for=("audio",),
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
              "strategies). Automatic: 7 for inputs up to 224 pixels, more for larger ones (8 bands for the band strategies).",
              minimum=0, maximum=1024, label="mask grid size", minimum_text="Automatic"),
        Param("keep_probability", "float", 0.5, "Chance that a grid cell stays visible in a mask.",
              minimum=0.01, maximum=0.99, label="share kept visible"),
        Param("antithetic", "bool", True,
              "Also show the model the opposite of each mask (what one hides, the other shows). Together with "
              "the next setting it reaches the same quality with fewer masks. Only used when half is kept visible (0.5).",
              label="opposite pairs"),
        Param("control_variate", "bool", True,
              "Take into account how much of the input each random mask happened to show: less noise for the "
              "same number of masks, the same final result.",
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

    U is divided by the accumulated mask weight (see the module docstring for why). On cancel,
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
        sampler = make_sampler(STRATEGIES[strategy], tuple(x.shape[-2:]), seed=int(params["seed"]),
                               antithetic=bool(params["antithetic"]), cells=int(params["cells"]),
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
