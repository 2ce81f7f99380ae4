"""Registry entries for the molecule models: ``ridge.atoms`` and ``ridge.pairs``.

Both take ``x`` = a :class:`~xaidesk.data.molecules.MoleculeSet` with energies
(``model`` and ``target`` are unused: the model is trained here) and return an
:class:`~xaidesk.core.Explanation`:

``ridge.atoms``
    ``relevance``: the energy per atom of each element, shape (E,), in the
    order of ``extras["elements"]`` (ascending atomic number).
``ridge.pairs``
    ``relevance``: the ridge bin weights, shape (T, B): one row per pair type
    (``extras["pair_types"]``, e.g. ``"H-C"``), one column per Gaussian distance
    bin (centres in ``extras["bin_centers_bohr"]``). The pair potential of type t
    is E_t(d) = Σ_m relevance[t, m] · exp(−(d − μ_m)² / (2σ²)); get the curves
    with ``extras["model"].potentials(grid)``.

``extras`` also hold ``metrics`` (MAEs per split in the energy unit, split
sizes, λ as ``alpha``), ``energy_unit``, ``intercept``, ``alpha`` and
``model``, the fitted :class:`~xaidesk.explain.molecule.MoleculeModel`
(left out of ``Explanation.summary()``).
"""

from __future__ import annotations

import time

import numpy as np

from ..core import Explanation, InputError, Param, Target, register_method
from ..data.molecules import MoleculeSet
from .molecule import DEFAULT_BINS, DEFAULT_RANGE, DEFAULT_SIGMA, fit_molecule_model

MODALITY = ("molecule",)

N_BINS = Param("n_bins", "int", DEFAULT_BINS,
               "How many distance bins describe each pair potential: more bins give finer curves but need more data.",
               minimum=1, maximum=200, label="distance bins")
SIGMA = Param("sigma", "float", DEFAULT_SIGMA,
              "Width of each distance bin in Bohr: wider bins give smoother potential curves.",
              minimum=1e-3, maximum=10.0, label="bin width σ (Bohr)")
R_MIN = Param("r_min", "float", DEFAULT_RANGE[0],
              "Shortest distance covered by the bins, in Bohr.", minimum=0.0, maximum=100.0,
              label="shortest distance (Bohr)")
R_MAX = Param("r_max", "float", DEFAULT_RANGE[1],
              "Longest distance covered by the bins, in Bohr; atom pairs farther apart count (almost) nothing.",
              minimum=0.0, maximum=100.0, label="longest distance (Bohr)")
TEST = Param("test_fraction", "float", 0.2,
             "Share of the molecules kept aside to measure the error of the finished model.",
             minimum=0.01, maximum=0.9, label="test share", percent=True)
VALIDATION = Param("validation_fraction", "float", 0.1,
                   "Share of the molecules set aside as a validation set (its error is reported too); 0 for none.",
                   minimum=0.0, maximum=0.9, label="validation share", minimum_text="None",
                   percent=True)
SEED = Param("seed", "int", 0, "Random seed of the train/validation/test split; the same seed gives the same split.",
             minimum=0, maximum=2**31 - 1, label="random seed (same seed, same split)")


def _check_input(x) -> MoleculeSet:
    if not isinstance(x, MoleculeSet):
        raise InputError("The molecule methods need a set of molecules (a folder of .xyz files with energies).")
    if x.energies is None:
        raise InputError("Training needs an energy for every molecule; load an energies file.")
    return x


def _fit(kind: str, name: str, x, params, token, progress) -> Explanation:
    mols = _check_input(x)
    start = time.perf_counter()
    basis_kw = {}
    if kind == "pairs":
        basis_kw = dict(n_bins=int(params["n_bins"]), sigma=float(params["sigma"]),
                        r_min=float(params["r_min"]), r_max=float(params["r_max"]))
    model = fit_molecule_model(
        mols, kind, test=float(params["test_fraction"]), validation=float(params["validation_fraction"]),
        seed=int(params["seed"]), cancel=token, progress=progress or (lambda *a, **k: None), **basis_kw)
    extras = {"metrics": dict(model.metrics), "energy_unit": model.energy_unit, "intercept": model.intercept,
              "alpha": model.alpha, "model": model, "n_molecules": len(mols)}
    if kind == "atoms":
        energies = model.element_energies()
        relevance = np.array(list(energies.values()), dtype=np.float64)
        extras["elements"] = list(energies)
        extras["element_energies"] = dict(energies)
    else:
        relevance = np.array(model.weights(), dtype=np.float64)
        extras["elements"] = list(model.basis.to_dict()["elements"])
        extras["pair_types"] = list(model.basis.pair_labels)
        extras["bin_centers_bohr"] = [float(c) for c in model.basis.centers]
        extras["basis"] = model.basis.to_dict()
    return Explanation(
        relevance=relevance, method=name, target=Target(0, f"energy ({model.energy_unit})"),
        score=float(model.metrics["test_mae"]), params=dict(params), seconds=time.perf_counter() - start,
        extras=extras)


@register_method(
    "ridge.atoms", modality=MODALITY, title="Energy per atom type (ridge on atom counts)",
    unit="energy", order=0,
    params=[TEST, VALIDATION, SEED],
    help="Learns one energy per element so that a molecule's energy is the sum over its atoms; "
         "the explanation is that energy per element.",
)
def explain_atoms(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Ridge regression of the energy on atom counts; relevance = energy per element."""
    return _fit("atoms", "ridge.atoms", x, params, token, progress)


@register_method(
    "ridge.pairs", modality=MODALITY, title="Pair potentials (ridge on pair distances)",
    unit="energy", order=1,
    params=[N_BINS, SIGMA, R_MIN, R_MAX, TEST, VALIDATION, SEED],
    help="Learns an energy curve for each kind of atom pair (such as C-H) against their distance, so that a "
         "molecule's energy is the sum over its atom pairs; the explanation is these curves.",
)
def explain_pairs(model=None, x=None, target=None, *, params, token, progress) -> Explanation:
    """Ridge regression on pair type × distance-bin features; relevance = bin weights (pair types × bins)."""
    return _fit("pairs", "ridge.pairs", x, params, token, progress)
