"""The perturbation engine and the mask samplers: batching, streaming, reproducibility, options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from xaidesk.core import CancelToken
from xaidesk.explain.masks import SAMPLERS, GridMaskSampler, MaskSampler, automatic_cells, make_sampler, register_sampler
from xaidesk.models.inference import (
    BatchStats, evaluate_perturbations, has_conv2d, preferred_memory_format,
)


def conv_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 3)).eval()


# --- samplers --------------------------------------------------------------------------------------


def test_automatic_cells_scale_with_the_input():
    assert automatic_cells(224, 224) == 8
    assert automatic_cells(448, 300) == round(8 * 300 / 224)
    assert automatic_cells(32, 32) == 8  # small inputs keep 8 cells (a cell of at least 2 pixels)
    assert automatic_cells(96, 64) == 8
    assert automatic_cells(10, 12) == 5 and automatic_cells(3, 3) == 2
    assert GridMaskSampler((224, 224)).cells == 8 and GridMaskSampler((224, 224)).cell == (28, 28)


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_grid_masks_lie_in_unit_interval_and_keep_about_p(p):
    sampler = GridMaskSampler((40, 36), seed=1, cells=5, keep_probability=p, antithetic=False)
    masks = sampler.sample(0, 600)
    assert masks.shape == (600, 1, 40, 36) and masks.dtype == torch.float32
    assert float(masks.min()) >= 0.0 and float(masks.max()) <= 1.0
    assert abs(float(masks.mean()) - p) < 0.02
    # Bilinear upsampling of a binary grid: both fully kept and fully hidden pixels occur.
    assert float((masks > 0.999).float().mean()) > 0.01 and float((masks < 0.001).float().mean()) > 0.05


def test_masks_are_bilinear_upsampled_shifted_grids():
    import torch.nn.functional as F
    sampler = GridMaskSampler((30, 30), seed=3, cells=3, antithetic=False)
    grid, dy, dx = sampler._draw_params(sampler.generator(0))
    up = F.interpolate(torch.from_numpy(grid.astype(np.float32))[None, None], size=(39, 39), mode="bilinear",
                       align_corners=False)
    torch.testing.assert_close(sampler.sample(0, 1)[0, 0], up[0, 0, dy:dy + 30, dx:dx + 30], atol=1e-6, rtol=0)
    assert 0 <= dy < 10 and 0 <= dx < 10


def test_same_seed_same_masks_whatever_the_batching():
    whole = GridMaskSampler((20, 24), seed=7).sample(0, 23)
    sampler = GridMaskSampler((20, 24), seed=7)
    pieces = torch.cat([sampler.sample(a, min(a + b, 23)) for a, b in zip(range(0, 23, 3), [3] * 8)])
    torch.testing.assert_close(pieces, whole, rtol=0, atol=0)
    odd = GridMaskSampler((20, 24), seed=7)
    singles = torch.cat([odd.sample(i, i + 1) for i in range(23)])
    torch.testing.assert_close(singles, whole, rtol=0, atol=0)
    other = GridMaskSampler((20, 24), seed=8).sample(0, 23)
    assert not torch.equal(other, whole)


def test_antithetic_pairs_are_complements_and_iid_masks_are_not():
    masks = GridMaskSampler((16, 16), seed=0, antithetic=True).sample(0, 10)
    torch.testing.assert_close(masks[0::2] + masks[1::2], torch.ones(5, 1, 16, 16))
    plain = GridMaskSampler((16, 16), seed=0, antithetic=False).sample(0, 10)
    assert not torch.allclose(plain[0::2] + plain[1::2], torch.ones(5, 1, 16, 16))
    # An odd start (second half of a pair) is the complement of the first half.
    sampler = GridMaskSampler((16, 16), seed=0, antithetic=True)
    torch.testing.assert_close(sampler.sample(3, 4), masks[3:4])


def test_antithetic_is_switched_off_when_the_complement_is_not_equally_likely():
    sampler = GridMaskSampler((16, 16), keep_probability=0.7, antithetic=True)
    assert not sampler.antithetic and sampler.notes
    assert GridMaskSampler((16, 16), keep_probability=0.5, antithetic=True).antithetic


def test_a_new_strategy_is_one_small_class():
    name = "test_rows"
    if name not in SAMPLERS:
        @register_sampler(name)
        class RowSampler(MaskSampler):
            def draw(self, rng, count):
                rows = torch.from_numpy(rng.random((count, 1, self.shape[0], 1)) < 0.5).float()
                return rows.expand(count, 1, *self.shape).clone()
    sampler = make_sampler(name, (8, 5), seed=2, antithetic=True)
    masks = sampler.sample(0, 6)
    assert masks.shape == (6, 1, 8, 5)
    torch.testing.assert_close(masks[0] + masks[1], torch.ones(1, 8, 5))
    torch.testing.assert_close(make_sampler(name, (8, 5), seed=2, antithetic=True).sample(2, 6), masks[2:])
    with pytest.raises(ValueError):
        make_sampler("no_such_sampler", (8, 5))


def test_the_engine_never_asks_for_more_than_one_batch_of_masks():
    net = conv_net()
    x = torch.randn(1, 3, 16, 16)
    sampler = GridMaskSampler((16, 16), seed=0)
    live = []

    def make_batch(start, stop):
        masks = sampler.sample(start, stop)
        live.append(masks.shape[0])
        return x * masks

    for batch_size in (5, 0):
        sampler.requests.clear()
        live.clear()
        stats = BatchStats()
        evaluate_perturbations(net, make_batch, 53, batch_size=batch_size, stats=stats,
                               memory_budget=16 * 16 * 3 * 4 * 32 * 6, keep_outputs=False)
        assert sum(stats.sizes) == 53
        assert max(sampler.requests) <= max(stats.sizes) and max(live) <= max(stats.sizes)
        assert max(stats.sizes) <= (5 if batch_size else 6)


# --- engine options ----------------------------------------------------------------------------------


def test_default_behaviour_is_unchanged_all_outputs_in_order():
    net = conv_net()
    inputs = torch.randn(11, 3, 16, 16)
    outputs = evaluate_perturbations(net, lambda a, b: inputs[a:b], 11, batch_size=4)
    with torch.no_grad():
        expected = net(inputs)
    assert outputs.shape == (11, 3)
    torch.testing.assert_close(outputs, expected, rtol=1e-5, atol=1e-6)


def test_features_are_flattened_and_need_not_be_kept():
    net = conv_net()
    encoder = net[:3]  # (B, 4, 8, 8) maps
    inputs = torch.randn(9, 3, 16, 16)
    seen = []
    kept = evaluate_perturbations(encoder, lambda a, b: inputs[a:b], 9, batch_size=4, outputs="features")
    with torch.no_grad():
        expected = encoder(inputs).reshape(9, -1)
    torch.testing.assert_close(kept, expected, rtol=1e-5, atol=1e-6)
    result = evaluate_perturbations(encoder, lambda a, b: inputs[a:b], 9, batch_size=4, outputs="features",
                                    keep_outputs=False, on_batch=lambda a, b, o: seen.append(o))
    assert result is None
    torch.testing.assert_close(torch.cat(seen), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception):  # logits mode insists on (B, K)
        evaluate_perturbations(encoder, lambda a, b: inputs[a:b], 9, batch_size=4)


def test_channels_last_gives_the_same_outputs():
    net = conv_net()
    inputs = torch.randn(10, 3, 16, 16)
    plain = evaluate_perturbations(net, lambda a, b: inputs[a:b], 10, batch_size=3)
    stats = BatchStats()
    fast = evaluate_perturbations(net, lambda a, b: inputs[a:b], 10, batch_size=3, memory_format="auto",
                                  stats=stats)
    assert stats.memory_format == "channels_last"
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    assert has_conv2d(net) and not has_conv2d(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)))
    assert preferred_memory_format(torch.jit.trace(net, inputs[:1])) == "channels_last"
    assert preferred_memory_format(lambda t: t) == "contiguous"


def test_should_stop_ends_the_run_early():
    net = conv_net()
    inputs = torch.randn(40, 3, 16, 16)
    stats = BatchStats()
    fractions = []
    out = evaluate_perturbations(net, lambda a, b: inputs[a:b], 40, batch_size=6, stats=stats,
                                 should_stop=lambda done: done >= 12,
                                 progress=lambda f, m="", p=None: fractions.append(f))
    assert stats.stopped_early and stats.samples == 12 and out.shape == (12, 3)
    assert fractions[-1] == 1.0


def test_engine_token_check_still_raises():
    from xaidesk.core import Cancelled
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        evaluate_perturbations(conv_net(), lambda a, b: torch.randn(b - a, 3, 16, 16), 5, token=token)
