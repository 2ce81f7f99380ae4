"""LRP on modern CNN families: canonizers chosen by block type, rules for their layers,
conservation, an independent LRP-0 on a MobileNet block, a trained model, the model left untouched."""

from __future__ import annotations

import copy
import re
from functools import partial

import pytest
import torch
from torch import nn

torchvision = pytest.importorskip("torchvision")
from torchvision.models import (  # noqa: E402
    convnext, densenet, efficientnet, mnasnet, mobilenetv2, mobilenetv3, regnet, shufflenetv2,
)
from torchvision.models.googlenet import GoogLeNet  # noqa: E402
from torchvision.ops.misc import Conv2dNormActivation, SqueezeExcitation  # noqa: E402

from xaidesk.core import CancelToken, MethodError, get_method  # noqa: E402
from xaidesk.explain.lrp import cnn as lrp  # noqa: E402
from xaidesk.explain.lrp.block_forwards import constant_factor  # noqa: E402
from xaidesk.explain.lrp.rules import LayerNormEpsilon, linearised_layer_norm  # noqa: E402
from xaidesk.models.preprocessing import Preprocessing  # noqa: E402

import helpers  # noqa: E402

#: LRP-0 everywhere (γ = 0 on convolutions and the first layer, LRP-0 on dense layers):
#: conserves exactly on bias-free networks.
LRP0 = {"gamma": 0.0, "first_rule": "gamma", "top_rule": "zero"}
SIZE = 32

loaded = partial(helpers.loaded, size=SIZE, classes=4)
run = helpers.run


