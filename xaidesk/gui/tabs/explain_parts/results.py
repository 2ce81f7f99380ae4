"""The "Results and comparison" area of an explaining tab, and its display controls.

:class:`ResultsPanelMixin` keeps the finished results (newest first, at most
:data:`MAX_HISTORY`), shows a clicked one, puts ticked ones side by side (optionally on one
colour scale), and applies the colour map and opacity to every view.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ....core import render
from ...explain_records import shared_levels
from ...views.view_common import AUTOMATIC_COLORMAP, UNSIGNED_COLORMAP

#: Finished results kept for comparison (each holds a full-size relevance map).
MAX_HISTORY = 16
#: Starting width of the results list beside the comparison views (the splitter between them moves).
RESULTS_LIST_WIDTH = 360


def make_colormap_combo() -> QComboBox:
    """A colour map picker: "automatic" (chosen), then the diverging maps, then the others."""
    combo = QComboBox()
    combo.setToolTip(
        f"Colours of the relevance map. Automatic: {render.DEFAULT_COLORMAP} for maps that show evidence for "
        f"and against, {UNSIGNED_COLORMAP} (brighter: more important) for maps that only say how much. "
        "Diverging maps show positive and negative evidence."
    )
    combo.addItem("automatic", AUTOMATIC_COLORMAP)
    for name in render.DIVERGING_COLORMAPS:
        combo.addItem(name, name)
    for name in render.COLORMAPS:
        if name not in render.DIVERGING_COLORMAPS:
            combo.addItem(name, name)
    combo.setCurrentIndex(0)
    return combo


class ResultsPanelMixin:
    """``history_list``, the comparison row and the display controls, and what they do."""

    def _build_compare_area(self) -> QWidget:
        box = QGroupBox("Results and comparison")
        layout = QHBoxLayout(box)
        layout.setContentsMargins(4, 4, 4, 4)
        left = QVBoxLayout()
        hint = QLabel("Click a result to show it above; tick results to compare them side by side.")
        hint.setWordWrap(True)
        hint.setObjectName("notes")
        self.history_list = QListWidget()
        self.history_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.history_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.history_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.history_list.itemClicked.connect(self._on_history_clicked)
        self.history_list.itemChanged.connect(self._rebuild_compare_views)
        clear = QPushButton("Clear results")
        clear.clicked.connect(self.clear_history)
        left.addWidget(hint)
        left.addWidget(self.history_list, 1)
        left.addWidget(clear, 0, Qt.AlignmentFlag.AlignLeft)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setMaximumWidth(330)
        left_widget.setMinimumWidth(230)
        self.compare_container = QWidget()
        self.compare_layout = QHBoxLayout(self.compare_container)
        self.compare_layout.setContentsMargins(0, 0, 0, 0)
        self.compare_hint = QLabel("Tick two or more results in the list to see them side by side.")
        self.compare_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.compare_hint.setEnabled(False)
        self.compare_layout.addWidget(self.compare_hint)
        layout.addWidget(left_widget)
        layout.addWidget(self.compare_container, 1)
        return box

    def _split_results_area(self) -> QSplitter:
        """Put the results list and the comparison views on a splitter, the list at a readable width."""
        list_panel = self.history_list.parentWidget()
        layout = self.compare_box.layout()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (list_panel, self.compare_container):
            layout.removeWidget(widget)
            splitter.addWidget(widget)
        list_panel.setMinimumWidth(200)
        list_panel.setMaximumWidth(16_777_215)
        splitter.setCollapsible(0, False)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([RESULTS_LIST_WIDTH, 3 * RESULTS_LIST_WIDTH])
        layout.addWidget(splitter)
        return splitter

    def _build_display_bar(self, opacity_tooltip: str, fit_tooltip: str, on_fit) -> QWidget:
        """The display bar: colour map picker, opacity slider, "Same scale in comparison" and "Fit"."""
        self.colormap_combo = make_colormap_combo()
        self.colormap_combo.currentIndexChanged.connect(self._apply_display_settings)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(60)
        self.opacity_slider.setToolTip(opacity_tooltip)
        self.opacity_slider.setMinimumWidth(90)
        self.opacity_slider.valueChanged.connect(self._apply_display_settings)
        self.opacity_value = QLabel("60 %")
        self.opacity_value.setMinimumWidth(36)
        self.shared_levels_check = QCheckBox("Same scale in comparison")
        self.shared_levels_check.setToolTip(
            "Use one colour scale for all results side by side, so their strengths can be compared."
        )
        self.shared_levels_check.toggled.connect(self._rebuild_compare_views)
        fit = QToolButton()
        fit.setText("Fit")
        fit.setToolTip(fit_tooltip)
        fit.clicked.connect(on_fit)
        bar_widget = QWidget()
        bar = QHBoxLayout(bar_widget)
        bar.setContentsMargins(4, 0, 4, 0)
        bar.addWidget(QLabel("Colours"))
        bar.addWidget(self.colormap_combo)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Opacity"))
        bar.addWidget(self.opacity_slider, 1)
        bar.addWidget(self.opacity_value)
        bar.addSpacing(8)
        bar.addWidget(self.shared_levels_check)
        bar.addWidget(fit)
        return bar_widget

    # ------------------------------------------------------------ history
    def _add_history(self, entry) -> None:
        self.history.insert(0, entry)
        item = QListWidgetItem(entry.title)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Unchecked)
        item.setToolTip(self._history_tooltip(entry))
        item.setData(Qt.ItemDataRole.UserRole, id(entry))
        self.history_list.blockSignals(True)
        self.history_list.insertItem(0, item)
        while len(self.history) > MAX_HISTORY:
            self.history.pop()
            self.history_list.takeItem(self.history_list.count() - 1)
        self.history_list.setCurrentItem(item)
        self.history_list.blockSignals(False)
        self._rebuild_compare_views()

    def _entry_of(self, item: QListWidgetItem):
        key = item.data(Qt.ItemDataRole.UserRole)
        return next((e for e in self.history if id(e) == key), None)

    def _on_history_clicked(self, item: QListWidgetItem) -> None:
        entry = self._entry_of(item)
        if entry is not None:
            self.show_entry(entry)

    def _select_history(self, entry) -> None:
        """Highlight ``entry``'s row (no row for ``None``), without showing it again."""
        self.history_list.blockSignals(True)
        if entry is None:
            self.history_list.setCurrentItem(None)
            self.history_list.clearSelection()
        for row in range(self.history_list.count() if entry is not None else 0):
            item = self.history_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == id(entry):
                self.history_list.setCurrentItem(item)
        self.history_list.blockSignals(False)

    def pinned_entries(self) -> list:
        """Results ticked for side-by-side comparison, oldest first."""
        pinned = []
        for row in range(self.history_list.count()):
            item = self.history_list.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                entry = self._entry_of(item)
                if entry is not None:
                    pinned.append(entry)
        return pinned[::-1]

    def pin(self, entry, pinned: bool = True) -> None:
        for row in range(self.history_list.count()):
            item = self.history_list.item(row)
            if self._entry_of(item) is entry:
                item.setCheckState(Qt.CheckState.Checked if pinned else Qt.CheckState.Unchecked)

    def compare_views(self) -> list:
        return list(self._compare_views)

    def _shared_levels(self, entries: list) -> dict[int, tuple[float, float]]:
        """With "Same scale in comparison": one scale per kind of map (see :func:`shared_levels`),
        by ``id(entry)``."""
        if not self.shared_levels_check.isChecked() or not entries:
            return {}
        levels = shared_levels([entry.explanation for entry in entries])
        return {id(entry): level for entry, level in zip(entries, levels)}

    def _compare_view_group(self):
        """The ViewGroup that comparison views join (shared zoom and pan), or None."""
        return None

    def _rebuild_compare_views(self, *_args) -> None:
        group = self._compare_view_group()
        for view in self._compare_views:
            if group is not None:
                group.remove(view)
            self.compare_layout.removeWidget(view)
            view.hide()
            view.deleteLater()
        self._compare_views = []
        entries = self.pinned_entries()
        self.compare_hint.setVisible(not entries)
        shared = self._shared_levels(entries)
        for entry in entries:
            view = self._make_compare_view(entry, shared.get(id(entry)))
            # Automatic colours resolve per map: a "how much" map beside a signed one keeps its own.
            view.set_colormap(self.colormap_combo.currentData())
            self.compare_layout.addWidget(view, 1)
            self._compare_views.append(view)
            if group is not None:
                group.add(view)

    def clear_history(self) -> None:
        self.history.clear()
        self.history_list.clear()
        self._rebuild_compare_views()

    # ------------------------------------------------------------ display settings
    def _apply_display_settings(self, *_args) -> None:
        name = self.colormap_combo.currentData()
        opacity = self.opacity_slider.value() / 100.0
        self.opacity_value.setText(f"{self.opacity_slider.value()} %")
        for view in [self._relevance_view(), *self._compare_views]:
            view.set_colormap(name)
            view.set_opacity(opacity)

    def set_colormap(self, name: str) -> None:
        """Pick a colour map by name (:data:`AUTOMATIC_COLORMAP`: let each map choose)."""
        self.colormap_combo.setCurrentIndex(self.colormap_combo.findData(name))
