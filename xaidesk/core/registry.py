"""The method registry and its parameter schema.

A method is one function registered once with :func:`register_method`. The
GUI builds its parameter form from :attr:`MethodInfo.params`; the CLI parses
``--param name=value`` with :func:`parse_param_values`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .errors import MethodError

MODALITIES = ("image", "audio", "table", "molecule")
#: Dataset mode (a folder of images or sounds) has a default method of its own (``default_for``).
DATASET = "dataset"

#: Tags say what kind of method it is, so that front ends never test method names.
TAG_LABEL_FREE = "label-free"  # needs no target column (outlier and cluster analyses of tables)
TAG_SUPERVISED = "supervised"  # fits a model of a target column and explains it
TAG_OUTLIER_SCORE = "outlier-score"  # its row score says how unusual a row is
TAG_NEEDS_SEGMENTATION = "needs-segmentation"  # works on segments of the input (superpixels, time-frequency cells)
TAG_REFITTABLE = "refittable"  # can be refitted to another class without new model calls (``MethodInfo.refit``)
TAG_CUSTOM_RULES = "custom-rules"  # its rules are set per layer in a dialog of their own, not in method lists
TAG_TRANSFORMERS = "transformers"  # the method to choose when a transformer model is opened
TAG_INTERCEPT_APART = "intercept-apart"  # prediction = sum of the contributions + an intercept shown apart
TAG_LOCAL_SURROGATE = "local-surrogate"  # each explained row has its own surrogate model and intercept
TAG_BASE_VALUE = "base-value"  # prediction = a base value (the average output over a background) + the contributions
TAGS = frozenset({
    TAG_LABEL_FREE, TAG_SUPERVISED, TAG_OUTLIER_SCORE, TAG_NEEDS_SEGMENTATION, TAG_REFITTABLE,
    TAG_CUSTOM_RULES, TAG_TRANSFORMERS, TAG_INTERCEPT_APART, TAG_LOCAL_SURROGATE, TAG_BASE_VALUE,
})


def _is_non_finite_number(text: str) -> bool:
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


@dataclass(frozen=True)
class Param:
    """One parameter of a method.

    Parameters
    ----------
    name
        Identifier used in ``--param name=value`` and in saved settings.
    kind
        One of ``"int"``, ``"float"``, ``"bool"``, ``"choice"``, ``"str"``.
    default
        Default value (already of the right type).
    help
        One sentence for a person who does not program.
    minimum, maximum
        Inclusive range for numbers (``None`` for unbounded).
    choices
        Allowed values for ``"choice"``.
    label
        Short label for forms; defaults to the name with spaces.
    choices_from
        For ``"str"`` parameters whose valid values depend on the model:
        ``"model_layers"`` asks the GUI to offer the model's layers
        (:func:`xaidesk.explain.relax_layers.list_layers`); an empty value means "automatic".
    minimum_text
        What the minimum means when it is a special value, shown instead of the number
        (e.g. ``"Automatic"`` when 0 lets the method choose).
    choice_titles
        Plain title shown in forms for each value (``{"slic": "SLIC superpixels ..."}``); the value
        itself stays what the command line and saved settings use. Every value of a ``"choice"``
        needs one; a ``"str"`` parameter may title its special words (``{"auto": "Automatic"}``).
    shown_when
        ``{other parameter: values}``: the parameter matters only while each named parameter has
        one of the given values; forms hide it otherwise. Its value is still parsed and defaulted.
    percent
        Display hint for a ``"float"`` share of a whole (range within 0 to 1): forms show it as a
        percentage ("30 %"); the value itself, on the command line and in saved settings, stays the fraction.
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    label: str = ""
    choices_from: str = ""
    minimum_text: str = ""
    choice_titles: dict = field(default_factory=dict, hash=False)
    shown_when: dict = field(default_factory=dict, hash=False)
    percent: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("int", "float", "bool", "choice", "str"):
            raise ValueError(f"unknown parameter kind {self.kind!r}")
        if self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"default of {self.name} not among its choices")
        if self.choice_titles and self.kind not in ("choice", "str"):
            raise ValueError(f"only choice and text parameters have choice titles ({self.name})")
        if self.kind == "choice" and set(self.choice_titles) - set(self.choices):
            raise ValueError(f"choice titles of {self.name} name values it does not offer")
        if self.percent and not (
            self.kind == "float" and self.minimum is not None and self.maximum is not None
            and 0.0 <= self.minimum <= self.maximum <= 1.0
        ):
            raise ValueError(f"only a float parameter with a range within 0 to 1 can show as a percentage ({self.name})")
        object.__setattr__(self, "shown_when", {k: tuple(v) for k, v in self.shown_when.items()})

    def choice_title(self, value: Any) -> str:
        """The plain title of one value (the value itself where it has none)."""
        return self.choice_titles.get(value, str(value))

    def applies(self, values: dict) -> bool:
        """Whether the parameter matters with the other parameters at ``values`` (see ``shown_when``)."""
        return all(values.get(name) in allowed for name, allowed in self.shown_when.items())

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ")

    def convert(self, value: Any) -> Any:
        """Convert ``value`` (possibly a string) and check it against the schema."""
        try:
            if self.kind == "int":
                number = float(value) if isinstance(value, str) else value
                if isinstance(number, bool) or not float(number).is_integer():
                    raise ValueError
                value = int(number)
            elif self.kind == "float":
                value = float(value)
                if not math.isfinite(value):
                    raise MethodError(f"{self.name} must be a finite number; got {value}.")
            elif self.kind == "bool":
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                        raise ValueError
                    value = low in ("1", "true", "yes", "on")
                else:
                    value = bool(value)
            elif self.kind == "choice":
                if value not in self.choices:
                    matches = [c for c in self.choices if str(c) == str(value)]
                    if not matches:
                        raise MethodError(
                            f"'{value}' is not a valid value for {self.name}; "
                            f"choose one of: {', '.join(map(str, self.choices))}."
                        )
                    value = matches[0]
            else:
                value = str(value)
                if _is_non_finite_number(value):  # "nan" or "inf" where a number or a word is asked
                    raise MethodError(f"{self.name} must be a finite number or a word; got {value.strip()}.")
        except (TypeError, ValueError):
            raise MethodError(
                f"'{value}' is not a valid {self.kind} for the parameter {self.name}."
            ) from None
        if self.kind in ("int", "float"):
            if self.minimum is not None and value < self.minimum:
                raise MethodError(f"{self.name} must be at least {self.minimum}; got {value}.")
            if self.maximum is not None and value > self.maximum:
                raise MethodError(f"{self.name} must be at most {self.maximum}; got {value}.")
        return value

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.kind,
            "default": self.default,
            "min": self.minimum,
            "max": self.maximum,
            "choices": list(self.choices),
            "choices_from": self.choices_from or None,
            "choice_titles": dict(self.choice_titles),
            "shown_when": {name: list(values) for name, values in self.shown_when.items()},
            "percent": self.percent,
            "help": self.help,
        }


