"""One fine-tuning loop for every repair that trains: progress, cancel, and checkpoints that resume exactly.

A run is reproducible from its seed: the order of each epoch's batches comes from a generator
seeded with ``(seed, epoch)``, and each batch runs with torch's random state forked and seeded
with ``(seed, epoch, batch)`` (dropout) and hands the loss its own generator seeded the same
way (pasted artefacts). A checkpoint holds the weights, the optimiser and the position (epoch
and batch), so a run cancelled and resumed gives the same weights as a run that was never
interrupted. It also records which run it belongs to: the settings, the method's identity, the
images and the starting weights.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..core import CancelToken, Cancelled, InputError, MethodError, no_progress
from ..core.cancel import Step
from .data import ImageSet

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass(frozen=True)
class TrainingSettings:
    """How to fine-tune.

    Attributes
    ----------
    epochs
        Passes over the training images.
    batch_size
        Images per step.
    learning_rate
        Adam's step size.
    seed
        Fixes the batch order and every random choice of the loss.
    checkpoint_every
        Save a checkpoint every this many batches (and at the end of each epoch and on cancel).
    train_batch_norm
        Update batch-norm statistics while training (off: they stay as the model learned them,
        which suits a few epochs on a small folder).
    """

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    seed: int = 0
    checkpoint_every: int = 50
    train_batch_norm: bool = False

    def check(self) -> None:
        """Refuse settings that cannot train, in plain words."""
        if int(self.epochs) < 1:
            raise InputError(f"Train for at least 1 epoch (not {self.epochs}).")
        if int(self.batch_size) < 1:
            raise InputError(f"The batch size must be at least 1 (not {self.batch_size}).")
        rate = float(self.learning_rate)
        if not (rate > 0.0 and rate < 1.0):
            raise InputError(f"The learning rate must be a small positive number such as 0.0001 (not {self.learning_rate}).")


@dataclass
class BatchContext:
    """What a loss function gets besides the batch: where it is, and its own seeded generator."""

    epoch: int
    step: int
    generator: torch.Generator


#: ``loss(module, inputs, labels, context) -> (loss, {"name": value, ...})``
LossFunction = Callable[[nn.Module, torch.Tensor, torch.Tensor, BatchContext], "tuple[torch.Tensor, dict]"]


@dataclass
class TrainingHistory:
    """The loss and its parts, averaged per epoch, and how the run went."""

    epochs: list[dict] = field(default_factory=list)
    resumed_from: tuple[int, int] | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "resumed_from": self.resumed_from, "seconds": self.seconds}

    def table(self):
        """``training_history.csv``: one row per epoch, one column per loss part."""
        from .result import Table

        keys = sorted({k for row in self.epochs for k in row if k != "epoch"})
        return Table("training_history.csv", ["epoch", *keys],
                     [[int(row["epoch"]), *[float(row.get(k, float("nan"))) for k in keys]] for row in self.epochs])


def _fingerprint(settings: TrainingSettings, identity: dict, data: ImageSet, module: nn.Module) -> str:
    """What makes two runs the same run: the settings, the caller's identity, the images and the starting weights."""
    digest = hashlib.sha256()
    for key, value in module.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                      if value.numel() else b"")
    digest.update(json.dumps({"settings": asdict(settings), "identity": identity}, sort_keys=True,
                             default=str).encode())
    digest.update(data.labels.numpy().tobytes())
    digest.update(data.inputs[:, :, ::4, ::4].contiguous().numpy().tobytes())  # every 16th pixel suffices
    return digest.hexdigest()[:16]


def _generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch * 101 + stream)


def _set_mode(module: nn.Module, settings: TrainingSettings) -> None:
    module.train()
    if not settings.train_batch_norm:
        for layer in module.modules():
            if isinstance(layer, nn.modules.batchnorm._BatchNorm):
                layer.eval()


