"""Region perturbation on images: equals a naive loop, and separates a faithful map from a wrong one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xaidesk.core import InputError
from xaidesk.evaluate import FlipSettings, image_faithfulness, patch_scores
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
    curve = image_faithfulness(m, img, relevance, 0, FlipSettings(orders=("morf", "lerf"), steps=4, patch=8, fill="black"))
    tiles = patch_scores(relevance, 8).ravel()
    for name, order in (("morf", np.argsort(-tiles)), ("lerf", np.argsort(tiles))):
        expected = []
        for count in np.round(np.linspace(0, 16, 5)).astype(int):
            perturbed = img.copy()
            for tile in order[:count]:
                r, c = divmod(int(tile), 4)
                perturbed[r * 8 : r * 8 + 8, c * 8 : c * 8 + 8] = 0
            with torch.no_grad():
                expected.append(float(m.module(m.preprocessing.to_tensor(perturbed))[0, 0]))
        np.testing.assert_allclose(curve.curves[name], expected, rtol=1e-5)
    np.testing.assert_allclose(curve.fractions, np.linspace(0, 1, 5))
    assert "random" not in curve.curves and np.isnan(curve.areas()["aopc_random"])


def test_faithful_map_falls_faster_than_random_and_a_wrong_map_does_not():
    m, img = model(), image()
    right = np.zeros((32, 32))
    right[:8, :8] = 1.0
    wrong = np.zeros((32, 32))
    wrong[24:, 24:] = 1.0
    wrong[:8, :8] = -1.0  # points away from the evidence: it is removed last
    settings = FlipSettings(steps=8, patch=8, fill="black", random_orders=4)
    good = image_faithfulness(m, img, right, 0, settings)
    bad = image_faithfulness(m, img, wrong, 0, settings)
    assert good.curves["morf"][1] < 1e-6 < good.curves["morf"][0]  # the first step removes the evidence
    assert good.auc("morf") < good.auc("random")
    assert bad.auc("morf") > good.auc("morf")
    assert bad.areas()["aopc_morf_minus_random"] < 0 < good.areas()["aopc_morf_minus_random"]
    assert set(good.to_dict()) >= {"fractions", "curves", "auc_morf", "auc_random", "aopc_morf", "aopc_random"}


def test_mismatched_map_is_a_plain_error():
    with pytest.raises(InputError, match="does not match"):
        image_faithfulness(model(), image(), np.zeros((10, 10)), 0)


def test_fills_are_mean_colour_blur_and_black():
    from xaidesk.evaluate.pixel_flipping import fill_image

    img = image()
    assert np.all(fill_image(img, "black") == 0)
    mean = fill_image(img, "mean")
    assert np.all(mean == mean[0, 0]) and np.allclose(mean[0, 0], img.reshape(-1, 3).mean(0), atol=0.5)
    blurred = fill_image(img, "blur")
    assert blurred.dtype == np.uint8 and blurred.std() < img.std()
