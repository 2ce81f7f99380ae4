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

Modules: ``session`` (the onnxruntime module), ``graph`` (reading and checking the file),
``metadata`` (preprocessing and class names), ``conversion`` (onnx2torch and its check),
``loader`` (:func:`load_onnx`).
"""

from .conversion import CONVERSION_TOLERANCE, conversion_opset, convert_to_torch, gradient_refusal_text
from .graph import STANDARD_DOMAINS, check_operator_domains
from .loader import load_onnx
from .metadata import CLASS_NAME_KEYS, DEFAULT_SIZE, PREPROCESSING_KEYS, choose_class_names, choose_preprocessing
from .session import PREFERRED_BATCH, OnnxRuntimeModule, make_session, session_threads

__all__ = [
    "CLASS_NAME_KEYS", "CONVERSION_TOLERANCE", "DEFAULT_SIZE", "OnnxRuntimeModule", "PREFERRED_BATCH",
    "PREPROCESSING_KEYS", "STANDARD_DOMAINS", "check_operator_domains", "choose_class_names",
    "choose_preprocessing", "conversion_opset", "convert_to_torch", "gradient_refusal_text", "load_onnx",
    "make_session", "session_threads",
]
