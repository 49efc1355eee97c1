"""What each role's home page shows at a glance: read-only figures, no incident content.

Leaders see the year's filing compliance, counts of open reviews and of violations determined,
the state of the statements, and the drafts waiting for their signature; the discipline office
sees its cases by status and who has not filed; administrators see what is not set up yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.compliance import rates
from app.core import access, mailsettings
from app.core.codes import NoticeStatus, ReviewStatus, Role, StatementStatus
from app.core.extensions import db
from app.filing import records
from app.filing.periods import Period
from app.filing.workcalendar import official_calendar_covers
from app.models import Agency, AnnualStatement, Incident, Outbox, Review, User, UserRole
from app.review import ageing, workflow
from app.statement import signing

NON_FILERS_SHOWN = 20


@dataclass(frozen=True)
class StatementState:
    year: int
    item: AnnualStatement | None
    pending_after_signing: int


@dataclass(frozen=True)
class LeaderGlance:
    year: int
    reports: rates.Figures
    open_reviews: int
    violations: int
    statements: list[StatementState]
    awaiting: list[AnnualStatement]


def _year_reviews(agency: Agency, year: int) -> sa.Select:
    return (sa.select(sa.func.count()).select_from(Review)
            .join(Incident, Incident.id == Review.incident_id)
            .where(Incident.agency_id == agency.id,
                   Incident.period.between(f"{year:04d}-01", f"{year:04d}-12")))


def awaiting_signature(leader: User, now: datetime) -> list[AnnualStatement]:
    """Drafts this leader may sign now: the year is over, and someone else prepared them."""
    drafts = db.session.scalars(
        sa.select(AnnualStatement)
        .where(
            AnnualStatement.agency_id == leader.agency_id,
            AnnualStatement.status == StatementStatus.DRAFT,
            AnnualStatement.prepared_by_id != leader.id,
        )
        .order_by(AnnualStatement.year)
    )
    return [item for item in drafts
            if signing.signing_refusal(item.agency, item.year, now) is None]


def leader_glance(leader: User, now: datetime) -> LeaderGlance:
    """The year of last month's reports so far (January's home still shows last year)."""
    agency = leader.agency
    rule = records.deadline_rule(agency)
    last = rule.period_due(now)
    points = rates.trend(agency, last, now, months=last.month, rule=rule)
    states = []
    for year in (last.year - 1, last.year):
        item = signing.of_year(agency, year)
        pending = (len(signing.pending_late_records(item))
                   if item is not None and item.status == StatementStatus.LOCKED else 0)
        states.append(StatementState(year, item, pending))
    return LeaderGlance(
        year=last.year, reports=sum((p.figures for p in points), rates.Figures()),
        open_reviews=db.session.scalar(_year_reviews(agency, last.year).where(
            Review.status.in_(workflow.OPEN))) or 0,
        violations=db.session.scalar(_year_reviews(agency, last.year).where(
            Review.affected_independence.is_(True))) or 0,
        statements=states, awaiting=awaiting_signature(leader, now))


@dataclass(frozen=True)
class OfficeGlance:
    cases: dict[str, int]
    period: Period
    deadline: datetime
    non_filers: list[rates.NonFiler]
    unfiled: int
    overdue: int = 0  # cases this member may act on, waiting past the review deadline
    due_days: int = 10


def office_glance(office: User, now: datetime) -> OfficeGlance:
    """The discipline office's cases waiting on it (new, in review) or on the registrant
    (returned), those of them past the review deadline that this member may act on, and who
    has not filed last month's report."""
    agency = office.agency
    cases = dict(db.session.execute(
        sa.select(Review.status, sa.func.count()).join(Incident, Incident.id == Review.incident_id)
        .where(Incident.agency_id == agency.id, Review.status.in_(workflow.OPEN))
        .group_by(Review.status)).all())
    rule = records.deadline_rule(agency)
    figures = rates.period_figures(agency, rule.period_due(now), now, NON_FILERS_SHOWN,
                                        rule=rule)
    return OfficeGlance({status: cases.get(status, 0) for status in
                         (ReviewStatus.NEW, ReviewStatus.IN_REVIEW, ReviewStatus.RETURNED)},
                        figures.period, figures.deadline, figures.non_filers,
                        figures.total.unfiled, _overdue_for(office, now), agency.review_due_days)


def _overdue_for(member: User, now: datetime) -> int:
    by_registrant = ageing.overdue_by_registrant(member.agency, now)
    return sum(by_registrant.values()) - by_registrant.get(member.id, 0)


@dataclass(frozen=True)
class SetupGaps:
    no_mail_server: bool
    uncovered_years: list[int]
    without_email: int
    waiting_mail: int = 0  # notices of the agency waiting in the outbox (shown without a server)

    def __bool__(self) -> bool:
        return self.no_mail_server or bool(self.uncovered_years) or bool(self.without_email)


def setup_gaps(admin: User, now: datetime) -> SetupGaps:
    """What the administrator still has to set up: without a mail server notices stay in the
    portal, without the official calendar make-up working days are missing, and an account
    without an e-mail address gets no reminder by mail."""
    agency = admin.agency
    year = now.astimezone(records.deadline_rule(agency).tz).year
    without_email = db.session.scalar(sa.select(sa.func.count()).select_from(User).where(
        User.agency_id == agency.id, User.active,
        sa.or_(User.email.is_(None), User.email == ""))) or 0
    no_mail_server = not mailsettings.effective().smtp_host
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(Outbox).where(
        access.outbox_scope(admin), Outbox.status == NoticeStatus.PENDING)) \
        if no_mail_server else 0
    return SetupGaps(no_mail_server,
                     [y for y in (year, year + 1) if not official_calendar_covers(y)],
                     without_email, waiting or 0)


@dataclass
class InstallationGlance:
    agencies: int
    without_admin: list[Agency]
    no_mail_server: bool


def installation_glance(installer: User, now: datetime) -> InstallationGlance:
    """What the installation administrator still has to do: agencies nobody administers, and
    the mail server every agency's notices need."""
    admins = sa.select(User.agency_id).join(UserRole).where(UserRole.role == Role.ADMIN,
                                                            User.active)
    return InstallationGlance(
        agencies=db.session.scalar(sa.select(sa.func.count()).select_from(Agency)) or 0,
        without_admin=list(db.session.scalars(sa.select(Agency).where(
            Agency.id.not_in(admins)).order_by(Agency.name))),
        no_mail_server=not mailsettings.effective().smtp_host)
