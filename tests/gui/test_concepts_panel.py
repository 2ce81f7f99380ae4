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
    assert ranking.concept(channel).relevance > 0 and np.nanmax(ranking.concept(channel).stored_heatmap) > 0
    assert np.array_equal(view.heat_item.image, ranking.heatmap(channel))
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
    assert f"--model test --layer {panel.layer()} --out RUN" in strip.message.text()

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


def test_a_concepts_heatmap_is_mapped_onto_the_image_in_the_runner_for_large_images_and_the_last_ones_kept(
        qtbot, tab_with, monkeypatch):
    from xaidesk.gui.panels import concepts_panel

    monkeypatch.setattr(concepts_panel, "MAP_IN_GUI_PIXELS", 0)
    _tab, panel = tab_with(loaded(_net(), 16))
    ranking = _found(qtbot, panel)
    for index, (channel, _share) in enumerate(panel.concept_list.rows()):
        panel.concept_list.setCurrentItem(panel.concept_list.topLevelItem(index))
        qtbot.waitUntil(lambda: panel.concept_view.relevance() is not None and not panel.jobs.busy, timeout=10_000)
        np.testing.assert_allclose(panel.concept_view.relevance(), ranking.heatmap(channel), equal_nan=True)
        assert ranking.concept(channel).stored_heatmap.shape == (16, 16)
    assert len(panel._heatmaps) == concepts_panel.HEATMAPS_KEPT


def _write_saved(tmp_path, model, pixels, source, target=2):
    from xaidesk.concepts.files import write_image_concepts
    from xaidesk.concepts.image import explain_concepts

    found = explain_concepts(model, pixels, "2", target=target, top=3)
    return found, write_image_concepts(tmp_path / "saved", found, pixels, source=str(source))


