"""The SpRAy panel: find a model's strategies in one class of a batch run.

:class:`SprayPanel` picks a method and an explained class from a run's index,
runs :func:`xaidesk.evaluate.spray.spray` in the runner, and shows the
Laplacian's eigenvalue spectrum with the eigengap, the 2D embedding coloured by
cluster, each cluster's mean heatmap and the selected cluster's members. Its
Classes page (:mod:`.spray_classes`) ranks every class of the run. The
computation and the result files live in :mod:`xaidesk.evaluate.spray`; this
module dispatches and draws.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...core import InputError, render
from ...evaluate import spray as spray_core
from ..runner import Runner
from ..widgets import error_dialog
from .dataset_views import method_title
from .spray_classes import ClassesView
from .view_common import BACKGROUND, ElidedLabel, OneJobStatusMixin, Placeholder

CHANNEL = "dataset.spray"
#: Member thumbnails shown at most for one cluster (the most typical members first).
MAX_THUMBNAILS = 300
THUMBNAIL_SIZE = 96
#: What the result views say until an analysis (or a saved result) fills them.
EMPTY_MESSAGE = ("Nothing to show yet. Choose a method and a class above and press Analyse (or open saved SpRAy "
                 "results): the eigenvalues, a map of the heatmaps, each cluster's mean heatmap and its members "
                 "then appear here.")


def _white_plot(title: str, bottom: str, left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    plot.setMenuEnabled(False)
    item = plot.getPlotItem()
    item.setTitle(title, color="#333333", size="10pt")
    item.setLabel("bottom", bottom)
    item.setLabel("left", left)
    item.showGrid(x=True, y=True, alpha=0.15)
    item.hideButtons()
    for name in ("left", "bottom"):
        item.getAxis(name).enableAutoSIPrefix(False)
        item.getAxis(name).setPen(pg.mkPen("#666666"))
        item.getAxis(name).setTextPen(pg.mkPen("#333333"))
    plot.setMinimumSize(280, 200)
    return plot


class SpectrumPlot(QWidget):
    """The smallest eigenvalues of the graph Laplacian, with the eigengap marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = _white_plot("Eigenvalues of the graph Laplacian", "eigenvalue number", "eigenvalue")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.eigenvalues = np.zeros(0)
        self.gap_position: float | None = None

    def clear(self) -> None:
        self.plot.getPlotItem().clear()
        self.eigenvalues = np.zeros(0)
        self.gap_position = None

    def set_spectrum(self, eigenvalues: np.ndarray, eigengap_k: int, used_k: int) -> None:
        self.clear()
        item = self.plot.getPlotItem()
        self.eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
        x = np.arange(1, len(self.eigenvalues) + 1)
        item.plot(x, self.eigenvalues, pen=pg.mkPen("#1f77b4", width=1.5), symbol="o", symbolSize=7,
                  symbolBrush=pg.mkBrush("#1f77b4"), symbolPen=None)
        # The gap between eigenvalue number k and k + 1 (counting from 1) suggests k clusters.
        self.gap_position = eigengap_k + 0.5
        line = pg.InfiniteLine(pos=self.gap_position, angle=90, pen=pg.mkPen("#d62728", width=2, style=Qt.PenStyle.DashLine),
                               label=f"eigengap: k = {eigengap_k}",
                               labelOpts={"position": 0.85, "color": "#d62728", "anchors": [(0, 0), (0, 0)]})
        item.addItem(line)
        if used_k != eigengap_k:
            used = pg.InfiniteLine(pos=used_k + 0.5, angle=90, pen=pg.mkPen("#555555", width=1.5, style=Qt.PenStyle.DotLine),
                                   label=f"used: k = {used_k}",
                                   labelOpts={"position": 0.3, "color": "#555555", "anchors": [(0, 0), (0, 0)]})
            item.addItem(used)
        item.setXRange(0.5, len(x) + 0.5, padding=0.02)
        item.enableAutoRange(axis="y")


