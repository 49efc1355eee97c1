"""Filing compliance: who has filed for a period, in figures and names, never incident content.

Plain functions over the database (no request), so the dashboard, the exports, the CLI and the
scheduler's digest count the same way. The rule for who must file is filing.in_scope: an
auditor of the agency employed at any time during the month (joined on or before its last
day, not left before its first). Deactivated staff who left still count for the months they
were in post, so leaving never erases an old gap.

A report is on time or late as recorded when it was filed; whether it is a zero report or
one with incidents is read from its current (latest) version, since a correction may change it.
Someone who has not filed is "due" until the deadline passes, then "missing".

Everything is computed with a fixed, small number of aggregate queries whatever the size of
the agency: the benchmark (bench/dashboard.py) runs them on 100,000 auditors.
"""

from __future__ import annotations

import dataclasses
import operator
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.core.codes import FilingStatus, Role
from app.core.extensions import db
from app.filing import scope, tally
from app.filing.periods import DeadlineRule, Period
from app.filing.records import deadline_rule, status_of
from app.models import (
    Agency,
    Department,
    Employment,
    MonthlyReport,
    ReportVersion,
    User,
    UserRole,
)

TREND_MONTHS = 12
# Non-filers listed by name on the page; the export lists everyone.
PAGE_NON_FILERS = 500


@dataclass(frozen=True)
class Figures:
    """A month's filing figures for a group of auditors. Every expected report is exactly
    one of on_time, late, missing, due or not_open; every filed one is zero or with incidents."""

    expected: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    due: int = 0
    not_open: int = 0
    zero: int = 0
    with_incidents: int = 0

    @classmethod
    def count(cls, expected: int, filed: int, late: int, with_incidents: int,
              unfiled_as: str) -> Figures:
        """From the raw counts; `unfiled_as` is what a report not filed is at this moment."""
        unfiled = expected - filed
        return cls(expected=expected, on_time=filed - late, late=late,
                   missing=unfiled if unfiled_as == FilingStatus.MISSING else 0,
                   due=unfiled if unfiled_as == FilingStatus.DUE else 0,
                   not_open=unfiled if unfiled_as == FilingStatus.NOT_OPEN else 0,
                   zero=filed - with_incidents, with_incidents=with_incidents)

    def __add__(self, other: Figures) -> Figures:
        return Figures.summed((self, other))

    @classmethod
    def summed(cls, items: Iterable[Figures]) -> Figures:
        """The sum, field by field (a tree's total over thousands of agencies)."""
        return cls(*map(sum, zip(*map(_FIELDS, items), strict=True)))

    @property
    def filed(self) -> int:
        return self.on_time + self.late

    @property
    def unfiled(self) -> int:
        return self.missing + self.due + self.not_open

    def percent(self, part: int) -> float:
        """`part` as a percentage of the reports expected (0 when none are)."""
        return 100.0 * part / self.expected if self.expected else 0.0


_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(Figures)))


@dataclass(frozen=True)
class DepartmentFigures:
    department_id: int | None  # None: staff without a department
    name: str | None
    figures: Figures


@dataclass(frozen=True)
class NonFiler:
    """Who has not filed: a person, never anything they registered."""

    user_id: int
    staff_no: str
    name: str
    department: str | None
    active: bool


@dataclass(frozen=True)
class PeriodFigures:
    period: Period
    deadline: datetime
    unfiled_status: str  # DUE, MISSING or NOT_OPEN: what "not filed" means at `now`
    total: Figures
    departments: list[DepartmentFigures]
    non_filers: list[NonFiler]  # the first `limit`, by department and staff number

    @property
    def more_non_filers(self) -> int:
        """Non-filers beyond those listed."""
        return self.total.unfiled - len(self.non_filers)


@dataclass(frozen=True)
class TrendPoint:
    period: Period
    unfiled_status: str
    figures: Figures


@dataclass(frozen=True)
class PersonRow:
    """One line of the compliance table export."""

    staff_no: str
    name: str
    department: str | None
    status: str
    filed_at: datetime | None
    late: bool
    zero: bool | None  # None when not filed


# Building blocks --------------------------------------------------------------------------

def _in_scope(agency_id: int | sa.Select, first: sa.ColumnElement[str] | str,
              last: sa.ColumnElement[str] | str) -> list[sa.ColumnElement[bool]]:
    """The where-clause of filing's scope, in SQL: periods in the agency (or in the agencies a
    SELECT of ids gives, e.g. tree.subtree) owning some month between first and last
    ('YYYY-MM'). Used with a join on the auditors' role row and on Employment."""
    in_agency = (Employment.agency_id.in_(agency_id) if isinstance(agency_id, sa.Select)
                 else Employment.agency_id == agency_id)
    return [in_agency, scope.overlaps(first, last)]


def _auditor_role() -> sa.ColumnElement[bool]:
    return sa.and_(UserRole.user_id == User.id, UserRole.role == Role.AUDITOR)


