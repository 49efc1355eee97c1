"""The official working-day calendar of mainland China, with an agency's own corrections.

`chinese_calendar` knows both the days off (放假) and the make-up working days (调休上班) that the
State Council publishes, but only up to the latest published year: it raises for later years. For
those years we fall back to weekends plus the public holidays the `holidays` package knows, which
misses make-up working days; administrators can correct any date with a CalendarDay row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import lru_cache

import chinese_calendar
import holidays

# The years the installed chinese_calendar release has data for (it raises outside them).
_COVERED_YEARS = frozenset(day.year for day in chinese_calendar.holidays)


def official_calendar_covers(year: int) -> bool:
    return year in _COVERED_YEARS


@lru_cache(maxsize=32)
def _fallback_holidays(year: int) -> holidays.HolidayBase:
    return holidays.China(years=year)


@lru_cache(maxsize=4096)
def is_official_workday(day: date) -> bool:
    """Cached: chinese_calendar takes ~60 µs a day, and the review queue asks for each day a
    case has waited (app/review/ageing.py)."""
    if official_calendar_covers(day.year):
        return chinese_calendar.is_workday(day)
    return day.weekday() < 5 and day not in _fallback_holidays(day.year)


class WorkCalendar:
    """Working days: the agency's overrides first, then the official calendar."""

    def __init__(self, overrides: Mapping[date, bool] | None = None) -> None:
        self.overrides = dict(overrides or {})

    def __call__(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        return is_official_workday(day)
