"""The agency tree and its administrators: the installation administrator's operations.

They only flush; the request commits. Every change is in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _

from app.admin import employment
from app.auth import tokens
from app.core import auditlog, clock
from app.core.codes import LinkPurpose, Role
from app.core.extensions import db
from app.core.refusals import Invalid, Refused
from app.models import Agency, User, UserRole


class InstallationRefused(Refused):
    """A change of the agency tree or of an agency's administrators that a rule forbids."""


class InstallationInvalid(Invalid):
    """A change refused for what was entered."""


@dataclass
class Node:
    """An agency in the tree, with what the installation administrator needs to see of it."""

    agency: Agency
    depth: int
    staff: int = 0
    admins: list[User] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)


def tree() -> list[Node]:
    """Every agency, depth first under its parent, each with its active staff count and its
    administrators: three queries, whatever the size of the tree."""
    agencies = list(db.session.scalars(sa.select(Agency).order_by(Agency.name, Agency.id)))
    nodes = {agency.id: Node(agency, 0) for agency in agencies}
    staff = db.session.execute(sa.select(User.agency_id, sa.func.count()).where(User.active)
                               .group_by(User.agency_id))
    for agency_id, count in staff:
        nodes[agency_id].staff = count
    for user in administrators(None):
        nodes[user.agency_id].admins.append(user)
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.agency.parent_id)
        (parent.children if parent else roots).append(node)
    return list(_depth_first(roots, 0))


def _depth_first(nodes: list[Node], depth: int):
    for node in nodes:
        node.depth = depth
        yield node
        yield from _depth_first(node.children, depth + 1)


def administrators(agency: Agency | None) -> list[User]:
    """The active administrators of `agency` (of every agency: None)."""
    query = (sa.select(User).join(UserRole).where(UserRole.role == Role.ADMIN, User.active)
             .order_by(User.staff_no))
    if agency is not None:
        query = query.where(User.agency_id == agency.id)
    return list(db.session.scalars(query))


def below(agency: Agency) -> set[int]:
    """The ids of `agency` and of every agency under it."""
    children: dict[int | None, list[int]] = {}
    for agency_id, parent_id in db.session.execute(sa.select(Agency.id, Agency.parent_id)):
        children.setdefault(parent_id, []).append(agency_id)
    found, todo = set(), [agency.id]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, ()))
    return found


def _check_name(name: str, agency: Agency | None) -> None:
    others = sa.select(Agency.id).where(Agency.name == name)
    if agency is not None:
        others = others.where(Agency.id != agency.id)
    if db.session.scalar(others) is not None:
        raise InstallationInvalid(_("An agency named %(name)s already exists.", name=name))


def create(name: str, parent: Agency | None, timezone: str, deadline_day: int) -> Agency:
    _check_name(name, None)
    agency = Agency(name=name, parent=parent, timezone=timezone, deadline_day=deadline_day)
    db.session.add(agency)
    db.session.flush()
    auditlog.record("agency.created", agency, name=name,
                    parent=parent.name if parent else None, in_agency=agency.id)
    return agency


def place(agency: Agency, name: str, parent: Agency | None) -> dict[str, list[object]]:
    """Rename `agency` or move it under another parent (None: to the top). An agency cannot be
    put under itself or one of its own agencies: the tree would become a loop."""
    _check_name(name, agency)
    if parent is not None and parent.id in below(agency):
        raise InstallationRefused(_("%(name)s cannot be placed under itself or under one of its "
                                    "own agencies.", name=agency.name))
    changes = {}
    if agency.name != name:
        changes["name"] = [agency.name, name]
        agency.name = name
    if agency.parent_id != (parent.id if parent else None):
        changes["parent"] = [agency.parent.name if agency.parent else None,
                             parent.name if parent else None]
        agency.parent = parent
    if changes:
        db.session.flush()
        auditlog.record("agency.placed", agency, changes=changes, in_agency=agency.id)
    return changes


