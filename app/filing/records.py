"""Monthly filing: registering incidents, filing and correcting reports, the month's status.

Plain functions over the database, used by the views, the CLI and the demo alike. They only
flush; the caller commits once. Nothing submitted is ever edited in place: a correction is a new
version with its reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.exc import IntegrityError

from app.core import auditlog
from app.core.codes import FilingStatus
from app.core.extensions import db
from app.core.i18n import month_label
from app.core.refusals import Refused
from app.core.vocab import kind_of
from app.filing import evidence, scope, tally
from app.filing.periods import DeadlineRule, Period, period_of
from app.filing.workcalendar import WorkCalendar
from app.models import (
    Agency,
    CalendarDay,
    Incident,
    IncidentVersion,
    MonthlyReport,
    ReportVersion,
    User,
)
from app.notices import outbox
from app.review import upward, workflow
from app.statement import yearlock

LATE_REGISTRATION = timedelta(days=15)

# A month's filing status, as shown to the auditor and counted by the dashboards.


class FilingError(Refused):
    """A filing the rules refuse; its message is for the user, in their language."""


class FilingInvalid(FilingError):
    """Refused for what was entered (a missing reason, a time in the future)."""

    status = 400


class AlreadyFiled(FilingError):
    category, goes_on = "info", True

    def __init__(self, report: MonthlyReport) -> None:
        super().__init__(_("The report for %(period)s has already been filed.",
                           period=month_label(report.period)))
        self.report = report


def deadline_rule(agency: Agency) -> DeadlineRule:
    return deadline_rules([agency])[agency.id]


def deadline_rules(agencies: list[Agency]) -> dict[int, DeadlineRule]:
    """Each agency's rule by id, with one query for the calendars of those that shift their
    deadline to a working day (none if no agency does)."""
    shifting = [agency.id for agency in agencies if agency.shift_to_workday]
    overrides: dict[int, dict[date, bool]] = {agency_id: {} for agency_id in shifting}
    if shifting:
        for agency_id, day, workday in db.session.execute(
                sa.select(CalendarDay.agency_id, CalendarDay.day, CalendarDay.is_workday)
                .where(CalendarDay.agency_id.in_(shifting))):
            overrides[agency_id][day] = workday
    return {agency.id: _rule(agency, overrides.get(agency.id, {})) for agency in agencies}


def unfiled_statuses(agencies: list[Agency], period: Period, now: datetime) -> dict[int, str]:
    """What a report of `period` not filed is `now` in each agency, by its own deadline: worked
    out once per distinct rule (a national tree has thousands of agencies, a few rules)."""
    rules = deadline_rules(agencies)
    by_rule: dict[object, str] = {}
    statuses = {}
    for agency in agencies:
        key = agency.id if agency.shift_to_workday else (agency.timezone, agency.deadline_day)
        if key not in by_rule:
            by_rule[key] = status_of(None, period, rules[agency.id], now)
        statuses[agency.id] = by_rule[key]
    return statuses


def _rule(agency: Agency, overrides: dict[date, bool]) -> DeadlineRule:
    return DeadlineRule(
        tz=ZoneInfo(agency.timezone),
        day=agency.deadline_day,
        shift_to_workday=agency.shift_to_workday,
        is_workday=WorkCalendar(overrides),
    )


def in_scope(user: User, period: Period) -> bool:
    """Whether `user` must file for `period`: some period of their employment owns the month
    (app/filing/scope.py says which)."""
    return scope.owner(user.id, str(period)) is not None


def status_of(report: MonthlyReport | None, period: Period, rule: DeadlineRule,
              now: datetime) -> str:
    if report is not None:
        return FilingStatus.LATE if report.late else FilingStatus.ON_TIME
    if now < rule.opens_at(period):
        return FilingStatus.NOT_OPEN
    return FilingStatus.DUE if now < rule.deadline(period) else FilingStatus.MISSING


@dataclass
class Month:
    period: Period
    status: str
    deadline: datetime
    report: MonthlyReport | None
    incidents: list[Incident]
    year_locked: bool = False

    @property
    def report_correctable(self) -> bool:
        """A filed report the portal would accept a correction of: not one of a signed year,
        unless it was itself filed after signing."""
        return self.report is not None and (not self.year_locked or self.report.after_signing)

    @property
    def report_is_stale(self) -> bool:
        """Incidents of the month were registered or corrected after the report's last version."""
        if self.report is None:
            return False
        listed = {v.id for v in self.report.current.incident_versions}
        return {i.current.id for i in self.incidents} != listed


def period_incidents(user: User, period: Period) -> list[Incident]:
    return list(db.session.scalars(
        sa.select(Incident)
        .where(Incident.user_id == user.id, Incident.period == str(period))
        .order_by(Incident.id)
    ))


