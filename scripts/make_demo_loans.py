"""Write the generated loan table, resources/samples/loans.csv, and its ground truth, loans.json.

2000 applicants from :func:`xaidesk.data.loans.make_loan_table` (seed 0): the decision ``approved``
follows the rule in :mod:`xaidesk.data.loans`, including a spurious postcode effect, so that every
explanation of a model fitted on it can be checked against the truth.
"""

import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xaidesk.data.loans import COLUMNS, ground_truth, make_loan_table  # noqa: E402

OUT = ROOT / "resources" / "samples" / "loans.csv"


def main() -> None:
    table = make_loan_table(2000, seed=0)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(len(table["age"])):
            writer.writerow([f"{table[c][i]:g}" if isinstance(table[c][i], float) else int(table[c][i])
                             for c in COLUMNS])
    truth = {**ground_truth(), "rows": len(table["age"]), "seed": 0, "approved_share": float(table["approved"].mean())}
    OUT.with_suffix(".json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(table['age'])} rows; {truth['approved_share']:.0%} approved) and {OUT.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
