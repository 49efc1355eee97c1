"""CSV and XLSX exports: Excel-friendly encoding, no formula injection, attachment headers."""

import csv
import io
from datetime import date

import openpyxl
import pytest

from app.core import exports

HEADER = ["工号", "姓名", "备注"]
DANGEROUS = ["=HYPERLINK(\"http://x\",\"点我\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"]


def test_csv_is_utf8_with_bom_and_crlf():
    data = exports.csv_bytes(HEADER, [["S001", "张三", "审计一科"]])
    assert data.startswith(b"\xef\xbb\xbf")
    assert data == "\ufeff工号,姓名,备注\r\nS001,张三,审计一科\r\n".encode()


def test_csv_quotes_what_needs_quoting_and_keeps_numbers():
    data = exports.csv_bytes(["a", "b", "c", "d"], [['含,逗号', '含"引号', 12, None]])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [["a", "b", "c", "d"], ['含,逗号', '含"引号', "12", ""]]


@pytest.mark.parametrize("value", DANGEROUS)
def test_formula_starts_are_defused_in_csv(value):
    rows = list(csv.reader(io.StringIO(
        exports.csv_bytes(["x"], [[value]]).decode("utf-8-sig"), newline="")))
    assert rows[1] == ["'" + value]


def test_harmless_text_numbers_and_dates_are_left_alone():
    assert exports.cell("张=三") == "张=三"
    assert exports.cell(-5) == -5 and exports.cell(2.5) == 2.5
    assert exports.cell(date(2025, 3, 1)) == "2025-03-01"
    assert exports.cell(None) == ""
    assert exports.cell(True) == "True"


def _sheet(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).active


def test_xlsx_has_a_bold_frozen_header_and_the_rows():
    data = exports.xlsx_bytes("合规表", HEADER, [["S001", "张三", None], ["S002", "李四", 3]])
    sheet = _sheet(data)
    assert sheet.title == "合规表"
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.b for cell in sheet[1])
    assert not sheet["A2"].font.b
    assert list(sheet.iter_rows(values_only=True)) == [
        ("工号", "姓名", "备注"), ("S001", "张三", None), ("S002", "李四", 3)]


def test_xlsx_column_widths_fit_chinese_text():
    long_name = "区教育局部门预算执行审计项目组"  # 15 wide characters: 30 columns
    sheet = _sheet(exports.xlsx_bytes("x", ["No.", "项目"], [["1", long_name]]))
    assert sheet.column_dimensions["A"].width == exports.MIN_WIDTH
    assert sheet.column_dimensions["B"].width == 32
    huge = exports.xlsx_bytes("x", ["a"], [["字" * 500]])
    assert _sheet(huge).column_dimensions["A"].width == exports.MAX_WIDTH


def test_xlsx_never_writes_a_formula():
    sheet = _sheet(exports.xlsx_bytes("x", ["=header"], [[value] for value in DANGEROUS]))
    cells = [row[0] for row in sheet.iter_rows()]
    assert all(cell.data_type == "s" for cell in cells)
    # (XML turns the carriage return into a line feed; what matters is the apostrophe.)
    assert [cell.value for cell in cells] == [
        "'=header", *("'" + v.replace("\r", "\n") for v in DANGEROUS)]


def test_sheet_titles_are_made_acceptable():
    assert exports.sheet_title("2025/03: 合规[表]") == "2025 03  合规 表"
    assert exports.sheet_title("x" * 40) == "x" * 31
    assert exports.sheet_title("///") == "Sheet1"


def test_send_is_an_uncached_attachment_with_a_utf8_filename(app):
    with app.test_request_context():
        response = exports.send(b"\xef\xbb\xbfa\r\n", "合规表-2025-03.csv", "csv")
        response.direct_passthrough = False
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        assert response.content_type == "text/csv; charset=utf-8"
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment")
        assert "filename*=UTF-8''%E5%90%88%E8%A7%84%E8%A1%A8-2025-03.csv" in disposition
        assert response.headers["Cache-Control"] == "no-store"
        assert response.get_data() == b"\xef\xbb\xbfa\r\n"
        xlsx = exports.send(b"PK", "a.xlsx", "xlsx")
        assert xlsx.mimetype == exports.MIME["xlsx"]


def test_xlsx_is_a_well_formed_package_that_shares_repeated_texts():
    import xml.etree.ElementTree as ET
    import zipfile

    rows = [[f"S{n:03d}", "按时报送", n, 2.5] for n in range(200)]
    data = exports.xlsx_book([("一", HEADER, rows), ("一", ["a"], [["按时报送"]])])
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        for name in package.namelist():
            ET.fromstring(package.read(name))  # noqa: S314 (our own output): well-formed
        strings = ET.fromstring(package.read("xl/sharedStrings.xml"))  # noqa: S314
    # 200 staff numbers, the status once for both sheets, the header
    assert int(strings.get("uniqueCount")) == 200 + 1 + 3 + 1
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["一", "一1"]  # a repeated title is numbered, as Excel wants
    assert list(book["一"].iter_rows(min_row=200, values_only=True)) == [
        ("S198", "按时报送", 198, 2.5), ("S199", "按时报送", 199, 2.5)]
    assert book["一1"]["A2"].value == "按时报送"


def test_xlsx_keeps_error_lookalikes_as_text_and_drops_what_xml_cannot_hold():
    sheet = _sheet(exports.xlsx_bytes("x", ["a"], [["#N/A"], ["a\ufffeb\ud800c"], [" 前后 "]]))
    assert [(c.value, c.data_type) for (c,) in sheet.iter_rows(min_row=2)] == [
        ("#N/A", "s"), ("abc", "s"), (" 前后 ", "s")]
