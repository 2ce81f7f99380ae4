"""The main window: menus, status bar, settings and the modality tabs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMainWindow, QMessageBox, QTabWidget

from . import settings as app_settings
from .catalog import Catalog, load_catalog, sample_title
from .molecule_jobs import holds_molecules, is_molecule_path
from .runner import JobFailure, Runner
from .tabs.analysis_base import AnalysisTabMixin
from .tabs.audio_tab import AudioTab
from .tabs.dataset_tab import DatasetTab
from .tabs.images_tab import ImagesTab
from .tabs.molecules_tab import MoleculesTab
from .tabs.tables_tab import TablesTab, is_table_file
from .views.view_common import ElidedLabel
from .widgets import error_dialog


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


#: The application's name in window titles (``QApplication.applicationDisplayName``).
DISPLAY_NAME = "xaidesk"

#: File-menu texts of the export actions on the Images and Audio tabs (overlay, relevance, settings, copy).
OVERLAY_EXPORT_TEXTS = ("Export overlay &PNG…", "Export relevance .&npy…", "Export settings &JSON…",
                        "&Copy overlay to clipboard")


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
        self._build_menus()
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

    # ------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.setToolTipsVisible(True)
        self.open_action = self._action(file_menu, "&Open…", self.choose_file, QKeySequence.StandardKey.Open)
        self.open_action.setToolTip("Open an image, a sound, a table or a molecule (.xyz); it opens in its tab.")
        self.open_audio_action = self._action(file_menu, "Open &audio…", self._choose_audio, "Ctrl+Shift+O")
        self.open_table_action = self._action(file_menu, "Open &table (CSV, TSV, Excel)…", self._choose_table, "Ctrl+Shift+T")
        self.open_molecules_action = self._action(file_menu, "Open &molecules (folder of .xyz files)…",
                                                  self._choose_molecules, "Ctrl+Shift+M")
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.samples_menu = file_menu.addMenu("Open &sample image")
        self.audio_samples_menu = file_menu.addMenu("Open sample &sound")
        file_menu.addSeparator()
        overlay, relevance, settings, copy = OVERLAY_EXPORT_TEXTS  # renamed per tab in _update_actions
        self.export_overlay_action = self._action(file_menu, overlay, self.export_overlay, "Ctrl+E")
        self.export_relevance_action = self._action(file_menu, relevance, self.export_relevance)
        self.export_settings_action = self._action(file_menu, settings, self.export_settings)
        self.copy_action = self._action(file_menu, copy, self.copy_result, "Ctrl+Shift+C")
        self.export_figure_action = self._action(file_menu, "Export &figure (title, colour bar)…", self.export_figure)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.model_menu = self.menuBar().addMenu("&Model")
        self.demo_models_menu = self.model_menu.addMenu("&Demo models")
        self._action(self.model_menu, "&Open model (file or folder)…", self.images_tab.open_model_dialog)
        self.model_menu.addSeparator()
        self._action(self.model_menu, "&VGGish + weights file (audio)…", self._choose_vggish)
        self._action(self.model_menu, "&Audio model file…", self._choose_audio_model_file)
        self.model_menu.addSeparator()
        self.download_action = self._action(self.model_menu, "Download &published weights…", self.download_weights)
        self.model_menu.addSeparator()
        self._action(self.model_menu, "Train a quick &classifier on a labelled folder…", self.open_probe_dialog)

        help_menu = self.menuBar().addMenu("&Help")
        self.guide_action = self._action(help_menu, "&Guide: reading heatmaps and methods…", self.show_guide,
                                         QKeySequence.StandardKey.HelpContents)
        help_menu.addSeparator()
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
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
        if not paths:
            empty = self.recent_menu.addAction("No recent files")
            empty.setEnabled(False)

    def _fill_catalog_menus(self) -> None:
        self.demo_models_menu.clear()
        self.samples_menu.clear()
        self.audio_samples_menu.clear()
        for modality, tab, menu in (("image", self.images_tab, self.samples_menu),
                                    ("audio", self.audio_tab, self.audio_samples_menu)):
            for model in self.catalog.models(modality):
                title = model.get("title", model["spec"]) + (" (audio)" if modality == "audio" else "")
                action = self.demo_models_menu.addAction(title)
                action.setToolTip(model.get("description", ""))
                action.triggered.connect(lambda _checked=False, s=model["spec"], t=tab: self._load_model_in(t, s))
                if model.get("samples"):
                    menu.addSection(model.get("title", model["spec"]))
                for sample in model.get("samples", []):
                    act = menu.addAction(sample_title(sample, model["spec"]))
                    act.setToolTip(f"{Path(sample).name} · {model.get('title', model['spec'])}")
                    act.triggered.connect(lambda _checked=False, p=sample, t=tab: self._open_sample(t, p))
        self.demo_models_menu.setEnabled(bool(self.catalog.builtin_models))
        self.samples_menu.setEnabled(bool(self.catalog.samples("image")))
        self.audio_samples_menu.setEnabled(bool(self.catalog.samples("audio")))

    def _result_tab(self):
        """The tab whose result the File menu's export actions write: the shown tab."""
        return self.tabs.currentWidget()

    def _explanation_tab(self):
        """The shown tab when it shows an explanation overlay (Images, Audio), else None."""
        tab = self._result_tab()
        return tab if all(hasattr(tab, name) for name in ("has_result", "export_overlay", "copy_overlay")) else None

    def _analysis_tab(self) -> AnalysisTabMixin | None:
        """The shown tab when it is an analysis tab (Tables, Molecules), which exports plots and CSV files."""
        tab = self._result_tab()
        return tab if isinstance(tab, AnalysisTabMixin) else None

    def _on_tab_changed(self, _index: int) -> None:
        self.status_label.setText(self._tab_status.get(id(self.tabs.currentWidget()), ""))
        self.hover_label.setText("")
        if self.tabs.currentWidget() is self.audio_tab and self.catalog is not None:
            self.audio_tab.ensure_model()
        self._update_actions()

    def _load_model_in(self, tab, spec: str) -> None:
        self.tabs.setCurrentWidget(tab)
        tab.load_model(spec)

    def _choose_table(self) -> None:
        self.tabs.setCurrentWidget(self.tables_tab)
        self.tables_tab.choose_table()

    def _choose_molecules(self) -> None:
        self.tabs.setCurrentWidget(self.molecules_tab)
        self.molecules_tab.choose_folder()

    def _choose_audio(self) -> None:
        self.tabs.setCurrentWidget(self.audio_tab)
        self.audio_tab.choose_audio()

    def _choose_vggish(self) -> None:
        self.tabs.setCurrentWidget(self.audio_tab)
        self.audio_tab.choose_vggish_weights()

    def _choose_audio_model_file(self) -> None:
        self.tabs.setCurrentWidget(self.audio_tab)
        self.audio_tab.choose_model_file()

    def _update_actions(self) -> None:
        analysis, explanation = self._analysis_tab(), self._explanation_tab()
        name = self.tabs.tabText(self.tabs.currentIndex())
        if analysis is None and explanation is None:
            texts = OVERLAY_EXPORT_TEXTS
            enabled = (False,) * 4
            tips = (f"The {name} tab exports its results with its own buttons.",) * 4
        elif analysis is None:
            has_result = explanation.has_result()
            texts = OVERLAY_EXPORT_TEXTS
            enabled = (has_result,) * 4
            why = "" if has_result else "Nothing to export yet: run an explanation first."
            tips = (why,) * 4
        else:
            has_result = analysis.has_result()
            plot = analysis.can_save_plot()
            no_plot = "" if plot else f"The {name} tab shows no plot yet."
            texts = ("Export plot &PNG…", analysis.RESULTS_EXPORT_TEXT, "Export settings &JSON…",
                     "&Copy plot to clipboard")
            enabled = (plot, has_result, False, plot)
            tips = (no_plot or f"Save the plot shown in the {name} tab.",
                    "" if has_result else f"Nothing to export yet in the {name} tab.",
                    analysis.SETTINGS_EXPORT_NOTE, no_plot)
        actions = (self.export_overlay_action, self.export_relevance_action, self.export_settings_action,
                   self.copy_action)
        for action, text, on, tip in zip(actions, texts, enabled, tips):
            action.setText(text)
            action.setEnabled(on)
            action.setToolTip(tip or text.replace("&", "").rstrip("…"))
        self.download_action.setEnabled(self.catalog is not None and bool(self.catalog.architectures))
        figure = explanation is not None and hasattr(explanation, "export_figure") and explanation.has_result()
        self.export_figure_action.setEnabled(bool(figure))

    # ------------------------------------------------------------ start-up
    def start_background_loading(self) -> None:
        """Import torch and the methods in the runner, then open what the options ask for."""
        self._catalog_job = self.runner.submit(load_catalog, "catalog")

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
        self._fill_catalog_menus()
        self._update_actions()
        options = self.options
        demos = catalog.models("image")
        spec = options.model
        if spec and (spec in known_specs(catalog.models("audio")) or spec.startswith("vggish:")):
            self.audio_tab.load_model(spec)
            spec = None
        image = options.image
        if options.demo and demos:
            spec = spec or demos[0]["spec"]
            if image is None and demos[0].get("samples"):
                image = demos[0]["samples"][0]
        if spec is None:
            remembered = str(self.settings.value("last_model", "") or "")
            known = {m["spec"] for m in demos}
            spec = remembered if remembered in known else (demos[0]["spec"] if demos else None)
        audio = options.audio
        if image and is_audio_file(image):
            audio, image = image, None
        if spec:
            self.images_tab.load_model(spec)
        if image:
            self.images_tab.open_image(image)
        if audio:
            self.tabs.setCurrentWidget(self.audio_tab)
            self.audio_tab.open_audio(audio)
        self.show_status("Ready." if not (image or audio) else "Opening …")

    # ------------------------------------------------------------ actions
    def choose_file(self) -> None:
        """File ▸ Open: pick a file of any kind the tabs open; it opens in its tab."""
        path, _ = QFileDialog.getOpenFileName(self, "Open", str(self.settings.value("last_folder", "") or ""),
                                              open_file_filter())
        if path:
            self.open_path(path)

    def _open_sample(self, tab, path) -> None:
        """File ▸ Open sample: the sample opens in its tab with the demo model it belongs to."""
        self.tabs.setCurrentWidget(tab)
        tab.open_sample(path)

    def open_path(self, path) -> None:
        """Open a file in the tab for its kind.

        Molecules (a .xyz file, or a folder of them) open in Molecules, tables in
        Tables, audio files in Audio, every other file in Images.
        """
        if Path(path).is_dir() and not holds_molecules(path):
            error_dialog.show_error(self, "Could not open the folder",
                                    f"{Path(path).name} holds no .xyz files. A folder opens in the Molecules tab "
                                    "when it holds molecules (.xyz files); open other files one at a time.")
        elif is_molecule_path(path):
            self.tabs.setCurrentWidget(self.molecules_tab)
            self.molecules_tab.open_path(path)
        elif is_table_file(path):
            self.tabs.setCurrentWidget(self.tables_tab)
            self.tables_tab.open_table(path)
        elif is_audio_file(path):
            self.tabs.setCurrentWidget(self.audio_tab)
            self.audio_tab.open_audio(path)
        else:
            self.tabs.setCurrentWidget(self.images_tab)
            self.images_tab.open_image(path)

    def _save_path(self, title: str, suffix: str, file_filter: str) -> Path | None:
        folder = str(self.settings.value("last_export_folder", "") or self.settings.value("last_folder", "") or "")
        name = self._result_tab().suggested_export_name(suffix)
        suggested = str(Path(folder) / name) if folder else name
        path, _ = QFileDialog.getSaveFileName(self, title, suggested, file_filter)
        if not path:
            return None
        path = Path(path)
        if path.suffix.lower() != suffix:
            path = path.with_name(path.name + suffix)
        self.settings.setValue("last_export_folder", str(path.parent))
        return path

    def _export(self, write, title: str, suffix: str, file_filter: str) -> None:
        if not self._result_tab().has_result():
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
        """Ctrl+E: the overlay of an explanation tab, or the plot of an analysis tab."""
        if (analysis := self._analysis_tab()) is not None:
            if analysis.can_save_plot():
                analysis.choose_plot_file()
        elif (tab := self._explanation_tab()) is not None:
            self._export(tab.export_overlay, "Export overlay", ".png", "PNG image (*.png)")

    def export_figure(self) -> None:
        """The current explanation as a figure with a title and a labelled colour bar (Images tab)."""
        if (tab := self._explanation_tab()) is not None and hasattr(tab, "export_figure"):
            self._export(tab.export_figure, "Export figure", ".png", "PNG image (*.png)")

    def export_relevance(self) -> None:
        """The relevance of an explanation tab, or an analysis tab's results (CSV)."""
        if (analysis := self._analysis_tab()) is not None:
            if analysis.has_result():
                analysis.choose_results_export()
        elif (tab := self._explanation_tab()) is not None:
            self._export(tab.export_relevance, "Export relevance", ".npy", "NumPy array (*.npy)")

    def export_settings(self) -> None:
        """The settings of an explanation tab (analysis tabs have none: the action is disabled there)."""
        if (tab := self._explanation_tab()) is not None:
            self._export(tab.export_settings, "Export settings", ".json", "JSON (*.json)")

    def copy_result(self) -> None:
        """The overlay of an explanation tab, or the plot of an analysis tab, to the clipboard."""
        if (analysis := self._analysis_tab()) is not None:
            if analysis.can_save_plot():
                analysis.copy_plot()
        elif (tab := self._explanation_tab()) is not None and tab.has_result():
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
        self._download_job = self.runner.submit(job, "download")

    def show_guide(self, section: str = ""):
        """Help ▸ Guide: the illustrated guide (methods from the registry, loaded now, not at start-up)."""
        from xaidesk.core.registry import list_methods
        from xaidesk.explain import load_builtin_methods

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
        for url in mime.urls():
            if url.isLocalFile():
                path = Path(url.toLocalFile())
                if not path.is_dir() or holds_molecules(path):
                    return path
        return None

    # ------------------------------------------------------------ closing
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.settings.setValue("window_geometry", self.saveGeometry())
        self.settings.sync()
        self.audio_tab.shutdown()
        self.dataset_tab.shutdown()
        self.runner.shutdown()
        super().closeEvent(event)


