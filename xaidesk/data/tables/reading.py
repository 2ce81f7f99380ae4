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
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import InputError

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".xlsx")
TABLE_FILE_FILTER = "Tables (" + " ".join(f"*{s}" for s in TABLE_SUFFIXES) + ");;All files (*)"

#: Column roles. ``feature`` columns enter the analysis, ``target`` is what a
#: supervised model predicts, ``metadata`` columns are kept for grouping and
#: display (e.g. box plots by Channel), ``ignore`` columns are left out.
ROLES = ("feature", "target", "metadata", "ignore")

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar", " ": "space"}
MAX_DISTINCT_METADATA = 12
#: The most columns a table may have: wider tables cannot be shown or analysed usefully.
MAX_COLUMNS = 10_000
#: The fewest data rows an analysis can use.
MIN_ROWS = 3
MISSING_TOKENS = ("", "na", "n/a", "nan", "null", "none", "-", "?", "#n/a")
_ID_NAME = re.compile(r"^(id|idx|index|key|nr|no|number|row|rowid|row_id|#|unnamed: ?0)$|(_id|id_)$|^id\b", re.I)
_TARGET_NAME = re.compile(r"^(target|label|class|y|outcome)$", re.I)


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


# --- loading ----------------------------------------------------------------------------------


class TableEncodingError(InputError):
    """The file is not UTF-8. ``suggested_encoding`` can be passed to :func:`load_table` to read it anyway."""

    suggested_encoding = "latin-1"


def load_table(
    path: str | Path,
    *,
    delimiter: str | None = None,
    decimal: str | None = None,
    encoding: str | None = None,
    header: bool | None = None,
    sheet: str | int | None = None,
) -> LoadedTable:
    """Read a CSV/TSV/text table or an ``.xlsx`` sheet.

    Parameters
    ----------
    path
        The file.
    delimiter, decimal
        Force the field delimiter / decimal separator (default: sniffed).
    encoding
        Force the text encoding. By default the file must be UTF-8; a file in
        another encoding raises :class:`TableEncodingError`, whose message says
        to save it as UTF-8 or to read it as Latin-1 (``encoding="latin-1"``).
    header
        Force whether the first line holds column names (default: it does,
        unless every cell in it is a number).
    sheet
        The Excel sheet (name or 0-based index; default the first).

    Raises
    ------
    InputError
        Missing file, empty file, header only, one data row, no numeric column,
        ragged lines, not UTF-8, unreadable Excel file.
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise InputError(f"The file '{path}' does not exist. Check the name and folder.")
    if path.is_dir():
        raise InputError(f"'{path}' is a folder, not a table file. Choose a CSV or Excel file inside it.")
    if path.stat().st_size == 0:
        raise InputError(f"'{name}' is empty (0 bytes). Choose a table file with a header line and data rows.")
    suffix = path.suffix.lower()
    notices: list[str] = []
    if suffix in (".xls", ".ods"):
        raise InputError(
            f"'{name}' is an old Excel or OpenDocument spreadsheet, which cannot be read here. "
            "Save it as .xlsx or as CSV (UTF-8) and open that."
        )
    if suffix in (".xlsx", ".xlsm"):
        frame, settings = _read_xlsx(path, sheet, header, notices)
    else:
        data = path.read_bytes()
        if data[:4] == b"PK\x03\x04":
            raise InputError(f"'{name}' looks like an Excel file with the wrong name; rename it to .xlsx or save it as CSV.")
        text, used_encoding = _decode(data, name, encoding, notices)
        frame, settings = _parse_text(text, name, delimiter, decimal, header, notices)
        settings.encoding = used_encoding
    frame = _clean_frame(frame, name, notices)
    roles, reasons = guess_roles(frame)
    return LoadedTable(frame=frame, path=path, settings=settings, roles=roles, reasons=reasons, notices=notices)


def _decode(data: bytes, name: str, encoding: str | None, notices: list[str]) -> tuple[str, str]:
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"'{name}' is not a text table (it contains binary data). Choose a CSV, TSV or .xlsx file.")
    if encoding is None:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            encoding = "utf-16"
        else:
            try:
                return data.decode("utf-8-sig"), "utf-8"
            except UnicodeDecodeError as error:
                line = data[: error.start].count(b"\n") + 1
                raise TableEncodingError(
                    f"'{name}' is not UTF-8 text (the first unreadable character is on line {line}). "
                    "Save it as 'CSV UTF-8' in your spreadsheet program, or open it again choosing the "
                    "Latin-1 (Western European) encoding.",
                    details=str(error),
                ) from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        raise InputError(
            f"'{name}' cannot be read with the encoding '{encoding}'. Save it as 'CSV UTF-8' and open it again.",
            details=str(error),
        ) from None
    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
        notices.append(f"Read as {encoding} text, as chosen (not UTF-8): check that accented names look right.")
    return text.lstrip("\ufeff"), encoding


def _sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits the sample lines into the same number (>1) of fields most often."""
    best, best_score = None, (0, 0)
    for candidate in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=candidate)]
        if not counts or counts[0] < 2:
            continue
        consistent = sum(c == counts[0] for c in counts)
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = candidate, score
    return best


