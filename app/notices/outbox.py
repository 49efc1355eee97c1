"""The outbox: every notice is first a row, then an e-mail.

Writing the notice and sending it are separate steps so that neither a crash nor a second
scheduler can lose or double one: `enqueue` inserts rows under a unique key and ignores those that
exist; delivery.py claims and sends them. No notice carries incident content: rows hold only the
kind, the period and plain parameters (a due date, names of non-filers, an incident id for the
link); the text is rendered at send time in the recipient's language (texts.py, mime.py).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite

from app.core import clock
from app.core.codes import Channel, NoticeFailure, NoticeKind, NoticeStatus, ReviewStep, Role
from app.core.extensions import db
from app.models import (
    Agency,
    Incident,
    IncidentVersion,
    MonthlyReport,
    Outbox,
    ReviewAction,
    User,
    UserRole,
    UTCDateTime,
)
from app.notices import channels

logger = logging.getLogger(__name__)


# Notices that are e-mails only, never in the bell (the kinds are in app/core/codes.py).
MAIL_ONLY = (NoticeKind.TEST, NoticeKind.SIGNIN)


STATUSES = {
    NoticeStatus.PENDING: _l("Pending"),
    NoticeStatus.SENT: _l("Sent"),
    NoticeStatus.FAILED: _l("Failed"),
    NoticeStatus.PORTAL: _l("In the portal only (no e-mail address)"),
}


KINDS = {
    NoticeKind.OPEN: _l("Period open"),
    NoticeKind.APPROACHING: _l("Deadline approaching"),
    NoticeKind.DUE_TODAY: _l("Deadline day"),
    NoticeKind.OVERDUE: _l("Overdue"),
    NoticeKind.DIGEST: _l("Digest of non-filers"),
    NoticeKind.RETURNED: _l("Returned for supplement"),
    NoticeKind.FINISHED: _l("Review finished"),
    NoticeKind.TEST: _l("Test e-mail"),
    NoticeKind.SIGNIN: _l("Sign-in link"),
    NoticeKind.CONFIRM: _l("Personal annual confirmation"),
    NoticeKind.OFFICE_PROPOSED: _l("Discipline office: colleague proposed"),
    NoticeKind.OFFICE_GRANTED: _l("Discipline office: member joined"),
    NoticeKind.OFFICE_WITHDRAWN: _l("Discipline office: member withdrawn"),
    NoticeKind.LATE_INCIDENT: _l("Registration after signing"),
    NoticeKind.LATE_REPORT: _l("Monthly report after signing"),
    NoticeKind.INCIDENT_ARRIVED: _l("New registration for the discipline office"),
    NoticeKind.INCIDENT_SUPPLEMENTED: _l("Registration supplemented"),
    NoticeKind.ARRIVALS_DIGEST: _l("Daily digest of new registrations and supplements"),
    NoticeKind.REVIEWS_OVERDUE: _l("Reviews overdue"),
}


# Why a row waits for a retry (pending) or gave up (failed); `last_error` keeps the server's words.
FAILURES = {NoticeFailure.UNREACHABLE: _l("The mail server could not be reached"),
            NoticeFailure.DEFERRED: _l("The mail server asked to try again later"),
            NoticeFailure.REFUSED: _l("The mail server refused the address or the message"),
            NoticeFailure.OBSOLETE: _l("No longer due: filed, left, or replaced by a later notice"),
            NoticeFailure.DEACTIVATED: _l("The account was deactivated"),
            NoticeFailure.REPLACED: _l("Replaced by a newer link, or used"),
            NoticeFailure.CHANNEL_DOWN: _l("The channel could not be reached or answered an "
                                           "error: it will be retried"),
            NoticeFailure.CHANNEL_REFUSED: _l("The channel refused the message (address, key "
                                              "or signature)"),
            NoticeFailure.CHANNEL_OFF: _l("The channel was switched off or removed")}


# A notice that gave up for these reasons may be sent again (the outbox page, `reminders retry`):
# an obsolete reminder that is still not due gives up again at the next round.
RETRYABLE = (NoticeFailure.REFUSED, NoticeFailure.OBSOLETE, NoticeFailure.CHANNEL_REFUSED,
             NoticeFailure.CHANNEL_OFF)


class Notice(NamedTuple):
    """A notice to enqueue; (user_id, period, kind, seq) is its identity. A tuple, because a
    national round builds 100,000 of them."""

    user_id: int
    kind: str
    period: str
    seq: int
    email: str | None
    params: dict

    @property
    def key(self) -> str:
        return f"{self.user_id}:{self.period}:{self.kind}:{self.seq}"


def _json(params: dict, cache: dict[int, str]) -> str:
    """A round's notices share one params dict: serialise it once, not 100,000 times."""
    if id(params) not in cache:
        cache[id(params)] = json.dumps(params, ensure_ascii=False, sort_keys=True)
    return cache[id(params)]


