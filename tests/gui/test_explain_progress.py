"""The explaining tabs read a run's progress from the structured Step, not from its text."""

from xaidesk.core import Step


def test_audio_progress_names_the_window_and_the_count(make_window):
    from xaidesk.gui.tabs.audio_results import AudioRun

    tab = make_window().audio_tab
    tab._jobs["explain"] = job_id = 10_001
    tab._run = AudioRun(spec="s", name="n", method_title="RELAX", info=None, params={}, clip=None,
                        spectrogram=None, frontend=None)
    try:
        tab._on_progress(job_id, 0.3, Step.count("RELAX", 340, 1000, "masks").in_window(2, 5), None)
        assert tab._run.window == (2, 5) and (tab._run.done, tab._run.total, tab._run.unit) == (340, 1000, "masks")
        assert tab.progress_label.text().startswith("window 2 of 5, 340 of 1000 masks")
        tab._on_progress(job_id, 0.4, Step("window 2 of 5 done", window=(2, 5)), None)
        assert tab.progress_label.text().startswith("window 2 of 5 – 40 %")
        # Plain text carries no count: it is shown as it is.
        tab._on_progress(job_id, 0.5, "preparing", None)
        assert tab.progress_label.text().startswith("preparing – 50 %")
    finally:
        tab._jobs["explain"] = tab._run = None


def test_image_progress_counts_from_the_step(make_window):
    from xaidesk.gui.tabs.image_results import ImageRun

    tab = make_window().images_tab
    tab._jobs["explain"] = job_id = 10_002
    tab._run = ImageRun(spec="s", name="n", method_title="LIME", info=None, params={}, pixels=None, path=None,
                        target_text="class 0")
    try:
        tab._on_progress(job_id, 0.25, Step.count("LIME", 250, 1000, "samples"), None)
        assert (tab._run.total, tab._run.unit) == (1000, "samples")
        assert tab.progress_label.text().startswith("250 of 1000 samples")
        tab._on_progress(job_id, 0.5, "LIME: 500 of 1000", None)  # text alone is not parsed
        assert tab.progress_label.text().startswith("LIME: 500 of 1000 – 50 %")
    finally:
        tab._jobs["explain"] = tab._run = None
