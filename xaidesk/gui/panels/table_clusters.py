"""The Tables tab's Clusters view: how many clusters fit the rows (k-means), and what makes each cluster."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from ..views.table_views import CurvePlot, FeatureBars
from ..views.view_common import Placeholder

CLUSTERS_PLACEHOLDER = ("Nothing to show yet. Choose the clustering analysis (k-means) under Analysis and press "
                        "Run: this view then shows how many clusters fit the rows and what makes each cluster.")


class TableClustersView(QWidget):
    """The elbow and silhouette curves over k, and the mean feature relevance of a chosen cluster."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = None
        layout = QVBoxLayout(self)
        self.k_note = QLabel("")
        self.k_note.setWordWrap(True)
        layout.addWidget(self.k_note)
        top = QSplitter(Qt.Orientation.Horizontal)
        self.elbow_plot = CurvePlot("Elbow: within-cluster sum of squares")
        self.silhouette_plot = CurvePlot("Mean silhouette (higher is better)")
        top.addWidget(self.elbow_plot)
        top.addWidget(self.silhouette_plot)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("Cluster:"))
        self.cluster_combo = QComboBox()
        self.cluster_combo.currentIndexChanged.connect(self._show_cluster)
        pick.addWidget(self.cluster_combo, 1)
        bottom_layout.addLayout(pick)
        self.cluster_bars = FeatureBars("Mean feature relevance of the cluster's members")
        bottom_layout.addWidget(self.cluster_bars, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        self.placeholder = Placeholder(splitter, CLUSTERS_PLACEHOLDER)
        layout.addWidget(self.placeholder, 1)

    def plot_widget(self) -> QWidget:
        """The plot a 'Save plot' saves while this view is shown."""
        return self.cluster_bars

    def clear(self) -> None:
        """Forget the result and show the placeholder (a new table has no clusters yet)."""
        self.result = None
        self.k_note.setText("")
        self.cluster_combo.clear()
        self.cluster_bars.clear_bars()
        self.placeholder.show_message()

    def show_result(self, result) -> None:
        self.result = result
        choice = result.extras.get("k_choice")
        self.elbow_plot.reset("Elbow: within-cluster sum of squares", x_label="k", y_label="inertia")
        self.silhouette_plot.reset("Mean silhouette (higher is better)", x_label="k", y_label="silhouette")
        self.cluster_combo.blockSignals(True)
        self.cluster_combo.clear()
        if "cluster_relevance" not in result.extras:
            self.k_note.setText("")
            self.placeholder.show_message()
            self.cluster_bars.clear_bars()
            self.cluster_combo.blockSignals(False)
            return
        sizes = result.extras.get("cluster_sizes", [])
        if choice:
            self.elbow_plot.add_curve("inertia", choice["ks"], choice["inertia"])
            self.elbow_plot.mark(choice["suggested"], f"k = {choice['suggested']}")
            self.silhouette_plot.add_curve("silhouette", choice["ks"], choice["silhouette"], color=(60, 150, 80))
            self.silhouette_plot.mark(choice["suggested"], f"suggested k = {choice['suggested']}")
            rule = f"k = {result.extras['clusters']} ({choice['rule']})."
        else:
            rule = f"k = {result.extras['clusters']}, set by hand (set 'Number of clusters' to 0 for the k helper)."
        self.placeholder.show_content()
        self.k_note.setText(rule + " Cluster sizes: " + ", ".join(f"{i}: {s}" for i, s in enumerate(sizes)) + ".")
        for i, s in enumerate(sizes):
            self.cluster_combo.addItem(f"cluster {i} ({s} rows)", i)
        self.cluster_combo.blockSignals(False)
        self._show_cluster()

    def _show_cluster(self, *_args) -> None:
        result = self.result
        if result is None or "cluster_relevance" not in result.extras or self.cluster_combo.currentIndex() < 0:
            return
        c = int(self.cluster_combo.currentData())
        values = np.asarray(result.extras["cluster_relevance"][c], dtype=float)
        self.cluster_bars.set_values(result.feature_names, values,
                                     title=f"Cluster {c}: mean feature relevance of its membership evidence")
