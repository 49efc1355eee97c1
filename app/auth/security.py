"""Sign-in, sessions and response headers.

- Passwords are hashed with Argon2id at OWASP's recommended m=19 MiB, t=2, p=1: about 35 ms
  of one core per check (argon2-cffi's RFC 9106 default, m=64 MiB t=3 p=4, takes 190-270 ms:
  5,000 sign-ins in the ten minutes before a deadline would take most of a 2-core server).
  OWASP's other set, m=46 MiB t=1 p=1, measured 2.5x slower here and needs more memory per
  concurrent sign-in. Hashes made with other parameters are rehashed at the next sign-in.
- A sign-in whose key ring is bound to the current hash is proven by opening the ring
  (custody.ring_opens): one Argon2id computation instead of two (the hash, then the ring's
  key). A refused password always costs two, whether the account exists or not.
- Sessions are signed cookies carrying "user id:session version"; bumping the user's version
  (logout, password change, deactivation) ends every session of that user on every device.
- Every route needs a signed-in user unless it is listed in PUBLIC_ENDPOINTS (default deny).
- With LDAP_URL set, the password is the directory's (app/auth/directory.py) for every account
  but those of LDAP_LOCAL_ACCOUNTS; the throttle, the second factor and sessions stay these.
- Accounts with a second factor (app/auth/twofactor.py) are signed in only after their code; a
  privileged account without one reaches nothing but the enrolment page (ENROLMENT_ENDPOINTS).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, Response, abort, current_app, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user

from app.auth import directory, twofactor
from app.core import clock
from app.core.bounds import has_control_character
from app.core.extensions import db, login_manager
from app.core.refusals import Refused
from app.keys import custody
from app.models import User

PUBLIC_ENDPOINTS = {"auth.login", "auth.second_step", "auth.welcome", "home.set_language",
                    "home.healthz", "home.moved_auth_login", "home.moved_auth_welcome"}
# Blueprints whose routes authenticate every call themselves, never by a session (the API, by
# its token: app/api/tokens.py): exempt from the sign-in redirect, deliberately and by name.
TOKEN_BLUEPRINTS = {"api"}
# All a privileged account without a second factor may reach until it has enrolled.
ENROLMENT_ENDPOINTS = {"auth.two_factor", "auth.logout", "home.set_language"}

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
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


class LoginRefused(Refused):
    """A sign-in step refused; `user` is the account the identifier named, if any (the log
    files the attempt under its agency)."""

    def __init__(self, message: str, user: User | None = None, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.user = user
        self.status = status


def check_password(user: User | None, identifier: str, password: str) -> bool:
    """The first factor: the directory's password where it decides (never the portal's as a
    fallback: DirectoryUnavailable when it gives no verdict), else the portal's own."""
    if directory.uses_directory(user):
        # An unknown account is looked up in the directory too, so both paths cost a search
        # and a bind, and a directory that is down says so whoever asks.
        return directory.check(user.staff_no if user is not None else identifier.strip(),
                               password) and user is not None
    opened = custody.ring_opens(user, password) if user is not None else None
    if opened:
        return True
    right = verify_password(user, password)
    if not right and opened is None:
        custody.pad(password)
    return right


def _checked(user: User | None, identifier: str, password: str) -> bool:
    """check_password after claim_attempt: a directory without a verdict gives the attempt
    back (it was not a wrong password) and refuses with 503."""
    try:
        return check_password(user, identifier, password)
    except directory.DirectoryUnavailable as down:
        if user is not None:
            give_back_attempt(user)
        raise LoginRefused(down.message, user, status=503) from None


def authenticate(identifier: str, password: str) -> User:
    """The account these credentials open, or LoginRefused with a message for the user.

    Unknown account, wrong password and deactivated account get the same message. Each try
    takes one of the account's allowed attempts *before* the password is checked
    (`claim_attempt`), so that N simultaneous wrong tries count N and the one past the limit is
    refused unchecked, whatever the number of workers. A right password gives its attempt
    back; the count is cleared by `complete_sign_in`, so a right password followed by wrong
    second-factor codes keeps counting towards the throttle.
    """
    user = find_account(identifier)
    if user is not None:
        claim_attempt(user)
    if not _checked(user, identifier, password) or user is None or not user.active:
        if user is not None:
            settle_failure(user)
        raise LoginRefused(_("Staff number / e-mail or password is not correct."), user)
    give_back_attempt(user)
    if directory.uses_directory(user):
        # A directory user has no portal password: one left from before LDAP is dropped, so
        # it can never come back into force (e.g. if LDAP_URL is unset by mistake).
        user.password_hash = None
    elif _hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    return user


