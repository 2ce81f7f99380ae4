"""What each item of a run is computed with: the methods, the device and the two ways to explain.

Throughput: LRP and the plain gradient methods have a batched path (``BATCHED_METHODS`` of
:mod:`xaidesk.explain.lrp.cnn`, :mod:`xaidesk.explain.lrp.attention` and
:mod:`xaidesk.explain.gradients`): ``batch_size`` images go through the model in one forward and one
backward pass, each with its own target. The result equals the per-image result up to float
rounding. Other methods, and all audio, run per file through
:func:`~xaidesk.explain.explain_image` / :func:`~xaidesk.explain.explain_audio`.

Devices: on ``"cuda"`` the model and the batched inputs move to the GPU; per-file methods keep
their tensors on the CPU and the model's root gets two hooks for their calls that move its
input to the GPU and its scores back (TorchScript models are wrapped instead).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from typing import Sequence

from ..core import InputError, MethodError, get_method
from .format import MethodRequest, plain_json
from .scan import INPUT_NOUNS
from .workers import ReadInput


def resolve_methods(methods: Sequence, modality: str, model=None) -> list[MethodRequest]:
    """Check the methods against the modality (and the model) and fill in their defaults.

    ``methods`` holds names or :class:`MethodRequest` / ``(name, params)`` items.
    """
    from ..explain.common import method_for

    if not methods:
        raise MethodError("Choose at least one explanation method for the run.")
    requests: list[MethodRequest] = []
    for item in methods:
        if isinstance(item, MethodRequest):
            name, values = item.name, item.params
        elif isinstance(item, str):
            name, values = item, {}
        else:
            name, values = item[0], dict(item[1] or {})
        info = method_for(name, modality, model) if model is not None else get_method(name)
        if modality not in info.modality:
            raise MethodError(f"The method {name} does not work on {INPUT_NOUNS.get(modality, modality)}.")
        if any(r.name == name for r in requests):
            raise MethodError(f"The method {name} was chosen twice; a run explains each file once per method.")
        requests.append(MethodRequest(name, plain_json(info.resolve_params(values))))
    return requests


def resolve_device(name: str | None):
    """``"cpu"`` or ``"cuda"`` as a torch device, with a plain error when CUDA is not there."""
    import torch

    name = (name or "cpu").strip().lower()
    if name == "cpu":
        return torch.device("cpu")
    if name in ("cuda", "gpu") or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError("CUDA was chosen, but this computer has no CUDA GPU that PyTorch can use. "
                             "Run on the CPU instead.")
        return torch.device("cuda" if name == "gpu" else name)
    raise InputError(f"Unknown device '{name}'; choose cpu or cuda.")


def available_devices() -> list[str]:
    """``["cpu"]``, plus ``"cuda"`` when a CUDA GPU is usable."""
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@contextlib.contextmanager
def per_file_on_device(model, device):
    """``model`` for the per-file methods while ``module`` sits on ``device``: inputs move there and
    scores come back to the CPU, where those methods keep their tensors.

    An ``nn.Module`` gets two hooks on its root (removed on the way out), so its layer names stay
    as they are (RELAX's layer parameter names them); a TorchScript module is wrapped.
    """
    import torch

    module = model.module
    if device.type == "cpu":
        yield model
        return
    if model.is_torchscript or isinstance(module, torch.jit.ScriptModule):
        class OnDevice(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return self.inner(x.to(device)).cpu()

        yield dataclasses.replace(model, module=OnDevice(module).eval())
        return
    handles = [
        module.register_forward_pre_hook(lambda _m, args: tuple(a.to(device) if hasattr(a, "to") else a for a in args)),
        module.register_forward_hook(lambda _m, _args, output: output.cpu() if hasattr(output, "cpu") else output),
    ]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


_KERNELS_LOCK = threading.Lock()
_KERNELS_USERS = [0, None]  # how many blocks run with exact kernels, and the flags saved by the first


@contextlib.contextmanager
def exact_kernels(device):
    """On a CUDA device, full float32 (no TF32) and deterministic cuDNN kernels while the block runs, so
    that a map computed there equals the CPU's up to rounding. Blocks may overlap in several threads:
    the first saves the flags and the last restores them."""
    import torch

    if device.type != "cuda":
        yield
        return
    backends = torch.backends
    with _KERNELS_LOCK:
        if _KERNELS_USERS[0] == 0:
            _KERNELS_USERS[1] = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32,
                                 backends.cudnn.deterministic, backends.cudnn.benchmark)
        _KERNELS_USERS[0] += 1
        backends.cuda.matmul.allow_tf32 = backends.cudnn.allow_tf32 = False
        backends.cudnn.deterministic, backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        with _KERNELS_LOCK:
            _KERNELS_USERS[0] -= 1
            if _KERNELS_USERS[0] == 0:
                (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, backends.cudnn.deterministic,
                 backends.cudnn.benchmark) = _KERNELS_USERS[1]


@contextlib.contextmanager
def model_on_device(model, device):
    """``model`` for one explanation of a single input on ``device`` (``"cpu"``, ``"cuda"`` or a
    torch device); its module is moved there and back to the CPU on the way out, also on errors.

    The methods keep their own tensors on the CPU (see :func:`per_file_on_device`); only the
    model's passes run on the device.
    """
    import torch

    torch_device = resolve_device(device) if device is None or isinstance(device, str) else device
    if torch_device.type == "cpu":
        yield model
        return
    module = model.module
    try:
        try:
            module.to(torch_device)
        except torch.cuda.OutOfMemoryError as error:
            raise InputError(f"{model.name} does not fit in the GPU's memory. Run it on the CPU.",
                             details=str(error)) from error
        with exact_kernels(torch_device), per_file_on_device(model, torch_device) as on_device:
            yield on_device
    except torch.cuda.OutOfMemoryError as error:
        raise InputError(f"The GPU ran out of memory explaining with {model.name}. Lower the method's batch size "
                         "(or its samples), or run on the CPU.", details=str(error)) from error
    finally:
        module.to("cpu")


def call_on_device(device, function, model, *args, **kwargs):
    """``function(model, *args, **kwargs)`` with the model on ``device`` (see :func:`model_on_device`)."""
    with model_on_device(model, device) as on_device:
        return function(on_device, *args, **kwargs)


def batched_function(name: str):
    """The batched path of a method, or ``None`` when it runs per input."""
    from ..explain import gradients
    from ..explain.lrp import attention, cnn

    return {**cnn.BATCHED_METHODS, **gradients.BATCHED_METHODS, **attention.BATCHED_METHODS}.get(name)



def concept_recorder(model, requests: Sequence[MethodRequest], layer: str):
    """The batched function of a concept run: the one LRP method, recording ``layer``'s concepts."""
    import functools

    from ..explain.lrp import concept_records, concepts

    names = [layer_.name for layer_ in concepts.concept_layers(model)]
    if model.modality != "image" or len(requests) != 1 or requests[0].name not in concepts.concept_methods():
        raise MethodError("Concepts are recorded with one LRP method on images; choose a single LRP method.")
    if layer not in names:
        raise InputError(f"'{layer}' is not a concept layer of {model.name}; choose one of: "
                         f"{', '.join(names[-12:]) or 'none (the model has no convolution or dense layers)'}.")
    return functools.partial(concept_records.run_concepts_batch, requests[0].name, layer)


def explain_batched(function, model, group: list[ReadInput], request: MethodRequest, target, device, token, counters):
    """Explain a group of images in one pass; ``[(explanation in image coordinates, predicted, seconds)]``."""
    import torch

    from ..explain.common import scoring_module
    from ..models.inference import forward_logits

    info = get_method(request.name)
    x = torch.cat([item.tensor for item in group]).to(device)
    start = time.perf_counter()
    targets = None if target is None else [int(target)] * len(group)
    try:
        explanations = function(model, x, targets, params=dict(request.params), token=token)
    except torch.cuda.OutOfMemoryError as error:
        raise InputError(f"The GPU ran out of memory explaining {len(group)} inputs at once. Lower the batch size, "
                         "or run on the CPU.", details=str(error)) from error
    if target is not None:
        with torch.inference_mode():
            predicted = forward_logits(scoring_module(model), x, model.name).argmax(1).tolist()
    else:
        predicted = [e.target.index for e in explanations]
    seconds = time.perf_counter() - start
    counters["compute"] += seconds
    share = seconds / len(group)
    results = []
    for item, explanation, top in zip(group, explanations, predicted):
        relevance = model.preprocessing.to_original(explanation.relevance, item.pixels.shape[:2], preserve=info.resample)
        explanation = explanation.replace(relevance=relevance, method=request.name, seconds=share)
        if "item_arrays" in explanation.extras:
            explanation.extras["item_arrays"] = _arrays_to_original(explanation.extras["item_arrays"], model,
                                                                    item.pixels.shape[:2])
        results.append((explanation, int(top), share + item.seconds))
    return results


def _arrays_to_original(item_arrays: dict, model, shape) -> dict:
    """Recorded arrays with their boxes (names ending in ``_box``: model-input pixels) in the image's pixels."""
    return {name: {key: model.preprocessing.boxes_to_original(value, shape) if key.endswith("_box") else value
                   for key, value in arrays.items()}
            for name, arrays in item_arrays.items()}


def explain_one(model, item: ReadInput, request: MethodRequest, target, token, counters):
    """Explain one input per file; ``(explanation, predicted, seconds)``."""
    start = time.perf_counter()
    if item.pixels is not None:
        from ..explain.image import explain_image, predict_tensor

        explanation = explain_image(model, item.pixels, request.name, target=target, params=dict(request.params),
                                    token=token)
        predicted = explanation.target.index if target is None else predict_tensor(model, item.tensor).top_class
    else:
        from ..explain.audio import explain_audio, predict_audio

        explanation = explain_audio(model, item.audio, request.name, target=target, params=dict(request.params),
                                    token=token)
        predicted = explanation.target.index if target is None else predict_audio(model, item.audio).top_class
    seconds = time.perf_counter() - start
    counters["compute"] += seconds
    return explanation, int(predicted), seconds + item.seconds



__all__ = ["available_devices", "batched_function", "call_on_device", "concept_recorder", "exact_kernels",
           "explain_batched", "explain_one", "model_on_device", "per_file_on_device", "resolve_device",
           "resolve_methods"]
