"""Pruning's surgery on networks that are not a plain chain: residual sums, branches, grouped convolutions,
batch norms without learned scale, dense units behind BatchNorm1d, and fine-tuning between steps."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

import helpers
from test_repair_prune import SIZE, one_thread, scenes  # noqa: F401 - one_thread is an autouse fixture
from xaidesk.core import ModelError
from xaidesk.repair import prune as prune_module
from xaidesk.repair.data import ImageSet
from xaidesk.repair.prune import prune
from xaidesk.repair.prune_surgery import apply_pruning, prunable_layers
from xaidesk.repair.result import write_repair_outputs
from xaidesk.repair.training import TrainingSettings


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.stem, self.stem_norm = nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.conv1, self.norm1 = nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.conv2, self.norm2 = nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.pool, self.head = nn.AdaptiveAvgPool2d(1), nn.Linear(6, 2)
        for norm in (self.stem_norm, self.norm1, self.norm2):
            norm.running_mean.uniform_(-1, 1)
            norm.bias.data.uniform_(-1, 1)

    def forward(self, x):
        x = torch.relu(self.stem_norm(self.stem(x)))
        y = torch.relu(self.norm1(self.conv1(x)))
        x = torch.relu(x + self.norm2(self.conv2(y)))
        return self.head(torch.flatten(self.pool(x), 1))


def test_residual_units_are_masked_to_exactly_zero_also_after_fine_tuning(tmp_path):
    model = helpers.loaded(Residual().eval(), SIZE)
    layers = {layer.name: layer for layer in prunable_layers(model.module, (1, 3, SIZE, SIZE))}
    assert set(layers) == {"stem", "conv1", "conv2"}
    assert layers["conv1"].physical and layers["conv1"].consumer == "conv2"
    assert not layers["stem"].physical and "residual" in layers["stem"].reason
    assert not layers["conv2"].physical and layers["conv2"].output == "norm2"
    result = prune(model, scenes(8, 2), scenes(8, 3), criterion="magnitude", share=0.5, steps=2, train=scenes(16, 5),
                   settings=TrainingSettings(epochs=1, batch_size=8, learning_rate=1e-2),
                   checkpoint_dir=tmp_path)
    assert (tmp_path / "step-2" / "checkpoint.pt").is_file()
    edit = result.edits[0]
    assert "in 2 steps, fine-tuned after each step" in edit["summary"]
    assert set(edit["masked"]) <= {"stem", "conv2"} and edit["masked"]
    assert any("masked" in note and "residual" in note for note in result.notes)
    outputs = {}
    pruned = result.model.module
    for name in edit["masked"]:
        getattr(pruned, layers[name].output).register_forward_hook(
            lambda module, inputs, output, name=name: outputs.__setitem__(name, output))
    with torch.no_grad():
        pruned(scenes(4, 4).inputs)
    for name, units in edit["masked"].items():
        assert torch.all(outputs[name][:, units] == 0.0)
        assert not torch.all(outputs[name] == 0.0)


class Branching(nn.Module):
    """A forward with a data-dependent branch: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.conv, self.norm = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.norm.bias.data.fill_(0.5)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        x = torch.relu(self.norm(self.conv(x)))
        if x.mean() > 10:
            x = x * 2
        return self.head(x.mean((2, 3)))


def test_untraceable_model_is_masked_with_the_batch_norm_behind():
    model = helpers.loaded(Branching().eval(), SIZE)
    (layer,) = prunable_layers(model.module, (1, 3, SIZE, SIZE))
    assert layer.name == "conv" and layer.norms == ["norm"] and not layer.physical and "traced" in layer.reason
    result = prune(model, scenes(8, 2), scenes(8, 3), criterion="random", share=0.5)
    units = result.edits[0]["masked"]["conv"]
    assert len(units) == 2
    with torch.no_grad():
        silenced = result.model.module.norm(result.model.module.conv(scenes(4, 4).inputs))
    assert torch.all(silenced[:, units] == 0.0) and any("could not be traced" in n for n in result.notes)


def depthwise_net() -> nn.Sequential:
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 6, 1), nn.BatchNorm2d(6), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 2))
    for module in net:
        if isinstance(module, nn.BatchNorm2d):
            module.bias.data.uniform_(-1, 1)
    return net.eval()


