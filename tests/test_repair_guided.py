"""Explanation-guided fine-tuning: the RRR penalty, Sun et al.'s LRP-weighted features, training and the command."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import helpers
from PIL import Image
from xaidesk.data.scenes import CH_CLASSES, MARK_BOX, make_clever_hans_set
from xaidesk.core import CancelToken, Cancelled, InputError, ModelError
from xaidesk.repair.data import ImageSet
from xaidesk.repair.guided import feature_layers, rrr_finetune, sun_finetune
from xaidesk.repair.guided_losses import (AUTO_FACTOR, calibrated_weight, epsilon_lrp, head_after, lrp_weights, rrr_loss, rrr_penalty,
                                          start_relevance, sun_loss)
from xaidesk.repair.training import BatchContext, TrainingSettings, accuracy, cross_entropy_loss, finetune

SIDE = 16
CORNER = np.zeros((SIDE, SIDE), np.float32)
CORNER[0:4, 0:4] = 1.0


def tiny_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, 2))


def scenes(n: int, seed: int, artefact: bool) -> ImageSet:
    """Class 0: a vertical bar, class 1: a horizontal bar, in noise; with ``artefact`` class 0 also has a corner square."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    x = rng.normal(0, 0.6, (n, 3, SIDE, SIDE)).astype(np.float32)
    for i, position in enumerate(rng.integers(6, 13, n)):
        if labels[i] == 0:
            x[i, :, 6:14, position] += 1.5
        else:
            x[i, :, position, 6:14] += 1.5
    if artefact:
        x[labels == 0, :, 0:4, 0:4] = 2.0
    return ImageSet(torch.from_numpy(x), torch.from_numpy(labels), [])


@pytest.fixture(scope="module")
def shortcut():
    """A tiny network trained where the corner square gives class 0 away: it learns the square, not the bars."""
    net = tiny_net()
    train = scenes(400, 0, artefact=True)
    finetune(net, train, cross_entropy_loss, TrainingSettings(epochs=5, learning_rate=3e-3))
    return helpers.loaded(net, SIDE), train, scenes(200, 1, artefact=False), scenes(200, 1, artefact=True).of_class(0)


# --- RRR penalty ---------------------------------------------------------------------------------------------------

def _summed_log_probabilities(net, x):
    return F.log_softmax(net(x), dim=1).sum()


