"""VGGish weights in torchvggish's and TensorFlow's layouts give the reference network's embedding.

Random weights are saved in each published layout; independent reference forwards (torchvggish's
``VGG.forward`` with its NHWC flatten, and a numpy NHWC network with HWIO kernels for TensorFlow)
run on the (96 frames x 64 bands) patch, and xaidesk's loaded model runs on its transpose.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from xaidesk.core import ModelError
from xaidesk.models import load_model
from xaidesk.commands.convert_vggish import main
from xaidesk.models.vggish_convert import (
    convert_vggish,
    detect_layout,
    fc1_column_order,
    read_arrays,
    read_vggish_state,
)

CONFIG = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M"]
TF_NAMES = ["vggish/conv1", "vggish/conv2", "vggish/conv3/conv3_1", "vggish/conv3/conv3_2",
            "vggish/conv4/conv4_1", "vggish/conv4/conv4_2"]


class TorchVGGishReference(nn.Module):
    """harritaylor/torchvggish's ``VGG`` (make_layers + embeddings with the final ReLU), as published."""

    def __init__(self) -> None:
        super().__init__()
        layers, channels = [], 1
        for v in CONFIG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = v
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(nn.Linear(512 * 4 * 6, 4096), nn.ReLU(True), nn.Linear(4096, 4096),
                                        nn.ReLU(True), nn.Linear(4096, 128), nn.ReLU(True))

    def flat(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.transpose(x, 1, 3)
        x = torch.transpose(x, 1, 2)
        return x.contiguous().view(x.size(0), -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embeddings(self.flat(x))

    def pre_relu(self, x: torch.Tensor) -> torch.Tensor:
        return self.embeddings[:5](self.flat(x))


def tf_reference(variables: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """TensorFlow's VGGish in numpy: NHWC input (N, 96, 64, 1), SAME 3x3 convs with HWIO kernels,
    2x2 max pooling, NHWC flatten, dense (in, out) matrices, linear embedding."""
    def conv(x, kernel, bias):
        n, h, w, _ = x.shape
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = np.zeros((n, h, w, kernel.shape[3]), dtype=np.float32)
        for a in range(3):
            for b in range(3):
                out += padded[:, a:a + h, b:b + w, :] @ kernel[a, b]
        return np.maximum(out + bias, 0.0)

    def pool(x):
        n, h, w, c = x.shape
        return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))

    names = iter(TF_NAMES)
    x = x.astype(np.float32)
    for v in CONFIG:
        if v == "M":
            x = pool(x)
        else:
            name = next(names)
            x = conv(x, variables[f"{name}/weights"], variables[f"{name}/biases"])
    x = x.reshape(x.shape[0], -1)
    x = np.maximum(x @ variables["vggish/fc1/fc1_1/weights"] + variables["vggish/fc1/fc1_1/biases"], 0.0)
    x = np.maximum(x @ variables["vggish/fc1/fc1_2/weights"] + variables["vggish/fc1/fc1_2/biases"], 0.0)
    return (x @ variables["vggish/fc2/weights"] + variables["vggish/fc2/biases"]).astype(np.float64)


def _patches(seed: int = 1) -> torch.Tensor:
    """Two random (96 frames, 64 bands) log-mel-like patches, as torchvggish takes them: (2, 1, 96, 64)."""
    return torch.randn((2, 1, 96, 64), generator=torch.Generator().manual_seed(seed)) * 2.0 - 3.0


def _ours(model, reference_input: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.module(reference_input.transpose(2, 3).contiguous()).double()


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = float(b.abs().max())
    return scale > 0 and float((a - b).abs().max()) <= 1e-4 * scale


@pytest.fixture(scope="module")
def torchvggish():
    torch.manual_seed(0)
    return TorchVGGishReference().eval()


@pytest.fixture(scope="module")
def tf_variables():
    generator = torch.Generator().manual_seed(0)

    def normal(*shape, scale):
        return (torch.randn(shape, generator=generator) * scale).numpy()

    variables, channels = {}, 1
    for name, width in zip(TF_NAMES, [v for v in CONFIG if v != "M"]):
        variables[f"{name}/weights"] = normal(3, 3, channels, width, scale=np.sqrt(2.0 / (9 * channels)))
        variables[f"{name}/biases"] = normal(width, scale=0.05)
        channels = width
    for name, (fan_in, fan_out) in {"vggish/fc1/fc1_1": (12288, 4096), "vggish/fc1/fc1_2": (4096, 4096),
                                    "vggish/fc2": (4096, 128)}.items():
        variables[f"{name}/weights"] = normal(fan_in, fan_out, scale=np.sqrt(2.0 / fan_in))
        variables[f"{name}/biases"] = normal(fan_out, scale=0.05)
    return variables


def test_fc1_column_order_is_the_nhwc_flatten():
    order = fc1_column_order()
    assert sorted(order.tolist()) == list(range(12288))
    # Ours: c*24 + m*6 + t; reference: (t*4 + m)*512 + c.
    for c, m, t in [(0, 0, 1), (0, 1, 0), (1, 0, 0), (511, 3, 5), (7, 2, 4)]:
        assert order[c * 24 + m * 6 + t] == (t * 4 + m) * 512 + c


def test_torchvggish_weights_give_the_reference_embedding_on_the_transposed_patch(tmp_path, torchvggish):
    state = dict(torchvggish.state_dict())
    state["pproc._pca_matrix"] = torch.eye(128)
    state["pproc._pca_means"] = torch.zeros(128, 1)
    path = tmp_path / "vggish-10086976.pth"
    torch.save(state, path)
    model = load_model(f"vggish:{path}")
    x = _patches()
    with torch.no_grad():
        expected, expected_pre = torchvggish(x).double(), torchvggish.pre_relu(x).double()
    ours = _ours(model, x)
    assert _close(ours, expected_pre) and _close(torch.relu(ours), expected)
    assert any("torchvggish" in note for note in model.notes) and any("pproc" in note for note in model.notes)
    # The same weights read as xaidesk's own layout (no reordering) give another embedding: the test can fail.
    (tmp_path / "vggish-10086976.pth.json").write_text(json.dumps({"layout": "xaidesk"}))
    unconverted = load_model(f"vggish:{path}")
    assert not _close(_ours(unconverted, x), expected_pre)


def test_tensorflow_arrays_give_the_reference_embedding(tmp_path, tf_variables):
    npz = tmp_path / "vggish_model.npz"
    np.savez(npz, **{f"{name}:0": value for name, value in tf_variables.items()}, global_step=np.int64(7))
    x = _patches(2)
    expected = torch.from_numpy(tf_reference(tf_variables, x.permute(0, 2, 3, 1).numpy()))
    model = load_model(f"vggish:{npz}")
    assert model.embedding_only and any("TensorFlow" in note for note in model.notes)
    assert _close(_ours(model, x), expected)

    # The converter writes a marked copy that loads as it is (converted once, not twice).
    out = tmp_path / "converted.pt"
    assert main([str(npz), str(out)]) == 0
    converted = load_model(f"vggish:{out}")
    assert not any("Converted" in note for note in converted.notes)
    assert _close(_ours(converted, x), expected)


def test_tensorflow_names_in_a_safetensors_file(tmp_path, tf_variables):
    from safetensors.torch import save_file

    path = tmp_path / "vggish_tf.safetensors"
    save_file({k: torch.from_numpy(v) for k, v in tf_variables.items()}, str(path))
    arrays, marked = read_arrays(path)
    assert not marked and detect_layout(arrays) == "tensorflow"
    state, notes = read_vggish_state(path)
    fc1 = torch.from_numpy(tf_variables["vggish/fc1/fc1_1/weights"]).t()
    assert torch.equal(state["embeddings.0.weight"], fc1[:, torch.from_numpy(fc1_column_order())])
    kernel = tf_variables["vggish/conv2/weights"]  # HWIO on (time, mel)
    assert torch.equal(state["features.3.weight"][5, 7], torch.from_numpy(kernel[:, :, 7, 5].T.copy()))
    out = convert_vggish(path, tmp_path / "converted.safetensors")
    arrays, marked = read_arrays(out)
    assert marked and detect_layout(arrays, marked) == "xaidesk"
    assert all(torch.equal(arrays[k], v) for k, v in state.items())


def test_bad_vggish_files_are_refused_plainly(tmp_path, tf_variables, capsys):
    other = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3)}, other)
    with pytest.raises(ModelError, match="not VGGish's"):
        load_model(f"vggish:{other}")
    convs = {k: v for k, v in tf_variables.items() if "conv" in k}
    small_dense = {f"{name}/{part}": np.zeros(shape, dtype=np.float32)
                   for name, shape in {"vggish/fc1/fc1_1": (1000, 8), "vggish/fc1/fc1_2": (8, 8),
                                       "vggish/fc2": (8, 128)}.items()
                   for part, shape in (("weights", shape), ("biases", shape[1:]))}
    path = tmp_path / "broken.npz"
    np.savez(path, **convs, **small_dense)
    with pytest.raises(ModelError, match="takes 1000 inputs where VGGish's takes 12288"):
        load_model(f"vggish:{path}")
    np.savez(path, **{k: v for k, v in convs.items() if "conv2" not in k})
    with pytest.raises(ModelError, match="lack 'vggish/conv2/weights'"):
        convert_vggish(path, tmp_path / "out.safetensors")
    assert main([str(path), str(tmp_path / "out.safetensors")]) == 1
    assert "lack 'vggish/conv2" in capsys.readouterr().err and not (tmp_path / "out.safetensors").exists()


def test_the_cli_command_converts(tmp_path, tf_variables, capsys):
    from xaidesk.cli import main as cli_main

    npz = tmp_path / "vggish_tf.npz"
    np.savez(npz, **tf_variables)
    out = tmp_path / "converted.safetensors"
    assert cli_main(["convert-vggish", str(npz), str(out), "--layout", "tensorflow"]) == 0
    assert "tensorflow layout" in capsys.readouterr().out and out.is_file()