def test_grouped_convolutions_and_their_inputs_are_masked(tmp_path):
    model = helpers.loaded(depthwise_net(), SIZE)
    layers = {layer.name: layer for layer in prunable_layers(model.module, (1, 3, SIZE, SIZE))}
    assert not layers["0"].physical and "grouped" in layers["0"].reason and "behind" in layers["0"].reason
    assert not layers["3"].physical and "grouped" in layers["3"].reason and layers["3"].norms == ["4"]
    assert layers["6"].physical
    result = prune(model, scenes(8, 2), scenes(8, 3), criterion="magnitude", share=0.5)
    masked = result.edits[0]["masked"]
    assert set(masked) <= {"0", "3"} and masked
    pruned = result.model.module
    assert pruned[3].groups == 8 and pruned[3].out_channels == 8
    outputs = {}
    for name in masked:
        pruned[int(name) + 1].register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o))
    with torch.no_grad():
        pruned(scenes(4, 4).inputs)
    for name, units in masked.items():
        assert torch.all(outputs[name][:, units] == 0.0) and not torch.all(outputs[name] == 0.0)
    write_repair_outputs(result, tmp_path / "out")
    from safetensors.torch import load_file
    from xaidesk.models.edited import resize_to_state

    state = {k.removeprefix("model."): v for k, v in load_file(tmp_path / "out" / "model.safetensors").items()}
    reopened = depthwise_net()
    resize_to_state(reopened, state)  # as opening the file does: refused for a grouped layer of another shape
    reopened.load_state_dict(state)
    with torch.no_grad():
        torch.testing.assert_close(reopened(scenes(4, 4).inputs), pruned(scenes(4, 4).inputs))


def test_mobilenet_v3_small_with_random_weights_prunes():
    from torchvision.models import mobilenet_v3_small

    torch.manual_seed(0)
    net = mobilenet_v3_small(num_classes=2).eval()
    model = helpers.loaded(net, 32)
    images = ImageSet(torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0)),
                      torch.tensor([0, 1] * 3), [])
    layers = {layer.name: layer for layer in prunable_layers(net, (1, 3, 32, 32))}
    assert "grouped" in layers["features.1.block.0.0"].reason  # the depthwise convolution itself
    assert "grouped" in layers["features.2.block.0.0"].reason  # the expansion feeding a depthwise convolution
    result = prune(model, images, images, criterion="magnitude", share=0.3)
    assert result.edits[0]["physically_removed"] and result.edits[0]["masked"]
    assert result.comparison("parameters").after < result.comparison("parameters").before
    with torch.no_grad():
        assert torch.isfinite(result.model.module(images.inputs)).all()