def _row(notice: Notice, now: datetime, cache: dict[int, str]) -> dict:
    return {"key": notice.key, "user_id": notice.user_id, "kind": notice.kind,
            "period": notice.period, "seq": notice.seq, "email": notice.email or None,
            "params": _json(notice.params, cache),
            "status": NoticeStatus.PENDING if notice.email else NoticeStatus.PORTAL, "attempts": 0,
            "next_attempt_at": now, "last_error": "", "created_at": now, "channel": Channel.EMAIL}


def enqueue(notices: Iterable[Notice], now: datetime) -> int:
    """Insert the notices not yet in the outbox; returns how many were new. Only flushes.

    ON CONFLICT DO NOTHING on the unique key makes a concurrent round's duplicates vanish inside
    the database rather than raise.
    """
    cache: dict[int, str] = {}
    notices = list(notices)
    rows = [_row(notice, now, cache) for notice in notices]
    if not rows:
        return 0
    new = _insert(rows)
    # The copies for the agency's messaging channels, of the new notices only, in the same
    # transaction: the notice and its copies exist together or not at all.
    copies = channels.copies((notice for notice in notices if notice.key in new), now)
    if copies:
        _insert(copies)
    return len(new)


def _insert(rows: list[dict]) -> set[str]:
    """Insert the rows whose key is new; returns those keys."""
    if db.session.get_bind().dialect.name == "postgresql":
        return _enqueue_postgresql(rows)
    statement = (sqlite.insert(Outbox).on_conflict_do_nothing(index_elements=["key"])
                 .returning(Outbox.key))
    # Core, not the ORM bulk path (twice as slow here); RETURNING names only the new rows.
    return set(db.session.connection().execute(statement, rows).scalars())


UNNEST_COLUMNS = ("key", "user_id", "kind", "period", "seq", "email", "params", "status",
                  "channel")


def _enqueue_postgresql(rows: list[dict]) -> set[str]:
    """One INSERT … SELECT FROM unnest(arrays): a multi-row VALUES with 100,000 rows × 12
    placeholders spends most of its time in the driver parsing the query text."""
    columns = sa.table("outbox", *(sa.column(name) for name in UNNEST_COLUMNS),
                       sa.column("attempts"), sa.column("next_attempt_at"),
                       sa.column("last_error"), sa.column("created_at"))
    types = {"user_id": sa.Integer, "seq": sa.Integer}
    arrays = [sa.func.unnest(sa.cast(sa.bindparam(name, [row[name] for row in rows]),
                                     postgresql.ARRAY(types.get(name, sa.Text))))
              for name in UNNEST_COLUMNS]
    moment = rows[0]["created_at"]
    source = sa.select(*arrays, sa.literal(0), sa.literal(moment, UTCDateTime),
                       sa.literal(""), sa.literal(moment, UTCDateTime))
    statement = (postgresql.insert(columns)
                 .from_select([*UNNEST_COLUMNS, "attempts", "next_attempt_at", "last_error",
                               "created_at"], source)
                 .on_conflict_do_nothing(index_elements=["key"])
                 .returning(sa.column("key")))
    return set(db.session.execute(statement).scalars())


def review_notice(step: ReviewAction) -> None:
    """The immediate notice to the registrant when a review step concerns them: returned for
    supplement, or finished (closed or referred). Other steps notify nobody."""
    kind = {
        ReviewStep.RETURN: NoticeKind.RETURNED,
        ReviewStep.CLOSE: NoticeKind.FINISHED,
        ReviewStep.REFER: NoticeKind.FINISHED,
    }.get(step.action)
    if kind is None:
        return
    incident = step.review.incident
    user = incident.user
    enqueue([Notice(user.id, kind, incident.period, step.id, user.email if user.active else None,
                    {"incident": incident.id})], clock.now())


