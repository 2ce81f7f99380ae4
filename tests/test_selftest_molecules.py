"""The self-test's molecules check: it passes on generated molecules and fails when a decomposition does not add up."""

import numpy as np
import pytest

from xaidesk import selftest


def test_molecules_check_is_listed_and_passes():
    names = [name for name, _ in selftest.checks()]
    assert any(name.startswith("molecules:") for name in names)
    detail = selftest._check_molecules()
    assert "ridge.atoms test MAE" in detail and "ridge.pairs test MAE" in detail
    assert detail.startswith("24 generated molecules")


def test_sample_molecules_are_readable_and_learnable(tmp_path):
    from xaidesk.data.molecules import load_molecules
    from xaidesk.explain.molecule import fit_molecule_model

    energies = selftest.write_sample_molecules(tmp_path, count=12)
    mols = load_molecules(tmp_path, energies, unit="angstrom")
    assert len(mols) == 12 and mols.element_symbols == ("H", "C", "O")
    assert sorted(p.name for p in tmp_path.iterdir())[-1] == "energies.txt"
    # H2 has one H-H pair at about 0.74 Å, so its energy is one Morse well near its bottom (-100).
    h2 = [k for k, name in enumerate(mols.names) if name.endswith("_H2.xyz")]
    assert np.all((mols.energies[h2] > -100.0) & (mols.energies[h2] < -90.0))
    pairs = fit_molecule_model(load_molecules(tmp_path, energies), "pairs", n_bins=8)
    assert np.isfinite(pairs.metrics["test_mae"])


def test_molecules_check_fails_when_parts_do_not_add_up(monkeypatch):
    from xaidesk.explain import molecule as molecules

    original = molecules.MoleculeModel.decompose

    def off_by_one(self, mols, index):
        parts = original(self, mols, index)
        parts.intercept += 1.0
        return parts

    monkeypatch.setattr(molecules.MoleculeModel, "decompose", off_by_one)
    with pytest.raises(RuntimeError, match="do not add up"):
        selftest._check_molecules()
