"""The Qt binding itself: guards against known-bad PySide6 releases.

PySide6 6.12.0 drops a reference to the value returned from a Python override of
``QGraphicsItem.itemChange`` (pyqtgraph overrides it in every graphics item), so
every visibility change leaks a reference count of ``None``/``True`` downwards
until the interpreter aborts at exit. pyproject.toml pins PySide6 below 6.12.
"""

from __future__ import annotations

import sys

import pyqtgraph as pg


def test_graphics_item_changes_keep_reference_counts(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    item = pg.ImageItem()
    widget.addItem(item)
    before = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(500):
        item.setVisible(False)
        item.setVisible(True)
    after = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    drift = [a - b for a, b in zip(after, before)]
    assert all(abs(d) < 50 for d in drift), f"reference counts of None/True/False drifted by {drift}"