_COMMA_DECIMAL = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+([eE][+-]?\d+)?$")
_DOT_DECIMAL = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d*)\.\d+([eE][+-]?\d+)?$")
_DOT_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$")


def _sniff_decimal(rows: list[list[str]], delimiter: str) -> tuple[str, str | None]:
    if delimiter == ",":
        return ".", None
    comma = dot = thousands = 0
    for row in rows:
        for cell in row:
            cell = cell.strip()
            if _COMMA_DECIMAL.match(cell):
                comma += 1
                if _DOT_THOUSANDS.match(cell):
                    thousands += 1
            elif _DOT_DECIMAL.match(cell):
                dot += 1
    if comma > dot:
        return ",", ("." if thousands else None)
    return ".", None


def _looks_numeric(cell: str) -> bool:
    try:
        float(cell.strip().replace(",", "."))
        return True
    except ValueError:
        return False


def _parse_text(
    text: str, name: str, delimiter: str | None, decimal: str | None, header: bool | None, notices: list[str]
) -> tuple["object", TableSettings]:
    import pandas as pd

    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(f"'{name}' contains no text (only blank lines). Choose a table with a header line and data rows.")
    sample = lines[:200]
    width_guess = max(lines[0].count(d) for d in DELIMITERS) + 1
    if width_guess > MAX_COLUMNS:
        raise InputError(
            f"'{name}' has about {width_guess:,} columns; at most {MAX_COLUMNS:,} can be analysed. "
            "Save only the columns you need and open that file."
        )
    # A line without the candidate delimiter is one long field: allow fields as long as the file.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    if delimiter is None:
        delimiter = _sniff_delimiter(sample)
        if delimiter is None:
            if len(lines) >= 2 and len(lines[0].split()) >= 2 and len({len(l.split()) for l in sample}) == 1:
                delimiter = r"\s+"
            else:
                raise InputError(
                    f"'{name}' does not look like a table: no comma, semicolon or tab separates its lines into "
                    "columns. Save it as CSV from your spreadsheet program."
                )
    rows = list(csv.reader(lines, delimiter=delimiter)) if delimiter != r"\s+" else [l.split() for l in lines]
    width = len(rows[0])
    ragged = [(i, len(r)) for i, r in enumerate(rows) if len(r) != width]
    if ragged:
        where, count = ragged[0]
        line_number = _line_number(text, lines[where])
        raise InputError(
            f"'{name}' has rows of different lengths: line {line_number} has {count} values but the first line has "
            f"{width} ({len(ragged)} such line{'s' if len(ragged) > 1 else ''}). Check for extra or missing "
            "separators (for example a comma inside a number or name without quotes) and save the file again."
        )
    if decimal is None:
        decimal, thousands = _sniff_decimal(rows[1:201], delimiter)
    else:
        thousands = "." if decimal == "," and delimiter != "." else None
    if header is None:
        header = not all(_looks_numeric(c) for c in rows[0] if c.strip())
        if not header:
            notices.append("The first line holds numbers, not column names; the columns are called 'column 1', 'column 2', ...")
    data_rows = len(rows) - (1 if header else 0)
    if data_rows == 0:
        raise InputError(f"'{name}' has a header line but no data rows. Choose a file with data below the column names.")
    if data_rows < MIN_ROWS:
        raise InputError(_too_few_rows(f"'{name}'", data_rows))
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=delimiter, decimal=decimal, thousands=thousands,
            header=0 if header else None, skip_blank_lines=True, engine="python" if delimiter == r"\s+" else "c",
            na_values=[t for t in MISSING_TOKENS if t], keep_default_na=True, skipinitialspace=True,
        )
    except Exception as error:  # pandas raises a variety of parser errors
        raise InputError(f"'{name}' could not be read as a table. Check that it is a CSV file.", details=str(error)) from None
    if not header:
        frame.columns = [f"column {i + 1}" for i in range(frame.shape[1])]
    elif len(rows[0]) == frame.shape[1]:
        frame.columns = [c.strip() for c in rows[0]]  # pandas renames repeated names (a, a.1) silently
    settings = TableSettings(delimiter="whitespace" if delimiter == r"\s+" else delimiter, decimal=decimal,
                             thousands=thousands, header=bool(header), kind="csv")
    return frame, settings


def _too_few_rows(where: str, rows: int) -> str:
    count = "only one data row" if rows == 1 else f"only {rows} data rows"
    return f"{where} has {count}; an analysis needs at least {MIN_ROWS}. Choose a larger table."