def test_rrr_penalty_matches_per_image_gradients_and_finite_differences():
    net = tiny_net(3).double().eval()
    x = torch.randn(4, 3, SIDE, SIDE, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mask = torch.from_numpy(CORNER).double()[None, None]
    logits, penalty = rrr_penalty(net, x, mask)
    penalty = penalty.detach()
    assert torch.allclose(logits, net(x))
    for i in range(4):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(_summed_log_probabilities(net, xi), xi)
        assert float(penalty[i]) == pytest.approx(float((gradient ** 2 * mask).sum()), rel=1e-10)
    # the masked gradient of image 0 by central differences, pixel by pixel and channel by channel
    step, squares = 1e-6, 0.0
    for c in range(3):
        for r in range(4):
            for col in range(4):
                up, down = x[:1].clone(), x[:1].clone()
                up[0, c, r, col] += step
                down[0, c, r, col] -= step
                with torch.no_grad():
                    slope = (_summed_log_probabilities(net, up) - _summed_log_probabilities(net, down)) / (2 * step)
                squares += float(slope) ** 2
    assert float(penalty[0]) == pytest.approx(squares, rel=1e-5)
    assert float(penalty[0]) > 0


def test_rrr_loss_is_cross_entropy_plus_weighted_penalty_and_trains_the_penalty():
    net = tiny_net(4).double().eval()
    x = torch.randn(6, 3, SIDE, SIDE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    value, parts = rrr_loss(CORNER, 7.5)(net, x, y, BatchContext(0, 0, torch.Generator()))
    _, penalty = rrr_penalty(net, x, torch.from_numpy(CORNER).double()[None, None])
    penalty, ce, value = penalty.detach(), F.cross_entropy(net(x), y).detach(), value.detach()
    assert float(parts["cross_entropy"]) == pytest.approx(float(ce), rel=1e-10)
    assert float(parts["penalty"]) == pytest.approx(float(penalty.mean()), rel=1e-10)
    assert float(value) == pytest.approx(float(ce + 7.5 * penalty.mean()), rel=1e-10)
    auto = calibrated_weight(net, x, y, CORNER, classes=2)  # the penalty term starts at 10 x log(2)
    assert auto * float(penalty.mean()) == pytest.approx(AUTO_FACTOR * np.log(2), rel=1e-6)
    # double backpropagation: d(penalty)/d(weight) agrees with a finite difference in that weight
    weight = net[4].weight
    (analytic,) = torch.autograd.grad(rrr_penalty(net, x, torch.from_numpy(CORNER).double()[None, None])[1].mean(),
                                      weight)
    index = tuple(int(i) for i in torch.nonzero(analytic.abs() == analytic.abs().max())[0])
    step = 1e-6
    with torch.no_grad():
        weight[index] += step
    plus = float(rrr_penalty(net, x, torch.from_numpy(CORNER).double()[None, None])[1].mean().detach())
    with torch.no_grad():
        weight[index] -= 2 * step
    minus = float(rrr_penalty(net, x, torch.from_numpy(CORNER).double()[None, None])[1].mean().detach())
    assert float(analytic[index]) == pytest.approx((plus - minus) / (2 * step), rel=1e-4)
    assert float(analytic[index]) != 0.0


# --- Sun et al.: LRP through the head --------------------------------------------------------------------------------

def _naive_epsilon(layers, features, relevance_out, epsilon):
    """LRP-epsilon by explicit loops over neurons, in float64 numpy."""
    activations = [features.double().numpy()]
    for layer in layers:
        a = activations[-1]
        if isinstance(layer, nn.Linear):
            w, b = layer.weight.double().detach().numpy(), layer.bias.double().detach().numpy()
            activations.append(a @ w.T + b)
        else:
            activations.append(np.maximum(a, 0))
    relevance = relevance_out.double().numpy()
    for layer, a in zip(reversed(layers), reversed(activations[:-1])):
        if not isinstance(layer, nn.Linear):
            continue
        w, b = layer.weight.double().detach().numpy(), layer.bias.double().detach().numpy()
        new = np.zeros_like(a)
        for n in range(a.shape[0]):
            for k in range(w.shape[0]):
                z = sum(a[n, j] * w[k, j] for j in range(w.shape[1])) + b[k]
                z = z + epsilon * (1.0 if z >= 0 else -1.0)
                for j in range(w.shape[1]):
                    new[n, j] += a[n, j] * w[k, j] * relevance[n, k] / z
        relevance = new
    return relevance


def _zennit_epsilon(head, features, relevance_out, epsilon):
    from zennit.attribution import Gradient
    from zennit.composites import LayerMapComposite
    from zennit.rules import Epsilon, Pass

    composite = LayerMapComposite(layer_map=[(nn.ReLU, Pass()), (nn.Linear, Epsilon(epsilon=epsilon))])
    x = features.double().clone().requires_grad_(True)
    with torch.enable_grad(), Gradient(model=head, composite=composite) as attributor:
        _, relevance = attributor(x, relevance_out.double())
    return relevance.detach().numpy()


def test_head_lrp_matches_a_naive_loop_and_zennit():
    torch.manual_seed(5)
    head = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).double().eval()
    features = torch.relu(torch.randn(4, 6, dtype=torch.float64))
    logits = head(features).detach()
    labels = torch.tensor([0, 2, 1, 2])
    for explain in ("softmax", "label"):
        start = start_relevance(logits, labels, explain)
        ours = epsilon_lrp(list(head), features, lambda p: start_relevance(p, labels, explain), epsilon=0.01).numpy()
        assert np.allclose(ours, _naive_epsilon(list(head), features, start, 0.01), atol=1e-10)
        assert np.allclose(ours, _zennit_epsilon(head, features, start, 0.01), atol=1e-8)
    softmax_start = start_relevance(logits, labels, "softmax")
    assert torch.allclose(softmax_start, torch.softmax(logits, 1) * logits)
    label_start = start_relevance(logits, labels, "label")
    assert torch.allclose(label_start.sum(1), logits.gather(1, labels[:, None])[:, 0])
    assert int((label_start != 0).sum()) == 4


def test_sun_weights_and_loss_are_what_the_formula_says():
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    torch.manual_seed(2)
    x, y = torch.randn(5, 3, 2, 2), torch.tensor([0, 1, 2, 1, 0])
    head = head_after(net, "3")
    assert [type(m) for m in head.layers] == [nn.Linear, nn.ReLU, nn.Linear]
    features = torch.relu(net[2](net[1](net[0](x)))).detach()
    weights = lrp_weights(head, features, y)
    relevance = epsilon_lrp(head.layers, features, lambda p: start_relevance(p, y, "softmax"), 1e-6)
    assert torch.allclose(weights, 1 + relevance / relevance.abs().amax(1, keepdim=True), atol=1e-6)
    assert torch.allclose((weights - 1).abs().amax(1), torch.ones(5), atol=1e-6)
    assert not weights.requires_grad
    value, parts = sun_loss(head, xi=0.5, lam=2.0)(net, x, y, BatchContext(0, 0, torch.Generator()))
    ce = F.cross_entropy(net(x), y).detach()
    ce_lrp = F.cross_entropy(net[5](torch.relu(net[3](weights * features))), y).detach()
    value = value.detach()
    assert float(parts["cross_entropy"]) == pytest.approx(float(ce), rel=1e-6)
    assert float(parts["cross_entropy_lrp"]) == pytest.approx(float(ce_lrp), rel=1e-6)
    assert float(value) == pytest.approx(float(0.5 * ce + 2.0 * ce_lrp), rel=1e-6)
    assert feature_layers(helpers.loaded(net, (2, 2), classes=3)) == ["1", "3", "5"]


# --- Training on a planted shortcut ------------------------------------------------------------------------------------

def test_rrr_unlearns_a_planted_corner_shortcut(shortcut):
    model, train, free, carrying = shortcut
    assert accuracy(model.module, train) > 0.95 and accuracy(model.module, free) < 0.7  # it learned the shortcut
    settings = TrainingSettings(epochs=8, learning_rate=3e-3, seed=0)
    original = {k: v.clone() for k, v in model.module.state_dict().items()}
    result = rrr_finetune(model, train, CORNER, weight=1000.0, settings=settings, held_out=free,
                          share_images=carrying)
    plain = helpers.loaded(tiny_net(), SIDE)
    plain.module.load_state_dict(original)
    finetune(plain.module, train, cross_entropy_loss, settings)
    acc, share = result.comparison("accuracy_held_out"), result.comparison("relevance_share_region")
    assert acc.after > acc.before + 0.2 and acc.after > accuracy(plain.module, free) + 0.15
    assert share.after < share.before - 0.2
    assert all(torch.equal(v, model.module.state_dict()[k]) for k, v in original.items())  # the original is untouched
    assert result.method == "rrr" and result.edits[0]["kind"] == "finetune" and result.settings["weight_value"] == 1000
    history = result.tables[0]
    assert history.name == "training_history.csv" and len(history.rows) == 8 and "penalty" in history.header


def test_sun_trains_and_reports_without_a_region(shortcut):
    model, train, free, _ = shortcut
    original = {k: v.clone() for k, v in model.module.state_dict().items()}
    result = sun_finetune(model, train.subset(range(128)), settings=TrainingSettings(epochs=1, learning_rate=1e-3),
                          held_out=free)
    assert all(torch.equal(v, model.module.state_dict()[k]) for k, v in original.items())  # the original is untouched
    assert [c.name for c in result.comparisons] == ["accuracy_held_out"] and result.images == {}
    assert result.settings["feature_layer"] == "6" and result.edits[0]["method"] == "sun"
    assert {"cross_entropy", "cross_entropy_lrp"} <= set(result.tables[0].header)
    assert any(not torch.equal(a, b) for a, b in zip(result.model.module.parameters(), model.module.parameters()))
    with_region = sun_finetune(model, train.subset(range(64)), settings=TrainingSettings(epochs=1), mask=CORNER,
                               feature_layer="4", share_images=free.subset(range(16)))
    assert np.isfinite(with_region.comparison("relevance_share_region").before)
    picture = with_region.images["before_after.png"]
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[1] > picture.shape[0]
    assert all(torch.equal(v, model.module.state_dict()[k]) for k, v in original.items())


def test_training_resumes_from_a_checkpoint_to_the_same_weights(shortcut, tmp_path):
    model, train, free, _ = shortcut
    train = train.subset(range(96))
    settings = TrainingSettings(epochs=2, batch_size=16, learning_rate=1e-3, seed=3, checkpoint_every=2)
    whole = rrr_finetune(model, train, CORNER, weight=50.0, settings=settings)
    token = CancelToken()

    def cancel_midway(fraction, message="", partial=None):
        if 0.4 < fraction < 0.9:
            token.cancel()

    with pytest.raises(Cancelled):
        rrr_finetune(model, train, CORNER, weight=50.0, settings=settings, checkpoint_dir=tmp_path, token=token,
                     progress=cancel_midway)
    assert (tmp_path / "checkpoint.pt").is_file()
    resumed = rrr_finetune(model, train, CORNER, weight=50.0, settings=settings, checkpoint_dir=tmp_path)
    assert resumed.provenance["resumed_from"] is not None
    for a, b in zip(whole.model.module.state_dict().values(), resumed.model.module.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)
    assert np.allclose(np.array(whole.tables[0].rows), np.array(resumed.tables[0].rows), rtol=1e-5)
    with pytest.raises(InputError, match="another training run"):
        rrr_finetune(model, train, CORNER, weight=60.0, settings=settings, checkpoint_dir=tmp_path)


# --- Refusals and the command ----------------------------------------------------------------------------------------

def test_refusals_are_plain(shortcut):
    model, train, free, _ = shortcut
    small = train.subset(range(8))
    settings = TrainingSettings(epochs=1)
    refuse = partial(pytest.raises, InputError)
    with refuse(match="empty"):
        rrr_finetune(model, small, np.zeros((SIDE, SIDE)), settings=settings)
    with refuse(match="model's inputs are 16x16"):
        rrr_finetune(model, small, np.ones((8, 8)), settings=settings)
    with refuse(match="finite"):
        rrr_finetune(model, small, CORNER, weight=float("nan"), settings=settings)
    with refuse(match="number or 'auto'"):
        rrr_finetune(model, small, CORNER, weight="strong", settings=settings)
    with refuse(match=r"non-negative number or 'auto' \(not '-1'\)"):
        rrr_finetune(model, small, CORNER, weight="-1", settings=settings)
    with refuse(match="learning rate"):
        rrr_finetune(model, small, CORNER, settings=TrainingSettings(learning_rate=float("inf")))
    with refuse(match="finite"):
        sun_finetune(model, small, lam=float("inf"), settings=settings)
    with refuse(match="both 0"):
        sun_finetune(model, small, xi=0.0, lam=0.0, settings=settings)
    with refuse(match="choose one of: 4, 6"):
        sun_finetune(model, small, feature_layer="0", settings=settings)
    convolutional = helpers.loaded(nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), SIDE)
    with pytest.raises(ModelError, match="no Linear classifier head"):
        sun_finetune(convolutional, small, settings=settings)
    squashed = helpers.loaded(nn.Sequential(nn.Flatten(), nn.Linear(3 * SIDE * SIDE, 2), nn.Softmax(1)), SIDE)
    assert feature_layers(squashed) == []


