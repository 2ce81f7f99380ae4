"""The main window's menus: File, Model and Help, their actions, and the lists filled later.

:func:`build_menus` adds the menus to a :class:`~xaidesk.gui.main_window.MainWindow` and keeps the
actions that change later on it as attributes (``open_action``, the export actions,
``download_action``, ``recent_menu``, ``samples_menu``, ...). The recent files are listed each time
the menu opens (:func:`fill_recent_menu`); the demo models and samples once the catalog is loaded
(:func:`fill_catalog_menus`). The export actions' texts follow the shown tab
(:func:`xaidesk.gui.window_exports.update_export_actions`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence

from . import settings as app_settings
from .catalog import sample_title
from .window_exports import OVERLAY_EXPORT_TEXTS


def add_action(window, menu, text, slot, shortcut=None) -> QAction:
    """Add an action calling ``slot()`` to ``menu`` (owned by ``window``)."""
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(lambda _checked=False: slot())
    menu.addAction(action)
    return action


def _in_tab(window, tab, method: str):
    """A slot that shows ``tab`` and calls its ``method``."""
    def slot() -> None:
        window.tabs.setCurrentWidget(tab)
        getattr(tab, method)()

    return slot


def build_menus(window) -> None:
    """Add the File, Model and Help menus to ``window``."""
    file_menu = window.menuBar().addMenu("&File")
    file_menu.setToolTipsVisible(True)
    window.open_action = add_action(window, file_menu, "&Open…", window.choose_file, QKeySequence.StandardKey.Open)
    window.open_action.setToolTip("Open an image, a sound, a table or a molecule (.xyz); it opens in its tab.")
    audio, tables, molecules = window.audio_tab, window.tables_tab, window.molecules_tab
    window.open_audio_action = add_action(window, file_menu, "Open &audio…",
                                          _in_tab(window, audio, "choose_audio"), "Ctrl+Shift+O")
    window.open_table_action = add_action(window, file_menu, "Open &table (CSV, TSV, Excel)…",
                                          _in_tab(window, tables, "choose_table"), "Ctrl+Shift+T")
    window.open_molecules_action = add_action(window, file_menu, "Open &molecules (folder of .xyz files)…",
                                              _in_tab(window, molecules, "choose_folder"), "Ctrl+Shift+M")
    window.recent_menu = file_menu.addMenu("Open &recent")
    window.recent_menu.aboutToShow.connect(lambda: fill_recent_menu(window))
    window.samples_menu = file_menu.addMenu("Open &sample image")
    window.audio_samples_menu = file_menu.addMenu("Open sample &sound")
    file_menu.addSeparator()
    overlay, relevance, settings, copy = OVERLAY_EXPORT_TEXTS  # renamed per tab in update_export_actions
    window.export_overlay_action = add_action(window, file_menu, overlay, window.export_overlay, "Ctrl+E")
    window.export_relevance_action = add_action(window, file_menu, relevance, window.export_relevance)
    window.export_settings_action = add_action(window, file_menu, settings, window.export_settings)
    window.copy_action = add_action(window, file_menu, copy, window.copy_result, "Ctrl+Shift+C")
    window.export_figure_action = add_action(window, file_menu, "Export &figure (title, colour bar)…",
                                             window.export_figure)
    file_menu.addSeparator()
    add_action(window, file_menu, "&Quit", window.close, QKeySequence.StandardKey.Quit)

    model_menu = window.model_menu = window.menuBar().addMenu("&Model")
    model_menu.setToolTipsVisible(True)
    window.demo_models_menu = model_menu.addMenu("&Demo models")
    add_action(window, model_menu, "&Open model (file or folder)…", window.images_tab.open_model_dialog)
    model_menu.addSeparator()
    add_action(window, model_menu, "&VGGish + weights file (audio)…",
               _in_tab(window, audio, "choose_vggish_weights"))
    add_action(window, model_menu, "&Audio model file…", _in_tab(window, audio, "choose_model_file"))
    model_menu.addSeparator()
    window.download_action = add_action(window, model_menu, "Download &published weights…", window.download_weights)
    model_menu.addSeparator()
    add_action(window, model_menu, "Train a quick &classifier on a labelled folder…", window.open_probe_dialog)
    window.repair_action = add_action(window, model_menu, "Co&rrect, prune or fine-tune…", window.open_repair_dialog)
    window.repair_action.setToolTip("Remove a shortcut the image model learned, prune it, or fine-tune it guided by "
                                    "explanations; the result is saved as a new model file.")

    help_menu = window.menuBar().addMenu("&Help")
    window.guide_action = add_action(window, help_menu, "&Guide…", window.show_guide,
                                     QKeySequence.StandardKey.HelpContents)
    window.guide_action.setToolTip("How to read heatmaps and uncertainty maps, what each method shows, whether an "
                                   "explanation is faithful, and how to correct, prune or fine-tune a model.")
    help_menu.addSeparator()
    add_action(window, help_menu, "&About xaidesk", window.show_about)


def fill_recent_menu(window) -> None:
    """List the recent files (those still there) in File ▸ Open recent."""
    menu = window.recent_menu
    menu.clear()
    paths = app_settings.recent_files(window.settings)
    window.settings.setValue("recent_files", [str(p) for p in paths])
    for path in paths:
        action = menu.addAction(path.name)
        action.setToolTip(str(path))
        action.triggered.connect(lambda _checked=False, p=path: window.open_path(p))
    if not paths:
        empty = menu.addAction("No recent files")
        empty.setEnabled(False)


def fill_catalog_menus(window) -> None:
    """List the catalog's demo models (Model ▸ Demo models) and their samples (File ▸ Open sample …)."""
    window.demo_models_menu.clear()
    window.samples_menu.clear()
    window.audio_samples_menu.clear()
    catalog = window.catalog
    for modality, tab, menu in (("image", window.images_tab, window.samples_menu),
                                ("audio", window.audio_tab, window.audio_samples_menu)):
        for model in catalog.models(modality):
            title = model.get("title", model["spec"]) + (" (audio)" if modality == "audio" else "")
            action = window.demo_models_menu.addAction(title)
            action.setToolTip(model.get("description", ""))
            action.triggered.connect(lambda _checked=False, s=model["spec"], t=tab: _load_model_in(window, t, s))
            if model.get("samples"):
                menu.addSection(model.get("title", model["spec"]))
            for sample in model.get("samples", []):
                act = menu.addAction(sample_title(sample, model["spec"]))
                act.setToolTip(f"{Path(sample).name} · {model.get('title', model['spec'])}")
                act.triggered.connect(lambda _checked=False, p=sample, t=tab: _open_sample(window, t, p))
    window.demo_models_menu.setEnabled(bool(catalog.builtin_models))
    window.samples_menu.setEnabled(bool(catalog.samples("image")))
    window.audio_samples_menu.setEnabled(bool(catalog.samples("audio")))


def _load_model_in(window, tab, spec: str) -> None:
    """Model ▸ Demo models: the model loads in its tab, which is shown."""
    window.tabs.setCurrentWidget(tab)
    tab.load_model(spec)


def _open_sample(window, tab, path) -> None:
    """File ▸ Open sample: the sample opens in its tab with the demo model it belongs to."""
    window.tabs.setCurrentWidget(tab)
    tab.open_sample(path)


def about_html() -> str:
    """The About box: what xaidesk is, its version and the versions it runs on."""
    import platform

    import PySide6

    import xaidesk

    return (f"<b>xaidesk {xaidesk.__version__}</b><p>A desktop workbench for explainable AI: open a picture, "
            "a sound, a table or molecules, pick a model and a method, and see which parts drove the "
            "decision — and listen to the evidence in sounds.</p>"
            "<p>Help ▸ Guide explains how to read heatmaps and uncertainty maps, what each method shows, "
            "what MoRF, LeRF and AOPC mean and how to correct, prune or fine-tune a model. "
            "The guide and the demo models work offline.</p>"
            f"<p style='color:gray'>Python {platform.python_version()} · Qt for Python {PySide6.__version__}</p>")
