"""The statement as a document: its tables (shared by the page and the PDF), the archival PDF
and the XLSX appendix.

The PDF is A4 in the layout of an official Chinese document (red masthead with the agency,
title, body, tables, signature block with the signer and the time, the records' digest in the
footer). Its font is embedded, cut to the document's glyphs through fontTools (once per set of
glyphs and installation: PDF_FONT_CACHE), so Chinese renders on a machine without Chinese
fonts; PDF_FONT / PDF_FONT_BOLD name the files (TTF, OTF or a TTC, of which the Simplified
Chinese face is taken).

Everything here renders in the current locale: callers force the one they want.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import fontTools
import sqlalchemy as sa
from flask import current_app
from flask_babel import format_date, format_datetime, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from fontTools import subset as ftsubset
from fontTools.ttLib import TTCollection, TTFont
from fpdf import FPDF
from fpdf import output as fpdf_output
from fpdf.enums import Align, MethodReturnValue, XPos, YPos
from fpdf.fonts import SubsetMap, TTFFont

from app.compliance.routes import STATUS_LABELS
from app.core import exports
from app.core.codes import FilingStatus, StatementStatus
from app.core.extensions import db
from app.core.templating import label
from app.filing import records
from app.filing.periods import Period
from app.models import (
    AnnualStatement,
    Department,
    Employment,
    Incident,
    IncidentVersion,
    MonthlyReport,
    Review,
    User,
)
from app.review import workflow
from app.statement import conclusion, figures, signing, yearend

Cell = str | int


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    header: list[str]
    rows: list[list[Cell]]
    total: list[Cell] | None = None


def counted(key: str, title: object, first: object, counts: dict[str, int],
            name: str) -> Table:
    """A table of counts by code (kinds, categories, ...), with labels and a total: the
    statement's and the roll-up's."""
    return Table(key, str(title), [str(first), _("Number")],
                 [[label(name, code) if name != "disposition" else
                   str(workflow.STATUSES.get(code, code)), n] for code, n in counts.items()],
                 [_("Total"), sum(counts.values())])


def tables(f: figures.Figures) -> list[Table]:
    """The statement's tables, in order, in the current language. Aggregates only: nothing
    here is incident content, so leaders read all of it."""
    r = f.reports
    months = [[m.period, m.figures.expected, m.figures.on_time, m.figures.late,
               m.figures.missing, m.figures.due + m.figures.not_open, m.figures.zero,
               m.figures.with_incidents, f.by_month.get(m.period, 0)] for m in f.months]
    return [
        Table("staff", _("Staff in scope"), [_("Item"), _("Number")], [
            [_("Auditors in scope (in post at any time of the year)"), f.staff],
            [_("of whom all year"), f.staff_full_year],
            [_("Person-months in scope"), f.staff_months],
            [_("Staff in scope pro rata (person-months / 12)"), f"{f.staff_years:.2f}"],
        ]),
        Table("reports", _("Monthly reports"),
              [_("Month"), _("Expected"), _("Filed on time"), _("Filed late"),
               _("Missing (overdue)"), _("Not yet due"), _("Zero reports"),
               _("Reports with incidents"), _("Incidents registered")],
              months, [_("Total"), r.expected, r.on_time, r.late, r.missing,
                       r.due + r.not_open, r.zero, r.with_incidents, f.incidents]),
        counted("kind", _("Incidents by kind"), _("Kind"), f.by_kind, "kinds"),
        counted("category", _("Incidents by behaviour category"), _("Category"),
                 f.by_category, "category"),
        counted("channel", _("Incidents by channel"), _("Channel"), f.by_channel, "channels"),
        counted("relation", _("Incidents by relation of the person"), _("Relation"),
                 f.by_relation, "relations"),
        counted("disposition", _("Incidents by disposition"), _("Status"), f.by_disposition,
                 "disposition"),
        Table("review", _("Review, referrals and violations"), [_("Item"), _("Number")], [
            [_("Reviews still open"), f.open_reviews],
            [_("Clues referred (线索移送)"), f.referrals],
            [_("Violations determined (audit independence affected)"), f.violations],
            *([[_("Registrations reported directly to the level above (直报上级), reviewed "
                  "and counted there"), f.reported_above]] if f.reported_above else []),
        ]),
        Table("confirmations", _("Personal annual confirmations"), [_("Item"), _("Number")], [
            [_("Expected"), f.confirmations_expected],
            [_("Given"), f.confirmations_given],
            [_("Missing"), f.confirmations_missing],
        ]),
        Table("partial", _("Joined or left during the year"),
              [_("Staff number"), _("Name"), _("Department"), _("First month in scope"),
               _("Last month in scope"), _("Months")],
              [[s.staff_no, s.name, s.department, s.first, s.last, s.months]
               for s in f.partial_staff]),
        below_table(f),
    ]


def _grouped(digest: str) -> str:
    """A SHA-256 digest in four groups of 16, so that a narrow column wraps it."""
    return " ".join(digest[i:i + 16] for i in range(0, len(digest), 16))


def below_table(f: figures.Figures) -> Table:
    """The agencies directly below and the figures their leaders signed, as they stood when
    this statement was dated; each is checked with `flask statement verify YEAR --agency NAME`
    against the digest shown."""
    signed = [row for row in f.below if row.signed_at]
    return Table(
        "below", _("Signed statements of the agencies below (each verifiable with "
                   "flask statement verify %(year)d --agency NAME)", year=f.year),
        [_("Agency"), _("Document number"), _("Signed"), _("Incidents"),
         _("Clues referred (线索移送)"), _("Violations"), _("Records digest (SHA-256)")],
        [[row.agency, row.document_number,
          format_datetime(datetime.fromisoformat(row.signed_at), "short"), row.incidents,
          row.referrals, row.violations, _grouped(row.records_digest)] if row.signed_at else
         [row.agency, "", _("not signed by then"), "", "", "", ""] for row in f.below],
        [_("Total"), "", str(len(signed)), sum(row.incidents for row in signed),
         sum(row.referrals for row in signed), sum(row.violations for row in signed), ""]
        if f.below else None)


OPEN_AT_YEAR_END = _l("Reviews open at year end")


def open_reviews_table(found: yearend.OpenAtYearEnd) -> Table:
    """The reviews open at year end, for the page, the PDF and the appendix alike: the case
    number as the queue shows it (#N), its month, its status then and its age. Never content:
    leaders read it."""
    header = [_("No."), _("Month"),
              _("Status at year end") if found.finished else _("Status now"),
              _("Open for (working days)")]
    return Table("open_at_year_end", str(OPEN_AT_YEAR_END), header,
                 [[f"#{row.incident_id}", row.period,
                   str(workflow.STATUSES.get(row.status, row.status)), row.working_days]
                  for row in found.rows])


def open_reviews_lines(found: yearend.OpenAtYearEnd) -> list[str]:
    """What goes with the table: as of when and that it is not part of what is signed; when
    none was open, the sentence that says so instead; how many the table leaves out."""
    day = format_date(found.as_of, "long")
    if not found.total:
        return [_("No review of an incident of %(year)d was open at the end of %(day)s.",
                  year=found.year, day=day) if found.finished else
                _("The year is not over: no review of an incident of %(year)d is open now "
                  "(%(day)s).", year=found.year, day=day)]
    lines = [_("Reviews of incidents of %(year)d still open at the end of %(day)s (agency "
               "time, from the review history), with the working days since registration. "
               "For information: not part of the signed figures.", year=found.year, day=day)
             if found.finished else
             _("The year is not over: the reviews of incidents of %(year)d open now "
               "(%(day)s), with the working days since registration. For information: not "
               "part of the signed figures.", year=found.year, day=day)]
    if found.total > len(found.rows):
        lines.append(_("The %(shown)d oldest of %(total)d are listed.", shown=len(found.rows),
                       total=found.total))
    return lines


def title(year: int) -> str:
    return _("Annual statement on audit independence for %(year)d", year=year)


def late_record_label(record: signing.LateRecord) -> str:
    """How the discipline office picks a record filed after signing: no content, only what
    identifies it."""
    what = (_("Registration no. %(id)d", id=record.id) if record.kind == signing.INCIDENT
            else _("Monthly report no. %(id)d", id=record.id))
    return f"{what} · {record.period} · {record.staff_no}"


def late_records_line(count: int) -> str:
    return ngettext("%(num)d registration after signing waits for an addendum.",
                    "%(num)d registrations after signing wait for an addendum.", count)


# Every page of a draft says so, in both languages whatever the reader's: a printed page
# separated from the others must not pass for the signed statement.
DRAFT_MARK = "草稿 / DRAFT"


# PDF ----------------------------------------------------------------------------------------

RED = (200, 16, 16)
FONT = "body"

logger = logging.getLogger(__name__)


_FONT_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def _parsed(path: str, face: int, style: str) -> TTFFont:
    return TTFFont(FPDF(), Path(path), f"{FONT}{style}", style, None, None, None, face)


def _parsed_font(path: str, face: int, style: str) -> TTFFont:
    """The font parsed once per process (its character map and widths: 0.35 s each for a
    CJK face), copied for each document; the lock keeps two requests from parsing it twice."""
    with _FONT_LOCK:
        return _parsed(path, face, style)


@dataclass(frozen=True)
class _Cut:
    """A face reduced to one document's glyphs: the font file, its glyph order and, for a
    CID-keyed CFF face, the CFF table as fpdf2 embeds it (compiled once)."""

    data: bytes
    order: tuple[str, ...]
    cff: bytes | None


KEPT_CUTS = 256  # files in PDF_FONT_CACHE: 52-125 KB each (the demo, 100,000 auditors)


def _cut_face(path: str, face: int, glyphs: frozenset[str]) -> _Cut:
    """fontTools' subsetter, about 1 ms a glyph (it runs each glyph's charstring). Bounding
    boxes are left as the whole face's, which hold for any part of it: recomputing them ran
    every charstring again, and doubled the cut."""
    font = TTFont(path, fontNumber=face, recalcTimestamp=False, recalcBBoxes=False, lazy=True)
    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True,
                               desubroutinize=True)
    options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta"]
    for tag in set(options.drop_tables) & set(font.keys()):
        del font[tag]  # before the subsetter reads them (fontTools decompiles GSUB and GPOS)
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(glyphs=sorted(glyphs))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    cff = font.get("CFF ")
    cid_keyed = cff is not None and getattr(cff.cff.topDictIndex[0], "ROS", None) is not None
    return _Cut(out.getvalue(), tuple(font.getGlyphOrder()),
                cff.compile(font) if cid_keyed else None)


def _cut_name(path: str, face: int, glyphs: frozenset[str]) -> str:
    """The kept cut's file name: the face's file as it is now (a font upgraded in place is cut
    again), the face, the glyphs and the fontTools that cut them."""
    stat = os.stat(path)
    key = [os.path.realpath(path), stat.st_size, stat.st_mtime_ns, face, sorted(glyphs),
           fontTools.version]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest() + ".cut"


def _pack(cut: _Cut) -> bytes:
    cff = cut.cff or b""
    head = json.dumps({"order": cut.order, "data": len(cut.data), "cff": len(cff),
                       "cid": cut.cff is not None,
                       "sha256": hashlib.sha256(cut.data + cff).hexdigest()}).encode()
    return len(head).to_bytes(4, "big") + head + cut.data + cff


def _unpack(blob: bytes) -> _Cut:
    """A kept cut, or ValueError for a file that is not one whole (cut short, changed)."""
    size = int.from_bytes(blob[:4], "big")
    try:
        head = json.loads(blob[4:4 + size])
        data = blob[4 + size:4 + size + head["data"]]
        cff = blob[4 + size + head["data"]:]
        whole = len(cff) == head["cff"] and hashlib.sha256(data + cff).hexdigest() == head["sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError("not a kept cut") from error
    if not whole:
        raise ValueError("not a kept cut")
    return _Cut(data, tuple(head["order"]), cff if head["cid"] else None)


def _keep(folder: Path, name: str, cut: _Cut) -> None:
    """Written whole or not at all (a file beside it, then renamed); the oldest go past
    KEPT_CUTS. A folder that cannot be written (full disk, read-only) only costs the cut."""
    temporary = folder / f".{name}.{os.getpid()}.{threading.get_ident()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(_pack(cut))
        os.replace(temporary, folder / name)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        logger.warning("statement PDF: a cut font could not be kept in %s (%s)", folder,
                       error.strerror or type(error).__name__)
        return
    _prune(folder)


def _prune(folder: Path) -> None:
    """The newest KEPT_CUTS stay; another worker pruning at the same time is no error."""
    kept = []
    for file in folder.glob("*.cut"):
        with contextlib.suppress(OSError):
            kept.append((file.stat().st_mtime_ns, file))
    for _mtime, file in sorted(kept)[:-KEPT_CUTS]:
        with contextlib.suppress(OSError):
            file.unlink(missing_ok=True)


@lru_cache(maxsize=64)
def _kept_cut(folder: Path, path: str, face: int, glyphs: frozenset[str]) -> _Cut:
    name = _cut_name(path, face, glyphs)
    try:
        return _unpack((folder / name).read_bytes())
    except (OSError, ValueError):
        pass
    cut = _cut_face(path, face, glyphs)
    _keep(folder, name, cut)
    return cut


def _cut(path: str, face: int, glyphs: frozenset[str]) -> _Cut:
    """The face reduced to `glyphs` (same outlines, names and metrics): cut once per
    installation, kept in memory per process and in PDF_FONT_CACHE for every other worker and
    the next start (the first PDF of a statement at 100,000 auditors cuts 340 glyphs of its
    two faces: about 1 s)."""
    folder = Path(current_app.config["PDF_FONT_CACHE"])
    with _FONT_LOCK:
        return _kept_cut(folder, path, face, glyphs)


class _CompiledCFF:
    """A CFF table already compiled: what fpdf2 asks of it (`compile`) is the stored bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def compile(self, font: TTFont) -> bytes:
        return self.data


