"""Molecule methods in the registry and the 'explain molecules' command, end to end."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import write_molecules
from xaidesk.cli import main
from xaidesk.core import CancelToken, get_method

QM7 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "qm7"


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_registry_lists_both_molecule_methods(capsys):
    assert main(["methods", "--modality", "molecule", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert {"ridge.atoms", "ridge.pairs"} <= set(listed)
    pair_params = {p["name"]: p["default"] for p in listed["ridge.pairs"]["params"]}
    assert pair_params == {"n_bins": 20, "sigma": 0.5, "r_min": 0.0, "r_max": 8.0, "test_fraction": 0.2,
                           "validation_fraction": 0.1, "seed": 0}
    assert all(p["help"] for m in listed.values() for p in m["params"])


def test_registered_function_returns_an_explanation(tmp_path):
    from xaidesk.data.molecules import load_molecules

    folder, energies = write_molecules(tmp_path)
    mols = load_molecules(folder, energies)
    info = get_method("ridge.pairs")
    result = info.function(None, mols, None, params=info.resolve_params({"n_bins": "8"}), token=CancelToken(),
                           progress=lambda *a, **k: None)
    assert result.relevance.shape == (len(result.extras["pair_types"]), 8)
    assert "test_mae" in result.extras["metrics"]
    json.dumps(result.summary())  # the model object in extras is left out
    atoms = get_method("ridge.atoms")
    result = atoms.function(None, mols, None, params=atoms.resolve_params({}), token=CancelToken(),
                            progress=lambda *a, **k: None)
    assert result.extras["elements"] == ["H", "C", "O"]
    assert np.allclose(result.relevance, [-60, -150, -100], atol=3)


@pytest.mark.parametrize("method", ["ridge.atoms", "ridge.pairs"])
def test_cli_explain_molecules_writes_the_files(tmp_path, capsys, method):
    folder, energies = write_molecules(tmp_path)
    out = tmp_path / "out"
    code = main(["explain", "molecules", str(folder), "--energies", str(energies), "--method", method,
                 "--param", "seed=1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "test MAE" in capsys.readouterr().out
    metrics = {r["metric"]: float(r["value"]) for r in _read_csv(out / "metrics.csv")}
    assert {"train_mae", "validation_mae", "test_mae", "alpha"} <= set(metrics)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == method and summary["params"]["seed"] == 1
    assert summary["metrics"]["unit"] == "kcal/mol" and summary["test_mae"] == pytest.approx(metrics["test_mae"])
    assert summary["n_molecules"] == 24 and summary["elements"] == ["H", "C", "O"]
    decompositions = _read_csv(out / "decompositions.csv")
    assert list(decompositions[0]) == ["molecule", "type", "atom_i", "atom_j", "element_i", "element_j",
                                       "distance_angstrom", "contribution_kcal/mol"]
    by_molecule: dict[str, dict[str, float]] = {}
    for row in decompositions:
        sums = by_molecule.setdefault(row["molecule"], {"parts": 0.0})
        value = float(row["contribution_kcal/mol"])
        if row["type"] in ("intercept", "prediction"):
            sums[row["type"]] = value
        else:
            sums["parts"] += value
            assert int(row["atom_i"]) >= 1 and row["element_i"] in ("H", "C", "O")
    assert len(by_molecule) == metrics["n_test"]
    assert all(s["parts"] + s["intercept"] == pytest.approx(s["prediction"]) for s in by_molecule.values())
    if method == "ridge.atoms":
        rows = _read_csv(out / "element_energies.csv")
        assert [r["element"] for r in rows] == ["H", "C", "O"]
        assert [float(r["energy_kcal/mol"]) for r in rows] == pytest.approx(list(summary["element_energies"].values()))
        assert not (out / "pair_potentials.csv").exists()
    else:
        rows = _read_csv(out / "pair_potentials.csv")
        assert len(rows) == 200
        assert list(rows[0]) == ["distance_bohr", "distance_angstrom"] + summary["pair_types"]
        assert float(rows[0]["distance_bohr"]) == 0.0 and float(rows[-1]["distance_bohr"]) == 8.0
        assert float(rows[-1]["distance_angstrom"]) == pytest.approx(8.0 * 0.529177, rel=1e-5)
        assert not (out / "element_energies.csv").exists()


def test_cli_notes_a_training_set_too_small_for_the_pair_model(tmp_path, capsys):
    folder, energies = write_molecules(tmp_path)
    assert main(["explain", "molecules", str(folder), "--energies", str(energies), "--method", "ridge.pairs",
                 "--out", str(tmp_path / "pairs")]) == 0
    err = capsys.readouterr().err
    assert "xaidesk: note: The training set is small: 16 molecules for 120 pair × distance-bin features" in err
    assert "use the atom-count model" in err
    assert main(["explain", "molecules", str(folder), "--energies", str(energies), "--method", "ridge.atoms",
                 "--out", str(tmp_path / "atoms")]) == 0
    assert "note" not in capsys.readouterr().err


def test_cli_bad_file_gives_one_sentence_and_no_output(tmp_path, capsys):
    folder, energies = write_molecules(tmp_path)
    (folder / "0003.xyz").write_text("2\nx\nC 0 0 0\nXx 1 0 0\n")
    out = tmp_path / "out"
    code = main(["explain", "molecules", str(folder), "--energies", str(energies), "--method", "ridge.atoms",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == "xaidesk: 0003.xyz, line 4: unknown element 'Xx'."
    assert not out.exists()
    assert not list(tmp_path.glob(".out.*"))


def test_cli_rejects_a_method_of_another_modality(tmp_path, capsys):
    folder, energies = write_molecules(tmp_path)
    code = main(["explain", "molecules", str(folder), "--energies", str(energies), "--method", "neon.knn",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "not for molecules" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not (QM7 / "energies.txt").exists(), reason="QM7 not available")
def test_cli_qm7_atom_model(tmp_path, capsys):
    start = time.perf_counter()
    out = tmp_path / "qm7"
    assert main(["explain", "molecules", str(QM7 / "xyz"), "--energies", str(QM7 / "energies.txt"),
                 "--method", "ridge.atoms", "--out", str(out)]) == 0
    assert time.perf_counter() - start < 30
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_mae"] < 20
    assert set(summary["elements"]) >= {"H", "C", "N", "O"}
