"""Faithfulness panel: pick methods, evaluate them on the current input, compare their curves.

:class:`FaithfulnessPanel` holds the method checklist, the settings (patch, steps, fill), the
Evaluate and Cancel buttons with a progress bar, :class:`CurvesPlot` (all curves on one plot:
MoRF solid and LeRF dashed in one colour per method, the random baseline grey) and
:class:`AreasTable` (areas and AOPC per method, sortable), and exports the table as CSV and
the plot as PNG. It runs through the tab's :class:`~xaidesk.gui.runner.Runner` on its own
channel (``"faithfulness"``), so the tab's explain workflow is left alone. The tab supplies
``make_job(methods, settings)`` (raising an ``XaideskError`` when there is nothing to evaluate);
``patches=False`` hides the patch and fill settings (tables remove one feature per step).
:class:`FaithfulnessDialog` shows the panel in a window of its own.

Signals
-------
FaithfulnessPanel.evaluated(list)
    The :class:`~xaidesk.evaluate.FaithfulnessResult` list of a finished evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core import XaideskError
from ...evaluate.faithfulness import FILLS, FlipSettings
from ...evaluate.report import METHOD_COLORS, areas_csv, read_results
from ..formatting import format_value, progress_text
from ..runner import JobFailure, Runner
from ..widgets import error_dialog
from .dataset_views import method_title

CHANNEL = "faithfulness.compare"
#: Columns of the areas table: header, key of ``FaithfulnessResult.areas()`` (None: the method), tooltip.
TABLE_COLUMNS = (
    ("Method", None, "The explanation method."),
    ("AOPC MoRF − random", "aopc_morf_minus_random",
     "How much faster the score falls when the most relevant parts go first than in random order (higher is better)."),
    ("AOPC LeRF − random", "aopc_lerf_minus_random",
     "How much slower the score falls when the least relevant parts go first (more negative is better)."),
    ("AOPC MoRF", "aopc_morf", "Mean drop of the score over the steps, most relevant first (Samek et al. 2017)."),
    ("AOPC LeRF", "aopc_lerf", "Mean drop of the score over the steps, least relevant first."),
    ("AOPC random", "aopc_random", "Mean drop of the score over the steps in random order (the baseline)."),
    ("AUC MoRF", "auc_morf", "Area under the MoRF curve, relative to the unperturbed score (lower is better)."),
    ("AUC LeRF", "auc_lerf", "Area under the LeRF curve, relative to the unperturbed score (higher is better)."),
    ("AUC random", "auc_random", "Area under the random-order curve, relative to the unperturbed score."),
)
FILL_TEXT = {"mean": "mean value", "blur": "blurred copy", "black": "black / silence"}


class _NumberItem(QTableWidgetItem):
    """A table cell that sorts by its number (nan last)."""

    def __init__(self, value: float) -> None:
        super().__init__(format_value(value) if value == value else "–")
        self.value = value if value == value else float("inf")
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other) -> bool:  # noqa: D105 - Qt sorting
        return self.value < getattr(other, "value", float("inf"))


class LegendBelow(pg.LegendItem):
    """A legend that takes its place in the plot's layout (under the axis) instead of floating over the curves."""

    def updateSize(self) -> None:  # noqa: N802 - pyqtgraph override
        self.setMinimumHeight(0)
        self.setMaximumHeight(1e6)  # free to grow, so the size pyqtgraph measures is the legend's own
        super().updateSize()
        height = self.geometry().height() + 8
        self.setMinimumHeight(height)
        self.setMaximumHeight(height)
        self.updateGeometry()


