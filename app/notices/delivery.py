"""SMTP delivery of the outbox, exactly once as far as SMTP allows.

`deliver` claims due rows with a lease (an atomic UPDATE, so two senders never claim the same
row), sends them over one reused SMTP connection, and records each as sent in its own commit
right after the server accepted it (a crash repeats at most the one message in flight), or
records the error and backs off. The lease is checked before each message and renewed when a
third of it has passed; a sender never sends a row whose lease it no longer holds.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import current_app

from app.core import clock, mailsettings
from app.core.codes import Channel, NoticeFailure, NoticeKind, NoticeStatus
from app.core.extensions import db
from app.models import Outbox, User
from app.notices.mime import Mail, Wire

logger = logging.getLogger(__name__)


# Rows a sender leases at a time. The lease is renewed whenever a third of it has passed, so a
# slow relay never lets it lapse mid-batch; a sender killed mid-batch strands these rows until
# it ends.
CLAIM = 20


# A notice is retried until it is sent or no longer true, never given up for a long outage:
# the interval doubles up to this, so delivery resumes within half an hour of the server.
MAX_BACKOFF = timedelta(minutes=30)




@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    gave_up: int = 0  # of the failed, those refused for good (the others wait for a retry)
    retried: int = 0  # of the attempted, those that had failed before
    lost: int = 0  # rows not sent because their lease had run out (another sender may have them)
    errors: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.sent + self.failed


class _Item(NamedTuple):
    """A leased row, rendered: what the send and its record need, so that the commit after each
    message does not make the session reload the rows still to send."""

    id: int
    kind: str
    attempts: int
    message: Mail | Message


class _Down(Exception):
    """The mail server cannot be reached or dropped the connection: no row is to blame."""


def _permanent(error: smtplib.SMTPException) -> bool:
    """A 5xx answer to this message's recipient or content: sending it again cannot succeed.
    Everything else (4xx, a refused sender, a server gone) may pass, so it is retried."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _text in error.recipients.values())
    return isinstance(error, smtplib.SMTPDataError) and error.smtp_code >= 500


# Per-message statements go to the table, not the mapped class: the ORM's bulk UPDATE path
# costs more than the statement itself.
TABLE = Outbox.__table__


def _lease() -> timedelta:
    return timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])


def _due(now: datetime) -> sa.ColumnElement[bool]:
    """Due e-mails; the channels' rows go by HTTP (app/notices/channels.py)."""
    return sa.and_(Outbox.next_attempt_at <= now, Outbox.channel == Channel.EMAIL)


def _still_pending(rows: sa.ColumnCollection) -> sa.ColumnElement[bool]:
    """The status re-checked on rows found by their ids, in a form no index serves: SQLite
    would otherwise walk the (status, next_attempt_at) index, every pending row of a national
    round, instead of looking the ids up."""
    return rows.status + "" == NoticeStatus.PENDING


def claim(which: sa.ColumnElement[bool], limit: int = CLAIM) -> tuple[str, list[Outbox]]:
    """Lease up to `limit` pending rows matching `which` whose lease is free, and commit, so no
    other sender takes them; returns the lease token and the rows.

    Lease times are the real clock's, never a round's moment, so they mean the same to every
    sender. The UPDATE repeats the conditions: on PostgreSQL a row another sender leased
    meanwhile is re-checked after its lock is released and skipped; SQLite serialises writers.
    """
    token, moment = uuid.uuid4().hex, clock.now()
    free = sa.and_(which, sa.or_(Outbox.lease_until.is_(None), Outbox.lease_until < moment))
    ids = (sa.select(Outbox.id).where(Outbox.status == NoticeStatus.PENDING, free)
           .order_by(Outbox.next_attempt_at, Outbox.id).limit(limit))
    claimed = list(db.session.scalars(
        sa.update(Outbox)
        .where(Outbox.id.in_(ids.scalar_subquery()), _still_pending(Outbox.__table__.c), free)
        .values(lease=token, lease_until=moment + _lease()).returning(Outbox.id)
        .execution_options(synchronize_session=False)))
    db.session.commit()
    return token, list(db.session.scalars(
        sa.select(Outbox).where(Outbox.id.in_(claimed)).order_by(Outbox.id)))


