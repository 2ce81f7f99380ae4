"""timm models (``timm:NAME:PATH``) and the preprocessing timm describes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from xaidesk.models.demo import preprocessing_from_dict
from xaidesk.models.preprocessing import Preprocessing

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def _smooth_image(height: int = 300, width: int = 400) -> np.ndarray:
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.stack([127 + 100 * np.sin(cols / 17.0 + c) * np.cos(rows / 23.0) for c in range(3)], -1)
    return (image + rng.normal(0, 5, image.shape)).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("crop_pct", [0.875, 0.9, 1.0])
@pytest.mark.parametrize("shape", [(300, 400), (401, 257)])
def test_from_crop_pct_matches_timm_eval_transform(interpolation, crop_pct, shape):
    from timm.data import create_transform

    image = _smooth_image(*shape)
    reference = create_transform(input_size=(3, 224, 224), interpolation=interpolation, crop_pct=crop_pct,
                                 mean=MEAN, std=STD)(Image.fromarray(image)).unsqueeze(0)
    ours = Preprocessing.from_crop_pct(224, crop_pct, MEAN, STD, interpolation).to_tensor(image)
    assert ours.shape == reference.shape
    difference = (ours - reference).abs()
    # PIL (timm) and torch (ours) resample slightly differently and PIL rounds to uint8:
    # about 1/255 of a pixel value, i.e. < 0.03 after dividing by std >= 0.2.
    assert float(difference.mean()) < 0.01
    assert float(difference.max()) < 0.05


def test_nearest_matches_timm_on_almost_every_pixel():
    from timm.data import create_transform

    image = _smooth_image()
    reference = create_transform(input_size=(3, 224, 224), interpolation="nearest", crop_pct=0.9,
                                 mean=MEAN, std=STD)(Image.fromarray(image)).unsqueeze(0)
    ours = Preprocessing.from_crop_pct(224, 0.9, MEAN, STD, "nearest").to_tensor(image)
    assert float(((ours - reference).abs() > 1e-4).float().mean()) < 0.01


def test_interpolation_changes_the_tensor_and_survives_serialisation():
    image = _smooth_image(60, 90)
    bilinear = Preprocessing(size=(32, 32), mean=MEAN, std=STD, resize=40)
    bicubic = Preprocessing(size=(32, 32), mean=MEAN, std=STD, resize=40, interpolation="bicubic")
    assert not torch.allclose(bilinear.to_tensor(image), bicubic.to_tensor(image))
    assert bicubic.whole_image().interpolation == "bicubic"
    written = json.loads(json.dumps(bicubic.to_dict()))
    assert written["interpolation"] == "bicubic"
    assert preprocessing_from_dict(written) == bicubic
    old = {key: value for key, value in written.items() if key != "interpolation"}
    assert preprocessing_from_dict(old).interpolation == "bilinear"
    with pytest.raises(ValueError, match="interpolation"):
        preprocessing_from_dict({**written, "interpolation": "lanczos"})
    with pytest.raises(ValueError, match="interpolation"):
        Preprocessing(size=(8, 8), mean=MEAN, std=STD, interpolation="area")


def test_from_crop_pct_resize_is_floor_of_size_over_crop_pct():
    assert Preprocessing.from_crop_pct(224, 0.875, MEAN, STD).resize == 256
    assert Preprocessing.from_crop_pct(288, 0.95, MEAN, STD).resize == 303
    assert Preprocessing.from_crop_pct(224, 1.0, MEAN, STD).resize == 224
    with pytest.raises(ValueError, match="crop_pct"):
        Preprocessing.from_crop_pct(224, 0.0, MEAN, STD)
