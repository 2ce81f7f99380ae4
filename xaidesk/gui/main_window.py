"""The main window: menus, status bar, settings and the modality tabs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLabel, QMainWindow, QMessageBox, QTabWidget

from . import settings as app_settings
from .catalog import Catalog, load_catalog
from .runner import JobFailure, Runner
from .tabs.images_tab import ImagesTab
from .widgets import error_dialog


@dataclass
class StartupOptions:
    """What to open once the window is shown.

    Attributes
    ----------
    demo
        Open the first demo model and its first sample image.
    image
        An image file to open.
    model
        A model spec to load (otherwise the last one used, or the first demo).
    time_to_window
        Print a line once the window is shown and quit (start-up measurements).
    """

    demo: bool = False
    image: str | None = None
    model: str | None = None
    time_to_window: bool = False


class MainWindow(QMainWindow):
    """The application window. Owns the :class:`Runner` and shuts it down on close."""

    def __init__(self, options: StartupOptions | None = None) -> None:
        super().__init__()
        self.options = options or StartupOptions()
        self.settings = app_settings.open_settings()
        self.runner = Runner(self)
        self.catalog: Catalog | None = None
        self._catalog_job: int | None = None
        self._download_job: int | None = None
        self.setWindowTitle("xaidesk — explainable AI workbench")
        self.setAcceptDrops(True)

        self.tabs = QTabWidget()
        self.images_tab = ImagesTab(self.runner, self.settings)
        self.tabs.addTab(self.images_tab, "Images")
        self.setCentralWidget(self.tabs)
        self.images_tab.status_message.connect(self.show_status)
        self.images_tab.hover_message.connect(self._show_hover)
        self.images_tab.image_opened.connect(self._add_recent)
        self.images_tab.model_loaded.connect(self._remember_model)
        self.images_tab.state_changed.connect(self._update_actions)

        self.hover_label = QLabel("")
        self.hover_label.setMinimumWidth(260)
        self.statusBar().addPermanentWidget(self.hover_label)
        self._build_menus()
        self._restore_geometry()
        self._update_actions()
        self.runner.finished.connect(self._on_job_finished)
        self.runner.failed.connect(self._on_job_failed)
        self.runner.progress.connect(self._on_job_progress)
        self.show_status("Starting…")

    # ------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = self._action(file_menu, "&Open image…", self.images_tab.choose_image, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.samples_menu = file_menu.addMenu("Open &sample image")
        file_menu.addSeparator()
        self.export_overlay_action = self._action(file_menu, "Export overlay &PNG…", self.export_overlay, "Ctrl+E")
        self.export_relevance_action = self._action(file_menu, "Export relevance .&npy…", self.export_relevance)
        self.export_settings_action = self._action(file_menu, "Export settings &JSON…", self.export_settings)
        self.copy_action = self._action(file_menu, "&Copy overlay to clipboard", self.images_tab.copy_overlay, "Ctrl+Shift+C")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.model_menu = self.menuBar().addMenu("&Model")
        self.demo_models_menu = self.model_menu.addMenu("&Demo models")
        self._action(self.model_menu, "&Torchvision architecture + weights file…", self.images_tab.choose_torchvision_model)
        self._action(self.model_menu, "&Model file…", self.images_tab.choose_model_file)
        self.model_menu.addSeparator()
        self.download_action = self._action(self.model_menu, "Download &published weights…", self.download_weights)

        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About xaidesk", self.show_about)

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = app_settings.recent_files(self.settings)
        self.settings.setValue("recent_files", [str(p) for p in paths])
        for path in paths:
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.images_tab.open_image(p))
        if not paths:
            empty = self.recent_menu.addAction("No recent files")
            empty.setEnabled(False)

    def _fill_catalog_menus(self) -> None:
        self.demo_models_menu.clear()
        self.samples_menu.clear()
        for model in self.catalog.builtin_models:
            action = self.demo_models_menu.addAction(model.get("title", model["spec"]))
            action.setToolTip(model.get("description", ""))
            action.triggered.connect(lambda _checked=False, s=model["spec"]: self.images_tab.load_model(s))
            for sample in model.get("samples", []):
                act = self.samples_menu.addAction(f"{Path(sample).stem} ({model.get('title', model['spec'])})")
                act.triggered.connect(lambda _checked=False, p=sample: self.images_tab.open_image(p))
        self.demo_models_menu.setEnabled(bool(self.catalog.builtin_models))
        self.samples_menu.setEnabled(bool(self.catalog.samples()))

    def _update_actions(self) -> None:
        has_result = self.images_tab.has_result()
        for action in (self.export_overlay_action, self.export_relevance_action, self.export_settings_action, self.copy_action):
            action.setEnabled(has_result)
        self.download_action.setEnabled(self.catalog is not None and bool(self.catalog.architectures))

    # ------------------------------------------------------------ start-up
    def start_background_loading(self) -> None:
        """Import torch and the methods in the runner, then open what the options ask for."""
        self._catalog_job = self.runner.submit(load_catalog, "catalog")

    def _on_job_progress(self, job_id, fraction, message, partial) -> None:
        if job_id == self._download_job:
            self.show_status(f"Downloading weights … {100 * fraction:.0f} %")

    def _on_job_finished(self, job_id: int, result) -> None:
        if job_id == self._catalog_job:
            self._catalog_job = None
            self._catalog_ready(result)
        elif job_id == self._download_job:
            self._download_job = None
            self.images_tab.load_model(f"torchvision:{self._download_arch}:{result}")

    def _on_job_failed(self, job_id: int, failure: JobFailure) -> None:
        if job_id == self._catalog_job:
            self._catalog_job = None
            error_dialog.show_error(self, "xaidesk could not load its models and methods", failure)
        elif job_id == self._download_job:
            self._download_job = None
            self.show_status("Download failed.")
            error_dialog.show_error(self, "Could not download the weights", failure)

    def _catalog_ready(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.images_tab.set_catalog(catalog)
        self._fill_catalog_menus()
        self._update_actions()
        options = self.options
        demos = catalog.builtin_models
        spec = options.model
        image = options.image
        if options.demo and demos:
            spec = spec or demos[0]["spec"]
            if image is None and demos[0].get("samples"):
                image = demos[0]["samples"][0]
        if spec is None:
            remembered = str(self.settings.value("last_model", "") or "")
            known = {m["spec"] for m in demos}
            spec = remembered if remembered in known else (demos[0]["spec"] if demos else None)
        if spec:
            self.images_tab.load_model(spec)
        if image:
            self.images_tab.open_image(image)
        self.show_status("Ready." if not image else "Opening …")

    # ------------------------------------------------------------ actions
    def open_path(self, path) -> None:
        self.images_tab.open_image(path)

    def _save_path(self, title: str, suffix: str, file_filter: str) -> Path | None:
        folder = str(self.settings.value("last_export_folder", "") or self.settings.value("last_folder", "") or "")
        suggested = str(Path(folder) / self.images_tab.suggested_export_name(suffix)) if folder else self.images_tab.suggested_export_name(suffix)
        path, _ = QFileDialog.getSaveFileName(self, title, suggested, file_filter)
        if not path:
            return None
        path = Path(path)
        if path.suffix.lower() != suffix:
            path = path.with_name(path.name + suffix)
        self.settings.setValue("last_export_folder", str(path.parent))
        return path

    def _export(self, write, title: str, suffix: str, file_filter: str) -> None:
        if not self.images_tab.has_result():
            return
        path = self._save_path(title, suffix, file_filter)
        if path is None:
            return
        try:
            write(path)
        except OSError as error:
            error_dialog.show_error(self, "Could not save the file", f"{path} could not be written: {error.strerror or error}.")
            return
        self.show_status(f"Saved {path}.")

    def export_overlay(self) -> None:
        self._export(self.images_tab.export_overlay, "Export overlay", ".png", "PNG image (*.png)")

    def export_relevance(self) -> None:
        self._export(self.images_tab.export_relevance, "Export relevance", ".npy", "NumPy array (*.npy)")

    def export_settings(self) -> None:
        self._export(self.images_tab.export_settings, "Export settings", ".json", "JSON (*.json)")

    def download_weights(self) -> None:
        if self.catalog is None or not self.catalog.architectures:
            return
        arch, ok = QInputDialog.getItem(
            self, "Download published weights",
            "Architecture (ImageNet weights published by torchvision; needs an internet connection):",
            list(self.catalog.architectures), 0, False,
        )
        if not ok:
            return
        self._download_arch = arch

        def job(token, progress):
            from xaidesk.models import download_weights

            return download_weights(arch, progress=progress, token=token)

        self.show_status(f"Downloading {arch} weights …")
        self._download_job = self.runner.submit(job, "download")

    def show_about(self) -> None:
        import xaidesk

        QMessageBox.about(
            self,
            "About xaidesk",
            f"<b>xaidesk {xaidesk.__version__}</b><p>A desktop workbench for explainable AI: "
            "open an image, pick a model and a method, and see which pixels drove the decision.</p>"
            "<p>Methods: layer-wise relevance propagation (LRP), gradients and occlusion.</p>",
        )

    # ------------------------------------------------------------ status & settings
    def show_status(self, text: str) -> None:
        self.statusBar().showMessage(text)

    def _show_hover(self, text: str) -> None:
        self.hover_label.setText(text)

    def _add_recent(self, path) -> None:
        app_settings.add_recent_file(self.settings, Path(path))

    def _remember_model(self, spec: str) -> None:
        self.settings.setValue("last_model", spec)

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("window_geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)

    # ------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._dropped_file(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._dropped_file(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        path = self._dropped_file(event)
        if path is not None:
            event.acceptProposedAction()
            self.open_path(path)

    @staticmethod
    def _dropped_file(event) -> Path | None:
        mime = event.mimeData()
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile():
                return Path(url.toLocalFile())
        return None

    # ------------------------------------------------------------ closing
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.settings.setValue("window_geometry", self.saveGeometry())
        self.settings.sync()
        self.runner.shutdown()
        super().closeEvent(event)


__all__ = ["MainWindow", "StartupOptions"]
