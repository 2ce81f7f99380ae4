"""Writers of exported results, one per kind of result, called alike by the CLI and the GUI.

:mod:`~xaidesk.export.images` writes an image or sound explanation's folder and its ``.npy``
maps, :mod:`~xaidesk.export.tables` a table analysis's files, :mod:`~xaidesk.export.molecules`
a molecule model's CSV files. Free of Qt; heavy imports stay inside the functions.
"""
