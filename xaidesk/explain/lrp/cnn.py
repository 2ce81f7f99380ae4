"""Layer-wise relevance propagation (LRP) through zennit.

Every LRP method here works the same way:

1. choose canonizers from the block types in the model (batch norms merged into
   the preceding layer; residual sums, squeeze-and-excitation gates, layer scale and
   global pooling made explicit -- see :mod:`xaidesk.explain.lrp.canonizers` and
   docs/lrp-cnn-rules.md);
2. build a zennit composite that assigns one rule to every layer (plus the rules of
   :func:`~xaidesk.explain.lrp.composites.extra_layer_map` for layers zennit has none for;
   :mod:`xaidesk.explain.lrp.composites`);
3. refuse models with layers no rule covers (a plain :class:`MethodError`
   naming the layer), before anything is attached to the model
   (:mod:`xaidesk.explain.lrp.coverage`);
4. attach the composite (canonizers + hooks), run one forward and one
   modified backward pass, and detach everything again in ``finally`` -- the
   model is left exactly as it was, also when the run fails or is cancelled.

Initial relevance
-----------------
The backward pass starts from ``one_hot(target) * f_target(x)``: the output
relevance is the explained logit itself. With conservative rules (and no
biases / epsilon absorbing relevance) the input relevance therefore sums to
the logit, and ``extras["conservation"] = sum(R) / f_target(x)`` is 1. The
relevance map is the input relevance summed over channels.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import replace

import torch
from zennit.attribution import Gradient
from zennit.core import Composite

from ...core import Explanation, MethodError, Param, Target, register_method
from ...core.registry import TAG_CUSTOM_RULES
from ...models.base import LoadedModel
from ...models.inference import forward_logits
from ..common import channel_sum, check_target, detached_copy, gradients_enabled, one_hot_like
from .composites import FIRST_RULES, TOP_RULES, canonizer_names, choose_canonizers, composite_for
from .fast_rules import _Bridge, _SkipZeroTerms, accelerate, register_lean, skip_replaced_backward
from .coverage import GRADIENT_METHODS, check_coverage, guard_module, model_refusal, unmerged_batch_norms

MODALITY = ("image", "audio")

_EPSILON = Param(
    "epsilon", "float", 1e-6,
    "A small number that keeps the rule for the dense layers stable; larger values keep only the strongest evidence.",
    minimum=0.0, maximum=100.0, label="stabiliser (ε)",
)
_GAMMA = Param(
    "gamma", "float", 0.25,
    "How much the convolution layers favour supporting evidence; larger values give smoother maps.",
    minimum=0.0, maximum=100.0, label="favour positive evidence (γ)",
)


# --- composites -------------------------------------------------------------------------------


def build_composite(
    name: str,
    params: dict,
    model: LoadedModel,
    canonizers: list | None = None,
    input_shape: tuple | None = None,
    fast: bool = True,
) -> Composite:
    """The zennit composite of one registered LRP method (a fresh, unregistered instance).

    ``input_shape`` (default: from the preprocessing) sizes the box bounds of the custom z^B rule.
    ``fast`` switches to the faster rules of :mod:`xaidesk.explain.lrp.fast_rules` (see
    :func:`accelerate`); the result is the same.
    """
    composite = composite_for(name, params, model, canonizers, input_shape)
    return accelerate(composite) if fast else composite


# --- faster rules (xaidesk/explain/lrp/fast_rules.py) -------------------------------------------

#: zennit releases whose ``BasicHook`` internals the fast path was checked against; the
#: ``zennit`` line of pyproject.toml pins the same range. tests/test_zennit_fork.py fails loudly
#: when they change; docs/lrp-cnn-rules.md ("zennit coupling and porting to zennit 1.x") says how
#: to port the fast path.
ZENNIT_FORK_VERSIONS = ">=0.5.1,<1.0"


# --- the attribution itself ---------------------------------------------------------------------


def lrp_attribution(
    model: LoadedModel,
    x: torch.Tensor,
    target: int,
    composite: Composite,
    *,
    token=None,
    progress=None,
    fast: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Run LRP with ``composite`` and return ``(logits, input relevance (1, C, H, W), info)``.

    ``fast`` skips the backward pass of layers whose input gradient the rules replace anyway
    (see :class:`_Bridge`); the relevance is the same.

    ``info`` holds ``rules`` (layer -> rule) and ``unmerged_batch_norms``. The composite is
    registered only for the duration of the call.
    """

    def initial_relevance(output: torch.Tensor) -> torch.Tensor:
        check_target(target, output.shape[1])
        return one_hot_like(output, target) * output.detach()

    logits, relevance, info = _propagate(model, x, initial_relevance, composite, token, progress, fast)
    info["relevance_notes"] = check_relevance(relevance, logits, [target])
    return logits, relevance, info


