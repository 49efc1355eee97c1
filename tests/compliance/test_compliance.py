"""The filing compliance dashboard: figures against a hand-computed agency, who may see it,
that leaders see no incident content anywhere, the exports, and a constant query count."""

import csv
import io
from datetime import UTC, date, datetime

import openpyxl
import pytest
import sqlalchemy as sa

from app.compliance import rates
from app.compliance.rates import Figures
from app.core.codes import FilingStatus
from app.filing import records, tally
from app.filing.periods import Period
from app.models import (
    Agency,
    AuditLog,
    Employment,
    FilingTally,
    MonthlyReport,
    ReportVersion,
    User,
    UserRole,
)
from tests.helpers import factories
from tests.helpers.web import login

MARCH, FEBRUARY, APRIL = Period(2025, 3), Period(2025, 2), Period(2025, 4)
ON_TIME_AT = datetime(2025, 4, 2, 2, tzinfo=UTC)     # before the deadline (5 April, Beijing)
LATE_AT = datetime(2025, 4, 8, 2, tzinfo=UTC)        # after it
BEFORE_DEADLINE = datetime(2025, 4, 3, 2, tzinfo=UTC)
AFTER_DEADLINE = datetime(2025, 4, 10, 2, tzinfo=UTC)
SECRET = "绝密描述-ZQX-7781：某副局长要求删除审计发现"
SECRET_ACTOR = "神秘请托人乙"


def incident_data(when: datetime, **fields) -> records.IncidentData:
    values = dict(occurred_at=when, category="plead", channel="phone", actor_name="李某某",
                  actor_org="区某局", actor_position="副局长", actor_relation="leading_cadre",
                  project_id=None, stage="fieldwork", description="来电请求从轻处理。",
                  response="refused")
    values.update(fields)
    return records.IncidentData(**values)


def register(user, when: datetime, **fields):
    return records.register_incident(user, incident_data(when, **fields), [], when)


@pytest.fixture
def bureau(db, agency, make_user, frozen):
    """Two departments and the cases the counting rule must get right (March 2025):

    a1 on time, zero · a2 late, with an incident · a3 never files · b1 joined on 20 March,
    filed zero, then registered an incident and corrected the report (its current version
    has incidents) · b2 left on 10 March and was deactivated, never filed · b3 left in
    February and b4 joined in April (neither must file March) · n1, no department, on time
    with incidents · x1 (department A) files nothing · plus a leader, a reviewer and an
    admin (not auditors) and an auditor of another agency who filed: none of them counted.
    a1 also filed February, late.
    """
    a = factories.DepartmentFactory(agency=agency, name="审计一科")
    b = factories.DepartmentFactory(agency=agency, name="审计二科")
    p = {
        "a1": make_user(name="甲一", staff_no="A01", department=a),
        "a2": make_user(name="甲二", staff_no="A02", department=a),
        "a3": make_user(name="甲三", staff_no="A03", department=a),
        "b1": make_user(name="乙一", staff_no="B01", department=b, joined_on=date(2025, 3, 20)),
        "b2": make_user(name="乙二", staff_no="B02", department=b, left_on=date(2025, 3, 10),
                        active=False),
        "b3": make_user(name="乙三", staff_no="B03", department=b, left_on=date(2025, 2, 15),
                        active=False),
        "b4": make_user(name="乙四", staff_no="B04", department=b, joined_on=date(2025, 4, 1)),
        "n1": make_user(name="无科室", staff_no="N01"),
        "leader": make_user(name="局长", staff_no="L01", department=a, roles={"leader"}),
        "reviewer": make_user(name="纪检员", staff_no="R01", roles={"reviewer"}),
        "admin": make_user(name="管理员", staff_no="M01", roles={"admin"}),
        "x1": make_user(name="审计员", staff_no="X01", department=a),
        "foreign": factories.UserFactory(name="外局", staff_no="F01"),
    }
    march = datetime(2025, 3, 25, 2, tzinfo=UTC)
    records.file_report(p["a1"], MARCH, zero=True, now=ON_TIME_AT)
    records.file_report(p["a1"], FEBRUARY, zero=True, now=ON_TIME_AT)
    register(p["a2"], march, description=SECRET, actor_name=SECRET_ACTOR)
    records.file_report(p["a2"], MARCH, zero=False, now=LATE_AT)
    b1 = records.file_report(p["b1"], MARCH, zero=True, now=ON_TIME_AT)
    register(p["b1"], march)
    records.correct_report(b1, reason="补报", now=ON_TIME_AT)
    register(p["n1"], march)
    records.file_report(p["n1"], MARCH, zero=False, now=ON_TIME_AT)
    records.file_report(p["foreign"], MARCH, zero=True, now=ON_TIME_AT)
    db.session.commit()
    return p


