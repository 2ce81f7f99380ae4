"""Concepts: which learned features (channels of a layer) a prediction used, what they look like, and a
class's typical reasoning.

- :mod:`xaidesk.explain.lrp.concepts` computes concept-conditional relevance (CRP) for one input;
- :mod:`xaidesk.concepts.references` runs a folder through the model once and keeps, per concept, the
  samples where it was most relevant (RelMax) and most active (ActMax), in a dataset-mode run folder;
- :mod:`xaidesk.concepts.prototypes` fits prototypes of a class's reasoning (PCX) on those records;
- :mod:`xaidesk.concepts.files` writes the CSV, NPY and PNG files of concepts and reference samples, and
  :mod:`xaidesk.concepts.prototype_files` those of prototypes; the CLI and the GUI share both.
"""
