"""The personal annual confirmation (年度个人承诺).

From a configurable day (CONFIRMATION_OPENS, default 12-01: 1 December) each auditor confirms
for the year that every attempt to probe or interfere was registered and that they know of no
violation of audit independence, or writes the exceptions. It stays open, late, until the
year's statement is locked.

Who must confirm: the auditors in scope for the year (filing.in_scope for any of its months)
who are still in post when the confirmation opens; someone who left in March cannot be asked
in December. Someone who moved agency confirms once, to the last agency they worked for between
the opening day and the end of the year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app
from flask_babel import gettext as _

from app.core import auditlog
from app.core.codes import Role
from app.core.extensions import db
from app.core.refusals import Refused
from app.filing import scope
from app.models import Agency, AnnualConfirmation, Department, Employment, User, UserRole
from app.statement import yearlock


class ConfirmationError(Refused):
    """A confirmation the rules refuse; the message is for the user."""


@dataclass(frozen=True)
class Person:
    """Someone named in a list: who they are, never what they registered."""

    user_id: int
    staff_no: str
    name: str
    department: str


@dataclass(frozen=True)
class Status:
    year: int
    expected: int
    given: int
    missing: list[Person]  # the first `limit` of them, by department and staff number

    @property
    def not_given(self) -> int:
        return self.expected - self.given


def opens_on(year: int) -> date:
    month, day = (int(part) for part in current_app.config["CONFIRMATION_OPENS"].split("-"))
    return date(year, month, day)


def today(agency: Agency, now: datetime) -> date:
    return now.astimezone(ZoneInfo(agency.timezone)).date()


def default_year(agency: Agency, now: datetime) -> int:
    """This year once its confirmation has opened, else last year (still open, late)."""
    day = today(agency, now)
    return day.year if day >= opens_on(day.year) else day.year - 1


def is_open(agency: Agency, year: int, now: datetime) -> bool:
    return today(agency, now) >= opens_on(year) and not yearlock.locked(agency.id, year)


def _confirming_period(year: int) -> sa.ColumnElement[bool]:
    """Employment is the period the person confirms for `year` in: the last of theirs in post
    at some time from the opening day to the end of the year (after a transfer in December,
    the new agency asks)."""
    later = so.aliased(Employment)
    return sa.and_(
        Employment.started_on <= date(year, 12, 31),
        sa.or_(Employment.ended_on.is_(None), Employment.ended_on >= opens_on(year)),
        ~sa.exists().where(later.user_id == Employment.user_id,
                           later.started_on > Employment.started_on,
                           later.started_on <= date(year, 12, 31)))


def expected(query: sa.Select, agency_id: int, year: int) -> sa.Select:
    """`query` (selecting from Employment) narrowed to the periods of the auditors who must
    confirm for `year`. From the periods, not the users: a count at 100,000 auditors reads no
    user row (102 to 80 ms), a list only those of the people listed."""
    return (query.join(UserRole, scope.auditor_period())
            .where(Employment.agency_id == agency_id, _confirming_period(year)))


def must_confirm(user: User, year: int) -> bool:
    return user.has_role(Role.AUDITOR) and db.session.scalar(sa.select(sa.exists().where(
        Employment.user_id == user.id, _confirming_period(year)))) is True


def of(user: User, year: int) -> AnnualConfirmation | None:
    return db.session.scalar(sa.select(AnnualConfirmation).where(
        AnnualConfirmation.user_id == user.id, AnnualConfirmation.year == year))


def confirm(user: User, year: int, exceptions: str, now: datetime) -> AnnualConfirmation:
    """Record the confirmation (once); refused before it opens, after the year is locked,
    for someone not asked to confirm, and a second time."""
    if not must_confirm(user, year):
        raise ConfirmationError(_("You are not asked to confirm for %(year)d.", year=year))
    if today(user.agency, now) < opens_on(year):
        raise ConfirmationError(_("The confirmation for %(year)d opens on %(day)s.", year=year,
                                  day=opens_on(year).isoformat()))
    yearlock.ensure_open(user.agency_id, str(year), ConfirmationError)
    if of(user, year) is not None:
        raise ConfirmationError(_("You have already confirmed for %(year)d.", year=year))
    row = AnnualConfirmation(user=user, year=year, exceptions=exceptions.strip(),
                             confirmed_at=now, confirmed_from=auditlog.client_address())
    db.session.add(row)
    db.session.flush()
    auditlog.record("confirmation.given", row, actor_id=user.id, year=year,
                    exceptions=bool(row.exceptions))
    return row


def given_by(agency: Agency, year: int) -> set[int]:
    """The ids of the people the agency asks to confirm for `year` who have confirmed."""
    return set(db.session.scalars(
        sa.select(AnnualConfirmation.user_id).where(
            AnnualConfirmation.year == year,
            AnnualConfirmation.user_id.in_(expected(
                sa.select(Employment.user_id).select_from(Employment), agency.id, year)))))


def status(agency: Agency, year: int, limit: int | None = None) -> Status:
    """Expected and given confirmations, and who has not confirmed: two queries."""
    given = AnnualConfirmation.year == year
    count, done = db.session.execute(expected(
        sa.select(sa.func.count(), sa.func.count(AnnualConfirmation.id)).select_from(Employment)
        .outerjoin(AnnualConfirmation, sa.and_(AnnualConfirmation.user_id == Employment.user_id,
                                               given)),
        agency.id, year)).one()
    query = expected(
        sa.select(User.id, User.staff_no, User.name, sa.func.coalesce(Department.name, ""))
        .select_from(Employment)
        .where(~sa.exists().where(AnnualConfirmation.user_id == Employment.user_id, given)),
        agency.id, year,
    ).join(User, User.id == Employment.user_id).outerjoin(
        Department, Department.id == Employment.department_id,
    ).order_by(Department.name.is_(None), Department.name, User.staff_no)
    if limit is not None:
        query = query.limit(limit)
    return Status(year, count, done, [Person(*row) for row in db.session.execute(query)])
