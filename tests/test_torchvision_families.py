"""Every torchvision image-classification family: detection, class count, preprocessing, outputs."""

from __future__ import annotations

import json
import time
import warnings

import pytest
import torch
import torchvision

from xaidesk.core import ModelError
from xaidesk.models import load_model
from xaidesk.models import torchvision as tvm
from xaidesk.models.torchvision import architectures as tv_arch
from xaidesk.models.torchvision import state_dicts as tv_state
from xaidesk.models.preprocessing import IMAGENET


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One thread: these small models run faster without contention on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _build(arch: str, device: str = "cpu", **options) -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if arch in ("googlenet", "inception_v3"):
            options.setdefault("init_weights", False)
        if device == "meta":
            return tv_state._build_on_meta(arch, **options)
        torch.manual_seed(0)
        return torchvision.models.get_model(arch, weights=None, **options).eval()


def _meta_state(arch: str, **options) -> dict[str, torch.Tensor]:
    return _build(arch, "meta", **options).state_dict()


def test_every_image_classifier_torchvision_has_is_listed_once():
    from torchvision.models import list_models

    classifiers = set(list_models(module=torchvision.models))
    assert set(tvm.TORCHVISION_ARCHITECTURES) == classifiers
    assert len(tvm.TORCHVISION_ARCHITECTURES) == len(set(tvm.TORCHVISION_ARCHITECTURES))
    assert tvm.TORCHVISION_ARCHITECTURES[:3] == ("vgg11", "vgg11_bn", "vgg13")  # the first families stay first


@pytest.mark.parametrize("arch", tvm.TORCHVISION_ARCHITECTURES)
def test_every_architecture_is_detected_with_its_class_count(arch):
    # The shapes torchvision's own builder gives (1000 classes, on the meta device: no weights in memory).
    with_auxiliary = {"aux1.fc2.weight": None, "AuxLogits.fc.weight": None}  # GoogLeNet / Inception: aux heads on
    signature = tv_state._signature(arch, tv_state._build_options(arch, with_auxiliary if arch in tv_arch._AUXILIARY_HEADS else None))
    head = tvm.classifier_key(arch)
    heads = {head, *tv_arch._AUXILIARY_HEADS.get(arch, ())}
    assert {k.rpartition(".")[0] for k, shape in signature.items() if shape[:1] == (1000,)} == heads
    features, keys = tv_arch._HEAD_FEATURES_AND_KEYS[arch]
    assert signature[f"{head}.weight"][1] == features
    assert keys is None or len(signature) == keys
    # The same network with 7 classes, as a state dict of meta tensors.
    state = {k: torch.empty((7, *shape[1:]) if k.rpartition(".")[0] in heads else shape, device="meta")
             for k, shape in signature.items()}
    built = tv_state._signature.cache_info().misses
    assert tvm.detect_architecture(state) == arch
    assert tv_state._signature.cache_info().misses - built <= 4, "the cheap pre-check leaves only a few to build"
    assert tvm.num_classes_of(state, arch) == 7


@pytest.mark.parametrize("arch", ["convnext_large", "vit_h_14", "swin_v2_b", "efficientnet_b7", "regnet_y_128gf",
                                  "maxvit_t", "inception_v3", "densenet161"])
def test_large_models_built_by_torchvision_with_few_classes_are_detected(arch):
    state = _meta_state(arch, num_classes=7)
    assert tvm.detect_architecture(state) == arch
    assert tvm.num_classes_of(state, arch) == 7


def test_detection_is_fast():
    state = _meta_state("efficientnet_v2_l", num_classes=5)  # the last of the largest family
    tv_state._signature.cache_clear()
    start = time.perf_counter()
    assert tvm.detect_architecture(state) == "efficientnet_v2_l"
    first = time.perf_counter() - start
    assert tv_state._signature.cache_info().currsize == 1
    print(f"detect efficientnet_v2_l: {first:.2f}s")


