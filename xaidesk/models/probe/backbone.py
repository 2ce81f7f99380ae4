"""Backbone surgery: cutting a model after a layer, the layers it can be cut after, and their output shapes."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ...core import ModelError
from ..base import LoadedModel


def _is_hookable(model: LoadedModel) -> bool:
    return isinstance(model.module, nn.Module) and not model.is_torchscript \
        and not isinstance(model.module, torch.jit.ScriptModule)


def _cut_path(container: nn.Module, parts: list[str], root: bool) -> nn.Sequential:
    children = list(container.named_children())
    names = [name for name, _ in children]
    if parts[0] not in names:
        raise KeyError(parts[0])
    if not root and not isinstance(container, nn.Sequential):
        raise ValueError("not sequential")
    index = names.index(parts[0])
    kept = children[:index]
    name, child = children[index]
    if len(parts) > 1:
        child = _cut_path(child, parts[1:], root=False)
    return nn.Sequential(OrderedDict([*kept, (name, child)]))


def _cuttable(module: nn.Module, layer: str) -> bool:
    try:
        _cut_path(module, layer.split("."), root=True)
    except (KeyError, ValueError):
        return False
    return True


def cut_backbone(model: LoadedModel, layer: str, check: bool = True) -> nn.Sequential:
    """The backbone from its input up to and including ``layer``, as an ``nn.Sequential``.

    The top-level children are taken in order up to the one holding ``layer``; inside it only
    ``nn.Sequential`` containers are cut further. The modules are shared with ``model``, not
    copied. With ``check`` the prefix's output on a random input is compared with ``layer``'s
    output in the full backbone (a forward hook): a model whose forward does more than run its
    parts in order is refused instead of giving wrong features.

    Raises
    ------
    ModelError
        When the model cannot be cut there (TorchScript, unknown layer, a layer inside a block
        with skip connections, or a forward that is not a plain sequence of its parts).
    """
    if not _is_hookable(model):
        raise ModelError(
            f"{model.name} is a TorchScript model: its layers cannot be reached, so no classifier can be "
            "fitted on them. Load the model's weights with its architecture instead."
        )
    module = model.module
    if layer not in dict(module.named_modules()) or not layer:
        raise ModelError(f"{model.name} has no layer called '{layer}'. Choose one of the listed layers.")
    try:
        trunk = _cut_path(module, layer.split("."), root=True)
    except (KeyError, ValueError):
        raise ModelError(
            f"The layer '{layer}' sits inside a block of {model.name} that does more than run its parts in "
            "order (e.g. a skip connection), so the network cannot be cut there. Choose the whole block "
            "or another listed layer."
        ) from None
    if check:
        _check_cut(model, layer, trunk)
    return trunk


def _layer_output(model: LoadedModel, layer: str, x: torch.Tensor) -> torch.Tensor:
    """``layer``'s output in a full forward pass of ``model`` (read with a forward hook)."""
    captured: list[torch.Tensor] = []
    target = dict(model.module.named_modules())[layer]
    # A copy: a later in-place layer (ReLU(inplace=True)) would change the output afterwards.
    handle = target.register_forward_hook(
        lambda mod, inputs, output: captured.append(output.clone() if isinstance(output, torch.Tensor) else output))
    try:
        with torch.inference_mode():
            model.module(x)
    finally:
        handle.remove()
    if not captured or not isinstance(captured[0], torch.Tensor):
        raise ModelError(f"The layer '{layer}' was not used, or gave no single tensor, when {model.name} ran.")
    return captured[0]


def _check_cut(model: LoadedModel, layer: str, trunk: nn.Module) -> None:
    pre = model.preprocessing
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((2, pre.num_channels, *pre.size), generator=generator)
    problem = ""
    try:
        expected = _layer_output(model, layer, x)
        with torch.inference_mode():
            got = trunk(x)
        if got.shape != expected.shape:
            problem = f"shape {tuple(got.shape)} instead of {tuple(expected.shape)}"
        else:
            scale = float(expected.abs().max()) or 1.0
            error = float((got - expected).abs().max())
            if error > 1e-4 * scale + 1e-6:
                problem = f"largest difference {error:.3g} (values up to {scale:.3g})"
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of the prefix means it is not a plain sequence
        problem = f"{type(error).__name__}: {error}"
    if problem:
        raise ModelError(
            f"{model.name} cannot be cut after the layer '{layer}': its forward pass does more between its "
            "parts than run them in order (e.g. a reshape or a skip connection). Choose an earlier layer, "
            "such as the last convolution block.", details=problem)