def account_for_admin(agency: Agency, staff_no: str, name: str, email: str) -> tuple[User, bool]:
    """The account to appoint: the agency's own with this staff number, or a new one in it
    (then `name` is needed). Staff numbers are unique across the installation: a person
    transferred between agencies keeps theirs, so one of another agency is refused."""
    user = db.session.scalar(sa.select(User).where(User.staff_no == staff_no))
    if user is not None and user.agency_id != agency.id:
        raise InstallationInvalid(_("Staff number %(staff_no)s belongs to another agency.",
                                    staff_no=staff_no))
    if user is not None:
        return user, False
    if not name:
        raise InstallationInvalid(_("No account has staff number %(staff_no)s here: give a name "
                                    "to create it.", staff_no=staff_no))
    if email and db.session.scalar(sa.select(User.id).where(
            sa.func.lower(User.email) == email.lower())) is not None:
        raise InstallationInvalid(_("E-mail %(email)s is used by another account.", email=email))
    user = User(agency_id=agency.id, staff_no=staff_no, name=name, email=email or None,
                joined_on=clock.now().astimezone(ZoneInfo(agency.timezone)).date())
    db.session.add(user)  # its role comes with the appointment
    employment.follow(user)
    auditlog.record("user.created", user, staff_no=staff_no, roles=sorted(user.roles),
                    in_agency=agency.id)
    return user, True


def transfer_here(agency: Agency, staff_no: str, department_name: str, on: date) -> User:
    """调动 into `agency` of the person with this staff number, from whichever agency of the
    installation they work in (employment.transfer says what is refused and why)."""
    user = db.session.scalar(sa.select(User).where(User.staff_no == staff_no))
    if user is None:
        raise InstallationInvalid(_("No account has staff number %(staff_no)s.",
                                    staff_no=staff_no))
    employment.transfer_to(user, agency, department_name, on)
    return user


def appoint(agency: Agency, user: User) -> tokens.Issued | None:
    """Make `user` an administrator of `agency`; an account without a password gets its first
    sign-in link (e-mailed when it has an address), returned to be shown once."""
    if not user.active:
        raise InstallationRefused(_("%(name)s's account is deactivated.", name=user.name))
    if Role.REVIEWER in user.roles:
        raise InstallationRefused(_("A member of the discipline office cannot be an "
                                    "administrator."))
    if Role.ADMIN in user.roles:
        raise InstallationRefused(_("%(name)s is already an administrator.", name=user.name))
    user.roles = user.roles | {Role.ADMIN}
    db.session.flush()
    auditlog.record("installation.admin_appointed", user, in_agency=agency.id,
                    staff_no=user.staff_no)
    return tokens.issue(user, LinkPurpose.FIRST) if user.password_hash is None else None


def dismiss(agency: Agency, user: User) -> None:
    """Withdraw the administrator role; the account stays, with its other roles."""
    if Role.ADMIN not in user.roles or user.agency_id != agency.id:
        raise InstallationRefused(_("%(name)s is not an administrator of %(agency)s.",
                                    name=user.name, agency=agency.name))
    user.roles = (user.roles - {Role.ADMIN}) or {Role.AUDITOR}
    db.session.flush()
    auditlog.record("installation.admin_dismissed", user, in_agency=agency.id,
                    staff_no=user.staff_no)


def make_installation_admin(user: User) -> None:
    """The operator's grant (command line only: no page gives this role)."""
    if not user.active:
        raise InstallationRefused(_("%(name)s's account is deactivated.", name=user.name))
    if Role.REVIEWER in user.roles:
        raise InstallationRefused(_("A member of the discipline office cannot be the "
                                    "installation administrator."))
    if Role.INSTALLATION_ADMIN in user.roles:
        raise InstallationRefused(_("%(name)s is already the installation administrator.",
                                    name=user.name))
    user.roles = user.roles | {Role.INSTALLATION_ADMIN}
    db.session.flush()
    auditlog.record("installation.role_granted", user, staff_no=user.staff_no)


def end_installation_admin(user: User) -> None:
    if Role.INSTALLATION_ADMIN not in user.roles:
        raise InstallationRefused(_("%(name)s is not the installation administrator.",
                                    name=user.name))
    user.roles = (user.roles - {Role.INSTALLATION_ADMIN}) or {Role.AUDITOR}
    db.session.flush()
    auditlog.record("installation.role_withdrawn", user, staff_no=user.staff_no)
