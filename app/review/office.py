"""Who belongs to the discipline office: it co-opts its own members, nobody else grants sight.

The `reviewer` role opens every registration of the agency, and the person who interfered may
be the bureau's administrator or leader. So no administrator can grant or withdraw it (for
anyone, themselves included), and the administrator and reviewer roles are never held together:
- a member of the office proposes a colleague; the role is granted when that colleague accepts;
- a member withdraws another (or resigns); the office is never left without a member here;
- the operator's command line (`flask --app wsgi office grant|withdraw`) makes the first member
  of a new agency, or repairs an office that has lost everyone.
Every grant and withdrawal is in the audit log and notified, without content, to every member
of the office and every leader of the agency.

Plain functions that only flush; refusals are OfficeRefused with a message for the user.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core import auditlog
from app.core.codes import InvitationStatus, NoticeKind, Role
from app.core.extensions import db
from app.core.refusals import Refused
from app.keys import custody
from app.models import AuditLog, OfficeInvitation, User, UserRole
from app.notices import outbox


class OfficeRefused(Refused):
    """A membership step refused; the message is for the user."""


def is_member(user: User) -> bool:
    return user.active and Role.REVIEWER in user.roles


def members(agency_id: int) -> list[User]:
    return list(db.session.scalars(
        sa.select(User).join(UserRole, UserRole.user_id == User.id)
        .where(User.agency_id == agency_id, User.active, UserRole.role == Role.REVIEWER)
        .order_by(User.staff_no)))


def candidates(agency_id: int) -> list[User]:
    """Colleagues who may be proposed: active, of the agency, neither members nor
    administrators, nor already invited."""
    holding = sa.select(UserRole.user_id).where(
        UserRole.role.in_((Role.REVIEWER, Role.ADMIN, Role.INSTALLATION_ADMIN)))
    invited = sa.select(OfficeInvitation.user_id).where(
        OfficeInvitation.status == InvitationStatus.PENDING
    )
    return list(db.session.scalars(
        sa.select(User).where(User.agency_id == agency_id, User.active,
                              User.id.not_in(holding), User.id.not_in(invited))
        .order_by(User.staff_no)))


def pending(agency_id: int) -> list[OfficeInvitation]:
    return list(db.session.scalars(
        sa.select(OfficeInvitation).where(OfficeInvitation.agency_id == agency_id,
                                          OfficeInvitation.status == InvitationStatus.PENDING)
        .order_by(OfficeInvitation.proposed_at)))


def invitation_for(user: User) -> OfficeInvitation | None:
    """The invitation waiting for `user`'s answer, if any."""
    return db.session.scalar(sa.select(OfficeInvitation).where(
        OfficeInvitation.user_id == user.id, OfficeInvitation.status == InvitationStatus.PENDING))


# What changes who can read: the role (office.*) and the key that opens the content (keys.*),
# in the words the registrant reads.
HISTORY = {
    "office.granted": _l("%(name)s joined the discipline office"),
    "office.withdrawn": _l("%(name)s left the discipline office"),
    "keys.granted": _l("%(name)s was given the key to the content of registrations"),
    "keys.withdrawn": _l("%(name)s no longer holds the key to the content of registrations"),
    "keys.recovered": _l("%(name)s was given the key again with the recovery key"),
}


def history(agency_id: int) -> list[tuple[AuditLog, User]]:
    """Every grant and withdrawal of the office's role, and of its key, in the agency, newest
    first, with the person concerned: each registrant can see who could read their
    registrations, and since when."""
    return list(db.session.execute(
        sa.select(AuditLog, User).join(User, User.id == AuditLog.object_id)
        .where(AuditLog.action.in_(list(HISTORY)),
               AuditLog.object_type == "User", User.agency_id == agency_id)
        .order_by(AuditLog.id.desc())))


def _check_member(actor: User) -> None:
    if not is_member(actor):
        raise OfficeRefused(_("Only a member of the discipline office can do this."))


def _check_may_join(user: User) -> None:
    if Role.ADMIN in user.roles or Role.INSTALLATION_ADMIN in user.roles:
        raise OfficeRefused(_("%(name)s is an administrator: an administrator cannot belong to "
                              "the discipline office.", name=user.name))
    if not user.active:
        raise OfficeRefused(_("%(name)s's account is deactivated.", name=user.name))


