"""The faster LRP path (xaidesk/explain/lrp/fast_rules.py, the skipped batch norms of canonizers.py)
gives plain zennit's relevance on the layer kinds it computes directly, and leaves the model as it was."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from xaidesk.core import CancelToken, Cancelled
from xaidesk.explain.lrp import canonizers
from xaidesk.explain.lrp import cnn as lrp
from xaidesk.explain.lrp import fast_rules

from helpers import loaded

NAMES = [
    ("epsilon_plus_flat", {}),
    ("epsilon_gamma_box", {"gamma": 0.3}),
    ("epsilon_alpha2_beta1", {}),
    ("custom", {"first_rule": "wsquare", "top_rule": "zero"}),
    ("custom", {"first_rule": "zbox"}),
]


class Residual(nn.Module):
    """A block whose second convolution sees signed input (no ReLU before it): the general direct path."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=2, dilation=2, groups=2)
        self.conv2 = nn.Conv2d(channels, channels, 1, stride=1)

    def forward(self, x):
        return torch.relu(self.conv2(self.conv1(x)))


def conv_net() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        Residual(8), nn.Conv2d(8, 6, (3, 1), padding=(1, 0), bias=False), nn.ReLU(),
        nn.Flatten(), nn.Linear(6 * 5 * 5, 16), nn.ReLU(inplace=True), nn.Linear(16, 4),
    )


def audio_net() -> nn.Module:
    torch.manual_seed(4)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(2),
        nn.Conv1d(4, 6, 5, stride=2, padding=2), nn.BatchNorm1d(6), nn.ReLU(),
        nn.Flatten(), nn.Linear(6 * 32, 3),
    )


def _randomise_batch_norms(net: nn.Module) -> None:
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)


def _both(model, x, target, name, params):
    _, fast, _ = lrp.lrp_attribution(model, x, target, lrp.build_composite(name, params, model))
    _, slow, _ = lrp.lrp_attribution(model, x, target, lrp.build_composite(name, params, model, fast=False),
                                     fast=False)
    return fast, slow


def _untouched(net: nn.Module) -> None:
    for name, module in net.named_modules():
        assert "forward" not in module.__dict__, name
        assert not module._forward_hooks and not module._forward_pre_hooks, name


@pytest.mark.parametrize("name, params", NAMES)
def test_direct_rules_give_zennits_relevance_on_conv_and_linear_layers(name, params):
    net = conv_net()
    _randomise_batch_norms(net)
    model = loaded(net, (10, 10), architecture="demo_cnn", mean=0.5, std=0.25)
    x = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(5))
    fast, slow = _both(model, x, 1, name, params)
    assert float(slow.abs().max()) > 0
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-9 * float(slow.abs().max()))
    _untouched(net)


@pytest.mark.parametrize("name, params", NAMES[:3])
def test_direct_rules_give_zennits_relevance_on_conv1d_layers(name, params):
    net = audio_net()
    _randomise_batch_norms(net)
    model = loaded(net, (8, 8), channels=1, architecture="demo_cnn")
    x = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    fast, slow = _both(model, x, 2, name, params)
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-9 * float(slow.abs().max()))
    _untouched(net)


def test_each_direct_rule_runs_without_autograd(monkeypatch):
    """The direct path is taken (not the autograd fallback) for z+, gamma, alpha-beta, flat and epsilon."""
    used: list[str] = []
    original = fast_rules._SkipZeroTerms._through_autograd

    def spy(self, module, *args):
        used.append(type(module).__name__)
        return original(self, module, *args)

    monkeypatch.setattr(fast_rules._SkipZeroTerms, "_through_autograd", spy)
    net = conv_net()
    model = loaded(net, (10, 10), architecture="demo_cnn")
    x = torch.randn(1, 3, 10, 10, generator=torch.Generator().manual_seed(7))
    for name, params in NAMES:
        lrp.lrp_attribution(model, x, 0, lrp.build_composite(name, params, model))
    assert used == []


