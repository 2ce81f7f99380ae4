"""RELAX masks favour no side or corner, small inputs get a fine enough grid, and RELAX finds
planted evidence where it is (on a toy model and on the trained demo models)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from xaidesk.data.images import load_image
from xaidesk.explain.masks import GridMaskSampler, make_sampler
from xaidesk.explain.relax import run_relax
from xaidesk.explain.relax_layers import layer_encoder
from xaidesk.models.demo import load_demo, read_demo_metadata
from xaidesk.resources import resource_path

import helpers


def naive_relax(encode, x, masks):
    """Wickström et al.: R = (1/N) Σ s_i M_i / c, U = (1/N) Σ (s_i − R)² M_i / c, c = (1/N) Σ M_i."""
    with torch.no_grad():
        h = encode(x).reshape(-1).double()
        hbar = encode(x * masks).reshape(masks.shape[0], -1).double()
    s = (hbar @ h) / (hbar.norm(dim=1) * h.norm())
    m = masks[:, 0].double()
    coverage = m.mean(0)
    r = (s[:, None, None] * m).mean(0) / coverage
    u = ((s[:, None, None] - r) ** 2 * m).mean(0) / coverage
    return r.numpy(), u.numpy()


relax = partial(helpers.run, "relax", target=0)


def demo_input(model, sample):
    return model.preprocessing.to_tensor(load_image(resource_path("samples", sample)).pixels)


@pytest.mark.parametrize("shape, keep", [((32, 32), 0.5), ((24, 40), 0.3)])
def test_every_pixel_corners_included_is_kept_as_often_on_average(shape, keep):
    masks = GridMaskSampler(shape, seed=0, keep_probability=keep, antithetic=False).sample(0, 4000)
    coverage = masks[:, 0].double().mean(0).numpy()
    assert np.abs(coverage - keep).max() < 0.035
    corners = [coverage[0, 0], coverage[0, -1], coverage[-1, 0], coverage[-1, -1]]
    np.testing.assert_allclose(corners, keep, atol=0.03)


@pytest.mark.parametrize("name, cells", [("grid", 2), ("grid", 7), ("grid", 3), ("time", 5), ("time_frequency", 4)])
def test_masks_favour_no_side_or_corner(name, cells):
    """E[a·M]/E[M] (a: the visible share) is what an area-driven model's map converges to; a mask
    and its mirror image must be equally likely, so it is mirror-symmetric."""
    sampler = make_sampler(name, (32, 27), cells=cells, seed=0)
    expected = sampler.area_expectation()
    np.testing.assert_allclose(expected, expected[::-1, :], atol=1e-7)
    np.testing.assert_allclose(expected, expected[:, ::-1], atol=1e-7)
    # ... and it is what the masks really give (so the symmetry is the masks', not the formula's).
    masks = make_sampler(name, (32, 27), cells=cells, seed=1, antithetic=False).sample(0, 6000)[:, 0].double()
    area = masks.mean(dim=(1, 2))
    empirical = ((area[:, None, None] * masks).mean(0) / masks.mean(0)).numpy()
    assert np.abs(empirical - expected).max() < 0.01


def test_a_grid_mask_flipped_is_the_flipped_grid_at_the_mirrored_shift():
    sampler = GridMaskSampler((30, 22), cells=4, seed=0)
    grid, dy, dx = sampler._draw_params(sampler.generator(3))
    mask = sampler._render([(grid, dy, dx)])[0, 0]
    mirrored = sampler._render([(grid[::-1, ::-1].copy(), sampler.cell[0] - 1 - dy, sampler.cell[1] - 1 - dx)])[0, 0]
    torch.testing.assert_close(mask.flip(0, 1), mirrored, atol=1e-6, rtol=0)


class PatchAndConstant(nn.Module):
    """A representation made of one small patch of the input and a constant."""

    def __init__(self, top, left, size=4):
        super().__init__()
        self.top, self.left, self.size = top, left, size

    def forward(self, x):
        patch = x[:, :, self.top:self.top + self.size, self.left:self.left + self.size].reshape(x.shape[0], -1)
        return torch.cat([patch, torch.full((x.shape[0], 4), 2.0)], dim=1)


def test_with_automatic_settings_a_small_input_shows_the_evidence_where_it_is():
    """On a 32-pixel input the automatic grid used to have 2 cells: every map was a corner-to-corner fade."""
    top, left = 6, 20
    encode = PatchAndConstant(top, left)
    x = torch.ones(1, 1, 32, 32)
    run = run_relax(encode, x, num_masks=1500, seed=0)
    r = run.accumulator.importance()
    peak = np.unravel_index(int(np.argmax(r)), r.shape)
    assert top <= peak[0] < top + 4 and left <= peak[1] < left + 4
    inside = np.zeros_like(r, dtype=bool)
    inside[top:top + 4, left:left + 4] = True
    assert r[inside].mean() > np.quantile(r, 0.9)
    # The same masks through a naive RELAX give the same map (the coverage correction only removes noise).
    masks = run.sampler.sample(0, 1500)
    r_naive, u_naive = naive_relax(encode, x, masks)
    assert np.corrcoef(r.ravel(), r_naive.ravel())[0, 1] > 0.95
    np.testing.assert_allclose(run.accumulator.uncertainty(), u_naive, rtol=1e-3, atol=1e-9)


def test_an_input_blind_model_gets_a_flat_map():
    x = torch.randn(1, 3, 32, 32)
    run = run_relax(lambda b: torch.ones(b.shape[0], 5), x, num_masks=200, seed=0)
    r, u = run.accumulator.importance(), run.accumulator.uncertainty()
    np.testing.assert_allclose(r, 1.0, atol=1e-6)
    np.testing.assert_allclose(u, 0.0, atol=1e-9)


def test_the_demo_digit_map_follows_the_strokes_not_a_corner_fade():
    model = load_demo("digits")
    x = demo_input(model, "digits_7.png")
    result = relax(model, x, num_masks=1000)
    r = result.relevance
    ink = x[0, 0].numpy() > float(x.mean())
    assert r[ink].mean() > r[~ink].mean()
    assert np.corrcoef(r.ravel(), gaussian_filter(x[0, 0].numpy(), 2).ravel())[0, 1] > 0.2
    assert result.extras["cells"] == 8
    assert result.extras["layer"] == "14 · ReLU (before the classifier)"


def test_on_the_clever_hans_model_the_tag_is_the_most_important_spot():
    model = load_demo("clever_hans")
    box = read_demo_metadata("clever_hans")["shortcut_box"]
    top, left, height, width = box["top"], box["left"], box["height"], box["width"]
    x = demo_input(model, "clever_hans_horse_tagged_2.png")
    r = relax(model, x, num_masks=1000).relevance
    inside = np.zeros_like(r, dtype=bool)
    inside[top:top + height, left:left + width] = True
    assert r[inside].mean() > r.mean() + 2 * r.std() * inside.mean() ** 0.5
    peak = np.unravel_index(int(np.argmax(r)), r.shape)
    assert inside[peak]


def test_the_compared_layer_is_named_as_the_layer_list_names_it():
    model = load_demo("digits")
    x = demo_input(model, "digits_0.png")
    with layer_encoder(model, "", example=x) as (_, description, _):
        assert description == "14 · ReLU (before the classifier)"
    with layer_encoder(model, "", example=torch.zeros(1, 1, 5, 5)) as (_, description, _):
        assert description == "the input of 15 (before the classifier)"  # the model cannot run on it
    assert not [h for m in model.module.modules() for h in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())]