def _trace(model: LoadedModel) -> tuple[dict[str, tuple[int, ...]], set[str]]:
    """One forward pass on a random input: each submodule's output shape (without the batch axis), and the
    top-level children that run as a plain chain from the input (each one's input is the previous
    one's output), the only ones the backbone can be cut after."""
    shapes: dict[str, tuple[int, ...]] = {}
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    handles = []

    def make_hook(name: str):
        def hook(mod, args, output):
            if name not in shapes and isinstance(output, torch.Tensor):
                shapes[name] = tuple(output.shape[1:])
            if "." not in name and name not in outputs:
                inputs[name], outputs[name] = args, output
        return hook

    pre = model.preprocessing
    x = torch.randn((1, pre.num_channels, *pre.size), generator=torch.Generator().manual_seed(0))
    try:
        for name, sub in model.module.named_modules():
            if name:
                handles.append(sub.register_forward_hook(make_hook(name)))
        with torch.inference_mode():
            model.module(x)
    finally:
        for handle in handles:
            handle.remove()
    chained: set[str] = set()
    previous: Any = x
    for name, _ in model.module.named_children():
        args = inputs.get(name)
        if args is None or len(args) != 1 or not isinstance(args[0], torch.Tensor) \
                or not isinstance(previous, torch.Tensor):
            break
        if args[0] is not previous and (args[0].shape != previous.shape or not torch.equal(args[0], previous)):
            break
        chained.add(name)
        previous = outputs[name]
    return shapes, chained


def layer_shapes(model: LoadedModel) -> dict[str, tuple[int, ...]]:
    """Each submodule's output shape (without the batch axis), from one forward pass."""
    return _trace(model)[0]


def list_probe_layers(model: LoadedModel) -> list[tuple[str, str]]:
    """The layers a probe can be fitted on, as ``(name, "name · Type · C×h×w")``.

    These are the layers the backbone can be cut after (:func:`cut_backbone`: inside the
    top-level parts that run as a plain chain, and inside ``nn.Sequential`` containers) whose
    output is a feature map (C, h, w) or a vector (D,), in forward order. TorchScript models give none.
    """
    if not _is_hookable(model):
        return []
    shapes, chained = _trace(model)
    layers = []
    for name, sub in model.module.named_modules():
        shape = shapes.get(name)
        if shape is None or len(shape) not in (1, 3) or name.split(".")[0] not in chained \
                or not _cuttable(model.module, name):
            continue
        layers.append((name, f"{name} · {type(sub).__name__} · {'×'.join(str(d) for d in shape)}"))
    return layers


def default_probe_layer(layers: list[tuple[str, str]]) -> str:
    """The last layer with a feature map larger than 1×1, else the last feature map, else the last layer."""
    if not layers:
        return ""
    shapes = [(name, description.rsplit("·", 1)[-1].strip().split("×")) for name, description in layers]
    maps = [(name, dims) for name, dims in shapes if len(dims) == 3]
    spatial = [name for name, dims in maps if dims[1:] != ["1", "1"]]
    best = spatial[-1] if spatial else maps[-1][0] if maps else layers[-1][0]
    # The whole block rather than its last part when both give the same output (layer4, not layer4.1).
    dims = dict(shapes)
    names = [name for name, _ in layers]
    while "." in best:
        parent = best.rsplit(".", 1)[0]
        later = names[names.index(best) + 1:]
        if parent not in dims or dims[parent] != dims[best] or any(n.startswith(parent + ".") for n in later):
            break
        best = parent
    return best


def feature_extractor(trunk: nn.Module, output_shape: tuple[int, ...]) -> nn.Sequential:
    """``trunk`` followed by global average pooling (feature maps) and ``Flatten``: Φ(x)."""
    parts: list[tuple[str, nn.Module]] = [("backbone", trunk)]
    if len(output_shape) == 3:
        parts.append(("pool", nn.AdaptiveAvgPool2d(1)))
    elif len(output_shape) != 1:
        raise ModelError(
            f"The chosen layer gives values of shape {'×'.join(map(str, output_shape))}; a classifier needs a "
            "feature map (channels × height × width) or a vector. Choose another layer."
        )
    parts.append(("flatten", nn.Flatten()))
    return nn.Sequential(OrderedDict(parts))
