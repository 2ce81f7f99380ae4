"""Gradient family: against plain autograd, SmoothGrad limits, IG completeness, the robust gradient."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from xaidesk.core import CancelToken, Cancelled, MethodError
from xaidesk.explain import gradients
from xaidesk.models.preprocessing import Preprocessing

import helpers

loaded = partial(helpers.loaded, size=(8, 8), mean=0.5, std=0.25)
run = helpers.run


def relu_net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(5, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 4),
    ).eval()


def smooth_net():
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.Tanh(), nn.Conv2d(6, 4, 3, stride=2, padding=1), nn.Softplus(),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 3),
    ).eval()


def reference_gradient(net, x, target):
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(xr)[0, target], xr)
    return grad


def no_hooks(net):
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in net.modules())


# --- plain gradients ------------------------------------------------------------------------------


def test_sensitivity_and_input_x_gradient_match_autograd():
    net = relu_net()
    model = loaded(net)
    x = torch.randn(1, 3, 8, 8)
    x_copy = x.clone()
    for target in range(4):
        grad = reference_gradient(net, x, target)
        sens = run("gradient.sensitivity", model, x, target)
        ixg = run("gradient.input_x_gradient", model, x, target)
        np.testing.assert_allclose(sens.relevance, (grad**2).sum(1)[0].numpy(), rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(ixg.relevance, (x * grad).sum(1)[0].numpy(), rtol=1e-5, atol=1e-8)
        with torch.no_grad():
            assert sens.score == pytest.approx(float(net(x)[0, target]), rel=1e-6)
    assert torch.equal(x, x_copy) and not x.requires_grad


def test_gradients_work_in_inference_mode_and_with_torchscript():
    net = relu_net()
    x = torch.randn(1, 3, 8, 8)
    expected = (reference_gradient(net, x, 1) ** 2).sum(1)[0].numpy()
    scripted = torch.jit.trace(net, torch.randn(1, 3, 8, 8))
    model = loaded(scripted, torchscript=True)
    with torch.inference_mode():  # a worker thread without grad mode must still work
        xi = x.clone()
        result = run("gradient.sensitivity", model, xi, 1)
    np.testing.assert_allclose(result.relevance, expected, rtol=1e-5, atol=1e-9)


# --- SmoothGrad -----------------------------------------------------------------------------------


@pytest.mark.parametrize("aggregation", ["gradient", "squared", "input_x_gradient"])
def test_smoothgrad_without_noise_is_the_gradient(aggregation):
    net = relu_net()
    x = torch.randn(1, 3, 8, 8)
    grad = reference_gradient(net, x, 2)
    expected = {"gradient": grad, "squared": grad**2, "input_x_gradient": x * grad}[aggregation].sum(1)[0]
    result = run("gradient.smoothgrad", loaded(net), x, 2, noise_level=0.0, samples=5, batch_size=2,
                 aggregation=aggregation)
    np.testing.assert_allclose(result.relevance, expected.numpy(), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(result.uncertainty, 0.0, atol=1e-6 * float(expected.abs().max()))


def test_smoothgrad_is_reproducible_independent_of_batch_size_and_streams_partials():
    net = relu_net()
    model = loaded(net)
    x = torch.randn(1, 3, 8, 8)
    partials = []
    told = []
    a = run("gradient.smoothgrad", model, x, 0, samples=7, batch_size=2, seed=3,
            progress=lambda f, m="", p=None: partials.append((f, p)) if p is not None else told.append((f, m)))
    b = run("gradient.smoothgrad", model, x, 0, samples=7, batch_size=7, seed=3)
    c = run("gradient.smoothgrad", model, x, 0, samples=7, batch_size=2, seed=4)
    np.testing.assert_allclose(a.relevance, b.relevance, rtol=1e-5, atol=1e-7)
    assert not np.allclose(a.relevance, c.relevance)
    # mean of the noisy gradients, computed here independently
    sigma = 0.1 * float(x.max() - x.min())
    g = torch.Generator().manual_seed(3)
    noisy = [x + sigma * torch.randn(x.shape[1:], generator=g) for _ in range(7)]
    expected = torch.stack([reference_gradient(net, n, 0).sum(1)[0] for n in noisy]).mean(0)
    np.testing.assert_allclose(a.relevance, expected.numpy(), rtol=1e-4, atol=1e-6)
    fractions = [f for f, _ in partials]
    assert fractions == sorted(fractions) and len(partials) == 3  # 2, 4, 6 of 7
    assert all(not p.complete and p.relevance.shape == (8, 8) for _, p in partials)
    assert told == [(0.0, "Preparing a faster copy of the network (once per model)")]


def test_smoothgrad_cancel_between_batches():
    token = CancelToken()

    def progress(fraction, message="", partial=None):
        token.cancel()

    with pytest.raises(Cancelled):
        run("gradient.smoothgrad", loaded(relu_net()), torch.randn(1, 3, 8, 8), 0, samples=10, batch_size=2,
            token=token, progress=progress)


# --- integrated gradients -------------------------------------------------------------------------


@pytest.mark.parametrize("baseline", ["zero", "black", "blur", "mean"])
@pytest.mark.parametrize("rule", ["trapezoid", "midpoint"])
def test_integrated_gradients_completeness(baseline, rule):
    net = smooth_net()
    model = loaded(net)
    torch.manual_seed(2)
    x = torch.randn(1, 3, 8, 8) * 2
    result = run("gradient.integrated", model, x, 1, steps=128, baseline=baseline, rule=rule, batch_size=32)
    with torch.no_grad():
        from xaidesk.explain.common import reference_input

        ref = reference_input(x, baseline, model.preprocessing)
        expected = float(net(x)[0, 1] - net(ref)[0, 1])
    assert abs(expected) > 1e-3
    assert float(result.relevance.sum()) == pytest.approx(expected, rel=0.01)
    assert result.extras["output_difference"] == pytest.approx(expected, rel=1e-5)
    assert result.extras["completeness_error"] < 0.01


def test_integrated_gradients_with_one_step_is_input_x_gradient_at_the_midpoint():
    net = smooth_net()
    x = torch.randn(1, 3, 8, 8)
    result = run("gradient.integrated", loaded(net), x, 0, steps=1, rule="midpoint", baseline="zero")
    expected = (x * reference_gradient(net, 0.5 * x, 0)).sum(1)[0]
    np.testing.assert_allclose(result.relevance, expected.numpy(), rtol=1e-5, atol=1e-7)


def test_integrated_gradients_partials_and_batch_independence():
    net = smooth_net()
    model = loaded(net)
    x = torch.randn(1, 3, 8, 8)
    partials = []
    told = []
    a = run("gradient.integrated", model, x, 2, steps=16, batch_size=3,
            progress=lambda f, m="", p=None: partials.append(p) if p is not None else told.append(m))
    b = run("gradient.integrated", model, x, 2, steps=16, batch_size=17)
    np.testing.assert_allclose(a.relevance, b.relevance, rtol=1e-5, atol=1e-7)
    assert len(partials) == 5 and not any(p.complete for p in partials)
    assert told == ["Preparing a faster copy of the network (once per model)"]
    assert sorted(gradients.spread_order(9)) == list(range(9))
    assert gradients.spread_order(9)[:3] == [0, 8, 4]


def test_black_baseline_is_pixel_zero():
    from xaidesk.explain.common import reference_input

    pre = Preprocessing(size=(2, 2), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))
    black = reference_input(torch.zeros(1, 3, 2, 2), "black", pre)
    expected = pre.to_tensor(np.zeros((2, 2, 3), dtype=np.uint8))
    torch.testing.assert_close(black, expected)


# --- robust gradient ------------------------------------------------------------------------------


def test_robust_gradient_with_gamma_zero_is_sensitivity():
    net = relu_net()
    model = loaded(net, architecture="demo_cnn")
    x = torch.randn(1, 3, 8, 8)
    for target in range(4):
        plain = run("gradient.sensitivity", model, x, target)
        robust = run("gradient.robust", model, x, target, gamma=0.0)
        np.testing.assert_allclose(robust.relevance, plain.relevance, rtol=1e-4, atol=1e-10)
        assert robust.extras["biased_layers"] == 3
    assert no_hooks(net)


def test_biased_layers_keep_the_forward_output_and_are_removed():
    net = relu_net()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        reference = net(x).clone()
    with gradients.biased_backward(net, gamma=0.5) as count:
        assert count == 3
        with torch.enable_grad():
            out = net(x.clone().requires_grad_(True))
        assert torch.equal(out.detach(), reference)
        with pytest.raises(RuntimeError, match="boom"):
            with gradients.biased_backward(net, gamma=1.0):
                raise RuntimeError("boom")
    assert no_hooks(net)
    with torch.no_grad():
        assert torch.equal(net(x), reference)


def test_robust_gradient_differs_from_plain_with_gamma():
    net = relu_net()
    model = loaded(net)
    x = torch.randn(1, 3, 8, 8)
    plain = run("gradient.sensitivity", model, x, 1)
    robust = run("gradient.robust", model, x, 1, gamma=0.25)
    assert not np.allclose(plain.relevance, robust.relevance, rtol=1e-3)
    assert robust.score == pytest.approx(plain.score, rel=1e-4, abs=1e-6)  # BN merged: float rounding


def test_robust_gradient_on_a_single_linear_layer_by_hand():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 4)).eval()
    model = loaded(net, size=(2, 2))
    x = torch.rand(1, 3, 2, 2)
    gamma = 0.7
    W = net[1].weight.detach().double().numpy()
    b = net[1].bias.detach().double().numpy()
    a = x.double().flatten().numpy()
    for target in range(4):
        w_up = W[target] + gamma * np.maximum(W[target], 0)
        b_up = b[target] + gamma * max(b[target], 0)
        z, z_up = W[target] @ a + b[target], w_up @ a + b_up
        grad = (z / z_up) * w_up  # d/dx of z_up * [z / z_up]_cst
        expected = (grad.reshape(3, 2, 2) ** 2).sum(0)
        result = run("gradient.robust", model, x, target, gamma=gamma)
        np.testing.assert_allclose(result.relevance, expected, rtol=1e-4)
    assert no_hooks(net)


def test_robust_gradient_restores_batch_norm_merge_and_refuses_torchscript():
    net = relu_net()
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = run("gradient.robust", loaded(net, architecture="vgg11_bn"), torch.randn(1, 3, 8, 8), 0)
    assert result.extras["canonizers"] == ["SequentialMergeBatchNorm"]
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert net[0].bias is not None and no_hooks(net)

    model = loaded(net)
    model.is_torchscript = True
    with pytest.raises(MethodError, match="TorchScript"):
        run("gradient.robust", model, torch.randn(1, 3, 8, 8), 0)
