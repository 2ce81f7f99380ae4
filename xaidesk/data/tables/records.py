"""What a table becomes: the loaded table with its guessed roles, and the numeric feature matrix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core import InputError
from .columns import ROLES, TableIssue, _is_numeric_dtype, find_issues

DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar", " ": "space"}


# --- loaded and prepared tables ---------------------------------------------------------------


@dataclass
class TableSettings:
    """How the file was read (shown to the person; any of it can be forced on reload)."""

    delimiter: str | None = None
    decimal: str = "."
    thousands: str | None = None
    encoding: str = "utf-8"
    header: bool = True
    sheet: str | None = None
    kind: str = "csv"

    def describe(self) -> str:
        if self.kind == "xlsx":
            return f"Excel sheet '{self.sheet}'"
        delimiter = DELIMITER_NAMES.get(self.delimiter or ",", repr(self.delimiter))
        text = f"{delimiter}-separated, decimal '{self.decimal}', {self.encoding}"
        if self.thousands:
            text += f", thousands '{self.thousands}'"
        return text + ("" if self.header else ", no header row")

    def to_dict(self) -> dict:
        return {"delimiter": self.delimiter, "decimal": self.decimal, "thousands": self.thousands,
                "encoding": self.encoding, "header": self.header, "sheet": self.sheet, "kind": self.kind}


@dataclass
class LoadedTable:
    """A table as read from the file, before any choice is applied.

    Attributes
    ----------
    frame
        The pandas DataFrame, one row per data line in file order (index 0..N-1).
        Numeric-looking columns are float64/int64; other columns are text.
    path
        Where it came from.
    settings
        Detected (or forced) delimiter, decimal separator, encoding, ...
    roles
        Guessed role per column (see :data:`ROLES`); edit it and pass it to
        :func:`prepare_features`, or call :meth:`set_role`.
    reasons
        Why each role was guessed (one short phrase per column, for tooltips).
    notices
        Plain notes about how the file was read (encoding fallback, no header, ...).
    """

    frame: "object"
    path: Path
    settings: TableSettings
    roles: dict[str, str]
    reasons: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    @property
    def n_rows(self) -> int:
        return int(len(self.frame))

    def set_role(self, column: str, role: str) -> None:
        if column not in self.roles:
            raise InputError(f"The table has no column '{column}'.")
        if role not in ROLES:
            raise InputError(f"'{role}' is not a column role; choose one of: {', '.join(ROLES)}.")
        if role == "target":
            for other, r in self.roles.items():
                if r == "target" and other != column:
                    self.roles[other] = "ignore"
        self.roles[column] = role

    def numeric_columns(self) -> list[str]:
        return [c for c in self.columns if _is_numeric_dtype(self.frame[c])]

    def issues(self, roles: dict[str, str] | None = None) -> list[TableIssue]:
        """The problems for the given roles (default: the current ones)."""
        return find_issues(self.frame, roles or self.roles)

    def column_summary(self) -> list[dict]:
        """One dict per column: name, role, reason, dtype, distinct values, missing cells, min/mean/max."""
        rows = []
        for name in self.columns:
            series = self.frame[name]
            numeric = _is_numeric_dtype(series)
            entry = {
                "name": name, "role": self.roles.get(name, "ignore"), "reason": self.reasons.get(name, ""),
                "numeric": numeric, "distinct": int(series.nunique(dropna=True)),
                "missing": int(series.isna().sum()),
            }
            if numeric and series.notna().any():
                values = series.to_numpy(dtype=np.float64, na_value=np.nan)
                entry.update(min=float(np.nanmin(values)), mean=float(np.nanmean(values)), max=float(np.nanmax(values)))
            rows.append(entry)
        return rows


@dataclass
class FeatureMatrix:
    """The numeric data an analysis runs on.

    Attributes
    ----------
    values
        float64 array (N, F), no missing values.
    names
        The F feature names.
    row_ids
        0-based row numbers in the file (data rows, header excluded), length N.
    target
        The target column's values for the kept rows (numeric float64 where the
        column is numeric, else the text labels), or ``None``.
    target_name
        Its column name, or ``None``.
    metadata
        ``{column: values}`` for the metadata columns, for the kept rows.
    notices
        One plain sentence per applied choice (including defaults) and per
        issue resolved, so that nothing happened silently.
    choices
        The choice key applied to every issue key.
    """

    values: np.ndarray
    names: list[str]
    row_ids: np.ndarray
    target: np.ndarray | None = None
    target_name: str | None = None
    metadata: dict[str, np.ndarray] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    choices: dict[str, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.values.shape[1])


def feature_matrix_from_array(values: np.ndarray, names: list[str] | None = None) -> FeatureMatrix:
    """Wrap a plain (N, F) array (row ids 0..N-1) for the table pipeline."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise InputError(f"A table must be two-dimensional (rows x columns); got shape {values.shape}.")
    if not np.all(np.isfinite(values)):
        raise InputError("The table contains missing or infinite values; remove or fill them first.")
    names = list(names) if names is not None else [f"feature {i + 1}" for i in range(values.shape[1])]
    if len(names) != values.shape[1]:
        raise InputError(f"{len(names)} feature names were given for {values.shape[1]} columns.")
    return FeatureMatrix(values=values, names=names, row_ids=np.arange(values.shape[0]))
