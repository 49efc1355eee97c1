"""Configuration classes, read from the environment.

`create_app` picks one by name (``PORTAL_CONFIG`` or its argument). Production refuses to start
without a real ``SECRET_KEY`` and ``DATABASE_URL``: a forgotten variable must never fall back to a
development default on a server that holds confidential reports.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("PORTAL_INSTANCE_DIR", BASE_DIR / "instance"))


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_url(default: str | None) -> str | None:
    url = os.environ.get("DATABASE_URL", default)
    # Heroku-style URLs name the driver "postgres"; SQLAlchemy wants the psycopg 3 dialect.
    if url and url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Config:
    # No default: without SECRET_KEY the app generates a random key on first start and keeps it
    # in the instance folder (app/secrets.py). A published default would let anyone forge a
    # session cookie for any account.
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    SQLALCHEMY_DATABASE_URI = _database_url(f"sqlite:///{INSTANCE_DIR / 'portal.sqlite'}")
    # hide_parameters: an error's message and the log never carry the values of a statement
    # (they may be incident text).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")  # of the portal's log lines on stderr
    # gc.freeze() what the app is built of (app/__init__.py register_heap); not in tests.
    FREEZE_HEAP = True

    # Sessions: a signed cookie plus a per-user session version checked on every request,
    # so logout, a password change or deactivation end every session of that user.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_DURATION = timedelta(seconds=0)
    SESSION_IDLE_MINUTES = _int("SESSION_IDLE_MINUTES", 30)
    SESSION_ABSOLUTE_HOURS = _int("SESSION_ABSOLUTE_HOURS", 12)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=SESSION_ABSOLUTE_HOURS)

    LOGIN_MAX_FAILURES = _int("LOGIN_MAX_FAILURES", 5)
    LOGIN_LOCK_MINUTES = _int("LOGIN_LOCK_MINUTES", 15)
    PASSWORD_MIN_LENGTH = 12
    PASSWORD_MAX_LENGTH = 128
    # New passwords must reach this zxcvbn score (0-4): 3 refuses the common passwords of its
    # leaked-password lists, their variants (l33t, reversed, digits added) and trivial patterns.
    PASSWORD_MIN_SCORE = _int("PASSWORD_MIN_SCORE", 3)
    # Two-factor sign-in (TOTP): mandatory for these roles, optional for the others.
    TWO_FACTOR_ROLES = tuple(
        role.strip() for role in os.environ.get(
            "TWO_FACTOR_ROLES", "reviewer,leader,admin,install_admin").split(",") if role.strip()
    )
    TOTP_ISSUER = os.environ.get("TOTP_ISSUER", "审计独立性平台")  # the name authenticator apps show
    # How long a first sign-in or password reset link works (it works once).
    SIGNIN_LINK_HOURS = _int("SIGNIN_LINK_HOURS", 72)

    # Sign-in against the bureau's directory (app/auth/directory.py): on when LDAP_URL is set
    # (ldap://host:389 or ldaps://host:636). The entry whose LDAP_USER_ATTRIBUTE holds the staff
    # number, under LDAP_BASE_DN, found after the service bind if one is set, must accept the
    # password. Only the staff numbers of LDAP_LOCAL_ACCOUNTS keep a portal password.
    LDAP_URL = os.environ.get("LDAP_URL", "")
    LDAP_BASE_DN = os.environ.get("LDAP_BASE_DN", "")
    LDAP_USER_ATTRIBUTE = os.environ.get("LDAP_USER_ATTRIBUTE", "uid")
    LDAP_BIND_DN = os.environ.get("LDAP_BIND_DN", "")
    LDAP_BIND_PASSWORD = os.environ.get("LDAP_BIND_PASSWORD", "")
    LDAP_TIMEOUT = _int("LDAP_TIMEOUT", 5)  # seconds to connect, and to wait for each answer
    LDAP_CA_FILE = os.environ.get("LDAP_CA_FILE", "")  # ldaps://: CAs to trust (default: system)
    LDAP_LOCAL_ACCOUNTS = tuple(
        staff_no.strip() for staff_no in os.environ.get("LDAP_LOCAL_ACCOUNTS", "").split(",")
        if staff_no.strip()
    )

    # Content encryption at rest (app/keys): the AEAD for what is sealed from now on
    # ("aes-256-gcm", or "sm4-gcm" where national algorithms are required; both keep opening),
    # and the Argon2id cost of the key derived from each person's password at sign-in (OWASP's
    # m=19 MiB, t=2, p=1, as for the password hash; stored with each ring, so it can change).
    CONTENT_CIPHER = os.environ.get("CONTENT_CIPHER", "aes-256-gcm")
    KEY_KDF_TIME_COST = _int("KEY_KDF_TIME_COST", 2)
    KEY_KDF_MEMORY_KIB = _int("KEY_KDF_MEMORY_KIB", 19 * 1024)
    KEY_KDF_LANES = _int("KEY_KDF_LANES", 1)
    # The secret the names' fingerprints are keyed with (app/keys/fingerprints.py): kept out of
    # the database like SECRET_KEY; unset, SECRET_KEY serves (through HKDF for this purpose).
    # Set it of its own so that changing SECRET_KEY leaves the pattern alerts' matches alone.
    FINGERPRINT_KEY = os.environ.get("FINGERPRINT_KEY") or None

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session; expiry is the session's

    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = {"zh_CN": "中文", "en": "English"}

    BOOTSTRAP_SERVE_LOCAL = True  # intranets have no internet: Bootstrap comes from our own server

    EVIDENCE_DIR = Path(os.environ.get("EVIDENCE_DIR", INSTANCE_DIR / "evidence"))
    EVIDENCE_MAX_BYTES = 10 * 1024 * 1024
    EVIDENCE_MAX_FILES = 5
    MAX_CONTENT_LENGTH = EVIDENCE_MAX_FILES * EVIDENCE_MAX_BYTES + 1024 * 1024
    # Uploaded staff / project lists between their preview and their import (an hour at most).
    IMPORT_DIR = Path(os.environ.get("IMPORT_DIR", INSTANCE_DIR / "imports"))

    # Number of reverse proxies (nginx, …) in front of the portal: their X-Forwarded-For and
    # X-Forwarded-Proto are trusted so the audit log records the real client address.
    PROXY_COUNT = _int("PROXY_COUNT", 0)
    # Strict-Transport-Security max-age in seconds (0: no header). Production sends it by
    # default: the portal is served over TLS there, and the header stops a downgrade to HTTP.
    HSTS_SECONDS = _int("HSTS_SECONDS", 0)

    # E-mail (reminders and notices). No SMTP_HOST: notices appear in the portal only.
    SMTP_HOST = os.environ.get("SMTP_HOST", "")
    SMTP_PORT = _int("SMTP_PORT", 25)
    SMTP_USER = os.environ.get("SMTP_USER", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_TLS = _bool("SMTP_TLS", False)  # STARTTLS after connecting
    SMTP_TIMEOUT = _int("SMTP_TIMEOUT", 30)
    # Seconds before a silent messaging channel (WeCom, DingTalk, the OA's webhook) counts as down.
    CHANNEL_TIMEOUT = _int("CHANNEL_TIMEOUT", 10)
    MAIL_FROM = os.environ.get("MAIL_FROM", "portal@localhost")
    PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:5000")
    # The reminder schedule (local time of each agency) and delivery retries.
    REMINDER_HOUR = _int("REMINDER_HOUR", 9)
    REMINDER_APPROACHING_DAYS = _int("REMINDER_APPROACHING_DAYS", 3)
    REMINDER_OVERDUE_EVERY_DAYS = _int("REMINDER_OVERDUE_EVERY_DAYS", 3)
    REMINDER_OVERDUE_TIMES = _int("REMINDER_OVERDUE_TIMES", 3)
    REMINDER_DIGEST_EVERY_DAYS = _int("REMINDER_DIGEST_EVERY_DAYS", 7)
    REMINDER_DIGEST_TIMES = _int("REMINDER_DIGEST_TIMES", 4)
    # Only the `flask scheduler` process runs jobs, and only where this is on; web workers never
    # run them. Tests switch it off so a stray scheduler cannot send during a test run.
    SCHEDULER_ENABLED = _bool("SCHEDULER_ENABLED", True)
    REMINDER_INTERVAL_MINUTES = _int("REMINDER_INTERVAL_MINUTES", 5)
    REMINDER_RETRY_SECONDS = _int("REMINDER_RETRY_SECONDS", 60)
    # The audit log's head is noted outside the database at each signature and every N minutes
    # of the scheduler: in the application log, and in this file (JSON lines) and/or this
    # syslog target ("/dev/log" or "host:port") when set. Keep them where the database's
    # administrators cannot write.
    AUDIT_CHECKPOINT_FILE = os.environ.get("AUDIT_CHECKPOINT_FILE", "")
    AUDIT_CHECKPOINT_SYSLOG = os.environ.get("AUDIT_CHECKPOINT_SYSLOG", "")
    AUDIT_CHECKPOINT_MINUTES = _int("AUDIT_CHECKPOINT_MINUTES", 60)
    # How often the scheduler keeps the month hashes of last year's records digest (the draft
    # then reads only the months changed since: app/statement/digest.py keep_months).
    DIGEST_MONTHS_MINUTES = _int("DIGEST_MONTHS_MINUTES", 60)
    # /healthz: the scheduler's last round at most this old, no notice due for longer than that.
    HEALTH_SCHEDULER_MINUTES = _int("HEALTH_SCHEDULER_MINUTES", 3 * REMINDER_INTERVAL_MINUTES)
    HEALTH_OUTBOX_MINUTES = _int("HEALTH_OUTBOX_MINUTES", 60)
    # How long a sender holds the outbox rows it claimed; renewed before each message, so it
    # must only outlast the slowest single send (a few SMTP_TIMEOUTs).
    OUTBOX_LEASE_SECONDS = _int("OUTBOX_LEASE_SECONDS", 300)
    # The personal annual confirmation opens on this day (MM-DD) of the year it confirms, with a
    # reminder then and every N days, K times, to those who have not confirmed.
    CONFIRMATION_OPENS = os.environ.get("CONFIRMATION_OPENS", "12-01")
    CONFIRMATION_REMINDER_EVERY_DAYS = _int("CONFIRMATION_REMINDER_EVERY_DAYS", 7)
    CONFIRMATION_REMINDER_TIMES = _int("CONFIRMATION_REMINDER_TIMES", 3)
    # The archival PDF of the annual statement embeds this font (a TTF, OTF or TTC with Chinese
    # glyphs; in a collection the Simplified Chinese face is chosen).
    PDF_FONT = os.environ.get("PDF_FONT",
                              "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc")
    PDF_FONT_BOLD = os.environ.get("PDF_FONT_BOLD",
                                   "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc")
    # Those faces cut to a document's glyphs, kept on disk for every worker and restart
    # (app/statement/document.py): a glyph set is cut once per installation, not per process.
    PDF_FONT_CACHE = Path(os.environ.get("PDF_FONT_CACHE", INSTANCE_DIR / "fonts"))
    TESTING = False


class DevelopmentConfig(Config):
    DEBUG = False  # the debugger would show stack traces; errors show the generic page everywhere


class TestingConfig(Config):
    TESTING = True
    FREEZE_HEAP = False
    SECRET_KEY = "test-secret"
    SQLALCHEMY_DATABASE_URI = _database_url(None) or "sqlite://"
    SCHEDULER_ENABLED = False
    # Key rings are made for every account a test signs in: the cheapest Argon2id (the
    # parameters are stored with each ring, so this weakens nothing outside tests).
    KEY_KDF_TIME_COST = 1
    KEY_KDF_MEMORY_KIB = 64


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
    HSTS_SECONDS = _int("HSTS_SECONDS", 365 * 24 * 3600)

    @classmethod
    def check(cls) -> None:
        missing = [
            name
            for name in ("SECRET_KEY", "DATABASE_URL")
            if not os.environ.get(name)
        ]
        if missing:
            raise RuntimeError(
                "Production configuration needs these environment variables: " + ", ".join(missing)
            )


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
