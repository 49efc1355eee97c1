"""Two-factor sign-in: TOTP codes (RFC 6238) and one-time recovery codes.

- Mandatory for the roles in TWO_FACTOR_ROLES (reviewer, leader, admin by default), optional for
  the others. The secret is kept once the user has proved, with a code, that their app has it.
- A code is accepted for the current 30-second step and one step either side (clock drift), and
  only for a step later than the last one accepted: a code seen over a shoulder or replayed from
  a log is refused, even within its validity window.
- Recovery codes: ten random codes shown once; only their SHA-256 digests are stored, and each
  works once. Regenerating replaces every unused one.
- Time comes from app.clock, so tests move it.

Plain functions that only flush; the throttle on wrong codes is app.security's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app

from app.core import clock
from app.core.extensions import db
from app.models import RecoveryCode, User

RECOVERY_CODES = 10
# Lower-case letters and digits without the look-alikes (0/o, 1/l/i): 31 symbols, 12 of them.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 12
TOLERANCE = 1  # steps either side of the current one


def required(user: User) -> bool:
    """Whether the user's roles make a second factor mandatory."""
    return user.has_role(*current_app.config["TWO_FACTOR_ROLES"])


def enabled(user: User) -> bool:
    return user.totp_secret is not None


def needs_enrolment(user: User) -> bool:
    """A privileged account without a second factor yet: it may do nothing but enrol."""
    return required(user) and not enabled(user)


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, as RFC 4226 recommends


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.staff_no,
                                               issuer_name=current_app.config["TOTP_ISSUER"])


def qr_data_uri(uri: str) -> str:
    """The QR code of `uri` as an SVG data: URI for an <img> (drawn here, no external service)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _matching_step(secret: str, code: str, after: int | None) -> int | None:
    """The time step, within the tolerance and later than `after`, whose code is `code`."""
    totp = pyotp.TOTP(secret)
    now = totp.timecode(clock.now())
    for step in range(now - TOLERANCE, now + TOLERANCE + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _digits(code: str) -> str:
    return "".join(code.split())


def check_totp(user: User, code: str) -> bool:
    """Accept a TOTP code once: its step becomes the last one used.

    The step is taken with one compare-and-set UPDATE (only if it is later than the last one
    accepted), so when the same fresh code arrives from several sessions at once, exactly one
    wins, in any number of processes."""
    step = _matching_step(user.totp_secret or "", _digits(code), user.totp_last_step)
    if step is None:
        return False
    won = db.session.execute(
        sa.update(User)
        .where(User.id == user.id,
               sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False))
    db.session.expire(user, ["totp_last_step"])
    return won.rowcount == 1


def _recovery_digest(code: str) -> str:
    normal = "".join(c for c in code.lower() if c.isalnum())
    return hashlib.sha256(normal.encode()).hexdigest()


def use_recovery_code(user: User, code: str) -> bool:
    """Accept an unused recovery code of the user's, once. The UPDATE's condition makes two
    simultaneous uses of the same code count once."""
    result = db.session.execute(
        sa.update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None),
               RecoveryCode.code_hash == _recovery_digest(code))
        .values(used_at=clock.now()).execution_options(synchronize_session=False))
    return result.rowcount == 1


def check(user: User, code: str) -> str | None:
    """The method a second-factor entry passes with ("totp" or "recovery"), or None."""
    if not enabled(user) or not code.strip():
        return None
    if len(_digits(code)) == 6 and _digits(code).isdigit():  # recovery codes have twelve
        return "totp" if check_totp(user, code) else None
    return "recovery" if use_recovery_code(user, code) else None


def _recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, RECOVERY_LENGTH, 4))


def new_recovery_codes(user: User) -> list[str]:
    """Ten fresh codes (shown once); every earlier unused code stops working."""
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id,
                                                     RecoveryCode.used_at.is_(None)))
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    db.session.add_all([RecoveryCode(user_id=user.id, code_hash=_recovery_digest(code),
                                     created_at=clock.now()) for code in codes])
    db.session.flush()
    return codes


def remaining_recovery_codes(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def enable(user: User, secret: str, code: str) -> list[str] | None:
    """Keep `secret` if `code` proves the app has it; returns the recovery codes, or None."""
    step = _matching_step(secret, _digits(code), None)
    if step is None:
        return None
    user.totp_secret = secret
    user.totp_last_step = step
    return new_recovery_codes(user)


def disable(user: User) -> None:
    """Forget the second factor (an auditor's choice, or the operator's reset)."""
    user.totp_secret = None
    user.totp_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))

