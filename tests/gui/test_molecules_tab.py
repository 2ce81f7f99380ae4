"""The Molecules workflow: open a folder of .xyz files, train the pair model, look at the views, fail gracefully."""

import csv
import os
from pathlib import Path

import numpy as np
import pytest

# Made-up pair terms (Angstrom, kcal/mol): E_pair(d) = depth * ((d0 / d) ** 2 - 2 * d0 / d).
PAIR_TERMS = {("H", "H"): (0.74, 100.0), ("H", "O"): (0.96, 110.0), ("C", "H"): (1.09, 95.0),
              ("O", "O"): (1.3, 5.0), ("C", "C"): (1.5, 80.0), ("C", "O"): (1.4, 80.0)}
BASES = {
    "H2": (["H", "H"], [[0, 0, 0], [0.74, 0, 0]]),
    "H2O": (["O", "H", "H"], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]),
    "CH4": (["C", "H", "H", "H", "H"], [[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63],
                                       [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]]),
}


def _energy(symbols, positions):
    total = 0.0
    for a in range(len(symbols)):
        for b in range(a + 1, len(symbols)):
            d0, depth = PAIR_TERMS[tuple(sorted((symbols[a], symbols[b])))]
            d = float(np.linalg.norm(positions[a] - positions[b]))
            total += depth * ((d0 / d) ** 2 - 2 * d0 / d)
    return total


def _write_xyz(path, symbols, positions, comment="synthetic"):
    lines = [str(len(symbols)), comment] + [f"{s} {x:.6f} {y:.6f} {z:.6f}" for s, (x, y, z) in zip(symbols, positions)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def molecule_folder(tmp_path):
    rng = np.random.default_rng(7)
    folder = tmp_path / "xyz"
    folder.mkdir()
    energies = []
    for k in range(12):
        name = list(BASES)[k % 3]
        symbols, positions = BASES[name]
        positions = np.asarray(positions, dtype=float) + rng.normal(0, 0.04, (len(symbols), 3))
        filename = f"{k:04d}_{name}.xyz"
        _write_xyz(folder / filename, symbols, positions)
        energies.append(f"{filename} {_energy(symbols, positions):.6f}")
    energy_file = tmp_path / "energies.txt"
    energy_file.write_text("\n".join(energies) + "\n")
    return folder, energy_file


@pytest.fixture
def molecules_window(qtbot, make_window):
    window = make_window()
    tab = window.molecules_tab
    window.tabs.setCurrentWidget(tab)
    return window, tab  # make_window closes the window and stops its runner afterwards


def _open_folder(qtbot, tab, folder, energies):
    tab.open_folder(folder, energies)
    qtbot.waitUntil(lambda: not tab.is_job_running("load"), timeout=10_000)


def _train(qtbot, tab, kind):
    tab.set_kind(kind)
    previous = tab.model
    assert tab.train() is not None
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=30_000)
    assert tab.model is not previous, tab.run_status.text()
    return tab.model


