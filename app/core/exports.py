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
import math
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Literal

from flask import Response, send_file
from openpyxl.utils import get_column_letter
from openpyxl.writer.theme import theme_xml

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


def sheet_title(title: str) -> str:
    """A title Excel accepts: at most 31 characters, none of []:*?/\\, never empty."""
    return printable(str(title)).translate(BAD_TITLE_CHARS).strip()[:31] or "Sheet1"


def xlsx_bytes(title: object, header: Sequence[object],
               rows: Iterable[Sequence[object]]) -> bytes:
    """One sheet: bold frozen header, fitted column widths, every text cell a string cell."""
    return xlsx_book([(title, header, rows)])


# XLSX ------------------------------------------------------------------------------------------
#
# The workbook is written here as the handful of XML parts of a SpreadsheetML package, row by
# row as text, rather than through openpyxl or XlsxWriter: an export of a national agency is
# 100,000 lines (the statement's filing matrix 1.5 M cells), and both libraries build and
# serialise an object per cell. Measured side by side on the same rows (issue 16), the
# compliance table (97,335 × 7) took 13.1 s in openpyxl's write-only mode, 8.0 s in
# XlsxWriter's constant-memory mode and 1.2 s here; the filing matrix (100,000 × 15) 22.4 s,
# 16.9 s and 1.2 s. It holds the sheet's XML until the widths are known (about 75 MiB for
# the matrix), where the libraries stream.
# Each distinct text is made safe (cell), measured and given its shared-string number once,
# however many cells hold it: most cells of an export repeat a few statuses or departments.
# What the user sees is what openpyxl wrote: the same sheets, a bold frozen header, the same
# widths, numbers as numbers and every text a string (never a formula).

ZIP_LEVEL = 1  # deflate: 3x faster than the default level 6, for files ~1.3x larger
MAX_TEXT = 32_767  # characters Excel holds in a cell (openpyxl cut longer texts there too)
# Characters XML 1.0 cannot carry at all (control characters are removed by printable).
NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
# The default font (the theme's Calibri 11) and a bold one for the header row (style 1).
STYLES = (
    f'{XML_DECLARATION}<styleSheet xmlns="{MAIN_NS}">'
    '<fonts count="2"><font><sz val="11"/><color theme="1"/><name val="Calibri"/>'
    '<family val="2"/><scheme val="minor"/></font><font><b/><sz val="11"/><color theme="1"/>'
    '<name val="Calibri"/><family val="2"/><scheme val="minor"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    '</cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" '
    'xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    '</cellStyles></styleSheet>'
)
FROZEN_HEADER = ('<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
                 'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" '
                 'activeCell="A2" sqref="A2"/></sheetView></sheetViews>')
PAGE_MARGINS = ('<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" '
                'footer="0.5"/>')
CHUNK_ROWS = 2_000  # rows encoded and compressed at a time


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(text: str) -> str:
    return _escape(text).replace('"', "&quot;")


