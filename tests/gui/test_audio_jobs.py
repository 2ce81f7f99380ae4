"""The Audio tab's worker jobs, run headless on the sounds demo (no Qt)."""

import numpy as np

from xaidesk.core import CancelToken, Explanation, Target
from xaidesk.gui import audio_jobs
from xaidesk.resources import resource_path


def _no_progress(*_args, **_kwargs):
    pass


def test_audio_jobs_open_analyse_and_explain_a_sound():
    model, defaults = audio_jobs.load_audio_model("demo:sounds")
    assert defaults is None  # the demo brings its own front-end
    opened = audio_jobs.open_audio(resource_path("samples", "sounds_chirp.wav"), "mean", model, CancelToken())
    assert opened.envelope is None and opened.clip.duration <= audio_jobs.SEGMENT_SECONDS
    assert opened.spectrogram.frontend == audio_jobs.frontend_dict(model.frontend)

    clip, spectrogram, prediction = audio_jobs.analyse(model, opened.clip, False, CancelToken())
    assert clip is opened.clip and spectrogram is None
    assert model.label(prediction.top_class) == "chirp"

    explanation = audio_jobs.explain(model, clip, "gradient.sensitivity", prediction.top_class, {}, CancelToken(),
                                     _no_progress)
    assert explanation.relevance.shape == opened.spectrogram.log_mel.shape
    assert np.isfinite(explanation.relevance).all()


def test_unfinished_frames_become_blank_and_time_text_reads_minutes():
    relevance = np.zeros((4, 6), dtype=np.float32)
    relevance[:, :3] = 1.0
    partial = Explanation(relevance=relevance, method="m", target=Target(0, "a"), score=0.0, complete=False)
    blank = audio_jobs.unfinished_as_blank(partial).relevance
    assert np.isnan(blank[:, 3:]).all() and (blank[:, :3] == 1.0).all()
    assert audio_jobs.time_text(65.25) == "1:05.2"