def _save_checkpoint(path: Path, module, optimiser, epoch: int, step: int, history, fingerprint: str, sums) -> None:
    from ..core.io import write_bytes_atomic
    import io

    buffer = io.BytesIO()
    torch.save({
        "fingerprint": fingerprint, "epoch": epoch, "step": step, "sums": sums,
        "model": module.state_dict(), "optimiser": optimiser.state_dict(),
        "history": history.epochs,
    }, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def finetune(
    module: nn.Module,
    data: ImageSet,
    loss: LossFunction,
    settings: TrainingSettings,
    *,
    checkpoint_dir: str | Path | None = None,
    identity: dict | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    token: CancelToken | None = None,
    progress=no_progress,
) -> TrainingHistory:
    """Fine-tune ``module`` in place on ``data`` with ``loss``; return the per-epoch history.

    Parameters
    ----------
    module
        The network to train (a copy the caller owns; its parameters get gradients for the run).
    data
        The training images and labels.
    loss
        Computes the batch loss (see :data:`LossFunction`).
    settings
        Epochs, batch size, learning rate, seed.
    checkpoint_dir
        Where to keep ``checkpoint.pt``. A checkpoint there from the same settings and
        ``identity`` is resumed; one from other settings is refused rather than overwritten.
    identity
        What else makes a run the same run (the method and its options); the images and the starting
        weights always count.
    after_step
        Called with the module after every optimiser step (for example to keep pruned units at zero).
    """
    settings.check()
    token = token or CancelToken()
    if len(data) == 0:
        raise InputError("There are no training images.")
    fingerprint = _fingerprint(settings, identity or {}, data, module)
    params = [p for p in module.parameters()]
    for p in params:
        p.requires_grad_(True)
    optimiser = torch.optim.Adam(params, lr=float(settings.learning_rate))
    history = TrainingHistory()
    start_epoch, start_step, sums = 0, 0, {}
    path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if path is not None and path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != fingerprint:
            raise InputError(
                f"'{path.parent}' holds a checkpoint of another training run (other settings, method or images). "
                "Choose a new folder, or delete the checkpoint to start over."
            )
        module.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        history.epochs = list(state["history"])
        start_epoch, start_step, sums = int(state["epoch"]), int(state["step"]), dict(state["sums"])
        history.resumed_from = (start_epoch, start_step)
    n = len(data)
    per_epoch = (n + settings.batch_size - 1) // settings.batch_size
    total = per_epoch * settings.epochs
    began = time.monotonic()
    epoch, step = start_epoch, start_step
    try:
        for epoch in range(start_epoch, settings.epochs):
            order = torch.randperm(n, generator=_generator(settings.seed, epoch, 0))
            first = start_step if epoch == start_epoch else 0
            if first == 0:
                sums = {}
            _set_mode(module, settings)
            for step in range(first, per_epoch):
                token.check()
                index = order[step * settings.batch_size:(step + 1) * settings.batch_size]
                context = BatchContext(epoch, step, _generator(settings.seed, epoch, 1 + step))
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(int(context.generator.initial_seed()))
                    value, parts = loss(module, data.inputs[index], data.labels[index], context)
                    if not torch.isfinite(value):
                        raise MethodError(
                            f"Training diverged at epoch {epoch + 1}, batch {step + 1}: the loss is not a finite "
                            "number. Choose a smaller learning rate."
                        )
                    optimiser.zero_grad(set_to_none=True)
                    value.backward()
                optimiser.step()
                if after_step is not None:
                    with torch.no_grad():
                        after_step(module)
                for key, item in {"loss": float(value.detach()), **{k: float(torch.as_tensor(v).detach()) for k, v in parts.items()}}.items():
                    sums[key] = sums.get(key, 0.0) + item * len(index)
                sums["images"] = sums.get("images", 0.0) + len(index)
                done = epoch * per_epoch + step + 1
                progress(done / total, Step.count(f"Training, epoch {epoch + 1} of {settings.epochs}", done, total,
                                                  "batches"))
                if path is not None and (step + 1) % max(1, settings.checkpoint_every) == 0 and step + 1 < per_epoch:
                    _save_checkpoint(path, module, optimiser, epoch, step + 1, history, fingerprint, sums)
            count = sums.pop("images", 1.0)
            history.epochs.append({"epoch": epoch + 1, **{k: v / count for k, v in sums.items()}})
            sums = {}
            if path is not None:
                _save_checkpoint(path, module, optimiser, epoch + 1, 0, history, fingerprint, {})
    except Cancelled:
        if path is not None:
            _save_checkpoint(path, module, optimiser, epoch, step, history, fingerprint, sums)
        raise
    finally:
        module.eval()
        for p in params:
            p.requires_grad_(False)
    history.seconds = time.monotonic() - began
    return history


def cross_entropy_loss(module: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, context: BatchContext):
    """Plain cross-entropy: the loss of an ordinary fine-tune."""
    value = nn.functional.cross_entropy(module(inputs), labels)
    return value, {}


def accuracy(module: nn.Module, data: ImageSet, batch_size: int = 256) -> float:
    """The share of ``data`` that ``module`` classifies correctly (NaN for an empty set)."""
    if len(data) == 0:
        return float("nan")
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            logits = module(data.inputs[start:start + batch_size])
            correct += int((logits.argmax(1) == data.labels[start:start + batch_size]).sum())
    return correct / len(data)
