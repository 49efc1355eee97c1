"""Which agency expects a person's report for a month: their employment periods (Employment).

A month belongs to exactly one period of a person: the one covering the month's last day,
else (they left during the month) the last period overlapping it. So a transfer on the 1st
leaves the previous month with the old agency, a transfer on the 16th gives the month to the
new one, and a leaver still reports for the month they left in. `months_owned` computes the
first and last month of each period once, when periods change; the queries here compare them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa

from app.core.codes import Role
from app.core.extensions import db
from app.filing.periods import Period
from app.models import Employment, User, UserRole

OPEN = "9999-12"  # compared with as the last month of an open period


def months_owned(started_on: date, ended_on: date | None,
                 next_started_on: date | None) -> tuple[str, str | None]:
    """(first, last) month a period owns, given when the person's next period starts (None:
    no later period). `last` is None for an open period; first > last when it owns none."""
    def owns_last_partial(month: Period) -> bool:
        return next_started_on is None or next_started_on > month.last_day

    start = Period.of_date(started_on)
    covers_end = ended_on is None or ended_on >= start.last_day
    first = start if covers_end or owns_last_partial(start) else start.next()
    if ended_on is None:
        return str(first), None
    end = Period.of_date(ended_on)
    last = end if ended_on == end.last_day or owns_last_partial(end) else end.previous()
    return str(first), str(last)


def single_period(user: dict) -> dict:
    """The Employment row of an account loaded in bulk (the benchmarks) with one period: its
    user row's agency, department and dates."""
    first, last = months_owned(user["joined_on"], user.get("left_on"), None)
    return {"user_id": user["id"], "agency_id": user["agency_id"],
            "department_id": user.get("department_id"), "started_on": user["joined_on"],
            "ended_on": user.get("left_on"), "first_period": first, "last_period": last}


def assign_months(periods: Sequence[Employment]) -> None:
    """Set first_period / last_period on all of a person's periods (any order given)."""
    ordered = sorted(periods, key=lambda e: e.started_on)
    following = [e.started_on for e in ordered[1:]] + [None]
    for employment, next_start in zip(ordered, following, strict=True):
        employment.first_period, employment.last_period = months_owned(
            employment.started_on, employment.ended_on, next_start)


def owns(period: sa.ColumnElement[str] | str) -> sa.ColumnElement[bool]:
    """Employment owns `period` (a 'YYYY-MM' column or value)."""
    return sa.and_(Employment.first_period <= period,
                   sa.func.coalesce(Employment.last_period, OPEN) >= period)


def overlaps(first: sa.ColumnElement[str] | str,
             last: sa.ColumnElement[str] | str) -> sa.ColumnElement[bool]:
    """Employment owns some month between `first` and `last` (both included)."""
    return sa.and_(Employment.first_period <= last, Employment.first_period
                   <= sa.func.coalesce(Employment.last_period, OPEN),
                   sa.func.coalesce(Employment.last_period, OPEN) >= first)


def of_agency(agency_id: int) -> sa.ColumnElement[bool]:
    """The ON clause joining a User to their periods in `agency_id`."""
    return sa.and_(Employment.user_id == User.id, Employment.agency_id == agency_id)


def auditor_period() -> sa.ColumnElement[bool]:
    """The ON clause joining a period (Employment) to its person's auditor role: queries that
    start from the periods need no user row to know who is an auditor."""
    return sa.and_(UserRole.user_id == Employment.user_id, UserRole.role == Role.AUDITOR)


def months_in(first: str, last: str | None, start: Period, end: Period) -> list[Period]:
    """The months from `start` to `end` a period owning first..last owns."""
    low = max(Period.parse(first), start)
    high = min(Period.parse(last), end) if last else end
    return low.until(high) if low <= high else []


def periods_of(user_id: int) -> list[Employment]:
    """The person's periods, oldest first."""
    return list(db.session.scalars(sa.select(Employment).where(Employment.user_id == user_id)
                                   .order_by(Employment.started_on)))


def owner(user_id: int, period: str) -> int | None:
    """The agency that expects the person's report for `period` (None: none does)."""
    return db.session.scalar(sa.select(Employment.agency_id)
                             .where(Employment.user_id == user_id, owns(period)))


def owned_until(user_id: int, current: Period) -> list[tuple[Period, int]]:
    """(month, agency) for every month up to `current` some period of the person owns, oldest
    first: the months they had to file for, and which agency expects each."""
    months: list[tuple[Period, int]] = []
    for employment in periods_of(user_id):
        first = Period.parse(employment.first_period)
        months += [(month, employment.agency_id) for month in
                   months_in(employment.first_period, employment.last_period, first, current)]
    return months