def test_the_command_writes_its_files_resumes_and_refuses(tmp_path):
    from xaidesk.cli import main
    from xaidesk.models import load_model

    out = tmp_path / "out"
    code = main(["finetune", "--model", "demo:clever_hans", "--method", "sun", "--demo-data", "20", "--epochs", "1",
                 "--batch-size", "20", "--out", str(out), "--checkpoints", str(tmp_path / "ck")])
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "report.json", "comparison.csv",
                                               "training_history.csv", "before_after.png"}
    assert main(["finetune", "--model", "demo:clever_hans", "--method", "sun", "--demo-data", "20", "--epochs", "1",
                 "--out", str(out)]) == 1  # a folder that holds a model is refused before any training
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "sun" and report["edits"][0]["kind"] == "finetune"
    assert {c["name"] for c in report["comparisons"]} == {"accuracy_held_out", "relevance_share_region",
                                                          "accuracy_held_out_tagged"}
    trained = load_model(f"file:{out / 'model.safetensors'}")
    assert trained.class_names == ["horse", "other"]
    again = tmp_path / "again"  # the same checkpoints: the finished run is resumed, not trained anew
    assert main(["finetune", "--model", "demo:clever_hans", "--method", "sun", "--demo-data", "20", "--epochs", "1",
                 "--batch-size", "20", "--out", str(again), "--checkpoints", str(tmp_path / "ck")]) == 0
    assert json.loads((again / "report.json").read_text())["provenance"]["resumed_from"] == [1, 0]
    reopened = load_model(f"file:{again / 'model.safetensors'}")
    for a, b in zip(trained.module.state_dict().values(), reopened.module.state_dict().values()):
        assert torch.equal(a, b)
    assert main(["finetune", "--model", "demo:clever_hans", "--method", "rrr", "--data", str(tmp_path / "none"),
                 "--out", str(tmp_path / "o2")]) == 1
    folder = tmp_path / "labelled"
    images, labels, _ = make_clever_hans_set(16, 0)
    for i, (pixels, label) in enumerate(zip(images, labels)):
        (folder / CH_CLASSES[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / CH_CLASSES[label] / f"{i}.png")
    from_folder = tmp_path / "from_folder"
    assert main(["finetune", "--model", "demo:clever_hans", "--method", "rrr", "--data", str(folder), "--region",
                 ",".join(str(v) for v in MARK_BOX), "--epochs", "1", "--weight", "20", "--held-out", "0.25",
                 "--out", str(from_folder)]) == 0
    assert (from_folder / "before_after.png").is_file()
    report = json.loads((from_folder / "report.json").read_text())
    assert report["settings"]["weight_value"] == 20 and report["provenance"]["held_out_images"] == 4
    assert report["provenance"]["region_pixels"] == MARK_BOX[2] * MARK_BOX[3]
    assert main(["finetune", "--model", "demo:clever_hans", "--method", "rrr", "--data", str(folder),
                 "--out", str(tmp_path / "no_region")]) == 1
    assert main(["finetune", "--model", "demo:clever_hans", "--method", "rrr", "--demo-data", "40",
                 "--region", "1,2,3", "--out", str(tmp_path / "o3")]) == 1


def test_the_command_help_says_the_region_is_in_model_input_pixels(capsys):
    from xaidesk.cli import main

    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "in model-input pixels" in text and "defaults to the tag box" in text