def months(user: User, now: datetime, rule: DeadlineRule | None = None) -> list[Month]:
    """Every month from the user's first to the current one (newest first), with its status."""
    rule = rule or deadline_rule(user.agency)
    current = period_of(now, rule.tz)
    owners = dict(scope.owned_until(user.id, current))
    # Each month's versions and what they list, loaded with the month, not one month at a
    # time (an auditor with eleven years has 132): the page's statements stay constant.
    reports = {
        r.period: r
        for r in db.session.scalars(
            sa.select(MonthlyReport).where(MonthlyReport.user_id == user.id)
            .options(so.selectinload(MonthlyReport.versions)
                     .selectinload(ReportVersion.incident_versions))
        )
    }
    incidents: dict[str, list[Incident]] = {}
    for incident in db.session.scalars(
        sa.select(Incident).where(Incident.user_id == user.id).order_by(Incident.id)
        .options(so.selectinload(Incident.versions), so.selectinload(Incident.review))
    ):
        incidents.setdefault(incident.period, []).append(incident)
    locked = {agency: yearlock.locked_years(agency) for agency in set(owners.values())}
    return [
        Month(p, status_of(reports.get(str(p)), p, rule, now), rule.deadline(p),
              reports.get(str(p)), incidents.get(str(p), []), p.year in locked[agency])
        for p, agency in reversed(owners.items())
    ]


def month(user: User, period: Period, now: datetime) -> Month:
    rule = deadline_rule(user.agency)
    report = db.session.scalar(
        sa.select(MonthlyReport).where(
            MonthlyReport.user_id == user.id, MonthlyReport.period == str(period)
        )
    )
    return Month(period, status_of(report, period, rule, now), rule.deadline(period), report,
                 period_incidents(user, period),
                 yearlock.locked(scope.owner(user.id, str(period)) or user.agency_id, period.year))


def _check_can_file(user: User, period: Period, now: datetime) -> tuple[int, DeadlineRule]:
    """The agency that expects the report (the one the person worked for that month) and its
    deadline rule: a month of an old agency is late by that agency's deadline."""
    agency_id = scope.owner(user.id, str(period))
    if agency_id is None:
        raise FilingError(_("You were not in post in %(period)s: there is nothing to file.",
                            period=month_label(period)))
    rule = deadline_rule(user.agency if agency_id == user.agency_id
                         else db.session.get(Agency, agency_id))
    if now < rule.opens_at(period):
        raise FilingError(_("The report for %(period)s can be filed once the month is over.",
                            period=month_label(period)))
    return agency_id, rule


def _report_contents(user: User, period: Period, zero: bool) -> list[IncidentVersion]:
    incidents = period_incidents(user, period)
    if zero and incidents:
        raise FilingError(ngettext(
            "%(num)d incident is registered for %(period)s, so this month cannot be filed "
            "as a zero report. File the month with it instead.",
            "%(num)d incidents are registered for %(period)s, so this month cannot be filed "
            "as a zero report. File the month with them instead.",
            len(incidents), period=month_label(period),
        ))
    if not zero and not incidents:
        raise FilingError(_("No incident is registered for %(period)s: file a zero report.",
                            period=month_label(period)))
    return [incident.current for incident in incidents]


def file_report(user: User, period: Period, *, zero: bool, now: datetime) -> MonthlyReport:
    """File the month. A second submission (double click, second tab) raises AlreadyFiled."""
    agency_id, rule = _check_can_file(user, period, now)
    existing = db.session.scalar(
        sa.select(MonthlyReport).where(
            MonthlyReport.user_id == user.id, MonthlyReport.period == str(period)
        )
    )
    if existing is not None:
        raise AlreadyFiled(existing)
    listed = _report_contents(user, period, zero)
    report = MonthlyReport(user=user, period=str(period), first_filed_at=now,
                           late=now >= rule.deadline(period),
                           after_signing=yearlock.is_signed(agency_id, str(period)))
    report.versions.append(ReportVersion(
        number=1, is_zero=zero, declared=True, submitted_at=now,
        submitted_from=auditlog.client_address(), incident_versions=listed,
    ))
    try:
        # The unique (user, period) key settles a race between two concurrent submissions.
        with db.session.begin_nested():
            db.session.add(report)
    except IntegrityError:
        raise AlreadyFiled(month(user, period, now).report) from None
    tally.add(agency_id, str(period), filed=1, late=int(report.late),
              with_incidents=int(not zero))
    auditlog.record("report.filed", report, actor_id=user.id, period=str(period), zero=zero,
                    late=report.late, after_signing=report.after_signing,
                    seal=[report, report.current])
    if report.after_signing:
        outbox.after_signing_notice(report, agency_id)
    return report


