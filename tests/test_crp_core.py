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


def _naive_conditional(model, x, target, layer, channel):
    """One plain LRP pass whose relevance at ``layer`` is zeroed for every channel but ``channel``: a backward
    hook on the layer's output (the masking of CRP written out, independent of the shared batched pass)."""
    from xaidesk.explain.lrp.cnn import lrp_attribution as plain

    def attach(module):
        def on_output(_module, _inputs, output):
            mask = torch.zeros_like(output)
            mask[:, channel] = 1.0
            output.register_hook(lambda grad: grad * mask)

        return [module.get_submodule(layer).register_forward_hook(on_output)]

    from xaidesk.explain.lrp import cnn

    original = cnn._propagate

    def with_mask(*args, **kwargs):
        kwargs["attach"] = attach
        return original(*args, **kwargs)

    cnn._propagate = with_mask
    try:
        _, relevance, _ = plain(model, x, target, _composite(model))
    finally:
        cnn._propagate = original
    return relevance[0]


def test_the_shared_pass_equals_a_naive_masked_lrp_pass_per_channel():
    model = _model()
    x = torch.rand(1, 3, 12, 12)
    result = conditional_relevance(model, x, 2, _composite(model), "2", [4, 0, 3])
    for k, channel in enumerate((4, 0, 3)):
        naive = _naive_conditional(model, x, 2, "2", channel)
        assert torch.allclose(result.heatmaps[k], naive, atol=1e-7), channel
    top = conditional_relevance(model, x, 2, _composite(model), "2", top=2)
    assert list(top.channels) == [c for c, _ in top.top(2)]


class _Residual(torch.nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(width, width, 3, padding=1)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x):
        return self.relu(x + self.conv2(self.relu(self.conv1(x))))


def test_a_residual_block_is_a_concept_layer_and_its_concepts_add_up_to_the_heatmap():
    from xaidesk.explain.lrp.composites import choose_canonizers
    from xaidesk.explain.lrp.concepts import concept_layers, default_layer

    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), _Residual(4), _Residual(4),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3))
    model = loaded(net, 10)
    layers = concept_layers(model)
    assert [(c.name, c.kind, c.channels) for c in layers] == [("0", "convolution", 4), ("2", "block", 4),
                                                             ("3", "block", 4)]
    assert default_layer(layers) == "3"
    x = torch.rand(1, 3, 10, 10)
    composite = lambda: build_composite("epsilon_plus_flat", {"epsilon": 1e-6}, model,  # noqa: E731
                                        choose_canonizers("unknown", net))
    _, full, _ = lrp_attribution(model, x, 0, composite())
    every = conditional_relevance(model, x, 0, composite(), "2", range(4))
    assert torch.allclose(every.heatmaps.sum(0), full[0], atol=1e-6 * float(full.abs().max()) + 1e-9)


def test_peak_boxes_cover_the_cells_at_half_the_peak_and_survive_flat_maps():
    from xaidesk.explain.lrp.concept_records import peak_boxes

    maps = torch.zeros(1, 3, 4, 5)
    maps[0, 0, 1, 2], maps[0, 0, 2, 4] = 1.0, 0.6  # two cells above half the peak
    maps[0, 2] = -1.0  # all negative: the peak cell(s), the whole map here
    boxes = peak_boxes(maps)
    assert boxes[0, 0].tolist() == [1, 2, 3, 5]
    assert boxes[0, 1].tolist() == [0, 0, 4, 5]  # all zero: every cell is the peak
    assert boxes[0, 2].tolist() == [0, 0, 4, 5]
    assert peak_boxes(torch.full((1, 1, 2, 2), float("nan")))[0, 0].tolist() == [0, 0, 2, 2]


def test_a_vision_transformer_splits_its_lrp_for_transformers_into_the_concepts_of_a_block():
    """Token layers keep their channels last and the rules for transformers compute relevance as
    tensor × gradient; the concepts of a block still add up to the heatmap of LRP for transformers."""
    from test_attnlrp import input_image, tiny_vit
    from test_attnlrp import loaded as loaded_vit
    from xaidesk.concepts.image import explain_concepts, lrp_method
    from xaidesk.explain.lrp.attention import attnlrp_attribution
    from xaidesk.explain.lrp.concept_records import record_concepts
    from xaidesk.explain.lrp.concepts import attribution_graph, concept_layers, default_layer

    model, x = loaded_vit(tiny_vit()), input_image()
    layers = concept_layers(model)
    assert [c.kind for c in layers] == ["convolution", "block", "block"] and lrp_method(None, model) == "lrp.attention"
    params = {"epsilon": 1e-6, "gamma_conv": 0.25, "gamma_linear": 0.05, "attention": "attnlrp"}
    layer = default_layer(layers)
    every = conditional_relevance(model, x, 1, dict(params), layer, range(layers[-1].channels))
    _, full, _ = attnlrp_attribution(model, x, 1, params)
    assert torch.allclose(every.heatmaps.sum(0), full[0], atol=1e-6 * float(full.abs().max()))
    top = conditional_relevance(model, x, 1, dict(params), layer, top=3)
    assert torch.allclose(top.heatmaps, every.heatmaps[list(top.channels)], atol=1e-9)
    graphs = attribution_graph(model, x, 1, dict(params), layer, list(top.channels), layers[-2].name)
    assert len(graphs) == 3 and all(g.relevance.shape == (layers[-2].channels,) for g in graphs)
    records = record_concepts(model, torch.cat([x, input_image(2)]), [1, 1], dict(params), layer)
    assert torch.allclose(records.relevance[0].double(), every.channel_relevance, atol=1e-6)
    pixels = (torch.rand(40, 40, 3, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8).numpy()
    concepts = explain_concepts(model, pixels, top=2)
    assert concepts.method == "lrp.attention" and concepts.heatmap(0).shape == (40, 40)
