"""Pixel flipping: equals a naive loop, and separates a faithful map from a wrong one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xaidesk.core import InputError
from xaidesk.evaluate import patch_scores, pixel_flipping_curve
from xaidesk.models.base import LoadedModel
from xaidesk.models.preprocessing import Preprocessing


class RegionReader(torch.nn.Module):
    """Class 0 = brightness of the top-left 8x8 corner; class 1 = brightness of the rest."""

    def forward(self, x):
        corner = x[:, :, :8, :8].mean(dim=(1, 2, 3))
        rest = x.mean(dim=(1, 2, 3)) * 2 - corner
        return torch.stack([corner * 10, rest], dim=1)


def model():
    return LoadedModel(spec="t", name="t", module=RegionReader().eval(),
                       preprocessing=Preprocessing((32, 32), (0.0,) * 3, (1.0,) * 3), class_names=["a", "b"])


def image():
    return np.random.default_rng(0).integers(100, 255, (32, 32, 3), dtype=np.uint8)


def test_patch_scores_sum_tiles_including_ragged_edges():
    relevance = np.arange(30, dtype=float).reshape(5, 6)
    tiles = patch_scores(relevance, 4)
    assert tiles.shape == (2, 2)
    assert tiles.sum() == pytest.approx(relevance.sum())
    assert tiles[0, 0] == pytest.approx(relevance[:4, :4].sum())


def test_curve_equals_a_naive_loop():
    m, img = model(), image()
    relevance = np.random.default_rng(1).normal(size=(32, 32))
    curve = pixel_flipping_curve(m, img, relevance, 0, steps=4, patch=8, fill="black", random_orders=0)
    order = np.argsort(-patch_scores(relevance, 8).ravel(), kind="stable")
    expected = []
    for count in np.round(np.linspace(0, 16, 5)).astype(int):
        perturbed = img.copy()
        for tile in order[:count]:
            r, c = divmod(int(tile), 4)
            perturbed[r * 8 : r * 8 + 8, c * 8 : c * 8 + 8] = 0
        with torch.no_grad():
            expected.append(float(m.module(m.preprocessing.to_tensor(perturbed))[0, 0]))
    np.testing.assert_allclose(curve.scores, expected, rtol=1e-5)
    np.testing.assert_allclose(curve.fractions, np.linspace(0, 1, 5))


def test_faithful_map_falls_faster_than_random_and_a_wrong_map_does_not():
    m, img = model(), image()
    right = np.zeros((32, 32))
    right[:8, :8] = 1.0
    wrong = np.zeros((32, 32))
    wrong[24:, 24:] = 1.0
    wrong[:8, :8] = -1.0  # points away from the evidence: it is removed last
    good = pixel_flipping_curve(m, img, right, 0, steps=8, patch=8, fill="black", random_orders=4)
    bad = pixel_flipping_curve(m, img, wrong, 0, steps=8, patch=8, fill="black", random_orders=4)
    assert good.scores[1] < 1e-6 < good.scores[0]  # the first step removes the evidence
    assert good.auc < good.random_auc
    assert bad.auc > good.auc and bad.faithfulness_gap < good.faithfulness_gap
    assert set(good.to_dict()) >= {"fractions", "scores", "random_scores", "auc", "random_auc"}


def test_mismatched_map_is_a_plain_error():
    with pytest.raises(InputError, match="does not match"):
        pixel_flipping_curve(model(), image(), np.zeros((10, 10)), 0)