def lrp_attribution_batch(
    model: LoadedModel,
    x: torch.Tensor,
    targets,
    composite: Composite,
    *,
    token=None,
    fast: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, list[int], dict]:
    """LRP for a batch of independent inputs in one forward and one backward pass.

    Each sample starts from its own target logit (``targets[i]``; ``None`` explains each
    sample's top class, chosen from the same forward pass). Every rule acts per sample, so
    the result equals :func:`lrp_attribution` on each input alone, up to float rounding.

    Returns ``(logits (B, K), relevance (B, C, H, W), targets, info)``.
    """
    chosen: list[int] = []

    def initial_relevance(output: torch.Tensor) -> torch.Tensor:
        picked = output.detach().argmax(1).tolist() if targets is None else [int(t) for t in targets]
        if len(picked) != output.shape[0]:
            raise MethodError(f"{len(picked)} targets were given for a batch of {output.shape[0]} inputs.")
        for t in picked:
            check_target(t, output.shape[1])
        chosen.extend(picked)
        mask = torch.zeros_like(output)
        mask[torch.arange(output.shape[0], device=output.device), torch.as_tensor(picked, device=output.device)] = 1.0
        return mask * output.detach()

    logits, relevance, info = _propagate(model, x, initial_relevance, composite, token, None, fast)
    info["relevance_notes"] = check_relevance(relevance, logits, chosen)
    return logits, relevance, chosen, info


#: Above this ratio of the input relevance's sum to the explained score (and to the sample's largest
#: score) the explanation carries a note. Biases and the ε stabiliser absorb relevance (ratio below
#: 1); a large negative bias or threshold (a quick classifier's head) legitimately hands out more
#: relevance than the score; additions or products hidden from the rules create it (10^3 to 10^9 on
#: unchecked timm models, which are refused before they run). So a large ratio is said, not refused.
MAX_CONSERVATION = 10.0


def check_relevance(relevance: torch.Tensor, logits: torch.Tensor, targets) -> list[str | None]:
    """Refuse relevance (B, ...) that is not finite, with a plain :class:`MethodError`; return, per
    sample, a note when the relevance adds up to more than :data:`MAX_CONSERVATION` times the
    explained score ``logits[i, targets[i]]`` and the sample's largest score (else ``None``)."""
    if not bool(torch.isfinite(relevance).all()):
        raise MethodError(
            "LRP produced relevance that is not a finite number (NaN or infinite) for this model, so there is "
            "no explanation to show. This happens when a layer's output is exactly zero where the rules divide "
            "by it, or when the model has additions or products the LRP rules cannot see. Use a gradient "
            f"method ({GRADIENT_METHODS}) or occlusion for this model."
        )
    totals = relevance.flatten(1).sum(1).double().cpu().tolist()
    logits = logits.detach().double().cpu()
    notes: list[str | None] = []
    for total, row, target in zip(totals, logits, targets):
        score = float(row[int(target)])
        large = abs(total) > MAX_CONSERVATION * max(abs(score), float(row.abs().max())) and score != 0.0
        notes.append(
            f"The relevance adds up to {total / score:.3g} times the explained score. Large biases (such as a "
            "classifier's threshold) can do this; so can additions or products inside the model that the LRP "
            f"rules cannot see, in which case the map is wrong. Compare with a gradient method ({GRADIENT_METHODS}) "
            "or occlusion." if large else None
        )
    return notes


