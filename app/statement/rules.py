"""The annual statement on audit independence (年度独立性情况报告): figures, conclusion, sign-off.

Plain functions over the database, used by the statement pages, the PDF and XLSX outputs, the
CLI and the benchmark alike. They only flush; the caller commits.

The figures reuse the filing rules rather than re-deriving them: who must file for a month is
records.in_scope, on time / late / missing is compliance's counting (rates.trend gives the
twelve months in two queries, counting the reports themselves rather than the dashboard's
running tally: a signed statement rests on the record alone), and the review statuses are
review's. Everything is computed in a fixed, small number of queries whatever the size of the
agency (see bench/statement.py).

The conclusion follows the facts: "全年未发生影响审计独立性的违规情形" only when no incident was
determined a violation, no review is open, and every expected report and personal confirmation
is in; otherwise the obstacles, by name and month, with an explicit violation count.

Workflow: the discipline office prepares a draft (figures and the digest of the records they
came from are stored); a leader signs it after entering their password again, which locks it
only if the record still gives exactly the draft; the audit log's head hash at that moment is
stored with it. `verify` recomputes both later.

A year is signed only once it is over and its December reports are due (`signable_from`):
before that a draft is a provisional preview. After the lock nothing a person must record is
refused: a registration or monthly report of the signed year is accepted, marked after_signing,
kept out of the figures and the digest (so `verify` still matches what was signed), and shown
against the statement (`late_records`) until an addendum accounts for it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask_babel import format_date, get_locale, ngettext
from flask_babel import gettext as _

from app.auth import security
from app.compliance import rates
from app.core import access, auditlog
from app.core.codes import FilingStatus, ReviewStatus, Role, StatementStatus
from app.core.extensions import db
from app.core.refusals import Refused
from app.filing import records
from app.filing.periods import Period
from app.models import (
    Agency,
    AnnualConfirmation,
    AnnualStatement,
    Department,
    Incident,
    IncidentVersion,
    MonthlyReport,
    ReportVersion,
    Review,
    StatementAddendum,
    User,
    UserRole,
    report_version_incident,
)
from app.review import workflow
from app.statement import confirmations, yearlock
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
class MonthRow:
    period: str
    unfiled_status: str
    figures: rates.Figures


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

    @property
    def confirmations_missing(self) -> int:
        return self.confirmations_expected - self.confirmations_given

    @property
    def staff_years(self) -> float:
        """Staff in scope pro rata: person-months / 12."""
        return self.staff_months / 12

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, sort_keys=True)

    def facts(self) -> str:
        """The figures without the names and departments of the people listed (who are still
        identified by staff number and month): what `verify` compares, since an administrator
        may rename a person or a department after the year is signed."""
        data = dataclasses.asdict(self)
        for key in ("partial_staff", "missing_reports", "missing_confirmations"):
            data[key] = sorted(json.dumps({k: v for k, v in row.items()
                                           if k not in ("name", "department")}, sort_keys=True)
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
        return cls(**data)


# Figures ------------------------------------------------------------------------------------

def _year_periods(year: int) -> list[Period]:
    return Period(year, 1).until(Period(year, 12))


def scope_months(joined_on: date, left_on: date | None, year: int) -> list[Period]:
    """The months of `year` someone joined/left on those days must file: records.in_scope."""
    person = User(joined_on=joined_on, left_on=left_on)
    return [period for period in _year_periods(year) if records.in_scope(person, period)]


def auditors_of_year(query: sa.Select, agency_id: int, year: int) -> sa.Select:
    """`query` (from User) narrowed to the agency's auditors in scope for some month of
    `year`: compliance's in-scope rule over the whole year."""
    return query.join(UserRole, sa.and_(UserRole.user_id == User.id, UserRole.role == Role.AUDITOR)
                      ).where(User.agency_id == agency_id,
                              User.joined_on <= date(year, 12, 31),
                              sa.or_(User.left_on.is_(None), User.left_on >= date(year, 1, 1)))


def staff_query(agency_id: int, year: int) -> sa.Select:
    """Auditors in scope, grouped by their join and leave dates."""
    return auditors_of_year(
        sa.select(User.joined_on, User.left_on, sa.func.count()).select_from(User),
        agency_id, year).group_by(User.joined_on, User.left_on)


