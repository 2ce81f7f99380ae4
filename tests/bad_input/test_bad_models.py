"""Bad model specs and model files: each refused in one plain sentence, none of them run untrusted."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from xaidesk.models import list_builtin_models
from xaidesk.models.demo import demo_weights_path

DIGIT = list_builtin_models("image")[0]["samples"][0]
SIDECAR = {"preprocessing": {"size": [8, 8], "mean": [0.5] * 3, "std": [0.5] * 3, "channels": "rgb", "resize": None}}


class OneScore(torch.nn.Module):
    """One number per input, without a class axis."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 8 * 8, 1)

    def forward(self, x):
        return self.fc(x.flatten(1))[:, 0]


class RaisesOnPictures(torch.nn.Module):
    """Passes the all-zero load check; raises on any real picture."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 8 * 8, 4)

    def forward(self, x):
        if bool(x.abs().sum() > 1.0):
            raise ValueError("cannot handle this picture")
        return self.fc(x.flatten(1))


class Overflows(torch.nn.Module):
    """Finite weights, but scores that overflow to infinity on a picture."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 8 * 8, 3)

    def forward(self, x):
        return self.fc(x.flatten(1)) * torch.exp(x.abs().sum() * 100.0)


def _scripted(folder, module, name, sidecar=True):
    path = folder / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(module).save(str(path))
    if sidecar:
        (folder / f"{name}.json").write_text(json.dumps(SIDECAR))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    made = {"folder": folder / "a_folder"}
    made["folder"].mkdir()
    made["empty"] = folder / "empty.pt"
    made["empty"].write_bytes(b"")
    made["garbage"] = folder / "garbage.pt"
    made["garbage"].write_bytes(bytes(range(256)) * 40)
    made["text"] = folder / "notes.pt"
    made["text"].write_text("this is not a model\n")
    state = torch.load(demo_weights_path("digits"), weights_only=True)
    whole = folder / "digits_state.pt"
    torch.save(state, whole)
    made["truncated"] = folder / "truncated.pt"
    made["truncated"].write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    made["unknown_arch"] = whole
    tiny = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    made["pickle"] = folder / "pickled.pt"
    torch.save(tiny, made["pickle"])
    (folder / "pickled.pt.json").write_text(json.dumps(SIDECAR))
    damaged = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    with torch.no_grad():
        damaged[1].weight[1, 7] = float("nan")
    made["nan_pickle"] = folder / "nan_pickled.pt"
    torch.save(damaged, made["nan_pickle"])
    (folder / "nan_pickled.pt.json").write_text(json.dumps(SIDECAR))
    made["nan_script"] = _scripted(folder, damaged, "nan_scripted.pt")
    with torch.no_grad():
        damaged[1].weight[1, 7] = float("inf")
    made["inf_script"] = _scripted(folder, damaged, "inf_scripted.pt")
    made["one_score"] = _scripted(folder, OneScore(), "one_score.pt")
    made["raises"] = _scripted(folder, RaisesOnPictures(), "raises.pt")
    made["overflows"] = _scripted(folder, Overflows(), "overflows.pt")
    made["no_sidecar"] = _scripted(folder, RaisesOnPictures(), "needs_8x8.pt", sidecar=False)
    made["bad_sidecar"] = _scripted(folder, OneScore(), "bad_sidecar.pt", sidecar=False)
    (folder / "bad_sidecar.pt.json").write_text("{not json")
    made["loop"] = folder / "loop.pt"
    made["loop"].symlink_to(folder / "loop2.pt")
    (folder / "loop2.pt").symlink_to(made["loop"])
    made["broken_link"] = folder / "broken.pt"
    made["broken_link"].symlink_to(folder / "gone.pt")
    return made


def _explain(model, out, *extra, method="gradient.sensitivity"):
    return ["explain", "image", DIGIT, "--model", model, "--method", method, *extra, "--out", out]