def _latest_with_incidents() -> sa.ColumnElement[bool]:
    """The ON clause joining a report to its latest version if that one has incidents.

    LEFT JOINed, it finds at most one row per report, and none for a zero report. Most months
    are zero reports: with a partial index on report_version (report_id) WHERE NOT is_zero the
    probe is into that small index and usually finds nothing, which is much cheaper than
    reading every report's latest version (see bench/dashboard.py).
    """
    newer = so.aliased(ReportVersion)
    return sa.and_(
        ReportVersion.report_id == MonthlyReport.id,
        ~ReportVersion.is_zero,
        ~sa.exists().where(newer.report_id == ReportVersion.report_id,
                           newer.number > ReportVersion.number),
    )


def _counts() -> tuple[sa.ColumnElement[int], ...]:
    """expected, filed, late, with incidents, over in-scope auditors LEFT JOINed to their
    report and its latest version with incidents (a filed report without one is zero)."""
    return (
        sa.func.count(),
        sa.func.count(MonthlyReport.user_id),  # in ix_monthly_report_user_id_period_late
        sa.func.count(sa.case((MonthlyReport.late, 1))),
        sa.func.count(ReportVersion.report_id),
    )


def _tally(group: sa.ColumnElement, agency: int | sa.Select, period: Period) -> sa.Select:
    """_counts for `period` per `group`: in-scope auditors' periods LEFT JOIN their report for
    the period and its latest version with incidents. It starts from the periods and never
    reads the user rows: on a national tree that is one index probe fewer per auditor."""
    return (
        sa.select(group, *_counts())
        .select_from(Employment)
        .join(UserRole, scope.auditor_period())
        .outerjoin(MonthlyReport, sa.and_(MonthlyReport.user_id == Employment.user_id,
                                          MonthlyReport.period == str(period)))
        .outerjoin(ReportVersion, _latest_with_incidents())
        .where(*_in_scope(agency, str(period), str(period)))
        .group_by(group)
    )


def _by_department() -> tuple[sa.ColumnElement, ...]:
    """Departments by name, then staff without one (the same order on both databases)."""
    return (Department.name.is_(None), Department.name)


# Public functions -------------------------------------------------------------------------

def period_figures(agency: Agency, period: Period, now: datetime, limit: int | None = None,
                   *, rule: DeadlineRule | None = None) -> PeriodFigures:
    """The figures of one period, overall and per department, with its non-filers.

    Two queries whatever the agency's size: one aggregate (in-scope auditors LEFT JOIN their
    report for the period, grouped by department) and the list of non-filers (`limit` of them,
    or all). Pass the agency's `rule` if you have it (it may cost a query to build).
    """
    rule = rule or deadline_rule(agency)
    unfiled_as = status_of(None, period, rule, now)
    tally = _tally(Employment.department_id, agency.id, period).subquery()
    # Names are joined to the ~hundreds of groups, not to every auditor's row.
    rows = db.session.execute(
        sa.select(tally.c.department_id, Department.name, *list(tally.c)[1:])
        .outerjoin(Department, Department.id == tally.c.department_id)
        .order_by(*_by_department())
    ).all()
    departments = [
        DepartmentFigures(dept_id, name, Figures.count(expected, filed, late, incidents,
                                                       unfiled_as))
        for dept_id, name, expected, filed, late, incidents in rows
    ]
    total = sum((d.figures for d in departments), Figures())
    return PeriodFigures(period, rule.deadline(period), unfiled_as, total, departments,
                         non_filers(agency, period, limit))


def agency_figures(agencies: sa.Select, period: Period,
                   unfiled_as: Mapping[int, str]) -> dict[int, Figures]:
    """The figures of one period per agency of `agencies` (a SELECT of ids): one query grouped
    by agency whatever the number of agencies, for the roll-up of an agency tree. `unfiled_as`
    holds what a report not filed is now in each agency, by its own deadline
    (records.unfiled_statuses); agencies without auditors in scope are absent."""
    rows = db.session.execute(_tally(Employment.agency_id, agencies, period))
    return {agency_id: Figures.count(expected, filed, late, incidents, unfiled_as[agency_id])
            for agency_id, expected, filed, late, incidents in rows}


def non_filers(agency: Agency, period: Period, limit: int | None = None) -> list[NonFiler]:
    """In-scope auditors with no report for `period`, by department and staff number."""
    # From the periods, the user row read only for those who have not filed (145 to 98 ms
    # at 100,000 auditors).
    filed = sa.exists().where(MonthlyReport.user_id == Employment.user_id,
                              MonthlyReport.period == str(period))
    query = (
        sa.select(User.id, User.staff_no, User.name, Department.name, User.active)
        .select_from(Employment)
        .join(UserRole, scope.auditor_period())
        .join(User, User.id == Employment.user_id)
        .outerjoin(Department, Department.id == Employment.department_id)
        .where(*_in_scope(agency.id, str(period), str(period)), ~filed)
        .order_by(*_by_department(), User.staff_no)
    )
    if limit is not None:
        query = query.limit(limit)
    return [NonFiler(*row) for row in db.session.execute(query)]


