"""Read CSV, TSV, text and ``.xlsx`` tables safely: encodings, delimiters, decimal separators, checks.

:func:`load_table` reads the file, sniffs the delimiter and the decimal
separator, reads UTF-8 (a byte-order mark is fine), guesses a role for every
column and returns a :class:`~xaidesk.data.tables.records.LoadedTable`. Every
problem with the file itself is an :class:`~xaidesk.core.InputError` whose
message says what was wrong and what to do. The file is only read.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from ...core import InputError
from .columns import _is_numeric_dtype, guess_roles
from .records import LoadedTable, TableSettings

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".xlsx")
TABLE_FILE_FILTER = "Tables (" + " ".join(f"*{s}" for s in TABLE_SUFFIXES) + ");;All files (*)"

DELIMITERS = (",", ";", "\t", "|")
#: The most columns a table may have: wider tables cannot be shown or analysed usefully.
MAX_COLUMNS = 10_000
#: The fewest data rows an analysis can use.
MIN_ROWS = 3
MISSING_TOKENS = ("", "na", "n/a", "nan", "null", "none", "-", "?", "#n/a")


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
