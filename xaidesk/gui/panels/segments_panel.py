"""The LIME segments panel: local fidelity, boundary and top-segment toggles, the top segments.

:class:`SegmentsPanel` shows the details of a result that works on segments (superpixels):
how well LIME's linear model fits the network, and the segments with the largest weights.
It emits :attr:`SegmentsPanel.display_changed` when a toggle changes how segments are drawn.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QCheckBox, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from ..formatting import format_signed
from ..overlays import top_segment_rows


class SegmentsPanel(QWidget):
    """Fidelity, "Segment boundaries", "Show only top segments" and the table of top segments."""

    display_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(190)
        self.setMaximumWidth(280)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 0, 2, 0)
        title = QLabel("Superpixels")
        title.setObjectName("viewTitle")
        self.fidelity_label = QLabel("")
        self.fidelity_label.setWordWrap(True)
        self.fidelity_label.setToolTip(
            "How well the simple linear model behind LIME reproduces the network on the random samples "
            "(1 = perfectly, 0 = not at all). Low values mean the picture should be read with care."
        )
        self.boundaries_check = QCheckBox("Segment boundaries")
        self.boundaries_check.setToolTip("Draw the borders of the superpixels LIME switched on and off.")
        self.boundaries_check.setChecked(True)
        self.boundaries_check.toggled.connect(self.display_changed)
        self.top_only_check = QCheckBox("Show only top segments")
        self.top_only_check.setToolTip("Dim every superpixel except the strongest positive and negative ones.")
        self.top_only_check.toggled.connect(self.display_changed)
        self.segment_table = QTreeWidget()
        self.segment_table.setColumnCount(2)
        self.segment_table.setHeaderLabels(["Segment", "Weight"])
        self.segment_table.setRootIsDecorated(False)
        self.segment_table.setUniformRowHeights(True)
        self.segment_table.setToolTip(
            "The superpixels with the largest positive (for the class) and negative (against it) weights."
        )
        header = self.segment_table.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, header.ResizeMode.Stretch)
        header.setSectionResizeMode(1, header.ResizeMode.ResizeToContents)
        layout.addWidget(title)
        layout.addWidget(self.fidelity_label)
        layout.addWidget(self.boundaries_check)
        layout.addWidget(self.top_only_check)
        layout.addWidget(self.segment_table, 1)

    def show_boundaries(self) -> bool:
        return self.boundaries_check.isChecked()

    def top_only(self) -> bool:
        return self.top_only_check.isChecked()

    def show_extras(self, extras: dict) -> None:
        """Show a segment result's fidelity, counts and top segments (``extras`` of the explanation)."""
        weights = extras.get("segment_weights") or []
        r2 = extras.get("r2")
        fidelity = f"local fidelity R² = {r2:.2f}" if isinstance(r2, float) and np.isfinite(r2) else "local fidelity R² = –"
        count = extras.get("num_segments", len(weights))
        self.fidelity_label.setText(f"{fidelity}\n{count} superpixels · {extras.get('n_used', '?')} samples")
        k = max(len(extras.get("top_positive") or []), len(extras.get("top_negative") or []))
        self.top_only_check.setText(f"Show only top segments ({k} + / {k} −)" if k else "Show only top segments")
        self.segment_table.clear()
        for label, weight, kind in top_segment_rows(extras):
            item = QTreeWidgetItem([f"segment {label}", format_signed(weight)])
            item.setData(0, Qt.ItemDataRole.UserRole, label)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            colour = QColor("#d04040") if kind == "positive" else QColor("#3c6fd0")
            item.setForeground(1, QBrush(colour))
            item.setToolTip(0, f"Segment {label}: {kind} evidence for the class (weight {format_signed(weight)}).")
            self.segment_table.addTopLevelItem(item)
