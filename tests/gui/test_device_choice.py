"""Where the model runs: the device pickers of the explaining tabs and the Dataset tab, and the jobs."""

import numpy as np
import pytest
import torch

from xaidesk.core import CancelToken, InputError
from xaidesk.gui import image_jobs
from xaidesk.gui.widgets.device_picker import CPU_ONLY_TIP, GPU_TIP, DevicePicker
from xaidesk.resources import resource_path


def test_the_picker_offers_cuda_only_when_there_is_one_and_keeps_the_choice(qtbot):
    picker = DevicePicker()
    qtbot.addWidget(picker)
    assert picker.device() == "cpu" and not picker.isEnabled() and picker.toolTip() == CPU_ONLY_TIP
    picker.set_devices(["cpu", "cuda"])
    assert picker.isEnabled() and picker.toolTip() == GPU_TIP
    picker.setCurrentIndex(picker.findData("cuda"))
    picker.set_devices(["cpu", "cuda"])
    assert picker.device() == "cuda"
    picker.set_devices(["cpu"])
    assert picker.device() == "cpu" and not picker.isEnabled()


def test_the_catalog_lists_the_devices_torch_finds(catalog):
    assert catalog.devices == ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_the_tabs_read_their_devices_from_the_catalog(make_window):
    window = make_window()
    for tab in (window.images_tab, window.audio_tab):
        assert [tab.device_picker.itemData(i) for i in range(tab.device_picker.count())] == window.catalog.devices
        assert tab.device() == "cpu"
    picker = window.dataset_tab.run_box.device_combo
    assert [picker.itemData(i) for i in range(picker.count())] == window.catalog.devices
    window.dataset_tab._update_enabled()
    assert picker.isEnabled() == (len(window.catalog.devices) > 1), "one choice is shown, not offered"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a computer without a CUDA GPU")
def test_an_explanation_on_a_missing_gpu_is_refused_plainly_and_the_model_stays_usable():
    model = image_jobs.load_image_model("demo:digits")
    pixels = image_jobs.open_image(resource_path("samples", "digits_3.png")).pixels
    with pytest.raises(InputError, match="no CUDA GPU"):
        image_jobs.explain(model, pixels, "gradient.sensitivity", None, {}, CancelToken(), None, device="cuda")
    cpu = image_jobs.explain(model, pixels, "gradient.sensitivity", None, {}, CancelToken(), None, device="cpu")
    assert np.isfinite(cpu.relevance).any()
