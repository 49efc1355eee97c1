"""A person's employment periods (models.Employment): start, follow the account, transfer,
leave, come back.

The user row holds the terms of the person's latest period (agency, department, joined_on,
left_on: what sign-in, access and the account pages read); Employment keeps every period, the
latest mirroring the user row. `follow` writes the user's current terms into the latest period
(creating it for a new account); `transfer` and `rejoin` add a period. Each recomputes the
months every period owns (app/filing/scope.py), so a transfer mid-month gives the month to
exactly one agency. Periods of a person never overlap: every step here checks it.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import gettext as _

from app.admin import organisation
from app.core import auditlog, clock
from app.core.bounds import MAX_DATE, MIN_DATE
from app.core.codes import Role
from app.core.extensions import db
from app.core.refusals import Invalid
from app.filing import scope
from app.models import Agency, Department, Employment, User


class EmploymentRefused(Invalid):
    """A change to someone's periods the rules refuse; the message says why."""


class TransferRefused(EmploymentRefused):
    """A transfer (调动) refused: same agency, bad date, person not in post, foreign department."""


def follow(user: User) -> Employment:
    """Write the user's current terms into their latest period (a new account: its first).
    Flushes; refuses a start on or before the end of the period before."""
    if user.id is None:
        db.session.flush()
    periods = scope.periods_of(user.id)
    latest = periods[-1] if periods else None
    if latest is None:
        latest = Employment(user_id=user.id, started_on=user.joined_on)
        db.session.add(latest)
        periods.append(latest)
    else:
        check_start(user, user.joined_on, periods)
    if user.left_on is not None and user.left_on < user.joined_on:
        raise EmploymentRefused(_("The leaving date cannot be before the joining date "
                                  "(%(date)s).", date=user.joined_on.isoformat()))
    latest.agency_id, latest.department_id = user.agency_id, user.department_id
    latest.started_on, latest.ended_on = user.joined_on, user.left_on
    scope.assign_months(periods)
    db.session.flush()
    return latest


def check_start(user: User, started_on: date, periods: list[Employment] | None = None) -> None:
    """Refuse moving the start of the person's latest period onto the one before it."""
    periods = scope.periods_of(user.id) if periods is None else periods
    if len(periods) > 1 and started_on <= (periods[-2].ended_on or MAX_DATE):
        raise EmploymentRefused(_("In post since %(date)s overlaps the previous period, which "
                                  "ended on %(end)s.", date=started_on.isoformat(),
                                  end=periods[-2].ended_on.isoformat()))


def rejoin(user: User, on: date) -> Employment:
    """Back in post from `on` (reactivation): a new period in the user's agency; the one that
    ended keeps its leaving date. Starts the day after it if `on` is not later."""
    periods = scope.periods_of(user.id)
    ended = periods[-1].ended_on
    if ended is None:
        raise EmploymentRefused(_("%(staff_no)s is in post already.", staff_no=user.staff_no))
    user.joined_on, user.left_on = max(on, ended + timedelta(days=1)), None
    new = Employment(user_id=user.id, agency_id=user.agency_id,
                     department_id=user.department_id, started_on=user.joined_on)
    periods.append(new)
    scope.assign_months(periods)
    db.session.add(new)
    db.session.flush()
    return new


def check_transfer(user: User, agency: Agency, department: Department | None,
                   on: date) -> None:
    """Why `transfer` would refuse (TransferRefused), changing nothing."""
    if not MIN_DATE < on <= MAX_DATE:
        raise TransferRefused(_("A transfer date must lie between %(first)s and %(last)s.",
                                first=MIN_DATE.isoformat(), last=MAX_DATE.isoformat()))
    if not user.active or user.left_on is not None:
        raise TransferRefused(_("%(staff_no)s is not in post: reactivate the account before "
                                "a transfer.", staff_no=user.staff_no))
    if user.has_role(Role.REVIEWER):
        raise TransferRefused(_("%(staff_no)s is a member of the discipline office: the office "
                                "withdraws them (flask office withdraw) before a transfer.",
                                staff_no=user.staff_no))
    if agency.id == user.agency_id:
        raise TransferRefused(_("%(staff_no)s already works in %(agency)s.",
                                staff_no=user.staff_no, agency=agency.name))
    if on > clock.now().astimezone(ZoneInfo(agency.timezone)).date():
        raise TransferRefused(_("The transfer date cannot be in the future: transfer the "
                                "person on the day they start in the new agency."))
    if on <= user.joined_on:
        raise TransferRefused(_("The transfer date must be after the start of the current "
                                "period (%(date)s).", date=user.joined_on.isoformat()))
    if department is not None and department.agency_id != agency.id:
        raise TransferRefused(_("The department %(name)s is not one of %(agency)s.",
                                name=department.name, agency=agency.name))


def transfer(user: User, agency: Agency, department: Department | None, on: date) -> Employment:
    """调动: the current period ends on the day before `on`, a period in `agency` (in
    `department`, if given) starts on `on`, and the person works there from now on, as an
    auditor (the leader's and administrator's roles were posts in the old agency; a member of
    the discipline office is withdrawn by the office first). Reports for the old agency's
    months stay the old agency's, even when filed after the move."""
    check_transfer(user, agency, department, on)
    before = {"agency_id": user.agency_id, "department_id": user.department_id,
              "roles": sorted(user.roles)}
    user.left_on = on - timedelta(days=1)
    follow(user)
    user.agency_id, user.department_id = agency.id, department.id if department else None
    # Leading or administering is a post in the old agency: the new one gives its own.
    user.roles = user.roles & {Role.AUDITOR}
    new = rejoin(user, on)
    after = {"agency_id": user.agency_id, "department_id": user.department_id,
             "roles": sorted(user.roles)}
    changes = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    # Both agencies' logs list it: the one the person left and the one they joined.
    for agency_id in (before["agency_id"], after["agency_id"]):
        auditlog.record("user.transferred", user, staff_no=user.staff_no, on=on.isoformat(),
                        changes=changes, in_agency=agency_id)
    return new


def transfer_to(user: User, agency: Agency, department_name: str, on: date) -> Employment:
    """`transfer` into the agency's department of that name (created if new, but only once
    the transfer itself is allowed), as the CLI and the installation administrator give it."""
    check_transfer(user, agency, None, on)
    return transfer(user, agency, organisation.department_named(agency, department_name), on)


def history(user: User) -> list[Employment]:
    """The person's periods with their agency and department, oldest first (the user page)."""
    return list(db.session.scalars(
        sa.select(Employment).where(Employment.user_id == user.id)
        .options(so.joinedload(Employment.agency), so.joinedload(Employment.department))
        .order_by(Employment.started_on)))
