"""`flask demo`: the demo bureau, a year of filings, and the guards around loading it twice."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from app import demo
from app.cli import demo_command
from app.core.codes import FilingStatus, NoticeKind
from app.core.vocab import ROLES
from app.filing import evidence, records
from app.filing.periods import Period
from app.models import (
    Agency,
    AnnualStatement,
    AuditLog,
    AuditProject,
    Department,
    EvidenceContent,
    Incident,
    MonthlyReport,
    Outbox,
    ReportVersion,
    User,
)
from app.statement import digest, figures, signing
from tests.helpers import factories
from tests.helpers.demo import TODAY
from tests.helpers.statement import embedded_fonts, pdf_text
from tests.helpers.web import csrf_token, login, post_form

FIRST, LAST = Period(2024, 1), Period(2025, 10)


def table_counts(db) -> dict[str, int]:
    with db.engine.connect() as connection:
        return {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in db.metadata.sorted_tables
        }


def count(db, query) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))


def user(db, staff_no: str) -> User:
    return db.session.scalar(sa.select(User).where(User.staff_no == staff_no))


def expected_reports(db) -> int:
    """Auditor-months in scope: what should have been filed over the year."""
    auditors = [u for u in db.session.scalars(sa.select(User)) if u.has_role("auditor")]
    return sum(records.in_scope(u, p) for u in auditors for p in FIRST.until(LAST))


def summary(db) -> dict:
    """What a fixed seed and a fixed day make of the demo, for exact comparisons."""
    reports = sa.select(MonthlyReport)
    return {
        "users": count(db, sa.select(User)),
        "agencies": count(db, sa.select(Agency)),
        "departments": count(db, sa.select(Department)),
        "projects": count(db, sa.select(AuditProject)),
        "reports": count(db, reports),
        "late": count(db, reports.where(MonthlyReport.late)),
        "zero": count(db, sa.select(ReportVersion).where(ReportVersion.is_zero)),
        "incidents": count(db, sa.select(Incident)),
        "expected": expected_reports(db),
        "periods": sorted(db.session.scalars(sa.select(MonthlyReport.period).distinct())),
    }


EXPECTED = {
    "users": 31,
    "agencies": 2,  # the city bureau and the district bureau under it
    "departments": 7,
    "projects": 22,
    "reports": 584,
    "late": 30,
    "zero": 576,
    "incidents": 9,  # one of 2024 registered after its statement was signed
    "expected": 597,  # 28 auditors over 22 months, one joining in June and one leaving in
                      # August 2024
    "periods": [str(p) for p in FIRST.until(LAST)],
}


def test_load_builds_a_year_of_a_district_bureau(db):
    agency = demo.load(today=TODAY)
    db.session.commit()
    assert agency.name == "西青区审计局" and agency.parent.name == "天津市审计局"
    assert summary(db) == EXPECTED
    missing = EXPECTED["expected"] - EXPECTED["reports"]
    assert missing == 13
    assert EXPECTED["zero"] > EXPECTED["reports"] * 0.9  # most reports are zero reports


def test_every_role_and_the_staff_changes_of_the_year(db):
    demo.load(today=TODAY)
    db.session.commit()
    users = list(db.session.scalars(sa.select(User)))
    # Every role of a bureau; the installation administrator is the municipal demo's.
    assert set().union(*(u.roles for u in users)) == set(ROLES) - {"install_admin"}
    leavers = [u for u in users if not u.active]
    assert [(u.staff_no, u.left_on) for u in leavers] == [("XQ035", date(2024, 8, 28))]
    joiners = [u for u in users if u.joined_on > FIRST.first_day]
    assert [(u.staff_no, u.joined_on) for u in joiners] == [("XQ036", date(2024, 6, 9))]
    # Neither files outside their time in post.
    periods = {u.staff_no: set(db.session.scalars(
        sa.select(MonthlyReport.period).where(MonthlyReport.user_id == u.id)))
        for u in leavers + joiners}
    assert max(periods["XQ035"]) <= "2024-08"
    assert min(periods["XQ036"]) >= "2024-06"
    assert all(u.department is not None and u.email for u in users)


def test_incidents_are_spread_over_the_year_and_listed_in_their_reports(db):
    demo.load(today=TODAY)
    db.session.commit()
    incidents = list(db.session.scalars(sa.select(Incident)))
    assert len(incidents) >= 5
    assert len({i.period for i in incidents}) >= 4
    assert {i.current.kind for i in incidents} >= {"probing", "interfering", "duty_inquiry"}
    for incident in incidents:
        if incident.after_signing:
            continue  # registered after its month was filed and its year signed
        report = db.session.scalar(sa.select(MonthlyReport).where(
            MonthlyReport.user_id == incident.user_id, MonthlyReport.period == incident.period))
        if report is not None:
            assert not report.current.is_zero
            assert incident.current in report.current.incident_versions


def test_the_main_demo_login_has_last_month_to_file(db):
    demo.load(today=TODAY)
    db.session.commit()
    zhang = user(db, "XQ010")
    now = datetime(2025, 11, 26, 4, tzinfo=UTC)
    month = records.month(zhang, LAST, now)
    assert month.report is None and month.status == FilingStatus.MISSING
    assert records.month(zhang, LAST.previous(), now).status in {
        FilingStatus.ON_TIME,
        FilingStatus.LATE,
    }
    report = records.file_report(zhang, LAST, zero=not month.incidents, now=now)
    assert report.late


@pytest.mark.parametrize("today", [date(2025, 12, 2), date(2025, 3, 1)])
def test_nothing_is_filed_or_registered_in_the_future(db, today):
    """Loaded early in a month, last month's reports are partly not filed yet (due, not missing)."""
    demo.load(today=today)
    db.session.commit()
    now = demo._at(today, 12, demo.ZoneInfo("Asia/Shanghai"))
    assert all(r.first_filed_at <= now for r in db.session.scalars(sa.select(MonthlyReport)))
    assert all(i.registered_at <= now for i in db.session.scalars(sa.select(Incident)))
    last = Period(today.year, today.month).previous()
    statuses = {records.month(u, last, now).status
                for u in db.session.scalars(sa.select(User)) if u.has_role("auditor")}
    assert FilingStatus.MISSING not in statuses
    assert FilingStatus.DUE in statuses


