"""The annual statement's figures (年度独立性情况报告): who had to file, who did, what happened.

Plain functions over the database, used by the statement pages, the PDF and XLSX outputs, the
CLI and the benchmark alike. They reuse the filing rules rather than re-deriving them: who must
file for a month is app/filing/scope.py's (employment periods), on time / late / missing is
compliance's counting (rates.trend gives the twelve months in two queries, counting the reports
themselves rather than the dashboard's running tally: a signed statement rests on the record
alone), and the review statuses are review's. Everything is computed in a fixed, small number of
queries whatever the size of the agency (see bench/statement.py)."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict, namedtuple
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from app.compliance import rates
from app.core import tree
from app.core.codes import FilingStatus, ReviewStatus, Role, StatementStatus
from app.core.extensions import db
from app.core.refusals import Refused
from app.filing import records, scope
from app.filing.periods import Period
from app.models import (
    Agency,
    AnnualStatement,
    Department,
    Employment,
    Incident,
    IncidentVersion,
    MonthlyReport,
    Review,
    User,
    UserRole,
)
from app.review import upward, workflow
from app.statement import confirmations
from app.statement.confirmations import Person

# People named in a list of the statement (missing reports, confirmations, joiners and
# leavers); the counts are always complete, the names stop here.
LIST_LIMIT = 200


class StatementError(Refused):
    """A step the workflow refuses; the message is for the user."""


@dataclass(frozen=True)
class StaffMonths:
    """A joiner or leaver: the months of the year they were in scope."""

    staff_no: str
    name: str
    department: str
    first: str
    last: str
    months: int


@dataclass(frozen=True)
class MissingReport:
    period: str
    staff_no: str
    name: str
    department: str


@dataclass(frozen=True)
class SignedBelow:
    """The statement of an agency directly below (a city's district), as signed when this
    statement was dated: the city's statement lists them (issue 15), each checkable with
    `statement verify` against its digest. `signed_at` None: not signed by then."""

    agency_id: int
    agency: str
    document_number: str = ""
    signed_at: str | None = None
    records_digest: str = ""
    incidents: int = 0
    referrals: int = 0
    violations: int = 0


@dataclass(frozen=True)
class MonthRow:
    period: str
    unfiled_status: str
    figures: rates.Figures


# What a roll-up of an agency tree shows of each signed statement (AnnualStatement.headline).
HEADLINE = ("incidents", "referrals", "violations", "by_kind", "by_category", "by_channel",
            "by_relation", "by_disposition")


@dataclass(frozen=True)
class Figures:
    """Everything the statement states; JSON-serialisable, stored as signed."""

    year: int
    staff: int
    staff_full_year: int
    staff_months: int
    partial_staff: list[StaffMonths]
    reports: rates.Figures
    months: list[MonthRow]
    missing_reports: list[MissingReport]
    incidents: int
    by_kind: dict[str, int]
    by_category: dict[str, int]
    by_channel: dict[str, int]
    by_month: dict[str, int]
    by_relation: dict[str, int]
    by_disposition: dict[str, int]
    open_reviews: int
    open_by_month: dict[str, int]
    referrals: int
    violations: int
    violations_by_month: dict[str, int]
    confirmations_expected: int
    confirmations_given: int
    missing_confirmations: list[Person] = field(default_factory=list)
    # The staff's registrations that went to the level above (直报上级): counted there, by
    # kind and disposition; here only their number (0 in statements signed before).
    reported_above: int = 0
    # The agencies directly below and their signed statements (none in statements before).
    below: list[SignedBelow] = field(default_factory=list)

    @property
    def confirmations_missing(self) -> int:
        return self.confirmations_expected - self.confirmations_given

    @property
    def staff_years(self) -> float:
        """Staff in scope pro rata: person-months / 12."""
        return self.staff_months / 12

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, sort_keys=True)

    def headline(self) -> str:
        """The HEADLINE fields as JSON: what AnnualStatement.headline keeps."""
        return json.dumps({name: getattr(self, name) for name in HEADLINE},
                          ensure_ascii=False, sort_keys=True)

    def facts(self) -> str:
        """The figures without the names and departments of the people listed (who are still
        identified by staff number and month): what `verify` compares, since an administrator
        may rename a person or a department after the year is signed."""
        data = dataclasses.asdict(self)
        for key in ("partial_staff", "missing_reports", "missing_confirmations", "below"):
            data[key] = sorted(json.dumps({k: v for k, v in row.items()
                                           if k not in ("name", "department", "agency")},
                                          sort_keys=True)
                               for row in data[key])
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Figures:
        data = json.loads(text)
        data["partial_staff"] = [StaffMonths(**row) for row in data["partial_staff"]]
        data["reports"] = rates.Figures(**data["reports"])
        data["months"] = [MonthRow(row["period"], row["unfiled_status"],
                                   rates.Figures(**row["figures"]))
                          for row in data["months"]]
        data["missing_reports"] = [MissingReport(**row) for row in data["missing_reports"]]
        data["missing_confirmations"] = [Person(**row) for row in data["missing_confirmations"]]
        data["below"] = [SignedBelow(**row) for row in data.get("below", [])]
        return cls(**data)


def _year_periods(year: int) -> list[Period]:
    return Period(year, 1).until(Period(year, 12))


def scope_months(first: str, last: str | None, year: int) -> list[Period]:
    """The months of `year` a period owning first..last (app/filing/scope.py) must file."""
    return scope.months_in(first, last, Period(year, 1), Period(year, 12))


def auditors_of_year(query: sa.Select, agency_id: int, year: int) -> sa.Select:
    """`query` (from User) joined to the agency's auditors' periods owning some month of
    `year`: one row per period (a person who left and came back in the year has two)."""
    return (query.join(UserRole, sa.and_(UserRole.user_id == User.id,
                                         UserRole.role == Role.AUDITOR))
            .join(Employment, scope.of_agency(agency_id))
            .where(scope.overlaps(f"{year:04d}-01", f"{year:04d}-12")))


def reports_of_year(agency_id: int, year: int) -> sa.ColumnElement[bool]:
    """The MonthlyReports the agency's statement of `year` counts: its auditors' reports for
    the months their periods in the agency own (a report filed after a transfer, for a month
    of the old agency, is the old agency's), not those filed after signing."""
    return sa.and_(
        MonthlyReport.period.between(f"{year:04d}-01", f"{year:04d}-12"),
        MonthlyReport.after_signing.is_(False),
        sa.exists().where(Employment.user_id == MonthlyReport.user_id,
                          Employment.agency_id == agency_id, scope.owns(MonthlyReport.period),
                          UserRole.user_id == MonthlyReport.user_id,
                          UserRole.role == Role.AUDITOR))


def staff_query(agency_id: int, year: int) -> sa.Select:
    """The periods in scope, grouped by the months they own."""
    return auditors_of_year(
        sa.select(Employment.first_period, Employment.last_period, sa.func.count())
        .select_from(User),
        agency_id, year).group_by(Employment.first_period, Employment.last_period)


def people_query(agency_id: int, year: int) -> sa.Select:
    """How many people the periods in scope are (one query, distinct ids)."""
    return auditors_of_year(sa.select(sa.func.count(User.id.distinct())).select_from(User),
                            agency_id, year)


def partial_staff_query(agency_id: int, year: int) -> sa.Select:
    """Joiners and leavers (periods in scope for fewer than twelve months), by department."""
    return auditors_of_year(
        sa.select(User.staff_no, User.name, sa.func.coalesce(Department.name, ""),
                  Employment.first_period, Employment.last_period).select_from(User),
        agency_id, year,
    ).outerjoin(Department, Department.id == Employment.department_id).where(
        sa.or_(Employment.first_period > f"{year:04d}-01",
               Employment.last_period < f"{year:04d}-12")
    ).order_by(Department.name.is_(None), Department.name, User.staff_no,
               Employment.first_period).limit(LIST_LIMIT)


def missing_query(agency_id: int, period: Period, limit: int) -> sa.Select:
    """The first `limit` reports missing for `period` (past its deadline), by department and
    staff number."""
    return (
        sa.select(sa.literal(str(period), sa.String), User.staff_no, User.name,
                  sa.func.coalesce(Department.name, ""))
        .select_from(User)
        .join(UserRole, sa.and_(UserRole.user_id == User.id, UserRole.role == Role.AUDITOR))
        .join(Employment, scope.of_agency(agency_id))
        .outerjoin(Department, Department.id == Employment.department_id)
        .where(scope.owns(str(period)),
               ~sa.exists().where(MonthlyReport.user_id == User.id,
                                  MonthlyReport.period == str(period),
                                  MonthlyReport.after_signing.is_(False)))
        .order_by(Department.name.is_(None), Department.name, User.staff_no)
        .limit(limit)
    )


def missing_reports(agency_id: int, periods: list[Period]) -> list[MissingReport]:
    """The first LIST_LIMIT reports missing for `periods`, by month, department and staff
    number: a query per month, from the first, until the list is full. Usually the first month
    fills it (one query, 0.2 s at 100,000 auditors, where one query over the twelve months
    checked all 1.2 M person-months for 2 s); never more than twelve."""
    found: list[MissingReport] = []
    for period in periods:
        found += [MissingReport(*row) for row in db.session.execute(
            missing_query(agency_id, period, LIST_LIMIT - len(found)))]
        if len(found) >= LIST_LIMIT:
            break
    return found


def incidents_of_year(agency_id: int | sa.Select, year: int) -> sa.ColumnElement[bool]:
    """The agency's incidents of `year` the statement rests on: those registered after it was
    signed are shown against it (late_records), never in its figures. `agency_id` may be a
    SELECT of ids (tree.subtree): the incidents of those agencies."""
    agency = Incident.agency_id.in_(agency_id) if isinstance(agency_id, sa.Select) \
        else Incident.agency_id == agency_id
    return sa.and_(agency,
                   Incident.period.between(f"{year:04d}-01", f"{year:04d}-12"),
                   Incident.after_signing.is_(False))


def current_incident_versions(agency_id: int | sa.Select, year: int) -> sa.Select:
    """(Incident, its current IncidentVersion) of the agency's incidents of `year`: select
    from this and add columns."""
    current = (sa.select(IncidentVersion.incident_id,
                         sa.func.max(IncidentVersion.number).label("number"))
               .join(Incident, Incident.id == IncidentVersion.incident_id)
               .where(incidents_of_year(agency_id, year))
               .group_by(IncidentVersion.incident_id).subquery())
    return (sa.select(Incident.id).select_from(Incident)
            .join(current, current.c.incident_id == Incident.id)
            .join(IncidentVersion, sa.and_(IncidentVersion.incident_id == Incident.id,
                                           IncidentVersion.number == current.c.number)))


def incident_query(agency_id: int | sa.Select, year: int, *, by_agency: bool = False
                   ) -> sa.Select:
    """The year's incidents counted by month, effective kind and category (a reclassification
    wins), channel, relation, review status and determination: one grouped query. With
    `by_agency` (and a SELECT of agency ids), each row starts with its agency's id."""
    columns = (*((Incident.agency_id,) if by_agency else ()), Incident.period,
               sa.func.coalesce(Review.kind, IncidentVersion.kind),
               sa.func.coalesce(Review.category, IncidentVersion.category),
               IncidentVersion.channel, IncidentVersion.actor_relation, Review.status,
               Review.affected_independence)
    return (current_incident_versions(agency_id, year)
            .with_only_columns(*columns, sa.func.count(), maintain_column_froms=False)
            .outerjoin(Review, Review.incident_id == Incident.id)
            .group_by(*columns))


def _staff(agency: Agency, year: int) -> tuple[int, int, int, list[StaffMonths]]:
    """(people, people in scope all year, person-months, joiners and leavers): three queries."""
    full = months = 0
    for first, last, count in db.session.execute(staff_query(agency.id, year)):
        n = len(scope_months(first, last, year))
        months += n * count
        full += count if n == 12 else 0
    partial = []
    for staff_no, name, department, first, last in db.session.execute(
            partial_staff_query(agency.id, year)):
        owned = scope_months(first, last, year)
        partial.append(StaffMonths(staff_no, name, department, str(owned[0]), str(owned[-1]),
                                   len(owned)))
    return db.session.scalar(people_query(agency.id, year)) or 0, full, months, partial


@dataclass
class IncidentCounts:
    """The year's incidents of an agency, counted as the statement counts them."""

    total: int = 0
    open: int = 0
    referrals: int = 0
    violations: int = 0
    # defaultdicts, not Counters: a national roll-up makes eight per agency, and a Counter
    # costs ten times more to create.
    tallies: dict[str, defaultdict[str, int]] = field(default_factory=lambda: {
        name: defaultdict(int) for name in ("kind", "category", "channel", "month",
                                            "relation", "disposition", "open", "violations")})

    def add(self, period: str, kind: str, category: str, channel: str, relation: str,
            status: str | None, affected: bool | None, n: int) -> None:
        """Count `n` incidents of one row of incident_query."""
        status = status or ReviewStatus.NEW
        self.total += n
        t = self.tallies  # spelt out: a national roll-up adds thousands of rows
        t["kind"][kind] += n
        t["category"][category] += n
        t["channel"][channel] += n
        t["month"][period] += n
        t["relation"][relation] += n
        t["disposition"][status] += n
        if status in workflow.OPEN:
            self.open += n
            t["open"][period] += n
        if status == ReviewStatus.REFERRED:
            self.referrals += n
        if affected:
            self.violations += n
            t["violations"][period] += n


def _incidents(agency: Agency, year: int) -> IncidentCounts:
    counts = IncidentCounts()
    for row in db.session.execute(incident_query(agency.id, year)):
        counts.add(*row)
    return counts


def incidents_by_agency(agencies: sa.Select, year: int) -> dict[int, IncidentCounts]:
    """The year's incident counts per agency of `agencies` (a SELECT of ids), in one grouped
    query: what each agency's statement would count. Agencies without incidents are absent."""
    counts: dict[int, IncidentCounts] = defaultdict(IncidentCounts)
    for agency_id, *row in db.session.execute(incident_query(agencies, year, by_agency=True)):
        counts[agency_id].add(*row)
    return dict(counts)


def _sorted(counter: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counter.items()))


def compute(agency: Agency, year: int, now: datetime, below: list[int] | None = None) -> Figures:
    """The statement's figures for `year`, as of `now` (which months are past their deadline).
    `below`: the agencies whose signed statements it lists (default: those directly below
    now; `verify` gives those listed at signing)."""
    rule = records.deadline_rule(agency)
    staff, full, months, partial = _staff(agency, year)
    trend = rates.trend(agency, Period(year, 12), now, months=12, rule=rule,
                             from_records=True)
    past_deadline = [p.period for p in trend if p.unfiled_status == FilingStatus.MISSING]
    missing = missing_reports(agency.id, past_deadline)
    incidents = _incidents(agency, year)
    t = incidents.tallies
    confirmed = confirmations.status(agency, year, LIST_LIMIT)
    return Figures(
        year=year, staff=staff, staff_full_year=full, staff_months=months,
        partial_staff=partial,
        reports=sum((p.figures for p in trend), rates.Figures()),
        months=[MonthRow(str(p.period), p.unfiled_status, p.figures) for p in trend],
        missing_reports=missing, incidents=incidents.total,
        by_kind=_sorted(t["kind"]), by_category=_sorted(t["category"]),
        by_channel=_sorted(t["channel"]), by_month=_sorted(t["month"]),
        by_relation=_sorted(t["relation"]), by_disposition=_sorted(t["disposition"]),
        open_reviews=incidents.open, open_by_month=_sorted(t["open"]),
        referrals=incidents.referrals, violations=incidents.violations,
        violations_by_month=_sorted(t["violations"]),
        confirmations_expected=confirmed.expected, confirmations_given=confirmed.given,
        missing_confirmations=confirmed.missing,
        reported_above=upward.reported_above(agency.id, year),
        below=signed_below(children(agency) if below is None else below, year, now),
    )


def children(agency: Agency) -> list[int]:
    """The ids of the agencies directly below (a city's districts)."""
    return [child.id for child in tree.children(agency.id)]


def signed_below(agency_ids: list[int], year: int, cutoff: datetime) -> list[SignedBelow]:
    """Each of the agencies' statement of `year` as signed by `cutoff` (two queries): the
    figures its leader signed, read from the stored statement, with its digest."""
    if not agency_ids:
        return []
    names = dict(db.session.execute(sa.select(Agency.id, Agency.name)
                                    .where(Agency.id.in_(agency_ids))).all())
    signed = {row.agency_id: row for row in stored_rows(
        sa.and_(AnnualStatement.agency_id.in_(agency_ids), AnnualStatement.year == year,
                AnnualStatement.status == StatementStatus.LOCKED,
                AnnualStatement.signed_at <= cutoff),
        [AnnualStatement.agency_id, AnnualStatement.document_number, AnnualStatement.signed_at,
         AnnualStatement.records_digest])}
    rows = []
    for agency_id in agency_ids:
        name, row = names.get(agency_id, ""), signed.get(agency_id)
        rows.append(SignedBelow(agency_id, name) if row is None else SignedBelow(
            agency_id, name, row.document_number or "", row.signed_at.astimezone(UTC).isoformat(),
            row.records_digest, int(row.incidents), int(row.referrals), int(row.violations)))
    return sorted(rows, key=lambda row: (row.agency, row.agency_id))


def stored(statement: AnnualStatement) -> Figures:
    return Figures.from_json(statement.figures)


def stored_rows(where: sa.ColumnElement[bool], columns: list[sa.ColumnElement]) -> list[tuple]:
    """`columns` of the statements `where` selects, then the HEADLINE fields of their figures,
    as named tuples: read from each statement's headline, a few hundred bytes, where parsing
    3,000 whole statements took PostgreSQL 420 ms (bench/municipal.py)."""
    stored_row = namedtuple("StoredRow", [column.key for column in columns] + list(HEADLINE))
    rows = db.session.execute(sa.select(*columns, AnnualStatement.headline).where(where))
    return [stored_row(*row[:-1], *map(json.loads(row[-1]).__getitem__, HEADLINE))
            for row in rows]
