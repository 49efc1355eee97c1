"""The filing tally (models.FilingTally): counts of filed reports per agency and period.

Counting a year of reports for the compliance trend would read every report of the agency;
instead each filing adds to its period's row, in the same transaction, with one atomic upsert
(concurrent filings add up, they never overwrite each other). `rebuild` recomputes the rows
from the reports, for data loaded around the portal (a migration, a bulk import).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql, sqlite

from app.core.extensions import db
from app.filing import scope
from app.models import Employment, FilingTally, MonthlyReport, ReportVersion

INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def add(agency_id: int, period: str, *, filed: int = 0, late: int = 0,
        with_incidents: int = 0) -> None:
    """Add to the period's counts, creating its row if needed."""
    insert = INSERTS[db.session.get_bind().dialect.name](FilingTally)
    statement = insert.values(agency_id=agency_id, period=period, filed=filed, late=late,
                              with_incidents=with_incidents)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=[FilingTally.agency_id, FilingTally.period],
        set_={name: getattr(FilingTally, name) + getattr(statement.excluded, name)
              for name in ("filed", "late", "with_incidents")},
    ))


def counts(agency_id: int, periods: list[str]) -> dict[str, tuple[int, int, int]]:
    """period -> (filed, late, with incidents), for the periods that have any report."""
    rows = db.session.execute(
        sa.select(FilingTally.period, FilingTally.filed, FilingTally.late,
                  FilingTally.with_incidents)
        .where(FilingTally.agency_id == agency_id, FilingTally.period.in_(periods)))
    return {period: (filed, late, incidents) for period, filed, late, incidents in rows}


def rebuild() -> int:
    """Recompute every row from the reports, each counted for the agency whose period owns
    its month (app/filing/scope.py); returns the number of rows."""
    latest = so.aliased(ReportVersion)
    newer = so.aliased(ReportVersion)
    with_incidents = sa.exists().where(
        latest.report_id == MonthlyReport.id, ~latest.is_zero,
        ~sa.exists().where(newer.report_id == latest.report_id, newer.number > latest.number))
    rows = db.session.execute(
        sa.select(Employment.agency_id, MonthlyReport.period, sa.func.count(),
                  sa.func.count(sa.case((MonthlyReport.late, 1))),
                  sa.func.count(sa.case((with_incidents, 1))))
        .join(Employment, sa.and_(Employment.user_id == MonthlyReport.user_id,
                                  scope.owns(MonthlyReport.period)))
        .group_by(Employment.agency_id, MonthlyReport.period)
    ).all()
    db.session.execute(sa.delete(FilingTally))
    if rows:
        db.session.execute(sa.insert(FilingTally), [
            {"agency_id": agency_id, "period": period, "filed": filed, "late": late,
             "with_incidents": incidents}
            for agency_id, period, filed, late, incidents in rows])
    return len(rows)
