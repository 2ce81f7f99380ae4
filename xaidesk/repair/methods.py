"""The registry of repairs: what each needs, its settings, and how to run it from one request.

Front ends read titles, help, needs and settings from here (the GUI's Model workflow builds its
forms from the :class:`~xaidesk.core.registry.Param` schemas), and run every repair the same
way: ``method.run(request, token, progress) -> RepairResult``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..core import InputError, MethodError, Param, no_progress
from ..core.registry import resolve_param_values
from ..models.base import LoadedModel
from .artefact import Artefact
from .data import ImageSet
from .result import RepairResult
from .training import TrainingSettings

#: What a repair needs besides the model.
NEEDS_ARTEFACT = "artefact"      # images that carry the artefact, and clean ones (P-ClArC)
NEEDS_REGION = "region"          # where the artefact lies, and its pixels (A-ClArC, right for the right reasons)
NEEDS_TRAINING = "training"      # a labelled folder to train on
NEEDS_SAMPLES = "samples"        # labelled images to measure relevance or accuracy on (pruning)
OPTIONAL_REGION = "optional-region"  # an artefact is not used by the method, only measured before and after


@dataclass
class RepairRequest:
    """Everything a repair may use; each method reads what it needs (see :attr:`RepairMethod.needs`).

    Attributes
    ----------
    model
        The model to change (never changed itself).
    params
        The method's settings (converted by its schema).
    artefact, carrying, clean
        The artefact, images that carry it and images that do not.
    target
        The class whose decisions the artefact drives.
    train, held_out
        Labelled images to train on and to measure on.
    checkpoint_dir
        Where training keeps its checkpoint (resumed when it holds one of the same run).
    """

    model: LoadedModel
    params: dict = field(default_factory=dict)
    artefact: Artefact | None = None
    carrying: ImageSet | None = None
    clean: ImageSet | None = None
    target: int | None = None
    train: ImageSet | None = None
    held_out: ImageSet | None = None
    checkpoint_dir: str | Path | None = None


@dataclass(frozen=True)
class RepairMethod:
    """One registered repair."""

    name: str
    title: str
    help: str
    needs: frozenset
    params: tuple[Param, ...]
    function: Callable[[RepairRequest, object, object], RepairResult]
    order: int = 0

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def resolve_params(self, values: dict | None = None) -> dict:
        return resolve_param_values(self.params, values, self.title)

    def check_request(self, request: RepairRequest) -> None:
        """Refuse a request that lacks what this repair needs, naming what to give."""
        missing = []
        if NEEDS_ARTEFACT in self.needs and (request.artefact is None or request.carrying is None or request.clean is None):
            missing.append("images that carry the artefact and images that do not")
        if NEEDS_REGION in self.needs and request.artefact is None:
            missing.append("where the artefact lies (a region, a SpRAy cluster or ticked images)")
        if NEEDS_TRAINING in self.needs and request.train is None:
            missing.append("a labelled folder to train on")
        if NEEDS_SAMPLES in self.needs and request.train is None and request.held_out is None:
            missing.append("labelled images to measure on")
        if (NEEDS_ARTEFACT in self.needs or NEEDS_REGION in self.needs) and request.target is None:
            missing.append("the class the artefact drives")
        if missing:
            raise InputError(f"{self.title} needs " + "; ".join(missing) + ".")

    def run(self, request: RepairRequest, token=None, progress=no_progress) -> RepairResult:
        request.params = self.resolve_params(request.params)
        self.check_request(request)
        return self.function(request, token, progress)


_REPAIRS: dict[str, RepairMethod] = {}


def register_repair(name: str, *, title: str, help: str, needs, params=(), order: int = 0):
    """Register the decorated ``function(request, token, progress) -> RepairResult`` as repair ``name``."""

    def decorate(function):
        if name in _REPAIRS:
            raise ValueError(f"repair {name!r} registered twice")
        _REPAIRS[name] = RepairMethod(name, title, help, frozenset(needs), tuple(params), function, order)
        return function

    return decorate


def get_repair(name: str) -> RepairMethod:
    """The repair called ``name``, or a plain error listing the others."""
    try:
        return _REPAIRS[name]
    except KeyError:
        raise MethodError(f"There is no repair called '{name}'; choose one of: {', '.join(_REPAIRS)}.") from None


def list_repairs() -> list[RepairMethod]:
    """Every repair, in display order."""
    return sorted(_REPAIRS.values(), key=lambda m: m.order)


def _settings(params: dict) -> TrainingSettings:
    return TrainingSettings(epochs=int(params["epochs"]), batch_size=int(params["batch_size"]),
                            learning_rate=float(params["learning_rate"]), seed=int(params["seed"]))


_LAYER = Param("layer", "str", "", "The layer whose activations the artefact direction is found in; empty chooses one.",
               label="layer", choices_from="model_layers", choice_titles={"": "Automatic"})
_TRAINING = (
    Param("epochs", "int", 3, "How many passes over the training images.", minimum=1, maximum=100),
    Param("batch_size", "int", 32, "Images per training step.", minimum=1, maximum=1024, label="batch size"),
    Param("learning_rate", "float", 1e-4, "How far each step moves the weights; smaller is safer.",
          minimum=1e-7, maximum=0.1, label="learning rate"),
    Param("seed", "int", 0, "Fixes the order of the images and every random choice, so a run can be repeated.",
          minimum=0, maximum=2**31 - 1),
)


@register_repair(
    "p-clarc", title="P-ClArC: project the artefact out",
    help="Finds the direction of the artefact in one layer's activations and removes it from every input. No "
         "training: the corrected model is the original plus a projection.",
    needs={NEEDS_ARTEFACT}, order=10,
    params=(_LAYER, Param("cav", "choice", "pattern", "How the artefact direction is found.",
                          choices=("pattern", "logistic"), label="direction from",
                          choice_titles={"pattern": "Signal pattern (difference of means)",
                                         "logistic": "Logistic regression"})),
)
def _p_clarc(request: RepairRequest, token, progress) -> RepairResult:
    from .clarc import p_clarc

    p = request.params
    return p_clarc(request.model, request.artefact, request.carrying, request.clean, layer=p["layer"] or None,
                   cav=p["cav"], held_out=request.held_out, target=int(request.target), token=token, progress=progress)


@register_repair(
    "a-clarc", title="A-ClArC: teach the model to ignore the artefact",
    help="Copies the artefact into training images of the other classes and fine-tunes, so that the artefact no "
         "longer predicts the class.",
    needs={NEEDS_REGION, NEEDS_TRAINING}, order=20,
    params=(*_TRAINING, Param("paste_share", "float", 0.5, "The share of the other classes' images that get the "
                              "artefact in each batch.", minimum=0.05, maximum=1.0, label="images with the artefact", percent=True)),
)
def _a_clarc(request: RepairRequest, token, progress) -> RepairResult:
    from .clarc import a_clarc

    p = request.params
    return a_clarc(request.model, request.artefact, request.train, target=int(request.target), settings=_settings(p),
                   paste_share=float(p["paste_share"]), held_out=request.held_out,
                   checkpoint_dir=request.checkpoint_dir, token=token, progress=progress)


@register_repair(
    "rrr", title="Right for the right reasons: penalise the marked region",
    help="Fine-tunes while penalising input gradients inside the region marked as irrelevant (Ross et al. 2017).",
    needs={NEEDS_REGION, NEEDS_TRAINING}, order=30,
    params=(*_TRAINING, Param("weight", "str", "auto", "How strongly gradients in the region are penalised; auto makes "
                              "the penalty start ten times as large as the loss of guessing, on 64 training images.",
                              label="penalty weight (λ)", choice_titles={"auto": "Automatic"})),
)
def _rrr(request: RepairRequest, token, progress) -> RepairResult:
    from .guided import rrr_finetune

    p = request.params
    return rrr_finetune(request.model, request.train, request.artefact.mask, weight=p["weight"], settings=_settings(p),
                        held_out=request.held_out, share_images=request.carrying,
                        checkpoint_dir=request.checkpoint_dir, token=token, progress=progress)


@register_repair(
    "sun", title="Explanation-guided training (LRP-weighted features)",
    help="Fine-tunes with features weighted by their own relevance, w = 1 + R, and the loss ξ·CE(y, p) + λ·CE(y, p_lrp) "
         "(Sun et al. 2020).",
    needs={NEEDS_TRAINING, OPTIONAL_REGION}, order=40,
    params=(*_TRAINING,
            Param("xi", "float", 1.0, "Weight of the ordinary classification loss.", minimum=0.0, maximum=100.0,
                  label="ξ (plain loss)"),
            Param("lam", "float", 1.0, "Weight of the loss on relevance-weighted features.", minimum=0.0,
                  maximum=100.0, label="λ (explanation loss)"),
            Param("feature_layer", "str", "", "The dense layer whose input features are weighted by their "
                  "relevance; empty chooses the last one.", label="weighted layer", choices_from="model_layers",
                  choice_titles={"": "Automatic"})),
)
def _sun(request: RepairRequest, token, progress) -> RepairResult:
    from .guided import sun_finetune

    p = request.params
    mask = request.artefact.mask if request.artefact is not None else None
    return sun_finetune(request.model, request.train, xi=float(p["xi"]), lam=float(p["lam"]),
                        feature_layer=p["feature_layer"].strip() or None, settings=_settings(p),
                        held_out=request.held_out, mask=mask, share_images=request.carrying,
                        checkpoint_dir=request.checkpoint_dir, token=token, progress=progress)


@register_repair(
    "prune", title="Prune by relevance",
    help="Removes the filters and units that contribute least, measured by LRP on a few reference images per "
         "class (Yeom et al. 2021), and compares it with weight magnitude, Taylor and random pruning "
         "(the setting below).",
    needs={NEEDS_SAMPLES}, order=50,
    params=(
        Param("criterion", "choice", "relevance", "How the least useful filters are found.",
              choices=("relevance", "taylor", "magnitude", "random"),
              choice_titles={"relevance": "Relevance (LRP)", "taylor": "Taylor (activation × gradient)",
                             "magnitude": "Weight magnitude", "random": "Random (for comparison)"}),
        Param("share", "float", 0.3, "The share of filters and units to remove.", minimum=0.0, maximum=0.95,
              label="share removed", percent=True),
        Param("per_class", "int", 10, "Reference images per class the filters are scored on.", minimum=1,
              maximum=1000, label="reference images per class"),
        Param("steps", "int", 1, "Prune in this many steps (with fine-tuning between them when epochs > 0).",
              minimum=1, maximum=20),
        Param("epochs", "int", 0, "Fine-tuning epochs after each step; 0 prunes without training.", minimum=0,
              maximum=100, label="fine-tuning epochs"),
        Param("seed", "int", 0, "Fixes which reference images are used.", minimum=0, maximum=2**31 - 1),
        Param("compare", "bool", True, "Also prune with weight magnitude, Taylor and random scores at several "
              "shares, and plot held-out accuracy against the share removed for all four.",
              label="compare the criteria"),
    ),
)
def _prune(request: RepairRequest, token, progress) -> RepairResult:
    from .prune import prune, reference_samples

    p = request.params
    pool = request.train if request.train is not None else request.held_out
    held_out = request.held_out if request.held_out is not None else pool
    settings = None
    if int(p["epochs"]) > 0:
        if request.train is None:
            raise InputError("Fine-tuning between pruning steps needs a labelled folder to train on.")
        settings = TrainingSettings(epochs=int(p["epochs"]), seed=int(p["seed"]))
    samples = reference_samples(pool, per_class=int(p["per_class"]), seed=int(p["seed"]))
    return prune(request.model, samples, held_out, criterion=p["criterion"], share=float(p["share"]),
                 steps=int(p["steps"]), train=request.train, settings=settings, compare=bool(p["compare"]),
                 checkpoint_dir=request.checkpoint_dir, token=token, progress=progress)
