"""The File menu's export actions: what they say and do for the shown tab, and where they save.

On an explanation tab (Images, Audio) the four actions export the overlay, the relevance and
the settings, and copy the overlay; on an analysis tab (Tables, Molecules) they export the plot
and the results and copy the plot; elsewhere they are disabled with a note.
:func:`export_action_states` decides this without Qt; :func:`save_and_report` asks where to
save and writes with the tab's own writer.
"""

from __future__ import annotations

from pathlib import Path

#: File-menu texts of the export actions on the Images and Audio tabs (overlay, relevance, settings, copy).
OVERLAY_EXPORT_TEXTS = ("Export overlay &PNG…", "Export relevance .&npy…", "Export settings &JSON…",
                        "&Copy overlay to clipboard")


def export_action_states(tab_name: str, analysis, explanation) -> list[tuple[str, bool, str]]:
    """The text, whether enabled, and the tooltip of each of the four export actions.

    Parameters
    ----------
    tab_name
        The shown tab's title.
    analysis, explanation
        The shown tab when it is an analysis tab (plots and CSV files) or an explanation tab (overlays),
        else ``None``.
    """
    if analysis is None and explanation is None:
        texts = OVERLAY_EXPORT_TEXTS
        enabled = (False,) * 4
        tips = (f"The {tab_name} tab exports its results with its own buttons.",) * 4
    elif analysis is None:
        has_result = explanation.has_result()
        texts = OVERLAY_EXPORT_TEXTS
        enabled = (has_result,) * 4
        why = "" if has_result else "Nothing to export yet: run an explanation first."
        tips = (why,) * 4
    else:
        has_result = analysis.has_result()
        plot = analysis.can_save_plot()
        no_plot = "" if plot else f"The {tab_name} tab shows no plot yet."
        texts = ("Export plot &PNG…", analysis.RESULTS_EXPORT_TEXT, "Export settings &JSON…",
                 "&Copy plot to clipboard")
        enabled = (plot, has_result, False, plot)
        tips = (no_plot or f"Save the plot shown in the {tab_name} tab.",
                "" if has_result else f"Nothing to export yet in the {tab_name} tab.",
                analysis.SETTINGS_EXPORT_NOTE, no_plot)
    return [(text, on, tip or text.replace("&", "").rstrip("…")) for text, on, tip in zip(texts, enabled, tips)]


def update_export_actions(window) -> None:
    """Set the File menu's export actions of ``window`` (a :class:`~xaidesk.gui.main_window.MainWindow`)
    for its shown tab."""
    analysis, explanation = window.analysis_tab(), window.explanation_tab()
    states = export_action_states(window.tabs.tabText(window.tabs.currentIndex()), analysis, explanation)
    actions = (window.export_overlay_action, window.export_relevance_action, window.export_settings_action,
               window.copy_action)
    for action, (text, on, tip) in zip(actions, states):
        action.setText(text)
        action.setEnabled(on)
        action.setToolTip(tip)
    window.download_action.setEnabled(window.catalog is not None and bool(window.catalog.architectures))
    figure = explanation is not None and hasattr(explanation, "export_figure") and explanation.has_result()
    window.export_figure_action.setEnabled(bool(figure))


def ask_save_path(window, title: str, suffix: str, file_filter: str) -> Path | None:
    """Ask where to save the shown tab's result (``suffix`` added if missing); remembers the folder."""
    from PySide6.QtWidgets import QFileDialog

    settings = window.settings
    folder = str(settings.value("last_export_folder", "") or settings.value("last_folder", "") or "")
    name = window.tabs.currentWidget().suggested_export_name(suffix)
    suggested = str(Path(folder) / name) if folder else name
    path, _ = QFileDialog.getSaveFileName(window, title, suggested, file_filter)
    if not path:
        return None
    path = Path(path)
    if path.suffix.lower() != suffix:
        path = path.with_name(path.name + suffix)
    settings.setValue("last_export_folder", str(path.parent))
    return path


def save_and_report(window, write, title: str, suffix: str, file_filter: str) -> None:
    """Ask for a path and ``write(path)`` the shown tab's result; say where it went, or why it failed."""
    from .widgets import error_dialog

    if not window.tabs.currentWidget().has_result():
        return
    path = ask_save_path(window, title, suffix, file_filter)
    if path is None:
        return
    try:
        write(path)
    except OSError as error:
        error_dialog.show_error(window, "Could not save the file",
                                f"{path} could not be written: {error.strerror or error}.")
        return
    window.show_status(f"Saved {path}.")
