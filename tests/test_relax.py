"""RELAX: streaming equals a naive implementation, U >= 0, reproducibility, planted evidence,
cancel with a usable partial result, hooks and layers."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from xaidesk.core import CancelToken, Cancelled, MethodError, get_method
from xaidesk.explain import explain_image
from xaidesk.explain.masks import GridMaskSampler
from xaidesk.explain.relax import run_relax
from xaidesk.explain.relax_estimators import RelaxAccumulator, u_relax
from xaidesk.explain.relax_layers import layer_encoder, list_layers

import helpers

SIZE = 16


def conv_net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 3),
    ).eval()


loaded = partial(helpers.loaded, size=(SIZE, SIZE), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3),
                 class_names=["a", "b", "c"])
run = partial(helpers.run, "relax", target=0)


def naive_relax(encoder, x, masks):
    """All masks at once, formulas of docs/methods.md, normalised by the mask weight Σ M."""
    with torch.no_grad():
        h = encoder(x).reshape(1, -1).double()
        hbar = encoder(x * masks).reshape(masks.shape[0], -1).double()
    s = (hbar @ h[0]) / (hbar.norm(dim=1) * h.norm())
    m = masks[:, 0].double()
    weight = m.sum(0)
    r = (s[:, None, None] * m).sum(0) / weight
    u = (m * (s[:, None, None] - r) ** 2).sum(0) / weight
    return r.numpy(), u.numpy(), s.numpy()


def all_hooks(module):
    return [h for m in module.modules() for h in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())]


@pytest.mark.parametrize("antithetic", [True, False])
def test_streaming_equals_naive_for_several_batch_sizes(antithetic):
    net = conv_net()
    x = torch.randn(1, 3, SIZE, SIZE)
    n = 41
    masks = GridMaskSampler((SIZE, SIZE), seed=5, cells=3, antithetic=antithetic).sample(0, n)
    r_ref, u_ref, s_ref = naive_relax(net[:-1], x, masks)
    for batch_size in (1, 3, 8, 64):
        result = run(loaded(net), x, num_masks=n, seed=5, cells=3, antithetic=antithetic, batch_size=batch_size,
                     control_variate=False)
        np.testing.assert_allclose(result.relevance, r_ref, rtol=0, atol=1e-6)
        np.testing.assert_allclose(result.uncertainty, u_ref, rtol=1e-3, atol=1e-9)
        assert result.extras["n_used"] == n and result.extras["layer"] == "6 · Flatten (before the classifier)"
        assert result.extras["similarity_mean"] == pytest.approx(float(s_ref.mean()), abs=1e-6)
        assert result.extras["antithetic"] is antithetic


def test_the_accumulator_matches_naive_weighted_formulas_and_its_standard_error():
    rng = np.random.default_rng(0)
    masks = torch.from_numpy(rng.random((30, 5, 4)).astype(np.float32))
    sims = torch.from_numpy(0.9 + 0.05 * rng.standard_normal(30))
    acc = RelaxAccumulator((5, 4), group=2)
    for a, b in [(0, 7), (7, 8), (8, 19), (19, 30)]:  # odd splits cut pairs in half
        acc.update(masks[a:b], sims[a:b], a)
    m, s = masks.double().numpy(), sims.numpy()
    r = (s[:, None, None] * m).sum(0) / m.sum(0)
    u = (m * (s[:, None, None] - r) ** 2).sum(0) / m.sum(0)
    np.testing.assert_allclose(acc.importance(), r, atol=1e-6)
    np.testing.assert_allclose(acc.uncertainty(), u, rtol=1e-5)
    a_u = (s[:, None, None] * m).reshape(15, 2, 5, 4).sum(1)
    b_u = m.reshape(15, 2, 5, 4).sum(1)
    se = np.sqrt(((a_u - r * b_u) ** 2).sum(0)) / b_u.sum(0)
    np.testing.assert_allclose(acc.standard_error_map(), se, rtol=1e-4)
    assert acc.units == 15


@pytest.mark.parametrize("batch_size", [1, 3, 5, 7])
def test_uncertainty_is_never_negative(batch_size):
    net = conv_net()
    x = torch.randn(1, 3, SIZE, SIZE)
    result = run(loaded(net), x, num_masks=33, seed=2, batch_size=batch_size, antithetic=True)
    assert np.all(result.uncertainty >= 0) and np.isfinite(result.uncertainty).all()
    assert result.uncertainty.shape == (SIZE, SIZE) and result.uncertainty.max() > 0
    # Nearly constant similarities (a representation that hardly changes) are the hard case.
    acc = RelaxAccumulator((4, 4), group=2)
    masks = GridMaskSampler((4, 4), seed=0, cells=2).sample(0, 25)
    for a in range(0, 25, batch_size):
        b = min(25, a + batch_size)
        acc.update(masks[a:b, 0], torch.full((b - a,), 0.7) + 1e-12 * torch.arange(a, b), a)
    assert np.all(acc.uncertainty() >= 0)


def test_same_seed_same_result_other_seed_other_result():
    net = conv_net()
    x = torch.randn(1, 3, SIZE, SIZE)
    first = run(loaded(net), x, num_masks=40, seed=11, batch_size=0)
    again = run(loaded(net), x, num_masks=40, seed=11, batch_size=6)
    other = run(loaded(net), x, num_masks=40, seed=12, batch_size=0)
    np.testing.assert_allclose(first.relevance, again.relevance, atol=1e-6)
    np.testing.assert_allclose(first.uncertainty, again.uncertainty, rtol=1e-4, atol=1e-10)
    assert not np.allclose(first.relevance, other.relevance, atol=1e-6)


class PatchReadout(nn.Module):
    """A representation that sees only a 6x6 patch: a fixed linear read-out of it."""

    def __init__(self, top, left):
        super().__init__()
        self.top, self.left = top, left
        torch.manual_seed(1)
        self.read = nn.Linear(3 * 36, 10)

    def forward(self, x):
        patch = x[:, :, self.top:self.top + 6, self.left:self.left + 6]
        return self.read(patch.reshape(x.shape[0], -1))


def test_planted_evidence_is_ranked_first():
    top, left = 18, 6
    net = nn.Sequential(PatchReadout(top, left), nn.ReLU(), nn.Linear(10, 3)).eval()
    model = loaded(net, size=(32, 32))
    x = torch.randn(1, 3, 32, 32) + 1.0
    result = run(model, x, num_masks=600, cells=4, seed=0)
    assert result.extras["layer"] == "1 · ReLU (before the classifier)"
    r = result.relevance
    inside = np.zeros_like(r, dtype=bool)
    inside[top:top + 6, left:left + 6] = True
    assert r[inside].mean() > r[~inside].mean() + 3 * result.extras["standard_error"]
    # The most important pixels lie in the patch (a grid cell of 8 pixels blurs its border).
    near = np.zeros_like(inside)
    near[top - 4:top + 10, left - 4:left + 10] = True
    top_pixels = np.argsort(r.ravel())[-36:]
    assert near.ravel()[top_pixels].all()


def test_cancel_returns_within_one_batch_with_a_usable_partial():
    net = conv_net()
    model = loaded(net)
    token = CancelToken()
    seen = []

    def progress(fraction, message="", partial=None):
        if partial is not None:
            seen.append(partial.extras["n_done"])
            token.cancel()

    with pytest.raises(Cancelled) as caught:
        run(model, torch.randn(1, 3, SIZE, SIZE), token=token, progress=progress, num_masks=500, batch_size=4)
    partial = getattr(caught.value, "partial", None)
    assert partial is not None and not partial.complete
    assert partial.extras["n_done"] == seen[0] > 0  # no batch ran after the cancel
    assert partial.relevance.shape == (SIZE, SIZE) and np.isfinite(partial.relevance).all()
    assert partial.uncertainty.shape == (SIZE, SIZE) and np.all(partial.uncertainty >= 0)
    assert not all_hooks(net)


def test_cancel_before_any_batch_has_no_partial():
    token = CancelToken()
    calls = []

    def encode(batch):
        calls.append(batch.shape[0])
        if len(calls) == 1:  # the unmasked reference
            token.cancel()
        return batch.mean(dim=(2, 3))

    with pytest.raises(Cancelled) as caught:
        run_relax(encode, torch.randn(1, 3, 8, 8), num_masks=20, token=token, make_partial=lambda acc: acc)
    assert caught.value.partial is None and calls == [1]


def test_hooks_are_removed_after_success_failure_and_cancel():
    net = conv_net()
    model = loaded(net)
    x = torch.randn(1, 3, SIZE, SIZE)
    run(model, x, num_masks=6, layer="3")
    assert not all_hooks(net)
    with pytest.raises(MethodError):  # a zero representation: ReLU of an all-negative map
        with torch.no_grad():
            net[3].bias.fill_(-1e3)
        run(model, x, num_masks=6, layer="4")
    assert not all_hooks(net)
    with pytest.raises(MethodError):
        run(model, x, num_masks=6, layer="no.such.layer")
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run(model, x, token=token, num_masks=6)
    assert not all_hooks(net)
    with pytest.raises(RuntimeError):
        with layer_encoder(model, "3") as (encode, _, _):
            assert len(all_hooks(net)) == 1
            raise RuntimeError("boom")
    assert not all_hooks(net)


def test_a_chosen_layer_is_used_and_the_rest_of_the_forward_is_skipped():
    net = conv_net()
    model = loaded(net)
    x = torch.randn(1, 3, SIZE, SIZE)
    calls = []
    handle = net[7].register_forward_hook(lambda *a: calls.append(1))
    try:
        result = run(model, x, num_masks=10, layer="4", cells=2, seed=3, antithetic=False, control_variate=False)
    finally:
        handle.remove()
    assert calls == [] and result.extras["layer"] == "4"
    masks = GridMaskSampler((SIZE, SIZE), seed=3, cells=2, antithetic=False).sample(0, 10)
    r_ref, u_ref, _ = naive_relax(net[:5], x, masks)  # (B, 8, 8, 8) maps, flattened
    np.testing.assert_allclose(result.relevance, r_ref, atol=1e-6)


def test_list_layers_on_a_small_conv_net():
    net = conv_net()
    layers = list_layers(loaded(net))
    names = [name for name, _ in layers]
    assert names == [str(i) for i in range(8)]
    described = dict(layers)
    assert described["0"] == "0 · Conv2d · 6×16×16"
    assert described["3"] == "3 · Conv2d · 8×8×8"
    assert described["6"] == "6 · Flatten · 32"
    assert not all_hooks(net)
    assert list_layers(loaded(torch.jit.trace(net, torch.zeros(1, 3, SIZE, SIZE)), torchscript=True)) == []


def test_torchscript_uses_the_model_output_and_says_so():
    net = conv_net()
    scripted = torch.jit.trace(net, torch.zeros(1, 3, SIZE, SIZE))
    x = torch.randn(1, 3, SIZE, SIZE)
    result = run(loaded(scripted, torchscript=True), x, num_masks=12, seed=1, control_variate=False)
    assert result.extras["layer"] == "model output"
    assert any("TorchScript" in note for note in result.extras["notes"])
    masks = GridMaskSampler((SIZE, SIZE), seed=1, cells=result.extras["cells"]).sample(0, 12)
    r_ref, _, _ = naive_relax(net, x, masks)
    np.testing.assert_allclose(result.relevance, r_ref, atol=1e-5)


def test_extras_target_note_u_relax_and_adaptive_stop():
    net = conv_net()
    model = loaded(net)
    x = torch.randn(1, 3, SIZE, SIZE)
    result = run(model, x, num_masks=30, output="u_relax", target=2)
    for key in ("n_used", "layer", "cells", "antithetic", "standard_error", "similarity_mean", "notes"):
        assert key in result.extras
    assert any("does not use a class" in note for note in result.extras["notes"])
    assert result.target.index == 2
    plain = run(model, x, num_masks=30)
    expected = np.where(plain.uncertainty <= np.median(plain.uncertainty), plain.relevance, 0.0)
    np.testing.assert_allclose(result.relevance, expected, atol=1e-6)
    np.testing.assert_allclose(u_relax(plain.relevance, plain.uncertainty), expected, atol=1e-6)
    assert (result.relevance == 0).any()
    stopped = run(model, x, num_masks=5000, adaptive_stop=True, tolerance=0.05, batch_size=20)
    assert stopped.extras["stopped_early"] and 100 <= stopped.extras["n_used"] < 5000
    assert stopped.extras["standard_error"] < 0.05
    mixed = run(model, x, num_masks=10, keep_probability=0.3, antithetic=True)
    assert mixed.extras["antithetic"] is False and len(mixed.extras["notes"]) >= 2


def test_relax_through_the_pipeline_maps_both_maps_back():
    image = np.random.default_rng(0).integers(0, 256, size=(30, 22, 3), dtype=np.uint8)
    result = explain_image(loaded(conv_net()), image, "relax", params={"num_masks": "20"})
    assert result.relevance.shape == (30, 22) and result.uncertainty.shape == (30, 22)
    assert result.complete and result.method == "relax"
    info = get_method("relax")
    assert info.iterative and info.resample == "value" and set(info.modality) == {"image", "audio"}
    layer = next(p for p in info.params if p.name == "layer")
    assert layer.choices_from == "model_layers" and layer.default == ""
    assert "how certain" in info.help  # plain words for the uncertainty (variance) map


def test_area_control_variate_matches_its_formula_and_its_exact_expectation():
    net = conv_net()
    x = torch.randn(1, 3, SIZE, SIZE)
    n = 40
    sampler = GridMaskSampler((SIZE, SIZE), seed=4, cells=3)
    masks = sampler.sample(0, n)
    r_ref, u_ref, s = naive_relax(net[:-1], x, masks)
    m = masks[:, 0].double().numpy()
    a = m.mean(axis=(1, 2))
    beta = np.cov(s, a, bias=True)[0, 1] / np.var(a)
    area = (a[:, None, None] * m).sum(0) / m.sum(0)
    expected = r_ref - beta * (area - sampler.area_expectation())
    result = run(loaded(net), x, num_masks=n, seed=4, cells=3, batch_size=7)
    assert result.extras["control_variate"] and result.extras["area_beta"] == pytest.approx(beta, rel=1e-6)
    np.testing.assert_allclose(result.relevance, expected, atol=1e-6)
    np.testing.assert_allclose(result.uncertainty, u_ref, rtol=1e-3, atol=1e-9)  # U is unchanged
    # The known expectation E[a M] / E[M] agrees with a long Monte-Carlo estimate (mask-only).
    many = GridMaskSampler((12, 10), seed=9, cells=3, antithetic=False).sample(0, 40000)[:, 0].double()
    area_mc = ((many.mean(dim=(1, 2))[:, None, None] * many).mean(0) / many.mean(0)).numpy()
    exact = GridMaskSampler((12, 10), cells=3).area_expectation()
    np.testing.assert_allclose(area_mc, exact, atol=3e-3)
    assert np.corrcoef(area_mc.ravel(), exact.ravel())[0, 1] > 0.99
