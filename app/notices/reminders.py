"""Who gets which reminder when, computed from the deadline rules.

For each period the auditor's notices form one chain of stages (period open, deadline
approaching, deadline day, overdue 1..n) and the discipline office's digests another (the day
after the deadline, then weekly). Each stage is valid from its moment (09:00 local by default)
until the next stage's moment; a round at time `now` enqueues, for each person and period, only
the stage valid now, if it is still true (not filed). So a round run late catches up at most once
and skips what is no longer true, and a round run twice finds the outbox key taken.

Recipients: active auditors in scope for the period (employed during the month) who have not
left by today and have not filed. The digest lists exactly those, per department.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app

from app.core import auditlog
from app.core.codes import Channel, NoticeFailure, NoticeKind, NoticeStatus, Role
from app.core.extensions import db
from app.filing import scope
from app.filing.periods import DeadlineRule, Period, period_of
from app.filing.records import deadline_rule
from app.models import (
    Agency,
    Department,
    Employment,
    Incident,
    IncidentVersion,
    MonthlyReport,
    Outbox,
    User,
    UserRole,
)
from app.notices import channels, delivery, outbox
from app.notices.outbox import Notice
from app.review import ageing
from app.statement import confirmations, yearlock

LOOKBACK = 3  # periods examined per round: every stage of a period falls within three months
# The notices `plan` gives; a pending one it no longer gives is no longer true.
SCHEDULED = (
    NoticeKind.OPEN,
    NoticeKind.APPROACHING,
    NoticeKind.DUE_TODAY,
    NoticeKind.OVERDUE,
    NoticeKind.DIGEST,
    NoticeKind.CONFIRM,
    NoticeKind.ARRIVALS_DIGEST,
    NoticeKind.REVIEWS_OVERDUE,
)
# The discipline office's daily digest of a day is sent from the next day's reminder hour and
# stays due for this many days (a scheduler or mail outage delays it, and a round that comes
# back sends each missed day's digest once).
ARRIVALS_DIGEST_DAYS = 7
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    kind: str
    seq: int
    starts: datetime
    ends: datetime


class Auditor(NamedTuple):  # a tuple: a national round builds 100,000 of them
    id: int
    staff_no: str
    name: str
    email: str | None
    department: str
    first_period: str  # the months their period in the agency owns (app/filing/scope.py)
    last_period: str | None
    left_on: date | None  # the person's, wherever they work now

    def in_scope(self, period: Period, today: date) -> bool:
        """The agency expects the month of them and they are still in post (someone who
        moved on to another agency is reminded of the months this one expects)."""
        month = str(period)
        return (self.first_period <= month <= (self.last_period or scope.OPEN)
                and (self.left_on is None or self.left_on >= today))


@dataclass(frozen=True)
class Schedule:
    """An agency's reminder schedule; what it leaves unset comes from the REMINDER_* config."""

    hour: int
    approaching_days: int
    overdue_every_days: int
    overdue_times: int
    digest_every_days: int
    digest_times: int


SCHEDULE_FIELDS = tuple(Schedule.__dataclass_fields__)


def schedule_of(agency: Agency | None) -> Schedule:
    config = current_app.config
    own = {name: getattr(agency, f"reminder_{name}", None) for name in SCHEDULE_FIELDS}
    return Schedule(**{name: config[f"REMINDER_{name.upper()}"] if value is None else value
                       for name, value in own.items()})


def _at(day: date, rule: DeadlineRule, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=rule.tz).astimezone(UTC)


def _chain(moments: list[tuple[str, int, date]], rule: DeadlineRule,
           last_lasts: int, hour: int) -> list[Stage]:
    """Stages from (kind, seq, day); each lasts until the next, the last one `last_lasts` days."""
    moments = sorted(moments, key=lambda m: m[2])
    starts = [_at(day, rule, hour) for _kind, _seq, day in moments]
    ends = [*starts[1:], starts[-1] + timedelta(days=last_lasts)]
    return [Stage(kind, seq, start, end)
            for (kind, seq, _day), start, end in zip(moments, starts, ends, strict=True)]


