"""Which layer's output RELAX compares: hooks that read it, and the list of layers to choose from.

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
from typing import Callable, Iterator

import torch

from ..core import MethodError
from .common import scoring_module


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
        # On the device of the batch: a model on a GPU hands its layer back where the caller keeps tensors.
        value = captured[0].to(batch.device)
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
