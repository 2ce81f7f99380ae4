"""The Tables tab's "Counterfactuals" page: what would have to change in the selected row for the wanted outcome.

It works on the fitted model of a "Target: readable model" result (``result.extras["fitted"]``):
the person picks the wanted outcome and how clearly it must be reached, which features may change
and within which values, how many may change at once and how many answers to find; a hint above
the grid says that the search knows nothing of what is possible; "Find" runs
:func:`xaidesk.tabular.counterfactual.counterfactuals` in the window's runner; the answers are
listed as changes from the row, each with the model's output and whether the model was checked to
give the wanted outcome. "Save…" writes them with :func:`xaidesk.export.counterfactuals.write_counterfactuals`.
Features named like a code (a postcode) start frozen: a change of code is not a change of amount.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy,
    QSpinBox, QSplitter, QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from ...core import InputError, MethodError, XaideskError
from ..formatting import format_value
from ..widgets import error_dialog
from ..widgets.panel_jobs import PanelJobs, job_controls
from .table_counterfactual_inputs import ConstraintGrid, MarginPicker, WantedPicker, value_text

PLACEHOLDER = ("Counterfactuals need a fitted model. Mark the target column, choose the analysis \u201cTarget: "
               "readable model and Shapley values\u201d, run it, then pick a row in the Ranking view.")
HINT = ("The search does not know what is possible (say, 30 years of credit history at 21): untick what cannot "
        "change and narrow the ranges.")
NOTHING_FOUND = "No answer within these constraints: see the message."
#: Heights of the constraint grid and the answers before any answer is found, and once some are.
SHARES_BEFORE, SHARES_AFTER = (400, 140), (220, 260)


class CounterfactualList(QTableWidget):
    """The counterfactuals found: what changes, the model's output, the outcome and whether it was checked."""

    HEADERS = ("#", "What changes", "Model's output", "Outcome", "Checked")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.HEADERS), parent)
        self.setHorizontalHeaderLabels(self.HEADERS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)

    def reset(self) -> None:
        """No rows, and the headers of no particular model."""
        self.setRowCount(0)
        self.setHorizontalHeaderLabels(self.HEADERS)

    def show_result(self, result) -> None:
        self.reset()
        output = result.output_name[:1].upper() + result.output_name[1:]
        self.setHorizontalHeaderItem(2, QTableWidgetItem(output))
        self.horizontalHeaderItem(2).setToolTip(output)
        decimals = dict(result.constraints.get("decimals", {}))
        self.setRowCount(len(result.counterfactuals))
        for i, cf in enumerate(result.counterfactuals):
            changes = "\n".join(f"{f}: {value_text(b, decimals.get(f, 0))} \u2192 {value_text(a, decimals.get(f, 0))}"
                                for f, b, a in cf.changes)
            checked = "\u2713 yes" if cf.verified else "\u2717 no"
            outcome = f"{result.wanted.split(' = ')[0]} = {cf.outcome}" if result.task == "classification" else cf.outcome
            for column, text in enumerate((str(i + 1), changes, format_value(cf.output), outcome, checked)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column == 4:
                    item.setToolTip("The model was asked again about this changed row and gave the wanted outcome."
                                    if cf.verified else "The model does not give the wanted outcome for this row.")
                self.setItem(i, column, item)
        self.resizeRowsToContents()


class TableCounterfactualView(QWidget):
    """The page: the selected row, the constraints, Find, the counterfactuals found, and Save…."""

    TITLE = "Counterfactuals"

    def __init__(self, runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = PanelJobs(runner, "table.counterfactual", self)
        self.fitted = None
        self.row_ids = None
        self.position: int | None = None
        self.result = None
        self.stack = QStackedWidget()
        self.placeholder = QLabel(PLACEHOLDER)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.content = QWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.content)
        QVBoxLayout(self).addWidget(self.stack)
        self._build_content()
        self.clear()

    def _build_content(self) -> None:
        layout = QVBoxLayout(self.content)
        self.row_label = _wrapped()
        layout.addWidget(self.row_label)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.wanted = WantedPicker()
        form.addRow("Wanted outcome", self.wanted)
        self.margin = MarginPicker()
        form.addRow("How clearly", self.margin)
        self.max_changes = QSpinBox()
        self.max_changes.setRange(0, 100)
        self.max_changes.setSpecialValueText("any number")
        self.max_changes.setToolTip("Fewer changes are easier to act on; 'any number' lets every free feature change.")
        self.count = QSpinBox()
        self.count.setRange(1, 10)
        self.count.setValue(3)
        counts = QHBoxLayout()
        counts.addWidget(self.count)
        counts.addWidget(QLabel("answers, each changing at most"))
        counts.addWidget(self.max_changes)
        counts.addWidget(QLabel("features"))
        counts.addStretch(1)
        form.addRow("Find", counts)
        layout.addLayout(form)
        self.hint = _wrapped(f"\u26a0 {HINT}")
        layout.addWidget(self.hint)
        layout.addWidget(_wrapped("Which features may change, and between which values (the defaults are the "
                                  "values seen in the table):"))
        self.grid = ConstraintGrid()
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.grid)
        below = QWidget()
        below_layout = QVBoxLayout(below)
        below_layout.setContentsMargins(0, 0, 0, 0)
        controls, self.find_button = job_controls(self.jobs, "Find counterfactuals", self.find)
        self.status = controls.findChild(QLabel)
        below_layout.addWidget(controls)
        self.message = _wrapped()
        below_layout.addWidget(self.message)
        self.answers = CounterfactualList()
        below_layout.addWidget(self.answers, 1)
        self.save_button = QPushButton("Save\u2026")
        self.save_button.setToolTip("Write counterfactuals.csv, changes.csv and counterfactuals.json into a folder.")
        self.save_button.clicked.connect(self._ask_folder)
        below_layout.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignRight)
        self.splitter.addWidget(below)
        self.splitter.setSizes(list(SHARES_BEFORE))
        layout.addWidget(self.splitter, 1)

    # ---- the page interface ----------------------------------------------------------------------------------

    def show_result(self, result) -> None:
        fitted = (getattr(result, "extras", None) or {}).get("fitted") if result is not None else None
        if fitted is None:
            self.clear()
            return
        self.jobs.cancel()
        self.fitted, self.row_ids = fitted, np.asarray(getattr(result, "row_ids", np.arange(len(fitted.X))))
        self.grid.set_model(list(fitted.feature_names), np.asarray(fitted.X, dtype=float))
        self.wanted.set_model(fitted)
        self.margin.set_model(fitted)
        self.stack.setCurrentWidget(self.content)
        self.set_row(self.position if self.position is not None and self.position < len(fitted.X) else 0)

    def clear(self) -> None:
        self.jobs.cancel()
        self.fitted, self.row_ids, self.position = None, None, None
        self.row_label.setText("")
        self.status.setText("")
        self._forget_answers("")
        self.stack.setCurrentWidget(self.placeholder)

    def plot_widget(self) -> QWidget:
        return self.content

    def set_row(self, position: int) -> None:
        self.position = int(position)
        if self.fitted is None:
            return
        self.jobs.cancel()
        values = np.asarray(self.fitted.X, dtype=float)[self.position]
        self.grid.set_row_values(values)
        output = float(self.fitted.predict_output(values[None])[0])
        if self.fitted.task == "classification":
            index = int(self.fitted.estimator.predict(values[None])[0])
            gets = f"{self.fitted.target_name} = {self.fitted.class_names[index]}"
        else:
            index, gets = None, f"a predicted {self.fitted.target_name} of {format_value(output)}"
        self.wanted.set_row(self.fitted, output, index)
        self.row_label.setText(f"Row {self._row_id()} of the table. Model: {self.fitted.title}. It gives this row "
                               f"{gets} ({self.fitted.output_name}: {format_value(output)}).")
        self._forget_answers("Choose the wanted outcome and what may change, then press Find counterfactuals.")

    # ---- finding and saving ----------------------------------------------------------------------------------

    def _row_id(self) -> int:
        return int(self.row_ids[self.position]) if self.row_ids is not None and self.position < len(self.row_ids) \
            else self.position

    def settings(self) -> dict:
        """The search's settings as the page shows them."""
        return {"wanted": self.wanted.wanted(self.fitted), "count": self.count.value(), "frozen": self.grid.frozen(),
                "ranges": self.grid.ranges(), "max_changes": self.max_changes.value() or None,
                "margin": self.margin.margin()}

    def find(self) -> None:
        from ...tabular.counterfactual import counterfactuals

        if self.fitted is None or self.position is None:
            return
        fitted, position, settings = self.fitted, self.position, self.settings()
        self._forget_answers("")
        self.jobs.run("find", lambda token, progress: counterfactuals(fitted, position, **settings, token=token,
                                                                      progress=progress),
                      self._found, self._not_found)

    def _found(self, result) -> None:
        self.result = result
        self.answers.show_result(result)
        self._show_answers(True)
        notes = " ".join(result.notes)
        wanted = result.constraints["requirement"]
        self.message.setText(f"{len(result.counterfactuals)} ways to get {wanted} (found in {result.seconds:.2f} s; "
                             f"the model was asked again about each). {notes}".strip())

    def _not_found(self, failure) -> None:
        self.message.setText(error_dialog.error_text(failure)[0])
        if isinstance(getattr(failure, "error", failure), (MethodError, InputError)):
            self.status.setText(NOTHING_FOUND)
        else:
            error_dialog.show_error(self, "Could not search for counterfactuals", failure)

    def _forget_answers(self, message: str) -> None:
        self.result = None
        self.answers.reset()
        self.message.setText(message)
        self._show_answers(False)

    def _show_answers(self, shown: bool) -> None:
        """The answers and Save… take room only once there are answers; until then the grid has it."""
        self.answers.setVisible(shown)
        self.save_button.setVisible(shown)
        self.save_button.setEnabled(shown)
        self.splitter.setSizes(list(SHARES_AFTER if shown else SHARES_BEFORE))

    def start_folder(self) -> str:
        """Where Save… opens: the folder the Tables tab last used, else the person's documents folder."""
        widget = self.parentWidget()
        while widget is not None:
            last = getattr(widget, "_last_folder", None)
            if callable(last) and last():
                return str(last())
            widget = widget.parentWidget()
        return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation) or str(Path.home())

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the counterfactuals", self.start_folder())
        if folder:
            self.save_to(folder)

    def save_to(self, folder) -> None:
        """Write the counterfactuals shown into ``folder`` (errors are shown in a dialog)."""
        from ...export.counterfactuals import write_counterfactuals

        if self.result is None:
            return
        try:
            write_counterfactuals(folder, self.result, source={"row": self._row_id(), "model": self.fitted.title,
                                                               "target_column": self.fitted.target_name})
        except (XaideskError, OSError) as error:
            error_dialog.show_error(self, "Could not save the counterfactuals", error)
            return
        self.message.setText(f"Saved to {folder}.")
        self._remember(folder)

    def _remember(self, folder) -> None:
        widget = self.parentWidget()
        while widget is not None:
            remember = getattr(widget, "_remember_folder", None)
            if callable(remember):
                remember(Path(folder) / "counterfactuals.csv")
                return
            widget = widget.parentWidget()


def _wrapped(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(200)
    return label


__all__ = ["TableCounterfactualView"]
