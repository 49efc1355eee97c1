"""An uploaded import file kept on the server between its preview and its import.

The preview page must not send the data back through the browser (a hidden field could be
edited): the bytes are written under IMPORT_DIR with a random name, and only that name goes to
the page, bound to the administrator's session. The import reads the file again, checks every
row again (the database may have changed meanwhile) and deletes it. Files older than
MAX_AGE are removed whenever a new one arrives.
"""

from __future__ import annotations

import hmac
import secrets
import time
from pathlib import Path

from flask import current_app, session

MAX_AGE_SECONDS = 3600
SESSION_KEY = "pending_imports"


def _folder() -> Path:
    folder = Path(current_app.config["IMPORT_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _prune(folder: Path) -> None:
    limit = time.time() - MAX_AGE_SECONDS
    for path in folder.iterdir():
        if path.is_file() and path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)


def keep(kind: str, raw: bytes) -> str:
    """Store the bytes; returns the token the preview page carries."""
    folder = _folder()
    _prune(folder)
    discard(kind)
    token = secrets.token_urlsafe(24)
    (folder / token).write_bytes(raw)
    session[SESSION_KEY] = {**session.get(SESSION_KEY, {}), kind: token}
    return token


def load(kind: str, token: str) -> bytes | None:
    """The bytes kept under `token`, if this session kept them and they have not expired."""
    mine = session.get(SESSION_KEY, {}).get(kind, "")
    if not mine or not hmac.compare_digest(mine, token):
        return None
    path = _folder() / mine
    if not path.is_file() or path.stat().st_mtime < time.time() - MAX_AGE_SECONDS:
        return None
    return path.read_bytes()


def discard(kind: str) -> None:
    pending = dict(session.get(SESSION_KEY, {}))
    token = pending.pop(kind, None)
    if token:
        (_folder() / token).unlink(missing_ok=True)
        session[SESSION_KEY] = pending
