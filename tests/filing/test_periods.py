"""Unit tests for periods and deadlines (PRODUCT.md: Period, MonthlyReport deadlines)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.filing.periods import DeadlineRule, Period, period_of
from app.filing.workcalendar import WorkCalendar, is_official_workday, official_calendar_covers

BEIJING = ZoneInfo("Asia/Shanghai")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_period_text_round_trip_and_bad_input():
    assert str(Period.parse("2025-03")) == "2025-03"
    for bad in ("2025-3", "2025-13", "25-03", "2025/03", "abcd-ef", ""):
        with pytest.raises(ValueError):
            Period.parse(bad)


def test_a_moment_belongs_to_the_month_of_its_local_date():
    # 23:30 Beijing time on 31 March is 15:30 UTC: still March.
    assert period_of(utc(2025, 3, 31, 15, 30), BEIJING) == Period(2025, 3)
    # 00:30 Beijing time on 1 April is 16:30 UTC on 31 March: already April.
    assert period_of(utc(2025, 3, 31, 16, 30), BEIJING) == Period(2025, 4)
    # The same instant in another agency's zone belongs elsewhere.
    assert period_of(utc(2025, 3, 31, 16, 30), ZoneInfo("Europe/Berlin")) == Period(2025, 3)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        period_of(datetime(2025, 3, 31, 12), BEIJING)


def test_default_deadline_is_the_end_of_the_fifth_local_day():
    rule = DeadlineRule(tz=BEIJING)
    assert rule.due_date(Period(2025, 3)) == date(2025, 4, 5)
    # Midnight after 5 April in Beijing is 16:00 UTC on 5 April.
    assert rule.deadline(Period(2025, 3)) == utc(2025, 4, 5, 16)


def test_deadline_day_is_configurable_and_validated():
    assert DeadlineRule(tz=BEIJING, day=10).due_date(Period(2025, 3)) == date(2025, 4, 10)
    for bad in (0, 29, 31):
        with pytest.raises(ValueError):
            DeadlineRule(tz=BEIJING, day=bad)


def test_december_is_due_in_january_of_the_next_year():
    rule = DeadlineRule(tz=BEIJING)
    assert Period(2025, 12).next() == Period(2026, 1)
    assert Period(2026, 1).previous() == Period(2025, 12)
    assert rule.due_date(Period(2025, 12)) == date(2026, 1, 5)
    assert rule.opens_at(Period(2025, 12)) == utc(2025, 12, 31, 16)


def test_leap_years():
    assert Period(2024, 2).last_day == date(2024, 2, 29)
    assert Period(2025, 2).last_day == date(2025, 2, 28)
    assert Period(2100, 2).last_day == date(2100, 2, 28)
    assert period_of(utc(2024, 2, 29, 15, 59), BEIJING) == Period(2024, 2)
    assert period_of(utc(2024, 2, 29, 16, 0), BEIJING) == Period(2024, 3)


def test_until_lists_every_period_across_years():
    periods = Period(2024, 11).until(Period(2025, 2))
    assert [str(p) for p in periods] == ["2024-11", "2024-12", "2025-01", "2025-02"]


def shifting(day: int = 5, overrides: dict | None = None) -> DeadlineRule:
    return DeadlineRule(tz=BEIJING, day=day, shift_to_workday=True,
                        is_workday=WorkCalendar(overrides))


def test_without_the_shift_a_holiday_deadline_stays():
    # 5 April 2025 is a Saturday within the Qingming holiday.
    assert DeadlineRule(tz=BEIJING).due_date(Period(2025, 3)) == date(2025, 4, 5)


def test_a_deadline_on_a_day_off_moves_to_the_next_working_day():
    assert shifting().due_date(Period(2025, 3)) == date(2025, 4, 7)
    # National Day 2025: 1–8 October off; 5 October moves to Thursday 9 October.
    assert shifting().due_date(Period(2025, 9)) == date(2025, 10, 9)


def test_a_deadline_on_a_make_up_working_day_does_not_move():
    # Saturday 11 October 2025 is a make-up working day (调休上班).
    assert date(2025, 10, 11).weekday() == 5
    assert shifting(day=11).due_date(Period(2025, 9)) == date(2025, 10, 11)


def test_a_plain_weekend_moves_to_monday():
    # 5 July 2025 is a Saturday.
    assert shifting().due_date(Period(2025, 6)) == date(2025, 7, 7)


def test_years_beyond_the_official_calendar_fall_back_to_weekends_and_holidays():
    assert official_calendar_covers(2025)
    assert not official_calendar_covers(2099)
    assert not is_official_workday(date(2099, 1, 1))  # New Year's Day (holidays package)
    assert not is_official_workday(date(2099, 1, 3))  # a Saturday
    assert is_official_workday(date(2099, 1, 5))      # a Monday


def test_the_agency_can_correct_the_calendar():
    # Saturday 3 January 2099, declared a make-up working day by the administrator.
    rule = shifting(day=3, overrides={date(2099, 1, 3): True})
    assert rule.due_date(Period(2098, 12)) == date(2099, 1, 3)
    # And a working day declared a day off moves the deadline on.
    rule = shifting(day=5, overrides={date(2099, 1, 5): False})
    assert rule.due_date(Period(2098, 12)) == date(2099, 1, 6)


def test_filing_opens_when_the_month_is_over_and_last_month_is_due():
    rule = DeadlineRule(tz=BEIJING)
    assert rule.opens_at(Period(2025, 3)) == utc(2025, 3, 31, 16)
    assert rule.period_due(utc(2025, 4, 3, 2)) == Period(2025, 3)
    assert rule.period_due(utc(2025, 1, 1, 0)) == Period(2024, 12)
