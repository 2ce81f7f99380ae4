"""Concept-conditional relevance: one batched pass equals per-channel passes, and the heatmaps add up."""

import torch

from helpers import loaded
from xaidesk.explain.lrp.cnn import build_composite, lrp_attribution
from xaidesk.explain.lrp.concepts import conditional_relevance


def _model():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(6, 5, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(5, 3),
    )
    return loaded(net, 12)


def _composite(model):
    return build_composite("epsilon_plus_flat", {"epsilon": 1e-6}, model)


def test_the_batched_pass_equals_one_pass_per_channel_and_all_channels_add_up_to_the_heatmap():
    model = _model()
    x = torch.rand(1, 3, 12, 12)
    result = conditional_relevance(model, x, 1, _composite(model), "2", range(5))
    for k in range(5):
        alone = conditional_relevance(model, x, 1, _composite(model), "2", [k])
        assert torch.allclose(alone.heatmaps[0], result.heatmaps[k], atol=1e-6)
    _, full, _ = lrp_attribution(model, x, 1, _composite(model))
    assert torch.allclose(result.heatmaps.sum(0), full[0], atol=1e-5)
    # each channel's heatmap adds up to its relevance at the layer, up to what the rules below absorb
    sums = result.heatmaps.flatten(1).sum(1).double()
    assert torch.allclose(sums + result.absorbed, result.channel_relevance, atol=1e-6)
    assert result.absorbed.abs().max() < 0.5 * result.channel_relevance.abs().max()
    assert abs(float(result.channel_relevance.sum()) - float(full.sum())) < 0.5 * abs(result.logit) + 1e-6


def test_an_unknown_layer_or_channel_is_refused_plainly():
    import pytest

    from xaidesk.core import InputError

    model = _model()
    x = torch.rand(1, 3, 12, 12)
    with pytest.raises(InputError, match="no layer"):
        conditional_relevance(model, x, 0, _composite(model), "nope", [0])
    with pytest.raises(InputError, match="has 5 channels"):
        conditional_relevance(model, x, 0, _composite(model), "2", [7])


def test_a_conditional_heatmap_equals_a_naive_computation_by_hand():
    """Flatten -> Linear(4, 5) -> ReLU -> Linear(5, 3) under ε-plus-flat: the last layer takes the ε rule,
    the first the flat rule, so channel c of the hidden layer gets R_c and hands R_c / 4 to every pixel."""
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    model = loaded(net, 2, channels=1)
    x = torch.rand(1, 1, 2, 2)
    result = conditional_relevance(model, x, 2, build_composite("epsilon_plus_flat", {"epsilon": 1e-6}, model),
                                   "1", [0, 3])
    with torch.no_grad():
        a = torch.relu(net[1](x.flatten(1)))[0].double()
        w, b = net[3].weight.double(), net[3].bias.double()
        z = a @ w.T + b
        out = torch.zeros(3, dtype=torch.double)
        out[2] = z[2]
        hidden = a * (w.T @ (out / (z + 1e-6 * torch.sign(z))))
    assert torch.allclose(result.channel_relevance, hidden, atol=1e-6)
    for k, c in enumerate((0, 3)):
        expected = torch.full((1, 2, 2), float(hidden[c]) / 4, dtype=torch.double)
        assert torch.allclose(result.heatmaps[k].double(), expected, atol=1e-6)
