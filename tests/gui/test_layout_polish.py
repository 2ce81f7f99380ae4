"""What a newcomer reads on the Images tab and the main window: captions, titles, numbers, names."""

import pytest

from xaidesk.gui.catalog import sample_title
from xaidesk.gui.formatting import format_value
from helpers import run_in_tab


@pytest.mark.parametrize("value, text", [
    (0.004288, "0.00429"), (0.9014, "0.901"), (17.65, "17.6"), (13.2, "13.2"), (-1.0, "-1"),
    (12345, "12300"), (999.96, "1000"), (2.379e-05, "0.0000238"), (1e-4, "0.0001"),
    (8.441e-06, "8.44 × 10⁻⁶"), (-3.2e-9, "-3.2 × 10⁻⁹"), (1.5e7, "1.5 × 10⁷"), (0.0, "0"),
    (float("nan"), "–"),
])
def test_numbers_are_written_as_people_write_them(value, text):
    assert format_value(value) == text
    assert "e-" not in format_value(value) and "e+" not in format_value(value)


def test_signed_values_carry_their_sign():
    from xaidesk.gui.formatting import format_signed

    assert format_signed(2.379e-05) == "+0.0000238" and format_signed(-8.441e-06) == "-8.44 × 10⁻⁶"
    assert format_signed(0.0) == "0"


@pytest.mark.parametrize("path, spec, title", [
    ("samples/sounds_tone_then_clicks.wav", "demo:sounds", "Tone then clicks"),
    ("clever_hans_horse_tagged_1.png", "demo:clever_hans", "Horse tagged 1"),
    ("digits_0.png", "demo:digits", "Digits 0"),
    ("my_recording.wav", "", "My recording"),
])
def test_sample_titles_are_plain_names(path, spec, title):
    assert sample_title(path, spec) == title


def test_sample_menus_show_plain_names(window):
    for menu in (window.samples_menu, window.audio_samples_menu):
        texts = [action.text() for action in menu.actions() if not action.isSeparator()]
        assert texts and not any("_" in text or text.endswith(")") for text in texts), texts
    sounds = [action.text() for action in window.audio_samples_menu.actions()]
    assert "Tone then clicks" in sounds
    for tab in (window.images_tab, window.audio_tab):
        texts = [tab.sample_combo.itemText(i) for i in range(1, tab.sample_combo.count())]
        assert texts and not any("_" in text or text.endswith(")") for text in texts), texts
    combo = window.audio_tab.sample_combo
    assert combo.itemText(combo.findData(str(window.catalog.samples("audio")[0]))) == "Tone then clicks"


def shown_title(title: str, name: str) -> str:
    """The title the window system shows: Qt adds the display name unless the title ends with it."""
    return title if title.endswith(name) else f"{title} — {name}"


def test_window_titles_name_the_app_once(window):
    from xaidesk.gui.app import create_application
    from xaidesk.gui.wording import DISPLAY_NAME

    name = create_application().applicationDisplayName()
    assert name == DISPLAY_NAME == "xaidesk"
    guide = window.show_guide()
    for widget in (window, guide):
        assert shown_title(widget.windowTitle(), name).count("xaidesk") == 1, widget.windowTitle()
    assert window.windowTitle() == "Explainable AI workbench — xaidesk"
    guide.close()


def test_comparison_captions_say_what_the_main_view_says(qtbot, make_window):
    window = make_window(demo=True)
    tab = window.images_tab
    lrp = run_in_tab(qtbot, tab, "lrp.epsilon_plus_flat")
    main_caption = tab.heatmap_view.colour_meaning()
    assert "against" in main_caption  # LRP's maps are signed: blue is evidence against the class
    assert tab.select_method("relax")
    tab.param_form.set_value("num_masks", 64)
    relax = run_in_tab(qtbot, tab, "relax")
    for entry in (lrp, relax):
        tab.pin(entry)
    captions = {view.title_label.text(): view.colour_meaning() for view in tab.compare_views()}
    assert captions[tab._short_title(lrp)] == main_caption
    tab.show_entry(relax)
    assert captions[tab._short_title(relax)] == tab.heatmap_view.colour_meaning()


def test_explanation_view_waits_for_run_and_titles_stay_short(qtbot, make_window):
    window = make_window(demo=True)
    window.resize(1280, 800)
    tab = window.images_tab
    view = tab.heatmap_view
    assert view.waiting() and not view.image_item.isVisible()  # no plain copy of the input
    assert view.placeholder.textItem.toPlainText().startswith("Press Run")
    entry = run_in_tab(qtbot, tab, "lrp.epsilon_plus_flat")
    assert not view.waiting() and view.image_item.isVisible()
    title = view.title_label.text()
    assert title.startswith("LRP") and "digits_0.png" not in title and "demo CNN" not in title
    assert "digits_0.png" in view.title_label.toolTip() and entry.title.endswith("digits_0.png")
    qtbot.wait(50)
    assert view.title_label.fontMetrics().horizontalAdvance(title) <= view.title_label.width()
    # the time taken is said once, in the status bar
    assert window.status_text().startswith("Done in") and tab.progress_label.text() == ""
    # the results list is wide enough that a row is not squeezed into three lines
    assert tab.history_list.width() >= 300
    tab.clear_history()
    tab.open_image(tab.image.path)
    qtbot.waitUntil(lambda: tab.prediction is not None and view.waiting(), timeout=10_000)


def test_a_placeholder_stays_in_the_middle_of_an_empty_view(qtbot):
    """pyqtgraph starts an empty view at (0, 1) x (0, 1); the concept heatmap's hint sat in its corner."""
    from xaidesk.gui.views.image_views import HeatmapView

    view = HeatmapView("Concept heatmap")
    qtbot.addWidget(view)
    view.resize(200, 220)
    view.set_placeholder("Click a concept\nto see where it is")
    for x_range, y_range in (((0, 1), (0, 1)), ((-3, 5), (2, 4))):
        view.view_box.setRange(xRange=x_range, yRange=y_range, padding=0)
        (x0, x1), (y0, y1) = view.view_box.viewRange()
        position = view.placeholder.pos()
        assert (position.x(), position.y()) == pytest.approx(((x0 + x1) / 2, (y0 + y1) / 2))
