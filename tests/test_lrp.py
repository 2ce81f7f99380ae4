"""LRP through zennit: conservation, rules against a naive implementation, model left untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from zennit.composites import LayerMapComposite
from zennit.rules import AlphaBeta, Epsilon
from zennit.types import Linear as AnyLinear

from xaidesk.core import CancelToken, Cancelled, MethodError
from xaidesk.explain import explain_image
from xaidesk.explain.lrp import cnn as lrp
from xaidesk.models.inference import as_logits

from helpers import loaded, run


def snapshot(net: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def assert_untouched(net: nn.Module, before: dict, x: torch.Tensor, out_before: torch.Tensor) -> None:
    after = net.state_dict()
    assert set(after) == set(before)
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    for name, module in net.named_modules():
        assert not module._forward_hooks, name
        assert not module._forward_pre_hooks, name
        assert not module._backward_hooks, name
        assert "forward" not in module.__dict__, name
    with torch.no_grad():
        assert torch.equal(net(x), out_before)


def bias_free_mlp(c=3, h=4, w=4, classes=5):
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(c * h * w, 24, bias=False), nn.ReLU(),
        nn.Linear(24, 16, bias=False), nn.ReLU(), nn.Linear(16, classes, bias=False),
    )


def bias_free_cnn(classes=4):
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 12, bias=False), nn.ReLU(), nn.Linear(12, classes, bias=False),
    )


# --- conservation -------------------------------------------------------------------------------


@pytest.mark.parametrize("name, params", [
    ("lrp.epsilon_plus_flat", {"epsilon": 1e-9}),
    ("lrp.custom", {"epsilon": 1e-9, "first_rule": "zbox", "top_rule": "epsilon"}),
    ("lrp.custom", {"first_rule": "wsquare", "top_rule": "zero"}),
    ("lrp.custom", {"first_rule": "flat", "top_rule": "zero", "gamma": 0.5}),
])
def test_bias_free_relu_mlp_conserves_the_logit(name, params):
    model = loaded(bias_free_mlp(), (4, 4), mean=0.5, std=0.25)
    x = torch.rand(1, 3, 4, 4) * 4 - 2
    with torch.no_grad():
        logits = model.module(x)
    for target in range(5):
        result = run(name, model, x, target, **params)
        logit = float(logits[0, target])
        assert result.relevance.shape == (4, 4)
        assert result.extras["logit"] == pytest.approx(logit, rel=1e-6)
        assert float(result.relevance.sum()) == pytest.approx(logit, rel=1e-4, abs=1e-6)
        assert result.extras["relevance_sum"] == pytest.approx(logit, rel=1e-4, abs=1e-6)
        if abs(logit) > 1e-3:
            assert result.extras["conservation"] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("name", ["lrp.epsilon_plus_flat", "lrp.epsilon_gamma_box", "lrp.custom"])
def test_bias_free_conv_net_conserves_the_logit(name):
    model = loaded(bias_free_cnn(), (8, 8), mean=0.5, std=0.25)
    x = torch.rand(1, 3, 8, 8) * 4 - 2
    with torch.no_grad():
        logits = model.module(x)
    target = int(logits.argmax())
    result = run(name, model, x, target, epsilon=1e-9)
    assert float(result.relevance.sum()) == pytest.approx(float(logits[0, target]), rel=1e-4)
    assert result.extras["conservation"] == pytest.approx(1.0, abs=1e-4)


def test_relevance_with_biases_is_not_conserved_and_reported():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        for p in net.parameters():
            if p.ndim == 1:
                p.fill_(0.7)
    model = loaded(net, (2, 2))
    x = torch.rand(1, 3, 2, 2)
    result = run("lrp.epsilon_plus_flat", model, x, 0)
    assert result.extras["conservation"] == pytest.approx(result.extras["relevance_sum"] / result.extras["logit"])
    assert abs(result.extras["conservation"] - 1.0) > 1e-3


# --- rules against a naive implementation ---------------------------------------------------------


def dense_from_conv(conv: nn.Conv2d, in_shape):
    """The conv as a dense matrix W (K x J), bias b (K) and connectivity mask, by explicit loops."""
    c_in, h, w = in_shape
    weight = conv.weight.detach().numpy().astype(np.float64)
    bias = conv.bias.detach().numpy().astype(np.float64) if conv.bias is not None else np.zeros(weight.shape[0])
    (sy, sx), (py, px) = conv.stride, conv.padding
    c_out, _, kh, kw = weight.shape
    oh, ow = (h + 2 * py - kh) // sy + 1, (w + 2 * px - kw) // sx + 1
    W = np.zeros((c_out * oh * ow, c_in * h * w))
    M = np.zeros_like(W)
    b = np.zeros(c_out * oh * ow)
    for o in range(c_out):
        for oy in range(oh):
            for ox in range(ow):
                k = (o * oh + oy) * ow + ox
                b[k] = bias[o]
                for c in range(c_in):
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = oy * sy - py + ky, ox * sx - px + kx
                            if 0 <= iy < h and 0 <= ix < w:
                                j = (c * h + iy) * w + ix
                                W[k, j] = weight[o, c, ky, kx]
                                M[k, j] = 1.0
    return W, b, M


def naive_rule(rule, a, W, b, M, R_out, *, eps=0.0, gamma=0.25, low=None, high=None):
    """R_j for one layer z = W a + b, written directly from the formulas in docs/methods.md."""
    pos, neg = np.maximum, np.minimum
    z = W @ a + b
    if rule in ("epsilon", "zero"):
        den = z + eps * np.where(z >= 0, 1.0, -1.0)
        return (a[None, :] * W / den[:, None] * R_out[:, None]).sum(0)
    if rule == "gamma":
        Wg, bg = W + gamma * pos(W, 0), b + gamma * pos(b, 0)
        num = a[None, :] * Wg
        return (num / (num.sum(1) + bg)[:, None] * R_out[:, None]).sum(0)
    if rule == "alpha2beta1":
        c = a[None, :] * W
        cp, cn = pos(c, 0), neg(c, 0)
        dp, dn = cp.sum(1) + pos(b, 0), cn.sum(1) + neg(b, 0)
        return ((2 * cp / dp[:, None] - 1 * cn / dn[:, None]) * R_out[:, None]).sum(0)
    if rule == "flat":
        return (M / M.sum(1, keepdims=True) * R_out[:, None]).sum(0)
    if rule == "wsquare":
        return (W**2 / (W**2).sum(1, keepdims=True) * R_out[:, None]).sum(0)
    if rule == "zbox":
        num = a[None, :] * W - low[None, :] * pos(W, 0) - high[None, :] * neg(W, 0)
        return (num / num.sum(1, keepdims=True) * R_out[:, None]).sum(0)
    raise ValueError(rule)


def direct_composite(rule):
    hook = {"zero": Epsilon(epsilon=0.0), "epsilon": Epsilon(epsilon=0.3), "alpha2beta1": AlphaBeta(2.0, 1.0)}[rule]
    return LayerMapComposite([(AnyLinear, hook)])


# rule -> how our code reaches it on a single layer (composite name and params), or None: a plain
# zennit composite with just that rule (LRP-0/epsilon on conv, alpha-beta on dense layers are never
# first layers of our composites).
REACH = {
    "linear": {
        "epsilon": ("epsilon_gamma_box", {"epsilon": 0.3}),
        "zero": None,
        "gamma": ("custom", {"first_rule": "gamma", "gamma": 0.4}),
        "alpha2beta1": None,
        "flat": ("epsilon_plus_flat", {}),
        "zbox": ("custom", {"first_rule": "zbox"}),
        "wsquare": ("custom", {"first_rule": "wsquare"}),
    },
    "conv": {
        "epsilon": None,
        "zero": None,
        "gamma": ("custom", {"first_rule": "gamma", "gamma": 0.4}),
        "alpha2beta1": ("epsilon_alpha2_beta1", {}),
        "flat": ("epsilon_plus_flat", {}),
        "zbox": ("epsilon_gamma_box", {}),
        "wsquare": ("custom", {"first_rule": "wsquare"}),
    },
}


@pytest.mark.parametrize("layer", ["linear", "conv"])
@pytest.mark.parametrize("rule", ["epsilon", "zero", "gamma", "alpha2beta1", "flat", "zbox", "wsquare"])
def test_rules_match_naive_formulas_on_a_single_layer(layer, rule):
    torch.manual_seed(4)
    c, h, w = 2, 5, 5
    if layer == "linear":
        net = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 7))
    else:
        net = nn.Sequential(nn.Conv2d(c, 3, 3, stride=2, padding=1), nn.Flatten())
    with torch.no_grad():
        for p in net.parameters():
            if p.ndim == 1:
                p.copy_(torch.randn_like(p) * 0.3)
    if layer == "linear":
        W, b = net[1].weight.detach().double().numpy(), net[1].bias.detach().double().numpy()
        M = np.ones_like(W)
    else:
        W, b, M = dense_from_conv(net[0], (c, h, w))
    model = loaded(net, (h, w), channels=c, mean=0.4, std=0.3)
    low_t, high_t = model.preprocessing.bounds()
    # inputs inside the box [low, high]; gamma's formula is for positive (post-ReLU) activations
    x = low_t + (high_t - low_t) * torch.rand(1, c, h, w)
    if rule == "gamma":
        x = x.abs()
    with torch.no_grad():
        z = model.module(x)[0]
    target = int(z.argmax())
    a = x.double().flatten().numpy()
    low = low_t.expand(1, c, h, w).double().flatten().numpy()
    high = high_t.expand(1, c, h, w).double().flatten().numpy()
    R_out = np.zeros(W.shape[0])
    R_out[target] = float(z[target])
    expected = naive_rule(rule, a, W, b, M, R_out, eps=0.3 if rule == "epsilon" else 0.0, gamma=0.4,
                          low=low, high=high)

    reach = REACH[layer][rule]
    if reach is None:
        composite = direct_composite(rule)
    else:
        composite = lrp.build_composite(reach[0], reach[1], model)
    logits, relevance, info = lrp.lrp_attribution(model, x, target, composite)
    got = relevance.double().flatten().numpy()
    assert torch.allclose(logits[0], z)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())
    if reach is not None:
        # the registered method returns the channel sum of the same relevance
        result = run(f"lrp.{reach[0]}", model, x, target, **reach[1])
        np.testing.assert_allclose(result.relevance, expected.reshape(c, h, w).sum(0), rtol=1e-4,
                                   atol=1e-5 * np.abs(expected).max())


# --- canonizers and leaving the model as it was ---------------------------------------------------


def bn_net():
    torch.manual_seed(5)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3),
    )
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return net.eval()


def test_canonizer_choice_by_architecture():
    assert lrp.canonizer_names(lrp.choose_canonizers("resnet50")) == ["ResNetCanonizer"]
    for arch in ("vgg16", "mobilenet_v2", "demo_cnn", "unknown", "somethingelse"):
        assert lrp.canonizer_names(lrp.choose_canonizers(arch)) == ["SequentialMergeBatchNorm"]


def test_batch_norm_canonized_forward_is_unchanged_and_model_restored():
    net = bn_net()
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        reference = net(x).clone()
    before = snapshot(net)
    # the canonized model computes the same function
    applied = []
    for canonizer in lrp.choose_canonizers("demo_cnn"):
        applied += canonizer.apply(net)
    try:
        assert len(applied) == 3  # all three batch norms merged
        with torch.no_grad():
            torch.testing.assert_close(net(x), reference, rtol=1e-5, atol=1e-6)
        assert net[0].bias is not None  # merged bias added temporarily
    finally:
        for instance in applied:
            instance.remove()
    assert net[0].bias is None
    assert_untouched(net, before, x, reference)

    model = loaded(net, (6, 6), architecture="demo_cnn")
    for name in ("lrp.epsilon_plus_flat", "lrp.epsilon_gamma_box", "lrp.epsilon_alpha2_beta1", "lrp.custom"):
        result = run(name, model, x, 1)
        assert result.extras["canonizers"] == ["SequentialMergeBatchNorm"]
        assert result.extras["logit"] == pytest.approx(float(reference[0, 1]), rel=1e-5, abs=1e-6)
        assert "notes" not in result.extras
        assert np.isfinite(result.relevance).all()
        assert_untouched(net, before, x, reference)
    assert net[0].bias is None


def test_resnet_canonizer_restores_forward_methods():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(6)
    net = torchvision.models.resnet18(weights=None, num_classes=4).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        reference = net(x).clone()
    before = snapshot(net)
    model = loaded(net, (32, 32), architecture="resnet18")
    result = run("lrp.epsilon_plus_flat", model, x, 2)
    assert result.extras["canonizers"] == ["ResNetCanonizer"]
    assert result.extras["logit"] == pytest.approx(float(reference[0, 2]), rel=1e-4, abs=1e-5)
    assert np.isfinite(result.relevance).all() and np.abs(result.relevance).sum() > 0
    assert_untouched(net, before, x, reference)
    assert not any(hasattr(m, "canonizer_sum") for m in net.modules())
    # the fast path (zero terms skipped, replaced backward passes skipped) equals plain zennit
    _, r_fast, _ = lrp.lrp_attribution(model, x, 2, lrp.build_composite("epsilon_gamma_box", {}, model))
    _, r_slow, _ = lrp.lrp_attribution(model, x, 2, lrp.build_composite("epsilon_gamma_box", {}, model, fast=False),
                                       fast=False)
    torch.testing.assert_close(r_fast, r_slow, rtol=1e-4, atol=1e-6 * float(r_slow.abs().max()))
    assert_untouched(net, before, x, reference)


def test_cancelled_run_leaves_model_unchanged():
    net = bn_net()
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        reference = net(x).clone()
    before = snapshot(net)
    token = CancelToken()
    seen = []

    def progress(fraction, message="", partial=None):
        seen.append(fraction)
        if fraction >= 0.5:
            token.cancel()  # cancel while hooks and merged batch norms are in place

    model = loaded(net, (6, 6), architecture="demo_cnn")
    with pytest.raises(Cancelled):
        run("lrp.epsilon_gamma_box", model, x, 0, token=token, progress=progress)
    assert 0.5 in seen
    assert_untouched(net, before, x, reference)


def test_unsupported_layer_is_named():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LayerNorm(16))
            self.head = nn.Linear(16, 2)

        def forward(self, x):
            return self.head(self.features(x))

    net = Net().eval()
    x = torch.randn(1, 3, 4, 4)
    with torch.no_grad():
        reference = net(x).clone()
    before = snapshot(net)
    with pytest.raises(MethodError, match=r"LRP has no rule for layer 'features\.3' \(LayerNorm\)"):
        run("lrp.epsilon_plus_flat", loaded(net, (4, 4)), x, 0)
    assert_untouched(net, before, x, reference)


def test_layer_with_own_parameters_is_named():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x * self.scale

    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), Scale(), nn.Linear(5, 2))
    with pytest.raises(MethodError, match=r"layer '2' \(Scale\)"):
        run("lrp.custom", loaded(net, (2, 2)), torch.randn(1, 3, 2, 2), 0)


def test_tuple_output_gives_the_plain_message():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))

        def forward(self, x):
            out = self.body(x)
            return out, out * 2

    net = TwoHeads().eval()
    model = loaded(net, (2, 2), classes=3)
    with pytest.raises(MethodError) as info:
        run("lrp.epsilon_plus_flat", model, torch.randn(1, 3, 2, 2), 0)
    with pytest.raises(MethodError) as plain:
        as_logits((torch.zeros(1, 3), torch.zeros(1, 3)), model.name)
    assert str(info.value) == str(plain.value)
    for module in net.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks


def test_torchscript_is_refused():
    net = bias_free_mlp()
    model = loaded(net, (4, 4))
    model.is_torchscript = True
    with pytest.raises(MethodError, match="TorchScript"):
        run("lrp.epsilon_plus_flat", model, torch.randn(1, 3, 4, 4), 0)


def test_unknown_target_is_a_plain_error():
    model = loaded(bias_free_mlp(), (4, 4))
    with pytest.raises(MethodError, match="Class 9 does not exist"):
        run("lrp.epsilon_plus_flat", model, torch.randn(1, 3, 4, 4), 9)


def test_pipeline_maps_lrp_to_the_image_and_keeps_input():
    model = loaded(bias_free_cnn(), (8, 8), mean=0.5, std=0.25)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(20, 12, 3), dtype=np.uint8)
    copy = image.copy()
    result = explain_image(model, image, "lrp.epsilon_plus_flat", params={"epsilon": "1e-9"})
    assert result.relevance.shape == (20, 12)
    assert result.method == "lrp.epsilon_plus_flat"
    assert np.array_equal(image, copy)
    # conservation survives the mapping back to the image (the pipeline preserves sums)
    assert float(result.relevance.sum()) == pytest.approx(result.score, rel=1e-3)


@pytest.mark.parametrize("name, params", [
    ("epsilon_plus_flat", {}),
    ("epsilon_gamma_box", {"gamma": 0.3}),
    ("epsilon_alpha2_beta1", {}),
    ("custom", {"first_rule": "gamma"}),
])
def test_fast_path_gives_zennits_result(name, params):
    net = bn_net()
    before = snapshot(net)
    model = loaded(net, (6, 6), architecture="demo_cnn", mean=0.5, std=0.25)
    x = torch.randn(1, 3, 6, 6)
    fast = lrp.build_composite(name, params, model)
    slow = lrp.build_composite(name, params, model, fast=False)
    assert any(isinstance(hook, lrp._SkipZeroTerms) for _, hook in fast.layer_map)
    assert not any(isinstance(hook, lrp._SkipZeroTerms) for _, hook in slow.layer_map)
    _, r_fast, info = lrp.lrp_attribution(model, x, 1, fast)
    _, r_slow, _ = lrp.lrp_attribution(model, x, 1, slow, fast=False)
    torch.testing.assert_close(r_fast, r_slow, rtol=1e-5, atol=1e-7)
    assert "Fast" not in "".join(info["rules"].values())
    with torch.no_grad():
        reference = net(x).clone()
    assert_untouched(net, before, x, reference)