@dataclass(frozen=True)
class FamilyInfo:
    """A family of methods (the part of a method name before the dot) and what a person reads about it.

    Attributes
    ----------
    name
        The family key, e.g. ``"lrp"``.
    title
        Short title for method lists (``"LRP"``).
    guide_title, guide
        Heading and one paragraph for the in-app guide (empty: the family has no guide entry).
    order
        Sort key: families with smaller values come first in lists and in the guide.
    """

    name: str
    title: str
    guide_title: str = ""
    guide: str = ""
    order: int = 100


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its function, modalities, schema, help and what front ends show of it.

    ``unit`` says what a value of its map means, ``sample_unit`` what it counts while it runs
    (``""`` for a single pass), ``tags`` what kind of method it is (the ``TAG_*`` constants),
    ``modality_defaults`` parameter defaults that differ per modality, ``default_for`` the
    modalities (or :data:`DATASET` mode) where it is the method chosen first, ``refit`` a function
    ``refit(explanation, target, *, class_label)`` that re-explains another class without new
    model calls, and ``order`` its place in method lists.
    """

    name: str
    function: Callable
    modality: tuple[str, ...]
    params: tuple[Param, ...]
    title: str
    help: str
    needs_module: bool = False
    iterative: bool = False
    resample: str = "sum"
    signed: bool | Callable[[dict], bool] = True
    explains_class: bool = True
    refusal: Callable[[Any], str | None] | None = None
    unit: str = "relevance"
    sample_unit: str = ""
    tags: frozenset = frozenset()
    modality_defaults: dict = field(default_factory=dict, hash=False)
    default_for: tuple[str, ...] = ()
    refit: Callable | None = None
    order: int = 0

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def family_title(self) -> str:
        """The family's short title (``"LRP"``), or the family key when no family was registered."""
        family = _FAMILIES.get(self.family)
        return family.title if family else self.family

    def has(self, tag: str) -> bool:
        """Whether the method carries ``tag`` (one of the ``TAG_*`` constants)."""
        if tag not in TAGS:
            raise ValueError(f"unknown tag {tag!r}")
        return tag in self.tags

    def defaults(self, modality: str | None = None) -> dict:
        """Parameter defaults, with the overrides for ``modality`` applied."""
        values = {p.name: p.default for p in self.params}
        values.update(self.modality_defaults.get(modality, {}) if modality else {})
        return values

    def shows_sign(self, params: dict | None = None) -> bool:
        """Whether the map says for and against (signed) with these parameters, or only how much."""
        return bool(self.signed(self.resolve_params(params)) if callable(self.signed) else self.signed)

    def resolve_params(self, values: dict | None = None) -> dict:
        """Fill defaults and convert and check the given values."""
        return resolve_param_values(self.params, values, f"The method {self.name}", "parameter")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "modality": list(self.modality),
            "help": self.help,
            "params": [p.to_dict() for p in self.params],
            "explains_class": self.explains_class,
            "unit": self.unit,
            "tags": sorted(self.tags),
        }