def test_merged_batch_norms_are_skipped_exactly_and_restored(monkeypatch):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(8)
    net = torchvision.models.resnet18(weights=None, num_classes=4).eval()
    _randomise_batch_norms(net)
    model = loaded(net, (32, 32), architecture="resnet18")
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    seen: list[bool] = []
    exact = canonizers._is_exact_identity

    def counting(batch_norm):
        seen.append(exact(batch_norm))
        return seen[-1]

    monkeypatch.setattr(canonizers, "_is_exact_identity", counting)
    logits, skipped, _ = lrp.lrp_attribution(model, x, 2, lrp.build_composite("epsilon_plus_flat", {}, model))
    assert len(seen) == 20 and all(seen)
    _untouched(net)
    monkeypatch.setattr(canonizers, "_is_exact_identity", lambda batch_norm: False)
    logits_kept, kept, _ = lrp.lrp_attribution(model, x, 2, lrp.build_composite("epsilon_plus_flat", {}, model))
    torch.testing.assert_close(skipped, kept, rtol=1e-6, atol=1e-9 * float(kept.abs().max()))
    torch.testing.assert_close(logits, logits_kept, rtol=1e-6, atol=1e-7)


def test_a_batch_norm_in_training_mode_is_not_skipped():
    norm = nn.BatchNorm2d(3).train()
    conv = nn.Conv2d(3, 3, 1)
    canonizers._merge_exactly((conv,), norm)
    assert "forward" not in norm.__dict__


def test_a_cancelled_run_removes_the_bridged_forwards():
    net = conv_net()
    model = loaded(net, (10, 10), architecture="demo_cnn")
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        lrp.lrp_attribution(model, torch.randn(1, 3, 10, 10), 0, lrp.build_composite("epsilon_plus_flat", {}, model),
                            token=token)
    _untouched(net)
    with lrp.attached(model, lrp.build_composite("epsilon_plus_flat", {}, model)) as (module, _):
        assert isinstance(module[0].forward, fast_rules._BridgedForward)
        assert "forward" in module[1].__dict__  # the merged batch norm
    _untouched(net)


def test_lean_registration_leaves_no_hook_on_relus_or_merged_batch_norms():
    """ReLUs run as a pass-through function and merged batch norms without a hook; other activations keep theirs."""
    net = conv_net()
    net[5] = nn.Softplus(beta=50.0)  # not run out of place: keeps zennit's Pass hook
    model = loaded(net, (10, 10), architecture="demo_cnn")
    with lrp.attached(model, lrp.build_composite("epsilon_plus_flat", {}, model)) as (module, _):
        for relu in (module[2], module[8]):
            assert isinstance(relu.forward, fast_rules._PassedActivation)
            assert not relu._forward_hooks and not relu._forward_pre_hooks
        assert canonizers.merged_into_identity(module[1]) and not module[1]._forward_hooks
        assert module[5]._forward_pre_hooks and "forward" not in module[5].__dict__
    _untouched(net)
    x = torch.randn(3, 3, 10, 10, generator=torch.Generator().manual_seed(11))
    composite = lrp.build_composite("epsilon_plus_flat", {}, model)
    own_map = composite.__dict__.get("module_map")
    _, fast, _, _ = lrp.lrp_attribution_batch(model, x, [0, 1, 3], composite)
    _, slow, _, _ = lrp.lrp_attribution_batch(model, x, [0, 1, 3], lrp.build_composite(
        "epsilon_plus_flat", {}, model, fast=False), fast=False)
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-9 * float(slow.abs().max()))
    assert float(slow.abs().sum()) > 0
    assert composite.__dict__.get("module_map") is own_map