class CurvesPlot(pg.PlotWidget):
    """All perturbation curves on one plot."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setMenuEnabled(False)
        item = self.getPlotItem()
        item.setLabel("bottom", "fraction removed")
        item.setLabel("left", "explained score")
        item.showGrid(x=True, y=True, alpha=0.15)
        for name in ("left", "bottom"):
            item.getAxis(name).setPen(pg.mkPen("#666666"))
            item.getAxis(name).setTextPen(pg.mkPen("#333333"))
        item.hideButtons()
        self.legend = LegendBelow(colCount=2, labelTextColor="#333333")
        item.layout.addItem(self.legend, 4, 1)  # under the bottom axis: the curves stay uncovered
        item.legend = self.legend
        self.setMinimumSize(360, 240)
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}

    def clear_curves(self) -> None:
        self.getPlotItem().clear()
        self.legend.clear()
        self.curves = {}

    def set_results(self, results: list) -> None:
        """Draw MoRF (solid) and LeRF (dashed) per method and the random baseline (grey) once."""
        self.clear_curves()
        item = self.getPlotItem()
        random_drawn = None
        for k, result in enumerate(results):
            color = METHOD_COLORS[k % len(METHOD_COLORS)]
            for order, style, width in (("morf", Qt.PenStyle.SolidLine, 2.2), ("lerf", Qt.PenStyle.DashLine, 1.8)):
                if order in result.curves:
                    self.curves[(result.method, order)] = item.plot(
                        result.fractions, result.curves[order], pen=pg.mkPen(color, width=width, style=style),
                        name=f"{method_title(result.method)} {order.replace('morf', 'MoRF').replace('lerf', 'LeRF')}")
            if "random" in result.curves:
                self.curves[(result.method, "random")] = item.plot(
                    result.fractions, result.curves["random"], pen=pg.mkPen("#8c8c8c", width=1.6))
                random_drawn = random_drawn or self.curves[(result.method, "random")]
        if random_drawn:
            self.legend.addItem(random_drawn, "random (baseline)")  # last, so each method keeps one legend row
        if results:
            item.setLabel("bottom", f"fraction removed ({results[0].units})")
            item.setLabel("left", f"score of '{results[0].target_label}' ({results[0].settings.get('score', 'logit')})")
        item.setXRange(0.0, 1.0, padding=0.02)
        item.enableAutoRange(axis="y")


class AreasTable(QTableWidget):
    """Areas and AOPC per method; click a header to sort."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(TABLE_COLUMNS), parent)
        self.setHorizontalHeaderLabels([c[0] for c in TABLE_COLUMNS])
        for column, (_, _, tip) in enumerate(TABLE_COLUMNS):
            self.horizontalHeaderItem(column).setToolTip(tip)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.setSortingEnabled(True)

    def set_results(self, results: list) -> None:
        self.setSortingEnabled(False)
        self.setRowCount(len(results))
        for row, result in enumerate(results):
            areas = result.areas()
            for column, (_, key, _) in enumerate(TABLE_COLUMNS):
                if key is None:
                    cell = QTableWidgetItem(method_title(result.method))
                    cell.setForeground(pg.mkColor(METHOD_COLORS[row % len(METHOD_COLORS)]))
                    cell.setToolTip(f"{method_title(result.method)} ({result.method}): {result.units}; "
                                    f"{result.seconds:.2f} s")
                else:
                    cell = _NumberItem(float(areas[key]))
                self.setItem(row, column, cell)
        self.setSortingEnabled(True)
        self.sortItems(1, Qt.SortOrder.DescendingOrder)

    def column_values(self, column: int) -> list[str]:
        return [self.item(row, column).text() for row in range(self.rowCount())]


