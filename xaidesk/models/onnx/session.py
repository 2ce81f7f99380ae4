"""ONNX models (``onnx:PATH``): scored by onnxruntime, explained by gradients through onnx2torch.

Predictions and every method that only calls the model (occlusion, LIME, RELAX, the
faithfulness curves, batch runs) go through an onnxruntime session on the CPU
(:class:`OnnxRuntimeModule`, the model's ``perturbation_module``). Gradient methods and LRP need
the network in PyTorch: the graph is converted with ``onnx2torch`` when every operator has a
conversion *and* the converted network reproduces onnxruntime's scores on a random input
(largest difference at most :data:`CONVERSION_TOLERANCE` times the largest score, at least 1).
Otherwise ``LoadedModel.module`` is the onnxruntime wrapper and ``gradient_refusal`` says which
operator stopped the conversion; the methods that need gradients are refused with that sentence.

How inputs are prepared is read, in this order, from

1. the graph's metadata (``metadata_props``): ``preprocessing`` (a JSON object as in a sidecar
   file: ``size``, ``resize``, ``mean``, ``std``, ``channels``, ``interpolation``), or the single keys
   ``size`` / ``image_size`` / ``input_size``, ``resize``, ``mean``, ``std``, ``channels``
   (numbers as JSON or separated by commas or spaces); class names from ``class_names`` /
   ``classes`` / ``labels`` (a JSON list or one name per line) or ``id2label`` (JSON object);
2. a sidecar ``PATH.json`` / ``PATH.classes.txt`` (:func:`~xaidesk.models.files.read_sidecar`);
3. the input's shape (size and channels); mean and std are then assumed (ImageNet's) and a note
   says they must be checked.

A file onnxruntime cannot run without a custom-operator library (an operator outside the
standard domains) is refused; no such library is ever loaded, and an ONNX file holds no Python.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core import MethodError, ModelError
from .base import CLASS_NAMES, PREPROCESSING, LoadedModel, Note
from .preprocessing import Preprocessing

#: Operator domains onnxruntime runs without a custom-operator library.
STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft")
#: The converted PyTorch network must match onnxruntime to within this share of the largest score.
CONVERSION_TOLERANCE = 1e-3
#: Metadata keys read for the preprocessing and the class names (see the module docstring).
PREPROCESSING_KEYS = ("preprocessing", "size", "image_size", "input_size", "resize", "mean", "std", "channels",
                      "interpolation")
CLASS_NAME_KEYS = ("class_names", "classes", "labels", "id2label")
#: Batch size below which onnxruntime's CPU throughput drops (ResNet-18, 224 px, 2 threads: batches of
#: 1-4 ran 1.5-2x slower per sample than batches of 16; ``bench/bench_onnx.py``).
PREFERRED_BATCH = 16
#: Input size assumed when the graph leaves height and width open and nothing else says.
DEFAULT_SIZE = 224

_FLOAT_TYPES = {1: np.float32, 10: np.float16, 11: np.float64}  # onnx.TensorProto FLOAT, FLOAT16, DOUBLE
_TYPE_NAMES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 8: "string", 9: "bool",
               10: "float16", 11: "float64"}


def session_threads() -> int:
    """Threads for onnxruntime's operators: as many as PyTorch uses (the CPUs this process may use)."""
    return max(1, int(torch.get_num_threads()))


