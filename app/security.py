"""Sign-in, sessions and response headers.

- Passwords are hashed with Argon2id (argon2-cffi's defaults follow RFC 9106).
- Sessions are signed cookies carrying "user id:session version"; bumping the user's version
  (logout, password change, deactivation) ends every session of that user on every device.
- Every route needs a signed-in user unless it is listed in PUBLIC_ENDPOINTS (default deny).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, Response, current_app, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user

from app import clock
from app.extensions import db, login_manager
from app.models import User

PUBLIC_ENDPOINTS = {"auth.login", "main.set_language"}

_hasher = PasswordHasher()
# Verified against when the account does not exist, so both paths cost one Argon2 verification.
_DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: User | None, password: str) -> bool:
    stored = user.password_hash if user is not None else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None


def find_account(identifier: str) -> User | None:
    """An account by staff number or e-mail (case-insensitive)."""
    identifier = identifier.strip()
    return db.session.scalar(
        sa.select(User).where(
            sa.or_(User.staff_no == identifier, sa.func.lower(User.email) == identifier.lower())
        )
    )


class LoginRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def authenticate(identifier: str, password: str) -> User:
    """The account these credentials open, or LoginRefused with a message for the user.

    Unknown account, wrong password and deactivated account get the same message. A throttled
    account is refused before its password is checked, so guessing cannot continue meanwhile.
    """
    user = find_account(identifier)
    now = clock.now()
    if user is not None and user.locked_until and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise LoginRefused(
            _("Too many failed attempts. Try again in %(minutes)d minutes.", minutes=minutes)
        )
    if not verify_password(user, password) or user is None or not user.active:
        if user is not None:
            _count_failure(user, now)
        raise LoginRefused(_("Staff number / e-mail or password is not correct."))
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    return user


def _count_failure(user: User, now: datetime) -> None:
    user.failed_logins += 1
    if user.failed_logins >= current_app.config["LOGIN_MAX_FAILURES"]:
        user.locked_until = now + timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
        user.failed_logins = 0


def start_session(user: User) -> None:
    """A fresh session for a signed-in user: nothing of the anonymous session survives."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session.permanent = True
    login_user(user)
    now = int(clock.now().timestamp())
    session["login_at"] = now
    session["seen_at"] = now


def end_all_sessions(user: User) -> None:
    """Invalidate every session of `user` (the version in their cookies no longer matches)."""
    user.session_version += 1


def sign_out() -> None:
    if current_user.is_authenticated:
        end_all_sessions(current_user)
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def is_safe_next(target: str | None) -> bool:
    """Only a path on this portal: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


@login_manager.user_loader
def load_user(token: str) -> User | None:
    user_id, _, version = token.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def _session_expired() -> bool:
    now = int(clock.now().timestamp())
    config = current_app.config
    idle = now - session.get("seen_at", 0) > config["SESSION_IDLE_MINUTES"] * 60
    too_old = now - session.get("login_at", 0) > config["SESSION_ABSOLUTE_HOURS"] * 3600
    return idle or too_old


STATIC_ENDPOINTS = {"static", "bootstrap.static"}


def _require_login() -> Response | None:
    if request.endpoint in STATIC_ENDPOINTS:
        return None
    if current_user.is_authenticated and _session_expired():
        logout_user()
        session.clear()
        session["expired"] = True
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if not current_user.is_authenticated:
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("auth.login", next=target.rstrip("?") if target else None))
    session["seen_at"] = int(clock.now().timestamp())
    return None


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if request.endpoint not in STATIC_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to continue.")
    app.before_request(_require_login)
    app.after_request(_headers)
