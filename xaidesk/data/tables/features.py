"""Apply the person's column roles and choices to a loaded table: the numeric feature matrix."""

from __future__ import annotations

import numpy as np

from ...core import InputError
from .columns import ROLES, _is_numeric_dtype, _to_number, find_issues
from .records import FeatureMatrix, LoadedTable

# --- applying choices -------------------------------------------------------------------------


def prepare_features(
    table: LoadedTable,
    roles: dict[str, str] | None = None,
    choices: dict[str, str] | None = None,
    columns: list[str] | None = None,
    how_to_choose: str = "Set the role of at least one numeric column to 'feature'.",
) -> FeatureMatrix:
    """Apply roles and choices, and return the numeric feature matrix.

    Parameters
    ----------
    table
        From :func:`load_table`.
    roles
        Role per column (default: ``table.roles``). Columns not named keep their role.
    choices
        ``{issue.key: choice.key}``; issues without an entry get their
        ``default`` and a notice saying so.
    columns
        Shortcut: exactly these columns are the features (all other feature
        columns become ``ignore``); unknown names raise :class:`InputError`.
    how_to_choose
        The sentence that ends the error when no feature column is left (the
        command line names its ``--columns`` option here).

    Order of application: non-numeric columns (ignore / as missing / metadata),
    constant columns, missing values (ignore column / impute median / drop
    rows), missing targets, then duplicate rows. ``row_ids`` keep the original
    0-based row numbers of the rows that remain.
    """
    frame = table.frame
    roles = {**table.roles, **(roles or {})}
    if columns is not None:
        unknown = [c for c in columns if c not in frame.columns]
        if unknown:
            raise InputError(
                f"The table has no column {', '.join(repr(c) for c in unknown)}; its columns are: "
                f"{', '.join(map(str, frame.columns))}."
            )
        for c in frame.columns:
            if c in columns:
                roles[c] = "feature"
            elif roles.get(c) == "feature":
                roles[c] = "ignore"
    for c, r in roles.items():
        if r not in ROLES:
            raise InputError(f"'{r}' is not a column role; choose one of: {', '.join(ROLES)}.")
    targets = [c for c in frame.columns if roles.get(c) == "target"]
    if len(targets) > 1:
        raise InputError(f"Only one column can be the target; {', '.join(targets)} are all marked as target.")
    choices = dict(choices or {})
    issues = find_issues(frame, roles)
    known = {i.key: i for i in issues}
    applied: dict[str, str] = {}
    notices: list[str] = []
    for issue in issues:
        choice = choices.get(issue.key, issue.default)
        if choice not in issue.choice_keys():
            raise InputError(
                f"'{choice}' is not an option for: {issue.message} Choose one of: {', '.join(issue.choice_keys())}."
            )
        applied[issue.key] = choice
        label = next(c.label for c in issue.choices if c.key == choice).lower()
        notices.append(f"{issue.message} {'Default applied' if issue.key not in choices else 'Chosen'}: {label}.")
    extra = sorted(set(choices) - set(known))
    if extra:
        notices.append(f"Choices for problems that do not occur were not needed: {', '.join(extra)}.")

    data = {}
    keep = np.ones(len(frame), dtype=bool)
    feature_names = []
    left_out: dict[str, str] = {}
    for c in frame.columns:
        if roles.get(c) != "feature":
            left_out[c] = _role_reason(roles.get(c, "ignore"), table.reasons.get(c, ""))
            continue
        if f"empty:{c}" in applied:
            left_out[c] = "has no values"
            continue
        key = f"non_numeric:{c}"
        if key in applied:
            if applied[key] == "ignore":
                left_out[c] = "holds text"
                continue
            if applied[key] == "metadata":
                roles[c] = "metadata"
                left_out[c] = "holds text (kept as metadata)"
                continue
            values = _to_number(frame[c]).to_numpy(dtype=np.float64, na_value=np.nan)
            missing = int(np.isnan(values).sum())
            # text cells became missing: handled like any missing values, default: leave out rows
            if missing:
                rule = choices.get(f"missing:{c}", "drop_rows")
                values = _handle_missing(c, values, rule, keep, notices)
                if values is None:
                    left_out[c] = "holds no numbers"
                    continue
        else:
            values = frame[c].to_numpy(dtype=np.float64, na_value=np.nan)
            rule = applied.get(f"missing:{c}")
            if rule is not None:
                values = _handle_missing(c, values, rule, keep, notices)
                if values is None:
                    left_out[c] = "has missing values (left out as chosen)"
                    continue
        if applied.get(f"constant:{c}") == "drop":
            left_out[c] = "has the same value in every row"
            continue
        data[c] = values
        feature_names.append(c)
    target_name = targets[0] if targets else None
    target = None
    if target_name is not None:
        series = frame[target_name]
        if _is_numeric_dtype(series):
            target = series.to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isinf(target).any():
                raise InputError(
                    f"The target column '{target_name}' holds an infinite value (first in row "
                    f"{int(np.flatnonzero(np.isinf(target))[0])}, counting data rows from 0). Replace it in the file."
                )
            keep &= ~np.isnan(target)
        else:
            target = series.astype("string").to_numpy(dtype=object, na_value=None)
            keep &= np.array([v is not None for v in target])
    if not feature_names:
        why = "; ".join(f"'{c}' {reason}" for c, reason in list(left_out.items())[:8])
        more = f" (and {len(left_out) - 8} more)" if len(left_out) > 8 else ""
        raise InputError(f"No numeric feature column is left: {why}{more}. {how_to_choose}")
    values = np.column_stack([data[c] for c in feature_names]).astype(np.float64)
    if applied.get("duplicates") == "drop":
        import pandas as pd

        duplicated = pd.DataFrame(values).duplicated().to_numpy()
        keep &= ~duplicated
    row_ids = np.flatnonzero(keep)
    values = values[keep]
    if not np.all(np.isfinite(values)):
        rows, cols = np.nonzero(~np.isfinite(values))
        bad = ", ".join(f"'{feature_names[j]}'" for j in np.unique(cols))
        raise InputError(
            f"The column{'s' if len(np.unique(cols)) > 1 else ''} {bad} hold{'' if len(np.unique(cols)) > 1 else 's'} "
            f"an infinite value (first in row {int(row_ids[rows[0]])}, counting data rows from 0); the analyses need "
            "finite numbers. "
            "Replace it in the file, or leave the column out."
        )
    if len(row_ids) < 3:
        raise InputError(
            f"Only {len(row_ids)} row{'s' if len(row_ids) != 1 else ''} would remain after handling missing values; "
            "an analysis needs at least 3. Choose 'fill with the median' or leave out the columns with gaps."
        )
    dropped = len(frame) - len(row_ids)
    if dropped:
        notices.append(f"{dropped} of {len(frame)} rows were left out; row numbers still refer to the file.")
    metadata = {
        c: frame[c].to_numpy()[keep] for c in frame.columns if roles.get(c) == "metadata"
    }
    return FeatureMatrix(
        values=np.ascontiguousarray(values), names=feature_names, row_ids=row_ids,
        target=None if target is None else target[keep], target_name=target_name,
        metadata=metadata, notices=notices, choices=applied,
    )


def _role_reason(role: str, reason: str) -> str:
    """Why a column that is not a feature was not used, in a few words."""
    if role == "target":
        return "is the target"
    described = f": {reason}" if reason else ""
    return f"is {'metadata' if role == 'metadata' else 'left out'}{described}"


def _handle_missing(column: str, values: np.ndarray, rule: str, keep: np.ndarray, notices: list[str]):
    missing = np.isnan(values)
    if not missing.any():
        return values
    if rule == "ignore_column":
        return None
    if rule == "impute_median":
        if missing.all():
            notices.append(f"The column '{column}' has no values at all; it was left out.")
            return None
        values = values.copy()
        values[missing] = np.nanmedian(values)
        return values
    keep &= ~missing
    return values