def bias_free(net: nn.Module) -> nn.Module:
    """Zero every bias and batch-norm shift (so LRP-0 must conserve) and give the norms some spread."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Linear):  # torchvision starts some heads at N(0, 0.01): logits near zero
                m.reset_parameters()
        for name, param in net.named_parameters():
            if name.endswith("bias"):
                param.zero_()
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.zero_()
                m.running_var.uniform_(0.25, 1.0)
                m.weight.uniform_(1.0, 2.0)
    return net.eval()


def tiny_efficientnet():
    setting = [efficientnet.MBConvConfig(1, 3, 1, 8, 8, 2), efficientnet.MBConvConfig(4, 3, 2, 8, 16, 2)]
    return efficientnet.EfficientNet(setting, dropout=0.0, stochastic_depth_prob=0.2, num_classes=4)


def tiny_efficientnet_v2():
    setting = [efficientnet.FusedMBConvConfig(1, 3, 1, 8, 8, 2), efficientnet.MBConvConfig(4, 3, 2, 8, 16, 2)]
    return efficientnet.EfficientNet(setting, dropout=0.0, stochastic_depth_prob=0.2, num_classes=4, last_channel=32)


def tiny_mobilenet_v3():
    conf = partial(mobilenetv3.InvertedResidualConfig, width_mult=1.0)
    setting = [conf(8, 3, 8, 8, True, "RE", 1, 1), conf(8, 3, 16, 8, True, "HS", 1, 1),
               conf(8, 3, 24, 16, False, "HS", 2, 1)]
    return mobilenetv3.MobileNetV3(setting, last_channel=32, num_classes=4, dropout=0.0)


def tiny_mobilenet_v2():
    setting = [[1, 8, 1, 1], [4, 16, 2, 2]]
    return mobilenetv2.MobileNetV2(num_classes=4, width_mult=0.5, inverted_residual_setting=setting)


def tiny_densenet():
    return densenet.DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2, num_classes=4)


def tiny_convnext():
    setting = [convnext.CNBlockConfig(8, 16, 2), convnext.CNBlockConfig(16, None, 1)]
    return convnext.ConvNeXt(setting, stochastic_depth_prob=0.1, layer_scale=0.5, num_classes=4)


def tiny_regnet(se_ratio=None):
    params = regnet.BlockParams.from_init_params(depth=3, w_0=8, w_a=8.0, w_m=2.0, group_width=8, se_ratio=se_ratio)
    return regnet.RegNet(params, num_classes=4, stem_width=8)


def tiny_mnasnet():
    return mnasnet.MNASNet(0.25, num_classes=4, dropout=0.0)


def tiny_shufflenet():
    return shufflenetv2.ShuffleNetV2([1, 1, 1], [8, 16, 32, 64, 32], num_classes=4)


MERGE_SUM_GATE = ["SequentialMergeBatchNorm", "ResidualSumCanonizer", "ConstantFactorCanonizer"]
FAMILIES = {
    "efficientnet": (tiny_efficientnet, MERGE_SUM_GATE),
    "efficientnet_v2": (tiny_efficientnet_v2, MERGE_SUM_GATE),
    "mobilenet_v3": (tiny_mobilenet_v3, MERGE_SUM_GATE),
    "mobilenet_v2": (tiny_mobilenet_v2, ["SequentialMergeBatchNorm", "ResidualSumCanonizer", "GlobalPoolCanonizer"]),
    "densenet": (tiny_densenet, ["DenseNetMergeBatchNorm", "GlobalPoolCanonizer"]),
    "convnext": (tiny_convnext, ["SequentialMergeBatchNorm", "ResidualSumCanonizer"]),
    "regnet_x": (tiny_regnet, ["SequentialMergeBatchNorm", "ResidualSumCanonizer"]),
    "regnet_y": (partial(tiny_regnet, 0.25), MERGE_SUM_GATE),
    "shufflenet": (tiny_shufflenet, ["SequentialMergeBatchNorm", "GlobalPoolCanonizer"]),
    "mnasnet": (tiny_mnasnet, ["SequentialMergeBatchNorm", "ResidualSumCanonizer", "GlobalPoolCanonizer"]),
}


def snapshot(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def assert_untouched(net, before, x, out_before):
    after = net.state_dict()
    assert set(after) == set(before)
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    for name, module in net.named_modules():
        assert not module._forward_hooks and not module._forward_pre_hooks and not module._backward_hooks, name
        assert "forward" not in module.__dict__, name
        assert not any(k.startswith("canonizer_") for k in module.__dict__) and not any(
            k.startswith("canonizer_") for k in module._modules), name
    with torch.no_grad():
        assert torch.equal(net(x), out_before)


# --- per family: canonizers, same function, conservation, untouched --------------------------------------


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_canonized_conserves_and_leaves_model_untouched(family):
    build, expected = FAMILIES[family]
    torch.manual_seed(0)
    net = bias_free(build())
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        reference = net(x).clone()
    before = snapshot(net)
    canonizers = lrp.choose_canonizers("unknown", net)
    assert lrp.canonizer_names(canonizers) == expected
    # the canonized network computes the same function (in double precision: merged batch norms
    # round differently in float32)
    twin = copy.deepcopy(net).double()
    with torch.no_grad():
        expected_output = twin(x.double())
    applied = []
    try:
        for canonizer in canonizers:
            applied += canonizer.apply(twin)
        with torch.no_grad():
            torch.testing.assert_close(twin(x.double()), expected_output, rtol=1e-9, atol=1e-12)
    finally:
        for instance in reversed(applied):
            instance.remove()

    model = loaded(net)
    target = int(reference.argmax())
    result = run("lrp.custom", model, x, target, **LRP0)
    assert result.extras["canonizers"] == expected
    assert result.extras["conservation"] == pytest.approx(1.0, abs=2e-3)
    assert_untouched(net, before, x, reference)


@pytest.mark.parametrize("family, without_sums", [("efficientnet", None), ("mobilenet_v2", 2.0), ("regnet_x", 8.0)])
def test_explicit_residual_sum_fixes_doubled_relevance(family, without_sums):
    """Without the Sum module the plain "+" copies the relevance into both summands (each doubles
    it); past 10 times the logit (EfficientNet: about -2000) the result carries a note saying so."""
    torch.manual_seed(0)
    net = bias_free(FAMILIES[family][0]())
    model = loaded(net)
    x = torch.randn(1, 3, SIZE, SIZE)
    new = lrp.build_composite("custom", LRP0, model, lrp.choose_canonizers("unknown", net))
    logits, r_new, _ = lrp.lrp_attribution(model, x, 0, new)
    logit = float(logits[0, 0])
    assert float(r_new.sum()) / logit == pytest.approx(1.0, abs=2e-3)
    old = lrp.build_composite("custom", LRP0, model, [torch_sequential_merge()])
    if without_sums is None:
        _, r_old, info = lrp.lrp_attribution(model, x, 0, old)
        assert abs(float(r_old.sum()) / logit) > 10
        assert re.match(r"The relevance adds up to -?[\d.e+]+ times the explained score", info["relevance_notes"][0])
    else:
        _, r_old, _ = lrp.lrp_attribution(model, x, 0, old)
        assert float(r_old.sum()) / logit == pytest.approx(without_sums, rel=1e-3)


def torch_sequential_merge():
    from zennit.canonizers import SequentialMergeBatchNorm

    return SequentialMergeBatchNorm()


def test_densenet_batch_norms_are_merged_only_where_a_convolution_feeds_them():
    torch.manual_seed(0)
    net = bias_free(tiny_densenet())
    result = run("lrp.custom", loaded(net), torch.randn(1, 3, SIZE, SIZE), 1, **LRP0)
    unmerged = " ".join(result.extras["notes"])
    assert "features.denseblock1.denselayer1.norm1" in unmerged and "features.norm5" in unmerged
    assert "norm2" not in unmerged and "features.norm0" not in unmerged
    # zennit's merge by module order would pair norm1 of one dense layer with conv2 of the last one
    from zennit.canonizers import SequentialMergeBatchNorm

    with pytest.raises(RuntimeError):
        instances = SequentialMergeBatchNorm().apply(net)
        for instance in instances:
            instance.remove()


def test_googlenet_input_transform_passes_relevance_to_the_pixels():
    torch.manual_seed(0)
    net = GoogLeNet(num_classes=4, aux_logits=False, transform_input=True, init_weights=True)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):  # GoogLeNet starts at N(0, 0.01): the activations would vanish
            nn.init.kaiming_normal_(m.weight)
    net = bias_free(net)
    x = torch.rand(1, 3, SIZE, SIZE)
    with torch.no_grad():
        reference = net(x).clone()
    before = snapshot(net)
    model = loaded(net)
    names = lrp.canonizer_names(lrp.choose_canonizers("googlenet", net))
    assert names == ["SequentialMergeBatchNorm", "InputTransformCanonizer"]
    result = run("lrp.custom", model, x, 0, **LRP0)
    # the re-normalisation has a bias (the shift), but it acts on the pixels, below the first layer:
    # with relevance passed through it unchanged, LRP-0 conserves
    assert result.extras["conservation"] == pytest.approx(1.0, abs=2e-3)
    assert_untouched(net, before, x, reference)


# --- an independent LRP-0 on a MobileNet v3 block with squeeze-and-excitation ---------------------------


def _lrp0_linear(fn, a: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """LRP-0 through a bias-free linear map ``fn`` from its explicit Jacobian: R_j = a_j sum_k J_kj R_k / z_k."""
    jac = torch.autograd.functional.jacobian(lambda t: fn(t.reshape(a.shape)).reshape(-1), a.reshape(-1),
                                             vectorize=True)
    z = jac @ a.reshape(-1)
    ratio = torch.where(z == 0, torch.zeros_like(z), relevance.reshape(-1) / torch.where(z == 0, torch.ones_like(z), z))
    return (a.reshape(-1) * (jac.T @ ratio)).reshape(a.shape)


def test_mobilenet_v3_residual_block_matches_hand_computed_lrp0():
    torch.manual_seed(3)
    conf = mobilenetv3.InvertedResidualConfig(8, 3, 16, 8, True, "RE", 1, 1, 1.0)
    block = mobilenetv3.InvertedResidual(conf, nn.BatchNorm2d,
                                         partial(SqueezeExcitation, scale_activation=nn.Hardsigmoid))
    stem = Conv2dNormActivation(3, 8, 3, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU, bias=False)
    net = bias_free(nn.Sequential(stem, block, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3, bias=False)))
    assert len(block.block) == 4  # expand, depthwise, squeeze-and-excitation, project
    assert block.use_res_connect
    x = torch.randn(1, 3, 5, 5)
    target = 1
    with torch.no_grad():
        s = stem(x)
        e = block.block[0](s)  # expand conv + BN + ReLU
        d = block.block[1](e)  # depthwise conv + BN + ReLU
        g = block.block[2](d)  # squeeze-and-excitation: d * gate(d)
        p = block.block[3](g)  # project conv + BN
        y = s + p
        pooled = y.mean((2, 3))
        logit = net[4](pooled)[0, target]
    r_logit = torch.zeros(1, 3)
    r_logit[0, target] = logit
    r_pooled = _lrp0_linear(net[4], pooled, r_logit)
    r_y = _lrp0_linear(lambda t: t.mean((2, 3)), y, r_pooled)
    r_skip, r_branch = s / y * r_y, p / y * r_y  # the residual sum, split in proportion
    r_g = _lrp0_linear(block.block[3], g, r_branch)
    r_d = r_g  # the gate is a constant: relevance passes to the gated features unchanged
    r_e = _lrp0_linear(lambda t: block.block[1][1](block.block[1][0](t)), e, r_d)  # ReLU passes relevance
    r_s = r_skip + _lrp0_linear(lambda t: block.block[0][1](block.block[0][0](t)), s, r_e)
    r_x = _lrp0_linear(lambda t: stem[1](stem[0](t)), x, r_s)

    model = loaded(net, size=5, classes=3)
    composite = lrp.build_composite("custom", LRP0, model, lrp.choose_canonizers("unknown", net))
    logits, relevance, _ = lrp.lrp_attribution(model, x, target, composite)
    assert float(logits[0, target]) == pytest.approx(float(logit), rel=1e-5)
    torch.testing.assert_close(relevance, r_x, rtol=1e-3, atol=1e-4 * float(r_x.abs().max()))
    assert float(relevance.sum()) == pytest.approx(float(logit), rel=1e-3)


def test_constant_factor_passes_relevance_unchanged():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    gate = torch.rand(2, 3, 1, 1, requires_grad=True)
    out = constant_factor(x, gate)
    torch.testing.assert_close(out, x * gate)
    relevance = torch.randn_like(out)
    gx, gg = torch.autograd.grad(out, (x, gate), relevance)
    assert torch.equal(gx, relevance) and not gg.any()


# --- layer norm (ConvNeXt) ------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", [nn.LayerNorm(6, eps=1e-6), convnext.LayerNorm2d(6, eps=1e-6)])
def test_layer_norm_rule_is_epsilon_on_the_linearised_norm(norm):
    torch.manual_seed(4)
    norm = norm.double()
    with torch.no_grad():
        norm.weight.uniform_(1.0, 2.0)
    channels_first = isinstance(norm, convnext.LayerNorm2d)
    x = (torch.randn(2, 6, 3, 3) if channels_first else torch.randn(2, 3, 3, 6)).double()
    with torch.no_grad():
        torch.testing.assert_close(linearised_layer_norm(norm, x), norm(x))
    # naive: std frozen at its value for this input, mean subtraction linear -> one explicit matrix per sample
    dim = 1 if channels_first else -1
    std = torch.sqrt(x.var(dim, unbiased=False, keepdim=True) + norm.eps)
    w = norm.weight.reshape(-1, 1, 1) if dim == 1 else norm.weight

    def frozen(t):
        return (t - t.mean(dim, keepdim=True)) / std * w

    relevance_out = torch.randn_like(x)
    expected = _lrp0_linear(frozen, x, relevance_out)
    inp = x.clone().requires_grad_(True)
    hook = LayerNormEpsilon(epsilon=0.0)
    handles = hook.register(norm)
    try:
        out = norm(inp)
        (got,) = torch.autograd.grad(out, inp, relevance_out)
    finally:
        handles.remove()
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got.sum(), relevance_out.sum())  # no bias: conserved
    assert not norm._forward_hooks and not norm._forward_pre_hooks


def test_layer_norm_rule_matches_lxt():
    """The same rule in lxt, the AttnLRP library: std detached, ε-rule with the bias in the denominator."""
    lxt_functional = pytest.importorskip("lxt.explicit.functional")
    torch.manual_seed(5)
    norm = nn.LayerNorm(6, eps=1e-5).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 4, 6, dtype=torch.double)
    relevance_out = torch.randn_like(x)
    ref_in = x.clone().requires_grad_(True)
    # lxt adds its stabiliser without the sign of y, the ε-rule here with it: make both negligible
    ref_out = lxt_functional.layer_norm_grad_fn.apply(ref_in, norm.weight, norm.bias, norm.eps, 1e-12)
    (expected,) = torch.autograd.grad(ref_out, ref_in, relevance_out)
    inp = x.clone().requires_grad_(True)
    handles = LayerNormEpsilon(epsilon=1e-12).register(norm)
    try:
        (got,) = torch.autograd.grad(norm(inp), inp, relevance_out)
    finally:
        handles.remove()
    torch.testing.assert_close(got, expected)


def test_layer_norm_outside_convnext_is_refused_with_reason():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LayerNorm(4 * 30 * 30), nn.Linear(3600, 2))
    with pytest.raises(MethodError, match=r"'3' \(LayerNorm\): layer norm has a rule here only inside ConvNeXt.*"
                                          r"LRP for transformers \(AttnLRP\).*Sensitivity"):
        run("lrp.epsilon_plus_flat", loaded(net, classes=2), torch.randn(1, 3, SIZE, SIZE), 0)


def test_convnext_rules_are_reported():
    torch.manual_seed(0)
    net = tiny_convnext().eval()
    result = run("lrp.epsilon_plus_flat", loaded(net), torch.randn(1, 3, SIZE, SIZE), 0)
    rules = result.extras["rules"]
    assert rules["features.1.0"] == "constant factor (ResidualSumCanonizer)"  # the layer scale
    assert rules["features.1.0.block.2"] == "LayerNormEpsilon"
    assert rules["features.0.1"] == "LayerNormEpsilon"  # stem LayerNorm2d
    assert rules["features.1.0.block.0"] == "ZPlus"  # depthwise convolution: the ordinary conv rule


# --- transformers and unknown layers ----------------------------------------------------------------------


def test_transformers_are_refused_pointing_to_attention_lrp():
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(image_size=16, patch_size=8, num_layers=1, num_heads=1, hidden_dim=8, mlp_dim=16,
                            num_classes=4).eval()
    before = snapshot(vit)
    with pytest.raises(MethodError, match=r"transformer.*LRP for transformers \(AttnLRP\).*Sensitivity"):
        run("lrp.epsilon_plus_flat", loaded(vit, size=16), torch.randn(1, 3, 16, 16), 0)
    assert all(torch.equal(v, before[k]) for k, v in vit.state_dict().items())

    class Attend(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(4, 1, batch_first=True)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            t = x.flatten(2).transpose(1, 2)[..., :4]
            return self.head(self.attn(t, t, t)[0].mean(1))

    with pytest.raises(MethodError, match=r"MultiheadAttention at 'attn'.*LRP for transformers \(AttnLRP\)"):
        run("lrp.custom", loaded(Attend(), size=4, classes=2), torch.randn(1, 3, 4, 4), 0)


# --- a trained model: the relevance falls on the planted mark ----------------------------------------------


def _marked_pictures(n: int, generator: torch.Generator):
    """Noise pictures 16 x 16; half carry a bright 3 x 3 mark at a random place (class 1)."""
    x = 0.3 * torch.rand(n, 3, 16, 16, generator=generator)
    y = torch.randint(0, 2, (n,), generator=generator)
    where = torch.randint(0, 14, (n, 2), generator=generator)
    for i in range(n):
        if y[i]:
            r, c = where[i].tolist()
            x[i, :, r:r + 3, c:c + 3] = 1.0
    return x, y, where


def test_trained_inverted_residual_net_puts_relevance_on_the_mark():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    conf = mobilenetv3.InvertedResidualConfig(8, 3, 16, 8, True, "HS", 1, 1, 1.0)
    net = nn.Sequential(
        Conv2dNormActivation(3, 8, 3, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU),
        mobilenetv3.InvertedResidual(conf, nn.BatchNorm2d, partial(SqueezeExcitation, scale_activation=nn.Hardsigmoid)),
        Conv2dNormActivation(8, 8, 1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8, 2),
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=0.02)
    net.train()
    for _ in range(30):
        x, y, _ = _marked_pictures(32, gen)
        loss = nn.functional.cross_entropy(net(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    net.eval()
    x, y, where = _marked_pictures(64, gen)
    with torch.no_grad():
        accuracy = float((net(x).argmax(1) == y).float().mean())
    assert accuracy > 0.9
    model = loaded(net, size=16, classes=2)
    for name in ("lrp.epsilon_plus_flat", "lrp.epsilon_gamma_box"):
        shares = []
        for i in torch.nonzero(y == 1).flatten()[:4].tolist():
            result = run(name, model, x[i:i + 1], 1)
            positive = torch.as_tensor(result.relevance).clamp(min=0)
            r, c = where[i].tolist()
            window = positive[max(r - 1, 0):r + 4, max(c - 1, 0):c + 4]
            shares.append(float(window.sum() / positive.sum()))
        assert min(shares) > 0.5, (name, shares)  # the window is at most 25 of 256 pixels


# --- timm -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    ("test_efficientnet", ["TimmMergeBatchNorm", "ResidualSumCanonizer", "ConstantFactorCanonizer"]),
    ("test_resnet", ["TimmMergeBatchNorm", "ResidualSumCanonizer"]),
    ("test_convnext", ["TimmMergeBatchNorm", "ResidualSumCanonizer"]),
    ("seresnet18", ["TimmMergeBatchNorm", "ResidualSumCanonizer", "ConstantFactorCanonizer"]),
    ("universal_inverted_residual", ["TimmMergeBatchNorm", "ResidualSumCanonizer", "ConstantFactorCanonizer"]),
])
def test_timm_blocks_are_canonized_by_type(name, expected):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    if name == "universal_inverted_residual":  # MobileNet v4's block with a layer scale
        from timm.models._efficientnet_blocks import UniversalInvertedResidual

        block = UniversalInvertedResidual(8, 8, dw_kernel_size_start=3, exp_ratio=2.0, layer_scale_init_value=0.5)
        assert block.has_skip
        net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), block,
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    else:
        net = timm.create_model(name, pretrained=False, num_classes=4)
    net = bias_free(net)
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        reference = net(x).clone()
    before = snapshot(net)
    canonizers = lrp.choose_canonizers(f"timm:{name}", net)
    assert lrp.canonizer_names(canonizers) == expected
    twin = copy.deepcopy(net).double()
    with torch.no_grad():
        expected_output = twin(x.double())
    applied = []
    try:
        for canonizer in canonizers:
            applied += canonizer.apply(twin)
        with torch.no_grad():
            torch.testing.assert_close(twin(x.double()), expected_output, rtol=1e-9, atol=1e-12)
    finally:
        for instance in reversed(applied):
            instance.remove()
    model = loaded(net, architecture=f"timm:{name}")
    assert lrp.model_refusal(model) is None
    composite = lrp.build_composite("custom", LRP0, model, canonizers)
    ctx: dict = {}
    for layer_name, module in net.named_modules():
        if type(module).__module__ == "timm.layers.activations":  # timm's GELUTanh in test_convnext
            assert type(composite.module_map(ctx, layer_name, module)).__name__ == "Pass", layer_name
    result = run("lrp.custom", model, x, int(reference.argmax()), **LRP0)
    assert "notes" not in result.extras  # every batch norm merged
    assert result.extras["conservation"] == pytest.approx(1.0, abs=2e-3)
    assert_untouched(net, before, x, reference)


def test_timm_vision_transformer_is_refused():
    timm = pytest.importorskip("timm")
    vit = timm.create_model("test_vit", pretrained=False, num_classes=4).eval()
    size = vit.default_cfg["input_size"][-1]
    with pytest.raises(MethodError, match=r"transformer.*LRP for transformers \(AttnLRP\)"):
        run("lrp.epsilon_plus_flat", loaded(vit, size=size), torch.randn(1, 3, size, size), 0)
    assert "LRP for transformers (AttnLRP)" in lrp.model_refusal(loaded(vit, size=size))


# --- every torchvision family: covered, or sent to the transformer LRP ----------------------------------------

ONE_PER_FAMILY = [
    "alexnet", "convnext_tiny", "densenet121", "efficientnet_b0", "efficientnet_v2_s", "googlenet", "inception_v3",
    "mnasnet0_5", "mobilenet_v2", "mobilenet_v3_large", "resnet50", "resnext50_32x4d", "shufflenet_v2_x1_0",
    "squeezenet1_1", "vgg16_bn", "wide_resnet50_2",
]  # RegNet cannot be built on the meta device; the tiny RegNets above stand for it
TRANSFORMERS = ["maxvit_t", "swin_t", "swin_v2_t", "vit_b_16"]


@pytest.mark.parametrize("name", ONE_PER_FAMILY + TRANSFORMERS)
def test_torchvision_family_is_covered_or_sent_to_attention_lrp(name):
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    with torch.device("meta"):  # full size, no memory: only the module types matter here
        net = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    model = loaded(net, classes=1000, architecture=name)
    canonizers = lrp.choose_canonizers(name, net)
    composite = lrp.build_composite("epsilon_plus_flat", {}, model, canonizers)
    if name in TRANSFORMERS:
        with pytest.raises(MethodError, match=r"transformer.*LRP for transformers \(AttnLRP\).*Sensitivity"):
            lrp.check_coverage(net, composite)
    else:
        rules = lrp.check_coverage(net, composite)
        assert rules and all(rules.values())


# --- refusing what the rules were not checked on ------------------------------------------------------------


@pytest.mark.parametrize("name, block", [("regnetx_002", "RegStage"), ("mobileone_s0", "MobileOneBlock"),
                                         ("ghostnet_100", "GhostBottleneck")])
def test_unchecked_timm_models_are_refused_by_block(name, block):
    """Their blocks add or multiply inside their own code (conservation 10^3 to 10^9, or NaN, before)."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    net = timm.create_model(name, pretrained=False, num_classes=3)
    x = torch.rand(1, 3, SIZE, SIZE)
    with pytest.raises(MethodError, match=rf"not been checked on this \w+ model: its timm block {block} .*"
                                          r"Sensitivity.*occlusion"):
        run("lrp.epsilon_plus_flat", loaded(net, classes=3), x, 0)
    assert "forward" not in net.__dict__
    said = get_method("lrp.epsilon_plus_flat").refusal(loaded(net, classes=3))  # shown before Run
    assert said.startswith("LRP has not been checked on this") and f"timm block {block}" in said


