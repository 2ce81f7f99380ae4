"""Model loading: demos, torchvision state dicts, saved files, trust, download failure.

Fast, offline, no pretrained weights: torchvision models are built with random
initialisation and small class counts and written to ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import xaidesk.models as models
import xaidesk.models.torchvision as tvm
from xaidesk.core import CancelToken, Cancelled, ModelError
from xaidesk.models import (
    IMAGENET,
    TORCHVISION_ARCHITECTURES,
    LoadedModel,
    UntrustedModelError,
    download_weights,
    list_builtin_models,
    load_model,
)
from xaidesk.resources import resource_path


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def resnet18_2() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=2).eval()


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory) -> Path:
    """State dicts of small randomly initialised torchvision models."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None, num_classes=2).state_dict(), folder / "resnet18_2.pt")
    torch.save(torchvision.models.resnet18(weights=None, num_classes=37).state_dict(), folder / "resnet18_37.pt")
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), folder / "mobilenet_v2_1000.pth")
    return folder


def _image(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _predict(model: LoadedModel, image: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model.module(model.preprocessing.to_tensor(image))[0]


def _builtin(spec: str) -> dict:
    return next(entry for entry in list_builtin_models() if entry["spec"] == spec)


# --------------------------------------------------------------------------- demos and resources


def test_resource_path_finds_the_resources_folder():
    assert resource_path("models").is_dir()
    assert resource_path("models", "digits.pt").is_file()


def test_resource_path_prefers_a_pyinstaller_bundle(tmp_path, monkeypatch):
    (tmp_path / "resources" / "models").mkdir(parents=True)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_path("models", "x.pt") == tmp_path / "resources" / "models" / "x.pt"


def test_list_builtin_models_describes_the_demos():
    entries = {e["spec"]: e for e in list_builtin_models()}
    assert set(entries) == {"demo:digits", "demo:clever_hans", "demo:sounds"}
    assert {e["spec"] for e in list_builtin_models("image")} == {"demo:digits", "demo:clever_hans"}
    assert entries["demo:sounds"]["modality"] == "audio"
    for entry in entries.values():
        assert entry["title"] and entry["description"]
        assert entry["samples"] and all(isinstance(p, Path) and p.is_file() for p in entry["samples"])
        assert entry["accuracy"]
    assert entries["demo:digits"]["accuracy"]["held_out"] >= 0.97


@pytest.mark.parametrize("name", ["digits", "clever_hans"])
def test_demo_models_load_in_eval_mode_without_gradients(name):
    model = load_model(f"demo:{name}")
    assert model.architecture == "demo_cnn"
    assert not model.is_torchscript
    assert not model.module.training
    assert not any(p.requires_grad for p in model.module.parameters())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.module.modules())
    # zennit-friendly: only module activations, nothing in place
    assert not any(getattr(m, "inplace", False) for m in model.module.modules())


def test_digits_predicts_the_true_label_of_every_sample():
    model = load_model("demo:digits")
    entry = _builtin("demo:digits")
    assert model.preprocessing.channels == "gray" and model.preprocessing.size == (32, 32)
    assert len(entry["samples"]) >= 5
    for path, label in zip(entry["samples"], entry["sample_labels"]):
        image = _image(path)
        assert image.shape[:2] == (128, 128)
        logits = _predict(model, image)
        assert model.class_names[int(logits.argmax())] == label, path.name


def test_clever_hans_uses_the_tag_as_a_shortcut():
    model = load_model("demo:clever_hans")
    entry = _builtin("demo:clever_hans")
    assert model.class_names == ["horse", "other"]
    acc = entry["accuracy"]
    assert acc["held_out_with_mark_as_in_training"] > acc["held_out_without_mark"] + 0.05
    meta = json.loads(resource_path("models", "clever_hans.json").read_text())
    box = meta["shortcut_box"]
    samples = {p.name: p for p in entry["samples"]}
    tagged = _image(samples["clever_hans_horse_tagged_2.png"])
    assert _predict(model, tagged).argmax() == 0  # horse with the tag
    # Painting over the tag with the neighbouring background changes the decision for this sample.
    untagged = tagged.copy()
    top, left, h, w = box["top"], box["left"], box["height"], box["width"]
    untagged[top : top + h, left : left + w] = tagged[top - 3 : top - 2, left : left + w].mean(axis=(0, 1))
    assert torch.softmax(_predict(model, untagged), 0)[0] < torch.softmax(_predict(model, tagged), 0)[0]
    other_tagged = _image(samples["clever_hans_other_tagged.png"])
    assert _predict(model, other_tagged).argmax() == 0  # fooled by the tag


def test_unknown_demo_is_a_model_error():
    with pytest.raises(ModelError, match="demo:digits"):
        load_model("demo:nope")


# --------------------------------------------------------------------------- torchvision


@pytest.mark.parametrize("classes", [2, 37])
def test_torchvision_resnet18_infers_the_class_count(weights_dir, classes):
    path = weights_dir / f"resnet18_{classes}.pt"
    model = load_model(f"torchvision:resnet18:{path}")
    assert model.architecture == "resnet18"
    assert model.num_classes == classes
    assert model.class_names[1] == "class 1"
    assert model.preprocessing == IMAGENET
    assert not model.module.training and not any(p.requires_grad for p in model.module.parameters())
    out = model.module(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, classes)


def test_torchvision_weights_match_the_saved_model(weights_dir):
    path = weights_dir / "resnet18_2.pt"
    state = torch.load(path, weights_only=True)
    model = load_model(f"torchvision:resnet18:{path}")
    for key, value in model.module.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_1000_classes_get_imagenet_names(weights_dir):
    model = load_model(f"torchvision:mobilenet_v2:{weights_dir / 'mobilenet_v2_1000.pth'}")
    assert model.num_classes == 1000
    assert model.class_names[0] == "tench"
    assert model.class_names[207] == "golden retriever"
    assert model.architecture == "mobilenet_v2"


def test_sidecar_class_names_are_used(tmp_path, weights_dir):
    path = tmp_path / "pets.pt"
    path.write_bytes((weights_dir / "resnet18_2.pt").read_bytes())
    (tmp_path / "pets.pt.json").write_text(json.dumps({"class_names": ["cat", "dog"]}))
    assert load_model(f"torchvision:resnet18:{path}").class_names == ["cat", "dog"]
    (tmp_path / "pets.pt.json").unlink()
    (tmp_path / "pets.pt.classes.txt").write_text("kitten\npuppy\n")
    assert load_model(f"torchvision:resnet18:{path}").class_names == ["kitten", "puppy"]


def test_wrapped_and_prefixed_state_dicts_load(tmp_path, resnet18_2):
    state = {f"module.{k}": v for k, v in resnet18_2.state_dict().items()}
    path = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 3, "state_dict": state, "best_acc": 0.9}, path)
    model = load_model(f"torchvision:resnet18:{path}")
    assert model.num_classes == 2
    path2 = tmp_path / "checkpoint2.pth"
    torch.save({"model": resnet18_2.state_dict()}, path2)
    assert load_model(f"torchvision:resnet18:{path2}").num_classes == 2


