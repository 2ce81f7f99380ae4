"""Pruning by explaining: unit scores, the choice of units, physical removal and masking, the CLI."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

import helpers
from xaidesk.core import InputError, MethodError, ModelError
from xaidesk.models import load_model
from xaidesk.repair import prune as prune_module
from xaidesk.repair.data import ImageSet
from xaidesk.repair.prune import prune, pruning_curve, select_units
from xaidesk.repair.prune_scores import reference_samples, unit_scores
from xaidesk.repair.prune_surgery import apply_pruning, parameter_count, prunable_layers
from xaidesk.repair.result import write_repair_outputs
from xaidesk.repair.training import TrainingSettings, accuracy

SIZE = 16


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr(prune_module, "TIMING_REPEATS", 2)
    yield
    torch.set_num_threads(threads)


def scenes(n: int, seed: int) -> ImageSet:
    """Noise with a 4x4 patch whose colour is the class (red: 1, green: 0) and a blue patch in every image."""
    g = torch.Generator().manual_seed(seed)
    x = 0.5 * torch.randn(n, 3, SIZE, SIZE, generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    for i in range(n):
        r, c = torch.randint(0, SIZE - 4, (2,), generator=g).tolist()
        colour = torch.tensor([2.0, -1.0, -1.0]) if y[i] == 1 else torch.tensor([-1.0, 2.0, -1.0])
        x[i, :, r:r + 4, c:c + 4] += colour[:, None, None]
        r, c = torch.randint(0, SIZE - 4, (2,), generator=g).tolist()
        x[i, 2, r:r + 4, c:c + 4] += 2.5
    return ImageSet(x, y, [])


def small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(12 * 16, 12), nn.ReLU(), nn.Linear(12, 2))


@pytest.fixture(scope="module")
def trained():
    """A small CNN trained on the coloured patches (seeded), its training images and held-out images."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    net, train, test = small_cnn(), scenes(256, 0), scenes(200, 1)
    optimiser = torch.optim.Adam(net.parameters(), 1e-2)
    for step in range(80):
        index = torch.randint(0, len(train), (32,), generator=torch.Generator().manual_seed(step))
        net.train()
        loss = nn.functional.cross_entropy(net(train.inputs[index]), train.labels[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    net.eval().requires_grad_(False)
    torch.set_num_threads(threads)
    model = helpers.loaded(net, SIZE)
    assert accuracy(net, test) > 0.95
    return model, train, test


def test_batched_relevance_equals_the_per_sample_loop(trained):
    model, train, _ = trained
    samples = reference_samples(train, 6)
    for criterion in ("relevance", "taylor"):
        batched = unit_scores(model, samples, criterion)
        naive = unit_scores(model, samples, criterion, batched=False)
        assert set(batched) == {"0", "4", "9"}  # the output layer "11" is never pruned
        for name in batched:
            np.testing.assert_allclose(batched[name], naive[name], rtol=1e-4, atol=1e-5)
            assert np.mean(np.abs(batched[name])) == pytest.approx(1.0)  # normalised per layer


def test_relevance_at_the_units_is_the_lrp_relevance(trained):
    """At the hidden dense layer's outputs, LRP's epsilon rule on the output layer gives R_j = a_j w_kj for the
    explained class k (up to the tiny stabiliser): the captured relevance must be that, normalised per sample."""
    from xaidesk.repair.prune_scores import _lrp_context, _relevance_batch

    model, train, _ = trained
    samples = reference_samples(train, 3)
    layers = prunable_layers(model.module, (1, 3, SIZE, SIZE))
    raw = _relevance_batch(model, layers, samples.inputs, samples.labels, _lrp_context(model), None)
    assert all(np.allclose(np.abs(values).sum(1), 1.0) for values in raw.values())
    with torch.no_grad():
        hidden = torch.relu(model.module[:10](samples.inputs)).double()
    expected = hidden * model.module[11].weight.double()[samples.labels]
    expected = (expected / expected.abs().sum(1, keepdim=True)).numpy()
    np.testing.assert_allclose(raw["9"], expected, rtol=1e-4, atol=1e-6)


def test_relevance_pruning_keeps_more_accuracy_than_random(trained):
    model, train, test = trained
    samples = reference_samples(train, 10)
    layers = prunable_layers(model.module, (1, 3, SIZE, SIZE))
    count = int(round(0.5 * sum(layer.units for layer in layers)))

    def pruned_accuracy(criterion, seed=0):
        net = copy.deepcopy(model.module)
        apply_pruning(net, layers, select_units(unit_scores(model, samples, criterion, seed=seed, layers=layers), count))
        return accuracy(net, test)

    relevance = pruned_accuracy("relevance")
    random = [pruned_accuracy("random", seed) for seed in range(10)]
    assert relevance >= 0.95
    assert relevance > np.mean(random) + 0.05, (relevance, random)


def test_physical_removal_equals_masking_and_keeps_a_unit_per_layer(trained):
    model, train, test = trained
    layers = prunable_layers(model.module, (1, 3, SIZE, SIZE))
    assert all(layer.physical for layer in layers)
    assert [layer.inputs_per_unit for layer in layers] == [1, 16, 1]  # the flatten: 4x4 inputs per channel
    scores = unit_scores(model, test, "magnitude", layers=layers)
    plan = select_units(scores, 15)
    assert sum(len(v) for v in plan.values()) == 15 and all(len(plan[l.name]) < l.units for l in layers)
    removed, masked = copy.deepcopy(model.module), copy.deepcopy(model.module)
    apply_pruning(removed, layers, plan)
    apply_pruning(masked, layers, plan, physical=False)
    assert removed[0].out_channels == 6 - len(plan["0"]) and removed[9].in_features == removed[4].out_channels * 16
    assert parameter_count(removed) < parameter_count(masked) == parameter_count(model.module)
    with torch.no_grad():
        torch.testing.assert_close(removed(test.inputs), masked(test.inputs), rtol=1e-5, atol=1e-5)
    everything = select_units(scores, 1000)
    assert [len(everything[l.name]) for l in layers] == [l.units - 1 for l in layers]


def test_pruned_demo_model_round_trips_through_its_file(tmp_path):
    from xaidesk.repair.data import generated_clever_hans_set

    model = load_model("demo:clever_hans")
    images = generated_clever_hans_set(model, 24, 0)
    result = prune(model, images, images, criterion="magnitude", share=0.3)
    assert result.method == "prune" and result.edits[0]["kind"] == "prune"
    assert result.comparison("parameters").after < result.comparison("parameters").before
    assert result.edits[0]["physically_removed"] == ["0", "4", "8", "12", "17"]
    assert model.module[0].out_channels == 16  # the original is untouched
    write_repair_outputs(result, tmp_path / "out")
    reopened = load_model(f"file:{tmp_path / 'out' / 'model.safetensors'}")
    assert parameter_count(reopened.module) == parameter_count(result.model.module)
    with torch.no_grad():
        torch.testing.assert_close(reopened.module(images.inputs), result.model.module(images.inputs))
    assert "Pruned" in reopened.notes[0]


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


def test_refusals_are_plain(trained):
    model, train, test = trained
    with pytest.raises(InputError, match="between 0 and 0.95"):
        prune(model, train, test, share=1.0)
    with pytest.raises(InputError, match="criterion"):
        prune(model, train, test, criterion="size")
    with pytest.raises(InputError, match="training images"):
        prune(model, train, test, settings=TrainingSettings(epochs=1))
    broken = copy.deepcopy(model.module)
    broken[4].weight.data[3] = float("nan")
    with pytest.raises(MethodError, match="not finite"):
        prune(helpers.loaded(broken, SIZE), train, test, criterion="magnitude")
    for net in (nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), nn.Sequential(nn.Flatten(), nn.Linear(768, 2))):
        with pytest.raises(ModelError, match="no convolution or hidden dense layer"):
            prune(helpers.loaded(net.eval(), SIZE), train, test)
        with pytest.raises(ModelError, match="no convolution or hidden dense layer"):
            unit_scores(helpers.loaded(net.eval(), SIZE), train, "magnitude")
    with pytest.raises(InputError, match="known classes"):
        unit_scores(model, ImageSet(test.inputs[:2], torch.tensor([0, -1]), []), "relevance")
    assert model.module[0].out_channels == 6


def test_curve_and_cli_write_their_files(tmp_path, trained):
    model, train, test = trained
    table, picture = pruning_curve(model, reference_samples(train, 5), test, shares=(0, 0.5),
                                   criteria=("magnitude", "random"))
    assert [row[:2] for row in table.rows] == [["magnitude", 0.0], ["magnitude", 0.5], ["random", 0.0], ["random", 0.5]]
    assert table.rows[0][2] == pytest.approx(accuracy(model.module, test)) and table.rows[1][3] < table.rows[0][3]
    assert picture.ndim == 3 and picture.dtype == np.uint8 and picture.std() > 0

    from xaidesk.cli import main
    from xaidesk.commands import prune as command
    from xaidesk.repair.prune_scores import CRITERIA

    assert command.CRITERIA == CRITERIA

    out = tmp_path / "pruned"
    assert main(["prune", "--demo-data", "30", "--per-class", "3", "--share", "0.2", "--criterion", "taylor",
                 "--curve", "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "report.json", "comparison.csv", "pruning_curve.csv", "pruning_curve.png"} <= names
    assert "accuracy_without_tag" in (out / "comparison.csv").read_text()
    assert main(["prune", "--demo-data", "30", "--share", "2", "--out", str(tmp_path / "x")]) != 0
    assert main(["prune", "--data", str(tmp_path / "missing"), "--model", "demo:clever_hans",
                 "--out", "/proc/xaidesk-results"]) == 1
    assert not (tmp_path / "x").exists()


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


def test_forward_time_is_the_fastest_of_interleaved_runs():
    import time

    class Sleeper(nn.Module):
        def __init__(self, delays):
            super().__init__()
            self.delays = list(delays)

        def forward(self, x):
            time.sleep(self.delays.pop(0))
            return x

    slow = Sleeper([0.0, 0.0, 0.03, 0.01, 0.03, 0.03])
    fast = Sleeper([0.0, 0.0, 0.002, 0.002, 0.02, 0.002])
    seconds = prune_module.forward_seconds([slow, fast], torch.zeros(1), repeats=4)
    assert 0.01 <= seconds[0] < 0.02 and 0.002 <= seconds[1] < 0.01


def test_compare_adds_the_criteria_curve(tmp_path, trained):
    model, train, test = trained
    samples = reference_samples(train, 4)
    result = prune(model, samples, test, criterion="relevance", share=0.25, compare=True)
    (table,) = result.tables
    assert table.name == "pruning_curve.csv"
    shares = sorted({*prune_module.COMPARE_SHARES, 0.25})
    assert [row[:2] for row in table.rows] == [[c, s] for c in ("relevance", "taylor", "magnitude", "random")
                                                for s in shares]
    assert table.rows[0][2] == pytest.approx(accuracy(model.module, test))
    relevance_at_share = next(row[2] for row in table.rows if row[:2] == ["relevance", 0.25])
    assert relevance_at_share == pytest.approx(result.comparison("accuracy").after)  # the same one-shot pruning
    assert result.images["pruning_curve.png"].std() > 0 and result.settings["compare_criteria"] is True
    assert "fastest of" in result.comparison("forward_ms").label
    write_repair_outputs(result, tmp_path / "out")
    assert {"pruning_curve.csv", "pruning_curve.png"} <= {p.name for p in (tmp_path / "out").iterdir()}


def test_cli_checkpoints_survive_a_cancel_and_resume(monkeypatch, tmp_path, capsys):
    from xaidesk.cli import main
    from xaidesk.commands.common import EXIT_CANCELLED

    real_prune = prune_module.prune

    def cancelling_prune(*args, token, progress, **kwargs):
        def cancel_when_training(fraction, message="", partial=None):
            progress(fraction, message, partial)
            if "Training" in str(message):
                token.cancel()
        return real_prune(*args, token=token, progress=cancel_when_training, **kwargs)

    out, checkpoints = tmp_path / "out", tmp_path / "checkpoints"
    command = ["prune", "--demo-data", "20", "--per-class", "2", "--share", "0.2", "--criterion", "magnitude",
               "--steps", "2", "--finetune-epochs", "1", "--checkpoints", str(checkpoints), "--out", str(out)]
    monkeypatch.setattr(prune_module, "prune", cancelling_prune)
    assert main(command) == EXIT_CANCELLED
    assert str(checkpoints) in capsys.readouterr().err and not out.exists()
    assert (checkpoints / "step-1" / "checkpoint.pt").is_file()
    monkeypatch.setattr(prune_module, "prune", real_prune)
    assert main(command) == 0
    assert (checkpoints / "step-2" / "checkpoint.pt").is_file() and (out / "model.safetensors").is_file()
    import json

    history = json.loads((out / "report.json").read_text())["provenance"]["training_history"]
    assert history[0]["resumed_from"] is not None and history[1]["resumed_from"] is None
    assert main(["prune", "--demo-data", "20", "--checkpoints", str(checkpoints), "--out", str(tmp_path / "y")]) != 0
