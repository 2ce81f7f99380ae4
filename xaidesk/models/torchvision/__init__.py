"""torchvision architectures with weights from a local file, and the weights download.

Nothing here touches the network except :func:`download_weights`, and only
when it is called.

Modules: ``architectures`` (the supported names, families, classifier layers and the preprocessing
of torchvision's published weights), ``state_dicts`` (unwrapping weights, comparing them with each
architecture, detecting it, building the network), ``loader`` (:func:`load_torchvision`) and
``download`` (:func:`download_weights`).
"""

from .architectures import (
    TORCHVISION_ARCHITECTURES,
    check_architecture,
    classifier_key,
    default_preprocessing,
    imagenet_categories,
)
from .download import download_weights, weights_dir, weights_url
from .loader import load_torchvision
from .state_dicts import (
    NoInitOnMeta,
    build_from_state_dict,
    describe_key_mismatch,
    detect_architecture,
    extract_state_dict,
    fits_architecture,
    num_classes_of,
    vit_grid_side,
    vit_image_size,
)

__all__ = [
    "NoInitOnMeta", "TORCHVISION_ARCHITECTURES", "build_from_state_dict", "check_architecture",
    "classifier_key", "default_preprocessing", "describe_key_mismatch", "detect_architecture",
    "download_weights", "extract_state_dict", "fits_architecture", "imagenet_categories", "load_torchvision",
    "num_classes_of", "vit_grid_side", "vit_image_size", "weights_dir", "weights_url",
]
