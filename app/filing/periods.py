"""Periods (calendar months in the agency's time zone) and their deadlines.

Pure functions over dates and an injected working-day predicate: no database, no request, so the
views, the CLI and the scheduler all compute the same deadline.

The report for month M is due at the end of day D of month M+1 (local time). If the agency chose
to, a deadline falling on a non-working day moves to the next working day of the official calendar;
a make-up working day (调休上班) is a working day and does not move it.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.core.bounds import MAX_YEAR, MIN_YEAR


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not MIN_YEAR <= self.year <= MAX_YEAR:
            raise ValueError(f"not a period: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Period:
        """'2025-03' -> Period(2025, 3); raises ValueError on anything else."""
        if len(text) != 7 or text[4] != "-" or not (text[:4] + text[5:]).isdigit():
            raise ValueError(f"not a period: {text!r}")
        return cls(int(text[:4]), int(text[5:]))

    @classmethod
    def of_date(cls, day: date) -> Period:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    def previous(self) -> Period:
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def until(self, last: Period) -> list[Period]:
        """Every period from this one to `last`, both included."""
        periods, current = [], self
        while current <= last:
            periods.append(current)
            current = current.next()
        return periods


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: store and pass UTC-aware datetimes")
    return moment.astimezone(tz).date()


def period_of(moment: datetime, tz: ZoneInfo) -> Period:
    """The period a moment belongs to: the month of its local date in the agency's zone."""
    return Period.of_date(local_date(moment, tz))


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which local `day` begins."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class DeadlineRule:
    tz: ZoneInfo
    day: int = 5
    shift_to_workday: bool = False
    is_workday: Callable[[date], bool] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.day <= 28:
            raise ValueError("deadline day must be between 1 and 28")
        if self.shift_to_workday and self.is_workday is None:
            raise ValueError("shifting to a working day needs a working-day calendar")

    def due_date(self, period: Period) -> date:
        """The local calendar day on which the report for `period` is due (end of that day)."""
        following = period.next()
        due = date(following.year, following.month, self.day)
        if self.shift_to_workday:
            assert self.is_workday is not None
            while not self.is_workday(due):
                due += timedelta(days=1)
        return due

    def deadline(self, period: Period) -> datetime:
        """The UTC instant the deadline passes: midnight after the due day, local time.

        A report filed strictly before this instant is on time.
        """
        return start_of_day(self.due_date(period) + timedelta(days=1), self.tz)

    def opens_at(self, period: Period) -> datetime:
        """Filing for a month opens when the month is over (local midnight)."""
        return start_of_day(period.next().first_day, self.tz)

    def period_due(self, now: datetime) -> Period:
        """The most recent period whose filing is open at `now`: last month."""
        return period_of(now, self.tz).previous()
