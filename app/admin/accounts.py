"""Accounts as an administrator keeps them: search, create, edit, deactivate (调离), reactivate.

Staff who leave are deactivated, never deleted: their filings, the audit log and the
compliance figures of the months they were in post keep pointing at them. Deactivation ends
their sessions at once (the session version moves on) and takes them out of every reminder
(app/notices/reminders.py only writes to active staff). Every change is in the audit log with the
old and the new value of each field. Nothing here reads incident content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _

from app.admin import employment
from app.auth.security import end_all_sessions
from app.core import auditlog
from app.core.codes import NoticeFailure, NoticeStatus, Role
from app.core.extensions import db
from app.core.refusals import Invalid
from app.models import Agency, Department, Outbox, User, UserRole

EDITABLE = ("staff_no", "name", "email", "department", "roles", "joined_on")
# The roles an administrator's form offers; the discipline office's is not among them.
ADMIN_GRANTABLE = (Role.AUDITOR, Role.LEADER, Role.ADMIN)
NEW_ACCOUNT_ROLES = (Role.AUDITOR,)  # what the new-account form offers ticked


class AccountError(Invalid):
    """A change refused, with a message for the administrator."""


@dataclass(frozen=True)
class Search:
    q: str = ""
    department_id: int = 0
    role: str = ""
    active: str = ""  # "" every account, "1" active ones, "0" deactivated ones


@dataclass(frozen=True)
class Page:
    users: list[User]
    total: int


def search(agency: Agency, wanted: Search, page: int, per_page: int) -> Page:
    """The agency's accounts matching `wanted`, by staff number."""
    query = sa.select(User).where(User.agency_id == agency.id)
    if wanted.q:
        text = wanted.q.lower()
        query = query.where(sa.or_(*(sa.func.lower(column).contains(text, autoescape=True)
                                     for column in (User.name, User.staff_no, User.email))))
    if wanted.department_id:
        query = query.where(User.department_id == wanted.department_id)
    if wanted.role:
        query = query.where(User.id.in_(
            sa.select(UserRole.user_id).where(UserRole.role == wanted.role)))
    if wanted.active:
        query = query.where(User.active.is_(wanted.active == "1"))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    users = db.session.scalars(query.order_by(User.staff_no)
                               .limit(per_page).offset((page - 1) * per_page)).all()
    return Page(list(users), total or 0)


