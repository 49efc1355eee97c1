"""Employment as periods: a transfer (调动) between agencies, leaving and coming back, and
which agency expects each month (app/admin/employment.py, app/filing/scope.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from app.admin import employment
from app.core.codes import NoticeKind
from app.filing import scope
from app.models import AuditLog, Employment, FilingTally, User
from app.notices import reminders
from app.statement import confirmations, figures
from tests.helpers import factories
from tests.helpers.filing import file_month
from tests.helpers.imports import csv_file, preview
from tests.helpers.reminders import local
from tests.helpers.review import make_incident
from tests.helpers.web import login, post_form

PERSON = "P001"
TRANSFER_DAY = date(2025, 7, 16)             # mid-July: July is the new agency's month
NEXT_JANUARY = datetime(2026, 1, 20, 2, tzinfo=UTC)  # every month of 2025 past its deadline


def periods(db, user_id: int) -> list[tuple]:
    db.session.expire_all()
    return [(e.agency_id, e.started_on, e.ended_on, e.first_period, e.last_period)
            for e in scope.periods_of(user_id)]


@pytest.mark.parametrize(("started", "ended", "next_start", "owned"), [
    (date(2024, 1, 1), None, None, ("2024-01", None)),
    (date(2024, 1, 31), date(2025, 3, 1), None, ("2024-01", "2025-03")),   # as before periods
    (date(2024, 1, 1), date(2025, 7, 15), date(2025, 7, 16), ("2024-01", "2025-06")),
    (date(2024, 1, 1), date(2025, 6, 30), date(2025, 7, 1), ("2024-01", "2025-06")),
    (date(2025, 7, 16), None, None, ("2025-07", None)),
    (date(2025, 3, 5), date(2025, 3, 10), date(2025, 3, 20), ("2025-04", "2025-02")),  # none
    (date(2025, 3, 20), date(2025, 3, 25), None, ("2025-03", "2025-03")),  # left: the last one
])
def test_each_month_belongs_to_one_period(started, ended, next_start, owned):
    assert scope.months_owned(started, ended, next_start) == owned


@pytest.fixture
def bureaus(db, frozen):
    """Two district bureaus; the person works in the first from 2024; each has a leader and
    a discipline office member."""
    old = factories.AgencyFactory(name="西青区审计局")
    new = factories.AgencyFactory(name="南开区审计局")
    people = {"person": factories.UserFactory(agency=old, staff_no=PERSON, name="调动人")}
    for agency, key in ((old, "old"), (new, "new")):
        people[f"{key}_leader"] = factories.UserFactory(agency=agency, roles={"leader"})
        people[f"{key}_office"] = factories.UserFactory(agency=agency, roles={"reviewer"})
    return old, new, people


def on_the_day(frozen, day: date) -> None:
    """The operator transfers a person on the day they move (10:00 in Beijing)."""
    frozen.value = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)


def transfer(runner, *args: str):
    return runner.invoke(args=["admin", "transfer", "--staff-no", PERSON, *args])


def non_filers(app, user, period: str) -> set[int]:
    client = app.test_client()
    login(client, user)
    response = client.get(f"/compliance/?period={period}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    listed = page[page.index('data-testid="non-filers"'):] if "non-filers" in page else ""
    return {int(n) for n in re.findall(r'<tr data-user="(\d+)"', listed)}


def test_a_transfer_mid_year_gives_each_agency_its_own_months(app, db, runner, frozen,
                                                               bureaus):
    old, new, people = bureaus
    person = people["person"]
    incident = make_incident(person)  # registered in March, in the old agency
    on_the_day(frozen, TRANSFER_DAY)
    result = transfer(runner, "--to-agency", new.name, "--department", "财政审计科",
                      "--on", TRANSFER_DAY.isoformat())
    assert result.exit_code == 0, result.output
    assert periods(db, person.id) == [
        (old.id, date(2024, 1, 1), date(2025, 7, 15), "2024-01", "2025-06"),
        (new.id, TRANSFER_DAY, None, "2025-07", None)]
    moved = db.session.get(User, person.id)
    assert (moved.agency_id, moved.department.name, moved.joined_on) == (
        new.id, "财政审计科", TRANSFER_DAY)
    entries = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "user.transferred"))
    # Listed in both agencies' logs.
    assert {(entry.agency_id, json.loads(entry.detail)["on"]) for entry in entries} == {
        (old.id, "2025-07-16"), (new.id, "2025-07-16")}

    frozen.value = NEXT_JANUARY
    # Each agency's compliance page expects the person for its own months only.
    assert person.id in non_filers(app, people["old_leader"], "2025-06")
    assert person.id not in non_filers(app, people["old_leader"], "2025-07")
    assert person.id in non_filers(app, people["new_leader"], "2025-07")
    assert person.id not in non_filers(app, people["new_leader"], "2025-06")
    # And so do the statement figures: six months each, one person-year together.
    old_year, new_year = (figures.compute(agency, 2025, frozen.value) for agency in (old, new))
    staff_months = (old_year.staff_months, new_year.staff_months)
    assert staff_months == (6, 6) and sum(staff_months) == 12
    assert [(p.first, p.last) for p in old_year.partial_staff] == [("2025-01", "2025-06")]
    assert [(p.first, p.last) for p in new_year.partial_staff] == [("2025-07", "2025-12")]
    assert {m.period for m in old_year.missing_reports} == {f"2025-{m:02d}" for m in range(1, 7)}
    assert {m.period for m in new_year.missing_reports} == {f"2025-{m:02d}"
                                                           for m in range(7, 13)}

    # History stays with the agency where it was filed.
    office_old, office_new, mine = (app.test_client() for _ in range(3))
    login(office_old, people["old_office"])
    login(office_new, people["new_office"])
    login(mine, moved)
    assert office_old.get(f"/review/incidents/{incident}").status_code == 200
    assert office_new.get(f"/review/incidents/{incident}").status_code == 404
    history = mine.get("/filing/history").get_data(as_text=True)
    assert "2025-03" in history and "2025-12" in history
    assert mine.get(f"/filing/incidents/{incident}").status_code == 200


def test_a_late_report_for_a_month_of_the_old_agency_counts_there(app, db, runner, frozen,
                                                                   bureaus):
    old, new, people = bureaus
    on_the_day(frozen, TRANSFER_DAY)
    transfer(runner, "--to-agency", new.name, "--on", TRANSFER_DAY.isoformat())
    frozen.value = NEXT_JANUARY
    client = app.test_client()
    login(client, db.session.get(User, people["person"].id))
    assert file_month(client, "2025-06").status_code == 302
    tally = {(t.agency_id, t.period): (t.filed, t.late)
             for t in db.session.scalars(sa.select(FilingTally))}
    assert tally == {(old.id, "2025-06"): (1, 1)}
    assert people["person"].id not in non_filers(app, people["old_leader"], "2025-06")
    old_year = figures.compute(old, 2025, frozen.value)
    new_year = figures.compute(new, 2025, frozen.value)
    assert (old_year.reports.filed, old_year.reports.late) == (1, 1)
    assert new_year.reports.filed == 0
    assert "2025-06" not in {m.period for m in old_year.missing_reports}


def test_a_transfer_the_rules_refuse_changes_nothing(db, runner, frozen, bureaus):
    old, new, people = bureaus
    person = people["person"]
    same = transfer(runner, "--to-agency", old.name, "--on", "2025-05-01")
    assert same.exit_code != 0 and old.name in same.output
    early = transfer(runner, "--to-agency", new.name, "--on", "2024-01-01")
    assert early.exit_code != 0 and "2024-01-01" in early.output
    future = transfer(runner, "--to-agency", new.name, "--on", "2025-04-04")  # today: 3 April
    assert future.exit_code != 0
    assert periods(db, person.id) == [(old.id, date(2024, 1, 1), None, "2024-01", None)]
    foreign = factories.DepartmentFactory(agency=old)
    on_the_day(frozen, TRANSFER_DAY)
    with pytest.raises(employment.TransferRefused):
        employment.transfer(db.session.get(User, person.id), new, foreign, TRANSFER_DAY)
    office = people["old_office"]
    refused = runner.invoke(args=["admin", "transfer", "--staff-no", office.staff_no,
                                  "--to-agency", new.name, "--on", "2025-05-01"])
    assert refused.exit_code != 0 and "office withdraw" in refused.output
    assert db.session.get(User, office.id).agency_id == old.id


def test_the_old_agencys_posts_stay_behind(db, runner, bureaus):
    """A leader who is also an auditor moves as an auditor: leading was a post there."""
    old, new, people = bureaus
    leader = people["old_leader"]
    leader.roles = {"leader", "auditor"}
    db.session.commit()
    result = runner.invoke(args=["admin", "transfer", "--staff-no", leader.staff_no,
                                 "--to-agency", new.name, "--on", "2025-04-01"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(User, leader.id).roles == {"auditor"}
    for entry in db.session.scalars(sa.select(AuditLog)
                                    .where(AuditLog.action == "user.transferred")):
        assert json.loads(entry.detail)["changes"] == {
            "agency_id": [old.id, new.id], "roles": [["auditor", "leader"], ["auditor"]]}


def test_reactivation_adds_a_period_and_keeps_the_leaving_date(app, db, frozen, bureaus):
    old, _new, people = bureaus
    admin = factories.UserFactory(agency=old, roles={"admin"})
    person = people["person"]
    client = app.test_client()
    login(client, admin)
    url = f"/admin/users/{person.id}"
    post_form(client, f"{url}/deactivate", {"left_on": "2025-03-10", "confirmed": "1"},
              form_url=url)
    assert post_form(client, f"{url}/reactivate", {}, form_url=url).status_code == 302
    assert periods(db, person.id) == [
        (old.id, date(2024, 1, 1), date(2025, 3, 10), "2024-01", "2025-03"),
        (old.id, date(2025, 4, 3), None, "2025-04", None)]
    page = client.get(url).get_data(as_text=True)
    shown = page[page.index('data-testid="periods"'):]
    assert re.findall(r'data-period="([\d-]+)"', shown) == ["2024-01-01", "2025-04-03"]
    assert "2025-03-10" in shown


def _import(client, *lines: str):
    return preview(client, csv_file("工号,姓名,科室,调入日期", *lines))


def test_the_user_import_transfers_a_person_of_another_agency(app, db, frozen, bureaus):
    old, new, people = bureaus
    factories.DepartmentFactory(agency=new, name="财政审计科")
    admin = factories.UserFactory(agency=new, roles={"admin"})
    client = app.test_client()
    login(client, admin)
    shown = _import(client, f"{PERSON},调动人,财政审计科,2025-03-16")
    assert 'data-action="transfer"' in shown.get_data(as_text=True)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"',
                      shown.get_data(as_text=True)).group(1)
    done = post_form(client, "/admin/import/users/apply", {"token": token},
                     form_url="/admin/import/users")
    assert done.status_code == 302
    person = people["person"].id
    assert periods(db, person) == [
        (old.id, date(2024, 1, 1), date(2025, 3, 15), "2024-01", "2025-02"),
        (new.id, date(2025, 3, 16), None, "2025-03", None)]
    assert db.session.get(User, person).department.name == "财政审计科"
    again = _import(client, f"{PERSON},调动人,财政审计科,2025-03-16")  # the same file
    assert 'data-action="unchanged"' in again.get_data(as_text=True)


@pytest.mark.parametrize(("line", "message"), [
    (f"{PERSON},调动人,,", "调入日期"),                     # another agency's, no date
    ("N001,新人,,2025-03-16", "调入日期"),                  # a date for someone new
    (f"{PERSON},调动人,,2023-06-01", "2024-01-01"),        # before the current period
    (f"{PERSON},调动人,,2025-13-01", "2025-13-01"),        # not a date
])
def test_a_bad_transfer_row_says_why_and_imports_nothing(app, db, frozen, bureaus, line,
                                                          message):
    old, new, people = bureaus
    admin = factories.UserFactory(agency=new, roles={"admin"})
    client = app.test_client()
    login(client, admin)
    response = _import(client, line)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert periods(db, people["person"].id) == [(old.id, date(2024, 1, 1), None, "2024-01",
                                                 None)]


def test_periods_of_a_person_never_overlap(db, bureaus):
    _old, _new, people = bureaus
    person = db.session.get(User, people["person"].id)
    person.active, person.left_on = False, date(2025, 3, 10)
    employment.follow(person)
    employment.rejoin(person, date(2025, 3, 1))  # not after the end: the day after it
    assert periods(db, person.id)[-1][1] == date(2025, 3, 11)
    person.joined_on = date(2025, 3, 10)
    with pytest.raises(employment.EmploymentRefused):
        employment.follow(person)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Employment).where(
        Employment.user_id == person.id, Employment.ended_on.is_(None))) == 1


def test_each_agency_reminds_of_its_own_months(db, runner, frozen, bureaus):
    """Moved on 1 April: March is still the old agency's, so it reminds the person (and its
    discipline office's digest names them); the new agency does neither."""
    _old, new, people = bureaus
    person = people["person"]
    transfer(runner, "--to-agency", new.name, "--on", "2025-04-01")
    notices = reminders.plan(local(2025, 4, 2, 9))
    assert [(n.kind, n.period) for n in notices if n.user_id == person.id] == [
        (NoticeKind.APPROACHING, "2025-03")]
    digests = {n.user_id: str(n.params["missing"]) for n in reminders.plan(local(2025, 4, 6, 9))
               if n.kind == NoticeKind.DIGEST}
    assert list(digests) == [people["old_office"].id] and person.name in digests[
        people["old_office"].id]


def test_the_agency_of_december_asks_for_the_confirmation(db, runner, frozen, bureaus):
    old, new, people = bureaus
    on_the_day(frozen, date(2025, 12, 10))
    transfer(runner, "--to-agency", new.name, "--on", "2025-12-10")
    person = db.session.get(User, people["person"].id)
    assert confirmations.must_confirm(person, 2025)
    assert confirmations.status(old, 2025).expected == 0
    assert confirmations.status(new, 2025).expected == 1
