"""Images tab results: each carries its own input and model, unseen pixels stay uncoloured,
the whole-image preparation, and exports at full size with a titled figure."""

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from xaidesk.core import render
from helpers import run_in_tab


def _run(qtbot, tab, method="gradient.sensitivity", **params):
    return run_in_tab(qtbot, tab, method, **params)


def _open(qtbot, tab, path):
    tab.open_image(path)
    qtbot.waitUntil(lambda: tab.image is not None and tab.image.path == path and tab.prediction is not None,
                    timeout=10_000)


def _wide_digit(tmp_path):
    path = tmp_path / "wide.png"
    pixels = np.zeros((60, 150, 3), np.uint8)
    pixels[10:50, 60:90] = 255
    Image.fromarray(pixels).save(path)
    return path


def _cropping(model):
    """The demo model with an ImageNet-like preparation: shorter side to 40 px, centre 32 x 32."""
    return replace(model, preprocessing=replace(model.preprocessing, resize=40, name="crop"))


def test_an_older_result_brings_back_its_own_image_and_the_row_matches(qtbot, make_window, tmp_path):
    tab = make_window(demo=True).images_tab
    first_image = tab.image
    first = _run(qtbot, tab)
    assert tab.model.name in first.title and first_image.path.name in first.title
    assert tab.history_list.item(0).text() == first.title
    _open(qtbot, tab, _wide_digit(tmp_path))
    assert tab.current_entry is None and tab.history_list.currentItem() is None
    second = _run(qtbot, tab)
    assert second.pixels.shape[:2] == (60, 150)

    tab.show_entry(first)
    assert tab.image is first_image and tab.input_view.pixels() is first.pixels
    assert tab.heatmap_view.pixels() is first.pixels
    assert tab.history_list.currentItem().text() == first.title
    (x0, x1), (y0, y1) = tab.heatmap_view.view_box.viewRange()
    # fitted to the 128 px image, not left where the 150 x 60 one was
    assert x0 <= 0 and x1 >= 128 and y0 <= 0 and y1 >= 128
    assert (x0 + x1) / 2 == pytest.approx(64, abs=2) and (y0 + y1) / 2 == pytest.approx(64, abs=2)
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
    assert tab.target() == first.explanation.target.index

    tab.pin(first)
    tab.pin(second)
    views = tab.compare_views()
    assert [v.pixels() for v in views] == [first.pixels, second.pixels]
    # Views of pictures of another size do not follow this one's zoom.
    before = views[1].view_box.viewRange()
    tab.heatmap_view.view_box.setRange(xRange=(0, 20), yRange=(0, 20), padding=0)
    tab.view_group.follow(tab.heatmap_view)
    assert views[1].view_box.viewRange() == before
    assert views[0].view_box.viewRange()[0][1] - views[0].view_box.viewRange()[0][0] < 60


def test_an_older_result_brings_back_its_own_model(qtbot, make_window):
    tab = make_window(demo=True).images_tab
    digits_model = tab.model
    first = _run(qtbot, tab)
    tab.load_model("demo:clever_hans")
    qtbot.waitUntil(lambda: tab.model is not digits_model and tab.prediction is not None, timeout=10_000)
    assert tab.current_entry is None  # a result of the old model is not shown over the new one
    tab.show_entry(first)
    assert tab.model is digits_model and tab.model_combo.currentData() == "demo:digits"
    assert tab.heatmap_view.relevance() is first.explanation.relevance


def test_another_input_is_refused_while_a_run_goes_on(qtbot, make_window, slow_copy, tmp_path):
    tab = make_window(demo=True).images_tab
    first = _run(qtbot, tab)
    _open(qtbot, tab, _wide_digit(tmp_path))
    tab.set_model(slow_copy(tab.model))
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
    tab.select_method("occlusion")
    tab.param_form.set_value("patch_size", 4)
    tab.param_form.set_value("stride", 1)
    tab.param_form.set_value("batch_size", 1)
    messages = []
    tab.status_message.connect(messages.append)
    tab.run_explanation()
    tab.show_entry(first)
    assert tab.is_running() and tab.image.path.name == "wide.png" and tab.current_entry is not first
    assert any("another image or model" in m for m in messages)
    tab.cancel_explanation()


