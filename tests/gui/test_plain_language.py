"""Settings, the statistics line and colour bars speak a person's words."""

import numpy as np
import pytest
from PySide6.QtWidgets import QLabel, QSpinBox

from xaidesk.core import render
from xaidesk.core.registry import get_method, list_methods
from xaidesk.core.render import COLOUR_WORDS, colour_kind, colour_meaning
from xaidesk.gui.formatting import statistics_parts
from xaidesk.gui.widgets.param_form import ParamForm

DEVELOPER_WORDS = ("batch size", "cells", "antithetic", "control variate", "num masks", "num samples",
                   "top k", "kernel width", "n segments")


def _form(qtbot, method):
    form = ParamForm()
    qtbot.addWidget(form)
    form.set_params(get_method(method).params)
    return form


def _labels(form):
    return [w.text() for w in form.findChildren(QLabel)]


@pytest.mark.parametrize("method", ["relax", "lime", "occlusion", "gradient.smoothgrad"])
def test_settings_are_labelled_in_plain_words_and_explained(qtbot, method):
    form = _form(qtbot, method)
    labels = [text.lower() for text in _labels(form)]
    assert labels and not [t for t in labels if t in DEVELOPER_WORDS or "_" in t]
    for param in get_method(method).params:
        assert form.editor(param.name).toolTip().endswith(param.help) and len(param.help) > 20


def test_zero_means_automatic_shows_as_automatic(qtbot):
    form = _form(qtbot, "relax")
    for name in ("batch_size", "cells"):
        editor = form.editor(name)
        assert isinstance(editor, QSpinBox) and editor.value() == 0
        assert editor.text() == "Automatic"
        editor.setValue(4)
        assert editor.text() == "4"
    assert form.values()["batch_size"] == 4 and form.values()["cells"] == 4
    form.reset()
    assert form.values()["cells"] == 0 and form.editor("cells").text() == "Automatic"
    assert "Mask grid size" in _labels(form) and "Copies at once" in _labels(form)


def test_every_image_and_audio_setting_whose_help_says_0_chooses_automatically_shows_automatic():
    for info in list_methods("image") + list_methods("audio"):
        for param in info.params:
            if "0 chooses" in param.help or "automatic" in param.help.lower() and param.minimum == 0:
                assert param.minimum_text, f"{info.name}.{param.name}"


def test_labels_keep_their_capitals(qtbot):
    assert "SLIC: superpixels" in _labels(_form(qtbot, "lime"))


def test_the_statistics_line_is_in_plain_words():
    stats = render.relevance_stats(np.array([[-1.0, 3.0], [0.5, 0.5]]))
    line = " · ".join(statistics_parts(stats, 4.25, (-3.0, 3.0), "3: three", r2=0.81))
    assert "The map adds up to 3" in line and "values from -1 to 3" in line
    assert "80 % of the evidence is for '3: three'" in line
    assert "model's score for the class 4.25" in line and "full colour at ±3" in line
    assert "R² = 0.81 (1 is perfect)" in line
    for jargon in ("Sum ", "positive share", "colour scale", "local fidelity"):
        assert jargon not in line
    unsigned = " · ".join(statistics_parts(render.relevance_stats(np.ones((2, 2))), float("nan"), (0.5, 1.0)))
    assert "evidence" not in unsigned and "score" not in unsigned and "nan" not in unsigned.lower()
    assert "colours span 0.5 to 1" in unsigned
    similarity = statistics_parts(render.relevance_stats(np.ones((2, 2))), 1.0, (0.5, 1.0), signed=False)
    assert not any("adds up" in part for part in similarity) and similarity[0].startswith("values from")


def test_colour_meanings_name_the_colours_and_the_class():
    assert colour_meaning("signed", "'tabby cat'".strip("'"), "bwr") == (
        "red: evidence for 'tabby cat' · blue: against · white: neither")
    assert colour_meaning("signed", "class 3", "bwr").startswith("red: evidence for class 3 ·")
    assert colour_meaning("unsigned", "", "viridis", (0.2, 1.0)) == "yellow: more important · dark purple: less important"
    assert colour_meaning("unsigned", "", "bwr", (-1.0, 1.0)) == "red: more important · white: less important"
    assert colour_meaning("uncertainty", "", "viridis", (0.0, 1.0)) == "yellow: less certain · dark purple: more certain"
    assert colour_meaning("signed", "", "bwr", unseen=True).endswith("transparent: not seen by the model")
    assert colour_kind(-0.1, (-1.0, 1.0)) == "signed"
    assert colour_kind(0.0, (-1.0, 1.0)) == "unsigned"
    assert colour_kind(-0.1, (-1.0, 1.0), uncertainty=True) == "uncertainty"
    assert set(COLOUR_WORDS) == set(render.COLORMAPS)  # a new colour map must say what its colours are


