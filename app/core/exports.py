"""Spreadsheet exports (CSV and XLSX) and sending them as downloads.

Both formats are made for Excel on a government desktop: CSV is UTF-8 *with* a byte-order mark
(without it Excel reads Chinese as GBK mojibake), XLSX has a bold, frozen header row and
columns wide enough to read. Every text cell is neutralised against formula injection: a
registrant's or an imported name such as ``=HYPERLINK(...)`` must never run as a formula on
the discipline office's computer, so a text starting with = + - @ (or a tab / carriage return,
which Excel strips before looking) gets a leading apostrophe and stays text.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Literal

from flask import Response, send_file
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from app.core.bounds import printable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MIME = {
    "csv": "text/csv",  # Werkzeug adds "; charset=utf-8" to text types
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
MIN_WIDTH, MAX_WIDTH = 6, 60
# Characters Excel and openpyxl refuse in a sheet title.
BAD_TITLE_CHARS = str.maketrans({c: " " for c in "[]:*?/\\"})

Cell = str | int | float | None


def neutralise(value: str) -> str:
    """Text that a spreadsheet would run as a formula, made inert with a leading apostrophe;
    without the control characters no sheet may hold (text stored before the forms refused
    them, or written behind the portal's back, must not make the whole export fail)."""
    value = printable(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def cell(value: object) -> Cell:
    """A value as written to a sheet: numbers stay numbers, everything else becomes safe text.

    Booleans and dates are the caller's to render (in the reader's language and time zone);
    if one slips through it is written as plain text rather than guessed at.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return neutralise(str(value))


def csv_bytes(header: Sequence[object], rows: Iterable[Sequence[object]]) -> bytes:
    """CSV in UTF-8 with BOM and CRLF line ends, as Excel expects."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(value) for value in header])
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue().encode("utf-8-sig")


def display_width(value: Cell) -> int:
    """Columns a value needs: East Asian wide characters take two."""
    text = "" if value is None else str(value)
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _column_widths(table: list[list[Cell]]) -> list[int]:
    widths: list[int] = []
    for row in table:
        for index, value in enumerate(row):
            if index == len(widths):
                widths.append(MIN_WIDTH)
            # A value can need at most twice its length: skip measuring those that fit.
            if value is not None and 2 * len(str(value)) + 2 > widths[index]:
                widths[index] = max(widths[index], display_width(value) + 2)
    return [min(width, MAX_WIDTH) for width in widths]


def sheet_title(title: str) -> str:
    """A title Excel accepts: at most 31 characters, none of []:*?/\\, never empty."""
    return printable(str(title)).translate(BAD_TITLE_CHARS).strip()[:31] or "Sheet1"


def xlsx_bytes(title: object, header: Sequence[object],
               rows: Iterable[Sequence[object]]) -> bytes:
    """One sheet: bold frozen header, fitted column widths, every text cell a string cell.

    Written in openpyxl's write-only mode (a streaming writer: an export of the whole
    agency stays small in memory); the widths need the whole table first, so rows are
    materialised once.
    """
    return xlsx_book([(title, header, rows)])


def xlsx_book(sheets: Iterable[tuple[object, Sequence[object], Iterable[Sequence[object]]]]
              ) -> bytes:
    """Several sheets of (title, header, rows), each written as `xlsx_bytes` writes one."""
    book = Workbook(write_only=True)
    for title, header, rows in sheets:
        _write_sheet(book, title, header, rows)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _write_sheet(book: Workbook, title: object, header: Sequence[object],
                 rows: Iterable[Sequence[object]]) -> None:
    table = [[cell(value) for value in header]] + [[cell(value) for value in row]
                                                   for row in rows]
    sheet = book.create_sheet(sheet_title(str(title)))
    for index, width in enumerate(_column_widths(table), start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    sheet.append([_header_cell(sheet, value, bold) for value in table[0]])
    for row in table[1:]:
        # Plain values: cell() has defused every text a spreadsheet would read as a formula,
        # so openpyxl types them all as strings (it only makes formulas of text starting "=").
        sheet.append(row)


def _header_cell(sheet: WriteOnlyWorksheet, value: Cell, font: Font) -> WriteOnlyCell:
    header = WriteOnlyCell(sheet, value=value)
    header.font = font
    return header


def send(data: bytes, filename: str, kind: Literal["csv", "xlsx", "pdf"]) -> Response:
    """The bytes as a download named `filename` (any language: Werkzeug adds the RFC 5987
    ``filename*=UTF-8''…`` form beside an ASCII fallback). Never cached: it is confidential."""
    response = send_file(io.BytesIO(data), mimetype=MIME[kind], as_attachment=True,
                         download_name=filename, etag=False, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response