def propose(actor: User, candidate: User, now: datetime) -> OfficeInvitation:
    """A member proposes a colleague of the same agency; nothing is granted yet."""
    _check_member(actor)
    if candidate.agency_id != actor.agency_id:
        raise OfficeRefused(_("Only colleagues of your own agency can be proposed."))
    if Role.REVIEWER in candidate.roles:
        raise OfficeRefused(_("%(name)s already belongs to the discipline office.",
                              name=candidate.name))
    _check_may_join(candidate)
    if invitation_for(candidate) is not None:
        raise OfficeRefused(_("%(name)s has already been invited.", name=candidate.name))
    invitation = OfficeInvitation(agency_id=actor.agency_id, user_id=candidate.id,
                                  proposed_by_id=actor.id, proposed_at=now,
                                  status=InvitationStatus.PENDING)
    db.session.add(invitation)
    db.session.flush()
    entry = auditlog.record("office.proposed", candidate, actor_id=actor.id,
                            invitation=invitation.id)
    _notify(candidate, NoticeKind.OFFICE_PROPOSED, entry.id, now, extra=[candidate])
    return invitation


def answer(user: User, invitation: OfficeInvitation, accept: bool, now: datetime) -> None:
    """The invited colleague accepts (and becomes a member) or declines."""
    if invitation.user_id != user.id or invitation.status != InvitationStatus.PENDING:
        raise OfficeRefused(_("This invitation is no longer open."))
    if accept:
        _check_may_join(user)
    invitation.status = InvitationStatus.ACCEPTED if accept else InvitationStatus.DECLINED
    invitation.answered_at = now
    if accept:
        _grant(user, now, invitation=invitation.id)
    else:
        auditlog.record("office.declined", user, invitation=invitation.id)


def cancel(actor: User, invitation: OfficeInvitation, now: datetime) -> None:
    _check_member(actor)
    if invitation.agency_id != actor.agency_id or invitation.status != InvitationStatus.PENDING:
        raise OfficeRefused(_("This invitation is no longer open."))
    invitation.status, invitation.answered_at = InvitationStatus.CANCELLED, now
    auditlog.record("office.invitation_cancelled", invitation.user, actor_id=actor.id,
                    invitation=invitation.id)


def withdraw(actor: User | None, member: User, now: datetime) -> None:
    """A member (or the command line, `actor` None) takes the role away."""
    if actor is not None:
        _check_member(actor)
        if member.agency_id != actor.agency_id:
            raise OfficeRefused(_("Only members of your own agency's office can be withdrawn."))
    if Role.REVIEWER not in member.roles:
        raise OfficeRefused(_("%(name)s does not belong to the discipline office.",
                              name=member.name))
    if actor is not None and len(members(member.agency_id)) <= 1:
        raise OfficeRefused(_("The discipline office would have no member left: propose a "
                              "colleague first (the operator can repair it from the command "
                              "line)."))
    member.roles = member.roles - {Role.REVIEWER}
    custody.withdraw(member.agency_id, member, actor)  # the role goes with its key
    db.session.flush()
    entry = auditlog.record("office.withdrawn", member, actor_id=actor.id if actor else None,
                            via="portal" if actor else "cli")
    _notify(member, NoticeKind.OFFICE_WITHDRAWN, entry.id, now, extra=[member])


def grant_by_operator(member: User, now: datetime) -> None:
    """The command line's grant: the first member of an agency, or a repair."""
    if Role.REVIEWER in member.roles:
        raise OfficeRefused(_("%(name)s already belongs to the discipline office.",
                              name=member.name))
    _check_may_join(member)
    _grant(member, now, via="cli")


def _grant(user: User, now: datetime, **detail: object) -> None:
    user.roles = user.roles | {Role.REVIEWER}
    db.session.flush()
    entry = auditlog.record("office.granted", user, **detail)
    _notify(user, NoticeKind.OFFICE_GRANTED, entry.id, now)


def _notify(subject: User, kind: str, entry_id: int, now: datetime,
            extra: tuple[User, ...] | list[User] = ()) -> None:
    """Every member and leader of the agency (and `extra`) hears whose membership changed,
    without content; the log entry's id makes each change its own notice."""
    readers = {u.id: u for u in db.session.scalars(
        sa.select(User).join(UserRole, UserRole.user_id == User.id)
        .where(User.agency_id == subject.agency_id, User.active,
               UserRole.role.in_((Role.REVIEWER, Role.LEADER))))}
    readers.update({u.id: u for u in extra})
    outbox.enqueue([outbox.Notice(u.id, kind, "", entry_id, u.email, {"name": subject.name})
                    for u in readers.values()], now)
