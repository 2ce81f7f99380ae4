"""The ``onnx:PATH`` loader: read and check the graph, open the session, test it, convert it."""

from __future__ import annotations

from pathlib import Path

import torch

from ...core import ModelError
from ..base import LoadedModel
from ..preprocessing import Preprocessing
from .conversion import convert_to_torch
from .graph import _check_initializers, _input_info, _InputInfo, _read_proto, check_operator_domains
from .metadata import choose_class_names, choose_preprocessing
from .session import OnnxRuntimeModule, make_session

def _test_run(scorer: OnnxRuntimeModule, info: _InputInfo, preprocessing: Preprocessing, name: str,
              notes: list[str]) -> torch.Tensor:
    """Run the session on zero inputs; set the batch handling and output shapes; return the scores."""
    shape = (preprocessing.num_channels, *preprocessing.size)
    count = info.batch or 2
    try:
        outputs = scorer.run(torch.zeros(count, *shape), scorer.output_names)
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001 - onnxruntime's own errors
        if info.batch:
            raise _failed(name, shape, error) from error
        try:  # a graph that declares a dynamic batch but only runs one sample at a time
            outputs = scorer.run(torch.zeros(1, *shape), scorer.output_names)
        except Exception as single:  # noqa: BLE001
            raise _failed(name, shape, single) from single
        scorer.batch = 1
        notes.append("The model fails on batches of several inputs: samples run one at a time (slower).")
    if scorer.batch == 1 and info.batch == 1:
        notes.append("The model takes one input at a time (batch size 1): samples run one by one (slower).")
    elif scorer.batch > 1:
        notes.append(f"The model takes batches of exactly {scorer.batch}: samples run in groups of {scorer.batch}.")
    scores, inputs = outputs[0], (scorer.batch or count)
    if scores.ndim != 2 or scores.shape[0] != inputs:
        raise ModelError(
            f"{name} returns {tuple(scores.shape)} for {inputs} input(s); xaidesk "
            "expects one row of class scores per input (inputs x classes) as the first output."
        )
    for output_name, value in zip(scorer.output_names, outputs):
        scorer.output_shapes[output_name] = tuple(int(v) for v in value.shape[1:])
    return scores


def _failed(name: str, shape, error: BaseException) -> ModelError:
    text = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    return ModelError(
        f"{name} failed on a test input of {'x'.join(map(str, shape))} (channels x height x width): {text}. "
        "Check the preprocessing (size and channels) it needs.",
        details=f"{type(error).__name__}: {error}",
    )


def load_onnx(path: str | Path, *, spec: str | None = None) -> LoadedModel:
    """Load ``onnx:PATH`` (see the docstring of :mod:`xaidesk.models.onnx`).

    Raises
    ------
    ModelError
        For a missing, damaged or non-ONNX file, custom operators, several or non-image inputs,
        outputs that are not one row of class scores per input, and NaN or infinite weights or scores.
    """
    from ..files import read_sidecar

    path = Path(path).expanduser()
    spec = spec or f"onnx:{path}"
    if not path.is_file():
        from ...core.io import missing_path_message

        if path.is_dir():
            raise ModelError(f"{path} is a folder, not an ONNX file. Choose the .onnx file inside it.")
        raise ModelError(missing_path_message(path, "ONNX file"))
    name = path.name
    proto = _read_proto(path)
    check_operator_domains(proto, name)
    info = _input_info(proto, name)
    _check_initializers(proto, name)
    metadata = {p.key: p.value for p in proto.metadata_props}
    notes: list[str] = ["Runs in onnxruntime (CPU)."]
    sidecar = read_sidecar(path)
    preprocessing = choose_preprocessing(metadata, sidecar, info, name, notes)
    try:
        session = make_session(path)
    except Exception as error:  # noqa: BLE001 - onnxruntime refuses unsupported operator sets, types, ...
        text = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ModelError(f"onnxruntime cannot run {name}: {text}. Export the model again with a standard "
                         "operator set.", details=f"{type(error).__name__}: {error}") from error
    outputs = [o.name for o in session.get_outputs()]
    scorer = OnnxRuntimeModule(session, name, info.name, info.dtype, info.batch, info.size, info.channels, outputs)
    scorer.eval()
    scores = _test_run(scorer, info, preprocessing, name, notes)
    count = int(scores.shape[1])
    if len(outputs) > 1:
        notes.append(f"Intermediate outputs RELAX can compare: {', '.join(outputs[1:])}.")
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(scorer.batch or 2, preprocessing.num_channels, *preprocessing.size, generator=generator)
    converted, refusal, conversion_note = convert_to_torch(proto, scorer, sample)
    notes.append(conversion_note)
    scorer.gradient_refusal = refusal
    del proto
    return LoadedModel(
        spec=spec,
        name=name,
        module=converted if converted is not None else scorer,
        preprocessing=preprocessing,
        class_names=choose_class_names(metadata, sidecar, count, notes),
        notes=notes,
        runtime="onnxruntime",
        perturbation_module=scorer,
        gradient_refusal=refusal,
    )
