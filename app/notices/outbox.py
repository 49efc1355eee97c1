"""The outbox: every notice is first a row, then an e-mail.

Writing the notice and sending it are separate steps so that neither a crash nor a second
scheduler can lose or double one: `enqueue` inserts rows under a unique key and ignores those that
exist; `deliver` claims due rows with a lease (an atomic UPDATE, so two senders never claim the
same row), sends them over one reused SMTP connection per batch, and marks them sent, or records
the error and backs off. The Message-ID is derived from the row, so the one repeat a crash between
the server's acceptance and our commit can cause is recognisable as the same message.

No notice carries incident content: rows hold only the kind, the period and plain parameters
(a due date, names of non-filers, an incident id for the link); the text is rendered at send time
in the recipient's language.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import re
import smtplib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, getaddresses
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import current_app, has_request_context, url_for
from flask_babel import force_locale, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite

from app.core import clock, mailsettings
from app.core.codes import NoticeFailure, NoticeKind, NoticeStatus, ReviewStep, Role
from app.core.extensions import db
from app.models import Incident, MonthlyReport, Outbox, ReviewAction, User, UserRole, UTCDateTime

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
}
# Why a row waits for a retry (pending) or gave up (failed); `last_error` keeps the server's words.
FAILURES = {NoticeFailure.UNREACHABLE: _l("The mail server could not be reached"),
            NoticeFailure.DEFERRED: _l("The mail server asked to try again later"),
            NoticeFailure.REFUSED: _l("The mail server refused the address or the message"),
            NoticeFailure.OBSOLETE: _l("No longer due: filed, left, or replaced by a later notice"),
            NoticeFailure.DEACTIVATED: _l("The account was deactivated"),
            NoticeFailure.REPLACED: _l("Replaced by a newer link, or used")}
# A notice that gave up for these reasons may be sent again (the outbox page, `reminders retry`):
# an obsolete reminder that is still not due gives up again at the next round.
RETRYABLE = (NoticeFailure.REFUSED, NoticeFailure.OBSOLETE)
NO_CONTENT = _l("This e-mail never contains the content of a registration: sign in to the "
                "portal to see it.")
# Rows a sender leases at a time. The lease is renewed whenever a third of it has passed, so a
# slow relay never lets it lapse mid-batch; a sender killed mid-batch strands these rows until
# it ends.
CLAIM = 20
# A notice is retried until it is sent or no longer true, never given up for a long outage:
# the interval doubles up to this, so delivery resumes within half an hour of the server.
MAX_BACKOFF = timedelta(minutes=30)


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
            "next_attempt_at": now, "last_error": "", "created_at": now}


def enqueue(notices: Iterable[Notice], now: datetime) -> int:
    """Insert the notices not yet in the outbox; returns how many were new. Only flushes.

    ON CONFLICT DO NOTHING on the unique key makes a concurrent round's duplicates vanish inside
    the database rather than raise.
    """
    cache: dict[int, str] = {}
    rows = [_row(notice, now, cache) for notice in notices]
    if not rows:
        return 0
    if db.session.get_bind().dialect.name == "postgresql":
        return _enqueue_postgresql(rows)
    statement = (sqlite.insert(Outbox).on_conflict_do_nothing(index_elements=["key"])
                 .returning(Outbox.id))
    # Core, not the ORM bulk path (twice as slow here); RETURNING names only the new rows.
    return len(db.session.connection().execute(statement, rows).all())


UNNEST_COLUMNS = ("key", "user_id", "kind", "period", "seq", "email", "params", "status")


def _enqueue_postgresql(rows: list[dict]) -> int:
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
                 .returning(sa.column("id")))
    return len(db.session.execute(statement).all())


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


def after_signing_notice(record: Incident | MonthlyReport, agency_id: int) -> None:
    """Tell the agency's discipline office, once per record, that a record of a signed year has
    come in: it must read it and account for it with an addendum to the statement."""
    incident = isinstance(record, Incident)
    reviewers = db.session.execute(
        sa.select(User.id, User.email).join(UserRole, UserRole.user_id == User.id)
        .where(User.agency_id == agency_id, User.active, UserRole.role == Role.REVIEWER))
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


# Text ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Content:
    subject: str
    paragraphs: list[str]
    page: tuple[str, dict]  # where the reader acts on it (endpoint, values), never the content

    @property
    def mail_link(self) -> str:
        """The page as an absolute address, for an e-mail (outside any request)."""
        return mailsettings.link(self.page[0], **self.page[1])

    @property
    def link(self) -> str:
        """The page's address for the bell: relative inside a request, else absolute."""
        return url_for(self.page[0], **self.page[1]) if has_request_context() else self.mail_link


