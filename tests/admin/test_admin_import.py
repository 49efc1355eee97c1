"""Bulk import on the administrator's pages: upload, preview, import all rows or none."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from app.admin import uploads
from app.models import AuditLog, AuditProject, User
from tests.helpers import factories
from tests.helpers.imports import HEADER_ZH, csv_file, preview
from tests.helpers.imports import ROWS as OPERATOR_ROWS
from tests.helpers.web import csrf_token, login, post_form

# An administrator's upload cannot give the discipline office's role (app/review/office.py): the
# staff list of these tests has 审计人员 where the command line's has 纪检.
ROWS = [OPERATOR_ROWS[0], OPERATOR_ROWS[1].replace(",纪检,", ",审计人员,"), OPERATOR_ROWS[2]]


TOKEN_RE = re.compile(r'name="token" type="hidden" value="([^"]+)"')


@pytest.fixture(autouse=True)
def english(app, monkeypatch):
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", "en")
    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ())


@pytest.fixture
def departments(agency):
    return {name: factories.DepartmentFactory(agency=agency, name=name)
            for name in ("财政审计科", "机关纪委", "办公室")}


@pytest.fixture
def as_admin(app, db, make_user, departments, frozen):
    client = app.test_client()
    login(client, make_user(staff_no="ADM1", name="管理员", roles={"admin"}))
    return client


def xlsx_file(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def actions(response) -> list[tuple[str, str]]:
    return re.findall(r'<tr data-line="(\d+)" data-action="(\w+)"',
                      response.get_data(as_text=True))


def apply(client, response, kind: str = "users"):
    match = TOKEN_RE.search(response.get_data(as_text=True))
    assert match, "no import button"
    return post_form(client, f"/admin/import/{kind}/apply", {"token": match.group(1)},
                     form_url=f"/admin/import/{kind}")


def imported(client, raw: bytes, kind: str = "users", name: str = "staff.csv"):
    shown = preview(client, raw, kind, name)
    assert shown.status_code == 200, shown.get_data(as_text=True)
    return apply(client, shown, kind)


def staff(db) -> dict[str, User]:
    db.session.expire_all()
    return {u.staff_no: u for u in db.session.scalars(sa.select(User)) if u.staff_no != "ADM1"}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_in_every_encoding_excel_writes(as_admin, db, departments, encoding):
    response = preview(as_admin, csv_file(HEADER_ZH, *ROWS, encoding=encoding))
    assert response.status_code == 200
    assert actions(response) == [("2", "create"), ("3", "create"), ("4", "create")]
    assert staff(db) == {}  # a preview writes nothing
    done = apply(as_admin, response)
    assert done.status_code == 302 and done.location.endswith("/admin/users")
    people = staff(db)
    assert {no: (u.name, u.department.name if u.department else None, u.roles)
            for no, u in people.items()} == {
        "A001": ("王芳", "财政审计科", {"auditor"}),
        "A002": ("刘强", "机关纪委", {"auditor"}),
        "A003": ("陈晓燕", "办公室", {"auditor", "leader"}),
    }
    assert "Imported: 3 created, 0 updated, 0 unchanged." in as_admin.get(
        "/admin/users").get_data(as_text=True)


def test_an_xlsx_workbook_with_numbers_and_dates(as_admin, db):
    raw = xlsx_file([["工号", "姓名", "科室", "入职日期"],
                     [1001, "赵雷", "办公室", date(2024, 3, 1)],
                     ["1002", "钱多多", None, "2024/5/6"]])
    assert imported(as_admin, raw, name="staff.xlsx").status_code == 302
    people = staff(db)
    assert (people["1001"].name, people["1001"].joined_on) == ("赵雷", date(2024, 3, 1))
    assert people["1002"].joined_on == date(2024, 5, 6)


def test_a_file_that_is_neither_text_nor_xlsx(as_admin, db):
    response = preview(as_admin, b"PK\x03\x04garbage\xff\xfe" * 20, name="x.xlsx")
    assert response.status_code == 400
    assert "the file is neither UTF-8 nor GBK text" in response.get_data(as_text=True)
    broken_zip = xlsx_file([["工号", "姓名"]])[:-30]
    assert preview(as_admin, broken_zip, name="x.xlsx").status_code == 400


def test_no_file_is_refused(as_admin, db):
    response = post_form(as_admin, "/admin/import/users", {}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose a file." in response.get_data(as_text=True)


@pytest.mark.parametrize(("row", "message"), [
    ("D001,孙七,,,,", "duplicate staff number (also on line 2)"),
    ("D002,孙七,审计九科,,,", "unknown department 审计九科"),
    ("D002,孙七,,bad@,,", "bad e-mail bad@"),
    ("D002,,,,,", "missing name"),
    (",孙七,,,,", "missing staff number"),
    ("D002,孙七,,,科长,", "unknown role 科长"),
    ("D002,孙七,,,,2024-02-30", "bad date 2024-02-30"),
])
def test_a_wrong_row_is_shown_and_nothing_can_be_imported(as_admin, db, row, message):
    response = preview(as_admin, csv_file(HEADER_ZH, "D001,周八,办公室,,,", row))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert actions(response) == [("2", "create"), ("3", "error")]
    assert message in page
    assert "Nothing can be imported while any row has an error" in page
    assert TOKEN_RE.search(page) is None
    assert staff(db) == {}


def test_an_archived_department_is_an_error(as_admin, db, departments):
    departments["办公室"].archived = True
    db.session.commit()
    response = preview(as_admin, csv_file("工号,姓名,科室", "D001,周八,办公室"))
    assert "department 办公室 is archived" in response.get_data(as_text=True)


def test_the_import_rechecks_and_applies_all_rows_or_none(as_admin, db, make_user):
    response = preview(as_admin, csv_file("工号,姓名,邮箱", "G001,甲,g@example.org", "G002,乙,"))
    assert response.status_code == 200
    make_user(staff_no="G999", email="g@example.org")  # meanwhile, someone takes the address
    refused = apply(as_admin, response)
    assert refused.status_code == 400
    assert "already used by another account" in refused.get_data(as_text=True)
    assert set(staff(db)) == {"G999"}  # not even G002


def test_a_failure_halfway_writes_nothing(as_admin, db, monkeypatch):
    from app.admin import userimport

    real = userimport.auditlog.record
    calls = []

    def failing(action, *args, **kwargs):
        calls.append(action)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(action, *args, **kwargs)

    response = preview(as_admin, csv_file(HEADER_ZH, *ROWS))
    monkeypatch.setattr(userimport.auditlog, "record", failing)
    assert apply(as_admin, response).status_code == 500
    monkeypatch.undo()
    assert staff(db) == {}


def test_importing_again_changes_nothing_and_an_updated_file_updates(as_admin, db):
    assert imported(as_admin, csv_file(HEADER_ZH, *ROWS)).status_code == 302
    count = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    again = preview(as_admin, csv_file(HEADER_ZH, *ROWS, encoding="gbk"))
    assert [a for _line, a in actions(again)] == ["unchanged"] * 3
    apply(as_admin, again)
    assert "Nothing to change" in as_admin.get("/admin/users").get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == count

    updated = preview(as_admin, csv_file(HEADER_ZH, ROWS[0],
                                         "A002,刘强,财政审计科,liuqiang@example.org,审计人员,",
                                         ROWS[2], "A004,新同事,,,,"))
    assert [a for _line, a in actions(updated)] == ["unchanged", "update", "unchanged", "create"]
    apply(as_admin, updated)
    assert staff(db)["A002"].department.name == "财政审计科"
    assert set(staff(db)) == {"A001", "A002", "A003", "A004"}


def test_a_thousand_rows(as_admin, db):
    rows = [f"T{n:04d},员工{n},办公室,t{n}@example.org,审计人员,2024-01-01" for n in range(1000)]
    started = time.perf_counter()
    response = preview(as_admin, csv_file(HEADER_ZH, *rows))
    assert response.status_code == 200
    assert [a for _line, a in actions(response)] == ["create"] * 1000
    assert apply(as_admin, response).status_code == 302
    assert len(staff(db)) == 1000
    again = preview(as_admin, csv_file(HEADER_ZH, *rows))
    assert [a for _line, a in actions(again)] == ["unchanged"] * 1000
    assert time.perf_counter() - started < 60


def test_the_token_is_bound_to_the_session_and_used_once(app, db, as_admin, make_user):
    response = preview(as_admin, csv_file("工号,姓名", "H001,甲"))
    token = TOKEN_RE.search(response.get_data(as_text=True)).group(1)
    other = app.test_client()
    login(other, make_user(staff_no="ADM2", roles={"admin"}))
    stolen = post_form(other, "/admin/import/users/apply", {"token": token},
                       form_url="/admin/import/users")
    assert stolen.status_code == 400
    assert "expired" in stolen.get_data(as_text=True)
    assert staff(db).keys() == {"ADM2"}
    forged = post_form(as_admin, "/admin/import/users/apply", {"token": "../../etc/passwd"},
                       form_url="/admin/import/users")
    assert forged.status_code == 400
    assert apply(as_admin, response).status_code == 302
    replay = post_form(as_admin, "/admin/import/users/apply", {"token": token},
                       form_url="/admin/import/users")
    assert replay.status_code == 400
    assert set(staff(db)) == {"ADM2", "H001"}
    assert not (Path(app.config["IMPORT_DIR"]) / token).exists()


def test_a_token_for_staff_does_not_import_projects(as_admin, db):
    response = preview(as_admin, csv_file("工号,姓名", "H001,甲"))
    token = TOKEN_RE.search(response.get_data(as_text=True)).group(1)
    refused = post_form(as_admin, "/admin/import/projects/apply", {"token": token},
                        form_url="/admin/import/projects")
    assert refused.status_code == 400


def test_an_old_upload_expires(app, db, as_admin, monkeypatch):
    response = preview(as_admin, csv_file("工号,姓名", "H001,甲"))
    monkeypatch.setattr(uploads, "MAX_AGE_SECONDS", -1)
    assert apply(as_admin, response).status_code == 400
    assert staff(db) == {}


@pytest.mark.parametrize("kind", ["users", "projects"])
def test_the_templates_download_and_import_as_they_are(as_admin, db, kind):
    csv_response = as_admin.get(f"/admin/import/{kind}/template.csv")
    assert csv_response.status_code == 200
    assert csv_response.data.startswith(b"\xef\xbb\xbf")
    xlsx_response = as_admin.get(f"/admin/import/{kind}/template.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx_response.data)).active
    assert [c.value for c in sheet[1]][:2] in (["工号", "姓名"], ["项目编号", "项目名称"])
    assert preview(as_admin, xlsx_response.data, kind, "t.xlsx").status_code == 200
    assert preview(as_admin, csv_response.data, kind, "t.csv").status_code == 200
    assert as_admin.get(f"/admin/import/{kind}/template.pdf").status_code == 404
    assert as_admin.get("/admin/import/secrets").status_code == 404


PROJECT_HEADER = "项目编号,项目名称,年度,主审科室"


def projects(db) -> dict[str, AuditProject]:
    db.session.expire_all()
    return {p.code: p for p in db.session.scalars(sa.select(AuditProject))}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_projects_import_and_reimport(as_admin, db, encoding):
    raw = csv_file(PROJECT_HEADER, "2025-01,区教育局部门预算执行审计,2025,财政审计科",
                   "2025-02,街道财政收支审计,2025,", encoding=encoding)
    assert imported(as_admin, raw, "projects").status_code == 302
    found = projects(db)
    assert (found["2025-01"].name, found["2025-01"].year, found["2025-01"].department.name) == (
        "区教育局部门预算执行审计", 2025, "财政审计科")
    assert found["2025-02"].department is None
    again = preview(as_admin, raw, "projects")
    assert [a for _l, a in actions(again)] == ["unchanged", "unchanged"]
    changed = preview(as_admin, csv_file(PROJECT_HEADER, "2025-02,街道财政收支审计,2024,办公室"),
                      "projects")
    assert [a for _l, a in actions(changed)] == ["update"]
    apply(as_admin, changed, "projects")
    assert (projects(db)["2025-02"].year, projects(db)["2025-02"].department.name) == (
        2024, "办公室")
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "project.updated"))
    assert json.loads(entry.detail)["changes"] == {"department": [None, "办公室"],
                                                   "year": [2025, 2024]}


@pytest.mark.parametrize(("row", "message"), [
    ("P1,重复,2025,", "duplicate project code (also on line 2)"),
    (",无编号,2025,", "missing project code"),
    ("P2,,2025,", "missing name"),
    ("P2,无年度,,", "missing year"),
    ("P2,错年度,25,", "bad year 25"),
    ("P2,未知科室,2025,审计九科", "unknown department 审计九科"),
])
def test_a_wrong_project_row_blocks_the_import(as_admin, db, row, message):
    response = preview(as_admin, csv_file(PROJECT_HEADER, "P1,项目一,2025,", row), "projects")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert projects(db) == {}


def test_project_codes_of_another_agency_are_not_touched(as_admin, db):
    factories.ProjectFactory(code="P1", name="别局项目")
    assert imported(as_admin, csv_file(PROJECT_HEADER, "P1,本局项目,2025,"),
                    "projects").status_code == 302
    assert {p.name for p in db.session.scalars(sa.select(AuditProject))} == {"本局项目", "别局项目"}


def test_only_administrators_import(app, db, make_user, departments):
    client = app.test_client()
    login(client, make_user(roles={"auditor", "leader"}))
    token = csrf_token(client, "/")
    response = client.post("/admin/import/users", data={
        "csrf_token": token, "file": (io.BytesIO(csv_file("工号,姓名", "Z001,甲")), "s.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 403
    assert "Z001" not in {u.staff_no for u in db.session.scalars(sa.select(User))}


def test_the_command_line_reads_xlsx_with_the_same_code(db, runner, tmp_path, departments):
    from app.admin.cli import import_users_command

    path = tmp_path / "staff.xlsx"
    path.write_bytes(xlsx_file([["工号", "姓名", "科室"], ["C001", "欧阳明", "办公室"],
                                ["C002", "司马静", "审计九科"]]))
    refused = runner.invoke(import_users_command, [str(path)])
    assert refused.exit_code == 1
    assert "line 3 (C002): unknown department 审计九科" in refused.stderr
    assert staff(db) == {}
    path.write_bytes(xlsx_file([["工号", "姓名", "科室"], ["C001", "欧阳明", "办公室"]]))
    assert runner.invoke(import_users_command, [str(path)]).exit_code == 0
    assert staff(db)["C001"].department.name == "办公室"


def test_a_file_with_too_many_rows_is_refused(as_admin, db, monkeypatch):
    from app.core import tabular

    monkeypatch.setattr(tabular, "MAX_ROWS", 3)
    rows = [f"M{n},甲{n}" for n in range(4)]
    for raw, name in ((csv_file("工号,姓名", *rows), "s.csv"),
                      (xlsx_file([["工号", "姓名"], *(r.split(",") for r in rows)]), "s.xlsx")):
        response = preview(as_admin, raw, name=name)
        assert response.status_code == 400
        assert "the file has more than 3 rows" in response.get_data(as_text=True)
    assert preview(as_admin, csv_file("工号,姓名", *rows[:3])).status_code == 200


def test_the_command_line_imports_projects(db, runner, tmp_path, departments):
    from app.admin.cli import import_projects_command

    path = tmp_path / "projects.csv"
    path.write_bytes(csv_file(PROJECT_HEADER, "2025-01,区教育局部门预算执行审计,2025,办公室",
                              "2025-02,,2025,", encoding="gbk"))
    refused = runner.invoke(import_projects_command, [str(path)])
    assert refused.exit_code == 1
    assert "line 3 (2025-02): missing name" in refused.stderr
    assert projects(db) == {}
    path.write_bytes(csv_file(PROJECT_HEADER, "2025-01,区教育局部门预算执行审计,2025,办公室"))
    done = runner.invoke(import_projects_command, [str(path)])
    assert "Imported: 1 created, 0 updated, 0 unchanged (1 changed)." in done.stdout
    assert runner.invoke(import_projects_command, [str(path)]).stdout.endswith("(0 changed).\n")


def test_an_upload_cannot_give_the_discipline_offices_role(as_admin, db, make_user):
    make_user(staff_no="K001", name="纪检员", roles={"reviewer"})
    response = preview(as_admin, csv_file(HEADER_ZH, OPERATOR_ROWS[1],
                                          "K001,纪检员,,,纪检,"))
    assert actions(response) == [("2", "error"), ("3", "unchanged")]
    assert "co-opts its own members" in response.get_data(as_text=True)
    assert "A002" not in staff(db)


def test_the_preview_shows_the_values_of_new_rows_and_the_first_sign_in(as_admin, db,
                                                                      departments):
    response = preview(as_admin, csv_file(HEADER_ZH, *ROWS))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    row = re.search(r'<tr data-line="2".*?</tr>', page, re.S).group(0)
    for value in ("王芳", "财政审计科", "wangfang@example.org", "Auditor", "2024-03-01"):
        assert value in row, value
    third = re.search(r'<tr data-line="4".*?</tr>', page, re.S).group(0)
    assert "陈晓燕" in third and "Auditor" in third and "Bureau leader" in third
    assert "(default)" in third  # no joining date in the file: today
    notice = re.search(r'data-testid="first-signin".*?</div>', page, re.S).group(0)
    assert "one-time link" in notice and "Reset the password and send a sign-in link" in notice
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1  # nothing yet


def test_the_preview_of_projects_shows_their_values_without_a_sign_in_note(as_admin, db,
                                                                           departments):
    raw = csv_file("项目编号,项目名称,年度,主审科室",
                   "2025-001,区教育局部门预算执行审计,2025,财政审计科")
    page = preview(as_admin, raw, kind="projects").get_data(as_text=True)
    row = re.search(r'<tr data-line="2".*?</tr>', page, re.S).group(0)
    assert "区教育局部门预算执行审计" in row and "2025" in row and "财政审计科" in row
    assert 'data-testid="first-signin"' not in page