def _throttled(user: User) -> LoginRefused:
    db.session.refresh(user, ["locked_until"])
    now = clock.now()
    until = user.locked_until if user.locked_until and user.locked_until > now else now
    minutes = max(1, int((until - now).total_seconds() // 60) + 1)
    return LoginRefused(
        _("Too many failed attempts. Try again in %(minutes)d minutes.", minutes=minutes), user)


def claim_attempt(user: User) -> None:
    """Take one attempt of the account's allowance, or LoginRefused while it is throttled.

    One UPDATE that both checks and counts, committed at once (before the slow check it
    guards), so concurrent requests in any number of processes each see the others' tries:
    the decision cannot be read, raced and written back."""
    now = clock.now()
    claimed = db.session.execute(
        sa.update(User)
        .where(User.id == user.id,
               User.failed_logins < current_app.config["LOGIN_MAX_FAILURES"],
               sa.or_(User.locked_until.is_(None), User.locked_until <= now))
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)).scalar()
    if claimed is None:
        # Refused: the allowance is used up. Lock now if no one did yet (a process killed
        # between its claim and its verdict must not leave the account refused for good).
        settle_failure(user)
    db.session.commit()
    if claimed is None:
        raise _throttled(user)


def settle_failure(user: User) -> None:
    """The claimed attempt failed: the last one allowed locks the account for a while."""
    db.session.execute(
        sa.update(User)
        .where(User.id == user.id,
               User.failed_logins >= current_app.config["LOGIN_MAX_FAILURES"])
        .values(failed_logins=0, locked_until=clock.now() + timedelta(
            minutes=current_app.config["LOGIN_LOCK_MINUTES"]))
        .execution_options(synchronize_session=False))
    db.session.expire(user, ["failed_logins", "locked_until"])


def give_back_attempt(user: User) -> None:
    """A right password does not count as a failure."""
    db.session.execute(
        sa.update(User).where(User.id == user.id, User.failed_logins > 0)
        .values(failed_logins=User.failed_logins - 1)
        .execution_options(synchronize_session=False))
    db.session.expire(user, ["failed_logins"])


def check_second_factor(user: User, code: str) -> str:
    """The method the code passed with ("totp" or "recovery"), or LoginRefused (counted)."""
    claim_attempt(user)
    method = twofactor.check(user, code)
    if method is None:
        settle_failure(user)
        raise LoginRefused(_("The code is not correct, or it has already been used."))
    give_back_attempt(user)
    return method


def reauthenticate(user: User, password: str, code: str) -> str | None:
    """Re-check the signed-in user's identity before a weighty step (signing a statement):
    the password and, if the account has one, the second factor. Returns what is wrong, in the
    user's language, or None. Failures count towards the sign-in throttle."""
    try:
        claim_attempt(user)
        if not _checked(user, user.staff_no, password):
            settle_failure(user)
            return _("The password is not correct.")
        give_back_attempt(user)
        if twofactor.enabled(user):
            check_second_factor(user, code)
    except LoginRefused as refused:
        return refused.message
    return None


def complete_sign_in(user: User, keys: str | None) -> None:
    """Every factor passed: clear the failure count and start a fresh session holding the
    keys unlocked with the password (app/keys/custody.py)."""
    db.session.execute(sa.update(User).where(User.id == user.id)
                       .values(failed_logins=0, locked_until=None)
                       .execution_options(synchronize_session=False))
    db.session.expire(user, ["failed_logins", "locked_until"])
    start_session(user, keys)


def clear_session() -> None:
    """Empty the session but for the language chosen."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def start_session(user: User, keys: str | None) -> None:
    """A fresh session for a signed-in user: nothing of the anonymous session survives but
    the cookie's half of the keys unlocked for it (`keys`)."""
    clear_session()
    session.permanent = True
    if keys:
        session[custody.SESSION_FIELD] = keys
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
        custody.forget(current_user)
    logout_user()
    clear_session()


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
    if (request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None
            or request.blueprint in TOKEN_BLUEPRINTS):
        return None
    if not current_user.is_authenticated:
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("auth.login", next=target.rstrip("?") if target else None))
    session["seen_at"] = int(clock.now().timestamp())
    if request.endpoint not in ENROLMENT_ENDPOINTS and twofactor.needs_enrolment(current_user):
        if request.method != "GET":
            abort(403)
        return redirect(url_for("auth.two_factor"))
    return None


def _refuse_control_characters() -> None:
    """A control character in the path or a query parameter is bad input for every page (forms
    refuse it field by field, app/core/forms.py): 400 before any view or query sees it."""
    values = [request.path, *request.args.keys(), *request.args.values()]
    if any(has_control_character(value) for value in values):
        abort(400, description=_("The address contains an invisible control character (such "
                                 "as NUL). Remove it and try again."))


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    if current_app.config["HSTS_SECONDS"]:
        response.headers["Strict-Transport-Security"] = (
            f"max-age={current_app.config['HSTS_SECONDS']}; includeSubDomains")

    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if request.endpoint not in STATIC_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to continue.")
    app.before_request(_refuse_control_characters)
    app.before_request(_require_login)
    app.after_request(_headers)
    app.jinja_env.globals["uses_directory"] = directory.uses_directory