def auditor_stages(rule: DeadlineRule, period: Period,
                   schedule: Schedule | None = None) -> list[Stage]:
    plan = schedule or schedule_of(None)
    due, opens = rule.due_date(period), period.next().first_day
    every = plan.overdue_every_days
    moments = [(NoticeKind.OPEN, 0, opens),
               (NoticeKind.APPROACHING, 0, due - timedelta(days=plan.approaching_days)),
               (NoticeKind.DUE_TODAY, 0, due),
               *((NoticeKind.OVERDUE, n + 1, due + timedelta(days=1 + every * n))
                 for n in range(plan.overdue_times))]
    # A short deadline can put "approaching" before the month is over: no reminder then.
    return _chain([m for m in moments if m[2] >= opens], rule, every, plan.hour)


def digest_stages(rule: DeadlineRule, period: Period,
                  schedule: Schedule | None = None) -> list[Stage]:
    plan = schedule or schedule_of(None)
    due, every = rule.due_date(period), plan.digest_every_days
    return _chain([(NoticeKind.DIGEST, n + 1, due + timedelta(days=1 + every * n))
                   for n in range(plan.digest_times)], rule, every, plan.hour)


def confirmation_stages(rule: DeadlineRule, year: int,
                        schedule: Schedule | None = None) -> list[Stage]:
    """The personal annual confirmation: the day it opens, then every N days, K times."""
    config, plan = current_app.config, schedule or schedule_of(None)
    every, opens = config["CONFIRMATION_REMINDER_EVERY_DAYS"], confirmations.opens_on(year)
    return _chain([(NoticeKind.CONFIRM, n, opens + timedelta(days=every * n))
                   for n in range(config["CONFIRMATION_REMINDER_TIMES"])], rule, every,
                  plan.hour)


def current_stage(stages: list[Stage], now: datetime) -> Stage | None:
    return next((s for s in stages if s.starts <= now < s.ends), None)


def _auditors(agency: Agency) -> list[Auditor]:
    """The active auditors with a period in the agency, one row per period."""
    rows = db.session.execute(
        sa.select(User.id, User.staff_no, User.name, User.email,
                  sa.func.coalesce(Department.name, ""), Employment.first_period,
                  Employment.last_period, User.left_on)
        .join(UserRole, UserRole.user_id == User.id)
        .join(Employment, scope.of_agency(agency.id))
        .outerjoin(Department, Department.id == Employment.department_id)
        .where(User.active, UserRole.role == Role.AUDITOR)
        .order_by(User.staff_no, Employment.started_on))
    return [Auditor._make(row) for row in rows]


def _reviewers(agency: Agency) -> list[tuple[int, str | None]]:
    return list(db.session.execute(
        sa.select(User.id, User.email).join(UserRole, UserRole.user_id == User.id)
        .where(User.agency_id == agency.id, User.active, UserRole.role == Role.REVIEWER)
        .order_by(User.id)))


def _filers(agency: Agency, period: Period) -> set[int]:
    return set(db.session.scalars(
        sa.select(MonthlyReport.user_id)
        .join(Employment, Employment.user_id == MonthlyReport.user_id)
        .where(Employment.agency_id == agency.id, scope.owns(MonthlyReport.period),
               MonthlyReport.period == str(period))))


def _digest(missing: list[Auditor]) -> list[list]:
    by_department: dict[str, list[str]] = defaultdict(list)
    for person in missing:
        by_department[person.department].append(person.name)
    return [[department, names] for department, names in sorted(by_department.items())]


def _recent(current: Period) -> list[Period]:
    periods = [current.previous()]
    while len(periods) < LOOKBACK:
        periods.append(periods[-1].previous())
    return periods


