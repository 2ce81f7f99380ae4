"""Read molecules from XYZ files, with their energies, into one packed set.

Two ways in:

* :func:`load_molecules` with a folder of ``.xyz`` files and an energies file
  (training and evaluation), or with one ``.xyz`` file (prediction; energies
  optional).
* :meth:`MoleculeSet.from_arrays` for molecules built in code (tests, probes
  such as a single atom pair).

XYZ format (one molecule per file)::

    5                     <- line 1: number of atoms
    charge = 0            <- line 2: comment, ignored
     C 1.04 -0.05 -0.07   <- one line per atom: element x y z [ignored ...]
     H 2.13 -0.05 -0.07

The element is a symbol (``C``, ``Cl``; case is forgiven) or an atomic number.
Blank lines after the atoms are fine; any other extra line is an error.

Energies file: one molecule per line, ``name value [ignored ...]``, e.g.
``qm7/0001.xyz -417.031 -431.78``. The name is matched to a file by its file
name (``0001.xyz``) or its stem (``0001``). Blank lines and lines starting with
``#`` are skipped. The energy unit is not converted; it is only carried as a
label (``energy_unit``, default ``kcal/mol``) so results are reported in it.

Lengths are stated on load (``unit="angstrom"`` or ``"bohr"``) and stored in
Bohr; 1 Å = 1.8897261 Bohr (:func:`convert_length`).

A folder whose ``.xyz`` files sit in one subfolder (QM7's ``qm7/xyz/``) is read
from that subfolder (:func:`find_molecule_folder`). Two atoms of one molecule
closer than :data:`COINCIDENT_ANGSTROM` are refused: such a file is not a
molecule, and every pair term of it would be meaningless.

Every problem with a file is an :class:`~xaidesk.core.InputError` whose message
names the file and the line. Files are only read.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import CancelToken, InputError, no_progress
from ..core.io import missing_path_message

ANGSTROM_TO_BOHR = 1.8897261
LENGTH_UNITS = ("angstrom", "bohr")
_UNIT_ALIASES = {"angstrom": "angstrom", "a": "angstrom", "å": "angstrom", "ang": "angstrom",
                 "bohr": "bohr", "au": "bohr", "a0": "bohr"}

#: Element symbols by atomic number (index 0 unused): H to Kr, plus I.
SYMBOLS = (
    "", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar",
    "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr",
)
ATOMIC_NUMBER = {s.lower(): z for z, s in enumerate(SYMBOLS) if s}
ATOMIC_NUMBER["i"] = 53
#: Two atoms closer than this (Å) are taken as one point: the file is refused.
COINCIDENT_ANGSTROM = 0.1
#: A coordinate beyond this (Å) is refused: no molecule is that large, and distances would overflow.
FARTHEST_ANGSTROM = 1e4
#: Distances that suggest the wrong length unit (a notice, not a refusal): two atoms closer than the first
#: (Å; no bond is shorter than H–H, 0.74 Å), or a typical nearest neighbour outside the range (typical
#: nearest neighbours such as C–H, O–H and C–C lie within 0.9–1.6 Å).
SHORTEST_PLAUSIBLE_ANGSTROM = 0.4
PLAUSIBLE_NEAREST_ANGSTROM = (0.75, 1.9)
XYZ_SUFFIX = ".xyz"


def count_molecules(n: int) -> str:
    """``"1 molecule"``, ``"2 molecules"``."""
    return f"{n} molecule" if n == 1 else f"{n} molecules"


def symbol(z: int) -> str:
    """Element symbol of atomic number ``z``."""
    if z == 53:
        return "I"
    return SYMBOLS[z]


def normalize_unit(unit: str) -> str:
    key = str(unit).strip().lower()
    if key not in _UNIT_ALIASES:
        raise InputError(f"The length unit '{unit}' is not known; use 'angstrom' or 'bohr'.")
    return _UNIT_ALIASES[key]


def convert_length(values, from_unit: str, to_unit: str):
    """Convert lengths between Angstrom and Bohr (1 Å = 1.8897261 Bohr)."""
    a, b = normalize_unit(from_unit), normalize_unit(to_unit)
    if a == b:
        return values
    factor = ANGSTROM_TO_BOHR if a == "angstrom" else 1.0 / ANGSTROM_TO_BOHR
    return np.asarray(values, dtype=np.float64) * factor


@dataclass
class MoleculeSet:
    """Molecules packed into flat arrays.

    Attributes
    ----------
    names
        One name per molecule (the file name, e.g. ``0001.xyz``).
    numbers
        Atomic numbers of all atoms, molecule after molecule (A_total,).
    positions
        Coordinates in Bohr (A_total, 3).
    offsets
        Molecule m has atoms ``offsets[m]:offsets[m + 1]`` (M + 1,).
    energies
        One energy per molecule (M,), or ``None`` when none were given.
    energy_unit
        Label of the energy unit (not converted).
    sources
        The file of each molecule (empty for molecules built in code).
    notices
        Plain sentences about what loading left out (e.g. energies without a file).
    """

    names: list[str]
    numbers: np.ndarray
    positions: np.ndarray
    offsets: np.ndarray
    energies: np.ndarray | None = None
    energy_unit: str = "kcal/mol"
    sources: list[Path] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def n_atoms(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def elements(self) -> tuple[int, ...]:
        """Atomic numbers present, ascending."""
        return tuple(int(z) for z in np.unique(self.numbers))

    @property
    def element_symbols(self) -> tuple[str, ...]:
        return tuple(symbol(z) for z in self.elements)

    def molecule(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(atomic numbers, positions in Bohr) of one molecule."""
        a, b = self.offsets[index], self.offsets[index + 1]
        return self.numbers[a:b], self.positions[a:b]

    def positions_in(self, unit: str) -> np.ndarray:
        return convert_length(self.positions, "bohr", unit)

    def subset(self, indices) -> "MoleculeSet":
        indices = np.asarray(indices, dtype=np.int64)
        counts = self.n_atoms[indices]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        atom_index = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in indices]) \
            if len(indices) else np.zeros(0, dtype=np.int64)
        return MoleculeSet(
            names=[self.names[i] for i in indices],
            numbers=self.numbers[atom_index], positions=self.positions[atom_index], offsets=offsets,
            energies=None if self.energies is None else self.energies[indices],
            energy_unit=self.energy_unit,
            sources=[self.sources[i] for i in indices] if self.sources else [],
        )

    def padded(self, indices=None) -> tuple[np.ndarray, np.ndarray]:
        """Atomic numbers (k, A) with 0 for padding and positions (k, A, 3), A = most atoms among them."""
        indices = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        counts = self.n_atoms[indices]
        width = int(counts.max()) if len(counts) else 0
        slot = np.arange(width)[None, :]
        valid = slot < counts[:, None]
        src = (self.offsets[indices][:, None] + slot)[valid]
        numbers = np.zeros((len(indices), width), dtype=np.int64)
        positions = np.zeros((len(indices), width, 3), dtype=np.float64)
        numbers[valid] = self.numbers[src]
        positions[valid] = self.positions[src]
        return numbers, positions

    @classmethod
    def from_arrays(cls, molecules, energies=None, *, names=None, unit: str = "bohr",
                    energy_unit: str = "kcal/mol") -> "MoleculeSet":
        """Build a set from ``[(elements, positions), ...]``; elements as symbols or atomic numbers."""
        numbers, positions, counts = [], [], []
        for k, (elements, pos) in enumerate(molecules):
            z = [_parse_element(e) for e in elements]
            if any(v is None for v in z):
                raise InputError(f"Molecule {k} has an unknown element: {list(elements)}.")
            pos = np.asarray(pos, dtype=np.float64).reshape(len(z), 3)
            numbers.append(np.asarray(z, dtype=np.int64))
            positions.append(convert_length(pos, unit, "bohr"))
            counts.append(len(z))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        names = list(names) if names is not None else [f"molecule {k}" for k in range(len(counts))]
        return cls(
            names=names,
            numbers=np.concatenate(numbers) if numbers else np.zeros(0, dtype=np.int64),
            positions=np.concatenate(positions) if positions else np.zeros((0, 3)),
            offsets=offsets,
            energies=None if energies is None else np.asarray(energies, dtype=np.float64),
            energy_unit=energy_unit,
        )