class InPlaceAfterNorm(nn.Module):
    """GoogLeNet's BasicConv2d: an in-place functional ReLU right after a batch norm that gets merged."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 6 * 6, 3))

    def forward(self, x):
        return self.head(torch.nn.functional.relu(self.bn(self.conv(x)), inplace=True))


def test_an_in_place_operation_after_a_skipped_batch_norm_leaves_the_convolution_output_alone():
    torch.manual_seed(17)
    net = InPlaceAfterNorm().eval()
    _randomise_batch_norms(net)
    model = loaded(net, (6, 6), architecture="demo_cnn")
    x = torch.randn(1, 3, 6, 6, generator=torch.Generator().manual_seed(18))
    outputs = {}
    for fast in (True, False):
        composite = lrp.build_composite("epsilon_plus_flat", {}, model, fast=fast)
        with lrp.attached(model, composite, fast=fast) as (module, _):
            assert canonizers.merged_into_identity(module.bn)
            handle = module.conv.register_forward_hook(lambda m, i, out: outputs.__setitem__(fast, out))
            module(x.clone().requires_grad_())
            handle.remove()
    assert float(outputs[False].detach().min()) < 0  # the merged convolution's output has negative values
    torch.testing.assert_close(outputs[True], outputs[False], rtol=0, atol=0)
    _untouched(net)


def test_a_failure_midway_through_registering_removes_every_forward_and_restores_the_map(monkeypatch):
    net = conv_net()
    model = loaded(net, (10, 10), architecture="demo_cnn")
    composite = lrp.build_composite("epsilon_plus_flat", {}, model)
    own_map = composite.__dict__.get("module_map")
    calls = []

    def failing_register(self, module):
        calls.append(module)
        if len(calls) == 3:
            raise RuntimeError("hook failed")
        return original(self, module)

    original = type(composite.layer_map[0][1]).register
    monkeypatch.setattr(fast_rules.BasicHook, "register", failing_register)
    with pytest.raises(RuntimeError, match="hook failed"):
        with lrp.attached(model, composite):
            pass
    assert len(calls) == 3  # after the ReLU got its run-time forward
    assert composite.__dict__.get("module_map") is own_map
    _untouched(net)


@pytest.mark.parametrize("arch", ["basic", "bottleneck"])
def test_resnet_blocks_give_the_relevance_of_zennits_own_resnet_canonizer(arch):
    """Our torchvision ResNet canonizer (summands stacked first) against zennit's, through zennit's attributor."""
    resnet = pytest.importorskip("torchvision.models.resnet")
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonPlusFlat
    from zennit.torchvision import ResNetCanonizer

    torch.manual_seed(12)
    block = resnet.BasicBlock if arch == "basic" else resnet.Bottleneck
    net = resnet.ResNet(block, [1, 2, 1, 1], num_classes=5).eval()
    _randomise_batch_norms(net)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = 0.0  # zennit's merge then leaves an exact identity as well
    model = loaded(net, (40, 40), architecture=f"resnet_{arch}")
    x = torch.randn(1, 3, 40, 40, generator=torch.Generator().manual_seed(13))
    logits, ours, info = lrp.lrp_attribution(model, x, 3, lrp.build_composite("epsilon_plus_flat", {}, model))
    with Gradient(model=net, composite=EpsilonPlusFlat(canonizers=[ResNetCanonizer()])) as attributor:
        output, theirs = attributor(x.clone(), lambda out: torch.eye(5)[[3]] * out.detach())
    torch.testing.assert_close(logits, output, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6 * float(theirs.abs().max()))
    assert float(theirs.abs().sum()) > 0
    _untouched(net)


@pytest.mark.parametrize("activation", [
    nn.ReLU(inplace=True), nn.ReLU6(inplace=True), nn.LeakyReLU(0.1, inplace=True), nn.SiLU(inplace=True),
    nn.Hardswish(), nn.GELU(approximate="tanh"),
])
def test_each_activation_run_out_of_place_keeps_its_values_and_zennits_relevance(activation):
    torch.manual_seed(14)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), activation, nn.Conv2d(6, 6, 3, padding=1), type(activation)(),
                        nn.Flatten(), nn.Linear(6 * 8 * 8, 3))
    model = loaded(net, (8, 8), architecture="demo_cnn")
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(15))
    inner = torch.randn(2, 6, 8, 8, generator=torch.Generator().manual_seed(16)) * 4
    expected = activation(inner.clone())
    with lrp.attached(model, lrp.build_composite("epsilon_gamma_box", {}, model)) as (module, _):
        assert isinstance(module[1].forward, fast_rules._PassedActivation)
        kept = inner.clone().requires_grad_()
        torch.testing.assert_close(module[1](kept), expected, rtol=0, atol=0)
        probe = inner.clone()
        torch.testing.assert_close(module[1](probe), expected, rtol=0, atol=0)
        assert torch.equal(probe, inner), "run out of place also without gradients"
    _untouched(net)
    fast, slow = _both(model, x, 2, "epsilon_gamma_box", {})
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-9 * float(slow.abs().max()))
    assert float(slow.abs().sum()) > 0