def test_figures_of_the_period_match_the_hand_count(db, agency, bureau):
    figures = rates.period_figures(agency, MARCH, AFTER_DEADLINE)

    # in scope: a1 a2 a3 x1 n1 (joined in 2024), b1 (joined 20 March), b2 (left 10 March)
    assert figures.total == Figures(expected=7, on_time=3, late=1, missing=3, zero=1,
                                    with_incidents=3)
    assert figures.unfiled_status == FilingStatus.MISSING
    by_name = {d.name: d.figures for d in figures.departments}
    assert list(by_name) == ["审计一科", "审计二科", None]  # by name, no department last
    assert by_name["审计一科"] == Figures(expected=4, on_time=1, late=1, missing=2, zero=1,
                                      with_incidents=1)
    assert by_name["审计二科"] == Figures(expected=2, on_time=1, missing=1, with_incidents=1)
    assert by_name[None] == Figures(expected=1, on_time=1, with_incidents=1)
    assert [(n.staff_no, n.name, n.department, n.active) for n in figures.non_filers] == [
        ("A03", "甲三", "审计一科", True), ("X01", "审计员", "审计一科", True),
        ("B02", "乙二", "审计二科", False)]
    assert figures.more_non_filers == 0


def test_not_filed_is_due_before_the_deadline_and_not_open_before_the_month_ends(
        db, agency, bureau):
    before = rates.period_figures(agency, MARCH, BEFORE_DEADLINE)
    assert (before.total.due, before.total.missing, before.unfiled_status) == (3, 0, "due")
    april = rates.period_figures(agency, APRIL, AFTER_DEADLINE)
    # in April: a1 a2 a3 x1 n1 b1 b4; b2 left in March
    assert april.total == Figures(expected=7, not_open=7)
    assert april.unfiled_status == FilingStatus.NOT_OPEN


def test_the_non_filer_list_can_be_limited(db, agency, bureau):
    figures = rates.period_figures(agency, MARCH, AFTER_DEADLINE, limit=1)
    assert [n.staff_no for n in figures.non_filers] == ["A03"]
    assert figures.more_non_filers == 2


def test_trend_gives_twelve_months_with_the_same_counting(db, agency, bureau):
    points = rates.trend(agency, MARCH, AFTER_DEADLINE)
    assert [str(p.period) for p in points][0::11] == ["2024-04", "2025-03"]
    assert len(points) == 12
    by_period = {p.period: p.figures for p in points}
    assert by_period[MARCH] == rates.period_figures(agency, MARCH, AFTER_DEADLINE).total
    # February: a1 a2 a3 x1 n1, b2 (left in March) and b3 (left 15 Feb); a1 filed late
    assert by_period[FEBRUARY] == Figures(expected=7, late=1, missing=6, zero=1)
    # April 2024: a1 a2 a3 x1 n1 (factory default: joined 2024-01-01), b2 and b3
    assert by_period[Period(2024, 4)].expected == 7


def test_people_lists_everyone_in_scope_with_their_status(db, agency, bureau):
    rows = {r.staff_no: r for r in rates.people(agency, MARCH, AFTER_DEADLINE)}
    assert set(rows) == {"A01", "A02", "A03", "B01", "B02", "N01", "X01"}
    assert rows["A01"].status == "on_time" and rows["A01"].zero is True
    assert rows["A02"].status == "late" and rows["A02"].late and rows["A02"].zero is False
    assert rows["B01"].zero is False  # the corrected version counts
    assert rows["B02"].status == "missing" and rows["B02"].filed_at is None
    assert rows["B02"].zero is None


