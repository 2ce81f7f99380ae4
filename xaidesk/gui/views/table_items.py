"""The Tables tab's tables: item models for the file preview and the ranking, table cells, and
numbers written as people write them.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QTableWidgetItem

from ..formatting import format_value

PREVIEW_ROWS = 200


def table_number(value: float) -> str:
    """A measurement as people write it: thousands separators for large values (12,669.5), tiny and
    huge values as ``"2.38 × 10⁻⁵"``, never ``"2.379e-05"``; '–' where there is no number."""
    if value is None or not math.isfinite(value):
        return "–"
    magnitude = abs(value)
    if value == 0 or 1e-3 <= magnitude < 1e4:
        return f"{value:.4g}"
    if 1e4 <= magnitude < 1e15:
        return f"{value:,.0f}" if magnitude >= 1e6 or value == int(value) else f"{value:,.1f}"
    return format_value(value)


def _number_text(value) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(value):
        return "–"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}" if abs(value) >= 1e4 else str(int(value))
    return table_number(value)


# --- item models ------------------------------------------------------------------------------


class FrameModel(QAbstractTableModel):
    """The first rows of a pandas DataFrame, read-only; vertical header = 0-based file row."""

    def __init__(self, frame=None, rows: int = PREVIEW_ROWS, parent=None) -> None:
        super().__init__(parent)
        self._columns: list[str] = []
        self._values: list[list] = []
        self._index: list[int] = []
        if frame is not None:
            self.set_frame(frame, rows)

    def set_frame(self, frame, rows: int = PREVIEW_ROWS) -> None:
        self.beginResetModel()
        head = frame.head(rows)
        self._columns = [str(c) for c in head.columns]
        self._values = head.to_numpy(dtype=object).tolist()
        self._index = [int(i) for i in head.index]
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self._values)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        value = self._values[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return ""
            return _number_text(value) if isinstance(value, (int, float, np.number)) else str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float, np.number)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.BackgroundRole and (value is None or (isinstance(value, float) and math.isnan(value))):
            return QBrush(QColor(255, 230, 200))
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt override
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self._columns[section] if section < len(self._columns) else None
        return str(self._index[section]) if section < len(self._index) else None


class RankedModel(QAbstractTableModel):
    """Every analysed row: rank, file row, score, and extra columns (metadata, target, cluster).

    Sorting is done here (numerically, with ``nan`` last), so the view stays fast for
    large tables. ``position(view_row)`` gives the row's position in the result arrays.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._headers: list[str] = []
        self._tooltips: list[str] = []
        self._columns: list[np.ndarray] = []
        self._order = np.zeros(0, dtype=int)

    def set_columns(self, headers: list[str], columns: list[np.ndarray], order: np.ndarray,
                    tooltips: list[str] | None = None) -> None:
        """Show ``columns`` under short ``headers``; ``tooltips`` (optional) explain each header in full."""
        self.beginResetModel()
        self._headers = list(headers)
        self._tooltips = list(tooltips or [])
        self._columns = [np.asarray(c) for c in columns]
        self._order = np.asarray(order, dtype=int)
        self.endResetModel()

    def position(self, view_row: int) -> int:
        return int(self._order[view_row])

    def view_row_of(self, position: int) -> int:
        hits = np.flatnonzero(self._order == position)
        return int(hits[0]) if hits.size else -1

    def column_values(self, column: int) -> np.ndarray:
        """The column's values in the displayed order."""
        return self._columns[column][self._order]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self._headers)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        value = self._columns[index.column()][self._order[index.row()]]
        if role == Qt.ItemDataRole.DisplayRole:
            if isinstance(value, (float, np.floating)):
                return table_number(float(value))
            return str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt override
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._headers[section] if section < len(self._headers) else None
        if role == Qt.ItemDataRole.ToolTipRole and section < len(self._tooltips):
            return self._tooltips[section] or None
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        if not self._columns or column < 0 or column >= len(self._columns):
            return
        values = self._columns[column]
        self.layoutAboutToBeChanged.emit()
        # The selection follows its rows: remember which data row each persistent index shows.
        persistent = self.persistentIndexList()
        shown = [(int(self._order[i.row()]), i.column()) for i in persistent]
        if values.dtype.kind in "fiub":
            keys = values.astype(np.float64)
            finite = np.isfinite(keys)
            keys = np.where(finite, keys, np.inf)
            if order == Qt.SortOrder.DescendingOrder:
                keys = np.where(finite, -keys, np.inf)
            self._order = np.argsort(keys, kind="stable")
        else:
            texts = np.array([str(v) for v in values])
            self._order = np.argsort(texts, kind="stable")
            if order == Qt.SortOrder.DescendingOrder:
                self._order = self._order[::-1]
        view_rows = np.empty(len(self._order), dtype=int)
        view_rows[self._order] = np.arange(len(self._order))
        self.changePersistentIndexList(persistent, [self.index(int(view_rows[p]), c) for p, c in shown])
        self.layoutChanged.emit()


def table_item(text: str, tooltip: str = "", editable: bool = False) -> QTableWidgetItem:
    """A cell for a ``QTableWidget``: read-only unless ``editable``, with an optional tooltip."""
    item = QTableWidgetItem(text)
    if tooltip:
        item.setToolTip(tooltip)
    flags = item.flags()
    item.setFlags(flags | Qt.ItemFlag.ItemIsEditable if editable else flags & ~Qt.ItemFlag.ItemIsEditable)
    return item


__all__ = ["FrameModel", "RankedModel", "PREVIEW_ROWS", "table_item", "table_number"]
