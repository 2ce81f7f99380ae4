"""The main window: the modality tabs, the status bar, settings, and what the menus start.

The menus are built in :mod:`xaidesk.gui.window_menus`, the export actions follow the shown tab
(:mod:`xaidesk.gui.window_exports`), and which tab opens a file and what opens at start-up is
decided in :mod:`xaidesk.gui.window_routing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMainWindow, QMessageBox, QTabWidget

from . import settings as app_settings
from .catalog import Catalog, load_catalog
from .runner import JobFailure, Runner
from .tabs.analysis_base import AnalysisTabMixin
from .tabs.audio_tab import AudioTab
from .tabs.dataset_tab import DatasetTab
from .tabs.images_tab import ImagesTab
from .tabs.molecules_tab import MoleculesTab
from .tabs.tables_tab import TablesTab
from .views.view_common import ElidedLabel
from .widgets import error_dialog
from .wording import window_title
from .window_exports import save_and_report, update_export_actions
from .window_menus import about_html, build_menus, fill_catalog_menus
from .window_routing import (
    AUDIO,
    MOLECULES,
    NO_MOLECULES,
    TABLES,
    dropped_path,
    open_file_filter,
    startup_plan,
    tab_for_path,
)


@dataclass
class StartupOptions:
    """What to open once the window is shown.

    Attributes
    ----------
    demo
        Open the first demo model and its first sample image.
    image
        An image file to open (an audio file opens in the Audio tab).
    audio
        An audio file to open in the Audio tab.
    model
        A model spec to load (otherwise the last one used, or the first demo).
    time_to_window
        Print a line once the window is shown and quit (start-up measurements).
    """

    demo: bool = False
    image: str | None = None
    model: str | None = None
    time_to_window: bool = False
    audio: str | None = None


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
        self.setWindowTitle(window_title("Explainable AI workbench"))
        self.setAcceptDrops(True)

        self.tabs = QTabWidget()
        self.images_tab = ImagesTab(self.runner, self.settings)
        self.tabs.addTab(self.images_tab, "Images")
        self.audio_tab = AudioTab(self.runner, self.settings)
        self.tabs.addTab(self.audio_tab, "Audio")
        self.tables_tab = TablesTab(self.runner, self.settings)
        self.tabs.addTab(self.tables_tab, "Tables")
        self.tables_tab.table_opened.connect(self._add_recent)
        self.molecules_tab = MoleculesTab(self.runner, self.settings)
        self.tabs.addTab(self.molecules_tab, "Molecules")
        self.dataset_tab = DatasetTab(self.runner, self.settings)
        self.tabs.addTab(self.dataset_tab, "Dataset")
        self.dataset_tab.open_item_requested.connect(self.open_dataset_item)
        self.setCentralWidget(self.tabs)
        self.images_tab.hover_message.connect(self._show_hover)
        self.images_tab.image_opened.connect(self._add_recent)
        self.images_tab.model_loaded.connect(self._remember_model)
        self.images_tab.state_changed.connect(self._update_actions)
        self.audio_tab.hover_message.connect(self._show_hover)
        self.audio_tab.audio_opened.connect(self._add_recent)
        self.audio_tab.model_loaded.connect(lambda spec: self.settings.setValue("last_audio_model", spec))
        self.audio_tab.state_changed.connect(self._update_actions)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self._build_status_bar()
        build_menus(self)
        self.tables_tab.state_changed.connect(self._update_actions)
        self.molecules_tab.state_changed.connect(self._update_actions)
        self._restore_geometry()
        self._update_actions()
        self.runner.finished.connect(self._on_job_finished)
        self.runner.failed.connect(self._on_job_failed)
        self.runner.progress.connect(self._on_job_progress)
        self.show_status("Starting…")

    def _build_status_bar(self) -> None:
        """One status line per tab (the shown tab's), and the hover readout; both elide long texts."""
        self._tab_status: dict[int, str] = {}
        for tab in (self.images_tab, self.audio_tab, self.tables_tab, self.molecules_tab, self.dataset_tab):
            tab.status_message.connect(lambda text, tab=tab: self.show_status(text, tab))
        self.status_label = ElidedLabel("")
        self.status_label.setObjectName("statusText")
        self.hover_label = ElidedLabel("")
        self.hover_label.setMinimumWidth(260)
        self.statusBar().addWidget(self.status_label, 3)
        self.statusBar().addWidget(self.hover_label, 1)

    def _result_tab(self):
        """The tab whose result the File menu's export actions write: the shown tab."""
        return self.tabs.currentWidget()

    def explanation_tab(self):
        """The shown tab when it shows an explanation overlay (Images, Audio), else None."""
        tab = self._result_tab()
        return tab if all(hasattr(tab, name) for name in ("has_result", "export_overlay", "copy_overlay")) else None

    def analysis_tab(self) -> AnalysisTabMixin | None:
        """The shown tab when it is an analysis tab (Tables, Molecules), which exports plots and CSV files."""
        tab = self._result_tab()
        return tab if isinstance(tab, AnalysisTabMixin) else None

    def _on_tab_changed(self, _index: int) -> None:
        self.status_label.setText(self._tab_status.get(id(self.tabs.currentWidget()), ""))
        self.hover_label.setText("")
        if self.tabs.currentWidget() is self.audio_tab and self.catalog is not None:
            self.audio_tab.ensure_model()
        self._update_actions()

    def _update_actions(self) -> None:
        update_export_actions(self)

    # ------------------------------------------------------------ start-up
    def start_background_loading(self) -> None:
        """Import torch and the methods in the runner, then open what the options ask for."""
        self._catalog_job = self.runner.submit(load_catalog, "app.catalog")

    def _on_job_progress(self, job_id, fraction, message, partial) -> None:
        if job_id == self._download_job:
            self.show_status(f"Downloading weights … {100 * fraction:.0f} %", self.images_tab)

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
            self.show_status("Download failed.", self.images_tab)
            error_dialog.show_error(self, "Could not download the weights", failure)

    def _catalog_ready(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.images_tab.set_catalog(catalog)
        self.audio_tab.set_catalog(catalog)
        self.dataset_tab.set_catalog(catalog)
        self.tables_tab.start_background_loading()
        fill_catalog_menus(self)
        self._update_actions()
        plan = startup_plan(self.options, catalog.models("image"), catalog.models("audio"),
                            str(self.settings.value("last_model", "") or ""))
        if plan.audio_model:
            self.audio_tab.load_model(plan.audio_model)
        if plan.image_model:
            self.images_tab.load_model(plan.image_model)
        if plan.image:
            self.images_tab.open_image(plan.image)
        if plan.audio:
            self.tabs.setCurrentWidget(self.audio_tab)
            self.audio_tab.open_audio(plan.audio)
        self.show_status("Ready." if not (plan.image or plan.audio) else "Opening …")

    # ------------------------------------------------------------ actions
    def choose_file(self) -> None:
        """File ▸ Open: pick a file of any kind the tabs open; it opens in its tab."""
        path, _ = QFileDialog.getOpenFileName(self, "Open", str(self.settings.value("last_folder", "") or ""),
                                              open_file_filter())
        if path:
            self.open_path(path)

    def open_path(self, path) -> None:
        """Open a file in the tab for its kind.

        Molecules (a .xyz file, or a folder of them) open in Molecules, tables in
        Tables, audio files in Audio, every other file in Images.
        """
        route = tab_for_path(path)
        if route == NO_MOLECULES:
            error_dialog.show_error(self, "Could not open the folder",
                                    f"{Path(path).name} holds no .xyz files. A folder opens in the Molecules tab "
                                    "when it holds molecules (.xyz files); open other files one at a time.")
        elif route == MOLECULES:
            self.tabs.setCurrentWidget(self.molecules_tab)
            self.molecules_tab.open_path(path)
        elif route == TABLES:
            self.tabs.setCurrentWidget(self.tables_tab)
            self.tables_tab.open_table(path)
        elif route == AUDIO:
            self.tabs.setCurrentWidget(self.audio_tab)
            self.audio_tab.open_audio(path)
        else:
            self.tabs.setCurrentWidget(self.images_tab)
            self.images_tab.open_image(path)

    # ------------------------------------------------------------ exports (File menu)
    def export_overlay(self) -> None:
        """Ctrl+E: the overlay of an explanation tab, or the plot of an analysis tab."""
        if (analysis := self.analysis_tab()) is not None:
            if analysis.can_save_plot():
                analysis.choose_plot_file()
        elif (tab := self.explanation_tab()) is not None:
            save_and_report(self, tab.export_overlay, "Export overlay", ".png", "PNG image (*.png)")

    def export_figure(self) -> None:
        """The current explanation as a figure with a title and a labelled colour bar (Images tab)."""
        if (tab := self.explanation_tab()) is not None and hasattr(tab, "export_figure"):
            save_and_report(self, tab.export_figure, "Export figure", ".png", "PNG image (*.png)")

    def export_relevance(self) -> None:
        """The relevance of an explanation tab, or an analysis tab's results (CSV)."""
        if (analysis := self.analysis_tab()) is not None:
            if analysis.has_result():
                analysis.choose_results_export()
        elif (tab := self.explanation_tab()) is not None:
            save_and_report(self, tab.export_relevance, "Export relevance", ".npy", "NumPy array (*.npy)")

    def export_settings(self) -> None:
        """The settings of an explanation tab (analysis tabs have none: the action is disabled there)."""
        if (tab := self.explanation_tab()) is not None:
            save_and_report(self, tab.export_settings, "Export settings", ".json", "JSON (*.json)")

    def copy_result(self) -> None:
        """The overlay of an explanation tab, or the plot of an analysis tab, to the clipboard."""
        if (analysis := self.analysis_tab()) is not None:
            if analysis.can_save_plot():
                analysis.copy_plot()
        elif (tab := self.explanation_tab()) is not None and tab.has_result():
            tab.copy_overlay()

    def open_dataset_item(self, path: str, modality: str, spec: str, method: str, target: int) -> None:
        """Open one item of a batch run in its tab, with the run's model, method and class."""
        tab = self.audio_tab if modality == "audio" else self.images_tab
        self.tabs.setCurrentWidget(tab)
        if tab.model is None or tab.model.spec != spec:
            tab.load_model(spec)
        tab.explain_after_prediction(target)
        if modality == "audio":
            tab.open_audio(path)
        else:
            tab.open_image(path)
        tab.select_method(method)

    def open_probe_dialog(self):
        """Open the quick-classifier dialog (a backbone layer plus a linear head, fitted on two class folders)."""
        from .probe_dialog import ProbeDialog

        dialog = ProbeDialog(self.catalog, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.use_model_requested.connect(self._use_probe_model)
        dialog.show()
        return dialog

    def _use_probe_model(self, spec: str) -> None:
        self.tabs.setCurrentWidget(self.images_tab)
        self.images_tab.load_model(spec)

    def open_repair_dialog(self, spec: str | None = None, preset=None):
        """Open "Correct, prune or fine-tune…" with the shown tab's model (the Dataset tab's chosen model, else
        the Images tab's), or with ``spec`` (a SpRAy run's model, ``preset`` its cluster). "Open the corrected
        model" loads the new model file in the tab the dialog was opened from."""
        from .repair_dialog import RepairDialog
        from .repair_jobs import own_copy

        tab, model = self.tabs.currentWidget(), None
        if spec is None and tab is self.dataset_tab:
            spec = self.dataset_tab.model_spec()
        elif spec is None:
            tab, model = self.images_tab, self.images_tab.model
            if model is not None and self.images_tab.is_busy():
                spec, model = model.spec, None  # a job may be using it: the dialog loads its own copy
            elif model is not None:
                model = own_copy(model)  # the dialog's worker thread never shares the tab's network
        dialog = RepairDialog(model=model, spec=spec, preset=preset, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open_model_requested.connect(
            lambda corrected, tab=tab: self.open_corrected_model(corrected, tab, dialog.corrected_model_name()))
        dialog.show()
        return dialog

    def open_corrected_model(self, spec: str, tab=None, title: str | None = None) -> None:
        """Load the corrected model ``spec`` (``file:PATH``, named ``title``) in ``tab`` (the Dataset tab, else
        the Images tab)."""
        if tab is self.dataset_tab:
            self.dataset_tab.set_model_spec(spec, title)
        else:
            tab = self.images_tab
            tab.load_model(spec)
        self.tabs.setCurrentWidget(tab)

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

        self.show_status(f"Downloading {arch} weights …", self.images_tab)
        self._download_job = self.runner.submit(job, "app.download")

    def show_guide(self, section: str = ""):
        """Help ▸ Guide: the illustrated guide (methods from the registry, loaded now, not at start-up)."""
        from xaidesk.core.registry import list_methods
        from xaidesk.tabular import load_builtin_methods

        from .help.dialog import GuideDialog

        if getattr(self, "_guide", None) is None:
            load_builtin_methods()
            self._guide = GuideDialog(list_methods(), self)
        self._guide.show()
        self._guide.raise_()
        if section:
            self._guide.show_section(section)
        return self._guide

    def show_about(self) -> None:
        """Help ▸ About: :func:`~xaidesk.gui.window_menus.about_html`."""
        QMessageBox.about(self, "About xaidesk", about_html())

    # ------------------------------------------------------------ status & settings
    def show_status(self, text: str, tab=None) -> None:
        """Show ``text`` as the status of ``tab`` (default: the shown tab); other tabs keep their own."""
        tab = self.tabs.currentWidget() if tab is None else tab
        self._tab_status[id(tab)] = text
        if tab is self.tabs.currentWidget():
            self.status_label.setText(text)

    def status_text(self) -> str:
        """The status line as shown (the shown tab's status)."""
        return self.status_label.text()

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
        """The first local file, or folder of .xyz molecules, among the dropped URLs (None: refuse the drop)."""
        mime = event.mimeData()
        if not mime.hasUrls():
            return None
        return dropped_path([url.toLocalFile() for url in mime.urls() if url.isLocalFile()])

    # ------------------------------------------------------------ closing
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.settings.setValue("window_geometry", self.saveGeometry())
        self.settings.sync()
        self.audio_tab.shutdown()
        self.dataset_tab.shutdown()
        self.runner.shutdown()
        super().closeEvent(event)


__all__ = ["MainWindow", "StartupOptions"]
