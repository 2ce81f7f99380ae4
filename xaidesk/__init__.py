"""xaidesk: a desktop workbench for explainable AI.

The packages ``core``, ``data``, ``models``, ``explain``, ``evaluate`` and the
``cli`` module are Qt-free; only ``xaidesk.gui`` imports PySide6 or pyqtgraph.
"""

__version__ = "0.1.0"
