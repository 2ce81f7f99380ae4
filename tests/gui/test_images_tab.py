"""The Images workflow end to end: open, run, look, cancel, close, fail gracefully."""

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from xaidesk.core import render


def _start_slow_occlusion(qtbot, window, slow_copy):
    tab = window.images_tab
    tab.set_model(slow_copy(tab.model))
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
    assert tab.select_method("occlusion")
    form = tab.param_form
    form.set_value("patch_size", 4)
    form.set_value("stride", 1)
    form.set_value("batch_size", 1)
    form.set_value("scale_to_input", False)
    job = tab.run_explanation()
    assert job is not None
    return tab, job


def test_demo_opens_model_sample_and_predictions(make_window):
    window = make_window(demo=True)
    tab = window.images_tab
    assert tab.model.spec == "demo:digits"
    assert tab.image.path.name.startswith("digits")
    assert tab.prediction_list.topLevelItemCount() == 5
    assert tab.target() == tab.prediction.top_class
    assert np.array_equal(tab.input_view.image_item.image, tab.image.pixels)
    assert tab.run_button.isEnabled() and not tab.cancel_button.isEnabled()
    # no placeholder tabs: Images and the (working) Audio tab
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Images", "Audio", "Tables", "Molecules", "Dataset"]


def test_lrp_run_shows_the_result_in_the_overlay(qtbot, make_window):
    window = make_window(demo=True)
    tab = window.images_tab
    assert tab.select_method("lrp.epsilon_plus_flat")
    tab.run_explanation()
    qtbot.waitUntil(lambda: bool(tab.history), timeout=15_000)
    explanation = tab.history[0].explanation
    assert explanation.method == "lrp.epsilon_plus_flat"
    assert explanation.relevance.shape == tab.image.pixels.shape[:2]
    view = tab.heatmap_view
    assert np.array_equal(view.heat_item.image, explanation.relevance.astype(np.float32))
    assert view.levels() == pytest.approx(render.symmetric_levels(explanation.relevance))
    overlay = tab.overlay_image()
    expected = render.blend_overlay(
        tab.image.pixels, explanation.relevance, cmap=view.colormap_name(), opacity=view.opacity(),
        levels=render.symmetric_levels(explanation.relevance),
    )
    assert np.array_equal(overlay, expected)
    assert not np.array_equal(overlay, tab.image.pixels)
    assert tab.run_button.isEnabled() and not tab.cancel_button.isEnabled()
    assert window.export_overlay_action.isEnabled()

    # The colour map and opacity controls drive the view.
    tab.set_colormap("coldnhot")
    tab.opacity_slider.setValue(35)
    assert view.colormap_name() == "coldnhot" and view.opacity() == pytest.approx(0.35)
    assert np.array_equal(view.heat_item.lut, render.COLORMAPS["coldnhot"])

    # The value under the cursor names the relevance of that pixel.
    text = view.describe_pixel(3, 4)
    assert text.startswith("x 3, y 4: relevance = ")


def test_compare_two_results_side_by_side(qtbot, make_window):
    window = make_window(demo=True)
    tab = window.images_tab
    tab.select_method("lrp.epsilon_plus_flat")
    tab.run_explanation()
    qtbot.waitUntil(lambda: len(tab.history) == 1, timeout=15_000)
    tab.select_method("gradient.input_x_gradient")
    second_target = tab.prediction.top(2)[1][0]
    tab.set_target(second_target)
    tab.run_explanation()
    qtbot.waitUntil(lambda: len(tab.history) == 2, timeout=15_000)
    for entry in tab.history:
        tab.pin(entry)
    views = tab.compare_views()
    assert len(views) == 2
    # short titles (method · class · time); the model and image are in the tooltip
    assert {v.title_label.text() for v in views} == {tab._short_title(e) for e in tab.history}
    assert all("digits_0.png" not in v.title_label.text() and "digits_0.png" in v.title_label.toolTip()
               for v in views)
    # linked zoom: zooming the input view moves every other view to the same centre and scale
    qtbot.waitExposed(window)
    tab.input_view.view_box.setRange(xRange=(10, 42), yRange=(20, 52), padding=0)
    tab.view_group.follow(tab.input_view)
    (x0, x1), (y0, y1) = tab.input_view.view_box.viewRange()
    scale = (x1 - x0) / tab.input_view.view_box.width()
    for view in [tab.heatmap_view, *views]:
        (a0, a1), (b0, b1) = view.view_box.viewRange()
        assert (a0 + a1) / 2 == pytest.approx((x0 + x1) / 2, abs=0.5)
        assert (b0 + b1) / 2 == pytest.approx((y0 + y1) / 2, abs=0.5)
        assert (a1 - a0) / view.view_box.width() == pytest.approx(scale, rel=0.05)
    # shared levels: the same scale for both
    tab.shared_levels_check.setChecked(True)
    views = tab.compare_views()
    assert views[0].levels() == views[1].levels()
    high = max(render.symmetric_levels(e.explanation.relevance)[1] for e in tab.history)
    assert views[0].levels() == pytest.approx((-high, high))


