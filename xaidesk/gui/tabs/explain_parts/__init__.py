"""The parts of :class:`~xaidesk.gui.tabs.explain_base.ExplainTabBase`, the base of the Images and Audio tabs.

Each module is a mixin for one concern of the base: :mod:`.model` (the model picker and demo
samples), :mod:`.method` (the method picker and its settings form), :mod:`.prediction` (the top
classes and the class to explain), :mod:`.results` (finished results, comparison, colours) and
:mod:`.export` (writing the shown result). They are not widgets of their own: they compose
``ExplainTabBase``, which declares the contract (the widgets a tab's ``_build`` makes, the hooks
it implements) that they rely on.
"""
