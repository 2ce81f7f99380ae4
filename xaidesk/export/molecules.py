"""The CSV files of a molecule model (``ridge.atoms``, ``ridge.pairs``).

One writer, called by ``xaidesk explain molecules`` and by the Molecules tab's "Export CSV"
and "Export decomposition". Numbers have 12 significant digits; ``<unit>`` is the energy unit's
label (e.g. ``kcal/mol``), taken over unconverted from the energies file.

- ``metrics.csv``: ``metric,value``: mean absolute errors per split (in the energy unit),
  split sizes, the ridge λ (``alpha``).
- ``element_energies.csv`` (atom model): ``element,energy_<unit>``, the energy per atom of
  each element.
- ``pair_potentials.csv`` (pair model): ``distance_bohr,distance_angstrom`` and one column per
  pair type (``C-H``, ...), the learned pair potential on :data:`POTENTIAL_POINTS` distances
  evenly spaced from the basis's ``r_min`` to ``r_max``.
- ``decompositions.csv``: ``molecule,type,atom_i,atom_j,element_i,element_j,distance_angstrom,
  contribution_<unit>``: each molecule's prediction split into its parts, largest first
  (``type`` is the element of an atom part or the pair type of a pair part; atoms are numbered
  from 1 as in the .xyz file; ``atom_j``, ``element_j`` and the distance are empty for atom
  parts), then a row of type ``intercept`` and one of type ``prediction``
  (parts + intercept = prediction). The CLI writes every test molecule; the tab the shown one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.io import csv_field, csv_number, staged_folder, write_bytes_atomic, write_json_atomic

#: Distances at which ``pair_potentials.csv`` gives the potentials.
POTENTIAL_POINTS = 200
#: The length unit of ``distance_angstrom`` (besides the model's own Bohr).
DISTANCE_UNIT = "angstrom"


def _csv(header: list[str], rows) -> bytes:
    lines = [",".join(csv_field(h) for h in header)] + [",".join(row) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def metrics_csv(model) -> bytes:
    """``metrics.csv``: ``metric,value``."""
    return _csv(["metric", "value"], ([csv_field(k), csv_number(v)] for k, v in model.metrics.items()))


def element_energies_csv(model) -> bytes:
    """``element_energies.csv`` of an atom model."""
    return _csv(["element", f"energy_{model.energy_unit}"],
                ([e, csv_number(v)] for e, v in model.element_energies().items()))


def potential_grid(model) -> np.ndarray:
    """The distances (Bohr) of ``pair_potentials.csv``."""
    return np.linspace(model.basis.r_min, model.basis.r_max, POTENTIAL_POINTS)


def pair_potentials_csv(model) -> bytes:
    """``pair_potentials.csv`` of a pair model."""
    from ..data.molecules import convert_length

    distances, curves = model.potentials(potential_grid(model))
    labels = list(curves)
    converted = convert_length(distances, "bohr", DISTANCE_UNIT)
    rows = ([csv_number(d), csv_number(x)] + [csv_number(curves[label][k]) for label in labels]
            for k, (d, x) in enumerate(zip(distances, converted)))
    return _csv(["distance_bohr", f"distance_{DISTANCE_UNIT}"] + labels, rows)


def global_csv_name(model) -> str:
    """``element_energies.csv`` (atom model) or ``pair_potentials.csv`` (pair model)."""
    return "element_energies.csv" if model.kind == "atoms" else "pair_potentials.csv"


def global_csv(model) -> bytes:
    """The model's global explanation: per-element energies or pair potentials."""
    return element_energies_csv(model) if model.kind == "atoms" else pair_potentials_csv(model)


def _decomposition_rows(d) -> list[list[str]]:
    from ..data.molecules import convert_length, symbol

    symbols = [symbol(int(z)) for z in d.numbers]
    distances = convert_length(np.asarray(d.distance, dtype=np.float64), "bohr", DISTANCE_UNIT)
    name = csv_field(d.name)
    rows = []
    for k in d.ranked():
        a, b = int(d.i[k]), int(d.j[k])
        pair = b >= 0
        rows.append([name, csv_field(d.labels[k]), str(a + 1), str(b + 1) if pair else "", symbols[a],
                     symbols[b] if pair else "", csv_number(distances[k]) if pair else "", csv_number(d.parts[k])])
    rows.append([name, "intercept", "", "", "", "", "", csv_number(d.intercept)])
    rows.append([name, "prediction", "", "", "", "", "", csv_number(d.prediction)])
    return rows


def decompositions_csv(decompositions, energy_unit: str) -> bytes:
    """``decompositions.csv`` for one or more :class:`~xaidesk.explain.molecule.Decomposition`."""
    header = ["molecule", "type", "atom_i", "atom_j", "element_i", "element_j", f"distance_{DISTANCE_UNIT}",
              f"contribution_{energy_unit}"]
    return _csv(header, (row for d in decompositions for row in _decomposition_rows(d)))


def write_global_csv(path, model) -> Path:
    """Write :func:`global_csv` to ``path`` (atomically)."""
    return write_bytes_atomic(path, global_csv(model))


def write_decompositions_csv(path, decompositions, energy_unit: str) -> Path:
    """Write :func:`decompositions_csv` to ``path`` (atomically)."""
    return write_bytes_atomic(path, decompositions_csv(decompositions, energy_unit))


def write_molecule_results(folder, model, decompositions, summary: dict) -> Path:
    """Write ``metrics.csv``, the global CSV, ``decompositions.csv`` and ``summary.json`` into ``folder`` as a set."""
    folder = Path(folder)
    with staged_folder(folder) as staging:
        write_bytes_atomic(staging / "metrics.csv", metrics_csv(model))
        write_global_csv(staging / global_csv_name(model), model)
        write_decompositions_csv(staging / "decompositions.csv", decompositions, model.energy_unit)
        write_json_atomic(staging / "summary.json", summary)
    return folder
