"""Qt-free work behind the Images tab: load models and images, predict, explain, compare.

These functions run in the :class:`~xaidesk.gui.runner.Runner` (the tab wraps each in a
``job(token, progress)``) and return plain data, so nothing Qt crosses threads. They are
kept free of Qt so they can be tested headless. Torch-backed packages are imported inside
the functions: importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import replace

from .catalog import configure_torch_threads

#: The choices of the "Image preparation" picker: the model's own preprocessing, or no crop.
PREPARATION_MODEL, PREPARATION_WHOLE = "model", "whole"


def prepared_model(model, preparation: str):
    """``model`` itself, or a copy that resizes the whole image to its input size (no centre crop)."""
    if model is None or preparation != PREPARATION_WHOLE or model.preprocessing.resize is None:
        return model
    return replace(model, preprocessing=model.preprocessing.whole_image())


def load_image_model(spec: str, trust: bool = False, labels=None, preprocessing=None):
    """Load a model by spec string, with a class-names file and preprocessing set by hand if given."""
    from xaidesk.models import load_model

    configure_torch_threads()
    return load_model(spec, trust=trust, labels=labels, preprocessing=preprocessing)


def open_image(path):
    """Read an image file (a ``LoadedImage``)."""
    from xaidesk.data.images import load_image

    return load_image(path)


def predict(model, pixels):
    """The model's prediction for the image (a ``Prediction``)."""
    from xaidesk.explain import predict_image

    return predict_image(model, pixels)


def explain(model, pixels, method: str, target, params: dict, token, progress, device: str = "cpu"):
    """Explain the image with ``method`` on ``device``; the map comes back in the image's own coordinates.

    A cancelled iterative method's partial result arrives mapped onto the image as
    ``Cancelled.partial`` (the runner hands it to ``stopped``).
    """
    from xaidesk.explain import explain_image
    from xaidesk.runs import call_on_device

    return call_on_device(device, explain_image, model, pixels, method, target=target, params=params, token=token,
                          progress=progress)


def compare_methods(model, pixels, methods: list[str], target, params: dict, settings, token, progress,
                    device: str = "cpu"):
    """The faithfulness comparison of ``methods`` on the image, on ``device``."""
    from xaidesk.evaluate import compare_image_methods
    from xaidesk.runs import call_on_device

    return call_on_device(device, compare_image_methods, model, pixels, methods, target=target, params=params,
                          settings=settings, token=token, progress=progress)


def model_layers(model) -> tuple[str, list]:
    """``(spec, [(layer name, description), ...])``: the layers a layer parameter can name
    (one forward pass; also for sound models)."""
    from xaidesk.explain.relax_layers import list_layers

    return model.spec, list_layers(model)
