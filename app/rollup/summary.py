"""The roll-up of an agency's subtree: per agency and summed, in a fixed number of queries.

What a city bureau sees of its districts (issue 15): filing compliance for a month, the year's
incident figures and each agency's statement, never incident content nor the names of persons
who interfered. The counting is the agencies' own: compliance's (rates.agency_figures) and the
statement's (a signed statement's stored figures, else figures.incidents_by_agency, which counts
as figures.compute does). Every query is grouped by agency over tree.subtree, so a page costs
the same number of statements for 3 agencies or 3,000.
"""

from __future__ import annotations

from collections import Counter
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


@dataclass(frozen=True)
class YearFigures:
    """An agency's (or a sum's) incident figures for a year: counts only."""

    incidents: int = 0
    referrals: int = 0
    violations: int = 0
    tallies: dict[str, Counter] = field(
        default_factory=lambda: {name: Counter() for name in TALLIES})

    @classmethod
    def signed(cls, counted: figures.Figures) -> YearFigures:
        """From a signed statement's stored figures."""
        return cls(counted.incidents, counted.referrals, counted.violations,
                   {name: Counter(getattr(counted, f"by_{name}")) for name in TALLIES})

    @classmethod
    def live(cls, counts: figures.IncidentCounts | None) -> YearFigures:
        """From the records as they stand (no signed statement yet)."""
        if counts is None:
            return cls()
        return cls(counts.total, counts.referrals, counts.violations,
                   {name: Counter(counts.tallies[name]) for name in TALLIES})

    def __add__(self, other: YearFigures) -> YearFigures:
        return YearFigures(self.incidents + other.incidents, self.referrals + other.referrals,
                           self.violations + other.violations,
                           {name: self.tallies[name] + other.tallies[name] for name in TALLIES})

    def by(self, name: str) -> dict[str, int]:
        """One breakdown, by code."""
        return dict(sorted(self.tallies[name].items()))


@dataclass(frozen=True)
class AgencyYear:
    """One agency's line of the year's roll-up."""

    node: tree.Node
    statement: AnnualStatement | None
    figures: YearFigures

    @property
    def signed(self) -> bool:
        """Whether the figures are the signed statement's (else computed from the records)."""
        return self.statement is not None and self.statement.status == StatementStatus.LOCKED


@dataclass(frozen=True)
class YearRollup:
    year: int
    agencies: list[AgencyYear]

    @property
    def total(self) -> YearFigures:
        return sum((line.figures for line in self.agencies), YearFigures())

    @property
    def signed(self) -> int:
        return sum(line.signed for line in self.agencies)


def year_rollup(root: Agency, year: int) -> YearRollup:
    """The year's figures of every agency of `root`'s subtree: three queries (the tree, the
    statements, the live counts)."""
    ids = tree.subtree(root.id)
    statements = {item.agency_id: item for item in db.session.scalars(
        sa.select(AnnualStatement).where(AnnualStatement.agency_id.in_(ids),
                                         AnnualStatement.year == year))}
    live = figures.incidents_by_agency(ids, year)
    lines = []
    for node in tree.nodes(root.id):
        item = statements.get(node.id)
        signed = item is not None and item.status == StatementStatus.LOCKED
        counted = YearFigures.signed(figures.stored(item)) if signed \
            else YearFigures.live(live.get(node.id))
        lines.append(AgencyYear(node, item, counted))
    return YearRollup(year, lines)


@dataclass(frozen=True)
class AgencyPeriod:
    """One agency's line of the tree's compliance for a month."""

    node: tree.Node
    unfiled_status: str
    figures: rates.Figures


@dataclass(frozen=True)
class PeriodRollup:
    period: Period
    agencies: list[AgencyPeriod]

    @property
    def total(self) -> rates.Figures:
        return sum((line.figures for line in self.agencies), rates.Figures())


def period_rollup(root: Agency, period: Period, now: datetime) -> PeriodRollup:
    """Filing compliance for `period` of every agency of `root`'s subtree, each by its own
    deadline: the tree, the agencies' rules and one grouped count."""
    ids = tree.subtree(root.id)
    rules = records.deadline_rules(list(db.session.scalars(
        sa.select(Agency).where(Agency.id.in_(ids)))))
    counted = rates.agency_figures(ids, period, now, rules)
    return PeriodRollup(period, [
        AgencyPeriod(node, records.status_of(None, period, rules[node.id], now),
                     counted.get(node.id, rates.Figures()))
        for node in tree.nodes(root.id)])
