"""A faster copy of a convolutional network for methods that run it many times.

Two changes, neither of which changes what the network computes beyond float rounding:

- every eval-mode batch norm fed only by a convolution is merged into that convolution (a batch
  norm in eval mode is an affine map per channel); this saves its forward and backward pass,
  about a fifth of ResNet-50's time on the CPU;
- 2-D convolutions hold their weights in the channels-last layout, the layout their inputs are
  given in; otherwise every backward pass copies each weight into that layout (about 3 % of
  VGG-16's time at batch 8).

The copy is traced with ``torch.fx`` and shares every other layer with the model, which is
never changed. It is built once per model and rebuilt when a weight changes, and used only after
it gave the model's own scores on the first input. ``torch.fx`` patches ``torch.nn.Module``
for the whole process while it traces, which breaks a forward pass running in another thread
at that moment, so the copy is only built while the process runs one thread (``xaidesk
explain``, scripts); in the GUI, dataset runs and cluster workers the model is used as it is.
``bench/bench_captum.py`` measures the effect.
"""

from __future__ import annotations

import copy
import threading
import weakref

import torch

from ..models.inference import has_conv2d

_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_COPIES_LOCK = threading.Lock()
_FOLD_PAIRS = ((torch.nn.Conv1d, torch.nn.BatchNorm1d), (torch.nn.Conv2d, torch.nn.BatchNorm2d),
               (torch.nn.Conv3d, torch.nn.BatchNorm3d))


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


def _merge_batch_norms(traced) -> int:
    """Merge each batch norm of ``traced`` that only a convolution feeds into it; returns how many."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    layers = dict(traced.named_modules())
    calls: dict[str, int] = {}
    for node in traced.graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    merged = 0
    for node in list(traced.graph.nodes):
        source = node.args[0] if node.op == "call_module" and len(node.args) == 1 and not node.kwargs else None
        if not isinstance(source, torch.fx.Node) or source.op != "call_module" or len(source.users) != 1:
            continue
        conv, norm = layers.get(source.target), layers.get(node.target)
        if not any(type(conv) is c and type(norm) is b for c, b in _FOLD_PAIRS):
            continue
        shared = calls[source.target] != 1 or calls[node.target] != 1
        if shared or conv.training or norm.training or norm.running_mean is None or norm.running_var is None:
            continue
        parent, _, name = source.target.rpartition(".")
        setattr(traced.get_submodule(parent), name, fuse_conv_bn_eval(conv, norm))
        node.replace_all_uses_with(source)
        traced.graph.erase_node(node)
        merged += 1
    return merged


def _channels_last_weights(traced, originals: set[int]) -> int:
    """Give every 2-D convolution of ``traced`` channels-last weights (copying those of the model)."""
    changed = 0
    for target in {node.target for node in traced.graph.nodes if node.op == "call_module"}:
        conv = traced.get_submodule(target)
        if type(conv) is not torch.nn.Conv2d:
            continue
        if id(conv) in originals:
            conv = copy.deepcopy(conv)
            parent, _, name = target.rpartition(".")
            setattr(traced.get_submodule(parent), name, conv)
        conv.weight = torch.nn.Parameter(conv.weight.detach().contiguous(memory_format=torch.channels_last),
                                         requires_grad=conv.weight.requires_grad)
        changed += 1
    return changed


def _build(module: torch.nn.Module) -> torch.nn.Module | None:
    """The faster traced copy of ``module``, or ``None`` when it cannot be traced or nothing changes."""
    import torch.fx

    try:
        traced = torch.fx.symbolic_trace(module)
    except Exception:  # noqa: BLE001 - data-dependent control flow: keep the model as it is
        return None
    originals = {id(m) for m in module.modules()}
    changed = _merge_batch_norms(traced) + _channels_last_weights(traced, originals)
    if changed == 0:
        return None
    traced.recompile()
    return traced


def other_threads_run() -> bool:
    """Whether this process runs other threads, which a trace could break (it patches ``torch.nn.Module``)."""
    return threading.active_count() > 1


def _agrees(module: torch.nn.Module, copy_: torch.nn.Module, example: torch.Tensor) -> bool:
    """Whether the copy gives the model's scores on ``example`` (channels-last, as it will be fed)."""
    try:
        with torch.no_grad():
            want = module(example).float()
            got = copy_(example.contiguous(memory_format=torch.channels_last) if example.ndim == 4 else example)
        got = got.float()
    except Exception:  # noqa: BLE001 - e.g. a .view() that needs a contiguous input: keep the model
        return False
    scale = float(want.abs().max()) if want.numel() else 0.0
    return got.shape == want.shape and bool(torch.isfinite(got).all()) and \
        float((got - want).abs().max()) <= 1e-3 * scale + 1e-6


def fast_copy(module, example: torch.Tensor | None = None):
    """The faster copy of ``module`` (see the module's description), built once per model's weights.

    TorchScript and other non-``nn.Module`` models, models in training mode or with hooks,
    models without convolutions or batch norms, models that cannot be traced and copies that do
    not give the model's scores on ``example`` are returned unchanged; so is every model while
    other threads run (tracing patches ``torch.nn.Module`` process-wide).
    """
    if not isinstance(module, torch.nn.Module) or isinstance(module, torch.jit.ScriptModule) or module.training:
        return module
    if not (has_conv2d(module) or any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())):
        return module
    if _has_hooks(module):
        return module
    state = _weights_state(module)
    with _COPIES_LOCK:
        cached = _COPIES.get(module)
        if cached is None or not _same_state(cached[0], state):
            if other_threads_run():
                return module
            with torch.no_grad():
                built = _build(module)
            if built is not None and example is not None and not _agrees(module, built, example[:1]):
                built = None
            cached = (state, built)
            _COPIES[module] = cached
    return module if cached[1] is None else cached[1]


def fast_gradient_module(module, example: torch.Tensor | None = None) -> tuple[object, bool]:
    """``(module to differentiate, channels-last inputs?)`` for methods that take many gradients.

    The checked copy of a convolutional network gets its inputs in the channels-last layout,
    which oneDNN runs faster on the CPU; the model itself keeps the layout it was given.
    """
    fast = fast_copy(module, example)
    return fast, fast is not module and has_conv2d(fast)
