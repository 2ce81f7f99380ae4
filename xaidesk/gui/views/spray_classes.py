"""Which classes of a batch run are suspicious: SpRAy on every class, ranked, in a sortable table.

:class:`ClassesView` runs :func:`xaidesk.evaluate.spray.classes.rank_classes` in the runner and
lists the classes with the top suspects first (the largest Fisher criterion). A double-click (or
Enter) on a class asks for it to be opened in the SpRAy view (``class_opened``). The scores are
computed in :mod:`xaidesk.evaluate.spray.classes`; this module dispatches and draws.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..formatting import format_value
from ..runner import Runner
from ..widgets import error_dialog
from .view_common import OneJobStatusMixin, Placeholder

CHANNEL = "dataset.spray_classes"
#: What the table says until a ranking fills it.
EMPTY_MESSAGE = ("No ranking yet. Open a batch run, choose a method above and press 'Rank all classes': SpRAy then "
                 "runs on every class with enough heatmaps, and the classes whose heatmaps split most clearly "
                 "into separate strategies (possible shortcuts) come first. Double-click a class to open it.")
#: (header, tooltip) of each column, in order.
COLUMNS = (
    ("Rank", "The order of suspicion: 1 is the class whose heatmaps split most clearly into separate groups."),
    ("Class", "The explained class."),
    ("Heatmaps", "How many heatmaps of this class were compared."),
    ("Fisher", "Fisher criterion: how far apart the heatmap clusters lie compared with their spread. A large value "
               "means the class's heatmaps split into separate strategies — a possible shortcut (Clever Hans). "
               "Classes are ranked by it."),
    ("Eigengap (k)", "The largest jump between the eigenvalues of the heatmaps' neighbour graph, and the number "
                     "of groups k it suggests. A large jump after k > 1 means k nearly separate groups."),
    ("Smallest cluster", "The share of the heatmaps in the smallest cluster. A shortcut is often used on only "
                         "part of the images, so it shows as a small, separate cluster."),
)
#: Role holding the number a column sorts by.
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


def _item(text: str, sort_value, *, align_right: bool = True) -> QStandardItem:
    item = QStandardItem(text)
    item.setData(sort_value, SORT_ROLE)
    item.setEditable(False)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class ClassesView(OneJobStatusMixin, QWidget):
    """The classes of a run ranked by how clearly their heatmaps split, with progress and cancel.

    Signals
    -------
    class_opened(str)
        The label of a class the person double-clicked: show it in the SpRAy view.
    status_message(str)
        Text for the window's status bar.
    """

    class_opened = Signal(str)
    status_message = Signal(str)

    def __init__(self, runner: Runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.ranked: list = []
        self.method: str | None = None
        self._job: int | None = None
        self._build()
        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)
        self._update_enabled()

    def _build(self) -> None:
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        for column, (header, tooltip) in enumerate(COLUMNS):
            item = QStandardItem(header)
            item.setToolTip(tooltip)
            self.model.setHorizontalHeaderItem(column, item)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(70)
        self.table.setToolTip("Double-click a class (or press Enter) to open it in the Clusters view.")
        self.table.doubleClicked.connect(self._open_index)
        self.table.activated.connect(self._open_index)
        self.open_button = QPushButton("Open class")
        self.open_button.setToolTip("Show the selected class's clusters, heatmap map and members.")
        self.open_button.clicked.connect(lambda: self._open_index(self.table.currentIndex()))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(8)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.views = Placeholder(self.table, EMPTY_MESSAGE)

        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.views, 1)

    # ------------------------------------------------------------------ running
    def is_running(self) -> bool:
        return self._job is not None

    def rank(self, run_dir, method: str, options: dict) -> int | None:
        """Rank every class of ``run_dir`` explained with ``method`` in the runner; returns the job id.

        ``options`` go to :func:`~xaidesk.evaluate.spray.classes.rank_classes` (``size``,
        ``n_neighbors``, ``values``); a class needs more heatmaps than neighbours.
        """
        if run_dir is None or method is None:
            return None
        from ...evaluate.spray.classes import MIN_HEATMAPS

        run_dir = Path(run_dir)
        min_heatmaps = max(MIN_HEATMAPS, int(options.get("n_neighbors") or 0) + 1)

        def job(token, progress):
            from ...evaluate.spray.classes import rank_classes
            from ...evaluate.spray.run_heatmaps import read_run_index, run_classes

            ranked = rank_classes(run_dir, method=method, min_heatmaps=min_heatmaps, token=token,
                                  progress=lambda f, m="", p=None: progress(f, m), **options)
            _run, rows = read_run_index(run_dir)
            ranked_labels = {c.label for c in ranked}
            left_out = [label for _index, label, _count in run_classes(rows, method) if label not in ranked_labels]
            return ranked, left_out, min_heatmaps

        self.method = method
        return self._start_job(job, CHANNEL, f"Running SpRAy on every class of '{run_dir.name}' …",
                               "SpRAy: ranking the classes …")

    def _on_finished(self, job_id: int, outcome: object) -> None:
        if job_id != self._job:
            return
        ranked, left_out, min_heatmaps = outcome
        self.show_ranking(ranked)
        count = f"{len(ranked)} class ranked" if len(ranked) == 1 else f"{len(ranked)} classes ranked"
        text = f"{count}; the top suspect is '{ranked[0].label}'." if ranked else "No class ranked."
        if left_out:
            text += (f" Left out, with fewer than {min_heatmaps} heatmaps: {', '.join(left_out[:5])}"
                     + (f" and {len(left_out) - 5} more." if len(left_out) > 5 else "."))
        self._end(text + " Double-click a class to open it.")

    def _on_failed(self, job_id: int, failure: object) -> None:
        if job_id != self._job:
            return
        from ...core import InputError

        error = getattr(failure, "error", None)
        if isinstance(error, InputError):  # a refusal (too few heatmaps, several methods): said in the view
            self._end("The classes could not be ranked.")
            self.ranked = []
            self.model.removeRows(0, self.model.rowCount())
            self.views.show_message(error.message)
            return
        self._end("Ranking the classes stopped with an error.")
        error_dialog.show_error(self, "The classes could not be ranked", failure)

    def _on_cancelled(self, job_id: int) -> None:
        if job_id == self._job:
            self._end("Cancelled; the previous ranking is still shown." if self.ranked else "Cancelled.")

    # ------------------------------------------------------------------ the table
    def show_ranking(self, ranked: list) -> None:
        """Fill the table with ``ranked`` (:class:`~xaidesk.evaluate.spray.classes.ClassSuspicion`, top first)."""
        self.ranked = list(ranked)
        self.model.removeRows(0, self.model.rowCount())
        for rank, suspicion in enumerate(self.ranked, start=1):
            row = [
                _item(str(rank), rank),
                _item(suspicion.label, suspicion.label.lower(), align_right=False),
                _item(str(suspicion.heatmaps), suspicion.heatmaps),
                _item(format_value(suspicion.fisher), suspicion.fisher),
                _item(f"{format_value(suspicion.eigengap)} ({suspicion.eigengap_k})", suspicion.eigengap),
                _item(f"{100 * suspicion.smallest_cluster_share:.0f}% of {suspicion.clusters} clusters",
                      suspicion.smallest_cluster_share),
            ]
            row[1].setData(suspicion.label, Qt.ItemDataRole.UserRole)
            self.model.appendRow(row)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        if self.ranked:
            self.views.show_content()
            self.table.selectRow(0)
        else:
            self.views.show_message(EMPTY_MESSAGE)
        self._update_enabled()

    def label_at(self, row: int) -> str:
        """The class label in table row ``row`` as shown (after sorting)."""
        return str(self.proxy.index(row, 1).data(Qt.ItemDataRole.UserRole))

    def _open_index(self, index) -> None:
        if index is None or not index.isValid():
            return
        self.class_opened.emit(self.label_at(index.row()))

    def _update_enabled(self) -> None:
        running = self.is_running()
        self.cancel_button.setEnabled(running)
        self.open_button.setEnabled(bool(self.ranked) and not running)
