"""Bad and awkward molecules through ``xaidesk explain molecules``: refused plainly, or handled and said so."""

from __future__ import annotations

from pathlib import Path

import pytest

WATER = "3\nwater\nO 0.0 0.0 0.0\nH 0.9572 0.0 0.0\nH -0.2400 0.9266 0.0\n"
METHANE = "5\nmethane\nC 0 0 0\nH 0.63 0.63 0.63\nH -0.63 -0.63 0.63\nH -0.63 0.63 -0.63\nH 0.63 -0.63 -0.63\n"


def _stretched(k: int) -> str:
    """Water with its O–H bonds stretched a little more for each ``k``, so that energies differ."""
    d = 0.90 + 0.01 * k
    return f"3\nwater {k}\nO 0 0 0\nH {d:.3f} 0 0\nH -0.24 {d:.3f} 0\n"


def _folder(root: Path, n: int = 12, energies: str | None = None, layout: str = "flat",
            replace: dict[str, str] | None = None) -> tuple[Path, Path]:
    """``n`` molecules in ``root/xyz`` (``layout="qm7"``: open ``root`` itself) and ``root/energies.txt``."""
    xyz = root / "xyz"
    xyz.mkdir(parents=True)
    for k in range(n):
        (xyz / f"{k:04d}.xyz").write_text((METHANE if k % 2 else _stretched(k)))
    for name, content in (replace or {}).items():
        if isinstance(content, bytes):
            (xyz / name).write_bytes(content)
        else:
            (xyz / name).write_text(content)
    table = root / "energies.txt"
    table.write_text(energies if energies is not None
                     else "".join(f"qm7/{k:04d}.xyz {-300.0 - 7.5 * k - (k % 3):.3f}\n" for k in range(n)))
    return (root if layout == "qm7" else xyz), table


def _argv(source, energies, out, method="ridge.atoms", *extra):
    return ["explain", "molecules", source, "--energies", energies, "--method", method, "--out", out, *extra]


# Each case: (id, replaced or added files, energies text or None, what the message must say).
BAD_FILES = [
    ("empty-xyz", {"0003.xyz": ""}, None, ["0003.xyz, line 1", "number of atoms"]),
    ("count-too-high", {"0003.xyz": "5\nx\nO 0 0 0\nH 1 0 0\nH 0 1 0\n"}, None, ["declares 5 atoms", "only 3"]),
    ("count-too-low", {"0003.xyz": "2\nx\nO 0 0 0\nH 1 0 0\nH 0 1 0\n"}, None, ["line 5", "more lines than the 2"]),
    ("count-not-a-number", {"0003.xyz": "three\nx\nO 0 0 0\n"}, None, ["line 1", "'three'"]),
    ("count-negative", {"0003.xyz": "-3\nx\nO 0 0 0\n"}, None, ["line 1", "positive whole number"]),
    ("unknown-element", {"0003.xyz": "2\nx\nO 0 0 0\nXq 1 0 0\n"}, None, ["line 4", "unknown element 'Xq'"]),
    ("nan-coordinate", {"0003.xyz": "2\nx\nO 0 0 0\nH nan 0 0\n"}, None, ["0003.xyz, line 4", "not finite"]),
    ("inf-coordinate", {"0003.xyz": "2\nx\nO 0 0 0\nH 1 -inf 0\n"}, None, ["0003.xyz, line 4", "not finite"]),
    ("text-coordinates", {"0003.xyz": "2\nx\nO 0 0 0\nH one 0 0\n"}, None, ["line 4", "are not numbers"]),
    ("missing-coordinate", {"0003.xyz": "2\nx\nO 0 0 0\nH 1 0\n"}, None, ["line 4", "element x y z"]),
    ("blank-atom-line", {"0003.xyz": "3\nx\nO 0 0 0\n\nH 0 1 0\n"}, None, ["line 4", "blank line"]),
    ("binary-xyz", {"0003.xyz": b"\xff\xfe\x00garbage\x81"}, None, ["0003.xyz", "not a text file"]),
    ("coincident-atoms", {"0003.xyz": "3\nx\nO 0 0 0\nH 0.96 0 0\nH 0.96 0 0\n"}, None,
     ["0003.xyz, lines 4 and 5", "at the same place"]),
    ("all-atoms-at-one-point", {"0003.xyz": "3\nx\nO 1 1 1\nH 1 1 1\nH 1 1 1\n"}, None, ["all at one point"]),
    ("huge-coordinates", {"0003.xyz": "2\nx\nO 0 0 0\nH 1e200 0 0\n"}, None, ["line 4", "beyond 10000 Å"]),
    ("energy-missing-for-a-molecule", {}, "0000.xyz -1\n0001.xyz -2\n", ["0002.xyz: no energy in energies.txt"]),
    ("duplicate-energy-names", {}, "0000.xyz -1\nqm7/0000.xyz -2\n", ["line 2", "a second energy for 0000.xyz"]),
    ("nan-energy", {}, "0000.xyz nan\n", ["energies.txt, line 1", "not a finite number"]),
    ("inf-energy", {}, "0000.xyz -1\n0001.xyz inf\n", ["energies.txt, line 2", "not a finite number"]),
    ("text-energy", {}, "0000.xyz minus-five\n", ["line 1", "'minus-five' is not a number"]),
    ("name-without-energy", {}, "0000.xyz\n", ["line 1", "expected 'name value'"]),
    ("empty-energies-file", {}, "", ["holds no 'name value' lines"]),
    ("all-energies-equal", {}, "".join(f"{k:04d}.xyz -5.0\n" for k in range(12)), ["all 12 molecules",
                                                                                   "same energy"]),
]


