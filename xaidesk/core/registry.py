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
        (:func:`xaidesk.explain.relax.list_layers`); an empty value means "automatic".
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

    def __post_init__(self) -> None:
        if self.kind not in ("int", "float", "bool", "choice", "str"):
            raise ValueError(f"unknown parameter kind {self.kind!r}")
        if self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"default of {self.name} not among its choices")
        if self.choice_titles and self.kind not in ("choice", "str"):
            raise ValueError(f"only choice and text parameters have choice titles ({self.name})")
        if self.kind == "choice" and set(self.choice_titles) - set(self.choices):
            raise ValueError(f"choice titles of {self.name} name values it does not offer")
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
            "help": self.help,
        }


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its function, modalities, schema and help."""

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

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def shows_sign(self, params: dict | None = None) -> bool:
        """Whether the map says for and against (signed) with these parameters, or only how much."""
        return bool(self.signed(self.resolve_params(params)) if callable(self.signed) else self.signed)

    def resolve_params(self, values: dict | None = None) -> dict:
        """Fill defaults and convert and check the given values."""
        values = dict(values or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise MethodError(
                f"The method {self.name} has no parameter {', '.join(unknown)}; "
                f"its parameters are: {', '.join(known) or 'none'}."
            )
        return {name: p.convert(values[name]) if name in values else p.default for name, p in known.items()}

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "modality": list(self.modality),
            "help": self.help,
            "params": [p.to_dict() for p in self.params],
            "explains_class": self.explains_class,
        }


_REGISTRY: dict[str, MethodInfo] = {}


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
    """
    if resample not in ("sum", "value"):
        raise ValueError("resample must be 'sum' or 'value'")
    if "." not in name and name not in ("occlusion", "relax", "lime"):
        raise ValueError(f"method names follow family.variant, got {name!r}")
    modality = tuple(modality)
    for m in modality:
        if m not in MODALITIES:
            raise ValueError(f"unknown modality {m!r}")

    def decorator(function: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} registered twice")
        doc = (function.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        _check_conditions(name, params)
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


def _ensure_loaded() -> None:
    # Importing the package registers all built-in methods.
    import xaidesk.explain  # noqa: F401


def get_method(name: str) -> MethodInfo:
    """Look up a method by registry name, with a helpful error."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MethodError(
            f"There is no method called '{name}'. Run 'python -m xaidesk methods' to list them."
        ) from None


def list_methods(modality: str | None = None) -> list[MethodInfo]:
    """All registered methods, optionally only those for one modality."""
    _ensure_loaded()
    return [m for m in _REGISTRY.values() if modality is None or modality in m.modality]


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
