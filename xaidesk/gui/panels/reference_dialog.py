"""The Dataset tab's "Reference samples…": what each concept of a layer looks like, from the tab's folder.

The folder is run through the tab's model once (:func:`~xaidesk.gui.concept_dataset_jobs.run_references`,
a resumable dataset-mode run on a worker thread of its own, so the other tabs stay usable: the run row,
:class:`~xaidesk.gui.panels.reference_run.ReferenceRunRow`), recording every channel's relevance and
activation at the chosen layer. The browser then lists the concepts by
their relevance over the folder, and shows for the chosen one the crops where it was most relevant
(RelMax) and most active (ActMax). The small jobs (loading the model, reading a run, cutting crops) go to
the window's shared runner.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QPushButton,
                               QVBoxLayout, QWidget)

from ...runs.format import RUN_FILE
from ..concept_dataset_jobs import (ConceptInputs, cache_folder, check_inputs, earlier_runs, full_image,
                                    load_references, matching_run, reference_setup, reference_tiles, run_references)
from ..views.reference_grid import ConceptBrowser, SampleViewer
from ..widgets import error_dialog
from ..widgets.panel_jobs import PanelJobs
from .reference_run import ReferenceRunRow

INTRO = ("A concept is one channel of a layer. Its reference samples show what it looks like: the parts of the "
         "folder's images where it was most relevant to the prediction (RelMax) and where it was most active "
         "(ActMax). The folder is run through the model once; each image is explained for its predicted class.")
CACHE_TEXT = "xaidesk's cache: kept per model, layer and folder, so a finished run is reused."


class ReferenceSamplesDialog(QDialog):
    """Compute and browse the reference samples of one layer's concepts over the Dataset tab's folder.

    Parameters
    ----------
    runner
        The window's shared runner (small jobs).
    inputs
        The tab's folder, model and run settings.
    open_run
        ``open_run(folder)`` shows a run folder in the Dataset tab's results (None: no "Open as a run").

    Signals
    -------
    references_ready(str)
        A reference run finished; its folder.
    """

    references_ready = Signal(str)

    def __init__(self, runner, inputs: ConceptInputs, open_run=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inputs = inputs
        self.setup = None
        self.references = None
        self.out: Path | None = None  # None: the cache
        self._open_run = open_run
        self._runs = []
        self._shown_generation = 0  # counts the browser's clearings: a late result of an earlier one is dropped
        self.jobs = PanelJobs(runner, "dataset.references", self)
        self.setWindowTitle("Reference samples")
        self._build()
        self.resize(1180, 800)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)
        self._load_setup()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The layer whose channels are the concepts; later layers hold more composite ones.")
        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.output_label = QLabel(CACHE_TEXT)
        self.output_label.setWordWrap(True)
        self.output_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_button = choose = QPushButton("Choose…")
        choose.setToolTip("Put the reference run in a folder of your own (an empty one, or one holding this run).")
        choose.clicked.connect(self.choose_output)
        self.cache_button = QPushButton("Use the cache")
        self.cache_button.clicked.connect(lambda: self.set_output(None))
        self.cache_button.hide()
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_label, 1)
        output_row.addWidget(choose)
        output_row.addWidget(self.cache_button)
        self.earlier_combo = QComboBox()
        self.earlier_combo.setToolTip("Reference runs made before for this model and layer.")
        self.show_earlier_button = QPushButton("Show")
        self.show_earlier_button.setToolTip("Browse the concepts of the chosen earlier run.")
        self.show_earlier_button.clicked.connect(self.show_earlier)
        earlier_row = QHBoxLayout()
        earlier_row.addWidget(self.earlier_combo, 1)
        earlier_row.addWidget(self.show_earlier_button)
        form = QFormLayout()
        form.addRow("Folder:", self._plain(str(self.inputs.source)))
        form.addRow("Model:", self._plain(str(self.inputs.spec)))
        form.addRow("Layer:", self.layer_combo)
        form.addRow("Saved in:", output_row)
        form.addRow("Earlier runs:", earlier_row)

        self.run_row = ReferenceRunRow()
        self.run_row.run_button.clicked.connect(self.start_run)
        self.run_row.finished.connect(self._on_run_finished)
        self.run_row.stopped.connect(self._on_run_stopped)
        self.run_row.state_changed.connect(self._update_enabled)
        self.run_button, self.cancel_button = self.run_row.run_button, self.run_row.cancel_button
        self.progress_bar, self.status = self.run_row.progress_bar, self.run_row.status

        self.browser = ConceptBrowser()
        self.browser.concept_chosen.connect(self._on_concept)
        self.browser.sample_clicked.connect(self.show_sample)
        self.concept_table, self.browse_label = self.browser.concept_table, self.browser.browse_label
        self.relmax_grid, self.actmax_grid = self.browser.relmax_grid, self.browser.actmax_grid
        self.open_run_button = QPushButton("Open as a run")
        self.open_run_button.setToolTip("Show the reference run's heatmaps in the Dataset tab's results.")
        self.open_run_button.clicked.connect(self.open_as_run)
        self.open_run_button.setVisible(self._open_run is not None)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.open_run_button)
        bottom.addStretch(1)
        bottom.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.run_row)
        layout.addWidget(self.browser, 1)
        layout.addLayout(bottom)
        self._update_enabled()

    @staticmethod
    def _plain(text: str) -> QLabel:
        label = QLabel(text)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setWordWrap(True)
        return label

    # ------------------------------------------------------------------ model and layer
    def _load_setup(self) -> None:
        inputs = self.inputs
        self.jobs.run("setup", lambda token, progress: reference_setup(
            inputs.spec, inputs.labels, inputs.preprocessing, token=token, progress=progress),
            self._on_setup, self._on_setup_failed)

    def _on_setup(self, setup) -> None:
        self.setup = setup
        self.layer_combo.blockSignals(True)
        for layer in setup.layers:
            self.layer_combo.addItem(layer.title, layer.name)
        self.layer_combo.setCurrentIndex(max(0, self.layer_combo.findData(setup.default)))
        self.layer_combo.blockSignals(False)
        self.status.setText(f"Each image is explained with {setup.method_title}.")
        self._on_layer_changed()

    def _on_setup_failed(self, failure) -> None:
        self.status.setText(failure.message)
        self._update_enabled()
        error_dialog.show_error(self, "Reference samples cannot be made with this model", failure)

    def layer(self) -> str | None:
        return self.layer_combo.currentData()

    def set_layer(self, name: str) -> bool:
        index = self.layer_combo.findData(name)
        if index >= 0:
            self.layer_combo.setCurrentIndex(index)
        return index >= 0

    def run_folder(self) -> Path | None:
        """Where the run of the chosen layer goes: the chosen output folder, else its cache folder."""
        if self.out is not None:
            return self.out
        if self.setup is None or self.layer() is None:
            return None
        return cache_folder(self.setup, self.layer(), self.inputs.source)

    def _on_layer_changed(self, *_args) -> None:
        self._clear_browser("No reference run for this layer yet: press Run.")
        self._refresh_earlier()
        self._show_output()
        folder = self.run_folder()
        if folder is not None and (folder / RUN_FILE).is_file():
            self._load(folder)
        else:
            mine = matching_run(self._runs, self.inputs.source)
            if mine is not None and self.out is None:
                self._load(mine.folder)
        self._update_enabled()

    def _refresh_earlier(self) -> None:
        self._runs = earlier_runs(self.setup.spec, self.layer()) if self.setup and self.layer() else []
        self.earlier_combo.clear()
        for run in self._runs:
            self.earlier_combo.addItem(run.describe(), str(run.folder))
            self.earlier_combo.setItemData(self.earlier_combo.count() - 1, str(run.folder),
                                           Qt.ItemDataRole.ToolTipRole)
        if not self._runs:
            self.earlier_combo.addItem("None yet for this layer")
        self._update_enabled()

    # ------------------------------------------------------------------ output folder
    def choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the reference run (empty, or holding this run)",
                                                  str(self.inputs.source.parent if self.inputs.source else ""))
        if folder:
            self.set_output(folder)

    def set_output(self, folder) -> None:
        """Put the run in ``folder`` (None: the cache)."""
        self.out = Path(folder).expanduser().resolve() if folder else None
        self._on_layer_changed()

    def _show_output(self) -> None:
        self.cache_button.setVisible(self.out is not None)
        if self.out is not None:
            self.output_label.setText(str(self.out))
            self.output_label.setToolTip("")
            return
        self.output_label.setText(CACHE_TEXT)
        folder = self.run_folder()
        self.output_label.setToolTip(str(folder) if folder is not None else "")

    # ------------------------------------------------------------------ running
    def is_running(self) -> bool:
        return self.run_row.is_running()

    def is_stopping(self) -> bool:
        return self.run_row.is_stopping()

    def start_run(self) -> int | None:
        """Run (or continue) the reference run of the chosen layer."""
        if self.setup is None or self.layer() is None or self.is_running():
            return None
        setup, layer, source, out, inputs = self.setup, self.layer(), self.inputs.source, self.out, self.inputs

        def job(token, progress):
            return run_references(setup, source, layer, out, batch_size=inputs.batch_size, device=inputs.device,
                                  token=token, progress=progress)

        job_id = self.run_row.start(job, self.run_folder())
        self._update_enabled()
        return job_id

    def cancel_run(self) -> None:
        self.run_row.cancel()

    def _on_run_finished(self, references) -> None:
        self._refresh_earlier()
        self._show(references)
        self.references_ready.emit(str(references.run_dir))

    def _on_run_stopped(self, folder: Path | None) -> None:
        """Show the stopped run's folder again if it is still the one chosen (whatever layer or output is by now)."""
        self._refresh_earlier()
        if folder is not None and folder == self.run_folder() and (folder / RUN_FILE).is_file():
            self._load(folder, quiet=True)

    # ------------------------------------------------------------------ browsing
    def show_earlier(self) -> None:
        folder = self.earlier_combo.currentData()
        if folder:
            self._load(Path(folder))

    def _load(self, folder: Path, quiet: bool = False) -> None:
        generation = self._shown_generation

        def show(references) -> None:
            if generation != self._shown_generation:  # cleared meanwhile (another layer or output folder)
                return
            if references.layer != self.layer():
                self._clear_browser(f"{folder} holds a reference run of layer {references.layer}: choose that "
                                    "layer, or another folder (or the cache) for this one.")
                return
            self._show(references)

        self.jobs.run("open", lambda token, progress: load_references(folder), show,
                      None if quiet else lambda failure: error_dialog.show_error(
                          self, "Could not read the reference run", failure))

    def _show(self, references) -> None:
        """Browse ``references``: the concept list, the first concept chosen."""
        self.references = references
        self.browser.show_references(references)
        self._update_enabled()

    def concepts_shown(self) -> list[int]:
        return self.browser.concepts_shown()

    def select_concept(self, channel: int) -> bool:
        return self.browser.select_concept(channel)

    def _on_concept(self, channel: int) -> None:
        references = self.references
        if references is None:
            return
        self.browser.relmax_grid.show_message("Cutting the crops …")
        self.browser.actmax_grid.show_message("")

        def show(tiles) -> None:
            if self.references is references:  # still the run browsed
                self.browser.show_tiles(channel, *tiles)

        def failed(failure) -> None:
            if self.references is references:
                self.browser.relmax_grid.show_message(failure.message)

        self.jobs.run("tiles", lambda token, progress: reference_tiles(
            references, channel, token=token, progress=progress), show, failed)

    def show_sample(self, tile, value_name: str = "value") -> None:
        """Show the whole image of a reference sample with its box."""
        self.jobs.run("image", lambda token, progress: full_image(tile.path),
                      lambda pixels: SampleViewer(tile, pixels, value_name, parent=self).show(),
                      lambda failure: error_dialog.show_error(self, "Could not open the image", failure))

    def _clear_browser(self, message: str) -> None:
        """Browse nothing; the crops and runs still being read for the previous layer or folder are dropped."""
        self.jobs.runner.cancel(channel=f"{self.jobs.prefix}.tiles")
        self._shown_generation += 1
        self.references = None
        self.browser.clear(message)

    def open_as_run(self) -> None:
        if self.references is not None and self._open_run is not None:
            self._open_run(self.references.run_dir)

    # ------------------------------------------------------------------ state
    def _update_enabled(self) -> None:
        running = self.is_running()
        ready = self.setup is not None and self.layer() is not None
        self.run_button.setEnabled(ready and not running)
        self.cancel_button.setEnabled(running)
        self.layer_combo.setEnabled(ready and not running)
        self.choose_button.setEnabled(not running)
        self.cache_button.setEnabled(not running)
        self.earlier_combo.setEnabled(bool(self._runs))
        self.show_earlier_button.setEnabled(bool(self._runs))
        self.open_run_button.setEnabled(self.references is not None)

    def done(self, result: int) -> None:
        self.stop()
        super().done(result)

    def closeEvent(self, event) -> None:
        self.stop()
        super().closeEvent(event)

    def stop(self) -> None:
        """Cancel this dialog's jobs and let its run's worker thread go (what is done stays on disk)."""
        self.jobs.cancel()
        self.run_row.stop()


def open_reference_dialog(parent: QWidget, runner, inputs: ConceptInputs, open_run=None,
                          previous: ReferenceSamplesDialog | None = None) -> ReferenceSamplesDialog | None:
    """Show the Reference samples window for ``inputs`` (the one open for the same folder and model, else a new one);
    a missing folder or model is refused in a dialog. Returns the window shown, or ``previous`` when refused."""
    from ...core import XaideskError

    try:
        check_inputs(inputs)
    except XaideskError as error:
        error_dialog.show_error(parent, "Reference samples need a folder and a model", error.message)
        return previous
    if previous is not None and inputs.same_as(previous.inputs):
        dialog = previous
        dialog.inputs = inputs  # the device and batch size of its next run
    else:
        if previous is not None:
            previous.close()
            previous.deleteLater()
        dialog = ReferenceSamplesDialog(runner, inputs, open_run, parent)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


__all__ = ["ReferenceSamplesDialog", "open_reference_dialog"]