@pytest.mark.parametrize("files, energies, says", [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_molecule_files_are_refused(tmp_path, refused, files, energies, says):
    source, table = _folder(tmp_path / "qm7", energies=energies, replace=files)
    out = tmp_path / "out"
    refused(_argv(source, table, out), inputs=[source, table], out=out, says=says)


@pytest.mark.parametrize("count, says", [(1, "only 1 molecule with energies"), (2, "only 2 molecules")])
def test_too_few_molecules_to_train(tmp_path, refused, count, says):
    source, table = _folder(tmp_path / "qm7", n=count)
    out = tmp_path / "out"
    result = refused(_argv(source, table, out), inputs=[source, table], out=out, says=[says, "at least 10"])
    assert "1 molecules" not in result.err


def test_one_xyz_file_to_train(tmp_path, refused):
    source, table = _folder(tmp_path / "qm7")
    out = tmp_path / "out"
    refused(_argv(source / "0001.xyz", table, out), inputs=[source, table], out=out,
            says=["only 1 molecule with energies"])


@pytest.mark.parametrize("make, says", [
    (lambda root: root.mkdir(), ["holds no .xyz files"]),
    (lambda root: (root / "sub").mkdir(parents=True), ["holds no .xyz files"]),
    (lambda root: None, ["does not exist"]),
    (lambda root: root.symlink_to(root), ["link loop"]),
    (lambda root: root.symlink_to(root.parent / "gone"), ["which does not exist"]),
], ids=["empty-folder", "only-empty-subfolder", "missing-folder", "symlink-loop", "dangling-link"])
def test_folders_without_molecules(tmp_path, refused, make, says):
    root = tmp_path / "data"
    make(root)
    table = tmp_path / "energies.txt"
    table.write_text("0000.xyz -1\n")
    out = tmp_path / "out"
    refused(_argv(root, table, out), inputs=[table], out=out, says=says)


def test_several_subfolders_with_molecules(tmp_path, refused):
    source, table = _folder(tmp_path / "qm7", layout="qm7")
    (source / "copy").mkdir()
    (source / "copy" / "a.xyz").write_text(WATER)
    out = tmp_path / "out"
    refused(_argv(source, table, out), inputs=[source, table], out=out,
            says=["several of its folders do (copy, xyz)", "open the one to use"])


def test_missing_energies_file(tmp_path, refused):
    source, table = _folder(tmp_path / "qm7")
    out = tmp_path / "out"
    refused(_argv(source, tmp_path / "nope.txt", out), inputs=[source, table], out=out,
            says=["energies file nope.txt cannot be read"])


@pytest.mark.parametrize("argv_tail, says", [
    (["--method", "ridge.nope"], ["no method called 'ridge.nope'"]),
    (["--method", "gradient.sensitivity"], ["not for molecules", "ridge.atoms"]),
    (["--unit", "furlong"], ["invalid choice: 'furlong'"]),
    (["--param", "n_bins=0"], ["n_bins"]),
    (["--param", "test_fraction=1.5"], ["test_fraction"]),
], ids=["unknown-method", "image-method", "unknown-unit", "zero-bins", "test-share-too-big"])
def test_wrong_options(tmp_path, refused, argv_tail, says):
    source, table = _folder(tmp_path / "qm7")
    out = tmp_path / "out"
    argv = _argv(source, table, out, "ridge.pairs")
    if argv_tail[0] == "--method":
        argv[argv.index("--method") + 1] = argv_tail[1]
    else:
        argv += argv_tail
    refused(argv, inputs=[source, table], out=out, says=says)


def test_qm7_layout_is_accepted(tmp_path, accepted):
    source, table = _folder(tmp_path / "qm7", layout="qm7")
    out = tmp_path / "out"
    result = accepted(_argv(source, table, out, "ridge.pairs", "--param", "n_bins=6"), inputs=[source, table])
    assert "12 molecules" in result.out and (out / "pair_potentials.csv").is_file()


def test_energies_for_missing_molecules_are_named(tmp_path, accepted):
    source, table = _folder(tmp_path / "qm7")
    table.write_text(table.read_text() + "qm7/9999.xyz -1\nqm7/9998.xyz -2\n")
    accepted(_argv(source, table, tmp_path / "out"), inputs=[source, table],
             says=["lists 2 names with no .xyz file (first: 9999.xyz)"])


def test_angstrom_files_read_as_bohr_are_flagged(tmp_path, accepted):
    source, table = _folder(tmp_path / "qm7")
    accepted(_argv(source, table, tmp_path / "out", "ridge.atoms", "--unit", "bohr"), inputs=[source, table],
             says=["unusually close together", "check the length unit"])


def test_a_too_short_bond_is_flagged(tmp_path, accepted):
    source, table = _folder(tmp_path / "qm7", replace={"0005.xyz": "2\nx\nH 0 0 0\nH 0.3 0 0\n"})
    accepted(_argv(source, table, tmp_path / "out"), inputs=[source, table],
             says=["in 0005.xyz two atoms are only 0.30 Å apart", "check the length unit"])


def test_bohr_files_read_as_angstrom_are_flagged(tmp_path, accepted):
    source, table = _folder(tmp_path / "qm7")
    for path in source.iterdir():
        lines = path.read_text().splitlines()
        atoms = [f"{p[0]} " + " ".join(str(float(v) * 1.8897261) for v in p[1:]) for p in map(str.split, lines[2:])]
        path.write_text("\n".join(lines[:2] + atoms) + "\n")
    accepted(_argv(source, table, tmp_path / "out"), inputs=[source, table],
             says=["unusually far apart", "check the length unit"])


def test_awkward_but_valid_files_are_read(tmp_path, accepted):
    source, table = _folder(tmp_path / "qm7", replace={
        "0002.xyz": "\ufeff3\r\nwater, BOM and CRLF\r\n8 0 0 0\r\n1 0.96 0 0\r\n1 -0.24 0.93 0\r\n\r\n\r\n",
        "0004.xyz": "3\nlower-case symbols, extra columns\no 0 0 0 0.1\nh 0.97 0 0 x\nh -0.24 0.94 0\n",
    })
    result = accepted(_argv(source, table, tmp_path / "out"), inputs=[source, table])
    assert "12 molecules" in result.out and "note" not in result.err