def test_timm_tables_are_keyed_by_class_not_name():
    """torchvision's InvertedResidual shares timm's bare class name and must not get a timm body."""
    pytest.importorskip("timm")
    from xaidesk.explain.lrp.block_forwards import timm_body_names

    block = mobilenetv2.InvertedResidual(8, 8, 1, 2)
    assert timm_body_names(block) is None
    assert lrp.canonizer_names(lrp.choose_canonizers("x", tiny_mobilenet_v2()))[1] == "ResidualSumCanonizer"


def test_non_finite_relevance_is_refused_and_created_relevance_is_said():
    logits = torch.tensor([[2.0, -1.0, 0.5], [1e-4, 0.2, -0.3]])
    fine = torch.ones(2, 3, 4, 4) * torch.tensor([2.0, 0.1]).reshape(2, 1, 1, 1) / 48
    # 1x the score; 0.1 = 1000 x a near-zero score, but 0.33 x the sample's largest
    assert lrp.check_relevance(fine, logits, [0, 0]) == [None, None]
    with pytest.raises(MethodError, match="not a finite number"):
        lrp.check_relevance(fine.clone().index_put_((torch.tensor([1]),), torch.tensor(float("nan"))), logits, [0, 0])
    notes = lrp.check_relevance(fine * torch.tensor([12.0, 1.0]).reshape(2, 1, 1, 1), logits, [0, 0])
    assert notes[0].startswith("The relevance adds up to 12 times the explained score") and notes[1] is None