def test_cancel_long_occlusion_returns_to_idle(qtbot, make_window, slow_copy):
    window = make_window(demo=True)
    tab, job = _start_slow_occlusion(qtbot, window, slow_copy)
    assert tab.cancel_button.isEnabled() and not tab.run_button.isEnabled()
    # Partial results are shown while it runs (live refinement).
    qtbot.waitUntil(lambda: tab.heatmap_view.relevance() is not None, timeout=10_000)
    assert tab.progress_bar.value() > 0
    assert "left" in tab.progress_label.text() or "%" in tab.progress_label.text()
    pressed = time.monotonic()
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.run_button.isEnabled(), timeout=1_000)
    assert time.monotonic() - pressed < 1.0
    assert not tab.cancel_button.isEnabled()
    assert tab.progress_bar.value() == 0
    assert not tab.history
    # The worker really stopped: the next job runs promptly.
    tab.select_method("gradient.sensitivity")
    tab.run_explanation()
    qtbot.waitUntil(lambda: len(tab.history) == 1, timeout=5_000)


def test_closing_during_a_run_leaves_no_thread(qtbot, make_window, slow_copy):
    baseline = threading.active_count()
    window = make_window(demo=True)
    tab, _ = _start_slow_occlusion(qtbot, window, slow_copy)
    qtbot.waitUntil(lambda: tab.progress_bar.value() > 0, timeout=10_000)
    window.close()
    assert not window.runner.thread.isRunning()
    assert threading.active_count() <= baseline


def test_bad_image_shows_error_and_keeps_previous(qtbot, make_window, error_dialogs, tmp_path):
    window = make_window(demo=True)
    tab = window.images_tab
    previous = tab.image
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a png")
    tab.open_image(bad)
    qtbot.waitUntil(lambda: bool(error_dialogs), timeout=5_000)
    title, message = error_dialogs[0]
    assert "image" in title.lower()
    assert "broken.png" in message
    assert tab.image is previous
    assert np.array_equal(tab.input_view.image_item.image, previous.pixels)
    assert tab.run_button.isEnabled()


def test_bad_model_shows_error_and_keeps_previous(qtbot, make_window, error_dialogs, tmp_path):
    window = make_window(demo=True)
    tab = window.images_tab
    previous = tab.model
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a model")
    tab.load_model(f"file:{bad}")
    qtbot.waitUntil(lambda: bool(error_dialogs), timeout=10_000)
    assert "model" in error_dialogs[0][0].lower()
    assert tab.model is previous
    assert tab.model_combo.currentData() == previous.spec


def test_exports_write_overlay_relevance_and_settings(qtbot, make_window, tmp_path):
    import json

    from PIL import Image

    window = make_window(demo=True)
    tab = window.images_tab
    tab.select_method("lrp.epsilon_plus_flat")
    tab.run_explanation()
    qtbot.waitUntil(lambda: bool(tab.history), timeout=15_000)
    tab.export_overlay(tmp_path / "overlay.png")
    tab.export_relevance(tmp_path / "relevance.npy")
    tab.export_settings(tmp_path / "settings.json")
    overlay = np.asarray(Image.open(tmp_path / "overlay.png"))
    assert np.array_equal(overlay, tab.overlay_image())
    assert overlay.shape[:2] == tab.image.pixels.shape[:2]
    assert np.array_equal(np.load(tmp_path / "relevance.npy"), tab.history[0].explanation.relevance)
    record = json.loads((tmp_path / "settings.json").read_text())
    assert record["model"] == "demo:digits"
    assert record["method"] == "lrp.epsilon_plus_flat"
    assert record["target"]["index"] == tab.history[0].explanation.target.index
    assert record["image"].endswith(tab.image.path.name)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    tab.copy_overlay()
    from PySide6.QtGui import QGuiApplication

    assert not QGuiApplication.clipboard().image().isNull()


def test_settings_remember_model_and_recent_files(qtbot, make_window, isolated_settings):
    from xaidesk.gui import settings as app_settings

    window = make_window(demo=True)
    window.close()
    store = app_settings.open_settings()
    assert store.value("last_model") == "demo:digits"
    recent = app_settings.recent_files(store)
    assert recent and recent[0].name.startswith("digits")
    assert store.value("window_geometry") is not None
    assert (isolated_settings / "xaidesk.ini").is_file()


def test_parameter_form_follows_the_schema(make_window):
    from PySide6.QtWidgets import QCheckBox, QComboBox, QSpinBox

    window = make_window(demo=True)
    tab = window.images_tab
    tab.select_method("occlusion")
    info = tab.method_info()
    form = tab.param_form
    assert set(form.values()) == {p.name for p in info.params}
    assert form.values() == info.defaults()
    for param in info.params:
        editor = form.editor(param.name)
        assert editor.toolTip().endswith(param.help)
        if param.kind == "int":
            assert isinstance(editor, QSpinBox)
            assert editor.minimum() == param.minimum and editor.maximum() == param.maximum
        if param.kind == "bool":
            assert isinstance(editor, QCheckBox)
        if param.kind == "choice":
            assert isinstance(editor, QComboBox) and editor.count() == len(param.choices)
    assert info.resolve_params(form.values()) == form.values()


