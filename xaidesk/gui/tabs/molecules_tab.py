"""The Molecules tab: learn interpretable energy models from a folder of .xyz files and explain them.

Loading and training run in the :class:`~xaidesk.gui.runner.Runner` (the Qt-free
work is in :mod:`xaidesk.gui.molecule_jobs`, over :mod:`xaidesk.data.molecules` and
:mod:`xaidesk.explain.molecule`); the tab is a composition of panels
(:mod:`xaidesk.gui.panels`) and shows their results:

* the data (``molecule_data``) and the model settings with the report of a fit (``molecule_model``);
* global, atom-count model: the energy per element as bars;
* global, pair model: the pair potential of one (or every) pair type with the
  reference single/double/triple bond lengths as vertical lines (``molecule_global``);
* local: a molecule's prediction as its ranked pair contributions plus the
  intercept, and a 2D view of the molecule coloured by contribution (``molecule_decomposition``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from xaidesk.core import InputError

from ..formatting import format_duration
from ..molecule_jobs import data_text, find_energies_file, load_folder, load_molecule, train
from ..panels.molecule_data import MoleculeDataBox
from ..panels.molecule_model import MoleculeFitReport, MoleculeModelBox
from ..panels.molecule_results import MOLECULE_PAGE, MoleculeResults
from ..runner import JobFailure, Runner
from ..widgets import error_dialog
from .analysis_base import AnalysisTabMixin
from ..panels.tab_pieces import side_column

ENERGIES_FILTER = "Energies (*.txt *.dat *.csv);;All files (*)"


class MoleculesTab(AnalysisTabMixin, QWidget):
    """Open molecules, train an atom-count or pair-potential ridge model, explain it.

    Panels: :attr:`data_box`, :attr:`model_box`, :attr:`fit_report` and :attr:`views`
    (:class:`~xaidesk.gui.panels.molecule_results.MoleculeResults`). The widgets the window's
    tests name (``data_label``, ``bins_spin``, ``potential_plot``, ``molecule_combo``) are kept
    as attributes of the tab.

    Signals
    -------
    status_message(str)
    state_changed()
    """

    status_message = Signal(str)
    state_changed = Signal()

    RUN_CHANNEL = "train"
    FOLDER_SETTING = "last_molecule_folder"
    PLOT_NAME = "molecules_plot.png"
    RESULTS_EXPORT_TEXT = "Export energies / potentials CSV…"
    SETTINGS_EXPORT_NOTE = ("The Molecules tab has no settings file; its model settings and test error are shown "
                            "on the left, and the CSV exports name their units.")

    def __init__(self, runner: Runner, settings=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.settings = settings
        self.mols = None  # training MoleculeSet
        self.length_unit = "angstrom"  # unit the files were written in (lengths are shown in Å)
        self.model = None  # MoleculeModel
        self.extra = []  # single molecules opened for prediction (MoleculeSet each)
        self._jobs: dict[str, int | None] = {"load": None, "predict": None, "train": None}
        self._build()
        self._connect_runner()
        self._update_enabled()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        self.data_box = MoleculeDataBox()
        self.data_box.open_folder_requested.connect(self.choose_folder)
        self.data_box.open_molecule_requested.connect(self.choose_molecule)
        layout.addWidget(self.data_box)
        self.model_box = MoleculeModelBox()
        self.model_box.kind_changed.connect(self._on_kind_changed)
        layout.addWidget(self.model_box)
        self.fit_report = MoleculeFitReport()
        layout.addWidget(self.fit_report)

        export_box = QGroupBox("Export")
        export_layout = QVBoxLayout(export_box)
        self.export_global_button = QPushButton("Energies / potentials CSV…")
        self.export_global_button.clicked.connect(self.choose_global_csv)
        self.export_decomposition_button = QPushButton("Decomposition CSV…")
        self.export_decomposition_button.clicked.connect(self.choose_decomposition_csv)
        self.save_plot_button = QPushButton("Save plot PNG…")
        self.save_plot_button.clicked.connect(self.choose_plot_file)
        for button in (self.export_global_button, self.export_decomposition_button, self.save_plot_button):
            export_layout.addWidget(button)
        layout.addWidget(export_box)
        layout.addStretch(1)

        run_area = self._build_run_area("Train", self.train)
        self.run_button.setToolTip("Fit the chosen ridge model on the training molecules and explain it.")

        self.views = MoleculeResults()
        self.views.molecule.shown.connect(self._update_enabled)
        # the widgets the window's tests name
        self.data_label, self.bins_spin = self.data_box.data_label, self.model_box.bins_spin
        self.potential_plot = self.views.potentials.potential_plot
        self.molecule_combo = self.views.molecule.molecule_combo

        outer = QHBoxLayout(self)
        outer.addWidget(side_column(panel, run_area))
        outer.addWidget(self.views, 1)
        self._on_kind_changed()

    # ------------------------------------------------------------------ parameters
    @property
    def kind(self) -> str:
        return self.model_box.kind

    def set_kind(self, kind: str) -> None:
        self.model_box.set_kind(kind)

    def set_unit(self, unit: str) -> None:
        self.data_box.set_unit(unit)

    def basis_bohr(self) -> dict:
        """σ and the range as the model takes them (Bohr), from the spin boxes (Å)."""
        return self.model_box.basis_bohr()

    @property
    def decomposition(self):
        """The decomposition of the molecule shown (None before one is shown)."""
        return self.views.molecule.decomposition

    def _on_kind_changed(self) -> None:
        if self.model is None:
            self.views.show_model_page(self.kind)

    # ------------------------------------------------------------------ loading
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of .xyz files", self._last_folder())
        if folder:
            self.open_folder_asking(folder, always_ask=True)

    def choose_energies(self, folder) -> Path | None:
        """Ask for the energies file of ``folder`` (the dialog starts on a likely one)."""
        start = find_energies_file(folder) or Path(folder)
        energies, _ = QFileDialog.getOpenFileName(self, "Energies file (lines of 'name value')", str(start),
                                                  ENERGIES_FILTER)
        return Path(energies) if energies else None

    def open_folder_asking(self, folder, always_ask: bool = False) -> int | None:
        """Open a folder of .xyz files with the energies file beside it, or the one the person picks.

        The folder is checked first: one without molecules is refused before anything is
        asked, and QM7's layout (``qm7/`` holding ``xyz/`` and ``energies.txt``) opens ``xyz/``.
        """
        from xaidesk.data.molecules import find_molecule_folder

        try:
            molecules = find_molecule_folder(folder)
        except InputError as error:
            self._open_failed("Could not open the molecules", error)
            return None
        energies = None if always_ask else find_energies_file(molecules)
        if energies is None:
            energies = self.choose_energies(molecules)
        if energies is None:
            return None
        job = self.open_folder(molecules, energies)
        self._remember_folder(Path(folder) / "x")  # the next dialog starts where the person picked, not in xyz/
        return job

    def open_path(self, path) -> int | None:
        """Open what was dropped or picked: a folder of .xyz files to train on, or one .xyz file to predict."""
        if Path(path).is_dir():
            return self.open_folder_asking(path)
        return self.open_molecule(path)

    def choose_molecule(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Molecule to predict", self._last_folder(), "XYZ files (*.xyz);;All files (*)")
        if path:
            self.open_molecule(path)

    def open_folder(self, folder, energies) -> int:
        """Load a folder of .xyz files with their energies (in the runner)."""
        unit = self.data_box.unit()

        def job(token, progress):
            return load_folder(folder, energies, unit, token, progress)

        self._remember_folder(Path(folder) / "x")
        self.status_message.emit(f"Reading {Path(folder).name} with the energies in {Path(energies).name} …")
        self._jobs["load"] = self.runner.submit(job, "molecule.load")
        self._update_enabled()
        return self._jobs["load"]

    def open_molecule(self, path) -> int:
        """Load one .xyz file for prediction (in the runner)."""
        unit = self.data_box.unit()

        def job(token, progress):
            return load_molecule(path, unit, token, progress)

        self._remember_folder(path)
        self._jobs["predict"] = self.runner.submit(job, "molecule.predict")
        return self._jobs["predict"]

    def _folder_ready(self, result) -> None:
        from xaidesk.data.molecules import count_molecules

        mols, unit, energies = result
        self.mols, self.length_unit = mols, unit
        self.model = None
        self.extra = []
        self._clear_results()
        self.views.show_model_page(self.kind)
        self.data_label.setText(data_text(mols, unit, energies))
        self.data_label.setToolTip(f"{mols.sources[0].parent if mols.sources else ''}\n{energies}")
        self.status_message.emit(f"Opened {count_molecules(len(mols))}.")
        self._update_enabled()

    def _molecule_ready(self, mols) -> None:
        if self.model is not None:
            try:
                self.model.decompose(mols, 0)
            except Exception as error:  # noqa: BLE001 - e.g. an element the model never saw
                error_dialog.show_error(self, "Could not explain the molecule", error)
                return
        self.extra.append(mols)
        self._fill_molecule_combo(select_last=True)
        self.views.setCurrentIndex(MOLECULE_PAGE)
        self.status_message.emit(f"Opened {mols.names[0]}." + ("" if self.model else " Train a model to explain it."))

    # ------------------------------------------------------------------ training
    def can_train(self) -> bool:
        return self.mols is not None and not self.is_running() and self._jobs["load"] is None

    def train(self) -> int | None:
        if not self.can_train():
            return None
        mols, kind = self.mols, self.kind
        params = self.model_box.training_params()

        def job(token, progress):
            return train(mols, kind, params, token, progress)

        return self._submit_run(job, "molecule.train", "Training …")

    def _clear_results(self) -> None:
        self.fit_report.clear()
        self.views.clear()

    def show_model(self, model) -> None:
        self.model = model
        trained = f"Trained in {format_duration(sum(model.seconds.values()))}."
        self._end_run(trained)
        self._clear_results()
        self.fit_report.show_model(model)
        self.views.show_model(model)
        self._fill_molecule_combo()
        self.status_message.emit(f"{trained} Test MAE {model.metrics['test_mae']:.3g} {model.energy_unit}."
                                 + (" See the warning on the left." if model.notes else ""))

    def select_pair(self, pair: str) -> None:
        """Show one pair type (``"C-H"`` or ``"H-C"``), or every one with
        :data:`~xaidesk.gui.panels.molecule_global.ALL_PAIRS`."""
        self.views.potentials.select_pair(pair)

    # ------------------------------------------------------------------ local explanations
    def _fill_molecule_combo(self, select_last: bool = False) -> None:
        self.views.molecule.fill(self.model, self.mols, self.extra, select_last)

    def select_molecule(self, position: int) -> None:
        self.views.molecule.select_molecule(position)

    # ------------------------------------------------------------------ runner relays
    def _finish_handlers(self) -> dict:
        return {"load": self._folder_ready, "predict": self._molecule_ready, "train": self.show_model}

    def _failure_handlers(self) -> dict:
        return {"load": lambda failure: self._open_failed("Could not open the molecules", failure),
                "predict": lambda failure: self._open_failed("Could not open the molecule", failure),
                "train": self._train_failed}

    def _open_failed(self, title: str, failure: JobFailure) -> None:
        self.status_message.emit(title + ".")
        error_dialog.show_error(self, title, failure)

    def _train_failed(self, failure: JobFailure) -> None:
        self._end_run("Training failed; the previous results are still shown.")
        error_dialog.show_error(self, "Could not train the model", failure)

    # ------------------------------------------------------------------ export
    def has_result(self) -> bool:
        return self.model is not None

    def export_global_csv(self, path) -> Path:
        """Per-element energies (atom model) or every pair potential on a distance grid (pair model),
        as ``xaidesk explain molecules`` writes them (:mod:`xaidesk.export.molecules`)."""
        from xaidesk.export.molecules import write_global_csv

        if self.model is None:
            raise ValueError("no model")
        return write_global_csv(path, self.model)

    def export_decomposition_csv(self, path) -> Path:
        """The shown molecule's parts (ranked), then the intercept and the prediction, in the
        format of the CLI's ``decompositions.csv`` (:mod:`xaidesk.export.molecules`)."""
        from xaidesk.export.molecules import write_decompositions_csv

        if self.decomposition is None:
            raise ValueError("no decomposition")
        return write_decompositions_csv(path, [self.decomposition], self.model.energy_unit)

    def current_plot_widget(self) -> QWidget:
        return self.views.plot_widget()

    def choose_global_csv(self) -> None:
        if self.model is not None:
            name = "element_energies.csv" if self.model.kind == "atoms" else "pair_potentials.csv"
            self._save_as("Export CSV", name, "CSV (*.csv)", ".csv", self.export_global_csv)

    def choose_decomposition_csv(self) -> None:
        if self.decomposition is not None:
            name = f"{Path(self.decomposition.name).stem}_decomposition.csv"
            self._save_as("Export decomposition", name, "CSV (*.csv)", ".csv", self.export_decomposition_csv)

    def choose_results_export(self) -> None:
        self.choose_global_csv()

    # ------------------------------------------------------------------ state
    def _update_enabled(self) -> None:
        running = self.is_running()
        self.run_button.setEnabled(self.can_train())
        self.cancel_button.setEnabled(running)
        self.export_global_button.setEnabled(self.model is not None)
        self.save_plot_button.setEnabled(self.model is not None)
        self.export_decomposition_button.setEnabled(self.decomposition is not None)
        self.views.update_placeholders(self.mols, self.model)
        self.state_changed.emit()


__all__ = ["MoleculesTab"]
