"""Qt-free work behind the Molecules tab: which paths it opens, loading and training, and the texts of its views.

:func:`load_folder`, :func:`load_molecule` and :func:`train` run in the
:class:`~xaidesk.gui.runner.Runner` (the tab wraps each in a ``job(token, progress)``) and
return plain data. The other functions decide what the tab shows (the data line, the metrics,
a molecule's ranked parts and their sum) so it is tested headless. Nothing here imports Qt;
torch-backed packages are imported inside the functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MODEL_KINDS = (("Atom counts", "atoms"), ("Pair potentials", "pairs"))
#: Per model kind: its name in the results, and what its global view shows.
MODEL_NAMES = {"atoms": ("Atom-count model", "the energy of each element"),
               "pairs": ("Pair-potential model", "the energy curve of each pair of elements against distance")}
#: Lengths are shown in Å everywhere in the tab, whatever unit the files were written in.
DISPLAY_UNIT = "angstrom"
BOHR_PER_ANGSTROM = 1.8897261
#: The pair basis defaults of :mod:`xaidesk.explain.molecule` (in Bohr; that module pulls torch in via its package).
DEFAULT_SIGMA, DEFAULT_RANGE = 0.5, (0.0, 8.0)
UNITS = (("Angstrom", "angstrom"), ("Bohr", "bohr"))
MOLECULE_SUFFIX = ".xyz"
ENERGIES_SUFFIXES = (".txt", ".dat", ".csv")


def kind_title(kind: str) -> str:
    """The picker's title of a model kind ("Pair potentials" for ``"pairs"``)."""
    return next(text for text, k in MODEL_KINDS if k == kind)


# ---------------------------------------------------------------------- paths
def _has_xyz(folder) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.name.lower().endswith(MOLECULE_SUFFIX) and e.is_file() for e in entries)
    except OSError:
        return False


def holds_molecules(folder) -> bool:
    """Whether ``folder`` holds ``.xyz`` files, itself or in a folder directly inside it (QM7's ``qm7/xyz``).

    Opening such a folder may still be refused (e.g. several subfolders hold
    molecules); :meth:`~xaidesk.gui.tabs.molecules_tab.MoleculesTab.open_folder_asking` then says why.
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


# ---------------------------------------------------------------------- jobs
def load_folder(folder, energies, unit: str, token=None, progress=None):
    """Read a folder of ``.xyz`` files with their energies: ``(MoleculeSet, unit, energies path)``."""
    from xaidesk.data.molecules import load_molecules

    return load_molecules(folder, energies, unit=unit, cancel=token, progress=progress), unit, Path(energies)


def load_molecule(path, unit: str, token=None, progress=None):
    """Read one ``.xyz`` file to predict (its energy may be unknown): a ``MoleculeSet`` of one."""
    from xaidesk.data.molecules import load_molecules

    return load_molecules(path, unit=unit, require_energies=False, cancel=token, progress=progress)


def train(mols, kind: str, params: dict, token=None, progress=None):
    """Fit the ridge model of ``kind`` (``"atoms"`` or ``"pairs"``) with the basis ``params`` (Bohr)."""
    from xaidesk.explain.molecule import fit_molecule_model

    return fit_molecule_model(mols, kind, **params, cancel=token, progress=progress)


def basis_bohr(sigma: float, r_min: float, r_max: float) -> dict:
    """The pair basis as the model takes it (Bohr), from σ and the bin-centre range in Å."""
    return {"sigma": sigma * BOHR_PER_ANGSTROM, "r_min": r_min * BOHR_PER_ANGSTROM, "r_max": r_max * BOHR_PER_ANGSTROM}


# ---------------------------------------------------------------------- texts
def data_text(mols, unit: str, energies: Path) -> str:
    """The Data box's line about an opened training set."""
    from xaidesk.data.molecules import count_molecules

    return (f"{count_molecules(len(mols))}, elements {', '.join(mols.element_symbols)}; "
            f"coordinates read in {unit}, energies in {mols.energy_unit} from {energies.name}."
            + "".join(f" Note: {notice}" for notice in mols.notices))


def metrics_html(model) -> str:
    """The trained model's name, test error, λ and split, as rich text."""
    m, unit = model.metrics, model.energy_unit
    return (f"<b>{MODEL_NAMES[model.kind][0]}</b> (linear, ridge regression)<br>"
            f"Test MAE: <b>{m['test_mae']:.3g} {unit}</b> "
            f"(train {m['train_mae']:.3g}, validation {m['validation_mae']:.3g})<br>"
            f"Regularisation strength λ = {m['alpha']:.3g}, chosen by cross-validation<br>"
            f"Split: {m['n_train']} train / {m['n_validation']} validation / {m['n_test']} test")


@dataclass(frozen=True)
class PartRow:
    """One row of a molecule's parts table: the pair (or atom), its distance in Å (None for atoms), its part."""

    label: str
    distance: float | None
    contribution: float


def decomposition_rows(decomposition) -> list[PartRow]:
    """A molecule's parts, largest first, labelled like ``C1–H2`` (pairs) or ``C1`` (atoms)."""
    from xaidesk.data.molecules import convert_length, symbol

    pairs = decomposition.kind == "pairs"
    symbols = [symbol(int(z)) for z in decomposition.numbers]
    distances = convert_length(decomposition.distance, "bohr", DISPLAY_UNIT)
    rows = []
    for k in decomposition.ranked():
        if pairs:
            a, b = int(decomposition.i[k]), int(decomposition.j[k])
            rows.append(PartRow(f"{symbols[a]}{a + 1}–{symbols[b]}{b + 1}", float(distances[k]),
                                float(decomposition.parts[k])))
        else:
            rows.append(PartRow(f"{symbols[k]}{k + 1}", None, float(decomposition.parts[k])))
    return rows


def sum_text(decomposition, unit: str, true_energy: float | None = None) -> str:
    """How the prediction adds up: the parts plus the intercept (and the true energy when known), as rich text."""
    count = len(decomposition.parts)
    pairs = decomposition.kind == "pairs"
    actual = f"; true energy {true_energy:.4g} {unit}" if true_energy is not None else ""
    return (f"Prediction <b>{decomposition.prediction:.4g} {unit}</b> = sum of {count} "
            f"{'pair' if pairs else 'atom'} contribution{'' if count == 1 else 's'} "
            f"({decomposition.parts.sum():.4g}) "
            f"+ intercept ({decomposition.intercept:.4g}){actual}.")


__all__ = [
    "BOHR_PER_ANGSTROM", "DEFAULT_RANGE", "DEFAULT_SIGMA", "DISPLAY_UNIT", "MODEL_KINDS", "MODEL_NAMES",
    "MOLECULE_SUFFIX", "PartRow", "UNITS", "basis_bohr", "data_text", "decomposition_rows", "find_energies_file",
    "holds_molecules", "is_molecule_path", "kind_title", "load_folder", "load_molecule", "metrics_html", "sum_text",
    "train",
]