def make_session(path: Path):
    """An onnxruntime session on the CPU, its options set once here (threads, optimisation, no spinning)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = session_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: warnings about unused initializers mean nothing to people
    # Threads sleep between runs instead of spinning: the CPU is shared with the GUI, the masks being
    # built and, on a busy machine, other programs (no measurable loss in bench/bench_onnx.py).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class _NamedOutput:
    """One output of an :class:`OnnxRuntimeModule` as an encoder (RELAX on an intermediate output)."""

    prefetch_batches = True

    def __init__(self, scorer: "OnnxRuntimeModule", name: str) -> None:
        self.scorer, self.name = scorer, name
        self.preferred_min_batch = scorer.preferred_min_batch

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.scorer.run(x, [self.name])[0]


class OnnxRuntimeModule(torch.nn.Module):
    """An onnxruntime session as a module: (B, C, H, W) float tensor in, first output's scores out.

    Batches are split into the session's fixed batch size where the graph has one (a last, shorter
    chunk is padded by repeating its last sample, and the padding's outputs dropped). Outputs that
    hold NaN or infinity are refused. Calling it on an input that requires gradients raises the
    model's ``gradient_refusal`` (onnxruntime computes no gradients).

    Parameters
    ----------
    session
        The onnxruntime ``InferenceSession``.
    name
        The model's display name, for messages.
    input_name, input_dtype
        The graph's image input and its element type.
    batch
        The fixed batch size of the graph, or 0 when the batch axis is dynamic.
    size
        Fixed (height, width) of the input, ``None`` entries where the graph leaves them open.
    output_names
        The graph's outputs; the first holds the class scores, the others are intermediate outputs
        (the layers RELAX may compare).
    """

    def __init__(self, session, name: str, input_name: str, input_dtype, batch: int,
                 size: tuple[int | None, int | None], channels: int | None, output_names: list[str]) -> None:
        super().__init__()
        self.session = session
        self.model_name = name
        self.input_name = input_name
        self.input_dtype = np.dtype(input_dtype)
        self.batch = int(batch)
        self.size = size
        self.channels = channels
        self.output_names = list(output_names)
        self.output_shapes: dict[str, tuple[int, ...]] = {}
        self.gradient_refusal: str | None = None

    @property
    def preferred_min_batch(self) -> int:
        """Smallest batch worth running (read by the perturbation engine): :data:`PREFERRED_BATCH`
        samples, rounded up to a whole number of the graph's fixed batches."""
        if self.batch <= 1:
            return PREFERRED_BATCH if self.batch == 0 else 1
        return self.batch * -(-PREFERRED_BATCH // self.batch)

    #: onnxruntime releases the GIL while it runs: the perturbation engine builds the next batch meanwhile.
    prefetch_batches = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The model's first output for ``x``, computed by onnxruntime."""
        return self.run(x)[0]

    def output_encoder(self, name: str) -> _NamedOutput:
        """A callable returning the graph output ``name`` for a batch (same batching and checks)."""
        return _NamedOutput(self, name)

    def run(self, x: torch.Tensor, outputs: list[str] | None = None) -> list[torch.Tensor]:
        """The named outputs (default: the class scores) for the batch ``x``, as float32 tensors."""
        if torch.is_grad_enabled() and x.requires_grad:
            raise MethodError(self.gradient_refusal or
                              f"{self.model_name} runs in onnxruntime, which computes no gradients.")
        names = list(outputs) if outputs else [self.output_names[0]]
        array = self._as_input(x)
        count = array.shape[0]
        if self.batch <= 0 or count == self.batch:
            results = self.session.run(names, {self.input_name: array})
        else:
            pieces = []
            for start in range(0, count, self.batch):
                chunk = array[start:start + self.batch]
                if chunk.shape[0] < self.batch:
                    pad = np.repeat(chunk[-1:], self.batch - chunk.shape[0], axis=0)
                    chunk = np.concatenate([chunk, pad])
                pieces.append(self.session.run(names, {self.input_name: chunk}))
            results = [np.concatenate([p[i] for p in pieces])[:count] for i in range(len(names))]
        tensors = []
        for name, value in zip(names, results):
            value = np.asarray(value)
            if value.dtype != np.float32:
                value = value.astype(np.float32)
            if not np.isfinite(value).all():
                raise ModelError(
                    f"{self.model_name} gave invalid values (NaN or infinity) in its output '{name}' for this "
                    "input, so nothing it says can be explained. Check the model file and its preprocessing."
                )
            tensors.append(torch.from_numpy(value))
        return tensors

    def _as_input(self, x: torch.Tensor) -> np.ndarray:
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise MethodError(f"{self.model_name} takes a batch of images (N x C x H x W), not {shape}.")
        expected = (self.channels, *self.size)
        got = tuple(int(v) for v in x.shape[1:])
        if any(e is not None and e != g for e, g in zip(expected, got)):
            want = "x".join("?" if e is None else str(e) for e in expected)
            raise MethodError(
                f"{self.model_name} takes inputs of {want} (channels x height x width) but was given "
                f"{'x'.join(map(str, got))}. Set the model's preprocessing to that size and those channels."
            )
        array = x.detach().cpu().numpy()
        if array.dtype != self.input_dtype:
            array = array.astype(self.input_dtype)
        return np.ascontiguousarray(array)

    def layers(self) -> list[tuple[str, str]]:
        """The intermediate outputs as ``(name, "name · C×h×w")`` (the graph's outputs after the first)."""
        result = []
        for name in self.output_names[1:]:
            shape = "×".join(str(d) for d in self.output_shapes.get(name, ())) or "scalar"
            result.append((name, f"{name} · graph output · {shape}"))
        return result


# --- reading and checking the graph -------------------------------------------------------------------


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


# --- preprocessing and class names ------------------------------------------------------------------


def _numbers(text: str, key: str) -> list[float]:
    text = text.strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = [v for v in re.split(r"[,\s;]+", text.strip("[]()")) if v]
    if isinstance(value, (int, float)):
        value = [value]
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError) as error:
        raise ModelError(f"The model's metadata entry '{key}' ({text[:60]!r}) is not a list of numbers.") from error


