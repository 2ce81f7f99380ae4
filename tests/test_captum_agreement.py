"""xaidesk's gradient methods and occlusion give Captum's maps at matched settings.

A tiny residual CNN with batch norms (non-trivial running statistics, so the merged batch norms
of the fast path are exercised) at 32 px. Maps are compared relative to their largest absolute
value, with tolerance ``TOL`` (float32 rounding; the two libraries batch and sum differently).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

captum_attr = pytest.importorskip("captum.attr")

from xaidesk.core import CancelToken, get_method  # noqa: E402
from xaidesk.explain import load_builtin_methods  # noqa: E402
from xaidesk.explain.fast_module import fast_copy, fast_gradient_module  # noqa: E402
from xaidesk.models.base import LoadedModel  # noqa: E402
from xaidesk.models.preprocessing import IMAGENET  # noqa: E402

TOL = 1e-5


class TinyResidual(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.bn2 = torch.nn.BatchNorm2d(8)
        self.head = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        a = torch.relu(self.bn1(self.conv1(x)))
        b = torch.relu(self.bn2(self.conv2(a)) + a)
        return self.head(torch.nn.functional.adaptive_avg_pool2d(b, 4).flatten(1))


def tiny_net() -> torch.nn.Module:
    torch.manual_seed(0)
    net = TinyResidual()
    with torch.no_grad():
        for bn in (net.bn1, net.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return net.eval()


@pytest.fixture(scope="module")
def setup():
    load_builtin_methods()
    net = tiny_net()
    model = LoadedModel(spec="test:tiny", name="tiny", module=net, preprocessing=IMAGENET,
                        class_names=[str(i) for i in range(5)], architecture="unknown")
    torch.manual_seed(1)
    x = torch.randn(1, 3, 32, 32)
    return net, model, x


def run(name, model, x, target, **params):
    info = get_method(name)
    return info.function(model, x, target, params=info.defaults() | params, token=CancelToken(),
                         progress=lambda *a, **k: None)


def assert_same_map(ours, theirs):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    scale = np.abs(theirs).max()
    assert scale > 0
    assert np.abs(ours - theirs).max() <= TOL * scale


@pytest.mark.parametrize("batch", [4, 64])
def test_integrated_gradients_midpoint_equals_captum_riemann_middle(setup, batch):
    net, model, x = setup
    ours = run("gradient.integrated", model, x, 2, steps=20, rule="midpoint", baseline="zero", batch_size=batch)
    theirs = captum_attr.IntegratedGradients(net).attribute(
        x, baselines=torch.zeros_like(x), target=2, n_steps=20, method="riemann_middle", internal_batch_size=batch)
    assert_same_map(ours.relevance, theirs[0].sum(0).detach().numpy())


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_integrated_gradients_trapezoid_equals_captum_riemann_trapezoid(setup, batch):
    """Captum's trapezoid on S points weighs them 1/S (ends halved): xaidesk's ``steps=S-1`` times (S-1)/S."""
    net, model, x = setup
    points = 21
    ours = run("gradient.integrated", model, x, 1, steps=points - 1, rule="trapezoid", baseline="zero",
               batch_size=batch)
    theirs = captum_attr.IntegratedGradients(net).attribute(
        x, baselines=torch.zeros_like(x), target=1, n_steps=points, method="riemann_trapezoid",
        internal_batch_size=batch)
    assert_same_map(ours.relevance, theirs[0].sum(0).detach().numpy() * points / (points - 1))
    with torch.no_grad():
        assert ours.score == pytest.approx(float(net(x)[0, 1]), rel=1e-5, abs=1e-6)
        assert ours.extras["baseline_score"] == pytest.approx(float(net(torch.zeros_like(x))[0, 1]),
                                                              rel=1e-5, abs=1e-6)


def test_smoothgrad_equals_captum_noise_tunnel_with_the_same_noise(setup, monkeypatch):
    net, model, x = setup
    samples, level, seed = 9, 0.2, 5
    sigma = level * float(x.max() - x.min())
    generator = torch.Generator().manual_seed(seed)

    def xaidesk_noise(inp, stdev, count):
        assert stdev == pytest.approx(sigma)
        noise = torch.stack([torch.randn(inp.shape[1:], generator=generator) for _ in range(count)])
        return inp.repeat_interleave(count, dim=0) + sigma * noise

    monkeypatch.setattr(captum_attr.NoiseTunnel, "_add_noise_to_input", staticmethod(xaidesk_noise))
    ours = run("gradient.smoothgrad", model, x, 3, samples=samples, batch_size=4, noise_level=level,
               aggregation="gradient", seed=seed)
    theirs = captum_attr.NoiseTunnel(captum_attr.Saliency(net)).attribute(
        x, nt_type="smoothgrad", nt_samples=samples, nt_samples_batch_size=4, stdevs=sigma, target=3, abs=False)
    assert_same_map(ours.relevance, theirs[0].sum(0).detach().numpy())


def test_saliency_and_input_x_gradient_equal_captum(setup):
    net, model, x = setup
    grad = captum_attr.Saliency(net).attribute(x, target=4, abs=False)[0].detach()
    assert_same_map(run("gradient.sensitivity", model, x, 4).relevance, (grad**2).sum(0).numpy())
    ixg = captum_attr.InputXGradient(net).attribute(x, target=4)[0].detach()
    assert_same_map(run("gradient.input_x_gradient", model, x, 4).relevance, ixg.sum(0).numpy())


@pytest.mark.parametrize("window, stride, batch", [(8, 4, 5), (16, 8, 64)])
def test_occlusion_equals_captum(setup, window, stride, batch):
    net, model, x = setup
    ours = run("occlusion", model, x, 0, patch_size=window, stride=stride, fill="zero", batch_size=batch,
               scale_to_input=False)
    theirs = captum_attr.Occlusion(net).attribute(
        x, sliding_window_shapes=(3, window, window), strides=(3, stride, stride), baselines=0, target=0,
        perturbations_per_eval=batch)
    assert_same_map(ours.relevance, theirs[0, 0].detach().numpy())


def test_merged_batch_norms_keep_outputs_and_gradients_and_leave_the_model_alone(setup):
    net, _, x = setup
    before = {k: v.clone() for k, v in net.state_dict().items()}
    folded, channels_last = fast_gradient_module(net, x)
    assert folded is not net and channels_last
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert fast_copy(net, x) is folded  # built once
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert isinstance(net.bn1, torch.nn.BatchNorm2d) and isinstance(net.bn2, torch.nn.BatchNorm2d)

    def gradient(module):
        xg = x.clone().requires_grad_(True)
        out = module(xg)
        return out.detach(), torch.autograd.grad(out[0, 2], xg)[0]

    (out_a, grad_a), (out_b, grad_b) = gradient(net), gradient(folded)
    torch.testing.assert_close(out_b, out_a, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_b, grad_a, rtol=1e-4, atol=1e-6 * float(grad_a.abs().max()))
    with torch.no_grad():
        net.bn1.running_mean.add_(0.1)  # a changed weight: merged again
    try:
        refolded = fast_copy(net, x)
        assert refolded is not folded
        torch.testing.assert_close(gradient(refolded)[0], gradient(net)[0], rtol=1e-5, atol=1e-6)
    finally:
        with torch.no_grad():
            net.bn1.running_mean.sub_(0.1)


def test_models_that_cannot_be_merged_are_used_as_they_are(setup):
    net, _, x = setup
    train = tiny_net().train()
    assert fast_copy(train, x) is train
    scripted = torch.jit.trace(tiny_net(), x)
    assert fast_copy(scripted, x) is scripted
    hooked = tiny_net()
    hooked.conv1.register_forward_hook(lambda *a: None)
    assert fast_copy(hooked, x) is hooked
    dense = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 2)).eval()
    assert fast_copy(dense, x) is dense  # nothing to merge or lay out


def test_convolutions_without_batch_norm_get_channels_last_weights_in_a_copy(setup):
    _, _, x = setup
    torch.manual_seed(4)
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 30 * 30, 2)).eval()
    fast = fast_copy(plain, x)
    assert fast is not plain
    assert fast.get_submodule("0").weight.is_contiguous(memory_format=torch.channels_last)
    assert plain[0].weight.is_contiguous() and plain[0].weight.stride() == (27, 9, 3, 1)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x), rtol=1e-5, atol=1e-6)
