"""The settings form shows only the settings that apply, with choices in plain words."""

import pytest
from PySide6.QtWidgets import QComboBox, QSpinBox

from xaidesk.core.registry import Param, get_method, list_methods, register_method
from xaidesk.gui.widgets.param_form import AUTOMATIC_LAYER, ParamForm

SEGMENTATION_FIELDS = {
    "slic": {"n_segments", "compactness"},
    "quickshift": {"kernel_size", "max_dist", "ratio"},
    "felzenszwalb": {"scale", "sigma", "min_size"},
    "grid": {"grid_rows", "grid_cols"},
}


def _form(qtbot, method, values=None):
    form = ParamForm()
    qtbot.addWidget(form)
    form.set_params(get_method(method).params, values)
    return form


def _shown(form, names):
    return {name for name in names if form.is_shown(name)}


def _choose(form, name, value):
    combo = form.editor(name)
    combo.setCurrentIndex(combo.findData(value))


def test_lime_shows_exactly_the_fields_of_the_chosen_segmentation(qtbot):
    form = _form(qtbot, "lime")
    specific = set().union(*SEGMENTATION_FIELDS.values())
    assert _shown(form, specific) == SEGMENTATION_FIELDS["slic"]
    for segmentation, fields in SEGMENTATION_FIELDS.items():
        _choose(form, "segmentation", segmentation)
        assert _shown(form, specific) == fields, segmentation
        assert form.values()["segmentation"] == segmentation
    assert form.is_shown("num_samples") and form.is_shown("seed")
    # hidden settings keep their values, so they are still saved and passed on
    assert set(form.values()) == {p.name for p in get_method("lime").params}


def test_a_form_opened_with_saved_values_hides_what_they_make_irrelevant(qtbot):
    form = _form(qtbot, "lime", {"segmentation": "grid"})
    assert form.is_shown("grid_rows") and not form.is_shown("n_segments")
    form.reset()
    assert not form.is_shown("grid_rows") and form.is_shown("n_segments")


@pytest.mark.parametrize("method, control, off, on, dependent", [
    ("relax", "adaptive_stop", False, True, "tolerance"),
    ("lrp.custom", "top_rule", "zero", "epsilon", "epsilon"),
    ("supervised.linear", "model", "linear", "ridge", "alpha"),
])
def test_settings_that_only_apply_to_one_choice_follow_it(qtbot, method, control, off, on, dependent):
    form = _form(qtbot, method)
    form.set_value(control, off)
    assert not form.is_shown(dependent)
    form.set_value(control, on)
    assert form.is_shown(dependent)


def test_choices_show_plain_titles_and_return_their_values(qtbot):
    form = _form(qtbot, "lime")
    combo = form.editor("segmentation")
    assert combo.currentText() == "SLIC superpixels (compact regions)"
    assert "slic" not in [combo.itemText(row) for row in range(combo.count())]
    _choose(form, "hide", "mean")
    assert form.editor("hide").currentText() == "Their own average colour"
    assert form.values()["hide"] == "mean" and form.values()["segmentation"] == "slic"
    assert get_method("lime").resolve_params(form.values()) == form.values()


def test_every_choice_of_every_method_has_a_plain_title():
    for info in list_methods():
        for param in info.params:
            if param.kind == "choice":
                untitled = [c for c in param.choices if not param.choice_titles.get(c, "").strip()]
                assert not untitled, f"{info.name}.{param.name}: {untitled}"
                titles = [param.choice_titles[c] for c in param.choices]
                assert len(set(titles)) == len(titles), f"{info.name}.{param.name}"
                assert not [t for c, t in zip(param.choices, titles) if t == str(c) or "_" in t], param.name


def test_every_setting_has_a_plain_label():
    for info in list_methods():
        for param in info.params:
            assert param.label, f"{info.name}.{param.name} has no plain label"


def test_special_values_read_automatic(qtbot):
    for info in list_methods():
        for param in info.params:
            if param.minimum_text:
                assert param.minimum_text in ("Automatic", "No noise", "None"), f"{info.name}.{param.name}"
    form = _form(qtbot, "neon.knn")
    gamma = form.editor("gamma")
    assert isinstance(gamma, QComboBox) and gamma.currentText() == "Automatic"
    assert form.values()["gamma"] == "auto"
    gamma.setEditText("0.5")
    assert form.values()["gamma"] == "0.5"
    form.set_value("gamma", "auto")
    assert gamma.currentText() == "Automatic"
    spins = [e for e in map(_form(qtbot, "neon.kmeans").editor, ["clusters"])]
    assert isinstance(spins[0], QSpinBox) and spins[0].text() == "Automatic"


def test_a_long_choice_is_readable_and_named_in_full(qtbot):
    form = _form(qtbot, "relax")
    form.resize(280, 800)
    form.set_dynamic_choices("model_layers", [AUTOMATIC_LAYER, ("fc1", "fc1 (Linear)")])
    combo = form.editor("layer")
    assert combo.currentText() == AUTOMATIC_LAYER[1]
    assert combo.toolTip().startswith(AUTOMATIC_LAYER[1])
    form.show()
    qtbot.waitExposed(form)
    assert combo.width() >= combo.fontMetrics().horizontalAdvance(AUTOMATIC_LAYER[1]) + 20


def test_the_command_line_value_of_a_hidden_setting_still_parses(qtbot):
    info = get_method("lime")
    resolved = info.resolve_params({"segmentation": "slic", "grid_rows": "3"})
    assert resolved["grid_rows"] == 3 and resolved["kernel_size"] == 4.0


def test_a_condition_on_an_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="not a choice"):
        register_method("test.bad_condition", modality=["image"], params=[
            Param("size", "int", 1, "Size.", shown_when={"shape": ("round",)}),
        ])(lambda *a, **k: None)
    with pytest.raises(ValueError, match="does not offer"):
        register_method("test.bad_condition_value", modality=["image"], params=[
            Param("shape", "choice", "round", "Shape.", choices=("round",), choice_titles={"round": "Round"}),
            Param("size", "int", 1, "Size.", shown_when={"shape": ("square",)}),
        ])(lambda *a, **k: None)
    with pytest.raises(ValueError, match="does not offer"):
        Param("shape", "choice", "round", "Shape.", choices=("round",), choice_titles={"square": "Square"})


def test_the_mouse_wheel_scrolls_past_a_setting_until_it_is_clicked(qtbot):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    form = _form(qtbot, "lime")
    form.show()
    qtbot.waitExposed(form)

    def wheel(widget):
        event = QWheelEvent(QPointF(5, 5), QPointF(widget.mapToGlobal(QPoint(5, 5))), QPoint(0, 0), QPoint(0, -120),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(widget, event)

    before = form.values()
    for name in ("num_samples", "kernel_width", "segmentation"):
        wheel(form.editor(name))
    assert form.values() == before
    spin = form.editor("num_samples")
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    wheel(spin)
    assert form.values()["num_samples"] != before["num_samples"]


def test_sentence_case_keeps_a_leading_greek_symbol():
    from xaidesk.gui.widgets.param_form import sentence_case

    assert sentence_case("γ of convolutions") == "γ of convolutions"
    assert sentence_case("random seed") == "Random seed" and sentence_case("SLIC segments") == "SLIC segments"
