"""The panels a tab places: one module per widget (or small group of widgets) and what it does.

``table_*``, ``dataset_*`` and ``molecule_*`` modules are the Tables, Dataset and Molecules
tabs' panels; :mod:`.audio_playback` (the playback bar) and :mod:`.audio_source` (the sound box
and the whole-file overview) are the Audio tab's; :mod:`.segments_panel` (LIME's segments) is
the Images tab's; :mod:`.tab_pieces` holds pieces several tabs use. A panel talks to its tab
through its methods and signals; the parts the Images and Audio tabs share through their base
are in :mod:`xaidesk.gui.tabs.explain_parts`.
"""