def trend(agency: Agency, last_period: Period, now: datetime, months: int = TREND_MONTHS,
          *, rule: DeadlineRule | None = None, last: Figures | None = None,
          from_records: bool = False) -> list[TrendPoint]:
    """The headline figures of the `months` periods ending at `last_period`, oldest first.

    Two queries whatever the agency's size: the filed counts of the window and the auditors in
    post during the window grouped by the months their periods own, whose expected counts per
    month are summed here. The filed counts come from the filing tally (twelve rows, kept by
    app.tally as reports are filed), or, with `from_records`, from counting the reports
    themselves, each checked against its month's scope: slower, for the annual statement, which
    must rest on the record alone. Pass `last`, the live figures of `last_period`
    (period_figures), when you have them: the chart's last point then equals the headline.
    """
    rule = rule or deadline_rule(agency)
    first = last_period
    for _ in range(months - 1):
        first = first.previous()
    periods = first.until(last_period)
    filed = (_filed_from_records if from_records else _filed_from_tally)(agency, periods)
    expected = _expected(agency, periods)
    points = []
    for period in periods:
        count, late, incidents = filed.get(str(period), (0, 0, 0))
        unfiled_as = status_of(None, period, rule, now)
        figures = Figures.count(expected[period], count, late, incidents, unfiled_as)
        points.append(TrendPoint(period, unfiled_as,
                                 last if last is not None and period == last_period else figures))
    return points


def _filed_from_tally(agency: Agency, periods: list[Period]) -> dict[str, tuple[int, int, int]]:
    return tally.counts(agency.id, [str(p) for p in periods])


def _filed_from_records(agency: Agency,
                        periods: list[Period]) -> dict[str, tuple[int, int, int]]:
    """period -> (filed, late, with incidents), counting the reports of in-scope auditors
    (not those filed after the year's statement was signed: they are shown against it)."""
    rows = db.session.execute(
        sa.select(MonthlyReport.period, *_counts()[1:])
        .select_from(User)
        .join(UserRole, _auditor_role())
        .join(Employment, scope.of_agency(agency.id))
        .join(MonthlyReport, sa.and_(MonthlyReport.user_id == User.id,
                                     MonthlyReport.period.in_([str(p) for p in periods]),
                                     MonthlyReport.after_signing.is_(False)))
        .outerjoin(ReportVersion, _latest_with_incidents())
        .where(*_in_scope(agency.id, MonthlyReport.period, MonthlyReport.period))
        .group_by(MonthlyReport.period)
    )
    return {period: (count, late, incidents) for period, count, late, incidents in rows}


def _expected(agency: Agency, periods: list[Period]) -> dict[Period, int]:
    """Auditors in post per period: one grouped query over the whole window."""
    expected: dict[Period, int] = defaultdict(int)
    rows = db.session.execute(
        sa.select(Employment.first_period, Employment.last_period, sa.func.count())
        .select_from(Employment)
        .join(UserRole, scope.auditor_period())
        .where(*_in_scope(agency.id, str(periods[0]), str(periods[-1])))
        .group_by(Employment.first_period, Employment.last_period)
    )
    for first, last, count in rows:
        for period in scope.months_in(first, last, periods[0], periods[-1]):
            expected[period] += count
    return expected


def people(agency: Agency, period: Period, now: datetime, *,
           rule: DeadlineRule | None = None) -> Iterator[PersonRow]:
    """Every in-scope auditor with their status for `period`: the compliance table export.

    One query; the status columns only (filed when, late, zero or with incidents).
    """
    unfiled_as = status_of(None, period, rule or deadline_rule(agency), now)
    rows = db.session.execute(
        sa.select(User.staff_no, User.name, Department.name, MonthlyReport.id,
                  MonthlyReport.first_filed_at, MonthlyReport.late, ReportVersion.report_id)
        .select_from(User)
        .join(UserRole, _auditor_role())
        .join(Employment, scope.of_agency(agency.id))
        .outerjoin(Department, Department.id == Employment.department_id)
        .outerjoin(MonthlyReport, sa.and_(MonthlyReport.user_id == User.id,
                                          MonthlyReport.period == str(period)))
        .outerjoin(ReportVersion, _latest_with_incidents())
        .where(*_in_scope(agency.id, str(period), str(period)))
        .order_by(*_by_department(), User.staff_no)
    )
    for staff_no, name, department, report_id, filed_at, late, with_incidents in rows:
        if report_id is None:
            yield PersonRow(staff_no, name, department, unfiled_as, None, False, None)
        else:
            status = FilingStatus.LATE if late else FilingStatus.ON_TIME
            yield PersonRow(staff_no, name, department, status, filed_at, bool(late),
                            with_incidents is None)
