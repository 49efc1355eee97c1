"""Administration through HTTP with CSRF: accounts, departments, audit projects, settings."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from app.models import Agency, AuditProject, Department, Outbox, User
from app.notices import reminders
from tests.helpers import factories
from tests.helpers.admin import fresh, logs, user_form
from tests.helpers.filing import file_month, register
from tests.helpers.web import csrf_token, login, post_form


@pytest.fixture(autouse=True)
def english(app, monkeypatch):
    """Messages in their source language; no second factor (tested in its own module)."""
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", "en")
    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ())


@pytest.fixture
def admin(make_user):
    return make_user(staff_no="ADM1", name="管理员", roles={"admin"})


@pytest.fixture
def as_admin(app, db, admin, frozen):
    client = app.test_client()
    login(client, admin)
    return client


def test_the_list_searches_and_filters(as_admin, db, agency, make_user):
    finance = factories.DepartmentFactory(agency=agency, name="财政审计科")
    make_user(staff_no="A001", name="王芳", department=finance)
    make_user(staff_no="A002", name="刘强", roles={"reviewer"})
    gone = make_user(staff_no="A003", name="陈晓燕", department=finance)
    gone.active = False
    db.session.commit()
    factories.UserFactory(staff_no="X001", name="王外局")  # another agency: never listed

    def staff(query: str) -> set[str]:
        page = as_admin.get(f"/admin/users{query}").get_data(as_text=True)
        return {no for no in ("A001", "A002", "A003", "ADM1", "X001")
                if f'data-staff-no="{no}"' in page}

    assert staff("") == {"A001", "A002", "A003", "ADM1"}
    assert staff("?q=王") == {"A001"}
    assert staff("?q=a00") == {"A001", "A002", "A003"}
    assert staff(f"?department={finance.id}") == {"A001", "A003"}
    assert staff("?role=reviewer") == {"A002"}
    assert staff("?active=0") == {"A003"}
    assert staff(f"?active=1&department={finance.id}") == {"A001"}
    assert as_admin.get("/admin/users?role=boss").status_code == 400


def test_the_list_is_paged(as_admin, make_user):
    for n in range(60):
        make_user(staff_no=f"P{n:03d}")
    first = as_admin.get("/admin/users").get_data(as_text=True)
    second = as_admin.get("/admin/users?page=2").get_data(as_text=True)
    assert "61 accounts match." in first
    assert 'data-staff-no="ADM1"' in first and 'data-staff-no="P048"' in first
    assert 'data-staff-no="P049"' not in first and 'data-staff-no="P049"' in second
    assert 'href="/admin/users?page=2"' in first


def test_an_admin_creates_an_account(as_admin, db, agency):
    department = factories.DepartmentFactory(agency=agency, name="办公室")
    response = post_form(as_admin, "/admin/users/new",
                         user_form(department=str(department.id),
                                   roles=["auditor", "leader"]))
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.staff_no == "N001"))
    assert (user.name, user.email, user.department_id, user.roles, user.joined_on,
            user.agency_id, user.password_hash, user.active) == (
        "新同事", "n001@example.org", department.id, {"auditor", "leader"}, date(2025, 3, 1),
        agency.id, None, True)
    [entry] = logs(db, "user.created")
    assert entry["values"]["department"] == "办公室"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"name": ""}, "This field is required."),
    ({"email": "not-an-email"}, "Invalid email address."),
    ({"roles": []}, "Choose at least one role."),
    ({"staff_no": "ADM1"}, "Staff number ADM1 is already taken."),
    ({"email": "ADM1@example.org"}, "is used by another account."),
    ({"joined_on": "2025-02-30"}, "Not a valid date value."),
])
def test_a_wrong_account_is_refused_and_nothing_is_saved(as_admin, db, overrides, message):
    response = post_form(as_admin, "/admin/users/new", user_form(**overrides))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    assert logs(db, "user.created") == []


def test_an_archived_department_is_not_offered_nor_accepted(as_admin, db, agency):
    archived = factories.DepartmentFactory(agency=agency, name="旧科室", archived=True)
    assert "旧科室" not in as_admin.get("/admin/users/new").get_data(as_text=True)
    response = post_form(as_admin, "/admin/users/new", user_form(department=str(archived.id)))
    assert response.status_code == 400


def test_editing_logs_old_and_new_values(as_admin, db, agency, make_user):
    old, new = (factories.DepartmentFactory(agency=agency, name=name) for name in ("甲科", "乙科"))
    user = make_user(staff_no="E001", name="旧名", department=old, email="e001@example.org")
    response = post_form(as_admin, f"/admin/users/{user.id}", user_form(
        staff_no="E001", name="新名", email="", department=str(new.id),
        roles=["auditor", "leader"], joined_on="2024-01-01"))
    assert response.status_code == 302
    user = fresh(db, User, user.id)
    assert (user.name, user.email, user.department, user.roles) == (
        "新名", None, new, {"auditor", "leader"})
    [entry] = logs(db, "user.updated")
    assert entry["changes"] == {"name": ["旧名", "新名"], "email": ["e001@example.org", None],
                                "department": ["甲科", "乙科"],
                                "roles": [["auditor"], ["auditor", "leader"]]}
    # Saving again changes nothing and logs nothing.
    post_form(as_admin, f"/admin/users/{user.id}", user_form(
        staff_no="E001", name="新名", email="", department=str(new.id),
        roles=["auditor", "leader"], joined_on="2024-01-01"))
    assert len(logs(db, "user.updated")) == 1


def test_an_admin_cannot_drop_their_own_admin_role(as_admin, db, admin):
    response = post_form(as_admin, f"/admin/users/{admin.id}", user_form(
        staff_no="ADM1", name="管理员", email="adm1@example.org", roles=["auditor"],
        joined_on="2024-01-01"))
    assert response.status_code == 400
    assert "You cannot remove your own administrator role" in response.get_data(as_text=True)
    assert fresh(db, User, admin.id).roles == {"admin"}


def test_accounts_of_another_agency_answer_404(as_admin, db):
    stranger = factories.UserFactory()
    department = factories.DepartmentFactory()
    project = factories.ProjectFactory()
    for url in (f"/admin/users/{stranger.id}", f"/admin/departments/{department.id}",
                f"/admin/projects/{project.id}", "/admin/users/99999"):
        assert as_admin.get(url).status_code == 404, url
    token = csrf_token(as_admin, "/admin/users")
    for url in (f"/admin/users/{stranger.id}/deactivate", f"/admin/users/{stranger.id}/reactivate",
                f"/admin/departments/{department.id}/archive",
                f"/admin/projects/{project.id}/archive"):
        response = as_admin.post(url, data={"csrf_token": token, "left_on": "2025-04-01",
                                            "archived": "1"})
        assert response.status_code == 404, url
    assert fresh(db, User, stranger.id).active
    assert not fresh(db, Department, department.id).archived


def test_a_post_without_csrf_token_is_refused(as_admin, db, make_user):
    user = make_user()
    response = as_admin.post(f"/admin/users/{user.id}/deactivate", data={"left_on": "2025-04-01"})
    assert response.status_code == 400
    assert fresh(db, User, user.id).active


def test_admin_pages_never_show_incident_content(app, db, as_admin, make_user, project):
    owner = make_user(staff_no="R001", name="登记人")
    client = app.test_client()
    login(client, owner)
    register(client, project, description="机密内容：某领导请求从轻处理")
    file_month(client, zero=False)
    for url in ("/admin/users", f"/admin/users/{owner.id}", "/admin/projects",
                f"/admin/projects/{project.id}", "/admin/departments", "/admin/settings"):
        page = as_admin.get(url).get_data(as_text=True)
        assert "机密内容" not in page and "某领导" not in page, url


@pytest.fixture
def leaver(app, make_user):
    user = make_user(staff_no="L001", name="调离者", joined_on=date(2024, 1, 1))
    client = app.test_client()
    login(client, user)
    file_month(client, zero=True)  # March 2025, filed on time
    return user, client


def test_deactivation_ends_sessions_at_once_and_keeps_history(as_admin, db, leaver):
    user, their_client = leaver
    assert their_client.get("/").status_code == 200
    response = post_form(as_admin, f"/admin/users/{user.id}/deactivate",
                         {"left_on": "2025-04-02", "confirmed": "1"},
                         form_url=f"/admin/users/{user.id}")
    assert response.status_code == 302
    again = fresh(db, User, user.id)
    assert (again.active, again.left_on) == (False, date(2025, 4, 2))
    assert their_client.get("/").status_code == 302  # signed out at once
    refused = post_form(their_client, "/auth/login", {"identifier": "L001",
                                                 "password": factories.PASSWORD})
    assert refused.status_code != 302
    assert len(again.role_rows) == 1 and db.session.scalar(
        sa.text("SELECT count(*) FROM monthly_report WHERE user_id = :id"), {"id": user.id}) == 1
    [entry] = logs(db, "user.deactivated")
    assert entry["changes"] == {"active": [True, False], "left_on": [None, "2025-04-02"]}
    listed = as_admin.get("/admin/users?active=0").get_data(as_text=True)
    assert 'data-staff-no="L001"' in listed


def test_a_deactivated_person_gets_no_further_reminders(app, db, as_admin, frozen, make_user):
    stays = make_user(staff_no="S001")
    leaves = make_user(staff_no="S002")
    post_form(as_admin, f"/admin/users/{leaves.id}/deactivate",
              {"left_on": "2025-04-03", "confirmed": "1"}, form_url=f"/admin/users/{leaves.id}")
    frozen.set(2025, 4, 5, 1, 30)  # 09:30 on the due day, Beijing time
    notices = reminders.plan(frozen.value)
    assert {n.user_id for n in notices if n.kind != "digest"} == {stays.id}
    digests = [n for n in notices if n.kind == "digest"]
    assert all("S002" not in json.dumps(n.params) for n in digests)


def test_mail_queued_for_a_leaver_is_not_sent(app, db, as_admin, make_user, frozen):
    leaves, stays = make_user(staff_no="Q001"), make_user(staff_no="Q002")
    for person in (leaves, stays):
        db.session.add(Outbox(key=f"{person.id}:2025-03:overdue:1", user_id=person.id,
                              kind="overdue", period="2025-03", seq=1, email=person.email,
                              params="{}", next_attempt_at=frozen.value))
    db.session.commit()
    post_form(as_admin, f"/admin/users/{leaves.id}/deactivate",
              {"left_on": "2025-04-03", "confirmed": "1"}, form_url=f"/admin/users/{leaves.id}")
    db.session.expire_all()
    statuses = dict(db.session.execute(sa.select(Outbox.user_id, Outbox.status)).all())
    assert statuses == {leaves.id: "failed", stays.id: "pending"}
    assert logs(db, "user.deactivated")[0]["cancelled_mail"] == 1


@pytest.mark.parametrize(("left_on", "message"), [
    ("", "This field is required."),
    ("2023-12-31", "cannot be before the joining date"),
    ("2025-04-04", "cannot be in the future"),
])
def test_a_wrong_leaving_date_is_refused(as_admin, db, make_user, left_on, message):
    user = make_user(joined_on=date(2024, 1, 1))
    response = post_form(as_admin, f"/admin/users/{user.id}/deactivate", {"left_on": left_on},
                         form_url=f"/admin/users/{user.id}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert fresh(db, User, user.id).active


def test_an_admin_cannot_deactivate_themselves(as_admin, db, admin):
    response = post_form(as_admin, f"/admin/users/{admin.id}/deactivate",
                         {"left_on": "2025-04-01"}, form_url=f"/admin/users/{admin.id}")
    assert response.status_code == 400
    assert fresh(db, User, admin.id).active


def test_reactivation_restores_access_and_keeps_history(app, db, as_admin, leaver):
    user, _client = leaver
    post_form(as_admin, f"/admin/users/{user.id}/deactivate",
              {"left_on": "2025-04-01", "confirmed": "1"}, form_url=f"/admin/users/{user.id}")
    response = post_form(as_admin, f"/admin/users/{user.id}/reactivate", {},
                         form_url=f"/admin/users/{user.id}")
    assert response.status_code == 302
    again = fresh(db, User, user.id)
    assert (again.active, again.left_on) == (True, None)
    client = app.test_client()
    login(client, again)
    assert "2025-03" in client.get("/filing/history").get_data(as_text=True)
    [entry] = logs(db, "user.reactivated")
    # Back in post from today (2025-04-03), in a period of its own.
    assert entry["changes"] == {"active": [False, True], "joined_on": ["2024-01-01", "2025-04-03"],
                                "left_on": ["2025-04-01", None]}
    twice = post_form(as_admin, f"/admin/users/{user.id}/reactivate", {},
                      form_url=f"/admin/users/{user.id}")
    assert twice.status_code == 400
    assert len(logs(db, "user.reactivated")) == 1


def test_departments_are_created_renamed_and_archived(as_admin, db, agency):
    assert post_form(as_admin, "/admin/departments", {"name": "经济责任审计科"}).status_code == 302
    department = db.session.scalar(sa.select(Department).where(Department.agency_id == agency.id))
    duplicate = post_form(as_admin, "/admin/departments", {"name": "经济责任审计科"})
    assert duplicate.status_code == 400
    assert "exists already" in duplicate.get_data(as_text=True)
    url = f"/admin/departments/{department.id}"
    assert post_form(as_admin, url, {"name": "经责审计科"}).status_code == 302
    assert post_form(as_admin, url, {"name": ""}).status_code == 400
    archive = post_form(as_admin, f"{url}/archive", {"archived": "1"}, form_url=url)
    assert archive.status_code == 302
    assert post_form(as_admin, f"{url}/archive", {"archived": "1"}, form_url=url).status_code == 302
    department = fresh(db, Department, department.id)
    assert (department.name, department.archived) == ("经责审计科", True)
    assert [e["changes"] for e in logs(db, "department.updated")] == [
        {"name": ["经济责任审计科", "经责审计科"]}]
    assert len(logs(db, "department.archived")) == 1  # the double click changed nothing
    post_form(as_admin, f"{url}/archive", {"archived": "0"}, form_url=url)
    assert not fresh(db, Department, department.id).archived


def test_projects_are_created_edited_and_archived(as_admin, db, agency, app, make_user):
    department = factories.DepartmentFactory(agency=agency, name="财政审计科")
    form = {"code": "2025-07", "name": "区水务局预算执行审计", "year": "2025",
            "department": str(department.id)}
    assert post_form(as_admin, "/admin/projects", form).status_code == 302
    project = db.session.scalar(sa.select(AuditProject).where(AuditProject.code == "2025-07"))
    assert (project.name, project.year, project.department_id) == (
        "区水务局预算执行审计", 2025, department.id)
    assert post_form(as_admin, "/admin/projects", form).status_code == 400  # code taken
    bad_year = post_form(as_admin, "/admin/projects", {**form, "code": "X", "year": "1999"})
    assert bad_year.status_code == 400
    url = f"/admin/projects/{project.id}"
    assert post_form(as_admin, url, {**form, "name": "区水务局审计"}).status_code == 302
    assert logs(db, "project.updated")[0]["changes"] == {
        "name": ["区水务局预算执行审计", "区水务局审计"]}

    auditor = make_user()
    client = app.test_client()
    login(client, auditor)
    assert "区水务局审计" in client.get("/filing/incidents/new").get_data(as_text=True)
    post_form(as_admin, f"{url}/archive", {"archived": "1"}, form_url="/admin/projects")
    assert fresh(db, AuditProject, project.id).archived
    assert "区水务局审计" not in client.get("/filing/incidents/new").get_data(as_text=True)
    assert "区水务局审计" in as_admin.get("/admin/projects").get_data(as_text=True)


def settings_form(**overrides) -> dict:
    return {"name": "西青区审计局", "timezone": "Asia/Shanghai", "deadline_day": "5",
            "shift_to_workday": "", "reminder_hour": "", "reminder_approaching_days": "",
            "reminder_overdue_every_days": "", "reminder_overdue_times": "",
            "reminder_digest_every_days": "", "reminder_digest_times": "", **overrides}


def test_agency_settings_are_saved_and_logged(as_admin, db, agency):
    response = post_form(as_admin, "/admin/settings",
                         settings_form(deadline_day="10", reminder_hour="8", shift_to_workday="y"))
    assert response.status_code == 302
    agency = fresh(db, Agency, agency.id)
    assert (agency.name, agency.deadline_day, agency.shift_to_workday, agency.reminder_hour,
            agency.reminder_digest_times) == ("西青区审计局", 10, True, 8, None)
    [entry] = logs(db, "agency.settings_changed")
    assert entry["changes"]["deadline_day"] == [5, 10]
    assert entry["changes"]["reminder_hour"] == [None, 8]


@pytest.mark.parametrize("overrides", [
    {"name": ""}, {"deadline_day": "29"}, {"deadline_day": "0"}, {"timezone": "Mars/Olympus"},
    {"reminder_hour": "24"}, {"reminder_overdue_every_days": "10", "reminder_overdue_times": "5"},
])
def test_wrong_agency_settings_change_nothing(as_admin, db, agency, overrides):
    before = (agency.name, agency.deadline_day, agency.timezone, agency.reminder_hour)
    response = post_form(as_admin, "/admin/settings", settings_form(**overrides))
    assert response.status_code == 400
    agency = fresh(db, Agency, agency.id)
    assert (agency.name, agency.deadline_day, agency.timezone, agency.reminder_hour) == before
    assert logs(db, "agency.settings_changed") == []


def test_the_reminders_follow_the_agencys_schedule(app, db, as_admin, agency, make_user):
    make_user(staff_no="S001")
    post_form(as_admin, "/admin/settings",
              settings_form(reminder_hour="14", reminder_approaching_days="1"))
    db.session.expire_all()
    assert reminders.schedule_of(fresh(db, Agency, agency.id)) == reminders.Schedule(
        hour=14, approaching_days=1, overdue_every_days=3, overdue_times=3,
        digest_every_days=7, digest_times=4)
    kinds = {moment: {n.kind for n in reminders.plan(datetime(2025, 4, *moment, tzinfo=UTC))}
             for moment in ((3, 2), (4, 2), (4, 6))}  # Beijing 10:00 on 4-3, 4-4; 14:00 on 4-4
    assert "approaching" not in kinds[(4, 2)]  # before 14:00 Beijing time
    assert "approaching" in kinds[(4, 6)]


def test_the_account_page_offers_a_sign_in_link(as_admin, db, make_user):
    user = make_user(staff_no="W001")
    version = user.session_version
    page = as_admin.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert f'action="/admin/users/{user.id}/reset-password"' in page
    response = post_form(as_admin, f"/admin/users/{user.id}/reset-password", {},
                         form_url=f"/admin/users/{user.id}")
    assert response.status_code == 200
    assert fresh(db, User, user.id).session_version == version + 1


def test_declared_dates_move_deadlines_and_are_logged(as_admin, db, agency):
    from app.filing import records
    from app.filing.periods import Period
    from app.models import CalendarDay

    agency.shift_to_workday = True
    db.session.commit()
    may = Period(2025, 5)
    assert records.deadline_rule(agency).due_date(may) == date(2025, 6, 5)
    response = post_form(as_admin, "/admin/settings/calendar",
                         {"day": "2025-06-05", "is_workday": "0", "note": "临时放假"},
                         form_url="/admin/settings")
    assert response.status_code == 302
    db.session.expire_all()
    assert records.deadline_rule(agency).due_date(may) == date(2025, 6, 6)
    again = post_form(as_admin, "/admin/settings/calendar",
                      {"day": "2025-06-05", "is_workday": "1", "note": ""},
                      form_url="/admin/settings")
    assert again.status_code == 400
    assert "already declared" in again.get_data(as_text=True)
    assert post_form(as_admin, "/admin/settings/calendar", {"day": "", "is_workday": "0"},
                     form_url="/admin/settings").status_code == 400
    row = db.session.scalar(sa.select(CalendarDay))
    assert "临时放假" in as_admin.get("/admin/settings").get_data(as_text=True)
    assert post_form(as_admin, f"/admin/settings/calendar/{row.id}/delete", {},
                     form_url="/admin/settings").status_code == 302
    assert db.session.scalar(sa.select(CalendarDay)) is None
    assert logs(db, "calendar_day.added") == [
        {"day": "2025-06-05", "is_workday": False, "note": "临时放假"}]
    assert len(logs(db, "calendar_day.removed")) == 1


def test_another_agencys_calendar_day_answers_404(as_admin, db):
    from app.models import CalendarDay

    other = factories.AgencyFactory()
    row = CalendarDay(agency_id=other.id, day=date(2025, 6, 5), is_workday=False)
    db.session.add(row)
    db.session.commit()
    response = post_form(as_admin, f"/admin/settings/calendar/{row.id}/delete", {},
                         form_url="/admin/settings")
    assert response.status_code == 404
    assert fresh(db, CalendarDay, row.id) is not None


def test_the_settings_page_says_when_the_official_calendar_is_missing(as_admin, monkeypatch):
    from app.admin import routes

    monkeypatch.setattr(routes, "official_calendar_covers", lambda year: year < 2026)
    page = as_admin.get("/admin/settings").get_data(as_text=True)
    assert "The official calendar for 2026 is not published" in page
    assert "for 2025 is not" not in page


def test_deactivation_asks_for_confirmation_in_the_page(as_admin, db, make_user, frozen):
    user = make_user(staff_no="C001", name="待调离", joined_on=date(2024, 1, 1))
    db.session.add(Outbox(key=f"{user.id}:2025-03:overdue:1", user_id=user.id, kind="overdue",
                          period="2025-03", seq=1, email=user.email, params="{}",
                          next_attempt_at=frozen.value))
    db.session.commit()
    url = f"/admin/users/{user.id}/deactivate"
    form_url = f"/admin/users/{user.id}"
    summary = post_form(as_admin, url, {"left_on": "2025-04-02"}, form_url=form_url)
    page = summary.get_data(as_text=True)
    assert summary.status_code == 200
    assert 'data-testid="confirm-deactivate"' in page and "2025-04-02" in page
    assert "1 e-mail still waiting for them will not be sent." in page
    assert 'name="confirmed" value="1"' in page and 'name="edit" value="1"' in page
    assert "confirm(" not in page  # in the page, no JavaScript dialog
    assert fresh(db, User, user.id).active and logs(db, "user.deactivated") == []

    back = post_form(as_admin, url, {"left_on": "2025-04-02", "edit": "1"}, form_url=form_url)
    page = back.get_data(as_text=True)
    assert back.status_code == 200 and 'data-testid="deactivate"' in page
    assert 'value="2025-04-02"' in page  # the date entered is kept
    assert fresh(db, User, user.id).active

    done = post_form(as_admin, url, {"left_on": "2025-04-02", "confirmed": "1"},
                     form_url=form_url)
    assert done.status_code == 302
    assert not fresh(db, User, user.id).active
    assert len(logs(db, "user.deactivated")) == 1


def test_a_refused_deactivation_is_said_before_the_summary(as_admin, db, make_user):
    user = make_user(joined_on=date(2024, 1, 1))
    response = post_form(as_admin, f"/admin/users/{user.id}/deactivate",
                         {"left_on": "2025-04-04"}, form_url=f"/admin/users/{user.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "cannot be in the future" in page
    assert 'data-testid="confirm-deactivate"' not in page


def test_the_accounts_table_scrolls_in_its_own_box(as_admin, make_user):
    make_user(staff_no="W001", email="a-very-long-address-for-a-phone@bureau.example.org")
    page = as_admin.get("/admin/users").get_data(as_text=True)
    assert '<div class="table-responsive" data-testid="users-box">' in page
