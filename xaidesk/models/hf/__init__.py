"""Hugging Face ``transformers`` image classifiers saved in a local folder (``hf:FOLDER``).

The folder is what ``model.save_pretrained(FOLDER)`` and ``image_processor.save_pretrained(FOLDER)``
write (or a downloaded model repository): ``config.json``, the weights (``model.safetensors``,
preferred, or ``pytorch_model.bin``, either possibly sharded with an index file) and
``preprocessor_config.json``. Nothing is ever downloaded: every transformers call passes
``local_files_only=True`` and is given a folder on this computer. ``.bin`` weights are read
with ``torch.load(weights_only=True)``; a ``.bin`` that holds pickled code, and any model or image
processor that ships its own Python code (``auto_map`` in its configuration), load only with
``trust=True``.

The network is wrapped in :class:`HFImageClassifier`, whose ``forward(pixel_values)`` returns the
logits, and it is built with eager attention so that attention is explicit for LRP. The saved
image processor is turned into a :class:`~xaidesk.models.preprocessing.Preprocessing` and checked
against the processor itself on a test image; any difference is stated in the model's notes.

Modules: ``folder`` (finding the folder, its config, custom code and weights), ``network`` (the
version check, loading the network and checking its weights and outputs), ``processor`` (the image
processor as a preprocessing, and its check) and ``loader`` (:func:`load_hf`).
"""

from .loader import load_hf
from .network import MIN_TRANSFORMERS, HFImageClassifier, check_transformers_version, quiet_transformers
from .processor import preprocessing_from_processor, standard_processor_name

__all__ = [
    "HFImageClassifier", "MIN_TRANSFORMERS", "check_transformers_version", "load_hf",
    "preprocessing_from_processor", "quiet_transformers", "standard_processor_name",
]