OFFICE_NOTICES = (
    NoticeKind.OFFICE_PROPOSED,
    NoticeKind.OFFICE_GRANTED,
    NoticeKind.OFFICE_WITHDRAWN,
)


def _page(row: Outbox, params: dict) -> tuple[str, dict]:
    if row.kind in (NoticeKind.RETURNED, NoticeKind.FINISHED):
        return "filing.incident", {"incident_id": params["incident"]}
    if row.kind == NoticeKind.LATE_INCIDENT:
        return "review.incident", {"incident_id": params["incident"]}
    if row.kind == NoticeKind.LATE_REPORT:
        return "statement.show", {"year": int(params["year"])}
    if row.kind == NoticeKind.DIGEST:
        return "compliance.index", {}
    if row.kind == NoticeKind.TEST:
        return "home.index", {}
    if row.kind == NoticeKind.CONFIRM:
        return "statement.confirmation", {"year": int(row.period)}
    if row.kind in OFFICE_NOTICES:
        return "review.office_page", {}
    if row.kind == NoticeKind.SIGNIN:
        return (
            ("auth.welcome", {"token": params["token"]})
            if "token" in params
            else ("auth.login", {})
        )
    return "filing.report", {"period": row.period}


def _digest_lines(params: dict) -> list[str]:
    return [_("%(department)s, not filed: %(names)s",
              department=department or _("No department"), names=_list_separator().join(names))
            for department, names in params["missing"]]


def _list_separator() -> str:
    return "、" if str(get_locale()).startswith("zh") else ", "


def content(row: Outbox) -> Content:
    """The notice's text in the current locale (callers force the recipient's)."""
    params = json.loads(row.params)
    period, due = row.period, params.get("due", "")
    texts: dict[str, tuple[str, list[str]]] = {
        NoticeKind.OPEN: (
            _("The report for %(period)s can now be filed", period=period),
            [
                _(
                    "The month %(period)s is over: please file your monthly report (a zero report "
                    "if nothing happened). It is due by the end of %(due)s.",
                    period=period,
                    due=due,
                )
            ],
        ),
        NoticeKind.APPROACHING: (
            _("The report for %(period)s is due on %(due)s", period=period, due=due),
            [
                _(
                    "You have not filed your report for %(period)s yet. It is due by the end "
                    "of %(due)s.",
                    period=period,
                    due=due,
                )
            ],
        ),
        NoticeKind.DUE_TODAY: (
            _("The report for %(period)s is due today", period=period),
            [
                _(
                    "You have not filed your report for %(period)s yet. It is due by the end "
                    "of today, %(due)s.",
                    period=period,
                    due=due,
                )
            ],
        ),
        NoticeKind.OVERDUE: (
            _("The report for %(period)s is overdue", period=period),
            [
                _(
                    "Your report for %(period)s was due by the end of %(due)s and has not been "
                    "filed. Please file it now: it will be marked late.",
                    period=period,
                    due=due,
                )
            ],
        ),
        NoticeKind.RETURNED: (
            _("A registration of yours was returned for supplement"),
            [
                _(
                    "The discipline office asks you to supplement one of your registrations. "
                    "Sign in to the portal to see the request."
                )
            ],
        ),
        NoticeKind.FINISHED: (
            _("The review of a registration of yours is finished"),
            [
                _(
                    "The discipline office has finished reviewing one of your registrations. "
                    "Sign in to the portal to see the result."
                )
            ],
        ),
        NoticeKind.CONFIRM: (
            _("Your personal annual confirmation for %(year)s", year=period),
            [
                _(
                    "Please confirm for %(year)s that you registered every attempt to probe or "
                    "interfere with an audit matter, or write the exceptions. The discipline "
                    "office needs every confirmation for the annual statement.",
                    year=period,
                )
            ],
        ),
        NoticeKind.OFFICE_PROPOSED: (
            _("%(name)s has been proposed for the discipline office", name=params.get("name")),
            [
                _(
                    "A member of the discipline office has proposed %(name)s as a member. The role "
                    "is granted only when %(name)s accepts it in the portal.",
                    name=params.get("name"),
                )
            ],
        ),
        NoticeKind.OFFICE_GRANTED: (
            _("%(name)s has joined the discipline office", name=params.get("name")),
            [
                _(
                    "%(name)s now belongs to the discipline office and can review the agency's "
                    "registrations. Every grant and withdrawal is in the audit log.",
                    name=params.get("name"),
                )
            ],
        ),
        NoticeKind.OFFICE_WITHDRAWN: (
            _("%(name)s no longer belongs to the discipline office", name=params.get("name")),
            [
                _(
                    "The discipline office role of %(name)s has been withdrawn. Every grant and "
                    "withdrawal is in the audit log.",
                    name=params.get("name"),
                )
            ],
        ),
        NoticeKind.LATE_INCIDENT: (
            _("A registration of %(period)s came in after the statement was signed", period=period),
            [
                _(
                    "A registration of %(period)s was made after the annual statement "
                    "of its year was signed. Please review it and record an addendum to "
                    "the statement for it.",
                    period=period,
                )
            ],
        ),
        NoticeKind.LATE_REPORT: (
            _(
                "A monthly report of %(period)s came in after the statement was signed",
                period=period,
            ),
            [
                _(
                    "A monthly report of %(period)s was filed after the annual statement "
                    "of its year was signed. Please record an addendum to the statement "
                    "for it.",
                    period=period,
                )
            ],
        ),
        NoticeKind.TEST: (
            _("Test e-mail from the audit independence portal"),
            [_("If you can read this, the portal can send e-mail.")],
        ),
    }
    if row.kind == NoticeKind.DIGEST:
        count = sum(len(names) for _department, names in params["missing"])
        texts[NoticeKind.DIGEST] = (
            _("Reports for %(period)s not filed: %(num)d", period=period, num=count),
            [ngettext("%(num)d person has not filed the report for %(period)s, due by the end "
                      "of %(due)s:", "%(num)d people have not filed the report for %(period)s, "
                      "due by the end of %(due)s:", count, period=period, due=due),
             *_digest_lines(params)])
    if row.kind == NoticeKind.SIGNIN:
        texts[NoticeKind.SIGNIN] = _signin_text(params)
    subject, paragraphs = texts[row.kind]
    return Content(subject, paragraphs, _page(row, params))


