"""The torchvision architectures xaidesk opens: their names, families and classifier layers, and the
preprocessing of torchvision's published weights (all offline)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ...core import ModelError
from ..preprocessing import IMAGENET, Preprocessing

TORCHVISION_ARCHITECTURES: tuple[str, ...] = (
    # families first supported, then the others; within a family from small to large
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l",
    "densenet121", "densenet169", "densenet201", "densenet161",
    "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
    "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf",
    "regnet_x_32gf",
    "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf", "regnet_y_16gf",
    "regnet_y_32gf", "regnet_y_128gf",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
    "squeezenet1_0", "squeezenet1_1", "alexnet", "googlenet", "inception_v3",
    "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14",
    "swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b",
    "maxvit_t",
)


@dataclass(frozen=True)
class _Family:
    """What every architecture of a family shares: its classifier layer and a few layer names."""

    prefixes: tuple[str, ...]
    classifier: str  # the last layer, whose output size is the number of classes
    marks: tuple[str, ...]  # keys every state dict of the family has (a cheap pre-check)


_FAMILIES: tuple[_Family, ...] = (
    _Family(("vgg", "alexnet"), "classifier.6", ("features.0.weight",)),
    _Family(("resnet", "resnext", "wide_resnet"), "fc", ("conv1.weight", "layer1.0.conv1.weight")),
    _Family(("mobilenet_v2",), "classifier.1", ("features.0.0.weight", "features.1.conv.0.0.weight")),
    _Family(("mobilenet_v3",), "classifier.3", ("features.0.0.weight", "features.1.block.0.0.weight")),
    _Family(("efficientnet",), "classifier.1", ("features.0.0.weight", "features.1.0.block.0.0.weight")),
    _Family(("densenet",), "classifier", ("features.conv0.weight",)),
    _Family(("convnext",), "classifier.2", ("features.0.0.weight", "features.1.0.block.0.weight")),
    _Family(("regnet",), "fc", ("stem.0.weight", "trunk_output.block1.block1-0.f.a.0.weight")),
    _Family(("shufflenet",), "fc", ("conv1.0.weight", "stage2.0.branch1.0.weight")),
    _Family(("mnasnet",), "classifier.1", ("layers.0.weight",)),
    _Family(("squeezenet",), "classifier.1", ("features.0.weight", "features.3.squeeze.weight")),
    _Family(("googlenet",), "fc", ("conv1.conv.weight", "inception3a.branch1.conv.weight")),
    _Family(("inception",), "fc", ("Conv2d_1a_3x3.conv.weight",)),
    _Family(("vit",), "heads.head", ("conv_proj.weight", "encoder.pos_embedding", "class_token")),
    _Family(("swin",), "head", ("features.0.0.weight", "norm.weight")),
    _Family(("maxvit",), "classifier.5", ("stem.0.0.weight",)),
)

# Input features of the classifier and number of weight/buffer keys (batch-norm counters left out)
# of each architecture: a cheap test before a signature is built. None: it depends on the weights
# (GoogLeNet and Inception v3 may carry auxiliary classifiers). tests/test_torchvision_families.py
# checks this table against torchvision.
_HEAD_FEATURES_AND_KEYS: dict[str, tuple[int, int | None]] = {
    "vgg11": (4096, 22), "vgg11_bn": (4096, 54), "vgg13": (4096, 26), "vgg13_bn": (4096, 66), "vgg16": (4096, 32),
    "vgg16_bn": (4096, 84), "vgg19": (4096, 38), "vgg19_bn": (4096, 102), "resnet18": (512, 102),
    "resnet34": (512, 182), "resnet50": (2048, 267), "resnet101": (2048, 522), "resnet152": (2048, 777),
    "mobilenet_v2": (1280, 262), "mobilenet_v3_small": (1024, 210), "mobilenet_v3_large": (1280, 266),
    "resnext50_32x4d": (2048, 267), "resnext101_32x8d": (2048, 522), "resnext101_64x4d": (2048, 522),
    "wide_resnet50_2": (2048, 267), "wide_resnet101_2": (2048, 522), "efficientnet_b0": (1280, 311),
    "efficientnet_b1": (1280, 439), "efficientnet_b2": (1408, 439), "efficientnet_b3": (1536, 496),
    "efficientnet_b4": (1792, 610), "efficientnet_b5": (2048, 738), "efficientnet_b6": (2304, 852),
    "efficientnet_b7": (2560, 1037), "efficientnet_v2_s": (1280, 672), "efficientnet_v2_m": (1280, 963),
    "efficientnet_v2_l": (1280, 1331), "densenet121": (1024, 606), "densenet169": (1664, 846),
    "densenet201": (1920, 1006), "densenet161": (2208, 806), "convnext_tiny": (768, 182),
    "convnext_small": (768, 344), "convnext_base": (1024, 344), "convnext_large": (1536, 344),
    "regnet_x_400mf": (400, 357), "regnet_x_800mf": (672, 267), "regnet_x_1_6gf": (912, 297),
    "regnet_x_3_2gf": (1008, 402), "regnet_x_8gf": (1920, 372), "regnet_x_16gf": (2048, 357),
    "regnet_x_32gf": (2520, 372), "regnet_y_400mf": (440, 331), "regnet_y_800mf": (784, 293),
    "regnet_y_1_6gf": (888, 540), "regnet_y_3_2gf": (1512, 426), "regnet_y_8gf": (2016, 350),
    "regnet_y_16gf": (3024, 369), "regnet_y_32gf": (3712, 407), "regnet_y_128gf": (7392, 540),
    "shufflenet_v2_x0_5": (1024, 282), "shufflenet_v2_x1_0": (1024, 282), "shufflenet_v2_x1_5": (1024, 282),
    "shufflenet_v2_x2_0": (2048, 282), "mnasnet0_5": (1280, 262), "mnasnet0_75": (1280, 262),
    "mnasnet1_0": (1280, 262), "mnasnet1_3": (1280, 262), "squeezenet1_0": (512, 52), "squeezenet1_1": (512, 52),
    "alexnet": (4096, 16), "googlenet": (1024, None), "inception_v3": (2048, None), "vit_b_16": (768, 152),
    "vit_b_32": (768, 152), "vit_l_16": (1024, 296), "vit_l_32": (1024, 296), "vit_h_14": (1280, 392),
    "swin_t": (768, 185), "swin_s": (768, 353), "swin_b": (1024, 353), "swin_v2_t": (768, 233),
    "swin_v2_s": (768, 449), "swin_v2_b": (1024, 449), "maxvit_t": (512, 548),
}

# Auxiliary classifiers, whose output size is also the number of classes.
_AUXILIARY_HEADS = {"googlenet": ("aux1.fc2", "aux2.fc2"), "inception_v3": ("AuxLogits.fc",)}


def _family(arch: str) -> _Family:
    for family in _FAMILIES:
        if arch.startswith(family.prefixes):
            return family
    raise KeyError(arch)


def classifier_key(arch: str) -> str:
    """Name of the last layer of ``arch`` (without ``.weight``), whose output size is the class count."""
    return _family(arch).classifier


def check_architecture(arch: str) -> str:
    """Normalise ``arch`` or raise a :class:`ModelError` listing the supported ones."""
    name = str(arch).strip().lower().replace("-", "_")
    if name not in TORCHVISION_ARCHITECTURES:
        import difflib

        close = difflib.get_close_matches(name, TORCHVISION_ARCHITECTURES, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ModelError(
            f"'{arch}' is not a supported torchvision architecture.{hint} Supported: "
            + ", ".join(TORCHVISION_ARCHITECTURES)
            + "."
        )
    return name


def imagenet_categories(arch: str = "resnet18") -> list[str]:
    """The 1000 ImageNet class names shipped in torchvision's weights metadata (offline)."""
    from torchvision.models import get_model_weights

    return list(get_model_weights(arch).DEFAULT.meta["categories"])


