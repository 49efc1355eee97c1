"""Secrets the portal itself must read (the SMTP password, the channels' webhook secrets, the
TOTP secrets), sealed with Fernet under keys derived from SECRET_KEY, one per purpose.

This is not the content encryption (app/keys/crypto.py, keys held by people): the server has to
use these secrets unattended. What it buys is that a copy of the database alone (a backup, a
dump handed to a colleague) reveals none of them.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

SMTP = b"audit-portal smtp password"
CHANNELS = b"audit-portal channel secrets"
FERNET_PREFIX = "gAAAAA"  # every Fernet token starts so (version byte and timestamp)


def _fernet(purpose: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=purpose).derive(current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str, purpose: bytes | None = None) -> str:
    return _fernet(purpose or SMTP).encrypt(secret.encode()).decode()


def decrypt(token: str, purpose: bytes | None = None) -> str | None:
    """The secret, or None when it cannot be read (SECRET_KEY changed since it was stored)."""
    try:
        return _fernet(purpose or SMTP).decrypt(token.encode()).decode()
    except InvalidToken:
        return None


class ServerSealed:
    """A model attribute kept in its column as a Fernet token: `user.totp_secret` reads and
    writes the secret itself. A value from before sealing (not a token) reads as it is;
    `flask keys init` seals it."""

    def __init__(self, column: str, purpose: bytes) -> None:
        self.column = column
        self.purpose = purpose

    def __get__(self, obj: Any, cls: type | None = None) -> Any:
        if obj is None:
            return self
        stored = getattr(obj, self.column)
        if not stored or not stored.startswith(FERNET_PREFIX):
            return stored
        return decrypt(stored, self.purpose)

    def __set__(self, obj: Any, value: str | None) -> None:
        setattr(obj, self.column, encrypt(value, self.purpose) if value else value)
