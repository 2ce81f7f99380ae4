"""The Audio tab end to end: open a clip, run RELAX, cancel, play, fail gracefully, long files."""

import json
import time

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from xaidesk.gui.audio_player import UNAVAILABLE_NOTICE  # noqa: E402

RATE = 8000


def _frontend():
    from xaidesk.models.audio import AudioFrontEnd

    # Small and fast: 16 bands, 32-frame (0.5 s) windows at 8 kHz.
    return AudioFrontEnd(sample_rate=RATE, n_fft=256, hop_length=128, n_mels=16, fmin=50.0, fmax=4000.0,
                         log_offset=0.01, window_frames=32, window_hop_frames=32)


def _tiny_model(seconds_per_forward=0.0):
    """A small audio CNN with a front-end (no training needed: the tab only needs scores)."""
    import torch

    from xaidesk.models.base import LoadedModel

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Sequential(
                torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d((4, 4)))
            self.head = torch.nn.Linear(64, 3)

        def forward(self, x):
            if seconds_per_forward:
                time.sleep(seconds_per_forward)
            return self.head(self.features(x).flatten(1))

    frontend = _frontend()
    spec = "test:tiny_audio" + ("+slow" if seconds_per_forward else "")
    return LoadedModel(spec=spec, name="tiny audio net", module=Net().eval(), preprocessing=frontend.preprocessing(),
                       class_names=["tone", "chirp", "noise"], architecture="unknown", modality="audio",
                       frontend=frontend)


def _write_clip(path, seconds=1.0, rate=RATE, channels=1, subtype="PCM_16"):
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.4 * np.sin(2 * np.pi * 440 * t) * (t > 0.3) * (t < 0.7)
    noise = 0.02 * np.random.default_rng(0).standard_normal(len(t))
    mono = (tone + noise).astype(np.float32)
    data = mono if channels == 1 else np.stack([mono, 0.5 * mono][:channels], axis=1)
    sf.write(str(path), data, rate, subtype=subtype)
    return path


@pytest.fixture
def audio_window(qtbot, open_window, isolated_home, tmp_path):
    """A main window on the Audio tab with the tiny model loaded and a 1 s clip open."""
    window = open_window()
    tab = window.audio_tab
    tab.set_model(_tiny_model())  # before the tab is shown: showing it loads the demo model only if none is there
    window.tabs.setCurrentWidget(tab)
    assert not tab.is_job_running("model")
    clip_path = _write_clip(tmp_path / "clip.wav")
    tab.open_audio(clip_path)
    qtbot.waitUntil(lambda: tab.clip is not None and tab.prediction is not None, timeout=20_000)
    return window


def _run_relax(tab, num_masks, strategy="time", batch_size=8):
    assert tab.select_method("relax")
    editor = tab.param_form.editor("strategy")
    from PySide6.QtWidgets import QComboBox

    assert isinstance(editor, QComboBox)  # the strategy shows as a combo
    assert [editor.itemData(i) for i in range(editor.count())] == ["random", "time", "frequency", "time_frequency"]
    tab.param_form.set_value("strategy", strategy)
    tab.param_form.set_value("num_masks", num_masks)
    tab.param_form.set_value("batch_size", batch_size)
    return tab.run_explanation()


def test_audio_tab_sits_next_to_images_and_opens_a_clip(audio_window):
    window = audio_window
    tab = window.audio_tab
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Images", "Audio", "Tables", "Molecules", "Dataset"]
    # waveform on a time axis in seconds, the spectrogram in mel bands with Hz ticks
    assert tab.waveform_view.samples() is not None and len(tab.waveform_view.samples()) == RATE
    log_mel = tab.spectrogram.log_mel
    assert log_mel.shape[0] == 16
    assert tab.spectrogram_view.spectrogram().shape == log_mel.shape
    axis = tab.spectrogram_view.mel_axis
    ticks = axis.tickValues(0, 16, 300)
    labels = axis.tickStrings(ticks[0][1], 1, 1)
    assert labels and all(label[0].isdigit() for label in labels)
    positions = ticks[0][1]
    hz = [axis.hz_at(p) for p in positions]
    assert hz == sorted(hz)  # low frequencies at the bottom
    text = tab.spectrogram_view.describe(0.5, 3.5)
    assert text.startswith("0.50 s, ") and " Hz: " in text
    # predictions: top 5 of 3 classes -> 3 rows, the target is the top class
    assert tab.prediction_list.topLevelItemCount() == 3
    assert tab.target() == tab.prediction.top_class
    assert not tab.segment_overview.isVisible()  # a short file has no overview
    assert tab.run_button.isEnabled()


