"""Pruning by explaining: unit scores, the choice of units, physical removal and masking, the CLI."""

from __future__ import annotations

import copy

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
