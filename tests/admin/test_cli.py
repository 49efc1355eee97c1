"""The administrator's commands: create-agency, create-user, set-password (import-users has its
own file, test_userimport.py)."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, gettext

from app.admin.cli import (
    create_agency_command,
    create_user_command,
    import_users_command,
    set_password_command,
)
from app.auth.security import verify_password
from app.models import Agency, AuditLog, Department, User
from tests.helpers import factories
from tests.helpers.web import login

NEW_PASSWORD = "a new long password"


def account(db, staff_no: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.staff_no == staff_no))


def logs(db, action: str) -> list[AuditLog]:
    return list(db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def create(runner, *args: str, password: str | None = NEW_PASSWORD, **kwargs):
    extra = ["--password", password] if password is not None else []
    return runner.invoke(create_user_command, [*args, *extra], **kwargs)


# -- create-user ---------------------------------------------------------------------------------


def test_create_user_with_every_option(db, runner, agency):
    result = create(runner, "--staff-no", "XQ100", "--name", "张三", "--email",
                    "Zhangsan@Example.ORG", "--department", "财政审计科", "--role", "auditor",
                    "--role", "reviewer", "--joined-on", "2024-09-01")
    assert result.exit_code == 0, result.output
    assert "Account XQ100 (张三) created." in result.output
    user = account(db, "XQ100")
    assert (user.name, user.email, user.roles, user.joined_on, user.agency) == (
        "张三", "Zhangsan@example.org", {"auditor", "reviewer"}, date(2024, 9, 1), agency)
    assert user.department.name == "财政审计科" and user.department.agency == agency
    assert verify_password(user, NEW_PASSWORD)
    assert user.active and user.session_version == 1


def test_create_user_logs_the_account_and_the_new_department(db, runner, agency):
    result = create(runner, "--staff-no", "XQ101", "--name", "李四", "--email", "",
                    "--department", "法规审理科")
    assert result.exit_code == 0, result.output
    user = account(db, "XQ101")
    [created] = logs(db, "user.created")
    assert (created.object_type, created.object_id, created.ip) == ("User", user.id, "cli")
    assert json.loads(created.detail) == {"roles": ["auditor"], "staff_no": "XQ101"}
    [department] = logs(db, "department.created")
    assert department.object_id == user.department_id
    assert "password" not in created.detail.lower()


def test_create_user_in_an_existing_department(db, runner, agency):
    existing = factories.DepartmentFactory(agency=agency, name="办公室")
    result = create(runner, "--staff-no", "XQ102", "--name", "王五", "--email", "",
                    "--department", "办公室")
    assert result.exit_code == 0, result.output
    assert account(db, "XQ102").department == existing
    assert logs(db, "department.created") == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Department)) == 1


def test_create_user_asks_for_what_is_missing(db, runner, agency):
    typed = "XQ103\n赵六\nzhaoliu@example.org\n" + f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    result = runner.invoke(create_user_command, [], input=typed)
    assert result.exit_code == 0, result.output
    user = account(db, "XQ103")
    assert (user.name, user.email, user.roles) == ("赵六", "zhaoliu@example.org", {"auditor"})
    assert verify_password(user, NEW_PASSWORD)
    assert NEW_PASSWORD not in result.output  # the password prompt does not echo


def test_the_password_prompt_asks_again_until_it_is_good(db, runner, agency):
    typed = "short\nshort\n" + f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    result = create(runner, "--staff-no", "XQ104", "--name", "孙七", "--email", "",
                    password=None, input=typed)
    assert result.exit_code == 0, result.output
    assert "A password has 12 to 128 characters" in result.output
    assert verify_password(account(db, "XQ104"), NEW_PASSWORD)


def test_create_user_joins_today_in_the_agency_time_zone(db, runner, agency, frozen):
    frozen.set(2025, 3, 31, 16, 30)  # 2025-04-01 00:30 in Beijing
    result = create(runner, "--staff-no", "XQ105", "--name", "周八", "--email", "")
    assert result.exit_code == 0, result.output
    assert account(db, "XQ105").joined_on == date(2025, 4, 1)


@pytest.mark.parametrize(("args", "message"), [
    (["--staff-no", "S9999", "--name", "重名"], "Staff number S9999 is taken."),
    (["--staff-no", "XQ106", "--name", "某", "--email", "S9999@EXAMPLE.org"],
     "E-mail S9999@example.org is used by another account."),
    (["--staff-no", "XQ106", "--name", "某", "--email", "not-an-email"], "--email"),
    (["--staff-no", "XQ106", "--name", "某", "--role", "boss"], "'boss' is not one of"),
    (["--staff-no", "XQ106", "--name", "某", "--joined-on", "2024/1/1"], "--joined-on"),
    (["--staff-no", " ", "--name", "某"], "must not be empty"),
    (["--staff-no", "X" * 33, "--name", "某"], "at most 32 characters"),
    (["--staff-no", "XQ106", "--name", "名" * 65], "at most 64 characters"),
    (["--staff-no", "XQ106", "--name", "某", "--agency", "没有这个局"], "No such agency"),
])
def test_create_user_refuses(db, runner, make_user, args, message):
    make_user(staff_no="S9999", email="s9999@example.org")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    result = create(runner, *args, *([] if "--email" in args else ["--email", ""]))
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == before
    assert logs(db, "user.created") == []


def test_create_user_refuses_a_short_password(db, runner, agency):
    result = create(runner, "--staff-no", "XQ107", "--name", "吴九", "--email", "",
                    password="short")
    assert result.exit_code == 2
    assert "A password has 12 to 128 characters" in result.output
    assert account(db, "XQ107") is None


def test_create_user_picks_the_bureau_not_its_parent(db, runner):
    city = factories.AgencyFactory(name="天津市审计局")
    district = factories.AgencyFactory(name="西青区审计局", parent=city)
    result = create(runner, "--staff-no", "XQ108", "--name", "郑十", "--email", "")
    assert result.exit_code == 0, result.output
    assert account(db, "XQ108").agency == district


def test_with_several_bureaus_the_agency_must_be_named(db, runner):
    city = factories.AgencyFactory(name="天津市审计局")
    factories.AgencyFactory(name="西青区审计局", parent=city)
    nankai = factories.AgencyFactory(name="南开区审计局", parent=city)
    result = create(runner, "--staff-no", "XQ109", "--name", "钱一", "--email", "")
    assert result.exit_code == 1
    assert "--agency" in result.output
    assert account(db, "XQ109") is None
    result = create(runner, "--staff-no", "XQ109", "--name", "钱一", "--email", "",
                    "--agency", "南开区审计局")
    assert result.exit_code == 0, result.output
    assert account(db, "XQ109").agency == nankai


def test_create_user_without_any_agency(db, runner):
    result = create(runner, "--staff-no", "XQ110", "--name", "孙二", "--email", "")
    assert result.exit_code == 1
    assert "flask create-agency" in result.output


def test_the_new_account_can_sign_in(db, runner, client, agency):
    assert create(runner, "--staff-no", "XQ111", "--name", "李三", "--email", "").exit_code == 0
    login(client, account(db, "XQ111"), NEW_PASSWORD)
    assert client.get("/").status_code == 200


# -- create-agency -------------------------------------------------------------------------------


def test_create_agency(db, runner):
    result = runner.invoke(create_agency_command, ["红桥区审计局", "--deadline-day", "10"])
    assert result.exit_code == 0, result.output
    agency = db.session.scalar(sa.select(Agency))
    assert (agency.name, agency.deadline_day, agency.timezone) == (
        "红桥区审计局", 10, "Asia/Shanghai")
    [log] = logs(db, "agency.created")
    assert log.object_id == agency.id


@pytest.mark.parametrize("args", [["--timezone", "Mars/Olympus"], ["--deadline-day", "29"]])
def test_create_agency_refuses_bad_settings(db, runner, args):
    result = runner.invoke(create_agency_command, ["红桥区审计局", *args])
    assert result.exit_code == 2
    assert db.session.scalar(sa.select(Agency)) is None


# -- set-password --------------------------------------------------------------------------------


def test_set_password(db, runner, make_user):
    user = make_user(staff_no="XQ200")
    result = runner.invoke(set_password_command, ["XQ200", "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Password of XQ200 set." in result.output
    db.session.refresh(user)
    assert verify_password(user, NEW_PASSWORD)
    assert not verify_password(user, factories.PASSWORD)
    assert user.session_version == 2
    [log] = logs(db, "user.password_set")
    assert (log.object_type, log.object_id, log.ip) == ("User", user.id, "cli")
    assert NEW_PASSWORD not in log.detail


def test_set_password_asks_twice(db, runner, make_user):
    user = make_user(staff_no="XQ201")
    result = runner.invoke(set_password_command, ["XQ201"],
                           input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    db.session.refresh(user)
    assert verify_password(user, NEW_PASSWORD)


def test_set_password_ends_the_sessions_of_the_account(db, runner, client, make_user):
    user = make_user(staff_no="XQ202")
    login(client, user)
    assert client.get("/").status_code == 200
    assert runner.invoke(set_password_command, ["XQ202", "--password", NEW_PASSWORD]).exit_code == 0
    response = client.get("/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    login(client, account(db, "XQ202"), NEW_PASSWORD)


@pytest.mark.parametrize(("args", "code", "message"), [
    (["NOBODY", "--password", NEW_PASSWORD], 1, "No account with staff number NOBODY."),
    (["XQ203", "--password", "short"], 2, "A password has 12 to 128 characters"),
    (["XQ203", "--password", "x" * 129], 2, "A password has 12 to 128 characters"),
    (["XQ203", "--password", "password1234"], 2, "too common"),
])
def test_set_password_refuses(db, runner, make_user, args, code, message):
    user = make_user(staff_no="XQ203")
    result = runner.invoke(set_password_command, args)
    assert result.exit_code == code
    assert message in result.output
    db.session.refresh(user)
    assert verify_password(user, factories.PASSWORD) and user.session_version == 1
    assert logs(db, "user.password_set") == []


# -- import-users in the portal's default language -----------------------------------------------


def test_import_errors_are_in_the_portal_default_language(app, db, runner, agency, tmp_path):
    """Outside any request (no user, no session to read a language from) the command reports
    the row errors in the default language instead of failing with a RuntimeError."""
    path = tmp_path / "staff.csv"
    path.write_text("工号,姓名\nT001,\n", encoding="utf-8")
    result = runner.invoke(import_users_command, [str(path)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    with force_locale(app.config["BABEL_DEFAULT_LOCALE"]):
        expected = gettext("missing name")
    assert expected != "missing name"  # the Chinese catalogue has it
    assert f"line 2 (T001): {expected}" in result.stderr
    assert "nothing was imported" in result.stderr