@pytest.mark.parametrize(
    "arch, size, resize, interpolation",
    [("vit_b_16", 224, 256, "bilinear"), ("efficientnet_b3", 300, 320, "bicubic"), ("swin_t", 224, 232, "bicubic"),
     ("inception_v3", 299, 342, "bilinear"), ("convnext_tiny", 224, 236, "bilinear"),
     ("efficientnet_v2_s", 384, 384, "bilinear"), ("swin_v2_t", 256, 260, "bicubic")],
)
def test_preprocessing_follows_torchvision_weight_metadata(arch, size, resize, interpolation):
    from torchvision.models import get_model_weights

    preprocessing = tvm.default_preprocessing(arch)
    assert preprocessing.size == (size, size) and preprocessing.resize == resize
    assert preprocessing.interpolation == interpolation
    transform = get_model_weights(arch).DEFAULT.transforms()
    assert list(preprocessing.mean) == list(transform.mean) and list(preprocessing.std) == list(transform.std)


def test_resnet18_keeps_the_imagenet_preset():
    assert tvm.default_preprocessing("resnet18") is IMAGENET


def test_vit_image_size_comes_from_the_position_embedding():
    state = _meta_state("vit_b_16", image_size=384, num_classes=4)
    assert tvm.vit_image_size("vit_b_16", state) == 384
    assert tvm.detect_architecture(state) == "vit_b_16"
    swag = tvm.default_preprocessing("vit_b_16", 384)  # torchvision's SWAG weights at 384 px
    assert swag.size == (384, 384) and swag.interpolation == "bicubic"
    odd = tvm.default_preprocessing("vit_b_32", 64)  # no published weights at 64 px
    assert odd.size == (64, 64) and odd.resize == 73


def test_vit_refuses_a_description_with_another_size(tmp_path):
    state = _meta_state("vit_b_32", image_size=64, num_classes=2)
    path = tmp_path / "vit.pt"
    path.write_bytes(b"")  # read_sidecar only needs the name; the state is given
    (tmp_path / "vit.pt.json").write_text(json.dumps({"preprocessing": {"size": [224, 224]}}))
    with pytest.raises(ModelError, match="64x64 pixel input"):
        tvm.load_torchvision("vit_b_32", path, state=state)
    broken = dict(state)
    broken["encoder.pos_embedding"] = torch.zeros(1, 6, 768, device="meta")
    with pytest.raises(ModelError, match="square grid"):
        tvm.load_torchvision("vit_b_32", path, state=broken)


# Real weights only for small members of the new families; the rest are checked on the meta device above.
SMALL = [
    ("efficientnet_b0", {}),
    ("densenet121", {}),
    ("regnet_x_400mf", {}),
    ("shufflenet_v2_x0_5", {}),
    ("mnasnet0_5", {}),
    ("squeezenet1_1", {}),
    ("googlenet", {"aux_logits": True, "transform_input": True}),
]


@pytest.mark.parametrize("arch, options", SMALL, ids=[a for a, _ in SMALL])
def test_small_models_load_and_match_torchvision_forward(arch, options, tmp_path):
    net = _build(arch, num_classes=3, **options)
    with torch.no_grad():  # batch-norm statistics that differ from the defaults
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.8, 1.2)
    path = tmp_path / f"{arch}.pt"
    torch.save(net.state_dict(), path)
    model = load_model(f"torchvision:{arch}:{path}")
    assert model.architecture == arch and model.num_classes == 3
    assert load_model(f"file:{path}").architecture == arch  # detected without being named
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model.module(x), net(x), rtol=1e-5, atol=1e-5)


def test_wrong_family_is_named_and_unknown_name_gets_suggestions(tmp_path):
    path = tmp_path / "shuffle.pt"
    torch.save(_build("shufflenet_v2_x0_5", num_classes=2).state_dict(), path)
    with pytest.raises(ModelError, match="shufflenet_v2_x0_5, not resnet18"):
        load_model(f"torchvision:resnet18:{path}")
    with pytest.raises(ModelError, match="Did you mean efficientnet_b0"):
        tvm.check_architecture("efficientnet-b0x")


@pytest.mark.parametrize("tokens, prefix, side", [(197, 1, 14), (198, 2, 14), (16, 0, 4), (50, 1, 7), (51, 1, None),
                                                  (1, 1, None)])
def test_vit_grid_side_counts_the_patches_after_the_prefix_tokens(tokens, prefix, side):
    embedding = torch.empty(1, tokens, 8, device="meta")
    assert tvm.vit_grid_side(embedding, prefix) == side
    assert tvm.vit_grid_side(torch.empty(tokens, 8, device="meta"), prefix) is None  # not (1, tokens, dim)
