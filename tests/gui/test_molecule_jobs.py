"""The Molecules tab's Qt-free jobs, run headless on the built-in sample molecules."""

import subprocess
import sys

import numpy as np
import pytest

from xaidesk.core import CancelToken
from xaidesk.gui import molecule_jobs
from xaidesk.selftest import write_sample_molecules


def _no_progress(*_args, **_kwargs):
    pass


@pytest.fixture
def sample(tmp_path):
    folder = tmp_path / "mol"
    folder.mkdir()
    return folder, write_sample_molecules(folder, count=24)


def test_load_train_and_decompose_the_sample_molecules(sample):
    folder, energies = sample
    mols, unit, energies_path = molecule_jobs.load_folder(folder, energies, "angstrom", CancelToken(), _no_progress)
    assert (len(mols), unit, energies_path) == (24, "angstrom", energies)
    assert molecule_jobs.data_text(mols, unit, energies_path).startswith(
        f"24 molecules, elements {', '.join(mols.element_symbols)}; coordinates read in angstrom")

    params = dict(n_bins=8, **molecule_jobs.basis_bohr(0.25, 0.5, 4.0))
    assert params["r_max"] == pytest.approx(4.0 * molecule_jobs.BOHR_PER_ANGSTROM)
    model = molecule_jobs.train(mols, "pairs", params, CancelToken(), _no_progress)
    assert model.kind == "pairs" and np.isfinite(model.metrics["test_mae"])
    assert molecule_jobs.metrics_html(model).startswith("<b>Pair-potential model</b> (linear, ridge regression)")

    index = int(model.split["test"][0])
    decomposition = model.decompose(mols, index)
    rows = molecule_jobs.decomposition_rows(decomposition)
    assert len(rows) == len(decomposition.parts) and all(row.distance > 0 for row in rows)
    magnitudes = [abs(row.contribution) for row in rows]
    assert magnitudes == sorted(magnitudes, reverse=True)  # largest first
    assert sum(row.contribution for row in rows) + decomposition.intercept == pytest.approx(decomposition.prediction)
    assert "–" in rows[0].label
    text = molecule_jobs.sum_text(decomposition, model.energy_unit, float(mols.energies[index]))
    assert text.startswith(f"Prediction <b>{decomposition.prediction:.4g} {model.energy_unit}</b> = sum of "
                           f"{len(rows)} pair contributions") and "true energy" in text

    atoms = molecule_jobs.train(mols, "atoms", {}, CancelToken(), _no_progress)
    atom_rows = molecule_jobs.decomposition_rows(atoms.decompose(mols, index))
    assert atom_rows and all(row.distance is None and "–" not in row.label for row in atom_rows)

    one = molecule_jobs.load_molecule(mols.sources[index], "angstrom", CancelToken(), _no_progress)
    assert len(one) == 1 and model.decompose(one, 0).prediction == pytest.approx(decomposition.prediction)


def test_which_paths_the_molecules_tab_opens(sample, tmp_path):
    folder, energies = sample
    assert molecule_jobs.holds_molecules(folder) and molecule_jobs.holds_molecules(tmp_path)  # in a subfolder
    assert molecule_jobs.is_molecule_path(next(folder.glob("*.xyz")))
    assert not molecule_jobs.is_molecule_path(energies)
    assert molecule_jobs.find_energies_file(folder) == energies
    (folder / "energies_old.txt").write_text("")
    assert molecule_jobs.find_energies_file(folder) is None  # two candidates: the person is asked
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not molecule_jobs.holds_molecules(empty)


def test_molecule_jobs_import_neither_qt_nor_torch():
    code = ("import sys, xaidesk.gui.molecule_jobs; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'torch')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
