"""Converting an ONNX graph to PyTorch with onnx2torch, for gradient methods and LRP.

The conversion is kept only when onnx2torch converts every operator *and* the converted network
reproduces onnxruntime's scores on a random input (largest difference at most
:data:`CONVERSION_TOLERANCE` times the largest score, at least 1); otherwise
:func:`gradient_refusal_text` says which operator stopped it.
"""

from __future__ import annotations

import re

import torch

from .graph import _node_label
from .session import OnnxRuntimeModule

#: The converted PyTorch network must match onnxruntime to within this share of the largest score.
CONVERSION_TOLERANCE = 1e-3


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
