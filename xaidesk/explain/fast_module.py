"""A faster copy of a convolutional network for methods that run it many times.

Two changes, neither of which changes what the network computes beyond float rounding:

- every eval-mode batch norm fed only by a convolution is merged into that convolution (a batch
  norm in eval mode is an affine map per channel); this saves its forward and backward pass,
  about a fifth of ResNet-50's time on the CPU;
- 2-D convolutions hold their weights in the channels-last layout, the layout their inputs are
  given in; otherwise every backward pass copies each weight into that layout (about 3 % of
  VGG-16's time at batch 8).

The copy is a new tree of the model's modules that shares every weight it does not change; the
model itself is never changed. Which convolution feeds which batch norm is read from one forward
pass of the copy on the first input: hooks on the copy see each batch norm's input, and the autograd
graph of that pass shows whether anything else used the convolution's output. Nothing is patched
outside the copy, so it is built safely while other threads run the model. It is built once per
model and rebuilt when a weight changes, and used only after it gave the model's own scores on the
first input. ``bench/bench_captum.py`` measures the effect.
"""

from __future__ import annotations

import copy
import threading
import types
import weakref
from collections import Counter

import torch

from ..models.inference import has_conv2d

_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BUILD_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one per model: two models build at once
_COPIES_LOCK = threading.Lock()  # guards both tables, held only to read or write them
_FOLD_PAIRS = ((torch.nn.Conv1d, torch.nn.BatchNorm1d), (torch.nn.Conv2d, torch.nn.BatchNorm2d),
               (torch.nn.Conv3d, torch.nn.BatchNorm3d))
_CONVS = tuple(c for c, _ in _FOLD_PAIRS)
_NORMS = tuple(b for _, b in _FOLD_PAIRS)


def _weights_state(module: torch.nn.Module) -> tuple:
    """The model's tensors with their in-place versions, storage, device and type (the tensors are held, so no
    id is reused); ``param.data = ...`` and ``module.to(...)`` change the storage."""
    tensors = (*module.parameters(), *module.buffers())
    return tensors, tuple((t._version, t.data_ptr(), t.device, t.dtype) for t in tensors)


def _same_state(a: tuple, b: tuple) -> bool:
    return len(a[0]) == len(b[0]) and all(x is y for x, y in zip(a[0], b[0])) and a[1] == b[1]


def _has_hooks(module: torch.nn.Module) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or
               getattr(m, "_backward_pre_hooks", None) for m in module.modules())


def _new_tree(module: torch.nn.Module) -> torch.nn.Module | None:
    """A copy of ``module``'s tree of modules with parameter and buffer tables of its own, sharing the tensors,
    and no hooks; a module used twice stays one module in the copy.

    Attributes that point back into the model are pointed at the copy (a bound method, a module kept outside
    the submodules); ``None`` when one sits in a container, which the copy would otherwise share.
    """
    made: dict[int, torch.nn.Module] = {}

    def twin_of(original: torch.nn.Module) -> torch.nn.Module:
        if id(original) in made:
            return made[id(original)]
        twin = made[id(original)] = copy.copy(original)
        for name, value in original.__dict__.items():
            if name != "_modules" and name.startswith("_") and isinstance(value, dict):
                twin.__dict__[name] = copy.copy(value)
                if "hook" in name:
                    twin.__dict__[name].clear()
        twin._modules = copy.copy(original._modules)
        for name, child in original._modules.items():
            twin._modules[name] = None if child is None else twin_of(child)
        return twin

    tree = twin_of(module)
    for twin in list(made.values()):
        for name, value in list(twin.__dict__.items()):
            if name == "_modules" or (name.startswith("_") and isinstance(value, dict)):
                continue
            if isinstance(value, types.MethodType) and id(value.__self__) in made:
                twin.__dict__[name] = types.MethodType(value.__func__, made[id(value.__self__)])
            elif isinstance(value, torch.nn.Module) and id(value) in made:
                twin.__dict__[name] = made[id(value)]
            elif isinstance(value, (list, tuple, set, dict)):
                members = value.values() if isinstance(value, dict) else value
                if any(id(getattr(v, "__self__", v)) in made for v in members):
                    return None
    return tree


def _graph_uses(output: torch.Tensor) -> Counter:
    """How many autograd nodes of the graph behind ``output`` take each node's result as an input."""
    uses: Counter = Counter()
    seen, stack = set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        for parent, _ in node.next_functions:
            if parent is not None:
                uses[parent] += 1
                stack.append(parent)
    return uses


