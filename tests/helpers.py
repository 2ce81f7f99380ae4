"""Helpers shared by the method tests: a network wrapped as a model, and a registered method called directly.

Test modules import this module by name (``import helpers``): pytest puts ``tests/`` on ``sys.path`` for the
modules and the ``conftest.py`` in it. A module whose models share other defaults binds them once with
:func:`functools.partial`, e.g. ``loaded = partial(helpers.loaded, size=(8, 8), mean=0.5, std=0.25)``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

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


#: The method the SpRAy tests' run folders hold.
SPRAY_METHOD = "lrp.epsilon_plus_flat"


def planted_maps(rng, sizes=(24, 16, 10), side=40):
    """Maps with one bright blob at a group-specific place (jittered, random strength, noise)."""
    centres = [(6, 6), (30, 30), (6, 32)]
    yy, xx = np.mgrid[0:side, 0:side]
    maps, truth = [], []
    for group, count in enumerate(sizes):
        for _ in range(count):
            cy, cx = np.array(centres[group]) + rng.integers(-2, 3, 2)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 20.0)
            maps.append(rng.uniform(0.5, 3.0) * blob + rng.normal(0, 0.05, (side, side)))
            truth.append(group)
    return np.array(maps), np.array(truth)


def make_run(root, maps, *, targets=None, methods=None, true_classes=None, source=None):
    """A batch run folder in the shared format (run.json, index.csv, items/<method>/...)."""
    root.mkdir(parents=True, exist_ok=True)
    n = len(maps)
    targets = targets or [0] * n
    methods = methods or [SPRAY_METHOD] * n
    true_classes = true_classes or ["horse"] * n
    labels = {0: "horse", 1: "other"}
    run = {"format": "xaidesk-batch/1", "source": str(source or root / "inputs"), "modality": "image",
           "model": "demo:clever_hans", "methods": [{"name": m, "params": {}} for m in sorted(set(methods))],
           "device": "cpu", "shard": None, "created": "2026-01-01T00:00:00", "finished": "2026-01-01T00:01:00"}
    (root / "run.json").write_text(json.dumps(run))
    lines = ["file,true_class,predicted,predicted_label,score,target,target_label,method,relevance,thumbnail,seconds"]
    for i, (m, t, method, cls) in enumerate(zip(maps, targets, methods, true_classes)):
        stem = f"{cls}/img_{i:03d}"
        rel, thumb = f"items/{method}/{stem}.npy", f"items/{method}/{stem}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        np.save(root / rel, np.asarray(m, dtype=np.float32))
        grey = (np.clip(np.abs(m) / (np.abs(m).max() + 1e-9), 0, 1) * 255).astype(np.uint8)
        Image.fromarray(grey).convert("RGB").save(root / thumb)
        lines.append(f"{stem}.png,{cls},{t},{labels[t]},1.5,{t},{labels[t]},{method},{rel},{thumb},0.01")
    (root / "index.csv").write_text("\n".join(lines) + "\n")
    return root