def resolve_param_values(params, values: dict | None, owner: str, noun: str = "setting") -> dict:
    """``values`` converted and checked against ``params``, with defaults for those not given.

    ``owner`` and ``noun`` word the refusal of an unknown name ("The method lime has no parameter x; its
    parameters are: ...").
    """
    values = dict(values or {})
    known = {p.name: p for p in params}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise MethodError(f"{owner} has no {noun} {', '.join(unknown)}; its {noun}s are: {', '.join(known) or 'none'}.")
    return {name: p.convert(values[name]) if name in values else p.default for name, p in known.items()}


_REGISTRY: dict[str, MethodInfo] = {}
_FAMILIES: dict[str, FamilyInfo] = {}


def register_family(name: str, *, title: str, guide_title: str = "", guide: str = "", order: int = 100) -> FamilyInfo:
    """Register a method family's title and guide text (once per family)."""
    if name in _FAMILIES:
        raise ValueError(f"family {name!r} registered twice")
    _FAMILIES[name] = FamilyInfo(name, title, guide_title, guide, order)
    return _FAMILIES[name]


def get_family(name: str) -> FamilyInfo | None:
    """The registered family ``name``, or ``None``."""
    _require_methods()
    return _FAMILIES.get(name)


def list_families() -> list[FamilyInfo]:
    """All registered families, in their order."""
    _require_methods()
    return sorted(_FAMILIES.values(), key=lambda f: f.order)