def _parse_element(token) -> int | None:
    if isinstance(token, (int, np.integer)):
        z = int(token)
        return z if 0 < z < len(SYMBOLS) or z == 53 else None
    text = str(token).strip()
    if text.isdigit():
        return _parse_element(int(text))
    return ATOMIC_NUMBER.get(text.lower())


def _xyz_files(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return sorted(Path(e.path) for e in entries if e.name.lower().endswith(XYZ_SUFFIX) and e.is_file())
    except OSError as exc:
        raise InputError(f"The folder {folder.name} cannot be read: {exc.strerror or exc}.") from None


def find_molecule_folder(folder: str | Path) -> Path:
    """The folder that holds the ``.xyz`` files: ``folder`` itself, or its one subfolder that does.

    QM7 comes as ``qm7/`` holding ``xyz/`` and ``energies.txt``; opening ``qm7`` reads
    ``qm7/xyz``. Raises an :class:`~xaidesk.core.InputError` naming the folder when
    neither it nor exactly one of its subfolders holds ``.xyz`` files.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(missing_path_message(folder, "folder"))
    if not folder.is_dir():
        raise InputError(f"{folder.name} is not a folder.")
    if _xyz_files(folder):
        return folder
    try:
        with os.scandir(folder) as entries:
            subfolders = sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))
    except OSError as exc:
        raise InputError(f"The folder {folder.name} cannot be read: {exc.strerror or exc}.") from None
    holding = []
    for sub in subfolders:
        try:
            if _xyz_files(sub):
                holding.append(sub)
        except InputError:
            continue
    if len(holding) == 1:
        return holding[0]
    if holding:
        names = ", ".join(p.name for p in holding[:4]) + (", …" if len(holding) > 4 else "")
        raise InputError(f"The folder {folder.name} holds no .xyz files itself, and several of its folders do "
                         f"({names}); open the one to use.")
    raise InputError(f"The folder {folder.name} holds no .xyz files (nor does any folder directly inside it); "
                     f"open the folder of .xyz molecule files.")


def _check_geometry(path: Path, numbers: np.ndarray, positions: np.ndarray, unit: str) -> float:
    """Refuse coordinates that cannot be a molecule; return the shortest distance in Å (NaN for one atom)."""
    far = np.abs(convert_length(positions, unit, "angstrom")) > FARTHEST_ANGSTROM
    if far.any():
        atom = int(np.argwhere(far)[0][0])
        raise InputError(f"{path.name}, line {atom + 3}: a coordinate is beyond {FARTHEST_ANGSTROM:.0f} Å, far "
                         f"larger than any molecule; check the numbers and the length unit.")
    if len(numbers) < 2:
        return float("nan")
    i, j = np.triu_indices(len(numbers), 1)
    distance = np.sqrt(((positions[i] - positions[j]) ** 2).sum(-1))
    distance_angstrom = convert_length(distance, unit, "angstrom")
    k = int(np.argmin(distance_angstrom))
    if distance_angstrom[k] < COINCIDENT_ANGSTROM:
        a, b = int(i[k]), int(j[k])
        where = "all at one point" if np.ptp(positions, axis=0).max() == 0 else "at the same place"
        raise InputError(
            f"{path.name}, lines {a + 3} and {b + 3}: atoms {a + 1} ({symbol(int(numbers[a]))}) and {b + 1} "
            f"({symbol(int(numbers[b]))}) are {where} ({distance_angstrom[k]:.3g} Å apart); a molecule's atoms "
            f"are at least {COINCIDENT_ANGSTROM} Å apart, so check the coordinates.")
    return float(distance_angstrom[k])


def _unit_notices(names: list[str], nearest: np.ndarray) -> list[str]:
    """A plain notice when the atoms are implausibly close or far for the length unit the files were read in."""
    known = np.isfinite(nearest)
    if not known.any():
        return []
    low, high = PLAUSIBLE_NEAREST_ANGSTROM
    closest = int(np.nanargmin(nearest))
    if nearest[closest] < SHORTEST_PLAUSIBLE_ANGSTROM:
        return [f"In {names[closest]} two atoms are only {nearest[closest]:.2f} Å apart, closer than any chemical "
                f"bond (H–H is 0.74 Å); check the length unit (Angstrom or Bohr)."]
    typical = float(np.median(nearest[known]))
    if typical < low:
        return [f"The atoms are unusually close together (nearest neighbours typically {typical:.2f} Å, where bonds "
                f"are about 1–1.6 Å); check the length unit (Angstrom or Bohr)."]
    if typical > high:
        return [f"The atoms are unusually far apart (nearest neighbours typically {typical:.2f} Å, where bonds "
                f"are about 1–1.6 Å); check the length unit (Angstrom or Bohr)."]
    return []


def read_xyz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one XYZ file: (atomic numbers (A,), positions (A, 3) as written, no unit conversion)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path.name} is not a text file (it is not UTF-8).") from None
    except OSError as exc:
        raise InputError(f"{path.name} cannot be read: {exc.strerror or exc}.") from None
    lines = text.splitlines()
    first = lines[0].strip() if lines else ""
    try:
        count = int(first)
    except ValueError:
        count = -1
    if count <= 0:
        raise InputError(f"{path.name}, line 1: expected the number of atoms (a positive whole number), "
                         f"found '{first[:40]}'.")
    if len(lines) < count + 2:
        raise InputError(f"{path.name}, line 1: the file declares {count} atoms but has only "
                         f"{max(len(lines) - 2, 0)} atom lines.")
    numbers = np.empty(count, dtype=np.int64)
    positions = np.empty((count, 3), dtype=np.float64)
    for k in range(count):
        line_no = k + 3
        parts = lines[k + 2].split()
        if len(parts) < 4:
            if not parts:
                raise InputError(f"{path.name}, line {line_no}: blank line where atom {k + 1} of {count} "
                                 f"was expected (the atom count on line 1 may be wrong).")
            raise InputError(f"{path.name}, line {line_no}: expected 'element x y z', found "
                             f"'{lines[k + 2].strip()[:60]}'.")
        z = _parse_element(parts[0])
        if z is None:
            raise InputError(f"{path.name}, line {line_no}: unknown element '{parts[0][:10]}'.")
        try:
            xyz = [float(v) for v in parts[1:4]]
        except ValueError:
            raise InputError(f"{path.name}, line {line_no}: the coordinates '{' '.join(parts[1:4])[:60]}' "
                             f"are not numbers.") from None
        if not all(math.isfinite(v) for v in xyz):
            raise InputError(f"{path.name}, line {line_no}: the coordinates are not finite numbers.")
        numbers[k] = z
        positions[k] = xyz
    for k in range(count + 2, len(lines)):
        if lines[k].strip():
            raise InputError(f"{path.name}, line {k + 1}: more lines than the {count} atoms declared on "
                             f"line 1 (only one molecule per file is read).")
    return numbers, positions


def read_energies(path: str | Path) -> dict[str, float]:
    """Read ``name value [ignored ...]`` lines; keys are the file names (``0001.xyz``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path.name} is not a text file (it is not UTF-8).") from None
    except OSError as exc:
        raise InputError(f"The energies file {path.name} cannot be read: {exc.strerror or exc}.") from None
    energies: dict[str, float] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split()
        if len(parts) < 2:
            raise InputError(f"{path.name}, line {line_no}: expected 'name value', found '{stripped[:60]}'.")
        try:
            value = float(parts[1])
        except ValueError:
            raise InputError(f"{path.name}, line {line_no}: the energy '{parts[1][:30]}' is not a number.") from None
        if not math.isfinite(value):
            raise InputError(f"{path.name}, line {line_no}: the energy is not a finite number.")
        key = Path(parts[0].replace("\\", "/")).name
        if key in energies:
            raise InputError(f"{path.name}, line {line_no}: a second energy for {key}.")
        energies[key] = value
    if not energies:
        raise InputError(f"The energies file {path.name} holds no 'name value' lines.")
    return energies


def load_molecules(
    source: str | Path, energies: str | Path | None = None, *, unit: str = "angstrom",
    energy_unit: str = "kcal/mol", require_energies: bool | None = None,
    cancel: CancelToken | None = None, progress=no_progress,
) -> MoleculeSet:
    """Load a folder of ``.xyz`` files (sorted by name) or one ``.xyz`` file.

    A folder without ``.xyz`` files is read from its one subfolder that has them
    (:func:`find_molecule_folder`).

    With ``energies`` every molecule must have an energy (else an ``InputError``
    naming the file). ``require_energies`` defaults to True for a folder; a
    folder without an energies file is then refused.
    """
    source = Path(source)
    unit = normalize_unit(unit)
    if source.is_dir():
        files = _xyz_files(find_molecule_folder(source))
        if require_energies is None:
            require_energies = True
    elif source.is_file():
        files = [source]
    else:
        raise InputError(missing_path_message(source, "folder or file"))
    if require_energies and energies is None:
        raise InputError("Training on a folder of molecules needs an energies file (lines of 'name value').")
    table = read_energies(energies) if energies is not None else None
    numbers, positions, counts, values, nearest = [], [], [], [], []
    for k, path in enumerate(files):
        if cancel is not None and k % 256 == 0:
            cancel.check()
        if k % 256 == 0:
            progress(k / len(files), f"Reading {path.name}")
        z, pos = read_xyz(path)
        nearest.append(_check_geometry(path, z, pos, unit))
        if table is not None:
            value = table.get(path.name, table.get(path.stem))
            if value is None:
                raise InputError(f"{path.name}: no energy in {Path(energies).name} (expected a line "
                                 f"'{path.name} value').")
            values.append(value)
        numbers.append(z)
        positions.append(pos)
        counts.append(len(z))
    notices = _unit_notices([p.name for p in files], np.asarray(nearest))
    if table is not None:
        known = {p.name for p in files} | {p.stem for p in files}
        unused = [name for name in table if name not in known and Path(name).stem not in known]
        if unused:
            notices.append(f"{Path(energies).name} lists {len(unused)} name{'s' if len(unused) > 1 else ''} with "
                           f"no .xyz file (first: {unused[0]}); {'they are' if len(unused) > 1 else 'it is'} "
                           f"left out.")
    progress(1.0, f"Read {count_molecules(len(files))}")
    factor = ANGSTROM_TO_BOHR if unit == "angstrom" else 1.0
    return MoleculeSet(
        names=[p.name for p in files],
        numbers=np.concatenate(numbers),
        positions=np.concatenate(positions) * factor,
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        energies=np.asarray(values, dtype=np.float64) if table is not None else None,
        energy_unit=energy_unit,
        sources=list(files),
        notices=notices,
    )