def _convolution_norm_pairs(tree: torch.nn.Module, example: torch.Tensor) -> tuple[list[tuple[str, str]], object]:
    """``(convolution, batch norm)`` names of ``tree`` where, on ``example``, the batch norm's input is the
    convolution's output and nothing else uses that output (each layer runs once, both in eval mode),
    and the tree's output on ``example``."""
    names = {id(m): n for n, m in tree.named_modules(remove_duplicate=False)}
    calls: Counter = Counter()
    produced: dict[int, tuple] = {}
    fed: list[tuple] = []

    def after_convolution(layer, _inputs, output):
        calls[names[id(layer)]] += 1
        if isinstance(output, torch.Tensor):  # held, so its id is not reused; its node and version as made
            produced[id(output)] = (names[id(layer)], output, output.grad_fn, output._version)

    def after_norm(layer, inputs, _output):
        calls[names[id(layer)]] += 1
        source = produced.get(id(inputs[0])) if inputs else None
        if source is not None and source[1] is inputs[0] and inputs[0]._version == source[3] \
                and inputs[0].grad_fn is source[2]:  # not changed in place between the two layers
            fed.append((source[0], names[id(layer)], *source[1:]))

    handles = [m.register_forward_hook(after_convolution if isinstance(m, _CONVS) else after_norm)
               for m in tree.modules() if isinstance(m, _CONVS + _NORMS)]
    try:
        with torch.enable_grad():
            output = tree(example.detach().requires_grad_(True))
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(output, torch.Tensor) or output.grad_fn is None:
        return [], output
    uses = _graph_uses(output)
    pairs = []
    for conv_name, norm_name, conv_output, node, version in fed:
        conv, norm = tree.get_submodule(conv_name), tree.get_submodule(norm_name)
        if not any(type(conv) is c and type(norm) is b for c, b in _FOLD_PAIRS):
            continue
        if calls[conv_name] != 1 or calls[norm_name] != 1 or conv.training or norm.training:
            continue
        if norm.running_mean is None or norm.running_var is None or uses[node] != 1 or conv_output._version != version:
            continue
        pairs.append((conv_name, norm_name))
    return pairs, output.detach()


def _replace(tree: torch.nn.Module, name: str, layer: torch.nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(tree.get_submodule(parent), child, layer)


def _build(module: torch.nn.Module, example: torch.Tensor) -> torch.nn.Module | None:
    """The faster copy of ``module``, checked on ``example``, or ``None`` when nothing changes or it differs."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    try:
        tree = _new_tree(module)
        if tree is None:
            return None
        if example.is_floating_point() and any(isinstance(m, _NORMS) for m in tree.modules()):
            pairs, want = _convolution_norm_pairs(tree, example)
        else:
            with torch.no_grad():
                pairs, want = [], tree(example)
        for conv_name, norm_name in pairs:
            merged = fuse_conv_bn_eval(tree.get_submodule(conv_name), tree.get_submodule(norm_name))
            _replace(tree, conv_name, merged)
            _replace(tree, norm_name, torch.nn.Identity())
        convs = [m for m in tree.modules() if type(m) is torch.nn.Conv2d]
        for conv in convs:
            conv._parameters["weight"] = torch.nn.Parameter(
                conv.weight.detach().contiguous(memory_format=torch.channels_last),
                requires_grad=conv.weight.requires_grad)
    except Exception:  # noqa: BLE001 - a module that cannot be copied (parametrized) or run so: keep it as it is
        return None
    return tree if (pairs or convs) and _agrees(want, tree, example) else None


def _agrees(want, copy_: torch.nn.Module, example: torch.Tensor) -> bool:
    """Whether the copy gives the scores ``want`` on ``example`` (channels-last, as it will be fed); ``want`` was
    computed by the copy before anything in it changed, which computes what the model does."""
    if not isinstance(want, torch.Tensor):
        return False
    want = want.float()
    try:
        with torch.no_grad():
            got = copy_(example.contiguous(memory_format=torch.channels_last) if example.ndim == 4 else example)
        got = got.float()
    except Exception:  # noqa: BLE001 - e.g. a .view() that needs a contiguous input: keep the model
        return False
    scale = float(want.abs().max()) if want.numel() else 0.0
    return got.shape == want.shape and bool(torch.isfinite(got).all()) and \
        float((got - want).abs().max()) <= 1e-3 * scale + 1e-6


def fast_copy(module, example: torch.Tensor, progress=None):
    """The faster copy of ``module`` (see the module's description), built once per model's weights.

    ``example`` is an input batch; its first item is used to find the batch norms to merge and to
    check the copy. ``progress(fraction, message)``, when given, is told before a copy is built
    (a forward and a backward pass, up to a few seconds on a large network). TorchScript and
    other non-``nn.Module`` models, models in training mode or with hooks, models without
    convolutions or batch norms, and copies that do not give the model's scores on ``example``
    are returned unchanged.
    """
    if not isinstance(module, torch.nn.Module) or isinstance(module, torch.jit.ScriptModule) or module.training:
        return module
    if not (has_conv2d(module) or any(isinstance(m, _NORMS) for m in module.modules())):
        return module
    if _has_hooks(module):
        return module
    state = _weights_state(module)
    with _COPIES_LOCK:
        build_lock = _BUILD_LOCKS.setdefault(module, threading.Lock())
    with build_lock:
        with _COPIES_LOCK:
            cached = _COPIES.get(module)
        if cached is None or not _same_state(cached[0], state):
            if progress is not None:
                progress(0.0, "Preparing a faster copy of the network (once per model)")
            with torch.inference_mode(False):
                built = _build(module, example[:1].detach().clone())  # a normal tensor even in inference mode
            cached = (state, built)
            with _COPIES_LOCK:
                _COPIES[module] = cached
    return module if cached[1] is None else cached[1]


def fast_gradient_module(module, example: torch.Tensor, progress=None) -> tuple[object, bool]:
    """``(module to differentiate, channels-last inputs?)`` for methods that take many gradients.

    The checked copy of a convolutional network gets its inputs in the channels-last layout,
    which oneDNN runs faster on the CPU; the model itself keeps the layout it was given.
    """
    fast = fast_copy(module, example, progress)
    return fast, fast is not module and has_conv2d(fast)
