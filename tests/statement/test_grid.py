"""The statement's tables as the PDF draws them (document._table): every cell's text, a
wrapped cell's too, the headings again on each page a table runs onto."""

from __future__ import annotations

import dataclasses
import errno
import io
import os

from fontTools import subset as ftsubset
from pypdf import PdfReader

from app.statement import document
from tests.helpers.statement import pdf_text

LONG = "这是一个很长很长的科室名称需要折行才能放进窄列里面审计一处审计二处"


def _pdf(app, rows: int) -> bytes:
    table = document.Table("t", "t", ["工号", "姓名", "科室", "首月", "末月", "月数"],
                           [[f"S{n:05d}", f"姓名{n}", LONG if n == 3 else "审计一处",
                             "2025-01", "2025-12", 12] for n in range(rows)],
                           ["合计", "", "", "", "", rows * 12])
    with app.test_request_context():
        pdf = document._Document("页脚")
        pdf.add_page()
        document._table(pdf, table)
        return bytes(pdf.output())


def test_every_cell_is_drawn_and_a_long_one_wraps(app):
    """One page: its footer, drawn by FPDF.output itself, has its glyphs in the cut font."""
    text = pdf_text(_pdf(app, 5))
    for value in ("S00000", "姓名4", "2025-12", "合计", "60", LONG):
        assert value in text, value
    assert text.count("工号") == 1


def test_a_table_over_several_pages_repeats_its_headings_and_keeps_every_row(app):
    data = _pdf(app, 120)
    pages = [page.extract_text().replace("\x00", "")
             for page in PdfReader(io.BytesIO(data)).pages]
    assert len(pages) >= 3
    assert all("工号" in page for page in pages)
    text = pdf_text(data)
    assert all(f"S{n:05d}" in text for n in range(120))
    assert "1440" in text


def _embedded(data: bytes) -> list[bytes]:
    fonts = PdfReader(io.BytesIO(data)).pages[0]["/Resources"]["/Font"].values()
    descriptors = [font.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"]
                   .get_object() for font in fonts]
    return [(d.get("/FontFile3") or d.get("/FontFile2")).get_object().get_data()
            for d in descriptors]


def test_a_cut_face_is_embedded_byte_for_byte_as_fpdf2_would_embed_it(app, monkeypatch):
    """The face cut to the document's glyphs is not subset and compiled again by fpdf2
    (document._CutFont): what is embedded is exactly what fpdf2's own path gives."""
    kept = _embedded(_pdf(app, 5))
    assert kept and all(kept)
    # fpdf2's own path: the cut face handed over as a plain font, subset again by fontTools.
    cut = document._cut
    monkeypatch.setattr(document, "_cut", lambda *args: dataclasses.replace(cut(*args),
                                                                            cff=None))
    monkeypatch.setattr(document.fpdf_output, "ftsubset", ftsubset)
    assert _embedded(_pdf(app, 5)) == kept


def _fonts_in(app, monkeypatch, folder) -> list[bytes]:
    """The faces a PDF embeds, made by a process that has cut nothing yet."""
    monkeypatch.setitem(app.config, "PDF_FONT_CACHE", folder)
    document._kept_cut.cache_clear()
    return _embedded(_pdf(app, 5))


def test_a_cut_is_kept_for_every_worker_and_the_next_start(app, monkeypatch, tmp_path):
    first = _fonts_in(app, monkeypatch, tmp_path)
    assert len(list(tmp_path.glob("*.cut"))) == 2  # the regular face and the bold one

    def cut_again(*args):
        raise AssertionError("cut again")

    monkeypatch.setattr(document, "_cut_face", cut_again)
    assert _fonts_in(app, monkeypatch, tmp_path) == first


def test_a_kept_cut_cut_short_or_changed_is_cut_again(app, monkeypatch, tmp_path):
    first = _fonts_in(app, monkeypatch, tmp_path)
    short, changed = sorted(tmp_path.glob("*.cut"))
    short.write_bytes(short.read_bytes()[:-100])
    data = bytearray(changed.read_bytes())
    data[-50] ^= 1
    changed.write_bytes(bytes(data))
    assert _fonts_in(app, monkeypatch, tmp_path) == first
    for file in (short, changed):  # and kept whole again
        assert document._unpack(file.read_bytes()).data


def test_a_folder_that_cannot_be_written_only_costs_the_cut(app, monkeypatch, tmp_path, caplog):
    first = _fonts_in(app, monkeypatch, tmp_path / "fonts")
    (tmp_path / "file").write_text("")
    assert _fonts_in(app, monkeypatch, tmp_path / "file" / "fonts") == first
    assert "could not be kept" in caplog.text


def test_a_disk_that_fills_while_a_cut_is_kept_leaves_nothing_half_written(app, monkeypatch,
                                                                              tmp_path, caplog):
    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(document.os, "replace", full)
    assert _fonts_in(app, monkeypatch, tmp_path)
    assert "No space left on device" in caplog.text
    assert list(tmp_path.iterdir()) == []  # the file written beside its place is gone


def test_only_the_newest_cuts_are_kept(app, monkeypatch, tmp_path):
    monkeypatch.setattr(document, "KEPT_CUTS", 3)
    monkeypatch.setitem(app.config, "PDF_FONT_CACHE", tmp_path)
    for rows in (1, 3, 5):  # their totals (12, 36, 60) give each its own glyphs
        document._kept_cut.cache_clear()
        _pdf(app, rows)
    assert len(list(tmp_path.glob("*.cut"))) == 3
