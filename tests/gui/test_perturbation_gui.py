"""RELAX and LIME in the Images tab: live uncertainty, partial results on cancel, superpixels, refit."""

import json
import time
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from xaidesk.gui.overlays import segment_boundaries


def _wrapped(model, seconds_per_forward=0.0, counter=None):
    """The same model whose forward passes can be slowed down and counted."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            if counter is not None:
                counter.append(x.shape[0])
            if seconds_per_forward:
                time.sleep(seconds_per_forward)
            return self.inner(x)

    return replace(model, module=Wrapped(model.module).eval(), spec=model.spec + "+wrapped", name="wrapped " + model.name)


@pytest.fixture
def clever_hans(qtbot, make_window, catalog):
    """A window showing the clever-hans demo model and its first sample."""
    window = make_window(demo=True)
    tab = window.images_tab
    tab.load_model("demo:clever_hans")
    qtbot.waitUntil(lambda: tab.model.spec == "demo:clever_hans", timeout=10_000)
    sample = next(m for m in catalog.builtin_models if m["spec"] == "demo:clever_hans")["samples"][0]
    tab.open_image(sample)
    qtbot.waitUntil(lambda: tab.image.path == sample and tab.prediction is not None, timeout=10_000)
    return window


def _use(qtbot, tab, model):
    tab.set_model(model)
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)


def _record_partials(tab):
    partials = []
    tab.runner.progress.connect(lambda job, fraction, message, partial: partials.append((message, partial)))
    return partials


def test_relax_shows_importance_and_uncertainty_refining_live(qtbot, clever_hans):
    tab = clever_hans.images_tab
    assert not tab.uncertainty_view.isVisible()
    _use(qtbot, tab, _wrapped(tab.model, seconds_per_forward=0.03))
    assert tab.select_method("relax")
    tab.param_form.set_value("num_masks", 64)
    tab.param_form.set_value("batch_size", 4)
    partials = _record_partials(tab)
    seen_live = []
    tab.runner.progress.connect(lambda *args: seen_live.append(tab.uncertainty_view.relevance() is not None))
    tab.run_explanation()
    qtbot.waitUntil(lambda: bool(tab.history), timeout=20_000)
    live = [p for _, p in partials if p is not None]
    assert live, "no partial result arrived before the end"
    assert all(not p.complete and p.uncertainty is not None for p in live)
    assert live[0].extras["n_done"] < 64
    assert any(seen_live), "the uncertainty view did not refine while running"
    explanation = tab.history[0].explanation
    assert explanation.complete and explanation.extras["n_used"] == 64
    shape = tab.image.pixels.shape[:2]
    view = tab.uncertainty_view
    assert view.isVisible()
    assert view.relevance().shape == shape
    assert np.array_equal(view.relevance(), explanation.uncertainty)
    assert view.colormap_name() in ("viridis", "hot", "gray") and view.levels()[0] >= 0
    assert view.describe_pixel(3, 4).startswith("x 3, y 4: uncertainty = ")
    # importance and uncertainty are linked views
    assert view in tab.view_group.views()
    # the colour map of the importance does not touch the uncertainty's sequential map
    tab.set_colormap("coldnhot")
    assert view.colormap_name() == "viridis" and tab.heatmap_view.colormap_name() == "coldnhot"
    # a method without uncertainty hides the view again
    tab.select_method("gradient.sensitivity")
    tab.run_explanation()
    qtbot.waitUntil(lambda: len(tab.history) == 2, timeout=10_000)
    assert not view.isVisible()


def test_cancel_relax_keeps_a_partial_result_labelled_with_its_n(qtbot, clever_hans, tmp_path):
    tab = clever_hans.images_tab
    _use(qtbot, tab, _wrapped(tab.model, seconds_per_forward=0.03))
    tab.select_method("relax")
    tab.param_form.set_value("num_masks", 3000)
    tab.param_form.set_value("batch_size", 4)
    tab.run_explanation()
    qtbot.waitUntil(lambda: tab.uncertainty_view.relevance() is not None, timeout=10_000)
    qtbot.waitUntil(lambda: "left" in tab.progress_label.text(), timeout=10_000)
    assert "of 3000 masks · about " in tab.progress_label.text()
    pressed = time.monotonic()
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.run_button.isEnabled(), timeout=1_000)
    assert time.monotonic() - pressed < 1.0
    qtbot.waitUntil(lambda: len(tab.history) == 1, timeout=5_000)
    entry = tab.history[0]
    explanation = entry.explanation
    assert not explanation.complete
    done = explanation.extras["n_done"]
    assert 0 < done < 3000
    assert f"partial, {done} of 3000 masks" in entry.title
    assert tab.stats_label.text().startswith(f"Stopped after {done} of 3000 masks: a partial result")
    assert tab.history_list.item(0).text() == entry.title
    assert tab.current_entry is entry and tab.heatmap_view.title_label.text() == tab._short_title(entry)
    assert explanation.relevance.shape == tab.image.pixels.shape[:2]
    assert explanation.uncertainty.shape == tab.image.pixels.shape[:2]
    assert tab.uncertainty_view.isVisible()
    assert explanation.params["num_masks"] == 3000
    # exports mark it partial and write the uncertainty too
    tab.export_settings(tmp_path / "settings.json")
    record = json.loads((tmp_path / "settings.json").read_text())
    assert record["partial"] is True and record["samples_done"] == done and record["samples_total"] == 3000
    tab.export_relevance(tmp_path / "relevance.npy")
    assert np.array_equal(np.load(tmp_path / "uncertainty.npy"), explanation.uncertainty)


def test_lime_segments_hover_and_refit_without_forward_passes(qtbot, clever_hans):
    from xaidesk.explain.lime import refit_lime

    window = clever_hans
    tab = window.images_tab
    calls = []
    _use(qtbot, tab, _wrapped(tab.model, counter=calls))
    assert tab.select_method("lime")
    tab.param_form.set_value("num_samples", 64)
    tab.run_explanation()
    qtbot.waitUntil(lambda: bool(tab.history), timeout=20_000)
    entry = tab.history[0]
    extras = entry.explanation.extras
    segments = extras["segments"]
    view = tab.heatmap_view
    assert tab.segment_panel.isVisible() and not tab.uncertainty_view.isVisible()
    assert tab.fidelity_label.text().startswith(f"local fidelity R² = {extras['r2']:.2f}")
    assert np.array_equal(view.segments(), segments)

    # boundaries toggle changes the rendered overlay (and the export)
    tab.boundaries_check.setChecked(True)
    with_lines = view.rendered_overlay()
    assert np.array_equal(tab.overlay_image(), with_lines)
    tab.boundaries_check.setChecked(False)
    without = view.rendered_overlay()
    changed = np.any(with_lines != without, axis=2)
    assert changed.any() and np.array_equal(changed, changed & segment_boundaries(segments))

    # top segments: the table lists them with their weights; the toggle dims the others
    rows = [tab.segment_table.topLevelItem(i) for i in range(tab.segment_table.topLevelItemCount())]
    top = extras["top_positive"] + extras["top_negative"]
    assert [r.data(0, Qt.ItemDataRole.UserRole) for r in rows] == top
    first = extras["top_positive"][0]
    assert rows[0].text(1) == f"{extras['segment_weights'][first]:+.3g}"
    tab.top_only_check.setChecked(True)
    dimmed = view.rendered_overlay()
    outside = ~np.isin(segments, top)
    assert np.any(dimmed[outside] != without[outside]) and np.array_equal(dimmed[~outside], without[~outside])
    tab.top_only_check.setChecked(False)

    # hovering a pixel names its segment and weight in the status bar
    qtbot.waitExposed(window)
    ys, xs = np.nonzero(segments == first)
    x, y = int(xs[len(xs) // 2]), int(ys[len(ys) // 2])
    scene = view.view_box.mapViewToScene(QPointF(x + 0.5, y + 0.5))
    view._mouse_moved(scene)
    weight = extras["segment_weights"][first]
    assert window.hover_label.text() == f"x {x}, y {y}: segment {first} · weight {weight:+.3g}"

    # switching the class refits from the stored samples: no forward pass, a new result at once
    calls.clear()
    other = 1 - entry.explanation.target.index
    tab.set_target(other)
    assert len(tab.history) == 2 and not calls
    refit = tab.history[0]
    assert refit.explanation.target.index == other
    assert "refit, no new samples" in refit.title and tab.current_entry is refit
    expected = refit_lime(entry.explanation, other)
    assert np.allclose(refit.explanation.relevance, expected.relevance)
    assert np.array_equal(view.relevance(), refit.explanation.relevance)
    assert tab.settings_record()["refit"] is True
    # back to the first class: the original result, nothing new
    tab.set_target(entry.explanation.target.index)
    assert len(tab.history) == 2 and tab.current_entry is entry and not calls

    # comparison keeps working with LIME results
    for e in tab.history:
        tab.pin(e)
    assert len(tab.compare_views()) == 2


def test_other_methods_need_a_new_run_after_switching_class(qtbot, clever_hans):
    tab = clever_hans.images_tab
    tab.select_method("gradient.sensitivity")
    tab.run_explanation()
    qtbot.waitUntil(lambda: bool(tab.history), timeout=10_000)
    tab.set_target(1 - tab.history[0].explanation.target.index)
    qtbot.wait(50)
    assert len(tab.history) == 1


def test_cancel_lime_keeps_a_partial_that_can_be_refitted(qtbot, clever_hans):
    tab = clever_hans.images_tab
    _use(qtbot, tab, _wrapped(tab.model, seconds_per_forward=0.03))
    tab.select_method("lime")
    tab.param_form.set_value("num_samples", 2000)
    tab.param_form.set_value("batch_size", 4)
    tab.run_explanation()
    qtbot.waitUntil(lambda: tab.heatmap_view.segments() is not None, timeout=10_000)
    tab.cancel_explanation()
    qtbot.waitUntil(lambda: len(tab.history) == 1, timeout=5_000)
    entry = tab.history[0]
    assert "partial" in entry.title and "of 2000 samples" in entry.title
    tab.set_target(1 - entry.explanation.target.index)
    assert len(tab.history) == 2 and "refit" in tab.history[0].title


def test_layer_combo_lists_the_models_layers(qtbot, clever_hans):
    from xaidesk.explain.relax_layers import list_layers

    tab = clever_hans.images_tab
    expected = list_layers(tab.model)
    qtbot.waitUntil(lambda: len(tab.layer_choices()) == len(expected) + 1, timeout=10_000)
    tab.select_method("relax")
    combo = tab.param_form.editor("layer")
    assert combo.isEditable() and combo.count() == len(expected) + 1
    assert combo.itemData(0) == "" and "automatic" in combo.itemText(0).lower()
    assert [combo.itemData(i) for i in range(1, combo.count())] == [name for name, _ in expected]
    assert tab.param_form.values()["layer"] == ""
    combo.setCurrentIndex(combo.findData(expected[3][0]))
    assert tab.param_form.values()["layer"] == expected[3][0]
    combo.setEditText("12")
    assert tab.param_form.values()["layer"] == "12"
    # another model: the list follows it
    tab.load_model("demo:digits")
    qtbot.waitUntil(lambda: tab.model.spec == "demo:digits", timeout=10_000)
    digits = list_layers(tab.model)
    qtbot.waitUntil(lambda: [n for n, _ in tab.layer_choices()[1:]] == [n for n, _ in digits], timeout=10_000)
    assert tab.param_form.editor("layer").count() == len(digits) + 1
