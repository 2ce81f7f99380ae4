"""Column roles and table issues: the role guessed for each column and the problems offered as choices.

:func:`guess_roles` gives every column a role (:data:`ROLES`) with a short
reason; :func:`find_issues` lists the problems of the feature and target
columns as :class:`TableIssue` objects, each with the :class:`Choice` objects a
person can pick from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: Column roles. ``feature`` columns enter the analysis, ``target`` is what a
#: supervised model predicts, ``metadata`` columns are kept for grouping and
#: display (e.g. box plots by Channel), ``ignore`` columns are left out.
ROLES = ("feature", "target", "metadata", "ignore")

MAX_DISTINCT_METADATA = 12
_ID_NAME = re.compile(r"^(id|idx|index|key|nr|no|number|row|rowid|row_id|#|unnamed: ?0)$|(_id|id_)$|^id\b", re.I)
_CODE_NAME = re.compile(r"(post|postal|zip)[ _]?code|^zip$|^(area|region|country|branch|product|store)[ _]?(code|id)$"
                        r"|^code$|[ _]code$|phone", re.I)
_TARGET_NAME = re.compile(r"^(target|label|class|y|outcome|approved|defaulted|churn|churned|survived|diagnosis)$", re.I)


# --- issue and choice objects -----------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One option a person can pick for an issue: a key for code and a label for people."""

    key: str
    label: str


@dataclass(frozen=True)
class TableIssue:
    """A problem found in the table, with the choices offered for it.

    Attributes
    ----------
    key
        Stable identifier used in the ``choices`` dict of :func:`prepare_features`,
        e.g. ``"missing:Milk"``, ``"non_numeric:Region"``, ``"constant:Fresh"``,
        ``"duplicates"``, ``"missing_target:Price"``, ``"empty:Notes"``.
    kind
        ``"non_numeric"``, ``"missing"``, ``"constant"``, ``"duplicates"``, ``"missing_target"``
        or ``"empty"`` (a column without any value).
    column
        The column concerned (``None`` for whole-row issues such as duplicates).
    message
        One or two plain sentences: what was found.
    choices
        The options; ``default`` is the key used when the person chooses nothing.
    default
        Key of the default choice.
    count
        How many cells / rows are affected.
    """

    key: str
    kind: str
    column: str | None
    message: str
    choices: tuple[Choice, ...]
    default: str
    count: int = 0

    def choice_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.choices)

    def to_dict(self) -> dict:
        return {
            "key": self.key, "kind": self.kind, "column": self.column, "message": self.message,
            "choices": [{"key": c.key, "label": c.label} for c in self.choices],
            "default": self.default, "count": int(self.count),
        }


_NON_NUMERIC_CHOICES = (
    Choice("ignore", "Leave the column out of the analysis"),
    Choice("as_missing", "Treat the text cells as missing values"),
    Choice("metadata", "Keep it as a metadata column (for grouping)"),
)
_MISSING_CHOICES = (
    Choice("drop_rows", "Leave out the rows with a missing value"),
    Choice("impute_median", "Fill missing cells with the column's median"),
    Choice("ignore_column", "Leave the column out of the analysis"),
)
_CONSTANT_CHOICES = (
    Choice("drop", "Leave the column out (it carries no information)"),
    Choice("keep", "Keep it anyway"),
)
_DUPLICATE_CHOICES = (
    Choice("keep", "Keep all rows"),
    Choice("drop", "Keep only the first of each set of identical rows"),
)
_MISSING_TARGET_CHOICES = (Choice("drop_rows", "Leave out the rows without a target value"),)
_EMPTY_CHOICES = (Choice("drop", "Leave the column out (it has no values)"),)


def _is_numeric_dtype(series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series)) and not pd.api.types.is_bool_dtype(series)


# --- roles ------------------------------------------------------------------------------------


