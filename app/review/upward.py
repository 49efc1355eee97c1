"""Registrations that go to the discipline office one level up (直报上级).

When the person who interfered is a leader of the registrant's own bureau or a member of its
discipline office, the registrant can address the registration to the office of the agency above
(the city bureau's, for a district's auditor); a district's office can also hand a case up. From
then on the level above reads, reviews and counts it: `Incident.agency_id` is that agency, the
content key is wrapped for its key only, and the bureau below keeps no key to it. The
registrant's bureau counts it without content, as reported to the level above.

Operations only flush; the request commits.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from app.core import access, auditlog
from app.core.codes import RouteKind
from app.core.extensions import db
from app.core.refusals import Refused
from app.core.templating import localtime
from app.keys import keychain
from app.models import (
    Agency,
    AgencyKey,
    Fingerprint,
    Incident,
    IncidentRoute,
    IncidentVersion,
    User,
)
from app.statement import yearlock


class UpwardRefused(Refused):
    """A registration that cannot go to the level above."""


def level_above(agency: Agency) -> Agency | None:
    """The agency a registration of `agency` can be reported to: its parent, once the parent's
    discipline office holds its keys (before that, nothing could be sealed for it)."""
    parent = agency.parent
    if parent is None or db.session.get(AgencyKey, parent.id) is None:
        return None
    return parent


def _route(incident: Incident, origin: int, above: Agency, kind: RouteKind, actor: User,
           now: datetime) -> IncidentRoute:
    route = IncidentRoute(from_agency_id=origin, to_agency_id=above.id, kind=kind,
                          actor_id=actor.id, at=now, to_agency=above)
    incident.routes.append(route)
    return route


def address_above(incident: Incident, registrant: User, now: datetime) -> None:
    """A new registration, addressed by its registrant to the level above (before its content is
    sealed: its key is then made for the level above's key alone)."""
    above = level_above(registrant.agency)
    if above is None:
        raise UpwardRefused(_("Your bureau has no agency above it that can receive a "
                              "registration."))
    incident.agency_id = above.id
    _route(incident, registrant.agency_id, above, RouteKind.DIRECT, registrant, now)


def hand_up(incident: Incident, reviewer: User, now: datetime) -> Agency:
    """A district's discipline office hands a case to the level above: its key goes with it."""
    if not access.may_review(reviewer, incident) or incident.agency_id != reviewer.agency_id:
        raise UpwardRefused(_("Only another member of the discipline office handling this "
                              "registration can hand it up."))
    above = level_above(reviewer.agency)
    if above is None:
        raise UpwardRefused(_("Your bureau has no agency above it that can receive a "
                              "registration."))
    yearlock.ensure_open(incident.agency_id, incident.period, UpwardRefused,
                         after_signing=incident.after_signing)
    keychain.hand_over(incident, above.id)
    # Logged while the case is still its office's: the entry stays in that office's log.
    auditlog.record("incident.handed_up", incident, actor_id=reviewer.id, to_agency=above.id)
    _route(incident, incident.agency_id, above, RouteKind.REFERRED, reviewer, now)
    incident.agency_id = above.id
    db.session.execute(sa.update(Fingerprint).where(Fingerprint.version_id.in_(
        sa.select(IncidentVersion.id).where(IncidentVersion.incident_id == incident.id)))
        .values(agency_id=above.id))
    db.session.flush()
    return above


def describe(route: IncidentRoute) -> str:
    """Where a registration went, for its registrant and the offices."""
    at = localtime(route.at)
    if route.kind == RouteKind.DIRECT:
        return _("Addressed by the registrant to the discipline office of %(to)s on %(at)s.",
                 to=route.to_agency.name, at=at)
    return _("Handed by the discipline office of %(origin)s to that of %(to)s on %(at)s.",
             origin=route.from_agency.name, to=route.to_agency.name, at=at)


def reported_above(agency_id: int, year: int) -> int:
    """How many of the year's registrations of `agency_id`'s staff went to the level above."""
    first_route = (sa.select(IncidentRoute.incident_id)
                   .where(IncidentRoute.from_agency_id == agency_id))
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Incident)
        .where(Incident.id.in_(first_route), Incident.agency_id != agency_id,
               Incident.period.between(f"{year:04d}-01", f"{year:04d}-12"),
               Incident.after_signing.is_(False))) or 0
