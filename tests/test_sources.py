"""Recognising what a person brings as a model (xaidesk.models.sources)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from xaidesk.core import ModelError
from xaidesk.models import load_model
from xaidesk.models.sources import (
    ArchitectureChoice,
    architecture_choices,
    matching_choices,
    recognise,
)


class TinyNet(nn.Module):
    """A network of no library: its weights name no known architecture."""

    def __init__(self, classes: int = 4):
        super().__init__()
        self.body = nn.Conv2d(3, 5, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(5, classes)

    def forward(self, x):
        return self.head(self.pool(self.body(x)).flatten(1))


@pytest.fixture(scope="module")
def mobilenet_state():
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.mobilenet_v3_small(num_classes=3).state_dict()


def test_onnx_file(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph), str(path))
    guess = recognise(path)
    assert (guess.kind, guess.spec, guess.needs_trust) == ("onnx", f"onnx:{path}", False)
    assert "ONNX" in guess.description
    # A folder holding just this file opens it, and says so.
    folder_guess = recognise(tmp_path)
    assert folder_guess.spec == f"onnx:{path}"
    assert "tiny.onnx" in folder_guess.notes[0]


def test_hugging_face_folder(tmp_path):
    folder = tmp_path / "vit-tiny"
    folder.mkdir()
    config = {"model_type": "vit", "architectures": ["ViTForImageClassification"],
              "id2label": {"0": "cat", "1": "dog"}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"")
    guess = recognise(folder)
    assert (guess.kind, guess.spec, guess.num_classes) == ("hf", f"hf:{folder}", 2)
    assert "ViTForImageClassification" in guess.description
    # Choosing the weights file inside the folder opens the folder.
    inner = recognise(folder / "model.safetensors")
    assert inner.spec == f"hf:{folder}"
    assert "folder" in inner.notes[0]


def test_timm_folder_names_its_architecture_and_weights(tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "timm-resnet"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 3,
                                                    "pretrained_cfg": {"input_size": [3, 224, 224]}}))
    save_file({"fc.weight": torch.zeros(3, 512)}, str(folder / "model.safetensors"))
    guess = recognise(folder)
    assert guess.kind == "timm"
    assert guess.spec == f"timm:resnet18:{folder / 'model.safetensors'}"
    assert guess.num_classes == 3 and not guess.chooses_architecture


def test_timm_folder_without_weights_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "resnet18"}))
    with pytest.raises(ModelError, match="no weights file"):
        recognise(tmp_path)


def test_torchvision_weights_are_detected_and_load(tmp_path, mobilenet_state):
    path = tmp_path / "weights.pth"
    torch.save(mobilenet_state, path)
    guess = recognise(path)
    assert (guess.kind, guess.architecture, guess.num_classes) == ("torchvision", "mobilenet_v3_small", 3)
    assert guess.spec == f"torchvision:mobilenet_v3_small:{path}"
    assert guess.chooses_architecture
    assert load_model(guess.spec).num_classes == 3


def test_safetensors_weights_are_detected_from_the_header(tmp_path):
    import torchvision
    from safetensors.torch import save_file

    state = torchvision.models.resnet18(num_classes=2).state_dict()
    path = tmp_path / "resnet.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    guess = recognise(path)
    assert (guess.kind, guess.architecture, guess.num_classes) == ("torchvision", "resnet18", 2)


def test_timm_weights_are_matched_to_timm_architectures(tmp_path):
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    state = timm.create_model("deit_tiny_patch16_224", pretrained=False, num_classes=3).state_dict()
    path = tmp_path / "deit.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    guess = recognise(path)
    assert guess.kind == "weights" and guess.chooses_architecture and guess.architecture_source == "timm"
    assert guess.spec == f"timm:{guess.architecture}:{path}" and "timm's" in guess.description
    model = load_model(guess.spec)
    assert model.num_classes == 3


def test_unknown_weights_ask_for_an_architecture(tmp_path):
    path = tmp_path / "mine.pt"
    torch.save({"state_dict": TinyNet(4).state_dict()}, path)
    guess = recognise(path)
    assert guess.kind == "weights" and guess.spec is None and guess.chooses_architecture
    assert guess.num_classes == 4 and "'head'" in guess.description
    assert guess.spec_with(ArchitectureChoice("resnet18", "torchvision")) == f"torchvision:resnet18:{path}"
    assert guess.spec_with(ArchitectureChoice("vit_tiny_patch16_224", "timm")) == f"timm:vit_tiny_patch16_224:{path}"
    assert guess.spec_with(None) is None


def test_torchscript_is_a_file_model(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(TinyNet(2).eval()), str(path))
    guess = recognise(path)
    assert (guess.kind, guess.spec, guess.needs_trust) == ("torchscript", f"file:{path}", False)


_MARK = "XAIDESK_SOURCES_TEST_MARK"


def _leave_mark(path):  # run only if the pickle is really unpickled
    Path(path).write_text("ran")
    return TinyNet(2)


class _Booby:
    def __init__(self, mark):
        self.mark = mark

    def __reduce__(self):
        return (_leave_mark, (self.mark,))


def test_pickled_model_needs_trust_and_runs_nothing(tmp_path):
    mark = tmp_path / "ran.txt"
    path = tmp_path / "whole.pt"
    torch.save(_Booby(str(mark)), path)
    guess = recognise(path)
    assert (guess.kind, guess.spec, guess.needs_trust) == ("pickle", f"file:{path}", True)
    assert "runs code" in guess.description
    assert not mark.exists()


def test_probe_file(tmp_path):
    path = tmp_path / "healthy.xdprobe"
    path.write_text(json.dumps({"format": "xaidesk-probe"}))
    assert recognise(path).spec == f"probe:{path}"
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "probe.xdprobe").write_text("{}")
    assert recognise(folder).kind == "probe"
    sound = tmp_path / "sound.xdprobe"
    sound.write_text(json.dumps({"format": "xaidesk-probe", "modality": "audio"}))
    guess = recognise(sound)
    assert (guess.kind, guess.modality, guess.spec) == ("probe", "audio", f"file:{sound}")


def test_vggish_weights_are_an_audio_model(tmp_path):
    from xaidesk.models.audio import build_vggish

    path = tmp_path / "vggish.pth"
    torch.save(build_vggish(5).state_dict(), path)
    guess = recognise(path)
    assert (guess.kind, guess.modality, guess.num_classes, guess.spec) == ("vggish", "audio", 5, f"vggish:{path}")


@pytest.mark.parametrize("content, suffix, words", [
    (b"not a model", ".txt", "not a model file xaidesk knows"),
    (b"\x00\x01garbage", ".pth", "could not be read"),
    (b"garbage", ".safetensors", "could not be read as a .safetensors"),
])
def test_other_files_get_a_plain_message(tmp_path, content, suffix, words):
    path = tmp_path / f"thing{suffix}"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=words):
        recognise(path)


def test_missing_and_empty_paths(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        recognise(tmp_path / "nowhere.pth")
    with pytest.raises(ModelError, match="holds no model"):
        recognise(tmp_path)
    with pytest.raises(ModelError, match="Choose a model"):
        recognise("  ")


def test_a_folder_of_several_models_asks_for_one(tmp_path):
    for name in ("a.onnx", "b.pt"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(ModelError, match="several model files"):
        recognise(tmp_path)


def test_architecture_choices_list_torchvision_then_timm():
    from xaidesk.models import TORCHVISION_ARCHITECTURES

    choices = architecture_choices()
    torchvision_names = [c.name for c in choices if c.source == "torchvision"]
    assert torchvision_names == list(TORCHVISION_ARCHITECTURES)
    assert choices[: len(torchvision_names)] == [ArchitectureChoice(n, "torchvision") for n in torchvision_names]
    timm_names = {c.name for c in choices if c.source == "timm"}
    assert {"vit_small_patch16_224", "convnext_tiny", "resnet50"} <= timm_names
    found = matching_choices(choices, "VIT small patch16")
    assert ArchitectureChoice("vit_small_patch16_224", "timm") in found
    assert all("vit" in c.name and "small" in c.name for c in found)
    assert matching_choices(choices, "resnet18 torchvision") == [ArchitectureChoice("resnet18", "torchvision")]


def test_importing_sources_loads_neither_timm_nor_the_gui():
    code = ("import sys; import xaidesk.models.sources; "
            "print(sorted(m for m in ('timm', 'transformers', 'onnxruntime', 'PySide6') if m in sys.modules))")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_hugging_face_download_folder_opens_its_snapshot(tmp_path):
    cache = tmp_path / "models--org--tiny-vit"
    snapshot = cache / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps({"model_type": "vit"}))
    (cache / "refs").mkdir()
    (cache / "refs" / "main").write_text("0123456789abcdef")
    guess = recognise(cache)
    assert guess.spec == f"hf:{snapshot}"
    assert "download folder" in guess.notes[0]


def test_download_folder_with_several_snapshots_asks_for_one_for_hf_too(tmp_path):
    cache = tmp_path / "models--org--tiny-vit"
    for name in ("aaa", "bbb"):
        (cache / "snapshots" / name).mkdir(parents=True)
        (cache / "snapshots" / name / "config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(ModelError, match="2 versions of the model"):
        recognise(cache)
    with pytest.raises(ModelError, match="2 versions of the model"):
        load_model(f"hf:{cache}")
    (cache / "refs").mkdir()
    (cache / "refs" / "main").write_text("bbb")
    assert recognise(cache).spec == f"hf:{cache / 'snapshots' / 'bbb'}"
