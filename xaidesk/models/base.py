"""The loaded-model record every method and view works with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .preprocessing import Preprocessing


@dataclass
class LoadedModel:
    """A model ready to explain.

    Attributes
    ----------
    spec
        The spec string it was loaded from (``demo:digits``, ``torchvision:vgg16:PATH``, ``file:PATH``).
    name
        A short display name.
    module
        The network in eval mode (an ``nn.Module`` or a TorchScript module).
    preprocessing
        How inputs are prepared; relevance is mapped back through it.
    class_names
        One label per output.
    architecture
        Architecture key used to choose LRP canonizers (``"vgg16"``, ``"resnet18"``,
        ``"mobilenet_v2"``, ``"demo_cnn"``, or ``"unknown"``).
    is_torchscript
        TorchScript models work with gradient methods and occlusion but not LRP.
    modality
        ``"image"`` or ``"audio"`` (log-mel spectrogram models, see :mod:`xaidesk.models.audio`).
    notes
        Plain-language notes gathered while loading (shown in the GUI), plain strings; a note that
        is about the class names or the preprocessing is a :class:`Note` of that ``kind``, so that a
        label file or a hand-set preprocessing can drop it.
    frontend
        For audio models: the spectrogram front-end (an ``AudioFrontEnd`` from
        :mod:`xaidesk.models.audio`) that turns a waveform into model input.
    embedding_only
        True when the model outputs a representation (e.g. VGGish's 128-d embedding without a
        classifier head) rather than class scores: only label-free methods (RELAX) apply.
    label_file
        The label file whose class names replaced the model's own, if one was given.
    preprocessing_set_by_hand
        True when the preprocessing was set by the person rather than read from the source.
    runtime
        What scores inputs: ``"torch"``, or ``"onnxruntime"`` for ONNX models
        (:mod:`xaidesk.models.onnx`).
    perturbation_module
        The module that scores inputs for predictions and for the methods that only call the model
        (occlusion, LIME, RELAX, faithfulness curves), when it is not ``module``: for ONNX models
        the onnxruntime session, while ``module`` is the network converted to PyTorch for gradient
        methods and LRP. Read it through :attr:`scoring_module`.
    gradient_refusal
        Why gradient methods and LRP cannot run on this model (one plain sentence), or ``None``.
        Set when an ONNX graph has no faithful PyTorch conversion; ``module`` is then the
        onnxruntime wrapper, which refuses inputs that require gradients with this sentence.
    """

    spec: str
    name: str
    module: torch.nn.Module
    preprocessing: Preprocessing
    class_names: list[str]
    architecture: str = "unknown"
    is_torchscript: bool = False
    modality: str = "image"
    notes: list[str] = field(default_factory=list)
    frontend: Any = None
    embedding_only: bool = False
    label_file: str | None = None
    preprocessing_set_by_hand: bool = False
    runtime: str = "torch"
    perturbation_module: Any = None
    gradient_refusal: str | None = None

    @property
    def scoring_module(self) -> Any:
        """The module that scores inputs for predictions and model-calling methods (see ``perturbation_module``)."""
        return self.module if self.perturbation_module is None else self.perturbation_module

    @property
    def num_classes(self) -> int:
        """The number of outputs (class names)."""
        return len(self.class_names)

    def with_preprocessing(self, preprocessing: Preprocessing) -> "LoadedModel":
        """A copy that prepares inputs with ``preprocessing``, set by hand; the source's own notes
        about how to prepare inputs, which no longer hold, are dropped."""
        from dataclasses import replace

        notes = notes_without(self.notes, PREPROCESSING)
        return replace(self, preprocessing=preprocessing, preprocessing_set_by_hand=True,
                       notes=[*notes, Note("Preprocessing set by hand.", PREPROCESSING)])

    def label(self, index: int) -> str:
        """The name of output ``index``, or ``class {index}`` outside the class names."""
        if 0 <= index < len(self.class_names):
            return self.class_names[index]
        return f"class {index}"


#: Kind of a note about the class names (dropped when a label file names the classes).
CLASS_NAMES = "class_names"
#: Kind of a note about how inputs are prepared (dropped when the preprocessing is set by hand).
PREPROCESSING = "preprocessing"


class Note(str):
    """A model note (a plain string) that records what it is about.

    Parameters
    ----------
    text
        The note, in plain words.
    kind
        :data:`CLASS_NAMES`, :data:`PREPROCESSING`, or ``""`` for anything else.
    """

    kind: str

    def __new__(cls, text: str, kind: str = "") -> "Note":
        note = super().__new__(cls, text)
        note.kind = kind
        return note

    def __reduce__(self):
        return Note, (str(self), self.kind)


def note_kind(note: str) -> str:
    """The kind of ``note`` (``""`` for a plain string)."""
    return getattr(note, "kind", "")


def notes_without(notes: list[str], kind: str) -> list[str]:
    """``notes`` less those of ``kind``."""
    return [note for note in notes if note_kind(note) != kind]


def check_finite_weights(module: torch.nn.Module, name: str) -> None:
    """Refuse a model whose weights hold NaN or infinity: everything it computes would be meaningless.

    Raises
    ------
    ModelError
        Naming how many values are invalid and the first layer that holds them.
    """
    from ..core import ModelError

    bad, first = 0, None
    for key, tensor in module.state_dict().items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            count = int((~torch.isfinite(tensor)).sum())
            if count and first is None:
                first = key
            bad += count
    if bad:
        raise ModelError(
            f"{name} holds {bad} invalid weight value(s) (NaN or infinity), first in '{first}'; such a model "
            "gives meaningless scores. The file may be damaged or its training diverged: use another copy."
        )
