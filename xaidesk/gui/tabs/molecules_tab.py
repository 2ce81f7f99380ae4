"""The Molecules tab: learn interpretable energy models from a folder of .xyz files and explain them.

Loading and training run in the :class:`~xaidesk.gui.runner.Runner` (the Qt-free
work is in :mod:`xaidesk.data.molecules` and :mod:`xaidesk.explain.molecule`);
this module dispatches jobs and shows their results:

* global, atom-count model: the energy per element as bars;
* global, pair model: the pair potential of one (or every) pair type with the
  reference single/double/triple bond lengths as vertical lines;
* local: a molecule's prediction as its ranked pair contributions plus the
  intercept, and a 2D view of the molecule coloured by contribution.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from xaidesk.core import InputError

from ..formatting import format_duration
from ..runner import JobFailure, Runner
from ..views.molecule_views import ElementBars, MoleculeView, PotentialPlot
from ..views.view_common import Placeholder
from ..widgets import error_dialog
from .analysis_base import AnalysisTabMixin
from .explain_base import side_column

MODEL_KINDS = (("Atom counts", "atoms"), ("Pair potentials", "pairs"))
#: Per model kind: its name in the results, and what its global view shows.
MODEL_NAMES = {"atoms": ("Atom-count model", "the energy of each element"),
               "pairs": ("Pair-potential model", "the energy curve of each pair of elements against distance")}
#: Lengths are shown in Å everywhere in the tab, whatever unit the files were written in.
DISPLAY_UNIT = "angstrom"
BOHR_PER_ANGSTROM = 1.8897261
#: The pair basis defaults of :mod:`xaidesk.explain.molecule` (in Bohr; that module pulls torch in via its package).
DEFAULT_SIGMA, DEFAULT_RANGE = 0.5, (0.0, 8.0)
#: The view each model opens on (pages of ``MoleculesTab.views``).
ELEMENTS_PAGE, POTENTIALS_PAGE, MOLECULE_PAGE = 0, 1, 2
UNITS = (("Angstrom", "angstrom"), ("Bohr", "bohr"))
ALL_PAIRS = "All pair types"
MOLECULE_SUFFIX = ".xyz"
ENERGIES_SUFFIXES = (".txt", ".dat", ".csv")
ENERGIES_FILTER = "Energies (*.txt *.dat *.csv);;All files (*)"


def _has_xyz(folder) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.name.lower().endswith(MOLECULE_SUFFIX) and e.is_file() for e in entries)
    except OSError:
        return False


def holds_molecules(folder) -> bool:
    """Whether ``folder`` holds ``.xyz`` files, itself or in a folder directly inside it (QM7's ``qm7/xyz``).

    Opening such a folder may still be refused (e.g. several subfolders hold
    molecules); :meth:`MoleculesTab.open_folder_asking` then says why.
    """
    if _has_xyz(folder):
        return True
    try:
        with os.scandir(folder) as entries:
            subfolders = [e.path for e in entries if e.is_dir() and not e.name.startswith(".")]
    except OSError:
        return False
    return any(_has_xyz(sub) for sub in subfolders)


def is_molecule_path(path) -> bool:
    """Whether the Molecules tab opens ``path``: a ``.xyz`` file, or a folder that holds ``.xyz`` files."""
    path = Path(path)
    if path.is_dir():
        return holds_molecules(path)
    return path.suffix.lower() == MOLECULE_SUFFIX


def find_energies_file(folder) -> Path | None:
    """The energies file that goes with a folder of ``.xyz`` files, when there is exactly one candidate.

    A candidate is a ``.txt``, ``.dat`` or ``.csv`` file whose name contains
    "energ" (``energies.txt``, ``qm7_energy.dat``), in the folder itself or,
    if none is there, beside it (as in ``qm7/energies.txt`` next to ``qm7/xyz/``).
    None when there is none or more than one, so the person is asked.
    """
    folder = Path(folder)
    for place in (folder, folder.parent):
        try:
            found = [p for p in place.iterdir()
                     if p.suffix.lower() in ENERGIES_SUFFIXES and "energ" in p.stem.lower() and p.is_file()]
        except OSError:
            continue
        if found:
            return found[0] if len(found) == 1 else None
    return None


def _item(text: str, value: float | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if value is not None:
        item.setData(Qt.ItemDataRole.UserRole, float(value))
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class MoleculesTab(AnalysisTabMixin, QWidget):
    """Open molecules, train an atom-count or pair-potential ridge model, explain it.

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
        self.decomposition = None
        self._bond_table = None
        self._jobs: dict[str, int | None] = {"load": None, "predict": None, "train": None}
        self._build()
        self._connect_runner()
        self._update_enabled()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        panel = QWidget()
        layout = QVBoxLayout(panel)

        data_box = QGroupBox("Data")
        data_form = QFormLayout(data_box)
        self.unit_combo = QComboBox()
        for text, unit in UNITS:
            self.unit_combo.addItem(text, unit)
        self.unit_combo.setToolTip("The length unit of the coordinates in the .xyz files.")
        data_form.addRow("Coordinates in", self.unit_combo)
        self.open_folder_button = QPushButton("Open folder…")
        self.open_folder_button.setToolTip("A folder of .xyz files and a file of energies (lines of 'name value').")
        self.open_folder_button.clicked.connect(self.choose_folder)
        self.open_molecule_button = QPushButton("Open molecule…")
        self.open_molecule_button.setToolTip("One .xyz file whose energy the trained model predicts and explains.")
        self.open_molecule_button.clicked.connect(self.choose_molecule)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_folder_button)
        buttons.addWidget(self.open_molecule_button)
        data_form.addRow(buttons)
        self.data_label = QLabel("No molecules open.")
        self.data_label.setWordWrap(True)
        data_form.addRow(self.data_label)
        layout.addWidget(data_box)

        model_box = QGroupBox("Model")
        form = QFormLayout(model_box)
        self.kind_combo = QComboBox()
        for text, kind in MODEL_KINDS:
            self.kind_combo.addItem(text, kind)
        self.kind_combo.setCurrentIndex(1)
        self.kind_combo.setToolTip("Atom counts: one energy per element. Pair potentials: an energy curve "
                                   "against distance for each pair of elements.")
        self.kind_combo.currentIndexChanged.connect(self._on_kind_changed)
        form.addRow("Model", self.kind_combo)
        self.bins_spin = QSpinBox()
        self.bins_spin.setRange(1, 200)
        self.bins_spin.setValue(20)
        self.bins_spin.setToolTip("Number of Gaussian distance bins per pair type.")
        form.addRow("Distance bins", self.bins_spin)
        self.sigma_spin = QDoubleSpinBox()
        self.sigma_spin.setRange(0.005, 5.0)
        self.sigma_spin.setDecimals(3)
        self.sigma_spin.setSingleStep(0.025)
        self.sigma_spin.setValue(round(DEFAULT_SIGMA / BOHR_PER_ANGSTROM, 3))
        self.sigma_spin.setSuffix(" Å")
        self.sigma_spin.setToolTip("Width σ of each Gaussian distance bin, in Å like the plots.")
        form.addRow("Bin width σ", self.sigma_spin)
        range_row = QHBoxLayout()
        self.rmin_spin = QDoubleSpinBox()
        self.rmax_spin = QDoubleSpinBox()
        for spin, value, prefix in ((self.rmin_spin, DEFAULT_RANGE[0], "from "),
                                    (self.rmax_spin, DEFAULT_RANGE[1], "to ")):
            spin.setPrefix(prefix)
            spin.setRange(0.0, 26.0)
            spin.setDecimals(3)
            spin.setSingleStep(0.1)
            spin.setValue(round(value / BOHR_PER_ANGSTROM, 3))
            spin.setSuffix(" Å")
            range_row.addWidget(spin)
        range_help = ("The distances (Å) at which the first and the last distance bins are centred; the bins "
                      "between are evenly spaced. Atoms are never that close, so the first bins (near 0 Å) "
                      "see no pairs and the curve there is an extrapolation, drawn dotted.")
        self.rmin_spin.setToolTip("Centre of the first distance bin. " + range_help)
        self.rmax_spin.setToolTip("Centre of the last distance bin. " + range_help)
        form.addRow("Bin centres", range_row)
        form.labelForField(range_row).setToolTip(range_help)
        layout.addWidget(model_box)

        self.metrics_label = QLabel("")
        self.metrics_label.setWordWrap(True)
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.metrics_label)
        self.fit_notes = QLabel("")
        self.fit_notes.setWordWrap(True)
        self.fit_notes.setStyleSheet("color: #9a4b00;")
        self.fit_notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fit_notes.setVisible(False)
        layout.addWidget(self.fit_notes)

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

        self.views = QTabWidget()
        self.element_bars = ElementBars()
        self.elements_view = Placeholder(self.element_bars, "")
        self.views.addTab(self.elements_view, "Element energies")

        potentials_page = QWidget()
        pot_layout = QVBoxLayout(potentials_page)
        pair_row = QHBoxLayout()
        pair_row.addWidget(QLabel("Pair type"))
        self.pair_combo = QComboBox()
        self.pair_combo.currentIndexChanged.connect(self._show_potentials)
        pair_row.addWidget(self.pair_combo, 1)
        pot_layout.addLayout(pair_row)
        self.potential_plot = PotentialPlot()
        pot_layout.addWidget(self.potential_plot, 1)
        self.potentials_view = Placeholder(potentials_page, "")
        self.views.addTab(self.potentials_view, "Pair potentials")

        molecule_page = QWidget()
        mol_layout = QVBoxLayout(molecule_page)
        pick_row = QHBoxLayout()
        pick_row.addWidget(QLabel("Molecule"))
        self.molecule_combo = QComboBox()
        self.molecule_combo.setToolTip("Test molecules (not used in training) and molecules you opened.")
        self.molecule_combo.currentIndexChanged.connect(self._show_molecule)
        pick_row.addWidget(self.molecule_combo, 1)
        mol_layout.addLayout(pick_row)
        self.sum_label = QLabel("")
        self.sum_label.setWordWrap(True)
        mol_layout.addWidget(self.sum_label)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.parts_table = QTableWidget(0, 3)
        self.parts_table.setHorizontalHeaderLabels(["Pair", "Distance", "Contribution"])
        self.parts_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.parts_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.parts_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.parts_table.horizontalHeader().setStretchLastSection(True)
        self.parts_table.verticalHeader().setVisible(False)
        splitter.addWidget(self.parts_table)
        self.molecule_view = MoleculeView()
        splitter.addWidget(self.molecule_view)
        splitter.setSizes([360, 600])
        self.molecule_parts_view = Placeholder(splitter, "")
        mol_layout.addWidget(self.molecule_parts_view, 1)
        self.views.addTab(molecule_page, "Molecule")

        outer = QHBoxLayout(self)
        outer.addWidget(side_column(panel, run_area))
        outer.addWidget(self.views, 1)
        self._on_kind_changed()

    # ------------------------------------------------------------------ parameters
    @property
    def kind(self) -> str:
        return self.kind_combo.currentData()

    def set_kind(self, kind: str) -> None:
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))

    def set_unit(self, unit: str) -> None:
        self.unit_combo.setCurrentIndex(self.unit_combo.findData(unit))

    def basis_bohr(self) -> dict:
        """σ and the range as the model takes them (Bohr), from the spin boxes (Å)."""
        return {name: spin.value() * BOHR_PER_ANGSTROM for name, spin in
                (("sigma", self.sigma_spin), ("r_min", self.rmin_spin), ("r_max", self.rmax_spin))}

    def _on_kind_changed(self, *_args) -> None:
        pairs = self.kind == "pairs"
        for spin in (self.bins_spin, self.sigma_spin, self.rmin_spin, self.rmax_spin):
            spin.setEnabled(pairs)
        if self.model is None:
            self._show_model_page(self.kind)

    def _show_model_page(self, kind: str) -> None:
        """Show the global view of ``kind`` (element energies or pair potentials) and grey out the other."""
        page, other = (ELEMENTS_PAGE, POTENTIALS_PAGE) if kind == "atoms" else (POTENTIALS_PAGE, ELEMENTS_PAGE)
        self.views.setTabEnabled(page, True)
        self.views.setTabEnabled(other, False)
        other_kind = "pairs" if kind == "atoms" else "atoms"
        other_text = next(text for text, k in MODEL_KINDS if k == other_kind)
        self.views.setTabToolTip(page, "")
        self.views.setTabToolTip(other, f"{MODEL_NAMES[other_kind][1].capitalize()} comes from the "
                                        f"'{other_text}' model: choose it under Model and press Train.")
        self.views.setCurrentIndex(page)

    def _update_placeholders(self) -> None:
        """Say what fills each result view until a trained model does."""
        if self.mols is None:
            start = "Open a folder of molecules with their energies (Open folder… on the left), then press Train"
        else:
            start = f"Press Train to learn from the {len(self.mols)} molecules"
        for view, kind in ((self.elements_view, "atoms"), (self.potentials_view, "pairs")):
            if self.model is not None and self.model.kind == kind:
                view.show_content()
            else:
                model_text = next(text for text, k in MODEL_KINDS if k == kind)
                view.show_message(f"Nothing to show yet. {start} with the '{model_text}' model: this view then "
                                  f"shows {MODEL_NAMES[kind][1]}.")
        if self.model is not None:
            self.molecule_parts_view.show_content()
        else:
            self.molecule_parts_view.show_message(
                f"Nothing to show yet. {start}: this view then splits a test molecule's predicted energy into "
                "the parts of its atom pairs (or atoms).")

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
        unit = self.unit_combo.currentData()

        def job(token, progress):
            from xaidesk.data.molecules import load_molecules

            return load_molecules(folder, energies, unit=unit, cancel=token, progress=progress), unit, Path(energies)

        self._remember_folder(Path(folder) / "x")
        self.status_message.emit(f"Reading {Path(folder).name} with the energies in {Path(energies).name} …")
        self._jobs["load"] = self.runner.submit(job, "molecules_load")
        self._update_enabled()
        return self._jobs["load"]

    def open_molecule(self, path) -> int:
        """Load one .xyz file for prediction (in the runner)."""
        unit = self.unit_combo.currentData()

        def job(token, progress):
            from xaidesk.data.molecules import load_molecules

            return load_molecules(path, unit=unit, require_energies=False, cancel=token, progress=progress)

        self._remember_folder(path)
        self._jobs["predict"] = self.runner.submit(job, "molecules_predict")
        return self._jobs["predict"]

    def _folder_ready(self, result) -> None:
        from xaidesk.data.molecules import count_molecules

        mols, unit, energies = result
        self.mols, self.length_unit = mols, unit
        self.model = None
        self.extra = []
        self._clear_results()
        self._show_model_page(self.kind)
        self.data_label.setText(f"{count_molecules(len(mols))}, elements {', '.join(mols.element_symbols)}; "
                                f"coordinates read in {unit}, energies in {mols.energy_unit} from {energies.name}."
                                + "".join(f" Note: {notice}" for notice in mols.notices))
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
        params = dict(n_bins=self.bins_spin.value(), **self.basis_bohr())

        def job(token, progress):
            from xaidesk.explain.molecule import fit_molecule_model

            return fit_molecule_model(mols, kind, **params, cancel=token, progress=progress)

        return self._submit_run(job, "molecules_train", "Training …")

    def _clear_results(self) -> None:
        self.decomposition = None
        self.metrics_label.setText("")
        self.fit_notes.setText("")
        self.fit_notes.setVisible(False)
        self.element_bars.reset()
        self.potential_plot.reset()
        self.pair_combo.blockSignals(True)
        self.pair_combo.clear()
        self.pair_combo.blockSignals(False)
        self.molecule_combo.blockSignals(True)
        self.molecule_combo.clear()
        self.molecule_combo.blockSignals(False)
        self.parts_table.setRowCount(0)
        self.sum_label.setText("")
        self.molecule_view.reset()

    def show_model(self, model) -> None:
        self.model = model
        trained = f"Trained in {format_duration(sum(model.seconds.values()))}."
        self._end_run(trained)
        self._clear_results()
        m, unit = model.metrics, model.energy_unit
        self.metrics_label.setText(
            f"<b>{MODEL_NAMES[model.kind][0]}</b> (linear, ridge regression)<br>"
            f"Test MAE: <b>{m['test_mae']:.3g} {unit}</b> "
            f"(train {m['train_mae']:.3g}, validation {m['validation_mae']:.3g})<br>"
            f"Regularisation strength λ = {m['alpha']:.3g}, chosen by cross-validation<br>"
            f"Split: {m['n_train']} train / {m['n_validation']} validation / {m['n_test']} test")
        self.metrics_label.setToolTip("MAE: mean absolute error between the predicted and the true energies. "
                                      "Test molecules were not used in training.")
        self.fit_notes.setText("<br>".join(f"⚠ {note}" for note in model.notes))
        self.fit_notes.setVisible(bool(model.notes))
        if model.kind == "atoms":
            self.element_bars.set_energies(model.element_energies(), unit)
        else:
            labels = model.basis.pair_labels
            self.pair_combo.blockSignals(True)
            self.pair_combo.addItems([ALL_PAIRS] + labels)
            refs = [lab for lab in labels if self._references(lab)]
            self.pair_combo.setCurrentText(refs[0] if refs else ALL_PAIRS)
            self.pair_combo.blockSignals(False)
            self._show_potentials()
        self._show_model_page(model.kind)
        self._fill_molecule_combo()
        self.status_message.emit(f"{trained} Test MAE {m['test_mae']:.3g} {unit}."
                                 + (" See the warning on the left." if model.notes else ""))

    def select_pair(self, pair: str) -> None:
        """Show one pair type (``"C-H"`` or ``"H-C"``), or every one with ``ALL_PAIRS``."""
        if pair != ALL_PAIRS and self.model is not None and self.model.basis is not None:
            pair = self.model.basis.pair_labels[self.model.basis.pair_index(pair)]
        self.pair_combo.setCurrentText(pair)

    def _references(self, pair: str) -> list:
        from xaidesk.explain.molecule import bond_lengths_for, load_bond_lengths

        if self._bond_table is None:
            try:
                self._bond_table = load_bond_lengths()
            except Exception as error:  # noqa: BLE001 - the table is a file the person can edit
                self._bond_table = []
                error_dialog.show_error(self, "Could not read the reference bond lengths", error)
        return bond_lengths_for(pair, self._bond_table)

    def _show_potentials(self, *_args) -> None:
        if self.model is None or self.model.kind != "pairs":
            return
        from xaidesk.data.molecules import convert_length

        distances, curves = self.model.potentials()
        _, support = self.model.pair_support(distances)
        choice = self.pair_combo.currentText()
        if choice and choice != ALL_PAIRS:
            curves = {choice: curves[choice]}
            support = {choice: support[choice]}
            references = {choice: [(b.bond, convert_length(b.length_bohr, "bohr", DISPLAY_UNIT))
                                   for b in self._references(choice)]}
        else:
            references = None
        x = convert_length(distances, "bohr", DISPLAY_UNIT)
        self.potential_plot.show_curves(x, curves, references, self._unit_label(), self.model.energy_unit, support)

    def _unit_label(self) -> str:
        return "Å"

    # ------------------------------------------------------------------ local explanations
    def _fill_molecule_combo(self, select_last: bool = False) -> None:
        self.molecule_combo.blockSignals(True)
        self.molecule_combo.clear()
        if self.model is not None and self.mols is not None:
            for index in self.model.split["test"]:
                self.molecule_combo.addItem(f"{self.mols.names[index]} (test)", (None, int(index)))
        for k, mols in enumerate(self.extra):
            self.molecule_combo.addItem(f"{mols.names[0]} (opened)", (k, 0))
        if select_last and self.molecule_combo.count():
            self.molecule_combo.setCurrentIndex(self.molecule_combo.count() - 1)
        self.molecule_combo.blockSignals(False)
        self._show_molecule()

    def select_molecule(self, position: int) -> None:
        self.molecule_combo.setCurrentIndex(position)

    def _show_molecule(self, *_args) -> None:
        data = self.molecule_combo.currentData()
        if self.model is None or data is None:
            return
        which, index = data
        mols = self.mols if which is None else self.extra[which]
        try:
            decomposition = self.model.decompose(mols, index)
        except Exception as error:  # noqa: BLE001
            error_dialog.show_error(self, "Could not explain the molecule", error)
            return
        self.decomposition = decomposition
        from xaidesk.data.molecules import convert_length, symbol

        unit = self.model.energy_unit
        order = decomposition.ranked()
        pairs = decomposition.kind == "pairs"
        self.parts_table.setHorizontalHeaderLabels(["Pair" if pairs else "Atom", f"Distance ({self._unit_label()})",
                                                   f"Contribution ({unit})"])
        self.parts_table.setRowCount(len(order))
        symbols = [symbol(int(z)) for z in decomposition.numbers]
        distances = convert_length(decomposition.distance, "bohr", DISPLAY_UNIT)
        for row, k in enumerate(order):
            if pairs:
                a, b = int(decomposition.i[k]), int(decomposition.j[k])
                label = f"{symbols[a]}{a + 1}–{symbols[b]}{b + 1}"
                self.parts_table.setItem(row, 1, _item(f"{distances[k]:.3f}", distances[k]))
            else:
                label = f"{symbols[k]}{k + 1}"
                self.parts_table.setItem(row, 1, _item("–"))
            self.parts_table.setItem(row, 0, _item(label))
            self.parts_table.setItem(row, 2, _item(f"{decomposition.parts[k]:+.4g}", decomposition.parts[k]))
        actual = ""
        if which is None and mols.energies is not None:
            actual = f"; true energy {mols.energies[index]:.4g} {unit}"
        self.sum_label.setText(
            f"Prediction <b>{decomposition.prediction:.4g} {unit}</b> = sum of {len(order)} "
            f"{'pair' if pairs else 'atom'} contribution{'' if len(order) == 1 else 's'} "
            f"({decomposition.parts.sum():.4g}) "
            f"+ intercept ({decomposition.intercept:.4g}){actual}.")
        self.molecule_view.show_decomposition(decomposition, symbols)
        self._update_enabled()

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
        page = self.views.currentIndex()
        return (self.element_bars, self.potential_plot, self.molecule_view)[page] if page >= 0 else self.views

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
        self._update_placeholders()
        self.state_changed.emit()


__all__ = ["MoleculesTab", "find_energies_file", "is_molecule_path"]