class _Lease:
    """The sender's own record of how long its lease lasts, so that it renews it only when a
    third has passed instead of before every message.

    It starts from a moment taken before the lease was set (never later than the database's),
    and counts on two clocks: the wall clock the database compares, and a monotonic one that a
    clock set back cannot stretch.
    """

    def __init__(self, moment: datetime, started: float) -> None:
        self.length = _lease()
        self.until, self.started = moment + self.length, started

    def renewed(self, moment: datetime, started: float) -> None:
        self.until, self.started = moment + self.length, started

    def fresh(self) -> bool:
        """More than two thirds of the lease are left: no other sender can have the rows."""
        return (self.until - clock.now() > self.length * 2 / 3
                and time.monotonic() - self.started < self.length.total_seconds() / 3)


def _hold(connection: sa.Connection, token: str, ids: Sequence[int], moment: datetime,
          length: timedelta) -> set[int]:
    """Extend the lease on those of `ids` this sender still holds, and name them.

    One UPDATE checks and extends at once: a row whose lease ran out (another sender may have
    claimed it since) is no longer ours, and is not sent.
    """
    if not ids:
        return set()
    rows = TABLE.c
    return set(connection.scalars(
        sa.update(TABLE)
        .where(rows.id.in_(ids), rows.lease == token, rows.lease_until > moment,
               _still_pending(rows))
        .values(lease_until=moment + length).returning(rows.id)))


# The statements run for every message, built once (SQLAlchemy then reuses their compiled
# form): the check that a row is still ours and pending, and its record as sent.
_MINE = (sa.select(TABLE.c.id)
         .where(TABLE.c.id == sa.bindparam("row"), TABLE.c.lease == sa.bindparam("token"),
                TABLE.c.lease_until > sa.bindparam("moment"), _still_pending(TABLE.c)))


_SENT = (sa.update(TABLE)
         .where(TABLE.c.id == sa.bindparam("row"), TABLE.c.lease == sa.bindparam("token"))
         .values(status=NoticeStatus.SENT, sent_at=sa.bindparam("now"), last_error="", failure="",
                 lease=None, lease_until=None))


# A sent sign-in link lives in the user's mailbox only.
_SENT_WIPED = _SENT.values(params="{}")


class _Connection:
    """One SMTP connection for a whole delivery run, opened with its first message.

    A message ready for the wire goes in two steps, as smtplib's sendmail sends it: `begin`,
    its envelope (MAIL FROM, RCPT TO), then `finish`, its data. The server accepts a message
    only at the end of its data, so the envelope may go out while the previous message's
    record is being committed. Every method raises _Down when the server is unreachable or
    gone, SMTPException when it refused this message.
    """

    def __init__(self) -> None:
        self._smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        if self._smtp is None:
            try:
                self._smtp = _connect()
            except OSError as error:  # smtplib's errors are OSErrors too
                raise _Down(f"connect: {error}") from error
        return self._smtp

    @contextlib.contextmanager
    def _talk(self) -> Iterator[smtplib.SMTP]:
        smtp = self._open()
        try:
            yield smtp
        except smtplib.SMTPServerDisconnected as error:
            self.close()
            raise _Down(f"disconnected: {error}") from error
        except smtplib.SMTPException:
            raise
        except OSError as error:  # a timeout, a reset connection
            self.close()
            raise _Down(f"disconnected: {error}") from error

    def send(self, message: Message) -> None:
        """The classic way, in one go: for an address that needs SMTPUTF8."""
        with self._talk() as smtp:
            smtp.send_message(message)

    def begin(self, mail: Mail) -> None:
        with self._talk() as smtp:
            smtp.ehlo_or_helo_if_needed()
            options = ([f"size={len(mail.data)}"] if smtp.does_esmtp and smtp.has_extn("size")
                       else [])
            code, reply = smtp.mail(mail.sender, options)
            if code != 250:
                self._abort(smtp, code)
                raise smtplib.SMTPSenderRefused(code, reply, mail.sender)
            refused = {}
            for recipient in mail.recipients:
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    refused[recipient] = (code, reply)
                if code == 421:
                    smtp.close()
                    raise smtplib.SMTPRecipientsRefused(refused)
            if len(refused) == len(mail.recipients):
                self._abort(smtp, code)
                raise smtplib.SMTPRecipientsRefused(refused)

    def finish(self, mail: Mail) -> None:
        with self._talk() as smtp:
            code, reply = smtp.data(mail.data)
            if code != 250:
                self._abort(smtp, code)
                raise smtplib.SMTPDataError(code, reply)

    def cancel(self) -> None:
        """Drop the envelope begun for a message that is not to be sent after all."""
        with self._talk() as smtp:
            self._abort(smtp, 0)

    @staticmethod
    def _abort(smtp: smtplib.SMTP, code: int) -> None:
        if code == 421:  # the server is closing the connection
            smtp.close()
        else:
            with contextlib.suppress(smtplib.SMTPServerDisconnected):
                smtp.rset()

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()


