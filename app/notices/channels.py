"""Notices to an agency's messaging channels: a WeCom or DingTalk group robot, the OA's webhook.

A channel message is an outbox row like the e-mail, keyed "<notice key>:<channel>" and written
in the same statement batch as the notice (`copies`), so the same unique key makes it exactly
once and the same lease (delivery.claim) keeps two senders from both sending it. It is sent
here over HTTP, one message per commit: a crash repeats at most the one in flight, and the
webhook's `id` (the row's key) lets the OA recognise a repeat.

What a message says: the notice's subject, for whom, and the link; never a paragraph of the
e-mail (a digest's paragraphs name the non-filers) and never incident content. A group robot
posts where colleagues, and perhaps the person who interfered, read: it only carries the filing
duties everyone has (GROUP_KINDS), with the addressee's name so that they know it is theirs;
nothing that tells that someone registered, was returned, or belongs to the discipline office.
The OA webhook delivers to the person, as their e-mail does: every notice but a sign-in link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core import clock, mailsettings
from app.core.codes import Channel, NoticeFailure, NoticeKind, NoticeStatus
from app.core.extensions import db
from app.models import ChannelSettings, Outbox, User
from app.notices import delivery, texts

logger = logging.getLogger(__name__)

CHANNELS = (Channel.WECOM, Channel.DINGTALK, Channel.WEBHOOK)

LABELS = {Channel.EMAIL: _l("E-mail"), Channel.WECOM: _l("WeCom group robot"),
          Channel.DINGTALK: _l("DingTalk group robot"), Channel.WEBHOOK: _l("OA system webhook")}

# What a group may read: the duties every auditor (or leader) has, nothing about registrations,
# reviews or the discipline office.
GROUP_KINDS = frozenset({NoticeKind.OPEN, NoticeKind.APPROACHING, NoticeKind.DUE_TODAY,
                         NoticeKind.OVERDUE, NoticeKind.DIGEST, NoticeKind.CONFIRM})
# A sign-in link is a password: it goes to the mailbox only.
WEBHOOK_KINDS = frozenset(NoticeKind) - {NoticeKind.SIGNIN, NoticeKind.TEST}
KINDS = {Channel.WECOM: GROUP_KINDS, Channel.DINGTALK: GROUP_KINDS,
         Channel.WEBHOOK: WEBHOOK_KINDS}

# An HTTP answer that will not change by sending again: the address, the key or the signature
# is wrong. Anything else (5xx, 408, 429, a refused connection, a timeout) is retried.
RETRIED_4XX = (408, 425, 429)
# The robots answer 200 with an error code in the body; these mean "later": busy, too fast.
ROBOT_BUSY = {Channel.WECOM: {-1, 45009}, Channel.DINGTALK: {-1, 130101, 130102}}


def timeout() -> float:
    return float(current_app.config["CHANNEL_TIMEOUT"])


# ---- settings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A channel as delivery needs it, its secrets decrypted (None: unreadable)."""

    channel: str
    enabled: bool
    url: str | None
    secret: str | None


def settings_of(agency_id: int) -> dict[str, ChannelSettings]:
    return {row.channel: row for row in db.session.scalars(
        sa.select(ChannelSettings).where(ChannelSettings.agency_id == agency_id))}


def _open(token: str) -> str | None:
    return mailsettings.decrypt(token, mailsettings.CHANNELS) if token else ""


def target(row: ChannelSettings | None, channel: str) -> Target:
    if row is None:
        return Target(channel, False, "", "")
    return Target(channel, row.enabled, _open(row.url), _open(row.secret))


def seal(value: str) -> str:
    return mailsettings.encrypt(value, mailsettings.CHANNELS) if value else ""


def shown_url(row: ChannelSettings | None) -> str:
    """What the settings page shows of a stored address: its host only (the rest is a key)."""
    url = _open(row.url) if row is not None else ""
    if url is None:
        return _("(unreadable: SECRET_KEY changed; enter it again)")
    return f"{urllib.parse.urlsplit(url).netloc}/…" if url else ""


def valid_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.username


# ---- enqueue ------------------------------------------------------------------------------


def copies(notices: Iterable, now: datetime) -> list[dict]:
    """The channel rows of the notices just enqueued (new ones only: channels switched on later
    never receive old notices), for every channel on at the recipient's agency."""
    enabled = db.session.execute(sa.select(ChannelSettings.agency_id, ChannelSettings.channel)
                                 .where(ChannelSettings.enabled)).all()
    if not enabled:
        return []
    channels: dict[int, list[str]] = {}
    for agency_id, channel in enabled:
        channels.setdefault(agency_id, []).append(channel)
    agency_of = dict(db.session.execute(sa.select(User.id, User.agency_id).where(
        User.agency_id.in_(channels), User.active)).all())
    rows = []
    for notice in notices:
        for channel in channels.get(agency_of.get(notice.user_id, -1), ()):
            if notice.kind in KINDS[channel]:
                rows.append(channel_row(notice.key, notice.user_id, notice.kind,
                                        notice.period, notice.seq, notice.params, channel, now))
    return rows


