"""Qt-free explanation methods. Importing this package registers them all."""

from . import gradients, lime, lrp, occlusion, relax  # noqa: F401  (registration side effects)
from . import tabular  # noqa: F401  (table methods: neon.*, supervised.*)
from . import molecule_methods  # noqa: F401
from . import attnlrp  # noqa: F401  (lrp.attention: LRP for vision transformers)
from .pipeline import Prediction, explain_image, predict_image, predict_tensor

from .audio import AudioPrediction, explain_audio, predict_audio, resynthesize, spectrogram_of

__all__ = ["Prediction", "explain_image", "predict_image", "predict_tensor",
           "AudioPrediction", "explain_audio", "predict_audio", "resynthesize", "spectrogram_of"]