def _connect() -> smtplib.SMTP:
    settings = mailsettings.effective()  # the administrator's, unless the environment pins them
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                        timeout=current_app.config["SMTP_TIMEOUT"])
    if settings.smtp_tls:
        smtp.starttls()
    if settings.smtp_user:
        smtp.login(settings.smtp_user, settings.smtp_password)
    return smtp


def _items(rows: Sequence[Outbox], wire: Wire) -> list[_Item]:
    ids = {row.user_id for row in rows if row.user_id is not None}
    found = dict(db.session.execute(sa.select(User.id, User.locale).where(User.id.in_(ids))).all())
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    return [_Item(row.id, row.kind, row.attempts,
                  wire.mail(row, found.get(row.user_id or 0) or default)) for row in rows]


def _backoff(attempts: int) -> timedelta:
    base = timedelta(seconds=current_app.config["REMINDER_RETRY_SECONDS"])
    return min(base * 2 ** (attempts - 1), MAX_BACKOFF)


class _Ledger:
    """The database side of a batch, run by a thread of its own on a connection of its own,
    one step at a time: the outcome of a message is recorded in the step that checks the next
    row, and the next message's data waits for that step's commit.

    So while the server is given the next message's envelope, the previous message's record
    is being committed, and still at most one message, the one whose data went last, is ever
    accepted and not yet recorded. Nothing here needs the application context: what depends
    on the configuration is computed beforehand.
    """

    def __init__(self, database: sa.Connection, token: str, lease: _Lease, ids: list[int],
                 now: datetime, result: Delivery) -> None:
        self.database, self.token, self.lease, self.ids = database, token, lease, ids
        self.now, self.result = now, result
        self.held = set(ids)
        self._outcomes: list[tuple[_Item, dict | None]] = []

    def sent(self, item: _Item) -> None:
        self._outcomes.append((item, None))

    def failed(self, item: _Item, error: str, failure: str) -> None:
        """Refused for good: failed (listed, retryable by hand); otherwise back off and
        retry."""
        attempts = item.attempts + 1
        self._outcomes.append(
            (
                item,
                {
                    "attempts": attempts,
                    "last_error": error[:2000],
                    "failure": failure,
                    "next_attempt_at": self.now + _backoff(attempts),
                    "status": NoticeStatus.FAILED
                    if failure == NoticeFailure.REFUSED
                    else NoticeStatus.PENDING,
                },
            )
        )

    def step(self, index: int) -> bool:
        """Record the outcomes so far, then check that row `index` is still ours and pending
        (or, once a third of the lease has passed, extend the lease of every row from it on,
        checking them at once), and commit. True if the row may be sent."""
        self._record()
        row, moment = self.ids[index], clock.now()
        if self.lease.fresh():
            mine = self.database.scalar(
                _MINE, {"row": row, "token": self.token, "moment": moment}) is not None
        else:
            started = time.monotonic()
            self.held = _hold(self.database, self.token, self.ids[index:], moment,
                              self.lease.length)
            self.lease.renewed(moment, started)
            mine = row in self.held
        self.database.commit()
        return mine

    def flush(self) -> None:
        self._record()
        self.database.commit()

    def _record(self) -> None:
        for item, values in self._outcomes:
            if values is None:
                self.database.execute(_SENT_WIPED if item.kind == NoticeKind.SIGNIN else _SENT,
                                      {"row": item.id, "token": self.token, "now": self.now})
            else:
                self._failure(item, values)
        self._outcomes.clear()

    def _failure(self, item: _Item, values: dict) -> None:
        # Still pending: a notice withdrawn meanwhile (no longer due) stays withdrawn.
        if not self.database.execute(
                sa.update(TABLE)
                .where(TABLE.c.id == item.id, TABLE.c.lease == self.token,
                       _still_pending(TABLE.c))
                .values(lease=None, lease_until=None, **values)).rowcount:
            return
        self.result.failed += 1
        self.result.gave_up += values["failure"] == NoticeFailure.REFUSED
        self.result.errors.append(values["last_error"])
        # The server's words may name the address: only at debug level.
        logger.warning("outbox %d (%s) not delivered, attempt %d: %s", item.id, item.kind,
                       values["attempts"], values["failure"])
        logger.debug("outbox %d: %s", item.id, values["last_error"])