def partial_staff_query(agency_id: int, year: int) -> sa.Select:
    """Joiners and leavers (in scope for fewer than twelve months), by department."""
    return auditors_of_year(
        sa.select(User.staff_no, User.name, sa.func.coalesce(Department.name, ""),
                  User.joined_on, User.left_on)
        .select_from(User).outerjoin(Department, Department.id == User.department_id),
        agency_id, year,
    ).where(sa.or_(User.joined_on > date(year, 1, 31), User.left_on < date(year, 12, 1))
            ).order_by(Department.name.is_(None), Department.name, User.staff_no
                       ).limit(LIST_LIMIT)


def missing_query(agency_id: int, periods: list[Period]) -> sa.Select:
    """The first LIST_LIMIT reports missing for `periods` (past their deadline), by month,
    department and staff number: one query over all the months, not one per month."""
    # A UNION of one-row SELECTs: SQLite does not name the columns of a VALUES list.
    months = sa.union_all(*(
        sa.select(sa.literal(str(p), sa.String).label("period"),
                  sa.literal(p.first_day, sa.Date).label("first_day"),
                  sa.literal(p.last_day, sa.Date).label("last_day"))
        for p in periods)).subquery("months")
    return (
        sa.select(months.c.period, User.staff_no, User.name,
                  sa.func.coalesce(Department.name, ""))
        .select_from(User)
        .join(UserRole, sa.and_(UserRole.user_id == User.id, UserRole.role == Role.AUDITOR))
        .join(months, sa.and_(User.joined_on <= months.c.last_day,
                              sa.or_(User.left_on.is_(None),
                                     User.left_on >= months.c.first_day)))
        .outerjoin(Department, Department.id == User.department_id)
        .where(User.agency_id == agency_id,
               ~sa.exists().where(MonthlyReport.user_id == User.id,
                                  MonthlyReport.period == months.c.period,
                                  MonthlyReport.after_signing.is_(False)))
        .order_by(months.c.period, Department.name.is_(None), Department.name, User.staff_no)
        .limit(LIST_LIMIT)
    )


def incidents_of_year(agency_id: int, year: int) -> sa.ColumnElement[bool]:
    """The agency's incidents of `year` the statement rests on: those registered after it was
    signed are shown against it (late_records), never in its figures."""
    return sa.and_(Incident.agency_id == agency_id,
                   Incident.period.between(f"{year:04d}-01", f"{year:04d}-12"),
                   Incident.after_signing.is_(False))


def current_incident_versions(agency_id: int, year: int) -> sa.Select:
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


def incident_query(agency_id: int, year: int) -> sa.Select:
    """The year's incidents counted by month, effective kind and category (a reclassification
    wins), channel, relation, review status and determination: one grouped query."""
    columns = (Incident.period, sa.func.coalesce(Review.kind, IncidentVersion.kind),
               sa.func.coalesce(Review.category, IncidentVersion.category),
               IncidentVersion.channel, IncidentVersion.actor_relation, Review.status,
               Review.affected_independence)
    return (current_incident_versions(agency_id, year)
            .with_only_columns(*columns, sa.func.count(), maintain_column_froms=False)
            .outerjoin(Review, Review.incident_id == Incident.id)
            .group_by(*columns))


def _staff(agency: Agency, year: int) -> tuple[int, int, int, list[StaffMonths]]:
    staff = full = months = 0
    for joined_on, left_on, count in db.session.execute(staff_query(agency.id, year)):
        n = len(scope_months(joined_on, left_on, year))
        staff, months = staff + count, months + n * count
        full += count if n == 12 else 0
    partial = []
    for staff_no, name, department, joined_on, left_on in db.session.execute(
            partial_staff_query(agency.id, year)):
        scope = scope_months(joined_on, left_on, year)
        partial.append(StaffMonths(staff_no, name, department, str(scope[0]), str(scope[-1]),
                                   len(scope)))
    return staff, full, months, partial


@dataclass
class _IncidentCounts:
    total: int = 0
    open: int = 0
    referrals: int = 0
    violations: int = 0
    tallies: dict[str, Counter] = field(default_factory=lambda: {
        name: Counter() for name in ("kind", "category", "channel", "month", "relation",
                                     "disposition", "open", "violations")})


