"""Occlusion and the perturbation engine: naive reference, batching, cancel, streaming."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from xaidesk.core import CancelToken, Cancelled
from xaidesk.explain import explain_image
from xaidesk.explain.occlusion import drop_map, effective_geometry
from xaidesk.models.inference import BatchStats, evaluate_perturbations, memory_batch_limit

import helpers


def tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 6 * 6, 3),
    ).eval()


loaded = partial(helpers.loaded, size=(12, 12), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3),
                 class_names=["a", "b", "c"])
run = partial(helpers.run, "occlusion")


def naive_occlusion(net, x, target, patch, stride, fill):
    """One forward per patch; each pixel averages the drops of the patches that contain it."""
    h, w = x.shape[-2:]
    tops = sorted(set(list(range(0, h - patch + 1, stride)) + [h - patch]))
    lefts = sorted(set(list(range(0, w - patch + 1, stride)) + [w - patch]))
    with torch.no_grad():
        base = float(net(x)[0, target])
        drops = {}
        for t in tops:
            for l in lefts:
                y = x.clone()
                y[:, :, t:t + patch, l:l + patch] = fill[:, :, t:t + patch, l:l + patch]
                drops[(t, l)] = base - float(net(y)[0, target])
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            covering = [d for (t, l), d in drops.items() if t <= i < t + patch and l <= j < l + patch]
            out[i, j] = np.mean(covering)
    return out


@pytest.mark.parametrize("fill", ["zero", "black", "mean"])
def test_occlusion_equals_naive_loop(fill):
    net = tiny_net()
    model = loaded(net)
    x = torch.randn(1, 3, 12, 12)
    if fill == "zero":
        fill_t = torch.zeros_like(x)
    elif fill == "black":
        fill_t = ((0 - torch.tensor([0.5, 0.4, 0.3])) / torch.tensor([0.2, 0.25, 0.3])).view(1, 3, 1, 1).expand_as(x)
    else:
        fill_t = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    for target in range(3):
        expected = naive_occlusion(net, x, target, patch=5, stride=3, fill=fill_t)
        result = run(model, x, target, patch_size=5, stride=3, fill=fill, scale_to_input=False, batch_size=4)
        np.testing.assert_allclose(result.relevance, expected, rtol=1e-5, atol=1e-6)
        assert result.extras["patches_evaluated"] == 16  # starts 0, 3, 6, 7 in each direction
        assert result.score == pytest.approx(float(net(x)[0, target]), rel=1e-6)


def test_batch_size_does_not_change_the_result_and_other_classes_come_free():
    net = tiny_net()
    model = loaded(net)
    x = torch.randn(1, 3, 12, 12)
    results = [run(model, x, 1, patch_size=4, stride=2, fill="blur", scale_to_input=False, batch_size=b)
               for b in (1, 7, 0, 1000)]
    for other in results[1:]:
        np.testing.assert_allclose(other.relevance, results[0].relevance, rtol=1e-5, atol=1e-6)
    extras = results[0].extras
    for target in (0, 2):
        from_stored = drop_map(extras["outputs"], extras["base_output"], extras["patches"], (12, 12), target)
        fresh = run(model, x, target, patch_size=4, stride=2, fill="blur", scale_to_input=False)
        np.testing.assert_allclose(from_stored, fresh.relevance, rtol=1e-5, atol=1e-6)


def test_cancel_raises_and_partials_arrive():
    model = loaded(tiny_net())
    x = torch.randn(1, 3, 12, 12)
    token = CancelToken()
    partials, fractions = [], []

    def progress(fraction, message="", partial=None):
        fractions.append(fraction)
        if partial is not None:
            partials.append(partial)
            token.cancel()

    with pytest.raises(Cancelled):
        run(model, x, 0, token=token, progress=progress, patch_size=2, stride=1, scale_to_input=False,
            batch_size=2)
    assert len(partials) == 1 and not partials[0].complete
    assert partials[0].relevance.shape == (12, 12) and np.abs(partials[0].relevance).sum() > 0
    assert fractions[-1] < 1.0


def test_occlusion_works_with_torchscript_and_through_the_pipeline():
    net = tiny_net()
    scripted = torch.jit.trace(net, torch.randn(1, 3, 12, 12))
    image = np.random.default_rng(0).integers(0, 256, size=(30, 24, 3), dtype=np.uint8)
    result = explain_image(loaded(scripted, torchscript=True), image, "occlusion",
                           params={"patch_size": "4", "stride": "2", "scale_to_input": "false"})
    plain = explain_image(loaded(net), image, "occlusion",
                          params={"patch_size": 4, "stride": 2, "scale_to_input": False})
    assert result.relevance.shape == (30, 24)
    np.testing.assert_allclose(result.relevance, plain.relevance, rtol=1e-4, atol=1e-5)


def test_patch_geometry_scales_with_the_input():
    assert effective_geometry(224, 224, 16, 8, True) == (16, 8)
    assert effective_geometry(28, 28, 16, 8, True) == (2, 1)
    assert effective_geometry(28, 28, 16, 8, False) == (16, 8)
    assert effective_geometry(10, 10, 64, 8, False) == (10, 8)


# --- the perturbation engine ----------------------------------------------------------------------


def test_engine_returns_all_outputs_in_order_and_never_builds_big_batches():
    net = tiny_net()
    inputs = torch.randn(37, 3, 12, 12)
    asked = []

    def make_batch(start, stop):
        asked.append(stop - start)
        return inputs[start:stop]

    stats = BatchStats()
    streamed = []
    outputs = evaluate_perturbations(net, make_batch, 37, token=CancelToken(), stats=stats,
                                     on_batch=lambda a, b, o: streamed.append((a, b, o.shape[0])),
                                     memory_budget=12 * 12 * 3 * 4 * 32 * 5)  # room for 5 samples
    with torch.no_grad():
        expected = net(inputs)
    torch.testing.assert_close(outputs, expected, rtol=1e-5, atol=1e-6)
    assert memory_batch_limit(inputs[0], 12 * 12 * 3 * 4 * 32 * 5) == 5
    assert max(asked) <= 5 and sum(stats.sizes) == 37
    assert [a for a, _, _ in streamed] == sorted(a for a, _, _ in streamed)
    assert streamed[-1][1] == 37
    assert not outputs.requires_grad


def test_engine_checks_the_token_before_every_batch():
    token = CancelToken()
    calls = []

    def make_batch(start, stop):
        calls.append(start)
        if len(calls) == 2:
            token.cancel()
        return torch.randn(stop - start, 3, 12, 12)

    with pytest.raises(Cancelled):
        evaluate_perturbations(tiny_net(), make_batch, 20, token=token, batch_size=3)
    assert calls == [0, 3]


def test_cancel_keeps_the_scan_so_far():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(2 * 16 * 16, 3)).eval()
    model = loaded(net, size=(16, 16), channels=1, mean=0.0, std=1.0)
    token = CancelToken()
    seen = []

    def progress(fraction, message="", partial=None):
        seen.append(fraction)
        if len(seen) == 2:
            token.cancel()

    with pytest.raises(Cancelled) as caught:
        run(model, torch.randn(1, 1, 16, 16), 0, token=token, progress=progress, patch_size=2, stride=1, batch_size=4,
            scale_to_input=False)
    partial = caught.value.partial
    assert partial is not None and not partial.complete
    assert partial.relevance.shape == (16, 16) and np.isfinite(partial.relevance).all()
    assert 0 < partial.extras["n_done"] < partial.extras["num_samples"]
