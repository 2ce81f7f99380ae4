"""Qt-free explanation methods and the pipelines that run them.

Pipelines, one per input type (an input in, an explanation in the input's coordinates out):

==============  =================================================================================
``image``       :func:`explain_image`, :func:`predict_image`; what every pipeline shares
``audio``       :func:`explain_audio`: a clip cut into the model's windows, maps stitched back
``table``       :func:`~xaidesk.explain.table.explain_table`: a whole table, a ``TableResult``
``molecule``    the molecule models' features and fitting (registered in ``ridge``)
==============  =================================================================================

Method families, one module (or package) each, named like the registry family:
``gradients``, ``lrp`` (package: CNN rules and LRP for transformers), ``occlusion``, ``lime``,
``relax`` (with ``masks``, the mask samplers, ``relax_estimators`` and ``relax_layers``), ``neon``
(with ``neon_outliers``, ``neon_gamma`` and ``kmeans``), ``supervised`` (with ``table_fitting``,
``table_lrp`` and ``table_lime``) and ``ridge``. ``common`` holds the checks the methods share.

:func:`load_builtin_methods` imports the method modules, which registers every built-in method;
importing this package does the same.
"""

import importlib

#: The modules whose import registers the built-in method families and methods.
METHOD_MODULES = ("families", "gradients", "lime", "lrp.cnn", "occlusion", "relax", "neon", "supervised", "ridge", "lrp.attention")


def load_builtin_methods() -> None:
    """Register every built-in method by importing its module (idempotent: a module is imported once)."""
    for name in METHOD_MODULES:
        importlib.import_module(f"{__name__}.{name}")


load_builtin_methods()

from .audio import AudioPrediction, explain_audio, predict_audio, resynthesize, spectrogram_of  # noqa: E402
from .image import Prediction, explain_image, predict_image, predict_tensor  # noqa: E402

__all__ = ["Prediction", "explain_image", "predict_image", "predict_tensor",
           "AudioPrediction", "explain_audio", "predict_audio", "resynthesize", "spectrogram_of",
           "load_builtin_methods"]