def _metadata_preprocessing(metadata: dict[str, str], name: str) -> dict | None:
    """The preprocessing the metadata describes, in sidecar form, or None when it says nothing."""
    if not any(key in metadata for key in PREPROCESSING_KEYS):
        return None
    data: dict = {}
    if "preprocessing" in metadata:
        try:
            data = json.loads(metadata["preprocessing"])
        except ValueError as error:
            raise ModelError(f"The 'preprocessing' metadata entry of {name} is not valid JSON; fix the export or "
                             "set the preprocessing by hand.", details=str(error)) from error
        if not isinstance(data, dict):
            raise ModelError(f"The 'preprocessing' metadata entry of {name} must be a JSON object {{...}}.")
    for key in ("size", "image_size", "input_size"):
        if key in metadata and "size" not in data:
            values = [int(v) for v in _numbers(metadata[key], key)]
            data["size"] = values[-2:] if len(values) >= 2 else values * 2
    for key in ("mean", "std"):
        if key in metadata:
            data[key] = _numbers(metadata[key], key)
    if "resize" in metadata:
        data["resize"] = int(_numbers(metadata["resize"], "resize")[0])
    for key in ("channels", "interpolation"):
        if key in metadata:
            data[key] = metadata[key].strip()
    return data


def _metadata_class_names(metadata: dict[str, str]) -> list[str] | None:
    for key in CLASS_NAME_KEYS:
        if key not in metadata:
            continue
        text = metadata[key].strip()
        try:
            value = json.loads(text)
        except ValueError:
            value = [line.strip() for line in text.splitlines() if line.strip()]
        if isinstance(value, dict):
            try:
                table = {int(k): str(v) for k, v in value.items()}
            except (TypeError, ValueError):
                continue
            if sorted(table) == list(range(len(table))):
                return [table[i] for i in range(len(table))]
        elif isinstance(value, list) and value:
            return [str(v) for v in value]
    return None


def choose_preprocessing(metadata: dict[str, str], sidecar, info: _InputInfo, name: str,
                         notes: list[str]) -> Preprocessing:
    """The preprocessing from the metadata, else the sidecar, else inferred from the input (with a note of kind
    ``PREPROCESSING``)."""
    from .demo import preprocessing_from_dict

    fixed_size = info.size if None not in info.size else None
    channels = {1: "gray", 3: "rgb"}.get(info.channels or 0)
    described = _metadata_preprocessing(metadata, name)
    if described is not None:
        given = set(described)
        described.setdefault("size", list(fixed_size or (DEFAULT_SIZE, DEFAULT_SIZE)))
        if channels:
            described.setdefault("channels", channels)
        try:
            preprocessing = preprocessing_from_dict(described, name=f"{name} metadata")
        except (TypeError, ValueError) as error:
            raise ModelError(f"The preprocessing in the metadata of {name} cannot be used: {error}. Set the "
                             "preprocessing by hand.", details=str(error)) from error
        notes.append(Note("Preprocessing from the model's metadata.", PREPROCESSING))
        if not {"mean", "std"} <= given:
            notes.append(Note("The metadata gives no mean and std: assumed ImageNet's. Check them and edit the "
                              "preprocessing if the model was trained otherwise.", PREPROCESSING))
    elif sidecar.preprocessing is not None:
        preprocessing = sidecar.preprocessing
        notes.append(Note(f"Preprocessing from {sidecar.source}.", PREPROCESSING))
    else:
        gray = channels == "gray"
        size = fixed_size or (DEFAULT_SIZE, DEFAULT_SIZE)
        preprocessing = Preprocessing(size=size, mean=(0.5,) if gray else (0.485, 0.456, 0.406),
                                      std=(0.5,) if gray else (0.229, 0.224, 0.225),
                                      channels="gray" if gray else "rgb", name="assumed")
        where = "the input's shape" if fixed_size else f"nothing ({DEFAULT_SIZE}x{DEFAULT_SIZE} assumed)"
        notes.append(Note(
            f"The model file does not say how to prepare inputs: size from {where}; mean and std were not given "
            f"and are assumed ({'0.5' if gray else 'ImageNet'}'s). Check them and edit the preprocessing.",
            PREPROCESSING))
    if fixed_size and tuple(preprocessing.size) != tuple(fixed_size):
        raise ModelError(
            f"{name} takes {fixed_size[0]}x{fixed_size[1]} inputs, but its description says "
            f"{preprocessing.size[0]}x{preprocessing.size[1]}. Correct the description or set the preprocessing by hand."
        )
    if info.channels and preprocessing.num_channels != info.channels:
        raise ModelError(f"{name} takes {info.channels}-channel inputs, but its description says "
                         f"{preprocessing.channels}. Correct the description or set the preprocessing by hand.")
    return preprocessing