# The page ------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["reviewer", "leader", "admin"])
def test_the_dashboard_is_for_reviewer_leader_and_admin(app, db, bureau, role, frozen):
    frozen.set(*AFTER_DEADLINE.timetuple()[:6])
    client = app.test_client()
    login(client, bureau[role])
    response = client.get("/compliance/?period=2025-03")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-figure="expected">7<' in page
    assert 'data-figure="missing">3<' in page
    assert "甲三" in page and "乙二" in page        # the names of those who have not filed
    assert 'data-testid="trend-chart"' in page and "<svg" in page
    assert "<script>" not in page and "style=" not in page
    assert SECRET not in page and SECRET_ACTOR not in page


def test_auditors_and_strangers_may_not_see_it(app, db, bureau, frozen):
    client = app.test_client()
    assert client.get("/compliance/").status_code == 302  # to the sign-in page
    login(client, bureau["a1"])
    assert client.get("/compliance/").status_code == 403
    assert client.get("/compliance/export.csv").status_code == 403


def test_the_default_period_is_the_one_due(app, db, bureau, frozen):
    client = app.test_client()
    login(client, bureau["leader"])
    page = client.get("/compliance/").get_data(as_text=True)
    assert 'value="2025-03"' in page          # on 3 April, March is due
    assert 'data-figure="due">3<' in page


def test_a_bad_period_says_so_and_shows_the_default(app, db, bureau, frozen):
    client = app.test_client()
    login(client, bureau["leader"])
    response = client.get("/compliance/?period=2025-13")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "YYYY-MM" in page and 'data-figure="expected">7<' in page
    assert client.get("/compliance/export.csv?period=abc").status_code == 400


# The exports -----------------------------------------------------------------------------

HEADER = ["工号", "姓名", "科室", "状态", "报送时间", "逾期", "报告"]


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_export_has_a_bom_and_one_line_per_person(app, db, bureau, frozen):
    frozen.set(*AFTER_DEADLINE.timetuple()[:6])
    client = app.test_client()
    login(client, bureau["leader"])
    response = client.get("/compliance/export.csv?period=2025-03")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "compliance-2025-03.csv" in response.headers["Content-Disposition"]
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = _csv_rows(data)
    assert len(rows[0]) == len(HEADER)
    by_staff = {row[0]: row for row in rows[1:]}
    assert [row[0] for row in rows[1:]] == ["A01", "A02", "A03", "X01", "B01", "B02", "N01"]
    assert by_staff["A01"][1:4] == ["甲一", "审计一科", "按时报送"]
    assert by_staff["A01"][4] == "2025-04-02 10:00"      # Beijing time
    assert by_staff["A02"][3] == "逾期报送" and by_staff["A02"][6] == "有登记事项"
    assert by_staff["A01"][6] == "零报告"
    assert by_staff["B02"][3:5] == ["逾期未报", ""]
    assert SECRET not in data.decode("utf-8-sig") and SECRET_ACTOR not in data.decode(
        "utf-8-sig")


def test_xlsx_export_matches_the_csv(app, db, bureau, frozen):
    frozen.set(*AFTER_DEADLINE.timetuple()[:6])
    client = app.test_client()
    login(client, bureau["admin"])
    csv_rows = _csv_rows(client.get("/compliance/export.csv?period=2025-03").get_data())
    response = client.get("/compliance/export.xlsx?period=2025-03")
    assert response.status_code == 200
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    sheet = book.active
    values = [[cell if cell is not None else "" for cell in row]
              for row in sheet.iter_rows(values_only=True)]
    assert values == csv_rows
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.b
    text = "".join(str(v) for row in values for v in row)
    assert SECRET not in text and SECRET_ACTOR not in text


def test_an_export_is_logged(app, db, bureau, frozen):
    client = app.test_client()
    login(client, bureau["leader"])
    client.get("/compliance/export.xlsx?period=2025-03")
    db.session.expire_all()
    entry = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "compliance.exported")).one()
    assert entry.actor_id == bureau["leader"].id
    assert '"period": "2025-03"' in entry.detail and '"count": 7' in entry.detail


# Query count --------------------------------------------------------------------------------