def channel_row(key: str, user_id: int, kind: str, period: str, seq: int, params: dict | str,
                channel: str, now: datetime) -> dict:
    if not isinstance(params, str):
        params = json.dumps(params, ensure_ascii=False, sort_keys=True)
    return {"key": f"{key}:{channel}", "user_id": user_id, "kind": kind, "period": period,
            "seq": seq, "email": None, "params": params, "status": NoticeStatus.PENDING,
            "attempts": 0, "next_attempt_at": now, "last_error": "", "created_at": now,
            "channel": channel}


def test_message(actor: User, channel: str) -> Outbox:
    """The administrator's test message for one channel: a row of its own, sent at once."""
    row = Outbox(key=f"test:{uuid.uuid4().hex}:{channel}", user_id=actor.id,
                 kind=NoticeKind.TEST, channel=channel, status=NoticeStatus.PENDING,
                 next_attempt_at=clock.now(), created_at=clock.now())
    db.session.add(row)
    db.session.flush()
    return row


# ---- messages -----------------------------------------------------------------------------


_MARKDOWN = re.compile(r"[\\`*_\[\]()#>|~<!-]")


def _plain(text: str) -> str:
    """A name as text, not markdown: it could otherwise make a link or a heading."""
    return _MARKDOWN.sub("", text).strip()


@dataclass(frozen=True)
class Message:
    title: str
    name: str
    staff_no: str
    link: str


def message(row: Outbox, user: User | None) -> Message:
    """What every channel's message says, in the recipient's language: the subject, for whom,
    the link. A test says only that it is a test."""
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale((user.locale if user is not None else None) or default):
        if row.kind == NoticeKind.TEST:
            return Message(_("Test message from the audit independence portal"), "", "",
                           mailsettings.link("home.index"))
        text = texts.content(row)
        return Message(text.subject, user.name if user else "", user.staff_no if user else "",
                       text.mail_link)


def _group_text(row: Outbox, text: Message, markdown: bool) -> str:
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(default):
        portal = _("Audit independence portal")
        lines = [f"**{portal}**" if markdown else f"【{portal}】", _plain(text.title)]
        if text.name:
            lines.append(_("For: %(name)s", name=_plain(text.name)))
        link = (f"[{_('Open the portal')}]({text.link})" if markdown
                else _("Open the portal: %(url)s", url=text.link))
        return "\n\n".join([*lines, link])


def wecom_body(row: Outbox, text: Message) -> dict:
    """WeCom's group robot: {"msgtype": "markdown", "markdown": {"content": …}}."""
    return {"msgtype": "markdown", "markdown": {"content": _group_text(row, text, True)}}


def dingtalk_body(row: Outbox, text: Message) -> dict:
    """DingTalk's custom robot: {"msgtype": "markdown", "markdown": {"title", "text"}}."""
    return {"msgtype": "markdown",
            "markdown": {"title": _plain(text.title), "text": _group_text(row, text, True)}}


def webhook_body(row: Outbox, text: Message) -> dict:
    """The OA's notice (documented in the README, "Messaging channels")."""
    return {"id": row.key, "kind": row.kind, "period": row.period, "title": text.title,
            "link": text.link,
            "recipient": {"staff_no": text.staff_no, "name": text.name} if text.name else None,
            "created_at": row.created_at.isoformat()}