def test_relax_time_strategy_shows_overlay_and_uncertainty(qtbot, audio_window, tmp_path):
    tab = audio_window.audio_tab
    # RELAX's layer parameter offers the model's layers (listed in the worker)
    qtbot.waitUntil(lambda: len(tab.layer_choices()) > 1, timeout=10_000)
    assert any("Conv2d" in text for _, text in tab.layer_choices())
    partials = []
    tab.runner.progress.connect(lambda job, fraction, message, partial: partials.append((message, partial)))
    _run_relax(tab, num_masks=32, strategy="time")
    qtbot.waitUntil(lambda: bool(tab.history) and not tab.is_running(), timeout=30_000)
    explanation = tab.history[0].explanation
    assert explanation.complete and explanation.method == "relax"
    assert explanation.params["strategy"] == "time"
    # RELAX explains no class: its title names none and the class picker is greyed out, saying why
    assert tab.history[0].title.startswith("RELAX · ") and "class" not in tab.history[0].title
    assert "score for the class" not in tab.stats_label.text()
    assert not tab.target_combo.isEnabled() and "not one class" in tab.target_combo.toolTip()
    shape = tab.spectrogram.log_mel.shape
    assert explanation.relevance.shape == shape
    assert np.array_equal(tab.relevance_view.relevance(), explanation.relevance.astype(np.float32))
    assert tab.relevance_view.heat_item.image.shape == shape
    assert tab.uncertainty_view.isVisible()
    assert tab.uncertainty_view.uncertainty().shape == shape
    assert np.array_equal(tab.uncertainty_view.uncertainty(), explanation.uncertainty.astype(np.float32))
    assert "relevance = " in tab.relevance_view.describe(0.5, 2.5)
    assert "uncertainty = " in tab.uncertainty_view.describe(0.5, 2.5)
    # the time axes are linked: zooming the waveform moves the relevance view
    tab.waveform_view.plot.setXRange(0.2, 0.4, padding=0)
    (x0, x1), _ = tab.relevance_view.view_box.viewRange()
    assert x0 == pytest.approx(0.2, abs=0.02) and x1 == pytest.approx(0.4, abs=0.02)
    # listen to the evidence: the resynthesised evidence becomes the player's source (the button
    # is there only where sound can be played)
    assert tab.playback_bar.play_evidence_button.isEnabled() == tab.player.available
    tab.play_evidence("top")
    qtbot.waitUntil(lambda: tab.player.source_name() == "evidence", timeout=10_000)
    assert tab.player.samples() is not None and len(tab.player.samples()) > 0
    # exports: the window's export actions write the Audio tab's result while it is shown
    assert audio_window.export_overlay_action.isEnabled()
    assert audio_window._result_tab() is tab
    assert audio_window._result_tab().suggested_export_name(".png") == "clip_relax.png"
    # overlay PNG, relevance + uncertainty .npy, settings with the front-end and segment
    out = tab
    png = out.export_overlay(tmp_path / "exports" / "clip_overlay.png")
    assert png.exists()
    from PIL import Image

    assert Image.open(png).size[0] == shape[1]  # one column per frame
    rel = out.export_relevance(png.with_name("clip_relevance.npy"))
    assert np.array_equal(np.load(rel), explanation.relevance)
    assert np.array_equal(np.load(png.with_name("clip_uncertainty.npy")), explanation.uncertainty)
    record = out.settings_record()
    json.dumps(record, default=str)
    assert record["frontend"]["n_mels"] == 16 and record["frontend"]["sample_rate"] == RATE
    assert record["segment"]["start"] == 0.0 and record["segment"]["stop"] == pytest.approx(1.0)
    assert record["params"]["strategy"] == "time"