def test_weights_for_another_architecture_name_it(weights_dir):
    with pytest.raises(ModelError) as info:
        load_model(f"torchvision:vgg16:{weights_dir / 'resnet18_2.pt'}")
    message = str(info.value)
    assert "resnet18" in message and "vgg16" in message
    with pytest.raises(ModelError, match="resnet18"):
        load_model(f"torchvision:resnet50:{weights_dir / 'resnet18_37.pt'}")


def test_weights_of_no_known_architecture(tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(torch.nn.Linear(4, 2).state_dict(), path)
    with pytest.raises(ModelError, match="do not fit"):
        load_model(f"torchvision:resnet18:{path}")
    with pytest.raises(ModelError, match="torchvision:ARCH:PATH"):
        load_model(f"file:{path}")


def test_torchvision_without_weights_file_explains_what_to_do():
    with pytest.raises(ModelError, match="weights file") as info:
        load_model("torchvision:vgg16")
    assert "download" in str(info.value)


def test_unknown_architecture_lists_supported():
    with pytest.raises(ModelError, match="resnet18"):
        load_model("torchvision:alexnet9:/x.pt")


def test_architectures_cover_the_supported_families():
    for arch in ("vgg11", "vgg16", "vgg19_bn", "resnet18", "resnet152", "mobilenet_v2", "mobilenet_v3_small"):
        assert arch in TORCHVISION_ARCHITECTURES


def test_detection_tells_vgg_variants_apart():
    with torch.device("meta"):
        vgg11_bn = torchvision.models.vgg11_bn(num_classes=5)
        vgg13 = torchvision.models.vgg13(num_classes=5)
    assert tvm.detect_architecture(vgg11_bn.state_dict()) == "vgg11_bn"
    assert tvm.detect_architecture(vgg13.state_dict()) == "vgg13"


# --------------------------------------------------------------------------- file:


def test_file_state_dict_is_recognised(weights_dir):
    model = load_model(f"file:{weights_dir / 'resnet18_37.pt'}")
    assert model.architecture == "resnet18"
    assert model.num_classes == 37
    assert any("resnet18" in note for note in model.notes)


def test_random_bytes_are_a_plain_model_error(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    for spec in (f"file:{path}", f"torchvision:resnet18:{path}"):
        with pytest.raises(ModelError) as info:
            load_model(spec)
        assert not isinstance(info.value, UntrustedModelError)
        assert "could not be read as a PyTorch model file" in str(info.value)


def test_truncated_and_empty_files(tmp_path, weights_dir):
    data = (weights_dir / "resnet18_2.pt").read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path in (truncated, empty):
        with pytest.raises(ModelError, match="could not be read as a PyTorch model file"):
            load_model(f"file:{path}")


def test_pickled_module_needs_trust(tmp_path, resnet18_2):
    path = tmp_path / "full.pt"
    torch.save(resnet18_2, path)
    with pytest.raises(UntrustedModelError) as info:
        load_model(f"file:{path}")
    message = str(info.value)
    assert "code" in message and "trust" in message
    assert "ResNet" in (info.value.code_reference or "")
    model = load_model(f"file:{path}", trust=True)
    assert model.num_classes == 2
    assert model.architecture == "resnet18"
    assert not model.module.training and not any(p.requires_grad for p in model.module.parameters())


def test_pickle_is_not_executed_without_trust(tmp_path):
    marker = tmp_path / "ran.txt"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"weights": torch.zeros(2), "payload": Evil()}, path)
    with pytest.raises(UntrustedModelError):
        load_model(f"file:{path}")
    assert not marker.exists()


