"""The Images tab's Concepts panel: top concepts with shares, a concept's heatmap, the layer picker, the
attribution graph, reference samples, a model LRP cannot explain, and cancel."""

import time

import numpy as np
import pytest
import torch

from helpers import loaded
from xaidesk.core import default_method, list_methods
from xaidesk.explain.lrp.cnn import build_composite
from xaidesk.explain.lrp.concepts import concept_layers, conditional_relevance, default_layer, top_concepts
from xaidesk.gui.concept_jobs import feeding_concepts


class Slow(torch.nn.Module):
    """Passes its input on after a pause (so that a job can be cancelled while it runs)."""

    def forward(self, x):
        time.sleep(0.3)
        return x


def _net(slow=False):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), *([Slow()] if slow else []),
        torch.nn.Conv2d(6, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 3),
    )


@pytest.fixture
def tab_with(qtbot, make_window):
    """``tab_with(model)``: the demo window's Images tab with ``model`` open and its prediction made."""

    def make(model):
        window = make_window(demo=True)
        tab = window.images_tab
        tab.set_model(model)
        qtbot.waitUntil(lambda: tab.prediction is not None and tab.model is model, timeout=10_000)
        return tab, tab.concepts_panel

    return make


def _found(qtbot, panel):
    assert panel.run() is not None
    qtbot.waitUntil(lambda: panel.ranking is not None and not panel.jobs.busy, timeout=15_000)
    return panel.ranking


def test_the_list_shows_the_top_concepts_with_their_shares_and_a_click_shows_that_concepts_heatmap(qtbot, tab_with):
    model = loaded(_net(), 16)
    tab, panel = tab_with(model)
    assert panel.is_available() and panel.top_spin.value() == 8
    panel.top_spin.setValue(4)
    ranking = _found(qtbot, panel)
    layer = default_layer(concept_layers(model))
    target = tab.target()
    x = model.preprocessing.to_tensor(tab.image.pixels)
    direct = conditional_relevance(model, x, target, build_composite("epsilon_plus_flat", {"epsilon": 1e-6}, model),
                                   layer, range(8))
    expected = top_concepts(direct.channel_relevance, 4)
    rows = panel.concept_list.rows()
    assert [c for c, _ in rows] == [c for c, _ in expected]
    assert [s for _, s in rows] == pytest.approx([s for _, s in expected])
    assert ranking.layer == layer and ranking.target == target
    # the first concept is shown at once; a click on another shows its heatmap over the input
    view = panel.concept_view
    assert panel.concept_list.current_channel() == rows[0][0]
    panel.concept_list.setCurrentItem(panel.concept_list.topLevelItem(1))
    channel = rows[1][0]
    assert ranking.concept(channel).relevance > 0 and np.nanmax(ranking.concept(channel).heatmap) > 0
    assert np.array_equal(view.heat_item.image, ranking.concept(channel).heatmap)
    heatmap = model.preprocessing.to_original(direct.heatmaps[channel].sum(0).numpy(), tab.image.pixels.shape[:2])
    np.testing.assert_allclose(view.relevance(), heatmap, atol=1e-6)
    assert view.pixels() is tab.image.pixels and view.title_label.text().startswith(f"Concept {channel} of layer")
    concept = ranking.concept(channel)
    absorbed = 100 * abs(concept.absorbed / concept.relevance)
    assert panel.absorbed_label.text() == f"Absorbed below the layer: {absorbed:.1f} % of its relevance"
    # another class clears what was found for the previous one
    tab.set_target((target + 1) % 3)
    assert panel.ranking is None and panel.concept_list.topLevelItemCount() == 0


def test_the_layer_picker_lists_the_concept_layers_and_choosing_one_finds_its_concepts(qtbot, tab_with):
    model = loaded(_net(), 16)
    _tab, panel = tab_with(model)
    layers = concept_layers(model)
    combo = panel.layer_combo
    assert [combo.itemData(i) for i in range(combo.count())] == [layer.name for layer in layers]
    assert [combo.itemText(i) for i in range(combo.count())] == [layer.title for layer in layers]
    assert panel.layer() == default_layer(layers)
    _found(qtbot, panel)
    combo.setCurrentIndex(combo.findData(layers[0].name))
    qtbot.waitUntil(lambda: panel.ranking is not None and panel.ranking.layer == layers[0].name
                    and not panel.jobs.busy, timeout=15_000)
    assert len(panel.concept_list.rows()) == min(8, layers[0].channels)
    assert "first layer" in panel.feeding_label.text()


