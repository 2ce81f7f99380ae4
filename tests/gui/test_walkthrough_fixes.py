"""What a GUI walkthrough of the "models people bring" flow found: the method picker follows the model,
the Open model dialog's messages and lists, texts that were cut off, the model notes."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from PySide6.QtCore import Qt

from xaidesk import selftest
from xaidesk.gui.runner import JobFailure
from xaidesk.models import load_model

WAIT = 30_000


@pytest.fixture(scope="module")
def mobilenet_file(tmp_path_factory):
    """Random mobilenet_v3_small weights with three classes."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "leaves.pth"
    torch.save(torchvision.models.mobilenet_v3_small(num_classes=3).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def tiny_vit_file(tmp_path_factory):
    """Random weights of timm's tiny test ViT with three classes."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny_vit.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("test_vit", num_classes=3).state_dict().items()},
              str(path))
    return path


def _statuses(tab) -> list[str]:
    said: list[str] = []
    tab.status_message.connect(said.append)
    return said


def _picker_item(tab, name):
    picker = tab.method_combo.model()
    return next(picker.item(row) for row in range(picker.rowCount())
                if picker.item(row).data(Qt.ItemDataRole.UserRole) == name)


# --------------------------------------------------------------------------- the method follows the model
def test_a_method_the_new_model_cannot_run_gives_way_to_one_of_its_family(make_window, qtbot):
    window = make_window(demo=True)
    tab = window.images_tab
    assert tab.select_method("lrp.attention")  # chosen by hand: stays, greyed Run says why
    assert not tab.run_button.isEnabled()
    item = _picker_item(tab, "lrp.attention")
    assert "Not available for this model" in item.toolTip()
    assert item.foreground().color() != _picker_item(tab, "occlusion").foreground().color()
    said = _statuses(tab)
    tab.set_model(load_model(tab._base_model.spec))  # a model is set: the method must fit it
    assert tab.method_name() == "lrp.epsilon_plus_flat"
    assert any("LRP (epsilon-plus-flat) chosen: the previous method cannot explain this model" in text
               for text in said)
    assert "Not available" not in tab.method_help.text()
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=WAIT)
    assert tab.run_button.isEnabled()


def test_a_transformer_gets_lrp_for_transformers_when_the_chosen_method_refuses_it(
        make_window, qtbot, catalog, tiny_vit_file):
    def cnn_only(model):
        return "It is a transformer." if "test_vit" in model.spec else None

    methods = [dataclasses.replace(info, refusal=cnn_only) if info.name.startswith("lrp.epsilon") else info
               for info in catalog.methods]
    window = make_window(demo=True)
    tab = window.images_tab
    tab.set_catalog(dataclasses.replace(catalog, methods=methods))
    assert tab.select_method("lrp.epsilon_plus_flat") and tab.run_button.isEnabled()
    said = _statuses(tab)
    tab.set_model(load_model(f"timm:test_vit:{tiny_vit_file}"))
    assert tab.method_name() == "lrp.attention"
    title = tab.method_info().title
    assert any(f"{title} chosen: the previous method cannot explain this model" in text for text in said)
    assert "It is a transformer." in _picker_item(tab, "lrp.epsilon_plus_flat").toolTip()
    assert "Not available" not in _picker_item(tab, "lrp.attention").toolTip()


def test_a_model_without_gradients_gets_a_method_that_needs_none(make_window, qtbot, tmp_path):
    window = make_window(demo=True)
    tab = window.images_tab
    assert tab.select_method("gradient.integrated")
    model = load_model(f"onnx:{selftest.write_tiny_onnx(tmp_path / 'maxpool.onnx', pool='GlobalMaxPool')}")
    tab.set_model(model)
    info = tab.method_info()
    assert info.name != "gradient.integrated" and tab._unavailable_reason(info) is None
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=WAIT)
    assert tab.run_button.isEnabled()


def test_a_failed_run_is_no_longer_reported_once_the_method_changes(make_window, error_dialogs):
    window = make_window(demo=True)
    tab = window.images_tab
    said = _statuses(tab)
    tab._explanation_failed(JobFailure(RuntimeError("boom"), "It broke.", ""))
    assert said[-1] == "The explanation failed."
    assert tab.select_method("occlusion")
    assert said[-1] == ""
    assert window.statusBar().currentMessage() != "The explanation failed."


def test_the_picker_and_the_menu_name_opening_a_model_alike(make_window):
    window = make_window(demo=True)
    combo = window.images_tab.model_combo
    entries = [combo.itemText(i) for i in range(combo.count())]
    assert "Open model (file or folder)…" in entries
    menu = [action.text().replace("&", "") for action in window.model_menu.actions()]
    assert "Open model (file or folder)…" in menu


# --------------------------------------------------------------------------- the Open model dialog
def test_a_failed_size_check_goes_once_the_preprocessing_is_set_back(qtbot, dialog, tmp_path):
    from torch import nn

    class Fixed(nn.Module):  # a linear model: only one input size fits
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3 * 8 * 8, 2)

        def forward(self, x):
            return self.fc(x.flatten(1))

    import json

    path = tmp_path / "fixed.pt"
    torch.jit.save(torch.jit.script(Fixed().eval()), str(path))
    path.with_name("fixed.pt.json").write_text(json.dumps({"preprocessing": {"size": [8, 8]}}))
    box = dialog()
    box.set_path(path)
    qtbot.waitUntil(lambda: box.model is not None, timeout=WAIT)
    box.preprocessing_editor.height_spin.setValue(16)
    box.open_model()
    qtbot.waitUntil(lambda: box.failure is not None, timeout=WAIT)
    # No "Load again" is offered here, so the line does not ask for it.
    assert "Load again" not in box.status_label.text() and not box.stop_button.isVisible()
    assert "Use the model's own" in box.status_label.text()
    box.preprocessing_editor.reset()
    assert box.failure is None and not box.error_label.isVisible() and box.error_label.text() == ""
    assert box.status_label.text().startswith("Ready") and box.open_button.isEnabled()


def _in_view(box, item) -> bool:
    view = box.architecture_list
    return not item.isHidden() and view.viewport().rect().intersects(view.visualItemRect(item))


def test_the_search_shows_the_best_match_and_keeps_the_chosen_architecture(qtbot, dialog, mobilenet_file):
    box = dialog()
    box.set_path(mobilenet_file)
    qtbot.waitUntil(lambda: box.model is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: any(c.source == "timm" for c in box.picker.choices), timeout=WAIT)
    chosen = box.architecture()
    assert chosen.name == "mobilenet_v3_small"
    box.search_edit.setText("resnet50")
    qtbot.wait(50)
    items = [box.architecture_list.item(i) for i in range(box.architecture_list.count())]
    best = next(item for item in items if item.text() == "resnet50  (torchvision)")
    assert _in_view(box, best)
    kept = next(item for item in items if item.data(Qt.ItemDataRole.UserRole) == chosen)
    assert not kept.isHidden() and box.architecture() == chosen


def test_what_it_is_stops_asking_for_the_architecture_once_loaded(qtbot, dialog, tiny_vit_file):
    box = dialog()
    box.set_path(tiny_vit_file)
    qtbot.waitUntil(lambda: box.guess is not None and not box.is_busy(), timeout=WAIT)
    assert "Choose the architecture" in box.found_label.text()
    qtbot.waitUntil(lambda: any(c.source == "timm" for c in box.picker.choices), timeout=WAIT)
    box.search_edit.setText("test_vit")
    assert box.select_architecture("test_vit", "timm")
    qtbot.waitUntil(lambda: box.model is not None, timeout=WAIT)
    assert "Choose the architecture" not in box.found_label.text()
    assert "Loaded into test_vit (timm)" in box.found_label.text()


def test_the_columns_keep_their_widths_between_steps(qtbot, dialog, mobilenet_file):
    box = dialog()
    before = box.found_label.parentWidget().width()
    box.set_path(mobilenet_file)
    qtbot.waitUntil(lambda: box.model is not None, timeout=WAIT)
    qtbot.wait(50)
    assert abs(box.found_label.parentWidget().width() - before) <= 2


# --------------------------------------------------------------------------- texts that were cut off or said twice
def test_the_model_notes_say_the_preprocessing_once_and_keep_long_notes_behind_more(make_window, mobilenet_file):
    window = make_window(demo=True)
    tab = window.images_tab
    tab.set_model(load_model(f"torchvision:mobilenet_v3_small:{mobilenet_file}"))
    text = tab.model_notes.text()
    assert text.count("256") == 1 and "Preprocessing as for" not in text  # said once, in the shape line
    assert "no class names were found." in text and ".classes.txt" not in text and 'href="more"' in text
    assert "Preprocessing as for torchvision's published" in tab.model_notes.toolTip()
    tab.model_notes.linkActivated.emit("more")
    assert ".classes.txt" in tab.model_notes.text() and 'href="less"' in tab.model_notes.text()
    tab.model_notes.linkActivated.emit("less")
    assert ".classes.txt" not in tab.model_notes.text()


def test_the_colour_legend_wraps_instead_of_being_cut_off(qtbot):
    import numpy as np

    from xaidesk.gui.views.image_views import HeatmapView

    view = HeatmapView("Explanation")
    qtbot.addWidget(view)
    view.resize(260, 300)
    view.show()
    view.set_image(np.zeros((16, 16, 3), dtype=np.uint8))
    relevance = np.ones((16, 16), dtype=np.float32)
    relevance[0] = np.nan  # some pixels not seen: the legend is at its longest
    view.set_relevance(relevance, (0.0, 1.0))
    qtbot.wait(50)
    label = view.meaning_label
    assert label.text().endswith("transparent: not seen by the model")
    assert label.wordWrap() and label.height() >= label.heightForWidth(label.width()) > label.fontMetrics().height()


@pytest.mark.parametrize("audio", [False, True])
def test_the_quick_classifier_dialogs_say_they_train_two_classes(qtbot, catalog, audio):
    if audio:
        from xaidesk.gui.audio_probe_dialog import AudioProbeDialog as Dialog
    else:
        from xaidesk.gui.probe_dialog import ProbeDialog as Dialog
    box = Dialog(catalog)
    qtbot.addWidget(box)
    box.show()
    try:
        assert "two-class classifier" in box.intro_label.text() and "two subfolders" in box.intro_label.text()
        edit = box.folder_edit
        assert edit.fontMetrics().horizontalAdvance(edit.placeholderText()) < edit.width()
    finally:
        box.runner.shutdown()