def test_cancel_keeps_a_labelled_partial(qtbot, audio_window):
    tab = audio_window.audio_tab
    tab.set_model(_tiny_model(seconds_per_forward=0.02))
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
    _run_relax(tab, num_masks=4000, strategy="time", batch_size=2)
    qtbot.waitUntil(lambda: tab.relevance_view.relevance() is not None, timeout=20_000)  # a live partial
    live = tab.relevance_view.relevance()
    # still in the first of two model windows: the frames of the second stay uncoloured (NaN), not "zero"
    assert np.isfinite(live[:, 0]).all() and np.isnan(live[:, -1]).all()
    assert tab.relevance_view.heat_item.image.shape[1] < live.shape[1]
    started = time.monotonic()
    tab.cancel_explanation()
    qtbot.waitUntil(lambda: not tab.is_running() and tab.run_button.isEnabled(), timeout=1_000)
    assert time.monotonic() - started < 1.0
    assert not tab.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: bool(tab.history), timeout=5_000)
    entry = tab.history[0]
    assert not entry.explanation.complete
    assert "partial" in entry.title and "tone" not in entry.title and "class" not in entry.title
    assert tab.stats_label.text().startswith("Stopped") and "Still running" not in tab.stats_label.text()
    assert entry.explanation.relevance.shape == tab.spectrogram.log_mel.shape
    assert tab.current_entry is entry


def test_play_pause_seek_or_notice(qtbot, audio_window):
    tab = audio_window.audio_tab
    player, bar = tab.player, tab.playback_bar
    notices = []
    player.notice.connect(notices.append)
    bar.seek_file_time(0.5)
    assert player.position() == pytest.approx(0.5)
    assert all(view.playhead_position() == pytest.approx(0.5) for view in tab.time_views)
    assert bar.position_slider.value() == 500
    bar.play_button.click()
    if player.available:
        qtbot.waitUntil(lambda: player.state() == "playing", timeout=2_000)
        bar.play_button.click()
        assert player.state() == "paused"
        bar.seek_file_time(0.25)
        assert player.position() == pytest.approx(0.25, abs=0.05)
    else:
        assert not bar.play_button.isEnabled() and UNAVAILABLE_NOTICE in bar.play_button.toolTip()
        assert player.play() is False and notices and notices[-1] == UNAVAILABLE_NOTICE
        assert bar.player_notice.isVisible() and "playback unavailable" in bar.player_notice.text()
        assert player.state() == "stopped"
        # everything else stays usable
        assert tab.run_button.isEnabled()


def test_bad_audio_file_keeps_the_previous_clip(qtbot, audio_window, error_dialogs, tmp_path):
    tab = audio_window.audio_tab
    before = tab.clip
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    audio_window.open_path(bad)  # routed to the Audio tab by its suffix
    qtbot.waitUntil(lambda: bool(error_dialogs), timeout=10_000)
    title, message = error_dialogs[-1]
    assert title == "Could not open the sound"
    assert message and "Traceback" not in message
    assert tab.clip is before
    assert audio_window.tabs.currentWidget() is tab


def test_stereo_file_shows_the_mixdown_choice_and_reloads(qtbot, audio_window, tmp_path):
    tab = audio_window.audio_tab
    tab.open_audio(_write_clip(tmp_path / "stereo.wav", channels=2))
    qtbot.waitUntil(lambda: tab.clip is not None and tab.clip.channels == 2, timeout=10_000)
    assert tab.sound_panel.mixdown_row.isVisibleTo(tab)
    left = np.array(tab.clip.samples)
    combo = tab.sound_panel.mixdown_combo
    combo.setCurrentIndex(combo.findData("right"))
    combo.activated.emit(combo.currentIndex())  # as when the person picks it
    qtbot.waitUntil(lambda: tab.clip.mixdown == "right", timeout=10_000)
    assert not np.allclose(tab.clip.samples, left)


def test_long_file_opens_with_overview_and_segment(qtbot, audio_window, tmp_path):
    tab = audio_window.audio_tab
    rate = 16000
    path = tmp_path / "long.wav"
    t = np.arange(600 * rate, dtype=np.float32) / rate
    sf.write(str(path), (0.1 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), rate, subtype="PCM_16")
    del t
    tab.open_audio(path)
    qtbot.waitUntil(lambda: tab.path == path and tab.clip is not None and tab.clip.path == path, timeout=20_000)
    assert tab.segment_overview.isVisible()
    assert tab.segment_overview.overview_view.duration() == pytest.approx(600.0)
    start, stop = tab.segment_overview.overview_view.segment()
    assert (start, stop) == pytest.approx((0.0, 10.0))
    assert tab.clip.duration == pytest.approx(10.0, abs=0.01)
    # choose another segment and analyse it: the views move to the file's time of that segment
    tab.segment_overview.overview_view.set_region(120.0, 125.0)
    tab.analyse_segment()
    qtbot.waitUntil(lambda: tab.clip.start == pytest.approx(120.0, abs=0.01), timeout=20_000)
    assert tab.clip.duration == pytest.approx(5.0, abs=0.01)
    assert tab.spectrogram.frame_times[0] == pytest.approx(120.0, abs=0.05)
    assert tab.spectrogram_view.x_start() == pytest.approx(120.0, abs=0.05)
    tab.playback_bar.seek_file_time(121.0)
    assert tab.player.position() == pytest.approx(1.0)