def _incidents(agency: Agency, year: int) -> _IncidentCounts:
    counts = _IncidentCounts()
    t = counts.tallies
    for period, kind, category, channel, relation, status, affected, n in db.session.execute(
            incident_query(agency.id, year)):
        status = status or ReviewStatus.NEW
        counts.total += n
        for name, value in (("kind", kind), ("category", category), ("channel", channel),
                            ("month", period), ("relation", relation),
                            ("disposition", status)):
            t[name][value] += n
        if status in workflow.OPEN:
            counts.open += n
            t["open"][period] += n
        if status == ReviewStatus.REFERRED:
            counts.referrals += n
        if affected:
            counts.violations += n
            t["violations"][period] += n
    return counts


def _sorted(counter: Counter) -> dict[str, int]:
    return dict(sorted(counter.items()))


def figures(agency: Agency, year: int, now: datetime) -> Figures:
    """The statement's figures for `year`, as of `now` (which months are past their deadline)."""
    rule = records.deadline_rule(agency)
    staff, full, months, partial = _staff(agency, year)
    trend = rates.trend(agency, Period(year, 12), now, months=12, rule=rule,
                             from_records=True)
    past_deadline = [p.period for p in trend if p.unfiled_status == FilingStatus.MISSING]
    missing = [MissingReport(*row) for row in db.session.execute(
        missing_query(agency.id, past_deadline))] if past_deadline else []
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
    )


# Conclusion ---------------------------------------------------------------------------------

VIOLATIONS, OPEN_REVIEWS, MISSING_REPORTS, PENDING_REPORTS, MISSING_CONFIRMATIONS = (
    "violations", "open_reviews", "missing_reports", "pending_reports",
    "missing_confirmations")


@dataclass(frozen=True)
class Obstacle:
    """What stands in the way of the clean conclusion: its kind and how many."""

    kind: str
    count: int


def obstacles(f: Figures) -> list[Obstacle]:
    """Empty exactly when the statement may say no violation affected audit independence."""
    found = [
        Obstacle(VIOLATIONS, f.violations),
        Obstacle(OPEN_REVIEWS, f.open_reviews),
        Obstacle(MISSING_REPORTS, f.reports.missing),
        Obstacle(PENDING_REPORTS, f.reports.due + f.reports.not_open),
        Obstacle(MISSING_CONFIRMATIONS, f.confirmations_missing),
    ]
    return [obstacle for obstacle in found if obstacle.count]


def is_clean(f: Figures) -> bool:
    return not obstacles(f)


def _separator() -> str:
    return "、" if str(get_locale()).startswith("zh") else ", "


def _by_month(counts: dict[str, int]) -> str:
    return _separator().join(f"{period}: {n}" for period, n in counts.items())


def _named(people: Iterable[str], listed: int, total: int) -> str:
    text = _separator().join(people)
    if total > listed:
        text += _(" and %(num)d more", num=total - listed)
    return text


def conclusion(f: Figures) -> list[str]:
    """The conclusion in the current language: one sentence, or the obstacles one by one,
    always starting with the explicit number of violations determined."""
    found = {obstacle.kind: obstacle.count for obstacle in obstacles(f)}
    if not found:
        # The official formula stays in Chinese in every language: it is what is signed.
        return [_("In %(year)d no violation affected audit independence "
                  "(全年未发生影响审计独立性的违规情形).", year=f.year)]
    lines = [_("The statement cannot conclude for %(year)d that no violation affected audit "
               "independence:", year=f.year),
             ngettext("%(num)d incident was determined to have affected audit independence.",
                      "%(num)d incidents were determined to have affected audit independence.",
                      f.violations)
             + (f" ({_by_month(f.violations_by_month)})" if f.violations else "")]
    if OPEN_REVIEWS in found:
        lines.append(ngettext("%(num)d review is still open (%(months)s).",
                              "%(num)d reviews are still open (%(months)s).",
                              f.open_reviews, months=_by_month(f.open_by_month)))
    if MISSING_REPORTS in found:
        lines.append(ngettext(
            "%(num)d monthly report is missing: %(list)s.",
            "%(num)d monthly reports are missing: %(list)s.", f.reports.missing,
            list=_named((f"{m.period} {m.name}" for m in f.missing_reports),
                        len(f.missing_reports), f.reports.missing)))
    if PENDING_REPORTS in found:
        lines.append(ngettext("%(num)d monthly report of the year is not yet due.",
                              "%(num)d monthly reports of the year are not yet due.",
                              found[PENDING_REPORTS]))
    if MISSING_CONFIRMATIONS in found:
        lines.append(ngettext(
            "%(num)d personal annual confirmation is missing: %(list)s.",
            "%(num)d personal annual confirmations are missing: %(list)s.",
            f.confirmations_missing,
            list=_named((p.name for p in f.missing_confirmations),
                        len(f.missing_confirmations), f.confirmations_missing)))
    return lines


