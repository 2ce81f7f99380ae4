"""Interpretable linear models of molecular energies: atom counts and pair potentials.

Representations (all lengths in Bohr)
    * **Atom counts** (:func:`atom_count_features`): one column per element present,
      the number of atoms of that element.
    * **Pair type × Gaussian distance bins** (:class:`PairBasis`, :func:`pair_features`):
      every atom pair (i < j) at distance d adds exp(−(d − μ_m)² / (2σ²)) to the
      bins m = 1..B of its pair type t (HH, HC, …, SS over the elements present,
      ordered by atomic number). The (T × B) array is flattened per molecule.
      Defaults: B = 20 bins, σ = 0.5 Bohr, centres μ evenly spaced over
      [0, 8] Bohr (bonded and next-neighbour distances of QM7 lie within; the
      widest QM7 pair lies near 14 Bohr, so the longest pairs contribute ~0).
      Featurisation is vectorised: molecules are sorted by size and processed in
      chunks; per chunk the pairwise distances come from broadcasting and the
      bins are accumulated into (chunk × T × B) by one batched matrix product of
      the pair-type one-hot with the Gaussians. The cancel token is checked and
      progress reported between chunks.

Models (:func:`fit_molecule_model`)
    Ridge regression (sklearn ``RidgeCV``, λ chosen by efficient leave-one-out
    cross-validation over a log grid, on the training part) on raw (unscaled)
    features, so the weights are energies. The data are split into
    train / validation / test, stratified on the target through quantile bins
    of the energy (fixed seed). MAEs are in the data's energy unit. :func:`fit_warnings`
    adds plain notes when the model learned its training molecules by heart.

Explanations
    * Atom model: :meth:`MoleculeModel.element_energies`, the weight per element.
    * Pair model: :meth:`MoleculeModel.pair_potential`,
      E_t(d) = Σ_m w_{t,m} exp(−(d − μ_m)² / (2σ²)), which equals the model's
      response to a lone pair of type t at distance d minus the intercept (tested).
    * Local: :meth:`MoleculeModel.decompose` splits a molecule's prediction into
      pair contributions (pair model) or atom contributions (atom model) plus
      the intercept; they add up to the prediction (tested).

Reference bond lengths: :func:`load_bond_lengths` reads ``resources/bond_lengths.csv``
(or an edited copy).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import CancelToken, InputError, MethodError, Step, no_progress
from ..data.molecules import MoleculeSet, _parse_element, count_molecules, symbol

DEFAULT_BINS = 20
DEFAULT_SIGMA = 0.5  # Bohr
DEFAULT_RANGE = (0.0, 8.0)  # Bohr, centres of the first and last bin
#: A potential is backed by data where at least this many training pairs lie within ±σ.
SUPPORT_MIN_PAIRS = 5
#: Distances (Bohr) at which training pairs are counted for the data support of a potential.
HISTOGRAM_EDGES = np.arange(0.0, 40.0 + 1e-9, 0.05)
DEFAULT_ALPHAS = tuple(np.logspace(-8, 3, 12))
CHUNK_PAIRS = 4_000_000  # pair × bin values per chunk (32 MB float64)
#: A test error above this multiple of the training error is reported as overfitting.
OVERFIT_RATIO = 3.0


# --- representations ---------------------------------------------------------------------------


def atom_count_features(mols: MoleculeSet, elements=None) -> np.ndarray:
    """Counts (M, E) of each element (atomic numbers ``elements``, default: those present)."""
    elements = tuple(mols.elements if elements is None else elements)
    _check_elements(mols, elements)
    molecule = np.repeat(np.arange(len(mols)), mols.n_atoms)
    column = np.searchsorted(np.asarray(elements), mols.numbers)
    out = np.zeros((len(mols), len(elements)), dtype=np.float64)
    np.add.at(out, (molecule, column), 1.0)
    return out


def _check_elements(mols: MoleculeSet, elements) -> None:
    unknown = sorted(set(mols.elements) - set(int(z) for z in elements))
    if unknown:
        raise MethodError(f"The molecules contain {', '.join(symbol(z) for z in unknown)}, which the model "
                          f"has not seen (it knows {', '.join(symbol(z) for z in elements)}).")


@dataclass(frozen=True)
class PairBasis:
    """Pair types over ``elements`` and Gaussian distance bins (lengths in Bohr)."""

    elements: tuple[int, ...]
    n_bins: int = DEFAULT_BINS
    sigma: float = DEFAULT_SIGMA
    r_min: float = DEFAULT_RANGE[0]
    r_max: float = DEFAULT_RANGE[1]

    def __post_init__(self):
        if self.n_bins < 1:
            raise MethodError("The number of distance bins must be at least 1.")
        if not self.sigma > 0:
            raise MethodError("σ (the bin width) must be positive.")
        if not self.r_max >= self.r_min:
            raise MethodError("The distance range must have its end at or above its start.")

    @property
    def centers(self) -> np.ndarray:
        return np.linspace(self.r_min, self.r_max, self.n_bins)

    @property
    def pair_types(self) -> list[tuple[int, int]]:
        e = self.elements
        return [(e[a], e[b]) for a in range(len(e)) for b in range(a, len(e))]

    @property
    def pair_labels(self) -> list[str]:
        return [f"{symbol(a)}-{symbol(b)}" for a, b in self.pair_types]

    @property
    def n_features(self) -> int:
        return len(self.pair_types) * self.n_bins

    def type_table(self) -> np.ndarray:
        """(E + 1, E + 1) pair-type index by element index; index E (padding) maps to T (dropped)."""
        e, t = len(self.elements), 0
        table = np.full((e + 1, e + 1), len(self.pair_types), dtype=np.int64)
        for a in range(e):
            for b in range(a, e):
                table[a, b] = table[b, a] = t
                t += 1
        return table

    def pair_index(self, pair) -> int:
        """Index of a pair type given as ``"C-H"``, ``"CH"``-like tuples or atomic numbers (any order)."""
        if isinstance(pair, str):
            parts = pair.replace("–", "-").split("-") if "-" in pair or "–" in pair else _split_symbols(pair)
        else:
            parts = list(pair)
        z = sorted(_parse_element(p) or -1 for p in parts)
        if len(z) != 2 or tuple(z) not in self.pair_types:
            raise MethodError(f"'{pair}' is not one of the pair types: {', '.join(self.pair_labels)}.")
        return self.pair_types.index(tuple(z))

    def gaussians(self, d: np.ndarray) -> np.ndarray:
        d = np.asarray(d, dtype=np.float64)
        return np.exp(-((d[..., None] - self.centers) ** 2) / (2.0 * self.sigma ** 2))

    def to_dict(self) -> dict:
        return {"elements": [symbol(z) for z in self.elements], "n_bins": self.n_bins, "sigma": self.sigma,
                "r_min": self.r_min, "r_max": self.r_max, "unit": "bohr"}


def _split_symbols(text: str) -> list[str]:
    out = []
    for ch in text.strip():
        if ch.isupper() or not out:
            out.append(ch)
        else:
            out[-1] += ch
    return out


def _element_index(numbers: np.ndarray, elements) -> np.ndarray:
    """Element index per atom, len(elements) for padding (atomic number 0)."""
    lookup = np.full(max(max(elements), int(numbers.max(initial=0))) + 1, len(elements), dtype=np.int64)
    lookup[np.asarray(elements)] = np.arange(len(elements))
    return lookup[numbers]


def pair_features(
    mols: MoleculeSet, basis: PairBasis, *, cancel: CancelToken | None = None, progress=no_progress,
    chunk: int | None = None,
) -> np.ndarray:
    """Pair-type × distance-bin features (M, T · B), summed over the pairs of each molecule."""
    _check_elements(mols, basis.elements)
    T, B = len(basis.pair_types), basis.n_bins
    out = np.zeros((len(mols), T, B), dtype=np.float64)
    order = np.argsort(mols.n_atoms, kind="stable")
    table = basis.type_table()
    eye = np.eye(T + 1)[:, :T]
    if chunk is None:  # as many molecules as keep a chunk at CHUNK_PAIRS pair × bin values
        widest = int(mols.n_atoms.max(initial=2))
        chunk = max(CHUNK_PAIRS // (max(widest * (widest - 1) // 2, 1) * B), 1)
    size = int(chunk)
    start = 0
    while start < len(order):
        idx = order[start:start + size]
        numbers, positions = mols.padded(idx)
        A = numbers.shape[1]
        if A >= 2:
            i, j = np.triu_indices(A, 1)
            d = np.sqrt(((positions[:, i] - positions[:, j]) ** 2).sum(-1))  # (k, P)
            el = _element_index(numbers, basis.elements)
            onehot = eye[table[el[:, i], el[:, j]]]  # (k, P, T), padding rows are zero
            out[idx] = np.matmul(onehot.transpose(0, 2, 1), basis.gaussians(d))
        start += len(idx)
        if cancel is not None:
            cancel.check()
        progress(start / len(order), Step(f"Featurised {start} of {len(order)} molecules", start, len(order), "molecules"))
    return out.reshape(len(mols), T * B)


def molecule_pairs(mols: MoleculeSet, index: int):
    """(i, j, distance, atomic numbers a, b) of every pair i < j of one molecule."""
    numbers, positions = mols.molecule(index)
    i, j = np.triu_indices(len(numbers), 1)
    d = np.sqrt(((positions[i] - positions[j]) ** 2).sum(-1))
    return i, j, d, numbers[i], numbers[j]


# --- split --------------------------------------------------------------------------------------


def stratified_split(y: np.ndarray, test: float = 0.2, validation: float = 0.1, seed: int = 0,
                     n_bins: int = 10) -> dict[str, np.ndarray]:
    """Train / validation / test row indices, stratified on quantile bins of ``y``."""
    from sklearn.model_selection import train_test_split

    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if not (0 < test < 1 and 0 <= validation < 1 and test + validation < 1):
        raise MethodError("The test and validation fractions must be between 0 and 1 and sum to less than 1.")
    n_bins = int(max(1, min(n_bins, n // 10)))
    if n < 10:
        raise MethodError(f"Only {count_molecules(n)} with energies; at least 10 are needed to train and test.")
    edges = np.quantile(y, np.linspace(0, 1, n_bins + 1)[1:-1])
    strata = np.searchsorted(edges, y, side="right")
    rows = np.arange(n)
    rest, test_rows = train_test_split(rows, test_size=test, random_state=seed, stratify=strata)
    if validation > 0:
        train_rows, val_rows = train_test_split(rest, test_size=validation / (1 - test), random_state=seed,
                                                stratify=strata[rest])
    else:
        train_rows, val_rows = rest, rows[:0]
    return {"train": np.sort(train_rows), "validation": np.sort(val_rows), "test": np.sort(test_rows)}


# --- models -------------------------------------------------------------------------------------


@dataclass
class Decomposition:
    """A molecule's prediction as parts plus the intercept.

    ``parts`` are pair contributions (pair model; ``i``, ``j``, ``distance`` set)
    or atom contributions (atom model; ``j`` = -1, distance 0). ``atom_contributions``
    gives each atom its own part (atom model) or half of each of its pairs (pair model).
    ``parts.sum() + intercept == prediction``.
    """

    name: str
    kind: str
    i: np.ndarray
    j: np.ndarray
    labels: list[str]
    distance: np.ndarray
    parts: np.ndarray
    intercept: float
    prediction: float
    atom_contributions: np.ndarray
    numbers: np.ndarray
    positions: np.ndarray  # Bohr

    def ranked(self) -> np.ndarray:
        """Part indices by |contribution|, largest first."""
        return np.argsort(-np.abs(self.parts), kind="stable")


@dataclass
class MoleculeModel:
    """A fitted ridge model on atom counts (``kind="atoms"``) or pair features (``kind="pairs"``)."""

    kind: str
    elements: tuple[int, ...]
    basis: PairBasis | None
    model: object
    coef: np.ndarray
    intercept: float
    alpha: float
    metrics: dict
    split: dict[str, np.ndarray]
    energy_unit: str = "kcal/mol"
    predictions: np.ndarray | None = None  # on the training set, all molecules
    seconds: dict = field(default_factory=dict)
    #: Pair model: training pairs per pair type in bins of :data:`HISTOGRAM_EDGES` (Bohr), (T, H).
    distance_histogram: np.ndarray | None = None
    #: Plain warnings about the fit (see :func:`fit_warnings`), shown in the GUI and printed by the CLI.
    notes: list[str] = field(default_factory=list)

    def features(self, mols: MoleculeSet, *, cancel=None, progress=no_progress) -> np.ndarray:
        if self.kind == "atoms":
            return atom_count_features(mols, self.elements)
        return pair_features(mols, self.basis, cancel=cancel, progress=progress)

    def predict(self, mols: MoleculeSet, **kw) -> np.ndarray:
        return self.features(mols, **kw) @ self.coef + self.intercept

    # global explanations
    def element_energies(self) -> dict[str, float]:
        """Atom model: the energy per atom of each element."""
        if self.kind != "atoms":
            raise MethodError("Per-element energies come from the atom-count model.")
        return {symbol(z): float(w) for z, w in zip(self.elements, self.coef)}

    def weights(self) -> np.ndarray:
        """Pair model: bin weights (T, B)."""
        if self.kind != "pairs":
            raise MethodError("Pair potentials come from the pair model.")
        return self.coef.reshape(len(self.basis.pair_types), self.basis.n_bins)

    def pair_potential(self, pair, distances) -> np.ndarray:
        """E_t(d) = Σ_m w_{t,m} exp(−(d − μ_m)² / (2σ²)) at ``distances`` (Bohr)."""
        weights = self.weights()
        return self.basis.gaussians(distances) @ weights[self.basis.pair_index(pair)]

    def potentials(self, distances=None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(distances, {pair label: curve}) for every pair type; default grid over the bin range."""
        if distances is None:
            distances = np.linspace(max(self.basis.r_min, 0.5), self.basis.r_max, 400)
        distances = np.asarray(distances, dtype=np.float64)
        curves = self.basis.gaussians(distances) @ self.weights().T  # (D, T)
        return distances, {label: curves[:, t] for t, label in enumerate(self.basis.pair_labels)}

    def pair_support(self, distances=None, minimum_pairs: int = SUPPORT_MIN_PAIRS) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(distances, {pair label: bool}) -- where training pairs of that type back the curve.

        A distance d is backed when at least ``minimum_pairs`` training pairs of the type lie
        within ±σ of it (counted from :attr:`distance_histogram`). Elsewhere the ridge weights
        are barely constrained and the potential is an extrapolation, not chemistry.
        """
        if self.kind != "pairs" or self.distance_histogram is None:
            raise MethodError("Data support is defined for the pair model.")
        if distances is None:
            distances, _ = self.potentials()
        distances = np.asarray(distances, dtype=np.float64)
        counts = self.distance_histogram  # (T, H) over HISTOGRAM_EDGES
        cumulative = np.concatenate([np.zeros((counts.shape[0], 1)), np.cumsum(counts, axis=1)], axis=1)
        sigma = self.basis.sigma
        lo = np.searchsorted(HISTOGRAM_EDGES, distances - sigma, side="left")
        hi = np.searchsorted(HISTOGRAM_EDGES, distances + sigma, side="right")
        lo, hi = np.clip(lo, 0, counts.shape[1]), np.clip(hi, 0, counts.shape[1])
        near = cumulative[:, hi] - cumulative[:, lo]  # (T, D)
        return distances, {label: near[t] >= minimum_pairs for t, label in enumerate(self.basis.pair_labels)}

    # local explanation
    def decompose(self, mols: MoleculeSet, index: int) -> Decomposition:
        numbers, positions = mols.molecule(index)
        _check_elements(mols.subset([index]), self.elements)
        if self.kind == "atoms":
            w = dict(zip(self.elements, self.coef))
            parts = np.array([w[int(z)] for z in numbers], dtype=np.float64)
            n = len(numbers)
            return Decomposition(
                name=mols.names[index], kind="atoms", i=np.arange(n), j=np.full(n, -1),
                labels=[symbol(int(z)) for z in numbers], distance=np.zeros(n), parts=parts,
                intercept=self.intercept, prediction=float(parts.sum() + self.intercept),
                atom_contributions=parts.copy(), numbers=numbers, positions=positions)
        i, j, d, za, zb = molecule_pairs(mols, index)
        table = self.basis.type_table()
        el = _element_index(numbers, self.elements)
        t = table[el[i], el[j]]
        parts = (self.basis.gaussians(d) * self.weights()[t]).sum(-1)
        atom = np.zeros(len(numbers))
        np.add.at(atom, i, parts / 2)
        np.add.at(atom, j, parts / 2)
        labels = [self.basis.pair_labels[k] for k in t]
        return Decomposition(
            name=mols.names[index], kind="pairs", i=i, j=j, labels=labels, distance=d, parts=parts,
            intercept=self.intercept, prediction=float(parts.sum() + self.intercept),
            atom_contributions=atom, numbers=numbers, positions=positions)

    def summary(self) -> dict:
        out = {"kind": self.kind, "elements": [symbol(z) for z in self.elements], "alpha": self.alpha,
               "intercept": self.intercept, "energy_unit": self.energy_unit, "metrics": dict(self.metrics),
               "seconds": dict(self.seconds), "notes": list(self.notes)}
        if self.basis is not None:
            out["basis"] = self.basis.to_dict()
        return out


def fit_warnings(metrics: dict, n_features: int, kind: str, unit: str = "kcal/mol") -> list[str]:
    """Plain warnings when the model learned its training molecules by heart.

    Warns when the test error exceeds :data:`OVERFIT_RATIO` times the training error, and
    when there are fewer training molecules than features (pair × distance-bin columns).
    """
    explained = "curves" if kind == "pairs" else "energies per element"
    remedy = "add molecules or use the atom-count model" if kind == "pairs" else "add molecules"
    notes = []
    train, test = metrics.get("train_mae", np.nan), metrics.get("test_mae", np.nan)
    if np.isfinite(train) and np.isfinite(test) and test > OVERFIT_RATIO * train and test > 0:
        times = f"{test / train:.0f} times" if train > 0 else "far above"
        notes.append(f"The test error ({test:.3g} {unit}) is {times} the training error ({train:.3g} {unit}): "
                     f"the model has learned the training molecules by heart, so the {explained} may not mean "
                     f"much; {remedy}.")
    n_train = int(metrics.get("n_train", 0))
    if n_train < n_features:
        what = "pair × distance-bin features" if kind == "pairs" else "elements"
        remedy = "add molecules, use fewer distance bins or use the atom-count model" if kind == "pairs" else remedy
        notes.append(f"The training set is small: {n_train} molecules for {n_features} {what}, so the model can "
                     f"fit them by heart and the {explained} may not mean much; {remedy}.")
    return notes


def pair_distance_histogram(mols: MoleculeSet, basis: PairBasis) -> np.ndarray:
    """Counts of atom pairs per pair type in bins of :data:`HISTOGRAM_EDGES`, shape (T, H)."""
    counts = np.zeros((len(basis.pair_types), len(HISTOGRAM_EDGES) - 1), dtype=np.int64)
    table = basis.type_table()
    element_index = np.full(max(basis.elements) + 1, len(basis.elements), dtype=np.int64)
    element_index[list(basis.elements)] = np.arange(len(basis.elements))
    for i in range(len(mols)):
        numbers, positions = mols.molecule(i)
        if len(numbers) < 2:
            continue
        a, b = np.triu_indices(len(numbers), k=1)
        distances = np.linalg.norm(positions[a] - positions[b], axis=1)
        kinds = element_index[np.asarray(numbers)]
        types = table[kinds[a], kinds[b]]
        bins = np.clip(np.searchsorted(HISTOGRAM_EDGES, distances, side="right") - 1, 0, counts.shape[1] - 1)
        np.add.at(counts, (types, bins), 1)
    return counts


def fit_molecule_model(
    mols: MoleculeSet, kind: str = "pairs", *, n_bins: int = DEFAULT_BINS, sigma: float = DEFAULT_SIGMA,
    r_min: float = DEFAULT_RANGE[0], r_max: float = DEFAULT_RANGE[1], alphas=DEFAULT_ALPHAS,
    test: float = 0.2, validation: float = 0.1, seed: int = 0,
    cancel: CancelToken | None = None, progress=no_progress,
) -> MoleculeModel:
    """Featurise, split (stratified on the energy), pick λ by CV on the training part, report MAEs."""
    import time

    from sklearn.linear_model import RidgeCV

    if kind not in ("atoms", "pairs"):
        raise MethodError("The molecule model is 'atoms' (atom counts) or 'pairs' (pair potentials).")
    if mols.energies is None:
        raise InputError("Training needs an energy for every molecule; load an energies file.")
    y = mols.energies
    if not np.all(np.isfinite(y)):
        raise InputError("Some energies are not finite numbers; every molecule needs a finite energy.")
    if len(y) > 1 and np.ptp(y) == 0:
        raise InputError(f"All {count_molecules(len(y))} have the same energy ({y[0]:.6g}); there is nothing to "
                         f"learn. Check the energies file.")
    elements = mols.elements
    basis = PairBasis(elements, int(n_bins), float(sigma), float(r_min), float(r_max)) if kind == "pairs" else None
    t0 = time.perf_counter()
    if kind == "atoms":
        X = atom_count_features(mols, elements)
    else:
        X = pair_features(mols, basis, cancel=cancel,
                          progress=lambda f, m="", p=None: progress(0.8 * f, m))
    t1 = time.perf_counter()
    split = stratified_split(y, test=test, validation=validation, seed=seed)
    if cancel is not None:
        cancel.check()
    progress(0.85, "Fitting ridge regression (λ by cross-validation)")
    tr = split["train"]
    model = RidgeCV(alphas=np.asarray(alphas, dtype=np.float64)).fit(X[tr], y[tr])
    t2 = time.perf_counter()
    coef = np.asarray(model.coef_, dtype=np.float64).ravel()
    intercept = float(model.intercept_)
    pred = X @ coef + intercept
    metrics = {f"{part}_mae": float(np.mean(np.abs(pred[rows] - y[rows]))) if len(rows) else float("nan")
               for part, rows in split.items()}
    metrics.update({f"n_{part}": int(len(rows)) for part, rows in split.items()})
    metrics["alpha"] = float(model.alpha_)
    progress(1.0, f"Test MAE {metrics['test_mae']:.2f} {mols.energy_unit}")
    notes = fit_warnings(metrics, X.shape[1], kind, mols.energy_unit)
    return MoleculeModel(kind=kind, elements=elements, basis=basis, model=model, coef=coef, intercept=intercept,
                         alpha=float(model.alpha_), metrics=metrics, split=split, energy_unit=mols.energy_unit,
                         predictions=pred, seconds={"features": t1 - t0, "fit": t2 - t1},
                         distance_histogram=(pair_distance_histogram(mols.subset(list(tr)), basis)
                                             if basis is not None else None),
                         notes=notes)


# --- reference bond lengths ---------------------------------------------------------------------


@dataclass(frozen=True)
class BondLength:
    pair: str  # as written in the file, e.g. "C-H"
    elements: tuple[int, int]  # atomic numbers, ascending
    bond: str  # "single", "double" or "triple"
    length_bohr: float
    source: str = ""


BOND_KINDS = ("single", "double", "triple")


def load_bond_lengths(path: str | Path | None = None) -> list[BondLength]:
    """Read the reference bond lengths (default ``resources/bond_lengths.csv``).

    Columns ``pair, bond, length_bohr, source``; lines starting with ``#`` are
    comments. ``pair`` is two element symbols joined by '-' in any order.
    """
    from ..resources import resource_path

    path = Path(path) if path is not None else resource_path("bond_lengths.csv")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise InputError(f"The bond-length table {path.name} cannot be read: {exc.strerror or exc}.") from None
    rows = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(rows)
    need = {"pair", "bond", "length_bohr"}
    if not reader.fieldnames or not need <= {f.strip() for f in reader.fieldnames}:
        raise InputError(f"{path.name} needs the columns pair, bond, length_bohr (and optionally source).")
    out = []
    for k, row in enumerate(reader, start=2):
        row = {(key or "").strip(): (v or "").strip() for key, v in row.items()}
        parts = row["pair"].replace("–", "-").split("-")
        z = [_parse_element(p) for p in parts]
        if len(z) != 2 or None in z:
            raise InputError(f"{path.name}, row {k}: '{row['pair']}' is not a pair like 'C-H'.")
        bond = row["bond"].lower()
        if bond not in BOND_KINDS:
            raise InputError(f"{path.name}, row {k}: bond '{row['bond']}' is not single, double or triple.")
        try:
            length = float(row["length_bohr"])
        except ValueError:
            raise InputError(f"{path.name}, row {k}: length '{row['length_bohr']}' is not a number.") from None
        out.append(BondLength(row["pair"], tuple(sorted(z)), bond, length, row.get("source", "")))
    return out


def bond_lengths_for(pair, table: list[BondLength] | None = None) -> list[BondLength]:
    """The reference lengths of one pair type (``"O-H"``, ``("H", "O")``, ...)."""
    table = load_bond_lengths() if table is None else table
    parts = pair.replace("–", "-").split("-") if isinstance(pair, str) else list(pair)
    z = tuple(sorted(_parse_element(p) or -1 for p in parts))
    return [b for b in table if b.elements == z]
