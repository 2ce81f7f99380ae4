"""Devices without a GPU: the plain refusals, the model handed back unchanged, exact kernels, GPU memory errors."""

import pytest
import torch

from xaidesk.core import InputError
from xaidesk.models.inference import call_model
from xaidesk.runs import model_on_device, resolve_device
from xaidesk.runs.compute import exact_kernels


def test_unknown_and_missing_devices_are_refused_plainly():
    with pytest.raises(InputError, match="choose cpu or cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="Run on the CPU instead"):
            resolve_device("cuda")
    assert resolve_device(None).type == "cpu"


def test_the_cpu_hands_back_the_same_model():
    model = object()
    with model_on_device(model, "cpu") as same:
        assert same is model


def test_exact_kernels_switch_tf32_off_and_restore_the_flags_even_after_an_error():
    backends = torch.backends
    before = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, backends.cudnn.deterministic,
              backends.cudnn.benchmark)
    backends.cudnn.allow_tf32 = True
    try:
        with pytest.raises(RuntimeError, match="inside"):
            with exact_kernels(torch.device("cuda")):
                with exact_kernels(torch.device("cuda")):  # a second, overlapping block
                    pass
                assert not backends.cudnn.allow_tf32 and not backends.cuda.matmul.allow_tf32, \
                    "the inner block's end leaves the outer block's flags"
                assert backends.cudnn.deterministic and not backends.cudnn.benchmark
                raise RuntimeError("inside")
        assert backends.cudnn.allow_tf32
        with exact_kernels(torch.device("cpu")):
            assert backends.cudnn.allow_tf32, "the CPU leaves the flags alone"
    finally:
        (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, backends.cudnn.deterministic,
         backends.cudnn.benchmark) = before


def test_a_gpu_out_of_memory_asks_for_a_smaller_batch():
    class Hungry(torch.nn.Module):
        def forward(self, x):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(InputError, match="Lower the batch size"):
        call_model(Hungry(), torch.zeros(16, 3, 8, 8), "the net")


def test_a_batch_that_runs_out_of_gpu_memory_asks_for_a_smaller_batch():
    from types import SimpleNamespace

    from xaidesk.runs import MethodRequest
    from xaidesk.runs.compute import explain_batched

    def hungry(model, x, targets, *, params, token):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")

    group = [SimpleNamespace(tensor=torch.zeros(1, 3, 8, 8)) for _ in range(4)]
    with pytest.raises(InputError, match="4 inputs at once. Lower the batch size"):
        explain_batched(hungry, object(), group, MethodRequest("gradient.sensitivity", {}), None,
                        torch.device("cpu"), None, {"compute": 0.0})