class EmbeddingPlot(QWidget):
    """The maps in 2D, one colour per cluster; a click on a point selects it.

    Signals
    -------
    point_clicked(int)
        Index of the clicked map.
    """

    point_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = _white_plot("Embedding of the heatmaps: colours as the clusters below (click a point)", "", "")
        item = self.plot.getPlotItem()
        item.getAxis("bottom").setStyle(showValues=False)
        item.getAxis("left").setStyle(showValues=False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.scatters: list[pg.ScatterPlotItem] = []
        self.marker = pg.ScatterPlotItem(size=18, symbol="o", brush=None, pen=pg.mkPen("#000000", width=2.5))
        self.coords = np.zeros((0, 2))

    def clear(self) -> None:
        self.plot.getPlotItem().clear()
        self.scatters = []
        self.coords = np.zeros((0, 2))

    def set_points(self, coords: np.ndarray, labels: np.ndarray) -> None:
        self.clear()
        item = self.plot.getPlotItem()
        self.coords = np.asarray(coords, dtype=np.float64)
        for c in range(int(labels.max()) + 1 if len(labels) else 0):
            members = np.flatnonzero(labels == c)
            scatter = pg.ScatterPlotItem(x=self.coords[members, 0], y=self.coords[members, 1], data=members,
                                         size=9, brush=pg.mkBrush(*spray_core.cluster_color(c), 220),
                                         pen=pg.mkPen("#333333", width=0.6), hoverable=True,
                                         name=f"cluster {c} ({len(members)})")
            scatter.sigClicked.connect(self._clicked)
            item.addItem(scatter)
            self.scatters.append(scatter)
        self.marker.setData([], [])
        item.addItem(self.marker)

    def mark(self, index: int | None) -> None:
        if index is None or not 0 <= index < len(self.coords):
            self.marker.setData([], [])
        else:
            self.marker.setData([self.coords[index, 0]], [self.coords[index, 1]])

    def _clicked(self, _scatter, points, _event=None) -> None:
        if len(points):
            self.point_clicked.emit(int(points[0].data()))


class ClusterMeans(QWidget):
    """Each cluster's mean heatmap in a row, each on its own symmetric colour levels; a click selects one.

    Signals
    -------
    cluster_clicked(int)
    """

    cluster_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Mean heatmap of each cluster (click one to see its members)")
        self.title.setObjectName("viewTitle")
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(BACKGROUND)
        self.graphics.setMinimumHeight(150)
        self.graphics.scene().sigMouseClicked.connect(self._scene_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.graphics, 1)
        self.views: list[pg.ViewBox] = []
        self.images: list[pg.ImageItem] = []
        self.labels: list[pg.LabelItem] = []
        self.levels: list[tuple[float, float]] = []
        self.selected: int | None = None
        self.cmap = render.DEFAULT_COLORMAP

    def clear(self) -> None:
        self.graphics.clear()
        self.views, self.images, self.labels = [], [], []
        self.selected = None

    def set_means(self, means: np.ndarray, sizes: list[int]) -> None:
        self.clear()
        # Own levels per mean: where each cluster looks matters here, not how strongly (the maps are normalised).
        self.levels = [render.symmetric_levels(mean, percentile=100) for mean in means]
        rows = int(np.ceil(len(means) / 4))
        columns = int(np.ceil(len(means) / rows)) if rows else 1
        for c, mean in enumerate(means):
            row, col = divmod(c, columns)
            label = self.graphics.addLabel(f"cluster {c} · {sizes[c]}", row=2 * row, col=col,
                                           color=spray_core.cluster_color(c), size="9pt")
            view = self.graphics.addViewBox(row=2 * row + 1, col=col, lockAspect=True, enableMouse=False, invertY=True)
            view.setMenuEnabled(False)
            image = pg.ImageItem(np.asarray(mean, dtype=np.float32), levels=self.levels[c],
                                 lut=render.COLORMAPS[self.cmap])
            view.addItem(image)
            view.autoRange(padding=0.02)
            self.views.append(view)
            self.images.append(image)
            self.labels.append(label)

    def select(self, cluster: int | None) -> None:
        self.selected = cluster
        for c, view in enumerate(self.views):
            color = spray_core.cluster_color(c)
            view.setBorder(pg.mkPen(color, width=4) if c == cluster else None)

    def _scene_clicked(self, event) -> None:
        for c, view in enumerate(self.views):
            if view.sceneBoundingRect().contains(event.scenePos()):
                self.cluster_clicked.emit(c)
                return


class SprayPanel(OneJobStatusMixin, QWidget):
    """SpRAy on one class of a batch run: settings, Analyse, and the four result views.

    Signals
    -------
    open_item_requested(path, modality, model_spec, method, target)
        A member thumbnail was double-clicked: open this input in its tab, explained with this
        method and class.
    status_message(str)
        Text for the window's status bar.
    correct_requested(spec, preset)
        "Correct the model for this cluster…" outside a main window: the run's model spec and the cluster's
        images (:func:`xaidesk.gui.repair_jobs.spray_selection`) for the Model workflow.
    """

    open_item_requested = Signal(str, str, str, str, int)
    status_message = Signal(str)
    correct_requested = Signal(object, object)

    def __init__(self, runner: Runner, settings=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.settings = settings
        self.run_dir: Path | None = None
        self.rows: list[dict] = []
        self.result: spray_core.SprayResult | None = None
        self.heatmaps: spray_core.RunHeatmaps | None = None
        self.selected_cluster: int | None = None
        self.selected_item: int | None = None
        self._job: int | None = None
        self._build()
        self._restore_settings()
        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)
        self._update_enabled()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.method_combo = QComboBox()
        self.method_combo.setToolTip("The explanation method whose heatmaps are compared.")
        self.method_combo.currentIndexChanged.connect(self._fill_classes)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The explained class: SpRAy compares heatmaps of one class.")
        self.class_combo.currentIndexChanged.connect(lambda *_: self._update_enabled())
        self.size_spin = QSpinBox()
        self.size_spin.setRange(4, 128)
        self.size_spin.setValue(spray_core.DEFAULT_SIZE)
        self.size_spin.setSuffix(" cells")
        self.size_spin.setToolTip("Each heatmap is averaged down to this many cells per side before comparing.")
        self.neighbors_spin = QSpinBox()
        self.neighbors_spin.setRange(1, 200)
        self.neighbors_spin.setValue(spray_core.DEFAULT_NEIGHBORS)
        self.neighbors_spin.setToolTip("Neighbours per heatmap in the nearest-neighbour graph.")
        self.clusters_spin = QSpinBox()
        self.clusters_spin.setRange(1, 50)
        self.clusters_spin.setSpecialValueText("Automatic")
        self.clusters_spin.setValue(1)
        self.clusters_spin.setToolTip("Number of clusters; 'Automatic' takes the number the eigengap suggests.")
        self.values_combo = QComboBox()
        for text, value in (("|R|", "abs"), ("positive R", "positive"), ("signed R", "signed")):
            self.values_combo.addItem(text, value)
        self.values_combo.setToolTip("Compare where the model looks (|R|, the default), only the evidence "
                                     "for the class (positive R), or the signed maps.")
        self.analyse_button = QPushButton("Analyse")
        self.analyse_button.setToolTip("Cluster the heatmaps (spectral relevance analysis).")
        self.analyse_button.clicked.connect(self.analyse)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open SpRAy results…")
        self.open_button.setToolTip("Show a result folder written by 'python -m xaidesk spray' or by Save results.")
        self.open_button.clicked.connect(self.choose_results_folder)
        self.save_button = QPushButton("Save results…")
        self.save_button.setToolTip("Write clusters.csv, eigenvalues.csv, the pictures and summary.json to a folder.")
        self.save_button.clicked.connect(self.choose_save_folder)
        self.rank_button = QPushButton("Rank all classes…")
        self.rank_button.setToolTip("Run SpRAy on every class of the run and list the classes whose heatmaps split "
                                    "most clearly into separate strategies (possible shortcuts) first.")
        self.rank_button.clicked.connect(self.rank_classes)

        controls = QGridLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        pairs = [("Method", self.method_combo), ("Class", self.class_combo), ("Maps", self.values_combo),
                 ("Size", self.size_spin), ("Neighbours", self.neighbors_spin), ("Clusters", self.clusters_spin)]
        for col, (text, widget) in enumerate(pairs):
            controls.addWidget(QLabel(text), 0, col)
            controls.addWidget(widget, 1, col)
            if col >= 2:
                widget.setMinimumWidth(95)
        controls.setColumnStretch(0, 3)
        controls.setColumnStretch(1, 2)
        buttons = QHBoxLayout()
        for button in (self.analyse_button, self.cancel_button, self.rank_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.save_button)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(8)
        self.status_label = QLabel("Open a batch run to analyse its heatmaps.")
        self.status_label.setWordWrap(True)  # the summary is read whole: it says how far to trust the clusters

        self.spectrum = SpectrumPlot()
        self.embedding = EmbeddingPlot()
        self.embedding.point_clicked.connect(self.select_item)
        self.means = ClusterMeans()
        self.means.cluster_clicked.connect(self.select_cluster)
        self.members_label = ElidedLabel("Members of the selected cluster (double-click one to open it)")
        self.members_label.setObjectName("viewTitle")
        self.members = QListWidget()
        self.members.setViewMode(QListWidget.ViewMode.IconMode)
        self.members.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.members.setGridSize(QSize(THUMBNAIL_SIZE + 16, THUMBNAIL_SIZE + 22))
        self.members.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.members.setMovement(QListWidget.Movement.Static)
        self.members.setUniformItemSizes(True)
        self.members.setWordWrap(False)
        self.members.itemClicked.connect(lambda item: self.select_item(int(item.data(Qt.ItemDataRole.UserRole))))
        self.members.itemDoubleClicked.connect(self._open_member)

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.spectrum)
        top.addWidget(self.embedding)
        top.setSizes([400, 500])
        members_box = QWidget()
        members_layout = QVBoxLayout(members_box)
        members_layout.setContentsMargins(0, 0, 0, 0)
        members_layout.setSpacing(2)
        self.correct_button = QPushButton("Correct the model for this cluster…")
        self.correct_button.setToolTip("Open 'Correct, prune or fine-tune' with this cluster's images as the ones "
                                       "that carry the artefact and the other clusters' images as clean ones.")
        self.correct_button.clicked.connect(self.correct_cluster)
        members_title = QHBoxLayout()
        members_title.addWidget(self.members_label, 1)
        members_title.addWidget(self.correct_button)
        members_layout.addLayout(members_title)
        members_layout.addWidget(self.members, 1)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.means)
        bottom.addWidget(members_box)
        bottom.setSizes([450, 450])
        views = QSplitter(Qt.Orientation.Vertical)
        views.addWidget(top)
        views.addWidget(bottom)
        views.setSizes([320, 280])
        self.views = Placeholder(views, EMPTY_MESSAGE)
        self.classes_view = ClassesView(self.runner)
        self.classes_view.class_opened.connect(self.open_class)
        self.classes_view.status_message.connect(self.status_message)
        self.pages = QTabWidget()
        self.pages.addTab(self.views, "Clusters")
        self.pages.addTab(self.classes_view, "Classes")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.pages, 1)

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        if self.settings is None:
            return
        for key, spin in (("spray/size", self.size_spin), ("spray/neighbors", self.neighbors_spin)):
            value = self.settings.value(key)
            try:
                if value is not None:
                    spin.setValue(int(value))
            except (TypeError, ValueError):
                pass

    def _remember_settings(self) -> None:
        if self.settings is not None:
            self.settings.setValue("spray/size", self.size_spin.value())
            self.settings.setValue("spray/neighbors", self.neighbors_spin.value())

    def _last_folder(self) -> str:
        if self.settings is None:
            return str(self.run_dir or "")
        return str(self.settings.value("spray/last_folder", "") or self.run_dir or "")

    # ------------------------------------------------------------------ the run
    def set_run(self, run_dir) -> None:
        """Read the run's index and offer its methods and explained classes (the results stay until Analyse)."""
        run_dir = Path(run_dir)
        if run_dir != self.run_dir:  # another run: its classes are not ranked yet
            self.classes_view.show_ranking([])
        try:
            _run, rows = spray_core.read_run_index(run_dir)
        except InputError as error:
            self.run_dir, self.rows = None, []
            self.method_combo.clear()
            self.class_combo.clear()
            self.status_label.setText(error.message)
            self._update_enabled()
            return
        previous = self.method_combo.currentData()
        self.run_dir, self.rows = run_dir, rows
        self.method_combo.blockSignals(True)
        self.method_combo.clear()
        for method in spray_core.run_methods(rows):
            self.method_combo.addItem(method_title(method), method)
        index = self.method_combo.findData(previous)
        self.method_combo.setCurrentIndex(max(index, 0))
        self.method_combo.blockSignals(False)
        self._fill_classes()
        self.status_label.setText(f"The run '{run_dir.name}' holds {len(rows)} heatmaps. Choose a method and a class, "
                                  "then press Analyse." if rows else f"The run '{run_dir.name}' has no finished items yet.")

    def _fill_classes(self, *_args) -> None:
        previous = self.class_combo.currentData()
        self.class_combo.clear()
        method = self.method_combo.currentData()
        if method is not None:
            for index, label, count in spray_core.run_classes(self.rows, method):
                self.class_combo.addItem(f"{label} ({count})", label)
        found = self.class_combo.findData(previous)
        if found >= 0:
            self.class_combo.setCurrentIndex(found)
        self._update_enabled()

    # ------------------------------------------------------------------ running
    def is_running(self) -> bool:
        return self._job is not None

    def can_analyse(self) -> bool:
        return (self.run_dir is not None and self.method_combo.currentData() is not None
                and self.class_combo.currentData() is not None and not self.is_running())

    def analyse(self) -> int | None:
        """Start the analysis of the chosen method and class in the runner; returns the job id."""
        if not self.can_analyse():
            return None
        run_dir, method, label = self.run_dir, self.method_combo.currentData(), self.class_combo.currentData()
        settings = {"size": self.size_spin.value(), "n_neighbors": self.neighbors_spin.value(),
                    "n_clusters": None if self.clusters_spin.value() < 2 else self.clusters_spin.value(),
                    "values": self.values_combo.currentData()}
        self._remember_settings()

        def job(token, progress):
            heatmaps = spray_core.load_run_heatmaps(
                run_dir, method=method, target_class=label, token=token,
                progress=lambda f, m="", p=None: progress(0.3 * f, m))
            n = len(heatmaps.maps)
            neighbours = min(settings["n_neighbors"], max(n - 1, 1))
            result = spray_core.spray(heatmaps.maps, size=settings["size"], n_neighbors=neighbours,
                                      n_clusters=settings["n_clusters"], values=settings["values"], token=token,
                                      progress=lambda f, m="", p=None: progress(0.3 + 0.7 * f, m))
            return result, heatmaps

        return self._start_job(job, CHANNEL, f"Analysing the {label} heatmaps of {method_title(method)} …",
                               "SpRAy: analysing …")

    def rank_classes(self) -> int | None:
        """Rank every class of the run for the chosen method (in the Classes page); returns the job id."""
        self.pages.setCurrentWidget(self.classes_view)
        return self.classes_view.rank(self.run_dir, self.method_combo.currentData(), {
            "size": self.size_spin.value(), "n_neighbors": self.neighbors_spin.value(),
            "values": self.values_combo.currentData()})

    def open_class(self, label: str) -> int | None:
        """Choose class ``label`` and analyse it in the Clusters page; returns the job id."""
        found = self.class_combo.findData(label)
        if found < 0:
            return None
        self.class_combo.setCurrentIndex(found)
        self.pages.setCurrentWidget(self.views)
        return self.analyse()

    def _on_finished(self, job_id: int, outcome: object) -> None:
        if job_id != self._job:
            return
        result, heatmaps = outcome
        self._end(self._summary_text(result, heatmaps))
        self.show_result(result, heatmaps)

    def _on_failed(self, job_id: int, failure: object) -> None:
        if job_id != self._job:
            return
        self._end("The analysis stopped with an error; the previous results are still shown.")
        error_dialog.show_error(self, "SpRAy could not be run", failure)

    def _on_cancelled(self, job_id: int) -> None:
        if job_id == self._job:
            self._end("Cancelled; the previous results are still shown.")

    @staticmethod
    def _summary_text(result: spray_core.SprayResult, heatmaps: spray_core.RunHeatmaps) -> str:
        sizes = ", ".join(str(s) for s in result.cluster_sizes)
        text = (f"{len(result.labels)} {method_title(heatmaps.method)} heatmaps of '{heatmaps.target_label}': the eigengap "
                f"suggests {result.eigengap_k} clusters; {result.n_clusters} clusters of {sizes}.")
        if result.looks_like_one_strategy:
            text += (" The first eigengap is the largest: these heatmaps look alike, so the clusters likely "
                     "split one strategy rather than separate several.")
        if heatmaps.notices:
            text += f" {len(heatmaps.notices)} item(s) left out (missing files)."
        return text

    # ------------------------------------------------------------------ results
    def show_result(self, result: spray_core.SprayResult, heatmaps: spray_core.RunHeatmaps) -> None:
        """Draw a result (from the analysis or read from a result folder)."""
        self.result, self.heatmaps = result, heatmaps
        self.views.show_content()
        self.spectrum.set_spectrum(result.eigenvalues, result.eigengap_k, result.n_clusters)
        self.embedding.set_points(result.embedding, result.labels)
        self.means.set_means(result.cluster_means, result.cluster_sizes)
        self.selected_item = None
        self.select_cluster(int(np.argmin(result.cluster_sizes)) if result.n_clusters else None)
        self._update_enabled()

    def select_cluster(self, cluster: int | None) -> None:
        """Show the members of ``cluster`` (the most typical first)."""
        self.selected_cluster = cluster
        self.means.select(cluster)
        self.members.clear()
        self._update_enabled()
        if self.result is None or cluster is None:
            return
        members = self._typical_order(cluster)
        shown = members[:MAX_THUMBNAILS]
        if self.selected_item is not None and self.selected_item in members and self.selected_item not in shown:
            shown = np.concatenate([[self.selected_item], shown[:-1]])
        for index in shown:
            self.members.addItem(self._member_item(int(index)))
        more = f"; the {MAX_THUMBNAILS} most typical shown" if len(members) > MAX_THUMBNAILS else ""
        self.members_label.setText(f"Cluster {cluster}: {len(members)} members{more} (most typical first; "
                                   "double-click one to open it)")
        self._highlight_member()

    def select_item(self, index: int) -> None:
        """Select one map: its cluster's members are shown with it highlighted, and it is marked in the embedding."""
        if self.result is None or not 0 <= index < len(self.result.labels):
            return
        self.selected_item = int(index)
        cluster = int(self.result.labels[index])
        if cluster != self.selected_cluster:
            self.select_cluster(cluster)
        else:
            self._highlight_member()
        self.embedding.mark(self.selected_item)
        row = self.heatmaps.rows[index]
        self.status_message.emit(f"{row['file']}: cluster {cluster}")

    def _typical_order(self, cluster: int) -> np.ndarray:
        members = self.result.members(cluster)
        if self.result.maps is not None:
            flat = self.result.maps[members].reshape(len(members), -1)
            distance = np.linalg.norm(flat - self.result.cluster_means[cluster].ravel(), axis=1)
        else:
            points = self.result.embedding[members]
            distance = np.linalg.norm(points - points.mean(axis=0), axis=1)
        return members[np.argsort(distance, kind="stable")]

    def _member_item(self, index: int) -> QListWidgetItem:
        row = self.heatmaps.rows[index]
        name = Path(row["file"]).name
        item = QListWidgetItem(name)
        item.setData(Qt.ItemDataRole.UserRole, index)
        path = self.heatmaps.thumbnail_path(index)
        if path is not None and path.is_file():
            item.setIcon(QIcon(QPixmap(str(path))))
        else:
            placeholder = QPixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
            placeholder.fill(QColor(BACKGROUND))
            item.setIcon(QIcon(placeholder))
        tooltip = [row["file"]]
        if row.get("predicted_label"):
            tooltip.append(f"predicted: {row['predicted_label']}")
        if row.get("score"):
            tooltip.append(f"score of '{row.get('target_label', '')}': {row['score']}")
        item.setToolTip("\n".join(tooltip))
        return item

    def _highlight_member(self) -> None:
        self.members.clearSelection()
        for i in range(self.members.count()):
            item = self.members.item(i)
            if int(item.data(Qt.ItemDataRole.UserRole)) == self.selected_item:
                item.setSelected(True)
                self.members.scrollToItem(item)
                break

    def _open_member(self, item: QListWidgetItem) -> None:
        index = int(item.data(Qt.ItemDataRole.UserRole))
        self.open_item(index)

    def open_item(self, index: int) -> None:
        """Ask for map ``index`` to be opened in its tab (``open_item_requested``)."""
        if self.heatmaps is None:
            return
        run = self.heatmaps.run
        self.open_item_requested.emit(str(self.heatmaps.source_path(index)), str(run.get("modality") or "image"),
                                      str(run.get("model") or ""), self.heatmaps.method, int(self.heatmaps.target))

    def correct_cluster(self):
        """Ask for the Model workflow with the selected cluster's images as the artefact: through the window's
        ``open_repair_dialog`` (returns the dialog), else by emitting ``correct_requested``."""
        if self.result is None or self.heatmaps is None or self.selected_cluster is None:
            return None
        from ..repair_jobs import spray_selection

        preset = spray_selection(self.heatmaps, self.result.labels, self.selected_cluster)
        spec = str(self.heatmaps.run.get("model") or "") or None
        opener = getattr(self.window(), "open_repair_dialog", None)
        if opener is not None:
            return opener(spec=spec, preset=preset)
        self.correct_requested.emit(spec, preset)
        return None

    # ------------------------------------------------------------------ files
    def open_results(self, folder) -> None:
        """Show a result folder written by ``python -m xaidesk spray`` or :meth:`save_results`."""
        try:
            result, heatmaps = spray_core.read_spray_results(folder)
        except InputError as error:
            error_dialog.show_error(self, "Could not open the SpRAy results", error)
            return
        self.show_result(result, heatmaps)
        text = self._summary_text(result, heatmaps) + " (read from " + Path(folder).name + ")"
        if heatmaps.notices:
            text += " " + heatmaps.notices[0]
        self.status_label.setText(text)
        if self.settings is not None:
            self.settings.setValue("spray/last_folder", str(Path(folder).parent))

    def choose_results_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open SpRAy results", self._last_folder())
        if folder:
            self.open_results(folder)

    def save_results(self, folder) -> Path | None:
        """Write the shown result as a SpRAy result folder (the files of ``python -m xaidesk spray``)."""
        if self.result is None or self.heatmaps is None:
            return None
        try:
            out = spray_core.write_spray_results(folder, self.result, self.heatmaps)
        except (InputError, OSError) as error:
            error_dialog.show_error(self, "Could not save the SpRAy results", error)
            return None
        self.status_message.emit(f"SpRAy results saved to {out}")
        if self.settings is not None:
            self.settings.setValue("spray/last_folder", str(Path(folder).parent))
        return out

    def choose_save_folder(self) -> None:
        if self.result is None:
            return
        suggested = str(Path(self._last_folder()) / "spray")
        folder, _ = QFileDialog.getSaveFileName(self, "Save the SpRAy results into a new folder", suggested, "Folder (*)")
        if folder:
            self.save_results(folder)

    def _update_enabled(self) -> None:
        running = self.is_running()
        self.analyse_button.setEnabled(self.can_analyse())
        self.cancel_button.setEnabled(running)
        self.save_button.setEnabled(self.result is not None and not running)
        self.correct_button.setEnabled(self.result is not None and self.selected_cluster is not None and not running)
        self.rank_button.setEnabled(self.run_dir is not None and self.method_combo.currentData() is not None)
        for widget in (self.method_combo, self.class_combo):
            widget.setEnabled(not running and widget.count() > 0)