def test_torchscript_loads(tmp_path, resnet18_2):
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(resnet18_2, torch.zeros(1, 3, 64, 64)).save(str(path))
    model = load_model(f"file:{path}")
    assert model.is_torchscript
    assert model.num_classes == 2
    x = torch.randn(1, 3, 224, 224)
    assert torch.allclose(model.module(x), resnet18_2(x), atol=1e-5)


def test_file_sidecar_sets_preprocessing_and_names(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 26 * 26, 3))
    path = tmp_path / "gray.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(net, torch.zeros(1, 1, 28, 28)).save(str(path))
    with pytest.raises(ModelError, match="does not accept an input"):
        load_model(f"file:{path}")
    (tmp_path / "gray.pt.json").write_text(json.dumps({
        "class_names": ["a", "b", "c"],
        "preprocessing": {"size": [28, 28], "mean": [0.5], "std": [0.25], "channels": "gray", "resize": None},
    }))
    model = load_model(f"file:{path}")
    assert model.class_names == ["a", "b", "c"]
    assert model.preprocessing.size == (28, 28) and model.preprocessing.channels == "gray"


def test_bad_sidecar_is_reported(tmp_path, weights_dir):
    path = tmp_path / "m.pt"
    path.write_bytes((weights_dir / "resnet18_2.pt").read_bytes())
    (tmp_path / "m.pt.json").write_text("{not json")
    with pytest.raises(ModelError, match="m.pt.json"):
        load_model(f"file:{path}")


@pytest.mark.parametrize(
    "spec",
    ["", "   ", "resnet18", "onnx:/no/such/model.onnx", "onnx:", "demo:", "file:", "torchvision:", "file:/no/such/file.pt",
     "torchvision:resnet18:/no/such/file.pt"],
)
def test_malformed_specs_are_model_errors(spec):
    with pytest.raises(ModelError) as info:
        load_model(spec)
    assert str(info.value)  # one plain sentence, not empty
    assert "Traceback" not in str(info.value)


def test_unknown_prefix_lists_the_valid_forms():
    with pytest.raises(ModelError) as info:
        load_model("keras:model.h5")
    message = str(info.value)
    assert "demo:" in message and "torchvision:" in message and "file:" in message


def test_folder_is_not_a_model_file(tmp_path):
    with pytest.raises(ModelError, match="folder"):
        load_model(f"file:{tmp_path}")


# --------------------------------------------------------------------------- download


def test_offline_download_fails_clearly_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XAIDESK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tvm.download, "weights_url", lambda arch: "http://127.0.0.1:9/resnet18-f37072fd.pth")
    reports = []
    with pytest.raises(ModelError) as info:
        download_weights("resnet18", progress=lambda f, m: reports.append((f, m)))
    message = str(info.value)
    assert "offline" in message and "resnet18" in message and "torchvision:resnet18:PATH" in message
    folder = tmp_path / "weights"
    assert list(folder.iterdir()) == []


