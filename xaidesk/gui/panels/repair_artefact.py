"""The Model workflow's "What to remove" section: a SpRAy cluster, ticked images, or a region drawn on an image."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...core import XaideskError
from ..repair_jobs import DrawnRegion, SprayCluster, TickedImages, class_choices, model_input_picture
from ..widgets import error_dialog
from ..widgets.region_picker import RegionPicker

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp);;All files (*)"


class FileList(QWidget):
    """A titled list of image files with Add… and Remove buttons."""

    changed = Signal()

    def __init__(self, title: str, tooltip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(title)
        self.title.setWordWrap(True)
        self.list = QListWidget()
        self.list.setToolTip(tooltip)
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.list.setMinimumHeight(70)
        self.add_button = QPushButton("Add…")
        self.add_button.clicked.connect(self.choose_files)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected images from this list (the files stay).")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.start_folder = ""

    def paths(self) -> tuple[Path, ...]:
        return tuple(Path(self.list.item(i).toolTip()) for i in range(self.list.count()))

    def add_paths(self, paths) -> None:
        known = set(self.paths())
        for path in (Path(p) for p in paths):
            if path not in known:
                self.list.addItem(path.name)
                self.list.item(self.list.count() - 1).setToolTip(str(path))
                known.add(path)
        self.changed.emit()

    def set_paths(self, paths) -> None:
        self.list.clear()
        self.add_paths(paths)

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self.changed.emit()

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, self.title.text(), self.start_folder, IMAGE_FILTER)
        if files:
            self.start_folder = str(Path(files[0]).parent)
            self.add_paths(files)


class RepairArtefactPanel(QGroupBox):
    """Choose the artefact and the class it drives.

    Signals
    -------
    changed()
        The choice changed.
    """

    changed = Signal()
    SPRAY, TICKED, REGION = 0, 1, 2

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("2. What to remove", parent)
        self.model = None
        self.needed = True
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.pages = QTabWidget()
        self.pages.addTab(self._spray_page(), "SpRAy cluster")
        self.pages.addTab(self._ticked_page(), "Images I choose")
        self.pages.addTab(self._region_page(), "Region on an image")
        self.pages.currentChanged.connect(lambda *_: self.changed.emit())
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class whose decisions the artefact drives (the class it makes the model say).")
        self.class_combo.currentIndexChanged.connect(lambda *_: self.changed.emit())
        self.class_row = QWidget()
        row = QFormLayout(self.class_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addRow("Class it drives", self.class_combo)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.class_row)

    # ------------------------------------------------------------ pages
    def _spray_page(self) -> QWidget:
        page = QWidget()
        self.spray_edit = QLineEdit()
        self.spray_edit.setPlaceholderText("A folder saved by the SpRAy view (Save results…)")
        self.spray_edit.editingFinished.connect(lambda: self.set_spray_folder(self.spray_edit.text()))
        choose = QPushButton("Choose…")
        choose.clicked.connect(self.choose_spray_folder)
        self.cluster_combo = QComboBox()
        self.cluster_combo.setToolTip("The cluster whose images share the artefact (often the smallest).")
        self.cluster_combo.currentIndexChanged.connect(lambda *_: self.changed.emit())
        self.spray_info = QLabel("The images of the chosen cluster carry the artefact; the other clusters' "
                                 "images are the clean ones. From the SpRAy view, 'Correct the model for this "
                                 "cluster…' fills this in for you.")
        self.spray_info.setWordWrap(True)
        grid = QGridLayout(page)
        grid.addWidget(QLabel("SpRAy results"), 0, 0)
        grid.addWidget(self.spray_edit, 0, 1)
        grid.addWidget(choose, 0, 2)
        grid.addWidget(QLabel("Cluster"), 1, 0)
        grid.addWidget(self.cluster_combo, 1, 1, 1, 2)
        grid.addWidget(self.spray_info, 2, 0, 1, 3)
        grid.setRowStretch(3, 1)
        grid.setColumnStretch(1, 1)
        return page

    def _ticked_page(self) -> QWidget:
        page = QWidget()
        self.preset_label = QLabel("")
        self.preset_label.setWordWrap(True)
        self.preset_label.setVisible(False)
        self.carrying_list = FileList("Carry the artefact", "Images that show the artefact (e.g. the tag).")
        self.clean_list = FileList("Clean", "Images without the artefact, of any class.")
        for files in (self.carrying_list, self.clean_list):
            files.changed.connect(self._ticked_changed)
        self.ticked_info = QLabel("Add a few images that show the artefact and a few without it. xaidesk compares "
                                  "their heatmaps for the class below to find where the artefact is.")
        self.ticked_info.setWordWrap(True)
        lists = QHBoxLayout()
        lists.addWidget(self.carrying_list)
        lists.addWidget(self.clean_list)
        layout = QVBoxLayout(page)
        layout.addWidget(self.preset_label)
        layout.addLayout(lists, 1)
        layout.addWidget(self.ticked_info)
        return page

    def _region_page(self) -> QWidget:
        page = QWidget()
        self.open_image_button = QPushButton("Open image…")
        self.open_image_button.setToolTip("An image that shows the artefact; it is shown as the model sees it.")
        self.open_image_button.clicked.connect(self.choose_region_image)
        self.region_label = QLabel("No image yet.")
        self.region_label.setWordWrap(True)
        self.picker = RegionPicker()
        self.picker.region_changed.connect(self._region_changed)
        self.region_image: Path | None = None
        top = QHBoxLayout()
        top.addWidget(self.open_image_button)
        top.addWidget(self.region_label, 1)
        layout = QVBoxLayout(page)
        layout.addLayout(top)
        layout.addWidget(self.picker, 1)
        return page

    # ------------------------------------------------------------ the model
    def set_model(self, model) -> None:
        """Offer ``model``'s classes; a region image is shown again at its input size."""
        self.model = model
        previous = self.class_combo.currentData()
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        for index, text in class_choices(model):
            self.class_combo.addItem(text, index)
        found = self.class_combo.findData(previous)
        self.class_combo.setCurrentIndex(found if found >= 0 else 0)
        self.class_combo.blockSignals(False)
        if self.region_image is not None:
            self.open_region_image(self.region_image)
        self.changed.emit()

    def set_needed(self, needed: bool, note: str) -> None:
        """Say ``note``; the choices are usable only when the chosen repair needs an artefact."""
        self.needed = needed
        self.note.setText(note)
        self.pages.setEnabled(needed)
        self.class_row.setEnabled(needed)
        self.pages.setVisible(needed)  # hidden, not greyed: nothing is asked for
        self.class_row.setVisible(needed)

    def is_needed(self) -> bool:
        return self.needed

    # ------------------------------------------------------------ SpRAy
    def choose_spray_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "SpRAy results", self.spray_edit.text())
        if folder:
            self.set_spray_folder(folder)

    def set_spray_folder(self, folder) -> bool:
        """Read the SpRAy result folder and offer its clusters (with their sizes); the class follows it."""
        from ...evaluate.spray import read_spray_results

        self.cluster_combo.clear()
        text = str(folder).strip()
        self.spray_edit.setText(text)
        if not text:
            self.changed.emit()
            return False
        try:
            result, heatmaps = read_spray_results(text)
        except XaideskError as error:
            self.spray_info.setText(error.message)
            self.changed.emit()
            return False
        for cluster, size in enumerate(result.cluster_sizes):
            self.cluster_combo.addItem(f"cluster {cluster} · {size} images", cluster)
        smallest = min(range(len(result.cluster_sizes)), key=result.cluster_sizes.__getitem__, default=0)
        self.cluster_combo.setCurrentIndex(smallest)
        self.set_target(int(heatmaps.target))
        self.spray_info.setText(f"SpRAy of '{heatmaps.target_label}' ({heatmaps.method}): the chosen cluster's images "
                                "carry the artefact, the other clusters' images are the clean ones.")
        self.pages.setCurrentIndex(self.SPRAY)
        self.changed.emit()
        return True

    # ------------------------------------------------------------ ticked images
    def preset_files(self, choice: TickedImages, target: int | None) -> None:
        """Fill the two lists (from the SpRAy view's cluster) and say where they came from."""
        self.carrying_list.set_paths(choice.carrying)
        self.clean_list.set_paths(choice.clean)
        self.preset_label.setText(f"From {choice.describe()}. Add or remove images as you see fit.")
        self.preset_label.setVisible(True)
        self._preset_description = choice.description
        if target is not None:
            self.set_target(target)
        self.pages.setCurrentIndex(self.TICKED)

    def _ticked_changed(self) -> None:
        self.changed.emit()

    # ------------------------------------------------------------ region
    def choose_region_image(self) -> None:
        start = str(self.region_image.parent) if self.region_image else ""
        path, _ = QFileDialog.getOpenFileName(self, "An image that shows the artefact", start, IMAGE_FILTER)
        if path:
            self.open_region_image(path)

    def open_region_image(self, path) -> bool:
        """Show the image at ``path`` as the model sees it (resized to its input), ready for a rectangle."""
        if self.model is None:
            self.region_label.setText("Open a model first: the image is shown at the model's input size.")
            return False
        try:
            pixels = model_input_picture(self.model, path)
        except XaideskError as error:
            error_dialog.show_error(self, "Could not open the image", error)
            return False
        self.region_image = Path(path)
        self.picker.set_picture(pixels)
        self.pages.setCurrentIndex(self.REGION)
        self._region_changed(None)
        return True

    def _region_changed(self, box) -> None:
        if self.region_image is None:
            self.region_label.setText("No image yet.")
        elif box is None:
            height, width = self.picker.picture_size()
            self.region_label.setText(f"{self.region_image.name}, shown as the model sees it ({width}×{height} "
                                      "pixels): drag a rectangle over the artefact.")
        else:
            top, left, height, width = box
            self.region_label.setText(f"{self.region_image.name}: region {width} wide × {height} high (pixels) at "
                                      f"column {left}, row {top}.")
        self.changed.emit()

    # ------------------------------------------------------------ the choice
    def set_target(self, target: int) -> None:
        found = self.class_combo.findData(int(target))
        if found >= 0:
            self.class_combo.setCurrentIndex(found)

    def target(self) -> int | None:
        return self.class_combo.currentData() if self.is_needed() else None

    def choice(self):
        """The artefact chosen on the shown page (``None`` when it is incomplete or not needed)."""
        if not self.is_needed():
            return None
        page = self.pages.currentIndex()
        if page == self.SPRAY:
            cluster = self.cluster_combo.currentData()
            return None if cluster is None else SprayCluster(Path(self.spray_edit.text()), int(cluster))
        if page == self.TICKED:
            carrying, clean = self.carrying_list.paths(), self.clean_list.paths()
            if not carrying and not clean:
                return None
            return TickedImages(carrying, clean, getattr(self, "_preset_description", ""))
        box = self.picker.box()
        return None if self.region_image is None or box is None else DrawnRegion(self.region_image, box)