# The records behind the figures ------------------------------------------------------------

def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _columns(model: type) -> sa.Select:
    """Every column of the model's table, in table order, as plain values."""
    return sa.select(*model.__table__.columns)


def _record_queries(agency_id: int, year: int) -> list[tuple[str, sa.Select]]:
    """Every record the figures come from, each table in id order, every column that can
    change a figure (all of them for filings, incidents, reviews and confirmations)."""
    first, last = f"{year:04d}-01", f"{year:04d}-12"
    people = auditors_of_year(sa.select(User.id).select_from(User), agency_id, year)
    reports = sa.select(MonthlyReport.id).where(MonthlyReport.user_id.in_(people),
                                                MonthlyReport.period.between(first, last),
                                                MonthlyReport.after_signing.is_(False))
    versions = sa.select(ReportVersion.id).where(ReportVersion.report_id.in_(reports))
    incidents = sa.select(Incident.id).where(incidents_of_year(agency_id, year))
    link = report_version_incident.c
    return [
        # Who was in scope, not what an administrator may later rename or move: names and
        # departments stay out, so a renamed department does not look like a changed record.
        ("user", auditors_of_year(
            sa.select(User.id, User.staff_no, User.joined_on, User.left_on).select_from(User),
            agency_id, year).order_by(User.id)),
        ("monthly_report", _columns(MonthlyReport).where(MonthlyReport.id.in_(reports))
         .order_by(MonthlyReport.id)),
        ("report_version", _columns(ReportVersion).where(ReportVersion.id.in_(versions))
         .order_by(ReportVersion.id)),
        ("report_version_incident", sa.select(report_version_incident)
         .where(link.report_version_id.in_(versions))
         .order_by(link.report_version_id, link.incident_version_id)),
        ("incident", _columns(Incident).where(Incident.id.in_(incidents))
         .order_by(Incident.id)),
        ("incident_version", _columns(IncidentVersion)
         .where(IncidentVersion.incident_id.in_(incidents)).order_by(IncidentVersion.id)),
        ("review", _columns(Review).where(Review.incident_id.in_(incidents))
         .order_by(Review.id)),
        ("annual_confirmation", _columns(AnnualConfirmation)
         .where(AnnualConfirmation.year == year, AnnualConfirmation.user_id.in_(people))
         .order_by(AnnualConfirmation.id)),
    ]


def records_digest(agency: Agency, year: int) -> str:
    """SHA-256 over a canonical serialisation (one JSON line per row: table, columns in
    table order, UTC ISO times) of every record the year's figures come from."""
    digest = hashlib.sha256()
    for name, query in _record_queries(agency.id, year):
        result = db.session.execute(query.execution_options(yield_per=10_000))
        for row in result:
            line = json.dumps([name, [_plain(value) for value in row]], ensure_ascii=False,
                              separators=(",", ":"))
            digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


# Workflow -----------------------------------------------------------------------------------

def of_year(agency: Agency, year: int) -> AnnualStatement | None:
    return db.session.scalar(sa.select(AnnualStatement).where(
        AnnualStatement.agency_id == agency.id, AnnualStatement.year == year))


def stored(statement: AnnualStatement) -> Figures:
    return Figures.from_json(statement.figures)


def signable_from(agency: Agency, year: int) -> datetime:
    """When the statement of `year` may be signed: once the year is over and the deadline of
    its December reports has passed (agency time zone, working-day shift included). Before
    that, a clean conclusion would state what the record cannot know yet."""
    return records.deadline_rule(agency).deadline(Period(year, 12))


