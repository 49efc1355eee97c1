"""API tokens: made by an agency's administrator for one client, shown once, stored as their
SHA-256 digest, revocable. These functions only flush; the caller commits."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from app.core import auditlog, clock
from app.core.extensions import db
from app.models import Agency, ApiToken, User

PREFIX = "aip_"  # recognisable in a leaked configuration file, like other services' keys


@dataclass(frozen=True)
class Issued:
    row: ApiToken
    token: str  # the only time it exists in clear


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create(agency: Agency, name: str, actor: User) -> Issued:
    """A new token for the client `name`: 32 random bytes (256 bits), so a plain digest is
    enough (nothing to guess a dictionary of, unlike a password)."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(agency_id=agency.id, name=name.strip(), token_hash=digest(token),
                   created_by_id=actor.id, created_at=clock.now())
    db.session.add(row)
    db.session.flush()
    auditlog.record("api_token.created", row, actor_id=actor.id, client=row.name)
    return Issued(row, token)


def revoke(row: ApiToken, actor: User) -> None:
    if row.revoked_at is not None:
        return
    row.revoked_at = clock.now()
    auditlog.record("api_token.revoked", row, actor_id=actor.id, client=row.name)


def of_agency(agency: Agency) -> list[ApiToken]:
    return list(db.session.scalars(sa.select(ApiToken).where(ApiToken.agency_id == agency.id)
                                   .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id)))


def find(token: str) -> ApiToken | None:
    """The token row `token` names, revoked or not; None for anything else."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    return db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == digest(token)))


def used(row: ApiToken, endpoint: str, path: str) -> None:
    """A call with `row`: noted on the token and in the audit log (under its agency)."""
    row.last_used_at = clock.now()
    auditlog.record("api.called", row, client=row.name, endpoint=endpoint, path=path[:300])