class _CutFont(TTFont):
    """A cut CID-keyed CFF face as fpdf2 embeds it, without doing the work again per document:
    it is the subset already (`_Subsetter` leaves it), and fpdf2 embeds only its CFF table
    (compiled when it was cut) and reads its glyph ids. Its whole file, which fpdf2 writes and
    then replaces with the CFF table, is the file as cut."""

    def __init__(self, cut: _Cut) -> None:
        super().__init__(io.BytesIO(cut.data), recalcBBoxes=False, recalcTimestamp=False,
                         lazy=True)
        assert cut.cff is not None
        self.setGlyphOrder(list(cut.order))
        self.tables["CFF "] = _CompiledCFF(cut.cff)
        self.cut = cut

    def save(self, file, reorderTables=True) -> None:
        file.write(self.cut.data)


class _Subsetter(ftsubset.Subsetter):
    """fpdf2's subsetter, but a font cut already (`_CutFont`) is left as it is."""

    def subset(self, font: TTFont) -> None:
        if not isinstance(font, _CutFont):
            super().subset(font)


# fpdf2 subsets each font it embeds (fpdf.output uses fontTools' Subsetter): a face cut to the
# document's glyphs here is not subset, saved and compiled a second time (the demo's statement:
# 0.25 s a PDF before, 0.07 s after; the bytes embedded are the same, tests/statement/test_grid).
fpdf_output.ftsubset = SimpleNamespace(Options=ftsubset.Options, Subsetter=_Subsetter)


