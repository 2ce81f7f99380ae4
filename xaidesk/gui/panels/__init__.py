"""The panels the tabs are composed of: one module per panel, its widgets and what they do.

``table_*``, ``dataset_*`` and ``molecule_*`` modules are the Tables, Dataset and Molecules
tabs' panels. The others serve the explaining tabs
(:class:`~xaidesk.gui.tabs.explain_base.ExplainTabBase`): the panels the Images and Audio
tabs share (model, method, prediction, results) are mixins of that base; the rest are
widgets a tab places (the audio playback bar, the audio source and segment panel, the LIME
segments panel).
"""