def agency_notices(agency: Agency, now: datetime) -> Iterator[Notice]:
    rule, schedule = deadline_rule(agency), schedule_of(agency)
    today = now.astimezone(rule.tz).date()
    current = period_of(now, rule.tz)
    auditors = None
    for period in _recent(current):
        mine = current_stage(auditor_stages(rule, period, schedule), now)
        digest = current_stage(digest_stages(rule, period, schedule), now)
        if mine is None and digest is None:
            continue
        auditors = auditors if auditors is not None else _auditors(agency)
        filed = _filers(agency, period)
        missing = [a for a in auditors if a.in_scope(period, today) and a.id not in filed]
        params = {"due": rule.due_date(period).isoformat()}
        if mine is not None:
            yield from (Notice(a.id, mine.kind, str(period), mine.seq, a.email, params)
                        for a in missing)
        if digest is not None and missing:
            digest_params = {**params, "missing": _digest(missing)}
            yield from (Notice(user_id, digest.kind, str(period), digest.seq, email,
                               digest_params) for user_id, email in _reviewers(agency))


def confirmation_notices(agency: Agency, now: datetime) -> Iterator[Notice]:
    """Reminders to the auditors in post who have not confirmed, while the year is not locked
    (last year's stages may run into January)."""
    rule, schedule = deadline_rule(agency), schedule_of(agency)
    today = now.astimezone(rule.tz).date()
    for year in (today.year - 1, today.year):
        stage = current_stage(confirmation_stages(rule, year, schedule), now)
        if stage is None or yearlock.locked(agency.id, year):
            continue
        done = confirmations.given_by(agency, year)
        yield from (Notice(user_id, stage.kind, str(year), stage.seq, email, {})
                    for user_id, email in _confirming(agency, year, today)
                    if user_id not in done)


def _confirming(agency: Agency, year: int, today: date) -> list[tuple[int, str | None]]:
    """The active auditors the agency asks to confirm for `year` (confirmations.expected),
    in post by `today` and not leaving before it."""
    return list(db.session.execute(confirmations.expected(
        sa.select(User.id, User.email).select_from(Employment)
        .join(User, User.id == Employment.user_id)
        .where(User.active, sa.or_(User.left_on.is_(None), User.left_on >= today)),
        agency.id, year).where(Employment.started_on <= today).order_by(User.staff_no)))


