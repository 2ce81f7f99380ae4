"""Weights in ``.safetensors`` files are read wherever a state dict is."""

from __future__ import annotations

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from xaidesk.core import ModelError
from xaidesk.models import load_model
from xaidesk.models.files import UntrustedModelError, is_safetensors, read_weights_only


@pytest.fixture(scope="module")
def small_net():
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(num_classes=3).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so a lost buffer would show
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return net


def _save(net, path):
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def test_safetensors_state_dict_loads_and_reproduces_outputs(small_net, tmp_path):
    path = _save(small_net, tmp_path / "net.safetensors")
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    expected = small_net(x)
    for spec in (f"torchvision:mobilenet_v3_small:{path}", f"file:{path}"):
        model = load_model(spec)
        assert model.num_classes == 3 and model.architecture == "mobilenet_v3_small"
        with torch.no_grad():
            torch.testing.assert_close(model.module(x), expected, rtol=1e-5, atol=1e-6)


def test_safetensors_is_recognised_by_its_header_whatever_its_name(small_net, tmp_path):
    path = _save(small_net, tmp_path / "net.weights")
    assert is_safetensors(path)
    state = read_weights_only(path)
    assert set(state) == set(small_net.state_dict())
    torch.save(small_net.state_dict(), tmp_path / "net.pt")
    assert not is_safetensors(tmp_path / "net.pt")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_safetensors_gives_a_plain_model_error(small_net, tmp_path, damage):
    path = _save(small_net, tmp_path / "net.safetensors")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a safetensors file at all" * 10)
    else:
        path.write_bytes(b"")
    for spec in (f"torchvision:mobilenet_v3_small:{path}", f"file:{path}"):
        with pytest.raises(ModelError) as info:
            load_model(spec)
        assert not isinstance(info.value, UntrustedModelError)
        assert "net.safetensors" in str(info.value)
        assert "damaged" in str(info.value) or "could not" in str(info.value)


def test_read_state_dict_unwraps_checkpoints_and_needs_trust_for_code(tmp_path):
    from xaidesk.models.files import read_state_dict

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    half = {f"module.{k}": v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    wrapped = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 2, "state_dict": half, "state_dict_ema": {k: v + 1 if v.is_floating_point() else v
                                                                    for k, v in net.state_dict().items()}}, wrapped)
    notes: list[str] = []
    state = read_state_dict(wrapped, trust=False, notes=notes)
    assert set(state) == set(net.state_dict()) and state["0.weight"].dtype == torch.float32
    torch.testing.assert_close(state["0.weight"], net.state_dict()["0.weight"].half().float())
    assert state["1.num_batches_tracked"].dtype == torch.long and notes == []
    ema = read_state_dict(wrapped, trust=False, notes=notes, prefer_ema=True)
    torch.testing.assert_close(ema["0.bias"], net.state_dict()["0.bias"] + 1)
    assert any("EMA" in note for note in notes)

    pickled = tmp_path / "whole.pt"
    torch.save(net, pickled)
    with pytest.raises(UntrustedModelError):
        read_state_dict(pickled, trust=False, notes=[])
    notes = []
    trusted = read_state_dict(pickled, trust=True, notes=notes)
    torch.testing.assert_close(trusted["0.weight"], net.state_dict()["0.weight"])
    assert notes == ["Loaded as a trusted file (its code was run)."]

    empty = tmp_path / "empty.pt"
    torch.save({"epoch": 1}, empty)
    with pytest.raises(ModelError, match="holds no layer weights"):
        read_state_dict(empty, trust=False, notes=[])
