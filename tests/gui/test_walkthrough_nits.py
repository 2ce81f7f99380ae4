"""Small things a new user met in a walkthrough: shares as percentages, class names of a corrected model in the
Dataset tab, the demo sample following the demo model, and a plainly named guide."""

import re
import shutil
from pathlib import Path

import pytest

from xaidesk.gui.widgets.param_form import ParamForm, PercentSpinBox
from xaidesk.repair.methods import get_repair


def test_a_share_shows_as_a_percentage_and_returns_the_fraction(qtbot):
    form = ParamForm()
    qtbot.addWidget(form)
    form.set_params(get_repair("prune").params)
    editor = form.editor("share")
    assert isinstance(editor, PercentSpinBox)
    assert editor.text() == "30 %" and (editor.minimum(), editor.maximum()) == (0.0, 95.0)
    assert form.values()["share"] == pytest.approx(0.3)
    editor.clear()
    qtbot.keyClicks(editor, "12.5")
    editor.interpretText()
    assert form.values()["share"] == pytest.approx(0.125) and editor.text() == "12.5 %"
    form.set_value("share", 0.05)
    assert editor.text() == "5 %" and form.values()["share"] == pytest.approx(0.05)
    form.reset()
    assert form.values()["share"] == pytest.approx(0.3)
    assert not isinstance(form.editor("per_class"), PercentSpinBox)  # a count stays a count


def test_the_special_word_of_a_percentage_still_shows(qtbot):
    from xaidesk.explain.ridge import VALIDATION

    form = ParamForm()
    qtbot.addWidget(form)
    form.set_params([VALIDATION], {"validation_fraction": 0.0})
    assert form.editor("validation_fraction").text() == "None"
    form.set_value("validation_fraction", 0.1)
    assert form.editor("validation_fraction").text() == "10 %" and form.values() == {"validation_fraction": 0.1}


@pytest.fixture
def corrected_model(tmp_path):
    """An edited model file made from demo:clever_hans (classes horse and other)."""
    from xaidesk.models import load_model
    from xaidesk.models.edited import save_edited_model

    model = load_model("demo:clever_hans")
    return save_edited_model(model, tmp_path / "fixed.safetensors", base="demo:clever_hans",
                             edits=[{"kind": "finetune", "summary": "unchanged, for the test"}], provenance={})


def test_a_corrected_model_in_the_dataset_tab_names_its_classes(qtbot, catalog, corrected_model):
    from xaidesk.gui.runner import Runner
    from xaidesk.gui.tabs.dataset_tab import DatasetTab

    runner = Runner()
    tab = DatasetTab(runner, None)
    qtbot.addWidget(tab)
    try:
        tab.set_catalog(catalog)
        tab.set_model_spec("demo:clever_hans")
        assert tab.set_explained_class(0)
        tab.set_model_spec(f"file:{corrected_model}", "fixed")
        labels = [tab.class_combo.itemText(i) for i in range(tab.class_combo.count())]
        assert labels == ["Each input's predicted class", "Class 0: horse", "Class 1: other"]
        assert tab.class_combo.currentText() == "Class 0: horse" and tab.explained_class() == 0
    finally:
        tab.shutdown()
        runner.shutdown()


def _wait_for(qtbot, tab, spec, image_name):
    qtbot.waitUntil(lambda: tab.model is not None and tab.model.spec == spec and tab.image is not None
                    and tab.image.path.name == image_name and tab.prediction is not None
                    and not tab._jobs.get("model") and not tab._jobs.get("image"), timeout=20_000)


def test_switching_demo_models_opens_the_new_demos_sample(qtbot, make_window, catalog):
    from xaidesk.gui.window_menus import _load_model_in

    window = make_window(demo=True)
    tab = window.images_tab
    assert tab.model.spec == "demo:digits" and catalog.sample_owner(tab.image.path)["spec"] == "demo:digits"
    hans = next(m for m in catalog.models("image") if m["spec"] == "demo:clever_hans")
    action = next(a for a in window.demo_models_menu.actions() if a.text() == hans.get("title", hans["spec"]))
    messages = []
    tab.status_message.connect(messages.append)
    action.trigger()  # Model ▸ Demo models ▸ Clever Hans
    _wait_for(qtbot, tab, "demo:clever_hans", Path(hans["samples"][0]).name)
    assert tab.prediction.top_class in (0, 1) and tab.image.pixels.shape[:2] == (64, 64)
    assert any("opened its sample in place of the previous demo's sample" in m for m in messages), messages
    _load_model_in(window, tab, "demo:digits")
    digits = next(m for m in catalog.models("image") if m["spec"] == "demo:digits")
    _wait_for(qtbot, tab, "demo:digits", Path(digits["samples"][0]).name)


def test_a_picture_the_person_opened_stays_when_the_demo_model_changes(qtbot, make_window, catalog, tmp_path):
    from xaidesk.gui.window_menus import _load_model_in

    window = make_window(demo=True)
    tab = window.images_tab
    own = tmp_path / "my picture.png"
    shutil.copy(tab.image.path, own)
    tab.open_image(own)
    _wait_for(qtbot, tab, "demo:digits", own.name)
    _load_model_in(window, tab, "demo:clever_hans")
    _wait_for(qtbot, tab, "demo:clever_hans", own.name)
    qtbot.wait(100)
    assert tab.image.path == own


def test_the_guide_is_named_plainly_and_its_sections_are_listed(qtbot, make_window):
    from xaidesk.gui.help.dialog import GuideDialog
    from xaidesk.gui.help.guide import guide_html

    window = make_window()
    assert window.guide_action.text().replace("&", "") == "Guide…"
    anchors = re.findall(r'<a name="(\w+)"', guide_html([], repairs=[]))
    assert len(anchors) >= 7
    documented = re.findall(r'``"(\w+)"``', GuideDialog.show_section.__doc__)
    assert documented == anchors