def _plain(key: str, value: object) -> object:
    if key == "department":
        return value.name if value is not None else None
    if key == "roles":
        return sorted(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def snapshot(user: User, keys: tuple[str, ...] = EDITABLE) -> dict[str, object]:
    """The fields as they will read in the audit log."""
    return {key: _plain(key, getattr(user, key)) for key in keys}


def diff(before: dict[str, object], after: dict[str, object]) -> dict[str, list[object]]:
    """field -> [old, new] for each field that changed."""
    return {key: [before[key], after[key]] for key in before if before[key] != after[key]}


def _check_unique(user: User | None, staff_no: str, email: str | None) -> None:
    others = sa.select(User.id).where(User.id != (user.id if user else 0))
    if db.session.scalar(others.where(User.staff_no == staff_no)):
        raise AccountError(_("Staff number %(staff_no)s is already taken.", staff_no=staff_no))
    if email and db.session.scalar(others.where(sa.func.lower(User.email) == email.lower())):
        raise AccountError(_("E-mail %(email)s is used by another account.", email=email))


def _check_own_admin_role(actor: User, user: User, roles: set[str]) -> None:
    if user.id == actor.id and Role.ADMIN not in roles:
        raise AccountError(_("You cannot remove your own administrator role: ask another "
                             "administrator."))


class OfficeRoleRefused(AccountError):
    """An administrator tried to grant or withdraw the discipline office's role: refused, and
    the attempt stays in the audit log (review/office.py is the only way in or out; a forged
    form is the only way to send it)."""

    status = 403

    def __init__(self, message: str, user: User | None, staff_no: str, roles: set[str]) -> None:
        super().__init__(message)
        self.user, self.staff_no, self.roles = user, staff_no, sorted(roles)

    def after_rollback(self) -> None:
        auditlog.record("user.office_role_refused", self.user, staff_no=self.staff_no,
                        roles=self.roles)
        db.session.commit()


# Roles an administrator's form neither grants nor withdraws: they stay as they were.
KEPT_ROLES = frozenset({Role.REVIEWER, Role.INSTALLATION_ADMIN})


def roles_after_edit(user: User | None, wanted: set[str], *, staff_no: str = "",
                     operator: bool = False) -> set[str]:
    """The roles an administrator's edit gives: the discipline office's role stays as it was
    (the office co-opts its members, app/review/office.py), and so does the installation
    administrator's (given from the command line, app/installation/cli.py); an attempt to change
    either is refused and logged, and so is the administrator role for a member of the office.
    The operator's command line (`operator`) may grant them, as `flask office grant` does: the
    first members of an agency."""
    held = user.roles if user is not None else set()
    if operator:
        held = held | (wanted & KEPT_ROLES)
    if Role.REVIEWER in wanted and Role.REVIEWER not in held:
        raise OfficeRoleRefused(_("The discipline office's role is not granted here: the "
                                  "discipline office co-opts its own members."),
                                user, staff_no, wanted)
    if Role.INSTALLATION_ADMIN in wanted and Role.INSTALLATION_ADMIN not in held:
        raise OfficeRoleRefused(_("The installation administrator's role is given from the "
                                  "command line only."), user, staff_no, wanted)
    roles = (set(wanted) - KEPT_ROLES) | (held & KEPT_ROLES)
    if Role.REVIEWER in roles and Role.ADMIN in roles:
        raise OfficeRoleRefused(_("A member of the discipline office cannot be an "
                                  "administrator."), user, staff_no, wanted)
    if Role.REVIEWER in roles and Role.INSTALLATION_ADMIN in roles:
        raise OfficeRoleRefused(_("A member of the discipline office cannot be the "
                                  "installation administrator."), user, staff_no, wanted)
    return roles


def create(agency: Agency, values: dict) -> User:
    """A new account (no password yet: it is set at first sign-in or by an administrator)."""
    _check_unique(None, values["staff_no"], values["email"])
    values = {**values, "roles": roles_after_edit(None, set(values["roles"]),
                                                  staff_no=values["staff_no"])}
    user = User(agency_id=agency.id)
    for key in EDITABLE:
        setattr(user, key, values[key])
    db.session.add(user)
    employment.follow(user)
    auditlog.record("user.created", user, staff_no=user.staff_no, roles=sorted(user.roles),
                    values=snapshot(user))
    return user


def update(actor: User, user: User, values: dict) -> dict[str, list[object]]:
    """Apply the edited fields; returns what changed (old and new), as logged."""
    _check_unique(user, values["staff_no"], values["email"])
    values = {**values, "roles": roles_after_edit(user, set(values["roles"]),
                                                  staff_no=values["staff_no"])}
    _check_own_admin_role(actor, user, values["roles"])
    before = snapshot(user)
    for key in EDITABLE:
        if _plain(key, getattr(user, key)) != _plain(key, values[key]):
            setattr(user, key, values[key])
    changes = diff(before, snapshot(user))
    if changes:
        employment.follow(user)  # the period's start and department follow the account's
        auditlog.record("user.updated", user, staff_no=user.staff_no, fields=sorted(changes),
                        changes=changes)
    return changes


def deactivate(actor: User, user: User, left_on: date, today: date) -> None:
    """调离: out of post from `left_on` on; no sign-in, no reminders; history kept."""
    check_deactivation(actor, user, left_on, today)
    before = snapshot(user, ("active", "left_on"))
    user.active, user.left_on = False, left_on
    employment.follow(user)  # the open period ends on the leaving date
    end_all_sessions(user)
    cancelled = _cancel_pending_mail(user)
    auditlog.record("user.deactivated", user, staff_no=user.staff_no, cancelled_mail=cancelled,
                    changes=diff(before, snapshot(user, ("active", "left_on"))))


def check_deactivation(actor: User, user: User, left_on: date, today: date) -> None:
    """Why `deactivate` would refuse (AccountError), changing nothing: asked before the
    administrator is shown the summary to confirm."""
    if user.id == actor.id:
        raise AccountError(_("You cannot deactivate your own account."))
    if not user.active:
        raise AccountError(_("This account is already deactivated."))
    if left_on < user.joined_on:
        raise AccountError(_("The leaving date cannot be before the joining date (%(date)s).",
                             date=user.joined_on.isoformat()))
    if left_on > today:
        raise AccountError(_("The leaving date cannot be in the future: deactivate the account "
                             "on the day the person leaves."))


def pending_mail(user: User) -> int:
    """E-mails queued for the person and not yet sent (deactivation cancels them)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Outbox).where(
        Outbox.user_id == user.id, Outbox.status == NoticeStatus.PENDING)) or 0


def _cancel_pending_mail(user: User) -> int:
    """E-mails queued for the person but not yet sent (a retry after a mail server outage)
    are not sent after they have left; the notices stay in the outbox, marked failed."""
    result = db.session.execute(
        sa.update(Outbox).where(Outbox.user_id == user.id, Outbox.status == NoticeStatus.PENDING)
        .values(status=NoticeStatus.FAILED, failure=NoticeFailure.DEACTIVATED,
                last_error="account deactivated")
        .execution_options(synchronize_session=False))
    return result.rowcount


def reactivate(user: User, today: date) -> None:
    """Back in post from `today`: sign-in and reminders again, in a new employment period;
    the period that ended keeps its leaving date, the months away stay as they were."""
    if user.active:
        raise AccountError(_("This account is already active."))
    fields = ("active", "joined_on", "left_on")
    before = snapshot(user, fields)
    user.active = True
    employment.rejoin(user, today)
    auditlog.record("user.reactivated", user, staff_no=user.staff_no,
                    changes=diff(before, snapshot(user, fields)))


def department_choices(agency: Agency, keep: Department | None = None) -> list[Department]:
    """Departments a form may offer: the non-archived ones, and the one already chosen."""
    query = sa.select(Department).where(Department.agency_id == agency.id)
    if keep is not None:
        query = query.where(sa.or_(Department.archived.is_(False), Department.id == keep.id))
    else:
        query = query.where(Department.archived.is_(False))
    return list(db.session.scalars(query.order_by(Department.name)))