def test_saved_concepts_open_with_their_image_and_show_their_heatmaps_without_computing_them(
        qtbot, tab_with, tmp_path, error_dialogs):
    from pathlib import Path

    from PIL import Image

    from xaidesk.concepts.files import read_image_concepts

    model = loaded(_net(), 16)
    tab, panel = tab_with(model)
    pixels = (np.random.default_rng(3).random((20, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "cat.png")
    found, folder = _write_saved(tmp_path, model, pixels, tmp_path / "cat.png")
    before = tab.prediction
    assert panel.open_saved(folder) is not None
    qtbot.waitUntil(lambda: panel.saved is not None and tab.prediction is not before and not panel.jobs.busy,
                    timeout=10_000)
    assert Path(tab.image.path).resolve() == (tmp_path / "cat.png").resolve()
    rows = panel.concept_list.rows()
    assert [c for c, _ in rows] == found.channels and [s for _, s in rows] == pytest.approx(found.shares)
    text = panel.summary_label.text()
    assert "Saved concepts from saved: made with the model test, layer 2, for 2: c2" in text
    assert panel.warning_label.isHidden() and panel.saved.ranking.seconds == 0.0
    panel.concept_list.setCurrentItem(panel.concept_list.topLevelItem(1))
    saved_maps = read_image_concepts(folder)["heatmaps"]
    np.testing.assert_allclose(panel.concept_view.relevance(), saved_maps[1], equal_nan=True)
    assert panel.concept_view.title_label.text().startswith(f"Concept {found.channels[1]} of layer 2")
    qtbot.waitUntil(lambda: panel.feeding_list.rows() != [], timeout=5_000)
    assert [c for c, _ in panel.feeding_list.rows()] == [c for c, _ in found.feeding[found.channels[1]]]
    # a folder that is not one: an error dialog, and the panel keeps what it shows
    shown = panel.saved
    panel.open_saved(tmp_path)
    qtbot.waitUntil(lambda: bool(error_dialogs) and not panel.jobs.busy, timeout=5_000)
    assert error_dialogs[-1][0] == "Could not open the saved concepts" and "does not hold" in error_dialogs[-1][1]
    assert panel.saved is shown and panel.concept_list.rows() == rows
    # made with another model: said plainly; an image gone: shown over the current one of the same size
    (folder / "concepts.json").write_text((folder / "concepts.json").read_text().replace('"test"', '"other.pt"'))
    (tmp_path / "cat.png").unlink()
    panel.open_saved(folder)
    qtbot.waitUntil(lambda: panel.saved is not shown and not panel.jobs.busy, timeout=5_000)
    assert not panel.warning_label.isHidden() and "not other.pt" in panel.warning_label.text()
    assert "is not found; they are shown over the current image" in panel.summary_label.text()


def _fitted(tmp_path, centre, layer, class_index, name):
    from xaidesk.concepts.prototype_files import write_prototypes
    from xaidesk.concepts.prototypes import fit_prototypes

    centre = np.asarray(centre, dtype=np.float64)
    noise = np.random.default_rng(0).standard_normal((30, centre.size))
    fitted = fit_prototypes(centre + 0.1 * np.abs(centre).mean() * noise, 2, seed=0)
    fitted.settings.update(layer=layer, class_index=class_index)
    return write_prototypes(fitted, tmp_path / name)


def test_typical_reasoning_compares_the_prediction_with_prototypes_of_its_layer_and_class(
        qtbot, tab_with, tmp_path, error_dialogs):
    from xaidesk.concepts.prototype_files import read_prototypes
    from xaidesk.concepts.prototypes import typicality
    from xaidesk.gui.panels.concept_typicality import PROTOTYPES_SETTING
    from xaidesk.gui.views.concept_views import typicality_text

    _tab, panel = tab_with(loaded(_net(), 16))
    ranking = _found(qtbot, panel)
    view = panel.typical
    assert "Choose the prototypes" in view.result_label.text()
    vector = ranking.channel_relevance
    typical = _fitted(tmp_path, vector, ranking.layer, ranking.target, "typical")
    panel.choose_prototypes(typical)
    qtbot.waitUntil(lambda: panel.prototypes is not None and not panel.jobs.busy, timeout=10_000)
    expected = typicality(read_prototypes(typical), vector)
    assert f"Nearest prototype: {expected.prototype}" in view.result_label.text()
    assert typicality_text(expected.percentile) in view.result_label.text() and expected.percentile >= 5
    assert view.unusual_label.isHidden()
    assert [c for c, _ in view.differences.rows()] == [c for c, _ in expected.differences]
    assert [d for _, d in view.differences.rows()] == pytest.approx([d for _, d in expected.differences])
    assert panel.settings.value(PROTOTYPES_SETTING) == str(typical)
    # a class decided otherwise: the reasoning is unusual
    other = np.zeros_like(vector)
    other[int(np.argmin(vector))] = 1.0
    other += 0.05
    panel.choose_prototypes(_fitted(tmp_path, other, ranking.layer, ranking.target, "unusual"))
    qtbot.waitUntil(lambda: not view.unusual_label.isHidden() and not panel.jobs.busy, timeout=10_000)
    assert view.unusual_label.text().startswith("Unusual reasoning")
    # prototypes of another class or layer: one sentence saying so and what to do
    panel.choose_prototypes(_fitted(tmp_path, vector, ranking.layer, ranking.target + 1, "other_class"))
    qtbot.waitUntil(lambda: "for class" in view.result_label.text() and not panel.jobs.busy, timeout=10_000)
    assert f"choose class {ranking.target + 1} in the tab" in view.result_label.text() and view.differences.isHidden()
    panel.choose_prototypes(_fitted(tmp_path, vector, "0", ranking.target, "other_layer"))
    qtbot.waitUntil(lambda: "choose layer 0 above" in view.result_label.text() and not panel.jobs.busy,
                    timeout=10_000)
    # a folder without prototypes: an error dialog, the prototypes stay
    chosen = panel.prototypes
    panel.choose_prototypes(tmp_path)
    qtbot.waitUntil(lambda: bool(error_dialogs) and not panel.jobs.busy, timeout=5_000)
    assert error_dialogs[-1][0] == "Could not open the prototypes" and panel.prototypes is chosen
