"""Writes to the append-only audit log: who, when, what, which object, from which address.

Entries are added to the current session and committed with the change they describe, so a
change and its log entry stand or fall together.
"""

from __future__ import annotations

import json

from flask import has_request_context, request
from flask_login import current_user

from app import clock
from app.extensions import db
from app.models import AuditLog


def client_address() -> str:
    """The caller's address (behind a proxy, configure ProxyFix so this is the real client)."""
    return (request.remote_addr or "") if has_request_context() else "cli"


def record(action: str, obj: object | None = None, *, actor_id: int | None = None,
           **detail: object) -> AuditLog:
    if actor_id is None and has_request_context() and current_user.is_authenticated:
        actor_id = current_user.id
    entry = AuditLog(
        at=clock.now(),
        actor_id=actor_id,
        action=action,
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=getattr(obj, "id", None),
        ip=client_address(),
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str),
    )
    db.session.add(entry)
    return entry