@lru_cache(maxsize=8)
def _face(path: str) -> int:
    """In a font collection, the Simplified Chinese face; 0 otherwise."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    names = [font["name"].getDebugName(1) or "" for font in TTCollection(path, lazy=True).fonts]
    return next((i for i, name in enumerate(names) if name.endswith(" SC")), 0)


class _Document(FPDF):
    def __init__(self, footer_text: str, draft_mark: str = "") -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.draft_mark = draft_mark
        self._widths: dict[tuple[str, str, str, float], float] = {}
        # GB/T 9704 margins: 37 mm top, 28 mm left, 26 mm right, 35 mm bottom.
        self.set_margins(28, 37, 26)
        self.set_auto_page_break(True, margin=35)
        for style, key in (("", "PDF_FONT"), ("B", "PDF_FONT_BOLD")):
            path = current_app.config[key]
            font = copy.copy(_parsed_font(path, _face(path), style))
            # What one document changes: its number, the glyphs it uses, its own widths
            # table (a defaultdict that grows on lookups).
            font.i = len(self.fonts) + 1
            font.cw = copy.copy(font.cw)
            font.subset = SubsetMap(font)
            font.missing_glyphs, font.biggest_size_pt = [], 0
            self.fonts[f"{FONT}{style}"] = font  # the key add_font would give it
            if font.is_cff and font.is_cid_keyed:
                self._set_min_pdf_version("1.6")  # as add_font does

    def output(self, *args, **kwargs):  # type: ignore[override]
        """Each font as fpdf2 subsets and embeds it, but from a small font holding only this
        document's glyphs (cut once per glyph set and process) instead of the whole CJK face:
        fpdf2 subsets the font it is given in place."""
        # FPDF.output draws the last page's footer after this: its characters are picked now,
        # or a one-page document's footer would ask for glyphs the cut font lacks.
        regular = self.fonts.get(FONT)
        if isinstance(regular, TTFFont):
            for char in set(f"{self.footer_text}— {self.page_no()} —") - set("\n\r\t"):
                regular.subset.pick(ord(char))
        for font in self.fonts.values():
            if isinstance(font, TTFFont):
                glyphs = frozenset(font.subset.get_all_glyph_names())
                cut = _cut(str(font.ttffile), font.collection_font_number, glyphs)
                # Its bounding boxes were computed when it was cut: not again per document.
                font.ttfont = _CutFont(cut) if cut.cff is not None else TTFont(
                    io.BytesIO(cut.data), recalcBBoxes=False, recalcTimestamp=False, lazy=True)
        return super().output(*args, **kwargs)

    def text_width(self, text: str) -> float:
        """get_string_width in the current font, measured once per text, font and size: a
        statement's tables measure each cell twice (its column's width, whether it wraps) and
        repeat their months, departments and figures."""
        key = (text, self.font_family, self.font_style, self.font_size_pt)
        if (width := self._widths.get(key)) is None:
            width = self._widths[key] = self.get_string_width(text)
        return width

    def header(self) -> None:
        if not self.draft_mark:
            return
        self.set_y(18)
        self.set_font(FONT, "B", size=11)
        self.set_text_color(*RED)
        self.multi_cell(0, 5.5, self.draft_mark, align=Align.C)
        self.set_text_color(0, 0, 0)
        self.set_y(self.t_margin)

    def footer(self) -> None:
        self.set_y(-28)
        self.set_font(FONT, size=7)
        self.set_text_color(90, 90, 90)
        self.multi_cell(0, 3.5, self.footer_text, align=Align.C)
        self.set_font(FONT, size=9)
        self.cell(0, 5, f"— {self.page_no()} —", align=Align.C)
        self.set_text_color(0, 0, 0)


def _masthead(pdf: _Document, agency: str, number: str) -> None:
    pdf.set_font(FONT, "B", size=24)
    pdf.set_text_color(*RED)
    pdf.cell(0, 14, agency, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if number:  # 发文字号: centred between the masthead and the red line (GB/T 9704)
        pdf.set_font(FONT, size=12)
        pdf.set_text_color(0, 0, 0)
        pdf.cell(0, 9, number, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(*RED)
    pdf.set_line_width(0.8)
    pdf.line(pdf.l_margin, pdf.get_y() + 2, pdf.w - pdf.r_margin, pdf.get_y() + 2)
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.2)
    pdf.ln(10)


def _paragraph(pdf: _Document, text: str, size: float = 12) -> None:
    pdf.set_font(FONT, size=size)
    pdf.multi_cell(0, size * 0.6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)


def _heading(pdf: _Document, text: str) -> None:
    pdf.ln(2)
    pdf.set_font(FONT, "B", size=13)
    pdf.cell(0, 8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _column_widths(pdf: _Document, rows: list[list[str]]) -> list[float]:
    """Widths sized to the content: the body and the totals on one line, each heading on one
    line or, when the page is too narrow, on two of which the second never holds a single
    character (a heading of n characters gets at most n - 2 per line)."""
    pad = 2 * pdf.c_margin + 1.5
    char = pdf.text_width("字")
    body = [max(pdf.text_width(str(row[i])) for row in rows[1:]) + pad
            for i in range(len(rows[0]))]
    heading = [pdf.text_width(str(text)) + pad for text in rows[0]]
    natural = [max(b, h) for b, h in zip(body, heading, strict=True)]
    room = pdf.epw - sum(natural)
    if room >= 0:
        return [w + room * w / sum(natural) for w in natural]
    widths = natural[:]
    for i in sorted(range(len(widths)), key=lambda i: heading[i] - body[i], reverse=True):
        if room >= 0:
            break
        lowest = max(body[i], (heading[i] - pad) / 2 + pad + char)  # two lines at most
        highest = max(lowest, heading[i] - 2 * char)  # at least two characters on the second
        narrower = max(lowest, min(highest, widths[i] + room))
        room += widths[i] - narrower
        widths[i] = narrower
    return widths


def _table(pdf: _Document, table: Table) -> None:
    """A grid as fpdf2's table draws it (centred text, bold headings repeated on each page,
    each row as tall as its tallest cell), drawn here: fpdf2's measures and wraps every cell
    with multi_cell, 0.8 s for the 450 rows of a statement's lists; a cell that fits on one
    line is drawn as one."""
    if not table.rows:
        return
    size = 8 if len(table.header) > 4 else 10
    pdf.set_font(FONT, size=size)
    rows = [[str(value) for value in values]
            for values in (table.header, *table.rows, *([table.total] if table.total else []))]
    widths = _column_widths(pdf, rows)
    scale = min(1.0, pdf.epw / sum(widths))
    widths = [width * scale for width in widths]
    left = pdf.l_margin + (pdf.epw - sum(widths)) / 2
    line = pdf.font_size * 1.7
    heading = _grid_row(pdf, rows[0], widths, line, "B", size)
    tall = len(max(heading, key=len)) * line
    for n, values in enumerate(rows[1:]):
        cells = _grid_row(pdf, values, widths, line, "", size)
        height = len(max(cells, key=len)) * line
        if n == 0 or pdf.will_page_break(height):
            if pdf.will_page_break(tall + height):  # never a heading alone at a page's foot
                pdf.add_page()
            _draw_row(pdf, heading, widths, left, line, "B", size)
        _draw_row(pdf, cells, widths, left, line, "", size)
    pdf.set_font(FONT, size=size)
    pdf.ln(2)


def _grid_row(pdf: _Document, values: list[str], widths: list[float], line: float,
              style: str, size: float) -> list[list[str]]:
    """Each cell's lines: the text itself when it fits, else as multi_cell would wrap it."""
    pdf.set_font(FONT, style, size=size)
    room = [width - 2 * pdf.c_margin for width in widths]
    return [[text] if pdf.text_width(text) <= fits else
            pdf.multi_cell(width, line, text, dry_run=True, output=MethodReturnValue.LINES)
            for text, width, fits in zip(values, widths, room, strict=True)]


