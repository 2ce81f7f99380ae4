"""Open tables (CSV, TSV, Excel) safely and turn them into a numeric feature matrix.

The flow has two steps, so that nothing is decided silently:

1. :func:`load_table` reads the file. It sniffs the delimiter and the decimal
   separator, reads UTF-8 (a byte-order mark is fine), guesses a role for every
   column (:data:`ROLES`) and lists the problems it found as
   :class:`TableIssue` objects, each with a plain message and the choices a
   person can make (:class:`Choice`).
2. :func:`prepare_features` applies the person's roles and choices (or the
   documented defaults, which are then reported in ``notices``) and returns a
   :class:`FeatureMatrix`: float64 values, feature names, 0-based row ids in
   file order, and the target and metadata columns of the kept rows.

Every problem with the file itself is an :class:`~xaidesk.core.InputError`
whose message says what was wrong and what to do. The file is only read.

Modules: ``reading`` (files, encodings, delimiters, checks), ``columns`` (roles
and issues), ``records`` (the loaded table and the feature matrix),
``features`` (applying roles and choices).
"""

from .columns import MAX_DISTINCT_METADATA, ROLES, Choice, TableIssue, find_issues, guess_roles, pd_numeric_share
from .features import prepare_features
from .reading import (
    DELIMITERS,
    MAX_COLUMNS,
    MIN_ROWS,
    MISSING_TOKENS,
    TABLE_FILE_FILTER,
    TABLE_SUFFIXES,
    TableEncodingError,
    load_table,
)
from .records import DELIMITER_NAMES, FeatureMatrix, LoadedTable, TableSettings, feature_matrix_from_array

__all__ = [
    "Choice", "DELIMITERS", "DELIMITER_NAMES", "FeatureMatrix", "LoadedTable", "MAX_COLUMNS",
    "MAX_DISTINCT_METADATA", "MIN_ROWS", "MISSING_TOKENS", "ROLES", "TABLE_FILE_FILTER", "TABLE_SUFFIXES",
    "TableEncodingError", "TableIssue", "TableSettings", "feature_matrix_from_array", "find_issues",
    "guess_roles", "load_table", "pd_numeric_share", "prepare_features",
]
