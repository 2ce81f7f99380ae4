"""Reading and checking an ONNX graph: the file, its operator domains, its single image input, its weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...core import ModelError

#: Operator domains onnxruntime runs without a custom-operator library.
STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft")

_FLOAT_TYPES = {1: np.float32, 10: np.float16, 11: np.float64}  # onnx.TensorProto FLOAT, FLOAT16, DOUBLE
_TYPE_NAMES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 8: "string", 9: "bool",
               10: "float16", 11: "float64"}


@dataclass
class _InputInfo:
    name: str
    dtype: Any
    batch: int                 # 0: dynamic
    channels: int | None
    size: tuple[int | None, int | None]


def _read_proto(path: Path):
    """The file's ModelProto, checked by ``onnx.checker``; a plain :class:`ModelError` for anything else."""
    import onnx

    try:
        proto = onnx.load(str(path))
    except Exception as error:  # noqa: BLE001 - protobuf's DecodeError, OSError, ValueError, ... on damaged files
        raise _not_onnx(path, error) from error
    if not proto.graph.node or not proto.graph.output or not proto.opset_import:
        raise _not_onnx(path, ValueError("no graph, outputs or operator set in the file"))
    try:
        onnx.checker.check_model(proto)
    except ValueError:  # larger than 2 GB in memory: check from the file
        try:
            onnx.checker.check_model(str(path))
        except Exception as error:  # noqa: BLE001
            raise _not_onnx(path, error) from error
    except Exception as error:  # noqa: BLE001 - onnx.checker.ValidationError and friends
        raise _not_onnx(path, error) from error
    return proto


def _not_onnx(path: Path, error: BaseException) -> ModelError:
    return ModelError(
        f"{path.name} could not be read as an ONNX model: it may be damaged or incomplete, or it is not an "
        "ONNX file. Check that the file copied fully, or export the model to ONNX again.",
        details=f"{type(error).__name__}: {error}",
    )


def _all_nodes(graph):
    """Every node of ``graph`` (a GraphProto or FunctionProto) and of its subgraphs (If, Loop, Scan bodies)."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _all_nodes(attribute.g)
            for sub in attribute.graphs:
                yield from _all_nodes(sub)


def _node_label(node, index: int) -> str:
    return node.name or (node.output[0] if node.output else f"#{index}")


def check_operator_domains(proto, name: str) -> None:
    """Refuse a model with operators from a custom domain (they need a custom-operator library).

    The main graph, its subgraphs and the bodies of the model's local functions are checked; a call
    of a local function is not itself a custom operator.

    Raises
    ------
    ModelError
        Naming the first such operator, its node and (inside a function) the function.
    """
    local = {(f.domain, f.name) for f in proto.functions}
    bodies = [(proto.graph, "")] + [(f, f" in the function '{f.name}'") for f in proto.functions]
    for body, where in bodies:
        for index, node in enumerate(_all_nodes(body)):
            if node.domain not in STANDARD_DOMAINS and (node.domain, node.op_type) not in local:
                raise ModelError(
                    f"{name} uses the operator '{node.op_type}' (node '{_node_label(node, index)}'{where}) from the "
                    f"custom domain '{node.domain}', which needs a custom-operator library (program code). xaidesk "
                    "never loads such libraries: export the model with standard ONNX operators."
                )


def _dim(d) -> int | None:
    return int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None


def _input_info(proto, name: str) -> _InputInfo:
    initializers = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        listed = ", ".join(f"'{i.name}'" for i in inputs) or "none"
        raise ModelError(
            f"{name} has {len(inputs)} inputs ({listed}); xaidesk explains image models with one input, a batch "
            "of pictures (N x C x H x W). Export the model with the image as its only input."
        )
    value = inputs[0]
    if not value.type.HasField("tensor_type"):
        raise ModelError(f"{name}'s input '{value.name}' is not a tensor; xaidesk explains image models whose input "
                         "is a batch of pictures (N x C x H x W).")
    kind = value.type.tensor_type.elem_type
    dims = list(value.type.tensor_type.shape.dim) if value.type.tensor_type.HasField("shape") else None
    rank = len(dims) if dims is not None else None
    if kind not in _FLOAT_TYPES or rank != 4:
        described = f"{_TYPE_NAMES.get(kind, 'type ' + str(kind))} values" + (f" of rank {rank}" if rank else "")
        raise ModelError(
            f"{name}'s input '{value.name}' takes {described}, not a batch of pictures (N x C x H x W floating-point "
            "numbers); xaidesk explains image models. Text and table models cannot be opened here."
        )
    batch, channels, height, width = (_dim(d) for d in dims)
    if channels not in (None, 1, 3):
        hint = (" Its last axis has 3 or 1 entries: it seems to take channels last (N x H x W x C), which xaidesk "
                "does not support; export it with channels first." if _dim(dims[3]) in (1, 3) else "")
        raise ModelError(f"{name}'s input has {channels} channels; xaidesk explains images with 3 (colour) or 1 "
                         f"(grey) channels.{hint}")
    return _InputInfo(value.name, _FLOAT_TYPES[kind], batch or 0, channels, (height, width))


def _check_initializers(proto, name: str) -> None:
    from onnx import numpy_helper

    for tensor in proto.graph.initializer:
        if tensor.data_type not in (1, 10, 11):
            continue
        values = numpy_helper.to_array(tensor)
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        if bad:
            raise ModelError(
                f"{name} holds {bad} invalid weight value(s) (NaN or infinity) in '{tensor.name}'; such a model gives "
                "meaningless scores. The file may be damaged or its training diverged: use another copy."
            )
