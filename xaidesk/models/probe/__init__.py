"""A quick two-class classifier on a backbone layer's features, and the model it becomes.

For a folder with two class subfolders (e.g. ``healthy/`` and ``diseased/``):

1. the images are split into a training and a held-out part, stratified by class and seeded;
2. every image goes through the backbone up to the chosen layer (a prefix of the backbone,
   :func:`cut_backbone`); a feature map (C, h, w) is averaged over space, a vector is used as
   it is: Φ(x);
3. two linear heads are fitted on the training features:

   - ``mean-difference``: w = (μ₂ − μ₁) / ||μ₂ − μ₁||, g(x) = wᵀΦ(x) (the class means of the
     training features; class 2 is the second folder in alphabetical order);
   - ``logistic``: scikit-learn's logistic regression on standardised features (balanced class
     weights); g(x) is its decision function, the standardisation folded into w and b;

4. on the held-out images each head gets its ROC curve, AUC and the threshold t that
   maximises Youden's J = sensitivity + specificity − 1 (class 2 is the positive class;
   an image is called class 2 when g(x) ≥ t).

The fitted classifier is an ``nn.Sequential`` of standard modules -- the backbone prefix,
``AdaptiveAvgPool2d(1)`` and ``Flatten`` for feature maps, and an ``nn.Linear`` head -- so every
image method, LRP included, explains it. The head has two outputs,

    logits = [-(g(x) - t) / 2, +(g(x) - t) / 2],

so the two logits differ by the decision value g(x) − t: the top class is the head's decision at
the Youden threshold, the softmax probability of class 2 is sigmoid(g(x) − t), and explaining
either class gives the same map with opposite sign.

A fitted probe is saved as a small JSON file (``.xdprobe``: backbone spec, layer, both heads'
weights, thresholds and metrics, class names) and loaded with the model spec ``probe:PATH``.

The package, one module per part:

==============  ======================================================================================
``folder``      the labelled folder and its stratified held-out split
``backbone``    backbone surgery: cutting a model after a layer, the layers it can be cut after, shapes
``heads``       the two heads, their ROC figures and Youden threshold, the classifier module
``fitting``     features at the layer, both heads fitted and judged, the fitted classifier as a model
``file``        the probe file: writing, reading and checking it, ``probe:PATH``
``audio``       the same for sound (a clip's windows averaged), imported from here on its own
==============  ======================================================================================
"""

from .backbone import cut_backbone, default_probe_layer, feature_extractor, layer_shapes, list_probe_layers
from .file import (
    PROBE_FILE_NAME,
    PROBE_FORMAT,
    PROBE_SUFFIX,
    PROBE_VERSION,
    load_probe,
    probe_document,
    read_probe,
    save_probe,
)
from .fitting import ProbeResult, build_probe_model, extract_features, fit_heads, fit_probe, portable_spec
from .folder import MIN_IMAGES_PER_CLASS, LabelledFolder, labelled_files, scan_labelled_folder, split_held_out
from .heads import (
    HEAD_TITLES,
    HEADS,
    HeadResult,
    evaluate_head,
    logistic_head,
    mean_difference_direction,
    probe_module,
    probe_notes,
    youden_threshold,
)

__all__ = [
    "HEADS", "HEAD_TITLES", "HeadResult", "LabelledFolder", "MIN_IMAGES_PER_CLASS", "PROBE_FILE_NAME", "PROBE_FORMAT",
    "PROBE_SUFFIX", "PROBE_VERSION", "ProbeResult", "build_probe_model", "cut_backbone", "default_probe_layer",
    "evaluate_head", "extract_features", "feature_extractor", "fit_heads", "fit_probe", "labelled_files",
    "layer_shapes", "list_probe_layers", "load_probe", "logistic_head", "mean_difference_direction", "portable_spec",
    "probe_document", "probe_module", "probe_notes", "read_probe", "save_probe", "scan_labelled_folder",
    "split_held_out", "youden_threshold",
]