def _signin_text(params: dict) -> tuple[str, list[str]]:
    staff_no, expires = params.get("staff_no", ""), params.get("expires", "")
    if params.get("purpose") == "reset":
        return (_("Your password for the audit independence portal was reset"),
                [_("An administrator has reset the password of your account (staff number "
                   "%(staff_no)s). Set a new one with the link below: it works once, until "
                   "%(expires)s. If you did not expect this, tell the discipline office.",
                   staff_no=staff_no, expires=expires)])
    return (_("Your account on the audit independence portal"),
            [_("An account has been opened for you (staff number %(staff_no)s). Set your "
               "password with the link below: it works once, until %(expires)s.",
               staff_no=staff_no, expires=expires)])


def base_url() -> str:
    return mailsettings.effective().base_url


def message_id(row: Outbox) -> str:
    """Stable across retries and processes: the same row always gives the same Message-ID."""
    return _message_id(row, _domain(mailsettings.effective().mail_from))


def _domain(mail_from: str) -> str:
    return mail_from.rpartition("@")[2] or "localhost"


def _message_id(row: Outbox, domain: str) -> str:
    digest = hashlib.sha256(row.key.encode()).hexdigest()[:24]
    return f"<outbox.{row.id}.{digest}@{domain}>"


def render(row: Outbox, locale: str) -> Message:
    """Plain text plus HTML in `locale`, UTF-8, with an RFC 2047-encoded subject."""
    return _compose(row, locale, row.email or "", message_id(row))


def _compose(row: Outbox, locale: str, to: str, mid: str) -> Message:
    """Built with the classic email API: the modern one parses every header it is given and
    costs half of the delivery time at national scale."""
    with force_locale(locale):
        text = content(row)
        url = text.mail_link
        plain = "\n\n".join([text.subject, *text.paragraphs,
                                _("Open the portal: %(url)s", url=url), str(NO_CONTENT)]) + "\n"
        html = current_app.jinja_env.get_template("notices/mail.html").render(
            content=text, url=url, no_content=str(NO_CONTENT))
    message = MIMEMultipart("alternative")
    message["Subject"] = Header(text.subject, "utf-8")
    message["From"] = mailsettings.effective().mail_from
    message["To"] = to
    message["Date"] = format_datetime(row.created_at)
    message["Message-ID"] = mid
    message.attach(MIMEText(plain, "plain", "utf-8"))
    message.attach(MIMEText(html, "html", "utf-8"))
    return message


