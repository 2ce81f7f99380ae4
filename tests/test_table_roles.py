"""Guessing column roles: category codes are metadata; counts, flags and scales are features; yes/no outcomes are targets."""

import numpy as np
import pandas as pd

from xaidesk.data.tables.columns import guess_roles


def test_codes_counts_flags_scales_and_outcomes():
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({
        "region": rng.integers(1, 4, n),            # 1, 2, 3: a category code
        "children": rng.integers(0, 4, n),          # a count from 0
        "previous_defaults": rng.integers(0, 2, n),  # a 0/1 flag
        "term_months": rng.choice([12, 24, 36, 48], n),  # a scale that skips values
        "income": rng.normal(50, 10, n),
        "approved": rng.integers(0, 2, n),          # a yes/no outcome
    })
    roles, reasons = guess_roles(frame)
    assert roles == {"region": "metadata", "children": "feature", "previous_defaults": "feature",
                     "term_months": "feature", "income": "feature", "approved": "target"}
    assert "category code" in reasons["region"] and "count" in reasons["children"]


def test_the_loan_demo_reads_with_its_target_and_every_feature():
    from xaidesk.data.tables import load_table
    from xaidesk.resources import resource_path

    table = load_table(resource_path("samples", "loans.csv"))
    assert table.roles["approved"] == "target"
    assert [c for c, r in table.roles.items() if r == "feature"] == [c for c in table.columns if c != "approved"]


def test_a_text_outcome_is_the_target_and_a_postcode_is_flagged_as_a_code():
    from xaidesk.data.tables.columns import looks_like_code

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"income": rng.normal(50, 10, 80), "postcode": rng.integers(1000, 9999, 80),
                          "approved": rng.choice(["yes", "no"], 80)})
    roles, reasons = guess_roles(frame)
    assert roles == {"income": "feature", "postcode": "feature", "approved": "target"}
    assert "code" in reasons["postcode"] and "proxy" in reasons["postcode"]
    assert [looks_like_code(n) for n in ("postcode", "zip", "branch_code", "income_k", "decoded", "zipper")] == \
        [True, True, True, False, False, False]
