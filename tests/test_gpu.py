"""CUDA results equal CPU results, for every image and sound method, single inputs and dataset runs.

Skipped without a CUDA GPU (``pytest -m gpu`` runs only these). TF32 is switched off for the
comparison, so the GPU computes in full float32 like the CPU. The stated tolerance: the largest
difference between the two maps is at most ``RELATIVE`` of the CPU map's largest magnitude
(summation order differs between the devices' kernels), and the two maps rank pixels alike
(Pearson above 0.999).
"""

import numpy as np
import pytest
import torch

from xaidesk.core import list_methods
from xaidesk.data.audio import load_clip
from xaidesk.data.images import load_image
from xaidesk.explain import explain_image, load_builtin_methods
from xaidesk.explain.audio import explain_audio
from xaidesk.explain.common import unavailable_reason
from xaidesk.models import load_model
from xaidesk.resources import resource_path
from xaidesk.runs import model_on_device, read_run, run_batch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU that PyTorch can use")]

RELATIVE = 1e-3
#: Methods whose ridge fit or sampled masks amplify float differences in the model's scores.
SAMPLED_RELATIVE = 1e-2
SAMPLED = ("lime", "relax", "smoothgrad")


@pytest.fixture(autouse=True)
def _full_float32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def assert_same_map(cpu: np.ndarray, gpu: np.ndarray, name: str) -> None:
    assert cpu.shape == gpu.shape, name
    seen = np.isfinite(cpu)
    assert np.array_equal(seen, np.isfinite(gpu)), f"{name}: the unseen pixels differ"
    cpu, gpu = cpu[seen].astype(np.float64), gpu[seen].astype(np.float64)
    scale = float(np.abs(cpu).max())
    relative = SAMPLED_RELATIVE if any(word in name for word in SAMPLED) else RELATIVE
    assert float(np.abs(cpu - gpu).max()) <= relative * scale + 1e-12, f"{name}: CUDA differs from CPU"
    if scale > 0 and cpu.std() > 0:
        assert np.corrcoef(cpu, gpu)[0, 1] > 0.999, name


def methods_for(model, modality: str) -> list[str]:
    load_builtin_methods()
    return [info.name for info in list_methods(modality) if unavailable_reason(info, model) is None]


@pytest.mark.parametrize("spec, modality, sample", [("demo:digits", "image", "digits_3.png"),
                                                    ("demo:sounds", "audio", "sounds_chirp.wav")])
def test_every_method_gives_the_cpu_result_on_cuda(spec, modality, sample):
    model = load_model(spec)
    explain, data = ((explain_image, load_image(resource_path("samples", sample)).pixels) if modality == "image"
                     else (explain_audio, load_clip(resource_path("samples", sample))))
    names = methods_for(model, modality)
    assert len(names) > 5
    for name in names:
        torch.manual_seed(0)
        cpu = explain(model, data, name).relevance
        torch.manual_seed(0)
        with model_on_device(model, "cuda") as on_gpu:
            gpu = explain(on_gpu, data, name).relevance
        assert next(model.module.parameters()).device.type == "cpu", "the model is moved back to the CPU"
        assert_same_map(cpu, gpu, f"{modality} {name}")


@pytest.mark.parametrize("batched", [True, False])
def test_a_dataset_run_on_cuda_matches_the_cpu_run(tmp_path, batched):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("digits_0.png", "digits_3.png", "digits_7.png"):
        (folder / name).write_bytes(resource_path("samples", name).read_bytes())
    methods = ["lrp.epsilon_plus_flat", "gradient.integrated", "occlusion"]
    runs = {}
    for device in ("cpu", "cuda"):
        run_batch(folder, tmp_path / device, "demo:digits", methods, device=device, use_batched=batched)
        runs[device] = read_run(tmp_path / device)
    gpu_rows = {(row.file, row.method): row for row in runs["cuda"].rows}
    assert len(gpu_rows) == len(runs["cpu"].rows) == 9
    for row in runs["cpu"].rows:
        gpu_row = gpu_rows[(row.file, row.method)]
        assert gpu_row.predicted == row.predicted
        cpu = np.load(runs["cpu"].path(row.relevance))
        gpu = np.load(runs["cuda"].path(gpu_row.relevance))
        assert_same_map(cpu, gpu, f"{row.method} {row.file}")
