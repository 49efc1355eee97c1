"""Years closed by a signed annual statement: their records can no longer change in the portal.

A plain module with no dependency on the filing or review rules, so both can ask it without an
import cycle. The exception class is the caller's, so each view keeps catching the error it
already handles (FilingError, ReviewRefused) and shows the message in the user's language.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from app.extensions import db
from app.models import AnnualStatement

LOCKED = "locked"


def locked(agency_id: int, year: int) -> bool:
    return db.session.scalar(
        sa.select(AnnualStatement.id).where(AnnualStatement.agency_id == agency_id,
                                            AnnualStatement.year == year,
                                            AnnualStatement.status == LOCKED)
    ) is not None


def ensure_open(agency_id: int, period: str, error: type[Exception]) -> None:
    """Raise `error` if the year of `period` ('2025-03' or '2025') is locked."""
    year = int(str(period)[:4])
    if locked(agency_id, year):
        raise error(_("The annual statement for %(year)d is signed and locked: records of that "
                      "year can no longer be changed here. The discipline office records any "
                      "correction as an addendum to the statement.", year=year))