def guess_roles(frame) -> tuple[dict[str, str], dict[str, str]]:
    """Guess a role per column, with a short reason for each.

    - an integer column whose values are all distinct and either named like an
      id (``id``, ``index``, ``customer_id``, ...) or running 0/1, 2, 3, ... -> ignore;
    - an integer column with few distinct values (at most 12 and at most a
      tenth of the rows) numbered 1, 2, ..., k (e.g. Channel, Region) -> metadata; counts and
      0/1 flags (children, previous defaults) and scales (a 12/24/36-month term) -> feature;
    - a text column with few distinct values -> metadata, other text -> ignore;
    - a column named ``target``, ``label``, ``class``, ``y``, ``outcome`` or like a yes/no outcome
      (``approved``, ``defaulted``, ``churn``, ``survived``, ...) -> target (only the first; a text
      column needs 2 to 12 classes);
    - a numeric column named like a code (``postcode``, ``zip``, ``branch_code``) -> feature, with a
      reason that warns it is not an amount;
    - any other numeric column -> feature.
    """
    n = len(frame)
    roles: dict[str, str] = {}
    reasons: dict[str, str] = {}
    target_taken = False
    for c in frame.columns:
        series = frame[c]
        values = series.dropna()
        distinct = int(values.nunique())
        if not _is_numeric_dtype(series):
            text_values = values.astype(str)
            if _TARGET_NAME.match(str(c)) and not target_taken and 2 <= distinct <= MAX_DISTINCT_METADATA:
                roles[c], reasons[c] = "target", f"named like a target, with {distinct} classes"
                target_taken = True
            elif distinct <= MAX_DISTINCT_METADATA and distinct < max(3, n // 2):
                roles[c], reasons[c] = "metadata", f"text with {distinct} distinct values"
            elif (values.size and pd_numeric_share(text_values) >= 0.8):
                roles[c], reasons[c] = "feature", "mostly numbers, with some text cells"
            else:
                roles[c], reasons[c] = "ignore", "text (names or labels)"
            continue
        numbers = values.to_numpy(dtype=np.float64)
        integer = bool(numbers.size) and bool(np.all(np.isfinite(numbers))) and bool(np.all(numbers == np.round(numbers)))
        if integer and distinct == len(values) and n > 2 and (
            _ID_NAME.search(str(c)) or np.array_equal(np.sort(numbers), np.arange(numbers.min(), numbers.min() + len(numbers)))
        ):
            roles[c], reasons[c] = "ignore", "looks like a row number or identifier"
        elif _TARGET_NAME.match(str(c)) and not target_taken:
            roles[c], reasons[c] = "target", "named like a target"
            target_taken = True
        elif integer and distinct <= MAX_DISTINCT_METADATA and distinct <= max(2, n // 10) and distinct > 1:
            if _category_code(numbers):
                roles[c], reasons[c] = "metadata", f"whole numbers 1 to {distinct} (a category code)"
            else:
                roles[c], reasons[c] = "feature", f"whole numbers with {distinct} distinct values (a count, a flag or a scale)"
        elif looks_like_code(c):
            roles[c], reasons[c] = "feature", ("numbers named like a code (a postcode?): a model reads them as "
                                               "amounts and may use them as a proxy for where people live")
        else:
            roles[c], reasons[c] = "feature", "numbers"
    return roles, reasons


def looks_like_code(name: str) -> bool:
    """Whether a column's name says its numbers are a code (a postcode, a branch code) rather than an amount.

    A model reads such numbers as amounts (7999 is "more" than 7000) and may use them as a proxy for
    who lives where; what-if curves and counterfactuals over them mean moving house.
    """
    return bool(_CODE_NAME.search(str(name)))


def _category_code(numbers: np.ndarray) -> bool:
    """Whether whole numbers look like a category code: exactly 1, 2, ..., k (k ≥ 3, or 1 and 2).

    Counts and flags start at 0 (children, previous defaults, yes/no) and scales skip values
    (a 12-, 24- or 36-month term); those are features.
    """
    distinct = np.unique(numbers)
    return bool(distinct[0] == 1 and np.array_equal(distinct, np.arange(1, len(distinct) + 1)))


def pd_numeric_share(values) -> float:
    import pandas as pd

    if len(values) == 0:
        return 0.0
    return float(pd.to_numeric(values, errors="coerce").notna().mean())


# --- issues -----------------------------------------------------------------------------------


def find_issues(frame, roles: dict[str, str]) -> list[TableIssue]:
    """The problems of the feature and target columns under ``roles``, each with its choices."""
    issues: list[TableIssue] = []
    features = [c for c in frame.columns if roles.get(c) == "feature"]
    for c in features:
        series = frame[c]
        if not _is_numeric_dtype(series):
            values = series.dropna().astype(str)
            converted = _to_number(series)
            bad = int(series.notna().sum() - converted.notna().sum())
            examples = ", ".join(f"'{v}'" for v in values[_to_number(values).isna()].unique()[:3])
            issues.append(TableIssue(
                key=f"non_numeric:{c}", kind="non_numeric", column=c,
                message=f"The column '{c}' contains text ({bad} cell{'s' if bad != 1 else ''}, e.g. {examples}), "
                        "not only numbers.",
                choices=_NON_NUMERIC_CHOICES, default="ignore", count=bad,
            ))
            continue
        missing = int(series.isna().sum())
        if missing == len(series):
            issues.append(TableIssue(
                key=f"empty:{c}", kind="empty", column=c,
                message=f"The column '{c}' has no values at all (every cell is empty).",
                choices=_EMPTY_CHOICES, default="drop", count=missing,
            ))
            continue
        if missing:
            issues.append(TableIssue(
                key=f"missing:{c}", kind="missing", column=c,
                message=f"The column '{c}' has {missing} missing value{'s' if missing != 1 else ''}.",
                choices=_MISSING_CHOICES, default="drop_rows", count=missing,
            ))
        values = series.dropna()
        if len(values) and values.nunique() == 1:
            issues.append(TableIssue(
                key=f"constant:{c}", kind="constant", column=c,
                message=f"The column '{c}' has the same value ({values.iloc[0]}) in every row.",
                choices=_CONSTANT_CHOICES, default="drop", count=int(len(values)),
            ))
    for c in frame.columns:
        if roles.get(c) == "target":
            missing = int(frame[c].isna().sum())
            if missing:
                issues.append(TableIssue(
                    key=f"missing_target:{c}", kind="missing_target", column=c,
                    message=f"The target column '{c}' has {missing} missing value{'s' if missing != 1 else ''}.",
                    choices=_MISSING_TARGET_CHOICES, default="drop_rows", count=missing,
                ))
    if features:
        duplicated = int(frame.duplicated(subset=features).sum())
        if duplicated:
            issues.append(TableIssue(
                key="duplicates", kind="duplicates", column=None,
                message=f"{duplicated} row{'s are' if duplicated != 1 else ' is'} identical to an earlier row in the "
                        "feature columns.",
                choices=_DUPLICATE_CHOICES, default="keep", count=duplicated,
            ))
    return issues


def _to_number(series):
    import pandas as pd

    if _is_numeric_dtype(series):
        return series.astype(float)
    text = series.astype("string").str.strip()
    return pd.to_numeric(text, errors="coerce")
