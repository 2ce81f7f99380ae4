"""A generated loan table whose decisions follow rules written down here: the ground truth for the Tables demo.

Each row is an applicant; ``approved`` (1 or 0) is drawn from a logistic model of the
applicant's other columns, so every explanation can be checked against the rule that made the
decision. The rule (:data:`TRUE_EFFECTS`, :func:`decision_logit`):

- **affordability**: income relative to the amount asked, ``1.8 · log(income / amount / 2.5)``;
- **credit history**: ``+0.12`` per year, up to 15 years;
- **previous defaults**: ``−1.4`` each;
- **employment**: ``+0.05`` per year, up to 10 years;
- **a spurious postcode effect**: ``−1.2`` for postcodes 7000–7999, as if past decisions had
  been biased against one district; a fair model should not use it, and an explanation
  should reveal that this one does;
- a constant ``−0.6``.

``age``, ``children``, ``months_at_address`` and ``term_months`` have no effect of their own
(age is correlated with credit history and employment, which cannot exceed age − 18).
"""

from __future__ import annotations

import numpy as np

#: The columns that change the decision, and those that do not.
TRUE_EFFECTS = ("income_k", "loan_amount_k", "credit_history_years", "previous_defaults", "employment_years",
                "postcode")
NO_EFFECT = ("age", "children", "months_at_address", "term_months")
#: The postcodes the decisions were biased against.
BIASED_POSTCODES = (7000, 7999)
TARGET = "approved"
COLUMNS = ("age", "income_k", "loan_amount_k", "term_months", "credit_history_years", "previous_defaults",
           "employment_years", "children", "months_at_address", "postcode", TARGET)


def decision_logit(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each term of the decision's log-odds, per row (they add up to the logit; ``"constant"`` included)."""
    income = np.asarray(columns["income_k"], dtype=float)
    amount = np.asarray(columns["loan_amount_k"], dtype=float)
    postcode = np.asarray(columns["postcode"])
    return {
        "affordability": 1.8 * np.log(income / amount / 2.5),
        "credit_history_years": 0.12 * np.minimum(np.asarray(columns["credit_history_years"], dtype=float), 15),
        "previous_defaults": -1.4 * np.asarray(columns["previous_defaults"], dtype=float),
        "employment_years": 0.05 * np.minimum(np.asarray(columns["employment_years"], dtype=float), 10),
        "postcode": -1.2 * ((postcode >= BIASED_POSTCODES[0]) & (postcode <= BIASED_POSTCODES[1])),
        "constant": np.full(len(income), -0.6),
    }


def make_loan_table(n: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` generated applicants as columns (:data:`COLUMNS`), the decision drawn from :func:`decision_logit`."""
    rng = np.random.default_rng(seed)
    age = rng.integers(19, 75, n)
    adult_years = age - 18
    income = np.round(np.exp(rng.normal(np.log(38.0), 0.45, n)), 1)
    amount = np.round(np.clip(np.exp(rng.normal(np.log(12.0), 0.6, n)) * (income / 38.0) ** 0.5, 1.0, 150.0), 1)
    credit = np.minimum(adult_years, np.round(rng.gamma(2.0, 4.0, n))).astype(int)
    employment = np.minimum(adult_years, np.round(rng.exponential(6.0, n))).astype(int)
    columns = {
        "age": age,
        "income_k": income,
        "loan_amount_k": amount,
        "term_months": rng.choice([12, 24, 36, 48, 60], n),
        "credit_history_years": credit,
        "previous_defaults": np.minimum(rng.poisson(0.35, n), 4),
        "employment_years": employment,
        "children": np.minimum(rng.poisson(0.9, n), 6),
        "months_at_address": rng.integers(1, 240, n),
        "postcode": rng.integers(1000, 10000, n),
    }
    logit = sum(decision_logit(columns).values())
    columns[TARGET] = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    return {name: columns[name] for name in COLUMNS}


def ground_truth() -> dict:
    """The rule behind :func:`make_loan_table`, for the JSON written beside the demo table."""
    return {
        "target": TARGET,
        "decision": "approved ~ Bernoulli(sigmoid(logit)), logit = 1.8*log(income_k/loan_amount_k/2.5) "
                    "+ 0.12*min(credit_history_years, 15) - 1.4*previous_defaults "
                    "+ 0.05*min(employment_years, 10) - 1.2*[7000 <= postcode <= 7999] - 0.6",
        "true_effects": list(TRUE_EFFECTS),
        "no_effect": list(NO_EFFECT),
        "spurious": {"column": "postcode", "range": list(BIASED_POSTCODES), "logit": -1.2,
                     "why": "a district past decisions were biased against; a fair model should not use it"},
    }