class FaithfulnessPanel(QWidget):
    """Choose methods and settings, evaluate in the background, show curves and areas."""

    evaluated = Signal(object)

    def __init__(self, runner: Runner, methods: list[tuple[str, str]],
                 make_job: Callable[[list[str], FlipSettings], Callable], *, default_patch: int = 0,
                 patch_help: str = "", patches: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.make_job = make_job
        self.results: list = []
        self._job: int | None = None

        self.method_list = QListWidget()
        self.method_list.setToolTip("Tick the methods to compare; each explains the same class.")
        for name, title in methods:
            item = QListWidgetItem(title)
            item.setToolTip(name)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.method_list.addItem(item)
        self.method_list.itemChanged.connect(self._update_enabled)

        self.patch_spin = QSpinBox()
        self.patch_spin.setRange(0, 512)
        self.patch_spin.setSpecialValueText("automatic")
        self.patch_spin.setValue(default_patch)
        self.patch_spin.setToolTip(patch_help or "Side of a removed square: 1 = one pixel at a time (pixel flipping); "
                                                 "larger values remove regions; automatic = 1/16 of the shorter side.")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1000)
        self.steps_spin.setValue(20)
        self.steps_spin.setToolTip("Removal steps: the curves have this many points after the unperturbed one.")
        self.fill_combo = QComboBox()
        for fill in FILLS:
            self.fill_combo.addItem(FILL_TEXT[fill], fill)
        self.fill_combo.setToolTip("What removed parts show: the input's mean, a blurred copy, or black "
                                   "(silence on a spectrogram).")
        self.random_spin = QSpinBox()
        self.random_spin.setRange(1, 50)
        self.random_spin.setValue(3)
        self.random_spin.setToolTip("Random removal orders averaged into the grey baseline.")
        form = QFormLayout()
        if patches:
            form.addRow("Patch size", self.patch_spin)
        form.addRow("Steps", self.steps_spin)
        if patches:
            form.addRow("Removed parts show", self.fill_combo)
        else:  # tables: one feature per step, replaced by its column mean
            self.patch_spin.hide()
            self.fill_combo.hide()
        form.addRow("Random orders", self.random_spin)

        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Explain the current input with every ticked method and measure "
                                        "how fast the score falls when the relevant parts are removed.")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.status_label = QLabel("Tick two or more methods and press Evaluate.")
        self.status_label.setWordWrap(True)
        self.status_label.setObjectName("notes")
        self.status_label.setMinimumHeight(3 * self.status_label.fontMetrics().lineSpacing() + 4)
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.evaluate_button)
        buttons.addWidget(self.cancel_button)

        settings_box = QGroupBox("Methods and settings")
        left_layout = QVBoxLayout(settings_box)
        left_layout.addWidget(self.method_list, 1)
        left_layout.addLayout(form)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress_bar)
        left_layout.addWidget(self.status_label)
        settings_box.setMinimumWidth(260)

        self.plot = CurvesPlot()
        self.table = AreasTable()
        self.table.setMinimumHeight(110)
        self.export_csv_button = QPushButton("Export table…")
        self.export_csv_button.setToolTip("Write the areas table as CSV (one line per method).")
        self.export_csv_button.clicked.connect(self._choose_csv_path)
        self.export_png_button = QPushButton("Export plot…")
        self.export_png_button.setToolTip("Save the plot as a PNG picture.")
        self.export_png_button.clicked.connect(self._choose_png_path)
        self.open_button = QPushButton("Open results…")
        self.open_button.setToolTip("Show the results of 'python -m xaidesk evaluate' again (its output folder).")
        self.open_button.clicked.connect(self._choose_results_folder)
        exports = QHBoxLayout()
        hint = QLabel("MoRF solid, LeRF dashed, random grey. Click a column header to sort.")
        hint.setObjectName("notes")
        exports.addWidget(hint, 1)
        exports.addWidget(self.open_button)
        exports.addWidget(self.export_csv_button)
        exports.addWidget(self.export_png_button)
        results_split = QSplitter(Qt.Orientation.Vertical)
        results_split.addWidget(self.plot)
        results_split.addWidget(self.table)
        results_split.setSizes([320, 140])
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(results_split, 1)
        right_layout.addLayout(exports)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(settings_box)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([300, 640])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)
        self._update_enabled()

    # ------------------------------------------------------------------ state
    def checked_methods(self) -> list[str]:
        return [self.method_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.method_list.count())
                if self.method_list.item(i).checkState() == Qt.CheckState.Checked]

    def set_checked(self, names) -> None:
        wanted = set(names)
        for i in range(self.method_list.count()):
            item = self.method_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in wanted
                               else Qt.CheckState.Unchecked)

    def settings(self) -> FlipSettings:
        return FlipSettings(steps=self.steps_spin.value(), patch=self.patch_spin.value(),
                            fill=self.fill_combo.currentData(), random_orders=self.random_spin.value())

    def is_running(self) -> bool:
        return self._job is not None

    def _update_enabled(self, *_args) -> None:
        running = self.is_running()
        self.evaluate_button.setEnabled(not running and bool(self.checked_methods()))
        self.cancel_button.setEnabled(running)
        for widget in (self.method_list, self.patch_spin, self.steps_spin, self.fill_combo, self.random_spin):
            widget.setEnabled(not running)
        self.export_csv_button.setEnabled(bool(self.results))
        self.export_png_button.setEnabled(bool(self.results))

    # ------------------------------------------------------------------ run
    def evaluate(self) -> int | None:
        """Start the evaluation of the ticked methods; returns the job id (None if refused)."""
        methods = self.checked_methods()
        if not methods or self.is_running():
            return None
        try:
            job = self.make_job(methods, self.settings().checked())
        except XaideskError as error:
            self.status_label.setText(error.message)
            return None
        self.progress_bar.setValue(0)
        self.status_label.setText(f"Evaluating {len(methods)} method(s) …")
        self._job = self.runner.submit(job, CHANNEL)
        self._update_enabled()
        return self._job

    def cancel(self) -> None:
        if self._job is not None:
            self.status_label.setText("Cancelling …")
            self.runner.cancel(self._job)

    def _on_progress(self, job_id: int, fraction: float, message: str, partial: object) -> None:
        if job_id != self._job:
            return
        self.progress_bar.setValue(int(round(1000 * fraction)))
        self.status_label.setText(progress_text(fraction, self.runner.elapsed(job_id), message))

    def _on_finished(self, job_id: int, results: object) -> None:
        if job_id != self._job:
            return
        self._job = None
        self.progress_bar.setValue(1000)
        self.show_results(list(results))
        self.evaluated.emit(self.results)

    def _on_failed(self, job_id: int, failure: object) -> None:
        if job_id != self._job:
            return
        self._job = None
        self.progress_bar.setValue(0)
        self.status_label.setText("The evaluation failed.")
        self._update_enabled()
        error_dialog.show_error(self, "Could not evaluate the explanations", failure)

    def _on_cancelled(self, job_id: int) -> None:
        if job_id != self._job:
            return
        self._job = None
        self.progress_bar.setValue(0)
        self.status_label.setText("Cancelled; the results shown (if any) are from the previous evaluation.")
        self._update_enabled()

    def show_results(self, results: list) -> None:
        self.results = results
        self.plot.set_results(results)
        self.table.set_results(results)
        if results:
            best = max(results, key=lambda r: r.areas()["aopc_morf_minus_random"])
            seconds = sum(r.seconds for r in results)
            self.status_label.setText(
                f"{len(results)} method(s) evaluated in {seconds:.1f} s on {results[0].units}. "
                f"Fastest fall against random: {method_title(best.method)}.")
        self._update_enabled()

    def open_results(self, folder) -> list:
        """Show the results of an ``evaluate`` output folder; returns them."""
        results = read_results(folder)
        self.show_results(results)
        self.status_label.setText(f"Opened {len(results)} result(s) from {Path(folder).name}. "
                                  + self.status_label.text())
        return results

    def _choose_results_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open faithfulness results (an 'evaluate' output folder)")
        if not folder:
            return
        try:
            self.open_results(folder)
        except XaideskError as error:
            error_dialog.show_error(self, "Could not open the results", JobFailure.from_exception(error))

    # ------------------------------------------------------------------ export
    def export_csv(self, path) -> Path:
        from ...core.io import write_bytes_atomic

        return write_bytes_atomic(path, areas_csv(self.results).encode("utf-8"))

    def export_png(self, path) -> Path:
        from ...core.io import write_bytes_atomic
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice

        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        self.plot.grab().save(buffer, "PNG")
        buffer.close()
        return write_bytes_atomic(path, bytes(data.data()))

    def _choose_csv_path(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the areas table", "faithfulness_areas.csv", "CSV (*.csv)")
        if path:
            self._export(self.export_csv, path)

    def _choose_png_path(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the plot", "faithfulness_curves.png", "PNG (*.png)")
        if path:
            self._export(self.export_png, path)

    def _export(self, write, path) -> None:
        try:
            write(path)
        except OSError as error:
            error_dialog.show_error(self, "Could not write the file", JobFailure.from_exception(error))
        else:
            self.status_label.setText(f"Saved {Path(path).name}.")


class FaithfulnessDialog(QDialog):
    """A window around a :class:`FaithfulnessPanel` (closing it cancels a running evaluation)."""

    def __init__(self, panel: FaithfulnessPanel, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.panel = panel
        layout = QVBoxLayout(self)
        layout.addWidget(panel)
        self.resize(1000, 720)  # room for the legend under the curves

    def done(self, result: int) -> None:  # noqa: D102 - Qt override
        self.panel.cancel()
        super().done(result)