def _line_number(text: str, line: str) -> int:
    index = text.find(line)
    return text.count("\n", 0, max(index, 0)) + 1


def _read_xlsx(path: Path, sheet, header: bool | None, notices: list[str]) -> tuple["object", TableSettings]:
    import pandas as pd

    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise InputError(
            "Reading Excel files needs the optional package openpyxl, which is not installed "
            "(install it with: pip install 'xaidesk[xlsx]'). Or save the sheet as CSV (UTF-8) and open that."
        ) from None
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
        names = book.sheet_names
        if not names:
            raise InputError(f"'{path.name}' has no sheets.")
        chosen = names[0] if sheet is None else (names[sheet] if isinstance(sheet, int) else sheet)
        if chosen not in names:
            raise InputError(f"'{path.name}' has no sheet '{chosen}'; its sheets are: {', '.join(names)}.")
        if len(names) > 1 and sheet is None:
            notices.append(f"The workbook has {len(names)} sheets; the first, '{chosen}', was read.")
        frame = pd.read_excel(book, sheet_name=chosen, header=0 if header in (None, True) else None)
        if header in (None, True):  # pandas renames repeated names (a, a.1) silently: keep the sheet's own
            names = pd.read_excel(book, sheet_name=chosen, header=None, nrows=1)
            if names.shape == (1, frame.shape[1]):
                frame.columns = ["" if pd.isna(v) else str(v) for v in names.iloc[0]]
    except InputError:
        raise
    except Exception as error:
        raise InputError(f"'{path.name}' could not be read as an Excel workbook. Open it in a spreadsheet program "
                         "and save it again as .xlsx or CSV.", details=str(error)) from None
    frame = frame.dropna(how="all").dropna(axis=1, how="all")
    if frame.shape[1] == 0 or (frame.shape[0] == 0 and len(frame.columns) == 0):
        raise InputError(f"The sheet '{chosen}' of '{path.name}' is empty. Choose the sheet with the data.")
    if frame.shape[0] == 0:
        raise InputError(f"The sheet '{chosen}' of '{path.name}' has column names but no data rows.")
    if frame.shape[0] < MIN_ROWS:
        raise InputError(_too_few_rows(f"The sheet '{chosen}' of '{path.name}'", frame.shape[0]))
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    return frame, TableSettings(kind="xlsx", sheet=str(chosen), header=header in (None, True))


def _clean_frame(frame, name: str, notices: list[str]):
    import pandas as pd

    columns = [str(c).strip() for c in frame.columns]
    seen: dict[str, int] = {}
    unique = []
    for i, c in enumerate(columns):
        c = c or f"column {i + 1}"
        if c in seen:
            seen[c] += 1
            new = f"{c} ({seen[c]})"
            notices.append(f"The column name '{c}' appears more than once; the repeat is called '{new}'.")
            c = new
        else:
            seen[c] = 1
        unique.append(c)
    frame.columns = unique
    # Columns read as text that are numbers apart from missing-value words become numeric.
    for c in frame.columns:
        series = frame[c]
        if not _is_numeric_dtype(series) and series.dtype != bool:
            converted = pd.to_numeric(series.astype("string").str.strip(), errors="coerce")
            if converted.notna().sum() == series.notna().sum() and series.notna().any():
                frame[c] = converted
    if not any(_is_numeric_dtype(frame[c]) for c in frame.columns) or all(frame[c].isna().all() for c in frame.columns if _is_numeric_dtype(frame[c])):
        raise InputError(
            f"'{name}' contains no numeric column (only text). The analyses need numbers: check the decimal "
            "separator and that the file holds measurements, not only names or labels."
        )
    return frame.reset_index(drop=True)


def _is_numeric_dtype(series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series)) and not pd.api.types.is_bool_dtype(series)


# --- roles ------------------------------------------------------------------------------------


def guess_roles(frame) -> tuple[dict[str, str], dict[str, str]]:
    """Guess a role per column, with a short reason for each.

    - an integer column whose values are all distinct and either named like an
      id (``id``, ``index``, ``customer_id``, ...) or running 0/1, 2, 3, ... -> ignore;
    - an integer column with few distinct values (at most 12 and at most a
      tenth of the rows, e.g. Channel, Region) -> metadata;
    - a text column with few distinct values -> metadata, other text -> ignore;
    - a numeric column named ``target``, ``label``, ``class``, ``y`` -> target (only the first);
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
            if distinct <= MAX_DISTINCT_METADATA and distinct < max(3, n // 2):
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
            roles[c], reasons[c] = "metadata", f"whole numbers with only {distinct} distinct values (a category code)"
        else:
            roles[c], reasons[c] = "feature", "numbers"
    return roles, reasons


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