class _Strings:
    """The workbook's shared strings (each text stored once, cells refer to it by number)."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def tail(self, value: object, style: str = "") -> tuple[str, int]:
        """What follows the reference in the <c> element of a cell holding `value`, as
        cell() makes it ("" when it is empty: no element), and the width it needs."""
        safe = cell(value)
        if not isinstance(safe, str):
            number = _number(safe)
            if number is not None:
                return f'"{style}><v>{number}</v></c>', len(number) + 2
            safe = str(safe)
        text = NOT_XML.sub("", safe)[:MAX_TEXT]
        if not text:  # no element: openpyxl's empty string cell read back as None too
            return (f'"{style}/>' if style else ""), 0
        number = self.numbers.setdefault(text, len(self.numbers))
        return f'"{style} t="s"><v>{number}</v></c>', display_width(text) + 2

    def xml(self) -> bytes:
        items = "".join(
            f'<si><t xml:space="preserve">{_escape(text)}</t></si>'
            if text != text.strip() else f"<si><t>{_escape(text)}</t></si>"
            for text in self.numbers)
        return (f'{XML_DECLARATION}<sst xmlns="{MAIN_NS}" uniqueCount="{len(self.numbers)}">'
                f"{items}</sst>").encode()


def _number(value: int | float) -> str | None:
    """A number as a <v> holds it; None for what Excel has no number for (NaN, infinity)."""
    if isinstance(value, int):
        return str(int(value))
    return repr(float(value)) if math.isfinite(value) else None


def _sheet_rows(header: Sequence[object], rows: Iterable[Sequence[object]],
                strings: _Strings) -> tuple[list[str], list[int]]:
    """The <row> elements of a sheet (the header's cells bold) and the width each column
    needs. Each column remembers the texts it has written: a text seen again costs one
    look-up (cell(), the shared string and the width were worked out the first time)."""
    widths: list[int] = []
    columns: list[tuple[int, str, dict[str, str]]] = []  # (index, letter, text -> tail)

    def widen(count: int) -> None:
        while len(columns) < count:
            columns.append((len(columns), get_column_letter(len(columns) + 1), {}))
            widths.append(MIN_WIDTH)

    widen(len(header))
    line = ['<row r="1">']
    for (index, letter, _known), value in zip(columns, header, strict=False):
        tail, width = strings.tail(value, ' s="1"')
        line.append(f'<c r="{letter}1{tail}')
        widths[index] = max(widths[index], width)
    lines = ["".join(line) + "</row>"]
    for number, row in enumerate(rows, start=2):
        if len(row) > len(columns):
            widen(len(row))
        n = str(number)
        line = [f'<row r="{n}">']
        for (index, letter, known), value in zip(columns, row, strict=False):
            tail = known.get(value)  # type: ignore[call-overload]
            if tail is None:
                tail, width = strings.tail(value)
                if type(value) is str:  # never a number: True == 1 would find 1's cell
                    known[value] = tail
                if width > widths[index]:
                    widths[index] = width
            if tail:
                line.append(f'<c r="{letter}{n}{tail}')
        line.append("</row>")
        lines.append("".join(line))
    return lines, [min(width, MAX_WIDTH) for width in widths]


def _write_sheet(package: zipfile.ZipFile, path: str, header: Sequence[object],
                 rows: Iterable[Sequence[object]], strings: _Strings) -> None:
    lines, widths = _sheet_rows(header, rows, strings)
    head = [f'{XML_DECLARATION}<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">']
    if widths:
        head.append(f'<dimension ref="A1:{get_column_letter(len(widths))}{len(lines)}"/>')
    head += [FROZEN_HEADER, '<sheetFormatPr defaultRowHeight="15"/>']
    if widths:
        head.append("<cols>" + "".join(
            f'<col min="{i}" max="{i}" width="{width}" customWidth="1"/>'
            for i, width in enumerate(widths, start=1)) + "</cols>")
    head.append("<sheetData>")
    with package.open(path, "w") as part:
        part.write("".join(head).encode())
        for start in range(0, len(lines), CHUNK_ROWS):
            part.write("".join(lines[start:start + CHUNK_ROWS]).encode())
        part.write(f"</sheetData>{PAGE_MARGINS}</worksheet>".encode())


def _unique(title: str, taken: list[str]) -> str:
    """The title, numbered when another sheet has it already (as openpyxl did)."""
    lower = {t.lower() for t in taken}
    candidate, count = title, 0
    while candidate.lower() in lower:
        count += 1
        candidate = f"{title[:31 - len(str(count))]}{count}"
    return candidate


def _package_parts(titles: list[str], now: datetime) -> dict[str, str]:
    """Everything but the sheets and the shared strings: workbook, relationships, styles."""
    count = len(titles)
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    office = "application/vnd.openxmlformats-officedocument"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "[Content_Types].xml": (
            f'{XML_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
            f'ContentType="{office}.spreadsheetml.sheet.main+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" '
                      f'ContentType="{sheet_type}"/>' for n in range(1, count + 1))
            + f'<Override PartName="/xl/styles.xml" ContentType="{office}.spreadsheetml.'
            'styles+xml"/><Override PartName="/xl/sharedStrings.xml" '
            f'ContentType="{office}.spreadsheetml.sharedStrings+xml"/>'
            f'<Override PartName="/xl/theme/theme1.xml" ContentType="{office}.theme+xml"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/'
            'vnd.openxmlformats-package.core-properties+xml"/><Override PartName='
            f'"/docProps/app.xml" ContentType="{office}.extended-properties+xml"/></Types>'),
        "_rels/.rels": (
            f'{XML_DECLARATION}<Relationships xmlns="{PACKAGE_REL_NS}">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
            'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{rel}/extended-properties" '
            'Target="docProps/app.xml"/></Relationships>'),
        "docProps/app.xml": (
            f'{XML_DECLARATION}<Properties xmlns="http://schemas.openxmlformats.org/'
            'officeDocument/2006/extended-properties"><Application>'
            'audit-independence-portal</Application></Properties>'),
        "docProps/core.xml": (
            f'{XML_DECLARATION}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/'
            'package/2006/metadata/core-properties" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
            '</cp:coreProperties>'),
        "xl/workbook.xml": (
            f'{XML_DECLARATION}<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><workbookPr/>'
            '<bookViews><workbookView activeTab="0"/></bookViews><sheets>'
            + "".join(f'<sheet name="{_attribute(title)}" sheetId="{n}" r:id="rId{n}"/>'
                      for n, title in enumerate(titles, start=1))
            + '</sheets><calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'{XML_DECLARATION}<Relationships xmlns="{PACKAGE_REL_NS}">'
            + "".join(f'<Relationship Id="rId{n}" Type="{rel}/worksheet" '
                      f'Target="worksheets/sheet{n}.xml"/>' for n in range(1, count + 1))
            + f'<Relationship Id="rId{count + 1}" Type="{rel}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId{count + 2}" Type="{rel}/sharedStrings" '
            'Target="sharedStrings.xml"/>'
            f'<Relationship Id="rId{count + 3}" Type="{rel}/theme" '
            'Target="theme/theme1.xml"/></Relationships>'),
        "xl/styles.xml": STYLES,
        "xl/theme/theme1.xml": theme_xml,
    }


def xlsx_book(sheets: Iterable[tuple[object, Sequence[object], Iterable[Sequence[object]]]]
              ) -> bytes:
    """Several sheets of (title, header, rows), each as `xlsx_bytes` writes one; each sheet's
    rows are read once, as they come."""
    out = io.BytesIO()
    strings = _Strings()
    titles: list[str] = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as package:
        for title, header, rows in sheets:
            titles.append(_unique(sheet_title(str(title)), titles))
            _write_sheet(package, f"xl/worksheets/sheet{len(titles)}.xml", header, rows,
                         strings)
        if not titles:  # a workbook holds at least one sheet
            titles.append("Sheet1")
            _write_sheet(package, "xl/worksheets/sheet1.xml", [], [], strings)
        package.writestr("xl/sharedStrings.xml", strings.xml())
        for path, text in _package_parts(titles, datetime.now(UTC)).items():
            package.writestr(path, text.encode())
    return out.getvalue()


def send(data: bytes, filename: str, kind: Literal["csv", "xlsx", "pdf"]) -> Response:
    """The bytes as a download named `filename` (any language: Werkzeug adds the RFC 5987
    ``filename*=UTF-8''…`` form beside an ASCII fallback). Never cached: it is confidential."""
    response = send_file(io.BytesIO(data), mimetype=MIME[kind], as_attachment=True,
                         download_name=filename, etag=False, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response