# --- graphs converted from ONNX ---------------------------------------------------------------------------


def _converted(net, tmp_path, name):
    import warnings

    from xaidesk.models import load_model

    pytest.importorskip("onnx2torch")
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.randn(1, 3, SIZE, SIZE), str(path), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    pre = Preprocessing(size=(SIZE, SIZE), mean=(0.0,) * 3, std=(1.0,) * 3)
    return load_model(f"onnx:{path}", preprocessing=pre)


def test_converted_efficientnet_gates_equal_the_original(tmp_path):
    """SiLU exported as x * Sigmoid(x), squeeze-and-excitation as x * gate (broadcast) and residual
    additions get the rules of the original's blocks: the relevance is the same, in a batch too."""
    torch.manual_seed(0)
    net = tiny_efficientnet().eval()
    converted = _converted(net, tmp_path, "efficientnet")
    original = loaded(net)
    x = torch.randn(2, 3, SIZE, SIZE)
    ours = [run("lrp.epsilon_plus_flat", m, x[:1], 1) for m in (original, converted)]
    scale = abs(ours[0].relevance).max()
    assert abs(ours[1].relevance - ours[0].relevance).max() < 1e-4 * scale
    assert ours[1].extras["conservation"] == pytest.approx(ours[0].extras["conservation"], rel=1e-4)
    batch = lrp.BATCHED_METHODS["lrp.epsilon_plus_flat"](converted, x, [1, 1], params={"epsilon": 1e-6},
                                                         token=CancelToken())
    assert abs(batch[0].relevance - ours[1].relevance).max() < 1e-4 * scale


