"""The Dataset tab's results: the Browse grid of a run, SpRAy beside it, and the viewer of one result."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from ...core import XaideskError
from ...runs import RunInfo, read_run
from ..views.dataset_views import BrowsePanel, ItemViewer


class DatasetResults(QTabWidget):
    """Browse (and SpRAy) of the run shown; a double-clicked result opens large in an :class:`ItemViewer`.

    Signals
    -------
    open_item_requested(path, modality, model_spec, method, target)
        "Open in its tab" was pressed in the viewer (see :class:`~xaidesk.gui.tabs.dataset_tab.DatasetTab`).
    open_run_requested()
        "Open run…" was pressed in Browse.
    status_message(str)
        Text for the window's status bar (from SpRAy).
    """

    open_item_requested = Signal(str, str, str, str, int)
    open_run_requested = Signal()
    status_message = Signal(str)

    def __init__(self, runner, settings=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run: RunInfo | None = None
        self.viewer: ItemViewer | None = None  # the item shown large after a double-click
        self.browse = BrowsePanel()
        self.browse.item_activated.connect(self._on_item_activated)
        self.browse.open_run_requested.connect(self.open_run_requested)
        self.addTab(self.browse, "Browse")
        self.spray_panel = self._make_spray_panel(runner, settings)
        if self.spray_panel is not None:
            self.addTab(self.spray_panel, "SpRAy")

    def _make_spray_panel(self, runner, settings):
        """The SpRAy panel when :mod:`xaidesk.gui.views.spray_views` is there (shown beside Browse)."""
        try:
            from ..views.spray_views import SprayPanel
        except ImportError:
            return None
        panel = SprayPanel(runner, settings)
        for name in ("open_item_requested", "status_message"):
            if hasattr(panel, name):
                getattr(panel, name).connect(getattr(self, name))
        return panel

    def show_run(self, info: RunInfo) -> None:
        """Show a run folder in Browse and SpRAy."""
        self.run = info
        self.browse.set_rows(info.folder, info.rows)
        if self.spray_panel is not None and hasattr(self.spray_panel, "set_run"):
            self.spray_panel.set_run(str(info.folder))

    def start_run(self, out: Path, existing: RunInfo | None) -> None:
        """A run into ``out`` starts: show what the folder already holds (a run being resumed), or an empty grid."""
        self.run = existing
        self.browse.set_rows(out, existing.rows if existing is not None else [])

    def add_rows(self, rows) -> None:
        self.browse.add_rows(rows)

    def _on_item_activated(self, row) -> None:
        run = self.run
        folder = self.browse.model.run_dir
        if (run is None or run.folder != folder) and folder is not None:
            try:  # a run that started in this session: its run.json is there by now
                run = self.run = read_run(folder)
            except XaideskError:
                return
        if run is None:
            return
        if self.viewer is not None:
            self.viewer.close()
            self.viewer.deleteLater()
        self.viewer = ItemViewer(run, row, self)
        self.viewer.open_in_tab_requested.connect(lambda item: self.open_item(run, item))
        self.viewer.show()

    def open_item(self, run: RunInfo, row) -> None:
        """Ask the window to open a run item in its tab with the run's model, method and class."""
        self.open_item_requested.emit(str(run.input_path(row)), run.modality, run.model, row.method, int(row.target))


__all__ = ["DatasetResults"]