def _add_auditors(db, agency: Agency, departments: list[int], prefix: str, count: int) -> None:
    """Bulk: auditors in three departments, every other one with a zero report for March."""
    users = [{"agency_id": agency.id, "department_id": departments[n % 3],
              "staff_no": f"{prefix}{n:05d}", "name": f"批量{n}", "joined_on": date(2024, 1, 1),
              "active": True, "session_version": 1, "failed_logins": 0,
              "created_at": ON_TIME_AT} for n in range(count)]
    ids = db.session.scalars(
        sa.insert(User).returning(User.id, sort_by_parameter_order=True), users).all()
    db.session.execute(sa.insert(UserRole), [{"user_id": i, "role": "auditor"} for i in ids])
    db.session.execute(sa.insert(Employment), [
        {"user_id": i, "agency_id": agency.id, "department_id": departments[n % 3],
         "started_on": date(2024, 1, 1), "first_period": "2024-01"} for n, i in enumerate(ids)])
    reports = db.session.scalars(
        sa.insert(MonthlyReport).returning(MonthlyReport.id, sort_by_parameter_order=True),
        [{"user_id": i, "period": "2025-03", "first_filed_at": ON_TIME_AT, "late": False}
         for i in ids[::2]]).all()
    db.session.execute(sa.insert(ReportVersion), [
        {"report_id": r, "number": 1, "is_zero": True, "declared": True,
         "submitted_at": ON_TIME_AT} for r in reports])
    db.session.commit()


def test_the_page_issues_the_same_statements_for_10_and_1000_auditors(app, db, agency,
                                                                      make_user, frozen):
    viewer = make_user(roles={"leader"})
    departments = [factories.DepartmentFactory(agency=agency).id for _ in range(3)]
    client = app.test_client()
    login(client, viewer)

    def statements() -> int:
        seen = []

        def listener(*args):
            seen.append(args[2])

        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            response = client.get("/compliance/?period=2025-03")
            assert response.status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    _add_auditors(db, agency, departments, "Q", 10)
    few = statements()
    _add_auditors(db, agency, departments, "R", 990)
    many = statements()
    assert many == few
    page = client.get("/compliance/?period=2025-03").get_data(as_text=True)
    assert 'data-figure="expected">1000<' in page
    assert 'data-figure="on_time">500<' in page


def test_filing_keeps_the_tally_equal_to_a_recount(db, agency, bureau, runner):
    """The trend reads the tally; filing, a late filing and a correction that adds incidents
    must leave it exactly what counting the reports gives (another agency's report apart)."""
    kept = tally.counts(agency.id, ["2025-02", "2025-03"])
    # March: a1 (zero), a2 (late, incidents), b1 (corrected: incidents), n1 (incidents)
    assert kept == {"2025-02": (1, 1, 0), "2025-03": (4, 1, 3)}
    db.session.execute(sa.delete(FilingTally))
    db.session.commit()
    result = runner.invoke(args=["tally", "rebuild"])
    assert result.exit_code == 0, result.output
    assert tally.counts(agency.id, ["2025-02", "2025-03"]) == kept


def test_a_correction_back_to_zero_takes_the_report_off_the_incident_count(db, agency, make_user):
    user = make_user()
    incident = register(user, datetime(2025, 3, 3, 2, tzinfo=UTC))
    report = records.file_report(user, MARCH, zero=False, now=ON_TIME_AT)
    assert tally.counts(agency.id, ["2025-03"]) == {"2025-03": (1, 0, 1)}
    records.correct_incident(incident, incident_data(datetime(2025, 2, 27, 2, tzinfo=UTC)),
                            reason="时间登记错误：发生在二月", uploads=[], now=ON_TIME_AT)
    records.correct_report(report, reason="时间登记错误", now=ON_TIME_AT)
    assert tally.counts(agency.id, ["2025-03"]) == {"2025-03": (1, 0, 0)}


def test_the_trend_from_the_tally_equals_the_trend_from_the_records(db, agency, bureau):
    """The dashboard reads the tally, the annual statement counts the reports: same figures."""
    for last in (MARCH, APRIL):
        assert (rates.trend(agency, last, AFTER_DEADLINE)
                == rates.trend(agency, last, AFTER_DEADLINE, from_records=True))