def choose_class_names(metadata: dict[str, str], sidecar, count: int, notes: list[str]) -> list[str]:
    """The class names of an ONNX model: from its metadata, else its sidecar, else ImageNet's or ``class i``.

    Parameters
    ----------
    metadata
        The model's metadata properties.
    sidecar
        What the sidecar file said (:class:`~xaidesk.models.files.Sidecar`).
    count
        The model's number of outputs.
    notes
        The model's notes; notes about class names are of kind ``CLASS_NAMES``.
    """
    from .files import Sidecar, class_names_from_sidecar

    names = _metadata_class_names(metadata)
    if names is not None:
        if len(names) == count:
            notes.append(Note("Class names from the model's metadata.", CLASS_NAMES))
            return list(names)
        notes.append(Note(f"The model's metadata lists {len(names)} class names but the model has {count} "
                          "outputs; the names were ignored.", CLASS_NAMES))
    given = Sidecar(class_names=getattr(sidecar, "class_names", None), source=getattr(sidecar, "source", ""))
    return class_names_from_sidecar(given, count, notes)


# --- conversion to PyTorch --------------------------------------------------------------------------


def gradient_refusal_text(op_type: str, node: str) -> str:
    """Why gradient methods and LRP cannot run: the ONNX operator ``op_type`` of ``node`` has no PyTorch conversion."""
    return (f"LRP and gradient methods need the model in PyTorch; the ONNX operator '{op_type}' (node '{node}') "
            "has no PyTorch conversion. Occlusion, LIME and RELAX work on this model.")


def _interface(schema) -> tuple:
    """What an operator version takes and gives: attributes (with defaults), inputs and outputs."""
    attributes = tuple(sorted((name, int(a.type), a.default_value.SerializeToString())
                              for name, a in schema.attributes.items()))
    return (attributes, tuple((i.name, int(i.option)) for i in schema.inputs),
            tuple((o.name, int(o.option)) for o in schema.outputs))


def _converter_versions(node, opset: int) -> set[int]:
    """Operator-set versions <= ``opset`` at which onnx2torch converts ``node`` as the graph's version means it.

    A lower version counts when the operator's interface (attributes and their defaults, inputs,
    outputs) is the same as at ``opset``: later versions that only admit more element types
    (Identity 19 and 21, for example) are then converted by the older converter. The converted
    network is checked against onnxruntime all the same.
    """
    from onnx import defs
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, OperationDescription

    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    try:
        current = defs.get_schema(node.op_type, opset, domain)
    except Exception:  # noqa: BLE001 - an operator onnx has no schema for (com.microsoft contrib ops)
        return {opset} if OperationDescription(domain, node.op_type, opset) in _CONVERTER_REGISTRY else set()
    wanted = _interface(current)
    versions = set()
    for version in range(opset, 0, -1):
        try:
            schema = defs.get_schema(node.op_type, version, domain)
        except Exception:  # noqa: BLE001 - the operator did not exist yet
            break
        if _interface(schema) != wanted:
            break
        if OperationDescription(domain, node.op_type, schema.since_version) in _CONVERTER_REGISTRY:
            versions.add(version)
    return versions


