"""Molecules: XYZ loading and its errors, featurisation, ridge models on QM7, and their explanations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xaidesk.core import CancelToken, Cancelled, InputError
from xaidesk.data.molecules import ANGSTROM_TO_BOHR, MoleculeSet, convert_length, load_molecules, read_xyz
from xaidesk.explain.molecule import (
    PairBasis, atom_count_features, bond_lengths_for, fit_molecule_model, fit_warnings, load_bond_lengths,
    pair_features, stratified_split,
)

QM7 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "qm7"
WATER = "3\nwater\nO 0.0 0.0 0.0\nH 0.9572 0.0 0.0\nH -0.2400 0.9266 0.0\n"
METHANE = "5\ncharge = 0\n C 0 0 0\n H 0.63 0.63 0.63\n H -0.63 -0.63 0.63\n H -0.63 0.63 -0.63\n H 0.63 -0.63 -0.63\n"


def _write(folder: Path, files: dict[str, str], energies: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    if energies is not None:
        (folder.parent / "energies.txt").write_text(energies)
    return folder


# --- loading ------------------------------------------------------------------------------------


def test_load_folder_with_energies_and_units(tmp_path):
    folder = _write(tmp_path / "xyz", {"a.xyz": WATER, "b.xyz": METHANE},
                    "# comment\nset/a.xyz -200.5 extra\nb -400.25\n")
    mols = load_molecules(folder, tmp_path / "energies.txt")
    assert mols.names == ["a.xyz", "b.xyz"]
    assert mols.energies.tolist() == [-200.5, -400.25]
    assert mols.element_symbols == ("H", "C", "O")
    assert mols.n_atoms.tolist() == [3, 5]
    z, pos = mols.molecule(0)
    assert z.tolist() == [8, 1, 1]
    assert np.isclose(np.linalg.norm(pos[1] - pos[0]), 0.9572 * ANGSTROM_TO_BOHR)
    assert np.allclose(mols.positions_in("angstrom")[1], [0.9572, 0, 0])
    in_bohr = load_molecules(folder, tmp_path / "energies.txt", unit="bohr")
    assert np.allclose(in_bohr.positions * ANGSTROM_TO_BOHR, mols.positions)
    assert np.isclose(convert_length(1.0, "angstrom", "bohr"), 1.8897261)
    single = load_molecules(folder / "a.xyz")
    assert len(single) == 1 and single.energies is None


@pytest.mark.parametrize("text, expected", [
    ("3\nx\nO 0 0 0\nXx 1 0 0\nH 0 1 0\n", "bad.xyz, line 4: unknown element 'Xx'"),
    ("three\nx\nO 0 0 0\n", "bad.xyz, line 1: expected the number of atoms"),
    ("4\nx\nO 0 0 0\nH 1 0 0\nH 0 1 0\n", "bad.xyz, line 1: the file declares 4 atoms but has only 3"),
    ("2\nx\nO 0 0 0\nH 1 0 0\nH 0 1 0\n", "bad.xyz, line 5: more lines than the 2 atoms"),
    ("3\nx\nO 0 0 0\nH 1 zero 0\nH 0 1 0\n", "bad.xyz, line 4: the coordinates '1 zero 0' are not numbers"),
    ("3\nx\nO 0 0 0\nH 1 0\nH 0 1 0\n", "bad.xyz, line 4: expected 'element x y z'"),
])
def test_bad_xyz_names_file_and_line(tmp_path, text, expected):
    path = tmp_path / "bad.xyz"
    path.write_text(text)
    with pytest.raises(InputError, match="^" + expected.replace("(", r"\(").replace(")", r"\)")):
        read_xyz(path)
    folder = _write(tmp_path / "xyz", {"bad.xyz": text}, "bad.xyz 1.0\n")
    with pytest.raises(InputError, match="bad.xyz, line"):
        load_molecules(folder, tmp_path / "energies.txt")


def test_missing_and_bad_energies(tmp_path):
    folder = _write(tmp_path / "xyz", {"a.xyz": WATER, "b.xyz": METHANE}, "a.xyz -1.0\n")
    with pytest.raises(InputError, match=r"^b.xyz: no energy in energies.txt"):
        load_molecules(folder, tmp_path / "energies.txt")
    (tmp_path / "energies.txt").write_text("a.xyz -1.0\nb.xyz minus\n")
    with pytest.raises(InputError, match=r"^energies.txt, line 2: the energy 'minus' is not a number"):
        load_molecules(folder, tmp_path / "energies.txt")
    (tmp_path / "energies.txt").write_text("a.xyz\n")
    with pytest.raises(InputError, match=r"^energies.txt, line 1: expected 'name value'"):
        load_molecules(folder, tmp_path / "energies.txt")
    with pytest.raises(InputError, match="needs an energies file"):
        load_molecules(folder)
    with pytest.raises(InputError, match="length unit"):
        load_molecules(folder, tmp_path / "energies.txt", unit="furlong")


def test_qm7_layout_reads_the_one_subfolder_with_molecules(tmp_path):
    from xaidesk.data.molecules import find_molecule_folder

    qm7 = tmp_path / "qm7"
    _write(qm7 / "xyz", {"0001.xyz": WATER, "0002.xyz": METHANE}, "qm7/0001.xyz -1\nqm7/0002.xyz -2\n")
    (qm7 / "notes").mkdir()
    assert find_molecule_folder(qm7) == qm7 / "xyz"
    assert find_molecule_folder(qm7 / "xyz") == qm7 / "xyz"
    mols = load_molecules(qm7, qm7 / "energies.txt")
    assert mols.names == ["0001.xyz", "0002.xyz"] and mols.energies.tolist() == [-1.0, -2.0]
    _write(qm7 / "more", {"0003.xyz": WATER})
    with pytest.raises(InputError, match=r"several of its folders do \(more, xyz\); open the one to use"):
        load_molecules(qm7, qm7 / "energies.txt")
    with pytest.raises(InputError, match="holds no .xyz files"):
        find_molecule_folder(qm7 / "notes")


@pytest.mark.parametrize("atoms, says", [
    ("O 0 0 0\nH 0 0 0\nH 0 0 0\n", "lines 3 and 4: atoms 1 (O) and 2 (H) are all at one point"),
    ("O 0 0 0\nH 0.9 0 0\nH 0.9 0.01 0\n", "lines 4 and 5: atoms 2 (H) and 3 (H) are at the same place"),
])
def test_coincident_atoms_are_refused(tmp_path, atoms, says):
    folder = _write(tmp_path / "xyz", {"a.xyz": WATER, "b.xyz": "3\nx\n" + atoms}, "a -1\nb -2\n")
    with pytest.raises(InputError, match="^b.xyz, " + says.replace("(", r"\(").replace(")", r"\)")):
        load_molecules(folder, tmp_path / "energies.txt")


def test_plural_non_finite_and_unused_energies(tmp_path):
    from xaidesk.data.molecules import count_molecules

    assert (count_molecules(1), count_molecules(0), count_molecules(2)) == ("1 molecule", "0 molecules",
                                                                            "2 molecules")
    folder = _write(tmp_path / "xyz", {"a.xyz": WATER}, "a.xyz -1\nghost.xyz -3\n")
    mols = load_molecules(folder, tmp_path / "energies.txt")
    assert mols.notices == ["energies.txt lists 1 name with no .xyz file (first: ghost.xyz); it is left out."]
    with pytest.raises(Exception, match="^Only 1 molecule with energies"):
        fit_molecule_model(mols, "atoms")
    (tmp_path / "energies.txt").write_text("a.xyz -1\nb.xyz inf\n")
    with pytest.raises(InputError, match="^energies.txt, line 2: the energy is not a finite number"):
        load_molecules(folder, tmp_path / "energies.txt")
    (tmp_path / "energies.txt").write_text("a.xyz -1\nb.xyz -2\n")
    (folder / "b.xyz").write_text("2\nx\nH 0 0 0\nH nan 0 0\n")
    with pytest.raises(InputError, match="^b.xyz, line 4: the coordinates are not finite"):
        load_molecules(folder, tmp_path / "energies.txt")


def test_identical_energies_are_refused():
    mols = MoleculeSet.from_arrays([(["H", "H"], [[0, 0, 0], [1.4, 0, 0]])] * 12, [-5.0] * 12)
    with pytest.raises(InputError, match="^All 12 molecules have the same energy"):
        fit_molecule_model(mols, "pairs")


def test_symlink_loop_is_named_as_a_loop(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(InputError, match="link loop"):
        load_molecules(loop, tmp_path / "energies.txt")


# --- features -----------------------------------------------------------------------------------


def _random_set(n=60, seed=0) -> MoleculeSet:
    rng = np.random.default_rng(seed)
    mols, energies = [], []
    for _ in range(n):
        k = int(rng.integers(1, 9))
        elements = rng.choice(["H", "C", "N", "O"], size=k)
        mols.append((elements, rng.normal(0, 2.0, size=(k, 3))))
        energies.append(rng.normal())
    return MoleculeSet.from_arrays(mols, energies)


def test_features_match_a_plain_loop_and_cancel():
    mols = _random_set()
    basis = PairBasis(mols.elements, n_bins=7, sigma=0.7, r_min=0.5, r_max=6.0)
    X = pair_features(mols, basis, chunk=7)
    T, B = len(basis.pair_types), basis.n_bins
    ref = np.zeros((len(mols), T, B))
    for m in range(len(mols)):
        z, pos = mols.molecule(m)
        for i in range(len(z)):
            for j in range(i + 1, len(z)):
                d = np.linalg.norm(pos[i] - pos[j])
                t = basis.pair_types.index(tuple(sorted((int(z[i]), int(z[j])))))
                ref[m, t] += np.exp(-(d - basis.centers) ** 2 / (2 * basis.sigma ** 2))
    assert np.allclose(X, ref.reshape(len(mols), -1))
    assert np.allclose(pair_features(mols, basis), X)  # default chunking
    counts = atom_count_features(mols)
    assert counts.sum() == mols.n_atoms.sum()
    reports = []
    token = CancelToken()

    def progress(fraction, message="", partial=None):
        reports.append(fraction)
        token.cancel()

    with pytest.raises(Cancelled):
        pair_features(mols, basis, chunk=7, cancel=token, progress=progress)
    assert reports == [7 / len(mols)]


def test_stratified_split_is_disjoint_and_balanced():
    y = np.random.default_rng(1).normal(size=1000)
    split = stratified_split(y, test=0.2, validation=0.1, seed=0)
    rows = np.concatenate(list(split.values()))
    assert sorted(rows.tolist()) == list(range(1000))
    assert len(split["test"]) == 200 and len(split["validation"]) == 100
    assert abs(np.median(y[split["test"]]) - np.median(y)) < 0.1


def test_bond_length_resource():
    table = load_bond_lengths()
    oh = bond_lengths_for("O-H", table)
    assert [(b.bond, b.length_bohr) for b in oh] == [("single", 1.83)]
    cc = {b.bond: b.length_bohr for b in bond_lengths_for(("C", "C"), table)}
    assert cc == {"single": 2.87, "double": 2.53, "triple": 2.27}
    assert len(table) == 24


def test_bad_bond_length_file(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("pair,bond,length_bohr\nC-Q,single,2.0\n")
    with pytest.raises(InputError, match="row 2: 'C-Q' is not a pair"):
        load_bond_lengths(path)


# --- models and explanations on synthetic data --------------------------------------------------


def test_decomposition_and_potential_on_synthetic_data():
    mols = _random_set(n=80)
    for kind in ("atoms", "pairs"):
        model = fit_molecule_model(mols, kind, n_bins=8, sigma=0.6)
        pred = model.predict(mols)
        for m in (0, 5, 17):
            dec = model.decompose(mols, m)
            assert np.isclose(dec.parts.sum() + dec.intercept, pred[m])
            assert np.isclose(dec.atom_contributions.sum() + dec.intercept, pred[m])
    _check_potential_is_single_pair_response(model)


def test_fit_warnings_say_when_the_model_learned_by_heart():
    overfit = fit_warnings({"train_mae": 5.69, "test_mae": 65.1, "n_train": 500}, 200, "pairs")
    assert len(overfit) == 1
    assert "65.1 kcal/mol) is 11 times the training error (5.69 kcal/mol)" in overfit[0]
    assert "by heart" in overfit[0] and "atom-count model" in overfit[0]
    small = fit_warnings({"train_mae": 1.0, "test_mae": 1.2, "n_train": 21}, 200, "pairs")
    assert small == [small[0]] and "21 molecules for 200 pair × distance-bin features" in small[0]
    assert fit_warnings({"train_mae": 1.0, "test_mae": 2.9, "n_train": 500}, 200, "pairs") == []
    assert len(fit_warnings({"train_mae": 0.0, "test_mae": 3.0, "n_train": 5}, 20, "pairs")) == 2


def test_a_small_training_set_gets_a_note_and_a_large_one_none():
    small = fit_molecule_model(_random_set(n=30), "pairs")
    assert any("training set is small: 21 molecules for 200" in note for note in small.notes)
    assert small.summary()["notes"] == small.notes
    rng = np.random.default_rng(1)
    additive = []
    for _ in range(200):
        elements = rng.choice(["H", "C", "O"], size=int(rng.integers(2, 8)))
        additive.append((elements, rng.normal(0, 2.0, size=(len(elements), 3))))
    energies = [sum({"H": -60.0, "C": -150.0, "O": -100.0}[e] for e in el) + rng.normal(scale=0.5)
                for el, _ in additive]
    assert fit_molecule_model(MoleculeSet.from_arrays(additive, energies), "atoms").notes == []


def _check_potential_is_single_pair_response(model):
    distances = np.linspace(1.0, 6.0, 11)
    for label in model.basis.pair_labels:
        a, b = label.split("-")
        probes = MoleculeSet.from_arrays([([a, b], [[0, 0, 0], [d, 0, 0]]) for d in distances])
        response = pair_features(probes, model.basis) @ model.coef
        assert np.allclose(model.pair_potential(label, distances), response, atol=1e-9)
        assert np.allclose(model.predict(probes) - model.intercept, response)
    grid, curves = model.potentials()
    assert set(curves) == set(model.basis.pair_labels) and all(len(c) == len(grid) for c in curves.values())


# --- QM7 ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qm7():
    if not (QM7 / "energies.txt").is_file():
        pytest.skip("QM7 is not at ../shared/data/qm7 (an optional data set beside the checkout)")
    return load_molecules(QM7 / "xyz", QM7 / "energies.txt", unit="angstrom")


def test_qm7_atom_and_pair_models(qm7):
    assert len(qm7) == 7101 and qm7.element_symbols == ("H", "C", "N", "O", "S")
    atoms = fit_molecule_model(qm7, "atoms")
    pairs = fit_molecule_model(qm7, "pairs")
    print(f"QM7 test MAE: atoms {atoms.metrics['test_mae']:.2f}, pairs {pairs.metrics['test_mae']:.2f} kcal/mol"
          f" (λ {atoms.alpha:g}, {pairs.alpha:g})")
    assert 10 < atoms.metrics["test_mae"] < 20
    assert pairs.metrics["test_mae"] < 0.7 * atoms.metrics["test_mae"]
    assert set(atoms.element_energies()) == {"H", "C", "N", "O", "S"}
    assert all(v < 0 for v in atoms.element_energies().values())
    pred = pairs.predict(qm7)
    assert np.allclose(pred, pairs.predictions)
    for m in (0, 1000, 7100):
        dec = pairs.decompose(qm7, m)
        assert np.isclose(dec.parts.sum() + dec.intercept, pred[m])
        assert len(dec.parts) == qm7.n_atoms[m] * (qm7.n_atoms[m] - 1) // 2
        top = dec.ranked()[0]
        assert abs(dec.parts[top]) == np.abs(dec.parts).max()
    _check_potential_is_single_pair_response(pairs)
    # The finding of the study: the O-H potential is lowest near the typical O-H bond length (1.83 Bohr).
    grid = np.linspace(1.2, 4.0, 281)
    oh = pairs.pair_potential("O-H", grid)
    assert abs(grid[np.argmin(oh)] - 1.83) < 0.3


def test_pair_support_marks_where_training_pairs_exist():
    # Two-atom molecules whose H-H distance is always 2.5-3.5 Bohr: only that range is backed by data.
    rng = np.random.default_rng(3)
    mols = MoleculeSet.from_arrays(
        [(np.array(["H", "H"]), np.array([[0.0, 0.0, 0.0], [d, 0.0, 0.0]])) for d in rng.uniform(2.5, 3.5, 80)],
        list(rng.normal(size=80)),
    )
    model = fit_molecule_model(mols, "pairs", n_bins=16, sigma=0.5, r_min=0.0, r_max=8.0)
    grid = np.array([1.0, 3.0, 6.0])
    _, support = model.pair_support(grid)
    assert support["H-H"].tolist() == [False, True, False]
    assert model.distance_histogram.sum() == len(model.split["train"])  # one pair per training molecule


def test_qm7_has_no_hh_pairs_at_bond_length(qm7):
    pairs = fit_molecule_model(qm7, "pairs")
    # QM7 has no H2: no H-H pair near 1.4 Bohr, many geminal H-H pairs near 3.4 Bohr.
    _, support = pairs.pair_support(np.array([1.4, 3.4]))
    assert support["H-H"].tolist() == [False, True]