@contextlib.contextmanager
def attached(model: LoadedModel, composite: Composite, fast: bool = True, attach=None):
    """The model's module with ``composite`` (and, when ``fast``, the bridges of :class:`_Bridge`)
    attached and autograd enabled; yields ``(module, info)`` and removes every hook on the way out.

    ``attach(module) -> handles``, when given, adds hooks after the composite's (so that they see
    the relevance the rules pass on); they are removed with the composite. ``info`` holds ``rules``
    (layer -> rule) and ``unmerged_batch_norms``.
    """
    module = guard_module(model)
    info: dict = {"rules": check_coverage(module, composite)}
    handles: list = []
    with gradients_enabled():
        try:
            if fast:
                register_lean(composite, module, handles)
                handles += skip_replaced_backward(module, composite)
            else:
                composite.register(module)
            info["unmerged_batch_norms"] = unmerged_batch_norms(module, composite)
            if attach is not None:
                handles += attach(module)
            yield module, info
        finally:
            for handle in handles:
                handle.remove()
            composite.remove()


def _propagate(model, x, start, composite, token, progress, fast,
               attach=None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """One forward and one modified backward pass that starts from ``start(logits)``
    (``attach`` as in :func:`attached`)."""
    x = detached_copy(x)
    captured: dict = {}

    def initial_relevance(output: torch.Tensor) -> torch.Tensor:
        # Called between the forward and the backward pass: the right moment to stop.
        relevance = start(output)
        captured["logits"] = output.detach()
        if progress is not None:
            progress(0.5, "Propagating relevance")
        if token is not None:
            token.check()
        return relevance

    with attached(model, composite, fast, attach) as (module, info):
        def scores(inp: torch.Tensor) -> torch.Tensor:
            return forward_logits(module, inp, model.name)

        _, relevance = Gradient(model=scores, attr_output=initial_relevance)(x)
    return captured["logits"], relevance.detach(), info


def run_lrp(name: str, model: LoadedModel, x: torch.Tensor, target: int, params: dict, token, progress) -> Explanation:
    token.check()
    progress(0.0, "Computing LRP")
    canonizers = choose_canonizers(model.architecture, guard_module(model))
    composite = build_composite(name, params, model, canonizers, input_shape=tuple(x.shape))
    logits, relevance, info = lrp_attribution(model, x, target, composite, token=token, progress=progress)
    return lrp_explanation(name, model, target, float(logits[0, target]), relevance[0], params, canonizers, info,
                        info["relevance_notes"][0])


def run_lrp_batch(name: str, model: LoadedModel, x: torch.Tensor, targets, *, params: dict, token) -> list[Explanation]:
    """:func:`run_lrp` for a batch (B, C, H, W) of inputs: one :class:`Explanation` per input.

    ``targets`` is one class per input, or ``None`` for each input's top class. The relevance
    equals that of :func:`run_lrp` on each input alone (up to float rounding).
    """
    token.check()
    canonizers = choose_canonizers(model.architecture, guard_module(model))
    composite = build_composite(name, params, model, canonizers, input_shape=(1, *x.shape[1:]))
    logits, relevance, chosen, info = lrp_attribution_batch(model, x, targets, composite, token=token)
    logits = logits.float().cpu()
    relevance = relevance.cpu()
    return [
        lrp_explanation(name, model, t, float(logits[i, t]), relevance[i], params, canonizers, info,
                     info["relevance_notes"][i])
        for i, t in enumerate(chosen)
    ]


def lrp_explanation(name, model, target, logit, relevance, params, canonizers, info,
                 relevance_note: str | None = None) -> Explanation:
    """The Explanation of one input's relevance (C, H, W)."""
    total = float(relevance.sum())
    notes = [relevance_note] if relevance_note else []
    if info["unmerged_batch_norms"]:
        notes.append(
            "These batch-norm layers do not directly follow a linear layer and could not be merged; "
            "LRP passes relevance through them unchanged: " + ", ".join(info["unmerged_batch_norms"]) + "."
        )
    extras = {
        "composite": name,
        "canonizers": canonizer_names(canonizers),
        "rules": dict(info["rules"]),
        "relevance_sum": total,
        "logit": logit,
        "conservation": total / logit if logit != 0 else float("nan"),
        "initial_relevance": "target logit",
    }
    if notes:
        extras["notes"] = notes
    return Explanation(
        relevance=channel_sum(relevance[None]),
        method=f"lrp.{name}",
        target=Target(int(target), model.label(int(target))),
        score=logit,
        params=dict(params),
        extras=extras,
    )


# --- registered methods -----------------------------------------------------------------------


@register_method(
    "lrp.epsilon_plus_flat",
    default_for=("image", "dataset"), order=0,
    modality=MODALITY,
    params=[_EPSILON],
    title="LRP (epsilon-plus-flat)",
    help="Traces the prediction back through the network layer by layer and shows which pixels "
    "contributed to it; a robust default for image classifiers.",
    needs_module=True,
    refusal=model_refusal,
)
def epsilon_plus_flat(model, x, target, *, params, token, progress) -> Explanation:
    """LRP with zennit's EpsilonPlusFlat: flat rule on the first layer, z+ on convolutions, epsilon on dense layers."""
    return run_lrp("epsilon_plus_flat", model, x, target, params, token, progress)


@register_method(
    "lrp.epsilon_gamma_box",
    order=1,
    modality=MODALITY,
    params=[_EPSILON, _GAMMA],
    title="LRP (epsilon-gamma-box)",
    help="Traces the prediction back layer by layer, treating the first layer with the pixel-range "
    "(box) rule; shows positive and negative evidence.",
    needs_module=True,
    refusal=model_refusal,
)
def epsilon_gamma_box(model, x, target, *, params, token, progress) -> Explanation:
    """LRP with zennit's EpsilonGammaBox: z^B on the first convolution, gamma on the others, epsilon on dense layers."""
    return run_lrp("epsilon_gamma_box", model, x, target, params, token, progress)


@register_method(
    "lrp.epsilon_alpha2_beta1",
    order=2,
    modality=MODALITY,
    params=[_EPSILON],
    title="LRP (epsilon-alpha2-beta1)",
    help="Traces the prediction back layer by layer, weighing supporting evidence twice as much as "
    "contradicting evidence in convolution layers.",
    needs_module=True,
    refusal=model_refusal,
)
def epsilon_alpha2_beta1(model, x, target, *, params, token, progress) -> Explanation:
    """LRP with zennit's EpsilonAlpha2Beta1: alpha=2, beta=1 on convolutions, epsilon on dense layers."""
    return run_lrp("epsilon_alpha2_beta1", model, x, target, params, token, progress)


@register_method(
    "lrp.custom",
    tags=[TAG_CUSTOM_RULES], order=3,
    modality=MODALITY,
    params=[
        _GAMMA,
        Param(
            "first_rule", "choice", "zbox",
            "Rule for the first layer: zbox uses the pixel range, flat spreads relevance evenly, "
            "wsquare uses squared weights, gamma as in the other convolutions.",
            choices=FIRST_RULES, label="rule for the first layer",
            choice_titles={"zbox": "z-box (bounded input)", "flat": "Flat (spread evenly)",
                           "wsquare": "w² (squared weights)", "gamma": "γ (as the other convolutions)"},
        ),
        Param(
            "top_rule", "choice", "epsilon",
            "Rule for the dense layers at the top: epsilon (stabilised) or zero (plain LRP-0).",
            choices=TOP_RULES, label="rule for the dense layers",
            choice_titles={"epsilon": "ε (stabilised)", "zero": "LRP-0 (plain)"},
        ),
        replace(_EPSILON, shown_when={"top_rule": ("epsilon",)}),
    ],
    title="LRP (custom rules)",
    help="Layer-wise relevance propagation with rules you choose: one rule for the first layer, "
    "gamma for the other convolutions and epsilon or LRP-0 for the dense layers.",
    needs_module=True,
    refusal=model_refusal,
)
def custom(model, x, target, *, params, token, progress) -> Explanation:
    """LRP with a chosen first-layer rule, gamma on convolutions and epsilon or LRP-0 on dense layers."""
    return run_lrp("custom", model, x, target, params, token, progress)


#: Registered LRP methods that explain a whole batch of inputs in one pass:
#: ``name -> function(model, x (B, C, H, W), targets or None, *, params, token) -> [Explanation]``.
BATCHED_METHODS = {
    f"lrp.{name}": functools.partial(run_lrp_batch, name)
    for name in ("epsilon_plus_flat", "epsilon_gamma_box", "epsilon_alpha2_beta1", "custom")
}

__all__ = [
    "BATCHED_METHODS", "_Bridge", "_SkipZeroTerms", "accelerate", "attached", "build_composite", "canonizer_names", "check_coverage", "check_relevance", "choose_canonizers",
    "lrp_attribution", "lrp_attribution_batch", "lrp_explanation", "model_refusal", "run_lrp_batch",
]