def _attempt(step: Callable[[Any], None],
             message: Mail | Message) -> _Down | smtplib.SMTPException | None:
    """What went wrong with one step of a send, if anything."""
    try:
        step(message)
    except (_Down, smtplib.SMTPException) as error:
        return error
    return None


def _send_batch(token: str, lease: _Lease, rows: Sequence[Outbox], now: datetime,
                connection: _Connection, wire: Wire, result: Delivery) -> bool:
    """Send the leased rows one by one, each recorded in its own commit; False once the
    server is down (the rest of the batch then waits for its back-off).

    The commit right after the server accepted a message records it as sent, before the next
    message's data goes out: a crash can repeat at most the one message in flight, with the
    same Message-ID. The same commit checks that the next row is still ours and pending, just
    before it is sent; when a third of the lease has passed, by the sender's own record, it
    extends the lease of every row still to send instead, checking them at once.
    """
    items = _items(rows, wire)
    db.session.commit()
    with db.engine.connect() as database, ThreadPoolExecutor(1) as worker:
        ledger = _Ledger(database, token, lease, [item.id for item in items], now, result)
        for index, item in enumerate(items):
            if item.id not in ledger.held:
                result.lost += 1
                continue
            check = worker.submit(ledger.step, index)
            ready = isinstance(item.message, Mail)
            problem = _attempt(connection.begin, item.message) if ready else None
            if not check.result():
                if ready and problem is None:
                    with contextlib.suppress(_Down):
                        connection.cancel()
                result.lost += 1
                continue
            result.retried += item.attempts > 0
            if problem is None:
                problem = _attempt(connection.finish if ready else connection.send,
                                   item.message)
            if isinstance(problem, _Down):
                for waiting in items[index:]:
                    if waiting.id in ledger.held:
                        ledger.failed(waiting, str(problem), NoticeFailure.UNREACHABLE)
                worker.submit(ledger.flush).result()
                return False
            if problem is not None:
                ledger.failed(
                    item,
                    str(problem),
                    NoticeFailure.REFUSED if _permanent(problem) else NoticeFailure.DEFERRED,
                )
            else:
                ledger.sent(item)
                result.sent += 1
        worker.submit(ledger.flush).result()
    return True


def deliver(now: datetime | None = None, limit: int | None = None) -> Delivery:
    """Send every row due at `now` (default: the clock's now, read per batch), a small leased
    batch at a time, over one SMTP connection.

    Without a mail server configured the rows wait (the bell shows the notices meanwhile)
    instead of burning their attempts.
    """
    result = Delivery()
    if not mailsettings.effective().smtp_host:
        return result
    wire = Wire()
    with _Connection() as connection:
        while limit is None or result.attempted < limit:
            size = CLAIM if limit is None else min(CLAIM, limit - result.attempted)
            lease = _Lease(clock.now(), time.monotonic())
            token, rows = claim(_due(now or clock.now()), size)
            if not rows or not _send_batch(token, lease, rows, now or clock.now(), connection,
                                           wire, result):
                break
    return result


def send_now(row: Outbox) -> Delivery:
    """Send this one row at once, and nothing else: the administrator's test e-mail, inside a
    web request that must never deliver the backlog (it could outlast the worker's timeout
    and be killed mid-batch). Commits."""
    result = Delivery()
    if not mailsettings.effective().smtp_host:
        return result
    with _Connection() as connection:
        lease = _Lease(clock.now(), time.monotonic())
        token, rows = claim(Outbox.id == row.id, 1)
        _send_batch(token, lease, rows, clock.now(), connection, Wire(), result)
    return result
