"""The desktop GUI: a thin Qt layer over the Qt-free core.

This is the only package that imports PySide6, shiboken6 or pyqtgraph. Modules
here import the torch-backed packages (``xaidesk.models``, ``xaidesk.explain``)
lazily, inside functions, so the window shows before torch is loaded.
"""