def correct_report(report: MonthlyReport, *, reason: str, now: datetime) -> ReportVersion:
    """A new version of a filed report listing the month's incidents as they stand now."""
    if not reason.strip():
        raise FilingInvalid(_("A correction needs a reason."))
    agency_id = scope.owner(report.user_id, report.period) or report.user.agency_id
    yearlock.ensure_open(agency_id, report.period, FilingError,
                         after_signing=report.after_signing)
    incidents = period_incidents(report.user, Period.parse(report.period))
    was_zero = report.current.is_zero
    version = ReportVersion(
        number=report.current.number + 1, is_zero=not incidents, declared=True,
        reason=reason.strip(), submitted_at=now, submitted_from=auditlog.client_address(),
        incident_versions=[incident.current for incident in incidents],
    )
    report.versions.append(version)
    db.session.flush()
    if version.is_zero != was_zero:
        tally.add(agency_id, report.period, with_incidents=1 if was_zero else -1)
    auditlog.record("report.corrected", report, actor_id=report.user_id,
                    version=version.number, zero=version.is_zero,
                    seal=[version])
    return version


@dataclass(frozen=True)
class IncidentData:
    """The registrant's answers; `occurred_at` is UTC-aware."""

    occurred_at: datetime
    category: str
    channel: str
    actor_name: str
    actor_org: str
    actor_position: str
    actor_relation: str
    project_id: int | None
    stage: str
    description: str
    response: str
    response_detail: str = ""
    delay_reason: str = ""


ANSWERS = tuple(field.name for field in dataclasses.fields(IncidentData))


def changed_fields(before: IncidentVersion, after: IncidentVersion) -> list[str]:
    """The registrant's answers that differ between two versions, in the form's order: what
    a supplement or a correction changed."""
    return [name for name in ANSWERS if getattr(before, name) != getattr(after, name)]


def _version_from(data: IncidentData, registered_at: datetime, now: datetime) -> IncidentVersion:
    if data.occurred_at > now:
        raise FilingInvalid(_("The time it happened cannot be in the future."))
    if registered_at - data.occurred_at > LATE_REGISTRATION and not data.delay_reason.strip():
        raise FilingInvalid(_("This happened more than 15 days ago: please give the reason for "
                            "the delay."))
    return IncidentVersion(kind=kind_of(data.category), created_at=now,
                           **dataclasses.asdict(data))


def register_incident(user: User, data: IncidentData, uploads: list[evidence.Upload],
                      now: datetime, *, to_level_above: bool = False) -> Incident:
    """A new registration, for the registrant's own discipline office or, `to_level_above`,
    for the office of the agency above theirs (app/review/upward.py)."""
    version = _version_from(data, now, now)
    version.number = 1
    period = str(period_of(data.occurred_at, ZoneInfo(user.agency.timezone)))
    incident = Incident(agency_id=user.agency_id, user=user, registered_at=now, period=period)
    if to_level_above:
        upward.address_above(incident, user, now)
    # A signed year still takes what happened in it: marked, outside the signed figures.
    incident.after_signing = yearlock.is_signed(incident.agency_id, period)
    incident.versions.append(version)
    workflow.open_review(incident, now)
    db.session.add(incident)
    saved = [evidence.save(incident, upload, now) for upload in uploads]
    db.session.flush()
    auditlog.record("incident.registered", incident, actor_id=user.id, period=incident.period,
                    evidence=len(uploads), after_signing=incident.after_signing,
                    to_level_above=to_level_above, seal=[version, incident.review, *saved])
    if incident.after_signing:  # that notice tells the office already
        outbox.after_signing_notice(incident, incident.agency_id)
    else:
        outbox.arrival_notice(incident)
    return incident


def incident_correctable(incident: Incident) -> bool:
    """Whether the portal would accept a correction of `incident` (see Month)."""
    return incident.after_signing or not yearlock.locked(incident.agency_id,
                                                         int(incident.period[:4]))


def correct_incident(incident: Incident, data: IncidentData, *, reason: str,
                     uploads: list[evidence.Upload], now: datetime) -> IncidentVersion:
    if not reason.strip():
        raise FilingInvalid(_("A correction needs a reason."))
    version = _version_from(data, incident.registered_at, now)
    moved_to = str(period_of(data.occurred_at, ZoneInfo(incident.user.agency.timezone)))
    if incident.after_signing and moved_to[:4] != incident.period[:4]:
        raise FilingError(_("This registration was made after the statement for %(year)s was "
                            "signed and stays in that year: register the other date as a new "
                            "registration.", year=incident.period[:4]))
    for period in (incident.period, moved_to):  # neither out of nor into a locked year
        yearlock.ensure_open(incident.agency_id, period, FilingError,
                             after_signing=incident.after_signing)
    version.number = incident.current.number + 1
    version.reason = reason.strip()
    incident.versions.append(version)
    incident.period = moved_to
    saved = [evidence.save(incident, upload, now) for upload in uploads]
    db.session.flush()
    auditlog.record("incident.corrected", incident, actor_id=incident.user_id,
                    version=version.number,
                    period=incident.period, evidence=len(uploads), seal=[version, *saved])
    workflow.supplemented(incident, incident.user, version.reason, now)
    outbox.arrival_notice(incident, version)
    return version