class _Mail(NamedTuple):
    """A message as smtplib's send_message would put it on the wire: envelope and bytes."""

    sender: str
    recipients: list[str]
    data: bytes


def _flatten(message: Message) -> bytes:
    """What send_message sends for an ASCII envelope."""
    with io.BytesIO() as out:
        BytesGenerator(out).flatten(message, linesep="\r\n")
        return out.getvalue()


# An address or Message-ID the header folder writes unchanged, so the fast path may write it
# itself: plain ASCII, nothing it splits at or encodes, on one line of at most 78 characters.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,70}")
_PLAIN_ID = re.compile(r"<[A-Za-z0-9._-]+@[A-Za-z0-9.-]+>")
_TO, _ID = "to@to.invalid", "<id@id.invalid>"  # placeholders, never in a base64 body
_TEMPLATES = 256  # notices of a round share one; sign-in links each have their own


class _Wire:
    """Messages ready for the wire, for one delivery run.

    The notices of a round differ only in To and Message-ID: what else a message holds (its
    text in a locale, subject, From, Date, the two parts) is built and flattened once per
    (kind, period, params, date, locale), and each message is that template with its own two
    header lines spliced in, byte for byte what send_message would send (tests/test_outbox.py
    compares them). An address or Message-ID the header folder would not leave as it is
    takes the classic way.
    """

    def __init__(self) -> None:
        self.mail_from = mailsettings.effective().mail_from
        self.sender = getaddresses([self.mail_from])[0][1]
        self.domain = _domain(self.mail_from)
        self._templates: dict[tuple, tuple[bytes, bytes, bytes] | None] = {}

    def mail(self, row: Outbox, locale: str) -> _Mail | Message:
        email, mid = row.email or "", _message_id(row, self.domain)
        parts = None
        if (_PLAIN_ADDRESS.fullmatch(email) and len(email) <= 74
                and _PLAIN_ID.fullmatch(mid) and len(mid) <= 66 and self.sender.isascii()):
            parts = self._template(row, locale)
        if parts is None:
            return _compose(row, locale, email, mid)
        head, date, body = parts
        return _Mail(self.sender, [email],
                     b"".join((head, b"To: ", email.encode(), b"\r\n", date, b"Message-ID: ",
                               mid.encode(), b"\r\n", body)))

    def _template(self, row: Outbox, locale: str) -> tuple[bytes, bytes, bytes] | None:
        key = (row.kind, row.period, row.params, row.created_at, locale)
        if key not in self._templates:
            if len(self._templates) >= _TEMPLATES:
                self._templates.clear()
            data = _flatten(_compose(row, locale, _TO, _ID))
            to_line, id_line = f"To: {_TO}\r\n".encode(), f"Message-ID: {_ID}\r\n".encode()
            head, _to, rest = data.partition(to_line)
            date, _id, body = rest.partition(id_line)
            whole = data.count(to_line) == data.count(id_line) == 1 and body
            self._templates[key] = (head, date, body) if whole else None
        return self._templates[key]


# Delivery -----------------------------------------------------------------------------------

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
    message: _Mail | Message


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
    return Outbox.next_attempt_at <= now


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

    def begin(self, mail: _Mail) -> None:
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

    def finish(self, mail: _Mail) -> None:
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


def _items(rows: Sequence[Outbox], wire: _Wire) -> list[_Item]:
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
             message: _Mail | Message) -> _Down | smtplib.SMTPException | None:
    """What went wrong with one step of a send, if anything."""
    try:
        step(message)
    except (_Down, smtplib.SMTPException) as error:
        return error
    return None


def _send_batch(token: str, lease: _Lease, rows: Sequence[Outbox], now: datetime,
                connection: _Connection, wire: _Wire, result: Delivery) -> bool:
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
            ready = isinstance(item.message, _Mail)
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
    wire = _Wire()
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
        _send_batch(token, lease, rows, clock.now(), connection, _Wire(), result)
    return result


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
