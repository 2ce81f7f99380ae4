"""The generated loan table: reproducible, shipped as generated, and its decisions follow the rule written down."""

import json

import numpy as np
import pandas as pd

from xaidesk.data.loans import COLUMNS, NO_EFFECT, TARGET, TRUE_EFFECTS, decision_logit, make_loan_table
from xaidesk.data.tables import load_table
from xaidesk.resources import resource_path


def test_the_shipped_table_is_the_generators_output():
    shipped = pd.read_csv(resource_path("samples", "loans.csv"))
    generated = make_loan_table(2000, seed=0)
    assert list(shipped.columns) == list(COLUMNS)
    for column in COLUMNS:
        assert np.allclose(shipped[column].to_numpy(), generated[column]), column
    truth = json.loads(resource_path("samples", "loans.json").read_text())
    assert set(truth["true_effects"]) == set(TRUE_EFFECTS) and set(truth["no_effect"]) == set(NO_EFFECT)
    assert load_table(resource_path("samples", "loans.csv")).n_rows == 2000


def test_the_decisions_follow_the_written_rule():
    table = make_loan_table(20000, seed=1)
    terms = decision_logit(table)
    logit = sum(terms.values())
    # binned by the rule's own probability, the observed approval rate matches it
    probability = 1 / (1 + np.exp(-logit))
    bins = np.digitize(probability, [0.2, 0.4, 0.6, 0.8])
    for b in range(5):
        chosen = bins == b
        assert abs(table[TARGET][chosen].mean() - probability[chosen].mean()) < 0.03
    biased = (table["postcode"] >= 7000) & (table["postcode"] <= 7999)
    same_else = np.abs(logit - terms["postcode"]) < 0.5
    assert table[TARGET][biased & same_else].mean() < table[TARGET][~biased & same_else].mean() - 0.15


def test_a_fitted_model_finds_the_true_effects_and_not_the_others():
    from sklearn.linear_model import LogisticRegression

    table = make_loan_table(6000, seed=2)
    frame = pd.DataFrame({c: table[c] for c in COLUMNS})
    frame["affordability"] = np.log(frame["income_k"] / frame["loan_amount_k"])
    frame["biased_district"] = frame["postcode"].between(7000, 7999).astype(float)
    features = ["affordability", "credit_history_years", "previous_defaults", "biased_district", *NO_EFFECT]
    x = frame[features].to_numpy(float)
    fit = LogisticRegression(max_iter=5000).fit(x, frame[TARGET])
    coefficient = dict(zip(features, fit.coef_[0]))
    assert abs(coefficient["affordability"] - 1.8) < 0.3
    assert abs(coefficient["previous_defaults"] + 1.4) < 0.3
    assert abs(coefficient["biased_district"] + 1.2) < 0.3
    assert all(abs(coefficient[c]) < 0.05 for c in ("children", "term_months", "months_at_address"))