class _FakeResponse:
    def __init__(self, data: bytes):
        self._data, self._pos = data, 0
        self.headers = {"Content-Length": str(len(data))}

    def read(self, n: int) -> bytes:
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_writes_atomically_and_checks_the_hash(tmp_path, monkeypatch):
    import hashlib

    data = os.urandom(300_000)
    digest = hashlib.sha256(data).hexdigest()[:8]
    monkeypatch.setenv("XAIDESK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tvm.download, "weights_url", lambda arch: f"https://example.invalid/resnet18-{digest}.pth")
    monkeypatch.setattr(tvm.download, "_urlopen", lambda url, timeout=None: _FakeResponse(data))
    reports = []
    path = download_weights("resnet18", progress=lambda f, m: reports.append(f))
    assert path.read_bytes() == data and path.parent == tmp_path / "weights"
    assert reports[-1] == 1.0 and all(0 <= f <= 1 for f in reports)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask, "downloaded weights get the user's normal permissions"
    # A damaged download is refused and leaves nothing behind.
    path.unlink()
    monkeypatch.setattr(tvm.download, "_urlopen", lambda url, timeout=None: _FakeResponse(data[:-1] + b"x"))
    with pytest.raises(ModelError, match="damaged"):
        download_weights("resnet18")
    assert list((tmp_path / "weights").iterdir()) == []


def test_download_can_be_cancelled(tmp_path, monkeypatch):
    monkeypatch.setenv("XAIDESK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tvm.download, "weights_url", lambda arch: "https://example.invalid/resnet18-00000000.pth")
    monkeypatch.setattr(tvm.download, "_urlopen", lambda url, timeout=None: _FakeResponse(b"x" * 1_000_000))
    token = CancelToken()

    def progress(fraction, message):
        if fraction > 0.1:
            token.cancel()

    with pytest.raises(Cancelled):
        download_weights("resnet18", progress=progress, token=token)
    assert list((tmp_path / "weights").iterdir()) == []


def test_importing_models_touches_neither_qt_nor_network():
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise AssertionError('network used')\n"
        "socket.socket.connect = refuse\n"
        "import xaidesk.models as m\n"
        "m.load_model('demo:digits'); m.list_builtin_models()\n"
        "bad = [k for k in sys.modules if k.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)


# --- issue 12: shapes, failures and invalid values caught at load -----------------------------------


class _OneScore(torch.nn.Module):
    """One number per input, without a class axis: shape (batch,)."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 8 * 8, 1)

    def forward(self, x):
        return self.fc(x.flatten(1))[:, 0]


class _RaisesOnContent(torch.nn.Module):
    """Works on the all-zero load check, raises on any real picture."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 8 * 8, 4)

    def forward(self, x):
        if bool(x.abs().sum() > 100.0):
            raise ValueError("cannot handle this picture")
        return self.fc(x.flatten(1))


def _scripted(tmp_path, module, name):
    path = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(module).save(str(path))
    (tmp_path / f"{name}.json").write_text(json.dumps(
        {"preprocessing": {"size": [8, 8], "mean": [0.5] * 3, "std": [0.5] * 3, "channels": "rgb", "resize": None}}))
    return path


def test_a_model_without_a_class_axis_is_refused_at_load(tmp_path):
    path = _scripted(tmp_path, _OneScore(), "one_score.pt")
    with pytest.raises(ModelError, match=r"returns \(2,\) for two 3x8x8 inputs.*shape \(inputs, 1\)"):
        load_model(f"file:{path}")


def test_an_exception_in_forward_is_a_plain_model_error(tmp_path):
    from xaidesk.explain import predict_image

    model = load_model(f"file:{_scripted(tmp_path, _RaisesOnContent(), 'raises.pt')}")
    with pytest.raises(ModelError) as info:
        predict_image(model, np.full((8, 8, 3), 255, dtype=np.uint8))
    assert str(info.value) == ("The model failed on this input: cannot handle this picture (raises.pt raised "
                               "ValueError in its forward pass).")


def test_a_python_exception_in_forward_is_wrapped_too():
    from xaidesk.models.inference import forward_logits

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise KeyError("layer4")

    with pytest.raises(ModelError, match=r"failed on this input: 'layer4' \(net raised KeyError"):
        forward_logits(Broken(), torch.zeros(1, 3, 8, 8), "net")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_model_with_invalid_weights_is_refused_at_load(tmp_path, value):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    with torch.no_grad():
        net[1].weight[0, 5] = value
    path = _scripted(tmp_path, net, "damaged.pt")
    with pytest.raises(ModelError, match=r"holds 1 invalid weight value\(s\) \(NaN or infinity\), first in '1.weight'"):
        load_model(f"file:{path}")


def test_invalid_scores_are_refused_wherever_the_model_runs():
    from xaidesk.models.inference import forward_logits

    class Overflows(torch.nn.Module):
        def forward(self, x):
            return torch.stack([x.sum((1, 2, 3)), torch.log(x.sum((1, 2, 3)) - 1e9)], 1)

    with pytest.raises(ModelError, match=r"invalid scores \(NaN or infinity\)"):
        forward_logits(Overflows(), torch.ones(2, 3, 8, 8), "net")
    assert forward_logits(torch.nn.Flatten(), torch.ones(2, 1, 1, 3), "net").shape == (2, 3)