def _draw_row(pdf: _Document, cells: list[list[str]], widths: list[float], left: float,
              line: float, style: str, size: float) -> None:
    """One row of bordered cells, the text of each centred both ways."""
    pdf.set_font(FONT, style, size=size)
    top, height = pdf.get_y(), len(max(cells, key=len)) * line
    x = left
    for lines, width in zip(cells, widths, strict=True):
        pdf.rect(x, top, width, height)
        y = top + (height - len(lines) * line) / 2
        for text in lines:
            pdf.set_xy(x, y)
            pdf.cell(width, line, text, align=Align.C)
            y += line
        x += width
    pdf.set_xy(pdf.l_margin, top + height)


SEAL = 40  # mm: the diameter of an agency's round seal, and the space left for it


def signing_date(item: AnnualStatement) -> str:
    """The local day of signing in the reader's form: 2026年1月8日, 8 January 2026."""
    assert item.signed_at is not None
    return format_date(item.signed_at.astimezone(ZoneInfo(item.agency.timezone)).date(),
                       "long")


def _seal_space(pdf: _Document, x: float, y: float) -> None:
    """A dashed circle labelled 盖章处 where the seal goes."""
    pdf.set_draw_color(150, 150, 150)
    with pdf.local_context(dash_pattern={"dash": 1.5, "gap": 1.5}):
        pdf.circle(x + SEAL / 2, y + SEAL / 2, SEAL / 2)
    pdf.set_font(FONT, size=9)
    pdf.set_text_color(150, 150, 150)
    pdf.set_xy(x, y + SEAL / 2 - 3)
    pdf.cell(SEAL, 6, _("(Seal here)"), align=Align.C)
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(0, 0, 0)


