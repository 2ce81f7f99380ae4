"""LIME's and RELAX's sampling defaults on a trained network: the evidence it was trained on is found, and each
default chosen by ``bench/bench_sampling_faithfulness.py`` does at least as well here as the one it replaced.

The network is the planted-concept network of :mod:`planted_concepts` (trained in a few seconds, cached for the
session); the pictures carry a red 5x5 square, the evidence of class A. "Positive relevance" is the positive part of
the map minus its median (RELAX's importance is a similarity, all of it positive).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xaidesk.core import get_method

import helpers
import planted_concepts as planted

CLASS_A = 0


@pytest.fixture(scope="module")
def setting():
    torch.manual_seed(0)
    pictures = planted.make_pictures([planted.RED_SQUARE] * 3, seed=7)
    return planted.trained_model(), planted.normalise(pictures.images), pictures.boxes


def share_on_square(relevance: np.ndarray, box, margin: int) -> float:
    """Share of the positive part of (map - median) within ``margin`` pixels of the square."""
    inside = np.zeros(relevance.shape, dtype=bool)
    inside[max(0, box[0] - margin):box[2] + margin, max(0, box[1] - margin):box[3] + margin] = True
    positive = np.maximum(relevance - np.median(relevance), 0.0)
    return float(positive[inside].sum() / positive.sum())


def pearson(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_share_on_square_tells_a_map_on_the_square_from_one_beside_it():
    box = (10, 10, 15, 15)
    on = np.zeros((32, 32))
    on[10:15, 10:15] = 1.0
    assert share_on_square(on, box, 0) == pytest.approx(1.0)
    assert share_on_square(np.roll(on, 8, axis=1), box, 2) == pytest.approx(0.0)


def test_relax_defaults_put_most_positive_relevance_on_the_planted_square(setting):
    model, x, boxes = setting
    shares = [share_on_square(helpers.run("relax", model, x[i:i + 1], CLASS_A, num_masks=400).relevance, box, 2)
              for i, box in enumerate(boxes)]
    # The square covers 8% of the picture with its 2-pixel margin (the masks' cells are 5 pixels).
    assert np.mean(shares) > 0.5 and min(shares) > 0.4, shares


def test_relax_default_without_opposite_pairs_converges_at_least_as_well(setting):
    model, x, boxes = setting
    scores = {True: [], False: []}
    for i in range(len(boxes)):
        reference = helpers.run("relax", model, x[i:i + 1], CLASS_A, num_masks=1000, seed=99).relevance
        for antithetic in scores:
            for seed in (0, 1, 2):
                for masks in (100, 200):
                    result = helpers.run("relax", model, x[i:i + 1], CLASS_A, num_masks=masks, seed=seed,
                                         antithetic=antithetic)
                    scores[antithetic].append(pearson(result.relevance, reference))
    assert get_method("relax").resolve_params({})["antithetic"] is False
    assert np.mean(scores[False]) >= np.mean(scores[True]), {k: np.mean(v) for k, v in scores.items()}


def planted_contrast(relevance: np.ndarray, box) -> float:
    """(mean on the square - mean elsewhere) / standard deviation elsewhere."""
    inside = np.zeros(relevance.shape, dtype=bool)
    inside[box[0]:box[2], box[1]:box[3]] = True
    return float((relevance[inside].mean() - relevance[~inside].mean()) / relevance[~inside].std())


def test_relax_default_grid_shows_the_square_more_sharply_than_seven_cells(setting):
    model, x, boxes = setting
    assert get_method("relax").resolve_params({})["cells"] == 0  # automatic: 8 cells at 32 pixels
    contrast = {0: [], 7: []}
    for i, box in enumerate(boxes):
        for cells in contrast:
            result = helpers.run("relax", model, x[i:i + 1], CLASS_A, num_masks=400, cells=cells)
            assert result.extras["cells"] == (8 if cells == 0 else cells)
            contrast[cells].append(planted_contrast(result.relevance, box))
    # The old default's 5.1-pixel cells blur the 5-pixel square into its surroundings more than 4.4-pixel ones.
    assert all(new > old for new, old in zip(contrast[0], contrast[7])), contrast
    assert np.mean(contrast[0]) > 1.05 * np.mean(contrast[7]), contrast


def lime_shares(model, x, boxes, **params) -> list[float]:
    return [share_on_square(helpers.run("lime", model, x[i:i + 1], CLASS_A, num_samples=300, **params).relevance,
                            box, 1) for i, box in enumerate(boxes)]


@pytest.fixture(scope="module")
def lime_default_shares(setting):
    return lime_shares(*setting)


def test_lime_defaults_put_most_positive_relevance_on_the_planted_square(lime_default_shares):
    shares = lime_default_shares
    # The square covers 2.4% of the picture (5% with its 1-pixel margin).
    assert np.mean(shares) > 0.5 and min(shares) > 0.4, shares


def test_lime_default_fill_does_at_least_as_well_as_the_superpixel_mean(setting, lime_default_shares):
    assert get_method("lime").resolve_params({})["hide"] == "black"
    black, mean = lime_default_shares, lime_shares(*setting, hide="mean")
    # A superpixel of one colour shows that same colour when hidden by its mean: nothing is hidden.
    assert np.mean(black) >= np.mean(mean), (black, mean)
