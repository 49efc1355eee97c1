"""The reviews of a year's incidents still open at the year's end, with their age.

Shown with the statement (page, PDF, XLSX appendix) for information: the leader who signs sees
which cases the discipline office had not finished, and for how long they had been open. It is
not part of the signed figures nor of the records digest: for a finished year it follows from
the review history up to 31 December, which no later step can change, so it reads the same
whenever the statement is shown (only an administrator's later change of the working-day
calendar would move an age), and signed statements need no new field.

"At year end" is the end of 31 December in the agency's time zone, for a finished year; for
the year in progress, now. A review's status at that moment comes from its history: its current
status when it last changed state before then (`changed_at`), else the `to_status` of its last
step (ReviewAction) before then, else new. So a case closed in January still counts as open at
the end of the year before, and a case registered after the year end (an incident of December
remembered in January) was not open then and is not listed.

Its age is the working days (the agency's calendar, as the review queue counts them:
app/review/ageing.py) after the day the incident was registered, up to and including the last
day counted: how long the case had been open, whatever steps it went through. Nothing here is
incident content: a case is its number, its month, its status and its age.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.core.codes import ReviewStatus
from app.core.extensions import db
from app.models import Agency, Incident, Review, ReviewAction
from app.review import ageing, workflow
from app.statement.figures import LIST_LIMIT, incidents_of_year


@dataclass(frozen=True)
class OpenReview:
    """One case open at the cut-off: no content, only what identifies and ages it."""

    incident_id: int
    period: str
    status: str
    working_days: int


@dataclass(frozen=True)
class OpenAtYearEnd:
    year: int
    # The last day counted (31 December, or today for the year in progress), local.
    as_of: date
    finished: bool
    rows: list[OpenReview]
    # All of them; `rows` stops at LIST_LIMIT.
    total: int


def cutoff(agency: Agency, year: int, now: datetime) -> tuple[datetime, bool]:
    """The instant the list is taken at, and whether the year is over: the start of 1 January
    of the next year in the agency's time zone, or `now` while the year runs."""
    end = datetime(year + 1, 1, 1, tzinfo=ZoneInfo(agency.timezone))
    return (end, True) if now >= end else (now, False)


def status_at(moment: datetime) -> sa.ColumnElement[str]:
    """The SQL expression of a review's status at `moment` (for a query joining Review):
    unchanged since before it, its current status; else the status its last step before it
    led to; else new (registered, not touched yet)."""
    last_step = (sa.select(ReviewAction.to_status)
                 .where(ReviewAction.review_id == Review.id, ReviewAction.at < moment)
                 .order_by(ReviewAction.at.desc(), ReviewAction.id.desc())
                 .limit(1).scalar_subquery())
    return sa.case((Review.changed_at < moment, Review.status),
                   else_=sa.func.coalesce(last_step, ReviewStatus.NEW.value))


def open_reviews(agency: Agency, year: int, now: datetime) -> OpenAtYearEnd:
    """The agency's reviews of incidents of `year` (those the statement counts) open at its
    end, the oldest first: two or three queries whatever the number of cases."""
    moment, finished = cutoff(agency, year, now)
    status = status_at(moment).label("status_at")
    cases = (sa.select(Incident.id, Incident.period, Incident.registered_at, status)
             .select_from(Incident)
             .outerjoin(Review, Review.incident_id == Incident.id)
             .where(incidents_of_year(agency.id, year), Incident.registered_at < moment)
             .subquery())
    still_open = cases.c.status_at.in_(sorted(workflow.OPEN))
    rows = db.session.execute(
        sa.select(cases.c.id, cases.c.period, cases.c.registered_at, cases.c.status_at)
        .where(still_open).order_by(cases.c.registered_at, cases.c.id).limit(LIST_LIMIT)).all()
    total = len(rows) if len(rows) < LIST_LIMIT else db.session.scalar(
        sa.select(sa.func.count()).select_from(cases).where(still_open)) or 0
    tz = ZoneInfo(agency.timezone)
    last_day = min(date(year, 12, 31), now.astimezone(tz).date())
    clock = ageing.Clock(tz, last_day, ageing.calendar(agency), agency.review_due_days)
    return OpenAtYearEnd(
        year, last_day, finished,
        [OpenReview(incident_id, period, status, clock.working_days_since(registered_at))
         for incident_id, period, registered_at, status in rows],
        total)
