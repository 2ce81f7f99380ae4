"""Preprocessing geometry: model input and the map back onto the original image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xaidesk.models.preprocessing import IMAGENET, Preprocessing


def test_imagenet_tensor_shape_and_normalisation():
    image = np.full((300, 400, 3), 255, np.uint8)
    x = IMAGENET.to_tensor(image)
    assert x.shape == (1, 3, 224, 224)
    expected = (1.0 - torch.tensor(IMAGENET.mean)) / torch.tensor(IMAGENET.std)
    torch.testing.assert_close(x[0, :, 100, 100], expected)
    low, high = IMAGENET.bounds()
    torch.testing.assert_close(high.flatten(), expected)
    assert torch.all(low < 0)


def test_grayscale_preset_mixes_channels():
    pre = Preprocessing(size=(8, 8), mean=(0.0,), std=(1.0,), channels="gray")
    image = np.zeros((8, 8, 3), np.uint8)
    image[..., 1] = 255
    x = pre.to_tensor(image)
    assert x.shape == (1, 1, 8, 8)
    torch.testing.assert_close(x[0, 0, 0, 0], torch.tensor(0.587))


def test_crop_maps_back_to_the_right_place_and_conserves_sum():
    # 200 x 300 image, shorter side to 256 -> 256 x 384, centre crop 224 x 224.
    rel = np.zeros((224, 224), np.float32)
    rel[100:124, 100:124] = 1.0
    back = IMAGENET.to_original(rel, (200, 300))
    assert back.shape == (200, 300)
    assert back.sum() == pytest.approx(rel.sum(), rel=1e-4)
    ys, xs = np.indices(back.shape)
    cy, cx = (ys * back).sum() / back.sum(), (xs * back).sum() / back.sum()
    # crop centre (112,112) sits at the image centre (100,150); the hot square is near it
    assert abs(cy - 100) < 1.5 and abs(cx - 150) < 1.5
    # areas cropped away on the left and right get no relevance
    assert np.abs(back[:, :20]).max() == 0 and np.abs(back[:, -20:]).max() == 0


def test_identity_when_image_already_has_model_size():
    pre = Preprocessing(size=(16, 16), mean=(0.5,) * 3, std=(0.5,) * 3)
    rel = np.random.default_rng(0).normal(size=(16, 16)).astype(np.float32)
    np.testing.assert_array_equal(pre.to_original(rel, (16, 16)), rel)


def test_roundtrip_of_a_marked_region_through_resize():
    pre = Preprocessing(size=(32, 32), mean=(0.0,), std=(1.0,), channels="gray")
    image = np.zeros((128, 128, 3), np.uint8)
    image[32:64, 64:96] = 255
    x = pre.to_tensor(image)[0, 0].numpy()
    back = pre.to_original(x, (128, 128))
    assert back[48, 80] > 0.5 * back.max() and back[100, 20] == pytest.approx(0.0, abs=1e-6)


def test_value_preserving_map_keeps_values_and_labels_stay_intact():
    pre = Preprocessing(size=(16, 16), mean=(0.0,) * 3, std=(1.0,) * 3)
    constant = np.full((16, 16), 2.5, np.float32)
    back = pre.to_original(constant, (64, 48), preserve="value")
    np.testing.assert_allclose(back, 2.5, rtol=1e-6)
    labels = np.repeat(np.arange(4), 64).reshape(16, 16)
    mapped = pre.labels_to_original(labels, (64, 48))
    assert mapped.shape == (64, 48) and set(np.unique(mapped)) == {0, 1, 2, 3}
    cropped = IMAGENET.labels_to_original(np.zeros((224, 224), np.int64), (200, 300))
    assert (cropped[:, :10] == -1).all() and (cropped[20:180, 140:160] == 0).all() and (cropped[:5] == -1).all()
    with pytest.raises(ValueError):
        pre.to_original(constant, (64, 48), preserve="mean")