def affine_free_net() -> nn.Sequential:
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6, affine=False), nn.ReLU(),
                        nn.Conv2d(6, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    net[1].running_mean.uniform_(-1, 1)
    net[1].running_var.uniform_(0.5, 2)
    return net.eval()


def test_batch_norm_without_affine_parameters_is_pruned_physically():
    net = affine_free_net()
    layers = prunable_layers(net, (1, 3, SIZE, SIZE))
    assert layers[0].physical and layers[0].norms == ["1"]
    plan = {"0": np.array([1, 4]), "3": np.array([], dtype=np.int64)}
    removed, masked = copy.deepcopy(net), copy.deepcopy(net)
    apply_pruning(removed, layers, plan)
    apply_pruning(masked, layers, plan, physical=False)
    assert removed[1].num_features == 4 and removed[1].running_mean.shape == (4,) and removed[3].in_channels == 4
    inputs = scenes(4, 4).inputs
    with torch.no_grad():
        torch.testing.assert_close(removed(inputs), masked(inputs), rtol=1e-5, atol=1e-5)
        assert torch.all(masked[1](masked[0](inputs))[:, [1, 4]] == 0.0)  # masking zeroes the running mean too
    assert torch.equal(net[1].running_mean, affine_free_net()[1].running_mean)  # the input model is untouched


def test_a_failed_rebuild_is_a_plain_model_error(monkeypatch):
    from xaidesk.repair import prune_surgery

    net = affine_free_net()
    layers = prunable_layers(net, (1, 3, SIZE, SIZE))
    monkeypatch.setattr(prune_surgery, "resize_to_state", lambda module, state: [])
    monkeypatch.setattr(prune_surgery, "_resize_norms", lambda module, state, names: None)
    with pytest.raises(ModelError, match="could not be rebuilt") as caught:
        apply_pruning(net, layers, {"0": np.array([0])})
    assert isinstance(caught.value.__cause__, RuntimeError)


class DenseNorm(nn.Module):
    def __init__(self, affine: bool):
        super().__init__()
        torch.manual_seed(5)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.hidden, self.norm = nn.Linear(4, 8), nn.BatchNorm1d(8, affine=affine)
        self.head = nn.Linear(8, 2)
        self.norm.running_mean.uniform_(-1, 1)
        if affine:
            self.norm.bias.data.uniform_(0.5, 1)

    def forward(self, x):
        x = torch.relu(self.conv(x)).mean((2, 3))
        return self.head(torch.relu(self.norm(self.hidden(x))))


@pytest.mark.parametrize("affine", [True, False])
def test_dense_units_behind_batchnorm1d_send_exactly_zero(affine):
    from xaidesk.repair.prune_surgery import check_masked_silent, mask_units

    model = helpers.loaded(DenseNorm(affine).eval(), SIZE)
    layers = {layer.name: layer for layer in prunable_layers(model.module, (1, 3, SIZE, SIZE))}
    hidden = layers["hidden"]
    assert not hidden.physical and "BatchNorm1d" in hidden.reason
    assert hidden.norms == ["norm"] and hidden.silent_at == "norm"
    inputs = scenes(4, 4).inputs
    # zeroing the dense layer alone leaves the norm's constant: the check must look behind the norm and refuse
    half = copy.deepcopy(model.module)
    mask_units(half, replace(hidden, norms=[]), [0, 1, 2])
    with pytest.raises(ModelError, match="could not be silenced"):
        check_masked_silent(half, list(layers.values()), {"hidden": {0, 1, 2}}, inputs)
    result = prune(model, scenes(8, 2), scenes(8, 3), criterion="magnitude", share=0.5)
    units = result.edits[0]["masked"]["hidden"]
    assert units
    pruned = result.model.module
    with torch.no_grad():
        behind = pruned.norm(pruned.hidden(torch.relu(pruned.conv(inputs)).mean((2, 3))))
    assert torch.all(behind[:, units] == 0.0) and not torch.all(behind == 0.0)


def test_fine_tuning_never_revives_masked_units(monkeypatch, tmp_path):
    """Fine-tuned two-step pruning of the residual model: at every batch of the second step the units masked so far
    are zero (so training never sees them alive), and the saved network needs no masking afterwards."""
    from xaidesk.repair.prune_surgery import mask_units

    seen = []

    def recording_loss(module, inputs, labels, context):
        seen.append({name: tensor.detach().clone() for name, tensor in module.state_dict().items()})
        return nn.functional.cross_entropy(module(inputs), labels), {}

    monkeypatch.setattr(prune_module, "cross_entropy_loss", recording_loss)
    identities = []
    real_finetune = prune_module.finetune
    monkeypatch.setattr(prune_module, "finetune",
                        lambda *a, **k: identities.append(k["identity"]) or real_finetune(*a, **k))
    model = helpers.loaded(Residual().eval(), SIZE)
    result = prune(model, scenes(8, 2), scenes(8, 3), criterion="magnitude", share=0.5, steps=2, train=scenes(24, 5),
                   settings=TrainingSettings(epochs=2, batch_size=8, learning_rate=1e-2), checkpoint_dir=tmp_path)
    assert [identity["base"] for identity in identities] == [model.spec, model.spec]
    masked = result.edits[0]["masked"]
    layers = {layer.name: layer for layer in prunable_layers(result.model.module, (1, 3, SIZE, SIZE))}
    assert len(seen) == 12  # 2 steps x 2 epochs x 3 batches
    for state in seen[6:]:  # the second step: every unit of the final mask is masked already
        for name, units in masked.items():
            for owner in [name, *layers[name].norms]:
                for param in ("weight", "bias"):
                    assert torch.all(state[f"{owner}.{param}"][units] == 0.0), (owner, param)
    pruned = result.model.module
    for name, units in masked.items():
        for owner in [name, *layers[name].norms]:
            assert torch.all(getattr(pruned, owner).weight[units] == 0.0)
    remasked = copy.deepcopy(pruned)
    for name, units in masked.items():
        mask_units(remasked, layers[name], units)
    inputs = scenes(6, 6).inputs
    with torch.no_grad():
        assert torch.equal(pruned(inputs), remasked(inputs))
    assert torch.equal(pruned.stem.weight, remasked.stem.weight)


def test_tracing_leaves_a_model_run_by_another_thread_alone():
    """torch.fx patches torch.nn.Module for the whole process while it traces; other threads must not notice."""
    import threading

    import torchvision

    from xaidesk.repair.graph_trace import symbolic_trace

    torch.manual_seed(0)
    runner = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)).eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        want = runner(x)
    stop, failures, runs = threading.Event(), [], [0]

    def keep_running():
        while not stop.is_set():
            try:
                with torch.no_grad():
                    if not torch.equal(runner(x), want):
                        failures.append("a different output")
            except Exception as error:  # noqa: BLE001 - what the test looks for
                failures.append(type(error).__name__)
            runs[0] += 1

    other = threading.Thread(target=keep_running)
    other.start()
    traced = torchvision.models.resnet18()
    try:
        graphs = [symbolic_trace(traced) for _ in range(3)]
    finally:
        stop.set()
        other.join()
    assert runs[0] > 0 and not failures
    assert str(graphs[0].graph) == str(torch.fx.symbolic_trace(traced).graph)
