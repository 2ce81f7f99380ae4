"""The browser of a batch run: a lazily loaded thumbnail grid with filters and sorting.

:class:`RunItemsModel` holds the rows of a run's index (filtered and sorted with the Qt-free
helpers of :mod:`xaidesk.runs`) and loads each thumbnail from disk only when the view asks
for it, keeping a bounded cache, so runs of thousands of files browse smoothly.
:class:`BrowsePanel` puts the filter bar over the grid and reports double-clicked items;
:class:`ItemViewer` shows one item's saved heatmap over its input, large, with its details.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from ...runs import IndexRow, RunInfo, filter_rows, image_thumbnail, row_classes, sort_rows
from ...core import XaideskError, render
from ..formatting import class_text, format_value, map_shows_sign
from ..wording import plural

#: Thumbnails kept in memory (each about 64 kB).
PIXMAP_CACHE = 600
ICON_SIZE = 128
#: Room around a thumbnail in the grid, and the lines of its caption (file, method, predicted class, score).
GRID_MARGIN = 24
CAPTION_LINES = 4
LINE_SEPARATOR = "\u2028"
SORT_CHOICES = (
    ("File name", "file"),
    ("Class", "class"),
    ("Score, highest first", "score_desc"),
    ("Score, lowest first", "score"),
    ("Method", "method"),
)
ALL = "__all__"


class RunItemsModel(QAbstractListModel):
    """The rows of one run, as a list model for an icon-mode :class:`QListView`.

    ``DecorationRole`` is the item's thumbnail, loaded on first request; ``UserRole`` the
    :class:`~xaidesk.runs.IndexRow`.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.run_dir: Path | None = None
        self._all: list[IndexRow] = []
        self._shown: list[IndexRow] = []
        self._filters: dict = {}
        self._sort = "file"
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self.loaded_thumbnails = 0

    # -- contents ----------------------------------------------------------------
    def set_rows(self, run_dir: Path | None, rows: list[IndexRow]) -> None:
        self.beginResetModel()
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._all = list(rows)
        self._pixmaps.clear()
        self._shown = self._arranged()
        self.endResetModel()

    def add_rows(self, rows: list[IndexRow]) -> None:
        """Add rows (a run in progress); the grid grows in place where the order allows it."""
        if not rows:
            return
        keys = {r.key for r in rows}
        self._all = [r for r in self._all if r.key not in keys] + list(rows)
        self._rearrange()

    def set_filters(self, *, true_class=None, predicted=None, method=None) -> None:
        self._filters = {"true_class": true_class, "predicted": predicted, "method": method}
        self._rearrange()

    def set_sort(self, key: str) -> None:
        self._sort = key
        self._rearrange()

    def all_rows(self) -> list[IndexRow]:
        return list(self._all)

    def shown_rows(self) -> list[IndexRow]:
        return list(self._shown)

    def row_at(self, index: int) -> IndexRow:
        return self._shown[index]

    def _arranged(self) -> list[IndexRow]:
        return sort_rows(filter_rows(self._all, **self._filters), self._sort)

    def _rearrange(self) -> None:
        new = self._arranged()
        old = self._shown
        if len(new) >= len(old) and [r.key for r in new[: len(old)]] == [r.key for r in old]:
            if len(new) > len(old):
                self.beginInsertRows(QModelIndex(), len(old), len(new) - 1)
                self._shown = new
                self.endInsertRows()
            return
        self.beginResetModel()
        self._shown = new
        self.endResetModel()

    # -- Qt model ------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self._shown)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._shown):
            return None
        row = self._shown[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (f"{row.file}\n{method_title(row.method)}\npredicted {row.predicted_label or row.predicted}\n"
                    f"score {format_value(row.score)}")
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnail(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip_of(row)
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    def thumbnail(self, row: IndexRow) -> QPixmap:
        """The row's thumbnail, from the cache or read from disk now."""
        if self.run_dir is None:
            return QPixmap()
        key = row.thumbnail
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return pixmap
        pixmap = QPixmap(str(self.run_dir / row.thumbnail))
        self.loaded_thumbnails += 1
        self._pixmaps[key] = pixmap
        while len(self._pixmaps) > PIXMAP_CACHE:
            self._pixmaps.popitem(last=False)
        return pixmap


@functools.lru_cache(maxsize=None)
def method_title(name: str) -> str:
    """The method's title from the registry (its name when the registry does not know it)."""
    from ...core import MethodError
    from ...core.registry import get_method

    try:
        return get_method(name).title
    except MethodError:
        return name


def tooltip_of(row: IndexRow) -> str:
    lines = [row.file]
    if row.true_class:
        lines.append(f"Class folder: {row.true_class}")
    lines.append(f"Predicted: {class_text(row.predicted, row.predicted_label)}")
    lines.append(f"Explained: {class_text(row.target, row.target_label)}, score {format_value(row.score)}")
    lines.append(f"Method: {method_title(row.method)}")
    if math.isfinite(row.seconds):
        lines.append(f"Time: {row.seconds:.2f} s")
    lines.append("Double-click to see its heatmap large.")
    return "\n".join(lines)


class CaptionDelegate(QStyledItemDelegate):
    """Draws each caption line elided to the grid cell's width (the tooltip holds the whole text)."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex) -> None:  # noqa: N802 - Qt override
        super().initStyleOption(option, index)
        view = self.parent()
        margin = 2 * (view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, option, view) + 1) + 2
        width = min(option.rect.width() or view.gridSize().width(), view.gridSize().width()) - margin
        option.text = self.caption(option.text, option.fontMetrics, width)

    @staticmethod
    def caption(text: str, metrics, width: int) -> str:
        lines = text.replace(LINE_SEPARATOR, "\n").split("\n")  # Qt turns "\n" into its line separator
        modes = [Qt.TextElideMode.ElideMiddle] + [Qt.TextElideMode.ElideRight] * (len(lines) - 1)  # file, then words
        return LINE_SEPARATOR.join(metrics.elidedText(line, mode, width) for line, mode in zip(lines, modes))


class ThumbnailGrid(QListView):
    """An icon-mode list view sized for the run thumbnails; captions are elided to fit their cell."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.setItemDelegate(CaptionDelegate(self))
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self._fit_grid()
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSpacing(4)

    def _fit_grid(self) -> None:
        text_height = CAPTION_LINES * self.fontMetrics().lineSpacing()
        self.setGridSize(QSize(ICON_SIZE + GRID_MARGIN + 16, ICON_SIZE + text_height + GRID_MARGIN))

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override: a new font needs a new grid
        super().changeEvent(event)
        if event.type() == event.Type.FontChange:
            self._fit_grid()

    def caption(self, index: QModelIndex) -> str:
        """The caption as drawn in the grid (each line elided to the cell's width)."""
        option = QStyleOptionViewItem()
        option.initFrom(self)
        option.rect = self.visualRect(index)
        self.itemDelegate().initStyleOption(option, index)
        return option.text.replace(LINE_SEPARATOR, "\n")


class BrowsePanel(QWidget):
    """Filter bar, "Open run…" and the thumbnail grid of a run.

    Signals
    -------
    item_activated(IndexRow)
        An item was double-clicked (or chosen with Enter).
    open_run_requested()
        The "Open run…" button was pressed.
    """

    item_activated = Signal(object)
    open_run_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.model = RunItemsModel(self)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Show one class only: a class folder of the inputs, or a predicted class.")
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.method_combo = QComboBox()
        self.method_combo.setToolTip("Show the results of one method only.")
        self.method_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.sort_combo = QComboBox()
        for title, key in SORT_CHOICES:
            self.sort_combo.addItem(title, key)
        self.sort_combo.setToolTip("Order of the thumbnails. The score is the explained class's logit.")
        self.open_button = QPushButton("Open run…")
        self.open_button.setToolTip("Show a run folder written earlier (by this tab or by 'xaidesk batch').")
        self.open_button.clicked.connect(self.open_run_requested)
        self.count_label = QLabel("No run")
        self.count_label.setObjectName("notes")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Class"))
        bar.addWidget(self.class_combo)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Method"))
        bar.addWidget(self.method_combo)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Sort by"))
        bar.addWidget(self.sort_combo)
        bar.addStretch(1)
        bar.addWidget(self.count_label)
        bar.addWidget(self.open_button)
        self.grid = ThumbnailGrid()
        self.grid.setModel(self.model)
        # "activated": a double-click (or a single click where the platform opens items so), or Enter
        self.grid.activated.connect(self._on_activated)
        self.empty_hint = QLabel("Run a folder or open a run folder to see its heatmaps here.")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.empty_hint)
        layout.addWidget(self.grid, 1)
        self._fill_filters()
        self.class_combo.currentIndexChanged.connect(self._apply_filters)
        self.method_combo.currentIndexChanged.connect(self._apply_filters)
        self.sort_combo.currentIndexChanged.connect(lambda *_: self.model.set_sort(self.sort_combo.currentData()))
        self.model.modelReset.connect(self._update_count)
        self.model.rowsInserted.connect(self._update_count)
        self._update_count()

    # -- contents ----------------------------------------------------------------
    def set_rows(self, run_dir, rows: list[IndexRow]) -> None:
        """Show a run's rows (filters kept where their values still occur)."""
        self.model.set_rows(run_dir, rows)
        self._fill_filters()
        self._apply_filters()

    def add_rows(self, rows: list[IndexRow]) -> None:
        self.model.add_rows(rows)
        self._fill_filters()

    def _fill_filters(self) -> None:
        rows = self.model.all_rows()
        true_classes, predicted = row_classes(rows)
        methods = sorted({r.method for r in rows})
        wanted_class = self.class_combo.currentData()
        wanted_method = self.method_combo.currentData()
        entries = [("All classes", ALL)] + [(f"folder {c}", f"true:{c}") for c in true_classes] + [
            (f"predicted {c}", f"predicted:{c}") for c in predicted]
        _refill(self.class_combo, entries, wanted_class)
        _refill(self.method_combo, [("All methods", ALL)] + [(method_title(m), m) for m in methods], wanted_method)

    def _apply_filters(self, *_args) -> None:
        kind, _, value = str(self.class_combo.currentData() or ALL).partition(":")
        method = self.method_combo.currentData()
        self.model.set_filters(
            true_class=value if kind == "true" else None,
            predicted=value if kind == "predicted" else None,
            method=None if method in (None, ALL) else method,
        )
        self._update_count()

    def _update_count(self, *_args) -> None:
        total, shown = len(self.model.all_rows()), self.model.rowCount()
        self.empty_hint.setVisible(total == 0)
        if self.model.run_dir is None and total == 0:
            self.count_label.setText("No run")
        else:
            self.count_label.setText(f"{shown} of {total} shown" if shown != total else plural(total, "result"))

    # -- filters by name (used by the tab and tests) ----------------------------------
    def set_class_filter(self, kind: str | None, value: str | None = None) -> bool:
        """``("true", "cat")``, ``("predicted", "dog")`` or ``(None,)`` for all classes."""
        return _choose(self.class_combo, ALL if kind is None else f"{kind}:{value}")

    def set_method_filter(self, method: str | None) -> bool:
        return _choose(self.method_combo, ALL if method is None else method)

    def set_sort(self, key: str) -> bool:
        return _choose(self.sort_combo, key)

    def _on_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.item_activated.emit(self.model.row_at(index.row()))


def _refill(combo: QComboBox, entries, wanted) -> None:
    combo.blockSignals(True)
    combo.clear()
    for title, data in entries:
        combo.addItem(title, data)
    index = combo.findData(wanted) if wanted is not None else 0
    combo.setCurrentIndex(max(0, index))
    combo.blockSignals(False)


def _choose(combo: QComboBox, data) -> bool:
    index = combo.findData(data)
    if index < 0:
        return False
    combo.setCurrentIndex(index)
    return True


#: Longest side of the pictures in :class:`ItemViewer`.
VIEWER_SIZE = 420


def item_pictures(run: RunInfo, row: IndexRow, longest: int = VIEWER_SIZE):
    """``(input, overlay, note)`` of a run item: RGB uint8 pictures, longest side ``longest``.

    The overlay is the saved relevance blended over the input. When the input cannot be read (moved,
    or a sound clip) ``input`` is None and ``overlay`` is the saved thumbnail; ``note`` says so ("" else).
    """
    from PIL import Image

    thumbnail = np.asarray(Image.open(run.path(row.thumbnail)).convert("RGB"))
    if run.modality != "image":
        return None, thumbnail, "The heatmap over the clip's spectrogram (time to the right, pitch upwards)."
    try:
        from ...data.images import load_image

        pixels = load_image(run.input_path(row)).pixels
        relevance = np.load(run.path(row.relevance))
        overlay = image_thumbnail(pixels, relevance, longest)
    except (XaideskError, OSError, ValueError) as error:
        reason = error.message if isinstance(error, XaideskError) else str(error)
        return None, thumbnail, f"The saved preview is shown: the input or its heatmap could not be read ({reason})"
    size = overlay.shape[1::-1]
    plain = np.asarray(Image.fromarray(pixels).resize(
        size, Image.Resampling.BOX if size[0] < pixels.shape[1] else Image.Resampling.NEAREST))
    unseen = render.unseen_count(relevance)
    return plain, overlay, (render.UNSEEN_NOTE[0].upper() + render.UNSEEN_NOTE[1:] + "." if unseen else "")


def _pixmap(rgb: np.ndarray) -> QPixmap:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    return QPixmap.fromImage(QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy())


class ItemViewer(QDialog):
    """One item of a run: its saved heatmap over the input, the input beside it, and what was explained.

    Signals
    -------
    open_in_tab_requested(IndexRow)
        "Open in its tab" was pressed: explore the item further there.
    """

    open_in_tab_requested = Signal(object)

    def __init__(self, run: RunInfo, row: IndexRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row = row
        self.setWindowTitle(f"{Path(row.file).name} · {method_title(row.method)}")
        plain, overlay, note = item_pictures(run, row)
        self.input_label = QLabel()
        self.heatmap_label = QLabel()
        pictures = QHBoxLayout()
        for label, picture, caption in ((self.input_label, plain, "Input"),
                                        (self.heatmap_label, overlay, "Heatmap over the "
                                         + ("spectrogram" if run.modality == "audio" else "input"))):
            if picture is None:
                continue
            pixmap = _pixmap(picture)
            if max(pixmap.width(), pixmap.height()) < VIEWER_SIZE:  # a saved preview: enlarged, pixels kept sharp
                pixmap = pixmap.scaled(VIEWER_SIZE, VIEWER_SIZE, Qt.AspectRatioMode.KeepAspectRatio)
            label.setPixmap(pixmap)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            column = QVBoxLayout()
            column.addWidget(QLabel(caption), 0, Qt.AlignmentFlag.AlignHCenter)
            column.addWidget(label, 1)
            pictures.addLayout(column)
        kind = "unsigned" if map_shows_sign(row.method) is False else "signed"
        self.meaning_label = QLabel(render.colour_meaning(kind, row.target_label or f"class {row.target}"))
        self.note_label = QLabel(note)
        self.note_label.setWordWrap(True)
        self.note_label.setObjectName("notes")
        self.note_label.setVisible(bool(note))
        details = QLabel("\n".join(tooltip_of(row).splitlines()[:-1]))
        details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_button = QPushButton(f"Open in the {'Audio' if run.modality == 'audio' else 'Images'} tab")
        open_button.setToolTip("Open the file there with the run's model, method and class, to explain it anew "
                               "and look closer.")
        open_button.clicked.connect(lambda: self.open_in_tab_requested.emit(self.row))
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(open_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(pictures, 1)
        layout.addWidget(self.meaning_label)
        layout.addWidget(self.note_label)
        layout.addWidget(details)
        layout.addLayout(buttons)