def window_title(title: str) -> str:
    """``title`` followed by the application's display name, ``"Guide — xaidesk"``.

    Qt adds the display name to every window title that does not already end with it; ending
    with it here names the application once, in Qt's own place.
    """
    return title if title.endswith(DISPLAY_NAME) else f"{title} — {DISPLAY_NAME}"


def is_audio_file(path) -> bool:
    """Whether a path names a sound file (by its suffix), routed to the Audio tab."""
    from xaidesk.data.audio import AUDIO_SUFFIXES

    return Path(str(path)).suffix.lower() in AUDIO_SUFFIXES


def open_file_filter() -> str:
    """The File ▸ Open dialog's filters: every kind the tabs open, then each kind."""
    from xaidesk.data.audio import AUDIO_SUFFIXES
    from xaidesk.data.images import IMAGE_SUFFIXES

    from .molecule_jobs import MOLECULE_SUFFIX
    from .tabs.tables_tab import TABLE_SUFFIXES

    kinds = (("Images", IMAGE_SUFFIXES), ("Sounds", AUDIO_SUFFIXES), ("Tables", TABLE_SUFFIXES),
             ("Molecules", (MOLECULE_SUFFIX,)))
    patterns = [" ".join(f"*{s}" for s in suffixes) for _, suffixes in kinds]
    filters = [f"All supported files ({' '.join(patterns)})"]
    filters += [f"{name} ({pattern})" for (name, _), pattern in zip(kinds, patterns)]
    return ";;".join(filters + ["All files (*)"])


def about_html() -> str:
    """The About box: what xaidesk is, its version and the versions it runs on."""
    import platform

    import PySide6

    import xaidesk

    return (f"<b>xaidesk {xaidesk.__version__}</b><p>A desktop workbench for explainable AI: open a picture, "
            "a sound, a table or molecules, pick a model and a method, and see which parts drove the "
            "decision — and listen to the evidence in sounds.</p>"
            "<p>Help ▸ Guide explains how to read heatmaps and uncertainty maps, what each method shows and "
            "what MoRF, LeRF and AOPC mean. The guide and the demo models work offline.</p>"
            f"<p style='color:gray'>Python {platform.python_version()} · Qt for Python {PySide6.__version__}</p>")


def known_specs(models) -> set:
    return {m["spec"] for m in models}


__all__ = ["MainWindow", "StartupOptions", "is_audio_file"]
