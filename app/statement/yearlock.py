"""Years closed by a signed annual statement: their records can no longer change in the portal.

A plain module with no dependency on the filing or review rules, so both can ask it without an
import cycle. The exception class is the caller's, so each view keeps catching the error it
already handles (FilingError, ReviewRefused) and shows the message in the user's language.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from app.core.codes import StatementStatus
from app.core.extensions import db
from app.models import Agency, AnnualStatement


def agency_lock(agency_id: int, *, exclusive: bool) -> sa.Select:
    """The agency's row, locked: shared by every change of a year's records, exclusive while a
    statement is signed. So a filing that found the year open commits before the signature
    reads the record, and one that comes after finds the year locked (PostgreSQL; SQLite runs
    one writer at a time and ignores FOR UPDATE)."""
    return (sa.select(Agency.id).where(Agency.id == agency_id)
            .with_for_update(read=not exclusive))


def hold_for_signing(agency_id: int) -> None:
    db.session.execute(agency_lock(agency_id, exclusive=True))


def locked(agency_id: int, year: int) -> bool:
    return db.session.scalar(
        sa.select(AnnualStatement.id).where(AnnualStatement.agency_id == agency_id,
                                            AnnualStatement.year == year,
                                            AnnualStatement.status == StatementStatus.LOCKED)
    ) is not None


def locked_years(agency_id: int) -> set[int]:
    """The agency's locked years, for pages that must not offer a change they would refuse."""
    return set(db.session.scalars(
        sa.select(AnnualStatement.year).where(AnnualStatement.agency_id == agency_id,
                                              AnnualStatement.status == StatementStatus.LOCKED)))


def is_signed(agency_id: int, period: str) -> bool:
    """Whether the year of `period` ('2025-03' or '2025') is locked, holding the shared lock
    until the caller commits: a record filed now is either in the signed figures or marked as
    filed after signing, never lost between the two."""
    db.session.execute(agency_lock(agency_id, exclusive=False))
    return locked(agency_id, int(str(period)[:4]))


def ensure_open(agency_id: int, period: str, error: type[Exception], *,
                after_signing: bool = False) -> None:
    """Raise `error` if the year of `period` is locked. A record filed `after_signing` is not
    part of what was signed: its own review and correction stay open."""
    if is_signed(agency_id, period) and not after_signing:
        year = int(str(period)[:4])
        raise error(_("The annual statement for %(year)d is signed and locked: records of that "
                      "year can no longer be changed here. The discipline office records any "
                      "correction as an addendum to the statement.", year=year))
