"""Helpers shared by the method tests: a network wrapped as a model, and a registered method called directly.

Test modules import this module by name (``import helpers``): pytest puts ``tests/`` on ``sys.path`` for the
modules and the ``conftest.py`` in it. A module whose models share other defaults binds them once with
:func:`functools.partial`, e.g. ``loaded = partial(helpers.loaded, size=(8, 8), mean=0.5, std=0.25)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from xaidesk.core import CancelToken, get_method
from xaidesk.models.base import LoadedModel
from xaidesk.models.preprocessing import Preprocessing


def loaded(net, size, *, channels: int = 3, classes: int | None = None, class_names: Sequence[str] | None = None,
           mean: float | Sequence[float] = 0.0, std: float | Sequence[float] = 1.0, architecture: str = "unknown",
           torchscript: bool = False) -> LoadedModel:
    """``net`` in eval mode as a model to explain, with spec and name ``"test"``.

    Parameters
    ----------
    net
        An ``nn.Module`` or a TorchScript module.
    size
        Input (height, width), or one number for a square input.
    channels
        3 (``"rgb"``) or 1 (``"gray"``).
    classes
        How many outputs; by default the width of ``net``'s output on a zero input.
    class_names
        One label per output; by default ``c0``, ``c1``, ... for ``classes`` outputs.
    mean, std
        Normalisation: one number for every channel, or one per channel.
    architecture, torchscript
        As in :class:`~xaidesk.models.base.LoadedModel` (``architecture``, ``is_torchscript``).
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    if class_names is None:
        if classes is None:
            with torch.no_grad():
                classes = net(torch.zeros(1, channels, *size)).shape[1]
        class_names = [f"c{i}" for i in range(classes)]

    def per_channel(value):
        return tuple(value) if isinstance(value, Sequence) else (value,) * channels

    return LoadedModel(
        spec="test", name="test", module=net.eval(),
        preprocessing=Preprocessing(size=size, mean=per_channel(mean), std=per_channel(std),
                                    channels="rgb" if channels == 3 else "gray"),
        class_names=list(class_names), architecture=architecture, is_torchscript=torchscript,
    )


def run(name: str, model: LoadedModel, x: torch.Tensor, target: int, *, token: CancelToken | None = None,
        progress=None, **params):
    """Call the registered method ``name`` on the input tensor ``x`` with its parameters resolved from ``params``.

    ``token`` defaults to a fresh :class:`~xaidesk.core.CancelToken`, ``progress`` to a callback that ignores
    everything.
    """
    info = get_method(name)
    return info.function(model, x, target, params=info.resolve_params(params), token=token or CancelToken(),
                         progress=progress or (lambda *a, **k: None))


def run_in_tab(qtbot, tab, method: str, *, timeout: int = 30_000, **params):
    """Choose ``method`` in an Images or Audio tab, set ``params`` in its form, press Run and wait.

    Returns the new result (the newest history entry).
    """
    count = len(tab.history)
    assert tab.select_method(method)
    for name, value in params.items():
        tab.param_form.set_value(name, value)
    assert tab.run_explanation() is not None
    qtbot.waitUntil(lambda: len(tab.history) == count + 1 and not tab.is_running(), timeout=timeout)
    return tab.history[0]


def write_molecules(tmp_path: Path, n: int = 24) -> tuple[Path, Path]:
    """``n`` small C/H/O molecules with a made-up additive energy, written as .xyz files and energies.txt."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "xyz"
    folder.mkdir()
    per_atom = {"H": -60.0, "C": -150.0, "O": -100.0}
    lines = []
    for k in range(n):
        atoms = ["C"] * int(rng.integers(1, 4)) + ["O"] * int(rng.integers(0, 2)) + ["H"] * int(rng.integers(2, 7))
        pos = rng.normal(scale=1.5, size=(len(atoms), 3))
        body = "\n".join(f"{a} {x:.4f} {y:.4f} {z:.4f}" for a, (x, y, z) in zip(atoms, pos))
        name = f"{k:04d}.xyz"
        (folder / name).write_text(f"{len(atoms)}\nsynthetic\n{body}\n")
        energy = sum(per_atom[a] for a in atoms) + rng.normal(scale=0.5)
        lines.append(f"set/{name} {energy:.4f}")
    energies = tmp_path / "energies.txt"
    energies.write_text("\n".join(lines) + "\n")
    return folder, energies