def register_method(
    name: str,
    *,
    modality: Sequence[str],
    params: Sequence[Param] = (),
    title: str = "",
    help: str = "",
    needs_module: bool = False,
    iterative: bool = False,
    resample: str = "sum",
    signed: bool | Callable[[dict], bool] = True,
    explains_class: bool = True,
    refusal: Callable[[Any], str | None] | None = None,
    unit: str = "relevance",
    sample_unit: str = "",
    tags: Sequence[str] = (),
    modality_defaults: dict | None = None,
    default_for: Sequence[str] = (),
    refit: Callable | None = None,
    order: int = 0,
) -> Callable[[Callable], Callable]:
    """Register ``explain(model, x, target, *, params, token, progress)``.

    ``needs_module`` marks methods that need a real ``torch.nn.Module`` (LRP),
    which TorchScript models are not. ``iterative`` marks methods that report
    partial results. ``resample`` says how maps are taken back to the input's
    size: ``"sum"`` for additive relevance (conserved), ``"value"`` for
    per-pixel quantities such as score drops, weights or similarities.
    ``signed`` is False for maps that say only how much (squared gradients,
    similarities), never for or against; a function of the parameters where they decide.
    ``explains_class`` is False for methods whose result does not depend on the class (RELAX).
    ``refusal(model)`` says, in one plain sentence, why the method cannot explain a loaded model
    (e.g. LRP's CNN rules on a transformer), or returns ``None``; the GUI shows it before Run.
    The remaining arguments are described in :class:`MethodInfo`; a ``refit`` function adds
    :data:`TAG_REFITTABLE`.
    """
    if resample not in ("sum", "value"):
        raise ValueError("resample must be 'sum' or 'value'")
    if "." not in name and name not in ("occlusion", "relax", "lime"):
        raise ValueError(f"method names follow family.variant, got {name!r}")
    modality = tuple(modality)
    for m in modality:
        if m not in MODALITIES:
            raise ValueError(f"unknown modality {m!r}")
    tags = frozenset(tags) | ({TAG_REFITTABLE} if refit is not None else frozenset())
    if tags - TAGS:
        raise ValueError(f"unknown tags {sorted(tags - TAGS)} for {name}")
    modality_defaults = {m: dict(v) for m, v in (modality_defaults or {}).items()}
    for m in (*modality_defaults, *default_for):
        if m not in modality and not (m == DATASET and {"image", "audio"} & set(modality)):
            raise ValueError(f"{name} has defaults for {m!r}, which it does not explain")

    def decorator(function: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} registered twice")
        doc = (function.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        _check_conditions(name, params)
        _check_modality_defaults(name, params, modality_defaults)
        _REGISTRY[name] = MethodInfo(
            name=name,
            function=function,
            modality=modality,
            params=tuple(params),
            title=title or name,
            help=help or doc,
            needs_module=needs_module,
            iterative=iterative,
            resample=resample,
            signed=signed,
            explains_class=explains_class,
            refusal=refusal,
            unit=unit,
            sample_unit=sample_unit,
            tags=tags,
            modality_defaults=modality_defaults,
            default_for=tuple(default_for),
            refit=refit,
            order=order,
        )
        return function

    return decorator


def _check_conditions(method: str, params: Sequence[Param]) -> None:
    by_name = {p.name: p for p in params}
    for param in params:
        for name, values in param.shown_when.items():
            other = by_name.get(name)
            if other is None or other.kind not in ("choice", "bool") or other is param:
                raise ValueError(f"{method}.{param.name} is shown by {name!r}, which is not a choice of the method")
            offered = other.choices if other.kind == "choice" else (True, False)
            if not values or set(values) - set(offered):
                raise ValueError(f"{method}.{param.name} is shown for values {name!r} does not offer")


def _check_modality_defaults(method: str, params: Sequence[Param], overrides: dict) -> None:
    by_name = {p.name: p for p in params}
    for modality, values in overrides.items():
        for name, value in values.items():
            if name not in by_name:
                raise ValueError(f"{method} has a {modality} default for {name!r}, which is not a parameter")
            try:
                by_name[name].convert(value)
            except MethodError as error:
                raise ValueError(f"{method}'s {modality} default: {error.message}") from None


def _require_methods() -> None:
    # The core knows no method itself: entry points load the built-in ones (xaidesk.explain.load_builtin_methods).
    if not _REGISTRY:
        raise MethodError("No explanation methods are registered: call "
                          "xaidesk.explain.load_builtin_methods() before using the registry.")


def get_method(name: str) -> MethodInfo:
    """Look up a method by registry name, with a helpful error."""
    _require_methods()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MethodError(
            f"There is no method called '{name}'. Run 'python -m xaidesk methods' to list them."
        ) from None


def list_methods(modality: str | None = None) -> list[MethodInfo]:
    """All registered methods in list order, optionally only those for one modality."""
    _require_methods()
    methods = [m for m in _REGISTRY.values() if modality is None or modality in m.modality]
    family_order = {f.name: f.order for f in _FAMILIES.values()}
    position = {name: i for i, name in enumerate(_REGISTRY)}
    return sorted(methods, key=lambda m: (family_order.get(m.family, 100), m.order, position[m.name]))


def default_method(modality: str) -> str:
    """The name of the method chosen first for ``modality`` (or for :data:`DATASET` mode)."""
    for method in list_methods(None if modality == DATASET else modality):
        if modality in method.default_for:
            return method.name
    raise MethodError(f"No method is registered as the default for {modality}.")


def parse_param_values(pairs: Sequence[str]) -> dict[str, str]:
    """Split ``["k=v", ...]`` into a dict of strings (converted later by the schema)."""
    values = {}
    for pair in pairs:
        if "=" not in pair:
            raise MethodError(f"Parameters are written name=value; '{pair}' has no '='.")
        key, value = pair.split("=", 1)
        if not key.strip():
            raise MethodError(f"Parameters are written name=value; '{pair}' has no name before the '='.")
        values[key.strip()] = value.strip()
    return values