def test_pickled_model_asks_for_trust_and_loads_only_when_trusted(qtbot, make_window, monkeypatch, tmp_path,
                                                                   error_dialogs):
    import json

    import torch

    from xaidesk.gui.widgets import error_dialog

    window = make_window(demo=True)
    tab = window.images_tab
    previous = tab.model
    path = tmp_path / "whole_model.pt"
    torch.save(previous.module, path)
    (tmp_path / "whole_model.pt.json").write_text(json.dumps({
        "preprocessing": previous.preprocessing.to_dict(), "class_names": previous.class_names,
    }))
    questions = []
    answers = iter([False, True])

    def confirm(parent, title, text, informative="", yes_text="Yes"):
        questions.append(text + " " + informative)
        return next(answers)

    monkeypatch.setattr(error_dialog, "confirm", confirm)
    tab.load_model(f"file:{path}")
    qtbot.waitUntil(lambda: len(questions) == 1, timeout=10_000)
    assert "runs code" in questions[0]
    qtbot.wait(50)
    assert tab.model is previous  # declined: nothing loaded
    tab.load_model(f"file:{path}")
    qtbot.waitUntil(lambda: tab.model is not previous, timeout=10_000)
    assert len(questions) == 2 and not error_dialogs
    assert tab.model.spec == f"file:{path}"


def test_dropping_an_image_file_opens_it(qtbot, make_window, catalog):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    window = make_window(demo=True)
    tab = window.images_tab
    other = [p for p in catalog.samples() if p != tab.image.path][0]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: tab.image.path == other, timeout=5_000)


def test_recent_files_drop_missing_and_keep_ten(tmp_path):
    from xaidesk.gui import settings as app_settings

    store = app_settings.open_settings()
    files = []
    for i in range(12):
        path = tmp_path / f"image{i}.png"
        path.write_bytes(b"x")
        files.append(path)
        app_settings.add_recent_file(store, path)
    files[11].unlink()
    recent = app_settings.recent_files(store)
    assert len(recent) == 9  # ten kept, the newest of them since deleted
    assert recent[0] == files[10].resolve()
    assert files[0].resolve() not in recent


def test_relax_results_name_no_class_and_the_class_picker_says_why(qtbot, make_window, tmp_path):
    window = make_window(demo=True)
    tab = window.images_tab
    assert tab.select_method("lrp.epsilon_plus_flat")
    assert tab.target_combo.isEnabled()
    assert tab.select_method("relax")
    assert not tab.target_combo.isEnabled()
    assert "not one class" in tab.target_combo.toolTip()
    tab.param_form.set_value("num_masks", 40)
    tab.run_explanation()
    qtbot.waitUntil(lambda: bool(tab.history), timeout=20_000)
    title = tab.history[0].title
    assert title.startswith("RELAX · ") and "class" not in title
    stats = tab.stats_label.text()
    assert "values from" in stats and "score for the class" not in stats and "evidence is for" not in stats
    figure_title, _ = tab.figure_labels()
    assert figure_title.startswith("RELAX · ") and "class" not in figure_title

    assert tab.select_method("lrp.epsilon_plus_flat")
    assert tab.target_combo.isEnabled() and "not one class" not in tab.target_combo.toolTip()
    tab.run_explanation()
    qtbot.waitUntil(lambda: len(tab.history) == 2, timeout=15_000)
    lrp = next(entry for entry in tab.history if entry.explanation.method == "lrp.epsilon_plus_flat")
    assert lrp.title.startswith("LRP") and f"· class {lrp.explanation.target.index} ·" in lrp.title


def test_titles_and_statistics_of_a_method_that_explains_no_class():
    from xaidesk.gui.formatting import partial_title, statistics_parts

    assert partial_title("RELAX", "", 3, 10, "masks") == "RELAX · partial, 3 of 10 masks"
    assert partial_title("LIME", "class 2", 3, 10, "samples") == "LIME · class 2 · partial, 3 of 10 samples"
    stats = {"sum": 1.0, "min": -0.5, "max": 1.5, "positive_share": 0.75}
    with_class = " · ".join(statistics_parts(stats, 2.0, (-1.5, 1.5), "class 2"))
    assert "score for the class" in with_class and "evidence is for class 2" in with_class
    without = " · ".join(statistics_parts(stats, 2.0, (-1.5, 1.5), "class 2", explains_class=False))
    assert "class" not in without and "values from" in without


def test_an_all_zero_map_says_so_in_plain_words():
    from xaidesk.gui.formatting import statistics_parts

    zero = {"sum": 0.0, "min": 0.0, "max": 0.0, "positive_share": 0.0}
    (line,) = statistics_parts(zero, 2e-13, (-1.0, 1.0), "class 0")
    assert line.startswith("The map is zero everywhere") and "values from" not in line