def office_members(agency_id: int) -> list[tuple[int, str | None]]:
    """(id, e-mail) of the agency's active discipline office members."""
    return list(db.session.execute(
        sa.select(User.id, User.email).join(UserRole, UserRole.user_id == User.id)
        .where(User.agency_id == agency_id, User.active, UserRole.role == Role.REVIEWER)
        .order_by(User.id)))


def arrival_notice(incident: Incident, supplement: IncidentVersion | None = None) -> None:
    """Tell the discipline office that a registration has come in (`supplement` None) or that
    its registrant supplemented or corrected it: one e-mail per member and event, keyed by the
    incident's or the new version's id, so that it goes out exactly once. Never to the
    registrant (who may be a member: another one reviews it), never with content. Where the
    agency chose a daily digest, nothing now: app/notices/reminders.py sends the digest."""
    agency = db.session.get(Agency, incident.agency_id)
    if agency.review_digest:
        return
    kind, seq = ((NoticeKind.INCIDENT_ARRIVED, incident.id) if supplement is None
                 else (NoticeKind.INCIDENT_SUPPLEMENTED, supplement.id))
    params = {"incident": incident.id, "due_days": agency.review_due_days}
    enqueue([Notice(user_id, kind, incident.period, seq, email, params)
             for user_id, email in office_members(agency.id) if user_id != incident.user_id],
            clock.now())


def after_signing_notice(record: Incident | MonthlyReport, agency_id: int) -> None:
    """Tell the agency's discipline office, once per record, that a record of a signed year has
    come in: it must read it and account for it with an addendum to the statement."""
    incident = isinstance(record, Incident)
    reviewers = office_members(agency_id)
    params = {"incident": record.id} if incident else {"year": record.period[:4]}
    kind = NoticeKind.LATE_INCIDENT if incident else NoticeKind.LATE_REPORT
    enqueue([Notice(user_id, kind, record.period, record.id, email, params)
             for user_id, email in reviewers], clock.now())


def test_mail(actor: User, address: str) -> Outbox:
    """A test e-mail an administrator sends to check the SMTP settings."""
    row = Outbox(
        key=f"test:{uuid.uuid4().hex}",
        user_id=actor.id,
        kind=NoticeKind.TEST,
        email=address,
        status=NoticeStatus.PENDING,
        next_attempt_at=clock.now(),
        created_at=clock.now(),
    )
    db.session.add(row)
    db.session.flush()
    return row


def retry(ids: Sequence[int] | None = None) -> int:
    """Send again the notices that gave up for a reason that may have passed (`ids`, or all of
    them); returns how many. Only flushes."""
    which = sa.and_(Outbox.status == NoticeStatus.FAILED, Outbox.failure.in_(RETRYABLE))
    if ids is not None:
        which = sa.and_(which, Outbox.id.in_(ids))
    return db.session.execute(
        sa.update(Outbox)
        .where(which)
        .values(
            status=NoticeStatus.PENDING, next_attempt_at=clock.now(), lease=None, lease_until=None
        )
        .execution_options(synchronize_session=False)
    ).rowcount


def withdraw(ids: Sequence[int], failure: str, reason: str) -> int:
    """Pending notices that are no longer true are not sent; they stay listed as failed with
    the reason. Only flushes."""
    if not ids:
        return 0
    return db.session.execute(
        sa.update(Outbox).where(Outbox.id.in_(ids), Outbox.status == NoticeStatus.PENDING)
        .values(status=NoticeStatus.FAILED, failure=failure, last_error=reason)
        .execution_options(synchronize_session=False)).rowcount


def backlog(scope: sa.ColumnElement[bool]) -> list[tuple[str, str, int]]:
    """(status, failure, count) of the e-mails waiting for a retry or given up, among the rows
    `scope` admits: what the administrator's home page reports."""
    return [tuple(row) for row in db.session.execute(
        sa.select(Outbox.status, Outbox.failure, sa.func.count())
        .where(scope, sa.or_(Outbox.status == NoticeStatus.FAILED,
                             sa.and_(Outbox.status == NoticeStatus.PENDING, Outbox.attempts > 0)))
        .group_by(Outbox.status, Outbox.failure).order_by(Outbox.status, Outbox.failure))]
