"""Who may see what: the one place that decides it. Views ask here and nowhere else.

The rule (PRODUCT.md): incident content is visible to its registrant and to the discipline office
(`reviewer`) of the same agency, and to nobody else: not to leaders, not to administrators, whoever
they are. Anything a user may not see answers 404, exactly as an id that does not exist, so ids
cannot be probed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from flask import abort
from flask_login import current_user

from app.extensions import db
from app.models import AnnualStatement, Evidence, Incident, MonthlyReport, User

CONTENT_ROLES = frozenset({"reviewer"})
F = TypeVar("F", bound=Callable[..., object])


def can_file(user: User) -> bool:
    return user.active and user.has_role("auditor")


def can_read_incident(user: User, incident: Incident) -> bool:
    if incident.user_id == user.id:
        return True
    return user.agency_id == incident.agency_id and bool(user.roles & CONTENT_ROLES)


def incident_or_404(user: User, incident_id: int) -> Incident:
    incident = db.session.get(Incident, incident_id)
    if incident is None or not can_read_incident(user, incident):
        abort(404)
    return incident


def own_incident_or_404(user: User, incident_id: int) -> Incident:
    """Only the registrant may correct a registration."""
    incident = db.session.get(Incident, incident_id)
    if incident is None or incident.user_id != user.id:
        abort(404)
    return incident


def evidence_or_404(user: User, evidence_id: int) -> Evidence:
    evidence = db.session.get(Evidence, evidence_id)
    if evidence is None:
        abort(404)
    incident_or_404(user, evidence.incident_id)
    return evidence


def own_report(user: User, period: str) -> MonthlyReport | None:
    return db.session.scalar(
        sa.select(MonthlyReport).where(
            MonthlyReport.user_id == user.id, MonthlyReport.period == period
        )
    )


def role_required(*roles: str) -> Callable[[F], F]:
    """A view only for users holding one of `roles`; others get 403 (the page exists for some)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: object, **kwargs: object) -> object:
            if not current_user.is_authenticated or not current_user.roles & set(roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def reviewable_or_404(user: User, incident_id: int) -> Incident:
    """An incident of the reviewer's own agency; anything else looks like a missing id."""
    incident = db.session.get(Incident, incident_id)
    if incident is None or not user.has_role("reviewer") or incident.agency_id != user.agency_id:
        abort(404)
    return incident


STATEMENT_ROLES = ("reviewer", "leader")


def statement_or_404(user: User, year: int) -> AnnualStatement:
    """The annual statement of the user's own agency for `year`, for the discipline office and
    leaders; another agency's (or none) looks like a missing one."""
    statement = db.session.scalar(sa.select(AnnualStatement).where(
        AnnualStatement.agency_id == user.agency_id, AnnualStatement.year == year))
    if statement is None or not user.has_role(*STATEMENT_ROLES):
        abort(404)
    return statement