def test_the_heatmap_and_uncertainty_views_caption_their_colour_bars(qtbot):
    from xaidesk.gui.views.image_views import HeatmapView, UncertaintyView

    view, uncertainty = HeatmapView("Result"), UncertaintyView("Uncertainty")
    for widget in (view, uncertainty):
        qtbot.addWidget(widget)
    view.set_image(np.zeros((8, 8, 3), np.uint8))
    assert view.colour_meaning() == ""
    view.set_meaning_class("281: tabby cat")
    relevance = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    view.set_relevance(relevance)
    assert view.colour_meaning() == "red: evidence for '281: tabby cat' · blue: against · white: neither"
    view.set_colormap("purple_green")
    assert view.colour_meaning().startswith("green: evidence for")
    relevance[0, 0] = np.nan
    view.set_relevance(relevance)
    assert view.colour_meaning().endswith("transparent: not seen by the model")
    view.set_relevance(np.abs(relevance))
    assert view.colour_meaning().startswith("green: more important · white: less important")  # unsigned
    view.clear_relevance()
    assert view.colour_meaning() == ""
    uncertainty.set_image(np.zeros((8, 8, 3), np.uint8))
    uncertainty.set_uncertainty(np.abs(relevance))
    assert uncertainty.colour_meaning() == "yellow: less certain · dark purple: more certain · transparent: not seen by the model"


def test_the_registry_says_which_maps_show_for_and_against():
    from xaidesk.gui.formatting import map_shows_sign

    assert map_shows_sign("lrp.epsilon_plus_flat", {}) is True
    assert map_shows_sign("relax", {}) is False and map_shows_sign("gradient.sensitivity") is False
    assert map_shows_sign("gradient.smoothgrad", {"aggregation": "squared"}) is False
    assert map_shows_sign("gradient.smoothgrad", {"aggregation": "gradient"}) is True
    assert map_shows_sign("no.such_method", {}) is None
    assert colour_kind(0.0, (-1.0, 1.0), signed=True) == "signed"  # an all-positive LRP map still means "for"
    assert colour_kind(-0.5, (-1.0, 1.0), signed=False) == "unsigned"
    assert colour_kind(0.2, (0.1, 1.0), signed=True) == "unsigned"  # a bar without an "against" side


def test_a_signed_method_keeps_for_and_against_wording_on_an_all_positive_map(qtbot):
    from xaidesk.gui.views.image_views import HeatmapView

    view = HeatmapView("Result")
    qtbot.addWidget(view)
    view.set_image(np.zeros((4, 4, 3), np.uint8))
    view.set_meaning_class("class 0", signed=True)
    view.set_relevance(np.linspace(0.0, 1.0, 16, dtype=np.float32).reshape(4, 4))
    assert view.colour_meaning() == "red: evidence for class 0 · blue: against · white: neither"
    view.set_meaning_class("class 0", signed=False)
    view.set_relevance(np.linspace(-1.0, 1.0, 16, dtype=np.float32).reshape(4, 4))
    assert view.colour_meaning() == "yellow to white: more important · black: less important"
    view.set_colormap("bwr")  # picked by the person: kept, and the caption follows it
    assert view.colour_meaning() == "red: more important · white: less important"


def test_an_lrp_result_in_the_images_tab_says_what_its_colours_and_numbers_mean(qtbot, make_window):
    window = make_window(demo=True)
    tab = window.images_tab
    assert tab.select_method("lrp.epsilon_plus_flat")
    tab.run_explanation()
    qtbot.waitUntil(lambda: bool(tab.history), timeout=15_000)
    target = tab.history[0].explanation.target
    assert tab.heatmap_view.colour_meaning().startswith(f"red: evidence for class {target.index} · blue: against")
    assert tab.stats_label.text().startswith("The map adds up to")
    assert "model's score for the class" in tab.stats_label.text()
    window.runner.shutdown()


def test_no_settings_form_is_wider_than_the_side_panel(qtbot):
    for info in list_methods("image") + list_methods("audio"):
        form = ParamForm()
        qtbot.addWidget(form)
        form.set_params(info.params)
        assert form.minimumSizeHint().width() <= 240, info.name