def signing_refusal(agency: Agency, year: int, now: datetime) -> str | None:
    """Why the statement of `year` cannot be signed at `now`, in the user's language; None
    once it can. Shown on the page before any signing form, and checked again by `sign`."""
    start = signable_from(agency, year)
    if now >= start:
        return None
    day = start.astimezone(records.deadline_rule(agency).tz).date()
    return _("The statement for %(year)d can be signed from %(day)s, once the year is over and "
             "the deadline of its December reports has passed. Until then the draft is a "
             "provisional preview.", year=year, day=format_date(day, "long"))


def is_provisional(item: AnnualStatement, now: datetime) -> bool:
    """A draft of a year that cannot be signed yet: its figures will still change."""
    return (
        item.status == StatementStatus.DRAFT
        and signing_refusal(item.agency, item.year, now) is not None
    )


def confirm_signer(user: User, password: str, code: str) -> str | None:
    """The check a leader passes again before signing: their password and their second factor
    (a fresh code). Returns what is wrong, in the user's language, or None."""
    return security.reauthenticate(user, password, code)


def prepare(agency: Agency, year: int, actor: User, now: datetime) -> AnnualStatement:
    """The discipline office prepares (or refreshes) the draft for `year`."""
    if year > now.astimezone(records.deadline_rule(agency).tz).year:
        raise StatementError(_("The year %(year)d has not begun.", year=year))
    yearlock.hold_for_signing(agency.id)  # a signature in progress sees this draft or none
    statement = of_year(agency, year)
    if statement is not None and statement.status == StatementStatus.LOCKED:
        raise StatementError(_("The statement for %(year)d is already signed and locked.",
                               year=year))
    if statement is None:
        statement = AnnualStatement(agency=agency, year=year)
        db.session.add(statement)
    statement.status = StatementStatus.DRAFT
    statement.prepared_by, statement.prepared_at = actor, now
    statement.figures = figures(agency, year, now).to_json()
    statement.records_digest = records_digest(agency, year)
    db.session.flush()
    auditlog.record("statement.prepared", statement, actor_id=actor.id, year=year,
                    digest=statement.records_digest)
    return statement


def document_number(agency: Agency, at: datetime) -> str:
    """The document number (发文字号) of a statement signed at `at`, from the agency's pattern:
    {year} the local year of signing, {n} one more than the statements it signed that year."""
    pattern = agency.document_number_pattern
    if not pattern:
        return ""
    tz = records.deadline_rule(agency).tz
    year = at.astimezone(tz).year
    start, end = (datetime(y, 1, 1, tzinfo=tz).astimezone(UTC) for y in (year, year + 1))
    signed = db.session.scalar(sa.select(sa.func.count()).select_from(AnnualStatement).where(
        AnnualStatement.agency_id == agency.id, AnnualStatement.status == StatementStatus.LOCKED,
        AnnualStatement.signed_at >= start, AnnualStatement.signed_at < end))
    return pattern.replace("{year}", str(year)).replace("{n}", str(signed + 1))


def sign(statement: AnnualStatement, leader: User, now: datetime) -> None:
    """Lock the draft, if the record still gives exactly what was prepared and previewed."""
    # No change of the year's records, and no second signature, while this one is checked.
    yearlock.hold_for_signing(statement.agency_id)
    db.session.refresh(statement)
    if statement.status == StatementStatus.LOCKED:
        raise StatementError(_("The statement for %(year)d is already signed and locked.",
                               year=statement.year))
    if not access.allows(leader, access.SIGN_STATEMENT):
        raise StatementError(_("Only a bureau leader can sign the statement."))
    if statement.prepared_by_id == leader.id:  # four eyes: who prepares does not also sign
        raise StatementError(_("You prepared this draft: another leader must sign it."))
    refusal = signing_refusal(statement.agency, statement.year, now)
    if refusal:
        raise StatementError(refusal)
    current = figures(statement.agency, statement.year, now).to_json()
    digest = records_digest(statement.agency, statement.year)
    if current != statement.figures or digest != statement.records_digest:
        raise StatementError(_("The record has changed since the draft was prepared: the "
                               "discipline office must prepare the statement again."))
    statement.document_number = document_number(statement.agency, now)
    statement.status, statement.signed_by, statement.signed_at = StatementStatus.LOCKED, leader, now
    db.session.flush()
    auditlog.record("statement.signed", statement, actor_id=leader.id, year=statement.year,
                    digest=digest)
    # The chain as it stands with the signature in it: the log can no longer lose its tail
    # (this entry included) without `verify` noticing.
    statement.log_head, statement.log_count = auditlog.head()


