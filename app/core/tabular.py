"""Reading the spreadsheets administrators upload (staff lists, audit projects), and writing
their templates.

A file is XLSX if it is a zip archive, otherwise CSV text as Chinese Excel saves it: UTF-8,
UTF-8 with a byte-order mark, or GBK. The user is never asked which: the content decides.
Rows come back as lists of stripped strings with the line (sheet row) number where each
starts, so error messages point at the line the user sees in Excel.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from openpyxl import load_workbook

from app.core import exports
from app.core.bounds import has_control_character
from app.core.refusals import Invalid

Rows = list[tuple[int, list[str]]]
# Far more than any bureau's staff or project list; a bound on the work one upload can cause
# (a small XLSX file can unpack to millions of cells).
MAX_ROWS = 10_000


class UnreadableFile(Invalid):
    """The file cannot be imported at all; the message is for the user."""


@dataclass
class RowResult:
    """What importing one row would do (create / update / unchanged) or why it cannot."""

    line: int
    key: str  # the staff number or project code that matches the row to a record
    action: str = ""
    errors: list[str] = field(default_factory=list)
    # The fields the row gives (blank cells left out), as the model's attribute names.
    values: dict = field(default_factory=dict)

    @property
    def staff_no(self) -> str:
        return self.key


def decode(raw: bytes) -> str:
    """UTF-8 (with or without BOM) if it decodes, else GB18030 (a superset of GBK)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise UnreadableFile(_("the file is neither UTF-8 nor GBK text")) from None


def _too_many() -> UnreadableFile:
    return UnreadableFile(_("the file has more than %(max)d rows: split it", max=MAX_ROWS))


def _csv_rows(raw: bytes) -> tuple[list[str], Rows]:
    reader = csv.reader(io.StringIO(decode(raw)))
    rows = []
    try:
        header = next(reader, [])
        start = reader.line_num + 1  # a quoted cell may span lines: report where the row starts
        for row in reader:
            rows.append((start, row))
            if len(rows) > MAX_ROWS:
                raise _too_many()
            start = reader.line_num + 1
    except csv.Error as error:
        raise UnreadableFile(_("line %(line)d is not valid CSV: %(error)s",
                               line=reader.line_num, error=error)) from None
    return header, rows


def _text(value: object) -> str:
    """A cell as the user typed it: 1001 rather than 1001.0, a date without its midnight."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _xlsx_rows(raw: bytes) -> tuple[list[str], Rows]:
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise UnreadableFile(_("the file is not a readable XLSX workbook")) from None
    try:
        sheet = book.worksheets[0]
        lines = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number > MAX_ROWS + 1:
                raise _too_many()
            lines.append((number, [_text(v) for v in values]))
    finally:
        book.close()
    if not lines:
        return [], []
    return lines[0][1], lines[1:]


def read(raw: bytes) -> tuple[list[str], Rows]:
    """The header and the non-blank rows (cells stripped) of an XLSX or CSV file."""
    is_xlsx = zipfile.is_zipfile(io.BytesIO(raw))
    header, rows = _xlsx_rows(raw) if is_xlsx else _csv_rows(raw)
    if len(rows) > MAX_ROWS:
        raise _too_many()
    cleaned = [(line, [cell.strip() for cell in row]) for line, row in rows]
    _refuse_control_characters([(1, header), *cleaned])
    return [cell.strip() for cell in header], [(line, row) for line, row in cleaned if any(row)]


def _refuse_control_characters(rows: Rows) -> None:
    """No cell may carry a control character (NUL …): it could not be stored, nor exported."""
    for line, row in rows:
        if any(has_control_character(cell) for cell in row):
            raise UnreadableFile(_("line %(line)d contains an invisible control character "
                                   "(such as NUL): remove it and upload the file again",
                                   line=line))


def column_map(header: list[str], names: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """key -> position of its column, for the header names each key accepts."""
    positions = {}
    for index, name in enumerate(header):
        for key, accepted in names.items():
            if name.lower() in accepted:
                positions[key] = index
    return positions


def read_table(raw: bytes, names: dict[str, tuple[str, ...]], required: tuple[str, ...],
               missing_header: str) -> tuple[dict[str, int], Rows]:
    """The column of each key and the rows; UnreadableFile when the file cannot be read or its
    header lacks a `required` key (`missing_header` says which it must name)."""
    header, rows = read(raw)
    columns = column_map(header, names)
    if not all(key in columns for key in required):
        raise UnreadableFile(missing_header)
    return columns, rows


def cell_reader(row: list[str], columns: dict[str, int]):
    """cell(key): the row's value in that column, "" when the file has no such column."""

    def cell(key: str) -> str:
        index = columns.get(key)
        return row[index] if index is not None and index < len(row) else ""

    return cell


def flag_duplicates(results: list[RowResult], key: Callable[[RowResult], str],
                    message: Callable[[int], str]) -> None:
    """A value of `key` given on two lines of the file: the later line is wrong
    (`message(first line)`); blank values are not compared."""
    seen: dict[str, int] = {}
    for result in results:
        value = key(result)
        if value in seen:
            result.errors.append(message(seen[value]))
        elif value:
            seen[value] = result.line


def template(fmt: str, title: str, header: list[str], example: list[str]):
    """A download with the header and one example row, CSV (UTF-8 with BOM) or XLSX."""
    if fmt == "xlsx":
        content = exports.xlsx_bytes(title, header, [example])
    else:
        content = exports.csv_bytes(header, [example])
    return exports.send(content, f"{title}.{fmt}", fmt)
