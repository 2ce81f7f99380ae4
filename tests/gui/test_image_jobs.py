"""The Images tab's worker jobs, run headless on the digits demo (no Qt)."""

import subprocess
import sys
from dataclasses import replace

import numpy as np

from xaidesk.core import CancelToken
from xaidesk.gui import image_jobs
from xaidesk.resources import resource_path


def _no_progress(*_args, **_kwargs):
    pass


def test_image_jobs_load_predict_and_explain_a_digit():
    model = image_jobs.load_image_model("demo:digits")
    image = image_jobs.open_image(resource_path("samples", "digits_3.png"))
    prediction = image_jobs.predict(model, image.pixels)
    assert prediction.top_class == 3

    explanation = image_jobs.explain(model, image.pixels, "gradient.input_x_gradient", prediction.top_class, {},
                                     CancelToken(), _no_progress)
    assert explanation.relevance.shape == image.pixels.shape[:2]
    assert explanation.target.index == 3 and np.isfinite(explanation.relevance).all()

    spec, layers = image_jobs.model_layers(model)
    assert spec == "demo:digits" and layers and all(isinstance(name, str) for name, _ in layers)


def test_job_modules_import_neither_qt_nor_torch():
    code = ("import sys, xaidesk.gui.image_jobs, xaidesk.gui.audio_jobs; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'torch')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_prepared_model_resizes_the_whole_image_only_for_a_cropping_model():
    model = image_jobs.load_image_model("demo:digits")
    assert model.preprocessing.resize is None  # no crop: nothing to change
    assert image_jobs.prepared_model(model, image_jobs.PREPARATION_WHOLE) is model
    assert image_jobs.prepared_model(None, image_jobs.PREPARATION_WHOLE) is None
    cropping = replace(model, preprocessing=replace(model.preprocessing, resize=40))
    assert image_jobs.prepared_model(cropping, image_jobs.PREPARATION_MODEL) is cropping
    whole = image_jobs.prepared_model(cropping, image_jobs.PREPARATION_WHOLE)
    assert whole.preprocessing.resize is None and whole.preprocessing.size == model.preprocessing.size
