"""`flask import-users FILE.csv`: staff lists as Chinese Excel saves them, all rows or none."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.extract import extract_from_file

from app.admin import userimport
from app.admin.cli import import_users_command
from app.core import tabular
from app.models import AuditLog, User
from tests.helpers import factories
from tests.helpers.imports import HEADER_ZH, ROWS

HEADER_EN = "staff_no,name,department,email,roles,joined_on"


@pytest.fixture(autouse=True)
def english(app, monkeypatch):
    """Messages in their source language, whatever the Chinese catalogue holds."""
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", "en")


@pytest.fixture
def departments(agency):
    return {name: factories.DepartmentFactory(agency=agency, name=name)
            for name in ("财政审计科", "机关纪委", "办公室")}


@pytest.fixture
def frozen_today(frozen):
    frozen.set(2025, 6, 30, 17)  # 2025-07-01 01:00 in Beijing: "today" is the agency's day
    return date(2025, 7, 1)


@pytest.fixture
def run_import(runner, tmp_path, departments):
    def run(*lines: str, encoding: str = "utf-8", options: tuple[str, ...] = ()):
        path = tmp_path / "staff.csv"
        path.write_bytes("\r\n".join(lines).encode(encoding) + b"\r\n")
        return runner.invoke(import_users_command, [str(path), *options])

    return run


def users(db) -> dict[str, User]:
    return {u.staff_no: u for u in db.session.scalars(sa.select(User))}


def logs(db, action: str | None = None) -> list[AuditLog]:
    query = sa.select(AuditLog).order_by(AuditLog.id)
    if action:
        query = query.where(AuditLog.action == action)
    return list(db.session.scalars(query))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_import_with_chinese_headers(db, run_import, departments, frozen_today, encoding):
    result = run_import(HEADER_ZH, *ROWS, encoding=encoding)
    assert result.exit_code == 0, result.output
    assert "3 created, 0 updated, 0 unchanged (3 changed)" in result.stdout
    staff = users(db)
    assert set(staff) == {"A001", "A002", "A003"}
    wang, liu, chen = staff["A001"], staff["A002"], staff["A003"]
    assert (wang.name, wang.department, wang.email, wang.roles, wang.joined_on) == (
        "王芳", departments["财政审计科"], "wangfang@example.org", {"auditor"}, date(2024, 3, 1))
    assert (liu.name, liu.roles, liu.joined_on) == ("刘强", {"reviewer"}, date(2023, 9, 15))
    assert (chen.name, chen.email, chen.roles) == ("陈晓燕", None, {"auditor", "leader"})
    assert chen.joined_on == frozen_today  # no date given: today, in the agency's time zone
    assert all(u.password_hash is None and u.active for u in staff.values())


def test_import_with_english_headers(db, run_import, departments):
    result = run_import(
        HEADER_EN,
        "B001,Li Lei,财政审计科,lilei@example.org,auditor;admin,2024-01-02",
        "B002,Han Meimei,,,Reviewer,2022/3/1",  # role codes in any case; Excel's date form
    )
    assert result.exit_code == 0, result.output
    staff = users(db)
    assert staff["B001"].roles == {"auditor", "admin"}
    assert staff["B002"].roles == {"reviewer"}
    assert staff["B002"].joined_on == date(2022, 3, 1)
    assert staff["B002"].department is None


def test_a_header_with_only_staff_number_and_name_is_enough(db, run_import):
    result = run_import("工号,姓名", "C001,赵雷", "", "C002,钱多多")
    assert result.exit_code == 0, result.output
    assert {u.staff_no: u.roles for u in users(db).values()} == {
        "C001": {"auditor"}, "C002": {"auditor"}}


def test_a_file_without_staff_number_or_name_columns_is_refused(db, run_import):
    result = run_import("编号,名字", "C001,赵雷")
    assert result.exit_code == 1
    assert "line 1 (-): the header must name at least 工号" in result.stderr
    assert users(db) == {}


def test_a_file_that_is_not_text_is_refused(db, runner, tmp_path, agency):
    path = tmp_path / "staff.xlsx"
    path.write_bytes(b"PK\x03\x04\x80\x81\xff\xfe" * 10)
    result = runner.invoke(import_users_command, [str(path)])
    assert result.exit_code == 1
    assert "line 1 (-): the file is neither UTF-8 nor GBK text" in result.stderr


BAD_ROWS = [
    ("D002,,财政审计科,,,", "line 3 (D002): missing name"),
    (",无工号,财政审计科,,,", "line 3 (-): missing staff number"),
    ("D002,孙七,审计二科,,,", "line 3 (D002): unknown department 审计二科"),
    ("D002,孙七,,not-an-email,,", "line 3 (D002): bad e-mail not-an-email"),
    ("D001,孙七,,,,", "line 3 (D001): duplicate staff number (also on line 2)"),
    ("D002,孙七,,,科长,", "line 3 (D002): unknown role 科长"),
    ("D002,孙七,,,,2024-02-30", "line 3 (D002): bad date 2024-02-30 (use YYYY-MM-DD)"),
    ("D002,孙七,,,,3/1/2024", "line 3 (D002): bad date 3/1/2024 (use YYYY-MM-DD)"),
    ("D002,孙七,,d001@example.org,,", "line 3 (D002): duplicate e-mail (also on line 2)"),
    ("D002,孙七,,D001@Example.org,,", "line 3 (D002): duplicate e-mail (also on line 2)"),
    ("D" + "9" * 32 + ",孙七,,,,", "staff number longer than 32 characters"),
    ("D002," + "名" * 65 + ",,,,", "line 3 (D002): name longer than 64 characters"),
]


@pytest.mark.parametrize(("row", "message"), BAD_ROWS)
def test_a_wrong_row_is_reported_with_its_line_and_nothing_is_imported(
        db, run_import, row, message):
    result = run_import(HEADER_ZH, "D001,周八,财政审计科,d001@example.org,,", row,
                        "D003,吴九,办公室,,,")
    assert result.exit_code == 1
    assert message in result.stderr
    assert "1 row(s) have errors; nothing was imported." in result.stderr
    assert users(db) == {}
    assert logs(db) == []


def test_every_wrong_row_is_reported_at_once(db, run_import):
    result = run_import(
        HEADER_ZH,
        "E001,,审计九科,bad@,主任,2024-13-01",
        "E002,正常,,,,",
        ",,,,,",  # a row of empty cells is skipped, as Excel leaves them
        "E003,也正常,,,,",
        "E001,重复,,,,",
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        "line 2 (E001): missing name; unknown department 审计九科; bad e-mail bad@; "
        "unknown role 主任; bad date 2024-13-01 (use YYYY-MM-DD)",
        "line 6 (E001): duplicate staff number (also on line 2)",
    ]
    assert "2 row(s) have errors" in result.stderr
    assert users(db) == {}


def test_a_staff_number_of_another_agency_is_refused(db, run_import, agency):
    other = factories.AgencyFactory(name="别的审计局", parent=agency)
    factories.UserFactory(agency=other, staff_no="F001")
    result = run_import("工号,姓名", "F001,冒名", "F002,新人", options=("--agency", agency.name))
    assert result.exit_code == 1
    assert "line 2 (F001): the staff number belongs to another agency" in result.stderr
    assert set(users(db)) == {"F001"}


def test_an_email_of_another_account_is_a_row_error_not_a_crash(db, run_import, make_user):
    make_user(staff_no="G001", email="taken@example.org")
    result = run_import("工号,姓名,邮箱", "G002,新同事,Taken@example.org", "G003,另一位,")
    assert result.exit_code == 1
    assert ("line 2 (G002): e-mail Taken@example.org is already used by another account"
            in result.stderr)
    assert set(users(db)) == {"G001"}


def test_an_account_may_keep_its_own_email(db, run_import, make_user):
    make_user(staff_no="G001", name="旧名", email="g001@example.org")
    result = run_import("工号,姓名,邮箱", "G001,新名,g001@example.org")
    assert result.exit_code == 0, result.output
    assert users(db)["G001"].name == "新名"


def test_the_same_email_twice_in_the_file_is_refused(db, run_import):
    result = run_import("工号,姓名,邮箱", "H001,甲,same@example.org", "H002,乙,same@example.org")
    assert result.exit_code == 1
    assert "line 3 (H002): duplicate e-mail (also on line 2)" in result.stderr
    assert users(db) == {}


def test_importing_the_same_file_again_changes_nothing(db, run_import, frozen_today):
    assert run_import(HEADER_ZH, *ROWS).exit_code == 0
    before = {no: (u.name, u.department_id, u.email, u.roles, u.joined_on)
              for no, u in users(db).items()}
    count = len(logs(db))
    result = run_import(HEADER_ZH, *ROWS, encoding="gbk")
    assert result.exit_code == 0, result.output
    assert "0 created, 0 updated, 3 unchanged (0 changed)" in result.stdout
    assert {no: (u.name, u.department_id, u.email, u.roles, u.joined_on)
            for no, u in users(db).items()} == before
    assert len(logs(db)) == count


def test_an_updated_file_updates_by_staff_number(db, run_import, departments):
    assert run_import(HEADER_ZH, *ROWS).exit_code == 0
    result = run_import(
        HEADER_ZH,
        ROWS[0],
        "A002,刘强,财政审计科,liuqiang@example.org,纪检;审计人员,2023-09-15",
        "A003,陈晓燕,办公室,chenxy@example.org,审计人员；局领导,",
        "A004,新同事,办公室,,,2025-05-06",
    )
    assert result.exit_code == 0, result.output
    assert "1 created, 2 updated, 1 unchanged (3 changed)" in result.stdout
    staff = users(db)
    assert staff["A002"].department == departments["财政审计科"]
    assert staff["A002"].roles == {"reviewer", "auditor"}
    assert staff["A003"].email == "chenxy@example.org"
    updates = {json.loads(log.detail)["staff_no"]: json.loads(log.detail)
               for log in logs(db, "user.updated")}
    assert updates == {
        "A002": {"staff_no": "A002", "fields": ["department", "roles"], "source": "import",
                 "changes": {"department": ["机关纪委", "财政审计科"],
                             "roles": [["reviewer"], ["auditor", "reviewer"]]}},
        "A003": {"staff_no": "A003", "fields": ["email"], "source": "import",
                 "changes": {"email": [None, "chenxy@example.org"]}},
    }
    assert {log.object_id for log in logs(db, "user.updated")} == {
        staff["A002"].id, staff["A003"].id}


def test_blank_cells_and_missing_columns_keep_what_the_account_has(db, run_import, make_user,
                                                                   departments):
    reviewer = make_user(staff_no="K001", name="老名字", email="k001@example.org",
                         department=departments["机关纪委"], roles={"reviewer"})
    joined = reviewer.joined_on
    result = run_import("工号,姓名,科室,邮箱,角色", "K001,新名字,,,")
    assert result.exit_code == 0, result.output
    again = users(db)["K001"]
    assert (again.name, again.email, again.department.name, again.roles, again.joined_on) == (
        "新名字", "k001@example.org", "机关纪委", {"reviewer"}, joined)
    assert run_import("工号,姓名", "K001,新名字").stdout.endswith("(0 changed).\n")


def test_every_created_account_is_logged(db, run_import):
    result = run_import(HEADER_ZH, *ROWS)
    assert result.exit_code == 0, result.output
    staff = users(db)
    created = logs(db, "user.created")
    assert sorted((log.object_type, log.object_id) for log in created) == sorted(
        ("User", u.id) for u in staff.values())
    assert all(log.ip == "cli" and log.actor_id is None for log in created)
    assert json.loads(created[2].detail) == {
        "roles": ["auditor", "leader"], "source": "import", "staff_no": "A003"}
    assert len(logs(db)) == 3


def test_check_tells_what_each_row_would_do(app, db, make_user):
    make_user(staff_no="L001", name="甲")
    make_user(staff_no="L002", name="乙")
    raw = "工号,姓名\nL001,甲\nL002,乙乙\nL003,丙\n".encode()
    with app.test_request_context():
        results = userimport.check(make_user().agency, raw)
    assert [(r.line, r.staff_no, r.action, r.errors) for r in results] == [
        (2, "L001", "unchanged", []), (3, "L002", "update", []), (4, "L003", "create", [])]


def test_a_quoted_cell_over_two_lines_keeps_line_numbers_right(app, db, agency):
    raw = '工号,姓名,角色\nM001,"甲\n乙",\nM002,,\n'.encode()
    with app.test_request_context():
        results = userimport.check(agency, raw)
    assert [(r.line, r.errors) for r in results] == [(2, []), (4, ["missing name"])]


def test_apply_refuses_rows_with_errors(app, db, agency):
    with app.test_request_context():
        results = userimport.check(agency, "工号,姓名\nN001,\n".encode())
        with pytest.raises(ValueError, match="errors"):
            userimport.apply(agency, results, date(2025, 1, 1))


MESSAGES = {
    "missing staff number", "missing name", "unknown department %(name)s",
    "bad e-mail %(email)s", "unknown role %(role)s", "bad date %(date)s (use YYYY-MM-DD)",
    "duplicate staff number (also on line %(line)d)", "duplicate e-mail (also on line %(line)d)",
    "e-mail %(email)s is already used by another account",
    "the staff number belongs to another agency: to transfer the person here, give the date "
    "in the 调入日期 column",
    "a transfer date (调入日期) is only for staff of another agency who move here",
    "staff number longer than %(max)d characters", "name longer than %(max)d characters",
    "the header must name at least 工号 (staff number) and 姓名 (name)",
    "the file is neither UTF-8 nor GBK text", "line %(line)d is not valid CSV: %(error)s",
}


def test_error_messages_are_marked_for_translation():
    """`make messages` (pybabel extract) finds every error message of the import."""
    extracted = [entry for module in (userimport, tabular)
                 for entry in extract_from_file("python", Path(module.__file__))]
    assert {message for _line, message, _comments, _context in extracted} >= MESSAGES


def test_error_messages_go_through_gettext(db, run_import, make_user, monkeypatch):
    """Every message the user sees comes from the translation function."""
    monkeypatch.setattr(userimport, "_", lambda text, **values: "译:" + text % values)
    make_user(staff_no="P000", email="taken@example.org")
    result = run_import(
        HEADER_ZH,
        "P001,,无此科,bad@,主任,2024-99-01",
        "P001,某,,taken@example.org,,",
        ",某,,,,",
    )
    assert result.exit_code == 1
    errors = [part for line in result.stderr.splitlines() if line.startswith("line ")
              for part in line.split(": ", 1)[1].split("; ")]
    assert len(errors) == 8
    assert all(error.startswith("译:") for error in errors), errors
