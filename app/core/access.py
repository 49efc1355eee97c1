"""Who may see what: the one place that decides it. Views ask here and nowhere else.

The rule (PRODUCT.md): incident content is visible to its registrant and to the discipline office
(`reviewer`) of the same agency, and to nobody else: not to leaders, not to administrators, whoever
they are. Anything a user may not see answers 404, exactly as an id that does not exist, so ids
cannot be probed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import sqlalchemy as sa
from flask import abort
from flask_login import current_user

from app.core.codes import Role
from app.core.extensions import db
from app.models import (
    Agency,
    AnnualStatement,
    AuditLog,
    Evidence,
    Incident,
    MonthlyReport,
    Outbox,
    User,
)

F = TypeVar("F", bound=Callable[..., object])


class Policy(NamedTuple):
    """A named permission: who holds one of `roles` may. Views and templates ask by name
    (`require(FILE)`, `can('review')`), never by role, so this table is the whole answer to
    "who may do what"."""

    name: str
    roles: frozenset[str]


def _policy(name: str, *roles: str) -> Policy:
    return Policy(name, frozenset(roles))


FILE = _policy("file", Role.AUDITOR)  # file monthly reports, register incidents
CONFIRM = _policy("confirm", Role.AUDITOR)  # the personal annual confirmation
REVIEW = _policy("review", Role.REVIEWER)  # the queue, every incident of the agency, in full
COMPLIANCE = _policy("compliance", Role.REVIEWER, Role.LEADER, Role.ADMIN)  # who filed, never what
AUDIT_LOG = _policy("audit_log", Role.REVIEWER, Role.ADMIN)  # entries carry no content
STATEMENTS = _policy("statements", Role.REVIEWER, Role.LEADER)  # read the annual statements
PREPARE_STATEMENT = _policy("prepare_statement", Role.REVIEWER)  # drafts and addenda
SIGN_STATEMENT = _policy("sign_statement", Role.LEADER)
LEAD = _policy("lead", Role.LEADER)  # the year at a glance: compliance, reviews, the statement
# The statement appendix's table of incidents (categories, channels, persons): content.
STATEMENT_INCIDENTS = _policy("statement_incidents", Role.REVIEWER)
ADMINISTER = _policy("administer", Role.ADMIN)  # accounts, organisation, settings, outbox
# The agencies of the installation, their administrators, the installation-wide settings.
INSTALL = _policy("install", Role.INSTALLATION_ADMIN)
POLICIES = {policy.name: policy for policy in (
    FILE, CONFIRM, REVIEW, COMPLIANCE, AUDIT_LOG, STATEMENTS, PREPARE_STATEMENT,
    SIGN_STATEMENT, LEAD, STATEMENT_INCIDENTS, ADMINISTER, INSTALL)}


def allows(user: User, policy: Policy) -> bool:
    return bool(user.is_authenticated and user.active and user.roles & policy.roles)


def can(name: str) -> bool:
    """For templates: whether the signed-in user holds the policy named `name`."""
    return allows(current_user, POLICIES[name])


def require(policy: Policy) -> Callable[[F], F]:
    """A view only for holders of `policy`; others get 403 (the page exists for some)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: object, **kwargs: object) -> object:
            if not allows(current_user, policy):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def can_file(user: User) -> bool:
    return allows(user, FILE)


def may_review(user: User, incident: Incident) -> bool:
    """Recusal: no member of the discipline office reviews their own registration."""
    return allows(user, REVIEW) and incident.user_id != user.id


def log_scope(user: User) -> sa.ColumnElement[bool]:
    """The audit log entries `user` may list: those of their own agency. Older entries without
    an agency are placed by their actor; an entry with neither (an unknown identifier's failed
    sign-in) belongs to no agency and is listed to none."""
    actors = sa.select(User.id).where(User.agency_id == user.agency_id)
    return sa.or_(AuditLog.agency_id == user.agency_id,
                  sa.and_(AuditLog.agency_id.is_(None), AuditLog.actor_id.in_(actors)))


def outbox_scope(user: User) -> sa.ColumnElement[bool]:
    """The outbox rows `user` may list: notices to people of their own agency."""
    return Outbox.user_id.in_(sa.select(User.id).where(User.agency_id == user.agency_id))


def agency_and_below(agency_id: int) -> list[int]:
    """The agency and every agency below it (Agency.parent_id), by a recursive query. One
    small function on purpose: app/core/tree.py's subtree helper replaces it."""
    tree = sa.select(Agency.id).where(Agency.id == agency_id).cte("tree", recursive=True)
    tree = tree.union_all(sa.select(Agency.id).join(tree, Agency.parent_id == tree.c.id))
    return list(db.session.scalars(sa.select(tree.c.id)))


def crossing_agencies(user: User) -> list[int]:
    """The agencies among which `user`'s discipline office sees, agency by agency, the same
    person or organisation registered in several (patterns.across): its own and those below
    it, of which it is the common ancestor. Each office sees only "also in N other agencies"
    of the rest; nobody but a discipline office sees either."""
    return agency_and_below(user.agency_id) if allows(user, REVIEW) else []


def can_read_incident(user: User, incident: Incident) -> bool:
    if incident.user_id == user.id:
        return True
    return user.agency_id == incident.agency_id and allows(user, REVIEW)


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


def reviewable_or_404(user: User, incident_id: int) -> Incident:
    """An incident of the reviewer's own agency; anything else looks like a missing id."""
    incident = db.session.get(Incident, incident_id)
    if incident is None or not allows(user, REVIEW) or incident.agency_id != user.agency_id:
        abort(404)
    return incident


def statement_or_404(user: User, year: int) -> AnnualStatement:
    """The annual statement of the user's own agency for `year`, for the discipline office and
    leaders; another agency's (or none) looks like a missing one."""
    statement = db.session.scalar(sa.select(AnnualStatement).where(
        AnnualStatement.agency_id == user.agency_id, AnnualStatement.year == year))
    if statement is None or not allows(user, STATEMENTS):
        abort(404)
    return statement
