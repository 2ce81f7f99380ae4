"""Molecule benchmark: featurise all 7101 QM7 molecules (pair type × 20 Gaussian distance bins).

    .venv/bin/python bench/bench_molecules.py [--runs 3]

Prints the seconds to read the XYZ files (once) and the median seconds over
--runs of the pair featurisation (target <= 5 s) and of the atom counts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xaidesk.data.molecules import load_molecules  # noqa: E402
from xaidesk.explain.molecule import PairBasis, atom_count_features, pair_features  # noqa: E402

QM7 = ROOT / ".." / "shared" / "data" / "qm7"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not (QM7 / "energies.txt").is_file():
        print(f"QM7 not found at {QM7.resolve()}; nothing to benchmark.")
        return 0
    t = time.perf_counter()
    mols = load_molecules(QM7 / "xyz", QM7 / "energies.txt")
    read_s = time.perf_counter() - t
    basis = PairBasis(mols.elements)
    times, count_times = [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        X = pair_features(mols, basis)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        atom_count_features(mols)
        count_times.append(time.perf_counter() - t)
    pair_s = statistics.median(times)
    print(f"molecules: {len(mols)}, atoms: {int(mols.n_atoms.sum())}, features: {X.shape[1]} "
          f"({len(basis.pair_types)} pair types x {basis.n_bins} bins)")
    print(f"read XYZ + energies: {read_s:.2f} s")
    print(f"pair features (median of {args.runs}): {pair_s:.3f} s  (target <= 5 s: "
          f"{'ok' if pair_s <= 5 else 'MISSED'})")
    print(f"atom counts (median of {args.runs}): {statistics.median(count_times):.4f} s")
    return 0 if pair_s <= 5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