def _signature(pdf: _Document, agency: str, item: AnnualStatement) -> None:
    pdf.ln(8)
    pdf.set_font(FONT, size=12)
    if item.signed_at is None or item.signed_by is None:
        pdf.set_text_color(*RED)
        pdf.cell(0, 8, _("Draft: not signed"), align=Align.R, new_x=XPos.LMARGIN,
                 new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        return
    if pdf.will_page_break(SEAL + 4):
        pdf.add_page()
    lines = (_("Signed by: %(name)s", name=item.signed_by.name), agency, signing_date(item))
    block = max(pdf.get_string_width(line) for line in lines) + 4
    top = pdf.get_y()
    # Beside the signature, left of it: the seal is stamped there on the printed copy.
    _seal_space(pdf, pdf.w - pdf.r_margin - block - 8 - SEAL, top + 2)
    pdf.set_font(FONT, size=12)
    pdf.set_xy(pdf.l_margin, top + 6)
    for line in lines:
        pdf.cell(0, 9, line, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(pdf.get_y(), top + SEAL + 4))


def footer_text(item: AnnualStatement) -> str:
    text = _("Records digest (SHA-256): %(digest)s", digest=item.records_digest)
    if item.log_head and item.log_count:
        text += "\n" + _("Audit log at signing: %(count)d entries, head %(head)s",
                         count=item.log_count, head=item.log_head)
    elif item.log_head:
        text += "\n" + _("Audit log head at signing: %(head)s", head=item.log_head)
    return text


def draft_mark(item: AnnualStatement, now: datetime) -> str:
    """The line at the top of every page of a draft; a provisional one says why."""
    if item.status == StatementStatus.LOCKED:
        return ""
    if signing.is_provisional(item, now):
        return DRAFT_MARK + "\n" + _("Provisional: %(year)d is not over, the figures will "
                                       "still change.", year=item.year)
    return DRAFT_MARK


def pdf_bytes(item: AnnualStatement, now: datetime) -> bytes:
    """The statement as stored (a draft's preview, or the figures as signed) at `now`."""
    f = figures.stored(item)
    agency = item.agency.name
    pdf = _Document(footer_text(item), draft_mark(item, now))
    pdf.set_title(title(item.year))
    pdf.set_author(agency)
    pdf.set_creation_date(item.signed_at or item.prepared_at)
    pdf.add_page()
    _masthead(pdf, agency, item.document_number)
    pdf.set_font(FONT, "B", size=18)
    pdf.multi_cell(0, 10, title(item.year), align=Align.C, new_x=XPos.LMARGIN,
                   new_y=YPos.NEXT)
    pdf.ln(4)
    _paragraph(pdf, _("Computed from the portal's records of %(agency)s for %(year)d: monthly "
                      "reports, registrations, their review and the personal annual "
                      "confirmations.", agency=agency, year=item.year))
    _heading(pdf, _("Conclusion"))
    for line in conclusion.conclusion(f):
        _paragraph(pdf, line)
    still_open = yearend.open_reviews(item.agency, item.year, now)
    for table in tables(f):
        if table.rows:
            _heading(pdf, table.title)
            _table(pdf, table)
        if table.key == "review":  # the cases behind "Reviews still open", right after it
            _heading(pdf, str(OPEN_AT_YEAR_END))
            for line in open_reviews_lines(still_open):
                _paragraph(pdf, line, size=10.5)
            _table(pdf, open_reviews_table(still_open))
    pending = signing.pending_late_records(item)
    if item.addenda or pending:
        _heading(pdf, _("Addenda"))
        for addendum in item.addenda:
            _paragraph(pdf, f"{addendum.at.date().isoformat()} {addendum.text}")
        if pending:
            _paragraph(pdf, late_records_line(len(pending)))
    _signature(pdf, agency, item)
    return bytes(pdf.output())


# XLSX appendix --------------------------------------------------------------------------------

OUT_OF_SCOPE = _l("Not in post")


def _matrix(item: AnnualStatement) -> tuple[list[str], list[list[Cell]]]:
    """One line per auditor in scope, one column per month: the month's filing status, as
    the statement counts it (a report filed after signing is shown against it, not here).

    One row per person (per period of theirs in the agency) from the database, not one per
    report: each person's filed and late months come as two bit masks (month n is bit n - 1)
    summed in SQL, one report per person and month being the unique key. The twelve cells are
    worked out once per distinct dates and masks, which most people share (in post all year,
    everything filed on time)."""
    periods = Period(item.year, 1).until(Period(item.year, 12))
    rule = records.deadline_rule(item.agency)
    moment = item.signed_at or item.prepared_at
    bit = sa.case({str(p): 1 << n for n, p in enumerate(periods)}, value=MonthlyReport.period)
    filed = (
        sa.select(MonthlyReport.user_id, sa.func.sum(bit).label("filed"),
                  sa.func.sum(sa.case((MonthlyReport.late, bit), else_=0)).label("late"))
        .where(figures.reports_of_year(item.agency_id, item.year))
        .group_by(MonthlyReport.user_id).subquery())
    people = db.session.execute(figures.auditors_of_year(
        sa.select(User.staff_no, User.name, sa.func.coalesce(Department.name, ""),
                  Employment.first_period, Employment.last_period, filed.c.filed,
                  filed.c.late).select_from(User),
        item.agency_id, item.year)
        .outerjoin(Department, Department.id == Employment.department_id)
        .outerjoin(filed, filed.c.user_id == User.id)
        .order_by(Department.name.is_(None), Department.name, User.staff_no,
                  Employment.first_period))
    labels = {code: str(text) for code, text in STATUS_LABELS.items()}
    unfiled = [labels[records.status_of(None, p, rule, moment)] for p in periods]
    out_of_scope = str(OUT_OF_SCOPE)
    on_time, late = labels[FilingStatus.ON_TIME], labels[FilingStatus.LATE]
    lines: dict[tuple, list[Cell]] = {}
    rows: list[list[Cell]] = []
    for staff_no, name, department, first, last, filed_mask, late_mask in people:
        key = (first, last, filed_mask, late_mask)
        months = lines.get(key)
        if months is None:
            scope = figures.scope_months(first, last, item.year)
            filed_mask, late_mask = filed_mask or 0, late_mask or 0
            months = lines[key] = [
                out_of_scope if p not in scope else
                (late if late_mask >> n & 1 else on_time) if filed_mask >> n & 1 else unfiled[n]
                for n, p in enumerate(periods)]
        rows.append([staff_no, name, department, *months])
    return [_("Staff number"), _("Name"), _("Department"), *map(str, periods)], rows


def _incident_table(item: AnnualStatement) -> tuple[list[str], list[list[Cell]]]:
    """The discipline office's copy only: the year's incidents, classified, with their
    disposition (no narrative: the review page holds that). Coded columns only, as tuples
    (no ORM object, nothing sealed to open), each code's label looked up once."""
    rows = db.session.execute(
        figures.current_incident_versions(item.agency_id, item.year)
        .add_columns(Incident.period, User.name, IncidentVersion.kind, IncidentVersion.category,
                     IncidentVersion.channel, IncidentVersion.actor_relation, Review.id,
                     Review.kind, Review.category, Review.status,
                     Review.affected_independence, Review.referred_to)
        .join(User, User.id == Incident.user_id)
        .outerjoin(Review, Review.incident_id == Incident.id)
        .order_by(Incident.period, Incident.id)).all()
    words = {None: "", True: _("Yes"), False: _("No")}

    @cache
    def text(vocabulary: str, code: str) -> str:
        return label(vocabulary, code)

    @cache
    def status(code: str) -> str:
        return str(workflow.STATUSES[code])

    header = [_("No."), _("Month"), _("Registrant"), _("Kind"), _("Category"), _("Channel"),
              _("Relation"), _("Status"), _("Audit independence affected"), _("Referred to")]
    table: list[list[Cell]] = []
    for (incident_id, period, registrant, kind, category, channel, relation, review_id,
         review_kind, review_category, review_status, affected, referred_to) in rows:
        reviewed = review_id is not None
        table.append([
            incident_id, period, registrant,
            text("kinds", (reviewed and review_kind) or kind),
            text("category", (reviewed and review_category) or category),
            text("channels", channel), text("relations", relation),
            status(review_status) if reviewed else "", words[affected] if reviewed else "",
            referred_to if reviewed else "",
        ])
    return header, table


def _cover(item: AnnualStatement) -> list[list[Cell]]:
    """The first sheet: which statement this is, draft or signed, and its digest, so the
    appendix cannot pass for another version of the statement."""
    locked = item.status == StatementStatus.LOCKED
    rows: list[list[Cell]] = [
        [_("Agency"), item.agency.name],
        [_("Year"), item.year],
        [_("Status"), _("Signed and locked") if locked else DRAFT_MARK],
        [_("Prepared by: %(name)s", name=item.prepared_by.name),
         item.prepared_at.astimezone(ZoneInfo(item.agency.timezone)).strftime("%Y-%m-%d %H:%M")],
    ]
    if locked and item.signed_by is not None:
        rows += [[_("Document number"), item.document_number],
                 [_("Signed by: %(name)s", name=item.signed_by.name), signing_date(item)]]
    rows.append([_("Records digest (SHA-256)"), item.records_digest])
    if item.log_head:
        rows.append([_("Audit log head at signing"), item.log_head])
    pending = signing.pending_late_records(item)
    if pending:
        rows.append([late_records_line(len(pending)), len(pending)])
    return rows


def xlsx_bytes(item: AnnualStatement, now: datetime, *, with_incidents: bool) -> bytes:
    """The appendix: a cover (draft or signed, with the digest), the staff × month filing
    matrix, the statement's tables and the reviews open at year end (as of `now` while the
    year runs); the incident table only in the discipline office's copy (`with_incidents`)."""
    header, rows = _matrix(item)
    sheets = [(_("Statement %(year)d", year=item.year), [_("Item"), _("Value")], _cover(item)),
              (_("Filing matrix %(year)d", year=item.year), header, rows)]
    for table in tables(figures.stored(item)):
        sheets.append((table.title, table.header,
                       [*table.rows, *([table.total] if table.total else [])]))
        if table.key == "review":
            still_open = yearend.open_reviews(item.agency, item.year, now)
            listed = open_reviews_table(still_open)
            sheets.append((listed.title, listed.header,
                           [*listed.rows, *([line] for line in open_reviews_lines(still_open))]))
    if with_incidents:
        sheets.append((_("Incidents"), *_incident_table(item)))
    return exports.xlsx_book(sheets)