class _Product(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x):
        return self.head(self.a(x) * self.b(x) + 0.5)


class _Erf(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 4, 3), nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x):
        return self.head(torch.erf(self.conv(x)))


def test_converted_product_of_activations_and_unknown_operators_are_refused_by_name(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(1, 3, SIZE, SIZE)
    product = _converted(_Product().eval(), tmp_path, "product")
    with pytest.raises(MethodError, match=r"cannot explain the ONNX node '[^']*Mul[^']*' \(Mul of two computed"):
        run("lrp.epsilon_plus_flat", product, x, 0)
    for name, module in product.module.named_modules():  # refused mid-run: the rewrites are gone again
        assert "forward" not in module.__dict__ and not module._forward_hooks, name
        assert not any(k.startswith("canonizer_") for k in module.__dict__), name
    with pytest.raises(MethodError, match=r"ONNX \(onnx2torch\) block OnnxErf .*occlusion"):
        run("lrp.epsilon_plus_flat", _converted(_Erf().eval(), tmp_path, "erf"), x, 0)


class _PlusConstant(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.register_buffer("offset", torch.rand(1, 4, SIZE, SIZE))
        self.head = nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x):
        return self.head(self.conv(x) + self.offset)


def test_converted_add_of_a_constant_is_not_a_residual_sum_at_any_batch_size(tmp_path):
    """An added constant of the activation's own shape gets no relevance, at batch size 1 as at 2."""
    torch.manual_seed(0)
    net = _PlusConstant().eval()
    converted = _converted(net, tmp_path, "offset")
    x = torch.randn(2, 3, SIZE, SIZE)
    alone = run("lrp.epsilon_plus_flat", converted, x[:1], 0)
    batch = lrp.BATCHED_METHODS["lrp.epsilon_plus_flat"](converted, x, [0, 0], params={"epsilon": 1e-6},
                                                         token=CancelToken())
    original = run("lrp.epsilon_plus_flat", loaded(net, classes=3), x[:1], 0)
    scale = abs(original.relevance).max()
    assert abs(alone.relevance - original.relevance).max() < 1e-4 * scale
    assert abs(batch[0].relevance - alone.relevance).max() < 1e-4 * scale


def test_hugging_face_convolutional_networks_are_refused_by_block():
    """Hugging Face's ResNet adds its shortcut inside its layer's code; no rule would see it."""
    transformers = pytest.importorskip("transformers")
    config = transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                       num_labels=3)
    net = transformers.ResNetForImageClassification(config).eval()
    composite = lrp.build_composite("epsilon_plus_flat", {}, loaded(net, classes=3))
    with pytest.raises(MethodError, match=r"not been checked on this ResNetForImageClassification model: its "
                                          r"Hugging Face block ResNet\w+ .*occlusion"):
        lrp.check_coverage(net, composite)
