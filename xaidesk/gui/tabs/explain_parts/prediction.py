"""The "Prediction" box of an explaining tab: the model's top classes and the class to explain.

:class:`PredictionPanelMixin` lists a prediction's most likely classes, chooses the class to
explain (the top one, or one asked for before the prediction came), and greys the class
picker out while the chosen method explains no class.
"""

from __future__ import annotations

from contextlib import contextmanager

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout

from ...formatting import class_text, probability_text

#: Classes listed in the prediction list.
TOP_K = 5


class PredictionPanelMixin:
    """``prediction_list`` and ``target_combo``, and what they do."""

    #: True while the tab itself sets the class (not the person): no LIME refit follows.
    _choosing_target = False

    def _build_prediction_box(self, tooltip: str) -> QGroupBox:
        """The "Prediction" group: ``prediction_list`` (top classes) and ``target_combo``."""
        prediction_box = QGroupBox("Prediction")
        prediction_layout = QVBoxLayout(prediction_box)
        self.prediction_list = QTreeWidget()
        self.prediction_list.setColumnCount(2)
        self.prediction_list.setHeaderLabels(["Class", "Probability"])
        self.prediction_list.setRootIsDecorated(False)
        self.prediction_list.setUniformRowHeights(True)
        self.prediction_list.setToolTip(tooltip)
        self.prediction_list.setMaximumHeight(130)
        self.prediction_list.header().setStretchLastSection(False)
        self.prediction_list.header().setSectionResizeMode(0, self.prediction_list.header().ResizeMode.Stretch)
        self.prediction_list.header().setSectionResizeMode(1, self.prediction_list.header().ResizeMode.ResizeToContents)
        self.prediction_list.itemClicked.connect(self._on_prediction_clicked)
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("The class whose evidence is shown. The top prediction is chosen for you.")
        self.target_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target_combo.setMinimumContentsLength(12)
        self.target_combo.currentIndexChanged.connect(self._on_target_changed)
        target_row = QFormLayout()
        target_row.addRow("Explain class", self.target_combo)
        prediction_layout.addWidget(self.prediction_list)
        prediction_layout.addLayout(target_row)
        return prediction_box

    @contextmanager
    def _target_set_by_tab(self):
        """Set the class without it counting as the person's choice (see :meth:`_on_target_changed`)."""
        self._choosing_target = True
        try:
            yield
        finally:
            self._choosing_target = False

    def _on_target_changed(self, *_args) -> None:
        """The person chose another class (a tab may explain it from stored samples)."""

    def _fill_classes(self, model) -> None:
        """Offer the model's classes in ``target_combo``."""
        with self._target_set_by_tab():
            self.target_combo.clear()
            for index, name in enumerate(model.class_names):
                self.target_combo.addItem(class_text(index, name), index)

    def _show_prediction(self, prediction) -> None:
        """List the prediction's top classes and choose the class to explain."""
        self.prediction_list.clear()
        for index, label, probability in prediction.top(TOP_K):
            item = QTreeWidgetItem([class_text(index, label), probability_text(probability)])
            item.setData(0, Qt.ItemDataRole.UserRole, index)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.prediction_list.addTopLevelItem(item)
        with self._target_set_by_tab():
            self.set_target(self._predicted_target(prediction.top_class))
        if self.prediction_list.topLevelItemCount():
            self.prediction_list.setCurrentItem(self.prediction_list.topLevelItem(0))

    def _on_prediction_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        index = item.data(0, Qt.ItemDataRole.UserRole)
        if index is not None:
            self.set_target(index)

    def explain_after_prediction(self, target: int | None) -> None:
        """Make the next prediction select ``target`` instead of the top class (e.g. an item of a batch run)."""
        self._pending_target = None if target is None else int(target)

    def _predicted_target(self, top_class: int) -> int:
        """The class a fresh prediction selects: a pending target once, else the top class."""
        pending, self._pending_target = getattr(self, "_pending_target", None), None
        return top_class if pending is None or self.target_combo.findData(pending) < 0 else pending

    def set_target(self, index: int) -> None:
        """Choose the class to explain."""
        row = self.target_combo.findData(int(index))
        if row >= 0:
            self.target_combo.setCurrentIndex(row)

    def target(self) -> int | None:
        data = self.target_combo.currentData()
        return None if data is None else int(data)

    def _show_class_choice(self) -> None:
        """Grey out the class picker, with a tooltip saying why, while the chosen method explains no class."""
        if not hasattr(self, "_class_tooltip"):
            self._class_tooltip = self.target_combo.toolTip()
        info = self.method_info()
        explains_class = info is None or info.explains_class
        self.target_combo.setEnabled(explains_class)
        self.target_combo.setToolTip(self._class_tooltip if explains_class else
                                     f"{info.title} explains what the model's representation depends on, not one class.")
