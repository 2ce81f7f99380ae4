"""The Dataset tab's "Prototypes…": a class's typical reasoning (PCX) from a reference run, and its atypical samples.

A reference run (from "Reference samples…") holds every image's concept relevances at one layer. For the
images of one class (predicted and explained as it), a Gaussian mixture on those vectors gives the class's
prototypes: each is one typical way the model reasons about the class. The window shows each prototype (its
weight and members, its top concepts with their shares, its closest samples) and every sample with its nearest
prototype and how typical its reasoning is, least typical first. Save… writes them to a folder and Open
saved… shows such a folder again. The class names come from the reference run's index, so the window opens
without loading the model. The jobs run in the window's shared runner.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QListWidget,
                               QPushButton, QScrollArea, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from ..concept_dataset_jobs import ConceptInputs, check_inputs, earlier_runs, full_image, load_references, matching_run
from ..prototype_jobs import (class_choices, class_name, fit_class_prototypes, open_saved_prototypes, run_class_names,
                              save_prototypes, suggested_count)
from ..views.prototype_samples import PrototypeSampleTable
from ..views.reference_grid import ReferenceGrid, SampleViewer, percent_text
from ..widgets import error_dialog
from ..widgets.panel_jobs import PanelJobs, job_controls
from ..wording import plural

INTRO = ("Prototypes summarise how the model usually reasons about one class: a Gaussian mixture over the concept "
         "relevances of the folder's images of that class (PCX). Each prototype is one typical way of reaching the "
         "class; an image far from all of them was reached in an unusual way.")
CLASS_NOTE = ("A class's images are those the model predicted as it and the run explained for it (the same images "
              "unless the run explained one fixed class).")
NO_RUN = "No reference run for this model yet: press Reference samples… and run it first."


class PrototypesDialog(QDialog):
    """Fit and show the prototypes of one class on a reference run of the Dataset tab's model.

    Parameters
    ----------
    runner
        The window's shared runner.
    inputs
        The tab's folder, model and run settings.
    open_references
        ``open_references()`` shows the Reference samples window (to make a reference run first).
    """

    def __init__(self, runner, inputs: ConceptInputs, open_references=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inputs = inputs
        self.spec = (inputs.spec or "").strip()  # as reference runs record it
        self.class_names: dict[int, str] = {}
        self.references = None
        self.fit = None
        self._runs = []
        self._count_asked = 0
        self._open_references = open_references
        self.jobs = PanelJobs(runner, "dataset.prototypes", self)
        self.fit_jobs = PanelJobs(runner, "dataset.prototypes.fit", self)
        self.setWindowTitle("Prototypes")
        self._build()
        self.resize(1180, 800)
        self.refresh_runs()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.run_combo = QComboBox()
        self.run_combo.setToolTip("A reference run of this model (Reference samples…): the concept relevances of "
                                  "every image of a folder at one layer.")
        self.run_combo.currentIndexChanged.connect(self._on_run_changed)
        references_button = QPushButton("Reference samples…")
        references_button.setToolTip("Make a reference run of the tab's folder (it appears here when it is done).")
        references_button.clicked.connect(self._make_references)
        references_button.setVisible(self._open_references is not None)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_combo, 1)
        run_row.addWidget(references_button)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class whose reasoning is summarised. " + CLASS_NOTE)
        self.class_combo.currentIndexChanged.connect(self._on_class_changed)
        self.count_spin = QSpinBox()
        self.count_spin.setRange(1, 12)
        self.count_spin.setValue(2)
        self.count_spin.setToolTip("How many prototypes (mixture components) to fit.")
        self.count_note = QLabel("")
        self.count_note.setObjectName("notes")
        count_row = QHBoxLayout()
        count_row.addWidget(self.count_spin)
        count_row.addWidget(self.count_note, 1)
        form = QFormLayout()
        form.addRow("Model:", QLabel(str(self.inputs.spec)))
        form.addRow("Reference run:", run_row)
        form.addRow("Class:", self.class_combo)
        form.addRow("Prototypes:", count_row)
        self.state = QLabel("")
        self.state.setWordWrap(True)
        controls, self.fit_button = job_controls(self.fit_jobs, "Fit", self.start_fit)
        self.fit_button.setToolTip("Fit the prototypes of the chosen class.")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._prototype_side())
        splitter.addWidget(self._sample_side())
        splitter.setSizes([640, 520])
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Write the prototypes, their members and every sample's typicality to a folder.")
        self.save_button.clicked.connect(self.choose_save)
        open_saved = QPushButton("Open saved…")
        open_saved.setToolTip("Show prototypes saved before (a folder written by Save…).")
        open_saved.clicked.connect(self.choose_saved)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.save_button)
        bottom.addWidget(open_saved)
        bottom.addStretch(1)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.state)
        layout.addWidget(controls)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)
        self._update_enabled()

    def _prototype_side(self) -> QWidget:
        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        self.prototype_list = QListWidget()
        self.prototype_list.setMaximumHeight(5 * self.fontMetrics().height() + 12)
        self.prototype_list.currentRowChanged.connect(self._show_prototype)
        self.concepts_label = QLabel("Press Fit: the chosen class's prototypes appear here, each with its top "
                                     "concepts and closest samples; click a prototype to see its own.")
        self.concepts_label.setWordWrap(True)
        self.concepts_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.closest_grid = ReferenceGrid("Closest samples", "typicality", percent=True)
        self.closest_grid.sample_clicked.connect(self.show_sample)
        holder = QWidget()
        holder_layout = QVBoxLayout(holder)
        holder_layout.addWidget(self.closest_grid)
        holder_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(holder)
        scroll.setWidgetResizable(True)
        layout.addWidget(QLabel("Prototypes (share of the class's images, members)"))
        layout.addWidget(self.prototype_list)
        layout.addWidget(self.concepts_label)
        layout.addWidget(scroll, 1)
        return side

    def _sample_side(self) -> QWidget:
        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        self.sample_table = PrototypeSampleTable()
        layout.addWidget(QLabel("Samples, least typical first"))
        layout.addWidget(self.sample_table, 1)
        return side

    # ------------------------------------------------------------------ run and class
    def refresh_runs(self, select: str | None = None) -> None:
        """List the reference runs of the model (those of the tab's folder first); choose ``select`` if given."""
        runs = earlier_runs(self.spec, None)
        mine = [run for run in runs if matching_run([run], self.inputs.source) is not None]
        self._runs = mine + [run for run in runs if run not in mine]
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for run in self._runs:
            self.run_combo.addItem(run.describe(with_layer=True), str(run.folder))
            self.run_combo.setItemData(self.run_combo.count() - 1, str(run.folder), Qt.ItemDataRole.ToolTipRole)
        if select is not None:
            self.run_combo.setCurrentIndex(max(0, self.run_combo.findData(str(Path(select)))))
        self.run_combo.blockSignals(False)
        if not self._runs:
            self.run_combo.addItem("None yet")
            self.state.setText(NO_RUN)
        self._on_run_changed()

    def _make_references(self) -> None:
        dialog = self._open_references()
        if dialog is not None:
            dialog.references_ready.connect(self.refresh_runs, Qt.ConnectionType.UniqueConnection)

    def _on_run_changed(self, *_args) -> None:
        self.references = None
        self.class_combo.clear()
        self._update_enabled()
        folder = self.run_combo.currentData()
        if not folder:
            return
        self.state.setText("Reading the reference run …")
        self.jobs.run("open", lambda token, progress: (load_references(folder), run_class_names(folder)),
                      self._on_references, lambda failure: self.state.setText(failure.message))

    def _on_references(self, loaded) -> None:
        self.references, self.class_names = loaded
        references = self.references
        self.class_combo.blockSignals(True)
        for index, count in class_choices(references):
            self.class_combo.addItem(f"{class_name(self.class_names, index)} ({plural(count, 'image')})", index)
        self.class_combo.blockSignals(False)
        self.state.setText(f"{plural(len(references.files), 'image')} of {references.source.name}, layer "
                           f"{references.layer} ({references.channels} concepts)"
                           + ("" if references.finished else "; the run is unfinished, so only its images done count")
                           + ". " + CLASS_NOTE)
        self._on_class_changed()

    def _on_class_changed(self, *_args) -> None:
        self._update_enabled()
        references, class_index = self.references, self.class_combo.currentData()
        if references is None or class_index is None:
            return
        self.count_note.setText("Choosing a number …")
        self._count_asked = self.count_spin.value()
        self.jobs.run("count", lambda token, progress: suggested_count(references, class_index, token, progress),
                      self._on_count, lambda failure: self.count_note.setText(failure.message))

    def _on_count(self, suggestion) -> None:
        count, reason = suggestion
        if self.count_spin.value() == self._count_asked:  # not changed by hand meanwhile
            self.count_spin.setValue(count)
        self.count_note.setText(reason)

    def set_class(self, index: int) -> bool:
        position = self.class_combo.findData(int(index))
        if position >= 0:
            self.class_combo.setCurrentIndex(position)
        return position >= 0

    # ------------------------------------------------------------------ fitting
    def start_fit(self) -> int | None:
        if self.references is None or self.class_combo.currentData() is None:
            return None
        references, class_index = self.references, int(self.class_combo.currentData())
        count = self.count_spin.value()
        name = class_name(self.class_names, class_index)
        job = self.fit_jobs.run("fit", lambda token, progress: fit_class_prototypes(
            references, class_index, count, name, token=token, progress=progress), self._show_fit,
            lambda failure: error_dialog.show_error(self, "The prototypes could not be fitted", failure))
        self._update_enabled()
        return job

    def is_fitting(self) -> bool:
        return self.fit_jobs.busy

    def _show_fit(self, fit) -> None:
        self.fit = fit
        self.prototype_list.clear()
        for card in fit.cards:
            self.prototype_list.addItem(f"Prototype {card.index + 1}: {100 * card.weight:.0f} % of the class, "
                                        f"{plural(card.members, 'image')}")
        self.sample_table.show_samples(fit.samples)
        where = f", saved in {fit.saved}" if fit.saved is not None else ""
        self.state.setText(f"{plural(len(fit.cards), 'prototype')} of {fit.class_name} from "
                           f"{plural(len(fit.samples), 'image')} at layer {fit.layer}{where}."
                           + (f" {fit.note}" if fit.note else ""))
        self.prototype_list.setCurrentRow(0)
        self._update_enabled()

    def _show_prototype(self, row: int) -> None:
        if self.fit is None or not 0 <= row < len(self.fit.cards):
            self.concepts_label.setText("")
            self.closest_grid.show_message("")
            return
        card = self.fit.cards[row]
        concepts = ", ".join(f"concept {channel} ({100 * share:.0f} %)" for channel, share in card.concepts)
        self.concepts_label.setText(f"<b>Prototype {card.index + 1}</b>, top concepts (share of its relevance): "
                                    f"{concepts}")
        if card.closest:
            self.closest_grid.show_tiles(card.closest,
                                         f"Its {len(card.closest)} closest samples, with their typicality")
        else:
            self.closest_grid.show_tiles([], "Its closest samples")
            self.closest_grid.show_message("Their images could not be found (see above).")

    def prototypes_shown(self) -> int:
        return self.prototype_list.count()

    def samples_shown(self) -> list[tuple[str, int, str]]:
        """The sample table: (file, nearest prototype as shown, typicality as shown), top to bottom."""
        return self.sample_table.rows_shown()

    def show_sample(self, tile) -> None:
        self.jobs.run("image", lambda token, progress: full_image(tile.path),
                      lambda pixels: SampleViewer(tile, pixels, "typicality", percent_text, parent=self).show(),
                      lambda failure: error_dialog.show_error(self, "Could not open the image", failure))

    # ------------------------------------------------------------------ saving and reopening
    def choose_saved(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of saved prototypes (written by Save…)")
        if folder:
            self.open_saved(folder)

    def open_saved(self, folder) -> None:
        """Show the prototypes saved in ``folder``."""
        self.state.setText("Reading the saved prototypes …")
        self.jobs.run("saved", lambda token, progress: open_saved_prototypes(folder, token, progress), self._show_fit,
                      lambda failure: (self.state.setText(failure.message), error_dialog.show_error(
                          self, "Could not open the saved prototypes", failure)))

    def choose_save(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder for the prototype files (prototypes.csv, assignments.csv, …)")
        if folder:
            self.save(folder)

    def save(self, folder) -> None:
        """Write the shown prototypes into ``folder``."""
        if self.fit is None:
            return
        fit = self.fit
        self.jobs.run("save", lambda token, progress: save_prototypes(fit, folder),
                      lambda out: self.state.setText(f"Saved in {out}."),
                      lambda failure: error_dialog.show_error(self, "Could not save the prototypes", failure))

    # ------------------------------------------------------------------ state
    def _update_enabled(self) -> None:
        ready = self.references is not None and self.class_combo.currentData() is not None
        self.fit_button.setEnabled(ready)
        self.count_spin.setEnabled(ready)
        self.class_combo.setEnabled(self.references is not None)
        self.run_combo.setEnabled(bool(self._runs))
        self.save_button.setEnabled(self.fit is not None)

    def done(self, result: int) -> None:
        self.jobs.cancel()
        self.fit_jobs.cancel()
        super().done(result)

    def closeEvent(self, event) -> None:
        self.jobs.cancel()
        self.fit_jobs.cancel()
        super().closeEvent(event)


def open_prototypes_dialog(parent: QWidget, runner, inputs: ConceptInputs, open_references=None,
                           previous: PrototypesDialog | None = None) -> PrototypesDialog | None:
    """Show the Prototypes window for ``inputs`` (the one open for the same folder and model, else a new one); a
    missing folder or model is refused in a dialog. Returns the window shown, or ``previous`` when refused."""
    from ...core import XaideskError

    try:
        check_inputs(inputs)
    except XaideskError as error:
        error_dialog.show_error(parent, "Prototypes need a folder and a model", error.message)
        return previous
    if previous is not None and inputs.same_as(previous.inputs):
        dialog = previous
        dialog.inputs = inputs
        dialog.refresh_runs(dialog.run_combo.currentData())
    else:
        if previous is not None:
            previous.close()
            previous.deleteLater()
        dialog = PrototypesDialog(runner, inputs, open_references, parent)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


__all__ = ["PrototypesDialog", "open_prototypes_dialog"]