@pytest.mark.parametrize("today, year", [
    (date(2026, 12, 1), 2025),
    (date(2027, 1, 3), 2025),   # 2026's December reports are not due yet: 2025 is signed
    (date(2027, 1, 20), 2026),
])
def test_the_demo_holds_a_whole_signed_year_and_the_months_since(db, today, year):
    demo.load(today=today)
    db.session.commit()
    item = db.session.scalar(sa.select(AnnualStatement))
    assert (item.year, item.status) == (year, "locked")
    assert (item.prepared_by.staff_no, item.signed_by.staff_no) == ("XQ003", "XQ001")
    assert item.signed_at >= signing.signable_from(item.agency, year)
    assert digest.verify(item).ok
    last = Period(today.year, today.month).previous()
    periods = sorted(db.session.scalars(sa.select(MonthlyReport.period).distinct()))
    assert periods == [str(p) for p in Period(year, 1).until(last)]
    f = figures.stored(item)
    assert (f.open_reviews, f.violations, f.confirmations_missing) == (0, 0, 2)
    assert [r.staff_no for r in signing.pending_late_records(item)] == ["XQ015"]
    notified = db.session.scalars(sa.select(Outbox).where(
        Outbox.kind == NoticeKind.LATE_INCIDENT)).all()
    assert {user(db, "XQ003").id, user(db, "XQ004").id} == {n.user_id for n in notified}


def test_the_demo_statement_of_last_year_builds_a_signed_pdf(db, runner, frozen, tmp_path):
    frozen.set(2026, 12, 1, 4)
    assert runner.invoke(demo_command).exit_code == 0
    out = tmp_path / "out.pdf"
    result = runner.invoke(args=["statement", "build", "2025", "--pdf", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    text = pdf_text(data)
    assert "西青区审计局" in text and "王建国" in text and "DRAFT" not in text
    assert "签发后登记1项" in text
    fonts = embedded_fonts(data)
    assert fonts and all(fonts)


def test_the_demo_password_signs_in_through_the_login_form(db, client):
    demo.load(today=TODAY)
    db.session.commit()
    login(client, user(db, "XQ010"), demo.DEMO_PASSWORD)
    assert client.get("/").status_code == 200


def test_the_deactivated_leaver_cannot_sign_in(db, client):
    demo.load(today=TODAY)
    db.session.commit()
    response = post_form(client, "/auth/login",
                         {"identifier": "XQ035", "password": demo.DEMO_PASSWORD})
    assert response.status_code == 401


def test_command_loads_the_demo_relative_to_today(db, runner):
    """Real clock: the year ends with last month, whatever today is."""
    result = runner.invoke(demo_command)
    assert result.exit_code == 0, result.output
    assert demo.DEMO_PASSWORD in result.output
    today = datetime.now(UTC)
    last = Period(today.year, today.month).previous()
    periods = {Period.parse(p) for p in db.session.scalars(sa.select(MonthlyReport.period))}
    assert max(periods) <= last
    year = db.session.scalar(sa.select(AnnualStatement.year))
    assert min(periods) == Period(year, 1)
    assert year in (today.year - 1, today.year - 2)  # the year before in early January
    assert len(periods) >= 12
    assert count(db, sa.select(User)) == 31
    zhang = user(db, "XQ010")
    assert db.session.scalar(sa.select(MonthlyReport).where(
        MonthlyReport.user_id == zhang.id, MonthlyReport.period == str(last))) is None
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "demo.loaded"))