def default_preprocessing(arch: str, image_size: int | None = None) -> Preprocessing:
    """The evaluation preprocessing of torchvision's published weights for ``arch`` (offline).

    Resize, crop, interpolation, mean and std come from ``get_model_weights(arch).DEFAULT.transforms()``.
    With ``image_size`` (a ViT made for another input size) the published weights of that crop
    size are used if torchvision has them, otherwise ImageNet's 224/256 proportions at that size.
    Preprocessing equal to :data:`IMAGENET` is returned as that object.
    """
    from torchvision.models import get_model_weights

    published = get_model_weights(arch)
    for weights in [published.DEFAULT] + [w for w in published if w is not published.DEFAULT]:
        transform = weights.transforms()
        crop = int(transform.crop_size[0])
        if image_size is not None and crop != image_size:
            continue
        preprocessing = Preprocessing(
            size=(crop, crop),
            resize=int(transform.resize_size[0]),
            mean=tuple(float(v) for v in transform.mean),
            std=tuple(float(v) for v in transform.std),
            interpolation=str(transform.interpolation.value),
            name=f"torchvision {arch}",
        )
        if replace(preprocessing, name=IMAGENET.name) == IMAGENET:
            return IMAGENET
        return preprocessing
    return replace(IMAGENET, size=(image_size, image_size), resize=math.floor(image_size * 256 / 224),
                   name=f"{arch} at {image_size} px")