@pytest.mark.parametrize("spec, says", [
    ("demo:nope", "no built-in model called 'nope'"),
    ("demo:", "Name the built-in model"),
    ("nonsense", "not a model name xaidesk knows"),
    ("file:", "Give the path of the model file"),
    ("torchvision:vgg16", "needs a weights file"),
    ("torchvision:alexnet9:/x.pt", "alexnet9"),
    ("vggish:", "needs a weights file"),
    ("probe:", "needs a probe file"),
    ("demo:sounds", "not for images"),
])
def test_bad_model_specs(refused, tmp_path, spec, says):
    out = tmp_path / "out"
    refused(_explain(spec, out), inputs=[DIGIT], out=out, says=[says])


@pytest.mark.parametrize("name, says", [
    ("folder", "is a folder"),
    ("empty", "could not be read as a PyTorch model file"),
    ("garbage", "could not be read as a PyTorch model file"),
    ("text", "could not be read as a PyTorch model file"),
    ("truncated", "could not be read as a PyTorch model file"),
    ("unknown_arch", "could not tell which network"),
    ("pickle", "contains program code"),
    ("nan_pickle", "contains program code"),
    ("nan_script", "invalid weight value"),
    ("inf_script", "invalid weight value"),
    ("one_score", "one row of class scores per input"),
    ("raises", "The model failed on this input: cannot handle this picture"),
    ("overflows", "invalid scores (NaN or infinity)"),
    ("no_sidecar", "does not accept an input of 3x224x224"),
    ("bad_sidecar", "not valid JSON"),
    ("loop", "link loop"),
    ("broken_link", "which does not exist"),
])
def test_bad_model_files(refused, tmp_path, files, name, says):
    out = tmp_path / "out"
    refused(_explain(f"file:{files[name]}", out), inputs=[DIGIT, files[name]] if files[name].exists() else [DIGIT],
            out=out, says=[says])


def test_missing_model_file(refused, tmp_path):
    out = tmp_path / "out"
    refused(_explain(f"file:{tmp_path / 'missing.pt'}", out), out=out, says=["no model file"])


def test_wrong_architecture_weights(refused, tmp_path, files):
    out = tmp_path / "out"
    refused(_explain(f"torchvision:resnet18:{files['unknown_arch']}", out), inputs=[files["unknown_arch"]],
            out=out, says=["do not fit torchvision's resnet18"])


def test_trusted_pickle_with_nan_weights_is_still_refused(refused, tmp_path, files):
    out = tmp_path / "out"
    refused(_explain(f"file:{files['nan_pickle']}", out, "--trust"), inputs=[files["nan_pickle"]], out=out,
            says=["1 invalid weight value", "'1.weight'"])


def test_trusted_pickle_loads(accepted, tmp_path, files):
    accepted(_explain(f"file:{files['pickle']}", tmp_path / "out", "--trust"), inputs=[files["pickle"], DIGIT])


@pytest.mark.parametrize("method", ["occlusion", "gradient.smoothgrad", "lime"])
def test_a_failing_forward_is_plain_under_every_method(refused, tmp_path, files, method):
    out = tmp_path / "out"
    refused(_explain(f"file:{files['raises']}", out, method=method), inputs=[files["raises"]], out=out,
            says=["The model failed on this input", "ValueError"])


def test_a_failing_forward_is_plain_in_evaluate_and_batch(refused, tmp_path, files):
    out = tmp_path / "out"
    refused(["evaluate", "image", DIGIT, "--model", f"file:{files['raises']}", "--methods", "occlusion", "--out", out],
            out=out, says=["The model failed on this input"])
    refused(["evaluate", "image", DIGIT, "--model", f"file:{files['nan_script']}", "--methods", "occlusion",
             "--out", out], out=out, says=["invalid weight value"])
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(open(DIGIT, "rb").read())
    refused(["batch", folder, "--model", f"file:{files['one_score']}", "--methods", "occlusion", "--out", out],
            inputs=[folder], out=out, says=["one row of class scores per input"])