def test_model_file_without_description_asks_for_the_frontend(qtbot, audio_window, error_dialogs, tmp_path,
                                                               monkeypatch):
    import inspect

    import torch

    from xaidesk.gui.widgets import frontend_dialog
    from xaidesk.models.audio import load_audio_file

    tab = audio_window.audio_tab
    net = _tiny_model().module
    path = tmp_path / "my_sound_model.pt"
    torch.jit.trace(net, torch.zeros(1, 1, 16, 32)).save(str(path))
    asked = []

    def answer(parent, values, model_name=""):
        asked.append(dict(values))
        return _frontend().to_dict()

    monkeypatch.setattr(frontend_dialog, "ask_frontend", answer)
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    tab.choose_model_file()
    assert asked and asked[0]["sample_rate"] == 16000  # offered the VGGish defaults to edit
    if "frontend" in inspect.signature(load_audio_file).parameters:
        qtbot.waitUntil(lambda: tab.model.spec == f"file:{path}", timeout=10_000)
        assert tab.model.frontend.to_dict() == _frontend().to_dict()
        qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
    else:  # the core cannot take entered settings yet: a plain error, the previous model stays
        qtbot.waitUntil(lambda: bool(error_dialogs), timeout=10_000)
        assert error_dialogs[-1][0] == "Could not load the model"
        assert tab.model.spec == "test:tiny_audio"


def test_frontend_dialog_returns_the_edited_settings(qtbot):
    from xaidesk.gui.widgets.frontend_dialog import FrontEndDialog

    dialog = FrontEndDialog(_frontend().to_dict(), "model.pt")
    qtbot.addWidget(dialog)
    dialog.editor("n_mels").setValue(40)
    dialog.editor("sample_rate").setValue(22050)
    values = dialog.values()
    assert values["n_mels"] == 40 and values["sample_rate"] == 22050
    from xaidesk.models.audio import AudioFrontEnd

    assert AudioFrontEnd.from_dict(values).n_mels == 40


@pytest.fixture
def outputs(monkeypatch):
    """Fake the computer's list of sound outputs (before the window is made); a list to fill."""
    from xaidesk.gui.audio_player import AudioPlayer

    devices = []
    monkeypatch.setattr(AudioPlayer, "audio_outputs", staticmethod(lambda: list(devices)))
    return devices


def _playback_buttons(tab):
    bar = tab.playback_bar
    return [bar.play_button, bar.stop_button, bar.play_original_button, bar.play_evidence_button, bar.play_rest_button]


def test_without_an_audio_output_the_play_buttons_are_off_and_say_why(qtbot, outputs, audio_window):
    tab = audio_window.audio_tab
    bar = tab.playback_bar
    assert not tab.player.available
    for button in _playback_buttons(tab):
        assert not button.isEnabled()
        assert UNAVAILABLE_NOTICE in button.toolTip() and "no sound output device" in button.toolTip()
    assert bar.player_notice.isVisible() and bar.player_notice.text() == UNAVAILABLE_NOTICE
    assert bar.position_slider.isEnabled()  # seeking still moves the playheads
    # a device appears: playback comes back, with the usual tooltips
    outputs.append("speakers")
    tab.player._outputs_changed()
    assert tab.player.available and bar.play_button.isEnabled() and bar.play_original_button.isEnabled()
    assert UNAVAILABLE_NOTICE not in bar.play_button.toolTip() and "Play or pause" in bar.play_button.toolTip()
    assert not bar.player_notice.isVisible()


def test_a_player_error_turns_playback_off_with_the_reason(qtbot, outputs, audio_window):
    outputs.append("speakers")
    tab = audio_window.audio_tab
    tab.player._outputs_changed()
    assert tab.player.available and tab.playback_bar.play_button.isEnabled()
    tab.player._on_error(None, "the device went away")
    assert not tab.player.available
    for button in _playback_buttons(tab):
        assert not button.isEnabled() and "audio system reported an error" in button.toolTip()
        assert "the device went away" in button.toolTip()
    notice = tab.playback_bar.player_notice.text()
    assert "could not be played" in notice or "Playback is off" in notice