def conversion_opset(proto) -> tuple[int | None, tuple[str, str] | None]:
    """``(operator-set version to convert with, None)``, or ``(None, (operator, node))`` naming what blocks it.

    The version is the graph's own when onnx2torch has every converter for it, else the highest
    older one at which every operator the graph uses is the same (see :func:`_converter_versions`).
    """
    versions = {o.domain or "": o.version for o in proto.opset_import}
    opset = versions.get("", versions.get("ai.onnx", 1))
    common: set[int] | None = None
    for index, node in enumerate(proto.graph.node):
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        own = _converter_versions(node, opset if domain == "" else versions.get(domain, 1))
        if domain != "":
            if not own:
                return None, (node.op_type, _node_label(node, index))
            continue
        narrowed = own if common is None else common & own
        if not narrowed:
            return None, (node.op_type, _node_label(node, index))
        common = narrowed
    return (max(common) if common else opset), None


def _for_conversion(proto, opset: int):
    """A copy of ``proto`` for onnx2torch: the first output only (the class scores), operator set ``opset``,
    and Identity nodes on weights removed (exporters use them to share equal weights; onnx2torch's
    converters want the weights themselves)."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    del copy.graph.output[1:]
    for entry in copy.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = opset
    graph = copy.graph
    weights = {i.name for i in graph.initializer}
    kept_outputs = {o.name for o in graph.output}
    renamed = {}
    for node in list(graph.node):
        if (node.op_type == "Identity" and node.domain in ("", "ai.onnx") and node.input[0] in weights
                and node.output[0] not in kept_outputs):
            renamed[node.output[0]] = node.input[0]
            graph.node.remove(node)
    if renamed:
        for node in graph.node:
            for position, name in enumerate(node.input):
                if name in renamed:
                    node.input[position] = renamed[name]
    return copy


def convert_to_torch(proto, scorer: OnnxRuntimeModule, sample: torch.Tensor) -> tuple[torch.nn.Module | None, str | None, str]:
    """``(converted module, None, note)`` when onnx2torch reproduces onnxruntime, else ``(None, refusal, note)``."""
    opset, missing = conversion_opset(proto)
    if missing is not None:
        return None, gradient_refusal_text(*missing), f"No PyTorch conversion for the operator '{missing[0]}'."
    try:
        import onnx2torch

        converted = onnx2torch.convert(_for_conversion(proto, opset)).eval()
        for parameter in converted.parameters():
            parameter.requires_grad_(False)
        with torch.no_grad():
            ours = converted(sample)
    except Exception as error:  # noqa: BLE001 - a converter may refuse an attribute or fail on the graph
        match = re.search(r"operation_type='(\w+)'", str(error))
        op = match.group(1) if match else None
        if op is not None:
            node = next((_node_label(n, i) for i, n in enumerate(proto.graph.node) if n.op_type == op), "?")
            return None, gradient_refusal_text(op, node), f"No PyTorch conversion for the operator '{op}'."
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        return None, ("LRP and gradient methods need the model in PyTorch, and converting this ONNX graph failed "
                      f"({reason}). Occlusion, LIME and RELAX work on this model."), f"The PyTorch conversion failed ({reason})."
    if isinstance(ours, (tuple, list)):
        ours = ours[0]
    reference = scorer(sample)
    if not isinstance(ours, torch.Tensor) or tuple(ours.shape) != tuple(reference.shape):
        return None, ("LRP and gradient methods need the model in PyTorch, and the converted network returns "
                      "outputs of another shape than onnxruntime's. Occlusion, LIME and RELAX work on this model."), \
            "The PyTorch conversion gives outputs of another shape."
    difference = float((ours.float() - reference).abs().max())
    scale = max(1.0, float(reference.abs().max()))
    if not difference <= CONVERSION_TOLERANCE * scale:
        return None, (f"LRP and gradient methods need the model in PyTorch, and the converted network's scores differ "
                      f"from onnxruntime's (by up to {difference:.3g}), so they would explain another model. "
                      "Occlusion, LIME and RELAX work on this model."), "The PyTorch conversion does not match."
    return converted, None, (f"Converted to PyTorch for gradient methods and LRP (largest difference from "
                             f"onnxruntime {difference:.1e} on a random input).")


# --- the loader -------------------------------------------------------------------------------------


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
    """Load ``onnx:PATH`` (see the module docstring).

    Raises
    ------
    ModelError
        For a missing, damaged or non-ONNX file, custom operators, several or non-image inputs,
        outputs that are not one row of class scores per input, and NaN or infinite weights or scores.
    """
    from .files import read_sidecar

    path = Path(path).expanduser()
    spec = spec or f"onnx:{path}"
    if not path.is_file():
        from ..core.io import missing_path_message

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
