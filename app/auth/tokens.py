"""One-time links to set a password: a new account's first sign-in, an administrator's reset.

- The token (256 random bits) is in the link only; the database keeps its SHA-256 digest.
- A link expires after SIGNIN_LINK_HOURS and works once (an UPDATE guarded by `used_at IS NULL`
  settles two simultaneous uses). Issuing a new link retires the user's older ones.
- With an e-mail address, the link is sent through the outbox, and nothing else with it; the
  outbox row carries the token only until the e-mail is sent or the link is used or replaced.
- Using a link sets the password and ends every session of the account. It replaces the
  password only: an account with a second factor still needs its code to sign in.

Plain functions that only flush; `issue_first_signin(user)` is what the admin area calls.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from app.auth.security import end_all_sessions, hash_password
from app.core import auditlog, clock, mailsettings
from app.core.codes import LinkPurpose, NoticeFailure, NoticeKind, NoticeStatus
from app.core.extensions import db
from app.models import Outbox, SignInLink, User
from app.notices import outbox


@dataclass(frozen=True)
class Issued:
    url: str
    purpose: str
    emailed: bool  # queued in the outbox for the user's address
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def url_of(token: str) -> str:
    return mailsettings.link("auth.welcome", token=token)


def _retire(user: User) -> None:
    """Older links stop working; their unsent e-mails are not sent and no row keeps a token."""
    now = clock.now()
    db.session.execute(
        sa.update(SignInLink)
        .where(SignInLink.user_id == user.id, SignInLink.used_at.is_(None),
               SignInLink.expires_at > now)
        .values(expires_at=now).execution_options(synchronize_session=False))
    mails = sa.and_(Outbox.user_id == user.id, Outbox.kind == NoticeKind.SIGNIN)
    db.session.execute(
        sa.update(Outbox).where(mails, Outbox.status == NoticeStatus.PENDING)
        .values(status=NoticeStatus.FAILED, failure=NoticeFailure.REPLACED,
                last_error="replaced by a newer link or used")
        .execution_options(synchronize_session=False))
    db.session.execute(sa.update(Outbox).where(mails).values(params="{}")
                       .execution_options(synchronize_session=False))


def _mail(user: User, link: SignInLink, token: str) -> bool:
    if not (user.email and user.active):
        return False
    local = link.expires_at.astimezone(ZoneInfo(user.agency.timezone))
    params = {"token": token, "purpose": link.purpose, "staff_no": user.staff_no,
              "expires": local.strftime("%Y-%m-%d %H:%M")}
    outbox.enqueue([outbox.Notice(user.id, NoticeKind.SIGNIN, "", link.id, user.email, params)],
                   clock.now())
    return True


def issue(user: User, purpose: str, actor: User | None = None) -> Issued:
    """A new one-time link for `user` (older ones stop working), e-mailed if possible."""
    _retire(user)
    token = secrets.token_urlsafe(32)
    now = clock.now()
    link = SignInLink(user_id=user.id, token_hash=_digest(token), purpose=purpose,
                      created_by_id=actor.id if actor else None, created_at=now,
                      expires_at=now + timedelta(hours=current_app.config["SIGNIN_LINK_HOURS"]))
    db.session.add(link)
    db.session.flush()
    emailed = _mail(user, link, token)
    auditlog.record("auth.signin_link_issued", user, actor_id=actor.id if actor else None,
                    purpose=purpose, emailed=emailed)
    return Issued(url_of(token), purpose, emailed, link.expires_at)


def issue_first_signin(user: User, actor: User | None = None) -> str:
    """The first sign-in link of a new account (e-mailed if it has an address); its URL."""
    return issue(user, LinkPurpose.FIRST, actor).url


def reset_password(user: User, actor: User) -> Issued:
    """An administrator's reset: the old password stops working, every session of the user
    ends, and a link to set a new one is issued. An account without a password yet gets its
    first sign-in link instead."""
    if user.password_hash is None:
        return issue(user, LinkPurpose.FIRST, actor)
    user.password_hash = None
    end_all_sessions(user)
    auditlog.record("user.password_reset", user, actor_id=actor.id)
    return issue(user, LinkPurpose.RESET, actor)


def find(token: str) -> SignInLink | None:
    """The link of this token if it still works: unused, unexpired, for an active account."""
    link = db.session.scalar(sa.select(SignInLink).where(SignInLink.token_hash == _digest(token)))
    if link is None or link.used_at is not None or link.expires_at <= clock.now():
        return None
    return link if link.user.active else None


def redeem(link: SignInLink, password: str) -> bool:
    """Use the link to set `password`; False if it was used meanwhile or has expired."""
    now = clock.now()
    claimed = db.session.execute(
        sa.update(SignInLink)
        .where(SignInLink.id == link.id, SignInLink.used_at.is_(None),
               SignInLink.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return False
    user = link.user
    user.password_hash = hash_password(password)
    end_all_sessions(user)
    _retire(user)
    auditlog.record("auth.signin_link_used", user, actor_id=user.id, purpose=link.purpose)
    return True