def test_the_attribution_graph_lists_the_concepts_below_and_a_click_opens_one_in_its_layer(qtbot, tab_with):
    model = loaded(_net(), 16)
    tab, panel = tab_with(model)
    ranking = _found(qtbot, panel)
    channel = panel.concept_list.current_channel()
    expected = feeding_concepts(panel.context, ranking.layer, channel, 8)
    assert [c for c, _ in panel.feeding_list.rows()] == [c for c, _ in expected.items]
    assert [s for _, s in panel.feeding_list.rows()] == pytest.approx([s for _, s in expected.items])
    lower = expected.lower_layer
    below = panel.feeding_list.rows()[-1][0]
    panel.feeding_list.select_channel(below)
    qtbot.waitUntil(lambda: panel.ranking.layer == lower and not panel.jobs.busy, timeout=15_000)
    assert panel.layer() == lower and panel.concept_list.current_channel() == below
    assert panel.concept_view.title_label.text().startswith(f"Concept {below} of layer {lower}")


def test_the_tabs_lrp_method_and_settings_are_used_and_a_new_lrp_result_refreshes_the_concepts(qtbot, tab_with):
    model = loaded(_net(), 16)
    tab, panel = tab_with(model)
    other = next(m for m in list_methods("image") if m.name.startswith("lrp.") and m.name != default_method("image")
                 and m.family == "lrp" and "epsilon" in m.defaults())
    _found(qtbot, panel)
    assert tab.select_method(other.name)
    tab.run_explanation()
    qtbot.waitUntil(lambda: bool(tab.history) and panel.ranking.method_title == other.title
                    and not panel.jobs.busy, timeout=15_000)
    # a method that is not LRP: the concepts use the default LRP method
    assert tab.select_method("gradient.input_x_gradient")
    _found(qtbot, panel)
    assert panel.ranking.method_title == next(m.title for m in list_methods() if m.name == default_method("image"))


def test_a_model_lrp_cannot_explain_disables_the_panel_with_one_sentence(qtbot, tab_with):
    scripted = loaded(torch.jit.script(_net()), 16, torchscript=True)
    _tab, panel = tab_with(scripted)
    assert not panel.is_available()
    assert panel.refusal_label.isVisible() and panel.refusal_label.text().startswith("Concepts need LRP")
    assert not panel.run_button.isEnabled() and not panel.controls.isEnabled() and not panel.cancel_button.isEnabled()
    assert panel.run() is None and panel.layer_combo.count() == 0


def test_cancel_stops_the_search_and_says_so(qtbot, tab_with):
    _tab, panel = tab_with(loaded(_net(slow=True), 16))
    assert panel.run() is not None
    qtbot.waitUntil(lambda: panel.cancel_button.isEnabled(), timeout=5_000)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.jobs.busy, timeout=10_000)
    assert panel.ranking is None and panel.concept_list.topLevelItemCount() == 0
    assert panel.summary_label.text().startswith("Cancelled")


def test_reference_samples_say_how_to_get_them_and_show_the_crops_of_a_reference_run(qtbot, tab_with, tmp_path,
                                                                                     isolated_home):
    from PIL import Image

    from xaidesk.concepts.references import compute_references, open_references

    model = loaded(_net(), 16)
    _tab, panel = tab_with(model)
    _found(qtbot, panel)
    strip = panel.references
    assert strip.thumbnails == [] and "Dataset tab ▸ Reference samples…" in strip.message.text()
    assert f"--model test --layer {panel.layer()}" in strip.message.text()

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        Image.fromarray((np.random.default_rng(i).random((24, 24, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    compute_references(folder, model, panel.layer(), out=tmp_path / "run")
    references = open_references(tmp_path / "run")
    channel = panel.concept_list.rows()[1][0]
    panel.concept_list.select_channel(channel)
    qtbot.waitUntil(lambda: len(strip.thumbnails) == 5 and not panel.jobs.busy, timeout=15_000)
    assert [label.toolTip().split("\n")[0] for label in strip.thumbnails] == [s.file for s in references.relmax(channel)]
    assert "most relevant" in strip.message.text()
    panel.reference_kind.setCurrentIndex(1)
    qtbot.waitUntil(lambda: "most active" in strip.message.text() and not panel.jobs.busy, timeout=15_000)
    assert [label.toolTip().split("\n")[0] for label in strip.thumbnails] == [s.file for s in references.actmax(channel)]
