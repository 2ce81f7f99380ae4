"""Shared test set-up: headless Qt, few threads, fixed seeds."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)

from xaidesk.explain import load_builtin_methods  # noqa: E402

load_builtin_methods()


@pytest.fixture(autouse=True)
def _fixed_seeds():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


def _slow_copy(model, seconds_per_forward=0.02):
    """The same model, made slow: every forward pass sleeps (for cancel tests)."""
    import time
    from dataclasses import replace

    class Slow(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            time.sleep(seconds_per_forward)
            return self.inner(x)

    return replace(model, module=Slow(model.module).eval(), spec=model.spec + "+slow", name="slow " + model.name)


def _write_digits(folder, digits=(3, 8), per_class: int = 20):
    """Handwritten digits from scikit-learn, upscaled to 32x32 PNGs, one subfolder per digit."""
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    for digit in digits:
        sub = folder / f"digit_{digit}"
        sub.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(data.images[data.target == digit][:per_class]):
            pixels = (image / 16 * 255).astype(np.uint8)
            Image.fromarray(pixels).resize((32, 32), Image.BILINEAR).convert("RGB").save(sub / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="session")
def slow_copy():
    """``slow_copy(model, seconds_per_forward)``: the model with a sleep in every forward pass."""
    return _slow_copy


@pytest.fixture(scope="session")
def write_digits():
    """``write_digits(folder, digits=(3, 8), per_class=20)``: a two-class folder of digit PNGs."""
    return _write_digits


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the test process with pytest's own status once everything has been reported.

    Now and then (one full run in three, once, on this machine) the interpreter's final clean-up, after the last
    report, crashes in Qt's multimedia and widget destructors (signal 11), turning a green run red.
    Nothing is left to report or write by then, so the process ends here without that clean-up.
    """
    import sys

    status = getattr(config, "_xaidesk_exit_status", None)
    if status is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(status))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    session.config._xaidesk_exit_status = exitstatus
