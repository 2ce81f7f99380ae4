"""Changing a model after explaining it: correct a shortcut (ClArC), prune by relevance, train with explanations.

Every function here takes a loaded model and returns a new, edited one; the original is never
changed. Long work takes a cancel token and a progress callback, and training saves checkpoints
that a later run resumes. The edited model is saved by :mod:`xaidesk.models.edited`.
"""