def test_command_on_a_fixed_day_loads_the_same_as_load(db, runner, frozen):
    frozen.set(2025, 11, 26, 4)  # 12:00 in Beijing
    result = runner.invoke(demo_command)
    assert result.exit_code == 0, result.output
    assert summary(db) == EXPECTED


def test_command_refuses_to_load_twice(db, runner, frozen):
    frozen.set(2025, 11, 26, 4)
    assert runner.invoke(demo_command).exit_code == 0
    before = table_counts(db)
    result = runner.invoke(demo_command)
    assert result.exit_code != 0
    assert "--force" in result.output
    assert table_counts(db) == before


def test_command_refuses_when_only_an_agency_exists(db, runner):
    factories.AgencyFactory(name="某区审计局")
    result = runner.invoke(demo_command)
    assert result.exit_code != 0 and "--force" in result.output
    assert count(db, sa.select(Agency)) == 1
    assert count(db, sa.select(User)) == 0


def test_if_empty_succeeds_and_changes_nothing(db, runner, frozen):
    frozen.set(2025, 11, 26, 4)
    assert runner.invoke(demo_command).exit_code == 0
    before = table_counts(db)
    result = runner.invoke(demo_command, ["--if-empty"])
    assert result.exit_code == 0, result.output
    assert "not loaded" in result.output
    assert table_counts(db) == before


def test_if_empty_loads_an_empty_database(db, runner, frozen):
    frozen.set(2025, 11, 26, 4)
    result = runner.invoke(demo_command, ["--if-empty"])
    assert result.exit_code == 0, result.output
    assert summary(db) == EXPECTED


def test_force_wipes_and_reloads(db, runner, frozen):
    frozen.set(2025, 11, 26, 4)
    assert runner.invoke(demo_command).exit_code == 0
    before = table_counts(db)
    factories.UserFactory(staff_no="REAL01")  # real data (and its agency) the demo erases
    result = runner.invoke(demo_command, ["--force"])
    assert result.exit_code == 0, result.output
    assert table_counts(db) == before
    assert summary(db) == EXPECTED
    assert user(db, "REAL01") is None
    assert [log.detail for log in db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "demo.loaded"))] == ['{"force": true}']


def test_force_deletes_the_evidence_of_the_erased_records(db, runner, frozen, auditor):
    occurred = datetime(2025, 3, 20, 2, tzinfo=UTC)
    data = records.IncidentData(
        occurred_at=occurred, category="plead", channel="phone", actor_name="某某",
        actor_org="某单位", actor_position="", actor_relation="other", project_id=None,
        stage="fieldwork", description="来电说情。", response="refused")
    upload = evidence.Upload("记录.pdf", "application/pdf", b"%PDF-1.4 test")
    incident = records.register_incident(auditor, data, [upload], occurred)
    db.session.commit()
    assert evidence.data_of(incident.evidence[0]) == b"%PDF-1.4 test"
    result = runner.invoke(demo_command, ["--force"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EvidenceContent)) == 0


def test_the_municipal_demo_shows_the_city_its_districts(app, db, runner, frozen):
    """`flask demo --municipal`: a city bureau above three district bureaus, each with its
    signed year; the city's discipline office signs in and sees them rolled up."""
    frozen.set(2025, 11, 26, 4)
    result = runner.invoke(demo_command, ["--municipal"])
    assert result.exit_code == 0, result.output
    city = demo.MUNICIPAL_CITY
    office, leader = city.staff_no(demo.OFFICE), city.staff_no(demo.LEADER)
    assert office in result.output and leader in result.output
    agencies = {a.name: a for a in db.session.scalars(sa.select(Agency))}
    assert set(agencies) == {city.name, *(d.name for d in demo.MUNICIPAL_DISTRICTS)}
    assert all(agencies[d.name].parent_id == agencies[city.name].id
               for d in demo.MUNICIPAL_DISTRICTS)
    installer = user(db, demo.INSTALLATION_ADMIN[0])
    assert installer.roles == {"install_admin"} and demo.INSTALLATION_ADMIN[0] in result.output
    signed = db.session.scalars(sa.select(AnnualStatement).where(
        AnnualStatement.year == 2024, AnnualStatement.status == "locked")).all()
    assert len(signed) == 4
    client = app.test_client()
    for staff_no in (office, leader):
        login(client, user(db, staff_no), demo.DEMO_PASSWORD)
        page = client.get("/rollup/?year=2024")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert all(d.name in text for d in demo.MUNICIPAL_DISTRICTS)
        assert all(item.records_digest in text for item in signed)
        assert client.get("/rollup/compliance").status_code == 200
        client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/")})
    # A district's discipline office has no roll-up; the default demo stays one district.
    login(client, user(db, "XQ003"), demo.DEMO_PASSWORD)
    assert client.get("/rollup/").status_code == 404
