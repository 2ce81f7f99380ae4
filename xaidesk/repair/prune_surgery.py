"""Which units of a network can be pruned, and how: removed physically, or masked to a constant 0.

A *unit* is one output channel of a ``Conv2d`` or one output of a hidden ``Linear`` layer; the
output layer (any Conv2d/Linear from which no other Conv2d/Linear can be reached) is never pruned.

The graph is read with ``torch.fx``, confined to the tracing thread (:mod:`.graph_trace`). A unit is **removed physically** when the layer's output
flows through channel-wise steps that map 0 to 0 (batch norm, ReLU-like activations, pooling,
dropout) into exactly one next ``Conv2d`` -- or through a flatten into one ``Linear``, where each
channel is ``H*W`` consecutive inputs -- and nowhere else: the layer loses the filter, each batch
norm on the way loses the channel, the next layer loses the matching inputs. Everything else
(residual additions, several users, grouped or depthwise convolutions on either side, a graph
``torch.fx`` cannot trace) is **masked**: the unit's weights and bias and the affine parameters of
the batch norms behind it (BatchNorm1d or 2d; the running mean where a norm has no affine
parameters) are set to zero, so the unit's output behind its batch norms is exactly 0. A
physically pruned network is rebuilt with :func:`xaidesk.models.edited.resize_to_state`, the same
function that opens the saved file.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..core import ModelError
from ..models.edited import get_submodule, resize_to_state, set_submodule

#: Modules that act on each channel alone and map 0 to 0: a removed channel changes nothing behind them.
ZERO_PRESERVING = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Hardswish, nn.Identity,
    nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Dropout, nn.Dropout2d,
)
_ZERO_PRESERVING_FUNCTIONS = {
    torch.relu, nn.functional.relu, nn.functional.gelu, nn.functional.silu, torch.tanh,
    nn.functional.max_pool2d, nn.functional.avg_pool2d, nn.functional.adaptive_avg_pool2d,
    nn.functional.adaptive_max_pool2d, nn.functional.dropout,
}
_ZERO_PRESERVING_METHODS = {"relu", "tanh", "contiguous"}


@dataclass
class PrunableLayer:
    """One layer whose units may be pruned, and what its units feed.

    Attributes
    ----------
    name
        The Conv2d or Linear layer (dotted module name).
    units
        Its output channels or outputs.
    norms
        The batch norms its output passes through before the next layer (channel-wise).
    output
        The module whose output is the units' output (the first batch norm, else the layer).
    consumer
        The next Conv2d/Linear whose inputs the units are (physical removal), or ``None`` (masked).
    inputs_per_unit
        Inputs of ``consumer`` per unit: ``H*W`` behind a flatten, else 1.
    reason
        Why the units are masked rather than removed (empty when removed physically).
    """

    name: str
    units: int
    norms: list[str] = field(default_factory=list)
    output: str = ""
    consumer: str | None = None
    inputs_per_unit: int = 1
    reason: str = ""

    @property
    def physical(self) -> bool:
        return self.consumer is not None

    @property
    def silent_at(self) -> str:
        """The module whose output must be exactly 0 for masked units: the last batch norm zeroed, else the layer."""
        return self.norms[-1] if self.norms else self.name


def _is_unit_layer(module: nn.Module) -> bool:
    return isinstance(module, (nn.Conv2d, nn.Linear)) and type(module) in (nn.Conv2d, nn.Linear)


def _is_flatten(node, modules) -> bool:
    if node.op == "call_module":
        m = modules[node.target]
        return isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1
    if node.op == "call_function" and node.target is torch.flatten:
        return (node.args[1:2] or [node.kwargs.get("start_dim", 0)])[0] == 1 and len(node.args) <= 2
    if node.op == "call_method" and node.target == "flatten":
        return (node.args[1:2] or [node.kwargs.get("start_dim", 0)])[0] == 1 and len(node.args) <= 2
    return False


def _is_zero_preserving(node, modules) -> bool:
    if node.op == "call_module":
        return isinstance(modules[node.target], ZERO_PRESERVING)
    if node.op == "call_function":
        return node.target in _ZERO_PRESERVING_FUNCTIONS
    if node.op == "call_method":
        return node.target in _ZERO_PRESERVING_METHODS
    return False


def _trace(module: nn.Module, input_shape: tuple):
    """The fx graph of ``module`` with tensor shapes, or ``(None, reason)``."""
    from torch.fx.passes.shape_prop import ShapeProp

    from .graph_trace import symbolic_trace

    try:
        graph_module = symbolic_trace(module)
        with torch.no_grad():
            ShapeProp(graph_module).propagate(torch.zeros(input_shape))
    except Exception as error:  # noqa: BLE001 - any tracing failure means: mask everything
        return None, f"its graph could not be traced ({type(error).__name__})"
    return graph_module, ""


def _downstream_layers(node, modules) -> bool:
    """True when another Conv2d/Linear is reachable from ``node``."""
    seen, stack = set(), list(node.users)
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current.op == "call_module" and _is_unit_layer(modules[current.target]):
            return True
        stack.extend(current.users)
    return False


def _follow(node, layer: nn.Module, modules, uses: dict) -> tuple[str, list, object, int]:
    """Walk from a layer's node to the next layer: ``(reason, norms, consumer node, inputs per unit)``.

    The consumer is ``None`` (and the reason says why) when the units cannot be removed physically.
    """
    norms: list[str] = []
    flattened_from = None
    current = node
    if getattr(layer, "groups", 1) != 1:
        return "it is a grouped (depthwise) convolution, whose channels cannot be removed alone", norms, None, 1
    while True:
        users = list(current.users)
        if len(users) != 1:
            return "its output is used in more than one place (a residual or branching graph)", norms, None, 1
        user = users[0]
        module = modules.get(user.target) if user.op == "call_module" else None
        if module is not None and uses.get(user.target, 0) != 1 and _has_state(module):
            return "a layer behind it is used more than once", norms, None, 1
        if module is not None and _is_unit_layer(module):
            if isinstance(module, nn.Conv2d) and module.groups != 1:
                return ("the layer behind it is a grouped (depthwise) convolution: removing a channel would break "
                        "its groups"), norms, None, 1
            if flattened_from is None and isinstance(layer, nn.Conv2d) and isinstance(module, nn.Conv2d) \
                    and module.in_channels == layer.out_channels:
                return "", norms, user, 1
            if isinstance(module, nn.Linear):
                if flattened_from is not None:
                    shape = flattened_from.meta["tensor_meta"].shape
                    per_unit = int(np.prod(shape[2:])) if len(shape) > 2 else 1
                    if module.in_features == shape[1] * per_unit:
                        return "", norms, user, per_unit
                elif isinstance(layer, nn.Linear) and module.in_features == layer.out_features:
                    return "", norms, user, 1
            return "the layer behind it does not take its units as plain inputs", norms, None, 1
        if module is not None and isinstance(module, nn.BatchNorm2d) and flattened_from is None:
            norms.append(user.target)
        elif module is not None and isinstance(module, nn.BatchNorm1d):
            return "a BatchNorm1d follows it (its units are masked, not removed)", norms, None, 1
        elif _is_flatten(user, modules) and flattened_from is None and isinstance(layer, nn.Conv2d):
            flattened_from = current
        elif user.target in (operator.add, torch.add, "add", "add_", operator.iadd):
            return "its output is added to another branch (a residual connection)", norms, None, 1
        elif not _is_zero_preserving(user, modules):
            return f"its output passes through an operation that is not channel-wise ({user.name})", norms, None, 1
        current = user


def prunable_layers(module: nn.Module, input_shape: tuple) -> list[PrunableLayer]:
    """The layers whose units may be pruned, in graph order, each removed physically where the graph allows.

    ``input_shape`` is one input's shape with a batch of 1, ``(1, C, H, W)``.
    """
    graph_module, reason = _trace(module, input_shape)
    if graph_module is None:
        return _untraced_layers(module, reason)
    modules = dict(graph_module.named_modules())
    uses: dict[str, int] = {}
    for node in graph_module.graph.nodes:
        if node.op == "call_module":
            uses[node.target] = uses.get(node.target, 0) + 1
    layers = []
    for node in graph_module.graph.nodes:
        if node.op != "call_module" or not _is_unit_layer(modules[node.target]):
            continue
        layer = modules[node.target]
        if not _downstream_layers(node, modules):
            continue  # an output layer: its units are the classes
        if uses[node.target] != 1:
            layers.append(PrunableLayer(node.target, _units(layer), output=node.target,
                                        reason="the layer is used more than once"))
            continue
        why, norms, consumer, per_unit = _follow(node, layer, modules, uses)
        masked_norms = _norms_behind(node, modules, uses)
        output = masked_norms[0] if masked_norms else node.target
        if consumer is None:
            layers.append(PrunableLayer(node.target, _units(layer), masked_norms, output, reason=why))
        else:
            layers.append(PrunableLayer(node.target, _units(layer), norms, output, consumer.target, per_unit))
    return layers


def _untraced_layers(module: nn.Module, reason: str) -> list[PrunableLayer]:
    """Without a graph: every Conv2d/Linear but the last registered one, masked; a batch norm registered
    right after a layer, with as many channels, is taken to be the one behind it."""
    named = list(module.named_modules())
    layers = []
    for position, (name, layer) in enumerate(named):
        if not _is_unit_layer(layer):
            continue
        following = named[position + 1][1] if position + 1 < len(named) else None
        norm_type = nn.BatchNorm2d if isinstance(layer, nn.Conv2d) else nn.BatchNorm1d
        norm = named[position + 1][0] if isinstance(following, norm_type) \
            and following.num_features == _units(layer) else None
        layers.append(PrunableLayer(name, _units(layer), [norm] if norm else [], norm or name, reason=reason))
    return layers[:-1]


def check_masked_silent(module: nn.Module, layers: list[PrunableLayer], masked: dict[str, set],
                        inputs: torch.Tensor) -> None:
    """Refuse, with a plain :class:`ModelError`, masked units whose output is not exactly 0 on ``inputs``.

    The output checked is the one behind the last batch norm that follows the layer (:attr:`PrunableLayer.silent_at`):
    what the next operations receive.
    """
    by_name = {layer.name: layer for layer in layers}
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for name in (n for n, units in masked.items() if units):
        def keep(_module, _inputs, output, name=name):
            outputs[name] = output.detach().clone()  # an in-place step behind (x += y, ReLU) must not change it
        handles.append(get_submodule(module, by_name[name].silent_at).register_forward_hook(keep))
    try:
        with torch.no_grad():
            module(inputs)
    finally:
        for handle in handles:
            handle.remove()
    for name, output in outputs.items():
        units = torch.as_tensor(sorted(masked[name]))
        if bool((output[:, units] != 0).any()):
            raise ModelError(f"The pruned units of layer '{name}' could not be silenced (their output is not 0 "
                             "after masking), so this model cannot be pruned here.")


def _norms_behind(node, modules, uses: dict) -> list[str]:
    """The batch norms (1d or 2d, each used once) that alone take the layer's output, through channel-wise steps
    that keep 0 at 0: masking zeroes them all, so nothing but 0 leaves a masked unit."""
    norms = []
    current = node
    while len(current.users) == 1:
        (user,) = current.users
        module = modules.get(user.target) if user.op == "call_module" else None
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and uses.get(user.target, 0) == 1:
            norms.append(user.target)
        elif not _is_zero_preserving(user, modules):
            break
        current = user
    return norms


def _has_state(module: nn.Module) -> bool:
    """True for modules with weights or statistics (a shared ReLU may be called many times)."""
    return any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False))


def _units(layer: nn.Module) -> int:
    return int(layer.weight.shape[0])


def mask_units(module: nn.Module, layer: PrunableLayer, units) -> None:
    """Zero ``units`` of ``layer`` in place: weights, bias and the affine parameters of its batch norms (the
    running mean of a batch norm without them, so that it too maps the unit's 0 to 0)."""
    index = torch.as_tensor(np.asarray(units, dtype=np.int64))
    if index.numel() == 0:
        return
    with torch.no_grad():
        for name in [layer.name, *layer.norms]:
            target = get_submodule(module, name)
            for param in ("weight", "bias"):
                tensor = getattr(target, param, None)
                if tensor is not None:
                    tensor[index] = 0.0
            if isinstance(target, nn.modules.batchnorm._BatchNorm) and not target.affine \
                    and target.running_mean is not None:
                target.running_mean[index] = 0.0


def remove_units(module: nn.Module, plan: dict[str, np.ndarray], layers: list[PrunableLayer]) -> None:
    """Remove ``plan[layer] = units`` physically from every physical layer in ``plan`` (in place)."""
    state = {key: value.detach().clone() for key, value in module.state_dict().items()}
    by_name = {layer.name: layer for layer in layers}
    for name, units in plan.items():
        layer = by_name[name]
        if not layer.physical or len(units) == 0:
            continue
        keep = np.setdiff1d(np.arange(layer.units), np.asarray(units, dtype=np.int64))
        keep_index = torch.as_tensor(keep)
        for owner in [layer.name, *layer.norms]:
            for param in ("weight", "bias", "running_mean", "running_var"):
                key = f"{owner}.{param}"
                if key in state:
                    state[key] = state[key][keep_index].contiguous()
        columns = (keep[:, None] * layer.inputs_per_unit + np.arange(layer.inputs_per_unit)[None, :]).ravel()
        key = f"{layer.consumer}.weight"
        state[key] = state[key][:, torch.as_tensor(columns)].contiguous()
    before = {name: (m.training, [p.requires_grad for p in m.parameters(recurse=False)])
              for name, m in module.named_modules()}
    try:
        _resize_norms(module, state, [norm for name in plan for norm in by_name[name].norms])
        for name in resize_to_state(module, state):
            # rebuilt layers start in training mode with trainable weights: give them the old layer's state
            rebuilt = get_submodule(module, name)
            training, grads = before[name]
            rebuilt.train(training)
            for param, flag in zip(rebuilt.parameters(recurse=False), grads):
                param.requires_grad_(flag)
        module.load_state_dict(state, strict=True)
    except ModelError:
        raise
    except (RuntimeError, ValueError, TypeError, AttributeError) as error:
        raise ModelError(f"The pruned layers could not be rebuilt with fewer units ({type(error).__name__}: "
                         f"{str(error).splitlines()[0][:200]}), so this model cannot be pruned here.") from error


def _resize_norms(module: nn.Module, state: dict, names: list[str]) -> None:
    """Rebuild the batch norms ``names`` with the channel count of their saved running mean (also without
    affine parameters), keeping their mode."""
    for name in names:
        norm = get_submodule(module, name)
        saved = state.get(f"{name}.running_mean")
        if saved is None or norm.running_mean is None or saved.shape == norm.running_mean.shape:
            continue
        new = type(norm)(saved.shape[0], norm.eps, norm.momentum, norm.affine, norm.track_running_stats)
        new.train(norm.training)
        new.requires_grad_(any(p.requires_grad for p in norm.parameters()))
        set_submodule(module, name, new)


def apply_pruning(module: nn.Module, layers: list[PrunableLayer], plan: dict[str, np.ndarray], *,
                  physical: bool = True) -> None:
    """Prune ``plan[layer name] = unit indices`` in place: removed where ``layer.physical``, else masked.

    ``physical=False`` masks every unit (the reference the physical removal is checked against).
    """
    for layer in layers:
        units = plan.get(layer.name, [])
        if len(units) and not (physical and layer.physical):
            mask_units(module, layer, units)
    if physical:
        remove_units(module, {k: v for k, v in plan.items() if len(v)}, layers)


def parameter_count(module: nn.Module) -> int:
    """The parameters the module stores."""
    return int(sum(p.numel() for p in module.parameters()))


def masked_parameter_count(module: nn.Module, layers: list[PrunableLayer], masked: dict[str, set]) -> int:
    """Parameters of masked units (their filters, biases and batch-norm scales): stored, but doing nothing."""
    total = 0
    for layer in layers:
        count = len(masked.get(layer.name, ()))
        if not count:
            continue
        target = get_submodule(module, layer.name)
        per_unit = target.weight[0].numel() + (1 if getattr(target, "bias", None) is not None else 0)
        per_unit += sum(2 for name in layer.norms if getattr(get_submodule(module, name), "weight", None) is not None)
        total += count * per_unit
    return total


__all__ = [
    "PrunableLayer", "ZERO_PRESERVING", "apply_pruning", "check_masked_silent", "mask_units", "masked_parameter_count", "parameter_count",
    "prunable_layers", "remove_units",
]
