"""The installation's mail server and portal address: environment, then database, then default.

An administrator sets them on the settings page (one MailSettings row for the installation:
one mail server and one portal address serve every agency). A variable set in the environment
always wins and cannot be changed from the web, so an operator can pin a value. The SMTP
password is stored encrypted with Fernet under a key derived from SECRET_KEY: a copy of the
database alone does not reveal it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, g

from app.core.extensions import db
from app.keys.serverkey import CHANNELS, decrypt, encrypt
from app.models import MailSettings

__all__ = ["CHANNELS", "decrypt", "encrypt"]  # the secrets' sealing, for settings and channels

# field -> the configuration / environment variable it stands for
FIELDS = {
    "smtp_host": "SMTP_HOST",
    "smtp_port": "SMTP_PORT",
    "smtp_tls": "SMTP_TLS",
    "smtp_user": "SMTP_USER",
    "smtp_password": "SMTP_PASSWORD",
    "mail_from": "MAIL_FROM",
    "portal_base_url": "PORTAL_BASE_URL",
}
SECRET_FIELDS = frozenset({"smtp_password"})
MASK = "******"


def stored() -> MailSettings | None:
    return db.session.get(MailSettings, 1)


def from_environment(field: str) -> bool:
    return FIELDS[field] in os.environ


def value(field: str, row: MailSettings | None) -> object:
    """The effective value of one field (the password decrypted)."""
    saved = getattr(row, field) if row is not None else None
    if from_environment(field) or saved is None:
        return current_app.config[FIELDS[field]]
    if field == "smtp_password":
        return decrypt(saved) or ""
    return saved


@dataclass(frozen=True)
class Effective:
    smtp_host: str
    smtp_port: int
    smtp_tls: bool
    smtp_user: str
    smtp_password: str
    mail_from: str
    portal_base_url: str

    @property
    def base_url(self) -> str:
        return self.portal_base_url.rstrip("/")


def effective() -> Effective:
    """The settings in force, read once per application context (a request, a scheduler round):
    rendering 100,000 e-mails must not query them 100,000 times."""
    if "mail_settings" not in g:
        row = stored()
        g.mail_settings = Effective(**{field: value(field, row) for field in FIELDS})
    return g.mail_settings


def forget() -> None:
    """Drop the cached settings after a change, so this context sees the new ones."""
    g.pop("mail_settings", None)


def unreadable_password(row: MailSettings | None) -> bool:
    """A password is stored but the current SECRET_KEY cannot decrypt it."""
    return bool(row and row.smtp_password and decrypt(row.smtp_password) is None)


def link(endpoint: str, **values: object) -> str:
    """An absolute link to a page of the portal, for an e-mail: built from the routes (so it
    follows them when they move) against the portal's address, outside any request."""
    base = urlsplit(effective().base_url)
    adapter = current_app.url_map.bind(base.netloc or "localhost", script_name=base.path or "/",
                                       url_scheme=base.scheme or "https")
    return adapter.build(endpoint, values, force_external=True)
