"""The method families: their short titles, their order in lists, and the guide's paragraph on each.

A family is the part of a method's name before the dot (``lrp`` in ``lrp.epsilon_plus_flat``).
Front ends read these records from the registry (:func:`xaidesk.core.registry.list_families`)
instead of keeping their own tables.
"""

from __future__ import annotations

from ..core.registry import register_family

register_family(
    "lrp", title="LRP", order=0,
    guide_title="Layer-wise relevance propagation (LRP)",
    guide="LRP follows the prediction backwards through the network, layer by layer, and hands each "
          "layer's share of the score on to the layer below, until every pixel holds its part. The map "
          "adds up to (about) the model's score, so red and blue are amounts of evidence for and against "
          "the class. It needs one pass through the network and is a good first choice.")
register_family(
    "gradient", title="Gradient", order=1,
    guide_title="Gradients",
    guide="Gradient methods ask how the score would change if a pixel changed a little. The plain "
          "gradient is fast but noisy; SmoothGrad averages it over noisy copies, integrated gradients "
          "add it up along a path from an 'empty' picture, and input × gradient weighs it by the pixel "
          "itself. Squared gradients (sensitivity) only say how much, not for or against.")
register_family(
    "occlusion", title="Occlusion", order=2,
    guide_title="Occlusion",
    guide="Occlusion covers the picture patch by patch and records how much the score drops. Red "
          "patches are those whose loss hurts the class most. It is slow but easy to trust: it only "
          "asks the model.")
register_family(
    "lime", title="LIME", order=3,
    guide_title="LIME",
    guide="LIME cuts the picture into superpixels, switches random sets of them off, and fits a simple "
          "linear model to the model's answers. Each superpixel's colour is its weight in that simple "
          "model; the R² in the statistics line says how well the simple model matches (1 is perfect).")
register_family(
    "relax", title="RELAX", order=4,
    guide_title="RELAX",
    guide="RELAX hides random parts of the input and measures how similar the network's inner "
          "representation stays. It needs no class: bright parts are those the representation depends "
          "on. It also gives an uncertainty map, which says where the importance can be trusted.")
register_family(
    "neon", title="NEON", order=10,
    guide_title="Tables: outliers and clusters (NEON)",
    guide="NEON turns an outlier score or a cluster assignment into a small network and explains it with "
          "LRP, so each row's score is split over its columns.")
register_family(
    "supervised", title="Target model", order=11,
    guide_title="Tables: explaining a target column",
    guide="These methods fit a model that predicts one column from the others and split each "
          "prediction over the columns that drove it.")
register_family(
    "ridge", title="Ridge", order=20,
    guide_title="Molecules",
    guide="These methods fit an energy model of simple parts (atoms, atom pairs) whose parameters are "
          "themselves the explanation: an energy per element, or an energy curve per pair of elements.")