# Records filed after signing ----------------------------------------------------------------

INCIDENT, REPORT = "incident", "report"


@dataclass(frozen=True)
class LateRecord:
    """A registration or monthly report of a signed year, filed after the signature: outside
    the signed figures, shown against the statement until an addendum accounts for it."""

    kind: str
    id: int
    period: str
    staff_no: str
    filed_at: datetime
    addendum_id: int | None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def late_records(item: AnnualStatement) -> list[LateRecord]:
    """The records of the statement's year filed after it was signed, oldest first."""
    first, last = f"{item.year:04d}-01", f"{item.year:04d}-12"
    incidents = (sa.select(sa.literal(INCIDENT), Incident.id, Incident.period, User.staff_no,
                           Incident.registered_at, StatementAddendum.id)
                 .join(User, User.id == Incident.user_id)
                 .outerjoin(StatementAddendum, StatementAddendum.incident_id == Incident.id)
                 .where(Incident.agency_id == item.agency_id, Incident.after_signing,
                        Incident.period.between(first, last)))
    reports = (sa.select(sa.literal(REPORT), MonthlyReport.id, MonthlyReport.period,
                         User.staff_no, MonthlyReport.first_filed_at, StatementAddendum.id)
               .join(User, User.id == MonthlyReport.user_id)
               .outerjoin(StatementAddendum, StatementAddendum.report_id == MonthlyReport.id)
               .where(User.agency_id == item.agency_id, MonthlyReport.after_signing,
                      MonthlyReport.period.between(first, last)))
    rows = [LateRecord(*row) for query in (incidents, reports)
            for row in db.session.execute(query)]
    return sorted(rows, key=lambda r: (r.filed_at, r.kind, r.id))


def pending_late_records(item: AnnualStatement) -> list[LateRecord]:
    """Those no addendum accounts for yet: "N registrations after signing"."""
    return [record for record in late_records(item) if record.addendum_id is None]


def add_addendum(statement: AnnualStatement, author: User, text: str, now: datetime,
                 record: str = "") -> StatementAddendum:
    """An addendum to the signed statement, accounting for `record` (a LateRecord key) if
    given."""
    if statement.status != StatementStatus.LOCKED:
        raise StatementError(_("Addenda are for signed statements: prepare the draft again "
                               "instead."))
    if not text.strip():
        raise StatementError(_("Please write the text."))
    late = next((r for r in pending_late_records(statement) if r.key == record), None)
    if record and late is None:
        raise StatementError(_("That record is not one filed after signing that still waits "
                               "for an addendum."))
    addendum = StatementAddendum(statement=statement, author=author, at=now, text=text.strip(),
                                 incident_id=late.id if late and late.kind == INCIDENT else None,
                                 report_id=late.id if late and late.kind == REPORT else None)
    db.session.add(addendum)
    db.session.flush()
    auditlog.record("statement.addendum", statement, actor_id=author.id, year=statement.year,
                    addendum=addendum.id, record=record or None)
    return addendum


@dataclass(frozen=True)
class Verdict:
    ok: bool
    signed_digest: str
    digest: str
    figures_match: bool
    log_problem: str = ""  # the audit log no longer passes through the head noted at signing


def verify(statement: AnnualStatement) -> Verdict:
    """Recompute the figures (as of the signing) and the records' digest, and compare them
    with what was signed."""
    if statement.status != StatementStatus.LOCKED or statement.signed_at is None:
        raise StatementError(_("The statement for %(year)d is not signed.",
                               year=statement.year))
    again = figures(statement.agency, statement.year, statement.signed_at)
    digest = records_digest(statement.agency, statement.year)
    same = again.facts() == stored(statement).facts()
    chain = auditlog.verify([auditlog.Checkpoint(statement.log_head or None,
                                                 statement.log_count)])
    return Verdict(same and digest == statement.records_digest and chain.ok,
                   statement.records_digest, digest, same, chain.problem)
