"""Batch norms merged into the convolutions before them, for methods that run a network many times.

An eval-mode batch norm is an affine map per channel, so merging it into the convolution that
feeds it gives the same outputs and input gradients up to float rounding and saves its forward
and backward pass: about a fifth of ResNet-50's time on the CPU (``bench/bench_captum.py``).
The merged network is a traced copy that shares every other layer with the model; the model
itself is never changed.
"""

from __future__ import annotations

import threading
import weakref

import torch

from ..models.inference import has_conv2d

_FOLDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FOLDED_LOCK = threading.Lock()
_FOLD_PAIRS = ((torch.nn.Conv1d, torch.nn.BatchNorm1d), (torch.nn.Conv2d, torch.nn.BatchNorm2d),
               (torch.nn.Conv3d, torch.nn.BatchNorm3d))


def _weights_state(module: torch.nn.Module) -> tuple:
    """The model's tensors and their in-place versions (the tensors are held, so no id is reused)."""
    tensors = (*module.parameters(), *module.buffers())
    return tensors, tuple(t._version for t in tensors)


def _same_state(a: tuple, b: tuple) -> bool:
    return len(a[0]) == len(b[0]) and all(x is y for x, y in zip(a[0], b[0])) and a[1] == b[1]


def _has_hooks(module: torch.nn.Module) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or
               getattr(m, "_backward_pre_hooks", None) for m in module.modules())


def _fold(module: torch.nn.Module) -> torch.nn.Module | None:
    """A traced copy of ``module`` in which every batch norm fed only by a convolution is merged into it.

    The copy shares all other layers with ``module``, which is left unchanged; ``None`` when the
    network cannot be traced or has nothing to merge.
    """
    import torch.fx
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    try:
        traced = torch.fx.symbolic_trace(module)
    except Exception:  # noqa: BLE001 - data-dependent control flow: keep the model as it is
        return None
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
    if merged == 0:
        return None
    traced.recompile()
    return traced


def folded_batch_norm(module):
    """``module`` with its batch norms merged into the convolutions before them, for many passes.

    An eval-mode batch norm is an affine map per channel, so merging it into the convolution
    that feeds it gives the same outputs and input gradients up to float rounding, and saves
    its forward and backward pass (about a fifth of ResNet-50's time on the CPU). The merged
    copy is built once per model and rebuilt when a weight changes; TorchScript models, models
    in training mode or with hooks, and models that cannot be traced are returned unchanged.
    """
    if not isinstance(module, torch.nn.Module) or isinstance(module, torch.jit.ScriptModule) or module.training:
        return module
    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules()) or _has_hooks(module):
        return module
    state = _weights_state(module)
    with _FOLDED_LOCK:
        cached = _FOLDED.get(module)
        if cached is None or not _same_state(cached[0], state):
            with torch.no_grad():
                cached = (state, _fold(module))
            _FOLDED[module] = cached
    return module if cached[1] is None else cached[1]


def fast_gradient_module(module) -> tuple[object, bool]:
    """``(module to differentiate, channels-last inputs?)`` for methods that take many gradients.

    Batch norms are merged (:func:`folded_batch_norm`), and convolutional networks get their
    inputs in the channels-last layout, which oneDNN runs faster on the CPU (the weights are
    left as they are).
    """
    folded = folded_batch_norm(module)
    return folded, has_conv2d(folded)