def test_molecules_pair_model_end_to_end(qtbot, molecules_window, molecule_folder, error_dialogs, tmp_path):
    window, tab = molecules_window
    names = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert names.index("Molecules") == names.index("Tables") + 1
    folder, energies = molecule_folder
    tab.set_unit("angstrom")
    _open_folder(qtbot, tab, folder, energies)
    assert tab.mols is not None and len(tab.mols) == 12
    assert set(tab.mols.element_symbols) == {"H", "C", "O"}
    assert tab.run_button.isEnabled()

    tab.bins_spin.setValue(12)
    model = _train(qtbot, tab, "pairs")
    assert model.kind == "pairs" and model.basis.n_bins == 12
    text = tab.fit_report.metrics_label.text()
    assert "Test MAE" in text and "kcal/mol" in text and "λ" in text
    assert f"{model.metrics['n_test']} test" in text

    # Global: curves, and reference lines of the chosen pair type.
    assert tab.views.currentIndex() == 1
    assert tab.potential_plot.curves
    label = tab.views.potentials.pair_combo.currentText()
    assert label in model.basis.pair_labels
    assert tab.potential_plot.reference_lines and all(p == label for p, _, _ in tab.potential_plot.reference_lines)
    x, y = tab.potential_plot.curves[label]
    np.testing.assert_allclose(y, model.pair_potential(label, x * 1.8897261), atol=1e-9)
    tab.select_pair("All pair types")
    assert len(tab.potential_plot.curves) == len(model.basis.pair_labels)

    # Local: the test molecules, ranked parts + intercept = prediction.
    assert tab.molecule_combo.count() == model.metrics["n_test"]
    tab.select_molecule(tab.molecule_combo.count() - 1)
    d = tab.decomposition
    assert d is not None
    rows = tab.views.molecule.parts_table.rowCount()
    assert rows == len(d.parts)
    from PySide6.QtCore import Qt

    shown = [tab.views.molecule.parts_table.item(r, 2).data(Qt.ItemDataRole.UserRole) for r in range(rows)]
    assert abs(shown[0]) == pytest.approx(np.abs(d.parts).max())
    assert sum(shown) + d.intercept == pytest.approx(d.prediction, abs=1e-8)
    which, index = tab.molecule_combo.currentData()
    assert d.prediction == pytest.approx(float(model.predict(tab.mols.subset([index]))[0]), abs=1e-8)
    assert tab.views.molecule.molecule_view.n_lines == len(d.parts)
    assert tab.views.molecule.molecule_view.projected.shape == (len(d.numbers), 2)

    # Exports.
    tab.export_global_csv(tmp_path / "pot.csv")
    with open(tmp_path / "pot.csv") as handle:
        header = next(csv.reader(handle))
    assert header[:2] == ["distance_bohr", "distance_angstrom"] and set(header[2:]) == set(model.basis.pair_labels)
    tab.export_decomposition_csv(tmp_path / "dec.csv")
    with open(tmp_path / "dec.csv") as handle:
        rows_csv = list(csv.DictReader(handle))
    parts = sum(float(r["contribution_kcal/mol"]) for r in rows_csv if r["type"] not in ("intercept", "prediction"))
    intercept = [float(r["contribution_kcal/mol"]) for r in rows_csv if r["type"] == "intercept"][0]
    prediction = [float(r["contribution_kcal/mol"]) for r in rows_csv if r["type"] == "prediction"][0]
    assert parts + intercept == pytest.approx(prediction)
    tab.views.setCurrentIndex(2)
    tab.save_plot(tmp_path / "mol.png")
    assert (tmp_path / "mol.png").stat().st_size > 1000

    if os.environ.get("XAIDESK_SHOTS"):
        Path("/tmp/xaidesk_shots").mkdir(exist_ok=True)
        window.grab().save("/tmp/xaidesk_shots/issue7_molecules.png")
        tab.views.setCurrentIndex(1)
        tab.select_pair("C-H")
        assert tab.views.potentials.pair_combo.currentText() == "H-C" and tab.potential_plot.reference_lines
        window.grab().save("/tmp/xaidesk_shots/issue7_potentials.png")

    # A single molecule to predict.
    single = tmp_path / "single.xyz"
    symbols, positions = BASES["H2O"]
    _write_xyz(single, symbols, np.asarray(positions, dtype=float))
    tab.open_molecule(single)
    qtbot.waitUntil(lambda: not tab.is_job_running("predict"), timeout=10_000)
    assert "opened" in tab.molecule_combo.currentText()
    assert tab.decomposition.name == "single.xyz"
    assert not error_dialogs

    # A bad file: the error dialog names it, the previous data and model stay.
    bad = tmp_path / "bad"
    bad.mkdir()
    for path in folder.iterdir():
        (bad / path.name).write_text(path.read_text())
    _write_xyz(bad / "0003_CH4.xyz", ["C", "Xq", "H"], [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    mols_before = tab.mols
    _open_folder(qtbot, tab, bad, energies)
    assert len(error_dialogs) == 1
    title, message = error_dialogs[0]
    assert "0003_CH4.xyz" in message
    assert tab.mols is mols_before and tab.model is model
    assert tab.potential_plot.curves and tab.decomposition is not None


def test_molecules_atom_model_and_cancel(qtbot, molecules_window, molecule_folder, error_dialogs):
    window, tab = molecules_window
    folder, energies = molecule_folder
    _open_folder(qtbot, tab, folder, energies)
    model = _train(qtbot, tab, "atoms")
    assert set(tab.views.element_bars.values) == {"H", "C", "O"}
    assert tab.views.currentIndex() == 0
    d = tab.decomposition
    assert d is not None and d.parts.sum() + d.intercept == pytest.approx(d.prediction)
    # Cancel keeps the previous model.
    tab.set_kind("pairs")
    assert tab.train() is not None
    tab.cancel_run()
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=10_000)
    assert tab.model is model or tab.model.kind == "pairs"
    assert not error_dialogs


def test_potential_plot_marks_distances_without_training_pairs(qtbot):
    import numpy as np

    from xaidesk.gui.views.molecule_views import PotentialPlot

    plot = PotentialPlot()
    qtbot.addWidget(plot)
    x = np.linspace(0.5, 4.0, 8)
    backed = np.array([False, False, True, True, True, True, False, False])
    plot.show_curves(x, {"H-H": x ** 2}, None, "Bohr", "kcal/mol", {"H-H": backed})
    assert "extrapolated" in plot.plot_item.titleLabel.text
    assert len(plot.plot_item.listDataItems()) == 2  # the backed part and the dotted rest
    plot.show_curves(x, {"H-H": x ** 2}, None, "Bohr", "kcal/mol", {"H-H": np.ones(8, bool)})
    assert "extrapolated" not in plot.plot_item.titleLabel.text
    assert len(plot.plot_item.listDataItems()) == 1


@pytest.fixture
def qm7_layout(molecule_folder):
    """QM7 as it comes: ``qm7/`` holding ``xyz/`` (the molecules) and ``energies.txt``."""
    folder, energies = molecule_folder
    return folder.parent


@pytest.fixture
def no_file_dialogs(monkeypatch):
    """Fail on any file dialog; the list records what was asked."""
    from PySide6.QtWidgets import QFileDialog

    asked = []

    def ask(*args, **kwargs):
        asked.append(args[1] if len(args) > 1 else "")
        return "", ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", ask)
    return asked


def test_qm7_layout_opens_from_its_xyz_folder_without_asking(qtbot, molecules_window, qm7_layout,
                                                            no_file_dialogs, error_dialogs):
    window, tab = molecules_window
    energies = qm7_layout / "energies.txt"
    energies.write_text(energies.read_text() + "ghost.xyz -1.0\n")
    window.open_path(qm7_layout)
    qtbot.waitUntil(lambda: not tab.is_job_running("load") and tab.mols is not None, timeout=10_000)
    assert len(tab.mols) == 12 and not no_file_dialogs and not error_dialogs
    assert tab.data_label.text().startswith("12 molecules")
    assert "Note: energies.txt lists 1 name with no .xyz file (first: ghost.xyz)" in tab.data_label.text()
    assert all(source.parent.name == "xyz" for source in tab.mols.sources)
    assert tab._last_folder() == str(qm7_layout)  # the next dialog starts where the person was


def test_folder_without_molecules_is_refused_before_asking_for_energies(qtbot, molecules_window, tmp_path,
                                                                        no_file_dialogs, error_dialogs):
    window, tab = molecules_window
    empty = tmp_path / "notes"
    (empty / "inner").mkdir(parents=True)
    (empty / "energies.txt").write_text("a.xyz 1.0\n")
    assert tab.open_folder_asking(empty, always_ask=True) is None
    assert not no_file_dialogs
    assert len(error_dialogs) == 1 and "holds no .xyz files" in error_dialogs[0][1]
    assert tab.mols is None


def test_views_follow_the_model_and_lengths_are_in_angstrom(qtbot, molecules_window, molecule_folder, tmp_path,
                                                           error_dialogs):
    from xaidesk.gui.panels.molecule_results import ELEMENTS_PAGE, MOLECULE_PAGE, POTENTIALS_PAGE

    window, tab = molecules_window
    # Before training, the view matches the chosen model (pair potentials by default).
    assert tab.kind == "pairs" and tab.views.currentIndex() == POTENTIALS_PAGE
    tab.set_kind("atoms")
    assert tab.views.currentIndex() == ELEMENTS_PAGE
    # σ and the range are given in Å, like the plots, and reach the model in Bohr.
    for spin in (tab.model_box.sigma_spin, tab.model_box.rmin_spin, tab.model_box.rmax_spin):
        assert spin.suffix().strip() == "Å"
    assert tab.basis_bohr() == pytest.approx({"sigma": 0.5, "r_min": 0.0, "r_max": 8.0}, abs=2e-3)
    # Files written in Bohr are still shown in Å.
    folder, energies = molecule_folder
    bohr = tmp_path / "bohr"
    bohr.mkdir()
    for path in folder.iterdir():
        lines = path.read_text().splitlines()
        atoms = [f"{p[0]} " + " ".join(f"{float(v) * 1.8897261:.6f}" for v in p[1:4])
                 for p in (line.split() for line in lines[2:])]
        (bohr / path.name).write_text("\n".join(lines[:2] + atoms) + "\n")
    tab.set_unit("bohr")
    _open_folder(qtbot, tab, bohr, energies)
    assert tab.views.currentIndex() == ELEMENTS_PAGE
    model = _train(qtbot, tab, "pairs")
    assert tab.views.currentIndex() == POTENTIALS_PAGE and not tab.views.isTabEnabled(ELEMENTS_PAGE)
    assert model.basis.sigma == pytest.approx(0.5, abs=2e-3)
    assert tab.potential_plot.plot_item.getAxis("bottom").labelText == "distance (Å)"
    x, _ = next(iter(tab.potential_plot.curves.values()))
    assert x.max() == pytest.approx(model.basis.r_max / 1.8897261, rel=1e-6)
    tab.views.setCurrentIndex(MOLECULE_PAGE)
    assert tab.views.molecule.parts_table.horizontalHeaderItem(1).text() == "Distance (Å)"
    # The 2D view numbers the atoms as the table does (C1–H3).
    d = tab.decomposition
    labels = tab.views.molecule.molecule_view.atom_labels
    assert labels == [f"{s}{n + 1}" for n, s in enumerate(
        __import__("xaidesk.data.molecules", fromlist=["symbol"]).symbol(int(z)) for z in d.numbers)]
    first = tab.views.molecule.parts_table.item(0, 0).text()
    assert all(part in labels for part in first.split("–"))
    model = _train(qtbot, tab, "atoms")
    assert tab.views.currentIndex() == ELEMENTS_PAGE and not tab.views.isTabEnabled(POTENTIALS_PAGE)
    assert not error_dialogs


def test_potential_plot_scales_to_the_supported_part(qtbot):
    from xaidesk.gui.views.molecule_views import PotentialPlot

    plot = PotentialPlot()
    qtbot.addWidget(plot)
    x = np.linspace(0.5, 4.0, 36)
    backed = (x > 1.0) & (x < 3.0)
    y = np.where(backed, 10 * np.sin(3 * x), 1e4)  # a wild extrapolation outside the data
    plot.show_curves(x, {"H-H": y}, None, "Å", "kcal/mol", {"H-H": backed})
    low, high = plot.plot_item.getViewBox().viewRange()[1]
    assert -15 < low < -8 and 8 < high < 15
    assert (low, high) == pytest.approx(plot.y_range)


def test_a_two_atom_molecule_reads_one_pair_contribution(qtbot, molecules_window, molecule_folder, tmp_path,
                                                         error_dialogs):
    window, tab = molecules_window
    _open_folder(qtbot, tab, *molecule_folder)
    _train(qtbot, tab, "pairs")
    single = tmp_path / "h2.xyz"
    _write_xyz(single, *BASES["H2"])
    tab.open_molecule(single)
    qtbot.waitUntil(lambda: not tab.is_job_running("predict"), timeout=10_000)
    assert "sum of 1 pair contribution (" in tab.views.molecule.sum_label.text()
    assert tab.views.molecule.molecule_view.atom_labels == ["H1", "H2"] and not error_dialogs


def test_views_say_what_fills_them_and_a_model_learned_by_heart_is_flagged(qtbot, molecules_window,
                                                                            molecule_folder, error_dialogs):
    from xaidesk.gui.panels.molecule_results import ELEMENTS_PAGE

    window, tab = molecules_window
    assert tab.views.potentials_view.showing_message() and "Open a folder" in tab.views.potentials_view.message.text()
    assert "'Atom counts' model" in tab.views.tabToolTip(ELEMENTS_PAGE)
    assert tab.views.molecule.molecule_parts_view.showing_message()
    _open_folder(qtbot, tab, *molecule_folder)
    assert "Press Train to learn from the 12 molecules" in tab.views.potentials_view.message.text()
    assert tab.model_box.rmin_spin.prefix() == "from " and "first bins (near 0 Å)" in tab.model_box.rmin_spin.toolTip()
    model = _train(qtbot, tab, "pairs")
    assert not tab.views.potentials_view.showing_message() and not tab.views.molecule.molecule_parts_view.showing_message()
    text = tab.fit_report.metrics_label.text()
    assert "Pair-potential model" in text and "Ridge on" not in text
    assert f"Regularisation strength λ = {model.alpha:.3g}, chosen by cross-validation" in text
    assert model.notes and tab.fit_report.fit_notes.isVisibleTo(tab)
    assert "training set is small" in tab.fit_report.fit_notes.text() and "atom-count model" in tab.fit_report.fit_notes.text()
    model = _train(qtbot, tab, "atoms")
    assert not tab.views.elements_view.showing_message() and tab.views.potentials_view.showing_message()
    assert tab.fit_report.fit_notes.text() == "<br>".join(f"⚠ {note}" for note in model.notes)
    _open_folder(qtbot, tab, *molecule_folder)
    assert not tab.fit_report.fit_notes.isVisibleTo(tab) and tab.views.elements_view.showing_message() and not error_dialogs


def test_molecule_training_time_is_written_for_people(qtbot, molecules_window, molecule_folder):
    """The Molecules tab shares the analysis run area: "Trained in 12 ms." (never "0.0 s"), said once."""
    import re

    window, tab = molecules_window
    _open_folder(qtbot, tab, *molecule_folder)
    assert tab.train() is not None
    qtbot.waitUntil(lambda: not tab.is_running() and tab.model is not None, timeout=30_000)
    status = window.status_text()
    assert re.match(r"Trained in \d+(\.\d)? (ms|s)\. Test MAE", status), status
    assert "0.0 s" not in status and tab.run_status.text() == ""
