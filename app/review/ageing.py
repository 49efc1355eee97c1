"""How long the discipline office's cases have waited, in the agency's working days.

A case reaches the office when it is registered, and again when its registrant supplements it
after a return; its review is due within the agency's `review_due_days` working days of that
moment (starting the review does not stop the clock: only closing, referring or returning it
does). A case is overdue while it waits on the office (new or in review) and more working days
than that have passed since. Working days are the official calendar's
(app/filing/workcalendar.py), corrected by the dates the administrator declared.

"Days waiting" on the queue counts working days too, since the case last changed state.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.core.codes import ReviewStatus
from app.core.extensions import db
from app.filing.workcalendar import WorkCalendar
from app.models import Agency, CalendarDay, Incident, Review

# Cases waiting on the office (a returned case waits on its registrant).
WAITING_ON_OFFICE = (ReviewStatus.NEW, ReviewStatus.IN_REVIEW)


def calendar(agency: Agency) -> WorkCalendar:
    """The agency's working days: its declared dates over the official calendar (one query)."""
    rows = db.session.execute(sa.select(CalendarDay.day, CalendarDay.is_workday)
                              .where(CalendarDay.agency_id == agency.id))
    return WorkCalendar({day: workday for day, workday in rows})


@dataclass
class Clock:
    """The working-day arithmetic of one agency at one moment, for a page or a round."""

    tz: ZoneInfo
    today: date
    is_workday: WorkCalendar
    due_days: int
    # _back[k]: working days in (today - k, today], extended as far back as a page needs, so
    # each day is asked of the calendar once per page (a call costs ~60 µs).
    _back: list[int] = field(default_factory=lambda: [0], compare=False, repr=False)

    @classmethod
    def of(cls, agency: Agency, now: datetime) -> Clock:
        tz = ZoneInfo(agency.timezone)
        return cls(tz, now.astimezone(tz).date(), calendar(agency), agency.review_due_days)

    def working_days_since(self, moment: datetime) -> int:
        """Working days after the day of `moment` (local) up to and including today."""
        back = (self.today - moment.astimezone(self.tz).date()).days
        while len(self._back) <= back:
            k = len(self._back)
            self._back.append(self._back[-1] + self.is_workday(self.today - timedelta(days=k - 1)))
        return self._back[max(back, 0)]

    @functools.cached_property
    def _overdue_before(self) -> datetime:
        day, seen = self.today, 0
        while True:
            if self.is_workday(day):
                seen += 1
                if seen == self.due_days + 1:
                    break
            day -= timedelta(days=1)
        return datetime.combine(day, time(), tzinfo=self.tz).astimezone(UTC)

    def overdue_before(self) -> datetime:
        """Cases that reached the office before this instant are overdue: the start of the
        (N+1)th working day counted back from today, N the agency's due days."""
        return self._overdue_before

    def is_overdue(self, review: Review) -> bool:
        return (review.status in WAITING_ON_OFFICE
                and review.waiting_since < self.overdue_before())


def overdue(agency_id: int, before: datetime) -> sa.ColumnElement[bool]:
    """The SQL condition of an overdue case of the agency (for queries joining Review and
    Incident)."""
    return sa.and_(Incident.agency_id == agency_id, Review.status.in_(WAITING_ON_OFFICE),
                   Review.waiting_since < before)


def overdue_by_registrant(agency: Agency, now: datetime) -> dict[int, int]:
    """Overdue cases per registrant (a member of the office cannot act on their own)."""
    before = Clock.of(agency, now).overdue_before()
    return dict(db.session.execute(
        sa.select(Incident.user_id, sa.func.count()).join(Review, Review.incident_id == Incident.id)
        .where(overdue(agency.id, before)).group_by(Incident.user_id)).all())