def test_unseen_border_is_uncoloured_and_whole_image_sees_everything(qtbot, make_window, tmp_path):
    window = make_window(demo=True)
    tab = window.images_tab
    tab.set_model(_cropping(tab.model))
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
    assert tab.preparation_combo.isEnabled() and "centre" in tab.model_notes.text()
    entry = _run(qtbot, tab, "occlusion", patch_size=4, stride=4)
    relevance = entry.explanation.relevance
    assert np.isnan(relevance[:5]).all() and np.isfinite(relevance[40:90, 40:90]).all()
    view = tab.heatmap_view
    low, high = view.levels()
    assert np.isfinite([low, high]).all() and high > 0
    view.heat_item.render()
    assert view.heat_item.qimage.pixelColor(1, 1).alpha() == 0
    assert view.heat_item.qimage.pixelColor(64, 64).alpha() == 255
    assert "not seen by the model" in view.describe_pixel(1, 1)
    assert "not seen by the model" in tab.stats_label.text()
    assert "–" not in tab.stats_label.text().split("·")[0]

    tab.export_relevance(tmp_path / "relevance.npy")
    saved = np.load(tmp_path / "relevance.npy")
    assert np.array_equal(np.isnan(saved), np.isnan(relevance))
    tab.export_settings(tmp_path / "settings.json")
    record = json.loads((tmp_path / "settings.json").read_text())
    assert record["unseen_pixels"] == int(np.isnan(relevance).sum()) > 0
    assert record["preprocessing"]["resize"] == 40

    tab.set_preparation("whole")
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
    assert tab.model.preprocessing.resize is None and tab.current_entry is None
    whole = _run(qtbot, tab, "occlusion", patch_size=4, stride=4)
    assert np.isfinite(whole.explanation.relevance).all() and "whole image" in whole.title
    tab.show_entry(entry)  # the cropped result brings its preparation back
    assert tab.preparation() == "model" and tab.model.preprocessing.resize == 40


def test_exports_are_full_size_and_the_figure_has_title_and_colour_bar(qtbot, make_window, tmp_path):
    window = make_window(demo=True)
    tab = window.images_tab
    entry = _run(qtbot, tab, "lrp.epsilon_plus_flat")
    assert tab.model.preprocessing.size == (32, 32) and tab.image.pixels.shape[:2] == (128, 128)
    tab.export_overlay(tmp_path / "overlay.png")
    assert Image.open(tmp_path / "overlay.png").size == (128, 128)
    assert window.export_figure_action.isEnabled()
    file_menu = window.menuBar().actions()[0].menu()
    assert [a.text() for a in file_menu.actions()].count(window.export_figure_action.text()) == 1
    title, label = tab.figure_labels()
    assert entry.method_title in title and tab.model.name in title
    assert "against" in label and tab.heatmap_view.colour_meaning() in label
    assert label.startswith("relevance · ")  # LRP's unit, from the registry
    path = tab.export_figure(tmp_path / "figure.png")
    picture = Image.open(path)
    assert picture.format == "PNG" and picture.size[0] > 128
    svg = tab.export_figure(tmp_path / "figure.svg").read_text()
    assert title.count("class") == 1 and entry.method_title in svg and "Handwritten digits" in svg and label in svg
    assert render.unseen_count(entry.explanation.relevance) == 0 and "not seen" not in svg


def test_ticking_an_older_result_shows_it_with_its_own_image(qtbot, make_window, tmp_path):
    from PySide6.QtCore import QPoint

    tab = make_window(demo=True).images_tab
    first = _run(qtbot, tab)
    _open(qtbot, tab, _wide_digit(tmp_path))
    _run(qtbot, tab)
    row = tab.history_list.item(1)
    assert tab.history_list.itemWidget(row) is None and row.text() == first.title
    rect = tab.history_list.visualItemRect(row)
    qtbot.mouseClick(tab.history_list.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() + 10, rect.center().y()))
    assert tab.pinned_entries() == [first]
    assert tab.current_entry is first and tab.history_list.currentItem() is row
    assert tab.input_view.pixels() is first.pixels and tab.compare_views()[0].pixels() is first.pixels
