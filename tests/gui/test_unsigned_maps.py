"""Maps that only say "how much" are drawn on a sequential colour map over their own range, never
on the red/blue "for and against" map, unless the person picked a colour map."""

import numpy as np
import pytest

from xaidesk.core import render
from xaidesk.gui.views.view_common import AUTOMATIC_COLORMAP, UNSIGNED_COLORMAP
from helpers import run_in_tab


def _range(relevance):
    return render.range_levels(relevance)


def test_relax_and_sensitivity_are_drawn_as_how_much_and_lrp_as_for_and_against(qtbot, make_window):
    window = make_window(demo=True)
    tab = window.images_tab
    view = tab.heatmap_view
    assert tab.colormap_combo.currentData() == AUTOMATIC_COLORMAP

    relax = run_in_tab(qtbot, tab, "relax", num_masks=200)
    assert view.colormap_name() == UNSIGNED_COLORMAP
    assert view.levels() == pytest.approx(_range(relax.explanation.relevance))
    assert view.levels()[0] != -view.levels()[1]
    low, _, high = render.COLOUR_WORDS[UNSIGNED_COLORMAP]
    assert view.colour_meaning() == f"{high}: more important · {low}: less important"
    assert "against" not in view.colour_meaning() and "blue" not in view.colour_meaning()
    # The uncertainty beside it keeps its own sequential colours.
    assert tab.uncertainty_view.colormap_name() == "viridis"

    sensitivity = run_in_tab(qtbot, tab, "gradient.sensitivity")
    assert view.colormap_name() == UNSIGNED_COLORMAP
    assert view.levels() == pytest.approx(_range(sensitivity.explanation.relevance))

    lrp = run_in_tab(qtbot, tab, "lrp.epsilon_plus_flat")
    assert view.colormap_name() == render.DEFAULT_COLORMAP
    assert view.levels()[0] == pytest.approx(-view.levels()[1])
    assert "against" in view.colour_meaning()

    # Clicking the RELAX result again brings its own colours back.
    tab.show_entry(relax)
    assert view.colormap_name() == UNSIGNED_COLORMAP

    # Side by side, each map keeps its kind of colours; "same scale" shares a scale per kind.
    tab.pin(relax)
    tab.pin(lrp)
    tab.pin(sensitivity)
    by_method = {v.title_label.text().split(" · ")[0]: v for v in tab.compare_views()}
    assert len(by_method) == 3
    colours = {title: v.colormap_name() for title, v in by_method.items()}
    assert sorted(colours.values()) == sorted([UNSIGNED_COLORMAP, UNSIGNED_COLORMAP, render.DEFAULT_COLORMAP])
    tab.shared_levels_check.setChecked(True)
    views = tab.compare_views()
    signed = [v for v in views if v.colormap_name() == render.DEFAULT_COLORMAP]
    unsigned = [v for v in views if v.colormap_name() == UNSIGNED_COLORMAP]
    assert signed[0].levels()[0] == pytest.approx(-signed[0].levels()[1])
    ranges = [_range(e.explanation.relevance) for e in (relax, sensitivity)]
    shared = (min(r[0] for r in ranges), max(r[1] for r in ranges))
    assert all(v.levels() == pytest.approx(shared) for v in unsigned)
    window.runner.shutdown()


def test_a_colour_map_the_person_picked_is_kept_for_how_much_maps(qtbot, make_window):
    window = make_window(demo=True)
    tab = window.images_tab
    view = tab.heatmap_view
    tab.set_colormap("bwr")
    entry = run_in_tab(qtbot, tab, "gradient.sensitivity")
    assert view.colormap_name() == "bwr"
    assert view.colour_meaning() == "red: more important · blue: less important"
    assert view.levels() == pytest.approx(_range(entry.explanation.relevance))
    # Exports draw what is shown.
    overlay = tab.overlay_image()
    expected = render.blend_overlay(entry.pixels, entry.explanation.relevance, cmap="bwr",
                                    opacity=view.opacity(), levels=view.levels())
    assert np.array_equal(overlay, expected)
    tab.set_colormap(AUTOMATIC_COLORMAP)
    assert view.colormap_name() == UNSIGNED_COLORMAP
    window.runner.shutdown()


def test_a_running_map_takes_the_colours_of_its_own_method(qtbot, make_window):
    window = make_window(demo=True)
    tab = window.images_tab
    view = tab.heatmap_view
    run_in_tab(qtbot, tab, "lrp.epsilon_plus_flat")
    assert view.colormap_name() == render.DEFAULT_COLORMAP
    relax = run_in_tab(qtbot, tab, "relax", num_masks=200)
    partial = relax.explanation
    tab.heatmap_view.set_meaning_class("", True)  # as if the last finished map were LRP's
    tab._show_partial(partial)
    assert view.colormap_name() == UNSIGNED_COLORMAP
    assert "against" not in view.colour_meaning()