def _day_seq(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def arrivals_digest_notices(agency: Agency, now: datetime) -> Iterator[Notice]:
    """Where the agency chose it: to each member of the discipline office, for each recent day
    that brought new registrations or supplements (others' only: a member's own registration
    is reviewed by another), one digest with the counts, from the next day's reminder hour.
    One key per member and day (`seq` YYYYMMDD): sent exactly once."""
    if not agency.review_digest:
        return
    rule, schedule = deadline_rule(agency), schedule_of(agency)
    today = now.astimezone(rule.tz).date()
    days = [day for day in (today - timedelta(days=n) for n in range(1, ARRIVALS_DIGEST_DAYS + 2))
            if _at(day + timedelta(days=1), rule, schedule.hour) <= now
            < _at(day + timedelta(days=1 + ARRIVALS_DIGEST_DAYS), rule, schedule.hour)]
    if not days:
        return
    start, end = _at(min(days), rule, 0), _at(max(days) + timedelta(days=1), rule, 0)
    registered = db.session.execute(
        sa.select(Incident.user_id, Incident.registered_at).where(
            Incident.agency_id == agency.id, ~Incident.after_signing,
            Incident.registered_at >= start, Incident.registered_at < end))
    supplemented = db.session.execute(
        sa.select(Incident.user_id, IncidentVersion.created_at)
        .join(IncidentVersion, IncidentVersion.incident_id == Incident.id)
        .where(Incident.agency_id == agency.id, IncidentVersion.number > 1,
               IncidentVersion.created_at >= start, IncidentVersion.created_at < end))
    events = [(what, user_id, at.astimezone(rule.tz).date())
              for what, rows in (("registered", registered), ("supplemented", supplemented))
              for user_id, at in rows]
    wanted = set(days)
    for member_id, email in outbox.office_members(agency.id):
        counts: dict[date, dict[str, int]] = defaultdict(
            lambda: {"registered": 0, "supplemented": 0})
        for what, user_id, day in events:
            if user_id != member_id and day in wanted:
                counts[day][what] += 1
        for day, figures in sorted(counts.items()):
            yield Notice(member_id, NoticeKind.ARRIVALS_DIGEST, f"{day:%Y-%m}", _day_seq(day),
                         email, {"day": day.isoformat(), "due_days": agency.review_due_days,
                                 **figures})


def overdue_review_notices(agency: Agency, now: datetime) -> Iterator[Notice]:
    """Weekly, from Monday's reminder hour, to each member of the discipline office while
    cases they may act on wait past the review deadline (app/review/ageing.py)."""
    rule, schedule = deadline_rule(agency), schedule_of(agency)
    today = now.astimezone(rule.tz).date()
    monday = today - timedelta(days=today.weekday())
    if now < _at(monday, rule, schedule.hour):
        monday -= timedelta(days=7)
    by_registrant = ageing.overdue_by_registrant(agency, now)
    if not by_registrant:
        return
    total = sum(by_registrant.values())
    for member_id, email in outbox.office_members(agency.id):
        count = total - by_registrant.get(member_id, 0)
        if count:
            yield Notice(member_id, NoticeKind.REVIEWS_OVERDUE, f"{monday:%Y-%m}",
                         _day_seq(monday), email,
                         {"count": count, "due_days": agency.review_due_days})


def plan(now: datetime) -> list[Notice]:
    """Every notice valid at `now`, across agencies (enqueued ones included: the key decides)."""
    agencies = db.session.scalars(sa.select(Agency).order_by(Agency.id))
    return [notice for agency in agencies
            for notices in (agency_notices(agency, now), confirmation_notices(agency, now),
                            arrivals_digest_notices(agency, now),
                            overdue_review_notices(agency, now))
            for notice in notices]


def withdraw_obsolete(planned: list[Notice]) -> int:
    """Pending reminders that the plan of this moment no longer gives are not sent: the person
    filed, left or was deactivated, a later stage replaced the notice, or the year was locked.
    The rule that chose them decides, so a notice held back by a mail outage is retried exactly
    as long as it is still true. Only flushes."""
    keys = {notice.key for notice in planned}
    pending = db.session.execute(sa.select(Outbox.id, Outbox.key, Outbox.channel).where(
        Outbox.status == NoticeStatus.PENDING, Outbox.kind.in_(SCHEDULED)))
    # A channel's copy ("<notice key>:<channel>") goes with its notice.
    return outbox.withdraw([row_id for row_id, key, channel in pending
                            if (key if channel == Channel.EMAIL else key.rpartition(":")[0])
                            not in keys],
                           NoticeFailure.OBSOLETE, "no longer due")


@dataclass(frozen=True)
class Round:
    planned: list[Notice]
    enqueued: int
    withdrawn: int
    delivery: delivery.Delivery


def run(now: datetime) -> Round:
    """One scheduler round: enqueue what is due now, withdraw what is no longer true, then send
    everything pending.

    The planning reads end their transaction before the insert, so on SQLite the insert's
    transaction starts with a write and waits for a concurrent round instead of failing.
    """
    notices = plan(now)
    db.session.commit()
    enqueued = outbox.enqueue(notices, now)
    if enqueued:
        auditlog.record("reminders.enqueued", None, count=enqueued, at=now.isoformat())
    withdrawn = withdraw_obsolete(notices)
    db.session.commit()
    sent = delivery.deliver(now)
    posted = channels.deliver(now)
    for name in ("sent", "failed", "gave_up", "retried", "lost"):
        setattr(sent, name, getattr(sent, name) + getattr(posted, name))
    sent.errors.extend(posted.errors)
    logger.info("reminder round at %s: %d planned, %d enqueued, %d withdrawn, %d sent, "
                "%d failed (%d given up), %d retried, %d left to another sender",
                now.isoformat(), len(notices), enqueued, withdrawn, sent.sent,
                sent.failed, sent.gave_up, sent.retried, sent.lost)
    return Round(notices, enqueued, withdrawn, sent)
