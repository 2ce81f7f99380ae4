"""timm models (``timm:NAME:PATH``) and the preprocessing timm describes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from xaidesk.models.preprocessing import preprocessing_from_dict
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


# --------------------------------------------------------------------------- timm:NAME:PATH

from xaidesk.core import ModelError  # noqa: E402
from xaidesk.models import load_model  # noqa: E402
from xaidesk.models.files import UntrustedModelError  # noqa: E402
from xaidesk.models.timm_models import timm_architecture_names  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One thread: these small models run faster without contention on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _timm(name: str, **options) -> torch.nn.Module:
    import timm

    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, **options).eval()


def _save(state: dict, path, how: str):
    if how == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    elif how == "checkpoint":  # a training checkpoint as timm's train script writes it
        torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}, "arch": "x"}, path)
    else:
        torch.save(state, path)
    return path


FAMILIES = [  # (name, file format): ViT/DeiT, ConvNeXt, EfficientNet, ResNet
    ("deit_tiny_patch16_224", "safetensors"),
    ("convnext_atto", "torch"),
    ("efficientnet_b0", "checkpoint"),
    ("resnet10t", "safetensors"),
]


@pytest.mark.parametrize("name, how", FAMILIES, ids=[n for n, _ in FAMILIES])
def test_timm_model_loads_and_matches_timm_forward(name, how, tmp_path):
    net = _timm(name, num_classes=3)
    suffix = ".safetensors" if how == "safetensors" else ".pt"
    path = _save(net.state_dict(), tmp_path / f"{name}{suffix}", how)
    model = load_model(f"timm:{name}:{path}")
    assert model.architecture == f"timm:{name}" and model.num_classes == 3
    assert not model.module.training and not any(p.requires_grad for p in model.module.parameters())
    x = torch.randn(2, 3, *model.preprocessing.size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(model.module(x), net(x), rtol=1e-5, atol=1e-5)


def test_preprocessing_equals_timm_resolved_config(tmp_path):
    from timm.data import create_transform, resolve_model_data_config

    net = _timm("resnet10t", num_classes=2)
    path = _save(net.state_dict(), tmp_path / "r.safetensors", "safetensors")
    preprocessing = load_model(f"timm:resnet10t:{path}").preprocessing
    config = resolve_model_data_config(net)
    assert (3, *preprocessing.size) == tuple(config["input_size"]) == (3, 176, 176)
    assert preprocessing.mean == tuple(config["mean"]) and preprocessing.std == tuple(config["std"])
    assert preprocessing.interpolation == config["interpolation"] == "bicubic"
    assert preprocessing.resize == math.floor(176 / config["crop_pct"])
    image = _smooth_image(250, 330)
    reference = create_transform(**config)(Image.fromarray(image)).unsqueeze(0)
    difference = (preprocessing.to_tensor(image) - reference).abs()
    assert float(difference.mean()) < 0.01 and float(difference.max()) < 0.08  # std 0.225: ~1/255 of a pixel


def test_vit_input_size_is_read_from_the_position_embedding(tmp_path):
    net = _timm("vit_tiny_patch16_224", num_classes=2, img_size=64)
    path = _save(net.state_dict(), tmp_path / "vit.safetensors", "safetensors")
    model = load_model(f"timm:vit_tiny_patch16_224:{path}")
    assert model.preprocessing.size == (64, 64)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(model.module(x), net(x), rtol=1e-5, atol=1e-5)
    (tmp_path / "vit.json").write_text(json.dumps({"preprocessing": {"size": [224, 224]}}))
    with pytest.raises(ModelError, match="64x64 pixel input"):
        load_model(f"timm:vit_tiny_patch16_224:{path}")


def test_unknown_name_suggests_close_ones():
    with pytest.raises(ModelError, match="deit_tiny_patch16_224"):
        load_model("timm:deit_tiny_patch16_22:whatever.pt")
    names = timm_architecture_names()
    assert "convnext_atto" in names and names == sorted(names) and timm_architecture_names() is names


def test_weights_of_another_model_name_the_first_bad_key(tmp_path):
    path = _save(_timm("resnet10t", num_classes=3).state_dict(), tmp_path / "r10.pt", "torch")
    with pytest.raises(ModelError, match=r"do not fit timm's resnet18: .*for example '") as info:
        load_model(f"timm:resnet18:{path}")
    assert "wrong shape" in str(info.value) or "missing" in str(info.value)


def test_weights_without_a_classifier_are_refused(tmp_path):
    path = _save(_timm("resnet10t", num_classes=0).state_dict(), tmp_path / "features.pt", "torch")
    with pytest.raises(ModelError, match="no classifier layer"):
        load_model(f"timm:resnet10t:{path}")


def test_pickled_module_needs_trust_and_garbage_is_plain(tmp_path):
    net = _timm("resnet10t", num_classes=2)
    pickled = tmp_path / "whole.pt"
    torch.save(net, pickled)
    with pytest.raises(UntrustedModelError):
        load_model(f"timm:resnet10t:{pickled}")
    assert load_model(f"timm:resnet10t:{pickled}", trust=True).num_classes == 2
    garbage = tmp_path / "bad.safetensors"
    garbage.write_bytes(b"\x00" * 40)
    with pytest.raises(ModelError, match="bad.safetensors"):
        load_model(f"timm:resnet10t:{garbage}")


@pytest.mark.parametrize("name, expected", [
    ("deit_tiny_patch16_224", {"deit_tiny_patch16_224", "vit_tiny_patch16_224"}),  # the same layers
    ("deit_tiny_distilled_patch16_224", {"deit_tiny_distilled_patch16_224"}),
    ("convnext_atto", {"convnext_atto"}),
    ("resnet10t", {"resnet10t"}),
    ("efficientnet_b0", {"efficientnet_b0", "tf_efficientnet_b0"}),  # differ only in padding
])
def test_detect_timm_architecture_on_meta_weights(name, expected):
    import timm

    from xaidesk.models.timm_models import detect_timm_architecture

    with torch.device("meta"):
        state = timm.create_model(name, pretrained=False, num_classes=5).state_dict()
    assert set(detect_timm_architecture(state)) == expected
    assert detect_timm_architecture({"weight": torch.zeros(2, 2)}) == []


def test_file_spec_with_timm_weights_points_to_the_timm_spec(tmp_path):
    path = _save(_timm("convnext_atto", num_classes=2).state_dict(), tmp_path / "atto.safetensors", "safetensors")
    with pytest.raises(ModelError, match=r"match timm's convnext_atto\. Open it as timm:convnext_atto:"):
        load_model(f"file:{path}")


def test_vit_at_another_size_that_needs_conversion_keeps_its_size(tmp_path):
    # OpenCLIP saves timm's ViT under 'visual.trunk.': timm's checkpoint_filter_fn unwraps it, and the
    # model rebuilt for the classifier it then finds must keep the 64-pixel size of the position embedding.
    net = _timm("vit_tiny_patch16_224", num_classes=2, img_size=64)
    path = _save({f"visual.trunk.{k}": v for k, v in net.state_dict().items()}, tmp_path / "clip.safetensors",
                 "safetensors")
    model = load_model(f"timm:vit_tiny_patch16_224:{path}")
    assert model.preprocessing.size == (64, 64) and model.num_classes == 2
    assert any("checkpoint_filter_fn" in note for note in model.notes)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(model.module(x), net(x), rtol=1e-5, atol=1e-5)


def _timm_folder(folder, net, **config):
    from safetensors.torch import save_file

    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "model.safetensors"))
    return folder


def test_timm_folder_config_gives_preprocessing_and_class_names(tmp_path):
    import timm
    from timm.data import resolve_model_data_config

    from xaidesk.models.sources import recognise

    net = _timm("resnet10t", num_classes=3)
    cfg = {"input_size": [3, 96, 96], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.2, 0.3], "interpolation": "bilinear",
           "crop_pct": 0.8, "crop_mode": "center", "hf_hub_id": "someone/fine-tuned"}
    folder = _timm_folder(tmp_path / "fine-tuned", net, architecture="resnet10t", num_classes=3,
                          pretrained_cfg=cfg, label_names=["cat", "dog", "fox"])
    guess = recognise(folder)
    assert "preprocessing and class names" in guess.description
    for spec in (guess.spec, f"timm:resnet10t:{folder}"):
        model = load_model(spec)
        assert model.class_names == ["cat", "dog", "fox"]
        # timm's own reading of the folder gives the same data configuration
        reference = resolve_model_data_config(timm.create_model(f"local-dir:{folder}", pretrained=False))
        assert (3, *model.preprocessing.size) == tuple(reference["input_size"]) == (3, 96, 96)
        assert model.preprocessing.mean == tuple(reference["mean"]) == (0.5, 0.5, 0.5)
        assert model.preprocessing.std == tuple(reference["std"])
        assert model.preprocessing.interpolation == reference["interpolation"] == "bilinear"
        assert model.preprocessing.resize == math.floor(96 / 0.8)
        assert any("config.json (timm's pretrained_cfg)" in note for note in model.notes)
        x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            torch.testing.assert_close(model.module(x), net(x), rtol=1e-5, atol=1e-5)
    names = tmp_path / "names.txt"
    names.write_text("a\nb\nc\n")
    relabelled = load_model(guess.spec, labels=names)
    assert relabelled.class_names == ["a", "b", "c"]
    assert not any("config.json." in note for note in relabelled.notes)  # "Class names from config.json." dropped
    assert relabelled.notes[-1] == "Class names from names.txt."


def test_timm_folder_config_of_another_architecture_is_ignored(tmp_path):
    net = _timm("resnet10t", num_classes=3)
    folder = _timm_folder(tmp_path / "other", net, architecture="resnet18", pretrained_cfg={"mean": [0.1, 0.1, 0.1]},
                          label_names=["a", "b", "c"])
    model = load_model(f"timm:resnet10t:{folder / 'model.safetensors'}")
    assert model.class_names == ["class 0", "class 1", "class 2"]
    assert model.preprocessing.mean != (0.1, 0.1, 0.1)
    assert any("is for resnet18, not resnet10t" in note for note in model.notes)
    with pytest.raises(ModelError, match="folder without a timm model"):
        load_model(f"timm:resnet10t:{tmp_path}")


def test_an_old_timm_is_refused_by_name(monkeypatch):
    import timm

    from xaidesk.models.timm_models import MIN_TIMM, check_timm_name

    monkeypatch.setattr(timm, "__version__", "0.6.13")
    with pytest.raises(ModelError, match=f"timm {MIN_TIMM} or newer; this installation has 0.6.13"):
        check_timm_name("resnet10t")


def test_older_single_dict_timm_config_is_read_too(tmp_path):
    net = _timm("resnet10t", num_classes=2)
    folder = _timm_folder(tmp_path / "old-layout", net, architecture="resnet10t", num_classes=2,
                          input_size=[3, 80, 80], mean=[0.4, 0.4, 0.4], std=[0.2, 0.2, 0.2], labels=["no", "yes"])
    model = load_model(f"timm:resnet10t:{folder}")
    assert model.class_names == ["no", "yes"] and model.preprocessing.size == (80, 80)
    assert model.preprocessing.mean == (0.4, 0.4, 0.4)