def test_time_views_line_up(qtbot, audio_window):
    """Waveform, spectrogram, explanation and uncertainty: same time range, and their plotting areas
    start and end at the same place on screen, so a moment is at the same x in all of them."""
    tab = audio_window.audio_tab
    audio_window.resize(1400, 950)

    def check(views):
        qtbot.wait(50)
        ranges = [view.view_box.viewRange()[0] for view in views]
        edges = [view.plot_edges() for view in views]
        for (x0, x1), (left, right) in zip(ranges, edges):
            assert x0 == pytest.approx(ranges[0][0], abs=1e-6) and x1 == pytest.approx(ranges[0][1], abs=1e-6)
            assert left == pytest.approx(edges[0][0], abs=1.0) and right == pytest.approx(edges[0][1], abs=1.0)
        assert edges[0][1] - edges[0][0] > 300

    check(tab.time_views[:3])  # opened, not explained yet: no colour bar shown, the same width
    assert not tab.relevance_view.colorbar_shown()
    _run_relax(tab, num_masks=16, strategy="time")
    qtbot.waitUntil(lambda: bool(tab.history) and not tab.is_running(), timeout=30_000)
    assert tab.uncertainty_view.isVisible() and tab.relevance_view.colorbar_shown()
    check(tab.time_views)
    tab.waveform_view.plot.setXRange(0.2, 0.6, padding=0)
    check(tab.time_views)
    # the explanation's colours say what they mean, here and in the comparison
    assert "more important" in tab.relevance_view.colour_meaning()
    assert "certain" in tab.uncertainty_view.colour_meaning()
    assert "more important" in tab._make_compare_view(tab.history[0], None).colour_meaning()


def _label_inside(view, axis_name: str) -> bool:
    """Whether the axis caption of ``view`` lies wholly inside the view's drawing area (not clipped)."""
    label = view.plot.getAxis(axis_name).label
    margin = label.document().documentMargin()  # blank room around the text, inside its bounding box
    text = label.boundingRect().adjusted(margin, margin, -margin, -margin)
    shown = view.graphics.mapFromScene(label.mapRectToScene(text)).boundingRect()
    return view.graphics.viewport().rect().contains(shown)


def test_time_views_stay_readable_in_a_small_window(qtbot, audio_window):
    """At 1280×800 each time view keeps a readable height (the column scrolls) and its axis captions fit;
    before a run the explanation view shows "Press Run…" on an empty plot, not over the spectrogram."""
    tab = audio_window.audio_tab
    relevance = tab.relevance_view
    assert relevance.placeholder.isVisible() and not relevance.base_item.isVisible()
    assert tab.spectrogram_view.base_item.isVisible()
    _run_relax(tab, num_masks=16, strategy="time")
    qtbot.waitUntil(lambda: bool(tab.history) and not tab.is_running(), timeout=30_000)
    assert relevance.base_item.isVisible() and not relevance.placeholder.isVisible()
    assert tab.progress_label.text() == "" and audio_window.status_text().startswith("Done in")
    audio_window.resize(1280, 800)
    qtbot.wait(100)
    for view in tab.time_views:
        assert view.graphics.height() >= 120, view.title_label.text()
        assert _label_inside(view, "left"), view.title_label.text()
    assert _label_inside(tab.relevance_view, "bottom")
    assert tab.views_scroll.verticalScrollBar().maximum() > 0  # the rest is a scroll away
    tab.views_scroll.verticalScrollBar().setValue(0)
    _run_relax(tab, num_masks=16, strategy="time")
    qtbot.waitUntil(lambda: len(tab.history) == 2 and not tab.is_running(), timeout=30_000)
    qtbot.wait(50)
    shown = tab.views_scroll.viewport().rect()
    top_left = relevance.mapTo(tab.views_scroll.viewport(), relevance.rect().topLeft())
    assert shown.contains(top_left) and shown.contains(top_left + relevance.rect().bottomRight())


def test_analyse_is_offered_only_for_an_open_file_while_no_segment_loads(qtbot, audio_window):
    tab = audio_window.audio_tab
    assert tab.segment_overview.analyse_button.isEnabled()
    tab._jobs["segment"] = -1  # a segment is loading
    tab._update_enabled()
    assert not tab.segment_overview.analyse_button.isEnabled()
    tab._jobs["segment"] = None
    tab.path = None
    tab._update_enabled()
    assert not tab.segment_overview.analyse_button.isEnabled()
