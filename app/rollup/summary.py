"""The roll-up of an agency's subtree: per agency and summed, in a fixed number of queries.

What a city bureau sees of its districts (issue 15): filing compliance for a month, the year's
incident figures and each agency's statement, never incident content nor the names of persons
who interfered. The counting is the agencies' own: compliance's (rates.agency_figures) and the
statement's (a signed statement's stored figures, else figures.incidents_by_agency, which counts
as figures.compute does). Every query is grouped by agency over tree.subtree, so a page costs
the same number of statements for 3 agencies or 3,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from app.compliance import rates
from app.core import tree
from app.core.codes import StatementStatus
from app.core.extensions import db
from app.filing import records
from app.filing.periods import Period
from app.models import Agency, AnnualStatement
from app.statement import figures

# The incident breakdowns of the roll-up: the statement's, by these names.
TALLIES = ("kind", "category", "channel", "relation", "disposition")


# Not frozen: a frozen dataclass costs twice as much to make, and a national roll-up makes
# thousands (they are built here and only read after).
@dataclass
class YearFigures:
    """An agency's (or a sum's) incident figures for a year: counts only."""

    incidents: int = 0
    referrals: int = 0
    violations: int = 0
    tallies: Mapping[str, Mapping[str, int]] = field(
        default_factory=lambda: {name: {} for name in TALLIES})

    @classmethod
    def signed(cls, counted: figures.Figures | tuple) -> YearFigures:
        """From a signed statement's figures: a figures.Figures, or a row of its headline
        (figures.stored_rows)."""
        return cls(counted.incidents, counted.referrals, counted.violations,
                   {name: getattr(counted, f"by_{name}") for name in TALLIES})

    @classmethod
    def live(cls, counts: figures.IncidentCounts | None) -> YearFigures:
        """From the records as they stand (no signed statement yet)."""
        if counts is None:
            return cls()
        return cls(counts.total, counts.referrals, counts.violations,
                   {name: counts.tallies[name] for name in TALLIES})

    @classmethod
    def summed(cls, items: Iterable[YearFigures]) -> YearFigures:
        """The sum, breakdown by breakdown."""
        incidents = referrals = violations = 0
        tallies: dict[str, dict[str, int]] = {name: {} for name in TALLIES}
        for item in items:
            incidents += item.incidents
            referrals += item.referrals
            violations += item.violations
            for name in TALLIES:  # a plain loop: Counter.update costs twice as much
                into = tallies[name]
                for code, n in item.tallies[name].items():
                    into[code] = into.get(code, 0) + n
        return cls(incidents, referrals, violations, tallies)

    def counts(self, name: str, codes: list[str]) -> list[int]:
        """One breakdown's counts in the order of `codes` (0 for a code not counted)."""
        tally = self.tallies[name]
        return [tally.get(code, 0) for code in codes]

    def by(self, name: str) -> dict[str, int]:
        """One breakdown, by code."""
        return dict(sorted(self.tallies[name].items()))


@dataclass
class AgencyYear:
    """One agency's line of the year's roll-up: `statement` is its status, dates and digest
    (a row of _statements), or None when none is prepared."""

    node: tree.Node
    statement: tuple | None
    figures: YearFigures

    @property
    def signed(self) -> bool:
        """Whether the figures are the signed statement's (else computed from the records)."""
        return self.statement is not None and self.statement.status == StatementStatus.LOCKED


@dataclass(frozen=True)
class YearRollup:
    year: int
    agencies: list[AgencyYear]
    total: YearFigures

    @property
    def signed(self) -> int:
        return sum(line.signed for line in self.agencies)


def _statements(agencies: sa.Select, year: int) -> dict[int, tuple]:
    """The statements of `year` of `agencies`: state, digest and the signed figures' fields."""
    rows = figures.stored_rows(
        sa.and_(AnnualStatement.agency_id.in_(agencies), AnnualStatement.year == year),
        [AnnualStatement.agency_id, AnnualStatement.status, AnnualStatement.records_digest,
         AnnualStatement.prepared_at, AnnualStatement.signed_at,
         AnnualStatement.document_number])
    return {row.agency_id: row for row in rows}


def year_rollup(root: Agency, year: int) -> YearRollup:
    """The year's figures of every agency of `root`'s subtree: three queries (the tree, the
    statements, the live counts)."""
    ids = tree.subtree(root.id)
    statements = _statements(ids, year)
    live = figures.incidents_by_agency(ids, year)
    lines = []
    for node in tree.nodes(root.id):
        item = statements.get(node.id)
        signed = item is not None and item.status == StatementStatus.LOCKED
        counted = YearFigures.signed(item) if signed else YearFigures.live(live.get(node.id))
        lines.append(AgencyYear(node, item, counted))
    return YearRollup(year, lines, YearFigures.summed(line.figures for line in lines))


@dataclass(frozen=True)
class AgencyPeriod:
    """One agency's line of the tree's compliance for a month."""

    node: tree.Node
    unfiled_status: str
    figures: rates.Figures

    @property
    def on_time_percent(self) -> int:
        """Reports on time, as a whole percentage of those expected (0 when none are)."""
        return round(self.figures.percent(self.figures.on_time))


@dataclass(frozen=True)
class PeriodRollup:
    period: Period
    agencies: list[AgencyPeriod]

    @property
    def total(self) -> rates.Figures:
        return rates.Figures.summed(line.figures for line in self.agencies)


def period_rollup(root: Agency, period: Period, now: datetime) -> PeriodRollup:
    """Filing compliance for `period` of every agency of `root`'s subtree, each by its own
    deadline: the tree, the agencies' rules and one grouped count."""
    ids = tree.subtree(root.id)
    unfiled_as = records.unfiled_statuses(list(db.session.scalars(
        sa.select(Agency).where(Agency.id.in_(ids)))), period, now)
    counted = rates.agency_figures(ids, period, unfiled_as)
    return PeriodRollup(period, [
        AgencyPeriod(node, unfiled_as[node.id], counted.get(node.id, rates.Figures()))
        for node in tree.nodes(root.id)])