def dingtalk_url(url: str, secret: str, millis: int) -> str:
    """DingTalk's signed request: timestamp (ms) and sign = urlencode(base64(HMAC-SHA256 of
    "timestamp\\nsecret" with the secret))."""
    digest = hmac.new(secret.encode(), f"{millis}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest).decode())
    return f"{url}{'&' if '?' in url else '?'}timestamp={millis}&sign={sign}"


def webhook_signature(secret: str, stamp: str, body: bytes) -> str:
    """sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the shared secret>."""
    return "sha256=" + hmac.new(secret.encode(), stamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


class Refused(Exception):
    """The channel refused this message for good."""


class Down(Exception):
    """The channel is unreachable or answered an error that may pass."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed: a POST turned into a GET would pass for delivered."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    if not valid_url(url):
        raise Refused("not an http(s) address")
    request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310
        "Content-Type": "application/json; charset=utf-8", **headers})
    try:
        with _OPENER.open(request, timeout=timeout()) as answer:
            return answer.status, answer.read(65536)
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read(2000).decode("utf-8", "replace")
        reason = f"HTTP {status}: {text.strip()[:500]}"
        if status < 400 or (status < 500 and status not in RETRIED_4XX):
            raise Refused(reason) from error
        raise Down(reason) from error
    except (OSError, ValueError) as error:  # refused, reset, timed out, a malformed URL
        raise Down(f"unreachable: {error}") from error


def send(row: Outbox, goal: Target, user: User | None) -> None:
    """Post the row's message to its channel; raises Refused or Down."""
    if goal.url is None or goal.secret is None:
        raise Refused("the stored address or secret cannot be decrypted (SECRET_KEY changed)")
    text = message(row, user)
    if row.channel == Channel.WEBHOOK:
        body = json.dumps(webhook_body(row, text), ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        _post(goal.url, body, {"X-Portal-Timestamp": stamp, "X-Portal-Delivery": row.key,
                               "X-Portal-Signature": webhook_signature(goal.secret, stamp, body)})
        return
    build = wecom_body if row.channel == Channel.WECOM else dingtalk_body
    body = json.dumps(build(row, text), ensure_ascii=False).encode()
    url = (goal.url if row.channel == Channel.WECOM
           else dingtalk_url(goal.url, goal.secret, int(time.time() * 1000)))
    _status, answer = _post(url, body, {})
    try:
        code = int(json.loads(answer).get("errcode", 0))
    except (ValueError, AttributeError, TypeError):
        raise Down(f"not a robot's answer: {answer[:200]!r}") from None
    if code:
        reason = f"errcode {code}: {answer.decode('utf-8', 'replace')[:500]}"
        raise Down(reason) if code in ROBOT_BUSY[row.channel] else Refused(reason)


# ---- delivery -----------------------------------------------------------------------------


_SENT = (sa.update(Outbox.__table__)
         .where(Outbox.__table__.c.id == sa.bindparam("row"),
                Outbox.__table__.c.lease == sa.bindparam("token"))
         .values(status=NoticeStatus.SENT, sent_at=sa.bindparam("now"), last_error="",
                 failure="", lease=None, lease_until=None))


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(Outbox.channel != Channel.EMAIL, Outbox.next_attempt_at <= now)


def _record(row_id: int, token: str, values: dict) -> bool:
    table = Outbox.__table__
    return bool(db.session.execute(
        sa.update(table).where(table.c.id == row_id, table.c.lease == token,
                               delivery._still_pending(table.c))
        .values(lease=None, lease_until=None, **values)).rowcount)


def _failed(row: Outbox, token: str, error: str, failure: str, now: datetime,
            result: delivery.Delivery) -> None:
    attempts = row.attempts + 1
    given_up = failure != NoticeFailure.CHANNEL_DOWN
    if _record(row.id, token, {
            "attempts": attempts, "last_error": error[:2000], "failure": failure,
            "next_attempt_at": now + delivery._backoff(attempts),
            "status": NoticeStatus.FAILED if given_up else NoticeStatus.PENDING}):
        result.failed += 1
        result.gave_up += given_up
        result.errors.append(error[:2000])
        logger.warning("outbox %d (%s to %s) not delivered, attempt %d: %s", row.id, row.kind,
                       row.channel, attempts, failure)


def _send_batch(token: str, rows: list[Outbox], now: datetime,
                result: delivery.Delivery) -> None:
    """Each row: check it is still ours (and extend its lease) in one statement and commit,
    post it, record the outcome and commit. A channel found down waits with the rest of its
    agency's rows of that channel for the back-off, instead of timing out once per row."""
    targets: dict[tuple[int, str], Target] = {}
    down: dict[tuple[int, str], str] = {}
    users = {user.id: user for user in db.session.scalars(
        sa.select(User).where(User.id.in_({row.user_id for row in rows})))}
    length = delivery._lease()
    for row in rows:
        user = users.get(row.user_id)
        where = (user.agency_id if user else 0, row.channel)
        if not delivery._hold(db.session.connection(), token, [row.id], clock.now(), length):
            result.lost += 1
            db.session.commit()
            continue
        db.session.commit()
        if where not in targets:
            targets[where] = target(settings_of(where[0]).get(row.channel), row.channel)
        goal = targets[where]
        result.retried += row.attempts > 0
        # A test goes out whether the channel is on or not: it is how one checks it first.
        if (not goal.enabled and row.kind != NoticeKind.TEST) or goal.url == "" or user is None:
            _failed(row, token, "channel switched off or removed", NoticeFailure.CHANNEL_OFF,
                    now, result)
        elif where in down:
            _failed(row, token, down[where], NoticeFailure.CHANNEL_DOWN, now, result)
        else:
            try:
                send(row, goal, user)
            except Refused as error:
                _failed(row, token, str(error), NoticeFailure.CHANNEL_REFUSED, now, result)
            except Down as error:
                down[where] = str(error)
                _failed(row, token, str(error), NoticeFailure.CHANNEL_DOWN, now, result)
            else:
                db.session.execute(_SENT, {"row": row.id, "token": token, "now": now})
                result.sent += 1
        db.session.commit()


def deliver(now: datetime | None = None, limit: int | None = None) -> delivery.Delivery:
    """Send every channel row due at `now`, a leased batch at a time."""
    result = delivery.Delivery()
    while limit is None or result.attempted < limit:
        size = delivery.CLAIM if limit is None else min(delivery.CLAIM, limit - result.attempted)
        token, rows = delivery.claim(_due(now or clock.now()), size)
        if not rows:
            break
        _send_batch(token, rows, now or clock.now(), result)
    return result


def send_now(row: Outbox) -> delivery.Delivery:
    """This one row and nothing else (the settings page's test message). Commits."""
    result = delivery.Delivery()
    token, rows = delivery.claim(Outbox.id == row.id, 1)
    _send_batch(token, rows, clock.now(), result)
    return result
