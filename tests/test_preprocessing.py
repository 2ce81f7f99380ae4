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
    assert np.nansum(back) == pytest.approx(rel.sum(), rel=1e-4)
    ys, xs = np.indices(back.shape)
    seen = np.nan_to_num(back)
    cy, cx = (ys * seen).sum() / seen.sum(), (xs * seen).sum() / seen.sum()
    # crop centre (112,112) sits at the image centre (100,150); the hot square is near it
    assert abs(cy - 100) < 1.5 and abs(cx - 150) < 1.5
    # areas cropped away on the left and right were not seen: NaN, not evidence
    assert np.isnan(back[:, :20]).all() and np.isnan(back[:, -20:]).all()
    assert np.isfinite(back[20:180, 70:230]).all() and np.isnan(back[:10]).all()


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


def test_unseen_border_is_nan_for_intensive_maps_and_the_seen_part_keeps_its_values():
    # An occlusion-like map that is 0.7 everywhere the model looked.
    constant = np.full((224, 224), 0.7, np.float32)
    back = IMAGENET.to_original(constant, (200, 300), preserve="value")
    seen = IMAGENET.seen_mask((200, 300))
    assert np.array_equal(np.isnan(back), ~seen)
    # the crop keeps 224 of 384 resized columns: 300 * 224 / 384 = 175 original columns
    assert abs(int(seen[100].sum()) - 175) <= 1 and seen[20:180, 150].all() and not seen[:10].any()
    np.testing.assert_allclose(back[seen], 0.7, rtol=1e-6)


def test_whole_image_preset_sees_every_pixel():
    whole = IMAGENET.whole_image()
    assert whole.resize is None and whole.size == IMAGENET.size and "whole image" in whole.name
    assert whole.whole_image() is whole
    image = np.zeros((200, 300, 3), np.uint8)
    assert whole.to_tensor(image).shape == (1, 3, 224, 224)
    back = whole.to_original(np.ones((224, 224), np.float32), (200, 300), preserve="value")
    assert np.isfinite(back).all() and whole.seen_mask((200, 300)).all()


def _cropping_model():
    from xaidesk.models.base import LoadedModel

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 16 * 16, 3)).eval()
    crop = Preprocessing(size=(16, 16), mean=(0.5,) * 3, std=(0.5,) * 3, resize=20, name="crop")
    return LoadedModel(spec="test:crop", name="cropper", module=net, preprocessing=crop, class_names=["a", "b", "c"])


@pytest.mark.parametrize("method, params", [
    ("occlusion", {"patch_size": 4, "stride": 4}),
    ("lime", {"num_samples": 40, "segmentation": "grid", "grid_rows": 4, "grid_cols": 4}),
    ("gradient.sensitivity", {}),
])
def test_pipeline_marks_the_cropped_border_unseen(method, params):
    from xaidesk.explain import explain_image

    model = _cropping_model()
    image = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    result = explain_image(model, image, method, params=params)
    seen = model.preprocessing.seen_mask((40, 60))
    assert not seen.all() and seen.any()
    assert np.array_equal(np.isnan(result.relevance), ~seen)
    assert result.extras["unseen_pixels"] == int((~seen).sum())
    assert np.isfinite(result.summary()["relevance_sum"])
    whole = explain_image(model.__class__(**{**model.__dict__, "preprocessing": model.preprocessing.whole_image()}),
                          image, method, params=params)
    assert np.isfinite(whole.relevance).all() and whole.extras["unseen_pixels"] == 0


def test_lime_refit_keeps_the_unseen_border_unseen():
    from xaidesk.explain import explain_image
    from xaidesk.explain.lime import refit_lime

    model = _cropping_model()
    image = np.random.default_rng(1).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    result = explain_image(model, image, "lime", params={"num_samples": 40, "segmentation": "grid", "grid_rows": 4, "grid_cols": 4})
    other = refit_lime(result, (result.target.index + 1) % 3)
    assert np.array_equal(np.isnan(other.relevance), np.isnan(result.relevance))
