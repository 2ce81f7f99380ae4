"""The "Open a model" dialog: recognise, choose an architecture, load in the background, edit, open."""

from __future__ import annotations

import json

import pytest
import torch

WAIT = 30_000


@pytest.fixture(scope="module")
def mobilenet_file(tmp_path_factory):
    """Random mobilenet_v3_small weights with three classes."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "leaves.pth"
    torch.save(torchvision.models.mobilenet_v3_small(num_classes=3).state_dict(), path)
    return path


def _idle(box):
    return not box.is_busy()


def test_torchvision_weights_end_to_end(qtbot, dialog, mobilenet_file, tmp_path, make_window):
    box = dialog()
    box.set_path(mobilenet_file)
    qtbot.waitUntil(lambda: box.model is not None, timeout=WAIT)
    assert "mobilenet_v3_small" in box.found_label.text() and "3 classes" in box.found_label.text()
    assert box.architecture_box.isVisible()
    assert (box.architecture().name, box.architecture().source) == ("mobilenet_v3_small", "torchvision")
    assert box.spec() == f"torchvision:mobilenet_v3_small:{mobilenet_file}"
    assert box.classes_label.text().startswith("3 classes: class 0, class 1, class 2")
    editor = box.preprocessing_editor
    assert (editor.height_spin.value(), editor.width_spin.value(), editor.resize_spin.value()) == (224, 224, 256)
    assert not editor.is_edited() and box.can_open()

    labels = tmp_path / "leaves.txt"
    labels.write_text("healthy\nrust\nscab\n")
    box.set_labels(labels)
    qtbot.waitUntil(lambda: box.model is not None and _idle(box), timeout=WAIT)
    assert box.classes_label.text() == "3 classes: healthy, rust, scab"

    editor.height_spin.setValue(160)
    editor.width_spin.setValue(160)
    editor.crop_check.setChecked(False)
    editor.interpolation_combo.setCurrentIndex(editor.interpolation_combo.findData("bicubic"))
    editor.mean_edit.setText("0.5")
    editor.std_edit.setText("0.25, 0.25, 0.25")
    assert editor.is_edited() and box.can_open()
    assert "set by hand" in box.status_label.text()
    box.open_model()  # tries the model on the new size in the background, then accepts
    qtbot.waitUntil(lambda: box.choice() is not None, timeout=WAIT)
    choice = box.choice()
    assert choice.spec == box.spec() and choice.labels == str(labels)
    pre = choice.preprocessing
    assert (pre.size, pre.resize, pre.interpolation, pre.mean, pre.std) == (
        (160, 160), None, "bicubic", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert choice.model.preprocessing == pre and choice.model.preprocessing_set_by_hand
    assert box.model.preprocessing.size == (224, 224)  # the inspected model itself is not changed

    window = make_window()
    tab = window.images_tab
    tab.use_opened_model(choice)
    qtbot.waitUntil(lambda: tab.model is not None and tab.model.spec == choice.spec, timeout=WAIT)
    assert tab.model.preprocessing.size == (160, 160) and tab.model.preprocessing.interpolation == "bicubic"
    assert tab.model.class_names == ["healthy", "rust", "scab"]
    assert tab.model.label_file == str(labels)
    assert "Preprocessing set by hand." in tab.model_notes.text()
    assert tab.model_combo.currentData() == choice.spec
    record = tab.model_record()
    assert record == {"model": choice.spec, "label_file": str(labels), "preprocessing_set_by_hand": True,
                      "preprocessing": pre.to_dict()}
    # Export settings JSON names them too.
    from xaidesk.resources import resource_path

    tab.open_image(resource_path("samples", "digits_0.png"))
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=WAIT)
    assert tab.select_method("gradient.sensitivity")
    assert tab.run_explanation() is not None
    qtbot.waitUntil(lambda: tab.current_entry is not None and not tab.is_running(), timeout=WAIT)
    settings = tab.settings_record()
    assert (settings["model"], settings["label_file"], settings["preprocessing_set_by_hand"]) == (
        choice.spec, str(labels), True)
    assert settings["preprocessing"]["size"] == [160, 160]


def test_a_bad_file_is_explained_and_the_dialog_stays(qtbot, dialog, tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"\x00\x01 not a model")
    box = dialog()
    box.set_path(bad)
    qtbot.waitUntil(lambda: box.failure is not None, timeout=WAIT)
    assert box.isVisible() and box.path_edit.text() == str(bad)
    assert "could not be read" in box.error_label.text()
    assert box.error_label.isVisible() and not box.open_button.isEnabled()
    assert box.choice() is None


def test_wrong_label_count_is_explained(qtbot, dialog, mobilenet_file, tmp_path):
    labels = tmp_path / "two.json"
    labels.write_text(json.dumps(["cat", "dog"]))
    box = dialog()
    box.labels_edit.setText(str(labels))
    box.set_path(mobilenet_file)
    qtbot.waitUntil(lambda: box.failure is not None, timeout=WAIT)
    assert "lists 2 class names" in box.error_label.text()
    assert not box.open_button.isEnabled() and box.stop_button.text() == "Load again"
    box.set_labels("")
    qtbot.waitUntil(lambda: box.model is not None, timeout=WAIT)
    assert box.failure is None and box.open_button.isEnabled()


def test_unknown_weights_wait_for_an_architecture_and_explain_a_misfit(qtbot, dialog, tmp_path):
    path = tmp_path / "mine.pt"
    torch.save({"head.weight": torch.zeros(4, 8), "head.bias": torch.zeros(4)}, path)
    box = dialog()
    box.set_path(path)
    qtbot.waitUntil(lambda: box.guess is not None and _idle(box), timeout=WAIT)
    assert box.guess.kind == "weights" and box.architecture() is None
    assert "4 outputs" in box.found_label.text()
    assert "Choose the architecture" in box.status_label.text() and not box.open_button.isEnabled()
    qtbot.waitUntil(lambda: any(c.source == "timm" for c in box.picker.choices), timeout=WAIT)
    box.search_edit.setText("resnet18 torch")
    shown = [box.architecture_list.item(i).text() for i in range(box.architecture_list.count())
             if not box.architecture_list.item(i).isHidden()]
    assert shown == ["resnet18  (torchvision)"]
    assert box.select_architecture("resnet18", "torchvision")
    qtbot.waitUntil(lambda: box.failure is not None, timeout=WAIT)
    assert "do not fit torchvision's resnet18" in box.error_label.text()
    assert box.path_edit.text() == str(path) and not box.open_button.isEnabled()


def test_preprocessing_problems_block_open(qtbot, dialog, mobilenet_file):
    box = dialog()
    box.set_path(mobilenet_file)
    qtbot.waitUntil(lambda: box.model is not None, timeout=WAIT)
    editor = box.preprocessing_editor
    editor.std_edit.setText("0.2, 0, 0.2")
    assert "larger than 0" in editor.problem_label.text() and not box.open_button.isEnabled()
    editor.std_edit.setText("0.2, 0.2")
    assert "3 std values" in editor.problem()
    editor.reset()
    assert editor.problem() is None and not editor.is_edited() and box.open_button.isEnabled()


def test_a_size_the_model_refuses_is_explained_before_opening(qtbot, dialog, tmp_path):
    from torch import nn

    class Fixed(nn.Module):  # a linear model: only one input size fits
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3 * 8 * 8, 2)

        def forward(self, x):
            return self.fc(x.flatten(1))

    path = tmp_path / "fixed.pt"
    torch.jit.save(torch.jit.script(Fixed().eval()), str(path))
    path.with_name("fixed.pt.json").write_text(json.dumps({"preprocessing": {"size": [8, 8]}}))
    box = dialog()
    box.set_path(path)
    qtbot.waitUntil(lambda: box.model is not None, timeout=WAIT)
    assert box.guess.kind == "torchscript" and not box.architecture_box.isVisible()
    box.preprocessing_editor.height_spin.setValue(16)
    box.open_model()
    qtbot.waitUntil(lambda: box.failure is not None, timeout=WAIT)
    assert "does not accept an input of 3×16×8" in box.error_label.text()
    assert box.choice() is None and box.isVisible()


class Whole(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


def test_pickled_model_goes_through_the_tabs_trust_question(qtbot, dialog, tmp_path, make_window, monkeypatch):
    path = tmp_path / "whole.pt"
    torch.save(Whole(), path)
    labels = tmp_path / "names.txt"
    labels.write_text("no\nyes\n")
    box = dialog()
    box.labels_edit.setText(str(labels))
    box.set_path(path)
    qtbot.waitUntil(lambda: box.guess is not None and _idle(box), timeout=WAIT)
    assert box.guess.needs_trust and box.model is None
    assert box.open_button.isEnabled() and box.open_button.text() == "Open…"
    box.open_model()
    choice = box.choice()
    assert choice.needs_trust and choice.model is None and choice.labels == str(labels)

    from xaidesk.gui.widgets import error_dialog

    asked = []
    monkeypatch.setattr(error_dialog, "confirm", lambda *args, **kw: asked.append(args[1]) or True)
    window = make_window()
    tab = window.images_tab
    tab.use_opened_model(choice)
    qtbot.waitUntil(lambda: tab.model is not None and tab.model.spec == choice.spec, timeout=WAIT)
    assert asked == ["Run code from this model file?"]
    assert tab.model.class_names == ["no", "yes"] and tab.model.label_file == str(labels)


def test_pickles_are_refused_where_nobody_can_confirm(qtbot, dialog, tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(Whole(), path)
    box = dialog(allow_untrusted=False)
    box.set_path(path)
    qtbot.waitUntil(lambda: box.guess is not None and _idle(box), timeout=WAIT)
    assert "state_dict" in box.found_label.text() and not box.open_button.isEnabled()


def test_closing_while_loading_leaves_the_loader_to_finish(qtbot, dialog, mobilenet_file):
    from xaidesk.gui.widgets import retired_runners

    box = dialog()
    box.set_path(mobilenet_file)
    qtbot.waitUntil(lambda: box.is_loading(), timeout=WAIT)
    assert box.stop_button.isVisible() and box.stop_button.text() == "Stop"
    box.stop_button.click()
    assert box.stop_button.text() == "Load again" and "Stopped" in box.status_label.text()
    box.stop_button.click()
    assert box.is_loading()
    box.reject()
    assert box.runner.closed and not box.isVisible()
    qtbot.waitUntil(lambda: not retired_runners.RETIRED, timeout=WAIT)


def _open_with_hand_set_input(qtbot, box, path, labels):
    """Recognise ``path`` with ``labels``, make the input 64×64 without crop, and open."""
    box.labels_edit.setText(str(labels))
    box.set_path(path)
    qtbot.waitUntil(lambda: box.model is not None, timeout=WAIT)
    editor = box.preprocessing_editor
    editor.height_spin.setValue(64)
    editor.width_spin.setValue(64)
    editor.crop_check.setChecked(False)
    box.open_model()
    qtbot.waitUntil(lambda: box.choice() is not None, timeout=WAIT)
    return box.choice()


def test_dataset_runs_record_the_label_file_and_preprocessing(qtbot, dialog, mobilenet_file, tmp_path, catalog,
                                                            error_dialogs):
    import shutil

    from xaidesk.gui.runner import Runner
    from xaidesk.gui.tabs.dataset_tab import DatasetTab
    from xaidesk.resources import resource_path

    labels = tmp_path / "leaves.txt"
    labels.write_text("healthy\nrust\nscab\n")
    choice = _open_with_hand_set_input(qtbot, dialog(allow_untrusted=False), mobilenet_file, labels)
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("digits_0.png", "digits_3.png"):
        shutil.copy(resource_path("samples", name), folder / name)
    runner = Runner()
    tab = DatasetTab(runner, None)
    qtbot.addWidget(tab)
    try:
        tab.set_catalog(catalog)
        assert tab.model_combo.findData("__open_model__") >= 0 and tab.model_combo.findData("__file__") < 0
        tab.use_opened_model(choice)
        assert tab.model_spec() == choice.spec
        assert [tab.class_combo.itemText(i) for i in range(1, tab.class_combo.count())] == [
            "Class 0: healthy", "Class 1: rust", "Class 2: scab"]
        assert tab.set_folder(folder)
        out = tmp_path / "run"
        tab.output_edit.setText(str(out))
        tab.set_checked_methods(["gradient.sensitivity"])
        tab._update_enabled()
        assert tab.start_run() is not None
        qtbot.waitUntil(lambda: not tab.is_running() and not tab.is_stopping(), timeout=WAIT)
        assert not error_dialogs
        meta = json.loads((out / "run.json").read_text())
        assert meta["model"] == choice.spec and meta["labels"] == str(labels)
        assert meta["preprocessing"]["size"] == [64, 64] and meta["preprocessing"]["resize"] is None
    finally:
        tab.shutdown()
        runner.shutdown()


def test_probe_backbone_is_the_opened_model(qtbot, dialog, mobilenet_file, tmp_path, catalog):
    from xaidesk.gui.probe_dialog import OPEN_MODEL_ENTRY, ProbeDialog

    labels = tmp_path / "leaves.txt"
    labels.write_text("healthy\nrust\nscab\n")
    choice = _open_with_hand_set_input(qtbot, dialog(allow_untrusted=False), mobilenet_file, labels)
    probe = ProbeDialog(catalog)
    qtbot.addWidget(probe)
    try:
        assert probe.model_combo.findData(OPEN_MODEL_ENTRY) >= 0
        probe.load_backbone(choice.spec, model=choice.model)
        qtbot.waitUntil(lambda: probe.backbone is not None, timeout=WAIT)
        assert probe.backbone is choice.model and probe.backbone_spec == choice.spec
        assert probe.layer() is not None
    finally:
        probe.runner.shutdown()


def test_hugging_face_folder_opens_with_its_own_classes(qtbot, dialog, tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("xaidesk.models.hf", reason="the hf: loader is not part of this build")
    torch.manual_seed(0)
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=64, num_labels=2,
                                    id2label={0: "cat", 1: "dog"}, label2id={"cat": 0, "dog": 1})
    folder = tmp_path / "tiny-vit"
    transformers.ViTForImageClassification(config).save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    box = dialog()
    box.set_path(folder)
    qtbot.waitUntil(lambda: box.model is not None or box.failure is not None, timeout=WAIT)
    assert box.failure is None, box.failure.message
    assert box.guess.kind == "hf" and not box.architecture_box.isVisible()
    assert "Hugging Face" in box.found_label.text()
    assert box.classes_label.text() == "2 classes: cat, dog"
    assert (box.preprocessing_editor.height_spin.value(), box.preprocessing_editor.width_spin.value()) == (32, 32)
    box.open_model()
    assert box.choice().spec == f"hf:{folder}" and box.choice().preprocessing is None


def test_onnx_file_opens(qtbot, dialog, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("xaidesk.models.onnx", reason="the onnx: loader is not part of this build")
    import warnings

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, 3)).eval()
    path = tmp_path / "tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 24, 24),), str(path), input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                          dynamo=False)
    box = dialog()
    box.set_path(path)
    qtbot.waitUntil(lambda: box.model is not None or box.failure is not None, timeout=WAIT)
    assert box.failure is None, box.failure.message
    assert box.guess.kind == "onnx" and box.classes_label.text().startswith("3 classes")
    assert box.can_open()


def test_timm_weights_open_with_the_architecture_chosen_in_the_search(qtbot, dialog, tmp_path):
    timm = pytest.importorskip("timm")
    pytest.importorskip("xaidesk.models.timm_models", reason="the timm: loader is not part of this build yet")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    path = tmp_path / "tiny_vit.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("test_vit", num_classes=3).state_dict().items()},
              str(path))
    box = dialog()
    box.set_path(path)
    qtbot.waitUntil(lambda: box.guess is not None and any(c.source == "timm" for c in box.picker.choices), timeout=WAIT)
    assert box.guess.kind == "weights" and box.architecture() is None
    box.search_edit.setText("test_vit")
    assert box.select_architecture("test_vit", "timm")
    qtbot.waitUntil(lambda: box.model is not None or box.failure is not None, timeout=WAIT)
    assert box.failure is None, box.failure.message
    assert box.spec() == f"timm:test_vit:{path}" and box.classes_label.text().startswith("3 classes")
    assert box.preprocessing_editor.height_spin.value() == 160  # timm's own input size for test_vit


def test_a_typed_label_file_is_used_once_loaded_again(qtbot, dialog, mobilenet_file, tmp_path):
    labels = tmp_path / "names.txt"
    labels.write_text("a\nb\nc\n")
    box = dialog()
    box.set_path(mobilenet_file)
    qtbot.waitUntil(lambda: box.model is not None, timeout=WAIT)
    box.labels_edit.setText(str(labels))  # typed, Enter not pressed yet
    assert not box.open_button.isEnabled() and "press Load again" in box.status_label.text()
    assert box.stop_button.isVisible() and box.stop_button.text() == "Load again"
    box.stop_button.click()
    qtbot.waitUntil(lambda: box.model is not None and box.can_open(), timeout=WAIT)
    assert box.classes_label.text() == "3 classes: a, b, c"


def test_an_onnx_size_that_onnxruntime_refuses_is_caught_before_opening(qtbot, dialog, tmp_path):
    """The size check runs the module that scores (onnxruntime), not only the PyTorch conversion."""
    pytest.importorskip("onnxruntime")
    from xaidesk import selftest

    path = selftest.write_tiny_onnx(tmp_path / "fixed.onnx", size=32)
    # a graph with a fixed 32 x 32 input: the conversion would take 48 x 48, onnxruntime does not
    import onnx

    graph = onnx.load(str(path))
    for dim, value in zip(graph.graph.input[0].type.tensor_type.shape.dim[2:], (32, 32)):
        dim.dim_value = value
    onnx.save(graph, str(path))
    box = dialog()
    box.set_path(path)
    qtbot.waitUntil(lambda: box.model is not None or box.failure is not None, timeout=WAIT)
    assert box.failure is None, box.failure.message
    box.preprocessing_editor.height_spin.setValue(48)
    box.preprocessing_editor.width_spin.setValue(48)
    box.open_model()
    qtbot.waitUntil(lambda: box.failure is not None, timeout=WAIT)
    assert "does not accept an input of 3×48×48" in box.error_label.text()
    assert box.choice() is None and box.isVisible()


def test_a_hugging_face_folder_with_its_own_code_goes_through_the_trust_question(qtbot, dialog, tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=64, num_labels=2)
    folder = tmp_path / "custom-vit"
    transformers.ViTForImageClassification(config).save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    data = json.loads((folder / "config.json").read_text())
    data["auto_map"] = {"AutoModelForImageClassification": "modeling_custom.CustomModel"}
    (folder / "config.json").write_text(json.dumps(data))
    box = dialog()
    box.set_path(folder)
    qtbot.waitUntil(lambda: box.guess is not None and box.guess.needs_trust and _idle(box), timeout=WAIT)
    assert box.failure is None and box.model is None
    assert "Press Open… to confirm" in box.found_label.text()
    assert box.open_button.isEnabled() and box.open_button.text() == "Open…"
    box.open_model()
    assert box.choice().needs_trust and box.choice().spec == f"hf:{folder}"
    refuses = dialog(allow_untrusted=False)
    refuses.set_path(folder)
    qtbot.waitUntil(lambda: refuses.failure is not None, timeout=WAIT)
    assert not refuses.open_button.isEnabled()
