"""What the Open model dialog says and decides, tested headless (no Qt)."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from xaidesk.core import ModelError
from xaidesk.gui import open_model_logic as logic
from xaidesk.models.sources import ArchitectureChoice


def _guess(**fields):
    values = dict(description="Weights (a state dict). Choose the architecture they were trained with.", notes=(),
                  modality="image", needs_trust=False, architecture="resnet18", architecture_source="torchvision",
                  path=Path("/data/w.pth"), chooses_architecture=True)
    values.update(fields)
    return SimpleNamespace(**values)


def _choice(name, source="torchvision"):
    return ArchitectureChoice(name=name, source=source)


def test_the_logic_module_imports_no_qt():
    code = ("import sys, xaidesk.gui.open_model_logic; "
            "print(any(m.startswith(('PySide6', 'shiboken6', 'pyqtgraph')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_what_it_is_names_the_loaded_architecture_and_what_stands_in_the_way():
    guess = _guess(notes=("a <note>",))
    text = logic.guess_html(guess, modality="image", allow_untrusted=True)
    assert logic.ASK_FOR_ARCHITECTURE in text and "a &lt;note&gt;" in text
    loaded = logic.guess_html(guess, modality="image", allow_untrusted=True, loaded_into=_choice("resnet18"))
    assert logic.ASK_FOR_ARCHITECTURE not in loaded and "Loaded into resnet18 (torchvision)." in loaded
    assert "open it in the Audio tab" in logic.guess_html(_guess(modality="audio"), modality="image",
                                                         allow_untrusted=True)
    trusted = _guess(needs_trust=True, chooses_architecture=False)
    assert logic.TRUST_LATER in logic.guess_html(trusted, modality="image", allow_untrusted=True)
    assert "not opened here" in logic.guess_html(trusted, modality="image", allow_untrusted=False)
    assert logic.other_modality_text("table") == "This is a model for table input, which cannot be used here."
    assert "don't" in logic.escape_rich("don't <b>") and "&lt;b&gt;" in logic.escape_rich("don't <b>")


def test_classes_hint_and_loading_lines():
    text, tip = logic.classes_text([f"c{i}" for i in range(10)])
    assert text == "10 classes: c0, c1, c2, c3, c4, c5, c6, c7, …" and tip.splitlines()[9] == "9: c9"
    assert logic.classes_text(["only"])[0] == "1 class: only"
    choices = [_choice("resnet18"), _choice("resnet50")]
    hint = logic.architecture_hint(_guess(), choices, shown=1)
    assert hint.startswith("1 of 2 shown. Found: torchvision's resnet18.") and "Listing timm's" in hint
    assert "Listing" not in logic.architecture_hint(_guess(architecture=None), choices + [_choice("vit", "timm")])
    assert logic.loading_text(_guess(), None).startswith("Loading resnet18 to read")
    assert logic.loading_text(_guess(architecture=None), None).startswith("Loading w.pth")
    assert logic.loading_text(_guess(), _choice("vgg11")).startswith("Loading vgg11")
    error = ImportError("no onnx", name="onnx")
    assert logic.missing_library_text(error).endswith("(onnx).")


def test_the_search_prefers_the_exact_name_then_a_prefix_then_the_shortest():
    choices = [_choice("resnet50d", "timm"), _choice("resnet50"), _choice("resnet50", "timm"), _choice("resnet")]
    assert logic.best_match(choices, "resnet50") == _choice("resnet50")
    assert logic.best_match(choices, "Resnet50D") == _choice("resnet50d", "timm")
    assert logic.best_match(choices, "res") == _choice("resnet")
    assert logic.best_match(choices[:2], "net") == _choice("resnet50")
    assert logic.best_match([], "x") is None
    assert logic.found_source(SimpleNamespace()) == "torchvision"


def test_the_idle_line_says_what_to_do_next():
    def idle(guess=_guess(), **state):
        values = dict(modality="image", allow_untrusted=True, spec="torchvision:resnet18:/w", stopped=False,
                      failed=False, check_failed=False, can_retry=False, model_name=None, stale=False,
                      preprocessing_problem=False, preprocessing_edited=False)
        values.update(state)
        return logic.idle_text(guess, **values)

    assert idle(None) == "" and idle(None, failed=True) == "Choose another file or folder."
    assert idle(_guess(modality="audio")) == "" and idle(_guess(needs_trust=True), allow_untrusted=False) == ""
    assert idle(_guess(needs_trust=True)) == "Press Open… to confirm and load it."
    assert idle(spec=None).startswith("Choose the architecture")
    assert idle(stopped=True).startswith("Stopped.")
    assert idle(failed=True, check_failed=True).startswith("Change the preprocessing")
    assert idle(failed=True, can_retry=True) == "Change the choices above, or press Load again."
    assert idle(model_name="m", stale=True).startswith("The class names file changed")
    assert idle(model_name="m", preprocessing_problem=True) == "Fix the preprocessing to open the model."
    assert idle(model_name="m", preprocessing_edited=True) == \
        "Ready: press Open to use m with the preprocessing set by hand."
    assert idle() == ""


def test_an_input_size_the_model_refuses_is_a_plain_model_error():
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    model = SimpleNamespace(scoring_module=linear, module=linear, num_classes=2)
    assert logic.try_input(model, SimpleNamespace(num_channels=3, size=(8, 8)))
    with pytest.raises(ModelError, match="does not accept an input of 3×9×9"):
        logic.try_input(model, SimpleNamespace(num_channels=3, size=(9, 9)))
    three = SimpleNamespace(scoring_module=linear, module=linear, num_classes=3)
    with pytest.raises(ModelError, match="does not give its 3 class scores"):
        logic.try_input(three, SimpleNamespace(num_channels=3, size=(8, 8)))


def test_the_dialog_jobs_recognise_list_and_load_without_qt(tmp_path):
    import torchvision

    path = tmp_path / "w.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(num_classes=2).state_dict(), path)
    guess = logic.recognise_job(str(path))(None, None)
    assert guess.chooses_architecture and guess.architecture == "resnet18"
    names = {(c.source, c.name) for c in logic.choices_job(with_timm=False)(None, None)}
    assert ("torchvision", "resnet18") in names
    key = (guess.spec_with(_choice("resnet18")), None)
    returned, model = logic.inspect_job(key)(None, None)
    assert returned == key and model.num_classes == 2
